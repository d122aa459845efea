/* launch.cuh — kernel launches with programmatic dependent launch (PDL): the
 * next kernel of the decode step is let onto the GPU while the previous one
 * finishes and waits in pdl_wait() for the previous kernel's results, so its
 * launch latency overlaps the previous kernel's tail instead of adding to it. LOCALM_CUDA_PDL=0
 * turns it off (plain stream order) for comparison. */
#ifndef LM_BACKEND_CUDA_LAUNCH_CUH
#define LM_BACKEND_CUDA_LAUNCH_CUH
#include "backend/cuda/env_switch.h"
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>
#include <utility>

namespace lmc {

/* Compute capability major whose features the loaded kernels can use: the
 * lower of the current device's and that of the code the driver loaded for
 * it (k_arch.cu), 0 when it cannot be read; asked once (the launchers gate
 * Hopper and Ampere features on it). */
int cc_major();
/* The device's multiprocessors (0 when it cannot be read), asked once. */
int sm_count();

/* On unless LOCALM_CUDA_PDL=0, for devices that have it (compute 9.0+). */
inline bool pdl_enabled() {
    static const bool on = lmc_switch("LOCALM_CUDA_PDL", true) && cc_major() >= 9;
    return on;
}

/* Every kernel launched this way (launch_smem: with that many bytes of
 * dynamic shared memory) calls pdl_wait() before it reads anything a
 * previous kernel wrote or writes anything at all, so stream order holds
 * transitively: a kernel cannot finish before its predecessor has. */
template <typename... K, typename... A>
inline void launch_smem(void (*kernel)(K...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                        A &&...args) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl_enabled() ? 1 : 0;
    cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}
template <typename... K, typename... A>
inline void launch(void (*kernel)(K...), dim3 grid, dim3 block, cudaStream_t st, A &&...args) {
    launch_smem(kernel, grid, block, 0, st, std::forward<A>(args)...);
}

/* Waits until the previous kernel in the stream has completed and its writes
 * are visible (a no-op when launched without PDL). */
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* Lets the next kernel launch once every block of this one has called it (or
 * exited); it still waits in pdl_wait() for this kernel's results. Mat-vec
 * kernels call it first thing, so the next kernel's weight prefetch
 * (prefetch_l2) overlaps their stream. */
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

/* Asks L2 for the lines of bytes [p, p + min(n, cap)), spread over the
 * block's threads. Weights never depend on the previous kernel, so mat-vec
 * kernels call this before pdl_wait(): while the previous kernel drains,
 * the first weight round trip is already under way. */
__device__ __forceinline__ void prefetch_l2(const void *p, size_t n, size_t cap) {
    if (n > cap) n = cap;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)127, end = (uintptr_t)p + n;
    for (uintptr_t o = a + 128 * (uintptr_t)threadIdx.x; o < end; o += 128 * (uintptr_t)blockDim.x)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(o));
}

} // namespace lmc
#endif
