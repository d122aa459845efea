/* imma_skel_test.cu — how fast an int8 prompt GEMM for K-quant weights could
 * go on Hopper, before anyone writes one: the skeleton of its inner loop with
 * constant operands (no loads), timed on every SM.
 *
 * Q4_K / Q5_K weights are q * (d * sc_j) - dmin * m_j with a 6-bit scale sc_j
 * per 32 inputs. With int8 activations (one scale per 256, as lmc_mmq's x256
 * path) a super-block's dot product is d * dx * sum_j sc_j * (q_j . x_j): one
 * wgmma m64nNk32 (s8) per sub-block j into fresh int32 accumulators, then an
 * integer multiply-add per accumulator (t += sc_j * f), then once per
 * super-block a conversion and a float multiply-add. The int8 tensor rate is
 * twice the half one, but the IMADs run at 64 a clock per SM on Hopper, i.e.
 * the half tensor rate in outputs: this measures where such a loop lands.
 *
 * Modes (fraction of the 989 TF dense half peak, counting 2 M N K):
 *   0  s8 wgmmas accumulating (the int8 tensor ceiling)
 *   1  s8 wgmma into fresh accumulators, wait, IMAD, float fold a super-block
 *   2  the same with two fresh buffers: the next sub-block's wgmma in flight
 *      while this one's IMADs run (N = 64 only: registers)
 *   3  f16 wgmmas accumulating, two per 32 inputs (the half ceiling)
 * Build: nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Isrc
 *        tools/imma_skel_test.cu -o /tmp/imma
 * Run:   /tmp/imma   (prints one line per mode, N and warpgroup count) */
#include "backend/cuda/wgmma.cuh"
#include <cstdio>
#include <cuda_runtime.h>
#include <stdint.h>

using namespace lmc;

#if LMC_WGMMA
/* "+r" constraints on int accumulators d[i .. i + 3] and so on (wgmma.cuh's
 * lists are for float ones); the placeholders are wgmma.cuh's. */
#define I4(d, i) "+r"(d[i]), "+r"(d[i + 1]), "+r"(d[i + 2]), "+r"(d[i + 3])
#define I16(d, i) I4(d, i), I4(d, i + 4), I4(d, i + 8), I4(d, i + 12)
#define I32(d) I16(d, 0), I16(d, 16)
#define I64(d) I32(d), I16(d, 32), I16(d, 48)

/* d (+)= a * b for s8 operands, A (64 x 32) from registers, B K-major from
 * shared memory; scale_d 0 overwrites d. */
__device__ __forceinline__ void wg_s8_rs_n64(int (&d)[32], const uint32_t (&a)[4], uint64_t b,
                                             int scale_d) {
    asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, %37, 0;\n"
                 " wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 {" LMC_WG_ACC32 "},"
                 " {%32, %33, %34, %35}, %36, p;\n}"
                 : I32(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(scale_d));
}
__device__ __forceinline__ void wg_s8_rs_n128(int (&d)[64], const uint32_t (&a)[4], uint64_t b,
                                              int scale_d) {
    asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, %69, 0;\n"
                 " wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {" LMC_WG_ACC64 "},"
                 " {%64, %65, %66, %67}, %68, p;\n}"
                 : I64(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(scale_d));
}
#endif

template <int N> __device__ __forceinline__ void pin(int (&f)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+r"(f[i])::"memory");
}

#if LMC_WGMMA
/* One committed group of an m64nNk32 s8 product (N = 64 or 128), or of an
 * m64nNk16 half one, each warpgroup's A from registers. */
template <int N>
__device__ __forceinline__ void issue_s8(int (&d)[N / 2], const uint32_t (&a)[4], uint64_t b,
                                         int scale_d) {
    wg_fence();
    if constexpr (N == 128)
        wg_s8_rs_n128(d, a, b, scale_d);
    else
        wg_s8_rs_n64(d, a, b, scale_d);
    wg_commit();
}
template <int N>
__device__ __forceinline__ void issue_f16(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b) {
    wg_fence();
    if constexpr (N == 128)
        wg_rs_n128<0>(d, a, b);
    else
        wg_rs_n64<0>(d, a, b);
    wg_commit();
}
#endif

/* A sub-block's scaling, t += sc * f, and a super-block's float fold. */
template <int R> __device__ __forceinline__ void scale_add(int (&t)[R], const int (&f)[R], int sc) {
#pragma unroll
    for (int i = 0; i < R; i++)
        t[i] += sc * f[i];
}
template <int R> __device__ __forceinline__ void fold(float (&acc)[R], int (&t)[R], int it) {
    const float s = 1e-6f * (float)(it & 7);
#pragma unroll
    for (int i = 0; i < R; i++)
        acc[i] += (float)t[i] * s, t[i] = 0;
}

template <int MODE, int N, int NWG>
__global__ void __launch_bounds__(NWG * 128) skel(int iters, float *out) {
#if LMC_WGMMA
    __shared__ __align__(1024) uint8_t bs[256 * 128];
    for (int i = threadIdx.x; i < (int)(sizeof bs / 4); i += blockDim.x)
        ((uint32_t *)bs)[i] = (uint32_t)i * 2654435761u;
    __syncthreads();
    fence_proxy_async();
    const uint64_t bd = wg_desc(bs, 16, 1024);
    const uint32_t a[4] = {threadIdx.x * 0x01010101u, 0x05050505u, threadIdx.x, 0x07070707u};
    constexpr int R = N / 2;
    float acc[R] = {};
    if constexpr (MODE == 0) {
        int d[R] = {};
        for (int it = 0; it < iters; it++) {
#pragma unroll
            for (int j = 0; j < 8; j++)
                issue_s8<N>(d, a, bd, 1);
            wg_wait<0>();
            pin(d);
        }
#pragma unroll
        for (int i = 0; i < R; i++)
            acc[i] = (float)d[i];
    } else if constexpr (MODE == 1) {
        int f[R] = {}, t[R] = {};
        for (int it = 0; it < iters; it++) {
#pragma unroll
            for (int j = 0; j < 8; j++) {
                issue_s8<N>(f, a, bd, 0);
                wg_wait<0>();
                pin(f);
                scale_add(t, f, ((it * 8 + j) * 13 + (int)threadIdx.x) & 63);
            }
            fold(acc, t, it);
        }
    } else if constexpr (MODE == 2) {
        static_assert(N == 64, "mode 2 is for N = 64");
        int f0[R] = {}, f1[R] = {}, t[R] = {};
        issue_s8<N>(f0, a, bd, 0);
        for (int it = 0; it < iters; it++) {
#pragma unroll
            for (int j = 0; j < 8; j += 2) {
                const int sc = ((it * 8 + j) * 13 + (int)threadIdx.x) & 63;
                issue_s8<N>(f1, a, bd, 0);
                wg_wait<1>();
                pin(f0);
                scale_add(t, f0, sc);
                issue_s8<N>(f0, a, bd, 0);
                wg_wait<1>();
                pin(f1);
                scale_add(t, f1, sc + 1);
            }
            fold(acc, t, it);
        }
        wg_wait<0>();
        pin(f0);
    } else {
        for (int it = 0; it < iters; it++) {
#pragma unroll
            for (int j = 0; j < 16; j++)
                issue_f16<N>(acc, a, bd);
            wg_wait<0>();
            wg_fence_acc(acc);
        }
    }
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < R; i++)
        s += acc[i];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
#else
    (void)iters, (void)out;
#endif
}

template <int MODE, int N, int NWG> void run(int sms, float *out) {
    const int iters = 4000;
    skel<MODE, N, NWG><<<sms, NWG * 128>>>(8, out); /* warm-up */
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    cudaEventRecord(e0);
    skel<MODE, N, NWG><<<sms, NWG * 128>>>(iters, out);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    const double flop = 2.0 * 64 * N * 256 * (double)iters * NWG * sms;
    const cudaError_t err = cudaGetLastError();
    const double tops = flop / ms / 1e9; /* flop per ms / 1e9 = TOP/s */
    printf("mode %d  N %3d  warpgroups %d: %8.3f ms  %6.1f TOP/s  %.2f of the half peak%s%s\n",
           MODE, N, NWG, ms, tops, tops / 989.0, err != cudaSuccess ? "  ERROR " : "",
           err != cudaSuccess ? cudaGetErrorString(err) : "");
    cudaEventDestroy(e0), cudaEventDestroy(e1);
}

int main() {
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    float *out;
    cudaMalloc(&out, sizeof(float) * sms * 512);
    run<3, 128, 2>(sms, out);
    run<0, 128, 2>(sms, out);
    run<1, 128, 2>(sms, out);
    run<0, 64, 2>(sms, out);
    run<1, 64, 2>(sms, out);
    run<1, 64, 3>(sms, out);
    run<1, 64, 4>(sms, out);
    run<2, 64, 2>(sms, out);
    run<2, 64, 3>(sms, out);
    run<2, 64, 4>(sms, out);
    cudaFree(out);
    return 0;
}
