/* attn_prefill.cuh — the pieces both prompt attention kernels (mma.sync,
 * k_attn_prefill.cu; wgmma, k_attn_wg.cu) share. Their score and output
 * accumulators have one layout: lane 4 g + t holds rows g and g + 8, columns
 * 8 j + 2 t and + 1 of 8-column block j, as four floats from index 4 j. */
#ifndef LM_BACKEND_CUDA_ATTN_PREFILL_CUH
#define LM_BACKEND_CUDA_ATTN_PREFILL_CUH
#include "backend/cuda/cp_async.cuh"
#include "backend/cuda/mma.cuh"
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

namespace lmc {

/* Stages 8 halves (columns c .. c + 7) of K/V cache position p into ks / vs
 * (cp.async; kb, vb: the KV head's first row, prow halves between
 * positions). Positions past pmax are zero-filled, so masked probabilities
 * never meet uninitialised values. */
__device__ __forceinline__ void pf_stage_chunk(void *ks, void *vs, const __half *kb,
                                               const __half *vb, size_t prow, int p, int pmax,
                                               int c) {
    const bool in = p <= pmax;
    const size_t src = (size_t)(in ? p : 0) * prow + c;
    cp_async16(ks, kb + src, in ? 16 : 0);
    cp_async16(vs, vb + src, in ? 16 : 0);
}

/* One tile's online-softmax step for this lane's two rows: the causal mask
 * on s (KV positions from p0; la, lb the rows' last visible positions), the
 * new maxima ma / mb (base 2), O (HD columns) and the sums sa / sb rescaled
 * to them, and the probabilities packed as half A fragments into pf (two
 * 8-position blocks each). Position 0 is in the first tile and visible to
 * every row, so the maxima are finite from the first tile on. */
template <int KV, int HD>
__device__ __forceinline__ void pf_softmax_step(float *s, float *o, uint32_t (*pf)[4], int p0,
                                                int t4, int la, int lb, float &ma, float &mb,
                                                float &sa, float &sb) {
    float xa = -INFINITY, xb = -INFINITY;
    /* Only a tile that reaches past a row's last position is masked: the
     * others (all but the last one or two of a long prompt) skip the
     * comparisons. H100, 16k-token prompts: 1.1B Q4_0 100.0-100.4k ->
     * 104.8-105.4k t/s, 8B within noise. (Tried in pass 16 while the wgmma
     * kernel held q in registers, ptxas then put P into q's registers; q is
     * in shared memory now.) */
    if (p0 + KV - 1 > min(la, lb)) {
#pragma unroll
        for (int n = 0; n < KV / 8; n++) {
            int p = p0 + 8 * n + 2 * t4;
            if (p > la) s[4 * n] = -INFINITY;
            if (p + 1 > la) s[4 * n + 1] = -INFINITY;
            if (p > lb) s[4 * n + 2] = -INFINITY;
            if (p + 1 > lb) s[4 * n + 3] = -INFINITY;
        }
    }
#pragma unroll
    for (int n = 0; n < KV / 8; n++) {
        xa = fmaxf(xa, fmaxf(s[4 * n], s[4 * n + 1]));
        xb = fmaxf(xb, fmaxf(s[4 * n + 2], s[4 * n + 3]));
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        xa = fmaxf(xa, __shfl_xor_sync(0xffffffffu, xa, off));
        xb = fmaxf(xb, __shfl_xor_sync(0xffffffffu, xb, off));
    }
    const float na = fmaxf(ma, xa), nb = fmaxf(mb, xb);
    const float fa = exp2f(ma - na), fb = exp2f(mb - nb);
    ma = na, mb = nb;
    sa *= fa, sb *= fb;
#pragma unroll
    for (int n = 0; n < HD / 8; n++) {
        o[4 * n] *= fa, o[4 * n + 1] *= fa;
        o[4 * n + 2] *= fb, o[4 * n + 3] *= fb;
    }
#pragma unroll
    for (int n = 0; n < KV / 8; n++) {
        float e0 = exp2f(s[4 * n] - na), e1 = exp2f(s[4 * n + 1] - na);
        float e2 = exp2f(s[4 * n + 2] - nb), e3 = exp2f(s[4 * n + 3] - nb);
        sa += e0 + e1, sb += e2 + e3;
        pf[n / 2][(n & 1) * 2] = pack_half2(e0, e1);
        pf[n / 2][(n & 1) * 2 + 1] = pack_half2(e2, e3);
    }
}

/* This lane's two output rows (tokens ta, tb; those at or past n_tok are not
 * stored) of head h: O over the softmax sums (sa, sb: this lane's parts),
 * to exactly one of out (floats) or out_h (half, the output projection's
 * GEMM input). */
template <int HD>
__device__ __forceinline__ void pf_store_rows(const float *o, float sa, float sb, int h, int t4,
                                              int ta, int tb, int n_tok, int nh, float *out,
                                              __half *out_h) {
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        sa += __shfl_xor_sync(0xffffffffu, sa, off);
        sb += __shfl_xor_sync(0xffffffffu, sb, off);
    }
    const float ia = 1.0f / sa, ib = 1.0f / sb;
#pragma unroll
    for (int n = 0; n < HD / 8; n++) {
        size_t c = (size_t)h * HD + 8 * n + 2 * t4, ca = (size_t)ta * nh * HD + c,
               cb = (size_t)tb * nh * HD + c;
        if (out_h) {
            if (ta < n_tok)
                *(__half2 *)(out_h + ca) = __floats2half2_rn(o[4 * n] * ia, o[4 * n + 1] * ia);
            if (tb < n_tok)
                *(__half2 *)(out_h + cb) = __floats2half2_rn(o[4 * n + 2] * ib, o[4 * n + 3] * ib);
        } else {
            if (ta < n_tok) *(float2 *)(out + ca) = make_float2(o[4 * n] * ia, o[4 * n + 1] * ia);
            if (tb < n_tok)
                *(float2 *)(out + cb) = make_float2(o[4 * n + 2] * ib, o[4 * n + 3] * ib);
        }
    }
}

} // namespace lmc
#endif
