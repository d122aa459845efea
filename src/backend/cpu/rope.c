/* rope.c — rotary position embedding for the CPU engine: frequencies (with
 * llama3-style per-frequency divisors), per-position cos/sin tables, and the
 * rotation in both stored pair layouts. */
#include "backend/cpu/cpu_engine_state.h"
#include <math.h>

void lm_cpu_rope_freqs(const lm_hparams *hp, float *inv_freq) {
    int half = (int)hp->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = pow((double)hp->rope_theta, -2.0 * i / (double)hp->head_dim);
        if (hp->rope_freq_factors) f /= (double)hp->rope_freq_factors[i];
        inv_freq[i] = (float)f;
    }
}

/* cs[0..half) = cos, cs[half..2*half) = sin of pos * inv_freq. The angle is
 * formed in double so long contexts do not lose phase precision. */
void lm_cpu_rope_cos_sin(const float *inv_freq, int half, int32_t pos, float *cs) {
    for (int i = 0; i < half; i++) {
        double a = (double)pos * (double)inv_freq[i];
        cs[i] = (float)cos(a);
        cs[half + i] = (float)sin(a);
    }
}

/* HALF pairs element i with i + head_dim/2 (the Hugging Face layout);
 * ADJACENT pairs 2i with 2i+1 (GGUF llama files, whose Q/K rows are permuted
 * so that both give the same scores). Pair i turns by angle pos*inv_freq[i]. */
void lm_cpu_rope_apply(float *v, int n_heads, int head_dim, lm_rope_layout layout,
                       const float *cs) {
    int half = head_dim / 2;
    const float *c = cs, *s = cs + half;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        if (layout == LM_ROPE_HALF) {
            for (int i = 0; i < half; i++) {
                float a = x[i], b = x[i + half];
                x[i] = a * c[i] - b * s[i];
                x[i + half] = a * s[i] + b * c[i];
            }
        } else {
            for (int i = 0; i < half; i++) {
                float a = x[2 * i], b = x[2 * i + 1];
                x[2 * i] = a * c[i] - b * s[i];
                x[2 * i + 1] = a * s[i] + b * c[i];
            }
        }
    }
}
