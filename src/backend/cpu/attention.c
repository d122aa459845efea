/* attention.c — causal attention of one query head over the KV cache of its
 * sequence (GQA: query heads share key/value heads), float accumulation over
 * an F16 or F32 cache. */
#include "backend/cpu/attention_simd.h"
#include "backend/cpu/cpu_engine_state.h"
#include "backend/cpu/kernels.h"
#include "base/half.h"
#include <math.h>

static void scores_ref(const float *q, const void *k, bool f16, int n, int dim, float scale,
                       float *scores) {
    for (int t = 0; t < n; t++) {
        float s = 0;
        if (f16) {
            const uint16_t *kt = (const uint16_t *)k + (size_t)t * dim;
            for (int i = 0; i < dim; i++)
                s += q[i] * lm_half_to_float(kt[i]);
        } else {
            const float *kt = (const float *)k + (size_t)t * dim;
            for (int i = 0; i < dim; i++)
                s += q[i] * kt[i];
        }
        scores[t] = s * scale;
    }
}

static void mix_ref(const float *p, const void *v, bool f16, int n, int dim, float *out) {
    for (int i = 0; i < dim; i++)
        out[i] = 0;
    for (int t = 0; t < n; t++) {
        if (f16) {
            const uint16_t *vt = (const uint16_t *)v + (size_t)t * dim;
            for (int i = 0; i < dim; i++)
                out[i] += p[t] * lm_half_to_float(vt[i]);
        } else {
            const float *vt = (const float *)v + (size_t)t * dim;
            for (int i = 0; i < dim; i++)
                out[i] += p[t] * vt[i];
        }
    }
}

void lm_cpu_attend_head(const lm_engine *e, int layer, int seq, int32_t pos, int head,
                        const float *q, float *out, float *scores) {
    int dim = (int)e->hp.head_dim;
    int group = (int)(e->hp.n_head / e->hp.n_head_kv);
    int kvh = head / group;
    size_t base = ((((size_t)seq * e->hp.n_layer + (size_t)layer) * e->hp.n_head_kv + (size_t)kvh) *
                   e->n_ctx) *
                  (size_t)dim * e->kv_elt;
    const void *k = (const uint8_t *)e->k_cache + base;
    const void *v = (const uint8_t *)e->v_cache + base;
    int n = pos + 1;
    float scale = 1.0f / sqrtf((float)dim);
    bool f16 = e->kv_type == LM_KV_F16;
#if defined(__x86_64__)
    bool simd = lm_cpu_current_isa() >= LM_ISA_AVX2 && dim % 8 == 0;
#else
    bool simd = false;
#endif
    if (simd) {
#if defined(__x86_64__)
        if (f16)
            lm_cpu_attn_scores_f16_avx2(q, k, n, dim, scale, scores);
        else
            lm_cpu_attn_scores_f32_avx2(q, k, n, dim, scale, scores);
#endif
    } else {
        scores_ref(q, k, f16, n, dim, scale, scores);
    }
    float mx = scores[0];
    for (int t = 1; t < n; t++)
        if (scores[t] > mx) mx = scores[t];
    float sum = 0;
    for (int t = 0; t < n; t++) {
        scores[t] = expf(scores[t] - mx);
        sum += scores[t];
    }
    float inv = 1.0f / sum;
    for (int t = 0; t < n; t++)
        scores[t] *= inv;
    if (simd) {
#if defined(__x86_64__)
        if (f16)
            lm_cpu_attn_mix_f16_avx2(scores, v, n, dim, out);
        else
            lm_cpu_attn_mix_f32_avx2(scores, v, n, dim, out);
#endif
    } else {
        mix_ref(scores, v, f16, n, dim, out);
    }
}
