/* kernels_avx512.c — AVX-512 matmul kernels (F/BW/VL/DQ + VNNI).
 *
 * Each kernel computes a tile of R weight rows x T tokens (R, T <= 4) with
 * R*T vector accumulators, so each unpacked weight vector is used T times and
 * each activation vector R times; the row loop is outermost so a tile's
 * weight rows stay in L1 while every token of a prefill passes over them.
 * Integer types use vpdpbusd (u8 x s8 -> s32) on 64-byte pairs of 32-blocks:
 * weights are made unsigned (Q4_0 codes 0..15, Q8_0 codes + 128) and the
 * offset (8, 16 or 128 times the activation sums) is put in the accumulator
 * first. K-quants use vpmaddubsw then vpdpwssd with the sub-block scales. */
#include "backend/cpu/quant.h"
#include "format/ggml_types.h"
#include <immintrin.h>
#include <string.h>

/* The tiles' r/t loops must be fully unrolled so the accumulators live in
 * registers; GCC at -O2 leaves some rolled (clang unrolls them already). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#define AI static inline __attribute__((always_inline))
enum { TR = 4, TT = 4 };

AI uint16_t ld16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
AI uint32_t ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
AI float h2f(uint16_t h) {
    return _cvtsh_ss(h);
}

void lm_cpu_avx512_quantize_act32(const float *x, lm_act_q8_32 *dst, int64_t nb) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        __m512 m = _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1));
        float amax = _mm512_reduce_max_ps(m);
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        _mm_storeu_si128((__m128i *)dst[b].qs, _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(dst[b].qs + 16), _mm512_cvtsepi32_epi8(i1));
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        dst[b].d = amax / 127.0f;
        dst[b].s = dst[b].d * (float)sum;
    }
}

void lm_cpu_avx512_quantize_act256(const float *x, lm_act_q8_256 *dst, int64_t nb) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += 256) {
        __m512 m = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16 * g)));
        float amax = _mm512_reduce_max_ps(m);
        __m512 vid = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
        dst[b].d = amax / 127.0f;
        for (int g = 0; g < 16; g++) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vid));
            _mm_storeu_si128((__m128i *)(dst[b].qs + 16 * g), _mm512_cvtsepi32_epi8(q));
            dst[b].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
    }
}

uint64_t lm_cpu_avx512_stream_sum(const uint64_t *p, size_t n) {
    __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) s[k] = _mm512_add_epi64(s[k], _mm512_loadu_si512(p + i + 8 * k));
    uint64_t t = (uint64_t)_mm512_reduce_add_epi64(
        _mm512_add_epi64(_mm512_add_epi64(s[0], s[1]), _mm512_add_epi64(s[2], s[3])));
    for (; i < n; i++) t += p[i];
    return t;
}

/* ---- 32-element block types ------------------------------------------- */

/* Zero blocks stand in for the missing partner when a row has an odd
 * number of blocks: scale 0 and quants 0 contribute exactly nothing. */
static const uint8_t k_zero_blk[64];
static const lm_act_q8_32 k_zero_act;

/* [d0 x8, d1 x8] from two f16 scales. */
AI __m512 pair_h(uint16_t h0, uint16_t h1) {
    __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16)));
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}
AI __m512 pair_f(float f0, float f1) {
    return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(f0), _mm512_set1_ps(f1));
}

/* 16 nibbles of each of two blocks -> 64 codes in element order. */
AI __m512i nibbles_pair(const uint8_t *q0, const uint8_t *q1) {
    __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)q0)),
                                        _mm_loadu_si128((const __m128i *)q1), 1);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(x), _mm256_srli_epi16(x, 4), 1);
    z = _mm512_and_si512(z, _mm512_set1_epi8(15));
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

/* Rows of a tile are short (a Q4_0 row of 2048 is 18 cache lines), too short
 * for the hardware prefetcher to lock on before each ends; so each row asks
 * for the same bytes of the rows PF_TILES tiles further on. Prefetches never
 * fault, so running past the matrix end is harmless. */
enum { PF_TILES = 4 };
AI void prefetch_ahead(const uint8_t *p, size_t rb, int R, int bytes) {
    const uint8_t *q = p + (size_t)PF_TILES * (size_t)R * rb;
    for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)q + o, _MM_HINT_T0);
}

/* Per-type layout: block bytes, code offset, whether it has a min. */
AI int blk_bytes(int type) {
    switch (type) {
    case LM_TYPE_Q4_0: return 18;
    case LM_TYPE_Q4_1: return 20;
    case LM_TYPE_Q5_0: return 22;
    case LM_TYPE_Q5_1: return 24;
    default: return 34;
    }
}
AI int code_offset(int type) {
    switch (type) {
    case LM_TYPE_Q4_0: return 8;
    case LM_TYPE_Q5_0: return 16;
    case LM_TYPE_Q8_0: return 128;
    default: return 0;
    }
}
AI int has_min(int type) {
    return type == LM_TYPE_Q4_1 || type == LM_TYPE_Q5_1;
}

/* Unsigned codes of two blocks of one row, and their scales (and mins/8,
 * spread over the 8 lanes a block's dot product occupies). */
AI __m512i unpack32(int type, const uint8_t *p0, const uint8_t *p1, __m512 *d, __m512 *m) {
    __m512i w;
    switch (type) {
    case LM_TYPE_Q4_0: w = nibbles_pair(p0 + 2, p1 + 2); break;
    case LM_TYPE_Q4_1: w = nibbles_pair(p0 + 4, p1 + 4); break;
    case LM_TYPE_Q5_0:
    case LM_TYPE_Q5_1: {
        int o = type == LM_TYPE_Q5_0 ? 2 : 4;
        w = nibbles_pair(p0 + o + 4, p1 + o + 4);
        __mmask64 k = (__mmask64)ld32(p0 + o) | (__mmask64)ld32(p1 + o) << 32;
        w = _mm512_mask_add_epi8(w, k, w, _mm512_set1_epi8(16));
        break;
    }
    default: /* Q8_0: signed codes + 128 */
        w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p0 + 2))),
                               _mm256_loadu_si256((const __m256i *)(p1 + 2)), 1);
        w = _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80));
        break;
    }
    *d = pair_h(ld16(p0), ld16(p1));
    if (has_min(type))
        *m = _mm512_mul_ps(pair_h(ld16(p0 + 2), ld16(p1 + 2)), _mm512_set1_ps(0.125f));
    return w;
}

AI void step32(int type, const uint8_t *w, size_t rb, int64_t b, int two, const uint8_t *act,
               size_t as, const int R, const int T, __m512 acc[TR][TT]) {
    const int bs = blk_bytes(type), off = code_offset(type);
    __m512i av[TT], bias[TT];
    __m512 da[TT], sa[TT];
    for (int t = 0; t < T; t++) {
        const lm_act_q8_32 *a0 = (const lm_act_q8_32 *)(act + (size_t)t * as) + b;
        const lm_act_q8_32 *a1 = two ? a0 + 1 : &k_zero_act;
        av[t] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a0->qs)),
                                   _mm256_loadu_si256((const __m256i *)a1->qs), 1);
        bias[t] = _mm512_setzero_si512();
        if (off)
            bias[t] = _mm512_sub_epi32(
                bias[t], _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), av[t]));
        da[t] = pair_f(a0->d, a1->d);
        if (has_min(type)) sa[t] = pair_f(a0->s, a1->s);
    }
    for (int r = 0; r < R; r++) {
        const uint8_t *p0 = w + (size_t)r * rb + (size_t)b * (size_t)bs;
        const uint8_t *p1 = two ? p0 + bs : k_zero_blk;
        prefetch_ahead(p0, rb, R, 2 * bs);
        __m512 dw, mw = _mm512_setzero_ps();
        __m512i wv = unpack32(type, p0, p1, &dw, &mw);
        for (int t = 0; t < T; t++) {
            __m512i i = _mm512_dpbusd_epi32(bias[t], wv, av[t]);
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(dw, da[t]), acc[r][t]);
            if (has_min(type)) acc[r][t] = _mm512_fmadd_ps(mw, sa[t], acc[r][t]);
        }
    }
}

/* Four blocks of a nibble type at once: the 16 code bytes of each block go
 * to one 128-bit lane, so low nibbles (elements 0-15 of each block) and high
 * nibbles (16-31) are one vector each, with no shuffle on the weight side;
 * the activations are rearranged to match once per token and reused by all
 * rows of the tile. vpdpbusd lanes 4k..4k+3 then all belong to block k. */
AI int qs_offset(int type) {
    switch (type) {
    case LM_TYPE_Q4_0: return 2;
    case LM_TYPE_Q4_1: return 4;
    case LM_TYPE_Q5_0: return 6;
    default: return 8;
    }
}

AI __m512 quad_f(float f0, float f1, float f2, float f3) {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_set_ps(f3, f2, f1, f0)));
}
AI __m512 quad_h(uint64_t h4) {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)h4));
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

AI void step_quad(int type, const uint8_t *w, size_t rb, int64_t b, const uint8_t *act, size_t as,
                  const int R, const int T, __m512 acc[TR][TT]) {
    const int bs = blk_bytes(type), off = code_offset(type), qo = qs_offset(type);
    const __m512i ilo = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
    const __m512i ihi = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    const __m512i lo4 = _mm512_set1_epi8(15);
    __m512i alo[TT], ahi[TT], bias[TT];
    __m512 da[TT], sa[TT];
    for (int t = 0; t < T; t++) {
        const lm_act_q8_32 *a = (const lm_act_q8_32 *)(act + (size_t)t * as) + b;
        __m512i t01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a[0].qs)),
                                         _mm256_loadu_si256((const __m256i *)a[1].qs), 1);
        __m512i t23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a[2].qs)),
                                         _mm256_loadu_si256((const __m256i *)a[3].qs), 1);
        alo[t] = _mm512_permutex2var_epi64(t01, ilo, t23);
        ahi[t] = _mm512_permutex2var_epi64(t01, ihi, t23);
        bias[t] = _mm512_setzero_si512();
        if (off) {
            const __m512i o = _mm512_set1_epi8((char)off);
            bias[t] = _mm512_sub_epi32(bias[t], _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias[t], o, alo[t]), o, ahi[t]));
        }
        da[t] = quad_f(a[0].d, a[1].d, a[2].d, a[3].d);
        if (has_min(type)) sa[t] = quad_f(a[0].s, a[1].s, a[2].s, a[3].s);
    }
    for (int r = 0; r < R; r++) {
        const uint8_t *p = w + (size_t)r * rb + (size_t)b * (size_t)bs;
        prefetch_ahead(p, rb, R, 4 * bs);
        __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + qo)));
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + bs + qo)), 1);
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 2 * bs + qo)), 2);
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 3 * bs + qo)), 3);
        __m512i lo = _mm512_and_si512(z, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), lo4);
        if (type == LM_TYPE_Q5_0 || type == LM_TYPE_Q5_1) {
            uint64_t klo = 0, khi = 0;
            for (int k = 0; k < 4; k++) {
                uint32_t qh = ld32(p + k * bs + qo - 4);
                klo |= (uint64_t)(qh & 0xffff) << (16 * k);
                khi |= (uint64_t)(qh >> 16) << (16 * k);
            }
            lo = _mm512_mask_add_epi8(lo, klo, lo, _mm512_set1_epi8(16));
            hi = _mm512_mask_add_epi8(hi, khi, hi, _mm512_set1_epi8(16));
        }
        uint64_t h4 = (uint64_t)ld16(p) | (uint64_t)ld16(p + bs) << 16 |
                      (uint64_t)ld16(p + 2 * bs) << 32 | (uint64_t)ld16(p + 3 * bs) << 48;
        __m512 dw = quad_h(h4), mw = _mm512_setzero_ps();
        if (has_min(type)) {
            uint64_t m4 = (uint64_t)ld16(p + 2) | (uint64_t)ld16(p + bs + 2) << 16 |
                          (uint64_t)ld16(p + 2 * bs + 2) << 32 | (uint64_t)ld16(p + 3 * bs + 2) << 48;
            mw = _mm512_mul_ps(quad_h(m4), _mm512_set1_ps(0.25f));
        }
        for (int t = 0; t < T; t++) {
            __m512i i = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias[t], lo, alo[t]), hi, ahi[t]);
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(dw, da[t]), acc[r][t]);
            if (has_min(type)) acc[r][t] = _mm512_fmadd_ps(mw, sa[t], acc[r][t]);
        }
    }
}

AI void tile32(int type, const uint8_t *w, size_t rb, int64_t nb, const uint8_t *act, size_t as,
               float *y, size_t ys, const int R, const int T) {
    __m512 acc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t b = 0;
    if (type != LM_TYPE_Q8_0)
        for (; b + 3 < nb; b += 4) step_quad(type, w, rb, b, act, as, R, T, acc);
    for (; b + 1 < nb; b += 2) step32(type, w, rb, b, 1, act, as, R, T, acc);
    if (b < nb) step32(type, w, rb, b, 0, act, as, R, T, acc);
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[(size_t)t * ys + (size_t)r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* Instantiates a tile function for every (R, T) up to 4 x 4 and a matmul
 * that walks row tiles (outer) and token tiles (inner). */
#define TILE_CASES(F, ...)                                                                         \
    switch ((R - 1) * 4 + (T - 1)) {                                                               \
    case 0: F(__VA_ARGS__, 1, 1); break;                                                           \
    case 1: F(__VA_ARGS__, 1, 2); break;                                                           \
    case 2: F(__VA_ARGS__, 1, 3); break;                                                           \
    case 3: F(__VA_ARGS__, 1, 4); break;                                                           \
    case 4: F(__VA_ARGS__, 2, 1); break;                                                           \
    case 5: F(__VA_ARGS__, 2, 2); break;                                                           \
    case 6: F(__VA_ARGS__, 2, 3); break;                                                           \
    case 7: F(__VA_ARGS__, 2, 4); break;                                                           \
    case 8: F(__VA_ARGS__, 3, 1); break;                                                           \
    case 9: F(__VA_ARGS__, 3, 2); break;                                                           \
    case 10: F(__VA_ARGS__, 3, 3); break;                                                          \
    case 11: F(__VA_ARGS__, 3, 4); break;                                                          \
    case 12: F(__VA_ARGS__, 4, 1); break;                                                          \
    case 13: F(__VA_ARGS__, 4, 2); break;                                                          \
    case 14: F(__VA_ARGS__, 4, 3); break;                                                          \
    default: F(__VA_ARGS__, 4, 4); break;                                                          \
    }

#define DEFINE_MATMUL(NAME, TILE, TYPE, BLK)                                                       \
    static void NAME(const void *w, size_t rb, int64_t n_in, int64_t r0, int64_t r1,               \
                     const void *act, size_t as, int n_tok, float *y, size_t ys) {                 \
        int64_t nb = n_in / (BLK);                                                                 \
        if (n_tok == 1 && lm_cpu_avx512_decode(TYPE, w, rb, n_in, r0, r1, act, y)) return;         \
        for (int64_t r = r0; r < r1; r += TR) {                                                    \
            int R = r1 - r < TR ? (int)(r1 - r) : TR;                                              \
            const uint8_t *wr = (const uint8_t *)w + (size_t)r * rb;                               \
            for (int t = 0; t < n_tok; t += TT) {                                                  \
                int T = n_tok - t < TT ? n_tok - t : TT;                                           \
                const uint8_t *at = (const uint8_t *)act + (size_t)t * as;                         \
                float *yt = y + (size_t)t * ys + (size_t)r;                                        \
                TILE_CASES(TILE, TYPE, wr, rb, nb, at, as, yt, ys)                                 \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_MATMUL(mm_q4_0, tile32, LM_TYPE_Q4_0, 32)
DEFINE_MATMUL(mm_q4_1, tile32, LM_TYPE_Q4_1, 32)
DEFINE_MATMUL(mm_q5_0, tile32, LM_TYPE_Q5_0, 32)
DEFINE_MATMUL(mm_q5_1, tile32, LM_TYPE_Q5_1, 32)
DEFINE_MATMUL(mm_q8_0, tile32, LM_TYPE_Q8_0, 32)

/* ---- K-quants ---------------------------------------------------------- */

/* 8 scales and 8 mins of a Q4_K/Q5_K block as 16 int16: [sc0..7, m0..7]. */
AI __m256i k_scales16(const uint8_t *s) {
    uint32_t w0 = ld32(s), w1 = ld32(s + 4), w2 = ld32(s + 8);
    uint64_t sc = (uint64_t)(w0 & 0x3f3f3f3fu) |
                  (uint64_t)((w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u)) << 32;
    uint64_t mn = (uint64_t)(w1 & 0x3f3f3f3fu) |
                  (uint64_t)(((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u)) << 32;
    return _mm256_cvtepu8_epi16(_mm_set_epi64x((long long)mn, (long long)sc));
}

/* vpermw index: int16 lanes 0-15 take scale j0, lanes 16-31 scale j1. */
AI __m512i sub_idx(int j0, int j1) {
    return _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16((short)j0),
                                   _mm512_set1_epi16((short)j1));
}

/* 64 bytes of Q4_K codes hold sub-blocks 4h, 4h+2 (low nibbles of the two
 * 32-byte halves) and 4h+1, 4h+3 (high nibbles); rather than shuffle every
 * row's codes into element order, each token's activations are arranged once
 * as [sb 4h | sb 4h+2] and [sb 4h+1 | sb 4h+3] and shared by the tile's rows. */
AI void tile_k45(int type, const uint8_t *w, size_t rb, int64_t nb, const uint8_t *act, size_t as,
                 float *y, size_t ys, const int R, const int T) {
    const int bs = type == LM_TYPE_Q4_K ? 144 : 176, qoff = type == LM_TYPE_Q4_K ? 16 : 48;
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m256i mdup_idx = _mm256_set_epi16(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
    __m512 acc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const lm_act_q8_256 *a[TT];
        __m512i ap[TT][4];
        for (int t = 0; t < T; t++) {
            a[t] = (const lm_act_q8_256 *)(act + (size_t)t * as) + b;
            for (int h = 0; h < 2; h++) {
                __m512i a0 = _mm512_loadu_si512(a[t]->qs + 128 * h);
                __m512i a1 = _mm512_loadu_si512(a[t]->qs + 128 * h + 64);
                ap[t][2 * h] = _mm512_shuffle_i64x2(a0, a1, _MM_SHUFFLE(1, 0, 1, 0));
                ap[t][2 * h + 1] = _mm512_shuffle_i64x2(a0, a1, _MM_SHUFFLE(3, 2, 3, 2));
            }
        }
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            prefetch_ahead(p, rb, R, bs);
            __m256i s16 = k_scales16(p + 4);
            __m512i s512 = _mm512_castsi256_si512(s16);
            __m256i mdup = _mm256_permutexvar_epi16(mdup_idx, s16);
            __m512i isum[TT];
            for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();
            __m256i qh = type == LM_TYPE_Q5_K ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                __m512i x = _mm512_loadu_si512(p + qoff + 64 * h);
                __m512i q[2] = {_mm512_and_si512(x, lo4), _mm512_and_si512(_mm512_srli_epi16(x, 4), lo4)};
                for (int k = 0; k < 2; k++) {
                    int j0 = 4 * h + k, j1 = 4 * h + k + 2;
                    if (type == LM_TYPE_Q5_K) {
                        __mmask32 m0 = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << j0)));
                        __mmask32 m1 = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << j1)));
                        __mmask64 km = (__mmask64)m0 | (__mmask64)m1 << 32;
                        q[k] = _mm512_mask_add_epi8(q[k], km, q[k], _mm512_set1_epi8(16));
                    }
                    __m512i sc = _mm512_permutexvar_epi16(sub_idx(j0, j1), s512);
                    for (int t = 0; t < T; t++)
                        isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q[k], ap[t][2 * h + k]), sc);
                }
            }
            float d = h2f(ld16(p)), dmin = h2f(ld16(p + 2));
            for (int t = 0; t < T; t++) {
                __m256i mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[t]->bsums), mdup);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_set1_ps(d * a[t]->d), acc[r][t]);
                acc[r][t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)),
                                             _mm512_set1_ps(dmin * a[t]->d), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[(size_t)t * ys + (size_t)r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* Q6_K: codes 0..63 with the -32 offset applied through the activation
 * group sums: sum_g sc_g * (dot_g - 32 * bsum_g). */
AI void tile_q6k(int type, const uint8_t *w, size_t rb, int64_t nb, const uint8_t *act, size_t as,
                 float *y, size_t ys, const int R, const int T) {
    (void)type;
    const __m512i lo4 = _mm512_set1_epi8(15), b30 = _mm512_set1_epi8(0x30);
    __m512 acc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const lm_act_q8_256 *a[TT];
        for (int t = 0; t < T; t++) a[t] = (const lm_act_q8_256 *)(act + (size_t)t * as) + b;
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * rb + (size_t)b * 210;
            prefetch_ahead(p, rb, R, 210);
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 192)));
            __m512i s512 = _mm512_castsi256_si512(sc16);
            __m512i isum[TT];
            for (int t = 0; t < T; t++) {
                __m256i offs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[t]->bsums), sc16);
                isum[t] = _mm512_zextsi256_si512(_mm256_slli_epi32(offs, 5));
                isum[t] = _mm512_sub_epi32(_mm512_setzero_si512(), isum[t]);
            }
            for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512(p + 64 * h);
                __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
                __m512i hh = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                __m512i q[2];
                q[0] = _mm512_or_si512(_mm512_and_si512(ql, lo4),
                                       _mm512_and_si512(_mm512_slli_epi16(hh, 4), b30));
                q[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), lo4),
                                       _mm512_and_si512(hh, b30));
                for (int k = 0; k < 2; k++) {
                    int g = 8 * h + 4 * k; /* first of the four 16-groups */
                    __m512i idx = _mm512_mask_blend_epi16(0x000000ffu, _mm512_set1_epi16((short)(g + 1)),
                                                  _mm512_set1_epi16((short)g));
                    idx = _mm512_mask_blend_epi16(0x00ff0000u, idx, _mm512_set1_epi16((short)(g + 2)));
                    idx = _mm512_mask_blend_epi16(0xff000000u, idx, _mm512_set1_epi16((short)(g + 3)));
                    __m512i sc = _mm512_permutexvar_epi16(idx, s512);
                    for (int t = 0; t < T; t++) {
                        __m512i av = _mm512_loadu_si512(a[t]->qs + 128 * h + 64 * k);
                        isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q[k], av), sc);
                    }
                }
            }
            float d = h2f(ld16(p + 208));
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_set1_ps(d * a[t]->d), acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[(size_t)t * ys + (size_t)r] = _mm512_reduce_add_ps(acc[r][t]);
}

DEFINE_MATMUL(mm_q4_k, tile_k45, LM_TYPE_Q4_K, 256)
DEFINE_MATMUL(mm_q5_k, tile_k45, LM_TYPE_Q5_K, 256)
DEFINE_MATMUL(mm_q6_k, tile_q6k, LM_TYPE_Q6_K, 256)

/* ---- float weights ----------------------------------------------------- */

AI __m512 load16w(int type, const uint8_t *p) {
    switch (type) {
    case LM_TYPE_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    case LM_TYPE_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    default: return _mm512_loadu_ps((const float *)p);
    }
}

AI void tile_f(int type, const uint8_t *w, size_t rb, int64_t n, const uint8_t *act, size_t as,
               float *y, size_t ys, const int R, const int T) {
    const int es = type == LM_TYPE_F32 ? 4 : 2;
    __m512 acc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x[TT];
        for (int t = 0; t < T; t++) x[t] = _mm512_loadu_ps((const float *)(act + (size_t)t * as) + i);
        for (int r = 0; r < R; r++) {
            __m512 wv = load16w(type, w + (size_t)r * rb + (size_t)i * (size_t)es);
            for (int t = 0; t < T; t++) acc[r][t] = _mm512_fmadd_ps(wv, x[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            float s = _mm512_reduce_add_ps(acc[r][t]);
            const float *x = (const float *)(act + (size_t)t * as);
            const uint8_t *wr = w + (size_t)r * rb;
            for (int64_t j = i; j < n; j++) {
                float wj;
                if (type == LM_TYPE_F32) memcpy(&wj, wr + 4 * j, 4);
                else if (type == LM_TYPE_F16) wj = h2f(ld16(wr + 2 * j));
                else {
                    uint32_t u = (uint32_t)ld16(wr + 2 * j) << 16;
                    memcpy(&wj, &u, 4);
                }
                s += wj * x[j];
            }
            y[(size_t)t * ys + (size_t)r] = s;
        }
}

DEFINE_MATMUL(mm_f32, tile_f, LM_TYPE_F32, 1)
DEFINE_MATMUL(mm_f16, tile_f, LM_TYPE_F16, 1)
DEFINE_MATMUL(mm_bf16, tile_f, LM_TYPE_BF16, 1)

void lm_cpu_avx512_table(lm_matmul_fn tab[], int n, int vnni) {
    if (!vnni || n < LM_TYPE_COUNT) return; /* kernels use vpdpbusd/vpdpwssd */
    tab[LM_TYPE_Q4_0] = mm_q4_0;
    tab[LM_TYPE_Q4_1] = mm_q4_1;
    tab[LM_TYPE_Q5_0] = mm_q5_0;
    tab[LM_TYPE_Q5_1] = mm_q5_1;
    tab[LM_TYPE_Q8_0] = mm_q8_0;
    tab[LM_TYPE_Q4_K] = mm_q4_k;
    tab[LM_TYPE_Q5_K] = mm_q5_k;
    tab[LM_TYPE_Q6_K] = mm_q6_k;
    tab[LM_TYPE_F32] = mm_f32;
    tab[LM_TYPE_F16] = mm_f16;
    tab[LM_TYPE_BF16] = mm_bf16;
}
