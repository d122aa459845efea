/* k_ops.cu — the CUDA engine's non-matmul kernels: RMSNorm fused with the
 * activation conversion the next matmul wants (float, half or q8 blocks),
 * dequantisation to half for prefill GEMMs, embedding lookup, the fused
 * bias / q-k norm / RoPE / KV-cache store, split-K causal attention over the
 * F16 cache, and SwiGLU. */
#include "backend/cuda/attn_dec.cuh"
#include "backend/cuda/cp_async.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/quant.cuh"
#include <math.h>
#include <stdlib.h>

using namespace lmc;

namespace {

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
    pdl_wait();
    pdl_trigger();
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
            warp_store_q8(v, out_q + base + i, out_s + base / 32 + b, lane);
        }
    }
}

/* The same for n a multiple of 32 and at most 32 * nw * K (nw warps): the
 * warp w owning 32-element blocks w, w + nw, ... with one element per lane,
 * all loads issued up front and the row kept in registers, so the kernel
 * costs one memory round trip and one barrier instead of a serial loop. */
template <int K>
__global__ void __launch_bounds__(1024)
    act_reg_kernel(const float *__restrict__ x, int n, const float *__restrict__ w, float eps,
                   float *out_f, __half *out_h, int8_t *out_q, float2 *out_s) {
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, wp = threadIdx.x / 32, nb = n / 32, nw = blockDim.x / 32;
    const size_t base = (size_t)blockIdx.x * n;
    float v[K], g[K];
    /* trigger first: the next mat-vec's blocks launch and ask L2 for their
     * rows while the previous one still streams (1.1B Q4_0 decode 1,506-1,511
     * -> 1,548-1,561 t/s on an H200, 8B within noise) */
    pdl_trigger();
    pdl_wait();
#pragma unroll
    for (int k = 0; k < K; k++) {
        int b = wp + nw * k, i = 32 * b + lane;
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
        int b = wp + nw * k, i = 32 * b + lane;
        if (b >= nb) break; /* uniform per warp: the shuffles below stay full */
        float y = v[k] * scale * g[k];
        if (out_f) out_f[base + i] = y;
        if (out_h) out_h[base + i] = __float2half_rn(y);
        if (out_q) warp_store_q8(y, out_q + base + i, out_s + base / 32 + b, lane);
    }
}

/* Conversion without a norm (no reduction over the row): one warp per
 * 32-element block, as many blocks as the row needs, so long rows (the FFN's
 * 14336) are not walked by a single block. */
__global__ void __launch_bounds__(256) convert_kernel(const float *__restrict__ x, int n,
                                                      __half *out_h, int8_t *out_q, float2 *out_s) {
    pdl_wait();
    pdl_trigger();
    const int lane = threadIdx.x & 31, b = blockIdx.x * 8 + threadIdx.x / 32;
    if (b >= n / 32) return;
    const size_t base = (size_t)blockIdx.y * n, i = base + 32 * (size_t)b + lane;
    float y = x[i];
    if (out_h) out_h[i] = __float2half_rn(y);
    if (out_q) warp_store_q8(y, out_q + i, out_s + base / 32 + b, lane);
}

/* q8 blocks with one scale per 256 values (lmc_act_q8_256): one warp per
 * 256, each lane 8 consecutive values, so a 32-block is 4 lanes. With w,
 * every block first takes the whole row's sum of squares (a few KB from L2;
 * the rows a prompt normalises are 2-8K floats). Grid (256-groups / 8,
 * n_tok), 256 threads. */
__global__ void __launch_bounds__(256)
    act256_kernel(const float *__restrict__ x, int n, const float *__restrict__ w, float eps,
                  int8_t *out_q, float2 *out_s) {
    __shared__ float sh[32];
    pdl_wait();
    pdl_trigger();
    const float *xr = x + (size_t)blockIdx.y * n;
    float scale = 1.0f;
    if (w) {
        float ss = 0.0f;
        for (int i = 4 * threadIdx.x; i < n; i += 4 * blockDim.x) {
            const float4 v = *(const float4 *)(xr + i);
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
        scale = rsqrtf(block_sum(ss, sh) / (float)n + eps);
    }
    const int lane = threadIdx.x & 31, g = blockIdx.x * 8 + threadIdx.x / 32;
    if (g >= n / 256) return;
    const int i0 = 256 * g + 8 * lane;
    float v[8], mx = 0.0f;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const float4 a = *(const float4 *)(xr + i0 + 4 * h);
        v[4 * h] = a.x, v[4 * h + 1] = a.y, v[4 * h + 2] = a.z, v[4 * h + 3] = a.w;
    }
#pragma unroll
    for (int k = 0; k < 8; k++) {
        v[k] *= scale * (w ? w[i0 + k] : 1.0f);
        mx = fmaxf(mx, fabsf(v[k]));
    }
    const float d = warp_max(mx) / 127.0f;
    int sum = 0;
    uint32_t word[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        uint32_t b = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const int c = d > 0.0f ? __float2int_rn(v[4 * h + k] / d) : 0;
            sum += c;
            b |= (uint32_t)(c & 0xFF) << (8 * k);
        }
        word[h] = b;
    }
    const size_t base = (size_t)blockIdx.y * n;
    *(uint2 *)(out_q + base + i0) = make_uint2(word[0], word[1]);
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    if ((lane & 3) == 0) out_s[base / 32 + i0 / 32] = make_float2(d, d * (float)sum);
}

/* Launches the register kernel when n fits it, else the general one. */
void act_launch(cudaStream_t st, const float *x, int n_tok, int n, const float *w, float eps,
                float *out_f, __half *out_h, int8_t *out_q, float2 *out_s) {
    int nb = n / 32;
    if (!w && !out_f && n % 32 == 0) {
        launch(convert_kernel, dim3((nb + 7) / 8, n_tok), dim3(256), st, x, n, out_h, out_q, out_s);
        return;
    }
    /* A decode step's one row gets 1024 threads (latency: with 16 or 8
     * warps, H100, 8B Q4_K_M decode 381-384 -> 371-372 / 351 t/s, 1.1B Q4_0
     * 1,564-1,568 -> 1,538-1,552 / 1,383-1,392); a prompt's rows 256 each, so
     * a block's barrier waits on 8 warps, not 32, and many rows share an SM
     * (one 1024-thread block per row took 16 us for 512 rows of 4096, 0.75
     * TB/s). */
    int nw = n_tok >= 64 && nb <= 8 * 16 ? 8 : 32;
    int k = (nb + nw - 1) / nw;
    if (n % 32 == 0 && k <= 16) {
#define LMC_ACT(K)                                                                                 \
    launch(act_reg_kernel<K>, dim3(n_tok), dim3(32 * nw), st, x, n, w, eps, out_f, out_h, out_q,   \
           out_s)
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
    launch(act_kernel, dim3(n_tok), dim3(threads), st, x, n, w, eps, out_f, out_h, out_q, out_s);
}

/* One 32-element unit per thread, staged through shared memory so that the
 * block writes its output (one contiguous range: 32 elements per unit, units
 * in order) as whole 16-byte chunks, consecutive across each warp. Written
 * straight from registers, every store instruction of a warp touched 32
 * lines at a 64-byte stride, and the kernel reached ~0.6 of the copy
 * bandwidth on prefill's weight tiles. */
constexpr int DQ_THREADS = 128;
template <int T, typename OUT>
__global__ void __launch_bounds__(DQ_THREADS)
    dequant_kernel(const uint8_t *__restrict__ w, size_t row_bytes, int64_t rows, int64_t n_in,
                   const int32_t *ids, OUT *out) {
    constexpr int CH = 32 * (int)sizeof(OUT) / 16; /* 16-byte chunks per unit */
    /* chunk k lives at slot k + k / 8: the eight chunks a quarter-warp writes
     * at once fall in different bank groups */
    __shared__ uint4 buf[DQ_THREADS * CH + DQ_THREADS * CH / 8];
    pdl_wait();
    pdl_trigger();
    int64_t upr = n_in / 32, total = rows * upr;
    int64_t first = (int64_t)blockIdx.x * DQ_THREADS, idx = first + threadIdx.x;
    if (idx < total) {
        int64_t r = idx / upr;
        int u = (int)(idx % upr);
        int64_t src = ids ? ids[r] : r;
        float v[32];
        dequant_unit<T>(w + src * row_bytes, u, v);
        uint4 c[CH];
        if constexpr (sizeof(OUT) == 2) {
            __half2 *h = (__half2 *)c;
#pragma unroll
            for (int i = 0; i < 16; i++)
                h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
        } else {
            float4 *f = (float4 *)c;
#pragma unroll
            for (int i = 0; i < 8; i++)
                f[i] = make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
        }
#pragma unroll
        for (int i = 0; i < CH; i++) {
            int k = CH * threadIdx.x + i;
            buf[k + k / 8] = c[i];
        }
    }
    __syncthreads();
    int64_t units = total - first < DQ_THREADS ? total - first : DQ_THREADS;
    uint4 *dst = (uint4 *)(out + first * 32);
    for (int k = threadIdx.x; k < units * CH; k += DQ_THREADS)
        dst[k] = buf[k + k / 8];
}

template <typename OUT>
bool dequant(cudaStream_t st, uint32_t type, const void *w, int64_t rows, int64_t n_in,
             const int32_t *ids, OUT *out) {
    size_t rb = whole_row_bytes(type, n_in);
    if (!rb || rows <= 0) return false;
    int64_t n = rows * (n_in / 32);
    dim3 grid((unsigned)((n + DQ_THREADS - 1) / DQ_THREADS));
    const uint8_t *p = (const uint8_t *)w;
    return with_type<false>(type, [&](auto t) {
        launch(dequant_kernel<decltype(t)::value, OUT>, grid, dim3(DQ_THREADS), st, p, rb, rows,
               n_in, ids, out);
    });
}

/* Heads one block takes at most (a row of threads per head, 256 threads):
 * with one head per block a 512-token 8B prompt launched 24,576 blocks of 64
 * threads per layer. */
constexpr int ROPE_MAX_HEADS = 8;

/* Rounds of heads a block of qkv_rope_kernel takes: each thread loads its
 * pairs of all rounds first, so that their round trips overlap (one round
 * a block kept one in flight a thread, and a 512-token 8B prompt's 6,144
 * blocks ran as ~6 waves of one DRAM round trip each: 18 us a layer), and
 * computes its rotation once for all of them. */
constexpr int ROPE_ROUNDS = 4;

/* Grid (n_tok, head groups), block (hd/2 rounded up to a warp, heads per
 * round): thread (i, y) owns rotary pair i of head (g R + r) per + y of its
 * group g, for each round r. */
__global__ void qkv_rope_kernel(const float *__restrict__ qkv, int nh, int nkv, int hd,
                                const float *bias, const float *qn, const float *kn, float eps,
                                const float *inv_freq, int layout, const int32_t *pos,
                                const int32_t *seq, float *__restrict__ q_out,
                                __half *__restrict__ kc, __half *__restrict__ vc, int n_ctx) {
    constexpr int R = ROPE_ROUNDS;
    __shared__ float sh[R][ROPE_MAX_HEADS][32];
    pdl_wait();
    pdl_trigger();
    const int t = blockIdx.x, y = threadIdx.y, i = threadIdx.x, per = blockDim.y;
    const int half = hd / 2, n_heads = nh + 2 * nkv, width = n_heads * hd;
    const int i0 = layout ? 2 * i : i, i1 = layout ? 2 * i + 1 : i + half;
    float x0[R], x1[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int h = ((int)blockIdx.y * R + r) * per + y;
        const bool active = h < n_heads && i < half;
        const float *src = qkv + (size_t)t * width + (size_t)h * hd;
        x0[r] = active ? src[i0] : 0.0f, x1[r] = active ? src[i1] : 0.0f;
        if (bias && active) {
            x0[r] += bias[h * hd + i0];
            x1[r] += bias[h * hd + i1];
        }
    }
    /* each head's sum of squares (for the q/k norm), reduced over its row of
     * threads by every thread of the block, so the barrier is uniform */
    float ss[R];
    if (qn || kn) {
#pragma unroll
        for (int r = 0; r < R; r++) {
            const float v = warp_sum(x0[r] * x0[r] + x1[r] * x1[r]);
            if ((i & 31) == 0) sh[r][y][i / 32] = v;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < R; r++) {
            ss[r] = 0.0f;
            for (int k = 0; k < (int)blockDim.x / 32; k++)
                ss[r] += sh[r][y][k];
        }
    }
    if (i >= half) return;
    const int p = pos[t], s = seq[t];
    float sn, cs;
    sincosf((float)p * inv_freq[i], &sn, &cs);
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int h = ((int)blockIdx.y * R + r) * per + y;
        if (h >= n_heads) break;
        float a = x0[r], b = x1[r];
        if (h >= nh + nkv) { /* value head: stored as is */
            if (p < n_ctx) {
                size_t o = (((size_t)s * n_ctx + p) * nkv + (h - nh - nkv)) * hd;
                vc[o + i0] = __float2half_rn(a);
                vc[o + i1] = __float2half_rn(b);
            }
            continue;
        }
        const float *nw = h < nh ? qn : kn;
        if (nw) {
            float sc = rsqrtf(ss[r] / (float)hd + eps);
            a *= sc * nw[i0];
            b *= sc * nw[i1];
        }
        float y0 = a * cs - b * sn, y1 = a * sn + b * cs;
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
        {
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

/* Decode attention, grid (n_tok * nkv, n_split), one warp per query head of
 * the KV head's group (blockDim = 32 * G, so the group's warps share the K/V
 * rows through L1). A warp walks its chunk in tiles of 32 positions: one
 * position per lane for the score (K row by 16-byte loads, q broadcast from
 * shared memory), then HD/32 dimensions per lane for the V mix with the
 * probabilities passed by shuffles; online softmax in registers, no block
 * barrier in the loop, so a block's critical path is a few memory round
 * trips. A context that fits one chunk is written directly; otherwise each
 * block leaves its partial in part and the last block of the (token, KV
 * head) to finish, found with a counter, merges the chunks, so there is no
 * second kernel. */
template <int HD, int MAXT, bool STAGE>
__global__ void __launch_bounds__(MAXT)
    attn_dec_kernel(const float *__restrict__ q, rope_args ra, int nh, int nkv, __half *kc,
                    __half *vc, int n_ctx, const int32_t *pos, const int32_t *seq, int n_split,
                    float *part, int *cnt, float *out, int8_t *out_q, float2 *out_s) {
    constexpr int DPL = HD / 32;
    /* Tiles after a chunk's first (a context past n_split tiles, so chunks
     * of several) are staged in shared memory, K and V rows of 32 positions in two
     * stages, the next tile's copies in flight while one is worked: the
     * block's threads copy whole rows (16-byte pieces, consecutive threads
     * consecutive bytes), and the G warps read them from there. Read straight
     * from global memory, one row per lane, those tiles kept L1 80 % busy at
     * 16 % of DRAM bandwidth (ncu, 8B at 16k positions: 91 us per layer),
     * each warp loading the rows its group's other warps load too. Rows are
     * padded by 16 bytes so a quarter-warp's 16-byte reads of 8 rows hit
     * distinct banks. Head size 256 would not fit: it reads as before. Only
     * the STAGE instantiation has the tiles: their shared memory cost the
     * one-tile chunks of short contexts ~2 % (8B decode at 576 positions,
     * H200: 432-434 -> 424-426 t/s), so those take the other. Staging K
     * alone (V read as before) was slower: 1.1B at 16k positions 791 t/s
     * against 872. */
    constexpr bool STG = STAGE && HD <= 128;
    constexpr int RS = HD * 2 + 16, PR = HD / 8; /* staged row bytes, 16-byte pieces per row */
    __shared__ __align__(16) uint8_t tiles[STG ? 2 : 1][2][STG ? 32 * RS : 16];
    __shared__ __align__(16) float q_sh[16 * HD];
    __shared__ __align__(16) float kv_sh[2][HD]; /* the current position's k, v */
    __shared__ int is_last;
    /* early: this kernel prepares the current position's k and v itself, so
     * no cache row it reads was written by the previous kernel (the one it
     * writes is read from shared memory): the first tile's K and V rows are
     * requested before waiting for that kernel. Otherwise (q, k, v from
     * lmc_qkv_rope) the wait comes first. */
    const bool early = ra.qkv != nullptr;
    if (!early) pdl_wait();
    const int G = blockDim.x / 32;
    const int t = blockIdx.x / nkv, g = blockIdx.x % nkv, c = blockIdx.y;
    const int lane = threadIdx.x & 31, j = threadIdx.x / 32, h = g * G + j;
    const int len = min(pos[t] + 1, n_ctx), sq = seq[t];
    const int chunk = dec_chunk(len, n_split);
    const int n_act = (len + chunk - 1) / chunk;
    const int start = c * chunk, end = min(start + chunk, len);
    if (start >= end) { /* past the position: not counted */
        if (early) pdl_wait();
        return;
    }
    float *qs = q_sh + j * HD;
    const float scale = rsqrtf((float)HD);
    const size_t row = (size_t)nkv * HD;
    __half *kb = kc + ((size_t)sq * n_ctx * nkv + g) * HD;
    __half *vb = vc + ((size_t)sq * n_ctx * nkv + g) * HD;
    const int cur = len - 1;
    /* own: this block prepares and stores the current position's k and v
     * (its chunk holds the position) and reads them from shared memory */
    const bool own = ra.qkv && cur >= start && cur < end;
    /* Whole K rows in registers where they fit: the first tile's is requested
     * here, before q is prepared, so the two memory round trips overlap (the
     * row at cur may be stale here; its score comes from kv_sh below). */
    constexpr bool KROW = HD <= 64 || (HD <= 128 && MAXT <= 256);
    constexpr int KP = KROW ? HD / 8 : 8;
    uint4 kv[KP];
    if (KROW) {
        const uint4 *kr = (const uint4 *)(kb + (size_t)min(start + lane, end - 1) * row);
#pragma unroll
        for (int i = 0; i < KP; i++)
            kv[i] = __ldg(kr + i);
    }
    /* V mixing: four groups of 8 lanes, group vg taking positions vg, vg + 4,
     * ... of a tile and lane vs of it HD/8 dimensions, so a tile's V rows are
     * all in flight at once (one memory round trip; with one lane per
     * HD/32 dimensions over all 32 positions it took four). */
    constexpr int VD = HD / 8, VU = VD / 8; /* dimensions, 16-byte loads per lane and row */
    /* V rows in batches of VB positions per group (all eight up to head size
     * 128; 256 would spill registers) */
    constexpr int VB = VU <= 2 ? 8 : 4;
    const int vg = lane >> 3, vs = lane & 7;
    /* this lane's 16-byte pieces of the V row at position pp (clamped into
     * the chunk: past its end the row is read but weighs nothing) */
    auto v_row = [&](int pp) {
        return (const uint4 *)(vb + (size_t)(pp < end ? pp : start) * row) + vs * VU;
    };
    /* The first tile's V rows (VPN of each group's VB positions) are
     * requested here too: they do not depend on the scores, and the K, V and
     * q round trips then overlap. All of them up to head size 64 (1.1B Q4_0
     * decode with the merge below 1,482-1,511 -> 1,578-1,596 t/s on an H200),
     * half at 128 (8B 384 -> 388; all of them would spill registers). */
    constexpr int VPN = MAXT > 256 ? 0 : HD <= 64 ? VB : HD == 128 ? VB / 2 : 0;
    constexpr bool VPRE = VPN > 0;
    uint4 vpre[VPRE ? VPN : 1][VU];
    if (VPRE) {
#pragma unroll
        for (int k = 0; k < VPN; k++) {
            const uint4 *vr = v_row(start + vg + 4 * k);
#pragma unroll
            for (int u = 0; u < VU; u++)
                vpre[k][u] = __ldg(vr + u);
        }
        /* the rest of the first tile's V rows (no registers left for them):
         * into L1, so their loads after the scores hit it (8B Q4_K_M decode,
         * H100 same-machine A/B: 371.0-372.4 -> 374.3-375.1 t/s) */
#pragma unroll
        for (int k = VPN; k < VB; k++)
            asm volatile("prefetch.global.L1 [%0];" ::"l"(v_row(start + vg + 4 * k)));
    }
    /* The output projection may launch now: its blocks take the SMs this
     * grid leaves and ask L2 for their rows while the attention's chain of
     * round trips runs. H200 same-machine A/B against triggering after the V
     * mix: 1.1B Q4_0 1,591-1,596 vs 1,510-1,512 t/s, 8B 391-394 vs 382-383
     * (pass 4, before the K/V loads moved above the wait, saw no gain). */
    pdl_trigger();
    if (early) pdl_wait();
    if (ra.qkv) {
        const float *b = ra.bias;
        warp_prep_head<HD>(ra.qkv + (size_t)h * HD, b ? b + (size_t)h * HD : nullptr, ra.q_norm,
                           ra.eps, ra.inv_freq, ra.layout, cur, true, scale, qs, lane);
        if (own) { /* uniform per block: the barrier below is safe */
            const size_t ko = (size_t)(nh + g) * HD, vo = (size_t)(nh + nkv + g) * HD;
            if (j == 0) {
                warp_prep_head<HD>(ra.qkv + ko, b ? b + ko : nullptr, ra.k_norm, ra.eps,
                                   ra.inv_freq, ra.layout, cur, true, 1.0f, kv_sh[0], lane);
                warp_store_row<HD>(kv_sh[0], kb + (size_t)cur * row, lane);
            }
            if (j == (G > 1 ? 1 : 0)) {
                warp_prep_head<HD>(ra.qkv + vo, b ? b + vo : nullptr, nullptr, ra.eps, ra.inv_freq,
                                   ra.layout, cur, false, 1.0f, kv_sh[1], lane);
                warp_store_row<HD>(kv_sh[1], vb + (size_t)cur * row, lane);
            }
            __syncthreads();
        }
    } else {
        const float *qh = q + ((size_t)t * nh + h) * HD;
        for (int d = lane; d < HD; d += 32)
            qs[d] = qh[d] * scale;
    }
    __syncwarp();
    /* the K and V rows of the tile from p0 into stage st (rows past end
     * repeat its last row: they weigh nothing) */
    const bool multi = STG && end - start > 32; /* uniform per block */
    auto stage_tile = [&](int p0, int st) {
        for (int i = threadIdx.x; i < 2 * 32 * PR; i += blockDim.x) {
            const int w = i / (32 * PR), r = i / PR % 32, pc = i % PR;
            const __half *src = (w ? vb : kb) + (size_t)min(p0 + r, end - 1) * row + 8 * pc;
            uint8_t *dst = &tiles[st][w][r * RS + 16 * pc];
#if LMC_CP_ASYNC
            cp_async16(dst, src);
#else
            *(uint4 *)dst = __ldg((const uint4 *)src);
#endif
        }
    };
    float m = -INFINITY, l = 0.0f, acc[VD];
#pragma unroll
    for (int i = 0; i < VD; i++)
        acc[i] = 0.0f;
    for (int p0 = start, it = 0; p0 < end; p0 += 32, it++) {
        const int p = p0 + lane;
        const bool in = p < end;
        float s = 0.0f;
        const bool staged = multi && it > 0; /* this tile is in stage it & 1 */
        if (multi) {
            if (p0 + 32 < end) stage_tile(p0 + 32, (it + 1) & 1);
            cp_commit();
            if (staged) {
                cp_wait<1>();
                __syncthreads();
            }
        }
        const uint8_t *ks = &tiles[it & 1][0][0], *vs_ = &tiles[it & 1][1][0];
        /* the K row (or pieces of 128 bytes), all loads of a piece in flight */
#pragma unroll
        for (int d0 = 0; d0 < HD / 8; d0 += KP) {
            if (staged) {
#pragma unroll
                for (int i = 0; i < KP; i++)
                    kv[i] = *(const uint4 *)(ks + lane * RS + 16 * (d0 + i));
            } else if (!KROW || p0 != start) {
                const uint4 *kr = (const uint4 *)(kb + (size_t)(in ? p : start) * row) + d0;
#pragma unroll
                for (int i = 0; i < KP; i++)
                    kv[i] = __ldg(kr + i);
            }
#pragma unroll
            for (int i = 0; i < KP; i++) {
                const __half2 *h2 = (const __half2 *)&kv[i];
                const float4 *qq = (const float4 *)(qs + 8 * (d0 + i));
                float4 a = qq[0], b = qq[1];
                float2 k0 = __half22float2(h2[0]), k1 = __half22float2(h2[1]);
                float2 k2 = __half22float2(h2[2]), k3 = __half22float2(h2[3]);
                s += a.x * k0.x + a.y * k0.y + a.z * k1.x + a.w * k1.y + b.x * k2.x + b.y * k2.y +
                     b.z * k3.x + b.w * k3.y;
            }
        }
        if (own && p == cur) { /* this row was written by this kernel: use the shared copy */
            s = 0.0f;
            for (int d = 0; d < HD; d++)
                s += qs[d] * kv_sh[0][d];
        }
        const float sj = in ? s : -INFINITY;
        const float mn = fmaxf(m, warp_max(sj)); /* finite: lane 0 is in range */
        const float a = __expf(m - mn);
        const float pr = in ? __expf(sj - mn) : 0.0f;
        l = l * a + warp_sum(pr);
        m = mn;
#pragma unroll
        for (int i = 0; i < VD; i++)
            acc[i] *= a;
#pragma unroll
        for (int k0 = 0; k0 < 8; k0 += VB) {
            uint4 vv[VB][VU];
            const bool pre = VPRE && k0 == 0 && p0 == start;
#pragma unroll
            for (int k = 0; k < VB; k++) {
                const int rl = vg + 4 * (k0 + k); /* the row's place in the tile */
                const uint4 *vr = v_row(p0 + rl);
#pragma unroll
                for (int u = 0; u < VU; u++)
                    vv[k][u] = pre && k < VPN ? vpre[k < VPN ? k : 0][u]
                               : staged       ? *(const uint4 *)(vs_ + rl * RS + 16 * (vs * VU + u))
                                              : __ldg(vr + u);
            }
#pragma unroll
            for (int k = 0; k < VB; k++) {
                const int pp = p0 + vg + 4 * (k0 + k);
                const float pk = __shfl_sync(0xffffffffu, pr, vg + 4 * (k0 + k)); /* 0 past end */
                const bool mine = own && pp == cur;
#pragma unroll
                for (int u = 0; u < VU; u++) {
                    const __half2 *h2 = (const __half2 *)&vv[k][u];
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float2 f = __half22float2(h2[e]);
                        const int d = 8 * u + 2 * e;
                        if (mine) /* written by this kernel: the shared copy */
                            f = make_float2(kv_sh[1][vs * VD + d], kv_sh[1][vs * VD + d + 1]);
                        acc[d] += pk * f.x;
                        acc[d + 1] += pk * f.y;
                    }
                }
            }
        }
        if (multi) __syncthreads(); /* the next tile's copies go into the other stage */
    }
    /* sum the four groups, then lane L takes dimensions L*DPL.. (held by
     * lane L/4 of each group at offset (L%4)*DPL), the layout used below */
#pragma unroll
    for (int i = 0; i < VD; i++) {
        acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], 8);
        acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], 16);
    }
    float o[DPL];
#pragma unroll
    for (int i = 0; i < VD; i++) {
        float v = __shfl_sync(0xffffffffu, acc[i], lane >> 2);
        if (i / DPL == (lane & 3)) o[i % DPL] = v;
    }
    dec_tail<HD, false>(o, m, l, true, t, h, nh, c, n_act, n_split, part, cnt, blockIdx.x, is_last,
                        qs, out, out_q, out_s, lane);
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
    if (out_q) warp_store_q8(v, out_q + i, out_s + i / 32, threadIdx.x & 31);
}

/* Two elements per thread (half2 loads and stores). */
__global__ void swiglu_kernel(const __half2 *gu, int n_ff, __half2 *out) {
    int t = blockIdx.y, n2 = n_ff / 2;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n2; i += gridDim.x * blockDim.x) {
        float2 g = __half22float2(gu[(size_t)t * n_ff + i]);
        float2 u = __half22float2(gu[(size_t)t * n_ff + n2 + i]);
        out[(size_t)t * n2 + i] =
            __floats2half2_rn(g.x / (1.0f + __expf(-g.x)) * u.x, g.y / (1.0f + __expf(-g.y)) * u.y);
    }
}

__global__ void gather_kernel(const float *x, int n, const int32_t *idx, float *y) {
    const float *src = x + (size_t)idx[blockIdx.x] * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        y[(size_t)blockIdx.x * n + i] = src[i];
}

/* Launches the decode attention (n_split > 1) for n_tok tokens. */
bool dec_launch(cudaStream_t st, const float *q, rope_args ra, int n_tok, int nh, int nkv, int hd,
                __half *kc, __half *vc, int n_ctx, const int32_t *pos, const int32_t *seq,
                int n_split, float *part, int32_t *counters, float *out, int8_t *out_q,
                float *out_s, bool staged) {
    int G = nh / nkv;
    if (n_split < 2 || n_split > ATT_MAX_SPLIT || G < 1 || G > 16 || (hd > 128 && G > 8))
        return false;
    int *cn = (int *)counters;
    float2 *os = (float2 *)out_s;
    /* chunks of several tiles on tensor cores; one-tile chunks stay on the
     * per-lane form (the tensor-core form there: 8B decode at 512 positions
     * 418-429 -> 410-418 t/s, 1.1B Q4_0 1,544-1,576 -> 1,478-1,482, H200) */
    if (staged && dec_mma_launch(st, q, ra, n_tok, nh, nkv, hd, kc, vc, n_ctx, pos, seq, n_split,
                                 part, cn, out, out_q, os))
        return true;
    dim3 grid(n_tok * nkv, n_split), block(32 * G);
#define LMC_DEC_S(HD, MAXT, S)                                                                     \
    launch(attn_dec_kernel<HD, MAXT, S>, grid, block, st, q, ra, nh, nkv, kc, vc, n_ctx, pos, seq, \
           n_split, part, cn, out, out_q, os)
#define LMC_DEC(HD, MAXT) (staged ? LMC_DEC_S(HD, MAXT, true) : LMC_DEC_S(HD, MAXT, false))
    /* up to 8 heads per group: 256-thread blocks, so the compiler may use
     * more registers than the 512-thread bound allows (which spilled) */
    switch (hd) {
    case 64:
        if (G <= 8)
            LMC_DEC(64, 256);
        else
            LMC_DEC(64, 512);
        return true;
    case 128:
        if (G <= 8)
            LMC_DEC(128, 256);
        else
            LMC_DEC(128, 512);
        return true;
    case 256: /* no staged form (its tiles would not fit) */
        LMC_DEC_S(256, 256, false);
        return true;
    default:
        return false;
    }
#undef LMC_DEC
#undef LMC_DEC_S
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

extern "C" void lmc_act_q8_256(cudaStream_t st, const float *x, int n_tok, int n, const float *w,
                               float eps, int8_t *out_q, float *out_s) {
    launch(act256_kernel, dim3((n / 256 + 7) / 8, n_tok), dim3(256), st, x, n, w, eps, out_q,
           (float2 *)out_s);
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
    int per = 256 / threads < 1                ? 1
              : 256 / threads > ROPE_MAX_HEADS ? ROPE_MAX_HEADS
                                               : 256 / threads;
    int heads = nh + 2 * nkv;
    dim3 grid(n_tok, (heads + per * ROPE_ROUNDS - 1) / (per * ROPE_ROUNDS));
    launch(qkv_rope_kernel, grid, dim3(threads, per), st, qkv, nh, nkv, hd, bias, q_norm, k_norm,
           eps, inv_freq, layout, pos, seq, q_out, (__half *)k_cache, (__half *)v_cache, n_ctx);
}

extern "C" bool lmc_attention(cudaStream_t st, const float *q, int n_tok, int nh, int nkv, int hd,
                              const uint16_t *k_cache, const uint16_t *v_cache, int n_ctx,
                              const int32_t *pos, const int32_t *seq, int n_split, float *part,
                              int32_t *counters, float *out, int8_t *out_q, float *out_s,
                              bool staged) {
    int G = nh / nkv;
    if (n_split < 1 || n_split > ATT_MAX_SPLIT) return false;
    dim3 grid(n_tok * nkv, n_split);
    const __half *kc = (const __half *)k_cache, *vc = (const __half *)v_cache;
    bool ok;
    if (n_split > 1 && counters) {
        rope_args none = {};
        /* the caches are only written when rope_args carries qkv */
        return dec_launch(st, q, none, n_tok, nh, nkv, hd, (__half *)k_cache, (__half *)v_cache,
                          n_ctx, pos, seq, n_split, part, counters, out, out_q, out_s, staged);
    }
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

extern "C" void lmc_swiglu_f16(cudaStream_t st, const uint16_t *gu, int n_tok, int n_ff,
                               uint16_t *out) {
    dim3 grid((n_ff / 2 + 255) / 256, n_tok);
    swiglu_kernel<<<grid, 256, 0, st>>>((const __half2 *)gu, n_ff, (__half2 *)out);
}

extern "C" void lmc_gather_rows(cudaStream_t st, const float *x, int n, const int32_t *idx,
                                int n_idx, float *y) {
    gather_kernel<<<n_idx, 256, 0, st>>>(x, n, idx, y);
}

/* At most 32 chunks per KV head (at least 128 blocks in all: 64 chunks with
 * two KV heads). More chunks make every block short but the last one's merge
 * long (256 chunks: 16-32 rounds of loads per head), and past a few thousand
 * positions the merge and every block's start dominate. H200, decode t/s at
 * 4k / 16k positions with at most 256 / 128 / 64 / 32 / 16 chunks: 8B Q4_K_M
 * (8 KV heads) 304 / 340 / 318 / 348 / 303 and 196 / 205 / 224 / 237 / 171,
 * 1.1B Q4_0 (4) 939 / 1,169 / 1,059 / 1,149 / 998 and 551 / 596 / 664 / 711 /
 * 507; at 1k positions all within noise. LOCALM_CUDA_DEC_SPLIT=n sets the
 * cap, for measurements. */
extern "C" int lmc_attention_dec_split(int n_ctx, int nkv) {
    /* read at every load, so a test can set it for one engine */
    const char *e = getenv("LOCALM_CUDA_DEC_SPLIT");
    int forced = e && atoi(e) >= 2 && atoi(e) <= ATT_MAX_SPLIT ? atoi(e) : 0;
    int cap = forced ? forced : nkv > 0 && 128 / nkv > 32 ? 128 / nkv : 32;
    if (cap > ATT_MAX_SPLIT) cap = ATT_MAX_SPLIT;
    int split = (n_ctx + DEC_CHUNK - 1) / DEC_CHUNK;
    return split < 2 ? 2 : split > cap ? cap : split;
}

extern "C" bool lmc_attention_rope1(cudaStream_t st, const float *qkv, int nh, int nkv, int hd,
                                    const float *bias, const float *q_norm, const float *k_norm,
                                    float eps, const float *inv_freq, int layout, uint16_t *k_cache,
                                    uint16_t *v_cache, int n_ctx, const int32_t *pos,
                                    const int32_t *seq, int n_split, float *part, int32_t *counters,
                                    float *out, int8_t *out_q, float *out_s, bool staged) {
    if (!qkv || !counters) return false;
    rope_args ra = {qkv, bias, q_norm, k_norm, inv_freq, eps, layout};
    return dec_launch(st, nullptr, ra, 1, nh, nkv, hd, (__half *)k_cache, (__half *)v_cache, n_ctx,
                      pos, seq, n_split, part, counters, out, out_q, out_s, staged);
}
