/* ggml_types.h — the tensor element types of GGUF files (numbering from the
 * GGUF specification) with their block sizes, so that every reader and engine
 * computes row sizes the same way. */
#ifndef LM_FORMAT_GGML_TYPES_H
#define LM_FORMAT_GGML_TYPES_H
#include <stdbool.h>
#include <stdint.h>

typedef enum lm_type {
    LM_TYPE_F32 = 0,
    LM_TYPE_F16 = 1,
    LM_TYPE_Q4_0 = 2,
    LM_TYPE_Q4_1 = 3,
    LM_TYPE_Q5_0 = 6,
    LM_TYPE_Q5_1 = 7,
    LM_TYPE_Q8_0 = 8,
    LM_TYPE_Q8_1 = 9,
    LM_TYPE_Q2_K = 10,
    LM_TYPE_Q3_K = 11,
    LM_TYPE_Q4_K = 12,
    LM_TYPE_Q5_K = 13,
    LM_TYPE_Q6_K = 14,
    LM_TYPE_Q8_K = 15,
    LM_TYPE_IQ2_XXS = 16,
    LM_TYPE_IQ2_XS = 17,
    LM_TYPE_IQ3_XXS = 18,
    LM_TYPE_IQ1_S = 19,
    LM_TYPE_IQ4_NL = 20,
    LM_TYPE_IQ3_S = 21,
    LM_TYPE_IQ2_S = 22,
    LM_TYPE_IQ4_XS = 23,
    LM_TYPE_I8 = 24,
    LM_TYPE_I16 = 25,
    LM_TYPE_I32 = 26,
    LM_TYPE_I64 = 27,
    LM_TYPE_F64 = 28,
    LM_TYPE_IQ1_M = 29,
    LM_TYPE_BF16 = 30,
    LM_TYPE_TQ1_0 = 34,
    LM_TYPE_TQ2_0 = 35,
    LM_TYPE_MXFP4 = 39,
    LM_TYPE_COUNT = 40
} lm_type;

typedef struct lm_type_info {
    const char *name;     /* "Q4_K"; NULL for numbers no type uses */
    uint32_t block_elems; /* elements per block (1 for plain types) */
    uint32_t block_bytes; /* bytes per block */
    bool compute;         /* LocalM's engines can compute with it */
} lm_type_info;

/* Info for a type number, or NULL when the number names no known type. */
const lm_type_info *lm_type_get(uint32_t type);
const char *lm_type_name(uint32_t type); /* "unknown" when not known */
/* Bytes of a row of n elements; false if n is not a whole number of blocks
 * or the size overflows. */
bool lm_type_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes);
/* Type number for a name such as "q4_k" (case-insensitive); -1 if none. */
int lm_type_from_name(const char *name);
#endif
