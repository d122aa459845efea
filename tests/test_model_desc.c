// labels: unit asan
/* test_model_desc.c — model descriptions from GGUF files and HF folders: the
 * reference models report the hyper-parameters of their config.json and the
 * testdata README, a model as GGUF and as HF folder describes the same
 * network, and broken inputs fail with messages that say what is wrong. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/half.h"
#include "format/gguf.h"
#include "helpers/testdata.h"
#include "helpers/tiny_gguf.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"

static void open_expect(const char *path, lm_status code, const char *needle) {
    lm_model_desc *m = NULL;
    lm_err e = {0};
    lm_status s = lm_model_open(path, &m, &e);
    if (s != code || !strstr(e.msg, needle))
        fail_msg("%s: expected %s \"%s\", got %s \"%s\"", path, lm_status_name(code), needle,
                 lm_status_name(s), e.msg);
    assert_null(m);
}

static lm_model_desc *open_tiny(const tiny_gguf_opts *o, lm_err *e, lm_status *st) {
    uint8_t *buf;
    size_t len;
    assert_true(tiny_gguf_build(o, &buf, &len));
    const char *path = tiny_gguf_write_temp(buf, len);
    assert_non_null(path);
    lm_model_desc *m = NULL;
    *st = lm_model_open(path, &m, e);
    unlink(path);
    free(buf);
    return m;
}

static void tiny_models(void **state) {
    (void)state;
    lm_err e = {0};
    lm_status st;
    tiny_gguf_opts o = {.with_tokenizer = true};
    lm_model_desc *m = open_tiny(&o, &e, &st);
    if (st) fail_msg("%s", e.msg);
    assert_int_equal(m->source, LM_SOURCE_GGUF);
    assert_string_equal(m->name, "tiny-test");
    assert_int_equal(m->hp.arch, LM_ARCH_LLAMA);
    assert_int_equal(m->hp.n_embd, 32);
    assert_int_equal(m->hp.n_head, 2);
    assert_int_equal(m->hp.n_head_kv, 1);
    assert_int_equal(m->hp.head_dim, 16);
    assert_int_equal(m->hp.n_ff, 64);
    assert_int_equal(m->hp.n_vocab, 8);
    assert_int_equal(m->hp.n_ctx_train, 128);
    assert_int_equal(m->hp.rope_layout, LM_ROPE_ADJACENT);
    assert_false(m->hp.tied_embeddings);
    assert_false(m->hp.qkv_bias);
    assert_null(m->hp.rope_freq_factors);
    assert_ptr_equal(m->output, lm_model_find_tensor(m, "output.weight"));
    assert_ptr_equal(m->layers[0].wq, lm_model_find_tensor(m, "blk.0.attn_q.weight"));
    assert_ptr_equal(m->layers[0].ffn_down, lm_model_find_tensor(m, "blk.0.ffn_down.weight"));
    assert_null(m->layers[0].bq);
    assert_string_equal(m->bos_text, "t0");
    assert_string_equal(m->eos_text, "t1");
    assert_non_null(lm_model_gguf(m));
    int64_t ctx;
    assert_int_equal(lm_gguf_get_i64(lm_model_gguf(m), "llama.context_length", &ctx, NULL), 0);
    assert_int_equal(ctx, 128);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        sum += m->tensors[i].nbytes;
    assert_int_equal(m->weight_bytes, sum);
    lm_model_free(m);

    o = (tiny_gguf_opts){.arch = "qwen2"};
    m = open_tiny(&o, &e, &st);
    if (st) fail_msg("%s", e.msg);
    assert_int_equal(m->hp.arch, LM_ARCH_QWEN2);
    assert_int_equal(m->hp.rope_layout, LM_ROPE_HALF);
    assert_true(m->hp.tied_embeddings);
    assert_ptr_equal(m->output, m->tok_embd);
    assert_true(m->hp.qkv_bias);
    assert_non_null(m->layers[0].bv);
    assert_null(m->tokenizer);
    lm_model_free(m);
    lm_model_free(NULL);
}

/* The context a model gets when none is asked for: its training context up
 * to 8192 (a Llama 3.1's 131,072 would not), 4096 when the file has none. */
static void default_context(void **state) {
    (void)state;
    lm_hparams hp = {0};
    const uint32_t train[][2] = {{131072, 8192}, {8192, 8192}, {2048, 2048}, {128, 128}, {0, 4096}};
    for (size_t i = 0; i < sizeof train / sizeof train[0]; i++) {
        hp.n_ctx_train = train[i][0];
        assert_int_equal(lm_model_default_ctx(&hp), train[i][1]);
    }
    assert_int_equal(lm_model_default_ctx(NULL), 4096);
}

static void tiny_model_errors(void **state) {
    (void)state;
    struct {
        tiny_gguf_opts o;
        lm_status code;
        const char *needle;
    } cases[] = {
        {{.arch = "xyz"},
         LM_ERR_UNSUPPORTED,
         "unknown architecture \"xyz\" (supported: llama, mistral, qwen2, qwen3)"},
        {{.q_rows = 48},
         LM_ERR_MODEL_FORMAT,
         "tensor blk.0.attn_q.weight has shape [32, 48], expected [32, 32] from the "
         "hyper-parameters"},
        {{.meta_n_ff = 96},
         LM_ERR_MODEL_FORMAT,
         "tensor blk.0.ffn_gate.weight has shape [32, 64], expected [32, 96]"},
        {{.n_head = 4, .n_head_kv = 3},
         LM_ERR_MODEL_FORMAT,
         "4 attention heads are not a multiple of 3 key/value heads"},
        {{.omit_output_norm = true}, LM_ERR_MODEL_FORMAT, "tensor output_norm.weight is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lm_err e = {0};
        lm_status st;
        lm_model_desc *m = open_tiny(&cases[i].o, &e, &st);
        if (st != cases[i].code || !strstr(e.msg, cases[i].needle))
            fail_msg("case %zu: expected \"%s\", got %s \"%s\"", i, cases[i].needle,
                     lm_status_name(st), e.msg);
        assert_null(m);
    }
    /* a valid tiny file cut short anywhere fails cleanly */
    uint8_t *buf;
    size_t len;
    tiny_gguf_opts o = {.with_tokenizer = true};
    assert_true(tiny_gguf_build(&o, &buf, &len));
    for (int k = 0; k < 64; k++) {
        const char *path = tiny_gguf_write_temp(buf, len * (size_t)k / 64);
        lm_model_desc *m = NULL;
        lm_err e = {0};
        assert_int_not_equal(lm_model_open(path, &m, &e), LM_OK);
        assert_null(m);
        assert_true(e.msg[0] != 0);
        unlink(path);
    }
    free(buf);
}

static void path_errors(void **state) {
    (void)state;
    open_expect("/nonexistent/model.gguf", LM_ERR_NOT_FOUND,
                "model /nonexistent/model.gguf: No such file or directory");
    char dir[] = "/tmp/localm-hf-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char want[256];
    snprintf(want, sizeof want, "folder %s has no config.json", dir);
    open_expect(dir, LM_ERR_NOT_FOUND, want);
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\":\"xyz\",\"hidden_size\":8,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":1,\"vocab_size\":4}",
          f);
    fclose(f);
    open_expect(dir, LM_ERR_UNSUPPORTED,
                "unknown architecture \"xyz\" (supported: llama, mistral, qwen2, qwen3)");
    f = fopen(path, "w");
    fputs("{\"model_type\":\"llama\",\"hidden_size\":8,\"intermediate_size\":8,"
          "\"num_hidden_layers\":1,\"num_attention_heads\":1,\"vocab_size\":4}",
          f);
    fclose(f);
    open_expect(dir, LM_ERR_NOT_FOUND, "has no model.safetensors");
    unlink(path);
    rmdir(dir);
    /* a file that is not GGUF at all */
    const char *junk = tiny_gguf_write_temp((const uint8_t *)"hello world, not a model", 24);
    open_expect(junk, LM_ERR_MODEL_FORMAT, "not a GGUF file");
    unlink(junk);
}

/* ---- reference models --------------------------------------------------- */

typedef struct ref_model {
    const char *name; /* tiny-llama3 */
    const char *arch;
    uint32_t n_vocab;
    float theta;
    bool tied, bias, llama3_rope, has_hf;
} ref_model;

static const ref_model k_refs[] = {
    {"tiny-llama3", "llama", 1024, 500000.0f, false, false, true, true},
    {"tiny-qwen2", "qwen2", 1040, 1000000.0f, true, true, false, true},
    {"tiny-llama2", "llama", 1024, 10000.0f, false, false, false, false},
};

/* The README table: 2 layers, hidden 256, FFN 512, 4 heads, 2 KV heads, head_dim 64. */
static void check_readme_hparams(const lm_model_desc *m, const ref_model *r) {
    const lm_hparams *hp = &m->hp;
    assert_string_equal(hp->arch_name, r->arch);
    assert_int_equal(hp->n_layer, 2);
    assert_int_equal(hp->n_embd, 256);
    assert_int_equal(hp->n_ff, 512);
    assert_int_equal(hp->n_head, 4);
    assert_int_equal(hp->n_head_kv, 2);
    assert_int_equal(hp->head_dim, 64);
    assert_int_equal(hp->n_vocab, r->n_vocab);
    assert_true(hp->rope_theta == r->theta);
    assert_int_equal(hp->tied_embeddings, r->tied);
    assert_int_equal(hp->qkv_bias, r->bias);
    assert_int_equal(hp->rope_freq_factors != NULL, r->llama3_rope);
    assert_ptr_equal(m->output, r->tied ? m->tok_embd : lm_model_find_tensor(m, "output.weight"));
    assert_non_null(m->chat_template);
    for (uint32_t l = 0; l < 2; l++) {
        assert_non_null(m->layers[l].wq);
        assert_int_equal(m->layers[l].wq->ne[1], 256);
        assert_int_equal(m->layers[l].wk->ne[1], 128);
        assert_int_equal(m->layers[l].ffn_down->ne[0], 512);
        assert_int_equal(m->layers[l].bq != NULL, r->bias);
    }
}

/* Values straight from config.json (read here with cJSON, not our reader). */
static void check_config_json(const lm_model_desc *m, const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    char *text = lm_test_read(p, NULL);
    assert_non_null(text);
    cJSON *c = cJSON_Parse(text);
    assert_non_null(c);
#define NUM(k) cJSON_GetObjectItem(c, k)->valuedouble
    assert_int_equal(m->hp.n_embd, (uint32_t)NUM("hidden_size"));
    assert_int_equal(m->hp.n_ff, (uint32_t)NUM("intermediate_size"));
    assert_int_equal(m->hp.n_layer, (uint32_t)NUM("num_hidden_layers"));
    assert_int_equal(m->hp.n_head, (uint32_t)NUM("num_attention_heads"));
    assert_int_equal(m->hp.n_head_kv, (uint32_t)NUM("num_key_value_heads"));
    assert_int_equal(m->hp.n_vocab, (uint32_t)NUM("vocab_size"));
    assert_int_equal(m->hp.n_ctx_train, (uint32_t)NUM("max_position_embeddings"));
    assert_true(m->hp.rope_theta == (float)NUM("rope_theta"));
    assert_true(m->hp.norm_eps == (float)NUM("rms_norm_eps"));
    assert_int_equal(m->hp.tied_embeddings,
                     cJSON_IsTrue(cJSON_GetObjectItem(c, "tie_word_embeddings")));
#undef NUM
    cJSON_Delete(c);
    free(text);
}

/* The tokenizer built from the description reproduces the reference ids of
 * every prompt in refs/NAME.json (BOS included exactly when the model adds it). */
static void check_tokenizer(const lm_model_desc *m, const char *name) {
    assert_non_null(m->tokenizer);
    char rel[128];
    snprintf(rel, sizeof rel, "refs/%s.json", name);
    char *text = lm_test_read(lm_test_path(rel), NULL);
    assert_non_null(text);
    cJSON *r = cJSON_Parse(text);
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(r, "prompts")) {
        const char *prompt = cJSON_GetObjectItem(p, "prompt")->valuestring;
        const cJSON *ids = cJSON_GetObjectItem(p, "ids");
        int32_t *got;
        size_t n;
        lm_err e = {0};
        if (lm_tokenize(m->tokenizer, prompt, strlen(prompt), true, true, &got, &n, &e))
            fail_msg("%s: %s", m->path, e.msg);
        assert_int_equal(n, (size_t)cJSON_GetArraySize(ids));
        for (size_t i = 0; i < n; i++)
            assert_int_equal(got[i], cJSON_GetArrayItem(ids, (int)i)->valueint);
        free(got);
    }
    cJSON_Delete(r);
    free(text);
}

static void reference_models_load(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    const char *quant[] = {"tiny-llama3-q8_0", "tiny-llama3-q4_0", "tiny-llama3-q4_k_m",
                           "tiny-qwen2-q4_k_m", "tiny-llama2-q8_0"};
    for (size_t i = 0; i < 3; i++) {
        const ref_model *r = &k_refs[i];
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s-f16.gguf", r->name);
        lm_model_desc *m;
        lm_err e = {0};
        if (lm_model_open(lm_test_path(rel), &m, &e)) fail_msg("%s: %s", rel, e.msg);
        assert_string_equal(m->name, r->name);
        check_readme_hparams(m, r);
        check_tokenizer(m, r->name);
        assert_int_equal(m->hp.rope_layout, LM_ROPE_ADJACENT * !strcmp(r->arch, "llama"));
        if (r->has_hf) {
            char d[128];
            snprintf(d, sizeof d, "models/%s", r->name);
            check_config_json(m, lm_test_path(d));
        }
        lm_model_free(m);
        if (!r->has_hf) continue;
        snprintf(rel, sizeof rel, "models/%s", r->name);
        if (lm_model_open(lm_test_path(rel), &m, &e)) fail_msg("%s: %s", rel, e.msg);
        assert_int_equal(m->source, LM_SOURCE_HF);
        check_readme_hparams(m, r);
        check_config_json(m, lm_test_path(rel));
        check_tokenizer(m, r->name);
        assert_int_equal(m->hp.rope_layout, LM_ROPE_HALF);
        lm_model_free(m);
    }
    for (size_t i = 0; i < sizeof quant / sizeof *quant; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s.gguf", quant[i]);
        lm_model_desc *m;
        lm_err e = {0};
        if (lm_model_open(lm_test_path(rel), &m, &e)) fail_msg("%s: %s", rel, e.msg);
        const ref_model *r = strstr(quant[i], "llama3")  ? &k_refs[0]
                             : strstr(quant[i], "qwen2") ? &k_refs[1]
                                                         : &k_refs[2];
        check_readme_hparams(m, r);
        check_tokenizer(m, r->name);
        lm_model_free(m);
    }
}

/* GGUF row of a llama Q/K matrix -> HF row: llama.cpp's conversion moved HF
 * row h*hd + j*hd/2 + i (half-split pair member j of pair i) to h*hd + 2i + j. */
static uint64_t hf_row(uint64_t gguf_row, uint32_t hd, bool permuted) {
    if (!permuted) return gguf_row;
    uint64_t h = gguf_row / hd, r = gguf_row % hd, i = r / 2, j = r % 2;
    return h * hd + j * (hd / 2) + i;
}

static float value_at(const lm_tensor *t, uint64_t i) {
    if (t->type == 0) return ((const float *)t->data)[i];
    uint16_t h;
    memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
    return lm_half_to_float(h);
}

static void compare_tensors(const lm_tensor *g, const lm_tensor *h, bool permute, uint32_t hd) {
    assert_int_equal(g->n_dims, h->n_dims);
    for (int d = 0; d < 4; d++)
        assert_int_equal(g->ne[d], h->ne[d]);
    uint64_t rows = g->ne[1], cols = g->ne[0];
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t hr = hf_row(r, hd, permute);
        for (uint64_t c = 0; c < cols; c++) {
            float a = value_at(g, r * cols + c), b = value_at(h, hr * cols + c);
            if (a != b)
                fail_msg("%s row %llu col %llu: gguf %g vs hf %g", g->name, (unsigned long long)r,
                         (unsigned long long)c, a, b);
        }
    }
}

static void gguf_and_hf_agree(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    for (size_t i = 0; i < 2; i++) {
        const ref_model *r = &k_refs[i];
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s-f16.gguf", r->name);
        lm_model_desc *g, *h;
        lm_err e = {0};
        assert_int_equal(lm_model_open(lm_test_path(rel), &g, &e), LM_OK);
        snprintf(rel, sizeof rel, "models/%s", r->name);
        assert_int_equal(lm_model_open(lm_test_path(rel), &h, &e), LM_OK);
        lm_hparams a = g->hp, b = h->hp;
        assert_int_equal(a.arch, b.arch);
        assert_int_equal(a.n_vocab, b.n_vocab);
        assert_int_equal(a.n_ctx_train, b.n_ctx_train);
        assert_true(a.norm_eps == b.norm_eps);
        assert_true(a.rope_theta == b.rope_theta);
        assert_int_equal(a.tied_embeddings, b.tied_embeddings);
        assert_int_equal(a.qkv_bias, b.qkv_bias);
        assert_int_equal(a.qk_norm, b.qk_norm);
        /* llama3 factors: GGUF's rope_freqs.weight vs ours from rope_scaling */
        assert_int_equal(a.rope_freq_factors != NULL, b.rope_freq_factors != NULL);
        int n_scaled = 0;
        for (uint32_t k = 0; a.rope_freq_factors && k < a.head_dim / 2; k++) {
            float x = a.rope_freq_factors[k], y = b.rope_freq_factors[k];
            if (fabsf(x - y) > 1e-5f * x) fail_msg("rope factor %u: gguf %g hf %g", k, x, y);
            n_scaled += x > 1.0f;
        }
        if (a.rope_freq_factors) assert_true(n_scaled > 0 && n_scaled < 32);
        /* same tensor names and shapes (GGUF adds rope_freqs.weight) */
        uint32_t matched = 0;
        for (uint32_t k = 0; k < g->n_tensors; k++) {
            const lm_tensor *gt = &g->tensors[k];
            if (!strcmp(gt->name, "rope_freqs.weight")) continue;
            const lm_tensor *ht = lm_model_find_tensor(h, gt->name);
            if (!ht) fail_msg("%s missing from the HF description", gt->name);
            bool qk = strstr(gt->name, "attn_q.") || strstr(gt->name, "attn_k.");
            compare_tensors(gt, ht, qk && a.rope_layout == LM_ROPE_ADJACENT, a.head_dim);
            matched++;
        }
        assert_int_equal(matched, h->n_tensors);
        assert_int_equal(b.rope_layout, LM_ROPE_HALF);
        /* token texts and templates agree */
        assert_non_null(g->eos_text);
        assert_string_equal(g->eos_text, h->eos_text);
        if (h->bos_text) assert_string_equal(g->bos_text, h->bos_text);
        assert_string_equal(g->chat_template, h->chat_template);
        /* HF tensors are the file's bytes, in place */
        size_t flen;
        snprintf(rel, sizeof rel, "models/%s/model.safetensors", r->name);
        char *file = lm_test_read(lm_test_path(rel), &flen);
        const lm_tensor *t = h->layers[1].ffn_up;
        assert_true(t->file_offset + t->nbytes <= flen);
        assert_memory_equal(file + t->file_offset, t->data, t->nbytes);
        free(file);
        lm_model_free(g);
        lm_model_free(h);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_models),       cmocka_unit_test(tiny_model_errors),
        cmocka_unit_test(path_errors),       cmocka_unit_test(reference_models_load),
        cmocka_unit_test(gguf_and_hf_agree), cmocka_unit_test(default_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
