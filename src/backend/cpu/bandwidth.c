/* bandwidth.c — multi-threaded streaming read of a 256 MiB buffer, timed in
 * 16 MiB segments: each segment is cold (the previous 240 MiB evicted it from
 * every cache) and the best segment is taken, so a descheduled thread on a
 * busy machine costs one sample, not the figure. */
#include "backend/cpu/bandwidth.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/quant.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BUF_BYTES = 256 << 20, SEG_BYTES = 16 << 20, PASSES = 3 };

typedef struct {
    const uint64_t *buf;
    size_t words;
    uint64_t sink[64]; /* one slot per thread, 8 apart: keeps the reads alive */
} bw_ctx;

static void read_slice(void *vctx, int ith, int nth) {
    bw_ctx *c = vctx;
    size_t per = (c->words / (size_t)nth) & ~(size_t)7;
    const uint64_t *p = c->buf + per * (size_t)ith;
    size_t n = ith == nth - 1 ? c->words - per * (size_t)ith : per;
    /* the widest loads the CPU has: 8-byte loads alone cap one core below
     * what its memory channel delivers */
    uint64_t t = 0;
#if defined(__x86_64__)
    if (lm_cpu_best_isa() == LM_ISA_AVX512) t = lm_cpu_avx512_stream_sum(p, n);
    else if (lm_cpu_best_isa() == LM_ISA_AVX2) t = lm_cpu_avx2_stream_sum(p, n);
    else
#endif
    {
        uint64_t s[8] = {0}; /* independent sums: loads, not adds, set the pace */
        for (size_t i = 0; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++) s[k] += p[i + k];
        for (int k = 0; k < 8; k++) t += s[k];
    }
    if (ith < 8) c->sink[ith * 8] += t;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double lm_cpu_measure_read_bandwidth_gbs(lm_threadpool *pool) {
    uint64_t *buf = aligned_alloc(64, BUF_BYTES);
    if (!buf) return 0.0;
    memset(buf, 1, BUF_BYTES); /* real pages, not the shared zero page */
    bw_ctx c = {.words = SEG_BYTES / sizeof(uint64_t)};
    double best = 0.0;
    for (int pass = 0; pass < PASSES; pass++)
        for (size_t seg = 0; seg < BUF_BYTES / SEG_BYTES; seg++) {
            c.buf = buf + seg * c.words;
            double t0 = now_s();
            if (pool)
                lm_threadpool_run(pool, read_slice, &c);
            else
                read_slice(&c, 0, 1);
            double gbs = (double)SEG_BYTES / (now_s() - t0) / 1e9;
            if (gbs > best) best = gbs;
        }
    free(buf);
    return best;
}
