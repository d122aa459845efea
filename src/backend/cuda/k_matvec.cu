/* k_matvec.cu — decode matrix-vector products for every weight type: weights
 * streamed once from VRAM in their GGUF blocks, one warp per R rows, each lane
 * a 32-element unit at a time; quantised types use int8 activations and dp4a,
 * float types 16-byte loads and float FMAs. Several tokens (NT) share each
 * weight load, so small batches cost about as much as one token. */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/quant.cuh"
#include <stdlib.h>

using namespace lmc;

namespace {

constexpr int WARPS = 4;

__device__ __forceinline__ float silu(float g) {
    return g / (1.0f + __expf(-g));
}

/* Every mat-vec kernel starts the same way: an L2 prefetch of the first
 * PF_BYTES of its block's rows of each matrix, then pdl_trigger(), then
 * pdl_wait(). So the next kernel is let onto the GPU as soon as this one's
 * last wave is placed, and its blocks, taking the SMs this one leaves, get
 * their first weights under way while this one still streams: the kernel
 * boundary no longer drains the memory system. Measured on the H100 (64-token
 * prompt): the prefetch 1.1B Q4_0 1,266 -> 1,301 t/s, 8B Q4_K_M 337 -> 353;
 * then the early trigger 1,323 -> 1,363 and 351 -> 358. Without the prefetch the early
 * trigger was slower (the waiting blocks only took slots); 32 KB or whole
 * rows of prefetch did worse than 16 KB on the 8B (the first wave's
 * prefetch then crowds L2). */
constexpr size_t PF_BYTES = 16384;

/* That prefetch for a block's rows [rb, rb + nr) (clipped to rows) of w and,
 * when given, w2. */
__device__ __forceinline__ void prefetch_rows(const uint8_t *w, const uint8_t *w2, size_t row_bytes,
                                              int rb, int nr, int rows, size_t cap = PF_BYTES) {
    if (rb >= rows) return;
    size_t off = (size_t)rb * row_bytes, n = (size_t)min(nr, rows - rb) * row_bytes;
    prefetch_l2(w + off, n, cap);
    if (w2) prefetch_l2(w2 + off, n, cap);
}

/* s[0] (and s[1] for GLU) += the R rows from r0 against NT q8 activations;
 * each lane sums its units, the caller reduces over the warp. */
template <int T, int NT, int R, bool GLU>
__device__ __forceinline__ void
accum_q8(const uint8_t *__restrict__ w, const uint8_t *__restrict__ w2, size_t row_bytes, int n_in,
         int r0, int rows, const int8_t *__restrict__ xq, const float2 *__restrict__ xs, int u0,
         int ustep, float (&s)[2][R][NT]) {
    const int n_units = n_in / 32;
    /* Unrolled so that a lane's next weight loads are issued before the
     * current ones return: short rows (n_in 2048: two units per lane) are
     * latency-bound otherwise. */
#pragma unroll 2
    for (int u = u0; u < n_units; u += ustep) {
        int xv[NT][8];
        float xd[NT], xsd[NT];
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const int4 *p = (const int4 *)(xq + (size_t)t * n_in + 32 * u);
            int4 a = __ldg(p), b = __ldg(p + 1);
            xv[t][0] = a.x, xv[t][1] = a.y, xv[t][2] = a.z, xv[t][3] = a.w;
            xv[t][4] = b.x, xv[t][5] = b.y, xv[t][6] = b.z, xv[t][7] = b.w;
            float2 sc = __ldg(xs + (size_t)t * n_units + u);
            xd[t] = sc.x, xsd[t] = sc.y;
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (r0 + r >= rows) break;
            const uint8_t *row = w + (size_t)(r0 + r) * row_bytes;
#pragma unroll
            for (int t = 0; t < NT; t++)
                s[0][r][t] += dot_unit<T>(row, u, xv[t], xd[t], xsd[t]);
            if (GLU) {
                const uint8_t *row2 = w2 + (size_t)(r0 + r) * row_bytes;
#pragma unroll
                for (int t = 0; t < NT; t++)
                    s[1][r][t] += dot_unit<T>(row2, u, xv[t], xd[t], xsd[t]);
            }
        }
    }
}

/* Writes row r0 + r of token t: silu(a) * b for GLU, else a, added to y when
 * acc. */
template <bool GLU>
__device__ __forceinline__ void store_y(float a, float b, float *y, int y_stride, int row, int t,
                                        bool acc) {
    float v = GLU ? silu(a) * b : a;
    float *dst = y + (size_t)t * y_stride + row;
    *dst = acc ? *dst + v : v;
}

/* Reduces each lane's sums s over the warp and writes the rows. With KS > 1
 * warps wp .. wp + KS - 1 share the rows from r0 (kw: this warp's index among
 * them): their sums meet in shared memory and are added in warp order, so
 * the result does not depend on timing. */
template <int NT, int R, bool GLU, int KS>
__device__ __forceinline__ void finish(float (&s)[2][R][NT], int r0, int rows, float *y,
                                       int y_stride, bool acc, int lane, int wp = 0, int kw = 0) {
    __shared__ float sh[KS > 1 ? WARPS : 1][2][R][NT];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float a = warp_sum(s[0][r][t]);
            float b = GLU ? warp_sum(s[1][r][t]) : 0.0f;
            if (KS == 1 && lane == 0 && r0 + r < rows)
                store_y<GLU>(a, b, y, y_stride, r0 + r, t, acc);
            if (KS > 1 && lane == 0) sh[wp][0][r][t] = a, sh[wp][1][r][t] = b;
        }
    if constexpr (KS > 1) {
        __syncthreads();
        if (kw != 0 || lane >= R * NT) return;
        const int r = lane / NT, t = lane % NT;
        if (r0 + r >= rows) return;
        float a = 0.0f, b = 0.0f;
#pragma unroll
        for (int k = 0; k < KS; k++)
            a += sh[wp + k][0][r][t], b += sh[wp + k][1][r][t];
        store_y<GLU>(a, b, y, y_stride, r0 + r, t, acc);
    }
}

/* KS warps share each row (KS = 1: a warp per row): warp k of a row takes
 * units k*32 + lane, stepping 32*KS, and the KS partial sums are added in a
 * fixed order through shared memory, so results do not depend on timing. A
 * block's rows are then done in 1/KS of the time: for long rows (the down
 * projection, 14336 inputs) a block's serial chain of weight round trips, not
 * the bytes, set the kernel's tail. */
template <int T, int NT, int R, bool GLU, int KS>
__global__ void __launch_bounds__(WARPS * 32)
    mv_q8(const uint8_t *__restrict__ w, const uint8_t *__restrict__ w2, size_t row_bytes, int n_in,
          int rows, const int8_t *__restrict__ xq, const float2 *__restrict__ xs, float *y,
          int y_stride, bool acc) {
    constexpr int RG = WARPS / KS; /* row groups per block */
    const int lane = threadIdx.x & 31, wp = threadIdx.x / 32, kw = wp % KS;
    const int r0 = (blockIdx.x * RG + wp / KS) * R;
    prefetch_rows(w, GLU ? w2 : nullptr, row_bytes, blockIdx.x * RG * R, RG * R, rows);
    pdl_trigger();
    pdl_wait();
    if (KS == 1 && r0 >= rows) return;
    float s[2][R][NT] = {};
    if (r0 < rows)
        accum_q8<T, NT, R, GLU>(w, w2, row_bytes, n_in, r0, rows, xq, xs, lane + 32 * kw, 32 * KS,
                                s);
    finish<NT, R, GLU, KS>(s, r0, rows, y, y_stride, acc, lane, wp, kw);
}

/* Two mat-vecs on the same q8 input in one launch (wq|wk and a wv of another
 * type, as Q4_K_M files have them): blocks [0, nb1) take matrix 1, the rest
 * matrix 2, so one launch (and its latency) is saved per layer. */
template <int T1, int T2, int NT>
__global__ void __launch_bounds__(WARPS * 32)
    mv_q8_pair(const uint8_t *__restrict__ w1, size_t rb1, int rows1, float *y1,
               const uint8_t *__restrict__ w2, size_t rb2, int rows2, float *y2, int n_in,
               const int8_t *__restrict__ xq, const float2 *__restrict__ xs, int y_stride) {
    const int lane = threadIdx.x & 31;
    const int nb1 = (rows1 + WARPS - 1) / WARPS;
    const bool first = (int)blockIdx.x < nb1;
    const int rb = (first ? blockIdx.x : blockIdx.x - nb1) * WARPS, r0 = rb + threadIdx.x / 32;
    prefetch_rows(first ? w1 : w2, nullptr, first ? rb1 : rb2, rb, WARPS, first ? rows1 : rows2);
    pdl_trigger();
    pdl_wait();
    float s[2][1][NT] = {};
    if (first) {
        if (r0 >= rows1) return;
        accum_q8<T1, NT, 1, false>(w1, nullptr, rb1, n_in, r0, rows1, xq, xs, lane, 32, s);
        finish<NT, 1, false, 1>(s, r0, rows1, y1, y_stride, false, lane);
    } else {
        if (r0 >= rows2) return;
        accum_q8<T2, NT, 1, false>(w2, nullptr, rb2, n_in, r0, rows2, xq, xs, lane, 32, s);
        finish<NT, 1, false, 1>(s, r0, rows2, y2, y_stride, false, lane);
    }
}

/* SwiGLU mat-vec whose result goes straight into the q8 blocks the down
 * projection reads (saving a float round trip and a conversion kernel): a
 * block owns 32 consecutive rows, i.e. one q8 block per token, as 32 / R
 * warps of R rows. */
template <int T, int NT, int R, int KS>
__global__ void __launch_bounds__(1024 / R * KS)
    mv_glu_q8(const uint8_t *__restrict__ w, const uint8_t *__restrict__ w2, size_t row_bytes,
              int n_in, int rows, const int8_t *__restrict__ xq, const float2 *__restrict__ xs,
              int8_t *yq, float2 *ys, size_t pf_cap) {
    __shared__ float part[32 / R * KS][R][NT][2]; /* each warp's gate and up sums */
    const int lane = threadIdx.x & 31, wp = threadIdx.x / 32, kw = wp % KS;
    const int rb = blockIdx.x * 32, r0 = rb + wp / KS * R;
    prefetch_rows(w, w2, row_bytes, rb, 32, rows, pf_cap);
    pdl_trigger();
    pdl_wait();
    float s[2][R][NT] = {};
    accum_q8<T, NT, R, true>(w, w2, row_bytes, n_in, r0, rows, xq, xs, lane + 32 * kw, 32 * KS, s);
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float a = warp_sum(s[0][r][t]), b = warp_sum(s[1][r][t]);
            if (lane == 0) part[wp][r][t][0] = a, part[wp][r][t][1] = b;
        }
    __syncthreads();
    if (wp < NT) { /* lane: row rb + lane, the sums of its KS warps in warp order */
        const int g = lane / R * KS, r = lane % R;
        float a = 0.0f, b = 0.0f;
#pragma unroll
        for (int k = 0; k < KS; k++)
            a += part[g + k][r][wp][0], b += part[g + k][r][wp][1];
        float v = silu(a) * b;
        size_t i = (size_t)wp * rows + rb + lane; /* warp wp writes token wp */
        warp_store_q8(v, yq + i, ys + i / 32, lane);
    }
}

/* 8 weights of a float-type row starting at element 8c. */
template <int T> __device__ __forceinline__ void load8(const uint8_t *row, int c, float *o);
template <>
__device__ __forceinline__ void load8<LM_TYPE_F16>(const uint8_t *row, int c, float *o) {
    uint4 v = __ldg((const uint4 *)row + c);
    const __half2 *h = (const __half2 *)&v;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = __half22float2(h[i]);
        o[2 * i] = f.x, o[2 * i + 1] = f.y;
    }
}
template <>
__device__ __forceinline__ void load8<LM_TYPE_BF16>(const uint8_t *row, int c, float *o) {
    uint4 v = __ldg((const uint4 *)row + c);
    uint32_t a[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        o[2 * i] = __uint_as_float(a[i] << 16);
        o[2 * i + 1] = __uint_as_float(a[i] & 0xffff0000u);
    }
}
template <>
__device__ __forceinline__ void load8<LM_TYPE_F32>(const uint8_t *row, int c, float *o) {
    const float4 *p = (const float4 *)row + 2 * c;
    float4 a = __ldg(p), b = __ldg(p + 1);
    o[0] = a.x, o[1] = a.y, o[2] = a.z, o[3] = a.w, o[4] = b.x, o[5] = b.y, o[6] = b.z, o[7] = b.w;
}

template <int T, int NT, int R, bool GLU, int KS>
__global__ void __launch_bounds__(WARPS * 32)
    mv_f(const uint8_t *__restrict__ w, const uint8_t *__restrict__ w2, size_t row_bytes, int n_in,
         int rows, const float *__restrict__ x, float *y, int y_stride, bool acc) {
    constexpr int RG = WARPS / KS; /* row groups per block */
    const int lane = threadIdx.x & 31, wp = threadIdx.x / 32, kw = wp % KS;
    const int r0 = (blockIdx.x * RG + wp / KS) * R;
    prefetch_rows(w, GLU ? w2 : nullptr, row_bytes, blockIdx.x * RG * R, RG * R, rows);
    pdl_trigger();
    pdl_wait();
    if (KS == 1 && r0 >= rows) return;
    float s[2][R][NT] = {};
#pragma unroll 2
    for (int c = lane + 32 * kw; c < (r0 < rows ? n_in / 8 : 0); c += 32 * KS) {
        float xv[NT][8];
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float4 *p = (const float4 *)(x + (size_t)t * n_in) + 2 * c;
            float4 a = __ldg(p), b = __ldg(p + 1);
            xv[t][0] = a.x, xv[t][1] = a.y, xv[t][2] = a.z, xv[t][3] = a.w;
            xv[t][4] = b.x, xv[t][5] = b.y, xv[t][6] = b.z, xv[t][7] = b.w;
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (r0 + r >= rows) break;
            float wv[8];
            load8<T>(w + (size_t)(r0 + r) * row_bytes, c, wv);
#pragma unroll
            for (int t = 0; t < NT; t++)
#pragma unroll
                for (int i = 0; i < 8; i++)
                    s[0][r][t] += wv[i] * xv[t][i];
            if (GLU) {
                load8<T>(w2 + (size_t)(r0 + r) * row_bytes, c, wv);
#pragma unroll
                for (int t = 0; t < NT; t++)
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        s[1][r][t] += wv[i] * xv[t][i];
            }
        }
    }
    finish<NT, R, GLU, KS>(s, r0, rows, y, y_stride, acc, lane, wp, kw);
}

struct mv_args {
    uint32_t type;
    const uint8_t *w, *w2;
    size_t row_bytes;
    int n_in, rows;
    const float *xf;
    const int8_t *xq;
    const float *xs;
    float *y;
    int y_stride;
    bool acc;
};

/* Warps per row (KS) for rows of n_in inputs, R rows per warp: enough that a
 * warp's share is at most 128 units of 32 weights (q8 types; four per lane,
 * two round trips of the unrolled loop) or 128 16-byte pieces (float types).
 * Measured on an H200 (bench_cuda_kernels, fraction of the copy bandwidth):
 * Q4_K 4096 x 14336 0.45 -> 0.63 with four warps per row, 14336 x 4096 (two
 * rows per warp) 0.56 -> 0.70 with two, 4096 x 4096 0.41 -> 0.40 with two
 * (so one), 2048 x 2048 Q4_0 0.18 -> 0.13 with two (so one). In the decode
 * graph a lower bound (more warps a row) was slower too: H100, decode after a
 * 128-token prompt, at most 128 / 64 / 32 units a warp: 1.1B Q4_0 1,563-1,573
 * / 1,497-1,505 / 1,462-1,464 t/s, 8B Q4_K_M 380-381 / 379-381 / 379.
 * LOCALM_CUDA_KS=n overrides it for measurements. */
static int ks_for(int pieces_per_row, int r) {
    static int forced = -1;
    if (forced < 0) {
        const char *e = getenv("LOCALM_CUDA_KS");
        forced = e ? atoi(e) : 0;
    }
    if (forced == 1 || forced == 2 || forced == 4) return forced;
    int per_warp = pieces_per_row * r;
    return per_warp <= 128 ? 1 : per_warp <= 256 ? 2 : 4;
}

template <int T, int NT, int R, bool GLU, int KS>
void launch_ks(cudaStream_t st, const mv_args &a) {
    int rows_per_block = WARPS / KS * R;
    dim3 grid((a.rows + rows_per_block - 1) / rows_per_block);
    if constexpr (T == LM_TYPE_F16 || T == LM_TYPE_BF16 || T == LM_TYPE_F32)
        launch(mv_f<T, NT, R, GLU, KS>, grid, dim3(WARPS * 32), st, a.w, a.w2, a.row_bytes, a.n_in,
               a.rows, a.xf, a.y, a.y_stride, a.acc);
    else
        launch(mv_q8<T, NT, R, GLU, KS>, grid, dim3(WARPS * 32), st, a.w, a.w2, a.row_bytes, a.n_in,
               a.rows, a.xq, (const float2 *)a.xs, a.y, a.y_stride, a.acc);
}

template <int T, int NT, int R, bool GLU> void launch_t(cudaStream_t st, const mv_args &a) {
    constexpr bool F = T == LM_TYPE_F16 || T == LM_TYPE_BF16 || T == LM_TYPE_F32;
    int pieces = F ? a.n_in / 8 : a.n_in / 32;
    switch (ks_for(pieces, R)) {
    case 2:
        launch_ks<T, NT, R, GLU, 2>(st, a);
        break;
    case 4:
        launch_ks<T, NT, R, GLU, 4>(st, a);
        break;
    default:
        launch_ks<T, NT, R, GLU, 1>(st, a);
        break;
    }
}

template <int T>
void launch_glu_q8(cudaStream_t st, const mv_args &a, int nt, int8_t *yq, float2 *ys) {
    dim3 grid(a.rows / 32);
    /* Where gate and up together take at most 16 MB (a third of an H100's L2)
     * each block asks L2 for 32 KB of each matrix's rows at launch instead of
     * PF_BYTES (on the 1.1B, 32 of its 36 KB): 1.1B Q4_0 decode (13 MB)
     * 1,391 -> 1,561 t/s in a same-machine A/B on an H200. A 32 KB cap on
     * the 8B's (66 MB) was slower, 381 -> 377: there it stays PF_BYTES. */
    size_t pf_cap = 2 * a.row_bytes * (size_t)a.rows <= ((size_t)16 << 20) ? 32768 : PF_BYTES;
#define LMC_GQ(NT, R, KS)                                                                          \
    launch(mv_glu_q8<T, NT, R, KS>, grid, dim3(1024 / R * KS), st, a.w, a.w2, a.row_bytes, a.n_in, \
           a.rows, a.xq, (const float2 *)a.xs, yq, ys, pf_cap)
    /* Two rows per warp: 512-thread blocks, two per SM, so the grid of rows /
     * 32 blocks runs in fewer waves than with 1024-thread blocks. Short rows
     * (2048 inputs) go faster as four rows per warp, two warps sharing each:
     * 1.1B Q4_0 decode 1,417-1,454 -> 1,492 t/s on an H200; with 4096 inputs
     * that was slower (8B 378-381 -> 366), as was any 1024-thread form (one
     * block per SM at 62-64 registers). */
    if (nt == 2)
        LMC_GQ(2, 2, 1);
    else if (a.n_in <= 2048)
        LMC_GQ(1, 4, 2);
    else
        LMC_GQ(1, 2, 1);
#undef LMC_GQ
}

template <int T, bool GLU> void launch_nt(cudaStream_t st, const mv_args &a, int nt) {
    switch (nt) {
    case 1:
        if (a.rows >= 8192)
            launch_t<T, 1, 2, GLU>(st, a);
        else
            launch_t<T, 1, 1, GLU>(st, a);
        break;
    case 2:
        launch_t<T, 2, 1, GLU>(st, a);
        break;
    case 4:
        launch_t<T, 4, 1, GLU>(st, a);
        break;
    default:
        launch_t<T, 8, 1, GLU>(st, a);
        break;
    }
}

template <bool GLU> bool dispatch(cudaStream_t st, const mv_args &a, int nt) {
    return with_type<false>(a.type, [&](auto t) { launch_nt<decltype(t)::value, GLU>(st, a, nt); });
}

/* From this many tokens on, types lmc_mmq reads go to the int8 tensor
 * cores (k_mmq.cu) instead of the dp4a kernels below. H100, prompts of
 * 5 / 6 / 7 tokens (dp4a -> lmc_mmq): 8B Q4_K_M 6.0 -> 5.0, 6.3 -> 5.1, 8.3
 * -> 5.1 ms; 1.1B Q4_0 1.28 -> 0.94, 1.38 -> 0.95, 1.72 -> 0.96 ms. At 4
 * tokens the dp4a kernels are faster (8B 4.0 against 4.9 ms).
 * LOCALM_CUDA_MMQ_MIN=n moves the bound (n > 8: never below a prompt). */
static int mmq_min() {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("LOCALM_CUDA_MMQ_MIN");
        v = e ? atoi(e) : 5;
        if (v < 2) v = 2;
    }
    return v;
}

/* Splits n_tok into launches of 8, 4, 2 and 1 tokens. */
template <bool GLU> bool run(cudaStream_t st, mv_args a, int n_tok) {
    bool q8 = lmc_type_uses_q8(a.type);
    if (q8 && n_tok >= mmq_min() &&
        lmc_mmq(st, a.type, a.w, GLU ? a.w2 : nullptr, a.n_in, a.rows, a.xq, a.xs, n_tok, a.y,
                a.y_stride, a.acc, false))
        return true; /* else (other types, rows of n_in % 256 != 0) the kernels below */
    int units = a.n_in / 32;
    for (int t = 0; t < n_tok;) {
        int left = n_tok - t, nt = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        if (!dispatch<GLU>(st, a, nt)) return false;
        if (q8) {
            a.xq += (size_t)nt * a.n_in;
            a.xs += (size_t)nt * units * 2;
        } else {
            a.xf += (size_t)nt * a.n_in;
        }
        a.y += (size_t)nt * a.y_stride;
        t += nt;
    }
    return true;
}

} // namespace

extern "C" bool lmc_type_supported(uint32_t type) {
    return row_bytes_of(type, 256) != 0;
}

extern "C" bool lmc_type_uses_q8(uint32_t type) {
    return type != LM_TYPE_F16 && type != LM_TYPE_BF16 && type != LM_TYPE_F32;
}

extern "C" bool lmc_matvec(cudaStream_t st, uint32_t type, const void *w, int n_in, int rows,
                           const float *xf, const int8_t *xq, const float *xs, int n_tok, float *y,
                           int y_stride, bool accumulate) {
    size_t rb = whole_row_bytes(type, n_in);
    if (!rb) return false;
    mv_args a = {type, (const uint8_t *)w, nullptr,   rb, n_in, rows, xf, xq, xs,
                 y,    y_stride,           accumulate};
    return run<false>(st, a, n_tok);
}

extern "C" bool lmc_matvec_glu(cudaStream_t st, uint32_t type, const void *wg, const void *wu,
                               int n_in, int rows, const float *xf, const int8_t *xq,
                               const float *xs, int n_tok, float *y, int y_stride) {
    size_t rb = whole_row_bytes(type, n_in);
    if (!rb) return false;
    mv_args a = {
        type, (const uint8_t *)wg, (const uint8_t *)wu, rb, n_in, rows, xf, xq, xs, y, y_stride,
        false};
    return run<true>(st, a, n_tok);
}

extern "C" bool lmc_matvec_glu_q8(cudaStream_t st, uint32_t type, const void *wg, const void *wu,
                                  int n_in, int rows, const int8_t *xq, const float *xs, int n_tok,
                                  int8_t *yq, float *ys) {
    size_t rb = whole_row_bytes(type, n_in);
    if (!rb || rows % 32 || n_tok < 1 || n_tok > 2) return false;
    mv_args a = {
        type, (const uint8_t *)wg, (const uint8_t *)wu, rb, n_in, rows, nullptr, xq, xs, nullptr, 0,
        false};
    float2 *s2 = (float2 *)ys;
    return with_type<true>(
        type, [&](auto t) { launch_glu_q8<decltype(t)::value>(st, a, n_tok, yq, s2); });
}

namespace {
template <int T1, int T2, int NT>
void launch_pair(cudaStream_t st, const void *w1, size_t rb1, int rows1, float *y1, const void *w2,
                 size_t rb2, int rows2, float *y2, int n_in, const int8_t *xq, const float *xs,
                 int y_stride) {
    dim3 grid((rows1 + WARPS - 1) / WARPS + (rows2 + WARPS - 1) / WARPS);
    launch(mv_q8_pair<T1, T2, NT>, grid, dim3(WARPS * 32), st, (const uint8_t *)w1, rb1, rows1, y1,
           (const uint8_t *)w2, rb2, rows2, y2, n_in, xq, (const float2 *)xs, y_stride);
}
} // namespace

extern "C" bool lmc_matvec_pair(cudaStream_t st, uint32_t t1, const void *w1, int rows1, float *y1,
                                uint32_t t2, const void *w2, int rows2, float *y2, int n_in,
                                const int8_t *xq, const float *xs, int n_tok, int y_stride) {
    size_t rb1 = row_bytes_of(t1, n_in), rb2 = row_bytes_of(t2, n_in);
    if (n_tok >= mmq_min()) /* batches: the int8 tensor cores, one launch */
        return lmc_mmq_pair(st, t1, w1, rows1, y1, t2, w2, rows2, y2, n_in, xq, xs, n_tok, y_stride,
                            false);
    if (!rb1 || !rb2 || n_in % 256 || (n_tok != 1 && n_tok != 2)) return false;
#define LMC_PAIR(A, B)                                                                             \
    if (t1 == A && t2 == B) {                                                                      \
        if (n_tok == 1)                                                                            \
            launch_pair<A, B, 1>(st, w1, rb1, rows1, y1, w2, rb2, rows2, y2, n_in, xq, xs,         \
                                 y_stride);                                                        \
        else                                                                                       \
            launch_pair<A, B, 2>(st, w1, rb1, rows1, y1, w2, rb2, rows2, y2, n_in, xq, xs,         \
                                 y_stride);                                                        \
        return true;                                                                               \
    }
    LMC_PAIR(LM_TYPE_Q4_K, LM_TYPE_Q6_K)
    LMC_PAIR(LM_TYPE_Q5_K, LM_TYPE_Q6_K)
    LMC_PAIR(LM_TYPE_Q4_K, LM_TYPE_Q5_K)
#undef LMC_PAIR
    return false;
}
