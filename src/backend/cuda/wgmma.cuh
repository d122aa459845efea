/* wgmma.cuh — Hopper's warpgroup tensor-core product (wgmma.mma_async) for
 * the kernels that use it: A (64 rows x 16, half) from registers, B from
 * shared memory through a matrix descriptor, float accumulators. The
 * instructions exist only in code built for sm_90a (LOCALM_CUDA_ARCHS); other
 * builds compile these to nothing, and the launchers ask lmc_wgmma_loaded()
 * before running a kernel that uses them. */
#ifndef LM_BACKEND_CUDA_WGMMA_CUH
#define LM_BACKEND_CUDA_WGMMA_CUH
#include <cuda_runtime.h>
#include <stdint.h>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define LMC_WGMMA 1
#else
#define LMC_WGMMA 0
#endif

namespace lmc {

/* The descriptor of a shared-memory operand laid out in 128-byte swizzle
 * atoms (8 rows of 128 bytes, 1024-byte aligned, 16-byte chunk c of row r
 * stored at chunk c ^ (r & 7)). lbo: bytes between atoms along the leading
 * (MN) dimension of an MN-major operand (unused for K-major ones); sbo: bytes
 * between groups of 8 rows. */
__device__ __forceinline__ uint64_t wg_desc(const void *smem, uint32_t lbo, uint32_t sbo) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(smem);
    return (uint64_t)((a & 0x3FFFF) >> 4) | (uint64_t)((lbo & 0x3FFFF) >> 4) << 16 |
           (uint64_t)((sbo & 0x3FFFF) >> 4) << 32 | (uint64_t)1 << 62;
}

/* Orders this thread's register writes before the warpgroup's next wgmma. */
__device__ __forceinline__ void wg_fence() {
#if LMC_WGMMA
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void wg_commit() {
#if LMC_WGMMA
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#endif
}
/* Waits until at most N committed groups are in flight. */
template <int N> __device__ __forceinline__ void wg_wait() {
#if LMC_WGMMA
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
#endif
}
/* Pins the accumulators after a wg_wait: the compiler sees them written by
 * the wgmma asm when it is issued, so nothing else stops it from moving
 * their reads above the wait. */
template <int N> __device__ __forceinline__ void wg_fence_acc(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+f"(d[i])::"memory");
}
/* Makes this thread's generic-proxy writes to shared memory (stores,
 * cp.async) visible to the async proxy wgmma reads through. */
__device__ __forceinline__ void fence_proxy_async() {
#if LMC_WGMMA
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}

/* The accumulator operands of an m64nN product, N = 64 or 128: the
 * placeholders "%0, ..., %(N / 2 - 1)" and the matching "+f" constraints
 * on d[0 .. N / 2 - 1]; the other operands are numbered after them. */
#define LMC_WG_ACC32                                                                               \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, "   \
    "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define LMC_WG_ACC64                                                                               \
    LMC_WG_ACC32                                                                                   \
        ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, "  \
        "%49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define LMC_WG_D32(d)                                                                              \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),            \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),    \
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define LMC_WG_D64(d)                                                                              \
    LMC_WG_D32(d), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]),   \
        "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), \
        "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), \
        "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), \
        "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])

/* d (64 x N floats; lane 4 g + t of warp w holds rows 16 w + g and + 8,
 * columns 8 j + 2 t and + 1 of each 8-column block j, as d[4 j .. 4 j + 3])
 * += a (rows 16 w + g / + 8, the mma.m16n8k16 A fragment of each warp) * B.
 * TB: 0 for a K-major B, 1 for an N-major one. */
template <int TB>
__device__ __forceinline__ void wg_rs_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t b) {
#if LMC_WGMMA
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {" LMC_WG_ACC32 "}, "
                 "{%32, %33, %34, %35}, %36, 1, 1, 1, %37;"
                 : LMC_WG_D32(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "n"(TB));
#else
    (void)d, (void)a, (void)b;
#endif
}

template <int TB>
__device__ __forceinline__ void wg_rs_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {
#if LMC_WGMMA
    asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {" LMC_WG_ACC64 "}, "
                 "{%64, %65, %66, %67}, %68, 1, 1, 1, %69;"
                 : LMC_WG_D64(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "n"(TB));
#else
    (void)d, (void)a, (void)b;
#endif
}

/* The same with A (64 x 16, K-major: rows of 16-bit k values) read from
 * shared memory through descriptor a. */
template <int TB>
__device__ __forceinline__ void wg_ss_n128(float (&d)[64], uint64_t a, uint64_t b) {
#if LMC_WGMMA
    asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {" LMC_WG_ACC64 "}, "
                 "%64, %65, 1, 1, 1, 0, %66;"
                 : LMC_WG_D64(d)
                 : "l"(a), "l"(b), "n"(TB));
#else
    (void)d, (void)a, (void)b;
#endif
}
} // namespace lmc
#endif
