/* qgemm_rs_test.cu — standalone measurement of a prompt GEMM that reads Q4_K
 * blocks itself (no dequantised half copy in VRAM): Y[N x M] = X[N x K] *
 * W[M x K]^T on Hopper's warpgroup tensor cores, the weights dequantised in
 * registers and fed as wgmma's A operand (RS form), the activations read from
 * shared memory. Warpgroup 0 produces: one thread stages weight super-blocks
 * and activation chunks by TMA into mbarrier-guarded rings, three warps decode
 * each staged super-block's scales once into a half2 (s, -m) table. Two
 * consumer warpgroups own 64 weight rows each and build chunk c + 1's A
 * fragments (3 half2 instructions a pair of weights) while chunk c's products
 * run.
 *
 * Pass 7 (NOTES-cuda.md) dequantised into swizzled shared memory and ran SS
 * products (0.57 of the tensor peak at best); here the dequantised tile never
 * exists anywhere. Pass 17 has the figures: 0.54-0.56 on the 8B's gate|up,
 * 0.61 on down with split-K 2, against cuBLAS's 0.71 on half weights that
 * must be made first; the engine integration (gate|up with SwiGLU as the
 * epilogue) is on branch wip/qglu.
 *
 * Weights are in the layout k_layout.cu gives Q4_K at upload (unit j of a
 * super-block: 16 bytes at 16 + 16 j, byte i = element i | element i + 16 << 4).
 * Checked against the same weights dequantised to half and cuBLAS (relative
 * error ~3.6e-4: the weights are made in half arithmetic).
 *
 *   nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Isrc \
 *        tools/qgemm_rs_test.cu -lcublas -lcuda
 *   ./a.out [mMODE] [kSPLIT] [tSPLIT] [pPERSIST] [M K N]...
 * default shapes: the 8B's gate|up, down, wq|wk, wo at N = 512. MODE 1 waits
 * for each chunk's products before building the next, 2 leaves out the
 * dequantisation (constant A), 3 leaves out the products; SPLIT > 1 splits K
 * over that many blocks, adding into Y; tSPLIT does so only for the tiles of
 * the last, partial wave (a second launch); p1 runs one block an SM that
 * takes the tiles of whole waves and then shares the rest by super-blocks
 * (stream-K, partial tiles added into Y). */
#include "backend/cuda/kq_frag.cuh"
#include "backend/cuda/quant.cuh"
#include "backend/cuda/tma.cuh"
#include "backend/cuda/wgmma.cuh"
#include <cublas_v2.h>
#include <cuda.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

using namespace lmc;

#include "cuda_check.h"

namespace {

constexpr int QK = 256, QB = 144; /* Q4_K super-block: elements, bytes */
constexpr int BM = 128;           /* weight rows a block (two consumer warpgroups) */
constexpr int KC = 64;            /* k of one activation stage (one 128-byte swizzle row) */

template <int NT> struct cfg {
#ifndef QG_WST
#define QG_WST 4
#define QG_XST128 8
#define QG_XST256 4
#endif
    static constexpr int XST = NT == 256 ? QG_XST256 : QG_XST128; /* activation stages */
    static constexpr int WST = QG_WST;                            /* weight stages (super-blocks) */
    static constexpr int XBYTES = NT * 128, WBYTES = BM * QB;
    static constexpr int TBYTES = BM * 8 * 4; /* a stage's scales: half2 (s, -m) a sub-block */
    static constexpr int SMEM = XST * XBYTES + WST * (WBYTES + TBYTES) + 1024 + 256;
};

/* The work of one block as segments: tile (row block rb, token tile ty) and
 * its super-blocks [sb0, sb1) of K, `whole` when the segment is the whole
 * tile (its sums stored; otherwise added into y, which starts at zero).
 * persist == 0: one segment from the block's coordinates (x: row block from
 * rb0, y: token tile, z: split of K). persist == 1: a grid of one block an
 * SM walks the tiles that fill whole waves (tile t: rb = t / nty, ty = t %
 * nty, so the blocks that read one row block's weights run together), then
 * all blocks share the rest evenly by super-blocks (stream-K). */
template <class F>
__device__ __forceinline__ void for_segs(int T, int nty, int nsb, int rb0, int persist, F &&f) {
    if (!persist) {
        const int per = nsb / (int)gridDim.z, sb0 = (int)blockIdx.z * per;
        f((int)blockIdx.x + rb0, (int)blockIdx.y, sb0, sb0 + per, gridDim.z == 1);
        return;
    }
    const int G = (int)gridDim.x, b = (int)blockIdx.x, full = T / G * G;
    for (int t = b; t < full; t += G)
        f(t / nty, t % nty, 0, nsb, true);
    const long long R = (long long)(T - full) * nsb, i1 = R * (b + 1) / G;
    for (long long i = R * b / G; i < i1;) {
        const int t = full + (int)(i / nsb), s0 = (int)(i % nsb);
        const int s1 = (int)min((long long)nsb, s0 + (i1 - i));
        f(t / nty, t % nty, s0, s1, s0 == 0 && s1 == nsb);
        i += s1 - s0;
    }
}

template <int NT, int SER>
__global__ void __launch_bounds__(384, 1)
    qgemm_rs(const __grid_constant__ CUtensorMap tw, const __grid_constant__ CUtensorMap tx,
             float *y, int ldy, int M, int N, int K, int rb0, int persist) {
    using C = cfg<NT>;
    extern __shared__ uint8_t smem_raw[];
    uint8_t *sm = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    uint8_t *xs = sm, *wsm = sm + C::XST * C::XBYTES;
    uint32_t *tab = (uint32_t *)(wsm + C::WST * C::WBYTES);
    uint64_t *bar = (uint64_t *)((uint8_t *)tab + C::WST * C::TBYTES);
    uint64_t *xfull = bar, *xempty = bar + C::XST, *wfull = bar + 2 * C::XST,
             *wempty = bar + 2 * C::XST + C::WST, *sready = bar + 2 * C::XST + 2 * C::WST;
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const int nty = (N + NT - 1) / NT, T = M / BM * nty, nsb = K / QK;
    /* Ring positions count over all of the block's segments: gc chunks and
     * gs super-blocks staged before the current segment. */
    int gc = 0, gs = 0;
    if (threadIdx.x == 0) {
        for (int i = 0; i < C::XST; i++)
            mb_init(&xfull[i], 1), mb_init(&xempty[i], 8);
        for (int i = 0; i < C::WST; i++)
            mb_init(&wfull[i], 1), mb_init(&wempty[i], 8), mb_init(&sready[i], 3);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (wg == 0) {
        if (NT == 256) asm volatile("setmaxnreg.dec.sync.aligned.u32 56;");
        if (tid >= 32) { /* warps 1-3: each weight stage's scales, decoded once */
            for_segs(T, nty, nsb, rb0, persist, [&](int, int, int sb0, int sb1, bool) {
                for (int sb = sb0; sb < sb1; sb++, gs++) {
                    const int s = gs % C::WST;
                    mb_wait(&wfull[s], (gs / C::WST) & 1);
                    stage_scales(wsm + s * C::WBYTES, tab + s * BM * 8, BM, tid - 32, 96);
                    __syncwarp();
                    if ((tid & 31) == 0) mb_arrive(&sready[s]);
                }
            });
            return;
        }
        if (tid != 0) return;
        for_segs(T, nty, nsb, rb0, persist, [&](int rb, int ty, int sb0, int sb1, bool) {
            const int nc = 4 * (sb1 - sb0);
            for (int c = 0; c < nc; c++) {
                if ((c & 3) == 0) {
                    const int g = gs + c / 4, s = g % C::WST;
                    mb_wait(&wempty[s], ((g / C::WST) & 1) ^ 1);
                    mb_expect(&wfull[s], C::WBYTES);
                    tma_2d(wsm + s * C::WBYTES, &tw, (sb0 + c / 4) * QB, rb * BM, &wfull[s]);
                }
                const int g = gc + c, s = g % C::XST;
                mb_wait(&xempty[s], ((g / C::XST) & 1) ^ 1);
                mb_expect(&xfull[s], C::XBYTES);
                tma_2d(xs + s * C::XBYTES, &tx, (4 * sb0 + c) * KC, ty * NT, &xfull[s]);
            }
            gc += nc, gs += nc / 4;
        });
        return;
    }
    if (NT == 256) asm volatile("setmaxnreg.inc.sync.aligned.u32 224;");
    const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int ra = 64 * (wg - 1) + 16 * warp + g;
    float acc[NT / 2];
    /* c counts the chunks of the current segment (rs_chunks) */
    auto issue = [&](int c, uint32_t(&ac)[4][4]) {
        const int s = (gc + c) % C::XST;
        mb_wait(&xfull[s], ((gc + c) / C::XST) & 1);
        wg_fence_acc(acc);
        wg_fence();
        const uint8_t *xb = xs + s * C::XBYTES;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const uint64_t d = wg_desc(xb + k * 32, 16, 1024);
            if constexpr (SER == 3)
                asm volatile("" ::"l"(d), "r"(ac[k][0]), "r"(ac[k][1]), "r"(ac[k][2]),
                             "r"(ac[k][3]));
            else if constexpr (NT == 256)
                wg_rs_n256(acc, ac[k], d);
            else
                wg_rs_n128<0>(acc, ac[k], d);
        }
        wg_commit();
        if (SER == 1) wg_wait<0>();
    };
    auto release = [&](int c) {
        if (lane == 0) {
            mb_arrive(&xempty[(gc + c) % C::XST]);
            if ((c & 3) == 3) mb_arrive(&wempty[(gs + (c >> 2)) % C::WST]);
        }
    };
    auto build = [&](int c, uint32_t(&an)[4][4]) {
        const int sb = gs + (c >> 2), s = sb % C::WST;
        if ((c & 3) == 0) mb_wait(&sready[s], (sb / C::WST) & 1);
        if constexpr (SER == 2) {
#pragma unroll
            for (int k = 0; k < 4; k++)
#pragma unroll
                for (int i = 0; i < 4; i++)
                    an[k][i] = 0x3c003c00u ^ (uint32_t)(c & 1);
        } else
            build_a(wsm + s * C::WBYTES, tab + s * BM * 8, ra, c, t, an);
    };
    for_segs(T, nty, nsb, rb0, persist, [&](int rb, int ty, int sb0, int sb1, bool whole) {
        const int nc = 4 * (sb1 - sb0), row0 = rb * BM, tok0 = ty * NT;
#pragma unroll
        for (int i = 0; i < NT / 2; i++)
            acc[i] = 0.0f;
        rs_chunks(nc, acc, issue, build, release);
        gc += nc, gs += nc / 4;
        /* acc[4 j + e]: row ra (+ 8 for e >= 2), token 8 j + 2 t + (e & 1) */
#pragma unroll
        for (int j = 0; j < NT / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int tok = tok0 + 8 * j + 2 * t + (e & 1);
                const int row = row0 + ra + 8 * (e >> 1);
                if (tok < N && row < M) {
                    if (!whole)
                        atomicAdd(&y[(size_t)tok * ldy + row], acc[4 * j + e]);
                    else
                        y[(size_t)tok * ldy + row] = acc[4 * j + e];
                }
            }
    });
}

/* Reference dequantiser: one thread per 32-element unit. */
__global__ void dequant_ref(const uint8_t *w, int M, int K, __half *o) {
    size_t u = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t units = (size_t)M * (K / 32);
    if (u >= units) return;
    const int row = (int)(u / (K / 32)), ju = (int)(u % (K / 32));
    const uint8_t *b = w + (size_t)row * (K / QK) * QB + (size_t)(ju / 8) * QB;
    const int j = ju % 8;
    float2 sm = k_scales_of(*(const uint4 *)b, j);
    for (int i = 0; i < 16; i++) {
        int v = b[16 + 16 * j + i];
        o[(size_t)row * K + 32 * ju + i] = __float2half(sm.x * (float)(v & 15) - sm.y);
        o[(size_t)row * K + 32 * ju + 16 + i] = __float2half(sm.x * (float)(v >> 4) - sm.y);
    }
}

CUtensorMap map_2d(void *base, CUtensorMapDataType ty, int esz, uint64_t inner, uint64_t outer,
                   uint32_t box_in, uint32_t box_out, CUtensorMapSwizzle sw) {
    CUtensorMap m;
    cuuint64_t dims[2] = {inner, outer}, strides[1] = {inner * esz};
    cuuint32_t box[2] = {box_in, box_out}, es[2] = {1, 1};
    CUresult r = cuTensorMapEncodeTiled(
        &m, ty, 2, base, dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE, sw,
        CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        fprintf(stderr, "tensor map: %d\n", (int)r);
        exit(1);
    }
    return m;
}

int g_mode = 0, g_split = 1, g_tail = 0, g_persist = 0;
template <int NT, int MODE>
void launch(dim3 grid, int rb0, const CUtensorMap &tw, const CUtensorMap &tx, float *y, int M,
            int N, int K) {
    qgemm_rs<NT, MODE><<<grid, 384, cfg<NT>::SMEM>>>(tw, tx, y, M, M, N, K, rb0, g_persist);
}
/* Row blocks [rb0, rb1) with K split in `split`. */
template <int NT>
void run_part(int rb0, int rb1, int split, const CUtensorMap &tw, const CUtensorMap &tx, float *y,
              int M, int N, int K) {
    dim3 grid(rb1 - rb0, (N + NT - 1) / NT, split);
    if (g_persist) {
        int dev = 0, sms = 132;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        grid = dim3(sms, 1, 1);
    }
    if (g_mode == 1)
        launch<NT, 1>(grid, rb0, tw, tx, y, M, N, K);
    else if (g_mode == 2)
        launch<NT, 2>(grid, rb0, tw, tx, y, M, N, K);
    else if (g_mode == 3)
        launch<NT, 3>(grid, rb0, tw, tx, y, M, N, K);
    else
        launch<NT, 0>(grid, rb0, tw, tx, y, M, N, K);
}
/* With g_tail = S: the tiles that fill whole waves of the SMs as they are,
 * the rest (the last, partial wave) with K split in S. */
template <int NT>
void run_ours(const CUtensorMap &tw, const CUtensorMap &tx, float *y, int M, int N, int K) {
    const int nrb = M / BM;
    if (!g_tail || g_persist) return run_part<NT>(0, nrb, g_split, tw, tx, y, M, N, K);
    int dev = 0, sms = 132;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    const int ty = (N + NT - 1) / NT, full = nrb * ty / sms * sms, rb1 = full / ty;
    if (rb1 > 0) run_part<NT>(0, rb1, 1, tw, tx, y, M, N, K);
    if (rb1 < nrb) run_part<NT>(rb1, nrb, g_tail, tw, tx, y, M, N, K);
}

/* Every mode's kernel for NT may use cfg<NT>::SMEM bytes of shared memory. */
template <int NT> void allow_smem() {
    const void *k[4] = {(const void *)qgemm_rs<NT, 0>, (const void *)qgemm_rs<NT, 1>,
                        (const void *)qgemm_rs<NT, 2>, (const void *)qgemm_rs<NT, 3>};
    for (const void *f : k)
        CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, cfg<NT>::SMEM));
}

void shape(cublasHandle_t h, int M, int K, int N) {
    for (int sp : {g_split, g_tail > 0 ? g_tail : 1})
        if (M % BM || K % QK || (K / KC) % (4 * sp)) {
            printf("M %d K %d: rows must be whole blocks of %d and K whole super-blocks per split "
                   "(%d)\n",
                   M, K, BM, sp);
            return;
        }
    const size_t wbytes = (size_t)M * (K / QK) * QB;
    std::vector<uint8_t> hw(wbytes);
    srand(1234 + M + K);
    for (size_t b = 0; b < wbytes; b += QB) {
        __half d = __float2half(0.002f + 0.001f * (rand() % 100) / 100.0f);
        __half dm = __float2half(0.004f * (rand() % 100) / 100.0f);
        memcpy(&hw[b], &d, 2), memcpy(&hw[b + 2], &dm, 2);
        for (int i = 4; i < QB; i++)
            hw[b + i] = (uint8_t)rand();
    }
    std::vector<__half> hx((size_t)N * K);
    for (auto &v : hx)
        v = __float2half((rand() % 2001 - 1000) / 1000.0f);
    uint8_t *w;
    __half *x, *wh;
    float *y, *yr;
    CK(cudaMalloc(&w, wbytes));
    CK(cudaMalloc(&x, hx.size() * 2));
    CK(cudaMalloc(&wh, (size_t)M * K * 2));
    CK(cudaMalloc(&y, (size_t)N * M * 4));
    CK(cudaMalloc(&yr, (size_t)N * M * 4));
    CK(cudaMemcpy(w, hw.data(), wbytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
    const size_t units = (size_t)M * (K / 32);
    auto deq = [&] { dequant_ref<<<(unsigned)((units + 255) / 256), 256>>>(w, M, K, wh); };
    const float one = 1.0f, zero = 0.0f;
    auto blas = [&] {
        cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, &one, wh, CUDA_R_16F, K, x, CUDA_R_16F,
                     K, &zero, yr, CUDA_R_32F, M, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    CUtensorMap tw = map_2d(w, CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, (uint64_t)(K / QK) * QB, M, QB, BM,
                            CU_TENSOR_MAP_SWIZZLE_NONE);
    CUtensorMap tx128 =
        map_2d(x, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, K, N, KC, 128, CU_TENSOR_MAP_SWIZZLE_128B);
    CUtensorMap tx256 =
        map_2d(x, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, K, N, KC, 256, CU_TENSOR_MAP_SWIZZLE_128B);
    allow_smem<128>();
    allow_smem<256>();
    deq();
    blas();
    CK(cudaDeviceSynchronize());
    std::vector<float> ref((size_t)N * M), got((size_t)N * M);
    CK(cudaMemcpy(ref.data(), yr, ref.size() * 4, cudaMemcpyDeviceToHost));
    { /* a few outputs in double on the host, from the blocks themselves */
        double worst = 0, refmag = 0;
        int bad = 0;
        for (size_t i = 0; i < ref.size(); i++)
            if (!isfinite(ref[i])) bad++;
        for (int probe = 0; probe < 64; probe++) {
            int tok = (probe * 37) % N, row = (probe * 1237) % M;
            double acc = 0;
            for (int k = 0; k < K; k++) {
                const uint8_t *b = &hw[(size_t)row * (K / QK) * QB + (size_t)(k / QK) * QB];
                int j = (k % QK) / 32, l = k % 32;
                uint8_t sc12[12];
                memcpy(sc12, b + 4, 12);
                int sc, mn;
                if (j < 4)
                    sc = sc12[j] & 63, mn = sc12[j + 4] & 63;
                else
                    sc = (sc12[j + 4] & 15) | ((sc12[j - 4] >> 6) << 4),
                    mn = (sc12[j + 4] >> 4) | ((sc12[j] >> 6) << 4);
                __half hd, hm;
                memcpy(&hd, b, 2), memcpy(&hm, b + 2, 2);
                int v = b[16 + 16 * j + (l & 15)];
                int q = l < 16 ? (v & 15) : (v >> 4);
                double wv = (double)__half2float(hd) * sc * q - (double)__half2float(hm) * mn;
                acc += wv * (double)__half2float(hx[(size_t)tok * K + k]);
            }
            double r = ref[(size_t)tok * M + row];
            worst = fmax(worst, fabs(r - acc)), refmag = fmax(refmag, fabs(acc));
        }
        printf("   host check of cuBLAS: max |diff| %.3e of max |y| %.3e over 64 outputs, %d "
               "non-finite\n",
               worst, refmag, bad);
    }
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const double flop = 2.0 * M * N * K;
    auto timeit = [&](auto fn) {
        for (int i = 0; i < 3; i++)
            fn();
        CK(cudaEventRecord(e0));
        const int R = 20;
        for (int i = 0; i < R; i++)
            fn();
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        return ms / R;
    };
    float t_blas = timeit(blas), t_deq = timeit(deq);
    printf("M %5d K %5d N %4d: cuBLAS on half weights %.1f us (%.2f of 989 TF), dequant %.1f us, "
           "both %.2f\n",
           M, K, N, t_blas * 1e3, flop / (t_blas * 1e-3) / 989e12, t_deq * 1e3,
           flop / ((t_blas + t_deq) * 1e-3) / 989e12);
    for (int nt : {128, 256}) {
        CK(cudaMemset(y, 0, (size_t)N * M * 4));
        auto ours = [&] {
            if (nt == 128)
                run_ours<128>(tw, tx128, y, M, N, K);
            else
                run_ours<256>(tw, tx256, y, M, N, K);
        };
        ours();
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(got.data(), y, got.size() * 4, cudaMemcpyDeviceToHost));
        double num = 0, den = 0, mx = 0;
        for (size_t i = 0; i < got.size(); i++) {
            double d = (double)got[i] - ref[i];
            num += d * d, den += (double)ref[i] * ref[i];
            if (fabs(d) > mx) mx = fabs(d);
        }
        int nf = 0, hist_wg[2] = {}, hist_w[4] = {}, hist_b[2] = {}, hist_g[8] = {}, hist_t[4] = {};
        long first = -1, nbad = 0;
        for (size_t i = 0; i < got.size(); i++) {
            if (!isfinite(got[i])) nf++;
            if (!(fabs(got[i] - ref[i]) <= 1e-3 * fabs(ref[i]) + 1e-3)) {
                int tok = (int)(i / M), row = (int)(i % M);
                nbad++;
                if (first < 0) first = (long)i;
                hist_wg[(row % 128) / 64]++, hist_w[(row % 64) / 16]++, hist_b[(tok % nt) / 128]++;
                hist_g[row % 8]++, hist_t[(tok % 8) / 2]++;
            }
        }
        if (nbad)
            printf("   bad %ld (first tok %ld row %ld): wg %d %d, warp %d %d %d %d, b %d %d, g %d "
                   "%d %d %d %d %d %d %d, t %d %d %d %d\n",
                   nbad, first / M, first % M, hist_wg[0], hist_wg[1], hist_w[0], hist_w[1],
                   hist_w[2], hist_w[3], hist_b[0], hist_b[1], hist_g[0], hist_g[1], hist_g[2],
                   hist_g[3], hist_g[4], hist_g[5], hist_g[6], hist_g[7], hist_t[0], hist_t[1],
                   hist_t[2], hist_t[3]);
        printf("   ours NT %d: y[0..3] %g %g %g %g ref %g %g %g %g, %d non-finite\n", nt, got[0],
               got[1], got[2], got[3], ref[0], ref[1], ref[2], ref[3], nf);
        float t = timeit(ours);
        printf("   ours NT %d: %.1f us (%.2f of 989 TF), rel err %.2e, max abs err %.2e\n", nt,
               t * 1e3, flop / (t * 1e-3) / 989e12, sqrt(num / (den + 1e-30)), mx);
    }
    cudaFree(w), cudaFree(x), cudaFree(wh), cudaFree(y), cudaFree(yr);
}

} // namespace

int main(int argc, char **argv) {
    cublasHandle_t h;
    cublasCreate(&h);
    std::vector<int> s;
    int i0 = 1;
    for (; i0 < argc && strchr("mktp", argv[i0][0]); i0++)
        (argv[i0][0] == 'm'   ? g_mode
         : argv[i0][0] == 'k' ? g_split
         : argv[i0][0] == 't' ? g_tail
                              : g_persist) = atoi(argv[i0] + 1);
    for (int i = i0; i < argc; i++)
        s.push_back(atoi(argv[i]));
    if (s.empty()) s = {28672, 4096, 512, 4096, 14336, 512, 5120, 4096, 512, 4096, 4096, 512};
    for (size_t i = 0; i + 2 < s.size(); i += 3)
        shape(h, s[i], s[i + 1], s[i + 2]);
    return 0;
}
