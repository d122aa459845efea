/* kernels.c — CPU feature dispatch, activation conversion, the scalar matmul
 * on converted activations and the float reference matmul. */
#include "backend/cpu/kernels.h"
#include "backend/cpu/quant.h"
#include "base/half.h"
#include "format/ggml_types.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* ---- CPU features ------------------------------------------------------ */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static lm_cpu_isa g_best = LM_ISA_SCALAR;
static int g_vnni;
static char g_features[160];
static _Atomic int g_isa = -1;
static lm_matmul_fn g_tab[3][LM_TYPE_COUNT];

#if defined(__x86_64__) || defined(__i386__)
/* CPU features from CPUID, counted only when the OS saves the matching
 * register state (XGETBV): cpuid works the same under gcc and clang, unlike
 * __builtin_cpu_supports whose feature names differ between them. */
static void cpuid_features(int have[9]) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool fma = c >> 12 & 1, f16c = c >> 29 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1;
    if (!osxsave || !avx) return;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    bool ymm = (lo & 0x6) == 0x6, zmm = ymm && (lo & 0xe0) == 0xe0;
    if (!ymm) return;
    have[1] = fma;
    have[2] = f16c;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    have[0] = b >> 5 & 1;
    if (zmm) {
        have[3] = b >> 16 & 1;
        have[4] = b >> 30 & 1;
        have[5] = b >> 31 & 1;
        have[6] = b >> 17 & 1;
        have[7] = c >> 11 & 1;
        __cpuid_count(7, 1, a, b, c, d);
        have[8] = a >> 5 & 1;
    }
}
#endif

static void detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    const char *names[] = {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                           "avx512dq", "avx512vnni", "avx512bf16"};
    int have[9] = {0};
    cpuid_features(have);
    size_t off = 0;
    for (int i = 0; i < 9; i++)
        if (have[i] && off + strlen(names[i]) + 2 < sizeof g_features) {
            if (off) g_features[off++] = ' ';
            memcpy(g_features + off, names[i], strlen(names[i]) + 1);
            off += strlen(names[i]);
        }
    if (have[0] && have[1] && have[2]) {
        g_best = LM_ISA_AVX2;
        lm_cpu_avx2_table(g_tab[LM_ISA_AVX2], LM_TYPE_COUNT);
        if (have[3] && have[4] && have[5] && have[6]) {
            g_best = LM_ISA_AVX512;
            g_vnni = have[7];
            lm_cpu_avx512_table(g_tab[LM_ISA_AVX512], LM_TYPE_COUNT, g_vnni);
            /* types without an AVX-512 kernel (or no VNNI) use the AVX2 one */
            for (int t = 0; t < LM_TYPE_COUNT; t++)
                if (!g_tab[LM_ISA_AVX512][t]) g_tab[LM_ISA_AVX512][t] = g_tab[LM_ISA_AVX2][t];
        }
    }
#endif
    if (!g_features[0]) strcpy(g_features, "none");
}

lm_cpu_isa lm_cpu_best_isa(void) {
    pthread_once(&g_once, detect);
    return g_best;
}

const char *lm_cpu_isa_name(lm_cpu_isa i) {
    switch (i) {
    case LM_ISA_SCALAR: return "scalar";
    case LM_ISA_AVX2: return "avx2";
    case LM_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

lm_cpu_isa lm_cpu_set_isa(lm_cpu_isa i) {
    lm_cpu_isa best = lm_cpu_best_isa();
    if ((int)i < 0 || i > best) i = best;
    atomic_store(&g_isa, (int)i);
    return i;
}

lm_cpu_isa lm_cpu_current_isa(void) {
    int i = atomic_load_explicit(&g_isa, memory_order_relaxed);
    return i < 0 ? lm_cpu_best_isa() : (lm_cpu_isa)i;
}

const char *lm_cpu_features_string(void) {
    pthread_once(&g_once, detect);
    return g_features;
}

bool lm_cpu_type_supported(uint32_t type) {
    switch (type) {
    case LM_TYPE_F32: case LM_TYPE_F16: case LM_TYPE_BF16: case LM_TYPE_Q4_0:
    case LM_TYPE_Q4_1: case LM_TYPE_Q5_0: case LM_TYPE_Q5_1: case LM_TYPE_Q8_0:
    case LM_TYPE_Q4_K: case LM_TYPE_Q5_K: case LM_TYPE_Q6_K: return true;
    default: return false;
    }
}

/* ---- activation conversion --------------------------------------------- */

typedef enum { ACT_F32, ACT_Q32, ACT_Q256 } act_kind;

static act_kind act_kind_of(uint32_t wtype) {
    switch (wtype) {
    case LM_TYPE_Q4_0: case LM_TYPE_Q4_1: case LM_TYPE_Q5_0: case LM_TYPE_Q5_1:
    case LM_TYPE_Q8_0: return ACT_Q32;
    case LM_TYPE_Q4_K: case LM_TYPE_Q5_K: case LM_TYPE_Q6_K: return ACT_Q256;
    default: return ACT_F32;
    }
}

size_t lm_cpu_act_row_bytes(uint32_t wtype, int64_t n) {
    switch (act_kind_of(wtype)) {
    case ACT_Q32: return (size_t)(n / 32) * sizeof(lm_act_q8_32);
    case ACT_Q256: return (size_t)(n / 256) * sizeof(lm_act_q8_256);
    default: return (size_t)n * sizeof(float);
    }
}

static int8_t q8(float v) {
    int i = (int)lrintf(v);
    return (int8_t)(i > 127 ? 127 : i < -127 ? -127 : i);
}

static void act32_scalar(const float *x, lm_act_q8_32 *a, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            a[b].qs[j] = q8(x[j] * id);
            sum += a[b].qs[j];
        }
        a[b].d = d;
        a[b].s = d * (float)sum;
    }
}

static void act256_scalar(const float *x, lm_act_q8_256 *a, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 256) {
        float amax = 0.0f;
        for (int j = 0; j < 256; j++) amax = fmaxf(amax, fabsf(x[j]));
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        a[b].d = amax / 127.0f;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                a[b].qs[16 * g + j] = q8(x[16 * g + j] * id);
                sum += a[b].qs[16 * g + j];
            }
            a[b].bsums[g] = (int16_t)sum;
        }
    }
}

void lm_cpu_act_convert(uint32_t wtype, const float *x, void *dst, int64_t n) {
    switch (act_kind_of(wtype)) {
    case ACT_Q32:
#if defined(__x86_64__)
        if (lm_cpu_current_isa() == LM_ISA_AVX512) {
            lm_cpu_avx512_quantize_act32(x, dst, n / 32);
            return;
        }
        if (lm_cpu_current_isa() == LM_ISA_AVX2) {
            lm_cpu_avx2_quantize_act32(x, dst, n / 32);
            return;
        }
#endif
        act32_scalar(x, dst, n / 32);
        return;
    case ACT_Q256: act256_scalar(x, dst, n / 256); return;
    default: memcpy(dst, x, (size_t)n * sizeof(float)); return;
    }
}

/* ---- scalar dot products on converted activations ---------------------- */

static float dot_q4_0(const void *wv, const lm_act_q8_32 *a, int64_t nb) {
    const lm_blk_q4_0 *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += ((w[b].qs[j] & 15) - 8) * a[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        acc += lm_half_to_float(w[b].d) * a[b].d * (float)s;
    }
    return acc;
}

static float dot_q4_1(const void *wv, const lm_act_q8_32 *a, int64_t nb) {
    const lm_blk_q4_1 *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += (w[b].qs[j] & 15) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        acc += lm_half_to_float(w[b].d) * a[b].d * (float)s + lm_half_to_float(w[b].m) * a[b].s;
    }
    return acc;
}

static int dot_5bit(const uint8_t qs[16], const uint8_t qhb[4], const int8_t *a, int off) {
    uint32_t qh = (uint32_t)qhb[0] | (uint32_t)qhb[1] << 8 | (uint32_t)qhb[2] << 16 |
                  (uint32_t)qhb[3] << 24;
    int s = 0;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        s += (lo - off) * a[j] + (hi - off) * a[j + 16];
    }
    return s;
}

static float dot_q5_0(const void *wv, const lm_act_q8_32 *a, int64_t nb) {
    const lm_blk_q5_0 *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++)
        acc += lm_half_to_float(w[b].d) * a[b].d * (float)dot_5bit(w[b].qs, w[b].qh, a[b].qs, 16);
    return acc;
}

static float dot_q5_1(const void *wv, const lm_act_q8_32 *a, int64_t nb) {
    const lm_blk_q5_1 *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++)
        acc += lm_half_to_float(w[b].d) * a[b].d * (float)dot_5bit(w[b].qs, w[b].qh, a[b].qs, 0) +
               lm_half_to_float(w[b].m) * a[b].s;
    return acc;
}

static float dot_q8_0(const void *wv, const lm_act_q8_32 *a, int64_t nb) {
    const lm_blk_q8_0 *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += w[b].qs[j] * a[b].qs[j];
        acc += lm_half_to_float(w[b].d) * a[b].d * (float)s;
    }
    return acc;
}

static float dot_q4_k(const void *wv, const lm_act_q8_256 *a, int64_t nb) {
    const lm_blk_q4_k *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], m[8];
        lm_k_scales(w[b].scales, sc, m);
        int isum = 0, msum = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = w[b].qs + 32 * c;
            const int8_t *x = a[b].qs + 64 * c;
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 15) * x[l];
                s1 += (q[l] >> 4) * x[l + 32];
            }
            isum += sc[2 * c] * s0 + sc[2 * c + 1] * s1;
        }
        for (int j = 0; j < 8; j++) msum += m[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        acc += a[b].d * (lm_half_to_float(w[b].d) * (float)isum -
                         lm_half_to_float(w[b].dmin) * (float)msum);
    }
    return acc;
}

static float dot_q5_k(const void *wv, const lm_act_q8_256 *a, int64_t nb) {
    const lm_blk_q5_k *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], m[8];
        lm_k_scales(w[b].scales, sc, m);
        int isum = 0, msum = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = w[b].qs + 32 * c;
            const int8_t *x = a[b].qs + 64 * c;
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += ((q[l] & 15) | ((w[b].qh[l] >> (2 * c)) & 1) << 4) * x[l];
                s1 += ((q[l] >> 4) | ((w[b].qh[l] >> (2 * c + 1)) & 1) << 4) * x[l + 32];
            }
            isum += sc[2 * c] * s0 + sc[2 * c + 1] * s1;
        }
        for (int j = 0; j < 8; j++) msum += m[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        acc += a[b].d * (lm_half_to_float(w[b].d) * (float)isum -
                         lm_half_to_float(w[b].dmin) * (float)msum);
    }
    return acc;
}

static float dot_q6_k(const void *wv, const lm_act_q8_256 *a, int64_t nb) {
    const lm_blk_q6_k *w = wv;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            const int8_t *sc = w[b].scales + 8 * h, *x = a[b].qs + 128 * h;
            int s[8] = {0};
            for (int l = 0; l < 32; l++) {
                int g = l / 16;
                s[g] += (((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32) * x[l];
                s[g + 2] += (((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32) * x[l + 32];
                s[g + 4] += (((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32) * x[l + 64];
                s[g + 6] += (((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32) * x[l + 96];
            }
            for (int g = 0; g < 8; g++) isum += sc[g] * s[g];
        }
        acc += a[b].d * lm_half_to_float(w[b].d) * (float)isum;
    }
    return acc;
}

static float dot_f32(const void *wv, const float *x, int64_t n) {
    const float *w = wv;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += w[i] * x[i];
    return acc;
}

static float dot_f16(const void *wv, const float *x, int64_t n) {
    const uint16_t *w = wv;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += lm_half_to_float(w[i]) * x[i];
    return acc;
}

static float dot_bf16(const void *wv, const float *x, int64_t n) {
    const uint16_t *w = wv;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += lm_bf16_to_float(w[i]) * x[i];
    return acc;
}

static void matmul_scalar(uint32_t wtype, const void *w, size_t row_bytes, int64_t n_in,
                          int64_t r0, int64_t r1, const void *act, size_t act_stride, int n_tok,
                          float *y, size_t y_stride) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * row_bytes;
        for (int t = 0; t < n_tok; t++) {
            const void *a = (const uint8_t *)act + (size_t)t * act_stride;
            float v = 0.0f;
            switch (wtype) {
            case LM_TYPE_F32: v = dot_f32(wr, a, n_in); break;
            case LM_TYPE_F16: v = dot_f16(wr, a, n_in); break;
            case LM_TYPE_BF16: v = dot_bf16(wr, a, n_in); break;
            case LM_TYPE_Q4_0: v = dot_q4_0(wr, a, n_in / 32); break;
            case LM_TYPE_Q4_1: v = dot_q4_1(wr, a, n_in / 32); break;
            case LM_TYPE_Q5_0: v = dot_q5_0(wr, a, n_in / 32); break;
            case LM_TYPE_Q5_1: v = dot_q5_1(wr, a, n_in / 32); break;
            case LM_TYPE_Q8_0: v = dot_q8_0(wr, a, n_in / 32); break;
            case LM_TYPE_Q4_K: v = dot_q4_k(wr, a, n_in / 256); break;
            case LM_TYPE_Q5_K: v = dot_q5_k(wr, a, n_in / 256); break;
            case LM_TYPE_Q6_K: v = dot_q6_k(wr, a, n_in / 256); break;
            default: break;
            }
            y[(size_t)t * y_stride + (size_t)r] = v;
        }
    }
}

static size_t row_bytes_of(uint32_t wtype, int64_t n_in) {
    uint64_t b = 0;
    if (!lm_type_row_bytes(wtype, (uint64_t)n_in, &b)) return 0;
    return (size_t)b;
}

void lm_cpu_matmul(uint32_t wtype, const void *w, int64_t n_in, int64_t r0, int64_t r1,
                   const void *act, size_t act_stride, int n_tok, float *y, size_t y_stride) {
    if (r1 <= r0 || n_tok <= 0 || wtype >= LM_TYPE_COUNT) return;
    size_t rb = row_bytes_of(wtype, n_in);
    lm_cpu_isa isa = lm_cpu_current_isa();
    lm_matmul_fn fn = isa != LM_ISA_SCALAR ? g_tab[isa][wtype] : NULL;
    if (fn)
        fn(w, rb, n_in, r0, r1, act, act_stride, n_tok, y, y_stride);
    else
        matmul_scalar(wtype, w, rb, n_in, r0, r1, act, act_stride, n_tok, y, y_stride);
}

void lm_cpu_matmul_ref(uint32_t wtype, const void *w, int64_t n_in, int64_t r0, int64_t r1,
                       const float *x, size_t x_stride, int n_tok, float *y, size_t y_stride) {
    const lm_type_info *ti = lm_type_get(wtype);
    if (!ti || r1 <= r0) return;
    size_t rb = row_bytes_of(wtype, n_in);
    int64_t chunk = ti->block_elems > 256 ? ti->block_elems : 256;
    float buf[256];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * rb;
        for (int t = 0; t < n_tok; t++) {
            const float *xt = x + (size_t)t * x_stride;
            double acc = 0.0;
            for (int64_t i = 0; i < n_in; i += chunk) {
                int64_t len = n_in - i < chunk ? n_in - i : chunk;
                size_t off = (size_t)(i / ti->block_elems) * ti->block_bytes;
                lm_cpu_dequant_row(wtype, wr + off, buf, len);
                for (int64_t j = 0; j < len; j++) acc += (double)buf[j] * (double)xt[i + j];
            }
            y[(size_t)t * y_stride + (size_t)r] = (float)acc;
        }
    }
}
