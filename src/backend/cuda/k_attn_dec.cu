/* k_attn_dec.cu — decode attention on tensor cores, for contexts long enough
 * that each block walks a chunk of many tiles (the staged form).
 *
 * Why: the per-lane form (k_ops.cu) has each warp of a KV head's group
 * multiply the whole K and V tile for its one query head with float FMAs:
 * ~500 instructions per warp and tile, between two block barriers, at two
 * blocks of four warps per SM. At 16k positions the 8B spent ~50 us a layer
 * on 67 MB of K/V (0.45 of the copy rate on the H100), its blocks waiting on
 * their own chain of arithmetic rather than on memory.
 *
 * Here the group's query heads are the N side of mma.sync m16n8k16 products
 * (up to 8 heads; the positions, 16 a tile, are M): S^T = K q^T, then
 * O^T += V^T P^T, with P^T turned from the accumulator layout into a B
 * operand by movmatrix. A tile costs a warp ~16 ldmatrix, 32 mma and a few
 * dozen softmax instructions. Each warp streams its own tiles (tile w, w +
 * NW, ...) through a three-stage cp.async ring in shared memory with no block
 * barrier in the loop; the NW warps' softmax states are folded together at
 * the end, and the block then ends as the per-lane form does (attn_dec.cuh).
 *
 * Precision: q and the probabilities are each split into a half and the half
 * of what rounding left (hi + lo), and both parts are multiplied: K and V are
 * half already, so scores and outputs keep float precision (the prompt
 * attention rounds q and P once, ~2.5e-4 relative; this form must match the
 * per-lane form's ~1e-7). */
#include "backend/cuda/attn_dec.cuh"
#include "backend/cuda/cp_async.cuh"
#include "backend/cuda/env_switch.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/mma.cuh"
#include <stdlib.h>

namespace lmc {

namespace {

constexpr int TP = 16;  /* positions per tile (the mma's M) */
constexpr int GMAX = 8; /* query heads per KV head (the mma's N) */
/* Stages of a warp's ring: two tiles in flight while one is worked. H200,
 * the kernel alone at 16k positions (8B shape, 8 KV heads of 128): 2 stages
 * 30.3 us (0.51 of the copy rate), 3 26.4 us (0.59), 4 28.0 us (one block of
 * 4 warps per SM); 8B decode at 16k 316.5 -> 323.1 t/s, 1.1B Q4_0 1,083 ->
 * 1,149 from 2 to 3. */
constexpr int NS = 3;

/* Dynamic shared memory of a block of NW warps: per warp NS stages of a K
 * and a V tile, rows of HD + 8 halves (the padding puts ldmatrix's eight row
 * addresses in different banks); the end's fold reuses it. */
template <int HD> constexpr size_t dec_mma_smem(int nw) {
    return (size_t)nw * NS * 2 * TP * (HD + 8) * sizeof(__half);
}

/* hi + lo = a and b to ~2^-22, each a half pair. */
__device__ __forceinline__ void split_half2(float a, float b, uint32_t &hi, uint32_t &lo) {
    __half2 h = __floats2half2_rn(a, b);
    float2 f = __half22float2(h);
    hi = *(uint32_t *)&h;
    lo = pack_half2(a - f.x, b - f.y);
}

/* Grid (n_tok * nkv, n_split), NW warps (NW >= G). */
template <int HD, int NW>
__global__ void __launch_bounds__(NW * 32)
    attn_dec_mma_kernel(const float *__restrict__ q, rope_args ra, int nh, int nkv, __half *kc,
                        __half *vc, int n_ctx, const int32_t *pos, const int32_t *seq, int n_split,
                        float *part, int *cnt, float *out, int8_t *out_q, float2 *out_s) {
    constexpr int RS = HD + 8, KT = HD / 16, DPL = HD / 32, PC = HD / 8;
    extern __shared__ __align__(16) uint8_t dsm[];
    __shared__ __align__(16) float q_sh[GMAX * HD];
    __shared__ __align__(16) float kv_sh[2][HD]; /* the current position's k, v */
    __shared__ int is_last;
    /* as in the per-lane form: preparing q, k, v here means no cache row this
     * kernel reads was written by the previous one, so the first tiles are
     * requested before waiting for it */
    const bool early = ra.qkv != nullptr;
    if (!early) pdl_wait();
    const int G = nh / nkv;
    const int t = blockIdx.x / nkv, g = blockIdx.x % nkv, c = blockIdx.y;
    const int lane = threadIdx.x & 31, w = threadIdx.x / 32;
    const int len = min(pos[t] + 1, n_ctx), sq = seq[t];
    const int chunk = dec_chunk(len, n_split);
    const int n_act = (len + chunk - 1) / chunk;
    const int start = c * chunk, end = min(start + chunk, len);
    if (start >= end) { /* past the position: not counted */
        if (early) pdl_wait();
        return;
    }
    const size_t row = (size_t)nkv * HD;
    __half *kb = kc + ((size_t)sq * n_ctx * nkv + g) * HD;
    __half *vb = vc + ((size_t)sq * n_ctx * nkv + g) * HD;
    const int cur = len - 1;
    const bool own = ra.qkv && cur >= start && cur < end;
    __half *ring = (__half *)dsm + (size_t)w * NS * 2 * TP * RS; /* [stage][K, V][TP][RS] */
    /* A tile's K and V rows into stage s, one group of copies; rows past end
     * are zeros (they weigh nothing, and a stale row could hold NaNs). */
    auto stage = [&](int p0, int s) {
        for (int i = lane; i < 2 * TP * PC; i += 32) {
            const int kv = i / (TP * PC), r = i / PC % TP, pc = i % PC;
            const __half *src = (kv ? vb : kb) + (size_t)min(p0 + r, end - 1) * row + 8 * pc;
            cp_async16(ring + ((2 * s + kv) * TP + r) * RS + 8 * pc, src, p0 + r < end ? 16 : 0);
        }
        cp_commit();
    };
    int p0 = start + TP * w;
#pragma unroll
    for (int k = 0; k < NS - 1; k++) {
        if (p0 + k * TP * NW < end)
            stage(p0 + k * TP * NW, k);
        else
            cp_commit();
    }
    pdl_trigger();
    if (early) pdl_wait();
    const float scale = rsqrtf((float)HD);
    if (ra.qkv) {
        const float *b = ra.bias;
        if (w < G)
            warp_prep_head<HD>(ra.qkv + (size_t)(g * G + w) * HD,
                               b ? b + (size_t)(g * G + w) * HD : nullptr, ra.q_norm, ra.eps,
                               ra.inv_freq, ra.layout, cur, true, scale, q_sh + w * HD, lane);
        if (own) { /* uniform per block */
            const size_t ko = (size_t)(nh + g) * HD, vo = (size_t)(nh + nkv + g) * HD;
            if (w == 0) {
                warp_prep_head<HD>(ra.qkv + ko, b ? b + ko : nullptr, ra.k_norm, ra.eps,
                                   ra.inv_freq, ra.layout, cur, true, 1.0f, kv_sh[0], lane);
                warp_store_row<HD>(kv_sh[0], kb + (size_t)cur * row, lane);
            }
            if (w == 1) {
                warp_prep_head<HD>(ra.qkv + vo, b ? b + vo : nullptr, nullptr, ra.eps, ra.inv_freq,
                                   ra.layout, cur, false, 1.0f, kv_sh[1], lane);
                warp_store_row<HD>(kv_sh[1], vb + (size_t)cur * row, lane);
            }
        }
    } else if (w < G) {
        const float *qh = q + ((size_t)t * nh + g * G + w) * HD;
        for (int d = lane; d < HD; d += 32)
            q_sh[w * HD + d] = qh[d] * scale;
    }
    __syncthreads();
    /* q^T as B operands (k: dimensions, n: heads), hi and lo parts; heads
     * past G are zeros */
    const int gr = lane >> 2, tg = lane & 3;
    uint32_t qh[KT][2], ql[KT][2];
#pragma unroll
    for (int k = 0; k < KT; k++) {
        const float *qr = q_sh + gr * HD + 16 * k + 2 * tg;
        const bool in = gr < G;
        split_half2(in ? qr[0] : 0.0f, in ? qr[1] : 0.0f, qh[k][0], ql[k][0]);
        split_half2(in ? qr[8] : 0.0f, in ? qr[9] : 0.0f, qh[k][1], ql[k][1]);
    }
    /* this lane's softmax state: heads 2 tg and 2 tg + 1 (l: its own
     * positions' share, summed over the lanes at the end); the output O^T
     * (dimensions 16 k + gr and + 8, the same two heads) */
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f, o[KT][4];
#pragma unroll
    for (int k = 0; k < KT; k++)
        o[k][0] = o[k][1] = o[k][2] = o[k][3] = 0.0f;
    for (int s = 0, sn = NS - 1; p0 < end; p0 += TP * NW) {
        if (p0 + (NS - 1) * TP * NW < end)
            stage(p0 + (NS - 1) * TP * NW, sn);
        else
            cp_commit();
        sn = sn + 1 == NS ? 0 : sn + 1;
        cp_wait<NS - 1>();
        __syncwarp();
        __half *ks = ring + 2 * s * TP * RS, *vs = ks + TP * RS;
        if (own && cur >= p0 && cur < p0 + TP) {
            /* this row was written by this kernel: its shared copy (copied
             * before the store, the staged row may be stale) */
            for (int d = lane; d < HD; d += 32) {
                ks[(cur - p0) * RS + d] = __float2half_rn(kv_sh[0][d]);
                vs[(cur - p0) * RS + d] = __float2half_rn(kv_sh[1][d]);
            }
            __syncwarp();
        }
        /* S^T (positions x heads) = K q^T: rows gr and gr + 8, heads 2 tg, 2 tg + 1 */
        float sh[4] = {0.0f, 0.0f, 0.0f, 0.0f}, sl[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int k = 0; k < KT; k++) {
            uint32_t a[4];
            ldsm4<false>(a,
                         ks + ((lane & 7) + 8 * ((lane >> 3) & 1)) * RS + 16 * k + 8 * (lane >> 4));
            mma16816(sh, a, qh[k][0], qh[k][1]);
            mma16816(sl, a, ql[k][0], ql[k][1]);
        }
        const bool in0 = p0 + gr < end, in1 = p0 + gr + 8 < end;
        const float s00 = in0 ? sh[0] + sl[0] : -INFINITY, s01 = in0 ? sh[1] + sl[1] : -INFINITY;
        const float s10 = in1 ? sh[2] + sl[2] : -INFINITY, s11 = in1 ? sh[3] + sl[3] : -INFINITY;
        float x0 = fmaxf(s00, s10), x1 = fmaxf(s01, s11);
#pragma unroll
        for (int d = 4; d < 32; d <<= 1) {
            x0 = fmaxf(x0, __shfl_xor_sync(0xffffffffu, x0, d));
            x1 = fmaxf(x1, __shfl_xor_sync(0xffffffffu, x1, d));
        }
        /* finite: position p0 is in range */
        const float mn0 = fmaxf(m0, x0), mn1 = fmaxf(m1, x1);
        const float a0 = __expf(m0 - mn0), a1 = __expf(m1 - mn1);
        const float p00 = __expf(s00 - mn0), p01 = __expf(s01 - mn1);
        const float p10 = __expf(s10 - mn0), p11 = __expf(s11 - mn1);
        l0 = l0 * a0 + p00 + p10;
        l1 = l1 * a1 + p01 + p11;
        m0 = mn0, m1 = mn1;
        /* P^T as B operands (k: positions, n: heads): the accumulator layout
         * transposed, hi and lo parts */
        uint32_t h0, h1, e0, e1;
        split_half2(p00, p01, h0, e0);
        split_half2(p10, p11, h1, e1);
        const uint32_t bh0 = movtrans(h0), bh1 = movtrans(h1);
        const uint32_t bl0 = movtrans(e0), bl1 = movtrans(e1);
#pragma unroll
        for (int k = 0; k < KT; k++) {
            o[k][0] *= a0, o[k][1] *= a1, o[k][2] *= a0, o[k][3] *= a1;
            uint32_t a[4];
            ldsm4<true>(a,
                        vs + ((lane & 7) + 8 * (lane >> 4)) * RS + 16 * k + 8 * ((lane >> 3) & 1));
            mma16816(o[k], a, bh0, bh1);
            mma16816(o[k], a, bl0, bl1);
        }
        __syncwarp(); /* the next iteration's copies go into this stage */
        s = s + 1 == NS ? 0 : s + 1;
    }
#pragma unroll
    for (int d = 4; d < 32; d <<= 1) {
        l0 += __shfl_xor_sync(0xffffffffu, l0, d);
        l1 += __shfl_xor_sync(0xffffffffu, l1, d);
    }
    /* fold the NW warps' states: each leaves O^T, m and l of its heads in
     * shared memory (the rings are done with), warp j < G then takes head j */
    cp_wait<0>();
    __syncthreads();
    float *fo = (float *)dsm;        /* [NW][GMAX][HD] */
    float *fm = fo + NW * GMAX * HD; /* [NW][GMAX][2] */
    const int h0 = 2 * tg;
    if (h0 < G) {
#pragma unroll
        for (int k = 0; k < KT; k++) {
            float *d = fo + (size_t)(w * GMAX + h0) * HD + 16 * k + gr;
            d[0] = o[k][0], d[8] = o[k][2];
            if (h0 + 1 < G) d[HD] = o[k][1], d[HD + 8] = o[k][3];
        }
        if (gr == 0) {
            fm[(w * GMAX + h0) * 2] = m0, fm[(w * GMAX + h0) * 2 + 1] = l0;
            if (h0 + 1 < G) fm[(w * GMAX + h0 + 1) * 2] = m1, fm[(w * GMAX + h0 + 1) * 2 + 1] = l1;
        }
    }
    __syncthreads();
    const bool act = w < G;
    float res[DPL], M = -INFINITY, L = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; i++)
        res[i] = 0.0f;
    if (act) {
#pragma unroll
        for (int v = 0; v < NW; v++)
            M = fmaxf(M, fm[(v * GMAX + w) * 2]);
#pragma unroll
        for (int v = 0; v < NW; v++) {
            const float mv = fm[(v * GMAX + w) * 2];
            const float f = mv > -INFINITY ? __expf(mv - M) : 0.0f; /* a warp without tiles */
            L += f * fm[(v * GMAX + w) * 2 + 1];
#pragma unroll
            for (int i = 0; i < DPL; i++)
                res[i] += f * fo[(size_t)(v * GMAX + w) * HD + lane * DPL + i];
        }
    }
    /* dec_store_head's scratch: this warp's q row is no longer needed */
    dec_tail<HD, true>(res, M, L, act, t, g * G + (act ? w : 0), nh, c, n_act, n_split, part, cnt,
                       blockIdx.x, is_last, q_sh + (act ? w : 0) * HD, out, out_q, out_s, lane);
}

template <int HD, int NW>
bool launch_nw(cudaStream_t st, dim3 grid, const float *q, rope_args ra, int nh, int nkv,
               __half *kc, __half *vc, int n_ctx, const int32_t *pos, const int32_t *seq,
               int n_split, float *part, int *cnt, float *out, int8_t *out_q, float2 *out_s) {
    constexpr size_t smem = dec_mma_smem<HD>(NW);
    static_assert(NW * GMAX * (HD + 2) * sizeof(float) <= smem, "the fold fits the rings");
    static const bool ok =
        cudaFuncSetAttribute(attn_dec_mma_kernel<HD, NW>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) == cudaSuccess;
    if (!ok) return false;
    launch_smem(attn_dec_mma_kernel<HD, NW>, grid, dim3(32 * NW), smem, st, q, ra, nh, nkv, kc, vc,
                n_ctx, pos, seq, n_split, part, cnt, out, out_q, out_s);
    return true;
}

} // namespace

bool dec_mma_launch(cudaStream_t st, const float *q, rope_args ra, int n_tok, int nh, int nkv,
                    int hd, __half *kc, __half *vc, int n_ctx, const int32_t *pos,
                    const int32_t *seq, int n_split, float *part, int *cnt, float *out,
                    int8_t *out_q, float2 *out_s) {
    static const bool off = !lmc_switch("LOCALM_CUDA_DEC_MMA", true);
    const int G = nkv > 0 ? nh / nkv : 0;
    if (off || cc_major() < 8 || G < 1 || G > GMAX || (hd != 64 && hd != 128)) return false;
    dim3 grid(n_tok * nkv, n_split);
#define LMC_DM(HD, NW)                                                                             \
    launch_nw<HD, NW>(st, grid, q, ra, nh, nkv, kc, vc, n_ctx, pos, seq, n_split, part, cnt, out,  \
                      out_q, out_s)
    if (hd == 64) return G <= 4 ? LMC_DM(64, 4) : LMC_DM(64, 8);
    return G <= 4 ? LMC_DM(128, 4) : LMC_DM(128, 8);
#undef LMC_DM
}

} // namespace lmc
