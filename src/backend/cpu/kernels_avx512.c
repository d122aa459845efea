/* kernels_avx512.c — AVX-512 (BW/VL, VNNI when present) matmul kernels. */
#include "backend/cpu/quant.h"
#include "format/ggml_types.h"
#include <immintrin.h>

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

void lm_cpu_avx512_table(lm_matmul_fn tab[], int n, int vnni) {
    (void)tab;
    (void)n;
    (void)vnni;
}
