/* fuzz_safetensors.c — libFuzzer target: the safetensors header parser and the
 * shard index parser on arbitrary bytes; parsed tensors' bytes are touched. */
#include "format/safetensors.h"
#include <stdint.h>
#include <stdlib.h>

static volatile uint64_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_safetensors *st;
    lm_err err;
    if (lm_safetensors_parse(data, size, &st, &err) == LM_OK) {
        for (uint64_t i = 0; i < st->n_tensors; i++) {
            const lm_st_tensor *t = &st->tensors[i];
            if (t->nbytes) g_sink += ((const uint8_t *)t->data)[t->nbytes - 1];
            g_sink += lm_safetensors_find(st, t->name) != NULL;
        }
        lm_safetensors_free(st);
    }
    lm_st_index *ix;
    if (lm_st_index_parse((const char *)data, size, &ix, &err) == LM_OK) {
        for (uint32_t i = 0; i < ix->n_entries; i++)
            g_sink += ix->files[ix->file_of[i]][0];
        lm_st_index_free(ix);
    }
    return 0;
}
