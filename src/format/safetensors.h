/* safetensors.h — bounded reader of .safetensors files (8-byte little-endian
 * header length, JSON header, raw tensor bytes) and of the sharded
 * model.safetensors.index.json weight map. */
#ifndef LM_FORMAT_SAFETENSORS_H
#define LM_FORMAT_SAFETENSORS_H
#include "localm.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LM_ST_MAX_DIMS 8
#define LM_ST_MAX_HEADER (100u << 20) /* the format's own limit on header size */

typedef enum lm_st_dtype {
    LM_ST_BOOL,
    LM_ST_U8,
    LM_ST_I8,
    LM_ST_F8_E5M2,
    LM_ST_F8_E4M3,
    LM_ST_I16,
    LM_ST_U16,
    LM_ST_F16,
    LM_ST_BF16,
    LM_ST_I32,
    LM_ST_U32,
    LM_ST_F32,
    LM_ST_F64,
    LM_ST_I64,
    LM_ST_U64,
    LM_ST_DTYPE_COUNT
} lm_st_dtype;

typedef struct lm_st_tensor {
    char *name; /* owned, NUL-terminated, valid UTF-8 */
    lm_st_dtype dtype;
    uint32_t n_dims;
    uint64_t shape[LM_ST_MAX_DIMS]; /* row-major, outermost first (as in the file) */
    uint64_t file_offset;           /* absolute offset of the data in the file */
    uint64_t nbytes;
    const void *data; /* inside the caller's buffer */
} lm_st_tensor;

typedef struct lm_safetensors {
    uint64_t n_tensors;
    lm_st_tensor *tensors;
    uint64_t data_offset; /* 8 + header length */
    const uint8_t *buf;
    size_t len;
} lm_safetensors;

/* Parses and validates the header and every tensor's bounds. Dtypes outside
 * the table above fail with LM_ERR_UNSUPPORTED. */
lm_status lm_safetensors_parse(const void *buf, size_t len, lm_safetensors **out, lm_err *err);
void lm_safetensors_free(lm_safetensors *st);
const lm_st_tensor *lm_safetensors_find(const lm_safetensors *st, const char *name);

const char *lm_st_dtype_name(lm_st_dtype d); /* "F16" */
uint32_t lm_st_dtype_size(lm_st_dtype d);    /* bytes per element */
/* The lm_type for F32/F16/BF16; -1 for dtypes LocalM does not compute with. */
int lm_st_dtype_to_type(lm_st_dtype d);

/* model.safetensors.index.json: tensor name -> shard file name. */
typedef struct lm_st_index {
    uint32_t n_entries;
    char **tensor_names; /* owned */
    uint32_t *file_of;   /* index into files[] per entry */
    uint32_t n_files;
    char **files; /* distinct shard names, in first-seen order; plain file names */
} lm_st_index;

/* Shard names must be plain file names (no '/', no "..", not empty). */
lm_status lm_st_index_parse(const char *json, size_t len, lm_st_index **out, lm_err *err);
void lm_st_index_free(lm_st_index *ix);
#endif
