/* bench_cuda_kernels.c — times the CUDA engine's kernels one by one on real
 * model shapes: the prompt products that read K-quant blocks (k_qgemm.cu,
 * Hopper), against the dense FP16 tensor peak, then the decode kernels
 * (mat-vec per weight type, attention, norm) against the measured
 * device-to-device copy bandwidth. Decode weight copies rotate through more
 * memory than L2 holds, so DRAM is what is timed. `bench_cuda_kernels prompt`
 * runs the first part alone. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LOCALM_HAVE_CUDA
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_limits.h"
#include "format/ggml_types.h"
#include <cuda_runtime_api.h>

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t rc_ = (x);                                                                     \
        if (rc_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(rc_));                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t g_rng = 88172645463325252ull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

/* Random blocks with every half-float field replaced by a small finite value,
 * so no NaN or infinity runs through the timed arithmetic. */
static void fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
    for (size_t i = 0; i + 1 < n; i += 2)
        if ((p[i + 1] & 0x7c) == 0x7c) p[i + 1] &= 0x3f;
}

static double bench_matvec(uint32_t type, int rows, int n_in, int nt, double *gbs) {
    uint64_t rb = 0;
    lm_type_row_bytes(type, (uint64_t)n_in, &rb);
    size_t bytes = rb * (size_t)rows;
    int copies = (int)((512ull << 20) / bytes) + 2;
    uint8_t *host = malloc(bytes), *dw;
    fill(host, bytes);
    CK(cudaMalloc((void **)&dw, bytes * copies));
    for (int c = 0; c < copies; c++) {
        CK(cudaMemcpy(dw + bytes * c, host, bytes, cudaMemcpyHostToDevice));
        if (!lmc_device_layout(0, type, dw + bytes * c, bytes)) CK(cudaErrorLaunchFailure);
    }
    float *x, *y, *xs;
    int8_t *xq;
    CK(cudaMalloc((void **)&x, sizeof(float) * n_in * nt));
    CK(cudaMalloc((void **)&y, sizeof(float) * rows * nt));
    CK(cudaMalloc((void **)&xq, (size_t)n_in * nt));
    CK(cudaMalloc((void **)&xs, sizeof(float) * n_in * nt / 16));
    float *hx = malloc(sizeof(float) * n_in * nt);
    for (int i = 0; i < n_in * nt; i++)
        hx[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
    CK(cudaMemcpy(x, hx, sizeof(float) * n_in * nt, cudaMemcpyHostToDevice));
    lmc_convert_act(0, x, nt, n_in, NULL, xq, xs);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int reps = 200;
    for (int i = 0; i < 20; i++)
        lmc_matvec(0, type, dw + bytes * (i % copies), n_in, rows, x, xq, xs, nt, y, rows, false);
    CK(cudaEventRecord(e0, 0));
    for (int i = 0; i < reps; i++)
        lmc_matvec(0, type, dw + bytes * (i % copies), n_in, rows, x, xq, xs, nt, y, rows, false);
    CK(cudaEventRecord(e1, 0));
    CK(cudaEventSynchronize(e1));
    CK(cudaGetLastError());
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    double us = ms * 1e3 / reps;
    *gbs = (double)bytes / (us * 1e-6) / 1e9;
    cudaFree(dw), cudaFree(x), cudaFree(y), cudaFree(xq), cudaFree(xs);
    free(host), free(hx);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return us;
}

/* One token's decode attention at position p of an n_ctx cache: microseconds
 * a call; *gbs: the K/V bytes it reads (p + 1 positions) a second. Enough
 * caches to exceed L2 are cycled, so the rows come from DRAM as in a model. */
static double bench_attention(int nh, int nkv, int hd, int n_ctx, int p, double *gbs) {
    size_t kvn = (size_t)n_ctx * nkv * hd;
    size_t used = (size_t)(p + 1) * nkv * hd * 2 * 2;
    size_t kv_bytes = kvn * 2 * 2; /* K and V, half */
    int nc = (int)(((size_t)256 << 20) / kv_bytes) + 1;
    if (nc > 64) nc = 64;
    uint16_t *kc, *vc;
    float *q, *part, *out;
    int32_t *d_ps;
    int n_split = lmc_attention_dec_split(n_ctx, nkv);
    int32_t *cnt;
    CK(cudaMalloc((void **)&cnt, sizeof(int32_t) * nkv));
    CK(cudaMemset(cnt, 0, sizeof(int32_t) * nkv));
    CK(cudaMalloc((void **)&kc, kvn * 2 * nc));
    CK(cudaMalloc((void **)&vc, kvn * 2 * nc));
    CK(cudaMemset(kc, 0x2a, kvn * 2 * nc)); /* 0x2a2a: a small positive half */
    CK(cudaMemset(vc, 0x2b, kvn * 2 * nc));
    CK(cudaMalloc((void **)&q, sizeof(float) * nh * hd));
    CK(cudaMemset(q, 0x3c, sizeof(float) * nh * hd));
    CK(cudaMalloc((void **)&part, sizeof(float) * nh * n_split * (hd + 2)));
    CK(cudaMalloc((void **)&out, sizeof(float) * nh * hd));
    int32_t ps[2] = {p, 0};
    CK(cudaMalloc((void **)&d_ps, sizeof ps));
    CK(cudaMemcpy(d_ps, ps, sizeof ps, cudaMemcpyHostToDevice));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int reps = 200;
    const bool staged = lmc_attention_dec_staged(p + 1, n_split);
    for (int i = 0; i < 10 + reps; i++) {
        if (i == 10) CK(cudaEventRecord(e0, 0));
        size_t o = (size_t)(i % nc) * kvn;
        lmc_attention(0, q, 1, nh, nkv, hd, kc + o, vc + o, n_ctx, d_ps, d_ps + 1, n_split, part,
                      cnt, out, NULL, NULL, staged);
    }
    CK(cudaEventRecord(e1, 0));
    CK(cudaEventSynchronize(e1));
    CK(cudaGetLastError());
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    cudaFree(kc), cudaFree(vc), cudaFree(q), cudaFree(part), cudaFree(out), cudaFree(d_ps),
        cudaFree(cnt);
    double us = ms * 1e3 / reps;
    *gbs = (double)used / (us * 1e-6) / 1e9;
    return us;
}

static double bench_norm(int n) {
    float *x, *w, *xf, *xs;
    int8_t *xq;
    CK(cudaMalloc((void **)&x, sizeof(float) * n));
    CK(cudaMalloc((void **)&w, sizeof(float) * n));
    CK(cudaMalloc((void **)&xf, sizeof(float) * n));
    CK(cudaMalloc((void **)&xs, sizeof(float) * n / 16));
    CK(cudaMalloc((void **)&xq, (size_t)n));
    CK(cudaMemset(x, 0x3c, sizeof(float) * n));
    CK(cudaMemset(w, 0x3c, sizeof(float) * n));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int reps = 500;
    CK(cudaEventRecord(e0, 0));
    for (int i = 0; i < reps; i++)
        lmc_norm_act(0, x, 1, n, w, 1e-5f, xf, NULL, xq, xs);
    CK(cudaEventRecord(e1, 0));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    cudaFree(x), cudaFree(w), cudaFree(xf), cudaFree(xs), cudaFree(xq);
    return ms * 1e3 / reps;
}

/* A prompt's product of n_tok tokens straight from the K-quant blocks
 * (k_qgemm.cu): y += W x (lmc_qmm_add), or with glu the gate|up matrix of
 * 2 rows and SwiGLU (lmc_qglu_q4k); microseconds a call. */
static double bench_qgemm(uint32_t type, int rows, int n_in, int n_tok, bool glu) {
    uint64_t rb = 0;
    lm_type_row_bytes(type, (uint64_t)n_in, &rb);
    const int wrows = glu ? 2 * rows : rows;
    size_t bytes = rb * (size_t)wrows;
    uint8_t *host = malloc(bytes), *dw;
    fill(host, bytes);
    CK(cudaMalloc((void **)&dw, bytes));
    CK(cudaMemcpy(dw, host, bytes, cudaMemcpyHostToDevice));
    if (!lmc_device_layout(0, type, dw, bytes)) CK(cudaErrorLaunchFailure);
    uint16_t *xh;
    float *y, *work;
    CK(cudaMalloc((void **)&xh, 2 * (size_t)n_in * n_tok));
    CK(cudaMemset(xh, 0x2a, 2 * (size_t)n_in * n_tok));
    CK(cudaMalloc((void **)&y, sizeof(float) * rows * n_tok));
    CK(cudaMemset(y, 0, sizeof(float) * rows * n_tok));
    CK(cudaMalloc((void **)&work, lmc_qglu_work_bytes()));
    CK(cudaMemset(work, 0, lmc_qglu_work_bytes()));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int reps = 50;
    bool ok = true;
    for (int i = 0; i < 5 + reps; i++) {
        if (i == 5) CK(cudaEventRecord(e0, 0));
        ok &= glu ? lmc_qglu_q4k(0, dw, rows, n_in, xh, n_tok, (uint16_t *)y, work, 0)
                  : lmc_qmm_add(0, type, dw, rows, n_in, xh, n_tok, y, rows, work, 0);
    }
    CK(cudaEventRecord(e1, 0));
    CK(cudaEventSynchronize(e1));
    CK(cudaGetLastError());
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    cudaFree(dw), cudaFree(xh), cudaFree(y), cudaFree(work);
    free(host);
    return ok ? ms * 1e3 / reps : -1.0;
}

static void prompt_section(const lm_cuda_limits *lim) {
    if (!lmc_qglu_ready()) {
        printf("prompt products from K-quant blocks: skipped (no sm_90a code here)\n");
        return;
    }
    printf("prompt products from K-quant blocks (rows x n_in, 512 tokens): microseconds, "
           "TFLOP/s, fraction of the dense FP16 tensor peak\n");
    const struct {
        uint32_t type;
        int rows, n_in;
        bool glu;
    } c[] = {{LM_TYPE_Q4_K, 14336, 4096, true},  {LM_TYPE_Q4_K, 28672, 4096, false},
             {LM_TYPE_Q6_K, 4096, 14336, false}, {LM_TYPE_Q4_K, 4096, 14336, false},
             {LM_TYPE_Q4_K, 5120, 4096, false},  {LM_TYPE_Q4_K, 4096, 4096, false}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const double us = bench_qgemm(c[i].type, c[i].rows, c[i].n_in, 512, c[i].glu);
        const double tf = 2.0 * (c[i].glu ? 2 : 1) * c[i].rows * (double)c[i].n_in * 512 / us / 1e6;
        printf("  %-5s %5d x %5d%s  %8.2f us  %6.1f TFLOP/s  %.2f\n", lm_type_name(c[i].type),
               c[i].rows, c[i].n_in, c[i].glu ? " gate|up+SwiGLU" : " add           ", us, tf,
               lim->fp16_tflops > 0 ? tf / lim->fp16_tflops : 0.0);
    }
}

int main(int argc, char **argv) {
    lm_cuda_limits lim;
    if (!lm_cuda_measure_limits(0, &lim)) {
        printf("skipped: no CUDA device\n");
        return 0;
    }
    printf("%s: device-to-device copy %.0f GB/s (read+write), datasheet %.0f GB/s\n", lim.device,
           lim.copy_gbs, lim.nominal_gbs);
    prompt_section(&lim);
    if (argc > 1 && !strcmp(argv[1], "prompt")) return 0; /* that section alone */
    const uint32_t types[] = {LM_TYPE_Q4_0, LM_TYPE_Q4_K, LM_TYPE_Q5_K,
                              LM_TYPE_Q6_K, LM_TYPE_Q8_0, LM_TYPE_F16};
    const int shapes[][2] = {{2048, 2048},  {5632, 2048},  {2048, 5632},  {4096, 4096},
                             {14336, 4096}, {4096, 14336}, {128256, 4096}};
    printf("mat-vec (rows x n_in, 1 token): microseconds, GB/s, fraction of copy bandwidth\n");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            double gbs;
            double us = bench_matvec(types[t], shapes[s][0], shapes[s][1], 1, &gbs);
            printf("  %-5s %6d x %5d  %8.2f us  %7.0f GB/s  %.2f\n", lm_type_name(types[t]),
                   shapes[s][0], shapes[s][1], us, gbs, gbs / lim.copy_gbs);
        }
    for (int nt = 2; nt <= 8; nt *= 2) {
        double gbs;
        double us = bench_matvec(LM_TYPE_Q4_K, 14336, 4096, nt, &gbs);
        printf("  Q4_K 14336 x 4096, %d tokens: %.2f us, %.0f GB/s, %.2f\n", nt, us, gbs,
               gbs / lim.copy_gbs);
    }
    printf("attention (1 token): microseconds, K/V GB/s, fraction of copy bandwidth\n");
    const int ash[][3] = {{32, 4, 64}, {32, 8, 128}},
              actx[][2] = {{641, 600}, {4096, 4000}, {16384, 16000}};
    for (size_t a = 0; a < 2; a++)
        for (size_t c = 0; c < 3; c++) {
            double gbs;
            double us =
                bench_attention(ash[a][0], ash[a][1], ash[a][2], actx[c][0], actx[c][1], &gbs);
            printf("  %s shape, position %5d of %5d  %8.2f us  %7.0f GB/s  %.2f\n",
                   a ? "8B  " : "1.1B", actx[c][1], actx[c][0], us, gbs, gbs / lim.copy_gbs);
        }
    printf("rmsnorm + q8 (1 token): n=2048 %.2f us, n=4096 %.2f us\n", bench_norm(2048),
           bench_norm(4096));
    return 0;
}
#else
int main(void) {
    printf("skipped: CUDA engine not built\n");
    return 0;
}
#endif
