/* bench_kernels.c — CPU matmul kernels against the machine's limits: decode
 * (one token) as a fraction of measured read bandwidth, prefill (128 tokens)
 * as a fraction of peak FP32 FMA throughput.
 * Usage: bench_kernels [--isa scalar|avx2|avx512] [type ...]  (default: all) */
#include "backend/cpu/bandwidth.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/threadpool.h"
#include "format/ggml_types.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROWS = 5632, N_IN = 2048, PREFILL_TOK = 128, STREAM_BYTES = 384 << 20 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Core clock from a chain of dependent adds: one add per cycle. */
static double measure_ghz(void) {
    double best = 0.0;
    for (int rep = 0; rep < 2000; rep++) {
        uint64_t x = (uint64_t)rep, n = 1000000;
        double t0 = now_s();
        for (uint64_t i = 0; i < n; i++) __asm__ volatile("add $1, %0" : "+r"(x));
        double ghz = (double)n / (now_s() - t0) / 1e9;
        if (ghz > best) best = ghz;
    }
    return best;
}

typedef struct {
    uint32_t type;
    const uint8_t *w;
    size_t row_bytes;
    const void *act;
    size_t act_stride;
    int n_tok;
    float *y;
    int64_t rows;
} mm_job;

static void mm_task(void *vctx, int ith, int nth) {
    mm_job *j = vctx;
    int64_t per = ((j->rows + nth - 1) / nth + 15) & ~15;
    int64_t r0 = per * ith, r1 = r0 + per > j->rows ? j->rows : r0 + per;
    if (r0 < r1)
        lm_cpu_matmul(j->type, j->w, N_IN, r0, r1, j->act, j->act_stride, j->n_tok, j->y, ROWS);
}

static void bench_type(uint32_t type, lm_threadpool **pools, double bw[3], double peak1) {
    uint64_t rb64 = 0;
    lm_type_row_bytes(type, N_IN, &rb64);
    size_t rb = (size_t)rb64, mat = rb * ROWS;
    /* Enough copies of the matrix to be >> LLC, walked in turn, as a model's
     * layers are: each decode matmul reads its weights from memory. */
    int copies = (int)((STREAM_BYTES + mat - 1) / mat);
    uint8_t *w = malloc(mat * (size_t)copies);
    float *row = malloc(sizeof(float) * N_IN);
    float *x = malloc(sizeof(float) * N_IN * PREFILL_TOK);
    size_t ab = lm_cpu_act_row_bytes(type, N_IN);
    uint8_t *act = malloc(ab * PREFILL_TOK);
    float *y = malloc(sizeof(float) * ROWS * PREFILL_TOK);
    if (!w || !row || !x || !act || !y) {
        printf("%-5s  out of memory\n", lm_type_name(type));
        goto done;
    }
    for (int i = 0; i < N_IN * PREFILL_TOK; i++) x[i] = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < N_IN; i++) row[i] = (float)(((r * 31 + i * 17) % 255) - 127) * 1e-3f;
        lm_cpu_quantize_row(type, row, w + rb * r, N_IN);
    }
    for (int c = 1; c < copies; c++) memcpy(w + mat * c, w, mat);
    for (int t = 0; t < PREFILL_TOK; t++) lm_cpu_act_convert(type, x + N_IN * t, act + ab * t, N_IN);

    printf("%-5s  %6.2f MB", lm_type_name(type), (double)mat / 1e6);
    /* The machine may be shared, so every figure is the best of many short
     * trials: decode, one matmul over one cold copy; prefill, one 256-row
     * slice of the matrix times all 128 tokens (a prefill is a run of those). */
    for (int th = 1; th <= 2; th++) {
        mm_job j = {type, w, rb, act, ab, 1, y, ROWS};
        double best = 0.0, t_end = now_s() + 1.5;
        for (int c = 0; now_s() < t_end || c < 2 * copies; c++) {
            j.w = w + mat * (size_t)(c % copies);
            double t0 = now_s();
            lm_threadpool_run(pools[th], mm_task, &j);
            double gbs = (double)mat / (now_s() - t0) / 1e9;
            if (gbs > best) best = gbs;
        }
        printf("  | decode %dT %5.1f GB/s = %.2f of %4.1f", th, best, best / bw[th], bw[th]);
    }
    {
        /* The kernel's own ceiling: 256 rows (fits L2) read again and again. */
        double best = 0.0, t_end = now_s() + 0.5;
        while (now_s() < t_end) {
            double t0 = now_s();
            for (int k = 0; k < 20; k++) lm_cpu_matmul(type, w, N_IN, 0, 256, act, ab, 1, y, ROWS);
            double gbs = (double)rb * 256 * 20 / (now_s() - t0) / 1e9;
            if (gbs > best) best = gbs;
        }
        printf("  | in-L2 1T %5.1f GB/s", best);
    }
    for (int th = 1; th <= 2; th++) {
        mm_job j = {type, w, rb, act, ab, PREFILL_TOK, y, 256};
        double best = 0.0, t_end = now_s() + 1.5;
        for (int s = 0; now_s() < t_end; s = (s + 1) % (ROWS / 256)) {
            j.w = w + rb * 256 * (size_t)s;
            double t0 = now_s();
            lm_threadpool_run(pools[th], mm_task, &j);
            double gf = 2.0 * 256 * N_IN * PREFILL_TOK / (now_s() - t0) / 1e9;
            if (gf > best) best = gf;
        }
        printf("  | prefill %dT %5.1f GFLOP/s = %.2f of %3.0f", th, best, best / (peak1 * th),
               peak1 * th);
    }
    printf("\n");
done:
    free(w), free(row), free(x), free(act), free(y);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--isa") == 0) {
        lm_cpu_isa want = strcmp(argv[2], "scalar") == 0 ? LM_ISA_SCALAR
                          : strcmp(argv[2], "avx2") == 0 ? LM_ISA_AVX2
                                                         : LM_ISA_AVX512;
        lm_cpu_set_isa(want);
        argc -= 2;
        argv += 2;
    }
    lm_threadpool *pools[3] = {NULL, lm_threadpool_create(1), lm_threadpool_create(2)};
    if (!pools[1] || !pools[2]) return 1;
    double bw[3] = {0, 0, 0};
    for (int rep = 0; rep < 4; rep++) /* best of several: the machine is shared */
        for (int th = 1; th <= 2; th++) {
            double b = lm_cpu_measure_read_bandwidth_gbs(pools[th]);
            if (b > bw[th]) bw[th] = b;
        }
    double ghz = measure_ghz();
    lm_cpu_isa isa = lm_cpu_current_isa();
    int lanes = isa == LM_ISA_AVX512 ? 16 : isa == LM_ISA_AVX2 ? 8 : 1;
    int fma_units = 2;
    double peak1 = ghz * lanes * fma_units * 2.0;
    printf("cpu features: %s; kernels: %s; physical cores: %d\n", lm_cpu_features_string(),
           lm_cpu_isa_name(isa), lm_cpu_physical_cores());
    printf("read bandwidth (best 16 MiB segment of a 256 MiB streaming read): 1 thread %.1f GB/s, 2 threads %.1f GB/s\n",
           bw[1], bw[2]);
    printf("peak FP32 FMA per core = %.2f GHz (dependent-add chain) x %d lanes x %d FMA pipes x 2 "
           "flop = %.0f GFLOP/s\n",
           ghz, lanes, fma_units, peak1);
    printf("matrix %d x %d; decode = 1 token over %d MiB of copies (>> LLC); prefill = %d tokens\n",
           ROWS, N_IN, STREAM_BYTES >> 20, PREFILL_TOK);
    const uint32_t all[] = {LM_TYPE_Q4_0, LM_TYPE_Q4_K, LM_TYPE_Q6_K, LM_TYPE_Q8_0,
                            LM_TYPE_Q4_1, LM_TYPE_Q5_0, LM_TYPE_Q5_1, LM_TYPE_Q5_K,
                            LM_TYPE_F16,  LM_TYPE_BF16, LM_TYPE_F32};
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            int t = lm_type_from_name(argv[i]);
            if (t < 0 || !lm_cpu_type_supported((uint32_t)t)) {
                fprintf(stderr, "unsupported type %s\n", argv[i]);
                continue;
            }
            bench_type((uint32_t)t, pools, bw, peak1);
        }
    } else {
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bench_type(all[i], pools, bw, peak1);
    }
    lm_threadpool_free(pools[1]);
    lm_threadpool_free(pools[2]);
    return 0;
}
