/* quant.h — private to the CPU engine: the GGUF weight block layouts, the
 * converted-activation layouts, and the per-ISA kernel tables that
 * kernels.c dispatches through. */
#ifndef LM_BACKEND_CPU_QUANT_H
#define LM_BACKEND_CPU_QUANT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Weight blocks, byte for byte as GGUF stores them (all fields little-endian,
 * f16 scales kept as raw bits). Element i of a 32-block Q4/Q5 type is the low
 * nibble of qs[i] for i < 16 and the high nibble of qs[i-16] otherwise. */
typedef struct {
    uint16_t d;
    uint8_t qs[16];
} lm_blk_q4_0; /* x = d * (q - 8) */
typedef struct {
    uint16_t d, m;
    uint8_t qs[16];
} lm_blk_q4_1; /* x = d * q + m */
typedef struct {
    uint16_t d;
    uint8_t qh[4]; /* bit i: fifth bit of element i */
    uint8_t qs[16];
} lm_blk_q5_0; /* x = d * (q - 16) */
typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} lm_blk_q5_1; /* x = d * q + m */
typedef struct {
    uint16_t d;
    int8_t qs[32];
} lm_blk_q8_0; /* x = d * q */

/* K-quants: 256-element super-blocks. Q4_K/Q5_K have eight 32-element
 * sub-blocks with 6-bit scale and min packed into 12 bytes (see
 * lm_k_scales); the quants of sub-blocks 2j and 2j+1 share the 32 bytes
 * qs[32j..32j+31] as low and high nibbles. x = d*sc*q - dmin*m. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[128];
} lm_blk_q4_k;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32]; /* bit j of qh[l]: fifth bit of element l of sub-block j */
    uint8_t qs[128];
} lm_blk_q5_k;
/* Q6_K: sixteen 16-element groups with int8 scales; x = d*sc*(q - 32). Each
 * 128-element half uses ql[64] and qh[32]: element l (l < 32) takes the low
 * nibble of ql[l] and bits 0-1 of qh[l]; element l+32 the low nibble of
 * ql[l+32] and bits 2-3; l+64 the high nibble of ql[l] and bits 4-5; l+96 the
 * high nibble of ql[l+32] and bits 6-7. */
typedef struct {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} lm_blk_q6_k;

_Static_assert(sizeof(lm_blk_q4_0) == 18, "q4_0");
_Static_assert(sizeof(lm_blk_q4_1) == 20, "q4_1");
_Static_assert(sizeof(lm_blk_q5_0) == 22, "q5_0");
_Static_assert(sizeof(lm_blk_q5_1) == 24, "q5_1");
_Static_assert(sizeof(lm_blk_q8_0) == 34, "q8_0");
_Static_assert(sizeof(lm_blk_q4_k) == 144, "q4_k");
_Static_assert(sizeof(lm_blk_q5_k) == 176, "q5_k");
_Static_assert(sizeof(lm_blk_q6_k) == 210, "q6_k");

/* Converted activations. For the 32-block types: d = max|x|/127, qs =
 * round(x/d), s = d * sum(qs) (so the _1 types' min and the offsets of the
 * _0 types cost one multiply per block). */
typedef struct {
    float d, s;
    int8_t qs[32];
} lm_act_q8_32;
/* For K-quants: 256-blocks with the sum of every 16 quants. */
typedef struct {
    float d;
    int16_t bsums[16];
    int8_t qs[256];
} lm_act_q8_256;
_Static_assert(sizeof(lm_act_q8_32) == 40, "act32");
_Static_assert(sizeof(lm_act_q8_256) == 292, "act256");

/* Unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K block. */
static inline void lm_k_scales(const uint8_t s[12], uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 15) | ((s[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

/* A tile kernel: y[t*ys + r] for rows [r0,r1) and tokens [0,n_tok), with the
 * row loop outermost so a few weight rows stay in L1 while every token passes. */
typedef void (*lm_matmul_fn)(const void *w, size_t row_bytes, int64_t n_in, int64_t r0,
                             int64_t r1, const void *act, size_t act_stride, int n_tok,
                             float *y, size_t y_stride);

/* Per-ISA tables indexed by lm_type; NULL entries fall back to scalar. */
void lm_cpu_avx2_table(lm_matmul_fn tab[], int n);
void lm_cpu_avx512_table(lm_matmul_fn tab[], int n, int vnni);
/* Activation conversion with SIMD (same bytes as the scalar conversion). */
void lm_cpu_avx2_quantize_act32(const float *x, lm_act_q8_32 *dst, int64_t nb);
void lm_cpu_avx512_quantize_act32(const float *x, lm_act_q8_32 *dst, int64_t nb);
void lm_cpu_avx512_quantize_act256(const float *x, lm_act_q8_256 *dst, int64_t nb);
/* One-token mat-vec (decode) for the types with a linear-stream kernel:
 * y[r] for r in [r0, r1); false (nothing written) when this CPU, type or
 * row length has none, and the tiled kernel is used instead. */
bool lm_cpu_avx512_decode(uint32_t type, const void *w, size_t row_bytes, int64_t n_in,
                          int64_t r0, int64_t r1, const void *act, float *y);
bool lm_cpu_avx512_decode_ok(void);
/* g[i] = SiLU(g[i]) * u[i] for i < n. */
void lm_cpu_avx512_silu_mul(float *g, const float *u, int64_t n);
/* Sum of n 64-bit words with the widest loads (bandwidth measurement). */
uint64_t lm_cpu_avx2_stream_sum(const uint64_t *p, size_t n);
uint64_t lm_cpu_avx512_stream_sum(const uint64_t *p, size_t n);
#endif
