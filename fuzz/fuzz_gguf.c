/* fuzz_gguf.c — libFuzzer target: the GGUF reader on arbitrary bytes, then
 * every accessor on whatever parses (typed reads, array walks, tensor data). */
#include "format/gguf.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t g_sink;

static void touch_value(const lm_gguf_value *v, int depth) {
    int64_t i;
    double d;
    bool b;
    const char *s;
    uint64_t n;
    if (!lm_gguf_value_i64(v, "v", &i, NULL)) g_sink += (uint64_t)i;
    if (!lm_gguf_value_f64(v, "v", &d, NULL)) g_sink += (uint64_t)(d == d);
    if (!lm_gguf_value_bool(v, "v", &b, NULL)) g_sink += b;
    if (!lm_gguf_value_str(v, "v", &s, &n, NULL) && n) g_sink += (uint8_t)s[n - 1];
    if (v->type != LM_GGUF_ARRAY || depth > 3) return;
    lm_gguf_iter it;
    lm_gguf_value e;
    lm_gguf_iter_init(&it, v);
    for (int k = 0; k < 64 && lm_gguf_iter_next(&it, &e); k++)
        touch_value(&e, depth + 1);
    if (v->count && !lm_gguf_array_at(v, v->count - 1, &e, NULL)) touch_value(&e, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_gguf *g;
    lm_err err;
    if (lm_gguf_parse(data, size, &g, &err) != LM_OK) return 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        touch_value(&g->kv[i].value, 0);
        g_sink += lm_gguf_get(g, g->kv[i].key) != NULL;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const lm_gguf_tensor *t = &g->tensors[i];
        if (t->nbytes) g_sink += ((const uint8_t *)t->data)[t->nbytes - 1];
        g_sink += lm_gguf_find_tensor(g, t->name) == t;
    }
    lm_gguf_free(g);
    return 0;
}
