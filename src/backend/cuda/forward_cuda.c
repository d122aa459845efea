/* forward_cuda.c — the CUDA engine's forward pass. Up to LMC_SMALL_TOK tokens
 * (decode, small batches of sequences) run through mat-vec kernels as one CUDA
 * graph per batch size; larger batches (prefill) multiply with cuBLAS on
 * tensor cores, each weight dequantised to half tiles (prefill_weights.c). Tokens of one call may
 * belong to several sequences; attention reads each token's own sequence. */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/engine_cuda_impl.h"
#include "backend/cuda/env_switch.h"
#include "backend/cuda/graph_capture.h"
#include "base/err.h"
#include "base/fault.h"
#include <stdlib.h>
#include <string.h>

#define T LMC_MAX_TOK

static int imin(int a, int b) {
    return a < b ? a : b;
}

static bool mv(lm_engine *e, const lmc_mat *m, const float *xf, int n, float *y, int ys, bool acc) {
    return lmc_matvec(e->st, m->type, m->w, m->n_in, m->rows, xf, e->xq, e->xs, n, y, ys, acc);
}

/* Whether the mat-vecs on a norm's output (the matrices given) read its float
 * copy, i.e. one of them has a float weight type; the others read only its
 * q8 blocks, and a one-token norm then writes no float copy (H100, decode
 * after a 128-token prompt, two rounds: 8B Q4_K_M 379.2 / 382.5 -> 381.1 /
 * 383.6 t/s, 1.1B Q4_0 1,552 / 1,574 -> 1,564 / 1,568: stores nobody read,
 * their effect within noise). */
static bool reads_f(const lmc_mat *a, const lmc_mat *b, const lmc_mat *c) {
    const lmc_mat *m[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (m[i] && m[i]->w && !lmc_type_uses_q8(m[i]->type)) return true;
    return false;
}

/* Mat-vec body for n <= LMC_SMALL_TOK tokens; logits of all n rows. Only
 * kernel launches on e->st, so it can be captured as a graph. Its inputs
 * (tokens, positions, sequences) are packed n apart in d_in (see
 * lmc_forward). */
static bool run_small(lm_engine *e, int n, bool staged) {
    const int32_t *tok = e->d_in, *pos = e->d_in + n, *seq = e->d_in + 2 * n;
    int E = e->n_embd, Q = e->nh * e->hd, K = e->nkv * e->hd, F = e->n_ff;
    float eps = e->hp.norm_eps;
    cudaStream_t st = e->st;
    bool ok = lmc_get_rows(st, e->tok.type, e->tok.w, E, tok, n, e->x);
    for (int l = 0; l < e->n_layer; l++) {
        lmc_layer *L = &e->layers[l];
        bool f = L->wqkv.w  ? reads_f(&L->wqkv, NULL, NULL)
                 : L->wqk.w ? reads_f(&L->wqk, &L->wv, NULL)
                            : reads_f(&L->wq, &L->wk, &L->wv);
        lmc_norm_act(st, e->x, n, E, L->attn_norm, eps, f ? e->xf : NULL, NULL, e->xq, e->xs);
        if (L->wqkv.w)
            ok &= mv(e, &L->wqkv, e->xf, n, e->qkv, e->qkv_dim, false);
        else if (L->wqk.w) {
            /* wq|wk and wv in one launch where the type pair has a kernel */
            if (!lmc_matvec_pair(st, L->wqk.type, L->wqk.w, L->wqk.rows, e->qkv, L->wv.type,
                                 L->wv.w, L->wv.rows, e->qkv + Q + K, E, e->xq, e->xs, n,
                                 e->qkv_dim))
                ok &= mv(e, &L->wqk, e->xf, n, e->qkv, e->qkv_dim, false) &&
                      mv(e, &L->wv, e->xf, n, e->qkv + Q + K, e->qkv_dim, false);
        } else
            ok &= mv(e, &L->wq, e->xf, n, e->qkv, e->qkv_dim, false) &&
                  mv(e, &L->wk, e->xf, n, e->qkv + Q, e->qkv_dim, false) &&
                  mv(e, &L->wv, e->xf, n, e->qkv + Q + K, e->qkv_dim, false);
        if (n == 1) { /* one kernel prepares q, k, v and attends */
            ok &= lmc_attention_rope1(st, e->qkv, e->nh, e->nkv, e->hd, L->bqkv, L->q_norm,
                                      L->k_norm, eps, e->inv_freq, (int)e->hp.rope_layout,
                                      L->k_cache, L->v_cache, e->n_ctx, pos, seq, e->dec_split,
                                      e->part, e->att_cnt, e->att, e->xq, e->xs, staged);
        } else {
            lmc_qkv_rope(st, e->qkv, n, e->nh, e->nkv, e->hd, L->bqkv, L->q_norm, L->k_norm, eps,
                         e->inv_freq, (int)e->hp.rope_layout, pos, seq, e->q, L->k_cache,
                         L->v_cache, e->n_ctx);
            ok &= lmc_attention(st, e->q, n, e->nh, e->nkv, e->hd, L->k_cache, L->v_cache, e->n_ctx,
                                pos, seq, e->dec_split, e->part, e->att_cnt, e->att, e->xq, e->xs,
                                staged);
        }
        ok &= mv(e, &L->wo, e->att, n, e->x, E, true);
        f = reads_f(&L->gate, &L->up, NULL);
        lmc_norm_act(st, e->x, n, E, L->ffn_norm, eps, f ? e->xf : NULL, NULL, e->xq, e->xs);
        if (n <= 2 && lmc_type_uses_q8(L->gate.type) && lmc_type_uses_q8(L->down.type) &&
            L->gate.type == L->up.type && F % 32 == 0) {
            /* the SwiGLU result goes to q8 blocks directly (second buffer: the
             * first still holds the kernel's input) */
            ok &= lmc_matvec_glu_q8(st, L->gate.type, L->gate.w, L->up.w, E, F, e->xq, e->xs, n,
                                    e->xq2, e->xs2);
            ok &= lmc_matvec(st, L->down.type, L->down.w, F, L->down.rows, NULL, e->xq2, e->xs2, n,
                             e->x, E, true);
        } else {
            ok &= lmc_matvec_glu(st, L->gate.type, L->gate.w, L->up.w, E, F, e->xf, e->xq, e->xs, n,
                                 e->ffb, F);
            lmc_convert_act(st, e->ffb, n, F, NULL, e->xq, e->xs);
            ok &= mv(e, &L->down, e->ffb, n, e->x, E, true);
        }
    }
    return lmc_logits_small(e, n) && ok;
}

bool lmc_logits_small(lm_engine *e, int n) {
    lmc_norm_act(e->st, e->x, n, e->n_embd, e->out_norm, e->hp.norm_eps,
                 reads_f(&e->out, NULL, NULL) ? e->xf : NULL, NULL, e->xq, e->xs);
    return mv(e, &e->out, e->xf, n, e->logits, e->n_vocab, false);
}

static bool gemm(lm_engine *e, const lmc_mat *m, const uint16_t *xh, int n, float *y, int ldy,
                 float beta) {
    return lmc_gemm(e, m, xh, n, y, ldy, beta, false);
}

/* A prompt-length bound from the environment (default dflt), at most a
 * piece's LMC_MAX_TOK tokens. */
static int tok_bound(const char *var, int dflt) {
    const char *s = getenv(var);
    int v = s ? atoi(s) : dflt;
    return v > LMC_MAX_TOK ? LMC_MAX_TOK : v;
}

/* Prompts of up to this many tokens multiply straight from the quantised
 * blocks on the int8 tensor cores (k_mmq.cu) when every layer matrix is of
 * a type that kernel reads; longer ones dequantise to half for cuBLAS, whose
 * fixed cost (every weight written out in half: ~12.5 ms on an 8B, 2.4 ms on
 * a 1.1B) pays off over many tokens. H100, 16 / 32 tokens: 8B Q4_K_M 6.3 /
 * 9.0 ms against 12.4 / 12.5, 1.1B Q4_0 1.3 / 1.8 against 2.4 / 2.4; at 64
 * cuBLAS is ahead on the 8B (12.9 ms against 16.2). LOCALM_CUDA_MMQ_TOK=n
 * moves the bound. */
static int mmq_max_tok(void) {
    static int v = -1;
    if (v < 0) v = tok_bound("LOCALM_CUDA_MMQ_TOK", 32);
    return v;
}

/* Prompts up to this many tokens multiply a Q4_K gate|up (and down) from
 * their blocks (k_qgemm.cu); longer ones through cuBLAS on dequantised
 * tiles, which wins there (H100, 8B, 2,048 tokens: 36.2k t/s against 35.9k
 * with the bound raised; NOTES-cuda.md, passes 19-20).
 * LOCALM_CUDA_QGLU_MAX=n moves the bound. */
static int qglu_max_tok(void) {
    static int v = -1;
    if (v < 0) v = tok_bound("LOCALM_CUDA_QGLU_MAX", 1024);
    return v;
}

/* y (+)= W x for the n tokens' activations: q8 ones (e->xq / e->xs) on the
 * int8 tensor cores, or half ones (e->xh) through the GEMM pipeline. */
static bool mm(lm_engine *e, const lmc_mat *m, int n, float *y, int ldy, bool acc, bool q8) {
    if (q8)
        return lmc_mmq(e->st, m->type, m->w, NULL, m->n_in, m->rows, e->xq, e->xs, n, y, ldy, acc,
                       e->mmq256);
    return gemm(e, m, e->xh, n, y, ldy, acc ? 1.0f : 0.0f);
}

/* The norm of x (or a conversion of src) as the next matrix's activations. */
static void act(lm_engine *e, const float *src, int n, int dim, const float *norm, bool q8) {
    if (q8 && e->mmq256)
        lmc_act_q8_256(e->st, src, n, dim, norm, e->hp.norm_eps, e->xq, e->xs);
    else if (norm)
        lmc_norm_act(e->st, src, n, dim, norm, e->hp.norm_eps, NULL, q8 ? NULL : e->xh,
                     q8 ? e->xq : NULL, q8 ? e->xs : NULL);
    else
        lmc_convert_act(e->st, src, n, dim, q8 ? NULL : e->xh, q8 ? e->xq : NULL,
                        q8 ? e->xs : NULL);
}

/* One layer of a prompt of n tokens. q8: short prompts of a model whose
 * matrices lmc_mmq reads multiply the quantised blocks with q8 activations;
 * otherwise half activations go through the GEMM pipeline, whose calls
 * follow its fixed order. */
static bool layer(lm_engine *e, const lmc_layer *L, int n, int one_seq, int ctx, bool q8) {
    const int32_t *pos = e->d_in + T, *seq = e->d_in + 2 * T;
    int E = e->n_embd, Q = e->nh * e->hd, K = e->nkv * e->hd, F = e->n_ff;
    cudaStream_t st = e->st;
    bool ok = true;
    act(e, e->x, n, E, L->attn_norm, q8);
    if (L->wqkv.w)
        ok &= mm(e, &L->wqkv, n, e->qkv, e->qkv_dim, false, q8);
    else if (L->wqk.w && !q8) /* wv's rows follow wq|wk's */
        ok &= lmc_gemm2(e, &L->wqk, &L->wv, e->xh, n, e->qkv, e->qkv_dim);
    else if (L->wqk.w) { /* one launch for both where the type pair has one */
        if (!lmc_mmq_pair(st, L->wqk.type, L->wqk.w, L->wqk.rows, e->qkv, L->wv.type, L->wv.w,
                          L->wv.rows, e->qkv + Q + K, E, e->xq, e->xs, n, e->qkv_dim, e->mmq256))
            ok &= mm(e, &L->wqk, n, e->qkv, e->qkv_dim, false, q8) &&
                  mm(e, &L->wv, n, e->qkv + Q + K, e->qkv_dim, false, q8);
    } else
        ok &= mm(e, &L->wq, n, e->qkv, e->qkv_dim, false, q8) &&
              mm(e, &L->wk, n, e->qkv + Q, e->qkv_dim, false, q8) &&
              mm(e, &L->wv, n, e->qkv + Q + K, e->qkv_dim, false, q8);
    lmc_qkv_rope(st, e->qkv, n, e->nh, e->nkv, e->hd, L->bqkv, L->q_norm, L->k_norm, e->hp.norm_eps,
                 e->inv_freq, (int)e->hp.rope_layout, pos, seq, e->q, L->k_cache, L->v_cache,
                 e->n_ctx);
    /* tensor cores when it applies (writing the GEMM's half input directly) */
    bool tc = one_seq >= 0 && lmc_attention_prefill(st, e->q, n, e->nh, e->nkv, e->hd, L->k_cache,
                                                    L->v_cache, e->n_ctx, pos, ctx, one_seq,
                                                    q8 ? e->att : NULL, q8 ? NULL : e->xh);
    if (!tc)
        ok &= lmc_attention(st, e->q, n, e->nh, e->nkv, e->hd, L->k_cache, L->v_cache, e->n_ctx,
                            pos, seq, 1, e->part, NULL, e->att, NULL, NULL, false);
    if (q8 || !tc) act(e, e->att, n, Q, NULL, q8);
    ok &= mm(e, &L->wo, n, e->x, E, true, q8);
    act(e, e->x, n, E, L->ffn_norm, q8);
    /* down's half input */
    const uint16_t *h = e->xh;
    if (q8) { /* silu(gate) * up in float, then its q8 blocks */
        ok &= lmc_mmq(st, L->gate.type, L->gate.w, L->up.w, E, F, e->xq, e->xs, n, e->ffb, F, false,
                      e->mmq256);
        act(e, e->ffb, n, F, NULL, q8);
    } else if (e->qglu_pass && !L->wgu.h) { /* silu(gate) * up in half from the Q4_K blocks */
        h = (const uint16_t *)e->ffb;
        ok &= lmc_qglu_q4k(st, L->wgu.w, F, E, e->xh, n, (uint16_t *)e->ffb, e->qglu_work, 0);
    } else { /* gate|up in half, then silu(gate) * up */
        uint16_t *gu = (uint16_t *)e->ffb;
        if (L->wgu.w)
            ok &= lmc_gemm(e, &L->wgu, e->xh, n, gu, 2 * F, 0.0f, true);
        else
            ok &= lmc_gemm(e, &L->gate, e->xh, n, gu, 2 * F, 0.0f, true) &&
                  lmc_gemm(e, &L->up, e->xh, n, gu + F, 2 * F, 0.0f, true);
        lmc_swiglu_f16(st, gu, n, F, e->xh);
    }
    /* down from its blocks in a qglu pass (k_qgemm.cu), added into the
     * residual in the kernel */
    if (e->qglu_pass && lmc_down_direct(e, &L->down))
        ok &= lmc_qmm_add(st, L->down.type, L->down.w, E, F, h, n, e->x, E, e->qglu_work, 0);
    else if (q8)
        ok &= mm(e, &L->down, n, e->x, E, true, q8);
    else
        ok &= gemm(e, &L->down, h, n, e->x, E, 1.0f);
    return ok;
}

/* Body for n > LMC_SMALL_TOK tokens; logits for the n_out rows listed in
 * d_in[3T..], copied to host rows dst. one_seq: the sequence of every
 * token, or -1 when they are of several (tensor-core attention needs one). */
static bool run_big(lm_engine *e, int n, int n_out, float *dst, int one_seq) {
    const int32_t *tok = e->d_in, *idx = e->d_in + 3 * T;
    int E = e->n_embd, V = e->n_vocab;
    float eps = e->hp.norm_eps;
    cudaStream_t st = e->st;
    bool ok = lmc_get_rows(st, e->tok.type, e->tok.w, E, tok, n, e->x);
    bool q8 = n <= mmq_max_tok() && e->mmq;
    e->qglu_pass = !q8 && e->qglu && n <= qglu_max_tok();
    /* the GEMMs below follow the pipeline's order */
    lmc_wpipe_reset(e, e->qglu_pass);
    int ctx = 0; /* the longest context among the tokens (host copy of pos) */
    for (int i = 0; i < n; i++)
        if (e->h_in[T + i] + 1 > ctx) ctx = e->h_in[T + i] + 1;
    for (int l = 0; l < e->n_layer && ok; l++)
        ok &= layer(e, &e->layers[l], n, one_seq, ctx, q8);
    if (!ok || n_out == 0) return ok;
    lmc_gather_rows(st, e->x, E, idx, n_out, e->xg);
    for (int r0 = 0; r0 < n_out && ok; r0 += LMC_LOGIT_ROWS) {
        int nr = imin(LMC_LOGIT_ROWS, n_out - r0);
        const float *xr = e->xg + (size_t)r0 * E;
        if (nr <= LMC_SMALL_TOK) {
            lmc_norm_act(st, xr, nr, E, e->out_norm, eps, e->xf, NULL, e->xq, e->xs);
            ok &= mv(e, &e->out, e->xf, nr, e->logits, V, false);
        } else {
            lmc_norm_act(st, xr, nr, E, e->out_norm, eps, NULL, e->xh, NULL, NULL);
            ok &= gemm(e, &e->out, e->xh, nr, e->logits, V, 0.0f);
        }
        ok &= cudaMemcpyAsync(dst + (size_t)r0 * V, e->logits, (size_t)nr * V * sizeof(float),
                              cudaMemcpyDeviceToHost, st) == cudaSuccess;
    }
    return ok;
}

typedef struct small_args {
    lm_engine *e;
    int n;
    bool staged;
} small_args;
static bool small_body(void *ctx) {
    const small_args *s = ctx;
    return run_small(s->e, s->n, s->staged);
}

/* Replays (capturing on first use) the graph of the n-token decode body.
 * staged: some token's context is long enough for chunks of several tiles,
 * which the decode attention then stages in shared memory (a graph of its
 * own: the form is fixed when the graph is captured). */
static bool launch_small(lm_engine *e, int n, bool staged) {
    static int use_graph = -1;
    if (use_graph < 0) use_graph = lmc_switch("LOCALM_CUDA_GRAPH", true);
    if (!use_graph) return run_small(e, n, staged);
    cudaGraphExec_t *ge = &e->graph[staged][n];
    if (!*ge) {
        /* The first step of each size runs directly (loading the kernels
         * outside any capture); the graph is captured for the next ones. */
        if (!run_small(e, n, staged)) return false;
        small_args sa = {e, n, staged};
        return lmc_graph_capture(e->st, small_body, &sa, ge);
    }
    return cudaGraphLaunch(*ge, e->st) == cudaSuccess;
}

/* A prompt of n tokens into sequence 0 with no logits, its positions then
 * forgotten (seq_len is left as it was). */
static bool warm_prompt(lm_engine *e, int n) {
    int32_t *h = e->h_in;
    for (int i = 0; i < n; i++)
        h[i] = i % e->n_vocab, h[T + i] = i, h[2 * T + i] = 0;
    return cudaMemcpyAsync(e->d_in, h, 4 * T * sizeof(int32_t), cudaMemcpyHostToDevice, e->st) ==
               cudaSuccess &&
           run_big(e, n, 0, NULL, 0) && cudaStreamSynchronize(e->st) == cudaSuccess;
}

/* The longer warm-up prompt: the benchmark's prompt length, and within the
 * bound of the prompts multiplied from the blocks. */
enum { WARM_LONG = 512 };

bool lmc_warm_up(lm_engine *e) {
    if (!lmc_switch("LOCALM_CUDA_WARMUP", true)) return true;
    int n = imin(64, e->n_ctx);
    bool ok = n <= LMC_SMALL_TOK || warm_prompt(e, n);
    if (ok && n > LMC_SMALL_TOK && e->qglu) { /* and the GEMM longer prompts use instead */
        e->qglu = false;
        ok = warm_prompt(e, n);
        e->qglu = true;
    }
    if (ok && e->mmq && mmq_max_tok() > LMC_SMALL_TOK) ok = warm_prompt(e, LMC_SMALL_TOK + 1);
    /* cuBLAS picks other kernels for hundreds of tokens than for 64 and
     * loads each on its first call: an 8B's first 512-token prompt after the
     * 64-token warm-up still took ~9 ms longer than the next (two kernels
     * loaded, tools/cuda_trace.c). H100, the first of a benchmark's 512-token
     * prompts: 18.7k-24.3k t/s before, 35.5k with this (the median's) */
    if (ok && e->n_ctx >= WARM_LONG) ok = warm_prompt(e, WARM_LONG);
    return ok && cudaGetLastError() == cudaSuccess;
}

static lm_status device_error(lm_engine *e, lm_err *err, const char *what) {
    cudaError_t rc = cudaGetLastError();
    if (rc == cudaSuccess) rc = cudaStreamSynchronize(e->st);
    /* Launch-configuration errors clear; anything else poisons the context. */
    if (rc != cudaSuccess && rc != cudaErrorInvalidValue && rc != cudaErrorInvalidConfiguration)
        e->failed = true;
    return lm_fail(err, LM_ERR_BACKEND, "cuda: %s failed: %s", what,
                   rc == cudaSuccess ? "unsupported arguments" : cudaGetErrorString(rc));
}

lm_status lmc_forward(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err) {
    if (out) out->rows = NULL; /* the rows are in out->data unless set below */
    if (e->failed) return lm_fail(err, LM_ERR_BACKEND, "cuda: the device failed earlier");
    if (lm_fault_hit("forward"))
        return lm_fail(err, LM_ERR_FAULT_INJECTED, "cuda: forward: fault injected by LOCALM_FAULT");
    if (!b || b->n_tokens <= 0 || !b->tokens || !b->pos || !out || !out->data)
        return lm_fail(err, LM_ERR_INVALID_ARG, "cuda: empty batch or no logits buffer");
    int n_out = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        int s = b->seq ? b->seq[i] : 0;
        if (b->tokens[i] < 0 || b->tokens[i] >= e->n_vocab)
            return lm_fail(err, LM_ERR_INVALID_ARG, "cuda: token %d out of range", b->tokens[i]);
        if (s < 0 || s >= e->n_seq)
            return lm_fail(err, LM_ERR_INVALID_ARG, "cuda: sequence %d out of range", s);
        if (b->pos[i] < 0 || b->pos[i] >= e->n_ctx)
            return lm_fail(err, LM_ERR_CONTEXT_FULL, "cuda: position %d outside the context of %d",
                           b->pos[i], e->n_ctx);
        n_out += b->logits ? b->logits[i] != 0 : i == b->n_tokens - 1;
    }
    if (n_out > out->capacity)
        return lm_fail(err, LM_ERR_INVALID_ARG, "cuda: %d logit rows wanted, buffer holds %d",
                       n_out, out->capacity);
    out->n_vocab = e->n_vocab;
    out->n_rows = n_out;
    size_t V = (size_t)e->n_vocab;
    int row = 0;
    for (int c0 = 0; c0 < b->n_tokens; c0 += T) {
        int n = imin(T, b->n_tokens - c0), n_o = 0;
        bool small = n <= LMC_SMALL_TOK;
        /* Tokens, positions, sequences and the rows wanted, S apart: T for
         * prompts, n for a decode step, so that its copy to the device is
         * 12 n bytes rather than 32 KB. */
        int S = small ? n : T;
        int32_t *h = e->h_in;
        int one_seq = b->seq ? b->seq[c0] : 0;
        for (int i = 0; i < n; i++) {
            int g = c0 + i;
            h[i] = b->tokens[g];
            h[S + i] = b->pos[g];
            h[2 * S + i] = b->seq ? b->seq[g] : 0;
            if (h[2 * S + i] != one_seq) one_seq = -1;
            if (b->logits ? b->logits[g] != 0 : g == b->n_tokens - 1) h[3 * S + n_o++] = i;
        }
        /* One token of a context the persistent step covers takes it; its
         * step number goes to d_in[4] (for n = 1, S = 1: after the token,
         * position, sequence and the host's row index). */
        bool persist = n == 1 && lmc_persist_takes(e, h[S]);
        int n_in = small ? 3 * S : 4 * T;
        if (persist) h[4] = lmc_persist_next_step(e), n_in = 5;
        /* (a decode step's row list stays on the host) */
        if (cudaMemcpyAsync(e->d_in, h, n_in * sizeof(int32_t), cudaMemcpyHostToDevice, e->st))
            return device_error(e, err, "input copy");
        if (persist) {
            if (!lmc_persist_run(e)) return device_error(e, err, "decode step");
            if (!lmc_persist_logits_on_host(e) &&
                cudaMemcpyAsync(e->h_logits, e->logits, V * sizeof(float), cudaMemcpyDeviceToHost,
                                e->st))
                return device_error(e, err, "logits copy");
        } else if (small) {
            bool staged = false; /* a context past one tile per chunk */
            for (int i = 0; i < n; i++)
                staged |= lmc_attention_dec_staged(h[S + i] + 1, e->dec_split);
            if (!launch_small(e, n, staged)) return device_error(e, err, "decode step");
            /* into pinned memory: a copy to pageable memory goes through the
             * driver's staging buffer in pieces. H200, decode t/s: 1.1B Q4_0
             * 1,569-1,573 -> 1,598-1,611, 8B 385-386 -> 387-389 (with no copy
             * at all 1,648 / 396). */
            for (int k = 0; k < n_o; k++)
                if (cudaMemcpyAsync(e->h_logits + k * V, e->logits + (size_t)h[3 * S + k] * V,
                                    V * sizeof(float), cudaMemcpyDeviceToHost, e->st))
                    return device_error(e, err, "logits copy");
        } else if (!run_big(e, n, n_o, out->data + row * V, one_seq)) {
            return device_error(e, err, "prefill");
        }
        cudaError_t rc = cudaStreamSynchronize(e->st);
        if (rc == cudaSuccess) rc = cudaGetLastError();
        if (rc != cudaSuccess) {
            e->failed = true;
            return lm_fail(err, LM_ERR_BACKEND, "cuda: forward failed: %s", cudaGetErrorString(rc));
        }
        /* A call that is one decode step leaves its rows in the pinned
         * buffer for the caller (out->rows): copying them into its buffer
         * was a pass over host memory that cost more than the transfer
         * (H100 A/B, decode t/s: 8B Q4_K_M 368-373 -> 377-378; 1.1B Q4_0
         * 1,482-1,484 -> 1,500-1,501 with the copy skipped). */
        if (small && n == b->n_tokens)
            out->rows = e->h_logits;
        else if (small)
            memcpy(out->data + row * V, e->h_logits, (size_t)n_o * V * sizeof(float));
        for (int i = 0; i < n; i++) {
            int s = h[2 * S + i];
            if (h[S + i] + 1 > e->seq_len[s]) e->seq_len[s] = h[S + i] + 1;
        }
        row += n_o;
    }
    return LM_OK;
}
