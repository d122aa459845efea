/* attn_dec.cuh — pieces shared by the decode attention kernels (k_ops.cu's
 * per-lane form, k_attn_dec.cu's tensor-core form): how a context is split
 * into chunks, the preparation of the token's own q, k and v inside the
 * kernel, and the end of a block (its partial published, the last block of a
 * (token, KV head) merging the chunks). */
#ifndef LM_BACKEND_CUDA_ATTN_DEC_CUH
#define LM_BACKEND_CUDA_ATTN_DEC_CUH
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/quant.cuh"
#include <cuda_fp16.h>
#include <math.h>

namespace lmc {

/* *p += v at device scope with acquire and release semantics; the old value. */
__device__ __forceinline__ int atom_add_acq_rel(int *p, int v) {
    int old;
    asm volatile("atom.acq_rel.gpu.add.s32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
    return old;
}

/* Positions a decode block takes: one tile of 32, so a block's critical path
 * is one K and one V round trip (chunks of 64, two tiles, measured ~13 us
 * per 8B layer under ncu at 576 positions, a chain of memory round trips). */
constexpr int DEC_CHUNK = LMC_DEC_TILE;

/* The chunk of a token whose context holds len positions, split over at most
 * n_split blocks: the fewest whole tiles of 32 per block that cover it. From
 * the token's own length, not n_ctx: the grid is fixed when the decode graph
 * is captured, and a chunk of n_ctx / n_split made a long-context model's
 * short conversation run a few blocks of many tiles each (H200, 8B Q4_K_M at
 * ~576 positions: 431 t/s with n_ctx 641, 395 with 32768, 293 with 131072). */
__device__ __forceinline__ int dec_chunk(int len, int n_split) {
    const int per = DEC_CHUNK * n_split;
    return DEC_CHUNK * ((len + per - 1) / per);
}

/* Writes one head's output (v[DPL] per lane, lane-major dimensions) to out
 * and, with out_q, its q8 blocks; buf is HD floats of the warp's shared memory. */
template <int HD>
__device__ __forceinline__ void dec_store_head(const float *v, float *buf, size_t at, float *out,
                                               int8_t *out_q, float2 *out_s, int lane) {
    constexpr int DPL = HD / 32;
#pragma unroll
    for (int i = 0; i < DPL; i++)
        out[at + lane * DPL + i] = v[i];
    if (!out_q) return;
    __syncwarp();
#pragma unroll
    for (int i = 0; i < DPL; i++)
        buf[lane * DPL + i] = v[i];
    __syncwarp();
#pragma unroll
    for (int gi = 0; gi < HD / 32; gi++) {
        size_t i = at + gi * 32 + lane;
        warp_store_q8(buf[gi * 32 + lane], out_q + i, out_s + i / 32, lane);
    }
}

/* What the decode attention needs to prepare a single token's q, k and v
 * itself (qkv non-NULL): the raw projections [(nh + 2 nkv) * hd], their
 * biases, the q/k RMSNorm weights (or NULL) and RoPE; it then also stores
 * k and v into the caches, so no separate kernel runs before it. */
struct rope_args {
    const float *qkv, *bias, *q_norm, *k_norm, *inv_freq;
    float eps;
    int layout;
};

/* One warp prepares one head vector as lmc_qkv_rope does: src (+ bias), RMS
 * normalised with nw when given, rotated for position p when rotate, times
 * scale, into dst (HD floats, shared memory). */
template <int HD>
__device__ __forceinline__ void warp_prep_head(const float *src, const float *bias, const float *nw,
                                               float eps, const float *inv_freq, int layout, int p,
                                               bool rotate, float scale, float *dst, int lane) {
    constexpr int PPL = HD / 64; /* rotary pairs per lane */
    float x0[PPL], x1[PPL];
    int i0[PPL], i1[PPL];
    float ss = 0.0f;
#pragma unroll
    for (int k = 0; k < PPL; k++) {
        int i = lane + 32 * k;
        i0[k] = layout ? 2 * i : i;
        i1[k] = layout ? 2 * i + 1 : i + HD / 2;
        x0[k] = src[i0[k]] + (bias ? bias[i0[k]] : 0.0f);
        x1[k] = src[i1[k]] + (bias ? bias[i1[k]] : 0.0f);
        ss += x0[k] * x0[k] + x1[k] * x1[k];
    }
    float sc = nw ? rsqrtf(warp_sum(ss) / (float)HD + eps) : 1.0f;
#pragma unroll
    for (int k = 0; k < PPL; k++) {
        float a = x0[k], b = x1[k];
        if (nw) a *= sc * nw[i0[k]], b *= sc * nw[i1[k]];
        if (rotate) {
            float sn, cs;
            sincosf((float)p * inv_freq[lane + 32 * k], &sn, &cs);
            float y0 = a * cs - b * sn, y1 = a * sn + b * cs;
            a = y0, b = y1;
        }
        dst[i0[k]] = a * scale;
        dst[i1[k]] = b * scale;
    }
}

/* Rounds a prepared K or V row to the cache's half precision, stores it at
 * its cache row, and keeps the rounded values in dst for this kernel. */
template <int HD>
__device__ __forceinline__ void warp_store_row(float *dst, __half *row, int lane) {
    __syncwarp();
    for (int d = lane; d < HD; d += 32) {
        __half hv = __float2half_rn(dst[d]);
        row[d] = hv;
        dst[d] = __half2float(hv);
    }
}

/* The end of a decode attention block for head h of token t, chunk c of
 * n_act: o (lane-major, DPL dimensions a lane) is the chunk's unnormalised
 * output, m its score maximum, l its sum of exp(score - m). With the whole
 * context in one chunk the normalised output is written (and its q8 blocks);
 * otherwise the partial goes to part, and the last block of the (token, KV
 * head) to count itself in, found with cnt[ci], merges every chunk. Every
 * thread of the block calls it (it has block barriers); act: this warp holds
 * a head. buf: HD floats of the warp's shared memory; is_last: a shared int.
 * BATCH: the merge in batches (the tensor-core kernel; see below). */
template <int HD, bool BATCH>
__device__ __forceinline__ void dec_tail(float (&o)[HD / 32], float m, float l, bool act, int t,
                                         int h, int nh, int c, int n_act, int n_split, float *part,
                                         int *cnt, int ci, int &is_last, float *buf, float *out,
                                         int8_t *out_q, float2 *out_s, int lane) {
    constexpr int DPL = HD / 32;
    const size_t at = ((size_t)t * nh + h) * HD;
    if (n_act == 1) { /* the whole context was this chunk (uniform per block) */
        if (!act) return;
        float inv = 1.0f / l;
#pragma unroll
        for (int i = 0; i < DPL; i++)
            o[i] *= inv;
        dec_store_head<HD>(o, buf, at, out, out_q, out_s, lane);
        return;
    }
    const size_t stride = (size_t)HD + 2;
    const float *ph = part + ((size_t)t * nh + h) * n_split * stride;
    if (act) {
        float *dst = (float *)ph + (size_t)c * stride;
#pragma unroll
        for (int i = 0; i < DPL; i++)
            dst[lane * DPL + i] = o[i];
        if (lane == 0) dst[HD] = m, dst[HD + 1] = l;
    }
    /* publish the partial, then count this chunk in: the barrier orders the
     * block's writes before thread 0's counter update, whose release is
     * cumulative, so it publishes them all (ncu had per-thread fences among
     * the kernel's top stall sites); its acquire, for the last block, makes
     * the other blocks' partials visible before the block reads them. One
     * acq_rel atomic instead of a fence, an atomic and a second fence. */
    __syncthreads();
    if (threadIdx.x == 0) {
        int prev = atom_add_acq_rel(&cnt[ci], 1);
        is_last = prev == n_act - 1;
        if (is_last) cnt[ci] = 0; /* ready for the next step */
    }
    __syncthreads();
    if (!is_last || !act) return;
    float M = -INFINITY, L = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; i++)
        o[i] = 0.0f;
    if constexpr (BATCH) {
        /* merge in batches of MB chunks: all of a batch's loads (m, l and
         * this lane's slice) are issued before any is used, guarded rather
         * than left to a remainder loop (one round trip a chunk), and each
         * batch is folded in at the batch's maximum: ceil(n_act / MB) round
         * trips (the loop below: 2 for 32 chunks at head size 64, 4 at 128,
         * and past its whole groups one a chunk). H100, decode after
         * 2,000 / 4,000-token prompts (the tensor-core kernel's chunks of
         * two / four tiles): 1.1B Q4_0 1,364-1,372 -> 1,430-1,436 and 1,319
         * -> 1,408 t/s, 8B Q4_K_M 350.6 -> 349.4 and 340.5 -> 340.8 (noise).
         * In the one-tile kernel of short contexts the same merge was slower
         * (1.1B 1,510-1,517 -> 1,488-1,492 t/s at ~576 positions, 8B
         * 376-378 -> 373-375), so that one keeps the loop. */
        constexpr int MB = DPL <= 2 ? 32 : DPL <= 4 ? 16 : 8;
        for (int k0 = 0; k0 < n_act; k0 += MB) {
            float mk[MB], lk[MB], ok[MB][DPL];
#pragma unroll
            for (int u = 0; u < MB; u++) {
                const bool in = k0 + u < n_act;
                const float *pk = ph + (size_t)(in ? k0 + u : 0) * stride;
                mk[u] = in ? __ldcg(pk + HD) : -INFINITY;
                lk[u] = in ? __ldcg(pk + HD + 1) : 0.0f;
#pragma unroll
                for (int i = 0; i < DPL; i++)
                    ok[u][i] = in ? __ldcg(pk + lane * DPL + i) : 0.0f;
            }
            float mb = M;
#pragma unroll
            for (int u = 0; u < MB; u++)
                mb = fmaxf(mb, mk[u]);
            const float a = M > -INFINITY ? __expf(M - mb) : 0.0f; /* the first batch */
            L *= a;
#pragma unroll
            for (int i = 0; i < DPL; i++)
                o[i] *= a;
#pragma unroll
            for (int u = 0; u < MB; u++) {
                const float b = mk[u] > -INFINITY ? __expf(mk[u] - mb) : 0.0f;
                L += lk[u] * b;
#pragma unroll
                for (int i = 0; i < DPL; i++)
                    o[i] += ok[u][i] * b;
            }
            M = mb;
        }
    } else {
        /* merge: chunk k weighs exp(m_k - M) / L, folded in with a running
         * maximum, so the loads of MU chunks (m, l and this lane's slice)
         * are independent and in flight together: one round trip per MU
         * chunks (three passes, maxima, sums, outputs, took two more) */
        constexpr int MU = DPL <= 2 ? 16 : DPL <= 4 ? 8 : 4;
#pragma unroll MU
        for (int k = 0; k < n_act; k++) {
            const float *pk = ph + k * stride;
            const float mk = __ldcg(pk + HD), lk = __ldcg(pk + HD + 1);
            float ok[DPL];
#pragma unroll
            for (int i = 0; i < DPL; i++)
                ok[i] = __ldcg(pk + lane * DPL + i);
            const float mn = fmaxf(M, mk), b = __expf(mk - mn);
            const float a = M > -INFINITY ? __expf(M - mn) : 0.0f; /* the first chunk */
            L = L * a + lk * b;
#pragma unroll
            for (int i = 0; i < DPL; i++)
                o[i] = o[i] * a + ok[i] * b;
            M = mn;
        }
    }
    float inv = L > 0.0f ? 1.0f / L : 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; i++)
        o[i] *= inv;
    dec_store_head<HD>(o, buf, at, out, out_q, out_s, lane);
}

/* The tensor-core decode attention (k_attn_dec.cu) for the staged form (chunks
 * of several tiles): false where it does not apply (head size other than 64
 * or 128, more than 8 query heads per KV head, compute capability below 8.0,
 * or LOCALM_CUDA_DEC_MMA=0), so the caller runs the per-lane form. */
bool dec_mma_launch(cudaStream_t st, const float *q, rope_args ra, int n_tok, int nh, int nkv,
                    int hd, __half *kc, __half *vc, int n_ctx, const int32_t *pos,
                    const int32_t *seq, int n_split, float *part, int *cnt, float *out,
                    int8_t *out_q, float2 *out_s);

} // namespace lmc
#endif
