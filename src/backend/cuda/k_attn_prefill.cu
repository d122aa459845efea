/* k_attn_prefill.cu — causal attention for prompt batches on tensor cores
 * (flash-attention style): the scores S = Q K^T and the mixing P V are
 * mma.sync m16n8k16 products in half with float accumulation, the softmax is
 * online over tiles of 64 cache positions with its state in registers, so no
 * score matrix is ever written. The scalar kernel in k_ops.cu walked the
 * context with one thread per position and took a quarter of an 8B prefill. */
#include "backend/cuda/attn_prefill.cuh"
#include "backend/cuda/cp_async.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/env_switch.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/mma.cuh"
#include <cuda_fp16.h>
#include <math.h>
#include <stdlib.h>

using namespace lmc;

namespace {

constexpr int PF_WARPS = 4;               /* 16 or 32 query rows each */
constexpr float PF_LOG2E = 1.4426950409f; /* scores in base 2: exp2 is one instruction */

/* Grid (query tiles, nh), PF_WARPS warps. Block: 16 RB PF_WARPS consecutive
 * tokens of one query head, all of sequence seq; warp w owns RB blocks of 16
 * rows from 16 RB w. Tiles of K and V (rows padded by 8 halves so
 * ldmatrix's eight row addresses fall in different banks) are loaded by the
 * whole block; a warp whose rows all end before a tile skips its
 * arithmetic. Query tiles run last-first: the late tokens see the longest
 * context and should start first.
 *
 * Each warp reads the whole K and V tile out of shared memory as mma
 * operands (32 KB a tile at head size 128) whatever its rows, so with one
 * block of 16 rows (RB = 1) the kernel is bound by shared-memory reads at
 * about half the mma rate (ncu, H200, a 2k piece of a 16k prompt on the 8B:
 * 161 TFLOP/s, SM throughput 38 %). With RB = 2 every K and V fragment
 * feeds two mma; the q fragments then no longer fit in registers beside
 * twice the output and scores, so q waits in shared memory and is read once
 * per tile, and at head size 128 tiles of KV = 32 positions keep the scores
 * within 243 registers (no spills; 255 with 64). KV, RB and the register
 * bound (three blocks per SM for RB = 1) are chosen in pf_row_blocks. */
template <int HD, int RB, int KV>
__global__ void __launch_bounds__(32 * PF_WARPS, RB == 1 ? 3 : 1)
    attn_prefill_kernel(const float *__restrict__ q, int n_tok, int nh, int nkv,
                        const __half *__restrict__ kc, const __half *__restrict__ vc, int n_ctx,
                        const int32_t *__restrict__ pos, int seq, float *__restrict__ out,
                        __half *__restrict__ out_h) {
    constexpr int LD = HD + 8, ROWS = 16 * RB * PF_WARPS, QS = RB > 1;
    /* two stages of K and V tiles, then (RB > 1) the block's q rows: dynamic;
     * at head size 128, 68 KiB with one row block, 34 + 34 KiB with two */
    extern __shared__ __align__(16) __half pf_smem[];
    __shared__ int pmax_sh;
    const int tid = threadIdx.x, lane = tid & 31, w = tid / 32, g = lane >> 2, t4 = lane & 3;
    const int tile = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, kvh = h / (nh / nkv);
    const int t0 = tile * ROWS;
    pdl_wait();
    if (tid == 0) pmax_sh = 0;
    __syncthreads();
    if (tid < ROWS / RB)
        for (int i = tid; i < ROWS; i += ROWS / RB)
            atomicMax(&pmax_sh, min(pos[min(t0 + i, n_tok - 1)], n_ctx - 1));
    /* this lane's rows (clamped to the batch: extra rows are computed and
     * not stored) and their last visible positions */
    int la[RB], lb[RB], lw = 0;
#pragma unroll
    for (int r = 0; r < RB; r++) {
        int ra = min(t0 + 16 * (RB * w + r) + g, n_tok - 1);
        int rb = min(t0 + 16 * (RB * w + r) + g + 8, n_tok - 1);
        la[r] = min(pos[ra], n_ctx - 1), lb[r] = min(pos[rb], n_ctx - 1);
        lw = max(lw, max(la[r], lb[r]));
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        lw = max(lw, __shfl_xor_sync(0xffffffffu, lw, o));

    /* q scaled into base-2 score units: A fragments in registers (RB = 1),
     * or half rows in shared memory that each warp writes for itself */
    const float sc = rsqrtf((float)HD) * PF_LOG2E;
    uint32_t qf[QS ? 1 : HD / 16][4];
    __half *qs = pf_smem + (size_t)4 * KV * LD + (size_t)(16 * RB * w) * LD;
    if constexpr (QS) {
        for (int i = lane; i < 16 * RB * HD / 2; i += 32) {
            int r = i / (HD / 2), c = 2 * (i % (HD / 2));
            int t = min(t0 + 16 * RB * w + r, n_tok - 1);
            float2 v = *(const float2 *)(q + (size_t)t * nh * HD + (size_t)h * HD + c);
            *(__half2 *)(qs + r * LD + c) = __floats2half2_rn(v.x * sc, v.y * sc);
        }
        __syncwarp();
    } else {
        const int ra = min(t0 + 16 * w + g, n_tok - 1), rb = min(t0 + 16 * w + g + 8, n_tok - 1);
        const float *qa = q + (size_t)ra * nh * HD + (size_t)h * HD;
        const float *qb = q + (size_t)rb * nh * HD + (size_t)h * HD;
#pragma unroll
        for (int k = 0; k < HD / 16; k++) {
            int c = 16 * k + 2 * t4;
            float2 a0 = *(const float2 *)(qa + c), a1 = *(const float2 *)(qb + c);
            float2 a2 = *(const float2 *)(qa + c + 8), a3 = *(const float2 *)(qb + c + 8);
            qf[k][0] = pack_half2(a0.x * sc, a0.y * sc);
            qf[k][1] = pack_half2(a1.x * sc, a1.y * sc);
            qf[k][2] = pack_half2(a2.x * sc, a2.y * sc);
            qf[k][3] = pack_half2(a3.x * sc, a3.y * sc);
        }
    }
    float o[RB][HD / 8][4];
    float ma[RB], mb[RB], sa[RB], sb[RB]; /* sums: this lane's part */
#pragma unroll
    for (int r = 0; r < RB; r++) {
#pragma unroll
        for (int n = 0; n < HD / 8; n++)
            o[r][n][0] = o[r][n][1] = o[r][n][2] = o[r][n][3] = 0.0f;
        ma[r] = mb[r] = -INFINITY, sa[r] = sb[r] = 0.0f;
    }

    __syncthreads();
    const int pmax = pmax_sh;
    const size_t prow = (size_t)nkv * HD; /* halves between cache positions */
    const __half *kb = kc + ((size_t)seq * n_ctx * nkv + kvh) * HD;
    const __half *vb = vc + ((size_t)seq * n_ctx * nkv + kvh) * HD;
    /* Tile loads are cp.async copies into the stage the block is not
     * reading, issued one tile ahead, so a tile's memory round trip overlaps
     * the previous tile's arithmetic. */
    auto stage = [&](int st, int p0) {
        __half *ks = pf_smem + (size_t)(2 * st) * KV * LD, *vs = ks + KV * LD;
        for (int i = tid; i < KV * HD / 8; i += 32 * PF_WARPS) {
            int r = i / (HD / 8), c = 8 * (i % (HD / 8));
            pf_stage_chunk(ks + r * LD + c, vs + r * LD + c, kb, vb, prow, p0 + r, pmax, c);
        }
        cp_commit();
    };
    stage(0, 0);
    for (int p0 = 0, it = 0; p0 <= pmax; p0 += KV, it++) {
        if (p0 + KV <= pmax)
            stage((it + 1) & 1, p0 + KV);
        else
            cp_commit(); /* an empty group keeps the count uniform */
        cp_wait<1>();    /* all but the newest group: this tile is in */
        const __half *ks = pf_smem + (size_t)(2 * (it & 1)) * KV * LD, *vs = ks + KV * LD;
        __syncthreads();
        if (p0 <= lw) {
            /* S = Q K^T: 8 column blocks of 8 positions, two k-steps at a time */
            float s[RB][KV / 8][4];
#pragma unroll
            for (int r = 0; r < RB; r++)
#pragma unroll
                for (int n = 0; n < KV / 8; n++)
                    s[r][n][0] = s[r][n][1] = s[r][n][2] = s[r][n][3] = 0.0f;
            if constexpr (QS) {
                /* one k-step at a time: q from shared memory for each row
                 * block, K as two 8x8 matrices (fewer live registers) */
#pragma unroll
                for (int k = 0; k < HD / 16; k++) {
                    uint32_t a[RB][4];
#pragma unroll
                    for (int r = 0; r < RB; r++)
                        ldsm4<false>(a[r], qs + (16 * r + (lane & 7) + 8 * ((lane >> 3) & 1)) * LD +
                                               16 * k + 8 * (lane >> 4));
#pragma unroll
                    for (int n = 0; n < KV / 8; n++) {
                        uint32_t b[2];
                        ldsm2(b, ks + (8 * n + (lane & 7)) * LD + 16 * k + 8 * ((lane >> 3) & 1));
#pragma unroll
                        for (int r = 0; r < RB; r++)
                            mma16816(s[r][n], a[r], b[0], b[1]);
                    }
                }
            } else {
#pragma unroll
                for (int n = 0; n < KV / 8; n++)
#pragma unroll
                    for (int k = 0; k < HD / 16; k += 2) {
                        uint32_t b[4]; /* b0, b1 of k-step k, then of k + 1 */
                        ldsm4<false>(b, ks + (8 * n + (lane & 7)) * LD + 16 * k + 8 * (lane >> 3));
                        mma16816(s[0][n], qf[k], b[0], b[1]);
                        mma16816(s[0][n], qf[k + 1], b[2], b[3]);
                    }
            }
            uint32_t pf[RB][KV / 16][4]; /* P as A fragments: two column blocks each */
#pragma unroll
            for (int r = 0; r < RB; r++) { /* causal mask and the online softmax update */
                pf_softmax_step<KV, HD>(&s[r][0][0], &o[r][0][0], pf[r], p0, t4, la[r], lb[r],
                                        ma[r], mb[r], sa[r], sb[r]);
            }
            /* O += P V: V transposed out of shared memory as the B operand */
#pragma unroll
            for (int k = 0; k < KV / 16; k++)
#pragma unroll
                for (int n = 0; n < HD / 8; n += 2) {
                    uint32_t b[4]; /* b0, b1 of column block n, then of n + 1 */
                    ldsm4<true>(b, vs + (16 * k + (lane & 7) + 8 * ((lane >> 3) & 1)) * LD +
                                       8 * (n + (lane >> 4)));
#pragma unroll
                    for (int r = 0; r < RB; r++) {
                        mma16816(o[r][n], pf[r][k], b[0], b[1]);
                        mma16816(o[r][n + 1], pf[r][k], b[2], b[3]);
                    }
                }
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < RB; r++) {
        const int ta = t0 + 16 * (RB * w + r) + g;
        pf_store_rows<HD>(&o[r][0][0], sa[r], sb[r], h, t4, ta, ta + 8, n_tok, nh, out, out_h);
    }
}

template <int HD, int RB, int KV = RB == 1 || HD <= 64 ? 64 : 32>
bool pf_launch(cudaStream_t st, const float *q, int n_tok, int nh, int nkv, const __half *kc,
               const __half *vc, int n_ctx, const int32_t *pos, int seq, float *out,
               __half *out_h) {
    const size_t smem =
        (size_t)(4 * KV + (RB > 1 ? 16 * RB * PF_WARPS : 0)) * (HD + 8) * sizeof(__half);
    static const bool ok =
        cudaFuncSetAttribute(attn_prefill_kernel<HD, RB, KV>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) == cudaSuccess;
    if (!ok) return false;
    const int rows = 16 * RB * PF_WARPS;
    dim3 grid((n_tok + rows - 1) / rows, nh), block(32 * PF_WARPS);
    launch_smem(attn_prefill_kernel<HD, RB, KV>, grid, block, smem, st, q, n_tok, nh, nkv, kc, vc,
                n_ctx, pos, seq, out, out_h);
    return true;
}

/* LOCALM_CUDA_PF_RB: 0 (default), 1 or 2 (this file's forms), 3 (the
 * warpgroup kernel, k_attn_wg.cu). */
int pf_forced() {
    const char *e = getenv("LOCALM_CUDA_PF_RB");
    return e ? atoi(e) : 0;
}

/* Two row blocks per warp once their blocks fill every SM twice (two fit),
 * at head size 128 always, at 64 only for long contexts. H100 (same-machine
 * A/Bs, t/s): 8B Q4_K_M (head size 128) 16k-token prompts 20.9-21.0k ->
 * 23.1-23.3k (the attention of the last 2k piece 3.09 -> 2.43 ms a layer),
 * 2k within noise; 1.1B Q4_0 (64) 16k 85.0-85.3k -> 88.4-90.8k, but 2k
 * 190.5-191.3k -> 186.7-187.3k and 512 tokens slower too. Also measured: one
 * row block held to 168 registers (three blocks per SM, with a few spills):
 * 8B 16k 20.9-21.0k -> 21.8k, 1.1B 16k 82.6-82.7k -> 85.0-85.3k, 512 and 2k
 * within noise (kept). LOCALM_CUDA_PF_RB=1|2 forces one form, for
 * measurements and tests (read at every call: one getenv per layer is
 * nothing beside the attention). */
int pf_row_blocks(int n_tok, int nh, int hd, int ctx) {
    int forced = pf_forced();
    if (forced == 1 || forced == 2) return forced;
    bool fill = (long)(n_tok + 127) / 128 * nh >= 2L * sm_count();
    return fill && (hd >= 128 || ctx >= 4096) ? 2 : 1;
}

} // namespace

extern "C" bool lmc_attention_prefill(cudaStream_t st, const float *q, int n_tok, int nh, int nkv,
                                      int hd, const uint16_t *k_cache, const uint16_t *v_cache,
                                      int n_ctx, const int32_t *pos, int ctx, int seq, float *out,
                                      uint16_t *out_h) {
    /* mma.sync m16n8k16 in half needs compute capability 8.0 */
    if (n_tok < 1 || nkv < 1 || nh % nkv || (!out == !out_h) || cc_major() < 8) return false;
    const int forced = pf_forced();
    /* LOCALM_CUDA_PF_WG=0: not the warpgroup kernel (A/Bs) */
    if ((forced == 3 || (forced == 0 && lmc_switch("LOCALM_CUDA_PF_WG", true))) &&
        lmc_attention_prefill_wg(st, q, n_tok, nh, nkv, hd, k_cache, v_cache, n_ctx, pos, seq, out,
                                 out_h))
        return true;
    if (forced == 3) return false;
    const __half *kc = (const __half *)k_cache, *vc = (const __half *)v_cache;
    __half *oh = (__half *)out_h;
    bool two = pf_row_blocks(n_tok, nh, hd, ctx) == 2;
    switch (hd) {
    case 64:
        return two ? pf_launch<64, 2>(st, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out, oh)
                   : pf_launch<64, 1>(st, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out, oh);
    case 128:
        return two ? pf_launch<128, 2>(st, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out, oh)
                   : pf_launch<128, 1>(st, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out, oh);
    default:
        return false;
    }
}
