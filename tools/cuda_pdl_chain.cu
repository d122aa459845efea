/* cuda_pdl_chain.cu — what a kernel boundary costs in a captured decode-like
 * chain on this GPU: N dependent kernels in one CUDA graph, launched with and
 * without programmatic dependent launch (PDL), timed over many replays.
 * The per-kernel time is the floor a step of N kernels pays before any
 * weight is read (the 1.1B decode step is 157 kernels, the 8B's 227).
 *   empty   every block: trigger, wait, exit
 *   vec     every block reads the previous kernel's 2048-float vector (L2, all
 *           loads issued together),
 *           one block-wide sum, and block b writes element b of the next
 *           (a mat-vec's dependency shape: all-to-all through L2)
 *   vecw    vec with 16 KB of weights per block read before the wait
 * Build and run: nvcc -O3 -arch=sm_90 -o /tmp/pc tools/cuda_pdl_chain.cu && /tmp/pc */
#include <cstdio>
#include <cuda_runtime.h>

constexpr int N_VEC = 2048;

__device__ __forceinline__ void pdl_wait() {
    asm volatile("griddepcontrol.wait;" ::: "memory");
}
__device__ __forceinline__ void pdl_trigger() {
    asm volatile("griddepcontrol.launch_dependents;" :::);
}

__global__ void k_empty(const float *, float *, const float4 *, int) {
    pdl_trigger();
    pdl_wait();
}

/* The block's sum of x times its index, to y[block] (sum over 128 threads). */
__global__ void k_vec(const float *x, float *y, const float4 *w, int w_per_block) {
    __shared__ float sh[4];
    float acc = 0.0f;
    if (w) /* weights never depend on the previous kernel: read before the wait */
        for (int i = threadIdx.x; i < w_per_block; i += blockDim.x) {
            float4 v = __ldg(w + (size_t)blockIdx.x * w_per_block + i);
            acc += v.x + v.y + v.z + v.w;
        }
    pdl_trigger();
    pdl_wait();
    float v[N_VEC / 128]; /* all loads issued at once: one L2 round trip */
#pragma unroll
    for (int k = 0; k < N_VEC / 128; k++)
        v[k] = x[threadIdx.x + 128 * k];
#pragma unroll
    for (int k = 0; k < N_VEC / 128; k++)
        acc += v[k] * (float)(blockIdx.x + 1) * 1e-6f;
    for (int o = 16; o; o >>= 1)
        acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x == 0 && blockIdx.x < N_VEC) y[blockIdx.x] = sh[0] + sh[1] + sh[2] + sh[3];
}

static void launch(void (*k)(const float *, float *, const float4 *, int), int blocks, bool pdl,
                   cudaStream_t st, const float *x, float *y, const float4 *w, int wpb) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(128);
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    cudaLaunchKernelEx(&cfg, k, x, y, w, wpb);
}

int main() {
    const int n_k = 154, reps = 200;
    float *buf[2];
    float4 *w;
    const int wpb = 1024; /* 16 KB per block */
    const int max_blocks = 1024;
    cudaMalloc(&buf[0], sizeof(float) * N_VEC * 2);
    cudaMalloc(&buf[1], sizeof(float) * N_VEC * 2);
    cudaMemset(buf[0], 0, sizeof(float) * N_VEC * 2);
    cudaMemset(buf[1], 0, sizeof(float) * N_VEC * 2);
    /* enough weights that each kernel of the chain reads its own (> L2) */
    size_t w_elems = (size_t)n_k * max_blocks * wpb;
    if (cudaMalloc(&w, w_elems * sizeof(float4)) != cudaSuccess) return 1;
    cudaMemset(w, 0, w_elems * sizeof(float4));
    cudaStream_t st;
    cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    struct {
        const char *name;
        bool vec, weights;
    } kinds[] = {{"empty", false, false}, {"vec", true, false}, {"vecw", true, true}};
    const int blocks_list[] = {132, 512, 1024};
    for (auto &kd : kinds)
        for (int blocks : blocks_list)
            for (int pdl = 0; pdl < 2; pdl++) {
                cudaGraph_t g;
                cudaGraphExec_t ge;
                cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal);
                for (int i = 0; i < n_k; i++)
                    launch(kd.vec ? k_vec : k_empty, blocks, pdl, st, buf[i & 1], buf[(i + 1) & 1],
                           kd.weights ? w + (size_t)i * max_blocks * wpb : nullptr, wpb);
                cudaStreamEndCapture(st, &g);
                if (cudaGraphInstantiate(&ge, g, 0) != cudaSuccess) return 1;
                for (int i = 0; i < 5; i++)
                    cudaGraphLaunch(ge, st);
                cudaEventRecord(e0, st);
                for (int i = 0; i < reps; i++)
                    cudaGraphLaunch(ge, st);
                cudaEventRecord(e1, st);
                cudaEventSynchronize(e1);
                float ms = 0;
                cudaEventElapsedTime(&ms, e0, e1);
                double us_k = ms * 1000.0 / reps / n_k;
                double mb = kd.weights ? (double)blocks * wpb * 16 / 1e6 : 0;
                printf("%-6s %5d blocks  pdl %d: %6.2f us per kernel (%.0f us per chain of %d)",
                       kd.name, blocks, pdl, us_k, us_k * n_k, n_k);
                if (mb > 0) printf(", %.1f MB weights per kernel = %.0f GB/s", mb, mb / us_k * 1e3);
                printf("\n");
                cudaGraphExecDestroy(ge);
                cudaGraphDestroy(g);
            }
    cudaError_t rc = cudaGetLastError();
    if (rc != cudaSuccess) printf("error: %s\n", cudaGetErrorString(rc));
    return rc != cudaSuccess;
}
