/* tiny_gguf.c — small GGUF models for tests, built with the GGUF writer. */
#include "tiny_gguf.h"
#include "format/ggml_types.h"
#include "format/gguf_write.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float *ramp(size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = scale * (float)((int)(i % 17) - 8);
    return p;
}

bool tiny_gguf_build(const tiny_gguf_opts *o, uint8_t **buf, size_t *len) {
    const char *arch = o->arch ? o->arch : "llama";
    uint32_t E = o->n_embd ? o->n_embd : 32, H = o->n_head ? o->n_head : 2;
    uint32_t KV = o->n_head_kv ? o->n_head_kv : 1, F = o->n_ff ? o->n_ff : 64;
    uint32_t V = o->n_vocab ? o->n_vocab : 8, hd = E / H;
    uint32_t QR = o->q_rows ? o->q_rows : H * hd, MF = o->meta_n_ff ? o->meta_n_ff : F;
    lm_gguf_writer *w = lm_gguf_writer_new();
    char key[128];
#define K(s) (snprintf(key, sizeof key, "%s." s, arch), key)
    lm_gguf_writer_add_str(w, "general.architecture", arch);
    lm_gguf_writer_add_str(w, "general.name", "tiny-test");
    lm_gguf_writer_add_u32(w, K("context_length"), 128);
    lm_gguf_writer_add_u32(w, K("embedding_length"), E);
    lm_gguf_writer_add_u32(w, K("block_count"), 1);
    lm_gguf_writer_add_u32(w, K("feed_forward_length"), MF);
    lm_gguf_writer_add_u32(w, K("attention.head_count"), H);
    lm_gguf_writer_add_u32(w, K("attention.head_count_kv"), KV);
    lm_gguf_writer_add_f32(w, K("rope.freq_base"), 10000.0f);
    lm_gguf_writer_add_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
#undef K
    char **toks = NULL;
    if (o->with_tokenizer) {
        toks = calloc(V, sizeof *toks);
        for (uint32_t i = 0; i < V; i++) {
            toks[i] = malloc(16);
            snprintf(toks[i], 16, "t%u", i);
        }
        lm_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
        lm_gguf_writer_add_str(w, "tokenizer.ggml.pre", "default");
        lm_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, V);
        const char *merges[] = {"t 0"};
        lm_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1);
        lm_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 0);
        lm_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1);
    }
    size_t big = (size_t)V * E + 4 * (size_t)F * E + 4 * (size_t)QR * E;
    float *data = ramp(big, 0.01f);
    struct {
        const char *name;
        uint32_t ne0, ne1;
    } ts[] = {
        {"token_embd.weight", E, V},
        {"output_norm.weight", E, 1},
        {"output.weight", E, V},
        {"blk.0.attn_norm.weight", E, 1},
        {"blk.0.attn_q.weight", E, QR},
        {"blk.0.attn_k.weight", E, KV * hd},
        {"blk.0.attn_v.weight", E, KV * hd},
        {"blk.0.attn_output.weight", H * hd, E},
        {"blk.0.ffn_norm.weight", E, 1},
        {"blk.0.ffn_gate.weight", E, F},
        {"blk.0.ffn_up.weight", E, F},
        {"blk.0.ffn_down.weight", F, E},
        {"blk.0.attn_q.bias", QR, 1},
        {"blk.0.attn_k.bias", KV * hd, 1},
        {"blk.0.attn_v.bias", KV * hd, 1},
    };
    bool qwen = !strcmp(arch, "qwen2");
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        if (o->omit_output_norm && !strcmp(ts[i].name, "output_norm.weight")) continue;
        if (!qwen && strstr(ts[i].name, ".bias")) continue;
        if (qwen && !strcmp(ts[i].name, "output.weight")) continue; /* tied */
        uint64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        lm_gguf_writer_add_tensor(w, ts[i].name, LM_TYPE_F32, ts[i].ne1 > 1 ? 2 : 1, ne, data);
    }
    lm_err err = {0};
    bool ok = lm_gguf_writer_to_buffer(w, buf, len, &err) == LM_OK;
    if (!ok) fprintf(stderr, "tiny_gguf_build: %s\n", err.msg);
    lm_gguf_writer_free(w);
    free(data);
    if (toks)
        for (uint32_t i = 0; i < V; i++)
            free(toks[i]);
    free(toks);
    return ok;
}

const char *tiny_gguf_write_temp(const uint8_t *buf, size_t len) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/localm-test-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    bool ok = write(fd, buf, len) == (ssize_t)len;
    close(fd);
    return ok ? path : NULL;
}
