/* norm.c — RMSNorm for the CPU engine. */
#include "backend/cpu/cpu_engine_state.h"
#include <math.h>

/* out = x / sqrt(mean(x^2) + eps) * w; out may equal x. The sum is kept in
 * double: hidden sizes of thousands lose float precision otherwise. */
void lm_cpu_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    if (w)
        for (int64_t i = 0; i < n; i++)
            out[i] = x[i] * scale * w[i];
    else
        for (int64_t i = 0; i < n; i++)
            out[i] = x[i] * scale;
}
