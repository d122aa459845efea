/* k_layout.cu — weights rearranged on the device after upload, for types
 * whose GGUF layout the kernels read slowly: the K-quants Q4_K, Q5_K and
 * Q6_K. Each super-block is rewritten in place into the layout quant.cuh
 * describes (same bytes at the same address), once per load. */
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

/* Q4_K (144-byte blocks, qs at 16) and Q5_K (176, qh at 16, qs at 48): GGUF
 * unit j (32 elements) is qs[32(j >> 1) + l] >> 4(j & 1) and bit j of
 * qh[l]. */
template <int BYTES> __global__ void k_layout_kernel(uint8_t *w, int64_t n_blocks) {
    int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= n_blocks) return;
    constexpr bool Q5 = BYTES == 176;
    uint8_t *qs = w + BYTES * g + (Q5 ? 48 : 16), *qh = w + BYTES * g + 16;
    uint8_t src[128], dst[128], hs[32], hd[32];
    for (int i = 0; i < 128; i++)
        src[i] = qs[i];
    for (int i = 0; i < 32 && Q5; i++)
        hs[i] = qh[i], hd[i] = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t q[32];
        for (int l = 0; l < 32; l++)
            q[l] = (uint8_t)((src[32 * (j >> 1) + l] >> (4 * (j & 1))) & 15);
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                dst[16 * j + 4 * a + b] = (uint8_t)(q[4 * a + b] | (q[16 + 4 * a + b] << 4));
        for (int i = 0; i < 8 && Q5; i++)
            for (int b = 0; b < 4; b++)
                hd[4 * j + b] |= (uint8_t)(((hs[4 * i + b] >> j) & 1) << i);
    }
    for (int i = 0; i < 128; i++)
        qs[i] = dst[i];
    for (int i = 0; i < 32 && Q5; i++)
        qh[i] = hd[i];
}

} // namespace

extern "C" bool lmc_device_layout(cudaStream_t st, uint32_t type, void *w, size_t bytes) {
    int bb = type == LM_TYPE_Q6_K   ? 210
             : type == LM_TYPE_Q5_K ? 176
             : type == LM_TYPE_Q4_K ? 144
                                    : 0;
    if (!bb) return true;
    /* Q4_K/Q5_K blocks are read with 16-byte loads: their start is too */
    if (bytes % bb || ((uintptr_t)w & (bb == 210 ? 1 : 15))) return false;
    int64_t n = (int64_t)(bytes / bb);
    if (n == 0) return true;
    unsigned grid = (unsigned)((n + 127) / 128);
    uint8_t *p = (uint8_t *)w;
    if (bb == 210)
        q6k_layout_kernel<<<grid, 128, 0, st>>>(p, n);
    else if (bb == 176)
        k_layout_kernel<176><<<grid, 128, 0, st>>>(p, n);
    else
        k_layout_kernel<144><<<grid, 128, 0, st>>>(p, n);
    return cudaGetLastError() == cudaSuccess;
}
