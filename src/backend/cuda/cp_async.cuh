/* cp_async.cuh — asynchronous global-to-shared copies (cp.async, compute
 * capability 8.0 and up) for kernels that stage tiles in shared memory: the
 * bytes go straight to shared memory without passing through registers, so a
 * block keeps several tiles in flight. Builds for older targets compile them
 * to nothing; the launchers never run those kernels there. */
#ifndef LM_BACKEND_CUDA_CP_ASYNC_CUH
#define LM_BACKEND_CUDA_CP_ASYNC_CUH
#include <cuda_runtime.h>

namespace lmc {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define LMC_CP_ASYNC 1
#else
#define LMC_CP_ASYNC 0
#endif

/* 16 bytes (src 16-byte aligned), of which the first n are read and the rest
 * zeroed (n = 0: all zeros, src not read). */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int n = 16) {
#if LMC_CP_ASYNC
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(
                     (unsigned)__cvta_generic_to_shared(dst)),
                 "l"(src), "r"(n));
#else
    (void)dst, (void)src, (void)n;
#endif
}
/* 8 bytes (src 8-byte aligned). */
__device__ __forceinline__ void cp_async8(void *dst, const void *src) {
#if LMC_CP_ASYNC
    asm volatile(
        "cp.async.ca.shared.global [%0], [%1], 8;" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
        "l"(src));
#else
    (void)dst, (void)src;
#endif
}
/* The first n (1-4) bytes of the word at src (4-byte aligned), the rest zero. */
__device__ __forceinline__ void cp_async4(void *dst, const void *src, int n = 4) {
#if LMC_CP_ASYNC
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(
                     (unsigned)__cvta_generic_to_shared(dst)),
                 "l"(src), "r"(n));
#else
    (void)dst, (void)src, (void)n;
#endif
}
/* Closes the group of copies issued since the last commit. */
__device__ __forceinline__ void cp_commit() {
#if LMC_CP_ASYNC
    asm volatile("cp.async.commit_group;");
#endif
}
/* Waits until at most N of this thread's groups are still in flight. */
template <int N> __device__ __forceinline__ void cp_wait() {
#if LMC_CP_ASYNC
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

} // namespace lmc
#endif
