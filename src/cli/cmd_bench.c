/* cmd_bench.c — `localm bench`: prefill and decode speed of one engine on a
 * model file or a random model of a named shape, each figure next to the
 * hardware limit it chases (read bandwidth for decode, estimated peak
 * arithmetic for prefill) as a fraction. */
#include "backend/cpu/bandwidth.h"
#include "backend/cpu/engine_cpu.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/sysinfo.h"
#include "backend/registry.h"
#include "base/err.h"
#include "cli/commands.h"
#include "runtime/random_model.h"
#ifdef LOCALM_HAVE_CUDA
#include "backend/cuda/cuda_limits.h"
#endif
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_args {
    const char *model, *shape, *type, *save, *backend;
    int n_prompt, n_gen, reps, threads;
    uint32_t n_ctx;
    bool json;
} bench_args;

static void usage(FILE *f) {
    fprintf(f,
            "usage: localm bench (-m MODEL | --random SHAPE --type TYPE [--save F.gguf])\n"
            "                    [-p 128] [-n 64] [-r 3] [--threads N] [--ctx N]\n"
            "                    [--backend cpu] [--no-mmap] [--json]\n"
            "  SHAPE: %s\n  TYPE: Q4_0, Q4_K_M, Q8_0, F16, ...\n",
            lm_random_shape_names());
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Bytes a decode step reads: every layer matrix and the output matrix in
 * full, one embedding row, and the KV cache up to the average position. */
static double decode_bytes(const lm_model_desc *m, double avg_pos, size_t kv_elt) {
    double b = (double)m->output->nbytes + (double)m->tok_embd->nbytes / (double)m->tok_embd->ne[1];
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const lm_layer *L = &m->layers[l];
        const lm_tensor *ts[7] = {L->wq, L->wk, L->wv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down};
        for (int i = 0; i < 7; i++)
            b += (double)ts[i]->nbytes;
    }
    b += 2.0 * m->hp.n_layer * avg_pos * m->hp.n_head_kv * m->hp.head_dim * (double)kv_elt;
    return b;
}

/* Operations a prompt of n tokens needs: 2 per layer weight per token, the
 * causal attention scores and mixing, and the output matrix once: the
 * prompt asks for the logits of its last token only (counting the output
 * matrix for every token would credit work that is never done: 7 % of an
 * 8B model's count). */
static double prefill_flops(const lm_model_desc *m, int n) {
    double head = (double)m->output->ne[0] * (double)m->output->ne[1], params = 0;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const lm_layer *L = &m->layers[l];
        const lm_tensor *ts[7] = {L->wq, L->wk, L->wv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down};
        for (int i = 0; i < 7; i++)
            params += (double)ts[i]->ne[0] * (double)ts[i]->ne[1];
    }
    double attn =
        2.0 * 2.0 * m->hp.n_layer * (double)m->hp.n_head * m->hp.head_dim * n * (n + 1) / 2.0;
    return 2.0 * params * n + 2.0 * head + attn;
}

static bool quantized(const lm_model_desc *m) {
    uint32_t t = m->layers[0].wq->type;
    return t != LM_TYPE_F32 && t != LM_TYPE_F16 && t != LM_TYPE_BF16;
}

/* Estimated peak operations per second of `threads` cores: cpu MHz times
 * operations per cycle of the ISA's widest units (two FMA pipes; int8 dot
 * products count 4 multiply-adds per 32-bit lane with VNNI). */
static double cpu_peak_ops(int threads, bool int8) {
    double mhz = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "cpu MHz", 7) && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1)
                break;
        fclose(f);
    }
    if (mhz <= 0) mhz = 2000;
    lm_cpu_isa isa = lm_cpu_current_isa();
    double lanes = isa == LM_ISA_AVX512 ? 16 : isa == LM_ISA_AVX2 ? 8 : 1;
    double per_cycle = 2 /* pipes */ * lanes * 2 /* mul + add */;
    if (int8 && strstr(lm_cpu_features_string(), "vnni")) per_cycle *= 4;
    return per_cycle * mhz * 1e6 * threads;
}

static int parse_args(int argc, char **argv, bench_args *a) {
    *a = (bench_args){.n_prompt = 128, .n_gen = 64, .reps = 3, .backend = "cpu"};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(s, "--json")) {
            a->json = true;
            continue;
        } else if (!strcmp(s, "--no-mmap")) {
            setenv("LOCALM_MMAP", "0", 1); /* read by the model loader */
            continue;
        }
        if (!has) {
            fprintf(stderr, "localm bench: %s needs a value\n", s);
            return 2;
        }
        i++;
        if (!strcmp(s, "-m") || !strcmp(s, "--model"))
            a->model = v;
        else if (!strcmp(s, "--random"))
            a->shape = v;
        else if (!strcmp(s, "--type"))
            a->type = v;
        else if (!strcmp(s, "--save"))
            a->save = v;
        else if (!strcmp(s, "--backend"))
            a->backend = v;
        else if (!strcmp(s, "-p"))
            a->n_prompt = atoi(v);
        else if (!strcmp(s, "-n"))
            a->n_gen = atoi(v);
        else if (!strcmp(s, "-r"))
            a->reps = atoi(v);
        else if (!strcmp(s, "--threads") || !strcmp(s, "-t"))
            a->threads = atoi(v);
        else if (!strcmp(s, "--ctx"))
            a->n_ctx = (uint32_t)atoi(v);
        else {
            fprintf(stderr, "localm bench: unknown option %s\n", s);
            usage(stderr);
            return 2;
        }
    }
    if ((!a->model) == (!a->shape) || (a->shape && !a->type) || a->n_prompt < 1 || a->n_gen < 1 ||
        a->reps < 1) {
        usage(stderr);
        return 2;
    }
    return -1;
}

typedef struct results {
    double *pp, *tg; /* tokens/s per repetition */
} results;

static lm_status run_reps(const lm_backend_ops *be, lm_engine *e, const bench_args *a,
                          int32_t n_vocab, results *r, lm_err *err) {
    int n = a->n_prompt + a->n_gen;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n), *pos = malloc(sizeof(int32_t) * (size_t)n);
    float *logits = malloc(sizeof(float) * (size_t)n_vocab);
    lm_status st = LM_OK;
    if (!tok || !pos || !logits) {
        st = lm_fail(err, LM_ERR_NO_MEMORY, "bench buffers");
        goto done;
    }
    uint64_t s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((s >> 33) % (uint64_t)n_vocab);
        pos[i] = i;
    }
    lm_logits out = {.data = logits, .capacity = 1};
    /* one warm-up step pages the weights in */
    lm_batch w = {.n_tokens = 1, .tokens = tok, .pos = pos};
    if ((st = be->forward(e, &w, &out, err)) != LM_OK) goto done;
    for (int rep = 0; rep < a->reps; rep++) {
        be->kv_seq(e, LM_KV_CLEAR, -1, 0, -1);
        lm_batch b = {.n_tokens = a->n_prompt, .tokens = tok, .pos = pos};
        double t0 = now_s();
        if ((st = be->forward(e, &b, &out, err)) != LM_OK) goto done;
        double t1 = now_s();
        for (int i = 0; i < a->n_gen; i++) {
            lm_batch d = {
                .n_tokens = 1, .tokens = tok + a->n_prompt + i, .pos = pos + a->n_prompt + i};
            if ((st = be->forward(e, &d, &out, err)) != LM_OK) goto done;
        }
        double t2 = now_s();
        /* a bench of a model whose numbers blew up would measure nothing */
        const float *rows = lm_logits_rows(&out);
        for (int32_t k = 0; k < n_vocab; k++)
            if (!isfinite(rows[k])) {
                st = lm_fail(err, LM_ERR_BACKEND, "non-finite logit %d after decoding", k);
                goto done;
            }
        r->pp[rep] = a->n_prompt / (t1 - t0);
        r->tg[rep] = a->n_gen / (t2 - t1);
    }
done:
    free(tok);
    free(pos);
    free(logits);
    return st;
}

int lm_cmd_bench(int argc, char **argv) {
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    const lm_backend_ops *be = lm_registry_find(a.backend);
    /* a strong reference, so static links keep the CPU engine the registry
     * only references weakly */
    if (!be && !strcmp(a.backend, "cpu")) be = lm_backend_cpu();
    if (!be) {
        fprintf(stderr, "localm bench: backend '%s' is not built in\n", a.backend);
        return 1;
    }
    lm_err err = {0};
    lm_model_desc *m = NULL;
    lm_engine *e = NULL;
    lm_threadpool *bw_pool = NULL;
    double bw = 0;
    results r = {calloc((size_t)a.reps, sizeof(double)), calloc((size_t)a.reps, sizeof(double))};
    rc = 1;
    int threads = a.threads > 0 ? a.threads : lm_cpu_physical_cores();
    double t_build = now_s();
    if (a.shape) {
        if (lm_random_model_create(a.shape, a.type, 42, threads, &m, &err) != LM_OK) goto fail;
        if (a.save && lm_random_model_save(m, a.save, &err) != LM_OK) goto fail;
    } else {
        if (lm_model_open(a.model, &m, &err) != LM_OK) goto fail;
    }
    t_build = now_s() - t_build;

    /* Read bandwidth with the same thread count, measured before loading and
     * again after the runs; the higher one is the limit (a shared machine's
     * neighbours only ever lower a measurement). */
    if (!strcmp(be->name, "cpu")) {
        bw_pool = lm_threadpool_create(threads);
        bw = lm_cpu_measure_read_bandwidth_gbs(bw_pool);
    }
    double nominal_bw = 0, gpu_peak = 0; /* cuda: datasheet HBM GB/s, FP16 tensor FLOP/s */
#ifdef LOCALM_HAVE_CUDA
    lm_cuda_limits lim;
    if (!strcmp(be->name, "cuda") && lm_cuda_measure_limits(0, &lim)) {
        bw = lim.copy_gbs;
        nominal_bw = lim.nominal_gbs;
        gpu_peak = lim.fp16_tflops * 1e12;
    }
#endif
    lm_sys_reset_peak_rss(); /* the probe's buffer is not the model's memory */

    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_threads = threads;
    o.n_ctx = a.n_ctx ? a.n_ctx : (uint32_t)(a.n_prompt + a.n_gen + 1);
    lm_support sup;
    if (be->check(m, &o, &sup) != LM_OK || !sup.ok) {
        lm_fail(&err, LM_ERR_DECLINED, "%s declined: %s", be->name, sup.reason);
        goto fail;
    }
    if (be->load(m, &o, NULL, NULL, &e, &err) != LM_OK) goto fail;
    if (run_reps(be, e, &a, (int32_t)m->output->ne[1], &r, &err) != LM_OK) goto fail;
    uint64_t rss = lm_sys_peak_rss(), rss_anon, rss_file;
    lm_sys_rss_split(&rss_anon, &rss_file);
    if (bw_pool) {
        double bw2 = lm_cpu_measure_read_bandwidth_gbs(bw_pool);
        if (bw2 > bw) bw = bw2;
    }

    double pp = median(r.pp, a.reps), tg = median(r.tg, a.reps);
    double pp_lo = r.pp[0], pp_hi = r.pp[a.reps - 1], tg_lo = r.tg[0], tg_hi = r.tg[a.reps - 1];
    double bytes_tok = decode_bytes(m, a.n_prompt + a.n_gen / 2.0, o.kv_type == LM_KV_F32 ? 4 : 2);
    double roof = bw > 0 ? (bytes_tok / (bw * 1e9)) * tg : 0;
    double flops = prefill_flops(m, a.n_prompt) / a.n_prompt * pp;
    double peak = !strcmp(be->name, "cpu") ? cpu_peak_ops(threads, quantized(m)) : gpu_peak;
    uint64_t vram = 0;
#ifdef LOCALM_HAVE_CUDA
    if (!strcmp(be->name, "cuda")) vram = lm_cuda_vram_used(0);
#endif
    double roof_nominal = nominal_bw > 0 ? (bytes_tok / (nominal_bw * 1e9)) * tg : 0;
    const char *type = a.type ? a.type : lm_type_name(m->layers[0].ffn_gate->type);
    if (a.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "backend", be->name);
        cJSON_AddStringToObject(j, "isa", lm_cpu_isa_name(lm_cpu_current_isa()));
        cJSON_AddNumberToObject(j, "threads", threads);
        cJSON_AddStringToObject(j, "model", a.shape ? a.shape : a.model);
        cJSON_AddStringToObject(j, "type", type);
        cJSON_AddNumberToObject(j, "model_bytes", (double)m->weight_bytes);
        cJSON_AddNumberToObject(j, "n_prompt", a.n_prompt);
        cJSON_AddNumberToObject(j, "n_gen", a.n_gen);
        cJSON_AddNumberToObject(j, "reps", a.reps);
        cJSON_AddNumberToObject(j, "prefill_tps", pp);
        cJSON_AddNumberToObject(j, "prefill_tps_min", pp_lo);
        cJSON_AddNumberToObject(j, "prefill_tps_max", pp_hi);
        cJSON_AddNumberToObject(j, "decode_tps", tg);
        cJSON_AddNumberToObject(j, "decode_tps_min", tg_lo);
        cJSON_AddNumberToObject(j, "decode_tps_max", tg_hi);
        cJSON_AddNumberToObject(j, "bandwidth_gbs", bw);
        cJSON_AddNumberToObject(j, "decode_bytes_per_token", bytes_tok);
        cJSON_AddNumberToObject(j, "decode_roofline_fraction", roof);
        cJSON_AddNumberToObject(j, "prefill_gflops", flops / 1e9);
        cJSON_AddNumberToObject(j, "peak_gops_estimate", peak / 1e9);
        cJSON_AddNumberToObject(j, "prefill_peak_fraction", peak > 0 ? flops / peak : 0);
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)rss);
        cJSON_AddNumberToObject(j, "rss_anon_bytes", (double)rss_anon);
        cJSON_AddNumberToObject(j, "rss_file_bytes", (double)rss_file);
        cJSON_AddNumberToObject(j, "n_ctx", o.n_ctx);
        cJSON_AddNumberToObject(j, "nominal_bandwidth_gbs", nominal_bw);
        cJSON_AddNumberToObject(j, "decode_nominal_roofline_fraction", roof_nominal);
        cJSON_AddNumberToObject(j, "vram_in_use_bytes", (double)vram);
        cJSON_AddNumberToObject(j, "build_or_open_s", t_build);
        char *txt = cJSON_PrintUnformatted(j);
        printf("%s\n", txt);
        free(txt);
        cJSON_Delete(j);
    } else {
        printf("model    %s (%s, %.2f GiB), backend %s, %d threads, %s\n",
               a.shape ? a.shape : a.model, type, m->weight_bytes / 1073741824.0, be->name, threads,
               lm_cpu_isa_name(lm_cpu_current_isa()));
        printf("prefill  %d tokens: %.2f t/s (min %.2f, max %.2f over %d runs) = %.1f GFLOP/s, "
               "%.2f of the estimated peak %.0f GOP/s\n",
               a.n_prompt, pp, pp_lo, pp_hi, a.reps, flops / 1e9, peak > 0 ? flops / peak : 0,
               peak / 1e9);
        printf("decode   %d tokens: %.2f t/s (min %.2f, max %.2f) reading %.1f MB/token = "
               "%.2f of the measured read bandwidth %.1f GB/s\n",
               a.n_gen, tg, tg_lo, tg_hi, bytes_tok / 1e6, roof, bw);
        printf("memory   peak RSS %.1f MiB (now: %.1f MiB anonymous, %.1f MiB mapped files), "
               "context %u\n",
               rss / 1048576.0, rss_anon / 1048576.0, rss_file / 1048576.0, o.n_ctx);
        if (nominal_bw > 0 || vram)
            printf("gpu      decode = %.2f of the nominal %.0f GB/s; VRAM in use after the run "
                   "%.2f GiB\n",
                   roof_nominal, nominal_bw, vram / 1073741824.0);
    }
    rc = 0;
fail:
    if (rc) fprintf(stderr, "localm bench: %s\n", lm_err_text(&err));
    if (e) be->unload(e);
    lm_threadpool_free(bw_pool);
    if (m) {
        if (a.shape)
            lm_random_model_free(m);
        else
            lm_model_free(m);
    }
    free(r.pp);
    free(r.tg);
    return rc;
}
