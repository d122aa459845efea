/* cuda_limits.c — measuring and looking up the limits benchmarks compare
 * CUDA figures with (see cuda_limits.h). */

#include "backend/cuda/cuda_limits.h"
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <string.h>

/* Datasheet figures: HBM bandwidth in GB/s and dense FP16 tensor TFLOP/s. */
static void datasheet(const char *name, double *gbs, double *tflops) {
    *gbs = 0;
    *tflops = 0;
    if (strstr(name, "H200")) {
        *gbs = 4800, *tflops = 989;
    } else if (strstr(name, "H100") && strstr(name, "PCIe")) {
        *gbs = 2000, *tflops = 756;
    } else if (strstr(name, "H100")) { /* SXM5 80GB HBM3 */
        *gbs = 3350, *tflops = 989;
    } else if (strstr(name, "A100")) {
        *gbs = strstr(name, "80GB") ? 2039 : 1555, *tflops = 312;
    }
}

bool lm_cuda_measure_limits(int dev, lm_cuda_limits *out) {
    memset(out, 0, sizeof *out);
    struct cudaDeviceProp p;
    if (cudaSetDevice(dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    snprintf(out->device, sizeof out->device, "%.127s", p.name);
    datasheet(p.name, &out->nominal_gbs, &out->fp16_tflops);
    const size_t bytes = (size_t)512 << 20;
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    bool ok = cudaMalloc(&a, bytes) == cudaSuccess && cudaMalloc(&b, bytes) == cudaSuccess &&
              cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess &&
              cudaMemset(a, 1, bytes) == cudaSuccess &&
              cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess;
    const int reps = 20;
    if (ok) {
        cudaEventRecord(e0, 0);
        for (int i = 0; i < reps; i++)
            cudaMemcpyAsync(i & 1 ? a : b, i & 1 ? b : a, bytes, cudaMemcpyDeviceToDevice, 0);
        cudaEventRecord(e1, 0);
        float ms = 0;
        ok = cudaEventSynchronize(e1) == cudaSuccess &&
             cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess && ms > 0;
        if (ok) out->copy_gbs = 2.0 * (double)bytes * reps / (ms * 1e-3) / 1e9;
    }
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    (void)cudaGetLastError();
    return ok;
}

uint64_t lm_cuda_vram_used(int dev) {
    size_t fr = 0, tot = 0;
    if (cudaSetDevice(dev) != cudaSuccess || cudaMemGetInfo(&fr, &tot) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return (uint64_t)(tot - fr);
}
