/* k_qglu.cu — a prompt's gate|up product and SwiGLU in one kernel, reading
 * the Q4_K blocks themselves: out[t][i] = silu(gate_i . x_t) * (up_i . x_t)
 * in half, on Hopper's warpgroup tensor cores.
 *
 * The cuBLAS path first writes every weight out in half (a dequantisation
 * pass at the copy rate: on an 8B, 102 of the ~195 us a layer that a 512-
 * token prompt spends dequantising are gate and up, most of it not hidden
 * behind the GEMMs), then multiplies, then runs SwiGLU over the product. Here
 * the half weights never exist in memory: each consumer thread turns the
 * nibbles of its own wgmma A fragment into halves in registers (RS products),
 * so the weights cross shared memory as their 4.5 bits, and SwiGLU is the
 * epilogue.
 *
 * A tile is 64 features (their 64 gate rows and 64 up rows of the fused wgu
 * matrix: gate rows, then up rows) of 256 tokens; a persistent grid of one
 * block a multiprocessor walks the tiles (qglu_units: whole waves first, the
 * leftover tiles split along K in two halves). Warpgroup 0 is the producer:
 * one thread stages, by TMA, a super-block (256 k) of the 128 rows into a
 * ring of 4 and the tokens' activations (64 k of 256 tokens, 128-byte
 * swizzle) into a ring of 4, on mbarriers, running ahead into the block's
 * next tile; its other three warps decode each staged super-block's scales
 * once into a table of half2 (s, -m). Warpgroups 1 and 2 multiply 32
 * features each (m64n256k16, A from registers, gate and up rows interleaved
 * by 8 so one thread holds both sums of a feature) and build chunk c + 1's
 * fragments while chunk c's products run; SwiGLU is applied in registers.
 *
 * Measured first as tools/qgemm_rs_test.cu (H100, 28672 x 4096 x 512: 0.56 of
 * the tensor peak a tile a block, 0.63 with the persistent schedule, against
 * cuBLAS's 0.73 on half weights that must first be made; bench/NOTES-cuda.md,
 * passes 17 and 19). Needs code built for sm_90a and
 * the driver's tensor-map encoder (lmc_qglu_ready()). */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/q4k_frag.cuh"
#include "backend/cuda/tma.cuh"
#include "backend/cuda/wgmma.cuh"
#include <cuda.h>
#include <cuda_fp16.h>
#include <stdlib.h>

using namespace lmc;

namespace {

constexpr int QK = 256, QB = 144;      /* Q4_K super-block: elements, bytes */
constexpr int RB = 64;                 /* output rows a block: 64 of gate, 64 of up */
constexpr int NT = 256;                /* tokens a block */
constexpr int KC = 64;                 /* k of an activation stage (one 128-byte row) */
constexpr int XST = 4, WST = 4;        /* activation and weight stages */
constexpr int XBYTES = NT * KC * 2;    /* 32 KB */
constexpr int WBYTES = 2 * RB * QB;    /* 18 KB: a super-block of 128 rows */
constexpr int TBYTES = 2 * RB * 8 * 4; /* its scales: half2 (s, -m) a sub-block */
constexpr int MAXSLOT = 128;           /* leftover tiles a launch may split (grids of up to 256) */
constexpr size_t SMEM = (size_t)XST * XBYTES + (size_t)WST * (WBYTES + TBYTES) + 256 + 1024;

__device__ __forceinline__ void named_sync(int id, int n) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(n) : "memory");
}

/* The work of a launch is tiles: tile t is 64 output features (row block rb =
 * t / nty) of one 256-token tile (ty = t % nty), so the two blocks that read a
 * row block's weights run side by side. Each block of a persistent grid of
 * G takes tiles b, b + G, ... while they fill whole waves ("full" tiles);
 * the R left over would make a last wave that is mostly idle, so when 2R <= G
 * each is split along K into two halves for two blocks (units), and the half
 * that finishes second adds the first one's sums, left in the workspace, before
 * SwiGLU. Two halves added in either order give the same floats, so results
 * do not depend on timing. */
struct qglu_sched {
    int nty, nsb, full, split, units; /* units: of the leftover tiles */
};

__host__ __device__ inline qglu_sched qglu_plan(int n_ff, int n_tok, int n_in, int G) {
    qglu_sched p;
    p.nty = (n_tok + NT - 1) / NT, p.nsb = n_in / QK;
    const int T = n_ff / RB * p.nty;
    p.full = T / G * G;
    const int R = T - p.full;
    p.split = R > 0 && 2 * R <= G && p.nsb % 2 == 0 ? 2 : 1;
    p.units = R * p.split;
    return p;
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

/* Grid: min(G, full tiles or units); tw: the wgu matrix's bytes (2 n_ff rows,
 * box 144 x 8); tx: the half activations (n_tok x n_in, box 64 x 256, 128-byte
 * swizzle). A weight stage holds a super-block of 128 rows: in each group of
 * 16, 8 gate rows and then the same 8 up rows, so the thread whose wgmma
 * fragment holds gate row i (fragment row g) also holds up row i (g + 8) and
 * applies SwiGLU to its own sums. work: a ticket and a flag for each of
 * MAXSLOT leftover tiles (zero between launches), then each one's first
 * half's sums (128 floats a consumer thread). */
__global__ void __launch_bounds__(384, 1)
    qglu_kernel(const __grid_constant__ CUtensorMap tw, const __grid_constant__ CUtensorMap tx,
                __half *__restrict__ out, int n_ff, int n_tok, int n_in, float *__restrict__ work,
                int G) {
    /* (built for other targets the wgmma, TMA and barrier wrappers are
     * empty; the launcher runs this only where sm_90a code is loaded) */
    extern __shared__ uint8_t qglu_smem_raw[];
    uint8_t *sm = (uint8_t *)(((uintptr_t)qglu_smem_raw + 1023) & ~(uintptr_t)1023);
    uint8_t *xs = sm, *wsm = sm + XST * XBYTES;
    uint32_t *tab = (uint32_t *)(wsm + WST * WBYTES);
    uint64_t *bar = (uint64_t *)((uint8_t *)tab + WST * TBYTES);
    uint64_t *xfull = bar, *xempty = bar + XST, *wfull = bar + 2 * XST,
             *wempty = bar + 2 * XST + WST, *sready = bar + 2 * XST + 2 * WST;
    int *ticket = (int *)(bar + 2 * XST + 3 * WST);
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const qglu_sched p = qglu_plan(n_ff, n_tok, n_in, G);
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
        if (tid >= 32) { /* warps 1-3: each staged super-block's scales, once */
            qglu_units(p, [&](int, int, int sb0, int sb1, int) {
                for (int sb = sb0; sb < sb1; sb++, gs++) {
                    const int s = gs % WST;
                    mb_wait(&wfull[s], (gs / WST) & 1);
                    stage_scales(wsm + s * WBYTES, tab + s * 2 * RB * 8, 2 * RB, tid - 32, 96);
                    __syncwarp();
                    if ((tid & 31) == 0) mb_arrive(&sready[s]);
                }
            });
            return;
        }
        if (tid != 0) return;
        qglu_units(p, [&](int rb, int ty, int sb0, int sb1, int) {
            const int nc = 4 * (sb1 - sb0);
            for (int c = 0; c < nc; c++) {
                if ((c & 3) == 0) {
                    const int g = gs + c / 4, s = g % WST, kx = (sb0 + c / 4) * QB;
                    mb_wait(&wempty[s], ((g / WST) & 1) ^ 1);
                    mb_expect(&wfull[s], WBYTES);
                    uint8_t *d = wsm + s * WBYTES;
                    for (int j = 0; j < 8; j++) {
                        tma_2d(d + 16 * j * QB, &tw, kx, rb * RB + 8 * j, &wfull[s]);
                        tma_2d(d + (16 * j + 8) * QB, &tw, kx, n_ff + rb * RB + 8 * j, &wfull[s]);
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
    const int w8 = 4 * (wg - 1) + warp; /* 16-row group of the stage: features 8 w8 .. + 7 */
    const int ra = 16 * w8 + g;         /* gate row of the stage (up: ra + 8) */
    float acc[NT / 2];
    /* c counts the chunks of the current unit (rs_chunks) */
    auto build = [&](int c, uint32_t(&an)[4][4]) {
        const int sb = gs + (c >> 2), s = sb % WST;
        if ((c & 3) == 0) mb_wait(&sready[s], (sb / WST) & 1);
        build_a(wsm + s * WBYTES, tab + s * 2 * RB * 8, ra, c, t, an);
    };
    auto release = [&](int c) {
        if (lane == 0) {
            mb_arrive(&xempty[(gc + c) % XST]);
            if ((c & 3) == 3) mb_arrive(&wempty[(gs + (c >> 2)) % WST]);
        }
    };
    qglu_units(p, [&](int rb, int ty, int sb0, int sb1, int slot) {
        const int nc = 4 * (sb1 - sb0);
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
        /* acc[4 j + e]: gate (e < 2) or up (e >= 2) of feature 8 w8 + g, token
         * 8 j + 2 t + (e & 1). Lanes g and g ^ 1 swap halves so that each
         * stores two neighbouring features of one token. */
        const int f0 = rb * RB + 8 * w8 + (g & ~1), odd = g & 1;
#pragma unroll
        for (int j = 0; j < NT / 8; j++) {
            const float h0 = acc[4 * j] / (1.0f + __expf(-acc[4 * j])) * acc[4 * j + 2];
            const float h1 = acc[4 * j + 1] / (1.0f + __expf(-acc[4 * j + 1])) * acc[4 * j + 3];
            const float o = __shfl_xor_sync(0xffffffffu, odd ? h0 : h1, 4);
            const int tok = ty * NT + 8 * j + 2 * t + odd;
            if (tok < n_tok)
                *(__half2 *)(out + (size_t)tok * n_ff + f0) =
                    odd ? __floats2half2_rn(o, h1) : __floats2half2_rn(h0, o);
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

} // namespace

extern "C" bool lmc_qglu_ready(void) {
    static const bool ok = [] {
        if (!lmc_wgmma_loaded() || !encoder()) return false;
        const char *v = getenv("LOCALM_CUDA_QGLU");
        if (v && v[0] == '0') return false;
        bool set = cudaFuncSetAttribute(qglu_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)SMEM) == cudaSuccess;
        (void)cudaGetLastError();
        return set;
    }();
    return ok;
}

extern "C" bool lmc_qglu_shape_ok(int n_ff, int n_in) {
    return n_ff > 0 && n_ff % RB == 0 && n_in > 0 && n_in % QK == 0;
}

static int qglu_grid(int grid) {
    const int n = sm_count() < 2 * MAXSLOT ? sm_count() : 2 * MAXSLOT;
    return grid > 0 && grid <= n ? grid : n;
}

extern "C" size_t lmc_qglu_work_bytes(void) {
    return (2 * MAXSLOT + (size_t)(qglu_grid(0) / 2) * (NT / 2) * 256) * sizeof(float);
}

extern "C" bool lmc_qglu_q4k(cudaStream_t st, const void *wgu, int n_ff, int n_in,
                             const uint16_t *xh, int n_tok, uint16_t *out, float *work, int grid) {
    const int G = qglu_grid(grid);
    if (!lmc_qglu_ready() || !lmc_qglu_shape_ok(n_ff, n_in) || n_tok < 1 || G < 1 || !work ||
        ((uintptr_t)wgu | (uintptr_t)xh | (uintptr_t)out) & 15)
        return false;
    CUtensorMap tw, tx;
    const uint64_t row_bytes = (uint64_t)(n_in / QK) * QB;
    if (!map_2d(&tw, wgu, CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, row_bytes, 2 * (uint64_t)n_ff, QB, 8,
                CU_TENSOR_MAP_SWIZZLE_NONE) ||
        !map_2d(&tx, xh, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, (uint64_t)n_in, (uint64_t)n_tok, KC,
                NT, CU_TENSOR_MAP_SWIZZLE_128B))
        return false;
    const qglu_sched p = qglu_plan(n_ff, n_tok, n_in, G);
    const int blocks = p.full > 0 ? G : p.units;
    launch_smem(qglu_kernel, dim3(blocks), dim3(384), SMEM, st, tw, tx, (__half *)out, n_ff, n_tok,
                n_in, work, G);
    return true;
}
