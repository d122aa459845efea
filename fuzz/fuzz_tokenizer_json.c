/* fuzz_tokenizer_json.c — libFuzzer target for the tokenizer.json loader and
 * the encode/decode paths: input is tokenizer.json, a NUL byte, then text to
 * encode; the ids are decoded whole and streamed. */
#include "model/tokenizer.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : "";
    size_t tlen = nul ? size - jlen - 1 : 0;
    lm_tokenizer *t = NULL;
    lm_err err = {0};
    if (lm_tokenizer_from_json((const char *)data, jlen, NULL, 0, &t, &err) != LM_OK) return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    for (int special = 0; special < 2; special++) {
        if (lm_tokenize(t, text, tlen, special, special, &ids, &n, &err) != LM_OK) continue;
        char *dec = NULL;
        if (lm_detokenize(t, ids, n, !special, &dec, NULL, &err) == LM_OK) free(dec);
        lm_detok_stream *s = lm_detok_stream_create(t, false);
        const char *p;
        for (size_t i = 0; i < n; i++)
            lm_detok_stream_push(s, ids[i], &p);
        lm_detok_stream_push(s, -5, &p);
        lm_detok_stream_flush(s, &p);
        lm_detok_stream_free(s);
        free(ids);
    }
    (void)lm_tokenizer_is_eog(t, 0);
    lm_tokenizer_free(t);
    return 0;
}
