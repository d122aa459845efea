/* mma.cuh — the half-precision tensor-core pieces the attention kernels share:
 * mma.sync m16n8k16 (float accumulators), ldmatrix of 8x8 half matrices out of
 * shared memory, and movmatrix (an 8x8 transpose across the warp's registers).
 * They need compute capability 8.0; builds for older targets compile them to
 * nothing and the launchers never run their kernels there (cc_major()). */
#ifndef LM_BACKEND_CUDA_MMA_CUH
#define LM_BACKEND_CUDA_MMA_CUH
#include <cuda_fp16.h>
#include <stdint.h>

namespace lmc {

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
    __half2 h = __floats2half2_rn(a, b);
    return *(uint32_t *)&h;
}

/* c (16x8 float) += a (16x16 half, row-major fragments) * b (16x8 half). The
 * fragment layouts are those of the PTX ISA for m16n8k16: lane = 4 g + t
 * holds rows g and g + 8, columns 2t and 2t + 1 of c. */
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)c, (void)a, (void)b0, (void)b1;
#endif
}

/* Four 8x8 half matrices from shared memory, rows addressed by lanes 8i..8i+7
 * for matrix i; TRANS delivers them transposed (V as the B operand). */
template <bool TRANS> __device__ __forceinline__ void ldsm4(uint32_t (&r)[4], const __half *p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
#else
    (void)p;
    r[0] = r[1] = r[2] = r[3] = 0;
#endif
}

/* Two 8x8 half matrices from shared memory, rows addressed by lanes 0..15. */
__device__ __forceinline__ void ldsm2(uint32_t (&r)[2], const __half *p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(a));
#else
    (void)p;
    r[0] = r[1] = 0;
#endif
}

/* The 8x8 half matrix whose row g, columns 2t and 2t + 1 lane 4 g + t holds
 * in x, transposed: the same lane gets row g, columns 2t, 2t + 1 of the
 * transpose. Turns an accumulator's layout into a B operand's. */
__device__ __forceinline__ uint32_t movtrans(uint32_t x) {
    uint32_t y = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(y) : "r"(x));
#else
    (void)x;
#endif
    return y;
}

} // namespace lmc
#endif
