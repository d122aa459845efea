/* utf8_check.h — strict UTF-8 validation for names read from model files. */
#ifndef LM_FORMAT_UTF8_CHECK_H
#define LM_FORMAT_UTF8_CHECK_H
#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF); otherwise *bad (if non-NULL) is the offset of
 * the first byte of the offending sequence. */
bool lm_utf8_valid(const char *s, size_t n, size_t *bad);
#endif
