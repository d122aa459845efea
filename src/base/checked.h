/* checked.h — overflow-safe size arithmetic for parsers of untrusted bytes.
 * Each returns false (and leaves *out unspecified) when the result would not
 * fit, so callers write `if (!lm_add_u64(off, size, &end) || end > len) fail`. */
#ifndef LM_BASE_CHECKED_H
#define LM_BASE_CHECKED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool lm_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool lm_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool lm_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool lm_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
/* True when [off, off+n) lies inside a buffer of len bytes. */
static inline bool lm_range_ok(uint64_t off, uint64_t n, uint64_t len) {
    uint64_t end;
    return lm_add_u64(off, n, &end) && end <= len;
}
#endif
