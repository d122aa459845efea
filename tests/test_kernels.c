// labels: unit asan
/* test_kernels.c — every weight type's matmul, on every ISA this CPU has,
 * against the float reference; quantise/dequantise round trips within each
 * type's error bound; row ranges; the thread pool runs each part once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/threadpool.h"
#include "format/ggml_types.h"

static const uint32_t k_types[] = {LM_TYPE_F32,  LM_TYPE_F16,  LM_TYPE_BF16, LM_TYPE_Q4_0,
                                   LM_TYPE_Q4_1, LM_TYPE_Q5_0, LM_TYPE_Q5_1, LM_TYPE_Q8_0,
                                   LM_TYPE_Q4_K, LM_TYPE_Q5_K, LM_TYPE_Q6_K};
enum { N_TYPES = sizeof k_types / sizeof k_types[0] };

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* Values with an uneven spread (and an occasional outlier), like real
 * weights and hidden states, so blocks get different scales. */
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) {
        float v = frand() * scale * (1.0f + (float)(i % 7) * 0.3f);
        if (i % 97 == 5) v *= 6.0f;
        x[i] = v;
    }
}

static size_t row_bytes(uint32_t t, int64_t n) {
    uint64_t b = 0;
    assert_true(lm_type_row_bytes(t, (uint64_t)n, &b));
    return (size_t)b;
}

static int64_t act_block(uint32_t t) {
    switch (t) {
    case LM_TYPE_Q4_K: case LM_TYPE_Q5_K: case LM_TYPE_Q6_K: return 256;
    case LM_TYPE_F32: case LM_TYPE_F16: case LM_TYPE_BF16: return 0;
    default: return 32;
    }
}

/* The kernels quantise activations to int8 with d = amax/127 per block of
 * 32 (256 for K-quants) and then compute exactly in integers, so each
 * activation is off by at most amax_block/254 and a row's result by at most
 * sum_i |w_i| * amax_block(i)/254, w being the dequantised weights the float
 * reference uses. Float rounding of scales and sums adds at most ~n*eps
 * relative to sum_i |w_i x_i|; 1e-4 of that is allowed (n=512). Float-
 * activation types (F32/F16/BF16) get only the rounding term. */
static void check_matmul(uint32_t type, int64_t n_in, int rows, int n_tok, int r0, int r1) {
    size_t rb = row_bytes(type, n_in);
    float *wf = malloc(sizeof(float) * (size_t)rows * (size_t)n_in);
    float *wd = malloc(sizeof(float) * (size_t)rows * (size_t)n_in);
    uint8_t *w = malloc(rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)n_tok * (size_t)n_in);
    size_t ab = lm_cpu_act_row_bytes(type, n_in);
    uint8_t *act = malloc(ab * (size_t)n_tok);
    float *y = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok);
    float *yr = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok);
    fill(wf, (int64_t)rows * n_in, 0.05f);
    fill(x, (int64_t)n_tok * n_in, 1.0f);
    for (int r = 0; r < rows; r++) {
        assert_true(lm_cpu_quantize_row(type, wf + (size_t)r * n_in, w + rb * r, n_in));
        lm_cpu_dequant_row(type, w + rb * r, wd + (size_t)r * n_in, n_in);
    }
    for (int t = 0; t < n_tok; t++)
        lm_cpu_act_convert(type, x + (size_t)t * n_in, act + ab * t, n_in);
    for (int i = 0; i < rows * n_tok; i++) y[i] = yr[i] = -12345.0f;
    lm_cpu_matmul(type, w, n_in, r0, r1, act, ab, n_tok, y, (size_t)rows);
    lm_cpu_matmul_ref(type, w, n_in, r0, r1, x, (size_t)n_in, n_tok, yr, (size_t)rows);
    int64_t blk = act_block(type);
    for (int t = 0; t < n_tok; t++) {
        const float *xt = x + (size_t)t * n_in;
        for (int r = 0; r < rows; r++) {
            float got = y[t * rows + r];
            if (r < r0 || r >= r1) { /* rows outside the range stay untouched */
                assert_true(got == -12345.0f && yr[t * rows + r] == -12345.0f);
                continue;
            }
            const float *wr = wd + (size_t)r * n_in;
            double qerr = 0.0, mag = 0.0;
            for (int64_t i = 0; i < n_in; i++) mag += fabs((double)wr[i] * xt[i]);
            if (blk)
                for (int64_t b = 0; b < n_in; b += blk) {
                    double amax = 0.0, wsum = 0.0;
                    for (int64_t i = b; i < b + blk; i++) {
                        amax = fmax(amax, fabs(xt[i]));
                        wsum += fabs(wr[i]);
                    }
                    qerr += wsum * amax / 254.0;
                }
            double bound = qerr * 1.0001 + 1e-4 * mag + 1e-30;
            double err = fabs((double)got - (double)yr[t * rows + r]);
            if (!(err <= bound))
                fail_msg("%s isa %s n_tok %d row %d tok %d: got %g want %g (err %g > bound %g)",
                         lm_type_name(type), lm_cpu_isa_name(lm_cpu_current_isa()), n_tok, r, t,
                         got, yr[t * rows + r], err, bound);
        }
    }
    free(wf), free(wd), free(w), free(x), free(act), free(y), free(yr);
}

static void matmul_matches_reference(void **state) {
    (void)state;
    lm_cpu_isa best = lm_cpu_best_isa();
    for (int isa = LM_ISA_SCALAR; isa <= (int)best; isa++) {
        assert_int_equal(lm_cpu_set_isa((lm_cpu_isa)isa), isa);
        for (int k = 0; k < N_TYPES; k++) {
            const int toks[] = {1, 2, 4, 5, 9};
            for (int i = 0; i < 5; i++) check_matmul(k_types[k], 512, 11, toks[i], 0, 11);
            check_matmul(k_types[k], 768, 13, 6, 3, 10); /* a sub-range of rows */
            check_matmul(k_types[k], 256, 7, 1, 5, 6);   /* a single row */
            /* one token at model widths (the decode kernels), an odd number
             * of 128-groups, and rows too long for their stack layout */
            check_matmul(k_types[k], 2048, 9, 1, 2, 9);
            if (act_block(k_types[k]) != 256) check_matmul(k_types[k], 384, 5, 1, 0, 5);
            check_matmul(k_types[k], 16640, 3, 1, 0, 3);
        }
    }
    lm_cpu_set_isa(best);
}

/* Bound on |x - dequant(quant(x))| for one block, from how each type's
 * round-to-nearest quantiser works (amax: block max |x|; range: max - min;
 * h: f16 rounding of the stored scales, 2^-11 relative, allowed as 4e-3 of
 * amax). Symmetric 4/5-bit types map the largest-magnitude value to the
 * most negative code, so its mirror image may clamp by a whole step d. */
static double roundtrip_bound(uint32_t type, const float *x, int64_t n) {
    double amax = 0.0, mn = x[0], mx = x[0];
    for (int64_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs(x[i]));
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    double h = 4e-3 * amax, range = mx - mn;
    switch (type) {
    case LM_TYPE_F32: return 0.0;
    case LM_TYPE_F16: return amax * (1.0 / 2048.0) + 1e-7;
    case LM_TYPE_BF16: return amax * (1.0 / 256.0);
    case LM_TYPE_Q8_0: return amax / 254.0 + h;
    case LM_TYPE_Q4_0: return amax / 8.0 + h;
    case LM_TYPE_Q5_0: return amax / 16.0 + h;
    case LM_TYPE_Q4_1: return range / 30.0 + h;
    case LM_TYPE_Q5_1: return range / 62.0 + h;
    case LM_TYPE_Q4_K:
    case LM_TYPE_Q5_K: {
        /* Sub-block scales and mins are 6-bit multiples of d = max_scale/63
         * and dmin <= amax/63, rounded up: a step grows by at most
         * max_step/63, and a min rounded up can push the top code past the
         * end by at most dmin. So err <= step/2 + max_step/63 + amax/63. */
        double levels = type == LM_TYPE_Q4_K ? 15.0 : 31.0;
        double max_step = (mx - fmin(mn, 0.0)) / levels;
        return max_step * (0.5 + 1.0 / 63.0) + amax / 63.0 + h;
    }
    case LM_TYPE_Q6_K: {
        /* Each 16-group's scale amax_g/32 is an int8 multiple of
         * d = max_scale/127: off by <= d/2, which over 32 codes moves the ends
         * by <= 16*d = amax/254; plus half a step amax_g/64. */
        return amax / 64.0 + amax / 254.0 + h;
    }
    }
    return 0.0;
}

static void quantize_roundtrip_within_bound(void **state) {
    (void)state;
    enum { N = 4096 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    uint8_t *q = malloc(N * 4);
    for (int k = 0; k < N_TYPES; k++) {
        uint32_t t = k_types[k];
        const lm_type_info *ti = lm_type_get(t);
        fill(x, N, 0.3f);
        for (int i = 0; i < 64; i++) x[i] = 0.0f; /* an all-zero block must survive */
        x[300] = 0.0f;
        assert_true(lm_cpu_quantize_row(t, x, q, N));
        lm_cpu_dequant_row(t, q, y, N);
        double worst = 0.0;
        for (int64_t b = 0; b < N; b += ti->block_elems) {
            double bound = roundtrip_bound(t, x + b, ti->block_elems) + 1e-9;
            for (int64_t i = b; i < b + ti->block_elems; i++) {
                double err = fabs((double)x[i] - (double)y[i]);
                if (!(err <= bound))
                    fail_msg("%s: element %lld: %g -> %g (err %g > bound %g)", lm_type_name(t),
                             (long long)i, x[i], y[i], err, bound);
                if (err / (bound + 1e-12) > worst) worst = err / (bound + 1e-12);
            }
        }
        for (int i = 0; i < 64; i++) assert_true(y[i] == 0.0f);
        if (t != LM_TYPE_F32) assert_true(worst > 0.05); /* the bound is not vacuous */
    }
    assert_false(lm_cpu_quantize_row(LM_TYPE_Q2_K, x, q, 256));
    assert_false(lm_cpu_quantize_row(LM_TYPE_Q4_0, x, q, 33));
    free(x), free(y), free(q);
}

/* The SIMD activation conversions do the same float operations as the
 * scalar one (amax, 127/amax, round-to-nearest-even), so bytes must match. */
static void act_convert_same_on_every_isa(void **state) {
    (void)state;
    enum { N = 1024 };
    float *x = malloc(sizeof(float) * N);
    fill(x, N, 2.0f);
    for (int i = 256; i < 512; i++) x[i] = 0.0f; /* a zero block: d = 0 */
    const uint32_t wt[] = {LM_TYPE_Q4_0, LM_TYPE_Q4_K, LM_TYPE_F16};
    lm_cpu_isa best = lm_cpu_best_isa();
    for (int k = 0; k < 3; k++) {
        size_t ab = lm_cpu_act_row_bytes(wt[k], N);
        uint8_t *ref = malloc(ab), *got = malloc(ab);
        lm_cpu_set_isa(LM_ISA_SCALAR);
        lm_cpu_act_convert(wt[k], x, ref, N);
        for (int isa = LM_ISA_AVX2; isa <= (int)best; isa++) {
            lm_cpu_set_isa((lm_cpu_isa)isa);
            memset(got, 0xa5, ab);
            lm_cpu_act_convert(wt[k], x, got, N);
            assert_memory_equal(ref, got, ab);
        }
        free(ref), free(got);
    }
    lm_cpu_set_isa(best);
    free(x);
}

static void isa_selection(void **state) {
    (void)state;
    lm_cpu_isa best = lm_cpu_best_isa();
    assert_int_equal(lm_cpu_set_isa(LM_ISA_SCALAR), LM_ISA_SCALAR);
    assert_int_equal(lm_cpu_current_isa(), LM_ISA_SCALAR);
    assert_int_equal(lm_cpu_set_isa(LM_ISA_AVX512), best); /* never above what exists */
    assert_non_null(lm_cpu_features_string());
    assert_string_equal(lm_cpu_isa_name(LM_ISA_AVX2), "avx2");
    for (int k = 0; k < N_TYPES; k++) assert_true(lm_cpu_type_supported(k_types[k]));
    assert_false(lm_cpu_type_supported(LM_TYPE_Q2_K));
}

typedef struct {
    _Atomic int count[8];
    _Atomic int bad_nth;
    int expect_nth;
} pool_ctx;

static void pool_task(void *vctx, int ith, int nth) {
    pool_ctx *c = vctx;
    if (nth != c->expect_nth || ith < 0 || ith >= nth) atomic_fetch_add(&c->bad_nth, 1);
    else atomic_fetch_add(&c->count[ith], 1);
}

static void threadpool_runs_each_part_once(void **state) {
    (void)state;
    for (int n = 1; n <= 4; n++) {
        lm_threadpool *p = lm_threadpool_create(n);
        assert_non_null(p);
        assert_int_equal(lm_threadpool_size(p), n);
        pool_ctx c = {.expect_nth = n};
        /* more threads than this test machine may have cores: fewer rounds */
        int rounds = n <= 2 ? 3000 : 300;
        for (int it = 1; it <= rounds; it++) {
            lm_threadpool_run(p, pool_task, &c);
            for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&c.count[i]), it);
        }
        assert_int_equal(atomic_load(&c.bad_nth), 0);
        lm_threadpool_free(p);
    }
    lm_threadpool_free(NULL);
    assert_true(lm_cpu_physical_cores() >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(isa_selection),
        cmocka_unit_test(quantize_roundtrip_within_bound),
        cmocka_unit_test(act_convert_same_on_every_isa),
        cmocka_unit_test(matmul_matches_reference),
        cmocka_unit_test(threadpool_runs_each_part_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
