/* attention_simd.h — the inner loops of attention over an F16 or F32 KV
 * cache, with a portable version and AVX2/F16C ones chosen at run time. */
#ifndef LM_BACKEND_CPU_ATTENTION_SIMD_H
#define LM_BACKEND_CPU_ATTENTION_SIMD_H
#include <stdint.h>

/* scores[t] = scale * dot(q, k + t*stride) for t in [0, n). */
void lm_cpu_attn_scores_f16_avx2(const float *q, const uint16_t *k, int n, int dim, float scale,
                                 float *scores);
void lm_cpu_attn_scores_f32_avx2(const float *q, const float *k, int n, int dim, float scale,
                                 float *scores);
/* out[0..dim) = sum_t p[t] * v[t*dim ..]. */
void lm_cpu_attn_mix_f16_avx2(const float *p, const uint16_t *v, int n, int dim, float *out);
void lm_cpu_attn_mix_f32_avx2(const float *p, const float *v, int n, int dim, float *out);
#endif
