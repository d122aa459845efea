/* kernels.h — the CPU engine's compute kernels: matrix x activation products
 * for every weight type, dequantisation, and CPU feature dispatch. Each kernel
 * has a plain scalar reference (lm_cpu_*_ref) that the SIMD paths are tested
 * against; the SIMD path is chosen at run time from CPU features.
 *
 * Matrices are in GGUF block layout: `rows` rows of `n_in` elements, each row
 * lm_type_row_bytes(type, n_in) bytes. Activations are first converted once
 * per matmul into the format the weight type's dot product wants (e.g. 8-bit
 * blocks for integer dot products); lm_cpu_act_* hide which. */
#ifndef LM_BACKEND_CPU_KERNELS_H
#define LM_BACKEND_CPU_KERNELS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum lm_cpu_isa {
    LM_ISA_SCALAR = 0,
    LM_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    LM_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ (+VNNI when present) */
} lm_cpu_isa;

lm_cpu_isa lm_cpu_best_isa(void);          /* detected once */
const char *lm_cpu_isa_name(lm_cpu_isa i); /* "avx512", ... */
/* Forces a lower ISA (tests and benchmarks); returns the one in effect. */
lm_cpu_isa lm_cpu_set_isa(lm_cpu_isa i);
lm_cpu_isa lm_cpu_current_isa(void);
/* "avx2 fma f16c avx512f avx512bw avx512vnni" — what this CPU has. */
const char *lm_cpu_features_string(void);

/* True when the CPU engine can compute with weights of this type. */
bool lm_cpu_type_supported(uint32_t type);

/* Bytes of one converted activation row of n elements for weights of wtype. */
size_t lm_cpu_act_row_bytes(uint32_t wtype, int64_t n);
void lm_cpu_act_convert(uint32_t wtype, const float *x, void *dst, int64_t n);

/* y[t*y_stride + r] = dot(W row r, activation t) for r in [r0, r1) and t in
 * [0, n_tok). act holds n_tok converted rows, act_stride bytes apart. */
void lm_cpu_matmul(uint32_t wtype, const void *w, int64_t n_in, int64_t r0, int64_t r1,
                   const void *act, size_t act_stride, int n_tok, float *y, size_t y_stride);
void lm_cpu_matmul_ref(uint32_t wtype, const void *w, int64_t n_in, int64_t r0, int64_t r1,
                       const float *x, size_t x_stride, int n_tok, float *y, size_t y_stride);

/* One row of n elements of any compute type to float (embedding lookup). */
void lm_cpu_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* float -> type (for random models and tests); false if unsupported. */
bool lm_cpu_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);
#endif
