/* gguf_write.h — a small GGUF v3 writer: metadata of every scalar type, string
 * and numeric arrays, and tensors placed at the alignment. Used to save random
 * models (`localm bench --random --save`) and by tests that build files. */
#ifndef LM_FORMAT_GGUF_WRITE_H
#define LM_FORMAT_GGUF_WRITE_H
#include "format/gguf.h"
#include "localm.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lm_gguf_writer lm_gguf_writer;

lm_gguf_writer *lm_gguf_writer_new(void);    /* NULL when out of memory */
void lm_gguf_writer_free(lm_gguf_writer *w); /* NULL is fine */

/* Version field written in the header (default 3; tests may write 2 or junk). */
void lm_gguf_writer_set_version(lm_gguf_writer *w, uint32_t version);
/* Tensor data alignment (default 32); also records general.alignment as u32
 * when it differs from the default. Must be called before adding tensors. */
lm_status lm_gguf_writer_set_alignment(lm_gguf_writer *w, uint32_t alignment);

/* Metadata. Keys are written as given (tests may pass invalid UTF-8). Each
 * call returns the writer's first error, if any (errors are sticky). */
lm_status lm_gguf_writer_add_u8(lm_gguf_writer *w, const char *key, uint8_t v);
lm_status lm_gguf_writer_add_i8(lm_gguf_writer *w, const char *key, int8_t v);
lm_status lm_gguf_writer_add_u16(lm_gguf_writer *w, const char *key, uint16_t v);
lm_status lm_gguf_writer_add_i16(lm_gguf_writer *w, const char *key, int16_t v);
lm_status lm_gguf_writer_add_u32(lm_gguf_writer *w, const char *key, uint32_t v);
lm_status lm_gguf_writer_add_i32(lm_gguf_writer *w, const char *key, int32_t v);
lm_status lm_gguf_writer_add_u64(lm_gguf_writer *w, const char *key, uint64_t v);
lm_status lm_gguf_writer_add_i64(lm_gguf_writer *w, const char *key, int64_t v);
lm_status lm_gguf_writer_add_f32(lm_gguf_writer *w, const char *key, float v);
lm_status lm_gguf_writer_add_f64(lm_gguf_writer *w, const char *key, double v);
lm_status lm_gguf_writer_add_bool(lm_gguf_writer *w, const char *key, bool v);
lm_status lm_gguf_writer_add_str(lm_gguf_writer *w, const char *key, const char *v);
lm_status lm_gguf_writer_add_strn(lm_gguf_writer *w, const char *key, const char *v, size_t n);
/* Array of count fixed-size elements of elem type (host-order values: i32 for
 * LM_GGUF_I32, float for LM_GGUF_F32, ...). */
lm_status lm_gguf_writer_add_arr(lm_gguf_writer *w, const char *key, lm_gguf_type elem,
                                 const void *values, uint64_t count);
/* Array of strings; lens may be NULL (then each string is NUL-terminated). */
lm_status lm_gguf_writer_add_arr_str(lm_gguf_writer *w, const char *key, const char *const *strs,
                                     const uint32_t *lens, uint64_t count);
/* A value given already encoded (type field + bytes follow the key): lets
 * tests write nested arrays and deliberately malformed values. */
lm_status lm_gguf_writer_add_raw(lm_gguf_writer *w, const char *key, uint32_t type,
                                 const void *bytes, size_t n);

/* A tensor of type with n_dims dims ne[] (GGUF order). data holds the bytes
 * (lm_type_row_bytes(ne[0]) x other dims) and must stay valid until the file
 * is written; NULL writes zeros. */
lm_status lm_gguf_writer_add_tensor(lm_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const uint64_t *ne, const void *data);

/* The whole file in a malloc'd buffer, or streamed to path. */
lm_status lm_gguf_writer_to_buffer(lm_gguf_writer *w, uint8_t **buf, size_t *len, lm_err *err);
lm_status lm_gguf_writer_write_file(lm_gguf_writer *w, const char *path, lm_err *err);
#endif
