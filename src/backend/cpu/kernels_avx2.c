/* kernels_avx2.c — AVX2 + FMA + F16C matmul kernels: the same R x T
 * register tiles as the AVX-512 file, one 32-block per 256-bit vector, with
 * vpmaddubsw + vpmaddwd for the u8 x s8 dot products (Q8_0 makes the weight
 * unsigned with the abs/sign trick, since 255*127*2 would overflow int16). */
#include "backend/cpu/quant.h"
#include "format/ggml_types.h"
#include <immintrin.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))
enum { TR = 4, TT = 2 };

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
AI float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static int hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

void lm_cpu_avx2_quantize_act32(const float *x, lm_act_q8_32 *dst, int64_t nb) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        float amax = hmax256(m);
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], vid));
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        /* pack 32 int32 -> 32 int8; packs interleave 128-bit lanes, so fix order */
        __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)dst[b].qs, p8);
        dst[b].d = amax / 127.0f;
        dst[b].s = dst[b].d * (float)hsum256_epi32(sum);
    }
}

uint64_t lm_cpu_avx2_stream_sum(const uint64_t *p, size_t n) {
    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++)
            s[k] = _mm256_add_epi64(s[k], _mm256_loadu_si256((const __m256i *)(p + i + 4 * k)));
    __m256i a = _mm256_add_epi64(_mm256_add_epi64(s[0], s[1]), _mm256_add_epi64(s[2], s[3]));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, a);
    uint64_t t = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n; i++) t += p[i];
    return t;
}

/* ---- 32-element block types ------------------------------------------- */

/* The 32 fifth bits of a Q5 block as 0x10 bytes. */
AI __m256i fifth_bits(uint32_t qh) {
    __m256i v = _mm256_set1_epi32((int)qh);
    v = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

AI __m256i nibbles(const uint8_t *q) {
    __m128i x = _mm_loadu_si128((const __m128i *)q);
    __m256i z = _mm256_set_m128i(_mm_srli_epi16(x, 4), x);
    return _mm256_and_si256(z, _mm256_set1_epi8(15));
}

AI int blk_bytes(int type) {
    switch (type) {
    case LM_TYPE_Q4_0: return 18;
    case LM_TYPE_Q4_1: return 20;
    case LM_TYPE_Q5_0: return 22;
    case LM_TYPE_Q5_1: return 24;
    default: return 34;
    }
}

AI void tile32(int type, const uint8_t *w, size_t rb, int64_t nb, const uint8_t *act, size_t as,
               float *y, size_t ys, const int R, const int T) {
    const int bs = blk_bytes(type);
    const int off = type == LM_TYPE_Q4_0 ? 8 : type == LM_TYPE_Q5_0 ? 16 : 0;
    const int has_min = type == LM_TYPE_Q4_1 || type == LM_TYPE_Q5_1;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[TR][TT];
    float macc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps(), macc[r][t] = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        __m256i av[TT], bias[TT];
        const lm_act_q8_32 *a[TT];
        for (int t = 0; t < T; t++) {
            a[t] = (const lm_act_q8_32 *)(act + (size_t)t * as) + b;
            av[t] = _mm256_loadu_si256((const __m256i *)a[t]->qs);
            if (off)
                bias[t] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8((char)off), av[t]), ones);
        }
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            __m256i wv;
            switch (type) {
            case LM_TYPE_Q4_0: wv = nibbles(p + 2); break;
            case LM_TYPE_Q4_1: wv = nibbles(p + 4); break;
            case LM_TYPE_Q5_0: wv = _mm256_or_si256(nibbles(p + 6), fifth_bits(ld32(p + 2))); break;
            case LM_TYPE_Q5_1: wv = _mm256_or_si256(nibbles(p + 8), fifth_bits(ld32(p + 4))); break;
            default: wv = _mm256_loadu_si256((const __m256i *)(p + 2)); break;
            }
            float dw = h2f(ld16(p));
            __m256i aw = type == LM_TYPE_Q8_0 ? _mm256_sign_epi8(wv, wv) : wv;
            for (int t = 0; t < T; t++) {
                __m256i at = type == LM_TYPE_Q8_0 ? _mm256_sign_epi8(av[t], wv) : av[t];
                __m256i i = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, at), ones);
                if (off) i = _mm256_sub_epi32(i, bias[t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(dw * a[t]->d), acc[r][t]);
                if (has_min) macc[r][t] += h2f(ld16(p + 2)) * a[t]->s;
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[(size_t)t * ys + (size_t)r] = hsum256(acc[r][t]) + macc[r][t];
}

#define TILE_CASES(F, ...)                                                                         \
    switch ((R - 1) * TT + (T - 1)) {                                                              \
    case 0: F(__VA_ARGS__, 1, 1); break;                                                           \
    case 1: F(__VA_ARGS__, 1, 2); break;                                                           \
    case 2: F(__VA_ARGS__, 2, 1); break;                                                           \
    case 3: F(__VA_ARGS__, 2, 2); break;                                                           \
    case 4: F(__VA_ARGS__, 3, 1); break;                                                           \
    case 5: F(__VA_ARGS__, 3, 2); break;                                                           \
    case 6: F(__VA_ARGS__, 4, 1); break;                                                           \
    default: F(__VA_ARGS__, 4, 2); break;                                                          \
    }

#define DEFINE_MATMUL(NAME, TILE, TYPE, BLK)                                                       \
    static void NAME(const void *w, size_t rb, int64_t n_in, int64_t r0, int64_t r1,               \
                     const void *act, size_t as, int n_tok, float *y, size_t ys) {                 \
        int64_t nb = n_in / (BLK);                                                                 \
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

AI void tile_k45(int type, const uint8_t *w, size_t rb, int64_t nb, const uint8_t *act, size_t as,
                 float *y, size_t ys, const int R, const int T) {
    const int bs = type == LM_TYPE_Q4_K ? 144 : 176, qoff = type == LM_TYPE_Q4_K ? 16 : 48;
    const __m256i lo4 = _mm256_set1_epi8(15);
    __m256 acc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const lm_act_q8_256 *a[TT];
        for (int t = 0; t < T; t++) a[t] = (const lm_act_q8_256 *)(act + (size_t)t * as) + b;
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            uint8_t sc[8], m[8];
            lm_k_scales(p + 4, sc, m);
            __m256i isum[TT];
            for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
            __m256i qh = type == LM_TYPE_Q5_K ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(p + qoff + 32 * c));
                __m256i q[2] = {_mm256_and_si256(x, lo4), _mm256_and_si256(_mm256_srli_epi16(x, 4), lo4)};
                for (int k = 0; k < 2; k++) {
                    int j = 2 * c + k;
                    if (type == LM_TYPE_Q5_K) {
                        __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, j), _mm256_set1_epi8(1));
                        q[k] = _mm256_or_si256(q[k], _mm256_slli_epi16(hb, 4));
                    }
                    __m256i s = _mm256_set1_epi16((short)sc[j]);
                    for (int t = 0; t < T; t++) {
                        __m256i av = _mm256_loadu_si256((const __m256i *)(a[t]->qs + 32 * j));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], av), s));
                    }
                }
            }
            __m256i mdup = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)m),
                                                                  _mm_loadl_epi64((const __m128i *)m)));
            float d = h2f(ld16(p)), dmin = h2f(ld16(p + 2));
            for (int t = 0; t < T; t++) {
                __m256i mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[t]->bsums), mdup);
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * a[t]->d), acc[r][t]);
                acc[r][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(dmin * a[t]->d), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[(size_t)t * ys + (size_t)r] = hsum256(acc[r][t]);
}

AI void tile_q6k(int type, const uint8_t *w, size_t rb, int64_t nb, const uint8_t *act, size_t as,
                 float *y, size_t ys, const int R, const int T) {
    (void)type;
    const __m256i lo4 = _mm256_set1_epi8(15), b30 = _mm256_set1_epi8(0x30);
    __m256 acc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const lm_act_q8_256 *a[TT];
        for (int t = 0; t < T; t++) a[t] = (const lm_act_q8_256 *)(act + (size_t)t * as) + b;
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * rb + (size_t)b * 210;
            __m128i sc8 = _mm_loadu_si128((const __m128i *)(p + 192));
            __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
            __m256i isum[TT];
            for (int t = 0; t < T; t++) {
                __m256i offs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[t]->bsums), sc16);
                isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offs, 5));
            }
            for (int h = 0; h < 2; h++) {
                __m256i ql0 = _mm256_loadu_si256((const __m256i *)(p + 64 * h));
                __m256i ql1 = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32));
                __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
                __m256i q[4];
                q[0] = _mm256_or_si256(_mm256_and_si256(ql0, lo4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), b30));
                q[1] = _mm256_or_si256(_mm256_and_si256(ql1, lo4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), b30));
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), lo4), _mm256_and_si256(qh, b30));
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), lo4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), b30));
                for (int k = 0; k < 4; k++) {
                    int g = 8 * h + 2 * k; /* groups g, g+1 cover these 32 elements */
                    __m128i idx = _mm_set_epi64x(0x0101010101010101ll * (g + 1), 0x0101010101010101ll * g);
                    __m256i s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, idx));
                    for (int t = 0; t < T; t++) {
                        __m256i av = _mm256_loadu_si256((const __m256i *)(a[t]->qs + 128 * h + 32 * k));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], av), s));
                    }
                }
            }
            float d = h2f(ld16(p + 208));
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * a[t]->d), acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[(size_t)t * ys + (size_t)r] = hsum256(acc[r][t]);
}

DEFINE_MATMUL(mm_q4_k, tile_k45, LM_TYPE_Q4_K, 256)
DEFINE_MATMUL(mm_q5_k, tile_k45, LM_TYPE_Q5_K, 256)
DEFINE_MATMUL(mm_q6_k, tile_q6k, LM_TYPE_Q6_K, 256)

/* ---- float weights ----------------------------------------------------- */

AI __m256 load8w(int type, const uint8_t *p) {
    switch (type) {
    case LM_TYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case LM_TYPE_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default: return _mm256_loadu_ps((const float *)p);
    }
}

AI void tile_f(int type, const uint8_t *w, size_t rb, int64_t n, const uint8_t *act, size_t as,
               float *y, size_t ys, const int R, const int T) {
    const int es = type == LM_TYPE_F32 ? 4 : 2;
    __m256 acc[TR][TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x[TT];
        for (int t = 0; t < T; t++) x[t] = _mm256_loadu_ps((const float *)(act + (size_t)t * as) + i);
        for (int r = 0; r < R; r++) {
            __m256 wv = load8w(type, w + (size_t)r * rb + (size_t)i * (size_t)es);
            for (int t = 0; t < T; t++) acc[r][t] = _mm256_fmadd_ps(wv, x[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            float s = hsum256(acc[r][t]);
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

void lm_cpu_avx2_table(lm_matmul_fn tab[], int n) {
    if (n < LM_TYPE_COUNT) return;
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
