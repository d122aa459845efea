/* gguf.h — bounded reader of GGUF v2/v3 files held in memory (usually an mmap):
 * metadata key/values of every type and the tensor table, all checked before use.
 *
 * Strings returned by this API point into the caller's buffer and are NOT
 * NUL-terminated (use the length), except keys and tensor names, which the
 * reader copies. The buffer must outlive the lm_gguf handle. */
#ifndef LM_FORMAT_GGUF_H
#define LM_FORMAT_GGUF_H
#include "localm.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, numbered as in the GGUF specification. */
typedef enum lm_gguf_type {
    LM_GGUF_U8 = 0,
    LM_GGUF_I8 = 1,
    LM_GGUF_U16 = 2,
    LM_GGUF_I16 = 3,
    LM_GGUF_U32 = 4,
    LM_GGUF_I32 = 5,
    LM_GGUF_F32 = 6,
    LM_GGUF_BOOL = 7,
    LM_GGUF_STRING = 8,
    LM_GGUF_ARRAY = 9,
    LM_GGUF_U64 = 10,
    LM_GGUF_I64 = 11,
    LM_GGUF_F64 = 12,
    LM_GGUF_TYPE_COUNT
} lm_gguf_type;

#define LM_GGUF_DEFAULT_ALIGNMENT 32
#define LM_GGUF_MAX_DIMS 4
#define LM_GGUF_MAX_NAME 96 /* tensor names longer than 95 bytes are rejected */

/* One value anywhere in the metadata: a scalar, a string or an array (whose
 * elements are themselves values, visited with lm_gguf_array_at / iterators). */
typedef struct lm_gguf_value {
    lm_gguf_type type;
    const uint8_t *data;    /* the encoded value (for strings: the bytes, no length) */
    uint64_t size;          /* encoded bytes (strings: the string length) */
    lm_gguf_type elem_type; /* arrays only */
    uint64_t count;         /* arrays only: number of elements */
} lm_gguf_value;

typedef struct lm_gguf_kv {
    char *key; /* owned, NUL-terminated, valid UTF-8 */
    lm_gguf_value value;
} lm_gguf_kv;

typedef struct lm_gguf_tensor {
    char name[LM_GGUF_MAX_NAME]; /* NUL-terminated, valid UTF-8 */
    uint32_t type;               /* lm_type (known to lm_type_get) */
    uint32_t n_dims;
    uint64_t ne[LM_GGUF_MAX_DIMS]; /* unused dims are 1 */
    uint64_t offset;               /* relative to the data section */
    uint64_t file_offset;          /* absolute */
    uint64_t nbytes;
    const void *data; /* inside the buffer */
} lm_gguf_tensor;

typedef struct lm_gguf {
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    lm_gguf_kv *kv;
    uint64_t n_tensors;
    lm_gguf_tensor *tensors;
    uint64_t data_offset; /* start of the tensor data section */
    const uint8_t *buf;
    size_t len;
} lm_gguf;

/* Parses and validates everything (every value, every tensor's bounds). */
lm_status lm_gguf_parse(const void *buf, size_t len, lm_gguf **out, lm_err *err);
void lm_gguf_free(lm_gguf *g); /* NULL is fine */

const char *lm_gguf_type_name(lm_gguf_type t); /* "u32", "string", "array", ... */

/* Lookup: index of key, or -1. */
int64_t lm_gguf_find_key(const lm_gguf *g, const char *key);
const lm_gguf_value *lm_gguf_get(const lm_gguf *g, const char *key); /* NULL if absent */
const lm_gguf_tensor *lm_gguf_find_tensor(const lm_gguf *g, const char *name);

/* Typed reads of a value. Integers convert between widths when the value fits
 * (LM_ERR_MODEL_FORMAT otherwise), floats accept f32/f64 and integers, bools
 * accept bool only. `what` names the value in error messages (usually the key). */
lm_status lm_gguf_value_i64(const lm_gguf_value *v, const char *what, int64_t *out, lm_err *err);
lm_status lm_gguf_value_u32(const lm_gguf_value *v, const char *what, uint32_t *out, lm_err *err);
lm_status lm_gguf_value_f64(const lm_gguf_value *v, const char *what, double *out, lm_err *err);
lm_status lm_gguf_value_bool(const lm_gguf_value *v, const char *what, bool *out, lm_err *err);
lm_status lm_gguf_value_str(const lm_gguf_value *v, const char *what, const char **s, uint64_t *len,
                            lm_err *err);

/* Same by key; LM_ERR_NOT_FOUND ("key X is missing") when absent. */
lm_status lm_gguf_get_u32(const lm_gguf *g, const char *key, uint32_t *out, lm_err *err);
lm_status lm_gguf_get_i64(const lm_gguf *g, const char *key, int64_t *out, lm_err *err);
lm_status lm_gguf_get_f32(const lm_gguf *g, const char *key, float *out, lm_err *err);
lm_status lm_gguf_get_bool(const lm_gguf *g, const char *key, bool *out, lm_err *err);
lm_status lm_gguf_get_str(const lm_gguf *g, const char *key, const char **s, uint64_t *len,
                          lm_err *err);
/* Malloc'd NUL-terminated copy of a string value (NULL + LM_ERR_NOT_FOUND if absent). */
lm_status lm_gguf_get_strdup(const lm_gguf *g, const char *key, char **out, lm_err *err);

/* Element i of an array value. O(1) for arrays of fixed-size elements; for
 * arrays of strings or arrays it walks from the start (use an iterator to
 * visit all). */
lm_status lm_gguf_array_at(const lm_gguf_value *arr, uint64_t i, lm_gguf_value *out, lm_err *err);

/* Sequential visit of an array's elements:
 *   lm_gguf_iter it; lm_gguf_iter_init(&it, arr);
 *   while (lm_gguf_iter_next(&it, &v)) ...                                 */
typedef struct lm_gguf_iter {
    const lm_gguf_value *arr;
    uint64_t index;
    const uint8_t *p, *end;
} lm_gguf_iter;
void lm_gguf_iter_init(lm_gguf_iter *it, const lm_gguf_value *arr);
bool lm_gguf_iter_next(lm_gguf_iter *it, lm_gguf_value *out);

/* Bytes of one element of a fixed-size type (0 for string and array). */
uint32_t lm_gguf_type_size(lm_gguf_type t);
#endif
