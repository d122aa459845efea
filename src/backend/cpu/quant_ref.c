/* quant_ref.c — scalar dequantisation and round-to-nearest quantisation of
 * every weight type the CPU engine computes with (the reference the SIMD
 * kernels are tested against, and the maker of random test models). */
#include "backend/cpu/kernels.h"
#include "backend/cpu/quant.h"
#include "base/half.h"
#include "format/ggml_types.h"
#include <math.h>
#include <string.h>

static inline float h2f(uint16_t h) {
    return lm_half_to_float(h);
}

static inline int clampi(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- dequantisation ---------------------------------------------------- */

static void deq_q4_0(const lm_blk_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = h2f(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((b[i].qs[j] & 15) - 8);
            y[j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_1(const lm_blk_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)(b[i].qs[j] & 15) + m;
            y[j + 16] = d * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void deq_q5_0(const lm_blk_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = h2f(b[i].d);
        uint32_t qh = load_u32(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}

static void deq_q5_1(const lm_blk_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        uint32_t qh = load_u32(b[i].qh);
        for (int j = 0; j < 16; j++) {
            int lo = (b[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        }
    }
}

static void deq_q8_0(const lm_blk_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = h2f(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = d * (float)b[i].qs[j];
    }
}

static void deq_q4_k(const lm_blk_q4_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        uint8_t sc[8], m[8];
        lm_k_scales(b[i].scales, sc, m);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            float d0 = d * sc[2 * c], m0 = dmin * m[2 * c];
            float d1 = d * sc[2 * c + 1], m1 = dmin * m[2 * c + 1];
            for (int l = 0; l < 32; l++) {
                y[64 * c + l] = d0 * (float)(q[l] & 15) - m0;
                y[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - m1;
            }
        }
    }
}

static void deq_q5_k(const lm_blk_q5_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        uint8_t sc[8], m[8];
        lm_k_scales(b[i].scales, sc, m);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            float d0 = d * sc[2 * c], m0 = dmin * m[2 * c];
            float d1 = d * sc[2 * c + 1], m1 = dmin * m[2 * c + 1];
            for (int l = 0; l < 32; l++) {
                int lo = (q[l] & 15) | ((b[i].qh[l] >> (2 * c)) & 1) << 4;
                int hi = (q[l] >> 4) | ((b[i].qh[l] >> (2 * c + 1)) & 1) << 4;
                y[64 * c + l] = d0 * (float)lo - m0;
                y[64 * c + 32 + l] = d1 * (float)hi - m1;
            }
        }
    }
}

static void deq_q6_k(const lm_blk_q6_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 256) {
        float d = h2f(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            float *o = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                int g = l / 16;
                int q0 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q1 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q2 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q3 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                o[l] = d * (float)sc[g] * (float)q0;
                o[l + 32] = d * (float)sc[g + 2] * (float)q1;
                o[l + 64] = d * (float)sc[g + 4] * (float)q2;
                o[l + 96] = d * (float)sc[g + 6] * (float)q3;
            }
        }
    }
}

void lm_cpu_dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case LM_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case LM_TYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = h2f(((const uint16_t *)src)[i]);
        return;
    case LM_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = lm_bf16_to_float(((const uint16_t *)src)[i]);
        return;
    case LM_TYPE_Q4_0: deq_q4_0(src, dst, n / 32); return;
    case LM_TYPE_Q4_1: deq_q4_1(src, dst, n / 32); return;
    case LM_TYPE_Q5_0: deq_q5_0(src, dst, n / 32); return;
    case LM_TYPE_Q5_1: deq_q5_1(src, dst, n / 32); return;
    case LM_TYPE_Q8_0: deq_q8_0(src, dst, n / 32); return;
    case LM_TYPE_Q4_K: deq_q4_k(src, dst, n / 256); return;
    case LM_TYPE_Q5_K: deq_q5_k(src, dst, n / 256); return;
    case LM_TYPE_Q6_K: deq_q6_k(src, dst, n / 256); return;
    default: memset(dst, 0, (size_t)n * sizeof(float)); return;
    }
}

/* ---- quantisation ------------------------------------------------------ */

/* The element of largest magnitude, sign kept: symmetric types map it to the
 * most negative code so the whole [-2^(b-1), 2^(b-1)-1] range is used. */
static float signed_absmax(const float *x, int n) {
    float best = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(best)) best = x[i];
    return best;
}

static void minmax(const float *x, int n, float *mn, float *mx) {
    *mn = x[0];
    *mx = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < *mn) *mn = x[i];
        if (x[i] > *mx) *mx = x[i];
    }
}

/* Symmetric 32-blocks with `levels` codes (16 or 32): fills codes 0..levels-1. */
static float quant_sym32(const float *x, int levels, uint8_t q[32]) {
    float vmax = signed_absmax(x, 32);
    float d = vmax / (float)(-levels / 2);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (uint8_t)clampi((int)lrintf(x[j] * id) + levels / 2, 0, levels - 1);
    return d;
}

/* Asymmetric 32-blocks: x ~ d*q + m with codes 0..levels-1. */
static void quant_asym32(const float *x, int levels, uint8_t q[32], float *d, float *m) {
    float mn, mx;
    minmax(x, 32, &mn, &mx);
    *d = (mx - mn) / (float)(levels - 1);
    *m = mn;
    float id = *d != 0.0f ? 1.0f / *d : 0.0f;
    for (int j = 0; j < 32; j++) q[j] = (uint8_t)clampi((int)lrintf((x[j] - mn) * id), 0, levels - 1);
}

static void pack_nibbles(const uint8_t q[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
}

static void pack_fifth(const uint8_t q[32], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* Quantises 256 elements as 8 asymmetric sub-blocks with 6-bit scales and
 * mins (Q4_K with levels 16, Q5_K with 32). Scales and mins are rounded UP so
 * every sub-block's range still fits its codes; q holds codes 0..levels-1. */
static void quant_k_asym(const float *x, int levels, uint16_t *dd, uint16_t *dm, uint8_t s[12],
                         uint8_t q[256]) {
    float scale[8], mins[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        float mn, mx;
        minmax(x + 32 * j, 32, &mn, &mx);
        if (mn > 0.0f) mn = 0.0f;
        scale[j] = (mx - mn) / (float)(levels - 1);
        mins[j] = -mn;
        if (scale[j] > max_scale) max_scale = scale[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    *dd = lm_float_to_half(max_scale / 63.0f);
    *dm = lm_float_to_half(max_min / 63.0f);
    float d = h2f(*dd), dmin = h2f(*dm);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(d > 0.0f ? clampi((int)ceilf(scale[j] / d - 1e-4f), 0, 63) : 0);
        m[j] = (uint8_t)(dmin > 0.0f ? clampi((int)ceilf(mins[j] / dmin - 1e-4f), 0, 63) : 0);
        float step = d * sc[j], off = dmin * m[j];
        float id = step > 0.0f ? 1.0f / step : 0.0f;
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = (uint8_t)clampi((int)lrintf((x[32 * j + l] + off) * id), 0, levels - 1);
    }
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

static void quant_q6_k(const float *x, lm_blk_q6_k *b) {
    float gs[16], max_abs = 0.0f;
    for (int g = 0; g < 16; g++) {
        gs[g] = signed_absmax(x + 16 * g, 16) / -32.0f;
        if (fabsf(gs[g]) > max_abs) max_abs = fabsf(gs[g]);
    }
    b->d = lm_float_to_half(max_abs / 127.0f);
    float d = h2f(b->d);
    uint8_t q[256];
    for (int g = 0; g < 16; g++) {
        int s = d > 0.0f ? clampi((int)lrintf(gs[g] / d), -128, 127) : 0;
        b->scales[g] = (int8_t)s;
        float step = d * (float)s, id = step != 0.0f ? 1.0f / step : 0.0f;
        for (int l = 0; l < 16; l++)
            q[16 * g + l] = (uint8_t)clampi((int)lrintf(x[16 * g + l] * id) + 32, 0, 63);
    }
    for (int h = 0; h < 2; h++) {
        const uint8_t *p = q + 128 * h;
        uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((p[l] & 15) | (p[l + 64] & 15) << 4);
            ql[l + 32] = (uint8_t)((p[l + 32] & 15) | (p[l + 96] & 15) << 4);
            qh[l] = (uint8_t)((p[l] >> 4) | (p[l + 32] >> 4) << 2 | (p[l + 64] >> 4) << 4 |
                              (p[l + 96] >> 4) << 6);
        }
    }
}

bool lm_cpu_quantize_row(uint32_t type, const float *x, void *dst, int64_t n) {
    const lm_type_info *ti = lm_type_get(type);
    if (!ti || !lm_cpu_type_supported(type) || n % ti->block_elems != 0) return false;
    int64_t nb = n / ti->block_elems;
    uint8_t q[256];
    switch (type) {
    case LM_TYPE_F32: memcpy(dst, x, (size_t)n * sizeof(float)); return true;
    case LM_TYPE_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = lm_float_to_half(x[i]);
        return true;
    case LM_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = lm_float_to_bf16(x[i]);
        return true;
    case LM_TYPE_Q4_0:
        for (int64_t i = 0; i < nb; i++, x += 32) {
            lm_blk_q4_0 *b = (lm_blk_q4_0 *)dst + i;
            float d = quant_sym32(x, 16, q);
            b->d = lm_float_to_half(d);
            pack_nibbles(q, b->qs);
        }
        return true;
    case LM_TYPE_Q5_0:
        for (int64_t i = 0; i < nb; i++, x += 32) {
            lm_blk_q5_0 *b = (lm_blk_q5_0 *)dst + i;
            float d = quant_sym32(x, 32, q);
            b->d = lm_float_to_half(d);
            pack_nibbles(q, b->qs);
            pack_fifth(q, b->qh);
        }
        return true;
    case LM_TYPE_Q4_1:
        for (int64_t i = 0; i < nb; i++, x += 32) {
            lm_blk_q4_1 *b = (lm_blk_q4_1 *)dst + i;
            float d, m;
            quant_asym32(x, 16, q, &d, &m);
            b->d = lm_float_to_half(d);
            b->m = lm_float_to_half(m);
            pack_nibbles(q, b->qs);
        }
        return true;
    case LM_TYPE_Q5_1:
        for (int64_t i = 0; i < nb; i++, x += 32) {
            lm_blk_q5_1 *b = (lm_blk_q5_1 *)dst + i;
            float d, m;
            quant_asym32(x, 32, q, &d, &m);
            b->d = lm_float_to_half(d);
            b->m = lm_float_to_half(m);
            pack_nibbles(q, b->qs);
            pack_fifth(q, b->qh);
        }
        return true;
    case LM_TYPE_Q8_0:
        for (int64_t i = 0; i < nb; i++, x += 32) {
            lm_blk_q8_0 *b = (lm_blk_q8_0 *)dst + i;
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
            b->d = lm_float_to_half(d);
            for (int j = 0; j < 32; j++) b->qs[j] = (int8_t)clampi((int)lrintf(x[j] * id), -127, 127);
        }
        return true;
    case LM_TYPE_Q4_K:
        for (int64_t i = 0; i < nb; i++, x += 256) {
            lm_blk_q4_k *b = (lm_blk_q4_k *)dst + i;
            quant_k_asym(x, 16, &b->d, &b->dmin, b->scales, q);
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < 32; l++)
                    b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
        }
        return true;
    case LM_TYPE_Q5_K:
        for (int64_t i = 0; i < nb; i++, x += 256) {
            lm_blk_q5_k *b = (lm_blk_q5_k *)dst + i;
            quant_k_asym(x, 32, &b->d, &b->dmin, b->scales, q);
            memset(b->qh, 0, sizeof b->qh);
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < 32; l++) {
                    uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                    b->qs[32 * c + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
                    b->qh[l] |= (uint8_t)(((lo >> 4) & 1) << (2 * c) | ((hi >> 4) & 1) << (2 * c + 1));
                }
        }
        return true;
    case LM_TYPE_Q6_K:
        for (int64_t i = 0; i < nb; i++, x += 256) quant_q6_k(x, (lm_blk_q6_k *)dst + i);
        return true;
    default: return false;
    }
}
