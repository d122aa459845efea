/* k_layout.cu — weights rearranged on the device after upload, for types
 * whose GGUF layout the kernels read slowly. Only Q6_K so far: each
 * super-block is rewritten in place into the layout quant.cuh describes
 * (same 210 bytes at the same address), once per load. */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/quant.cuh"

using namespace lmc;

namespace {

/* One thread per super-block: the GGUF block is read whole, then written back
 * rearranged. GGUF Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits),
 * scales[16] (int8, one per 16 elements), d (half). Unit j = 4h + k (32
 * elements) takes ql[64h + 32(k & 1) + l] >> 4(k >> 1) and qh[32h + l] >> 2k. */
__global__ void q6k_layout_kernel(uint8_t *w, int64_t n_blocks) {
    int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= n_blocks) return;
    uint8_t *b = w + 210 * g;
    uint8_t src[210], dst[210];
    for (int i = 0; i < 210; i++)
        src[i] = b[i];
    const int pre = q6r_pre((uintptr_t)b);
    dst[q6r_fill(0, pre)] = src[208];
    dst[q6r_fill(1, pre)] = src[209];
    for (int i = 0; i < 16; i++)
        dst[q6r_fill(2 + i, pre)] = src[192 + i];
    for (int j = 0; j < 8; j++) {
        const int h = j >> 2, k = j & 3;
        uint8_t q[32];
        for (int l = 0; l < 32; l++)
            q[l] = (uint8_t)(((src[64 * h + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 15) |
                             (((src[128 + 32 * h + l] >> (2 * k)) & 3) << 4));
        for (int a = 0; a < 4; a++)
            for (int jj = 0; jj < 4; jj++)
                dst[pre + 16 * j + 4 * a + jj] =
                    (uint8_t)((q[4 * a + jj] & 15) | ((q[16 + 4 * a + jj] & 15) << 4));
        for (int a = 0; a < 2; a++)
            for (int jj = 0; jj < 4; jj++) {
                int v = 0;
                for (int s = 0; s < 4; s++)
                    v |= (q[4 * (a + 2 * s) + jj] >> 4) << (2 * s);
                dst[pre + 128 + 8 * j + 4 * a + jj] = (uint8_t)v;
            }
    }
    for (int i = 0; i < 210; i++)
        b[i] = dst[i];
}

} // namespace

extern "C" bool lmc_device_layout(cudaStream_t st, uint32_t type, void *w, size_t bytes) {
    if (type != LM_TYPE_Q6_K) return true;
    if (bytes % 210 || ((uintptr_t)w & 1)) return false;
    int64_t n = (int64_t)(bytes / 210);
    if (n == 0) return true;
    q6k_layout_kernel<<<(unsigned)((n + 127) / 128), 128, 0, st>>>((uint8_t *)w, n);
    return cudaGetLastError() == cudaSuccess;
}
