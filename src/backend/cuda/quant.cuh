/* quant.cuh — device-side decoding of GGUF weight blocks, one 32-element unit
 * at a time: to floats (dequantisation) and as an integer dot product with an
 * 8-bit quantised activation block (dp4a); the writing of those activation
 * blocks; and the host-side row sizes and type switch the launchers share.
 * Layouts follow the GGUF specification, except that the bytes inside each
 * Q4_K, Q5_K and Q6_K super-block are rearranged at upload (k_layout.cu,
 * described below); K-quant super-blocks (256 elements) are addressed by
 * their 32-element sub-blocks so that every type has the same unit. */
#ifndef LM_BACKEND_CUDA_QUANT_CUH
#define LM_BACKEND_CUDA_QUANT_CUH
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <type_traits>

#include "format/ggml_types.h"

namespace lmc {

/* Loads that only assume the alignment each block layout guarantees. */
__device__ __forceinline__ float ld_half(const uint8_t *p) {
    return __half2float(__ushort_as_half(__ldg((const unsigned short *)p)));
}
__device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t *p) {
    const unsigned short *s = (const unsigned short *)p;
    return (uint32_t)__ldg(s) | ((uint32_t)__ldg(s + 1) << 16);
}
__device__ __forceinline__ uint32_t ld_u32_a4(const uint8_t *p) {
    return __ldg((const unsigned int *)p);
}
/* N consecutive 32-bit words from a 2-byte aligned p: N (or N + 1) aligned
 * 32-bit loads funnel-shifted into place, instead of 2N 16-bit loads (the
 * load count, not the bytes, limits the mat-vec on these blocks). Touches
 * only the 4-byte words overlapping [p, p + 4N). */
template <int N> __device__ __forceinline__ void ld_words_a2(const uint8_t *p, uint32_t (&out)[N]) {
    const unsigned int *base = (const unsigned int *)((uintptr_t)p & ~(uintptr_t)3);
    const int sh = (int)((uintptr_t)p & 2) * 8;
    uint32_t w[N + 1];
#pragma unroll
    for (int i = 0; i < N; i++)
        w[i] = __ldg(base + i);
    w[N] = sh ? __ldg(base + N) : 0u;
#pragma unroll
    for (int i = 0; i < N; i++)
        out[i] = __funnelshift_r(w[i], w[i + 1], sh);
}

/* Byte l of words loaded as above (l a compile-time constant once unrolled). */
__device__ __forceinline__ int byte_of(const uint32_t *w, int l) {
    return (int)((w[l >> 2] >> (8 * (l & 3))) & 0xFFu);
}
/* The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block whose
 * header (d, dmin, then 12 bytes of 6-bit scales and mins) is h. */
__device__ __forceinline__ int2 k_scale_ints(uint4 h, int j) {
    int sh = 8 * (j & 3);
    int b0 = (int)(h.y >> sh) & 0xFF, b1 = (int)(h.z >> sh) & 0xFF, b2 = (int)(h.w >> sh) & 0xFF;
    if (j < 4) return make_int2(b0 & 63, b1 & 63);
    return make_int2((b2 & 15) | ((b0 >> 6) << 4), (b2 >> 4) | ((b1 >> 6) << 4));
}
/* The same multiplied out: (d * sc_j, dmin * m_j). */
__device__ __forceinline__ float2 k_scales_of(uint4 h, int j) {
    float2 dd = __half22float2(*(const __half2 *)&h.x);
    int2 sm = k_scale_ints(h, j);
    return make_float2(dd.x * (float)sm.x, dd.y * (float)sm.y);
}
/* The same for the super-block at b (16-byte aligned) in global memory, its
 * header read as one 16-byte word: one load instead of two half and two or
 * three byte loads. */
__device__ __forceinline__ float2 k_sub_scales(const uint8_t *b, int j) {
    return k_scales_of(__ldg((const uint4 *)b), j);
}

/* Spreads 4 bits into bit 4 of each of 4 bytes (Q5 high bits). */
__device__ __forceinline__ uint32_t spread4(uint32_t b) {
    return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}

/* Q6_K super-blocks are kept on the device in a layout of their own, made in
 * place at upload (lmc_device_layout): in the GGUF one a 32-element unit is
 * spread over 32 bytes of ql and 32 of qh at 2-byte alignment, which took 18
 * word loads and funnel shifts per unit and left the Q6_K mat-vecs
 * load-bound. Rearranged, a unit is one 16-byte load of low nibbles, one
 * 8-byte load of high bits and one 2-byte load of its two scales. A block
 * still takes its 210 bytes at its place; as blocks start at any even
 * address, the 18 bytes of d and scales ("filler": d, then the 16 scales)
 * are split around the 192 bytes of quants, pre of them first, pre chosen
 * from the block's address so that the quants start 16-byte aligned.
 * Unit j's quants q[0..31] (6 bits, stored value + 32): low nibbles at
 * pre + 16j as four words, word a holding q[4a .. 4a+3] in its low nibbles
 * and q[16+4a ..] in its high ones; high bits at pre + 128 + 8j as two
 * words, word a holding q[4(a+2s) .. 4(a+2s)+3] >> 4 at bits 2s of each
 * byte. So word i of four consecutive quants is a shift and a mask away. */
__host__ __device__ inline int q6r_pre(uintptr_t block_addr) {
    return (int)((16 - (block_addr & 15)) & 15);
}
/* Offset in the block of filler byte f (0-1: d, 2 + 2j: unit j's scales). */
__host__ __device__ inline int q6r_fill(int f, int pre) {
    return f < pre ? f : f + 192;
}
/* Quants 4i..4i+3 of a unit (unsigned, 0..63) from its four words of low
 * nibbles l and two of high bit pairs h, as laid out above. */
__device__ __forceinline__ uint32_t q6r_word(const uint32_t (&l)[4], const uint32_t (&h)[2],
                                             int i) {
    return ((l[i & 3] >> (4 * (i >> 2))) & 0x0F0F0F0Fu) |
           (((h[i & 1] >> (2 * (i >> 1))) & 0x03030303u) << 4);
}
/* Unit j (0..7) of the rearranged Q6_K block at b: q[i] = quants 4i..4i+3
 * (unsigned, 0..63), d, and the scales of its two halves. */
__device__ __forceinline__ void q6r_unit(const uint8_t *b, int j, uint32_t (&q)[8], float &d,
                                         int &s0, int &s1) {
    const int pre = q6r_pre((uintptr_t)b);
    const uint4 lo = __ldg((const uint4 *)(b + pre + 16 * j));
    const uint2 hi = __ldg((const uint2 *)(b + pre + 128 + 8 * j));
    d = ld_half(b + q6r_fill(0, pre));
    const unsigned short sw = __ldg((const unsigned short *)(b + q6r_fill(2 + 2 * j, pre)));
    s0 = (int)(int8_t)(sw & 0xFF);
    s1 = (int)(int8_t)(sw >> 8);
    const uint32_t l[4] = {lo.x, lo.y, lo.z, lo.w}, h[2] = {hi.x, hi.y};
#pragma unroll
    for (int i = 0; i < 8; i++)
        q[i] = q6r_word(l, h, i);
}

/* Q4_K and Q5_K blocks are rearranged at upload too (header untouched): in
 * the GGUF layout two units share 32 bytes of qs (one in the low nibbles,
 * one in the high), so each unit loaded 32 bytes to use 16, and Q5_K's 32
 * bytes of qh hold one bit of every unit. Rearranged, unit j's quants are
 * the 16 bytes at qs + 16j, word a holding q[4a .. 4a+3] in its low nibbles
 * and q[16+4a ..] in its high ones (as Q6_K's low nibbles); Q5_K's fifth
 * bits are the word at qh + 4j, byte b's bit i being that of q[4i + b]. */
__device__ __forceinline__ void nib16(const uint8_t *p, uint32_t (&q)[8]) {
    const uint4 v = __ldg((const uint4 *)p);
    const uint32_t l[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 8; i++)
        q[i] = (l[i & 3] >> (4 * (i >> 2))) & 0x0F0F0F0Fu;
}

/* Byte offset of 32-element unit u within a row, and bytes of the block that
 * holds it, per type. */
template <int T> struct blk;
template <> struct blk<LM_TYPE_Q4_0> { static constexpr int bytes = 18, per = 1; };
template <> struct blk<LM_TYPE_Q4_1> { static constexpr int bytes = 20, per = 1; };
template <> struct blk<LM_TYPE_Q5_0> { static constexpr int bytes = 22, per = 1; };
template <> struct blk<LM_TYPE_Q5_1> { static constexpr int bytes = 24, per = 1; };
template <> struct blk<LM_TYPE_Q8_0> { static constexpr int bytes = 34, per = 1; };
template <> struct blk<LM_TYPE_Q4_K> { static constexpr int bytes = 144, per = 8; };
template <> struct blk<LM_TYPE_Q5_K> { static constexpr int bytes = 176, per = 8; };
template <> struct blk<LM_TYPE_Q6_K> { static constexpr int bytes = 210, per = 8; };
template <> struct blk<LM_TYPE_F16> { static constexpr int bytes = 64, per = 1; };
template <> struct blk<LM_TYPE_BF16> { static constexpr int bytes = 64, per = 1; };
template <> struct blk<LM_TYPE_F32> { static constexpr int bytes = 128, per = 1; };

/* ---- dequantisation of one unit to 32 floats ------------------------------ */
template <int T> __device__ void dequant_unit(const uint8_t *row, int u, float *o);

template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q4_0>(const uint8_t *row, int u, float *o) {
    const uint8_t *b = row + 18 * u;
    float d = ld_half(b);
    uint32_t w[4];
    ld_words_a2<4>(b + 2, w);
#pragma unroll
    for (int l = 0; l < 16; l++) {
        int q = byte_of(w, l);
        o[l] = d * (float)((q & 15) - 8);
        o[l + 16] = d * (float)((q >> 4) - 8);
    }
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q4_1>(const uint8_t *row, int u, float *o) {
    const uint8_t *b = row + 20 * u;
    float d = ld_half(b), m = ld_half(b + 2);
    uint32_t w[4];
#pragma unroll
    for (int i = 0; i < 4; i++)
        w[i] = ld_u32_a4(b + 4 + 4 * i);
#pragma unroll
    for (int l = 0; l < 16; l++) {
        int q = byte_of(w, l);
        o[l] = d * (float)(q & 15) + m;
        o[l + 16] = d * (float)(q >> 4) + m;
    }
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q5_0>(const uint8_t *row, int u, float *o) {
    const uint8_t *b = row + 22 * u;
    float d = ld_half(b);
    uint32_t qh = ld_u32_a2(b + 2);
    uint32_t w[4];
    ld_words_a2<4>(b + 6, w);
#pragma unroll
    for (int l = 0; l < 16; l++) {
        int q = byte_of(w, l);
        int lo = (q & 15) | (int)(((qh >> l) & 1u) << 4);
        int hi = (q >> 4) | (int)(((qh >> (l + 16)) & 1u) << 4);
        o[l] = d * (float)(lo - 16);
        o[l + 16] = d * (float)(hi - 16);
    }
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q5_1>(const uint8_t *row, int u, float *o) {
    const uint8_t *b = row + 24 * u;
    float d = ld_half(b), m = ld_half(b + 2);
    uint32_t qh = ld_u32_a4(b + 4);
    uint32_t w[4];
#pragma unroll
    for (int i = 0; i < 4; i++)
        w[i] = ld_u32_a4(b + 8 + 4 * i);
#pragma unroll
    for (int l = 0; l < 16; l++) {
        int q = byte_of(w, l);
        int lo = (q & 15) | (int)(((qh >> l) & 1u) << 4);
        int hi = (q >> 4) | (int)(((qh >> (l + 16)) & 1u) << 4);
        o[l] = d * (float)lo + m;
        o[l + 16] = d * (float)hi + m;
    }
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q8_0>(const uint8_t *row, int u, float *o) {
    const uint8_t *b = row + 34 * u;
    float d = ld_half(b);
    uint32_t w[8];
    ld_words_a2<8>(b + 2, w);
#pragma unroll
    for (int l = 0; l < 32; l++)
        o[l] = d * (float)(int8_t)byte_of(w, l);
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q4_K>(const uint8_t *row, int u, float *o) {
    const uint8_t *b = row + 144 * (u >> 3);
    int j = u & 7;
    float2 sm = k_sub_scales(b, j);
    uint32_t w[8];
    nib16(b + 16 + 16 * j, w);
#pragma unroll
    for (int l = 0; l < 32; l++)
        o[l] = sm.x * (float)byte_of(w, l) - sm.y;
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q5_K>(const uint8_t *row, int u, float *o) {
    const uint8_t *b = row + 176 * (u >> 3);
    int j = u & 7;
    float2 sm = k_sub_scales(b, j);
    uint32_t w[8];
    nib16(b + 48 + 16 * j, w);
    const uint32_t h = __ldg((const unsigned int *)(b + 16 + 4 * j));
#pragma unroll
    for (int i = 0; i < 8; i++)
        w[i] |= ((h >> i) & 0x01010101u) << 4;
#pragma unroll
    for (int l = 0; l < 32; l++)
        o[l] = sm.x * (float)byte_of(w, l) - sm.y;
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_Q6_K>(const uint8_t *row, int u, float *o) {
    uint32_t q[8];
    float d;
    int s0, s1;
    q6r_unit(row + 210 * (u >> 3), u & 7, q, d, s0, s1);
    const float d0 = d * (float)s0, d1 = d * (float)s1;
#pragma unroll
    for (int l = 0; l < 32; l++)
        o[l] = (l < 16 ? d0 : d1) * (float)(byte_of(q, l) - 32);
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_F16>(const uint8_t *row, int u, float *o) {
    const __half *p = (const __half *)row + 32 * u;
    for (int l = 0; l < 32; l++)
        o[l] = __half2float(p[l]);
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_BF16>(const uint8_t *row, int u, float *o) {
    const __nv_bfloat16 *p = (const __nv_bfloat16 *)row + 32 * u;
    for (int l = 0; l < 32; l++)
        o[l] = __bfloat162float(p[l]);
}
template <>
__device__ __forceinline__ void dequant_unit<LM_TYPE_F32>(const uint8_t *row, int u, float *o) {
    const float *p = (const float *)row + 32 * u;
    for (int l = 0; l < 32; l++)
        o[l] = p[l];
}

/* ---- integer dot product of one unit with a q8 activation block -----------
 * xq: the block's 32 int8 values as 8 ints; xd: its scale; xsd: scale * sum
 * of its int8 values (for offsets and minimums). */
template <int T>
__device__ float dot_unit(const uint8_t *row, int u, const int *xq, float xd, float xsd);

template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q4_0>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    const uint8_t *b = row + 18 * u;
    float d = ld_half(b);
    uint32_t qs[4];
    ld_words_a2<4>(b + 2, qs);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t v = qs[i];
        s = __dp4a((int)(v & 0x0F0F0F0Fu), xq[i], s);
        s = __dp4a((int)((v >> 4) & 0x0F0F0F0Fu), xq[i + 4], s);
    }
    return d * (xd * (float)s - 8.0f * xsd);
}
template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q4_1>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    const uint8_t *b = row + 20 * u;
    float d = ld_half(b), m = ld_half(b + 2);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t v = ld_u32_a4(b + 4 + 4 * i);
        s = __dp4a((int)(v & 0x0F0F0F0Fu), xq[i], s);
        s = __dp4a((int)((v >> 4) & 0x0F0F0F0Fu), xq[i + 4], s);
    }
    return d * xd * (float)s + m * xsd;
}
template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q5_0>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    const uint8_t *b = row + 22 * u;
    float d = ld_half(b);
    uint32_t qh = ld_u32_a2(b + 2);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t v = ld_u32_a2(b + 6 + 4 * i);
        uint32_t lo = (v & 0x0F0F0F0Fu) | spread4((qh >> (4 * i)) & 15u);
        uint32_t hi = ((v >> 4) & 0x0F0F0F0Fu) | spread4((qh >> (16 + 4 * i)) & 15u);
        s = __dp4a((int)lo, xq[i], s);
        s = __dp4a((int)hi, xq[i + 4], s);
    }
    return d * (xd * (float)s - 16.0f * xsd);
}
template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q5_1>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    const uint8_t *b = row + 24 * u;
    float d = ld_half(b), m = ld_half(b + 2);
    uint32_t qh = ld_u32_a4(b + 4);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t v = ld_u32_a4(b + 8 + 4 * i);
        uint32_t lo = (v & 0x0F0F0F0Fu) | spread4((qh >> (4 * i)) & 15u);
        uint32_t hi = ((v >> 4) & 0x0F0F0F0Fu) | spread4((qh >> (16 + 4 * i)) & 15u);
        s = __dp4a((int)lo, xq[i], s);
        s = __dp4a((int)hi, xq[i + 4], s);
    }
    return d * xd * (float)s + m * xsd;
}
template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q8_0>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    (void)xsd;
    const uint8_t *b = row + 34 * u;
    float d = ld_half(b);
    uint32_t qs[8];
    ld_words_a2<8>(b + 2, qs);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 8; i++)
        s = __dp4a((int)qs[i], xq[i], s);
    return d * xd * (float)s;
}
template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q4_K>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    const uint8_t *b = row + 144 * (u >> 3);
    int j = u & 7;
    float2 sm = k_sub_scales(b, j);
    uint32_t w[8];
    nib16(b + 16 + 16 * j, w);
    int s = 0;
#pragma unroll
    for (int i = 0; i < 8; i++)
        s = __dp4a((int)w[i], xq[i], s);
    return sm.x * xd * (float)s - sm.y * xsd;
}
template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q5_K>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    const uint8_t *b = row + 176 * (u >> 3);
    int j = u & 7;
    float2 sm = k_sub_scales(b, j);
    uint32_t w[8];
    nib16(b + 48 + 16 * j, w);
    const uint32_t h = __ldg((const unsigned int *)(b + 16 + 4 * j));
    int s = 0;
#pragma unroll
    for (int i = 0; i < 8; i++)
        s = __dp4a((int)(w[i] | (((h >> i) & 0x01010101u) << 4)), xq[i], s);
    return sm.x * xd * (float)s - sm.y * xsd;
}
template <>
__device__ __forceinline__ float dot_unit<LM_TYPE_Q6_K>(const uint8_t *row, int u, const int *xq,
                                                        float xd, float xsd) {
    (void)xsd;
    uint32_t w[8];
    float d;
    int s0, s1;
    q6r_unit(row + 210 * (u >> 3), u & 7, w, d, s0, s1);
    int sa = 0, sb = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        int q = (int)__vsub4(w[i], 0x20202020u);
        if (i < 4)
            sa = __dp4a(q, xq[i], sa);
        else
            sb = __dp4a(q, xq[i], sb);
    }
    return d * xd * (float)(s0 * sa + s1 * sb);
}

/* ---- warp reductions and q8 activation blocks -------------------------- */
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

/* The warp's 32 values, one per lane, as one q8 block: this lane's code at
 * *q, and from lane 0 the block's (scale, scale * sum of codes) at *s, the
 * form the mat-vec kernels read. Every lane of the warp must call it. */
__device__ __forceinline__ void warp_store_q8(float v, int8_t *q, float2 *s, int lane) {
    float d = warp_max(fabsf(v)) / 127.0f;
    int c = d > 0.0f ? __float2int_rn(v / d) : 0;
    *q = (int8_t)c;
    float sum = warp_sum((float)c);
    if (lane == 0) *s = make_float2(d, d * sum);
}

/* ---- host side ----------------------------------------------------------- */

/* Bytes of a row of n_in elements of a type the engine computes with; 0 for
 * any other type. */
inline size_t row_bytes_of(uint32_t type, int64_t n_in) {
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

/* Row bytes of n_in elements, or 0 when the type is not computed here or n_in
 * is not a whole number of its blocks (32 elements, 256 for K-quants). */
inline size_t whole_row_bytes(uint32_t type, int64_t n_in) {
    size_t rb = row_bytes_of(type, n_in);
    return n_in % 32 == 0 && rb * 256 == row_bytes_of(type, 256 * n_in) ? rb : 0;
}

/* Calls f(std::integral_constant<int, T>()) for weight type T: the one switch
 * from a run-time type to the kernel templates. With Q8_ONLY the float types
 * are refused like unknown ones (and not instantiated). */
template <bool Q8_ONLY, typename F> bool with_type(uint32_t type, F &&f) {
#define LMC_T(T)                                                                                   \
    case T:                                                                                        \
        f(std::integral_constant<int, T>());                                                       \
        return true;
    switch (type) {
        LMC_T(LM_TYPE_Q4_0)
        LMC_T(LM_TYPE_Q4_1)
        LMC_T(LM_TYPE_Q5_0)
        LMC_T(LM_TYPE_Q5_1)
        LMC_T(LM_TYPE_Q8_0)
        LMC_T(LM_TYPE_Q4_K)
        LMC_T(LM_TYPE_Q5_K)
        LMC_T(LM_TYPE_Q6_K)
    default:
        break;
    }
    if constexpr (!Q8_ONLY) {
        switch (type) {
            LMC_T(LM_TYPE_F16)
            LMC_T(LM_TYPE_BF16)
            LMC_T(LM_TYPE_F32)
        default:
            break;
        }
    }
    return false;
#undef LMC_T
}

} // namespace lmc
#endif
