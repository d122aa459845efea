/* k_ops.cu — the CUDA engine's non-matmul kernels: RMSNorm fused with the
 * activation conversion the next matmul wants (float, half or q8 blocks),
 * dequantisation to half for prefill GEMMs, embedding lookup, the fused
 * bias / q-k norm / RoPE / KV-cache store, split-K causal attention over the
 * F16 cache, and SwiGLU. */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/quant.cuh"
#include <math.h>

using namespace lmc;

namespace {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024). */
__device__ float block_sum(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x / 32, nw = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float t = 0.0f;
    for (int i = 0; i < nw; i++)
        t += sh[i];
    return t;
}

/* Max over the block, as block_sum. */
__device__ float block_max(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x / 32, nw = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int i = 0; i < nw; i++)
        t = fmaxf(t, sh[i]);
    return t;
}

/* One block per token: optional RMSNorm, then the requested outputs. */
__global__ void act_kernel(const float *__restrict__ x, int n, const float *__restrict__ w,
                           float eps, float *out_f, __half *out_h, int8_t *out_q, float2 *out_s) {
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * n;
    float scale = 1.0f;
    if (w) {
        float ss = 0.0f;
        for (int i = threadIdx.x; i < n; i += blockDim.x)
            ss += xr[i] * xr[i];
        ss = block_sum(ss, sh);
        scale = rsqrtf(ss / (float)n + eps);
    }
    size_t base = (size_t)blockIdx.x * n;
    if (out_f || out_h)
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            float v = xr[i] * scale * (w ? w[i] : 1.0f);
            if (out_f) out_f[base + i] = v;
            if (out_h) out_h[base + i] = __float2half_rn(v);
        }
    if (out_q) {
        int lane = threadIdx.x & 31, nw = blockDim.x / 32;
        for (int b = threadIdx.x / 32; b < n / 32; b += nw) {
            int i = 32 * b + lane;
            float v = xr[i] * scale * (w ? w[i] : 1.0f);
            float amax = warp_max(fabsf(v));
            float d = amax / 127.0f;
            int q = d > 0.0f ? __float2int_rn(v / d) : 0;
            out_q[base + i] = (int8_t)q;
            float sum = warp_sum((float)q);
            if (lane == 0) out_s[base / 32 + b] = make_float2(d, d * sum);
        }
    }
}

/* The same for n a multiple of 32 and at most 32 * 32 * K: 1024 threads, the
 * warp w owning 32-element blocks w, w + 32, ... with one element per lane,
 * all loads issued up front and the row kept in registers, so the kernel
 * costs one memory round trip and one barrier instead of a serial loop. */
template <int K>
__global__ void __launch_bounds__(1024)
    act_reg_kernel(const float *__restrict__ x, int n, const float *__restrict__ w, float eps,
                   float *out_f, __half *out_h, int8_t *out_q, float2 *out_s) {
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, wp = threadIdx.x / 32, nb = n / 32;
    const size_t base = (size_t)blockIdx.x * n;
    float v[K], g[K];
#pragma unroll
    for (int k = 0; k < K; k++) {
        int b = wp + 32 * k, i = 32 * b + lane;
        v[k] = b < nb ? x[base + i] : 0.0f;
        g[k] = w && b < nb ? w[i] : 1.0f;
    }
    float scale = 1.0f;
    if (w) {
        float ss = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++)
            ss += v[k] * v[k];
        scale = rsqrtf(block_sum(ss, sh) / (float)n + eps);
    }
#pragma unroll
    for (int k = 0; k < K; k++) {
        int b = wp + 32 * k, i = 32 * b + lane;
        if (b >= nb) break; /* uniform per warp: the shuffles below stay full */
        float y = v[k] * scale * g[k];
        if (out_f) out_f[base + i] = y;
        if (out_h) out_h[base + i] = __float2half_rn(y);
        if (out_q) {
            float amax = warp_max(fabsf(y));
            float d = amax / 127.0f;
            int q = d > 0.0f ? __float2int_rn(y / d) : 0;
            out_q[base + i] = (int8_t)q;
            float sum = warp_sum((float)q);
            if (lane == 0) out_s[base / 32 + b] = make_float2(d, d * sum);
        }
    }
}

/* Launches the register kernel when n fits it, else the general one. */
void act_launch(cudaStream_t st, const float *x, int n_tok, int n, const float *w, float eps,
                float *out_f, __half *out_h, int8_t *out_q, float2 *out_s) {
    int nb = n / 32, k = (nb + 31) / 32;
    if (n % 32 == 0 && k <= 16) {
#define LMC_ACT(K)                                                                                 \
    act_reg_kernel<K><<<n_tok, 1024, 0, st>>>(x, n, w, eps, out_f, out_h, out_q, out_s)
        if (k <= 1)
            LMC_ACT(1);
        else if (k <= 2)
            LMC_ACT(2);
        else if (k <= 4)
            LMC_ACT(4);
        else if (k <= 8)
            LMC_ACT(8);
        else
            LMC_ACT(16);
#undef LMC_ACT
        return;
    }
    int threads = n >= 4096 ? 1024 : n >= 1024 ? 256 : 128;
    act_kernel<<<n_tok, threads, 0, st>>>(x, n, w, eps, out_f, out_h, out_q, out_s);
}

template <int T, typename OUT>
__global__ void dequant_kernel(const uint8_t *__restrict__ w, size_t row_bytes, int64_t rows,
                               int64_t n_in, const int32_t *ids, OUT *out) {
    int64_t upr = n_in / 32;
    int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * upr) return;
    int64_t r = idx / upr;
    int u = (int)(idx % upr);
    int64_t src = ids ? ids[r] : r;
    float v[32];
    dequant_unit<T>(w + src * row_bytes, u, v);
    OUT *o = out + r * n_in + 32 * u;
    if constexpr (sizeof(OUT) == 2) {
        __half2 h[16];
#pragma unroll
        for (int i = 0; i < 16; i++)
            h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
        uint4 *d4 = (uint4 *)o;
        const uint4 *s4 = (const uint4 *)h;
#pragma unroll
        for (int i = 0; i < 4; i++)
            d4[i] = s4[i];
    } else {
        float4 *d4 = (float4 *)o;
#pragma unroll
        for (int i = 0; i < 8; i++)
            d4[i] = make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
    }
}

size_t row_bytes_of(uint32_t type, int64_t n_in) {
    switch (type) {
    case LM_TYPE_Q4_0:
        return (size_t)n_in / 32 * 18;
    case LM_TYPE_Q4_1:
        return (size_t)n_in / 32 * 20;
    case LM_TYPE_Q5_0:
        return (size_t)n_in / 32 * 22;
    case LM_TYPE_Q5_1:
        return (size_t)n_in / 32 * 24;
    case LM_TYPE_Q8_0:
        return (size_t)n_in / 32 * 34;
    case LM_TYPE_Q4_K:
        return (size_t)n_in / 256 * 144;
    case LM_TYPE_Q5_K:
        return (size_t)n_in / 256 * 176;
    case LM_TYPE_Q6_K:
        return (size_t)n_in / 256 * 210;
    case LM_TYPE_F16:
    case LM_TYPE_BF16:
        return (size_t)n_in * 2;
    case LM_TYPE_F32:
        return (size_t)n_in * 4;
    default:
        return 0;
    }
}

template <typename OUT>
bool dequant(cudaStream_t st, uint32_t type, const void *w, int64_t rows, int64_t n_in,
             const int32_t *ids, OUT *out) {
    size_t rb = row_bytes_of(type, n_in);
    bool k = type == LM_TYPE_Q4_K || type == LM_TYPE_Q5_K || type == LM_TYPE_Q6_K;
    if (!rb || n_in % 32 || (k && n_in % 256) || rows <= 0) return false;
    int64_t n = rows * (n_in / 32);
    dim3 grid((unsigned)((n + 127) / 128));
    const uint8_t *p = (const uint8_t *)w;
#define LMC_DQ(T) dequant_kernel<T, OUT><<<grid, 128, 0, st>>>(p, rb, rows, n_in, ids, out)
    switch (type) {
    case LM_TYPE_Q4_0:
        LMC_DQ(LM_TYPE_Q4_0);
        break;
    case LM_TYPE_Q4_1:
        LMC_DQ(LM_TYPE_Q4_1);
        break;
    case LM_TYPE_Q5_0:
        LMC_DQ(LM_TYPE_Q5_0);
        break;
    case LM_TYPE_Q5_1:
        LMC_DQ(LM_TYPE_Q5_1);
        break;
    case LM_TYPE_Q8_0:
        LMC_DQ(LM_TYPE_Q8_0);
        break;
    case LM_TYPE_Q4_K:
        LMC_DQ(LM_TYPE_Q4_K);
        break;
    case LM_TYPE_Q5_K:
        LMC_DQ(LM_TYPE_Q5_K);
        break;
    case LM_TYPE_Q6_K:
        LMC_DQ(LM_TYPE_Q6_K);
        break;
    case LM_TYPE_F16:
        LMC_DQ(LM_TYPE_F16);
        break;
    case LM_TYPE_BF16:
        LMC_DQ(LM_TYPE_BF16);
        break;
    case LM_TYPE_F32:
        LMC_DQ(LM_TYPE_F32);
        break;
    default:
        return false;
    }
#undef LMC_DQ
    return true;
}

/* Grid (n_tok, nh + 2 nkv), hd/2 threads: thread i owns rotary pair i. */
__global__ void qkv_rope_kernel(const float *__restrict__ qkv, int nh, int nkv, int hd,
                                const float *bias, const float *qn, const float *kn, float eps,
                                const float *inv_freq, int layout, const int32_t *pos,
                                const int32_t *seq, float *q_out, __half *kc, __half *vc,
                                int n_ctx) {
    __shared__ float sh[32];
    int t = blockIdx.x, h = blockIdx.y, i = threadIdx.x, half = hd / 2;
    int width = (nh + 2 * nkv) * hd;
    int i0 = layout ? 2 * i : i, i1 = layout ? 2 * i + 1 : i + half;
    const float *src = qkv + (size_t)t * width + (size_t)h * hd;
    bool active = i < half;
    float x0 = active ? src[i0] : 0.0f, x1 = active ? src[i1] : 0.0f;
    if (bias && active) {
        x0 += bias[h * hd + i0];
        x1 += bias[h * hd + i1];
    }
    int p = pos[t], s = seq[t];
    if (h >= nh + nkv) { /* value head: stored as is */
        if (active && p < n_ctx) {
            size_t o = (((size_t)s * n_ctx + p) * nkv + (h - nh - nkv)) * hd;
            vc[o + i0] = __float2half_rn(x0);
            vc[o + i1] = __float2half_rn(x1);
        }
        return;
    }
    const float *nw = h < nh ? qn : kn;
    if (nw) { /* uniform per block, so the barrier inside is safe */
        float ss = block_sum(x0 * x0 + x1 * x1, sh);
        float sc = rsqrtf(ss / (float)hd + eps);
        if (active) {
            x0 *= sc * nw[i0];
            x1 *= sc * nw[i1];
        }
    }
    if (!active) return;
    float sn, cs;
    sincosf((float)p * inv_freq[i], &sn, &cs);
    float y0 = x0 * cs - x1 * sn, y1 = x0 * sn + x1 * cs;
    if (h < nh) {
        float *d = q_out + (size_t)t * nh * hd + (size_t)h * hd;
        d[i0] = y0;
        d[i1] = y1;
    } else if (p < n_ctx) {
        size_t o = (((size_t)s * n_ctx + p) * nkv + (h - nh)) * hd;
        kc[o + i0] = __float2half_rn(y0);
        kc[o + i1] = __float2half_rn(y1);
    }
}

constexpr int ATT_THREADS = 128;   /* also the tile of positions */
constexpr int ATT_MAX_SPLIT = 256; /* chunks the combine step merges */
constexpr int ATT_WARPS = ATT_THREADS / 32;

/* Grid (n_tok * nkv, n_split). Block: the G (<= GM) query heads of one KV
 * head of one token over one chunk of the context, online softmax over tiles
 * of ATT_THREADS positions. Scores: one thread per position, the K row read
 * with 16-byte loads. Mixing: each warp takes every ATT_WARPS-th position,
 * each lane HD/32 dimensions, so V loads stay coalesced and many are in
 * flight; warps merge into shared memory. Writes the unnormalised output,
 * max and sum per head for the combine step. */
template <int GM, int HD>
__global__ void __launch_bounds__(ATT_THREADS)
    attn_split_kernel(const float *__restrict__ q, int nh, int nkv, const __half *__restrict__ kc,
                      const __half *__restrict__ vc, int n_ctx, const int32_t *pos,
                      const int32_t *seq, int n_split, float *part) {
    __shared__ float q_sh[GM * HD], o_sh[GM * HD], s_sh[GM * ATT_THREADS];
    __shared__ float m_sh[GM], l_sh[GM];
    const int G = nh / nkv;
    int t = blockIdx.x / nkv, g = blockIdx.x % nkv, c = blockIdx.y, tid = threadIdx.x;
    int len = pos[t] + 1, sq = seq[t];
    if (len > n_ctx) len = n_ctx;
    int chunk = (n_ctx + n_split - 1) / n_split;
    int start = c * chunk, end = min(start + chunk, len);
    const size_t stride = (size_t)HD + 2;
    float *pout = part + ((size_t)t * nh + (size_t)g * G) * n_split * stride + (size_t)c * stride;
    if (start >= end) {
        for (int j = tid; j < G; j += blockDim.x) {
            pout[(size_t)j * n_split * stride + HD] = -INFINITY;
            pout[(size_t)j * n_split * stride + HD + 1] = 0.0f;
        }
        return;
    }
    const float scale = rsqrtf((float)HD);
    for (int j = tid; j < G * HD; j += ATT_THREADS) {
        q_sh[j] = q[(size_t)t * nh * HD + (size_t)g * G * HD + j] * scale;
        o_sh[j] = 0.0f;
    }
    if (tid < G) {
        m_sh[tid] = -INFINITY;
        l_sh[tid] = 0.0f;
    }
    const size_t row = (size_t)nkv * HD; /* elements between positions */
    const __half *kb = kc + ((size_t)sq * n_ctx * nkv + g) * HD;
    const __half *vb = vc + ((size_t)sq * n_ctx * nkv + g) * HD;
    const int lane = tid & 31, w = tid / 32;
    for (int p0 = start; p0 < end; p0 += ATT_THREADS) {
        int pp = p0 + tid;
        float acc[GM];
#pragma unroll
        for (int j = 0; j < GM; j++)
            acc[j] = 0.0f;
        uint4 kv[HD / 8];
        if (pp < end) {
            const uint4 *kr = (const uint4 *)(kb + (size_t)pp * row);
#pragma unroll
            for (int d8 = 0; d8 < HD / 8; d8++)
                kv[d8] = __ldg(kr + d8);
        }
        /* The K loads are in flight before this barrier, which also
         * publishes q_sh (first tile) and the previous tile's o_sh. */
        __syncthreads();
        if (pp < end) {
#pragma unroll
            for (int d8 = 0; d8 < HD / 8; d8++) {
                const __half2 *h2 = (const __half2 *)&kv[d8];
                float kf[8];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float2 f = __half22float2(h2[e]);
                    kf[2 * e] = f.x, kf[2 * e + 1] = f.y;
                }
#pragma unroll
                for (int j = 0; j < GM; j++) {
                    if (j < G) {
                        const float *qq = q_sh + j * HD + 8 * d8;
#pragma unroll
                        for (int e = 0; e < 8; e++)
                            acc[j] += qq[e] * kf[e];
                    }
                }
            }
        }
#pragma unroll
        for (int j = 0; j < GM; j++)
            if (j < G) s_sh[j * ATT_THREADS + tid] = pp < end ? acc[j] : -INFINITY;
        __syncthreads();
        for (int j = w; j < G; j += ATT_WARPS) {
            float *sv = s_sh + j * ATT_THREADS;
            float mx = -INFINITY;
            for (int k = lane; k < ATT_THREADS; k += 32)
                mx = fmaxf(mx, sv[k]);
            mx = warp_max(mx);
            float m_old = m_sh[j], m_new = fmaxf(m_old, mx);
            float sum = 0.0f;
            for (int k = lane; k < ATT_THREADS; k += 32) {
                float e = __expf(sv[k] - m_new);
                sv[k] = e;
                sum += e;
            }
            sum = warp_sum(sum);
            float a = __expf(m_old - m_new);
            for (int d = lane; d < HD; d += 32)
                o_sh[j * HD + d] *= a;
            if (lane == 0) {
                l_sh[j] = l_sh[j] * a + sum;
                m_sh[j] = m_new;
            }
        }
        __syncthreads();
        /* Decode (context split over many blocks) and prefill (one block
         * walks the whole context) mix V differently: the wide loads win
         * for a single short chunk, the narrow ones need no cross-lane
         * reduction per tile, which prefill's many tiles per block pay for. */
        if (n_split > 1) {
            /* Mixing: LPR lanes cover one V row with 16-byte loads, so a warp
             * reads RPW rows per step and every load of its share of the tile
             * is independent (no serial latency chain); the row groups of a
             * warp are summed with shuffles before the shared-memory merge. */
            constexpr int LPR = HD / 8, RPW = 32 / LPR;
            const int sub = lane / LPR, dl = lane % LPR;
            int n_p = min(ATT_THREADS, end - p0);
            float o[GM][8];
#pragma unroll
            for (int j = 0; j < GM; j++)
#pragma unroll
                for (int e = 0; e < 8; e++)
                    o[j][e] = 0.0f;
#pragma unroll 8
            for (int k = w * RPW + sub; k < n_p; k += ATT_WARPS * RPW) {
                uint4 vv = __ldg((const uint4 *)(vb + (size_t)(p0 + k) * row) + dl);
                const __half2 *h2 = (const __half2 *)&vv;
                float v[8];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float2 f = __half22float2(h2[e]);
                    v[2 * e] = f.x, v[2 * e + 1] = f.y;
                }
#pragma unroll
                for (int j = 0; j < GM; j++) {
                    if (j < G) {
                        float pj = s_sh[j * ATT_THREADS + k];
#pragma unroll
                        for (int e = 0; e < 8; e++)
                            o[j][e] += pj * v[e];
                    }
                }
            }
#pragma unroll
            for (int off = LPR; off < 32; off <<= 1)
#pragma unroll
                for (int j = 0; j < GM; j++)
                    if (j < G)
#pragma unroll
                        for (int e = 0; e < 8; e++)
                            o[j][e] += __shfl_xor_sync(0xffffffffu, o[j][e], off);
            if (sub == 0)
#pragma unroll
                for (int j = 0; j < GM; j++)
                    if (j < G)
#pragma unroll
                        for (int e = 0; e < 8; e++)
                            atomicAdd(&o_sh[j * HD + 8 * dl + e], o[j][e]);
        } else {
            /* Each warp takes every ATT_WARPS-th position, each lane HD/32
             * dimensions. */
            constexpr int DPL = HD / 32;
            int n_p = min(ATT_THREADS, end - p0);
            float o[GM][DPL];
#pragma unroll
            for (int j = 0; j < GM; j++)
#pragma unroll
                for (int i = 0; i < DPL; i++)
                    o[j][i] = 0.0f;
#pragma unroll 4
            for (int k = w; k < n_p; k += ATT_WARPS) {
                const __half2 *vr = (const __half2 *)(vb + (size_t)(p0 + k) * row);
                float v[DPL];
#pragma unroll
                for (int i = 0; i < DPL / 2; i++) {
                    float2 f = __half22float2(vr[lane + 32 * i]);
                    v[2 * i] = f.x, v[2 * i + 1] = f.y;
                }
#pragma unroll
                for (int j = 0; j < GM; j++) {
                    if (j < G) {
                        float pj = s_sh[j * ATT_THREADS + k];
#pragma unroll
                        for (int i = 0; i < DPL; i++)
                            o[j][i] += pj * v[i];
                    }
                }
            }
#pragma unroll
            for (int j = 0; j < GM; j++)
                if (j < G)
#pragma unroll
                    for (int i = 0; i < DPL / 2; i++) {
                        int d = 2 * (lane + 32 * i);
                        atomicAdd(&o_sh[j * HD + d], o[j][2 * i]);
                        atomicAdd(&o_sh[j * HD + d + 1], o[j][2 * i + 1]);
                    }
        }
        __syncthreads();
    }
    for (int j = 0; j < G; j++) {
        float *dst = pout + (size_t)j * n_split * stride;
        for (int d = tid; d < HD; d += ATT_THREADS)
            dst[d] = o_sh[j * HD + d];
        if (tid == 0) {
            dst[HD] = m_sh[j];
            dst[HD + 1] = l_sh[j];
        }
    }
}

template <int HD>
bool attn_launch_hd(cudaStream_t st, dim3 grid, int G, const float *q, int nh, int nkv,
                    const __half *kc, const __half *vc, int n_ctx, const int32_t *pos,
                    const int32_t *seq, int n_split, float *part) {
#define LMC_ATT(GM)                                                                                \
    attn_split_kernel<GM, HD>                                                                      \
        <<<grid, ATT_THREADS, 0, st>>>(q, nh, nkv, kc, vc, n_ctx, pos, seq, n_split, part)
    if (G <= 1)
        LMC_ATT(1);
    else if (G <= 2)
        LMC_ATT(2);
    else if (G <= 4)
        LMC_ATT(4);
    else if (G <= 8)
        LMC_ATT(8);
    else if (G <= 16 && HD <= 128)
        LMC_ATT(16);
    else
        return false;
#undef LMC_ATT
    return true;
}

/* Grid n_tok * nh, hd threads: merges the chunks of one head that hold
 * positions (the others are skipped), and when out_q is given also writes
 * the q8 blocks the next mat-vec reads (one warp per 32-dimension block),
 * saving a separate conversion kernel. */
__global__ void attn_combine_kernel(const float *__restrict__ part, int hd, int nh, int n_split,
                                    int chunk, int n_ctx, const int32_t *pos, float *out,
                                    int8_t *out_q, float2 *out_s) {
    __shared__ float wt[ATT_MAX_SPLIT], sh[32];
    size_t stride = (size_t)hd + 2;
    const float *p = part + (size_t)blockIdx.x * n_split * stride;
    int len = min(pos[blockIdx.x / nh] + 1, n_ctx);
    int n_act = min(n_split, (len + chunk - 1) / chunk);
    /* All chunk maxima and sums are loaded at once (one per thread), so the
     * merge costs one memory round trip instead of one per chunk. */
    float mc[ATT_MAX_SPLIT / 64], lc[ATT_MAX_SPLIT / 64], M = -INFINITY;
#pragma unroll
    for (int k = 0; k < ATT_MAX_SPLIT / 64; k++) {
        int c = threadIdx.x + k * blockDim.x;
        bool in = c < n_act;
        mc[k] = in ? p[c * stride + hd] : -INFINITY;
        lc[k] = in ? p[c * stride + hd + 1] : 0.0f;
        M = fmaxf(M, mc[k]);
    }
    M = block_max(M, sh);
    float Lp = 0.0f;
#pragma unroll
    for (int k = 0; k < ATT_MAX_SPLIT / 64; k++) {
        int c = threadIdx.x + k * blockDim.x;
        float e = lc[k] > 0.0f ? __expf(mc[k] - M) : 0.0f;
        if (c < ATT_MAX_SPLIT) wt[c] = e;
        Lp += lc[k] * e;
    }
    float L = block_sum(Lp, sh);
    int d = threadIdx.x;
    float o = 0.0f;
#pragma unroll 8
    for (int c = 0; c < n_act; c++) {
        float e = wt[c];
        o += e > 0.0f ? p[c * stride + d] * e : 0.0f;
    }
    float v = L > 0.0f ? o / L : 0.0f;
    size_t i = (size_t)blockIdx.x * hd + d;
    out[i] = v;
    if (out_q) {
        int lane = threadIdx.x & 31;
        float amax = warp_max(fabsf(v));
        float dq = amax / 127.0f;
        int q = dq > 0.0f ? __float2int_rn(v / dq) : 0;
        out_q[i] = (int8_t)q;
        float sum = warp_sum((float)q);
        if (lane == 0) out_s[i / 32] = make_float2(dq, dq * sum);
    }
}

__global__ void swiglu_kernel(const float *gu, int n_ff, __half *out) {
    int t = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_ff; i += gridDim.x * blockDim.x) {
        float g = gu[(size_t)t * 2 * n_ff + i], u = gu[(size_t)t * 2 * n_ff + n_ff + i];
        out[(size_t)t * n_ff + i] = __float2half_rn(g / (1.0f + __expf(-g)) * u);
    }
}

__global__ void gather_kernel(const float *x, int n, const int32_t *idx, float *y) {
    const float *src = x + (size_t)idx[blockIdx.x] * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        y[(size_t)blockIdx.x * n + i] = src[i];
}

} // namespace

extern "C" void lmc_norm_act(cudaStream_t st, const float *x, int n_tok, int n, const float *w,
                             float eps, float *out_f, uint16_t *out_h, int8_t *out_q,
                             float *out_s) {
    act_launch(st, x, n_tok, n, w, eps, out_f, (__half *)out_h, out_q, (float2 *)out_s);
}

extern "C" void lmc_convert_act(cudaStream_t st, const float *x, int n_tok, int n, uint16_t *out_h,
                                int8_t *out_q, float *out_s) {
    act_launch(st, x, n_tok, n, nullptr, 0.0f, nullptr, (__half *)out_h, out_q, (float2 *)out_s);
}

extern "C" bool lmc_dequant_f16(cudaStream_t st, uint32_t type, const void *w, int64_t rows,
                                int64_t n_in, uint16_t *out) {
    return dequant<__half>(st, type, w, rows, n_in, nullptr, (__half *)out);
}

extern "C" bool lmc_dequant_f32(cudaStream_t st, uint32_t type, const void *w, int64_t rows,
                                int64_t n_in, float *out) {
    return dequant<float>(st, type, w, rows, n_in, nullptr, out);
}

extern "C" bool lmc_get_rows(cudaStream_t st, uint32_t type, const void *w, int n_in,
                             const int32_t *ids, int n, float *out) {
    return dequant<float>(st, type, w, n, n_in, ids, out);
}

extern "C" void lmc_qkv_rope(cudaStream_t st, const float *qkv, int n_tok, int nh, int nkv, int hd,
                             const float *bias, const float *q_norm, const float *k_norm, float eps,
                             const float *inv_freq, int layout, const int32_t *pos,
                             const int32_t *seq, float *q_out, uint16_t *k_cache, uint16_t *v_cache,
                             int n_ctx) {
    int threads = ((hd / 2 + 31) / 32) * 32;
    dim3 grid(n_tok, nh + 2 * nkv);
    qkv_rope_kernel<<<grid, threads, 0, st>>>(qkv, nh, nkv, hd, bias, q_norm, k_norm, eps, inv_freq,
                                              layout, pos, seq, q_out, (__half *)k_cache,
                                              (__half *)v_cache, n_ctx);
}

extern "C" bool lmc_attention(cudaStream_t st, const float *q, int n_tok, int nh, int nkv, int hd,
                              const uint16_t *k_cache, const uint16_t *v_cache, int n_ctx,
                              const int32_t *pos, const int32_t *seq, int n_split, float *part,
                              float *out, int8_t *out_q, float *out_s) {
    int G = nh / nkv;
    if (n_split < 1 || n_split > ATT_MAX_SPLIT) return false;
    dim3 grid(n_tok * nkv, n_split);
    const __half *kc = (const __half *)k_cache, *vc = (const __half *)v_cache;
    bool ok;
    switch (hd) {
    case 64:
        ok = attn_launch_hd<64>(st, grid, G, q, nh, nkv, kc, vc, n_ctx, pos, seq, n_split, part);
        break;
    case 128:
        ok = attn_launch_hd<128>(st, grid, G, q, nh, nkv, kc, vc, n_ctx, pos, seq, n_split, part);
        break;
    case 256:
        ok = attn_launch_hd<256>(st, grid, G, q, nh, nkv, kc, vc, n_ctx, pos, seq, n_split, part);
        break;
    default:
        ok = false;
    }
    int chunk = (n_ctx + n_split - 1) / n_split;
    if (ok)
        attn_combine_kernel<<<n_tok * nh, hd, 0, st>>>(part, hd, nh, n_split, chunk, n_ctx, pos,
                                                       out, out_q, (float2 *)out_s);
    return ok;
}

/* True when lmc_attention handles this head shape. */
extern "C" bool lmc_attention_supported(int nh, int nkv, int hd) {
    int G = nkv > 0 ? nh / nkv : 0;
    return (hd == 64 || hd == 128 || hd == 256) && G >= 1 && (G <= 8 || (G <= 16 && hd <= 128));
}

extern "C" void lmc_swiglu_f16(cudaStream_t st, const float *gu, int n_tok, int n_ff,
                               uint16_t *out) {
    dim3 grid((n_ff + 255) / 256, n_tok);
    swiglu_kernel<<<grid, 256, 0, st>>>(gu, n_ff, (__half *)out);
}

extern "C" void lmc_gather_rows(cudaStream_t st, const float *x, int n, const int32_t *idx,
                                int n_idx, float *y) {
    gather_kernel<<<n_idx, 256, 0, st>>>(x, n, idx, y);
}
