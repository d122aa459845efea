/* attention_avx2.c — attention inner loops with AVX2, FMA and F16C (keys and
 * values converted from F16 eight at a time, accumulated in float). */
#include "backend/cpu/attention_simd.h"
#include <immintrin.h>

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* dim is a multiple of 8 (head sizes are 64, 128, ...): the caller checks. */
void lm_cpu_attn_scores_f16_avx2(const float *q, const uint16_t *k, int n, int dim, float scale,
                                 float *scores) {
    for (int t = 0; t < n; t++) {
        const uint16_t *kt = k + (size_t)t * dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int i = 0;
        for (; i + 16 <= dim; i += 16) {
            __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i)));
            __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i + 8)));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), k0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), k1, a1);
        }
        for (; i < dim; i += 8) {
            __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i)));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), k0, a0);
        }
        scores[t] = hsum8(_mm256_add_ps(a0, a1)) * scale;
    }
}

void lm_cpu_attn_scores_f32_avx2(const float *q, const float *k, int n, int dim, float scale,
                                 float *scores) {
    for (int t = 0; t < n; t++) {
        const float *kt = k + (size_t)t * dim;
        __m256 a0 = _mm256_setzero_ps();
        for (int i = 0; i < dim; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kt + i), a0);
        scores[t] = hsum8(a0) * scale;
    }
}

void lm_cpu_attn_mix_f16_avx2(const float *p, const uint16_t *v, int n, int dim, float *out) {
    for (int i = 0; i < dim; i += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int t = 0; t < n; t++) {
            __m256 vt =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + (size_t)t * dim + i)));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), vt, acc);
        }
        _mm256_storeu_ps(out + i, acc);
    }
}

void lm_cpu_attn_mix_f32_avx2(const float *p, const float *v, int n, int dim, float *out) {
    for (int i = 0; i < dim; i += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int t = 0; t < n; t++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), _mm256_loadu_ps(v + (size_t)t * dim + i),
                                  acc);
        _mm256_storeu_ps(out + i, acc);
    }
}
