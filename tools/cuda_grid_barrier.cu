/* cuda_grid_barrier.cu — what one grid-wide barrier costs on this GPU, for
 * judging a persistent ("mega") kernel against a kernel per operation with
 * programmatic dependent launch (3-5 us per boundary on the H100, see
 * bench/NOTES-cuda.md). One block per SM, 512 threads, 20000 barriers per
 * variant, cooperative launch:
 *   atomic   __threadfence, atomicAdd on one counter, relaxed poll, fence
 *   release  red.release.gpu add, ld.acquire.gpu poll (no separate fences)
 *   flags    every block stores its epoch (st.release) to its own word; one
 *            warp per block polls all words (ld.acquire), no atomics
 *   cg       cooperative_groups::this_grid().sync()
 * Build and run: nvcc -O3 -arch=sm_90 -o /tmp/gb tools/cuda_grid_barrier.cu && /tmp/gb */
#include <cooperative_groups.h>
#include <cstdint>
#include <cstdio>

namespace cg = cooperative_groups;

__device__ void bar_atomic(unsigned *c, unsigned &target) {
    __syncthreads();
    target += gridDim.x;
    if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(c, 1u);
        unsigned v;
        do {
            asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(c) : "memory");
        } while (v < target);
        __threadfence();
    }
    __syncthreads();
}

__device__ void bar_release(unsigned *c, unsigned &target) {
    __syncthreads();
    target += gridDim.x;
    if (threadIdx.x == 0) {
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(c) : "memory");
        unsigned v;
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(c) : "memory");
        } while (v < target);
    }
    __syncthreads();
}

__device__ void bar_flags(unsigned *flags, unsigned &epoch) {
    __syncthreads();
    epoch++;
    if (threadIdx.x < 32) {
        if (threadIdx.x == 0)
            asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(flags + blockIdx.x), "r"(epoch)
                         : "memory");
        for (unsigned b = threadIdx.x; b < gridDim.x; b += 32) {
            unsigned v;
            do {
                asm volatile("ld.acquire.gpu.global.u32 %0, [%1];"
                             : "=r"(v)
                             : "l"(flags + b)
                             : "memory");
            } while (v < epoch);
        }
        __syncwarp();
    }
    __syncthreads();
}

template <int V> __global__ void run(unsigned *c, int n) {
    unsigned t = 0;
    for (int i = 0; i < n; i++) {
        if (V == 0) bar_atomic(c, t);
        if (V == 1) bar_release(c, t);
        if (V == 2) bar_flags(c, t);
        if (V == 3) cg::this_grid().sync();
    }
}

template <int V> float time_it(int sms, int n) {
    unsigned *c;
    cudaMalloc(&c, 4096);
    cudaMemset(c, 0, 4096);
    void *args[] = {&c, &n};
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    cudaLaunchCooperativeKernel((void *)run<V>, sms, 512, args, 0, 0); /* warm-up */
    cudaMemset(c, 0, 4096);
    cudaEventRecord(a);
    cudaLaunchCooperativeKernel((void *)run<V>, sms, 512, args, 0, 0);
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaFree(c);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) printf("error %s\n", cudaGetErrorString(e));
    return ms * 1000.0f / n;
}

int main() {
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    const int n = 20000;
    printf("%d blocks of 512 threads, %d barriers each\n", sms, n);
    printf("atomic  %.3f us per barrier\n", time_it<0>(sms, n));
    printf("release %.3f us per barrier\n", time_it<1>(sms, n));
    printf("flags   %.3f us per barrier\n", time_it<2>(sms, n));
    printf("cg      %.3f us per barrier\n", time_it<3>(sms, n));
    return 0;
}
