/* decode_avx512.c — one-token (decode) mat-vec kernels for Q4_0, Q8_0, Q4_K
 * and Q6_K with AVX-512 VNNI + VBMI. A thread's rows are one contiguous
 * stretch of memory; it computes four rows at once, taken a quarter of the
 * stretch apart, so the weights arrive as four long linear streams (the
 * tiled kernels interleave four adjacent short rows in small steps, and a
 * single stream leaves too few lines in flight to reach the core's share of
 * the bandwidth), with a software prefetch a fixed distance ahead in each.
 * The activation is laid out once per call in the order the weight bytes
 * arrive (the code offset folded into a per-lane bias), so the row loop is
 * loads, byte permutes, the VNNI dot products and one FMA, and each
 * activation load serves all four rows. */
#include "backend/cpu/quant.h"
#include "format/ggml_types.h"
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

/* The stream loops (k < R) must be unrolled so the accumulators stay in
 * registers; GCC at -O2 leaves them rolled. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#define DEC_TARGET                                                                                 \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,f16c")))
#define AI static inline __attribute__((always_inline)) DEC_TARGET

/* Bytes ahead of the current read, per stream, that are requested (1-8 KiB
 * measured the same; see bench/NOTES-cpu-decode.md). */
#ifndef LM_DEC_PF_DIST
#define LM_DEC_PF_DIST 2048
#endif
/* Longest row (elements) whose arranged activation is kept on the stack. */
enum { MAX_IN = 16384 };
/* Rows read at once, each from its own quarter of the thread's rows (2 and
 * 8 streams measured slower than 4). */
#ifndef NS
#define NS 4
#endif

/* One 64-byte step of weights: codes (u8), the lanes' bias (minus the code
 * offset times the activation sum of each lane's block) and activation
 * scales spread over the lanes of their block. */
typedef struct {
    __m512i a, bias;
    __m512 d;
} act_step;

AI void pf(const uint8_t *p) {
    _mm_prefetch((const char *)p + LM_DEC_PF_DIST, _MM_HINT_T0);
}

/* ---- Q4_0: 4 blocks (72 bytes) per step pair: low nibbles of each block in
 * one 128-bit lane, high nibbles in the other vector ---- */

/* vpermi2b indexes over blocks of blk bytes (an f16 scale, then the codes)
 * from byte `base`: the blocks' code bytes, per bytes each, in order ... */
AI __m512i codes_idx(int base, int blk, int per) {
    uint8_t b[64];
    for (int j = 0; j < 64; j++)
        b[j] = (uint8_t)(base + blk * (j / per) + 2 + j % per);
    return _mm512_loadu_si512(b);
}
/* ... and the blocks' f16 scales, in the low 32 bytes, each
 * repeated for the per / 2 int32 lanes of its block. */
AI __m512i scales_idx(int base, int blk, int per) {
    uint8_t b[64] = {0};
    for (int j = 0; j < 32; j++)
        b[j] = (uint8_t)(base + blk * (j / per) + j % 2);
    return _mm512_loadu_si512(b);
}

/* Q4_0 blocks 0-3 (18 bytes each) into 128-bit lanes, 16 code bytes each. */
AI __m512i q4_qs_idx(int base) {
    return codes_idx(base, 18, 16);
}
AI __m512i q4_d_idx(int base) {
    return scales_idx(base, 18, 8);
}

/* 128 activations arranged for one group of 4 Q4_0 blocks. */
typedef struct {
    __m512i lo, hi, bias;
    __m512 d;
} q4_step;

static DEC_TARGET void arrange_q4_0(const lm_act_q8_32 *a, int64_t nq, q4_step *s) {
    const __m512i ilo = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
    const __m512i ihi = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    const __m512i eight = _mm512_set1_epi8(8);
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    for (int64_t q = 0; q < nq; q++, a += 4, s++) {
        __m512i t01 =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a[0].qs)),
                               _mm256_loadu_si256((const __m256i *)a[1].qs), 1);
        __m512i t23 =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a[2].qs)),
                               _mm256_loadu_si256((const __m256i *)a[3].qs), 1);
        s->lo = _mm512_permutex2var_epi64(t01, ilo, t23);
        s->hi = _mm512_permutex2var_epi64(t01, ihi, t23);
        __m512i off = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, s->lo),
                                          eight, s->hi);
        s->bias = _mm512_sub_epi32(_mm512_setzero_si512(), off);
        s->d = _mm512_permutexvar_ps(
            idx, _mm512_castps128_ps512(_mm_set_ps(a[3].d, a[2].d, a[1].d, a[0].d)));
    }
}

/* The dot product of 4 blocks whose bytes are in (v0, v1) from byte 0 (idx
 * set 0) or 8 (set 1), against arranged step pair s. */
AI __m512 q4_quad(__m512i v0, __m512i v1, __m512i iq, __m512i id, const q4_step *s, __m512 acc) {
    const __m512i lo4 = _mm512_set1_epi8(15);
    __m512i z = _mm512_permutex2var_epi8(v0, iq, v1);
    __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi8(v0, id, v1)));
    __m512i lo = _mm512_and_si512(z, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), lo4);
    __m512i i = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s->bias, lo, s->lo), hi, s->hi);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(dw, s->d), acc);
}

/* ---- Q8_0: 2 blocks (68 bytes) per step, codes made unsigned (+128) ---- */

/* The 64 code bytes of a Q8_0 block pair (34 bytes each), and its scales. */
AI __m512i q8_qs_idx(int base) {
    return codes_idx(base, 34, 32);
}
AI __m512i q8_d_idx(int base) {
    return scales_idx(base, 34, 16);
}

static DEC_TARGET void arrange_q8_0(const lm_act_q8_32 *a, int64_t np, act_step *s) {
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    for (int64_t i = 0; i < np; i++, a += 2, s++) {
        s->a =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a[0].qs)),
                               _mm256_loadu_si256((const __m256i *)a[1].qs), 1);
        s->bias = _mm512_sub_epi32(_mm512_setzero_si512(),
                                   _mm512_dpbusd_epi32(_mm512_setzero_si512(), k80, s->a));
        s->d = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(a[0].d), _mm512_set1_ps(a[1].d));
    }
}

AI __m512 q8_pair(__m512i v0, __m512i v1, __m512i iq, __m512i id, const act_step *s, __m512 acc) {
    __m512i z =
        _mm512_xor_si512(_mm512_permutex2var_epi8(v0, iq, v1), _mm512_set1_epi8((char)0x80));
    __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi8(v0, id, v1)));
    __m512i i = _mm512_dpbusd_epi32(s->bias, z, s->a);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(dw, s->d), acc);
}

/* Q4_0 (q8 false: q4_step steps, 4 blocks = 72 bytes per step) or Q8_0 (q8:
 * act_step steps, 2 blocks = 68 bytes per step), two steps per trip; R rows
 * at once, rows r, r + stride, ...: each a separate stream. q8 and R are
 * constants at every call, so each use compiles to its own loop. */
AI void block_rows(const uint8_t *w, size_t rb, int64_t n, int64_t r, int64_t stride, const int R,
                   const bool q8, const void *steps, float *y) {
    const int step = q8 ? 68 : 72;
    const __m512i iq0 = q8 ? q8_qs_idx(0) : q4_qs_idx(0), id0 = q8 ? q8_d_idx(0) : q4_d_idx(0);
    const __m512i iq1 = q8 ? q8_qs_idx(4) : q4_qs_idx(8), id1 = q8 ? q8_d_idx(4) : q4_d_idx(8);
    const uint8_t *p[NS];
    __m512 acc0[NS], acc1[NS];
    for (int k = 0; k < R; k++) {
        p[k] = w + (size_t)(r + k * stride) * rb;
        acc0[k] = acc1[k] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < n; i += 2) {
        for (int k = 0; k < R; k++) {
            const uint8_t *pk = p[k] + (size_t)i * step;
            pf(pk);
            pf(pk + 64);
            pf(pk + 128);
            __m512i v0 = _mm512_loadu_si512(pk), v1 = _mm512_loadu_si512(pk + 64);
            if (q8) {
                const act_step *s = (const act_step *)steps + i;
                __m512i v2 = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(pk + 128)));
                acc0[k] = q8_pair(v0, v1, iq0, id0, s, acc0[k]);
                acc1[k] = q8_pair(v1, v2, iq1, id1, s + 1, acc1[k]);
            } else {
                const q4_step *s = (const q4_step *)steps + i;
                __m512i v2 = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(pk + 128)));
                acc0[k] = q4_quad(v0, v1, iq0, id0, s, acc0[k]);
                acc1[k] = q4_quad(v1, v2, iq1, id1, s + 1, acc1[k]);
            }
        }
    }
    for (int k = 0; k < R; k++)
        y[r + k * stride] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[k], acc1[k]));
}
AI void q4_0_rows(const uint8_t *w, size_t rb, int64_t nq, int64_t r, int64_t stride, const int R,
                  const q4_step *s, float *y) {
    block_rows(w, rb, nq, r, stride, R, false, s, y);
}
AI void q8_0_rows(const uint8_t *w, size_t rb, int64_t np, int64_t r, int64_t stride, const int R,
                  const act_step *s, float *y) {
    block_rows(w, rb, np, r, stride, R, true, s, y);
}

/* ---- Q4_K: one 144-byte block (256 codes) per step ---- */

/* A block's activations: A[0..3] ordered as the code nibbles come (see
 * arrange_q4_k), the sums of each 32-element sub-block, and the scale. */
typedef struct {
    __m512i a[4];
    __m128i bsum; /* 8 x int16 */
    float d;
    float pad[11];
} q4k_step;

static DEC_TARGET void arrange_q4_k(const lm_act_q8_256 *a, int64_t nb, q4k_step *s) {
    for (int64_t b = 0; b < nb; b++, a++, s++) {
        /* codes 0-63 hold sub-blocks 0|2 (low nibbles) and 1|3 (high), codes
         * 64-127 sub-blocks 4|6 and 5|7 */
        for (int h = 0; h < 2; h++) {
            __m512i a0 = _mm512_loadu_si512(a->qs + 128 * h);
            __m512i a1 = _mm512_loadu_si512(a->qs + 128 * h + 64);
            s->a[2 * h] = _mm512_shuffle_i64x2(a0, a1, _MM_SHUFFLE(1, 0, 1, 0));
            s->a[2 * h + 1] = _mm512_shuffle_i64x2(a0, a1, _MM_SHUFFLE(3, 2, 3, 2));
        }
        __m256i b16 = _mm256_loadu_si256((const __m256i *)a->bsums);
        __m256i b32 = _mm256_madd_epi16(b16, _mm256_set1_epi16(1)); /* pairs of 16-sums */
        s->bsum = _mm256_cvtepi32_epi16(b32);
        s->d = a->d;
    }
}

/* The 8 six-bit scales and 8 mins of a block as bytes [sc0..7, m0..7], from
 * the 12 packed bytes at hdr[4..15]: sc[j] = s[j] & 63 and m[j] = s[j+4] & 63
 * for j < 4; sc[j+4] = (s[j+8] & 15) | (s[j] >> 6) << 4 and
 * m[j+4] = (s[j+8] >> 4) | (s[j+4] >> 6) << 4. */
AI __m128i q4k_scales(__m128i hdr) {
    const __m128i lo_src = _mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i hi_src = _mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11);
    const __m128i lo_mask =
        _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
    __m128i l = _mm_shuffle_epi8(hdr, lo_src);
    __m128i low =
        _mm_or_si128(_mm_and_si128(l, lo_mask),
                     _mm_and_si128(_mm_srli_epi16(l, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                       0, 0, 15, 15, 15, 15)));
    __m128i h = _mm_and_si128(_mm_shuffle_epi8(hdr, hi_src), _mm_set1_epi8((char)0xc0));
    return _mm_or_si128(low, _mm_srli_epi16(h, 2));
}

/* vpermb index giving int16 lanes 0-15 scale j0 and 16-31 scale j1 (high
 * bytes zeroed by the mask). */
AI __m512i q4k_sc_idx(int j0, int j1) {
    return _mm512_mask_blend_epi8(0xffffffff00000000ull, _mm512_set1_epi8((char)j0),
                                  _mm512_set1_epi8((char)j1));
}

AI void q4_k_rows(const uint8_t *w, size_t rb, int64_t nb, int64_t r, int64_t stride, const int R,
                  const q4k_step *s, float *y) {
    const __m512i lo4 = _mm512_set1_epi8(15);
    const __m512i i0 = q4k_sc_idx(0, 2), i1 = q4k_sc_idx(1, 3), i2 = q4k_sc_idx(4, 6),
                  i3 = q4k_sc_idx(5, 7);
    const __mmask64 even = 0x5555555555555555ull;
    const uint8_t *p[NS];
    __m512 acc[NS];
    __m128 accm[NS];
    for (int k = 0; k < R; k++) {
        p[k] = w + (size_t)(r + k * stride) * rb;
        acc[k] = _mm512_setzero_ps();
        accm[k] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        for (int k = 0; k < R; k++) {
            const uint8_t *pk = p[k] + (size_t)b * 144;
            pf(pk);
            pf(pk + 64);
            pf(pk + 128);
            __m128i hdr = _mm_loadu_si128((const __m128i *)pk);
            __m128i scm = q4k_scales(hdr);
            __m512i sc512 = _mm512_castsi128_si512(scm);
            __m512i x0 = _mm512_loadu_si512(pk + 16), x1 = _mm512_loadu_si512(pk + 80);
            __m512i q0 = _mm512_and_si512(x0, lo4),
                    q1 = _mm512_and_si512(_mm512_srli_epi16(x0, 4), lo4);
            __m512i q2 = _mm512_and_si512(x1, lo4),
                    q3 = _mm512_and_si512(_mm512_srli_epi16(x1, 4), lo4);
            __m512i isum =
                _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(q0, s[b].a[0]),
                                    _mm512_maskz_permutexvar_epi8(even, i0, sc512));
            isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q1, s[b].a[1]),
                                       _mm512_maskz_permutexvar_epi8(even, i1, sc512));
            isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q2, s[b].a[2]),
                                       _mm512_maskz_permutexvar_epi8(even, i2, sc512));
            isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q3, s[b].a[3]),
                                       _mm512_maskz_permutexvar_epi8(even, i3, sc512));
            /* [d, dmin] of the weights times the activation scale */
            __m128 dd = _mm_mul_ps(_mm_cvtph_ps(hdr), _mm_set1_ps(s[b].d));
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_broadcastss_ps(dd), acc[k]);
            __m128i mins = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(scm, 8)), s[b].bsum);
            accm[k] = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), _mm_shuffle_ps(dd, dd, 0x55), accm[k]);
        }
    }
    for (int k = 0; k < R; k++)
        y[r + k * stride] =
            _mm512_reduce_add_ps(acc[k]) - (accm[k][0] + accm[k][1] + accm[k][2] + accm[k][3]);
}

/* ---- Q6_K: one 210-byte block per step; the activation is used as
 * converted (its codes are in element order already) ---- */

/* int16 lanes 8i..8i+7 take scale g+i (vpermw index). */
AI __m512i q6k_sc_idx(int g) {
    return _mm512_set_epi16(g + 3, g + 3, g + 3, g + 3, g + 3, g + 3, g + 3, g + 3, g + 2, g + 2,
                            g + 2, g + 2, g + 2, g + 2, g + 2, g + 2, g + 1, g + 1, g + 1, g + 1,
                            g + 1, g + 1, g + 1, g + 1, g, g, g, g, g, g, g, g);
}

AI void q6_k_rows(const uint8_t *w, size_t rb, int64_t nb, int64_t r, int64_t stride, const int R,
                  const lm_act_q8_256 *a, float *y) {
    const __m512i lo4 = _mm512_set1_epi8(15), b30 = _mm512_set1_epi8(0x30);
    const __m512i ix[4] = {q6k_sc_idx(0), q6k_sc_idx(4), q6k_sc_idx(8), q6k_sc_idx(12)};
    const uint8_t *p[NS];
    __m512 acc[NS];
    for (int k = 0; k < R; k++) {
        p[k] = w + (size_t)(r + k * stride) * rb;
        acc[k] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const lm_act_q8_256 *ab = a + b;
        __m256i bs = _mm256_loadu_si256((const __m256i *)ab->bsums);
        for (int k = 0; k < R; k++) {
            const uint8_t *pk = p[k] + (size_t)b * 210;
            pf(pk);
            pf(pk + 64);
            pf(pk + 128);
            pf(pk + 192);
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(pk + 192)));
            __m512i s512 = _mm512_castsi256_si512(sc16);
            /* codes are 0..63 for values -32..31: the offset through the
             * activation group sums */
            __m512i isum =
                _mm512_zextsi256_si512(_mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
            isum = _mm512_sub_epi32(_mm512_setzero_si512(), isum);
            for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512(pk + 64 * h);
                __m256i qh = _mm256_loadu_si256((const __m256i *)(pk + 128 + 32 * h));
                __m512i hh =
                    _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                __m512i q0 = _mm512_or_si512(_mm512_and_si512(ql, lo4),
                                             _mm512_and_si512(_mm512_slli_epi16(hh, 4), b30));
                __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), lo4),
                                             _mm512_and_si512(hh, b30));
                isum = _mm512_dpwssd_epi32(
                    isum, _mm512_maddubs_epi16(q0, _mm512_loadu_si512(ab->qs + 128 * h)),
                    _mm512_permutexvar_epi16(ix[2 * h], s512));
                isum = _mm512_dpwssd_epi32(
                    isum, _mm512_maddubs_epi16(q1, _mm512_loadu_si512(ab->qs + 128 * h + 64)),
                    _mm512_permutexvar_epi16(ix[2 * h + 1], s512));
            }
            float d = _cvtsh_ss((unsigned short)(pk[208] | pk[209] << 8));
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * ab->d), acc[k]);
        }
    }
    for (int k = 0; k < R; k++)
        y[r + k * stride] = _mm512_reduce_add_ps(acc[k]);
}

/* A thread's rows r0..r1: NS interleaved streams (rows a quarter of the
 * stretch apart), then the rows left over one at a time. */
#define DEC_ROWS(name, rows, step_t)                                                               \
    static DEC_TARGET void name(const uint8_t *w, size_t rb, int64_t n, int64_t r0, int64_t r1,    \
                                const step_t *s, float *y) {                                       \
        int64_t S = (r1 - r0) / NS;                                                                \
        for (int64_t i = 0; i < S; i++)                                                            \
            rows(w, rb, n, r0 + i, S, NS, s, y);                                                   \
        for (int64_t r = r0 + NS * S; r < r1; r++)                                                 \
            rows(w, rb, n, r, 0, 1, s, y);                                                         \
    }
DEC_ROWS(rows_q4_0, q4_0_rows, q4_step)
DEC_ROWS(rows_q8_0, q8_0_rows, act_step)
DEC_ROWS(rows_q4_k, q4_k_rows, q4k_step)
DEC_ROWS(rows_q6_k, q6_k_rows, lm_act_q8_256)

bool lm_cpu_avx512_decode_ok(void) {
    static int ok = -1;
    if (ok < 0)
        ok = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("avx512bw");
    return ok > 0;
}

bool lm_cpu_avx512_decode(uint32_t type, const void *w, size_t rb, int64_t n_in, int64_t r0,
                          int64_t r1, const void *act, float *y) {
    /* the Q4_0 and Q8_0 row loops take two groups per trip: 8 or 4 blocks */
    if (n_in > MAX_IN || !lm_cpu_avx512_decode_ok()) return false;
    union {
        q4_step q4[MAX_IN / 128];
        q4k_step q4k[MAX_IN / 256];
        act_step q8[MAX_IN / 64];
    } s;
    switch (type) {
    case LM_TYPE_Q4_0:
        if (n_in % 256) return false;
        arrange_q4_0(act, n_in / 128, s.q4);
        rows_q4_0(w, rb, n_in / 128, r0, r1, s.q4, y);
        return true;
    case LM_TYPE_Q8_0:
        if (n_in % 128) return false;
        arrange_q8_0(act, n_in / 64, s.q8);
        rows_q8_0(w, rb, n_in / 64, r0, r1, s.q8, y);
        return true;
    case LM_TYPE_Q4_K:
        arrange_q4_k(act, n_in / 256, s.q4k);
        rows_q4_k(w, rb, n_in / 256, r0, r1, s.q4k, y);
        return true;
    case LM_TYPE_Q6_K:
        rows_q6_k(w, rb, n_in / 256, r0, r1, act, y);
        return true;
    default:
        return false;
    }
}
