/* k_attn_wg.cu — causal attention for prompt batches on Hopper's warpgroup
 * tensor cores (wgmma). The mma.sync kernel (k_attn_prefill.cu) runs at
 * about a fifth of the tensor rate: each warp reads every K and V fragment
 * out of shared memory through its registers for 16-32 query rows, and its
 * two dependent products per tile stall on their own latency. Here a
 * warpgroup owns 64 query rows and multiplies with wgmma: S = Q K^T with its
 * q tile and the K tile read by the tensor cores straight from shared
 * memory, then O += P V with the probabilities in registers (the scores'
 * accumulator layout is the A operand's) and the V tile read from shared
 * memory as an N-major operand. Two warpgroups share each staged tile and
 * take turns on the tensor cores, so one's products run during the other's
 * softmax. A block's rows are several query heads of one KV head (grouped-query
 * models), so each tile serves them all. H100, prompt t/s against the
 * mma.sync kernel (same build, LOCALM_CUDA_PF_WG=0), before the turns
 * below: 8B Q4_K_M 16k tokens 23.3k -> 25.9k, 1.1B Q4_0 16k 90.2k -> 98.6k,
 * 2k 189.4k -> 202.8k; 8B 2k and 512-token prompts within noise.
 *
 * K and V tiles (128 positions) are staged by cp.async into 128-byte swizzle
 * atoms: a tile is HD / 64 column blocks of WG_KV rows x 128 bytes, 16-byte
 * chunk c of row r stored at chunk c ^ (r & 7), which is the layout both
 * descriptors describe (K as a K-major B, V as an N-major B). Needs code built
 * for sm_90a; lmc_wgmma_loaded() says whether the device runs such code. */
#include "backend/cuda/attn_prefill.cuh"
#include "backend/cuda/cp_async.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/wgmma.cuh"
#include <cuda_fp16.h>
#include <math.h>
#include <stdlib.h>

using namespace lmc;

namespace {

constexpr float WG_LOG2E = 1.4426950409f; /* scores in base 2 */
/* Tiles of 128 positions, two warpgroups (128 query rows) a block, one block
 * an SM. H100, 16k-token prompts, t/s: 8B Q4_K_M 24.6k (64-position tiles,
 * one warpgroup a block, two blocks an SM) / 25.0k (64, two) / 23.9k (128,
 * one) / 25.9k (128, two); 1.1B Q4_0 97.5k / 93.3k / 99.4k / 98.6k; 2k-token
 * prompts within noise of each other. */
constexpr int WG_KV = 128;
constexpr int WG_GROUPS = 2;

/* Named barrier id (0 is __syncthreads'): arrive does not wait. */
__device__ __forceinline__ void bar_sync(int id, int n) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id, int n) {
    asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(n) : "memory");
}

__device__ int wg_probe_flag;
__global__ void wg_probe_kernel() {
    wg_probe_flag = LMC_WGMMA;
}

/* Grid (query tiles, nh / gp): a block's WG_ROWS rows are gp query heads
 * that share a KV head times WG_ROWS / gp consecutive tokens (all of
 * sequence seq), row m being head m / (WG_ROWS / gp) of the group and token
 * m % (WG_ROWS / gp) of the tile: every K/V tile the block stages serves all
 * gp heads, which cuts the tiles' traffic from L2 gp-fold (with one head a
 * block, that traffic held the kernel). Warpgroup w takes rows 64 w ..
 * 64 w + 63, its warp u rows 16 u .. 16 u + 15 of those (the wgmma fragment
 * layout; gp <= 8, so a warp's rows are one head). Query tiles run
 * last-first: the late tokens see the longest context. vlbo, vsbo: the V
 * descriptor's strides (see the launcher). */
template <int HD>
__global__ void __launch_bounds__(128 * WG_GROUPS, 1)
    attn_wg_kernel(const float *__restrict__ q, int n_tok, int nh, int nkv,
                   const __half *__restrict__ kc, const __half *__restrict__ vc, int n_ctx,
                   const int32_t *__restrict__ pos, int seq, float *__restrict__ out,
                   __half *__restrict__ out_h, int gp, uint32_t vlbo, uint32_t vsbo) {
    constexpr int TILE = HD / 64 * WG_KV * 128; /* bytes of a K or V tile */
    static_assert(WG_KV == 128, "S products are m64n128");
    constexpr int WG_ROWS = 64 * WG_GROUPS, WG_THREADS = 128 * WG_GROUPS;
    extern __shared__ uint8_t wg_smem_raw[];
    /* swizzle atoms start on 1024-byte boundaries (the launcher adds the slack) */
    uint8_t *sm = (uint8_t *)(((uintptr_t)wg_smem_raw + 1023) & ~(uintptr_t)1023);
    __shared__ int pmax_sh;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
    const int g = lane >> 2, t4 = lane & 3;
    const int tpb = WG_ROWS / gp; /* tokens a block */
    const int tile = gridDim.x - 1 - blockIdx.x, h = blockIdx.y * gp + 16 * warp / tpb;
    const int kvh = h / (nh / nkv), t0 = tile * tpb;
    pdl_wait();
    if (tid == 0) pmax_sh = 0;
    __syncthreads();
    if (tid < tpb) atomicMax(&pmax_sh, min(pos[min(t0 + tid, n_tok - 1)], n_ctx - 1));
    /* this lane's rows, of head h (clamped to the batch: extra rows are
     * computed and not stored) and their last visible positions */
    const int r0 = t0 + (16 * warp + g) % tpb;
    const int ra = min(r0, n_tok - 1), rb = min(r0 + 8, n_tok - 1);
    const int la = min(pos[ra], n_ctx - 1), lb = min(pos[rb], n_ctx - 1);

    /* q scaled into base-2 score units, in half, into this warpgroup's q tile
     * (the A operand of S = Q K^T, K-major, in the tiles' swizzle atoms). In
     * shared memory rather than as register fragments: held in registers
     * across the tile loop, ptxas once put P into q's registers (see
     * bench/NOTES-cuda.md, pass 16). */
    uint8_t *qs = sm + 4 * TILE + (size_t)wg * HD * 128;
    {
        const float sc = rsqrtf((float)HD) * WG_LOG2E;
        for (int i = tid & 127; i < 64 * HD / 8; i += 128) {
            const int r = i / (HD / 8), c = i % (HD / 8), m = 64 * wg + r;
            const int t = min(t0 + m % tpb, n_tok - 1), hm = blockIdx.y * gp + m / tpb;
            const float4 *src = (const float4 *)(q + (size_t)t * nh * HD + (size_t)hm * HD + 8 * c);
            const float4 a = src[0], b = src[1];
            uint4 v;
            v.x = pack_half2(a.x * sc, a.y * sc), v.y = pack_half2(a.z * sc, a.w * sc);
            v.z = pack_half2(b.x * sc, b.y * sc), v.w = pack_half2(b.z * sc, b.w * sc);
            *(uint4 *)(qs + (c >> 3) * (64 * 128) + r * 128 + (((c & 7) ^ (r & 7)) << 4)) = v;
        }
        fence_proxy_async(); /* the tile loop's first barrier publishes it */
    }
    float o[HD / 2]; /* 64 x HD accumulators of the warpgroup, this lane's share */
#pragma unroll
    for (int i = 0; i < HD / 2; i++)
        o[i] = 0.0f;
    float ma = -INFINITY, mb = -INFINITY, sa = 0.0f, sb = 0.0f; /* sums: this lane's part */

    __syncthreads();
    const int pmax = pmax_sh;
    const size_t prow = (size_t)nkv * HD; /* halves between cache positions */
    const __half *kb = kc + ((size_t)seq * n_ctx * nkv + kvh) * HD;
    const __half *vb = vc + ((size_t)seq * n_ctx * nkv + kvh) * HD;
    /* Tile loads: cp.async into the stage the block is not reading, one
     * tile ahead. */
    auto stage = [&](int st, int p0) {
        uint8_t *ks = sm + (size_t)st * 2 * TILE, *vs = ks + TILE;
        for (int i = tid; i < WG_KV * HD / 8; i += WG_THREADS) {
            const int r = i / (HD / 8), c = i % (HD / 8);
            const int off = (c >> 3) * (WG_KV * 128) + r * 128 + (((c & 7) ^ (r & 7)) << 4);
            pf_stage_chunk(ks + off, vs + off, kb, vb, prow, p0 + r, pmax, 8 * c);
        }
        cp_commit();
    };
    if (wg == 1) bar_arrive(1, WG_THREADS); /* warpgroup 0 goes first */
    stage(0, 0);
    for (int p0 = 0, it = 0; p0 <= pmax; p0 += WG_KV, it++) {
        if (p0 + WG_KV <= pmax)
            stage((it + 1) & 1, p0 + WG_KV);
        else
            cp_commit(); /* an empty group keeps the count uniform */
        cp_wait<1>();    /* all but the newest group: this tile is in */
        fence_proxy_async();
        __syncthreads();
        const uint8_t *ks = sm + (size_t)(it & 1) * 2 * TILE, *vs = ks + TILE;
        float s[WG_KV / 2];
        /* The warpgroups issue their S products in turn (each waits on its
         * named barrier, which the other arrives at once it has issued), so
         * one's product runs during the other's softmax instead of both
         * softmaxes leaving the tensor cores idle: H100, 16k-token prompts,
         * 8B 26.3k -> 26.9k t/s, 1.1B 95.4-97.1k -> 99.6-100.2k. The same
         * code in both (no wgmma on a divergent path, which ptxas would
         * serialise), and every tile is multiplied by both warpgroups: a
         * warpgroup whose rows all end before a tile gets zero probabilities
         * there. */
        bar_sync(1 + wg, WG_THREADS);
        {
            /* S = Q K^T: HD / 16 k-steps of 32 bytes along the swizzled rows
             * of the column blocks */
#pragma unroll
            for (int i = 0; i < WG_KV / 2; i++)
                s[i] = 0.0f;
            wg_fence();
#pragma unroll
            for (int k = 0; k < HD / 16; k++)
                wg_ss_n128<0>(s, wg_desc(qs + (k >> 2) * (64 * 128) + (k & 3) * 32, 16, 1024),
                              wg_desc(ks + (k >> 2) * (WG_KV * 128) + (k & 3) * 32, 16, 1024));
            wg_commit();
        }
        bar_arrive(2 - wg, WG_THREADS);
        {
            wg_wait<0>();
            wg_fence_acc(s);
            uint32_t pf[WG_KV / 16][4]; /* P as A fragments */
            pf_softmax_step<WG_KV, HD>(s, o, pf, p0, t4, la, lb, ma, mb, sa, sb);
            /* O += P V: 16 positions a k-step, V N-major (hd along the rows) */
            wg_fence();
#pragma unroll
            for (int k = 0; k < WG_KV / 16; k++) {
                const uint64_t d = wg_desc(vs + k * 16 * 128, vlbo, vsbo);
                if constexpr (HD == 128)
                    wg_rs_n128<1>(o, pf[k], d);
                else
                    wg_rs_n64<1>(o, pf[k], d);
            }
            wg_commit();
            wg_wait<0>();
            wg_fence_acc(o);
        }
        __syncthreads();
    }
    if (wg == 0) bar_sync(1, WG_THREADS); /* warpgroup 1's last arrival */
    pf_store_rows<HD>(o, sa, sb, h, t4, r0, r0 + 8, n_tok, nh, out, out_h);
}

template <int HD>
bool wg_launch(cudaStream_t st, const float *q, int n_tok, int nh, int nkv, const __half *kc,
               const __half *vc, int n_ctx, const int32_t *pos, int seq, float *out,
               __half *out_h) {
    /* 2 stages of K and V, the warpgroups' q tiles, alignment slack */
    const size_t smem = (size_t)4 * (HD / 64) * WG_KV * 128 + (size_t)WG_GROUPS * HD * 128 + 1024;
    static const bool ok =
        cudaFuncSetAttribute(attn_wg_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)smem) == cudaSuccess;
    if (!ok) return false;
    /* V as an N-major operand: lbo = bytes between its 64-wide column
     * blocks, sbo = bytes between groups of 8 positions */
    const uint32_t lbo = WG_KV * 128, sbo = 1024;
    /* heads a block: the most of a KV head's group that divide it */
    const int G = nh / nkv;
    int gp = 4 * WG_GROUPS; /* at most 8, and a warp's 16 rows of one head */
    while (G % gp)
        gp /= 2;
    const int tpb = 64 * WG_GROUPS / gp;
    dim3 grid((n_tok + tpb - 1) / tpb, nh / gp), block(128 * WG_GROUPS);
    launch_smem(attn_wg_kernel<HD>, grid, block, smem, st, q, n_tok, nh, nkv, kc, vc, n_ctx, pos,
                seq, out, out_h, gp, lbo, sbo);
    return true;
}

} // namespace

extern "C" bool lmc_wgmma_loaded(void) {
    static int loaded = -1;
    if (loaded < 0) {
        int v = 0;
        loaded = cc_major() >= 9 &&
                         cudaLaunchKernel((const void *)wg_probe_kernel, dim3(1), dim3(1), NULL, 0,
                                          0) == cudaSuccess &&
                         cudaMemcpyFromSymbol(&v, wg_probe_flag, sizeof v) == cudaSuccess
                     ? v
                     : 0;
        (void)cudaGetLastError();
    }
    return loaded == 1;
}

extern "C" bool lmc_attention_prefill_wg(cudaStream_t st, const float *q, int n_tok, int nh,
                                         int nkv, int hd, const uint16_t *k_cache,
                                         const uint16_t *v_cache, int n_ctx, const int32_t *pos,
                                         int seq, float *out, uint16_t *out_h) {
    if (n_tok < 1 || nkv < 1 || nh % nkv || (!out == !out_h) || !lmc_wgmma_loaded()) return false;
    const __half *kc = (const __half *)k_cache, *vc = (const __half *)v_cache;
    __half *oh = (__half *)out_h;
    switch (hd) {
    case 64:
        return wg_launch<64>(st, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out, oh);
    case 128:
        return wg_launch<128>(st, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out, oh);
    default:
        return false;
    }
}
