/* persist.h — the persistent decode step: one cooperative kernel runs every
 * layer of a one-token step (k_persist.cu), each block a fixed list of tasks
 * whose weights stream through a shared-memory ring without stopping at
 * phase boundaries; persist.c decides whether a model can take it, lays its
 * weights out in tiles and builds the task lists. The design was measured
 * standalone first (NOTES-cuda.md, passes 22 and 23). */
#ifndef LM_BACKEND_CUDA_PERSIST_H
#define LM_BACKEND_CUDA_PERSIST_H
#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A tile: 32 weight rows x 256 columns; thread t of a task owns row t / 8,
 * 32-column unit t % 8 (u = t below). Q4_0 (4,608 bytes): 512 bytes of block
 * scales (half, at u), then 16 bytes of nibbles a unit at 512 + 16 u (byte
 * i = element i | element i + 16 << 4, GGUF's order). Q4_K (4,608 bytes):
 * 128 of (d, dmin) a row, 384 of GGUF's 6-bit scales and minimums (12 a
 * row), then the nibbles likewise (the engine's upload order, k_layout.cu).
 * Q6_K (6,720 bytes): 64 of d a row, 512 of int8 scales (16 a row), then
 * low nibbles at 576 + 16 u and high bit pairs at 4,672 + 8 u, both as the
 * engine's rearranged blocks hold them (quant.cuh). */
#define LMC_PTILE 4608
#define LMC_PTILE6 6720
#define LMC_PPOS 1024    /* positions the step covers */
#define LMC_PNCH_MAX 16  /* chunks a KV head, at most (LMC_PPOS / the smallest ch) */
#define LMC_PKMAX 14336  /* the longest input vector */
#define LMC_PQMAX 512    /* query heads x head size of one attention task */
#define LMC_PLMAX 500    /* layers (a word's flag holds the layer) */
#define LMC_PSTEP 524287 /* steps before the flags' step number wraps */

/* Phases; OUT (the output matrix, after the last layer) only where its type
 * has tiles, its tasks' layer being L. */
enum { LMC_P_QKV, LMC_P_ATT, LMC_P_WO, LMC_P_GU, LMC_P_DOWN, LMC_P_OUT };

/* Weight types of a task's tiles. */
enum { LMC_PW_Q4_0, LMC_PW_Q4_K, LMC_PW_Q6_K };

/* One task: 32 rows (ntiles tiles of type wt from w) of a phase, or
 * attention idx. */
typedef struct lmc_ptask {
    const uint8_t *w;
    int ntiles, kind, layer, idx, wt;
} lmc_ptask;

/* A flagged vector (see k_persist.cu): q, four quants a word; m, a 32-element
 * unit's scale, sum of quants, sum of squares and a pad word (DOWN's input,
 * lh: the scale and sum of quants of each 16-element half). Words are 8
 * bytes: 4 of data and 4 of flag. */
typedef struct lmc_pll {
    uint64_t *q, *m;
} lmc_pll;

/* Everything the kernel reads; device pointers. */
typedef struct lmc_pargs {
    int H, NQ, NKV, HD, F, L, n_ctx, nsm;
    int G, QS; /* query heads an attention task; tasks a KV head */
    int kq;    /* the layer weights are K-quants (Q4_K, Q6_K); else all Q4_0 */
    int ch;    /* attention positions a task: 128, or 64 for head size 128 */
    int half;  /* q / k rows of half-split rotary pairs (adjacent in the tiles) */
    float eps;
    const float *inv_freq;
    const float *g_att, *g_ffn, *g_out; /* [L][H], [L][H], [H] */
    const float *bqkv;                  /* [L][(NQ + 2 NKV) HD] in file order, or NULL */
    uint16_t *const *kc, *const *vc;    /* [L] caches, half [n_seq][n_ctx][NKV][HD] */
    float *x;                           /* the residual after the last layer */
    float *logits;                      /* the OUT phase's rows, when it has one */
    lmc_pll lxa, lxf, la, lh;           /* inputs of QKV, GU, WO, DOWN */
    uint64_t *lx, *lq, *lkv;            /* residual, q, this step's K / V rows */
    uint64_t *plo, *pml;                /* attention chunks' flagged outputs, (max, sum) */
    const lmc_ptask *tasks;
    const int *toff;     /* [nch - 1][nsm + 1]: block b's tasks at a chunk count */
    const int32_t *d_in; /* the step's token, position, sequence at [0..2], step at [4] */
    /* a timeline, or NULL: 8 stamps a task (at its index in tasks), then
     * (producer stall, end) a block after the list in use */
    unsigned long long *trace;
} lmc_pargs;

/* The attention chunk (positions a task) of the kernels for this head size. */
int lmc_persist_chunk(int hd);
/* Whether this device and build can run it: sm_90a code loaded, cooperative
 * launches, the shared memory. */
bool lmc_persist_device_ok(int device);
/* Bytes of a tile of this weight type, 0 for types without tiles. */
int lmc_persist_tile_bytes(uint32_t type);
/* Rows of a Q4_0 / Q4_K / Q6_K matrix (rows of n_in as uploaded) into tiles,
 * n_in / 256 a row group: source row s goes to tile row perm(s), its K-tile
 * kt to tile kt of its row group; perm lays each half_hd-row head's rotary
 * pairs (d, d + half_hd / 2) as rows 2d, 2d + 1 (q / k of half-split files),
 * or (gu 1, gate; 2, up) rows 16 g + j as row j of group g (gate) or 16 + j
 * (up), so that a group makes 16 rows of SwiGLU; else the identity. */
bool lmc_persist_tile(cudaStream_t st, uint32_t type, const void *src, int rows, int n_in,
                      uint8_t *dst, int gu, int half_hd);
/* The first layer's input from x (the embedding row): the residual and the
 * quantised x * g_att[0] as flagged words of the step in d_in[4]. */
bool lmc_persist_init(cudaStream_t st, const lmc_pargs *a, const float *x);
/* The step: the layers (the residual after them lands in a->x) and, when
 * a->logits is set, the output matrix's rows there. */
bool lmc_persist_launch(cudaStream_t st, const lmc_pargs *a);

#ifdef __cplusplus
}
#endif
#endif
