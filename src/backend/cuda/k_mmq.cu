/* k_mmq.cu — quantised weights times a few tokens on the int8 tensor cores
 * (mma.sync m16n8k32): each weight is read once for up to 32 tokens, its
 * 4-8 bit quants fed to the tensor cores as int8 against the q8 activation
 * blocks the mat-vecs read, each 32-input unit's integer sums scaled in
 * float. A dp4a mat-vec does all its multiply-adds on the CUDA cores and
 * loads every token's activations per lane, so it slows with the tokens (8B
 * Q4_K_M: 3.7 ms for 2 tokens, 7.2 ms for 8); past 8 tokens the prompt path
 * dequantises every weight to half for cuBLAS, ~12.5 ms on the 8B whatever
 * the length up to ~100 tokens. H100, prompts of 8 / 16 / 32 tokens: 8B 7.2
 * -> 5.4, 12.4 -> 6.3 and 12.5 -> 9.0 ms; 1.1B Q4_0 2.4 -> 1.3 and 2.4 -> 1.8
 * ms at 16 / 32. With Q6_K staged by 16-byte copies and K-quant models
 * summing whole super-blocks in int32 (x256 below), H200: 8B Q4_K_M 5.5 /
 * 6.3 / 9.0 -> 4.4 / 5.2 / 7.6 ms. At 64 tokens cuBLAS is ahead on the 8B,
 * at 2-4 the dp4a kernels are: the callers route by token count. Types:
 * every quantised one (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K). */
#include "backend/cuda/cp_async.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/quant.cuh"

using namespace lmc;

namespace {

constexpr int MQ_WM = 2; /* row tiles of 16 per block */
constexpr int MQ_ROWS = 16 * MQ_WM;
constexpr int MQ_KC = 8;  /* units (of 32 inputs) per staged chunk */
constexpr int MQ_XW = 72; /* words per token of a chunk's q8 (64, padded against bank conflicts) */

/* Bytes of a chunk (8 units) of one row, per type. */
template <int T> __host__ __device__ constexpr int chunk_bytes() {
    return T == LM_TYPE_Q4_0   ? 144
           : T == LM_TYPE_Q4_1 ? 160
           : T == LM_TYPE_Q5_0 ? 176
           : T == LM_TYPE_Q5_1 ? 192
           : T == LM_TYPE_Q8_0 ? 272
           : T == LM_TYPE_Q4_K ? 144
           : T == LM_TYPE_Q5_K ? 176
                               : 210; /* Q6_K */
}
/* Words staged per row and chunk: the chunk plus a word, rounded to 4 mod 8
 * so that the 8 rows a fragment load touches fall in different banks and
 * rows stay 16-byte aligned for 16-byte copies. A chunk at an address that
 * is not 16-byte aligned (Q6_K's 210-byte ones start at any even address)
 * is staged from the 16-byte boundary below it: up to 14 bytes more, which
 * the count below still holds (pieces_of). */
template <int T> __host__ __device__ constexpr int row_words() {
    return (chunk_bytes<T>() / 4 + 4) / 8 * 8 + 4;
}
/* 16-byte pieces that cover a chunk starting at most 14 bytes past a
 * 16-byte boundary (every GGUF block starts at an even address). */
template <int T> __host__ __device__ constexpr int pieces_of() {
    return (chunk_bytes<T>() + 14 + 15) / 16;
}

/* Shared-memory reads of staged weight bytes (b: a byte address). */
__device__ __forceinline__ uint32_t sh_u16(const uint8_t *b) {
    return *(const unsigned short *)b;
}
__device__ __forceinline__ uint32_t sh_u32_a2(const uint8_t *b) {
    return sh_u16(b) | (sh_u16(b + 2) << 16);
}
__device__ __forceinline__ float sh_half(const uint8_t *b) {
    return __half2float(__ushort_as_half((unsigned short)sh_u16(b)));
}

/* One row's share of a unit as the A operand of mma.m16n8k32 (s8). Lane
 * 4 g + tig takes quants 8 tig .. 8 tig + 7 of the unit (k slots 4 tig ..
 * and 16 + 4 tig ..), so that its activation bytes are 8 contiguous ones;
 * w = a * q + b, b only where has_b() (Q4_0 and Q5_0 take q - 8 and q - 16
 * as their int8 quants instead of an offset). Q6_K's halves (quants 0-15, 16-31) have their own
 * integer scales: lanes tig < 2 hold the first, the others the second, and the two halves are
 * multiplied separately (s0, s1; the other half's lanes zero). */
struct arow {
    uint32_t lo, hi;
    float a, b;
    int s0, s1;
};

/* The nibble words of a Q4 unit (word w: quants 4w.. low, 16 + 4w.. high)
 * as this lane's quants 8 tig .. 8 tig + 7. */
__device__ __forceinline__ void nib_pair(uint32_t w0, uint32_t w1, int tig, arow &r) {
    const int sh = 4 * (tig >> 1);
    r.lo = (w0 >> sh) & 0x0F0F0F0Fu;
    r.hi = (w1 >> sh) & 0x0F0F0F0Fu;
}

/* This lane's quants from the 16 nibble bytes of a Q4_0 / Q4_1 / Q5_0 / Q5_1
 * unit at qs (2-byte aligned) in shared memory. */
__device__ __forceinline__ void sh_nibs(const uint8_t *qs, int tig, arow &r) {
    const uint8_t *q = qs + 8 * (tig & 1);
    nib_pair(sh_u32_a2(q), sh_u32_a2(q + 4), tig, r);
}

/* Row bytes of chunk in shared memory at b (its first byte), unit k, global
 * address of those bytes g (Q6_K's in-block layout depends on it). */
template <int T>
__device__ __forceinline__ void sh_arow(const uint8_t *b, uintptr_t g, int k, int tig, arow &r);

template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q4_0>(const uint8_t *b, uintptr_t, int k, int tig,
                                                      arow &r) {
    const uint8_t *blk = b + 18 * k;
    const float d = sh_half(blk);
    sh_nibs(blk + 2, tig, r);
    r.lo = __vsub4(r.lo, 0x08080808u); /* q - 8 fits int8: no offset term */
    r.hi = __vsub4(r.hi, 0x08080808u);
    r.a = d;
}
template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q4_1>(const uint8_t *b, uintptr_t, int k, int tig,
                                                      arow &r) {
    const uint8_t *blk = b + 20 * k;
    sh_nibs(blk + 4, tig, r);
    r.a = sh_half(blk);
    r.b = sh_half(blk + 2);
}
/* Q5_0 / Q5_1: quant i's fifth bit is bit i of qh; this lane's quants are
 * 8 tig .. 8 tig + 7, so their bits are qh >> 8 tig. */
__device__ __forceinline__ void q5_high(uint32_t qh, int tig, arow &r) {
    r.lo |= spread4((qh >> (8 * tig)) & 15u);
    r.hi |= spread4((qh >> (8 * tig + 4)) & 15u);
}
template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q5_0>(const uint8_t *b, uintptr_t, int k, int tig,
                                                      arow &r) {
    const uint8_t *blk = b + 22 * k;
    sh_nibs(blk + 6, tig, r);
    q5_high(sh_u32_a2(blk + 2), tig, r);
    r.lo = __vsub4(r.lo, 0x10101010u); /* q - 16 fits int8 */
    r.hi = __vsub4(r.hi, 0x10101010u);
    r.a = sh_half(blk);
}
template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q5_1>(const uint8_t *b, uintptr_t, int k, int tig,
                                                      arow &r) {
    const uint8_t *blk = b + 24 * k;
    sh_nibs(blk + 8, tig, r);
    q5_high(sh_u32_a2(blk + 4), tig, r);
    r.a = sh_half(blk);
    r.b = sh_half(blk + 2);
}
template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q8_0>(const uint8_t *b, uintptr_t, int k, int tig,
                                                      arow &r) {
    const uint8_t *blk = b + 34 * k;
    r.a = sh_half(blk);
    r.lo = sh_u32_a2(blk + 2 + 8 * tig);
    r.hi = sh_u32_a2(blk + 6 + 8 * tig);
}
/* (d * sc_j, dmin * m_j) of a Q4_K / Q5_K super-block staged in shared
 * memory at b (16-byte aligned: these chunks are staged whole 16-byte pieces
 * into rows of a multiple of 16 bytes). XI (activations quantised per 256,
 * see mmq_kernel): the integer sc_j in place of d * sc_j. */
template <bool XI> __device__ __forceinline__ float2 sh_k_scales(const uint8_t *b, int j) {
    const uint4 h = *(const uint4 *)b;
    if constexpr (XI) {
        const int2 sm = k_scale_ints(h, j);
        return make_float2(__int_as_float(sm.x),
                           __half2float(__ushort_as_half((unsigned short)(h.x >> 16))) *
                               (float)sm.y);
    } else {
        return k_scales_of(h, j);
    }
}
/* d of the super-block staged at b. */
__device__ __forceinline__ float sh_k_d(const uint8_t *b) {
    return sh_half(b);
}
template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q4_K>(const uint8_t *b, uintptr_t, int k, int tig,
                                                      arow &r) { /* a, b: kq_scale() */
    const uint32_t *q = (const uint32_t *)(b + 16 + 16 * k) + 2 * (tig & 1);
    nib_pair(q[0], q[1], tig, r);
}
template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q5_K>(const uint8_t *b, uintptr_t, int k, int tig,
                                                      arow &r) { /* a, b: kq_scale() */
    const uint32_t *q = (const uint32_t *)(b + 48 + 16 * k) + 2 * (tig & 1);
    nib_pair(q[0], q[1], tig, r);
    const uint32_t h = *(const uint32_t *)(b + 16 + 4 * k); /* bit i of byte c: quant 4i + c */
    r.lo |= ((h >> (2 * tig)) & 0x01010101u) << 4;
    r.hi |= ((h >> (2 * tig + 1)) & 0x01010101u) << 4;
}

/* Q4_K / Q5_K: the four lanes of a row each decode the scales of two of the
 * chunk's units once (ks: units 2 tig, 2 tig + 1), and unit k's pass from
 * lane 4 g + k / 2 by shuffle, instead of every lane decoding the 6-bit
 * header for every unit. */
template <int T> __host__ __device__ constexpr bool kq() {
    return T == LM_TYPE_Q4_K || T == LM_TYPE_Q5_K;
}
template <bool XI>
__device__ __forceinline__ void kq_scale(const float2 (&ks)[2], int k, int lane, arow &r) {
    const float2 v = (k & 1) ? ks[1] : ks[0];
    const int src = (lane & ~3) | (k >> 1);
    const float a = __shfl_sync(0xffffffffu, v.x, src);
    if constexpr (XI)
        r.s0 = __float_as_int(a);
    else
        r.a = a;
    r.b = -__shfl_sync(0xffffffffu, v.y, src);
}
template <>
__device__ __forceinline__ void sh_arow<LM_TYPE_Q6_K>(const uint8_t *b, uintptr_t g, int k, int tig,
                                                      arow &r) {
    const int pre = q6r_pre(g);             /* b: the block's first byte, at global g */
    const int half = tig >> 1, i = 2 * tig; /* this lane's quant groups i, i + 1 of 4 */
    const uint32_t *l = (const uint32_t *)(b + pre + 16 * k);
    const uint32_t *h = (const uint32_t *)(b + pre + 128 + 8 * k);
    const int ls = 4 * half, hs = 2 * (i >> 1);
    const uint32_t l0 = l[i & 3], l1 = l[(i + 1) & 3];
    r.lo = __vsub4(((l0 >> ls) & 0x0F0F0F0Fu) | (((h[0] >> hs) & 0x03030303u) << 4), 0x20202020u);
    r.hi = __vsub4(((l1 >> ls) & 0x0F0F0F0Fu) | (((h[1] >> hs) & 0x03030303u) << 4), 0x20202020u);
    r.a = sh_half(b + q6r_fill(0, pre));
    const uint32_t sw = sh_u16(b + q6r_fill(2 + 2 * k, pre));
    r.s0 = (int)(int8_t)(sw & 0xFF);
    r.s1 = (int)(int8_t)(sw >> 8);
}

__device__ __forceinline__ void mma_k32(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                        uint32_t a3, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 /* lmc_mmq_supported() says no below */
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
    (void)c, (void)a0, (void)a1, (void)a2, (void)a3, (void)b0, (void)b1;
#endif
}

/* The integer products of rows (ra: g, rb: g + 8) with one n-tile. */
template <int T>
__device__ __forceinline__ void tile_mma(const arow &ra, const arow &rb, uint32_t b0, uint32_t b1,
                                         int tig, int (&c)[4]) {
    c[0] = c[1] = c[2] = c[3] = 0;
    if constexpr (T == LM_TYPE_Q6_K) {
        int h[4] = {0, 0, 0, 0};
        const bool first = tig < 2; /* this lane's quants are in the first half */
        mma_k32(c, first ? ra.lo : 0u, first ? rb.lo : 0u, first ? ra.hi : 0u, first ? rb.hi : 0u,
                b0, b1);
        mma_k32(h, first ? 0u : ra.lo, first ? 0u : rb.lo, first ? 0u : ra.hi, first ? 0u : rb.hi,
                b0, b1);
        c[0] = c[0] * ra.s0 + h[0] * ra.s1;
        c[1] = c[1] * ra.s0 + h[1] * ra.s1;
        c[2] = c[2] * rb.s0 + h[2] * rb.s1;
        c[3] = c[3] * rb.s0 + h[3] * rb.s1;
    } else {
        mma_k32(c, ra.lo, rb.lo, ra.hi, rb.hi, b0, b1);
    }
}

/* An int32 of magnitude under 2^22 as a float, exactly: added into the
 * mantissa of 1.5 * 2^23, whose exponent it leaves alone, then subtracted
 * back out: one integer and one float add at full rate, where cvt runs at a
 * quarter, for each of a unit's 4 sums per mma (H100: 16-32-token prompts
 * 4-6 % faster). A unit's sum is at most 32 * 127 * 127 = 516,128 (Q8_0). */
__device__ __forceinline__ float small_i2f(int x) {
    return __int_as_float(x + 0x4B400000) - 12582912.0f;
}
/* Types whose weights are a * q + b with a float b per unit (the others'
 * offsets are folded into their int8 quants). */
template <int T> __host__ __device__ constexpr bool has_b() {
    return T == LM_TYPE_Q4_1 || T == LM_TYPE_Q5_1 || T == LM_TYPE_Q4_K || T == LM_TYPE_Q5_K;
}
/* Adds a unit's scaled sums (cc: rows g, g + 8 x tokens 2 tig, 2 tig + 1;
 * xv: those tokens' (scale, scale * sum of q8)) into s. Q6_K's sums carry
 * its integer sub-block scales and may pass 2^22: a plain conversion. */
template <int T>
__device__ __forceinline__ void unit_acc(float (&s)[4], const arow &A, const arow &B, float4 xv,
                                         const int (&cc)[4]) {
    float f[4];
#pragma unroll
    for (int e = 0; e < 4; e++)
        f[e] = T == LM_TYPE_Q6_K ? (float)cc[e] : small_i2f(cc[e]);
    s[0] = fmaf(A.a * xv.x, f[0], s[0]);
    s[1] = fmaf(A.a * xv.z, f[1], s[1]);
    s[2] = fmaf(B.a * xv.x, f[2], s[2]);
    s[3] = fmaf(B.a * xv.z, f[3], s[3]);
    if constexpr (has_b<T>()) {
        s[0] = fmaf(A.b, xv.y, s[0]);
        s[1] = fmaf(A.b, xv.w, s[1]);
        s[2] = fmaf(B.b, xv.y, s[2]);
        s[3] = fmaf(B.b, xv.w, s[3]);
    }
}

/* The same with activations quantised per 256 (one scale per chunk): the
 * unit's sums times the row's integer sub-block scale added into ci, which
 * the chunk's end scales once (Q6_K's sums already carry theirs); only
 * Q4_K / Q5_K's offset term stays per unit, in float. */
template <int T>
__device__ __forceinline__ void unit_int(int (&ci)[4], float (&s)[4], const arow &A, const arow &B,
                                         float4 xv, const int (&cc)[4]) {
    if constexpr (T == LM_TYPE_Q6_K) {
#pragma unroll
        for (int e = 0; e < 4; e++)
            ci[e] += cc[e];
    } else {
        ci[0] += A.s0 * cc[0];
        ci[1] += A.s0 * cc[1];
        ci[2] += B.s0 * cc[2];
        ci[3] += B.s0 * cc[3];
        s[0] = fmaf(A.b, xv.y, s[0]);
        s[1] = fmaf(A.b, xv.w, s[1]);
        s[2] = fmaf(B.b, xv.y, s[2]);
        s[3] = fmaf(B.b, xv.w, s[3]);
    }
}

__device__ __forceinline__ float silu(float g) {
    return g / (1.0f + __expf(-g));
}

/* Shared memory of one stage: NM matrices' MQ_ROWS rows x row_words words,
 * then NTOK tokens x MQ_XW words of q8, then MQ_KC x NTOK float2 scales. */
template <int T, int NTOK, int NM> __host__ __device__ constexpr int stage_bytes() {
    return NM * MQ_ROWS * row_words<T>() * 4 + NTOK * MQ_XW * 4 + MQ_KC * NTOK * 8;
}

/* The copies of one step: chunks c0 .. c0 + KS - 1 (those below nc; chunk
 * c is units 8c .. 8c + 7), chunk k into st + k * stage_bytes. Staging is
 * most of the kernel's instructions at 8-16 tokens, so the copies of all KS
 * chunks go as one flat loop (each thread every blockDim-th copy) wherever
 * that measured faster than a loop per chunk (H100, 8B Q4_K_M: 8-token
 * prompt 6.4 -> 5.4 ms). */
template <int T, int NTOK, int NM, int KS>
__device__ __forceinline__ void stage_weights(uint8_t *st, const uint8_t *const *wm,
                                              size_t row_bytes, int rb0, int rows, int c0, int nc,
                                              bool al16) {
    constexpr int RW = row_words<T>(), CB = chunk_bytes<T>(), SB1 = stage_bytes<T, NTOK, NM>();
    constexpr int NT = MQ_WM * KS * 32;
    static_assert(4 * row_words<T>() >= 16 * pieces_of<T>(), "a staged row holds its pieces");
    if (CB % 16 == 0 && al16) { /* al16: rows and chunks 16-byte aligned */
        constexpr int P = CB / 16, N = KS * NM * MQ_ROWS * P;
        for (int i = threadIdx.x; i < N; i += NT) {
            const int p = i % P, r = i / P % MQ_ROWS, m = i / (P * MQ_ROWS) % NM,
                      k = i / (P * MQ_ROWS * NM);
            if (c0 + k >= nc) break; /* k grows with i */
            const uint8_t *src = (NM == 1 || m == 0 ? wm[0] : wm[1]) +
                                 (size_t)min(rb0 + r, rows - 1) * row_bytes +
                                 (size_t)(c0 + k) * CB + 16 * p;
            cp_async16(st + k * SB1 + (m * MQ_ROWS + r) * RW * 4 + 16 * p, src);
        }
        return;
    }
    /* Otherwise (Q6_K's 210-byte chunks, rows not 16-byte aligned) 16-byte
     * pieces from the boundary at or below the chunk's first byte (the bytes
     * before it are the previous block's, inside the weights), the last one
     * only as far as the chunk goes (it may end the matrix): the chunk sits
     * (address & 15) into its staged row. 4-byte copies before: H200, 1.1B
     * Q6_K prompts of 8 / 32 tokens +20 / +18 %. */
    constexpr int P = pieces_of<T>(), N = KS * NM * MQ_ROWS * P;
    for (int i = threadIdx.x; i < N; i += NT) {
        const int p = i % P, r = i / P % MQ_ROWS, m = i / (P * MQ_ROWS) % NM,
                  k = i / (P * MQ_ROWS * NM);
        if (c0 + k >= nc) break;
        const uintptr_t src = (uintptr_t)((NM == 1 || m == 0 ? wm[0] : wm[1]) +
                                          (size_t)min(rb0 + r, rows - 1) * row_bytes +
                                          (size_t)(c0 + k) * CB),
                        e = src + CB, a = (src & ~(uintptr_t)15) + 16 * p;
        if (a < e)
            cp_async16(st + k * SB1 + (m * MQ_ROWS + r) * RW * 4 + 16 * p, (const void *)a,
                       (int)min((uintptr_t)16, e - a));
    }
}
/* The tokens' q8 blocks (16-byte pieces) and (scale, scale * sum) pairs of
 * the same chunks; flat for tiles of 8-16 tokens, per chunk for 32 (the two
 * issue the same copies; per chunk measured 5-9 % faster there). */
template <int T, int NTOK, int NM, int KS>
__device__ __forceinline__ void stage_acts(uint8_t *st, const int8_t *xq, const float2 *xs,
                                           int n_in, int n_tok, int c0, int nc) {
    constexpr int SB1 = stage_bytes<T, NTOK, NM>(), NT = MQ_WM * KS * 32;
    constexpr int XO = NM * MQ_ROWS * row_words<T>() * 4, SO = XO + NTOK * MQ_XW * 4;
    const int n_units = n_in / 32;
    if constexpr (NTOK <= 16) {
        for (int i = threadIdx.x; i < KS * NTOK * 16; i += NT) {
            const int p = i & 15, t = (i >> 4) % NTOK, k = i / (16 * NTOK);
            if (c0 + k >= nc) break;
            if (t < n_tok)
                cp_async16(st + k * SB1 + XO + t * MQ_XW * 4 + 16 * p,
                           xq + (size_t)t * n_in + 256 * (c0 + k) + 16 * p);
        }
        for (int i = threadIdx.x; i < KS * NTOK * MQ_KC; i += NT) {
            const int u = i % MQ_KC, t = i / MQ_KC % NTOK, k = i / (MQ_KC * NTOK);
            if (c0 + k >= nc) break;
            if (t < n_tok)
                cp_async8(st + k * SB1 + SO + (u * NTOK + t) * 8,
                          xs + (size_t)t * n_units + MQ_KC * (c0 + k) + u);
        }
    } else {
        for (int k = 0; k < KS && c0 + k < nc; k++) {
            const int c = c0 + k;
            for (int i = threadIdx.x; i < n_tok * 16; i += NT) {
                const int t = i >> 4, p = i & 15;
                cp_async16(st + k * SB1 + XO + t * MQ_XW * 4 + 16 * p,
                           xq + (size_t)t * n_in + 256 * c + 16 * p);
            }
            for (int i = threadIdx.x; i < n_tok * MQ_KC; i += NT) {
                const int t = i / MQ_KC, u = i % MQ_KC;
                cp_async8(st + k * SB1 + SO + (u * NTOK + t) * 8,
                          xs + (size_t)t * n_units + MQ_KC * c + u);
            }
        }
    }
}

/* Grid (token groups of NTOK, row blocks of MQ_ROWS), MQ_WM x KS warps:
 * warp (wm, kg) multiplies rows 16 wm .. 16 wm + 15 of the block with the
 * group's tokens (NTOK / 8 tiles of 8) over chunks kg, kg + KS, ...; lane =
 * 4 g + tig holds rows g and g + 8, tokens 2 tig and 2 tig + 1 of each tile.
 * Each step stages KS chunks (8 units each) of the block's rows and tokens
 * in shared memory by cp.async, the next step's in flight while this one
 * multiplies; the KS groups' sums meet in shared memory in group order.
 * GLU: silu(W x) * (W2 x). XI (K-quants only): the activations were
 * quantised with one scale per 256 inputs (lmc_act_q8_256; the scales of
 * a chunk's 8 units are equal), so a chunk's integer sums are added in int32
 * with the rows' integer sub-block scales and scaled in float once per chunk
 * instead of once per unit (the CPU engine quantises activations for K-quant
 * rows per 256 too): per mma 4 integer multiply-adds and, for Q4_K / Q5_K,
 * 4 offset FMAs, where the per-unit form takes 16-20 conversions, multiplies
 * and FMAs. H200 A/B, prompts of 16 / 32 tokens: 8B Q4_K_M +6 / +11 %, 1.1B
 * Q6_K +6 / +9 %. Prompts and batches of up to 8 tokens take the decode
 * graph, whose activations stay per 32 (its attention writes them). */
template <int T, int NTOK, bool GLU, int KS, bool XI>
__device__ __forceinline__ void mmq_body(uint8_t *smem, const uint8_t *__restrict__ w,
                                         const uint8_t *__restrict__ w2, size_t row_bytes, int n_in,
                                         int rows, const int8_t *__restrict__ xq,
                                         const float2 *__restrict__ xs, int n_tok, float *y,
                                         int y_stride, bool acc, int row_block) {
    constexpr int NM = GLU ? 2 : 1, NTL = NTOK / 8, RW = row_words<T>(), CB = chunk_bytes<T>();
    constexpr int SB1 = stage_bytes<T, NTOK, NM>(), SB = KS * SB1;
    const int lane = threadIdx.x & 31, wp = threadIdx.x >> 5, g = lane >> 2, tig = lane & 3;
    const int wm = wp % MQ_WM, kg = wp / MQ_WM;
    {
        const int t0 = blockIdx.x * NTOK;
        xq += (size_t)t0 * n_in;
        xs += (size_t)t0 * (n_in / 32);
        y += (size_t)t0 * y_stride;
        n_tok = min(n_tok - t0, NTOK);
    }
    const int rb0 = row_block * MQ_ROWS, nc = n_in / 256, nit = (nc + KS - 1) / KS;
    const uint8_t *wm_[2] = {w, GLU ? w2 : w};
    /* weights never depend on the previous kernel: the first step's are
     * requested before the wait */
    const bool al16 = (uintptr_t)w % 16 == 0 && (uintptr_t)wm_[1] % 16 == 0 && row_bytes % 16 == 0;
    stage_weights<T, NTOK, NM, KS>(smem, wm_, row_bytes, rb0, rows, 0, nc, al16);
    pdl_trigger();
    pdl_wait();
    stage_acts<T, NTOK, NM, KS>(smem, xq, xs, n_in, n_tok, 0, nc);
    cp_commit();
    const int ra = 16 * wm + g, rbr = ra + 8; /* this lane's rows in the block */
    uintptr_t ga[NM], gb[NM];
#pragma unroll
    for (int m = 0; m < NM; m++) {
        ga[m] = (uintptr_t)(wm_[m] + (size_t)min(rb0 + ra, rows - 1) * row_bytes);
        gb[m] = (uintptr_t)(wm_[m] + (size_t)min(rb0 + rbr, rows - 1) * row_bytes);
    }
    float s[NM][NTL][4];
#pragma unroll
    for (int m = 0; m < NM; m++)
#pragma unroll
        for (int j = 0; j < NTL; j++)
            s[m][j][0] = s[m][j][1] = s[m][j][2] = s[m][j][3] = 0.0f;
    for (int it = 0; it < nit; it++) {
        if (it + 1 < nit) {
            uint8_t *nx = smem + ((it + 1) & 1) * SB;
            stage_weights<T, NTOK, NM, KS>(nx, wm_, row_bytes, rb0, rows, (it + 1) * KS, nc, al16);
            stage_acts<T, NTOK, NM, KS>(nx, xq, xs, n_in, n_tok, (it + 1) * KS, nc);
            cp_commit();
            cp_wait<1>();
        } else {
            cp_wait<0>();
        }
        __syncthreads();
        const int c = it * KS + kg;
        if (c < nc) {
            const uint8_t *cur = smem + (it & 1) * SB + kg * SB1;
            const uint8_t *xsh = cur + NM * MQ_ROWS * RW * 4;
            const float2 *ssh = (const float2 *)(xsh + NTOK * MQ_XW * 4);
            const size_t co = (size_t)c * CB;
            /* the chunk's first byte sits (address & 15) into its staged row */
            const uint8_t *pa[NM], *pb[NM];
            float2 ksa[NM][2], ksb[NM][2];
            float da[NM], db[NM]; /* XI: the rows' d */
            int ci[NM][NTL][4];   /* XI: the chunk's integer sums */
            if constexpr (XI)
#pragma unroll
                for (int m = 0; m < NM; m++)
#pragma unroll
                    for (int j = 0; j < NTL; j++)
                        ci[m][j][0] = ci[m][j][1] = ci[m][j][2] = ci[m][j][3] = 0;
#pragma unroll
            for (int m = 0; m < NM; m++) {
                const uint8_t *base = cur + (size_t)m * MQ_ROWS * RW * 4;
                pa[m] = base + (size_t)ra * RW * 4 + ((ga[m] + co) & 15);
                pb[m] = base + (size_t)rbr * RW * 4 + ((gb[m] + co) & 15);
                if constexpr (kq<T>()) {
#pragma unroll
                    for (int u = 0; u < 2; u++) {
                        ksa[m][u] = sh_k_scales<XI>(pa[m], 2 * tig + u);
                        ksb[m][u] = sh_k_scales<XI>(pb[m], 2 * tig + u);
                    }
                    if constexpr (XI) da[m] = sh_k_d(pa[m]), db[m] = sh_k_d(pb[m]);
                }
            }
#pragma unroll
            for (int k = 0; k < MQ_KC; k++) {
                arow A[NM], B[NM];
#pragma unroll
                for (int m = 0; m < NM; m++) {
                    sh_arow<T>(pa[m], ga[m] + co, k, tig, A[m]);
                    sh_arow<T>(pb[m], gb[m] + co, k, tig, B[m]);
                    if constexpr (kq<T>()) {
                        kq_scale<XI>(ksa[m], k, lane, A[m]);
                        kq_scale<XI>(ksb[m], k, lane, B[m]);
                    }
                    if constexpr (XI && !kq<T>()) da[m] = A[m].a, db[m] = B[m].a;
                }
#pragma unroll
                for (int j = 0; j < NTL; j++) {
                    const uint2 bv =
                        *(const uint2 *)(xsh + (size_t)(8 * j + g) * MQ_XW * 4 + 32 * k + 8 * tig);
                    const float4 xv = *(const float4 *)(ssh + k * NTOK + 8 * j + 2 * tig);
#pragma unroll
                    for (int m = 0; m < NM; m++) {
                        int cc[4];
                        tile_mma<T>(A[m], B[m], bv.x, bv.y, tig, cc);
                        if constexpr (XI)
                            unit_int<T>(ci[m][j], s[m][j], A[m], B[m], xv, cc);
                        else
                            unit_acc<T>(s[m][j], A[m], B[m], xv, cc);
                    }
                }
            }
            if constexpr (XI) /* the chunk's scale: unit 0's of each token */
#pragma unroll
                for (int j = 0; j < NTL; j++) {
                    const float4 xv = *(const float4 *)(ssh + 8 * j + 2 * tig);
#pragma unroll
                    for (int m = 0; m < NM; m++) {
                        s[m][j][0] = fmaf(da[m] * xv.x, (float)ci[m][j][0], s[m][j][0]);
                        s[m][j][1] = fmaf(da[m] * xv.z, (float)ci[m][j][1], s[m][j][1]);
                        s[m][j][2] = fmaf(db[m] * xv.x, (float)ci[m][j][2], s[m][j][2]);
                        s[m][j][3] = fmaf(db[m] * xv.z, (float)ci[m][j][3], s[m][j][3]);
                    }
                }
        }
        __syncthreads(); /* the next step's copies overwrite this stage */
    }
    if constexpr (KS > 1) { /* groups 1.. leave their sums; group 0 adds them in order */
        float *red = (float *)smem;
        if (kg > 0)
#pragma unroll
            for (int m = 0; m < NM; m++)
#pragma unroll
                for (int j = 0; j < NTL; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        red[((((kg - 1) * MQ_WM + wm) * NM + m) * NTL * 4 + 4 * j + e) * 32 +
                            lane] = s[m][j][e];
        __syncthreads();
        if (kg > 0) return;
        for (int k = 1; k < KS; k++)
#pragma unroll
            for (int m = 0; m < NM; m++)
#pragma unroll
                for (int j = 0; j < NTL; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        s[m][j][e] +=
                            red[((((k - 1) * MQ_WM + wm) * NM + m) * NTL * 4 + 4 * j + e) * 32 +
                                lane];
    }
#pragma unroll
    for (int j = 0; j < NTL; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int row = rb0 + 16 * wm + g + 8 * (e >> 1), t = 8 * j + 2 * tig + (e & 1);
            if (row >= rows || t >= n_tok) continue;
            float v = GLU ? silu(s[0][j][e]) * s[NM - 1][j][e] : s[0][j][e];
            float *dst = y + (size_t)t * y_stride + row;
            *dst = acc ? *dst + v : v;
        }
}

template <int T, int NTOK, bool GLU, int KS, bool XI>
__global__ void __launch_bounds__(MQ_WM *KS * 32)
    mmq_kernel(const uint8_t *__restrict__ w, const uint8_t *__restrict__ w2, size_t row_bytes,
               int n_in, int rows, const int8_t *__restrict__ xq, const float2 *__restrict__ xs,
               int n_tok, float *y, int y_stride, bool acc) {
    extern __shared__ __align__(16) uint8_t smem[];
    mmq_body<T, NTOK, GLU, KS, XI>(smem, w, w2, row_bytes, n_in, rows, xq, xs, n_tok, y, y_stride,
                                   acc, blockIdx.y);
}

/* Two matrices of different types on the same activations in one grid: the
 * row blocks of the first, then those of the second (wq|wk and wv of K-quant
 * files, whose wv of 1,024 rows alone fills 32 blocks, a quarter of an
 * H100). */
template <int T1, int T2, int NTOK, int KS, bool XI>
__global__ void __launch_bounds__(MQ_WM *KS * 32)
    mmq_pair_kernel(const uint8_t *__restrict__ w1, size_t rb1, int rows1, float *y1,
                    const uint8_t *__restrict__ w2, size_t rb2, int rows2, float *y2, int n_in,
                    const int8_t *__restrict__ xq, const float2 *__restrict__ xs, int n_tok,
                    int y_stride) {
    extern __shared__ __align__(16) uint8_t smem[];
    const int nb1 = (rows1 + MQ_ROWS - 1) / MQ_ROWS;
    if ((int)blockIdx.y < nb1)
        mmq_body<T1, NTOK, false, KS, XI>(smem, w1, w1, rb1, n_in, rows1, xq, xs, n_tok, y1,
                                          y_stride, false, blockIdx.y);
    else
        mmq_body<T2, NTOK, false, KS, XI>(smem, w2, w2, rb2, n_in, rows2, xq, xs, n_tok, y2,
                                          y_stride, false, blockIdx.y - nb1);
}

/* Shared memory a block of KS groups takes (two steps of KS chunks). */
template <int T, int NTOK, bool GLU, int KS> constexpr int mq_smem() {
    return 2 * KS * stage_bytes < T, NTOK, GLU ? 2 : 1 > ();
}

template <int T, int NTOK, bool GLU, int KS, bool XI>
void launch_ks(cudaStream_t st, const uint8_t *w, const uint8_t *w2, size_t rb, int n_in, int rows,
               const int8_t *xq, const float2 *xs, int n_tok, float *y, int y_stride, bool acc) {
    constexpr int SMEM = mq_smem<T, NTOK, GLU, KS>();
    static bool attr =
        cudaFuncSetAttribute(mmq_kernel<T, NTOK, GLU, KS, XI>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM) == cudaSuccess;
    (void)attr;
    dim3 grid((n_tok + NTOK - 1) / NTOK, (rows + MQ_ROWS - 1) / MQ_ROWS);
    launch_smem(mmq_kernel<T, NTOK, GLU, KS, XI>, grid, dim3(MQ_WM * KS * 32), SMEM, st, w, w2, rb,
                n_in, rows, xq, xs, n_tok, y, y_stride, acc);
}

/* Input groups per block: enough warps (~16 per SM) for matrices of few rows,
 * as far as two steps fit in shared memory. With whole rows per warp (one
 * group) the 4096-row matrices gave 2 warps per SM and the kernel ran at
 * 0.5 TB/s (8B, 8 tokens: 8.3 ms; with up to 8 groups 6.8 ms). The cap is
 * 216 KB (Q6_K's 16-token blocks of 8 groups take 213 KB), or less where the
 * device gives a block less (compute capability 8.6 / 8.9: 99 KB). */
inline int mq_smem_max() {
    static const int cap = [] {
        int dev = 0, v = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
            v = 48 * 1024;
        return v < 216 * 1024 ? v : 216 * 1024;
    }();
    return cap;
}
/* The input groups wanted for tiles of 16 rows over nc chunks: doubled up
 * to 8 while the grid has under 2048 warps' worth of row tiles and each
 * group keeps at least one step of chunks (the caller then takes the most
 * that fit mq_smem_max()). */
inline int mq_groups(int tiles, int nc) {
    int ks = 1;
    while (ks < 8 && tiles * ks < 2048 && 2 * ks <= nc)
        ks *= 2;
    return ks;
}
/* Calls f(std::integral_constant<int, NTOK>()) with the token tile (8, 16
 * or 32) for n_tok tokens. */
template <typename F> void with_ntok(int n_tok, F &&f) {
    if (n_tok <= 8)
        f(std::integral_constant<int, 8>());
    else if (n_tok <= 16)
        f(std::integral_constant<int, 16>());
    else
        f(std::integral_constant<int, 32>());
}
template <int T, int NTOK, bool GLU, bool XI>
void launch_ntok(cudaStream_t st, const uint8_t *w, const uint8_t *w2, size_t rb, int n_in,
                 int rows, const int8_t *xq, const float2 *xs, int n_tok, float *y, int y_stride,
                 bool acc) {
    const int ks = mq_groups((rows + 15) / 16, n_in / 256);
#define LMC_MQK(K)                                                                                 \
    if (ks >= K && mq_smem<T, NTOK, GLU, K>() <= mq_smem_max())                                    \
        return launch_ks<T, NTOK, GLU, K, XI>(st, w, w2, rb, n_in, rows, xq, xs, n_tok, y,         \
                                              y_stride, acc);
    LMC_MQK(8)
    LMC_MQK(4)
    LMC_MQK(2)
#undef LMC_MQK
    launch_ks<T, NTOK, GLU, 1, XI>(st, w, w2, rb, n_in, rows, xq, xs, n_tok, y, y_stride, acc);
}

template <int T, bool GLU, bool XI>
void launch_t(cudaStream_t st, const uint8_t *w, const uint8_t *w2, size_t rb, int n_in, int rows,
              const int8_t *xq, const float2 *xs, int n_tok, float *y, int y_stride, bool acc) {
    with_ntok(n_tok, [&](auto nt) {
        launch_ntok<T, decltype(nt)::value, GLU, XI>(st, w, w2, rb, n_in, rows, xq, xs, n_tok, y,
                                                     y_stride, acc);
    });
}

/* x256 (activations quantised per 256) takes the integer path for K-quants;
 * other types read any q8 activations per unit. */
template <int T, bool GLU>
void launch_x(cudaStream_t st, const uint8_t *w, const uint8_t *w2, size_t rb, int n_in, int rows,
              const int8_t *xq, const float2 *xs, int n_tok, float *y, int y_stride, bool acc,
              bool x256) {
    if constexpr (kq<T>() || T == LM_TYPE_Q6_K)
        if (x256)
            return launch_t<T, GLU, true>(st, w, w2, rb, n_in, rows, xq, xs, n_tok, y, y_stride,
                                          acc);
    launch_t<T, GLU, false>(st, w, w2, rb, n_in, rows, xq, xs, n_tok, y, y_stride, acc);
}

template <int T1, int T2, int NTOK, int KS, bool XI>
void launch_pair_ks(cudaStream_t st, const uint8_t *w1, size_t rb1, int rows1, float *y1,
                    const uint8_t *w2, size_t rb2, int rows2, float *y2, int n_in, const int8_t *xq,
                    const float2 *xs, int n_tok, int y_stride) {
    constexpr int S1 = mq_smem<T1, NTOK, false, KS>(), S2 = mq_smem<T2, NTOK, false, KS>();
    constexpr int SMEM = S1 > S2 ? S1 : S2;
    static bool attr =
        cudaFuncSetAttribute(mmq_pair_kernel<T1, T2, NTOK, KS, XI>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM) == cudaSuccess;
    (void)attr;
    dim3 grid((n_tok + NTOK - 1) / NTOK,
              (rows1 + MQ_ROWS - 1) / MQ_ROWS + (rows2 + MQ_ROWS - 1) / MQ_ROWS);
    launch_smem(mmq_pair_kernel<T1, T2, NTOK, KS, XI>, grid, dim3(MQ_WM * KS * 32), SMEM, st, w1,
                rb1, rows1, y1, w2, rb2, rows2, y2, n_in, xq, xs, n_tok, y_stride);
}
/* Input groups as launch_ntok picks them for both matrices' rows together,
 * under the shared memory the larger of their stages takes. */
template <int T1, int T2, int NTOK, bool XI>
void launch_pair_ntok(cudaStream_t st, const uint8_t *w1, size_t rb1, int rows1, float *y1,
                      const uint8_t *w2, size_t rb2, int rows2, float *y2, int n_in,
                      const int8_t *xq, const float2 *xs, int n_tok, int y_stride) {
    const int ks = mq_groups((rows1 + 15) / 16 + (rows2 + 15) / 16, n_in / 256);
#define LMC_MQP(K)                                                                                 \
    if (ks >= K && mq_smem<T1, NTOK, false, K>() <= mq_smem_max() &&                               \
        mq_smem<T2, NTOK, false, K>() <= mq_smem_max())                                            \
        return launch_pair_ks<T1, T2, NTOK, K, XI>(st, w1, rb1, rows1, y1, w2, rb2, rows2, y2,     \
                                                   n_in, xq, xs, n_tok, y_stride);
    LMC_MQP(8)
    LMC_MQP(4)
    LMC_MQP(2)
#undef LMC_MQP
    launch_pair_ks<T1, T2, NTOK, 1, XI>(st, w1, rb1, rows1, y1, w2, rb2, rows2, y2, n_in, xq, xs,
                                        n_tok, y_stride);
}
template <int T1, int T2, bool XI>
void launch_pair_t(cudaStream_t st, const uint8_t *w1, size_t rb1, int rows1, float *y1,
                   const uint8_t *w2, size_t rb2, int rows2, float *y2, int n_in, const int8_t *xq,
                   const float2 *xs, int n_tok, int y_stride) {
    with_ntok(n_tok, [&](auto nt) {
        launch_pair_ntok<T1, T2, decltype(nt)::value, XI>(st, w1, rb1, rows1, y1, w2, rb2, rows2,
                                                          y2, n_in, xq, xs, n_tok, y_stride);
    });
}

} // namespace

extern "C" bool lmc_mmq_pair(cudaStream_t st, uint32_t t1, const void *w1, int rows1, float *y1,
                             uint32_t t2, const void *w2, int rows2, float *y2, int n_in,
                             const int8_t *xq, const float *xs, int n_tok, int y_stride,
                             bool x256) {
    size_t rb1 = row_bytes_of(t1, n_in), rb2 = row_bytes_of(t2, n_in);
    if (!lmc_mmq_supported(t1) || !lmc_mmq_supported(t2) || !rb1 || !rb2 || n_in % 256 ||
        rows1 < 1 || rows2 < 1 || n_tok < 1)
        return false;
    const uint8_t *a = (const uint8_t *)w1, *b = (const uint8_t *)w2;
    const float2 *s = (const float2 *)xs;
#define LMC_MQPT(A, B)                                                                             \
    if (t1 == A && t2 == B) {                                                                      \
        if (x256)                                                                                  \
            launch_pair_t<A, B, true>(st, a, rb1, rows1, y1, b, rb2, rows2, y2, n_in, xq, s,       \
                                      n_tok, y_stride);                                            \
        else                                                                                       \
            launch_pair_t<A, B, false>(st, a, rb1, rows1, y1, b, rb2, rows2, y2, n_in, xq, s,      \
                                       n_tok, y_stride);                                           \
        return true;                                                                               \
    }
    LMC_MQPT(LM_TYPE_Q4_K, LM_TYPE_Q6_K)
    LMC_MQPT(LM_TYPE_Q5_K, LM_TYPE_Q6_K)
#undef LMC_MQPT
    return false;
}

extern "C" bool lmc_mmq_supported(uint32_t type) {
    /* int8 mma.sync m16n8k32 and cp.async: compute capability 8.0 */
    return cc_major() >= 8 &&
           (type == LM_TYPE_Q4_0 || type == LM_TYPE_Q4_1 || type == LM_TYPE_Q5_0 ||
            type == LM_TYPE_Q5_1 || type == LM_TYPE_Q8_0 || type == LM_TYPE_Q4_K ||
            type == LM_TYPE_Q5_K || type == LM_TYPE_Q6_K);
}

extern "C" bool lmc_mmq(cudaStream_t st, uint32_t type, const void *w, const void *w2, int n_in,
                        int rows, const int8_t *xq, const float *xs, int n_tok, float *y,
                        int y_stride, bool accumulate, bool x256) {
    size_t rb = row_bytes_of(type, n_in);
    if (!lmc_mmq_supported(type) || !rb || n_in % 256 || rows < 1 || n_tok < 1) return false;
    const uint8_t *a = (const uint8_t *)w, *b = (const uint8_t *)w2;
    const float2 *s = (const float2 *)xs;
#define LMC_MQT(TY)                                                                                \
    case TY:                                                                                       \
        if (b)                                                                                     \
            launch_x<TY, true>(st, a, b, rb, n_in, rows, xq, s, n_tok, y, y_stride, accumulate,    \
                               x256);                                                              \
        else                                                                                       \
            launch_x<TY, false>(st, a, b, rb, n_in, rows, xq, s, n_tok, y, y_stride, accumulate,   \
                                x256);                                                             \
        return true;
    switch (type) {
        LMC_MQT(LM_TYPE_Q4_0)
        LMC_MQT(LM_TYPE_Q4_1)
        LMC_MQT(LM_TYPE_Q5_0)
        LMC_MQT(LM_TYPE_Q5_1)
        LMC_MQT(LM_TYPE_Q8_0)
        LMC_MQT(LM_TYPE_Q4_K)
        LMC_MQT(LM_TYPE_Q5_K)
        LMC_MQT(LM_TYPE_Q6_K)
    default:
        return false;
    }
#undef LMC_MQT
}
