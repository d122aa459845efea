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

/* The accumulator operands of an m64nN product, N = 64 or 128 (256 below): the
 * placeholders "%0, ..., %(N / 2 - 1)" and the matching "+f" constraints
 * on d[0 .. N / 2 - 1]; the other operands are numbered after them. */
#define LMC_WG_ACC32                                                                               \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, "   \
    "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define LMC_WG_ACC64                                                                               \
    LMC_WG_ACC32                                                                                   \
    ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, "      \
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

/* The same for N = 256 (128 accumulators). */
#define LMC_WG_ACC128                                                                              \
    LMC_WG_ACC64                                                                                   \
    ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79"             \
    ", %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"             \
    ", %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, "     \
    "%111"                                                                                         \
    ", %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, "       \
    "%126, %127"
#define LMC_WG_D128(d)                                                                             \
    LMC_WG_D64(d), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]),   \
        "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), \
        "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), \
        "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), \
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), \
        "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),          \
        "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]),        \
        "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]),        \
        "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]),        \
        "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

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

/* m64n256k16 with A from registers and a K-major B. */
__device__ __forceinline__ void wg_rs_n256(float (&d)[128], const uint32_t (&a)[4], uint64_t b) {
#if LMC_WGMMA
    asm volatile("wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {" LMC_WG_ACC128 "}, "
                 "{%128, %129, %130, %131}, %132, 1, 1, 1, 0;"
                 : LMC_WG_D128(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
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
