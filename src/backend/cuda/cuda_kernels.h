/* cuda_kernels.h — the C-callable launchers of the CUDA engine's kernels
 * (defined in the .cu files beside this). Every launcher enqueues on the given
 * stream and returns false only when the arguments are outside what the
 * kernel handles (the caller checked support earlier, so false is a bug). */
#ifndef LM_BACKEND_CUDA_KERNELS_H
#define LM_BACKEND_CUDA_KERNELS_H
#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The PTX architecture (75, 80, 90, ...) the current device's copy of the
 * kernels was compiled from, 0 when the build has none it can run; below the
 * device's own compute capability the kernels lack that target's features
 * and the launchers do without them (k_arch.cu). */
int lmc_code_arch(void);

/* True for the weight types the engine computes with. */
bool lmc_type_supported(uint32_t type);
/* True when mat-vec products with this weight type take q8 activations
 * (int8 blocks of 32 with a float scale and scaled sum); false: floats. */
bool lmc_type_uses_q8(uint32_t type);

/* RMSNorm of n_tok rows of n floats times w (float[n]), written to any of:
 * out_f (float), out_h (half), or q8 blocks (out_q int8[n], out_s float[2*n/32]). */
void lmc_norm_act(cudaStream_t st, const float *x, int n_tok, int n, const float *w, float eps,
                  float *out_f, uint16_t *out_h, int8_t *out_q, float *out_s);
/* Activations to q8 blocks (n multiple of 32) and/or half. */
void lmc_convert_act(cudaStream_t st, const float *x, int n_tok, int n, uint16_t *out_h,
                     int8_t *out_q, float *out_s);

/* y[t*y_stride + r] (+)= dot(W row r, x_t) for r < rows, t < n_tok (<= 8).
 * x: xf floats [n_tok][n_in] for float types, (xq, xs) q8 blocks otherwise. */
bool lmc_matvec(cudaStream_t st, uint32_t type, const void *w, int n_in, int rows, const float *xf,
                const int8_t *xq, const float *xs, int n_tok, float *y, int y_stride,
                bool accumulate);
/* y[t*y_stride + r] = silu(dot(Wg row r, x_t)) * dot(Wu row r, x_t). */
bool lmc_matvec_glu(cudaStream_t st, uint32_t type, const void *wg, const void *wu, int n_in,
                    int rows, const float *xf, const int8_t *xq, const float *xs, int n_tok,
                    float *y, int y_stride);

/* The same for a quantised type, 1 or 2 tokens and rows a multiple of 32,
 * writing the result as q8 blocks (yq int8[n_tok][rows], ys as out_s of
 * lmc_norm_act) for the next mat-vec; false for other arguments. */
bool lmc_matvec_glu_q8(cudaStream_t st, uint32_t type, const void *wg, const void *wu, int n_in,
                       int rows, const int8_t *xq, const float *xs, int n_tok, int8_t *yq,
                       float *ys);

/* y1 = W1 x and y2 = W2 x (rows of y_stride floats) in one launch for 1 or 2
 * tokens of q8 input, for the type pairs K-quant files mix (Q4_K/Q6_K,
 * Q5_K/Q6_K, Q4_K/Q5_K), and for batches that take the int8 tensor cores
 * through lmc_mmq_pair; false for others (the caller launches two). */
bool lmc_matvec_pair(cudaStream_t st, uint32_t t1, const void *w1, int rows1, float *y1,
                     uint32_t t2, const void *w2, int rows2, float *y2, int n_in, const int8_t *xq,
                     const float *xs, int n_tok, int y_stride);

/* Whether lmc_mmq reads weights of this type. */
bool lmc_mmq_supported(uint32_t type);
/* y[t][r] (+)= dot(W row r, x_t) for n_tok tokens of q8 activations (xq, xs
 * as lmc_matvec's) on the int8 tensor cores, every weight read from memory
 * once per 32 tokens; with w2 (gate w, up w2) silu(W x) * (W2 x). x256: the
 * activations come from lmc_act_q8_256 (K-quants then sum whole
 * super-blocks in int32). False, launching nothing, for other types,
 * n_in % 256 != 0 or before compute capability 8.0. */
bool lmc_mmq(cudaStream_t st, uint32_t type, const void *w, const void *w2, int n_in, int rows,
             const int8_t *xq, const float *xs, int n_tok, float *y, int y_stride, bool accumulate,
             bool x256);
/* lmc_mmq of two matrices of different types on the same activations in one
 * launch (y1 = W1 x, y2 = W2 x, rows of y_stride floats), for the K-quant
 * mixes of wq|wk and wv (Q4_K / Q6_K, Q5_K / Q6_K); false, launching
 * nothing, for others. */
bool lmc_mmq_pair(cudaStream_t st, uint32_t t1, const void *w1, int rows1, float *y1, uint32_t t2,
                  const void *w2, int rows2, float *y2, int n_in, const int8_t *xq, const float *xs,
                  int n_tok, int y_stride, bool x256);
/* q8 activations (out_q, out_s as lmc_convert_act's) of n_tok rows of n
 * floats (n % 256 == 0), RMS-normalised with weights w when w is not NULL,
 * with one scale per 256 values (written to each of their 8 blocks), as the
 * CPU engine quantises the activations of K-quant rows. */
void lmc_act_q8_256(cudaStream_t st, const float *x, int n_tok, int n, const float *w, float eps,
                    int8_t *out_q, float *out_s);
/* Rearranges bytes of weights of a type just uploaded to w into the layout
 * the kernels read (in place; a no-op for most types, see quant.cuh). Every
 * upload of weights must go through it. False on a launch failure or bytes
 * that are not whole blocks. */
bool lmc_device_layout(cudaStream_t st, uint32_t type, void *w, size_t bytes);

/* rows x n_in weights of any supported type -> half [rows][n_in]. */
bool lmc_dequant_f16(cudaStream_t st, uint32_t type, const void *w, int64_t rows, int64_t n_in,
                     uint16_t *out);
/* ... -> float [rows][n_in] (tests). */
bool lmc_dequant_f32(cudaStream_t st, uint32_t type, const void *w, int64_t rows, int64_t n_in,
                     float *out);
/* out[i][:] = row ids[i] of w as floats (embedding lookup). */
bool lmc_get_rows(cudaStream_t st, uint32_t type, const void *w, int n_in, const int32_t *ids,
                  int n, float *out);

/* Per token: add the q/k/v biases (or NULL), apply per-head q/k RMSNorm (or
 * NULL), rotate q and k (layout 0 half-split, 1 adjacent pairs, inv_freq
 * float[hd/2]), write q to q_out [n_tok][nh*hd] and k, v as half into the
 * caches [n_seq][n_ctx][nkv][hd] at (seq[t], pos[t]). qkv: [n_tok][(nh+2nkv)*hd]. */
void lmc_qkv_rope(cudaStream_t st, const float *qkv, int n_tok, int nh, int nkv, int hd,
                  const float *bias, const float *q_norm, const float *k_norm, float eps,
                  const float *inv_freq, int layout, const int32_t *pos, const int32_t *seq,
                  float *q_out, uint16_t *k_cache, uint16_t *v_cache, int n_ctx);

/* Causal attention of each token's query heads over its sequence's cache
 * positions [0, pos[t]], split over n_split (1 to 256) chunks of the context (partials
 * in part: n_tok*nh*n_split*(hd+2) floats), result out [n_tok][nh*hd]; with
 * out_q non-NULL also its q8 blocks (out_q, out_s as lmc_convert_act). With
 * n_split > 1, counters (n_tok*nkv ints, zero before the first call and left
 * zero by every call) select the one-kernel decode path, whose last block per
 * KV head merges the chunks; there staged picks its form for chunks of
 * several tiles (some token past 32 * n_split positions): tiles staged in
 * shared memory (faster there), or read straight (faster when every chunk
 * is one tile). Both are correct for any length. */
bool lmc_attention(cudaStream_t st, const float *q, int n_tok, int nh, int nkv, int hd,
                   const uint16_t *k_cache, const uint16_t *v_cache, int n_ctx, const int32_t *pos,
                   const int32_t *seq, int n_split, float *part, int32_t *counters, float *out,
                   int8_t *out_q, float *out_s, bool staged);
/* lmc_qkv_rope then lmc_attention (decode path, n_split > 1) for one token in
 * one kernel: the attention prepares q itself, and the block whose chunk
 * holds the position stores k and v; qkv as for lmc_qkv_rope. */
bool lmc_attention_rope1(cudaStream_t st, const float *qkv, int nh, int nkv, int hd,
                         const float *bias, const float *q_norm, const float *k_norm, float eps,
                         const float *inv_freq, int layout, uint16_t *k_cache, uint16_t *v_cache,
                         int n_ctx, const int32_t *pos, const int32_t *seq, int n_split,
                         float *part, int32_t *counters, float *out, int8_t *out_q, float *out_s,
                         bool staged);
/* Causal attention of n_tok tokens that all belong to sequence seq (a
 * prompt), on tensor cores: q is rounded to half, the probabilities too.
 * Result to exactly one of out (floats, as lmc_attention) or out_h (half).
 * ctx: the tokens' longest context (largest position + 1; 0 when unknown),
 * which picks the kernel's form. False where it does not apply (head_dim
 * other than 64 or 128, a GPU before compute capability 8.0): use
 * lmc_attention. */
bool lmc_attention_prefill(cudaStream_t st, const float *q, int n_tok, int nh, int nkv, int hd,
                           const uint16_t *k_cache, const uint16_t *v_cache, int n_ctx,
                           const int32_t *pos, int ctx, int seq, float *out, uint16_t *out_h);
/* The same on Hopper's warpgroup tensor cores (k_attn_wg.cu), which
 * lmc_attention_prefill takes where it can; false where it does not apply
 * (head_dim other than 64 or 128, no sm_90a code loaded). */
bool lmc_attention_prefill_wg(cudaStream_t st, const float *q, int n_tok, int nh, int nkv, int hd,
                              const uint16_t *k_cache, const uint16_t *v_cache, int n_ctx,
                              const int32_t *pos, int seq, float *out, uint16_t *out_h);
/* Whether the device runs this build's sm_90a code (wgmma); asked once, the
 * first time with a launch and a copy on the legacy stream. */
bool lmc_wgmma_loaded(void);
/* Positions per tile of the decode attention; a chunk is whole tiles. */
#define LMC_DEC_TILE 32
/* Whether a token whose context holds len positions, split into at most
 * n_split chunks, has chunks of several tiles: the `staged` argument of
 * lmc_attention and lmc_attention_rope1 for a batch holding it. */
static inline bool lmc_attention_dec_staged(int len, int n_split) {
    return len > LMC_DEC_TILE * n_split;
}
/* Most chunks the decode attention splits a context of up to n_ctx
 * positions into, for nkv KV heads (each token's chunks are whole tiles of
 * 32 positions, sized from its own length). */
int lmc_attention_dec_split(int n_ctx, int nkv);
/* Head shapes lmc_attention handles: head_dim 64, 128 or 256, and up to 8
 * query heads per KV head (16 when head_dim <= 128). */
bool lmc_attention_supported(int nh, int nkv, int hd);

/* A prompt's SwiGLU straight from Q4_K gate|up blocks (k_qgemm.cu): out[t][i]
 * = silu(gate_i . x_t) * (up_i . x_t) in half, for the fused matrix wgu
 * (n_ff gate rows, then n_ff up rows, n_in inputs) and half activations xh
 * (n_tok x n_in); out must not overlap xh. False where it does not apply:
 * lmc_qglu_ready() says whether the device and driver can run it (sm_90a
 * code, the tensor-map encoder; LOCALM_CUDA_QGLU=0 turns it off),
 * lmc_qglu_shape_ok() which shapes it takes. work: lmc_qglu_work_bytes() of
 * device memory, zeroed once before the first call (calls leave it so);
 * calls on one work area must not overlap. grid: the blocks of the
 * persistent grid, 0 for one a multiprocessor (tests pass fewer to reach
 * every form of the schedule). */
bool lmc_qglu_ready(void);
bool lmc_qglu_shape_ok(int n_ff, int n_in);
size_t lmc_qglu_work_bytes(void);
bool lmc_qglu_q4k(cudaStream_t st, const void *wgu, int n_ff, int n_in, const uint16_t *xh,
                  int n_tok, uint16_t *out, float *work, int grid);
/* y[t][i] += w_i . x_t straight from Q4_K or Q6_K blocks (k_qgemm.cu; rows x
 * n_in, float y of row stride ldy), on the same terms as lmc_qglu_q4k (and
 * the same work area); lmc_qmm_shape_ok() says which types and shapes it
 * takes. */
bool lmc_qmm_shape_ok(uint32_t type, int rows, int n_in);
bool lmc_qmm_add(cudaStream_t st, uint32_t type, const void *w, int rows, int n_in,
                 const uint16_t *xh, int n_tok, float *y, int ldy, float *work, int grid);

/* out[t][i] = silu(gu[t][i]) * gu[t][n_ff + i], gu and out half (prefill;
 * n_ff even). */
void lmc_swiglu_f16(cudaStream_t st, const uint16_t *gu, int n_tok, int n_ff, uint16_t *out);
/* y[i][:] = x[idx[i]][:], rows of n floats. */
void lmc_gather_rows(cudaStream_t st, const float *x, int n, const int32_t *idx, int n_idx,
                     float *y);

#ifdef __cplusplus
}
#endif
#endif
