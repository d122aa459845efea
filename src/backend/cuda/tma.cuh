/* tma.cuh — Hopper's tensor memory accelerator (TMA) and shared-memory
 * barriers (mbarrier), for kernels whose producer stages tiles that their
 * consumers wait for: a barrier a stage that the copy completes ("full") and
 * one the consumers arrive at when done with it ("empty"). Like wgmma.cuh,
 * the instructions exist only in code built for sm_90a; elsewhere these
 * compile to nothing and the launchers must not run such kernels (they ask
 * lmc_wgmma_loaded()). */
#ifndef LM_BACKEND_CUDA_TMA_CUH
#define LM_BACKEND_CUDA_TMA_CUH
#include "backend/cuda/wgmma.cuh"
#include <cuda.h>
#include <stdint.h>

namespace lmc {

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* A barrier that completes a phase after n arrivals (and the bytes a copy
 * announced with mb_expect); call mb_init_fence() once after the inits, then
 * a block barrier, before anyone uses them. */
__device__ __forceinline__ void mb_init(uint64_t *b, int n) {
#if LMC_WGMMA
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(b)), "r"(n));
#else
    (void)b, (void)n;
#endif
}
__device__ __forceinline__ void mb_init_fence() {
#if LMC_WGMMA
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}
/* Arrives and announces bytes that a copy will deliver to this phase. */
__device__ __forceinline__ void mb_expect(uint64_t *b, int bytes) {
#if LMC_WGMMA
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(b)),
                 "r"(bytes)
                 : "memory");
#else
    (void)b, (void)bytes;
#endif
}
__device__ __forceinline__ void mb_arrive(uint64_t *b) {
#if LMC_WGMMA
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(b)) : "memory");
#else
    (void)b;
#endif
}
/* Waits until the phase of the given parity has completed (a fresh barrier
 * counts parity 1 as completed, so producers wait on "empty" with the
 * opposite parity from their first round on). CTA scope: the cluster-scope
 * forms invalidate L1 on every wait (NOTES-cuda.md, pass 7). */
__device__ __forceinline__ void mb_wait(uint64_t *b, int parity) {
#if LMC_WGMMA
    uint32_t ok;
    do {
        asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     " selp.u32 %0, 1, 0, p;\n}"
                     : "=r"(ok)
                     : "r"(smem_u32(b)), "r"(parity)
                     : "memory");
    } while (!ok);
#else
    (void)b, (void)parity;
#endif
}
/* The box of tensor map m at element coordinates (x, y) into shared memory
 * at dst, completing on barrier b. */
__device__ __forceinline__ void tma_2d(void *dst, const CUtensorMap *m, int x, int y, uint64_t *b) {
#if LMC_WGMMA
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];" ::"r"(smem_u32(dst)),
                 "l"((uint64_t)m), "r"(x), "r"(y), "r"(smem_u32(b))
                 : "memory");
#else
    (void)dst, (void)m, (void)x, (void)y, (void)b;
#endif
}
/* The same for a 4-dimensional box at (x, y, z, w). */
__device__ __forceinline__ void tma_4d(void *dst, const CUtensorMap *m, int x, int y, int z, int w,
                                       uint64_t *b) {
#if LMC_WGMMA
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6];" ::"r"(smem_u32(dst)),
                 "l"((uint64_t)m), "r"(x), "r"(y), "r"(z), "r"(w), "r"(smem_u32(b))
                 : "memory");
#else
    (void)dst, (void)m, (void)x, (void)y, (void)z, (void)w, (void)b;
#endif
}
/* Hands registers between the warpgroups of a block (producer gives up,
 * consumers take): N a multiple of 8, the same in all threads of a
 * warpgroup. */
template <int N> __device__ __forceinline__ void regs_dec() {
#if LMC_WGMMA
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(N));
#endif
}
template <int N> __device__ __forceinline__ void regs_inc() {
#if LMC_WGMMA
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(N));
#endif
}

} // namespace lmc
#endif
