/* k_qgemm.cu — a prompt's products straight from K-quant blocks, on Hopper's
 * warpgroup tensor cores: gate|up and SwiGLU in one kernel (Q4_K: out[t][i]
 * = silu(gate_i . x_t) * (up_i . x_t) in half), and a plain product added
 * into the float residual (Q4_K or Q6_K: y[t][i] += w_i . x_t, for down).
 *
 * The cuBLAS path first writes every weight out in half (a dequantisation
 * pass at the copy rate: on an 8B, 102 of the ~195 us a layer that a 512-
 * token prompt spends dequantising are gate and up, 55 down, most of it not
 * hidden behind the GEMMs), then multiplies (then runs SwiGLU over the
 * product). Here the half weights never exist in memory: each consumer thread
 * turns the quants of its own wgmma A fragment into halves in registers (RS
 * products, kq_frag.cuh), so the weights cross shared memory as their 4.5 or
 * 6.5 bits, and SwiGLU or the residual add is the epilogue.
 *
 * A tile is 128 weight rows (for gate|up: 64 features, their 64 gate rows
 * and 64 up rows of the fused wgu matrix) of 256 tokens; a persistent grid of
 * at most one block a multiprocessor walks the tiles (qglu_units: whole waves
 * first, the leftover tiles split along K in two halves; tight_grid). Warpgroup 0 is the
 * producer: one thread stages, by TMA, a super-block (256 k) of the 128 rows
 * into a ring of 4 (Q6_K: 3) and the tokens' activations (64 k of 256
 * tokens, 128-byte swizzle) into a ring of 4, on mbarriers, running ahead
 * into the block's next tile; for Q4_K its other three warps decode each
 * staged super-block's scales once into a table of half2 (s, -m) (Q6_K's
 * int8 scales are read as they are). Warpgroups 1 and 2 multiply 64 rows
 * each (m64n256k16, A from registers; for gate|up, gate and up rows
 * interleaved by 8 so one thread holds both sums of a feature) and build
 * chunk c + 1's fragments while chunk c's products run.
 *
 * Measured first as tools/qgemm_rs_test.cu (H100, 28672 x 4096 x 512: 0.56 of
 * the tensor peak a tile a block, 0.63 with the persistent schedule, against
 * cuBLAS's 0.73 on half weights that must first be made); here, at 512
 * tokens, gate|up + SwiGLU runs at 0.65 and down (Q6_K) at 0.60
 * (bench_cuda_kernels prompt; bench/NOTES-cuda.md, passes 17, 19 and 20).
 * Needs code built for sm_90a and the driver's tensor-map encoder
 * (lmc_qglu_ready()). */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/env_switch.h"
#include "backend/cuda/kq_frag.cuh"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/tma.cuh"
#include "backend/cuda/wgmma.cuh"
#include "format/ggml_types.h"
#include <cuda.h>
#include <cuda_fp16.h>
#include <stdlib.h>

using namespace lmc;

namespace {

constexpr int QK = 256;             /* K-quant super-block: elements */
constexpr int ROWS = 128;           /* weight rows a tile (gate|up: 64 features) */
constexpr int NT = 256;             /* tokens a tile */
constexpr int KC = 64;              /* k of an activation stage (one 128-byte row) */
constexpr int XST = 4;              /* activation stages */
constexpr int XBYTES = NT * KC * 2; /* 32 KB */
constexpr int MAXSLOT = 128;        /* leftover tiles a launch may split (grids of up to 256) */

/* The weight stage of a type: bytes a row (Q6_K: the 224-byte window of
 * kq_frag.cuh), stages in the ring, and the Q4_K scale table's bytes. */
template <bool Q6> struct wstage {
    static constexpr int pitch = Q6 ? 224 : 144, n = Q6 ? 3 : 4;
    static constexpr int bytes = ROWS * pitch, tab = Q6 ? 0 : ROWS * 8 * 4;
    static constexpr size_t smem = (size_t)XST * XBYTES + (size_t)n * (bytes + tab) + 256 + 1024;
};

/* a / (1 + e^-a) with the fast reciprocal: a full division here cost the
 * epilogue more than its exponentials (the output is half; where e^-a is
 * infinite the reciprocal is 0 and so is the result) */
__device__ __forceinline__ float silu(float a) {
    return a * __fdividef(1.0f, 1.0f + __expf(-a));
}

__device__ __forceinline__ void named_sync(int id, int n) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(n) : "memory");
}

/* The work of a launch is tiles: tile t is a block of 128 weight rows (row
 * block rb = t / nty) of one 256-token tile (ty = t % nty), so the two blocks
 * that read a row block's weights run side by side. Each block of a
 * persistent grid of G takes tiles b, b + G, ... while they fill whole waves
 * ("full" tiles); the R left over would make a last wave that is mostly idle,
 * so when 2R <= G each is split along K into two halves for two blocks
 * (units), and the half that finishes second adds the first one's sums, left
 * in the workspace, before the epilogue. Two halves added in either order
 * give the same floats, so results do not depend on timing. */
struct qglu_sched {
    int nty, nsb, full, split, units; /* units: of the leftover tiles */
};

__host__ __device__ inline qglu_sched qglu_plan(int n_rb, int n_tok, int n_in, int G) {
    qglu_sched p;
    p.nty = (n_tok + NT - 1) / NT, p.nsb = n_in / QK;
    const int T = n_rb * p.nty;
    p.full = T / G * G;
    const int R = T - p.full;
    p.split = R > 0 && 2 * R <= G && p.nsb % 2 == 0 ? 2 : 1;
    p.units = R * p.split;
    return p;
}

/* The row blocks of a product of n_out outputs a token (gate|up: a block is
 * 64 features, their 64 gate and 64 up rows). */
template <bool GLU> __host__ __device__ constexpr int row_blocks(int n_out) {
    return GLU ? n_out / (ROWS / 2) : n_out / ROWS;
}

/* f(rb, ty, sb0, sb1, slot): slot -1 for a whole tile, else the leftover
 * tile's workspace slot. */
template <class F> __device__ __forceinline__ void qglu_units(const qglu_sched &p, F &&f) {
    const int G = (int)gridDim.x, b = (int)blockIdx.x;
    for (int t = b; t < p.full; t += G)
        f(t / p.nty, t % p.nty, 0, p.nsb, -1);
    if (b < p.units) {
        const int r = b / p.split, t = p.full + r, h = b % p.split, len = p.nsb / p.split;
        f(t / p.nty, t % p.nty, h * len, (h + 1) * len, p.split > 1 ? r : -1);
    }
}

/* Grid: min(G, full tiles or units); tw: the weight matrix's bytes, a box
 * being one super-block of 128 rows (144 bytes a row; Q6_K 224 from the
 * block's start rounded down to 16); tx: the half activations (n_tok x n_in,
 * box 64 x 256, 128-byte swizzle). GLU: the wgu matrix (n_out gate rows, then
 * n_out up rows), out half (n_tok x n_out); its map has 4 dimensions so that
 * each group of 16 stage rows is 8 gate rows and then the same 8 up rows,
 * and the thread whose wgmma fragment holds gate row i (fragment row g) also
 * holds up row i (g + 8) and applies SwiGLU to its own sums. Otherwise n_out
 * rows, out float (row stride ldy), added to. work: a ticket and a flag for
 * each of MAXSLOT leftover tiles (zero between launches), then each one's
 * first half's sums (128 floats a consumer thread). */
template <bool Q6, bool GLU>
__global__ void __launch_bounds__(384, 1)
    qgemm_kernel(const __grid_constant__ CUtensorMap tw, const __grid_constant__ CUtensorMap tx,
                 void *__restrict__ out, int n_out, int n_tok, int n_in, int ldy,
                 float *__restrict__ work, int G) {
    /* (built for other targets the wgmma, TMA and barrier wrappers are
     * empty; the launcher runs this only where sm_90a code is loaded) */
    using W = wstage<Q6>;
    constexpr int WST = W::n, WBYTES = W::bytes, TBYTES = W::tab;
    extern __shared__ uint8_t qglu_smem_raw[];
    uint8_t *sm = (uint8_t *)(((uintptr_t)qglu_smem_raw + 1023) & ~(uintptr_t)1023);
    uint8_t *xs = sm, *wsm = sm + XST * XBYTES;
    uint32_t *tab = (uint32_t *)(wsm + WST * WBYTES);
    uint64_t *bar = (uint64_t *)((uint8_t *)tab + WST * TBYTES);
    uint64_t *xfull = bar, *xempty = bar + XST, *wfull = bar + 2 * XST,
             *wempty = bar + 2 * XST + WST, *sready = bar + 2 * XST + 2 * WST;
    int *ticket = (int *)(bar + 2 * XST + 3 * WST);
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const qglu_sched p = qglu_plan(row_blocks<GLU>(n_out), n_tok, n_in, G);
    /* ring positions count over all the block's units: gc chunks and gs
     * super-blocks staged before the current unit */
    int gc = 0, gs = 0;
    pdl_wait();
    if (threadIdx.x == 0) {
        for (int i = 0; i < XST; i++)
            mb_init(&xfull[i], 1), mb_init(&xempty[i], 8);
        for (int i = 0; i < WST; i++)
            mb_init(&wfull[i], 1), mb_init(&wempty[i], 8), mb_init(&sready[i], 3);
        mb_init_fence();
    }
    __syncthreads();
    if (wg == 0) {
        regs_dec<56>();
        if (tid >= 32) { /* warps 1-3: each staged Q4_K super-block's scales, once */
            if constexpr (!Q6) {
                qglu_units(p, [&](int, int, int sb0, int sb1, int) {
                    for (int sb = sb0; sb < sb1; sb++, gs++) {
                        const int s = gs % WST;
                        mb_wait(&wfull[s], (gs / WST) & 1);
                        stage_scales(wsm + s * WBYTES, tab + s * ROWS * 8, ROWS, tid - 32, 96);
                        __syncwarp();
                        if ((tid & 31) == 0) mb_arrive(&sready[s]);
                    }
                });
            }
            return;
        }
        if (tid != 0) return;
        qglu_units(p, [&](int rb, int ty, int sb0, int sb1, int) {
            const int nc = 4 * (sb1 - sb0);
            for (int c = 0; c < nc; c++) {
                if ((c & 3) == 0) {
                    const int g = gs + c / 4, s = g % WST, sb = sb0 + c / 4;
                    const int kx = Q6 ? 210 * sb - q6_b0(sb) : 144 * sb;
                    mb_wait(&wempty[s], ((g / WST) & 1) ^ 1);
                    mb_expect(&wfull[s], WBYTES);
                    if constexpr (GLU) {
                        tma_4d(wsm + s * WBYTES, &tw, kx, 0, 0, 8 * rb, &wfull[s]);
                    } else {
                        tma_2d(wsm + s * WBYTES, &tw, kx, rb * ROWS, &wfull[s]);
                    }
                }
                const int g = gc + c, s = g % XST;
                mb_wait(&xempty[s], ((g / XST) & 1) ^ 1);
                mb_expect(&xfull[s], XBYTES);
                tma_2d(xs + s * XBYTES, &tx, (4 * sb0 + c) * KC, ty * NT, &xfull[s]);
            }
            gc += nc, gs += nc / 4;
        });
        return;
    }
    regs_inc<224>();
    const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int w8 = 4 * (wg - 1) + warp; /* 16-row group of the stage */
    const int ra = 16 * w8 + g;         /* this thread's rows of the stage: ra, ra + 8 */
    float acc[NT / 2];
    int usb = 0; /* the current unit's first super-block */
    /* c counts the chunks of the current unit (rs_chunks) */
    auto build = [&](int c, uint32_t(&an)[4][4]) {
        const int sb = gs + (c >> 2), s = sb % WST;
        if constexpr (Q6) {
            if ((c & 3) == 0) mb_wait(&wfull[s], (sb / WST) & 1);
            build_a_q6(wsm + s * WBYTES, q6_b0(usb + (c >> 2)), ra, c, t, an);
        } else {
            if ((c & 3) == 0) mb_wait(&sready[s], (sb / WST) & 1);
            build_a(wsm + s * WBYTES, tab + s * ROWS * 8, ra, c, t, an);
        }
    };
    auto release = [&](int c) {
        if (lane == 0) {
            mb_arrive(&xempty[(gc + c) % XST]);
            if ((c & 3) == 3) mb_arrive(&wempty[(gs + (c >> 2)) % WST]);
        }
    };
    qglu_units(p, [&](int rb, int ty, int sb0, int sb1, int slot) {
        const int nc = 4 * (sb1 - sb0);
        usb = sb0;
#pragma unroll
        for (int i = 0; i < NT / 2; i++)
            acc[i] = 0.0f;
        rs_chunks(
            nc, acc,
            [&](int c, uint32_t(&ac)[4][4]) {
                const int s = (gc + c) % XST;
                mb_wait(&xfull[s], ((gc + c) / XST) & 1);
                wg_fence_acc(acc);
                wg_fence();
#pragma unroll
                for (int k = 0; k < 4; k++)
                    wg_rs_n256(acc, ac[k], wg_desc(xs + s * XBYTES + k * 32, 16, 1024));
                wg_commit();
            },
            build, release);
        gc += nc, gs += nc / 4;
        if (slot >= 0) { /* half of a leftover tile: the second one to finish adds */
            int *cnt = (int *)work + 2 * slot;
            float *pw = work + 2 * MAXSLOT + (size_t)slot * (NT / 2) * 256 + (threadIdx.x - 128);
            named_sync(1, 256);
            if (threadIdx.x == 128) *ticket = atomicAdd(cnt, 1);
            named_sync(1, 256);
            if (*ticket == 0) {
#pragma unroll
                for (int i = 0; i < NT / 2; i++)
                    __stcg(pw + i * 256, acc[i]);
                __threadfence();
                named_sync(1, 256);
                if (threadIdx.x == 128) atomicExch(cnt + 1, 1);
                return;
            }
            if (threadIdx.x == 128) {
                while (atomicAdd(cnt + 1, 0) == 0)
                    ;
                __threadfence();
                cnt[0] = 0, cnt[1] = 0; /* ready for the next launch */
            }
            named_sync(1, 256);
#pragma unroll
            for (int i = 0; i < NT / 2; i++)
                acc[i] += __ldcg(pw + i * 256);
        }
        /* acc[4 j + e]: stage row ra (e < 2) or ra + 8 (e >= 2), token 8 j +
         * 2 t + (e & 1) */
        if constexpr (GLU) {
            /* gate and up of feature 8 w8 + g; lanes g and g ^ 1 swap halves
             * so that each stores two neighbouring features of one token */
            __half *o = (__half *)out;
            const int f0 = rb * 64 + 8 * w8 + (g & ~1), odd = g & 1;
#pragma unroll
            for (int j = 0; j < NT / 8; j++) {
                const float h0 = silu(acc[4 * j]) * acc[4 * j + 2];
                const float h1 = silu(acc[4 * j + 1]) * acc[4 * j + 3];
                const float v = __shfl_xor_sync(0xffffffffu, odd ? h0 : h1, 4);
                const int tok = ty * NT + 8 * j + 2 * t + odd;
                if (tok < n_tok)
                    *(__half2 *)(o + (size_t)tok * n_out + f0) =
                        odd ? __floats2half2_rn(v, h1) : __floats2half2_rn(h0, v);
            }
        } else {
            /* 16 loads before their stores: interleaved, each store could
             * alias the next load, and the compiler kept one round trip in
             * flight (all 128 at once spill) */
            float *y = (float *)out + rb * ROWS + ra;
#pragma unroll
            for (int j0 = 0; j0 < NT / 8; j0 += 4) {
#pragma unroll
                for (int j = j0; j < j0 + 4; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int tok = ty * NT + 8 * j + 2 * t + (e & 1);
                        if (tok < n_tok) acc[4 * j + e] += y[(size_t)tok * ldy + 8 * (e >> 1)];
                    }
#pragma unroll
                for (int j = j0; j < j0 + 4; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int tok = ty * NT + 8 * j + 2 * t + (e & 1);
                        if (tok < n_tok) y[(size_t)tok * ldy + 8 * (e >> 1)] = acc[4 * j + e];
                    }
            }
        }
    });
}

typedef CUresult (*encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *,
                              const cuuint64_t *, const cuuint64_t *, const cuuint32_t *,
                              const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
                              CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

/* The driver's tensor-map encoder, looked up once through the runtime (so
 * the binary needs no libcuda at link time and runs where there is none). */
encode_fn encoder() {
    static encode_fn f = [] {
        void *p = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                             &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess)
            p = nullptr;
        (void)cudaGetLastError();
        return (encode_fn)p;
    }();
    return f;
}

bool map_2d(CUtensorMap *m, const void *base, CUtensorMapDataType ty, size_t esz, uint64_t inner,
            uint64_t outer, uint32_t box_in, uint32_t box_out, CUtensorMapSwizzle sw) {
    const cuuint64_t dims[2] = {inner, outer}, strides[1] = {inner * esz};
    const cuuint32_t box[2] = {box_in, box_out}, es[2] = {1, 1};
    return encoder()(m, ty, 2, (void *)base, dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE,
                     sw, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <bool Q6, bool GLU> bool set_smem() {
    return cudaFuncSetAttribute(qgemm_kernel<Q6, GLU>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)wstage<Q6>::smem) == cudaSuccess;
}

int qglu_grid(int grid) {
    const int n = sm_count() < 2 * MAXSLOT ? sm_count() : 2 * MAXSLOT;
    return grid > 0 && grid <= n ? grid : n;
}

/* The persistent grid when the caller leaves it (grid 0): the fewest blocks
 * whose busiest one multiplies no more super-blocks than with one a
 * multiprocessor (8B gate|up, 512 tokens: 128 blocks; down: 128 units), so
 * that the multiprocessors left over run the dequantisation stream's blocks
 * (the tiles of the other matrices) meanwhile instead of between kernels.
 * LOCALM_CUDA_QGEMM_FULL=1 keeps one a multiprocessor. */
int tight_grid(int n_rb, int n_tok, int n_in, int n) {
    static const bool full = lmc_switch("LOCALM_CUDA_QGEMM_FULL", false);
    auto busiest = [&](int G) {
        const qglu_sched p = qglu_plan(n_rb, n_tok, n_in, G);
        return p.full / G * p.nsb + (p.units > 0 ? p.nsb / p.split : 0);
    };
    const int least = busiest(n);
    int G = n;
    while (!full && G > 1 && busiest(G - 1) <= least)
        G--;
    return G;
}

/* Encodes both tensor maps and launches the persistent grid. */
template <bool Q6, bool GLU>
bool launch(cudaStream_t st, const void *w, int n_out, int n_in, const uint16_t *xh, int n_tok,
            void *out, int ldy, float *work, int grid) {
    const int n_rb = row_blocks<GLU>(n_out), w_rows = GLU ? 2 * n_out : n_out;
    const int G = grid > 0 ? qglu_grid(grid) : tight_grid(n_rb, n_tok, n_in, qglu_grid(0));
    if (!lmc_qglu_ready() || n_tok < 1 || G < 1 || !work ||
        ((uintptr_t)w | (uintptr_t)xh | (uintptr_t)out) & 15)
        return false;
    CUtensorMap tw, tx;
    const uint64_t row_bytes = (uint64_t)(n_in / QK) * (Q6 ? 210 : 144);
    /* gate|up: 4 dimensions (bytes, 8 rows, gate or up, groups of 8 rows)
     * so that one box lands 8 gate rows, then their 8 up rows, 8 times */
    const cuuint64_t dims[4] = {row_bytes, 8, 2, (cuuint64_t)n_out / 8},
                     strides[3] = {row_bytes, row_bytes * n_out, row_bytes * 8};
    const cuuint32_t box[4] = {wstage<Q6>::pitch, 8, 2, 8}, es[4] = {1, 1, 1, 1};
    const bool wmap =
        GLU ? encoder()(&tw, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, (void *)w, dims, strides, box, es,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                        CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS
            : map_2d(&tw, w, CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, row_bytes, (uint64_t)w_rows,
                     wstage<Q6>::pitch, ROWS, CU_TENSOR_MAP_SWIZZLE_NONE);
    if (!wmap || !map_2d(&tx, xh, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, (uint64_t)n_in,
                         (uint64_t)n_tok, KC, NT, CU_TENSOR_MAP_SWIZZLE_128B))
        return false;
    const qglu_sched p = qglu_plan(n_rb, n_tok, n_in, G);
    const int blocks = p.full > 0 ? G : p.units;
    launch_smem(qgemm_kernel<Q6, GLU>, dim3(blocks), dim3(384), wstage<Q6>::smem, st, tw, tx, out,
                n_out, n_tok, n_in, ldy, work, G);
    return true;
}

} // namespace

extern "C" bool lmc_qglu_ready(void) {
    static const bool ok = [] {
        if (!lmc_wgmma_loaded() || !encoder()) return false;
        if (!lmc_switch("LOCALM_CUDA_QGLU", true)) return false;
        bool set = set_smem<false, true>() && set_smem<false, false>() && set_smem<true, false>();
        (void)cudaGetLastError();
        return set;
    }();
    return ok;
}

extern "C" bool lmc_qglu_shape_ok(int n_ff, int n_in) {
    return n_ff > 0 && n_ff % (ROWS / 2) == 0 && n_in > 0 && n_in % QK == 0;
}

extern "C" size_t lmc_qglu_work_bytes(void) {
    return (2 * MAXSLOT + (size_t)(qglu_grid(0) / 2) * (NT / 2) * 256) * sizeof(float);
}

extern "C" bool lmc_qglu_q4k(cudaStream_t st, const void *wgu, int n_ff, int n_in,
                             const uint16_t *xh, int n_tok, uint16_t *out, float *work, int grid) {
    return lmc_qglu_shape_ok(n_ff, n_in) &&
           launch<false, true>(st, wgu, n_ff, n_in, xh, n_tok, out, 0, work, grid);
}

/* Q6_K rows must be whole 16-byte words for the tensor map: super-blocks in
 * eights. */
extern "C" bool lmc_qmm_shape_ok(uint32_t type, int rows, int n_in) {
    const bool q6 = type == LM_TYPE_Q6_K;
    return (q6 || type == LM_TYPE_Q4_K) && rows > 0 && rows % ROWS == 0 && n_in > 0 &&
           n_in % (q6 ? 8 * QK : QK) == 0;
}

extern "C" bool lmc_qmm_add(cudaStream_t st, uint32_t type, const void *w, int rows, int n_in,
                            const uint16_t *xh, int n_tok, float *y, int ldy, float *work,
                            int grid) {
    if (!lmc_qmm_shape_ok(type, rows, n_in) || ldy < rows) return false;
    return type == LM_TYPE_Q6_K
               ? launch<true, false>(st, w, rows, n_in, xh, n_tok, y, ldy, work, grid)
               : launch<false, false>(st, w, rows, n_in, xh, n_tok, y, ldy, work, grid);
}
