/* k_attn_prefill.cu — causal attention for prompt batches on tensor cores
 * (flash-attention style): the scores S = Q K^T and the mixing P V are
 * mma.sync m16n8k16 products in half with float accumulation, the softmax is
 * online over tiles of 64 cache positions with its state in registers, so no
 * score matrix is ever written. The scalar kernel in k_ops.cu walked the
 * context with one thread per position and took a quarter of an 8B prefill. */
#include "backend/cuda/cp_async.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include <cuda_fp16.h>
#include <math.h>

using namespace lmc;

namespace {

constexpr int PF_WARPS = 4;               /* 16 query rows each */
constexpr int PF_ROWS = 16 * PF_WARPS;    /* query tokens per block */
constexpr int PF_KV = 64;                 /* cache positions per tile */
constexpr float PF_LOG2E = 1.4426950409f; /* scores in base 2: exp2 is one instruction */

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
    __half2 h = __floats2half2_rn(a, b);
    return *(uint32_t *)&h;
}

/* c (16x8 float) += a (16x16 half, row-major fragments) * b (16x8 half). The
 * fragment layouts are those of the PTX ISA for m16n8k16: lane = 4 g + t
 * holds rows g and g + 8, columns 2t and 2t + 1 of c. */
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

/* Four 8x8 half matrices from shared memory, rows addressed by lanes 8i..8i+7
 * for matrix i; TRANS delivers them transposed (V as the B operand). */
template <bool TRANS> __device__ __forceinline__ void ldsm4(uint32_t (&r)[4], const __half *p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
#else
    (void)p;
    r[0] = r[1] = r[2] = r[3] = 0;
#endif
}

/* Grid (query tiles, nh), PF_WARPS warps. Block: PF_ROWS consecutive tokens of
 * one query head, all of sequence seq; warp w owns rows 16w..16w+15. Tiles of
 * K and V (rows padded by 8 halves so ldmatrix's eight row addresses fall in
 * different banks) are loaded by the whole block; a warp whose rows all end
 * before a tile skips its arithmetic. Query tiles run last-first: the late
 * tokens see the longest context and should start first. */
template <int HD>
__global__ void __launch_bounds__(32 * PF_WARPS)
    attn_prefill_kernel(const float *__restrict__ q, int n_tok, int nh, int nkv,
                        const __half *__restrict__ kc, const __half *__restrict__ vc, int n_ctx,
                        const int32_t *__restrict__ pos, int seq, float *__restrict__ out,
                        __half *__restrict__ out_h) {
    constexpr int LD = HD + 8;
    /* two stages of K and V tiles (dynamic: 68 KiB at head size 128) */
    extern __shared__ __align__(16) __half pf_smem[];
    __shared__ int pmax_sh;
    const int tid = threadIdx.x, lane = tid & 31, w = tid / 32, g = lane >> 2, t4 = lane & 3;
    const int tile = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, kvh = h / (nh / nkv);
    const int t0 = tile * PF_ROWS;
    pdl_wait();
    if (tid == 0) pmax_sh = 0;
    __syncthreads();
    if (tid < PF_ROWS) {
        int t = min(t0 + tid, n_tok - 1);
        atomicMax(&pmax_sh, min(pos[t], n_ctx - 1));
    }
    /* this lane's two rows (clamped to the batch: extra rows are computed
     * and not stored) and their last visible positions */
    const int ra = min(t0 + 16 * w + g, n_tok - 1), rb = min(t0 + 16 * w + g + 8, n_tok - 1);
    const int la = min(pos[ra], n_ctx - 1), lb = min(pos[rb], n_ctx - 1);
    int lw = max(la, lb);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        lw = max(lw, __shfl_xor_sync(0xffffffffu, lw, o));

    /* q as A fragments, scaled into base-2 score units */
    const float sc = rsqrtf((float)HD) * PF_LOG2E;
    uint32_t qf[HD / 16][4];
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
    float o[HD / 8][4];
#pragma unroll
    for (int n = 0; n < HD / 8; n++)
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float ma = -INFINITY, mb = -INFINITY, sa = 0.0f, sb = 0.0f; /* sums: this lane's part */

    __syncthreads();
    const int pmax = pmax_sh;
    const size_t prow = (size_t)nkv * HD; /* halves between cache positions */
    const __half *kb = kc + ((size_t)seq * n_ctx * nkv + kvh) * HD;
    const __half *vb = vc + ((size_t)seq * n_ctx * nkv + kvh) * HD;
    /* Tile loads are cp.async copies into the stage the block is not
     * reading, issued one tile ahead, so a tile's memory round trip overlaps
     * the previous tile's arithmetic. */
    auto stage = [&](int st, int p0) {
        __half *ks = pf_smem + (size_t)(2 * st) * PF_KV * LD, *vs = ks + PF_KV * LD;
        for (int i = tid; i < PF_KV * HD / 8; i += 32 * PF_WARPS) {
            int r = i / (HD / 8), c = 8 * (i % (HD / 8));
            /* past pmax: zero-filled, so masked probabilities never meet
             * uninitialised values */
            bool in = p0 + r <= pmax;
            size_t src = (size_t)(in ? p0 + r : 0) * prow + c;
            cp_async16(ks + r * LD + c, kb + src, in ? 16 : 0);
            cp_async16(vs + r * LD + c, vb + src, in ? 16 : 0);
        }
        cp_commit();
    };
    stage(0, 0);
    for (int p0 = 0, it = 0; p0 <= pmax; p0 += PF_KV, it++) {
        if (p0 + PF_KV <= pmax)
            stage((it + 1) & 1, p0 + PF_KV);
        else
            cp_commit(); /* an empty group keeps the count uniform */
        cp_wait<1>();    /* all but the newest group: this tile is in */
        const __half *ks = pf_smem + (size_t)(2 * (it & 1)) * PF_KV * LD, *vs = ks + PF_KV * LD;
        __syncthreads();
        if (p0 <= lw) {
            /* S = Q K^T: 8 column blocks of 8 positions */
            float s[PF_KV / 8][4];
#pragma unroll
            for (int n = 0; n < PF_KV / 8; n++) {
                s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
                for (int k = 0; k < HD / 16; k += 2) {
                    uint32_t b[4]; /* b0, b1 of k-step k, then of k + 1 */
                    ldsm4<false>(b, ks + (8 * n + (lane & 7)) * LD + 16 * k + 8 * (lane >> 3));
                    mma16816(s[n], qf[k], b[0], b[1]);
                    mma16816(s[n], qf[k + 1], b[2], b[3]);
                }
            }
            /* causal mask and the online softmax update */
            float xa = -INFINITY, xb = -INFINITY;
#pragma unroll
            for (int n = 0; n < PF_KV / 8; n++) {
                int p = p0 + 8 * n + 2 * t4;
                if (p > la) s[n][0] = -INFINITY;
                if (p + 1 > la) s[n][1] = -INFINITY;
                if (p > lb) s[n][2] = -INFINITY;
                if (p + 1 > lb) s[n][3] = -INFINITY;
                xa = fmaxf(xa, fmaxf(s[n][0], s[n][1]));
                xb = fmaxf(xb, fmaxf(s[n][2], s[n][3]));
            }
#pragma unroll
            for (int off = 1; off < 4; off <<= 1) {
                xa = fmaxf(xa, __shfl_xor_sync(0xffffffffu, xa, off));
                xb = fmaxf(xb, __shfl_xor_sync(0xffffffffu, xb, off));
            }
            /* Position 0 is in the first tile and visible to every row, so
             * the maxima are finite from the first tile on. */
            float na = fmaxf(ma, xa), nb = fmaxf(mb, xb);
            float fa = exp2f(ma - na), fb = exp2f(mb - nb);
            ma = na, mb = nb;
            sa *= fa, sb *= fb;
#pragma unroll
            for (int n = 0; n < HD / 8; n++) {
                o[n][0] *= fa, o[n][1] *= fa;
                o[n][2] *= fb, o[n][3] *= fb;
            }
            uint32_t pf[PF_KV / 16][4]; /* P as A fragments: two column blocks each */
#pragma unroll
            for (int n = 0; n < PF_KV / 8; n++) {
                float e0 = exp2f(s[n][0] - na), e1 = exp2f(s[n][1] - na);
                float e2 = exp2f(s[n][2] - nb), e3 = exp2f(s[n][3] - nb);
                sa += e0 + e1, sb += e2 + e3;
                pf[n / 2][(n & 1) * 2] = pack_half2(e0, e1);
                pf[n / 2][(n & 1) * 2 + 1] = pack_half2(e2, e3);
            }
            /* O += P V: V transposed out of shared memory as the B operand */
#pragma unroll
            for (int k = 0; k < PF_KV / 16; k++)
#pragma unroll
                for (int n = 0; n < HD / 8; n += 2) {
                    uint32_t b[4]; /* b0, b1 of column block n, then of n + 1 */
                    ldsm4<true>(b, vs + (16 * k + (lane & 7) + 8 * ((lane >> 3) & 1)) * LD +
                                       8 * (n + (lane >> 4)));
                    mma16816(o[n], pf[k], b[0], b[1]);
                    mma16816(o[n + 1], pf[k], b[2], b[3]);
                }
        }
        __syncthreads();
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        sa += __shfl_xor_sync(0xffffffffu, sa, off);
        sb += __shfl_xor_sync(0xffffffffu, sb, off);
    }
    const float ia = 1.0f / sa, ib = 1.0f / sb;
    const int ta = t0 + 16 * w + g, tb = ta + 8;
#pragma unroll
    for (int n = 0; n < HD / 8; n++) {
        size_t c = (size_t)h * HD + 8 * n + 2 * t4, ca = (size_t)ta * nh * HD + c,
               cb = (size_t)tb * nh * HD + c;
        if (out_h) { /* the half input of the output projection's GEMM */
            if (ta < n_tok)
                *(__half2 *)(out_h + ca) = __floats2half2_rn(o[n][0] * ia, o[n][1] * ia);
            if (tb < n_tok)
                *(__half2 *)(out_h + cb) = __floats2half2_rn(o[n][2] * ib, o[n][3] * ib);
        } else {
            if (ta < n_tok) *(float2 *)(out + ca) = make_float2(o[n][0] * ia, o[n][1] * ia);
            if (tb < n_tok) *(float2 *)(out + cb) = make_float2(o[n][2] * ib, o[n][3] * ib);
        }
    }
}

template <int HD>
bool pf_launch(cudaStream_t st, dim3 grid, dim3 block, const float *q, int n_tok, int nh, int nkv,
               const __half *kc, const __half *vc, int n_ctx, const int32_t *pos, int seq,
               float *out, __half *out_h) {
    const size_t smem = (size_t)4 * PF_KV * (HD + 8) * sizeof(__half);
    static const bool ok =
        cudaFuncSetAttribute(attn_prefill_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)smem) == cudaSuccess;
    if (!ok) return false;
    launch_smem(attn_prefill_kernel<HD>, grid, block, smem, st, q, n_tok, nh, nkv, kc, vc, n_ctx,
                pos, seq, out, out_h);
    return true;
}

} // namespace

extern "C" bool lmc_attention_prefill(cudaStream_t st, const float *q, int n_tok, int nh, int nkv,
                                      int hd, const uint16_t *k_cache, const uint16_t *v_cache,
                                      int n_ctx, const int32_t *pos, int seq, float *out,
                                      uint16_t *out_h) {
    /* mma.sync m16n8k16 in half needs compute capability 8.0 */
    if (n_tok < 1 || nkv < 1 || nh % nkv || (!out == !out_h) || cc_major() < 8) return false;
    dim3 grid((n_tok + PF_ROWS - 1) / PF_ROWS, nh), block(32 * PF_WARPS);
    const __half *kc = (const __half *)k_cache, *vc = (const __half *)v_cache;
    switch (hd) {
    case 64:
        return pf_launch<64>(st, grid, block, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out,
                             (__half *)out_h);
    case 128:
        return pf_launch<128>(st, grid, block, q, n_tok, nh, nkv, kc, vc, n_ctx, pos, seq, out,
                              (__half *)out_h);
    default:
        return false;
    }
}
