/* engine_cuda_impl.h — the CUDA engine's private state, shared by its loader
 * (engine_cuda.c) and its forward pass (forward_cuda.c). */
#ifndef LM_BACKEND_CUDA_ENGINE_CUDA_IMPL_H
#define LM_BACKEND_CUDA_ENGINE_CUDA_IMPL_H
#include "backend/backend.h"
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdint.h>

/* Tokens per micro-batch: a longer prompt runs in pieces of this many, each
 * dequantising every weight once more (prefill_weights.c) and giving the
 * prompt attention (nh x tokens / 64) blocks. 2048 against 512, H200, 8B
 * Q4_K_M prompts of 2k / 16k tokens: 28.1k -> 35.6k, 17.6k -> 21.2k t/s;
 * 1.1B Q4_0 at 4k 108.5k -> 162.0k; 512-token prompts unchanged. With the
 * scratch sized per use (xf, ffb) that costs 0.25 GiB of VRAM on the 8B
 * (5.87 -> 6.12 GiB) and 0.11 on the 1.1B. */
#define LMC_MAX_TOK 2048
#define LMC_SMALL_TOK 8   /* up to this many tokens: mat-vec kernels + CUDA graph */
#define LMC_LOGIT_ROWS 64 /* output projection rows per pass in prefill */

/* A weight matrix in VRAM: rows of n_in elements in GGUF block layout. */
typedef struct lmc_mat {
    const void *w; /* NULL when absent */
    uint32_t type;
    int n_in, rows;
    size_t row_bytes;
    uint16_t *h; /* half copy for the prefill GEMMs (LOCALM_CUDA_F16_PREFILL), or NULL */
} lmc_mat;

typedef struct lmc_layer {
    const float *attn_norm, *ffn_norm; /* [n_embd] */
    const float *bqkv;                 /* [(nh + 2 nkv) * hd] or NULL */
    const float *q_norm, *k_norm;      /* [hd] or NULL */
    lmc_mat wq, wk, wv, wo, gate, up, down;
    lmc_mat wqkv; /* wq|wk|wv as one matrix when they are contiguous and of one type */
    lmc_mat wqk;  /* else wq|wk, likewise (Q4_K_M files often store wv as Q6_K) */
    lmc_mat wgu;  /* gate|up likewise */
    uint16_t *k_cache, *v_cache; /* half [n_seq][n_ctx][nkv][hd] */
} lmc_layer;

/* One dequantisation tile of the prefill weight pipeline: rows [r0, r0+nr)
 * of m, followed (when m2 is set, r0 = 0 and nr = m->rows) by all of m2. */
typedef struct lmc_wjob {
    const lmc_mat *m, *m2;
    int r0, nr;
} lmc_wjob;

struct lm_engine {
    lm_hparams hp;
    int n_embd, n_layer, nh, nkv, hd, n_ff, n_vocab, qkv_dim, n_ctx, n_seq;
    int dec_split; /* attention chunks in the decode graph */
    int device;

    uint8_t *wbuf; /* all weights and norm vectors */
    size_t wbytes;
    lmc_layer *layers;
    lmc_mat tok, out;
    const float *out_norm, *inv_freq;
    uint16_t *kv; /* all layers' caches */
    size_t kv_bytes;

    /* scratch, sized for LMC_MAX_TOK tokens (xf, used by the decode body and
     * the logits' rows only, for LMC_SMALL_TOK) */
    uint8_t *scratch;
    size_t scratch_bytes;
    float *x, *xf, *xg, *qkv, *q, *att, *ffb, *logits, *part;
    uint16_t *xh, *wh; /* half activations; two dequantised weight tiles */
    size_t wh_elems;   /* both tiles; each holds wh_elems / 2 (see prefill_weights.c) */
    int8_t *xq, *xq2;  /* q8 activations; a second set for the fused SwiGLU output */
    float *xs, *xs2;
    int32_t *att_cnt; /* decode attention's per-(token, KV head) chunk counters */
    int32_t *d_in;    /* tokens, pos, seq, idx: 4 x LMC_MAX_TOK */
    int32_t *h_in;    /* pinned mirror */
    float *h_logits;  /* pinned: the decode step's logit rows, LMC_SMALL_TOK x n_vocab */
    int *seq_len;     /* host: positions written per sequence */

    cudaStream_t st;
    /* prefill weight pipeline (prefill_weights.c): tiles dequantised on st2
     * one ahead of the GEMMs on st, in the fixed order of the forward pass */
    cudaStream_t st2;
    cudaEvent_t ev_ready[2], ev_free[2];
    lmc_wjob *jobs;        /* this pass's list: job_list[qglu_pass] */
    int n_jobs, jn, jc;    /* jobs issued to st2 / consumed by GEMMs this pass */
    lmc_wjob *job_list[2]; /* [1]: without the tiles k_qgemm.cu does not need */
    int n_job_list[2];
    uint16_t *hbuf;      /* the half copies of the matrices (one allocation) */
    uint64_t mem_budget; /* lm_load_opts.mem_budget: 0 = free VRAM */
    bool overlap;
    bool mmq; /* every layer matrix is one lmc_mmq reads: short prompts take it */
    /* and every one a K-quant: their activations quantised per 256 (the
     * CPU engine's choice for these types), summed per super-block in int32 */
    bool mmq256;
    /* every layer's gate|up is one Q4_K matrix k_qgemm.cu takes: prompts on
     * the half path multiply it and apply SwiGLU in one kernel (no tiles) */
    bool qglu;
    /* those passes multiply down from its blocks too where lmc_qmm_add takes
     * it (lmc_down_direct; LOCALM_CUDA_QDOWN=0 turns it off) */
    bool qdown;
    float *qglu_work; /* its workspace (lmc_qglu_work_bytes), when qglu */
    bool qglu_pass;   /* this prompt takes it (not past LOCALM_CUDA_QGLU_MAX tokens) */
    cublasHandle_t blas;
    cudaGraphExec_t graph[2][LMC_SMALL_TOK + 1]; /* [staged attention][tokens] */
    struct lmc_persist *persist; /* the persistent decode step (persist.c), or NULL */
    bool failed;                 /* a CUDA error left the context unusable */
};

/* Scratch bytes for a model at these options (check() and load() agree). */
size_t lmc_scratch_bytes(const lm_engine *e);
/* What the load may still allocate on the device: the free VRAM and what is
 * left of the load's budget after the engine's buffers (weights, KV cache,
 * scratch, the persistent step's copy), each less a 256 MiB margin; the
 * free VRAM in *free_bytes (when not NULL). The error is cudaMemGetInfo's
 * (room 0 then, unless the budget is smaller still). */
cudaError_t lmc_vram_room(const lm_engine *e, size_t *room, size_t *free_bytes);
/* Carves the scratch buffer into its parts. */
void lmc_scratch_layout(lm_engine *e, uint8_t *base);

/* A non-blocking stream at the device's highest (or lowest) priority. */
cudaError_t lmc_stream_create(cudaStream_t *st, bool highest);
/* Creates the dequantisation stream, its events, the half copies when asked
 * for and they fit, and the tile list (after the weights are placed);
 * lmc_wpipe_free releases them. */
cudaError_t lmc_wpipe_init(lm_engine *e);
void lmc_wpipe_free(lm_engine *e);
/* Starts a prefill pass: the next GEMM is the first of layer 0. */
void lmc_wpipe_reset(lm_engine *e, bool qglu);
/* Whether a qglu pass multiplies this down matrix from its blocks
 * (lmc_qmm_add) rather than from pipeline tiles: no half copy, a type and
 * shape k_qgemm.cu takes. (wo the same way was slower: NOTES-cuda.md, pass
 * 20.) */
bool lmc_down_direct(const lm_engine *e, const lmc_mat *m);
/* y[t][r] = beta * y[t][r] + dot(W row r, x_t) for n tokens of half x; y
 * float, or half with half_out. Quantised weights come from the pipeline
 * when m is its next matrix, else are dequantised in line. */
bool lmc_gemm(lm_engine *e, const lmc_mat *m, const uint16_t *xh, int n, void *y, int ldy,
              float beta, bool half_out);
/* The same for a and b of equal n_in, b's rows written after a's (float y,
 * beta 0): one GEMM over both when the pipeline holds them as one tile. */
bool lmc_gemm2(lm_engine *e, const lmc_mat *a, const lmc_mat *b, const uint16_t *xh, int n,
               float *y, int ldy);

/* The persistent decode step (persist.c): set up after the weights are
 * uploaded when the model and device can take it and its tiled copy of the
 * layer weights fits (e->persist stays NULL otherwise; an error only for a
 * failing device); its VRAM; whether a one-token step at pos takes it; the
 * step number to put at d_in[4]; the step's launches (logits row 0). */
typedef struct lmc_persist lmc_persist;
cudaError_t lmc_persist_setup(lm_engine *e);
void lmc_persist_free(lm_engine *e);
size_t lmc_persist_bytes(const lm_engine *e);
bool lmc_persist_takes(const lm_engine *e, int pos);
/* The step writes its logits into e->h_logits itself (its output matrix in
 * the kernel), so no copy follows it. */
bool lmc_persist_logits_on_host(const lm_engine *e);
int lmc_persist_next_step(lm_engine *e);
bool lmc_persist_run(lm_engine *e);

/* The output norm and matrix of n (<= LMC_SMALL_TOK) rows of e->x into
 * e->logits' first n rows; only launches on e->st (graph-capturable). The
 * decode graph's tail and the persistent step's where its kernel has no
 * OUT phase. */
bool lmc_logits_small(lm_engine *e, int n);

lm_status lmc_forward(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err);
/* Runs short prompts (the cuBLAS and the int8 paths) and a 512-token one and
 * forgets them, so that a first request does not pay for loading kernels and
 * cuBLAS's set-up (H200, the first 512-token prompt of an 8B after its load:
 * 197 -> 25 ms with the short ones; load and that prompt together 1.74 ->
 * 1.64 s).
 * LOCALM_CUDA_WARMUP=0 skips it. */
bool lmc_warm_up(lm_engine *e);
#endif
