// labels: unit
/* test_demo_model.c — the embedded demo model: it is the committed
 * models/localm-demo.gguf, lands once in the disk cache, reads as the llama
 * model the recipe trained, tokenizes as the recipe's tokenizer did, and the
 * CPU engine reproduces PyTorch's held-out NLL and logits stored in
 * models/localm-demo.json (fp32 math on the file's fp16 weights). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cpu/engine_cpu.h"
#include "base/err.h"
#include "catalog/download.h"
#include "helpers/testdata.h"
#include "model/demo_model.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"

static char g_home[256];

static const char *source_dir(void) {
    const char *s = getenv("LOCALM_SOURCE_DIR");
    return s && *s ? s : LOCALM_SOURCE_DIR;
}

static cJSON *load_refs(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/models/localm-demo.json", source_dir());
    size_t len;
    char *txt = lm_test_read(p, &len);
    assert_non_null(txt);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    assert_non_null(j);
    return j;
}

static int32_t *json_ids(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int32_t *v = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        v[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return v;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsNumber(v)) fail_msg("refs: %s is not a number", k);
    return v->valuedouble;
}

static void cached_path(char *out, size_t cap) {
    lm_err err = {0};
    lm_status st = lm_demo_model_path(out, cap, &err);
    if (st != LM_OK) fail_msg("lm_demo_model_path: %s", lm_err_text(&err));
}

static int setup(void **state) {
    (void)state;
    snprintf(g_home, sizeof g_home, "/tmp/lm-demo-test-XXXXXX");
    if (!mkdtemp(g_home)) return -1;
    setenv("LOCALM_HOME", g_home, 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_home);
    return system(cmd) == 0 ? 0 : -1;
}

/* The embedded bytes are the committed file, and the cached copy is written
 * once, named by the file's sha256, rewritten when damaged. */
static void cache_copy_is_the_committed_file(void **state) {
    (void)state;
    assert_true(lm_demo_model_available());
    char committed[1024], hex[65], path[1024];
    snprintf(committed, sizeof committed, "%s/models/localm-demo.gguf", source_dir());
    lm_err err = {0};
    assert_int_equal(lm_sha256_file(committed, hex, NULL, NULL, &err), LM_OK);

    cached_path(path, sizeof path);
    char want[1024];
    snprintf(want, sizeof want, "%s/models/localm-demo-%.12s.gguf", g_home, hex);
    assert_string_equal(path, want);
    char hex2[65];
    assert_int_equal(lm_sha256_file(path, hex2, NULL, NULL, &err), LM_OK);
    assert_string_equal(hex, hex2);

    struct stat a, b;
    assert_int_equal(stat(path, &a), 0);
    char again[1024];
    cached_path(again, sizeof again);
    assert_string_equal(path, again);
    assert_int_equal(stat(again, &b), 0);
    assert_true(a.st_ino == b.st_ino && a.st_mtime == b.st_mtime); /* reused, not rewritten */

    assert_int_equal(truncate(path, 1000), 0); /* a damaged copy is replaced */
    cached_path(again, sizeof again);
    assert_int_equal(lm_sha256_file(again, hex2, NULL, NULL, &err), LM_OK);
    assert_string_equal(hex, hex2);

    char small[16];
    assert_int_equal(lm_demo_model_path(small, sizeof small, &err), LM_ERR_INVALID_ARG);
    assert_int_equal(lm_demo_model_path(NULL, 0, &err), LM_ERR_INVALID_ARG);
}

static lm_model_desc *open_demo(void) {
    char path[1024];
    cached_path(path, sizeof path);
    lm_model_desc *m = NULL;
    lm_err err = {0};
    if (lm_model_open(path, &m, &err) != LM_OK) fail_msg("open %s: %s", path, lm_err_text(&err));
    return m;
}

static void hyper_parameters_match_the_recipe(void **state) {
    (void)state;
    cJSON *refs = load_refs();
    const cJSON *c = cJSON_GetObjectItem(refs, "config");
    lm_model_desc *m = open_demo();
    const lm_hparams *hp = &m->hp;
    assert_int_equal(hp->arch, LM_ARCH_LLAMA);
    assert_int_equal(hp->n_vocab, (uint32_t)num(c, "n_vocab"));
    assert_int_equal(hp->n_embd, (uint32_t)num(c, "n_embd"));
    assert_int_equal(hp->n_layer, (uint32_t)num(c, "n_layer"));
    assert_int_equal(hp->n_head, (uint32_t)num(c, "n_head"));
    assert_int_equal(hp->n_head_kv, (uint32_t)num(c, "n_head_kv"));
    assert_int_equal(hp->head_dim, hp->n_embd / hp->n_head);
    assert_int_equal(hp->n_ff, (uint32_t)num(c, "n_ff"));
    assert_int_equal(hp->n_ctx_train, (uint32_t)num(c, "n_ctx_train"));
    assert_float_equal(hp->rope_theta, num(c, "rope_theta"), 1e-3);
    assert_float_equal(hp->norm_eps, num(c, "norm_eps"), 1e-9);
    assert_int_equal(hp->rope_layout, LM_ROPE_ADJACENT);
    assert_false(hp->tied_embeddings);
    assert_null(hp->rope_freq_factors);
    /* Every parameter of the PyTorch model is in the file. */
    uint64_t n = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        n += m->tensors[i].ne[0] * m->tensors[i].ne[1] * m->tensors[i].ne[2] * m->tensors[i].ne[3];
    assert_int_equal(n, (uint64_t)num(c, "n_params"));
    assert_non_null(m->chat_template);
    assert_non_null(strstr(m->chat_template, "<|im_start|>"));
    assert_non_null(m->tokenizer);
    assert_int_equal(lm_tokenizer_vocab_size(m->tokenizer), hp->n_vocab);
    assert_false(lm_tokenizer_adds_bos(m->tokenizer));
    size_t len;
    const char *eos = lm_tokenizer_token_text(m->tokenizer, lm_tokenizer_eos(m->tokenizer), &len);
    assert_non_null(eos);
    assert_int_equal(len, strlen("<|im_end|>"));
    assert_memory_equal(eos, "<|im_end|>", len);
    lm_model_free(m);
    cJSON_Delete(refs);
}

/* LocalM's tokenizer splits the held-out questions exactly as the recipe's. */
static void tokenizer_matches_the_recipe(void **state) {
    (void)state;
    cJSON *refs = load_refs();
    lm_model_desc *m = open_demo();
    const cJSON *ex = cJSON_GetObjectItem(cJSON_GetObjectItem(refs, "heldout"), "examples");
    assert_true(cJSON_GetArraySize(ex) >= 100);
    for (int i = 0; i < cJSON_GetArraySize(ex); i++) {
        const cJSON *e = cJSON_GetArrayItem(ex, i);
        char text[256];
        snprintf(text, sizeof text,
                 "<|im_start|>user\nWhat does '%s' mean?<|im_end|>\n<|im_start|>assistant\n",
                 cJSON_GetObjectItem(e, "word")->valuestring);
        int n;
        int32_t *want = json_ids(cJSON_GetObjectItem(e, "prompt_ids"), &n);
        int32_t *ids = NULL;
        size_t n_ids = 0;
        lm_err err = {0};
        assert_int_equal(
            lm_tokenize(m->tokenizer, text, strlen(text), true, true, &ids, &n_ids, &err), LM_OK);
        if (n_ids != (size_t)n || memcmp(ids, want, sizeof(int32_t) * (size_t)n) != 0)
            fail_msg("tokenization of %s differs from the recipe's", text);
        free(ids);
        free(want);
    }
    lm_model_free(m);
    cJSON_Delete(refs);
}

typedef struct demo_engine {
    lm_model_desc *m;
    lm_engine *e;
    int nv;
} demo_engine;

static void engine_open(demo_engine *g) {
    g->m = open_demo();
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = 512;
    o.kv_type = LM_KV_F32;
    o.n_seq_max = 1;
    lm_support sup;
    assert_int_equal(lm_backend_cpu()->check(g->m, &o, &sup), LM_OK);
    if (!sup.ok) fail_msg("cpu declined the demo model: %s", sup.reason);
    lm_err err = {0};
    if (lm_backend_cpu()->load(g->m, &o, NULL, NULL, &g->e, &err) != LM_OK)
        fail_msg("load: %s", lm_err_text(&err));
    g->nv = (int)g->m->output->ne[1];
}

static void engine_close(demo_engine *g) {
    lm_backend_cpu()->unload(g->e);
    lm_model_free(g->m);
}

/* Logits at every position of ids (a fresh sequence). */
static float *all_logits(demo_engine *g, const int32_t *ids, int n) {
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n), *sq = calloc((size_t)n, sizeof(int32_t));
    int8_t *fl = malloc((size_t)n);
    float *lg = malloc(sizeof(float) * (size_t)n * (size_t)g->nv);
    for (int i = 0; i < n; i++) {
        pos[i] = i;
        fl[i] = 1;
    }
    lm_backend_cpu()->kv_seq(g->e, LM_KV_CLEAR, -1, 0, -1);
    lm_batch b = {.n_tokens = n, .tokens = ids, .pos = pos, .seq = sq, .logits = fl};
    lm_logits out = {.data = lg, .capacity = n};
    lm_err err = {0};
    if (lm_backend_cpu()->forward(g->e, &b, &out, &err) != LM_OK)
        fail_msg("forward: %s", lm_err_text(&err));
    assert_int_equal(out.n_rows, n);
    free(pos);
    free(sq);
    free(fl);
    return lg;
}

static double token_nll(const float *row, int nv, int32_t target) {
    float mx = row[0];
    for (int k = 1; k < nv; k++)
        if (row[k] > mx) mx = row[k];
    double z = 0;
    for (int k = 0; k < nv; k++)
        z += exp((double)(row[k] - mx));
    return mx + log(z) - row[target];
}

/* Mean NLL of held-out definitions: equal to PyTorch's within 2e-3 (the F16
 * tolerance the shared references use) and below the measured quality bar. */
static void heldout_nll_matches_pytorch(void **state) {
    (void)state;
    cJSON *refs = load_refs();
    const cJSON *h = cJSON_GetObjectItem(refs, "heldout");
    const cJSON *ex = cJSON_GetObjectItem(h, "examples");
    demo_engine g;
    engine_open(&g);
    double sum = 0;
    long count = 0;
    for (int i = 0; i < cJSON_GetArraySize(ex); i++) {
        const cJSON *e = cJSON_GetArrayItem(ex, i);
        int np, na;
        int32_t *p = json_ids(cJSON_GetObjectItem(e, "prompt_ids"), &np);
        int32_t *a = json_ids(cJSON_GetObjectItem(e, "answer_ids"), &na);
        int32_t *seq = malloc(sizeof(int32_t) * (size_t)(np + na));
        memcpy(seq, p, sizeof(int32_t) * (size_t)np);
        memcpy(seq + np, a, sizeof(int32_t) * (size_t)na);
        float *lg = all_logits(&g, seq, np + na);
        for (int t = np; t < np + na; t++) {
            sum += token_nll(lg + (size_t)(t - 1) * g.nv, g.nv, seq[t]);
            count++;
        }
        free(lg);
        free(seq);
        free(p);
        free(a);
    }
    double ours = sum / (double)count, ref = num(h, "mean_nll");
    print_message("held-out definitions: mean NLL %.5f (PyTorch %.5f, bar %.2f) over %ld tokens\n",
                  ours, ref, num(h, "nll_threshold"), count);
    assert_true(fabs(ours - ref) <= 2e-3);
    assert_true(ours < num(h, "nll_threshold"));
    engine_close(&g);
    cJSON_Delete(refs);
}

/* Logits at the last prompt position within 1e-2 of PyTorch's, and the
 * greedy continuation reproduced wherever PyTorch's choice is clear. */
static void prompt_logits_match_pytorch(void **state) {
    (void)state;
    cJSON *refs = load_refs();
    const cJSON *prompts = cJSON_GetObjectItem(refs, "prompts");
    demo_engine g;
    engine_open(&g);
    for (int p = 0; p < cJSON_GetArraySize(prompts); p++) {
        const cJSON *pr = cJSON_GetArrayItem(prompts, p);
        int ni, ng;
        int32_t *ids = json_ids(cJSON_GetObjectItem(pr, "ids"), &ni);
        int32_t *gr = json_ids(cJSON_GetObjectItem(pr, "greedy"), &ng);
        int32_t *seq = malloc(sizeof(int32_t) * (size_t)(ni + ng));
        memcpy(seq, ids, sizeof(int32_t) * (size_t)ni);
        memcpy(seq + ni, gr, sizeof(int32_t) * (size_t)ng);
        float *lg = all_logits(&g, seq, ni + ng);
        const cJSON *last = cJSON_GetObjectItem(pr, "last_logits");
        assert_int_equal(cJSON_GetArraySize(last), g.nv);
        double worst = 0;
        for (int k = 0; k < g.nv; k++) {
            double d =
                fabs(cJSON_GetArrayItem(last, k)->valuedouble - lg[(size_t)(ni - 1) * g.nv + k]);
            if (d > worst) worst = d;
        }
        assert_true(worst <= 1e-2);
        const cJSON *margins = cJSON_GetObjectItem(pr, "greedy_margins");
        for (int k = 0; k < ng; k++) {
            if (cJSON_GetArrayItem(margins, k)->valuedouble < 1e-3) continue;
            const float *row = lg + (size_t)(ni - 1 + k) * g.nv;
            int best = 0;
            for (int v = 1; v < g.nv; v++)
                if (row[v] > row[best]) best = v;
            assert_int_equal(best, gr[k]);
        }
        free(lg);
        free(seq);
        free(ids);
        free(gr);
    }
    engine_close(&g);
    cJSON_Delete(refs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cache_copy_is_the_committed_file),
        cmocka_unit_test(hyper_parameters_match_the_recipe),
        cmocka_unit_test(tokenizer_matches_the_recipe),
        cmocka_unit_test(heldout_nll_matches_pytorch),
        cmocka_unit_test(prompt_logits_match_pytorch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
