// labels: unit
/* test_cuda.c — the CUDA engine: probe/check without a device, every weight
 * type's dequantisation and mat-vec kernels against the CPU scalar references,
 * the reference models (prefill and batched decode paths) against refs/ with
 * the CPU engine's tolerances, the VRAM-budget fallback, and the fault hook.
 * Without a CUDA build or device the GPU tests print why and skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testdata.h"

#ifdef LOCALM_HAVE_CUDA
#include "backend/backend.h"
#include "backend/cpu/engine_cpu.h"
#include "backend/cpu/kernels.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/engine_cuda.h"
#include "backend/cuda/engine_cuda_impl.h"
#include "backend/cuda/persist.h"
#include "base/err.h"
#include "base/half.h"
#include "model/model_desc.h"
#include "runtime/random_model.h"
#include <cjson/cJSON.h>
#include <cuda_runtime_api.h>

static bool g_device;

#define NEED_DEVICE()                                                                              \
    do {                                                                                           \
        if (!g_device) {                                                                           \
            print_message("skipped: no CUDA device\n");                                            \
            skip();                                                                                \
        }                                                                                          \
    } while (0)
#define NEED_DATA()                                                                                \
    do {                                                                                           \
        if (!lm_test_data_dir()) {                                                                 \
            print_message("skipped: reference data not found\n");                                  \
            skip();                                                                                \
        }                                                                                          \
    } while (0)
#define CK(x) assert_int_equal((x), cudaSuccess)

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* Without a device, probe and check still answer, with the reason. */
static void probe_reports_devices_or_reason(void **state) {
    (void)state;
    lm_backend_info bi;
    assert_int_equal(lm_backend_cuda()->probe(&bi), LM_OK);
    if (!bi.usable) {
        assert_true(strlen(bi.reason) > 0);
        print_message("cuda probe: %s\n", bi.reason);
        return;
    }
    assert_true(bi.n_devices >= 1);
    for (int i = 0; i < bi.n_devices; i++) {
        assert_true(bi.devices[i].mem_total > 0);
        assert_true(bi.devices[i].mem_free <= bi.devices[i].mem_total);
        assert_non_null(strstr(bi.devices[i].caps, "sm_"));
        print_message("cuda device %d: %s, %s, %.1f / %.1f GiB free\n", i, bi.devices[i].name,
                      bi.devices[i].caps, bi.devices[i].mem_free / 1073741824.0,
                      bi.devices[i].mem_total / 1073741824.0);
    }
    /* the features the launchers use follow the code loaded, not the device
     * alone (k_arch.cu), and a device that loses some says so */
    int mj = 0, code;
    CK(cudaSetDevice(0));
    CK(cudaDeviceGetAttribute(&mj, cudaDevAttrComputeCapabilityMajor, 0));
    code = lmc_code_arch();
    print_message("cuda device 0 runs code compiled for compute_%d\n", code);
    assert_true(code >= 75);
    assert_true(lmc_mmq_supported(LM_TYPE_Q4_0) == (code >= 80 && mj >= 8));
    if (code < 80 && mj >= 8) assert_non_null(strstr(bi.devices[0].caps, "without tensor-core"));
}

/* ---- kernels against the CPU scalar references ----------------------------- */

/* Whether the loaded kernels have the compute 8.0 paths (int8 mma, cp.async,
 * the tensor-core prompt attention): a build whose code for this device is
 * compute_75 PTX has them compiled out, and the launchers decline them. */
static bool tensor_cores(void) {
    return lmc_mmq_supported(LM_TYPE_Q4_0);
}

static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* The q8 blocks of nt rows of n values on the device (dq, ds) copied back
 * into hq / hs and dequantised into xhat: the activations a kernel saw. */
static void q8_back(const int8_t *dq, const float *ds, int n, int nt, int8_t *hq, float *hs,
                    float *xhat) {
    CK(cudaMemcpy(hq, dq, (size_t)n * nt, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hs, ds, sizeof(float) * n * nt / 16, cudaMemcpyDeviceToHost));
    for (int i = 0; i < n * nt; i++)
        xhat[i] = hq[i] * hs[(i / 32) * 2];
}

/* The scalar reference of silu(W x) * (W2 x) for nt tokens of x into yref
 * (rows floats per token; y2 is scratch of the same size). */
static void glu_ref(uint32_t t, const uint8_t *w, const uint8_t *w2, int n_in, int rows,
                    const float *x, int nt, float *yref, float *y2) {
    lm_cpu_matmul_ref(t, w, n_in, 0, rows, x, n_in, nt, yref, rows);
    lm_cpu_matmul_ref(t, w2, n_in, 0, rows, x, n_in, nt, y2, rows);
    for (int i = 0; i < rows * nt; i++)
        yref[i] = yref[i] / (1.0f + expf(-yref[i])) * y2[i];
}

/* Every kernel of every weight type on rows of n_in inputs. The widths take
 * each mat-vec form: one warp per row (quantised types up to 4096 inputs,
 * float types to 1024), two warps (quantised 6144, float 2048), four
 * (quantised 16384, float 6144 and 16384), and both SwiGLU-to-q8 forms
 * (narrow up to 2048). Float sums over longer rows round more: the bounds
 * grow with sqrt(n_in). */
static void check_kernels(int n_in) {
    const uint32_t types[] = {LM_TYPE_F32,  LM_TYPE_F16,  LM_TYPE_BF16, LM_TYPE_Q4_0,
                              LM_TYPE_Q4_1, LM_TYPE_Q5_0, LM_TYPE_Q5_1, LM_TYPE_Q8_0,
                              LM_TYPE_Q4_K, LM_TYPE_Q5_K, LM_TYPE_Q6_K};
    const int rows = 37, max_tok = 64;
    const double grow = n_in > 768 ? sqrt((double)n_in / 768.0) : 1.0;
    float *src = malloc(sizeof(float) * n_in * rows), *dq = malloc(sizeof(float) * n_in * rows);
    float *ref = malloc(sizeof(float) * n_in * rows), *x = malloc(sizeof(float) * n_in * max_tok);
    float *xhat = malloc(sizeof(float) * n_in * max_tok),
          *y = malloc(sizeof(float) * rows * max_tok);
    float *yref = malloc(sizeof(float) * rows * max_tok),
          *y2 = malloc(sizeof(float) * rows * max_tok);
    int8_t *hq = malloc((size_t)n_in * max_tok);
    float *hs = malloc(sizeof(float) * n_in * max_tok / 16);
    for (int i = 0; i < n_in * max_tok; i++)
        x[i] = frand();
    void *dw, *dw2;
    float *dx, *dy, *ds, *ddq;
    int8_t *dq8;
    CK(cudaMalloc(&dw, (size_t)n_in * rows * 4));
    CK(cudaMalloc(&dw2, (size_t)n_in * rows * 4));
    CK(cudaMalloc((void **)&dx, sizeof(float) * n_in * max_tok));
    CK(cudaMalloc((void **)&dy, sizeof(float) * rows * max_tok));
    CK(cudaMalloc((void **)&ds, sizeof(float) * n_in * max_tok / 16));
    CK(cudaMalloc((void **)&ddq, sizeof(float) * n_in * rows));
    CK(cudaMalloc((void **)&dq8, (size_t)n_in * max_tok));
    int8_t *dgq;
    float *dgs;
    CK(cudaMalloc((void **)&dgq, 64));
    CK(cudaMalloc((void **)&dgs, sizeof(float) * 4));
    CK(cudaMemcpy(dx, x, sizeof(float) * n_in * max_tok, cudaMemcpyHostToDevice));
    if (n_in % 256 == 0) { /* RMSNorm into per-256 q8 blocks against the CPU's norm */
        const int nt = 3;
        float *g = malloc(sizeof(float) * n_in), *dg;
        for (int i = 0; i < n_in; i++) /* not frand(): the weights below keep their values */
            g[i] = 0.5f + 0.1f * (float)(i % 11);
        CK(cudaMalloc((void **)&dg, sizeof(float) * n_in));
        CK(cudaMemcpy(dg, g, sizeof(float) * n_in, cudaMemcpyHostToDevice));
        lmc_act_q8_256(0, dx, nt, n_in, dg, 1e-5f, dq8, ds);
        CK(cudaMemcpy(hq, dq8, (size_t)n_in * nt, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hs, ds, sizeof(float) * n_in * nt / 16, cudaMemcpyDeviceToHost));
        for (int k = 0; k < nt; k++) {
            const float *xk = x + (size_t)k * n_in;
            double ss = 0;
            for (int i = 0; i < n_in; i++)
                ss += (double)xk[i] * xk[i];
            for (int i = 0; i < n_in; i++)
                ref[i] = (float)(xk[i] / sqrt(ss / n_in + 1e-5) * g[i]);
            for (int i = 0; i < n_in; i++) {
                int b = (k * n_in + i) / 32, qs = 0;
                xhat[i] = hq[k * n_in + i] * hs[2 * b];
                if (i % 32 == 0) { /* (scale, scale * sum of codes) */
                    for (int j = 0; j < 32; j++)
                        qs += hq[k * n_in + i + j];
                    assert_true(fabsf(hs[2 * b + 1] - hs[2 * b] * (float)qs) <=
                                1e-5f * fabsf(hs[2 * b] * (float)qs) + 1e-12f);
                }
            }
            assert_true(rel_err(xhat, ref, (size_t)n_in) < 1e-2);
        }
        cudaFree(dg);
        free(g);
    }
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k];
        uint64_t rb = 0;
        assert_true(lm_type_row_bytes(t, n_in, &rb));
        uint8_t *w = malloc(rb * rows), *w2 = malloc(rb * rows);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n_in; i++)
                src[r * n_in + i] = frand() * (1.0f + (float)(r % 5));
            assert_true(lm_cpu_quantize_row(t, src + (size_t)r * n_in, w + r * rb, n_in));
            for (int i = 0; i < n_in; i++)
                src[r * n_in + i] = frand();
            assert_true(lm_cpu_quantize_row(t, src + (size_t)r * n_in, w2 + r * rb, n_in));
        }
        CK(cudaMemcpy(dw, w, rb * rows, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dw2, w2, rb * rows, cudaMemcpyHostToDevice));
        assert_true(lmc_device_layout(0, t, dw, rb * rows));
        assert_true(lmc_device_layout(0, t, dw2, rb * rows));

        /* dequantisation: the same numbers as the CPU's */
        CK(cudaMemset(ddq, 0xff, sizeof(float) * n_in * rows)); /* NaN poison */
        assert_true(lmc_dequant_f32(0, t, dw, rows, n_in, ddq));
        CK(cudaMemcpy(dq, ddq, sizeof(float) * n_in * rows, cudaMemcpyDeviceToHost));
        for (int r = 0; r < rows; r++)
            lm_cpu_dequant_row(t, w + r * rb, ref + (size_t)r * n_in, n_in);
        double e_dq = rel_err(dq, ref, (size_t)n_in * rows);

        /* mat-vec for 1 to 64 tokens (from 5 tokens on, quantised types take
         * lmc_mmq: a tile of 8 partly filled, one, two and four tiles of 8,
         * and 64 tokens as two groups of 32), against the scalar reference
         * fed the very activations the kernel saw (q8 blocks dequantised for
         * quantised types), and against the float activations with a looser
         * bound */
        double e_mv = 0, e_mvf = 0, e_glu = 0, e_gq = 0, e_x256 = 0;
        bool q8 = lmc_type_uses_q8(t);
        const int nts[7] = {1, 2, 3, 5, 8, 17, 64};
        for (int ni = 0; ni < 7; ni++) {
            int nt = nts[ni];
            lmc_convert_act(0, dx, nt, n_in, NULL, dq8, ds);
            q8_back(dq8, ds, n_in, nt, hq, hs, xhat);
            if (!q8) memcpy(xhat, x, sizeof(float) * n_in * nt);
            CK(cudaMemset(dy, 0xff, sizeof(float) * rows * max_tok));
            assert_true(lmc_matvec(0, t, dw, n_in, rows, dx, dq8, ds, nt, dy, rows, false));
            CK(cudaMemcpy(y, dy, sizeof(float) * rows * nt, cudaMemcpyDeviceToHost));
            lm_cpu_matmul_ref(t, w, n_in, 0, rows, xhat, n_in, nt, yref, rows);
            double e = rel_err(y, yref, (size_t)rows * nt);
            e_mv = e > e_mv ? e : e_mv;
            lm_cpu_matmul_ref(t, w, n_in, 0, rows, x, n_in, nt, yref, rows);
            e = rel_err(y, yref, (size_t)rows * nt);
            e_mvf = e > e_mvf ? e : e_mvf;
            /* accumulate: y += W x */
            assert_true(lmc_matvec(0, t, dw, n_in, rows, dx, dq8, ds, nt, dy, rows, true));
            CK(cudaMemcpy(y2, dy, sizeof(float) * rows * nt, cudaMemcpyDeviceToHost));
            for (int i = 0; i < rows * nt; i++)
                y[i] *= 2.0f;
            assert_true(rel_err(y2, y, (size_t)rows * nt) < 1e-6);
            /* SwiGLU pair: silu(Wg x) * (Wu x) */
            assert_true(lmc_matvec_glu(0, t, dw, dw2, n_in, rows, dx, dq8, ds, nt, dy, rows));
            CK(cudaMemcpy(y, dy, sizeof(float) * rows * nt, cudaMemcpyDeviceToHost));
            glu_ref(t, w, w2, n_in, rows, xhat, nt, yref, y2);
            e = rel_err(y, yref, (size_t)rows * nt);
            e_glu = e > e_glu ? e : e_glu;
            /* K-quants with activations quantised per 256 (short prompts of
             * K-quant models): lmc_mmq's integer path, plain and SwiGLU */
            bool kq = t == LM_TYPE_Q4_K || t == LM_TYPE_Q5_K || t == LM_TYPE_Q6_K;
            if (kq && nt >= 5 && !tensor_cores())
                assert_false(
                    lmc_mmq(0, t, dw, NULL, n_in, rows, dq8, ds, nt, dy, rows, false, true));
            else if (kq && nt >= 5) {
                lmc_act_q8_256(0, dx, nt, n_in, NULL, 0.0f, dq8, ds);
                q8_back(dq8, ds, n_in, nt, hq, hs, xhat);
                for (int i = 0; i < n_in * nt; i++) /* one scale per 256 */
                    assert_true(hs[(i / 32) * 2] == hs[(i / 256) * 16]);
                assert_true(
                    lmc_mmq(0, t, dw, NULL, n_in, rows, dq8, ds, nt, dy, rows, false, true));
                CK(cudaMemcpy(y, dy, sizeof(float) * rows * nt, cudaMemcpyDeviceToHost));
                lm_cpu_matmul_ref(t, w, n_in, 0, rows, xhat, n_in, nt, yref, rows);
                e = rel_err(y, yref, (size_t)rows * nt);
                e_x256 = e > e_x256 ? e : e_x256;
                assert_true(lmc_mmq(0, t, dw, dw2, n_in, rows, dq8, ds, nt, dy, rows, false, true));
                CK(cudaMemcpy(y, dy, sizeof(float) * rows * nt, cudaMemcpyDeviceToHost));
                glu_ref(t, w, w2, n_in, rows, xhat, nt, yref, y2);
                e = rel_err(y, yref, (size_t)rows * nt);
                e_x256 = e > e_x256 ? e : e_x256;
            }
            /* the same SwiGLU straight into q8 blocks (first 32 rows, 1 or 2
             * tokens): the dequantised blocks against the scalar reference */
            int nq = nt < 2 ? nt : 2;
            if (!q8) {
                assert_false(lmc_matvec_glu_q8(0, t, dw, dw2, n_in, 32, dq8, ds, nq, dgq, dgs));
                continue;
            }
            if (nt > 3) continue;
            assert_true(lmc_matvec_glu_q8(0, t, dw, dw2, n_in, 32, dq8, ds, nq, dgq, dgs));
            int8_t gq[64];
            float gs[4], deq[64], r32[64];
            CK(cudaMemcpy(gq, dgq, (size_t)32 * nq, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(gs, dgs, sizeof(float) * 2 * nq, cudaMemcpyDeviceToHost));
            for (int k = 0; k < nq; k++) {
                int qsum = 0;
                float mx = 0.0f;
                for (int i = 0; i < 32; i++) {
                    deq[32 * k + i] = gq[32 * k + i] * gs[2 * k];
                    r32[32 * k + i] = yref[(size_t)k * rows + i];
                    qsum += gq[32 * k + i];
                    mx = fmaxf(mx, fabsf(r32[32 * k + i]));
                }
                assert_true(fabsf(gs[2 * k + 1] - gs[2 * k] * (float)qsum) <=
                            1e-5f * fabsf(gs[2 * k] * (float)qsum) + 1e-12f);
                /* each code within half a step of the reference value (plus
                 * the float kernel's own rounding): the bound rounding to
                 * the block's scale allows, whatever the values' spread */
                for (int i = 0; i < 32; i++)
                    assert_true(fabsf(deq[32 * k + i] - r32[32 * k + i]) <=
                                0.5f * gs[2 * k] * 1.001f + 1e-4f * mx);
            }
            e = rel_err(deq, r32, (size_t)32 * nq);
            e_gq = e > e_gq ? e : e_gq;
        }
        CK(cudaDeviceSynchronize());
        print_message("kernel %-5s n_in %5d dequant rel err %.2e | matvec vs ref(q8 act) %.2e, "
                      "vs ref(f32 act) %.2e | swiglu %.2e, to q8 %.2e | per-256 act %.2e\n",
                      lm_type_name(t), n_in, e_dq, e_mv, e_mvf, e_glu, e_gq, e_x256);
        assert_true(e_gq < 2e-2); /* the per-code bound above is the contract */
        assert_true(e_x256 < 5e-5 * grow);
        assert_true(e_dq < 1e-6);
        assert_true(e_mv < 2e-5 * grow);
        assert_true(e_glu < 5e-5 * grow);
        assert_true(e_mvf < (q8 ? 2e-2 : 2e-5 * grow));
        free(w);
        free(w2);
    }
    cudaFree(dw), cudaFree(dw2), cudaFree(dx), cudaFree(dy), cudaFree(ds), cudaFree(ddq),
        cudaFree(dq8), cudaFree(dgq), cudaFree(dgs);
    free(src), free(dq), free(ref), free(x), free(xhat), free(y), free(yref), free(y2), free(hq),
        free(hs);
}

static void kernels_match_cpu_reference(void **state) {
    (void)state;
    NEED_DEVICE();
    check_kernels(768);
    check_kernels(2048);
    check_kernels(6144);
    check_kernels(16384);
}

/* ---- two mat-vecs of different types in one launch -------------------------- */

static void matvec_pair_matches_reference(void **state) {
    (void)state;
    NEED_DEVICE();
    const uint32_t pairs[][2] = {{LM_TYPE_Q4_K, LM_TYPE_Q6_K}, {LM_TYPE_Q5_K, LM_TYPE_Q6_K}};
    /* 1-2 tokens: the dp4a pair kernel; from 5 on lmc_mmq_pair (one grid for
     * both matrices; 40 = a group of 32 and one of 8), with per-32 and with
     * per-256 activations */
    const int n_in = 768, r1 = 70, r2 = 37, ys = r1 + r2, MT = 40;
    const int nts[] = {1, 2, 5, 8, 17, 40};
    float *src = malloc(sizeof(float) * n_in), *x = malloc(sizeof(float) * n_in * MT);
    float *xhat = malloc(sizeof(float) * n_in * MT), *hs = malloc(sizeof(float) * n_in * MT / 16);
    float *y = malloc(sizeof(float) * ys * MT), *ref = malloc(sizeof(float) * ys * MT);
    int8_t *hq = malloc((size_t)n_in * MT);
    uint8_t *w1 = malloc((size_t)n_in * r1), *w2 = malloc((size_t)n_in * r2);
    for (int i = 0; i < n_in * MT; i++)
        x[i] = frand();
    float *dx, *dy, *ds;
    int8_t *dq;
    void *dw1, *dw2;
    CK(cudaMalloc((void **)&dx, sizeof(float) * n_in * MT));
    CK(cudaMalloc((void **)&dy, sizeof(float) * ys * MT));
    CK(cudaMalloc((void **)&ds, sizeof(float) * n_in * MT / 16));
    CK(cudaMalloc((void **)&dq, (size_t)n_in * MT));
    CK(cudaMalloc(&dw1, (size_t)n_in * r1));
    CK(cudaMalloc(&dw2, (size_t)n_in * r2));
    CK(cudaMemcpy(dx, x, sizeof(float) * n_in * MT, cudaMemcpyHostToDevice));
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        uint64_t rb1 = 0, rb2 = 0;
        assert_true(lm_type_row_bytes(pairs[k][0], n_in, &rb1));
        assert_true(lm_type_row_bytes(pairs[k][1], n_in, &rb2));
        for (int r = 0; r < r1 + r2; r++) {
            for (int i = 0; i < n_in; i++)
                src[i] = frand();
            if (r < r1)
                assert_true(lm_cpu_quantize_row(pairs[k][0], src, w1 + r * rb1, n_in));
            else
                assert_true(lm_cpu_quantize_row(pairs[k][1], src, w2 + (r - r1) * rb2, n_in));
        }
        CK(cudaMemcpy(dw1, w1, rb1 * r1, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dw2, w2, rb2 * r2, cudaMemcpyHostToDevice));
        assert_true(lmc_device_layout(0, pairs[k][0], dw1, rb1 * r1));
        assert_true(lmc_device_layout(0, pairs[k][1], dw2, rb2 * r2));
        for (int x256 = 0; x256 < 2; x256++)
            for (size_t ni = 0; ni < sizeof nts / sizeof nts[0]; ni++) {
                int nt = nts[ni];
                if (x256 && nt < 5) continue;
                if (x256)
                    lmc_act_q8_256(0, dx, nt, n_in, NULL, 0.0f, dq, ds);
                else
                    lmc_convert_act(0, dx, nt, n_in, NULL, dq, ds);
                q8_back(dq, ds, n_in, nt, hq, hs, xhat);
                CK(cudaMemset(dy, 0xff, sizeof(float) * ys * MT));
                bool ran = x256 ? lmc_mmq_pair(0, pairs[k][0], dw1, r1, dy, pairs[k][1], dw2, r2,
                                               dy + r1, n_in, dq, ds, nt, ys, true)
                                : lmc_matvec_pair(0, pairs[k][0], dw1, r1, dy, pairs[k][1], dw2, r2,
                                                  dy + r1, n_in, dq, ds, nt, ys);
                if (nt >= 5 && !tensor_cores()) { /* declined: the caller runs two */
                    assert_false(ran);
                    continue;
                }
                assert_true(ran);
                CK(cudaMemcpy(y, dy, sizeof(float) * ys * nt, cudaMemcpyDeviceToHost));
                lm_cpu_matmul_ref(pairs[k][0], w1, n_in, 0, r1, xhat, n_in, nt, ref, ys);
                lm_cpu_matmul_ref(pairs[k][1], w2, n_in, 0, r2, xhat, n_in, nt, ref + r1, ys);
                double e = rel_err(y, ref, (size_t)ys * nt);
                print_message("pair %s+%s, %d token(s)%s: rel err %.2e\n",
                              lm_type_name(pairs[k][0]), lm_type_name(pairs[k][1]), nt,
                              x256 ? ", per-256 activations" : "", e);
                assert_true(e < 2e-5);
            }
    }
    assert_false(lmc_matvec_pair(0, LM_TYPE_Q8_0, dw1, r1, dy, LM_TYPE_F16, dw2, r2, dy + r1, n_in,
                                 dq, ds, 1, ys));
    assert_false(lmc_mmq_pair(0, LM_TYPE_Q8_0, dw1, r1, dy, LM_TYPE_Q4_0, dw2, r2, dy + r1, n_in,
                              dq, ds, 8, ys, false));
    cudaFree(dx), cudaFree(dy), cudaFree(ds), cudaFree(dq), cudaFree(dw1), cudaFree(dw2);
    free(src), free(x), free(xhat), free(hs), free(y), free(ref), free(hq), free(w1), free(w2);
}

/* The K-quant prompt products (k_qgemm.cu) need sm_90a code and the
 * driver's tensor-map encoder: says so and skips where they are missing. */
static bool no_qgemm(const char *what) {
    if (lmc_qglu_ready()) return false;
    print_message("%s: no sm_90a code or no tensor-map encoder here, skipped\n", what);
    return true;
}

/* The prompt's SwiGLU straight from Q4_K gate|up blocks (k_qgemm.cu, Hopper)
 * against the scalar reference fed the same half activations: silu(gate x) *
 * (up x), for one token, part of a 256-token tile and two tiles (the second
 * partly filled). Its weights are made in half arithmetic and its output is
 * half, hence the bound. */
static void qglu_matches_reference(void **state) {
    (void)state;
    NEED_DEVICE();
    if (no_qgemm("qglu")) return;
    enum { NI = 512, F = 128, MT = 300 };
    /* grid 0: every tile split in two along K (fewer tiles than
     * multiprocessors); 1: one block through all the tiles; 3: whole tiles,
     * then one split (300 tokens) or two whole leftovers */
    const int nts[3] = {1, 77, MT}, grids[3] = {0, 1, 3};
    uint64_t rb = 0;
    assert_true(lm_type_row_bytes(LM_TYPE_Q4_K, NI, &rb));
    uint8_t *w = malloc(rb * 2 * F);
    float *x = malloc(sizeof(float) * NI * MT), *xr = malloc(sizeof(float) * NI * MT);
    float *gu = malloc(sizeof(float) * 2 * F * MT), *ref = malloc(sizeof(float) * F * MT);
    float *got = malloc(sizeof(float) * F * MT);
    uint16_t *hx = malloc(2 * (size_t)NI * MT), *hy = malloc(2 * (size_t)F * MT);
    for (int r = 0; r < 2 * F; r++) {
        for (int i = 0; i < NI; i++)
            x[i] = frand() * (1.0f + (float)(r % 5));
        assert_true(lm_cpu_quantize_row(LM_TYPE_Q4_K, x, w + r * rb, NI));
    }
    for (int i = 0; i < NI * MT; i++)
        x[i] = frand();
    void *dw;
    float *dx;
    uint16_t *dxh, *dy;
    CK(cudaMalloc(&dw, rb * 2 * F));
    CK(cudaMalloc((void **)&dx, sizeof(float) * NI * MT));
    CK(cudaMalloc((void **)&dxh, 2 * (size_t)NI * MT));
    CK(cudaMalloc((void **)&dy, 2 * (size_t)F * MT));
    float *work;
    CK(cudaMalloc((void **)&work, lmc_qglu_work_bytes()));
    CK(cudaMemset(work, 0, lmc_qglu_work_bytes()));
    CK(cudaMemcpy(dw, w, rb * 2 * F, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dx, x, sizeof(float) * NI * MT, cudaMemcpyHostToDevice));
    assert_true(lmc_device_layout(0, LM_TYPE_Q4_K, dw, rb * 2 * F));
    lmc_convert_act(0, dx, MT, NI, dxh, NULL, NULL);
    CK(cudaMemcpy(hx, dxh, 2 * (size_t)NI * MT, cudaMemcpyDeviceToHost));
    for (int i = 0; i < NI * MT; i++)
        xr[i] = lm_half_to_float(hx[i]);
    for (int k = 0; k < 9; k++) {
        const int nt = nts[k % 3], grid = grids[k / 3];
        CK(cudaMemset(dy, 0xff, 2 * (size_t)F * MT));
        assert_true(lmc_qglu_q4k(0, dw, F, NI, dxh, nt, dy, work, grid));
        CK(cudaMemcpy(hy, dy, 2 * (size_t)F * MT, cudaMemcpyDeviceToHost));
        lm_cpu_matmul_ref(LM_TYPE_Q4_K, w, NI, 0, 2 * F, xr, NI, nt, gu, 2 * F);
        for (int t = 0; t < nt; t++)
            for (int i = 0; i < F; i++) {
                const float g = gu[t * 2 * F + i], u = gu[t * 2 * F + F + i];
                ref[t * F + i] = g / (1.0f + expf(-g)) * u;
                got[t * F + i] = lm_half_to_float(hy[t * F + i]);
            }
        if (nt < MT) /* rows past nt are left alone (still the poison) */
            assert_int_equal(hy[(size_t)nt * F], 0xffff);
        const double e = rel_err(got, ref, (size_t)F * nt);
        print_message("qglu Q4_K, %d token(s), grid %d: rel err %.2e\n", nt, grid, e);
        assert_true(e < 3e-3);
    }
    /* rows not whole blocks of 64, inputs not whole super-blocks, no tokens */
    assert_false(lmc_qglu_q4k(0, dw, 100, NI, dxh, 1, dy, work, 0));
    assert_false(lmc_qglu_q4k(0, dw, F, 300, dxh, 1, dy, work, 0));
    assert_false(lmc_qglu_q4k(0, dw, F, NI, dxh, 0, dy, work, 0));
    cudaFree(dw), cudaFree(dx), cudaFree(dxh), cudaFree(dy), cudaFree(work);
    free(w), free(x), free(xr), free(gu), free(ref), free(got), free(hx), free(hy);
}

/* y += W x straight from Q4_K and Q6_K blocks (k_qgemm.cu, Hopper; the
 * prompt's down) against the scalar reference fed the same half activations,
 * on the forms of the schedule above; y holds a residual to add to, its
 * stride wider than the rows. */
static void qmm_add_matches_reference(void **state) {
    (void)state;
    NEED_DEVICE();
    if (no_qgemm("qmm")) return;
    enum { NI = 2048, R = 256, LD = R + 4, MT = 300 };
    const int nts[3] = {1, 77, MT}, grids[3] = {0, 1, 3};
    const uint32_t types[2] = {LM_TYPE_Q4_K, LM_TYPE_Q6_K};
    float *x = malloc(sizeof(float) * NI * MT), *xr = malloc(sizeof(float) * NI * MT);
    float *y0 = malloc(sizeof(float) * LD * MT), *got = malloc(sizeof(float) * LD * MT);
    float *ref = malloc(sizeof(float) * R * MT), *gv = malloc(sizeof(float) * R * MT);
    uint16_t *hx = malloc(2 * (size_t)NI * MT);
    for (int i = 0; i < NI * MT; i++)
        x[i] = frand();
    for (int i = 0; i < LD * MT; i++)
        y0[i] = frand();
    float *dx, *dy, *work;
    uint16_t *dxh;
    CK(cudaMalloc((void **)&dx, sizeof(float) * NI * MT));
    CK(cudaMalloc((void **)&dxh, 2 * (size_t)NI * MT));
    CK(cudaMalloc((void **)&dy, sizeof(float) * LD * MT));
    CK(cudaMalloc((void **)&work, lmc_qglu_work_bytes()));
    CK(cudaMemset(work, 0, lmc_qglu_work_bytes()));
    CK(cudaMemcpy(dx, x, sizeof(float) * NI * MT, cudaMemcpyHostToDevice));
    lmc_convert_act(0, dx, MT, NI, dxh, NULL, NULL);
    CK(cudaMemcpy(hx, dxh, 2 * (size_t)NI * MT, cudaMemcpyDeviceToHost));
    for (int i = 0; i < NI * MT; i++)
        xr[i] = lm_half_to_float(hx[i]);
    for (int ti = 0; ti < 2; ti++) {
        const uint32_t ty = types[ti];
        uint64_t rb = 0;
        assert_true(lm_type_row_bytes(ty, NI, &rb));
        uint8_t *w = malloc(rb * R);
        float *row = malloc(sizeof(float) * NI);
        for (int r = 0; r < R; r++) {
            for (int i = 0; i < NI; i++)
                row[i] = frand() * (1.0f + (float)(r % 5));
            assert_true(lm_cpu_quantize_row(ty, row, w + r * rb, NI));
        }
        void *dw;
        CK(cudaMalloc(&dw, rb * R));
        CK(cudaMemcpy(dw, w, rb * R, cudaMemcpyHostToDevice));
        assert_true(lmc_device_layout(0, ty, dw, rb * R));
        for (int k = 0; k < 9; k++) {
            const int nt = nts[k % 3], grid = grids[k / 3];
            CK(cudaMemcpy(dy, y0, sizeof(float) * LD * MT, cudaMemcpyHostToDevice));
            assert_true(lmc_qmm_add(0, ty, dw, R, NI, dxh, nt, dy, LD, work, grid));
            CK(cudaMemcpy(got, dy, sizeof(float) * LD * MT, cudaMemcpyDeviceToHost));
            lm_cpu_matmul_ref(ty, w, NI, 0, R, xr, NI, nt, ref, R);
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < R; i++)
                    gv[t * R + i] = got[t * LD + i] - y0[t * LD + i];
            /* the stride's padding and the tokens past nt are left alone */
            for (int t = 0; t < MT; t++)
                for (int i = t < nt ? R : 0; i < LD; i++)
                    assert_true(got[t * LD + i] == y0[t * LD + i]);
            const double e = rel_err(gv, ref, (size_t)R * nt);
            print_message("qmm %s, %d token(s), grid %d: rel err %.2e\n",
                          ty == LM_TYPE_Q6_K ? "Q6_K" : "Q4_K", nt, grid, e);
            assert_true(e < 3e-3);
        }
        cudaFree(dw);
        free(w), free(row);
    }
    /* rows not whole blocks of 128, Q6_K inputs not whole eights of
     * super-blocks, other types, a stride shorter than the rows */
    assert_false(lmc_qmm_shape_ok(LM_TYPE_Q4_K, 192, NI));
    assert_false(lmc_qmm_shape_ok(LM_TYPE_Q6_K, R, 1792));
    assert_true(lmc_qmm_shape_ok(LM_TYPE_Q4_K, R, 1792));
    assert_false(lmc_qmm_shape_ok(LM_TYPE_Q8_0, R, NI));
    assert_false(lmc_qmm_add(0, LM_TYPE_Q4_K, dxh, R, NI, dxh, 1, dy, R - 4, work, 0));
    cudaFree(dx), cudaFree(dxh), cudaFree(dy), cudaFree(work);
    free(x), free(xr), free(y0), free(got), free(ref), free(gv), free(hx);
}

/* ---- attention against a plain CPU softmax ---------------------------------- */

/* ref[t][h][:] = softmax(q K^T / sqrt(hd)) V of token t over its sequence's
 * positions [0, pos[t]] of the half caches [seq][n_ctx][nkv][hd]; sc: n_ctx floats. */
static void cpu_attention(const float *hq, const uint16_t *hk, const uint16_t *hv, int n_tok,
                          int nh, int nkv, int hd, int n_ctx, const int32_t *pos,
                          const int32_t *seq, float *sc, float *ref) {
    int G = nh / nkv;
    for (int t = 0; t < n_tok; t++)
        for (int h = 0; h < nh; h++) {
            int p = pos[t], s = seq[t], g = h / G;
            double mx = -INFINITY, z = 0;
            for (int j = 0; j <= p; j++) {
                double d = 0;
                for (int i = 0; i < hd; i++)
                    d += hq[((size_t)t * nh + h) * hd + i] *
                         lm_half_to_float(hk[(((size_t)s * n_ctx + j) * nkv + g) * hd + i]);
                sc[j] = (float)(d / sqrt((double)hd));
                mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int j = 0; j <= p; j++)
                z += exp(sc[j] - mx);
            for (int i = 0; i < hd; i++) {
                double o = 0;
                for (int j = 0; j <= p; j++)
                    o += exp(sc[j] - mx) / z *
                         lm_half_to_float(hv[(((size_t)s * n_ctx + j) * nkv + g) * hd + i]);
                ref[((size_t)t * nh + h) * hd + i] = (float)o;
            }
        }
}

/* Two tokens of two sequences (one deep in the context, one near its start)
 * through the one-kernel decode path, twice (its counters must reset), and
 * through the single-chunk path, against a CPU reference over the same half
 * K/V; the decode path's q8 output against its own float output. */
static void attention_matches_cpu_reference(void **state) {
    (void)state;
    NEED_DEVICE();
    const int shapes[][3] = {{32, 4, 64}, {32, 8, 128}, {8, 8, 64}, {16, 2, 256}, {32, 2, 128}};
    const int n_ctx = 700, n_seq = 2, n_tok = 2;
    const int32_t ps[6] = {650, 37, 0, 1, 0, 0}; /* pos[2], seq[2] */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int nh = shapes[si][0], nkv = shapes[si][1], hd = shapes[si][2];
        size_t kvn = (size_t)n_seq * n_ctx * nkv * hd, qn = (size_t)n_tok * nh * hd;
        uint16_t *hk = malloc(kvn * 2), *hv = malloc(kvn * 2);
        float *hq = malloc(sizeof(float) * qn), *ref = malloc(sizeof(float) * qn);
        float *got = malloc(sizeof(float) * qn), *sc = malloc(sizeof(float) * n_ctx);
        for (size_t i = 0; i < kvn; i++)
            hk[i] = lm_float_to_half(frand()), hv[i] = lm_float_to_half(frand());
        for (size_t i = 0; i < qn; i++)
            hq[i] = 2.0f * frand();
        cpu_attention(hq, hk, hv, n_tok, nh, nkv, hd, n_ctx, ps, ps + 2, sc, ref);
        uint16_t *dk, *dv;
        float *dqv, *dpart, *dout, *dxs;
        int32_t *dps, *dcnt;
        int8_t *dxq;
        int split = lmc_attention_dec_split(n_ctx, nkv);
        CK(cudaMalloc((void **)&dk, kvn * 2));
        CK(cudaMalloc((void **)&dv, kvn * 2));
        CK(cudaMalloc((void **)&dqv, sizeof(float) * qn));
        CK(cudaMalloc((void **)&dout, sizeof(float) * qn));
        CK(cudaMalloc((void **)&dxq, qn));
        CK(cudaMalloc((void **)&dxs, sizeof(float) * qn / 16));
        CK(cudaMalloc((void **)&dpart, sizeof(float) * n_tok * nh * (split + n_ctx) * (hd + 2)));
        CK(cudaMalloc((void **)&dps, sizeof ps));
        CK(cudaMalloc((void **)&dcnt, sizeof(int32_t) * n_tok * nkv));
        CK(cudaMemset(dcnt, 0, sizeof(int32_t) * n_tok * nkv));
        CK(cudaMemcpy(dk, hk, kvn * 2, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dv, hv, kvn * 2, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dqv, hq, sizeof(float) * qn, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dps, ps, sizeof ps, cudaMemcpyHostToDevice));
        /* the later runs (after the first left the counters at zero) in 3
         * chunks: whole tiles per block sized from each token's length (651
         * positions: 224, 224 and 203), staged in shared memory or read
         * straight */
        double e_dec[3], e_one;
        for (int rep = 0; rep < 3; rep++) {
            CK(cudaMemset(dout, 0xff, sizeof(float) * qn));
            assert_true(lmc_attention(0, dqv, n_tok, nh, nkv, hd, dk, dv, n_ctx, dps, dps + 2,
                                      rep ? 3 : split, dpart, dcnt, dout, dxq, dxs, rep == 1));
            CK(cudaMemcpy(got, dout, sizeof(float) * qn, cudaMemcpyDeviceToHost));
            e_dec[rep] = rel_err(got, ref, qn);
        }
        int8_t *gq = malloc(qn);
        float *gs = malloc(sizeof(float) * qn / 16), *deq = malloc(sizeof(float) * qn);
        CK(cudaMemcpy(gq, dxq, qn, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(gs, dxs, sizeof(float) * qn / 16, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < qn; i++)
            deq[i] = gq[i] * gs[(i / 32) * 2];
        double e_q8 = rel_err(deq, got, qn);
        CK(cudaMemset(dout, 0xff, sizeof(float) * qn));
        assert_true(lmc_attention(0, dqv, n_tok, nh, nkv, hd, dk, dv, n_ctx, dps, dps + 2, 1, dpart,
                                  NULL, dout, NULL, NULL, false));
        CK(cudaMemcpy(got, dout, sizeof(float) * qn, cudaMemcpyDeviceToHost));
        e_one = rel_err(got, ref, qn);
        int32_t cnt[64];
        CK(cudaMemcpy(cnt, dcnt, sizeof(int32_t) * n_tok * nkv, cudaMemcpyDeviceToHost));
        for (int i = 0; i < n_tok * nkv; i++)
            assert_int_equal(cnt[i], 0);
        /* one token with q/k/v prepared inside the attention kernel, against
         * lmc_qkv_rope + lmc_attention: output and the stored K/V rows */
        int nq = (nh + 2 * nkv) * hd, layout = (int)(si % 2);
        float *hr = malloc(sizeof(float) * (size_t)nq * 2 + sizeof(float) * 2 * hd);
        float *hinv = malloc(sizeof(float) * hd / 2);
        for (int i = 0; i < 2 * nq + 2 * hd; i++)
            hr[i] = frand();
        for (int i = 0; i < hd / 2; i++)
            hinv[i] = powf(10000.0f, -2.0f * (float)i / (float)hd);
        float *dqkv, *dinv, *dqo, *dout2;
        uint16_t *dk2, *dv2;
        CK(cudaMalloc((void **)&dqkv, sizeof(float) * ((size_t)nq * 2 + 2 * hd)));
        CK(cudaMalloc((void **)&dinv, sizeof(float) * hd / 2));
        CK(cudaMalloc((void **)&dqo, sizeof(float) * nh * hd));
        CK(cudaMalloc((void **)&dout2, sizeof(float) * nh * hd));
        CK(cudaMalloc((void **)&dk2, kvn * 2));
        CK(cudaMalloc((void **)&dv2, kvn * 2));
        CK(cudaMemcpy(dqkv, hr, sizeof(float) * ((size_t)nq * 2 + 2 * hd), cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dinv, hinv, sizeof(float) * hd / 2, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dk2, dk, kvn * 2, cudaMemcpyDeviceToDevice));
        CK(cudaMemcpy(dv2, dv, kvn * 2, cudaMemcpyDeviceToDevice));
        const float *bias = si % 3 ? dqkv + nq : NULL; /* biases on some shapes */
        const float *qnw = si % 2 ? dqkv + 2 * nq : NULL,
                    *knw = qnw ? qnw + hd : NULL; /* q/k norms */
        lmc_qkv_rope(0, dqkv, 1, nh, nkv, hd, bias, qnw, knw, 1e-6f, dinv, layout, dps, dps + 2,
                     dqo, dk, dv, n_ctx);
        /* one-tile chunks, then 3 staged chunks (the position's own row in
         * a staged tile) */
        float *o1 = malloc(sizeof(float) * nh * hd), *o2 = malloc(sizeof(float) * nh * hd);
        double e_fused = 0;
        for (int f = 0; f < 2; f++) {
            int sp = f ? 3 : split;
            assert_true(lmc_attention(0, dqo, 1, nh, nkv, hd, dk, dv, n_ctx, dps, dps + 2, sp,
                                      dpart, dcnt, dout, NULL, NULL, f == 1));
            assert_true(lmc_attention_rope1(0, dqkv, nh, nkv, hd, bias, qnw, knw, 1e-6f, dinv,
                                            layout, dk2, dv2, n_ctx, dps, dps + 2, sp, dpart, dcnt,
                                            dout2, dxq, dxs, f == 1));
            CK(cudaMemcpy(o1, dout, sizeof(float) * nh * hd, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(o2, dout2, sizeof(float) * nh * hd, cudaMemcpyDeviceToHost));
            double e = rel_err(o2, o1, (size_t)nh * hd);
            e_fused = e > e_fused ? e : e_fused;
        }
        size_t row = ((size_t)0 * n_ctx + (size_t)ps[0]) * nkv * hd; /* seq 0, its position */
        uint16_t *r1 = malloc((size_t)nkv * hd * 2 * 2), *r2 = r1 + (size_t)nkv * hd;
        double e_kv = 0;
        for (int w = 0; w < 2; w++) {
            CK(cudaMemcpy(r1, (w ? dv : dk) + row, (size_t)nkv * hd * 2, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(r2, (w ? dv2 : dk2) + row, (size_t)nkv * hd * 2, cudaMemcpyDeviceToHost));
            for (int i = 0; i < nkv * hd; i++) {
                double a = lm_half_to_float(r1[i]), b = lm_half_to_float(r2[i]);
                double e = fabs(a - b) / (fabs(a) + 1e-3);
                e_kv = e > e_kv ? e : e_kv;
            }
        }
        print_message("attention nh %d nkv %d hd %d: decode (%d chunks) rel err %.2e, in 3 "
                      "chunks staged %.2e / straight %.2e, q8 %.2e | one chunk %.2e | q/k/v "
                      "prepared inside %.2e, K/V rows %.2e\n",
                      nh, nkv, hd, split, e_dec[0], e_dec[1], e_dec[2], e_q8, e_one, e_fused, e_kv);
        assert_true(e_fused < 1e-5 && e_kv < 2e-3);
        cudaFree(dqkv), cudaFree(dinv), cudaFree(dqo), cudaFree(dout2), cudaFree(dk2),
            cudaFree(dv2);
        free(hr), free(hinv), free(o1), free(o2), free(r1);
        assert_true(e_dec[0] < 1e-4 && e_dec[1] < 1e-4 && e_dec[2] < 1e-4 && e_one < 1e-4);
        assert_true(e_q8 < 1e-2);
        cudaFree(dk), cudaFree(dv), cudaFree(dqv), cudaFree(dout), cudaFree(dxq), cudaFree(dxs),
            cudaFree(dpart), cudaFree(dps), cudaFree(dcnt);
        free(hk), free(hv), free(hq), free(ref), free(got), free(sc), free(gq), free(gs), free(deq);
    }
}

/* The tensor-core prompt attention: a prompt continuing at position 20 of
 * sequence 1 (150 tokens: three query tiles, the last partial) and one from
 * position 0 (77 tokens), against the CPU reference; cache positions past
 * the prompt hold random values that must stay masked. Half q and
 * probabilities: a looser bound than the float kernels'. */
static void prefill_attention_matches_cpu_reference(void **state) {
    (void)state;
    NEED_DEVICE();
    if (!tensor_cores()) { /* declined, so the engine takes the split-K kernel */
        float dummy = 0.0f;
        assert_false(
            lmc_attention_prefill(0, NULL, 4, 8, 8, 64, NULL, NULL, 16, NULL, 0, 0, &dummy, NULL));
        print_message("skipped: the loaded kernels have no tensor-core code (compute_%d)\n",
                      lmc_code_arch());
        return;
    }
    const int shapes[][3] = {{32, 4, 64}, {32, 8, 128}, {8, 8, 64}, {12, 4, 128}};
    const int n_ctx = 300, n_seq = 2;
    const int cases[][2] = {{150, 20}, {77, 0}}; /* tokens, first position */
    /* one and two blocks of 16 query rows per warp (the latter: q through
     * shared memory, tiles of 32 positions at head size 128), then the
     * warpgroup kernel (3) where the loaded code has it */
    for (int rb = 1; rb <= 3; rb++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int ci = 0; ci < 2; ci++) {
                if (rb == 3 && !lmc_wgmma_loaded()) {
                    if (si == 0 && ci == 0)
                        print_message("prefill attention, warpgroup kernel: skipped (no sm_90a "
                                      "code loaded)\n");
                    continue;
                }
                setenv("LOCALM_CUDA_PF_RB", rb == 1 ? "1" : rb == 2 ? "2" : "3", 1);
                int nh = shapes[si][0], nkv = shapes[si][1], hd = shapes[si][2];
                int n_tok = cases[ci][0], p0 = cases[ci][1];
                size_t kvn = (size_t)n_seq * n_ctx * nkv * hd, qn = (size_t)n_tok * nh * hd;
                uint16_t *hk = malloc(kvn * 2), *hv = malloc(kvn * 2);
                float *hq = malloc(sizeof(float) * qn), *ref = malloc(sizeof(float) * qn);
                float *got = malloc(sizeof(float) * qn), *sc = malloc(sizeof(float) * n_ctx);
                int32_t *ps = malloc(sizeof(int32_t) * 2 * n_tok);
                for (size_t i = 0; i < kvn; i++)
                    hk[i] = lm_float_to_half(frand()), hv[i] = lm_float_to_half(frand());
                for (size_t i = 0; i < qn; i++)
                    hq[i] = 3.0f * frand();
                for (int t = 0; t < n_tok; t++)
                    ps[t] = p0 + t, ps[n_tok + t] = 1;
                cpu_attention(hq, hk, hv, n_tok, nh, nkv, hd, n_ctx, ps, ps + n_tok, sc, ref);
                uint16_t *dk, *dv;
                float *dq, *dout;
                int32_t *dps;
                CK(cudaMalloc((void **)&dk, kvn * 2));
                CK(cudaMalloc((void **)&dv, kvn * 2));
                CK(cudaMalloc((void **)&dq, sizeof(float) * qn));
                CK(cudaMalloc((void **)&dout, sizeof(float) * qn));
                CK(cudaMalloc((void **)&dps, sizeof(int32_t) * 2 * n_tok));
                CK(cudaMemcpy(dk, hk, kvn * 2, cudaMemcpyHostToDevice));
                CK(cudaMemcpy(dv, hv, kvn * 2, cudaMemcpyHostToDevice));
                CK(cudaMemcpy(dq, hq, sizeof(float) * qn, cudaMemcpyHostToDevice));
                CK(cudaMemcpy(dps, ps, sizeof(int32_t) * 2 * n_tok, cudaMemcpyHostToDevice));
                CK(cudaMemset(dout, 0xff, sizeof(float) * qn));
                assert_true(lmc_attention_prefill(0, dq, n_tok, nh, nkv, hd, dk, dv, n_ctx, dps,
                                                  p0 + n_tok, 1, dout, NULL));
                CK(cudaDeviceSynchronize());
                CK(cudaMemcpy(got, dout, sizeof(float) * qn, cudaMemcpyDeviceToHost));
                double e = rel_err(got, ref, qn);
                /* the half output (the GEMM's input in the engine) */
                uint16_t *hh = malloc(qn * 2);
                CK(cudaMemset(dout, 0xff, sizeof(float) * qn));
                assert_true(lmc_attention_prefill(0, dq, n_tok, nh, nkv, hd, dk, dv, n_ctx, dps,
                                                  p0 + n_tok, 1, NULL, (uint16_t *)dout));
                CK(cudaMemcpy(hh, dout, qn * 2, cudaMemcpyDeviceToHost));
                for (size_t i = 0; i < qn; i++)
                    got[i] = lm_half_to_float(hh[i]);
                double eh = rel_err(got, ref, qn);
                free(hh);
                print_message("prefill attention, form %d (1, 2: row blocks a warp; 3: wgmma), nh "
                              "%d nkv %d hd %d, %d "
                              "tokens from %d: rel err %.2e, half output %.2e\n",
                              rb, nh, nkv, hd, n_tok, p0, e, eh);
                assert_true(e < 4e-3 && eh < 5e-3);
                cudaFree(dk), cudaFree(dv), cudaFree(dq), cudaFree(dout), cudaFree(dps);
                free(hk), free(hv), free(hq), free(ref), free(got), free(sc), free(ps);
            }
    unsetenv("LOCALM_CUDA_PF_RB");
    /* head sizes it does not take are declined, for the scalar kernel */
    float dummy = 0.0f;
    assert_false(
        lmc_attention_prefill(0, NULL, 4, 8, 8, 256, NULL, NULL, 16, NULL, 0, 0, &dummy, NULL));
}

/* ---- reference models -------------------------------------------------------- */

typedef struct model_case {
    const char *path; /* under the data folder */
    const char *refs; /* refs/NAME.json */
    const char *key;  /* llama.cpp's key for this file; NULL: HF folder (F16) */
    bool f16;
} model_case;

static const model_case k_models[] = {
    {"models/tiny-llama3-f16.gguf", "tiny-llama3", "f16", true},
    {"models/tiny-llama3", "tiny-llama3", NULL, true},
    {"models/tiny-qwen2-f16.gguf", "tiny-qwen2", "f16", true},
    {"models/tiny-qwen2", "tiny-qwen2", NULL, true},
    {"models/tiny-llama2-f16.gguf", "tiny-llama2", "f16", true},
    {"models/tiny-llama3-q8_0.gguf", "tiny-llama3", "q8_0", false},
    {"models/tiny-llama3-q4_0.gguf", "tiny-llama3", "q4_0", false},
    {"models/tiny-llama3-q4_k_m.gguf", "tiny-llama3", "q4_k_m", false},
    {"models/tiny-qwen2-q4_k_m.gguf", "tiny-qwen2", "q4_k_m", false},
    {"models/tiny-llama2-q8_0.gguf", "tiny-llama2", "q8_0", false},
};

static int n_progress;
static int count_progress(const lm_progress *ev, void *user) {
    (void)user;
    assert_int_equal(ev->phase, LM_PHASE_LOAD);
    assert_true(ev->done <= ev->total || ev->total == 0);
    n_progress++;
    return 0;
}

/* refs/NAME.json of the data folder, parsed. */
static cJSON *read_refs(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "refs/%s.json", name);
    size_t len;
    char *txt = lm_test_read(lm_test_path(rel), &len);
    assert_non_null(txt);
    cJSON *j = cJSON_ParseWithLength(txt, len);
    free(txt);
    assert_non_null(j);
    return j;
}

static int *json_ints(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    int *v = malloc(sizeof(int) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        v[i] = cJSON_GetArrayItem(a, i)->valueint;
    return v;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

typedef struct tally {
    int agree, total;
    double max_last_diff;
} tally;

/* Compares logits row `row` (predicting step k of prompt p) with refs. */
static void score_step(const cJSON *prompt, int k, const float *row, int n_vocab, tally *t) {
    const cJSON *greedy = cJSON_GetObjectItem(prompt, "greedy");
    const cJSON *margins = cJSON_GetObjectItem(prompt, "greedy_margins");
    if (k == 0) {
        const cJSON *ll = cJSON_GetObjectItem(prompt, "last_logits");
        int n = cJSON_GetArraySize(ll);
        assert_true(n <= n_vocab);
        for (int i = 0; i < n; i++) {
            double d = fabs(row[i] - cJSON_GetArrayItem(ll, i)->valuedouble);
            if (d > t->max_last_diff) t->max_last_diff = d;
        }
    }
    if (k >= cJSON_GetArraySize(greedy)) return;
    if (cJSON_GetArrayItem(margins, k)->valuedouble < 1e-3) return;
    t->total++;
    t->agree += argmax(row, n_vocab) == cJSON_GetArrayItem(greedy, k)->valueint;
}

/* Prefill path: each prompt + its greedy tokens, in batches of up to piece
 * tokens (0: one batch), each attending to the cache the earlier ones left;
 * logits for every position from the prompt's last on. Pieces of 12 take
 * the short-prompt path (lmc_mmq for quantised models), pieces of 6 the
 * decode graph's batches (lmc_mmq too, with the activations per 32). */
static void check_prefill(const lm_backend_ops *B, lm_engine *e, const cJSON *prompts, int n_vocab,
                          int piece, tally *t) {
    for (int p = 0; p < cJSON_GetArraySize(prompts); p++) {
        const cJSON *pr = cJSON_GetArrayItem(prompts, p);
        int n_ids, n_g;
        int *ids = json_ints(cJSON_GetObjectItem(pr, "ids"), &n_ids);
        int *g = json_ints(cJSON_GetObjectItem(pr, "greedy"), &n_g);
        int n = n_ids + n_g, per = piece > 0 && piece < n ? piece : n;
        int32_t *tok = malloc(sizeof(int32_t) * n), *pos = malloc(sizeof(int32_t) * n);
        int8_t *want = calloc((size_t)n, 1);
        for (int i = 0; i < n; i++) {
            tok[i] = i < n_ids ? ids[i] : g[i - n_ids];
            pos[i] = i;
            want[i] = i >= n_ids - 1;
        }
        float *lg = malloc(sizeof(float) * (size_t)per * n_vocab);
        assert_int_equal(B->kv_seq(e, LM_KV_CLEAR, -1, 0, -1), LM_OK);
        for (int c0 = 0; c0 < n; c0 += per) {
            int nc = n - c0 < per ? n - c0 : per, rows = 0;
            for (int i = 0; i < nc; i++)
                rows += want[c0 + i];
            lm_logits out = {.data = lg, .capacity = per};
            lm_batch b = {.n_tokens = nc, .tokens = tok + c0, .pos = pos + c0, .logits = want + c0};
            lm_err err = {0};
            lm_status s = B->forward(e, &b, &out, &err);
            if (s) print_message("forward: %s\n", lm_err_text(&err));
            assert_int_equal(s, LM_OK);
            assert_int_equal(out.n_rows, rows);
            for (int i = 0, r = 0; i < nc; i++)
                if (want[c0 + i])
                    score_step(pr, c0 + i - (n_ids - 1),
                               lm_logits_rows(&out) + (size_t)r++ * n_vocab, n_vocab, t);
        }
        free(ids), free(g), free(tok), free(pos), free(want), free(lg);
    }
}

/* Decode path: two prompts at once as sequences 0 and 1, one token per
 * sequence per call (batches of 2, then 1 when the shorter one ends). */
static void check_decode(const lm_backend_ops *B, lm_engine *e, const cJSON *prompts, int n_vocab,
                         tally *t) {
    int np = cJSON_GetArraySize(prompts);
    assert_int_equal(B->kv_seq(e, LM_KV_CLEAR, -1, 0, -1), LM_OK);
    for (int p0 = 0; p0 < np; p0 += 2) {
        const cJSON *pr[2] = {cJSON_GetArrayItem(prompts, p0),
                              p0 + 1 < np ? cJSON_GetArrayItem(prompts, p0 + 1) : NULL};
        int *seqs[2] = {NULL, NULL}, len[2] = {0, 0}, n_ids[2] = {0, 0};
        for (int s = 0; s < 2; s++) {
            if (!pr[s]) continue;
            int n_g;
            int *ids = json_ints(cJSON_GetObjectItem(pr[s], "ids"), &n_ids[s]);
            int *g = json_ints(cJSON_GetObjectItem(pr[s], "greedy"), &n_g);
            len[s] = n_ids[s] + n_g;
            seqs[s] = malloc(sizeof(int) * len[s]);
            memcpy(seqs[s], ids, sizeof(int) * n_ids[s]);
            memcpy(seqs[s] + n_ids[s], g, sizeof(int) * n_g);
            free(ids), free(g);
            assert_int_equal(B->kv_seq(e, LM_KV_CLEAR, s, 0, -1), LM_OK);
        }
        float *lg = malloc(sizeof(float) * 2 * n_vocab);
        int maxlen = len[0] > len[1] ? len[0] : len[1];
        for (int i = 0; i < maxlen; i++) {
            int32_t tok[2], pos[2], seq[2];
            int owner[2], n = 0;
            for (int s = 0; s < 2; s++)
                if (i < len[s]) tok[n] = seqs[s][i], pos[n] = i, seq[n] = s, owner[n++] = s;
            lm_logits out = {.data = lg, .capacity = 2};
            int8_t want[2] = {1, 1};
            lm_batch b = {.n_tokens = n, .tokens = tok, .pos = pos, .seq = seq, .logits = want};
            lm_err err = {0};
            lm_status st = B->forward(e, &b, &out, &err);
            if (st) print_message("forward: %s\n", lm_err_text(&err));
            assert_int_equal(st, LM_OK);
            for (int r = 0; r < n; r++) {
                int s = owner[r], k = i - (n_ids[s] - 1);
                if (k >= 0)
                    score_step(pr[s], k, lm_logits_rows(&out) + (size_t)r * n_vocab, n_vocab, t);
            }
        }
        free(lg), free(seqs[0]), free(seqs[1]);
    }
}

/* -log softmax(row)[next], in double. */
static double token_nll(const float *row, int n_vocab, int next) {
    double mx = row[argmax(row, n_vocab)], z = 0;
    for (int v = 0; v < n_vocab; v++)
        z += exp((double)row[v] - mx);
    return mx + log(z) - row[next];
}

/* Mean NLL of ids[1:] given the prefix, all logits from one batch. */
static double mean_nll(const lm_backend_ops *B, lm_engine *e, const cJSON *nll, int n_vocab) {
    int n;
    int *ids = json_ints(cJSON_GetObjectItem(nll, "ids"), &n);
    int32_t *tok = malloc(sizeof(int32_t) * n), *pos = malloc(sizeof(int32_t) * n);
    int8_t *want = malloc((size_t)n);
    for (int i = 0; i < n; i++)
        tok[i] = ids[i], pos[i] = i, want[i] = 1;
    float *lg = malloc(sizeof(float) * (size_t)n * n_vocab);
    lm_logits out = {.data = lg, .capacity = n};
    lm_batch b = {.n_tokens = n, .tokens = tok, .pos = pos, .logits = want};
    lm_err err = {0};
    assert_int_equal(B->kv_seq(e, LM_KV_CLEAR, -1, 0, -1), LM_OK);
    assert_int_equal(B->forward(e, &b, &out, &err), LM_OK);
    double sum = 0;
    for (int i = 0; i + 1 < n; i++)
        sum += token_nll(lm_logits_rows(&out) + (size_t)i * n_vocab, n_vocab, ids[i + 1]);
    free(ids), free(tok), free(pos), free(want), free(lg);
    return sum / (n - 1);
}

/* The same mean NLL, one token per forward (the decode graph's path). */
static double mean_nll_decoded(const lm_backend_ops *B, lm_engine *e, const cJSON *nll,
                               int n_vocab) {
    int n;
    int *ids = json_ints(cJSON_GetObjectItem(nll, "ids"), &n);
    float *lg = malloc(sizeof(float) * (size_t)n_vocab);
    assert_int_equal(B->kv_seq(e, LM_KV_CLEAR, -1, 0, -1), LM_OK);
    double sum = 0;
    for (int i = 0; i + 1 < n; i++) {
        int32_t tok = ids[i], pos = i;
        int8_t want = 1;
        lm_logits out = {.data = lg, .capacity = 1};
        lm_batch b = {.n_tokens = 1, .tokens = &tok, .pos = &pos, .logits = &want};
        lm_err err = {0};
        assert_int_equal(B->forward(e, &b, &out, &err), LM_OK);
        sum += token_nll(lm_logits_rows(&out), n_vocab, ids[i + 1]);
    }
    free(ids), free(lg);
    return sum / (n - 1);
}

static void models_match_references(void **state) {
    (void)state;
    NEED_DEVICE();
    NEED_DATA();
    const lm_backend_ops *B = lm_backend_cuda();
    for (size_t c = 0; c < sizeof k_models / sizeof k_models[0]; c++) {
        const model_case *mc = &k_models[c];
        cJSON *j = read_refs(mc->refs);
        lm_model_desc *m = NULL;
        lm_err err = {0};
        lm_status s = lm_model_open(lm_test_path(mc->path), &m, &err);
        if (s) print_message("%s: %s\n", mc->path, lm_err_text(&err));
        assert_int_equal(s, LM_OK);
        lm_load_opts o;
        lm_load_opts_default(&o);
        o.n_ctx = 512;
        o.n_seq_max = 2;
        lm_support sup;
        assert_int_equal(B->check(m, &o, &sup), LM_OK);
        if (!sup.ok) print_message("%s declined: %s\n", mc->path, sup.reason);
        assert_true(sup.ok);
        lm_engine *e = NULL;
        n_progress = 0;
        s = B->load(m, &o, count_progress, NULL, &e, &err);
        if (s) print_message("%s: %s\n", mc->path, lm_err_text(&err));
        assert_int_equal(s, LM_OK);
        assert_true(n_progress > 0);
        int n_vocab = (int)m->hp.n_vocab;
        const cJSON *prompts = cJSON_GetObjectItem(j, "prompts");
        const cJSON *nll = cJSON_GetObjectItem(j, "nll");
        tally tp = {0}, td = {0}, tc = {0}, t6 = {0};
        check_prefill(B, e, prompts, n_vocab, 0, &tp);
        check_prefill(B, e, prompts, n_vocab, 12, &tc);
        check_prefill(B, e, prompts, n_vocab, 6, &t6);
        check_decode(B, e, prompts, n_vocab, &td);
        double ours = mean_nll(B, e, nll, n_vocab);
        double ref =
            mc->f16 ? cJSON_GetObjectItem(nll, "hf_f32_mean_nll")->valuedouble
                    : cJSON_GetObjectItem(cJSON_GetObjectItem(nll, "llamacpp_mean_nll"), mc->key)
                          ->valuedouble;
        double ag_ref =
            mc->key
                ? cJSON_GetObjectItem(
                      cJSON_GetObjectItem(j, "llamacpp_teacher_forced_greedy_agreement"), mc->key)
                      ->valuedouble
                : 1.0;
        double ap = (double)tp.agree / tp.total, ad = (double)td.agree / td.total;
        double ac = (double)tc.agree / tc.total, a6 = (double)t6.agree / t6.total;
        print_message("cuda %-32s NLL %.5f (ref %.5f, diff %.1e) | agreement prefill %.4f in "
                      "pieces of 12 / 6 %.4f / %.4f decode %.4f (llama.cpp %.4f) | "
                      "max|last_logits-ref| prefill %.2e pieces %.2e / %.2e decode %.2e\n",
                      mc->path, ours, ref, fabs(ours - ref), ap, ac, a6, ad, ag_ref,
                      tp.max_last_diff, tc.max_last_diff, t6.max_last_diff, td.max_last_diff);
        if (mc->f16) {
            assert_true(fabs(ours - ref) <= 2e-3);
            assert_int_equal(tp.agree, tp.total);
            assert_int_equal(td.agree, td.total);
            assert_int_equal(tc.agree, tc.total);
            assert_int_equal(t6.agree, t6.total);
            assert_true(tp.max_last_diff <= 1e-2);
            assert_true(td.max_last_diff <= 1e-2);
            assert_true(tc.max_last_diff <= 1e-2);
            assert_true(t6.max_last_diff <= 1e-2);
        } else {
            assert_true(fabs(ours - ref) <= 0.02);
            assert_true(ap >= ag_ref - 0.03);
            assert_true(ad >= ag_ref - 0.03);
            assert_true(ac >= ag_ref - 0.03);
            assert_true(a6 >= ag_ref - 0.03);
        }
        B->unload(e);
        lm_model_free(m);
        cJSON_Delete(j);
    }
}

/* Decode attention in staged tiles (K and V through shared memory): with
 * LOCALM_CUDA_DEC_SPLIT=2 every position past 64 takes the staged graph, in
 * chunks of several tiles. The NLL text decoded token by token must give
 * Hugging Face's mean NLL as closely as the one-batch prefill does. */
static void staged_decode_matches_reference(void **state) {
    (void)state;
    NEED_DEVICE();
    NEED_DATA();
    const lm_backend_ops *B = lm_backend_cuda();
    cJSON *j = read_refs("tiny-llama3");
    const cJSON *nll = cJSON_GetObjectItem(j, "nll");
    lm_model_desc *m = NULL;
    lm_err err = {0};
    assert_int_equal(lm_model_open(lm_test_path("models/tiny-llama3-f16.gguf"), &m, &err), LM_OK);
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = 512;
    setenv("LOCALM_CUDA_DEC_SPLIT", "2", 1);
    lm_engine *e = NULL;
    lm_status s = B->load(m, &o, NULL, NULL, &e, &err);
    unsetenv("LOCALM_CUDA_DEC_SPLIT");
    assert_int_equal(s, LM_OK);
    int n_ids = cJSON_GetArraySize(cJSON_GetObjectItem(nll, "ids"));
    assert_true(n_ids > 2 * 64); /* most positions past the staged bound */
    double ours = mean_nll_decoded(B, e, nll, (int)m->hp.n_vocab);
    double ref = cJSON_GetObjectItem(nll, "hf_f32_mean_nll")->valuedouble;
    print_message("staged decode, %d tokens: NLL %.5f (ref %.5f, diff %.1e)\n", n_ids, ours, ref,
                  fabs(ours - ref));
    assert_true(fabs(ours - ref) <= 2e-3);
    B->unload(e);
    lm_model_free(m);
    cJSON_Delete(j);
}

/* ---- the persistent decode step ------------------------------------------- */

/* The model loaded by B, for cuda with LOCALM_CUDA_PERSIST as given. */
static lm_engine *load_with(const lm_backend_ops *B, const lm_model_desc *m, int n_ctx,
                            const char *persist) {
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = n_ctx;
    o.n_seq_max = 2; /* check_decode's two sequences */
    if (persist) setenv("LOCALM_CUDA_PERSIST", persist, 1);
    lm_engine *e = NULL;
    lm_err err = {0};
    lm_status s = B->load(m, &o, NULL, NULL, &e, &err);
    unsetenv("LOCALM_CUDA_PERSIST");
    if (s) print_message("load: %s\n", lm_err_text(&err));
    assert_int_equal(s, LM_OK);
    return e;
}

/* One decode step of tok at pos; its logits row copied to dst. */
static void step1(const lm_backend_ops *B, lm_engine *e, int32_t tok, int32_t pos, float *dst,
                  int n_vocab) {
    lm_logits out = {.data = dst, .capacity = 1};
    lm_batch b = {.n_tokens = 1, .tokens = &tok, .pos = &pos};
    lm_err err = {0};
    assert_int_equal(B->forward(e, &b, &out, &err), LM_OK);
    memcpy(dst, lm_logits_rows(&out), sizeof(float) * (size_t)n_vocab);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n_steps random tokens decoded one by one by the persistent step (p), the
 * graph of kernels (g) and the CPU engine (c): the persistent step's logits
 * must be as close to the graph's as the CPU engine's are (both median and
 * worst step within 2x, or 2e-3; and at most 3e-2 and 0.1, argmax the
 * same in 95 % of the steps): the scale of what two correct engines
 * differ by when their activations are quantised and summed otherwise, which
 * a network amplifies over its depth. Steps past the step's 1,024 positions
 * take the graph in p too. */
static void persist_matches_graph(const lm_model_desc *m, const char *what, int n_ctx,
                                  int n_steps) {
    const int V = (int)m->hp.n_vocab;
    const lm_backend_ops *C = lm_backend_cuda(), *U = lm_backend_cpu();
    lm_engine *p = load_with(C, m, n_ctx, "1"), *g = load_with(C, m, n_ctx, "0");
    lm_engine *c = load_with(U, m, n_ctx, NULL);
    assert_non_null(p->persist); /* the model takes it */
    assert_null(g->persist);
    float *lp = malloc(sizeof(float) * 3 * (size_t)V), *lg = lp + V, *lc = lg + V;
    double *ep = malloc(sizeof(double) * 2 * (size_t)n_steps), *ec = ep + n_steps;
    int agree = 0;
    uint64_t r = 0x2545f4914f6cdd1dull;
    for (int i = 0; i < n_steps; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int32_t tok = (int32_t)(r % (uint64_t)V);
        step1(C, p, tok, i, lp, V), step1(C, g, tok, i, lg, V), step1(U, c, tok, i, lc, V);
        ep[i] = rel_err(lp, lg, (size_t)V), ec[i] = rel_err(lc, lg, (size_t)V);
        agree += argmax(lp, V) == argmax(lg, V);
    }
    qsort(ep, (size_t)n_steps, sizeof *ep, cmp_double);
    qsort(ec, (size_t)n_steps, sizeof *ec, cmp_double);
    double pm = ep[n_steps / 2], pw = ep[n_steps - 1], cm = ec[n_steps / 2], cw = ec[n_steps - 1];
    print_message("persistent step, %s, %d steps: logits vs the graph's: rel err median %.2e "
                  "worst %.2e (the CPU engine's: %.2e, %.2e), argmax agrees %d / %d\n",
                  what, n_steps, pm, pw, cm, cw, agree, n_steps);
    assert_true(pm <= fmax(2e-3, 2 * cm) && pm <= 3e-2);
    assert_true(pw <= fmax(2e-3, 2 * cw) && pw <= 0.1);
    assert_true(agree >= n_steps * 95 / 100);
    free(lp), free(ep);
    C->unload(p), C->unload(g), U->unload(c);
}

/* The persistent decode step: the Q4_0 and Q4_K_M (Q4_K with Q6_K) reference
 * models (llama3, and qwen2's half-split pairs and biases) decoded token by token give llama.cpp's
 * mean NLL and greedy agreement on those files, and the graph's logits as closely as the CPU engine
 * does; so do two layers of random models of the 1.1B shape (Q4_0 and Q4_K_M; eight query heads a
 * KV head, in four tasks) and of the 8B shape (Q4_K_M, head size 128, chunks of 64 positions), past
 * the step's 1,024 positions. */
static void persistent_decode_matches(void **state) {
    (void)state;
    NEED_DEVICE();
    if (!lmc_persist_device_ok(0)) {
        print_message("skipped: the persistent step needs sm_90a code\n");
        skip();
    }
    lm_err err = {0};
    lm_model_desc *m = NULL;
    /* file, llama.cpp's key, refs (qwen2: half-split rotary pairs, q/k/v
     * biases, tied output of 1,040 rows: the engine's output kernels) */
    static const char *files[][3] = {{"models/tiny-llama3-q4_0.gguf", "q4_0", "tiny-llama3"},
                                     {"models/tiny-llama3-q4_k_m.gguf", "q4_k_m", "tiny-llama3"},
                                     {"models/tiny-qwen2-q4_k_m.gguf", "q4_k_m", "tiny-qwen2"}};
    for (int f = 0; f < 3 && lm_test_data_dir(); f++) {
        cJSON *j = read_refs(files[f][2]);
        const cJSON *nll = cJSON_GetObjectItem(j, "nll");
        assert_int_equal(lm_model_open(lm_test_path(files[f][0]), &m, &err), LM_OK);
        lm_engine *e = load_with(lm_backend_cuda(), m, 512, "1");
        assert_non_null(e->persist);
        tally td = {0};
        check_decode(lm_backend_cuda(), e, cJSON_GetObjectItem(j, "prompts"), (int)m->hp.n_vocab,
                     &td);
        double ag_ref =
            cJSON_GetObjectItem(cJSON_GetObjectItem(j, "llamacpp_teacher_forced_greedy_agreement"),
                                files[f][1])
                ->valuedouble;
        double ours = mean_nll_decoded(lm_backend_cuda(), e, nll, (int)m->hp.n_vocab);
        double ref = cJSON_GetObjectItem(cJSON_GetObjectItem(nll, "llamacpp_mean_nll"), files[f][1])
                         ->valuedouble;
        print_message("persistent step, %s decoded token by token: NLL %.5f (llama.cpp %.5f, "
                      "diff %.1e), greedy agreement %.4f (llama.cpp %.4f)\n",
                      files[f][0], ours, ref, fabs(ours - ref), (double)td.agree / td.total,
                      ag_ref);
        assert_true(fabs(ours - ref) <= 0.02);
        assert_true((double)td.agree / td.total >= ag_ref - 0.03);
        lm_backend_cuda()->unload(e);
        persist_matches_graph(m, files[f][0], 512, 300);
        lm_model_free(m);
        cJSON_Delete(j);
    }
    static const char *cases[][2] = {
        {"tinyllama-1.1b", "Q4_0"}, {"tinyllama-1.1b", "Q4_K_M"}, {"llama3-8b", "Q4_K_M"}};
    static const int steps[] = {1100, 600, 1040};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lm_random_model_create_layers(cases[i][0], cases[i][1], 2, 7, 0, &m, &err),
                         LM_OK);
        char what[64];
        snprintf(what, sizeof what, "random %s %s, 2 layers", cases[i][0], cases[i][1]);
        persist_matches_graph(m, what, steps[i] + 16, steps[i]);
        lm_random_model_free(m);
    }
}

/* LOCALM_CUDA_F16_PREFILL=1: the half copies are made (VRAM grows by their
 * size) and a prompt's logits are those of the dequantising path; under a
 * VRAM budget that holds about half of them, the mix of copies and
 * dequantised tiles gives the same logits too. */
static void f16_prefill_copies_match(void **state) {
    (void)state;
    NEED_DEVICE();
    NEED_DATA();
    const char *path = "models/tiny-qwen2-q4_k_m.gguf"; /* wq|wk and wv of two types */
    const lm_backend_ops *B = lm_backend_cuda();
    lm_model_desc *m = NULL;
    lm_err err = {0};
    assert_int_equal(lm_model_open(lm_test_path(path), &m, &err), LM_OK);
    const lm_hparams *hp = &m->hp;
    double E = hp->n_embd, F = hp->n_ff;
    double qkv = (double)(hp->n_head + 2 * hp->n_head_kv) * hp->head_dim;
    double copies =
        2.0 * hp->n_layer * (E * qkv + (double)hp->n_head * hp->head_dim * E + 3 * E * F);
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = 256;
    lm_support sup;
    assert_int_equal(B->check(m, &o, &sup), LM_OK);
    assert_true(sup.ok);
    const int n = 40, V = (int)hp->n_vocab;
    int32_t tok[40], pos[40];
    int8_t want[40];
    for (int i = 0; i < n; i++)
        tok[i] = (int32_t)((i * 7919 + 13) % V), pos[i] = i, want[i] = 1;
    float *lg[3];
    size_t grew[3];
    for (int k = 0; k < 3; k++) {
        lg[k] = malloc(sizeof(float) * (size_t)n * V);
        if (k)
            setenv("LOCALM_CUDA_F16_PREFILL", "1", 1);
        else
            unsetenv("LOCALM_CUDA_F16_PREFILL");
        /* run 3: the budget the engine needs (less the check's 96 MiB reserve),
         * the copies' 256 MiB slack and half of the copies */
        o.mem_budget =
            k == 2 ? sup.bytes_needed - (96ull << 20) + (256ull << 20) + (uint64_t)(copies / 2) : 0;
        size_t fr0 = 0, fr1 = 0, tot = 0;
        CK(cudaMemGetInfo(&fr0, &tot));
        lm_engine *e = NULL;
        assert_int_equal(B->load(m, &o, NULL, NULL, &e, &err), LM_OK);
        CK(cudaMemGetInfo(&fr1, &tot));
        grew[k] = fr0 - fr1;
        lm_logits out = {.data = lg[k], .capacity = n};
        lm_batch b = {.n_tokens = n, .tokens = tok, .pos = pos, .logits = want};
        assert_int_equal(B->forward(e, &b, &out, &err), LM_OK);
        if (out.rows) /* the engine's rows go with it */
            memcpy(lg[k], out.rows, sizeof(float) * (size_t)n * V);
        B->unload(e);
    }
    unsetenv("LOCALM_CUDA_F16_PREFILL");
    double mx = 0, d1 = 0, d2 = 0;
    for (size_t i = 0; i < (size_t)n * V; i++) {
        mx = fmax(mx, fabs(lg[0][i]));
        d1 = fmax(d1, fabs((double)lg[1][i] - lg[0][i]));
        d2 = fmax(d2, fabs((double)lg[2][i] - lg[0][i]));
    }
    print_message("f16 prefill copies: VRAM %.1f MiB more (copies %.1f MiB), max |logit diff| "
                  "%.2e, under a budget for half %.2e (max |logit| %.2f)\n",
                  ((double)grew[1] - (double)grew[0]) / 1048576.0, copies / 1048576.0, d1, d2, mx);
    assert_true((double)grew[1] - (double)grew[0] >= 0.9 * copies);
    assert_true(d1 <= 1e-3 * mx);
    assert_true(d2 <= 1e-3 * mx);
    for (int k = 0; k < 3; k++)
        free(lg[k]);
    lm_model_free(m);
}

/* A VRAM budget below the model's need: check declines with the reason and
 * load refuses, so selection falls through to the next engine. */
static void small_vram_budget_declines(void **state) {
    (void)state;
    NEED_DEVICE();
    NEED_DATA();
    lm_model_desc *m = NULL;
    lm_err err = {0};
    assert_int_equal(lm_model_open(lm_test_path("models/tiny-llama3-q8_0.gguf"), &m, &err), LM_OK);
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = 512;
    o.mem_budget = 1u << 20;
    lm_support sup;
    assert_int_equal(lm_backend_cuda()->check(m, &o, &sup), LM_OK);
    assert_false(sup.ok);
    assert_non_null(strstr(sup.reason, "VRAM"));
    assert_true(sup.bytes_needed > o.mem_budget);
    print_message("declined as expected: %s\n", sup.reason);
    lm_engine *e = NULL;
    assert_int_equal(lm_backend_cuda()->load(m, &o, NULL, NULL, &e, &err), LM_ERR_DECLINED);
    assert_null(e);
    o.mem_budget = sup.bytes_needed; /* exactly enough is enough */
    assert_int_equal(lm_backend_cuda()->check(m, &o, &sup), LM_OK);
    assert_true(sup.ok);
    lm_model_free(m);
}

/* LOCALM_FAULT=forward:1: the first forward fails with the injected status,
 * and the engine keeps working afterwards. The hook reads the variable once,
 * at the process's first forward, so this test arms it itself and comes
 * before every other test that forwards (a filter leaving it out leaves the
 * hook unarmed). */
static void fault_on_forward_is_reported(void **state) {
    (void)state;
    NEED_DEVICE();
    NEED_DATA();
    setenv("LOCALM_FAULT", "forward:1", 1);
    lm_model_desc *m = NULL;
    lm_err err = {0};
    assert_int_equal(lm_model_open(lm_test_path("models/tiny-llama3-f16.gguf"), &m, &err), LM_OK);
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_ctx = 64;
    const lm_backend_ops *B = lm_backend_cuda();
    lm_engine *e = NULL;
    assert_int_equal(B->load(m, &o, NULL, NULL, &e, &err), LM_OK);
    int32_t tok = 1, pos = 0;
    float *lg = malloc(sizeof(float) * m->hp.n_vocab);
    lm_logits out = {.data = lg, .capacity = 1};
    lm_batch b = {.n_tokens = 1, .tokens = &tok, .pos = &pos};
    assert_int_equal(B->forward(e, &b, &out, &err), LM_ERR_FAULT_INJECTED);
    assert_int_equal(B->forward(e, &b, &out, &err), LM_OK);
    assert_int_equal(out.n_rows, 1);
    free(lg);
    B->unload(e);
    lm_model_free(m);
}

int main(void) {
    lm_backend_info bi;
    g_device = lm_backend_cuda()->probe(&bi) == LM_OK && bi.usable;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probe_reports_devices_or_reason),
        cmocka_unit_test(fault_on_forward_is_reported),
        cmocka_unit_test(kernels_match_cpu_reference),
        cmocka_unit_test(attention_matches_cpu_reference),
        cmocka_unit_test(prefill_attention_matches_cpu_reference),
        cmocka_unit_test(matvec_pair_matches_reference),
        cmocka_unit_test(qglu_matches_reference),
        cmocka_unit_test(qmm_add_matches_reference),
        cmocka_unit_test(small_vram_budget_declines),
        cmocka_unit_test(f16_prefill_copies_match),
        cmocka_unit_test(models_match_references),
        cmocka_unit_test(staged_decode_matches_reference),
        cmocka_unit_test(persistent_decode_matches),
    };
    // A device run that only changed one kernel can run its own test alone
    // (device time is scarce): LOCALM_TEST_FILTER=persistent_decode_matches.
    const char *filter = getenv("LOCALM_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
static void cuda_not_built(void **state) {
    (void)state;
    print_message("skipped: CUDA engine not built (no nvcc)\n");
    skip();
}
int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(cuda_not_built)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
