// labels: unit
/* test_engine_refs.c — the CPU engine against the reference outputs in
 * testdata/refs (transformers in fp32 for F16 weights, llama.cpp for
 * quantised files), and against itself across equivalent paths: GGUF vs HF
 * folder, F32 vs F16 KV cache, two sequences in one batch vs each alone,
 * token-by-token decode vs one prefill, and `localm score`. */
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

#include "backend/cpu/engine_cpu.h"
#include "base/err.h"
#include "helpers/testdata.h"

static const char *const k_models[] = {"tiny-llama3", "tiny-qwen2", "tiny-llama2"};
#define N_MODELS 3

/* ---- helpers ---- */

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static cJSON *load_refs(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "refs/%s.json", name);
    size_t len;
    char *txt = lm_test_read(lm_test_path(rel), &len);
    if (!txt) return NULL;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    return j;
}

static int32_t *json_ids(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int32_t *v = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        v[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return v;
}

typedef struct eng {
    lm_model_desc *m;
    lm_engine *e;
    int nv;
} eng;

static void eng_open(eng *g, const char *path, lm_kv_type kv, int n_seq) {
    lm_err err = {0};
    lm_status st = lm_model_open(path, &g->m, &err);
    if (st != LM_OK) fail_msg("open %s: %s", path, lm_err_text(&err));
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = 512;
    o.kv_type = kv;
    o.n_seq_max = n_seq;
    lm_support sup;
    assert_int_equal(lm_backend_cpu()->check(g->m, &o, &sup), LM_OK);
    if (!sup.ok) fail_msg("cpu declined %s: %s", path, sup.reason);
    st = lm_backend_cpu()->load(g->m, &o, NULL, NULL, &g->e, &err);
    if (st != LM_OK) fail_msg("load %s: %s", path, lm_err_text(&err));
    g->nv = (int)g->m->output->ne[1];
}

static void eng_close(eng *g) {
    lm_backend_cpu()->unload(g->e);
    lm_model_free(g->m);
}

/* Logits at every position of ids as sequence seq, starting at position p0
 * (the cache must hold p0 earlier positions). */
static float *eng_logits(eng *g, const int32_t *ids, int n, int seq, int p0) {
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n), *sq = malloc(sizeof(int32_t) * (size_t)n);
    int8_t *fl = malloc((size_t)n);
    float *lg = malloc(sizeof(float) * (size_t)n * (size_t)g->nv);
    for (int i = 0; i < n; i++) {
        pos[i] = p0 + i;
        sq[i] = seq;
        fl[i] = 1;
    }
    lm_batch b = {.n_tokens = n, .tokens = ids, .pos = pos, .seq = sq, .logits = fl};
    lm_logits out = {.data = lg, .capacity = n};
    lm_err err = {0};
    lm_status st = lm_backend_cpu()->forward(g->e, &b, &out, &err);
    if (st != LM_OK) fail_msg("forward: %s", lm_err_text(&err));
    assert_int_equal(out.n_rows, n);
    assert_int_equal(out.n_vocab, g->nv);
    free(pos);
    free(sq);
    free(fl);
    return lg;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static double mean_nll(const float *lg, const int32_t *ids, int n, int nv) {
    double s = 0;
    for (int i = 0; i + 1 < n; i++) {
        const float *r = lg + (size_t)i * nv;
        float mx = r[argmax(r, nv)];
        double z = 0;
        for (int k = 0; k < nv; k++)
            z += exp((double)(r[k] - mx));
        s += mx + log(z) - r[ids[i + 1]];
    }
    return s / (n - 1);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    return d;
}

/* Feeds each prompt's ids + greedy and compares argmax per greedy step.
 * Returns agreement over steps with margin >= 1e-3; *max_last gets the
 * largest |last_logits - ours| over prompts. */
static double teacher_forced(eng *g, const cJSON *refs, double *max_last) {
    const cJSON *prompts = cJSON_GetObjectItem(refs, "prompts");
    int agree = 0, steps = 0;
    *max_last = 0;
    for (int p = 0; p < cJSON_GetArraySize(prompts); p++) {
        const cJSON *pr = cJSON_GetArrayItem(prompts, p);
        int ni, ng;
        int32_t *ids = json_ids(cJSON_GetObjectItem(pr, "ids"), &ni);
        int32_t *gr = json_ids(cJSON_GetObjectItem(pr, "greedy"), &ng);
        const cJSON *margins = cJSON_GetObjectItem(pr, "greedy_margins");
        int32_t *seq = malloc(sizeof(int32_t) * (size_t)(ni + ng));
        memcpy(seq, ids, sizeof(int32_t) * (size_t)ni);
        memcpy(seq + ni, gr, sizeof(int32_t) * (size_t)ng);
        lm_backend_cpu()->kv_seq(g->e, LM_KV_CLEAR, -1, 0, -1);
        float *lg = eng_logits(g, seq, ni + ng, 0, 0);
        for (int k = 0; k < ng; k++) {
            if (cJSON_GetArrayItem(margins, k)->valuedouble < 1e-3) continue;
            steps++;
            agree += argmax(lg + (size_t)(ni - 1 + k) * g->nv, g->nv) == gr[k];
        }
        const cJSON *last = cJSON_GetObjectItem(pr, "last_logits");
        assert_int_equal(cJSON_GetArraySize(last), g->nv);
        const float *ours = lg + (size_t)(ni - 1) * g->nv;
        for (int k = 0; k < g->nv; k++) {
            double d = fabs(cJSON_GetArrayItem(last, k)->valuedouble - ours[k]);
            if (d > *max_last) *max_last = d;
        }
        free(lg);
        free(seq);
        free(ids);
        free(gr);
    }
    return steps ? (double)agree / steps : 1.0;
}

static double nll_of(eng *g, const cJSON *refs) {
    int n;
    int32_t *ids = json_ids(cJSON_GetObjectItem(cJSON_GetObjectItem(refs, "nll"), "ids"), &n);
    lm_backend_cpu()->kv_seq(g->e, LM_KV_CLEAR, -1, 0, -1);
    float *lg = eng_logits(g, ids, n, 0, 0);
    double nll = mean_nll(lg, ids, n, g->nv);
    free(lg);
    free(ids);
    return nll;
}

/* F16/F32 weights: exact argmax, NLL and logits as transformers computes. */
static void check_f16(const char *path, const cJSON *refs, lm_kv_type kv) {
    eng g;
    eng_open(&g, path, kv, 1);
    double last, agree = teacher_forced(&g, refs, &last);
    double nll = nll_of(&g, refs);
    double ref =
        cJSON_GetObjectItem(cJSON_GetObjectItem(refs, "nll"), "hf_f32_mean_nll")->valuedouble;
    printf("  %s (kv %s): agreement %.4f, mean NLL %.6f (ref %.6f), max |last logits diff| %.2e\n",
           path, kv == LM_KV_F32 ? "f32" : "f16", agree, nll, ref, last);
    assert_true(agree == 1.0);
    assert_true(fabs(nll - ref) <= 2e-3);
    assert_true(last <= 1e-2);
    eng_close(&g);
}

/* ---- tests ---- */

static void f16_files_match_transformers(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    for (int i = 0; i < N_MODELS; i++) {
        cJSON *refs = load_refs(k_models[i]);
        assert_non_null(refs);
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s-f16.gguf", k_models[i]);
        if (exists(lm_test_path(rel))) check_f16(lm_test_path(rel), refs, LM_KV_F16);
        snprintf(rel, sizeof rel, "models/%s", k_models[i]);
        if (exists(lm_test_path(rel))) check_f16(lm_test_path(rel), refs, LM_KV_F16);
        cJSON_Delete(refs);
    }
}

static void f32_kv_gives_same_answers(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    cJSON *refs = load_refs("tiny-llama3");
    assert_non_null(refs);
    check_f16(lm_test_path("models/tiny-llama3-f16.gguf"), refs, LM_KV_F32);
    cJSON_Delete(refs);
}

static void quantized_files_match_llamacpp(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    int checked = 0;
    for (int i = 0; i < N_MODELS; i++) {
        cJSON *refs = load_refs(k_models[i]);
        assert_non_null(refs);
        const cJSON *nlls =
            cJSON_GetObjectItem(cJSON_GetObjectItem(refs, "nll"), "llamacpp_mean_nll");
        const cJSON *agr = cJSON_GetObjectItem(refs, "llamacpp_teacher_forced_greedy_agreement");
        const cJSON *it;
        cJSON_ArrayForEach(it, nlls) {
            if (!strcmp(it->string, "f16")) continue;
            char rel[128];
            snprintf(rel, sizeof rel, "models/%s-%s.gguf", k_models[i], it->string);
            if (!exists(lm_test_path(rel))) continue;
            eng g;
            eng_open(&g, lm_test_path(rel), LM_KV_F16, 1);
            double last, agree = teacher_forced(&g, refs, &last);
            double nll = nll_of(&g, refs);
            double ref_agree = cJSON_GetObjectItem(agr, it->string)->valuedouble;
            printf("  %s: mean NLL %.5f (llama.cpp %.5f), agreement %.4f (llama.cpp %.4f)\n", rel,
                   nll, it->valuedouble, agree, ref_agree);
            assert_true(fabs(nll - it->valuedouble) <= 0.02);
            assert_true(agree >= ref_agree - 0.03);
            eng_close(&g);
            checked++;
        }
        cJSON_Delete(refs);
    }
    assert_true(checked > 0);
}

static void gguf_and_hf_folder_agree(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    const char *names[2] = {"tiny-llama3", "tiny-qwen2"};
    for (int i = 0; i < 2; i++) {
        char rg[128], rh[128];
        snprintf(rg, sizeof rg, "models/%s-f16.gguf", names[i]);
        snprintf(rh, sizeof rh, "models/%s", names[i]);
        cJSON *refs = load_refs(names[i]);
        int n;
        int32_t *ids = json_ids(cJSON_GetObjectItem(cJSON_GetObjectItem(refs, "nll"), "ids"), &n);
        /* F32 KV: the two layouts sum q.k in different orders, and an F16
         * cache would turn those last-bit differences into half-ulp flips */
        eng a, b;
        eng_open(&a, lm_test_path(rg), LM_KV_F32, 1);
        eng_open(&b, lm_test_path(rh), LM_KV_F32, 1);
        assert_int_equal(a.nv, b.nv);
        float *la = eng_logits(&a, ids, n, 0, 0), *lb = eng_logits(&b, ids, n, 0, 0);
        double d = max_diff(la, lb, (size_t)n * a.nv);
        printf("  %s: GGUF vs HF folder max |logit diff| %.2e over %d positions\n", names[i], d, n);
        assert_true(d <= 1e-4);
        free(la);
        free(lb);
        free(ids);
        eng_close(&a);
        eng_close(&b);
        cJSON_Delete(refs);
    }
}

/* Two prompts interleaved in one batch (sequence ids 0 and 1) give each
 * one's logits alone; and decoding token by token after a prefill gives the
 * logits of one whole-sequence pass. */
static void batching_and_cache_reuse_agree(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    const char *files[2] = {"models/tiny-qwen2-f16.gguf", "models/tiny-llama3-q4_k_m.gguf"};
    for (int f = 0; f < 2; f++) {
        cJSON *refs = load_refs(f == 0 ? "tiny-qwen2" : "tiny-llama3");
        const cJSON *prompts = cJSON_GetObjectItem(refs, "prompts");
        int n0, n1;
        int32_t *s0 = json_ids(cJSON_GetObjectItem(cJSON_GetArrayItem(prompts, 0), "greedy"), &n0);
        int32_t *s1 = json_ids(cJSON_GetObjectItem(cJSON_GetArrayItem(prompts, 1), "greedy"), &n1);
        eng g;
        eng_open(&g, lm_test_path(files[f]), LM_KV_F16, 2);
        float *a0 = eng_logits(&g, s0, n0, 0, 0);
        float *a1 = eng_logits(&g, s1, n1, 1, 0);
        lm_backend_cpu()->kv_seq(g.e, LM_KV_CLEAR, -1, 0, -1);
        /* interleave: s0[0], s1[0], s0[1], ... */
        int n = n0 + n1, k = 0;
        int32_t *tok = malloc(sizeof(int32_t) * n), *pos = malloc(sizeof(int32_t) * n);
        int32_t *sq = malloc(sizeof(int32_t) * n);
        int8_t *fl = malloc((size_t)n);
        for (int i = 0; i < (n0 > n1 ? n0 : n1); i++) {
            if (i < n0) tok[k] = s0[i], pos[k] = i, sq[k] = 0, fl[k++] = 1;
            if (i < n1) tok[k] = s1[i], pos[k] = i, sq[k] = 1, fl[k++] = 1;
        }
        float *lg = malloc(sizeof(float) * (size_t)n * g.nv);
        lm_batch b = {.n_tokens = n, .tokens = tok, .pos = pos, .seq = sq, .logits = fl};
        lm_logits out = {.data = lg, .capacity = n};
        assert_int_equal(lm_backend_cpu()->forward(g.e, &b, &out, NULL), LM_OK);
        double d = 0;
        for (int r = 0; r < n; r++) {
            const float *want =
                sq[r] == 0 ? a0 + (size_t)pos[r] * g.nv : a1 + (size_t)pos[r] * g.nv;
            double x = max_diff(lg + (size_t)r * g.nv, want, (size_t)g.nv);
            if (x > d) d = x;
        }
        printf("  %s: two-sequence batch vs alone max |diff| %.2e\n", files[f], d);
        assert_true(d <= 1e-4);
        /* prefill 8 tokens of s0, then one token at a time */
        lm_backend_cpu()->kv_seq(g.e, LM_KV_CLEAR, 0, 0, -1);
        free(eng_logits(&g, s0, 8, 0, 0));
        double dd = 0;
        for (int i = 8; i < n0; i++) {
            float *one = eng_logits(&g, s0 + i, 1, 0, i);
            double x = max_diff(one, a0 + (size_t)i * g.nv, (size_t)g.nv);
            if (x > dd) dd = x;
            free(one);
        }
        printf("  %s: token-by-token decode vs one pass max |diff| %.2e\n", files[f], dd);
        assert_true(dd <= 1e-4);
        /* removing the tail and recomputing it gives the same logits again */
        assert_int_equal(lm_backend_cpu()->kv_seq(g.e, LM_KV_REMOVE, 0, 10, -1), LM_OK);
        float *again = eng_logits(&g, s0 + 10, n0 - 10, 0, 10);
        assert_true(max_diff(again, a0 + (size_t)10 * g.nv, (size_t)(n0 - 10) * g.nv) <= 1e-4);
        free(again);
        /* a gap in positions is refused */
        lm_batch gap = {.n_tokens = 1, .tokens = s0, .pos = (int32_t[]){n0 + 5}};
        lm_logits o1 = {.data = lg, .capacity = 1};
        lm_err err = {0};
        assert_int_equal(lm_backend_cpu()->forward(g.e, &gap, &o1, &err), LM_ERR_INVALID_ARG);
        free(tok);
        free(pos);
        free(sq);
        free(fl);
        free(lg);
        free(a0);
        free(a1);
        free(s0);
        free(s1);
        eng_close(&g);
        cJSON_Delete(refs);
    }
}

static void cli_score_matches_reference(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    cJSON *refs = load_refs("tiny-llama3");
    const cJSON *nll = cJSON_GetObjectItem(refs, "nll");
    const cJSON *ids = cJSON_GetObjectItem(nll, "ids");
    size_t cap = 16 + 8 * (size_t)cJSON_GetArraySize(ids) + 1200;
    char *args = malloc(cap);
    size_t o = (size_t)snprintf(args, cap, "score -m '%s' --json --ids ",
                                lm_test_path("models/tiny-llama3-f16.gguf"));
    for (int i = 0; i < cJSON_GetArraySize(ids); i++)
        o += (size_t)snprintf(args + o, cap - o, "%s%d", i ? "," : "",
                              (int)cJSON_GetArrayItem(ids, i)->valuedouble);
    char *out = NULL;
    assert_int_equal(lm_test_run_cli(args, &out), 0);
    cJSON *r = cJSON_Parse(out);
    assert_non_null(r);
    assert_int_equal((int)cJSON_GetObjectItem(r, "n_tokens")->valuedouble, cJSON_GetArraySize(ids));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "argmax")), cJSON_GetArraySize(ids));
    double got = cJSON_GetObjectItem(r, "mean_nll")->valuedouble;
    double want = cJSON_GetObjectItem(nll, "hf_f32_mean_nll")->valuedouble;
    printf("  localm score: mean NLL %.6f (ref %.6f)\n", got, want);
    assert_true(fabs(got - want) <= 2e-3);
    cJSON_Delete(r);
    free(out);
    free(args);
    cJSON_Delete(refs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f16_files_match_transformers),
        cmocka_unit_test(f32_kv_gives_same_answers),
        cmocka_unit_test(quantized_files_match_llamacpp),
        cmocka_unit_test(gguf_and_hf_folder_agree),
        cmocka_unit_test(batching_and_cache_reuse_agree),
        cmocka_unit_test(cli_score_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
