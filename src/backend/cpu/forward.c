/* forward.c — the CPU engine's forward pass over a batch of tokens: embedding,
 * per layer RMSNorm → QKV → RoPE → KV store → attention → output projection
 * → RMSNorm → gated FFN, then the final norm and logits of flagged tokens.
 * Each stage is one thread-pool dispatch: matrix products split rows between
 * threads (and fuse the residual add / SiLU gating on each thread's own rows),
 * per-token work splits tokens. One-token (decode) steps fuse further: each
 * thread normalises and converts the single input row itself before its
 * rows, and RoPE, cache store and attention run in one dispatch split by KV
 * head — five dispatches per layer instead of eleven. Nothing is allocated
 * here. */
#include "backend/cpu/cpu_engine_state.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/quant.h"
#include "base/err.h"
#include "base/fault.h"
#include "base/half.h"
#include <math.h>
#include <string.h>

/* Rows are handed out in multiples of this so threads do not share cache
 * lines of the output and kernels get whole tiles. */
#define ROW_ALIGN 16

typedef struct step_ctx {
    lm_engine *e;
    int layer;
    const int32_t *tokens;
    int n_rows;    /* tokens wanting logits in this step */
    float *logits; /* where this step's logit rows go */
} step_ctx;

static void split_rows(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1) {
    int64_t blocks = (n + ROW_ALIGN - 1) / ROW_ALIGN;
    int64_t b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
    *r0 = b0 * ROW_ALIGN < n ? b0 * ROW_ALIGN : n;
    *r1 = b1 * ROW_ALIGN < n ? b1 * ROW_ALIGN : n;
}

/* ---- activation conversion (once per matmul input, per weight type) ---- */

static void act_plan(cpu_act *a, const lm_tensor *const *ws, int nw, int64_t n_in) {
    a->n_slots = 0;
    for (int i = 0; i < nw; i++) {
        bool seen = false;
        for (int s = 0; s < a->n_slots; s++)
            seen |= a->types[s] == ws[i]->type;
        if (seen) continue;
        a->types[a->n_slots] = ws[i]->type;
        a->row_bytes[a->n_slots] = lm_cpu_act_row_bytes(ws[i]->type, n_in);
        a->n_slots++;
    }
}

static void act_convert_token(cpu_act *a, const float *x, int64_t n_in, int t) {
    for (int s = 0; s < a->n_slots; s++)
        lm_cpu_act_convert(a->types[s], x, a->buf[s] + (size_t)t * a->row_bytes[s], n_in);
}

static int act_slot(const cpu_act *a, uint32_t type) {
    for (int s = 0; s < a->n_slots; s++)
        if (a->types[s] == type) return s;
    return 0; /* unreachable: act_plan saw every consumer */
}

/* Where a thread's matmul reads its converted input: the shared buffers, or
 * the thread's own copy in one-token steps. */
typedef struct act_view {
    const cpu_act *plan;
    uint8_t *buf[LM_CPU_ACT_SLOTS];
} act_view;

static act_view shared_view(const cpu_act *a) {
    act_view v = {.plan = a};
    for (int s = 0; s < LM_CPU_ACT_SLOTS; s++)
        v.buf[s] = a->buf[s];
    return v;
}

/* One-token steps: this thread converts row x itself (after an optional
 * RMSNorm with weights w) into its private buffers. */
static act_view local_view(lm_engine *e, const cpu_act *a, int ith, const float *x, int64_t n,
                           const float *norm_w) {
    act_view v = {.plan = a};
    for (int s = 0; s < LM_CPU_ACT_SLOTS; s++)
        v.buf[s] = e->t_act + ((size_t)ith * LM_CPU_ACT_SLOTS + (size_t)s) * e->t_act_stride;
    if (norm_w) {
        float *xn = e->t_x + (size_t)ith * e->t_x_stride;
        lm_cpu_rmsnorm(xn, x, norm_w, n, e->hp.norm_eps);
        x = xn;
    }
    for (int s = 0; s < a->n_slots; s++)
        lm_cpu_act_convert(a->types[s], x, v.buf[s], n);
    return v;
}

/* y rows [r0, r1) of w for every token of the step. */
static void matmul_rows(const lm_tensor *w, const act_view *a, int64_t r0, int64_t r1, int n_tok,
                        float *y, size_t y_stride) {
    if (r0 >= r1) return;
    int s = act_slot(a->plan, w->type);
    lm_cpu_matmul(w->type, w->data, (int64_t)w->ne[0], r0, r1, a->buf[s], a->plan->row_bytes[s],
                  n_tok, y, y_stride);
}

/* ---- stages ---- */

static void task_embed(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    const lm_tensor *emb = e->m->tok_embd;
    size_t row_bytes = (size_t)(emb->nbytes / emb->ne[1]);
    int half = (int)e->hp.head_dim / 2;
    for (int t = ith; t < e->n_tok; t += nth) {
        const uint8_t *row = (const uint8_t *)emb->data + (size_t)c->tokens[t] * row_bytes;
        lm_cpu_dequant_row(emb->type, row, e->x + (size_t)t * e->hp.n_embd, e->hp.n_embd);
        lm_cpu_rope_cos_sin(e->inv_freq, half, e->tok_pos[t], e->rope_cs + (size_t)t * 2 * half);
    }
}

static void task_attn_in(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    int64_t n = e->hp.n_embd;
    for (int t = ith; t < e->n_tok; t += nth) {
        float *xn = e->xn + (size_t)t * n;
        lm_cpu_rmsnorm(xn, e->x + (size_t)t * n, e->layers[c->layer].attn_norm, n, e->hp.norm_eps);
        act_convert_token(&e->act_xn, xn, n, t);
    }
}

static void task_qkv(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    const lm_layer *L = &e->m->layers[c->layer];
    int64_t total = e->q_dim + 2 * e->kv_dim, r0, r1;
    split_rows(total, ith, nth, &r0, &r1);
    const lm_tensor *w[3] = {L->wq, L->wk, L->wv};
    float *y[3] = {e->q, e->k, e->v};
    int64_t dims[3] = {e->q_dim, e->kv_dim, e->kv_dim}, off = 0;
    act_view av = e->n_tok == 1 ? local_view(e, &e->act_xn, ith, e->x, e->hp.n_embd,
                                             e->layers[c->layer].attn_norm)
                                : shared_view(&e->act_xn);
    for (int i = 0; i < 3; i++) {
        int64_t a = r0 > off ? r0 - off : 0, b = r1 - off < dims[i] ? r1 - off : dims[i];
        if (a < b) matmul_rows(w[i], &av, a, b, e->n_tok, y[i], (size_t)dims[i]);
        off += dims[i];
    }
}

static void add_bias(float *v, const float *b, int64_t n) {
    if (b)
        for (int64_t i = 0; i < n; i++)
            v[i] += b[i];
}

static void head_norm(float *v, int n_heads, int dim, const float *w, float eps) {
    if (!w) return;
    for (int h = 0; h < n_heads; h++)
        lm_cpu_rmsnorm(v + (size_t)h * dim, v + (size_t)h * dim, w, dim, eps);
}

/* Bias, per-head norm and RoPE for query heads [h0, h1) and KV heads
 * [g0, g1) of token t, then those K and V heads into the cache. */
static void prepare_heads(lm_engine *e, int layer, int t, int h0, int h1, int g0, int g1) {
    const cpu_layer *L = &e->layers[layer];
    int hd = (int)e->hp.head_dim, nkv = (int)e->hp.n_head_kv;
    float *q = e->q + (size_t)t * e->q_dim + (size_t)h0 * hd;
    float *k = e->k + (size_t)t * e->kv_dim + (size_t)g0 * hd;
    float *v = e->v + (size_t)t * e->kv_dim + (size_t)g0 * hd;
    int nq = h1 - h0, nk = g1 - g0;
    if (L->bq) add_bias(q, L->bq + (size_t)h0 * hd, (int64_t)nq * hd);
    if (L->bk) add_bias(k, L->bk + (size_t)g0 * hd, (int64_t)nk * hd);
    if (L->bv) add_bias(v, L->bv + (size_t)g0 * hd, (int64_t)nk * hd);
    head_norm(q, nq, hd, L->q_norm, e->hp.norm_eps);
    head_norm(k, nk, hd, L->k_norm, e->hp.norm_eps);
    const float *cs = e->rope_cs + (size_t)t * hd;
    lm_cpu_rope_apply(q, nq, hd, e->hp.rope_layout, cs);
    lm_cpu_rope_apply(k, nk, hd, e->hp.rope_layout, cs);
    for (int h = g0; h < g1; h++) {
        size_t idx = ((((size_t)e->tok_seq[t] * e->hp.n_layer + (size_t)layer) * nkv + (size_t)h) *
                          e->n_ctx +
                      (size_t)e->tok_pos[t]) *
                     (size_t)hd;
        const float *kh = k + (size_t)(h - g0) * hd, *vh = v + (size_t)(h - g0) * hd;
        if (e->kv_type == LM_KV_F16) {
            uint16_t *kc = (uint16_t *)e->k_cache + idx, *vc = (uint16_t *)e->v_cache + idx;
            for (int i = 0; i < hd; i++) {
                kc[i] = lm_float_to_half(kh[i]);
                vc[i] = lm_float_to_half(vh[i]);
            }
        } else {
            memcpy((float *)e->k_cache + idx, kh, (size_t)hd * 4);
            memcpy((float *)e->v_cache + idx, vh, (size_t)hd * 4);
        }
    }
}

static void task_rope_store(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    for (int t = ith; t < e->n_tok; t += nth)
        prepare_heads(e, c->layer, t, 0, (int)e->hp.n_head, 0, (int)e->hp.n_head_kv);
}

/* One-token steps: each thread takes whole KV-head groups, so the keys and
 * values it stores are the only new ones its query heads read — no barrier
 * between storing and attending. */
static void task_rope_attend_group(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    int nkv = (int)e->hp.n_head_kv, group = (int)(e->hp.n_head / e->hp.n_head_kv);
    int hd = (int)e->hp.head_dim;
    float *scores = e->scores + (size_t)ith * e->n_ctx;
    for (int g = ith; g < nkv; g += nth) {
        prepare_heads(e, c->layer, 0, g * group, (g + 1) * group, g, g + 1);
        for (int h = g * group; h < (g + 1) * group; h++)
            lm_cpu_attend_head(e, c->layer, e->tok_seq[0], e->tok_pos[0], h, e->q + (size_t)h * hd,
                               e->att + (size_t)h * hd, scores);
    }
}

/* (token, head) items interleaved across threads: causal rows grow with the
 * position, so interleaving keeps the threads' shares even. */
static void task_attention(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    int nh = (int)e->hp.n_head, hd = (int)e->hp.head_dim;
    float *scores = e->scores + (size_t)ith * e->n_ctx;
    for (int it = ith; it < e->n_tok * nh; it += nth) {
        int t = it / nh, h = it % nh;
        lm_cpu_attend_head(e, c->layer, e->tok_seq[t], e->tok_pos[t], h,
                           e->q + (size_t)t * e->q_dim + (size_t)h * hd,
                           e->att + (size_t)t * e->q_dim + (size_t)h * hd, scores);
    }
}

static void task_convert_att(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    for (int t = ith; t < e->n_tok; t += nth)
        act_convert_token(&e->act_att, e->att + (size_t)t * e->q_dim, e->q_dim, t);
}

/* y = W a for this thread's rows, then x += y on those same rows. */
static void residual_matmul(lm_engine *e, const lm_tensor *w, const cpu_act *a, const float *in,
                            int64_t n_in, int ith, int nth) {
    int64_t n = e->hp.n_embd, r0, r1;
    split_rows(n, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    act_view av = e->n_tok == 1 ? local_view(e, a, ith, in, n_in, NULL) : shared_view(a);
    matmul_rows(w, &av, r0, r1, e->n_tok, e->tmp, (size_t)n);
    for (int t = 0; t < e->n_tok; t++) {
        float *x = e->x + (size_t)t * n;
        const float *y = e->tmp + (size_t)t * n;
        for (int64_t r = r0; r < r1; r++)
            x[r] += y[r];
    }
}

static void task_wo(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    residual_matmul(c->e, c->e->m->layers[c->layer].wo, &c->e->act_att, c->e->att, c->e->q_dim, ith,
                    nth);
}

static void task_ffn_in(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    int64_t n = e->hp.n_embd;
    for (int t = ith; t < e->n_tok; t += nth) {
        float *xn = e->xn + (size_t)t * n;
        lm_cpu_rmsnorm(xn, e->x + (size_t)t * n, e->layers[c->layer].ffn_norm, n, e->hp.norm_eps);
        act_convert_token(&e->act_xn, xn, n, t);
    }
}

/* gate and up for the same rows on one thread, so SiLU(gate) * up needs no
 * barrier. */
static void task_gate_up(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    const lm_layer *L = &e->m->layers[c->layer];
    int64_t n = e->hp.n_ff, r0, r1;
    split_rows(n, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    act_view av = e->n_tok == 1 ? local_view(e, &e->act_xn, ith, e->x, e->hp.n_embd,
                                             e->layers[c->layer].ffn_norm)
                                : shared_view(&e->act_xn);
    matmul_rows(L->ffn_gate, &av, r0, r1, e->n_tok, e->gate, (size_t)n);
    matmul_rows(L->ffn_up, &av, r0, r1, e->n_tok, e->up, (size_t)n);
    for (int t = 0; t < e->n_tok; t++) {
        float *g = e->gate + (size_t)t * n;
        const float *u = e->up + (size_t)t * n;
#if defined(__x86_64__)
        if (lm_cpu_current_isa() == LM_ISA_AVX512) {
            lm_cpu_avx512_silu_mul(g + r0, u + r0, r1 - r0);
            continue;
        }
#endif
        for (int64_t r = r0; r < r1; r++)
            g[r] = g[r] / (1.0f + expf(-g[r])) * u[r];
    }
}

static void task_convert_h(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    for (int t = ith; t < e->n_tok; t += nth)
        act_convert_token(&e->act_h, e->gate + (size_t)t * e->hp.n_ff, e->hp.n_ff, t);
}

static void task_down(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    residual_matmul(c->e, c->e->m->layers[c->layer].ffn_down, &c->e->act_h, c->e->gate,
                    c->e->hp.n_ff, ith, nth);
}

/* Final norm of the tokens that want logits, packed into rows 0..n_rows. */
static void task_out_in(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    int64_t n = e->hp.n_embd;
    for (int i = ith; i < c->n_rows; i += nth) {
        float *xn = e->xn + (size_t)i * n;
        lm_cpu_rmsnorm(xn, e->x + (size_t)e->rows[i] * n, e->output_norm, n, e->hp.norm_eps);
        act_convert_token(&e->act_out, xn, n, i);
    }
}

static void task_logits(void *ctx, int ith, int nth) {
    step_ctx *c = ctx;
    lm_engine *e = c->e;
    int64_t r0, r1;
    split_rows(e->n_vocab, ith, nth, &r0, &r1);
    act_view av = c->n_rows == 1
                      ? local_view(e, &e->act_out, ith, e->x + (size_t)e->rows[0] * e->hp.n_embd,
                                   e->hp.n_embd, e->output_norm)
                      : shared_view(&e->act_out);
    matmul_rows(e->m->output, &av, r0, r1, c->n_rows, c->logits, (size_t)e->n_vocab);
}

/* ---- driver ---- */

static void run_step(lm_engine *e, const int32_t *tokens, const int8_t *flags, int n_tok,
                     bool last_only, bool is_last_step, float *logits, int *n_rows) {
    step_ctx c = {.e = e, .tokens = tokens};
    e->n_tok = n_tok;
    lm_threadpool_run(e->pool, task_embed, &c);
    for (uint32_t l = 0; l < e->hp.n_layer; l++) {
        const lm_layer *L = &e->m->layers[l];
        c.layer = (int)l;
        const lm_tensor *qkv[3] = {L->wq, L->wk, L->wv};
        const lm_tensor *gu[2] = {L->ffn_gate, L->ffn_up};
        bool one = n_tok == 1;
        act_plan(&e->act_xn, qkv, 3, e->hp.n_embd);
        if (!one) lm_threadpool_run(e->pool, task_attn_in, &c);
        lm_threadpool_run(e->pool, task_qkv, &c);
        if (one) {
            lm_threadpool_run(e->pool, task_rope_attend_group, &c);
        } else {
            lm_threadpool_run(e->pool, task_rope_store, &c);
            lm_threadpool_run(e->pool, task_attention, &c);
        }
        act_plan(&e->act_att, &L->wo, 1, e->q_dim);
        if (!one) lm_threadpool_run(e->pool, task_convert_att, &c);
        lm_threadpool_run(e->pool, task_wo, &c);
        act_plan(&e->act_xn, gu, 2, e->hp.n_embd);
        if (!one) lm_threadpool_run(e->pool, task_ffn_in, &c);
        lm_threadpool_run(e->pool, task_gate_up, &c);
        act_plan(&e->act_h, &L->ffn_down, 1, e->hp.n_ff);
        if (!one) lm_threadpool_run(e->pool, task_convert_h, &c);
        lm_threadpool_run(e->pool, task_down, &c);
    }
    int nr = 0;
    for (int t = 0; t < n_tok; t++)
        if (last_only ? (is_last_step && t == n_tok - 1) : flags[t] != 0) e->rows[nr++] = t;
    *n_rows = nr;
    if (nr == 0) return;
    c.n_rows = nr;
    c.logits = logits;
    act_plan(&e->act_out, &e->m->output, 1, e->hp.n_embd);
    if (nr > 1) lm_threadpool_run(e->pool, task_out_in, &c);
    lm_threadpool_run(e->pool, task_logits, &c);
}

/* Checks ids, sequences and positions before anything is written: a token's
 * position may continue its sequence or overwrite an earlier position (which
 * drops the positions after it), and must grow within one batch. */
static lm_status check_batch(lm_engine *e, const lm_batch *b, lm_err *err) {
    int32_t *len = e->seq_len_scratch;
    memcpy(len, e->seq_len, sizeof(int32_t) * (size_t)e->n_seq);
    for (int s = 0; s < e->n_seq; s++)
        e->seq_last_scratch[s] = -1;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        int32_t tok = b->tokens[i], s = b->seq ? b->seq[i] : 0, p = b->pos[i];
        if (tok < 0 || tok >= e->n_vocab)
            return lm_fail(err, LM_ERR_INVALID_ARG, "token %d: id %d outside vocabulary of %lld", i,
                           tok, (long long)e->n_vocab);
        if (s < 0 || s >= e->n_seq)
            return lm_fail(err, LM_ERR_INVALID_ARG,
                           "token %d: sequence %d outside 0..%d (n_seq_max)", i, s, e->n_seq - 1);
        if (p < 0 || (uint32_t)p >= e->n_ctx)
            return lm_fail(err, LM_ERR_CONTEXT_FULL,
                           "token %d: position %d does not fit the context of %u", i, p, e->n_ctx);
        if (p > len[s])
            return lm_fail(err, LM_ERR_INVALID_ARG,
                           "token %d: position %d leaves a gap (sequence %d holds %d)", i, p, s,
                           len[s]);
        if (p <= e->seq_last_scratch[s])
            return lm_fail(err, LM_ERR_INVALID_ARG,
                           "token %d: position %d does not follow %d in sequence %d", i, p,
                           e->seq_last_scratch[s], s);
        e->seq_last_scratch[s] = p;
        len[s] = p + 1;
    }
    return LM_OK;
}

lm_status lm_cpu_forward(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err) {
    if (!e || !b || !out || b->n_tokens <= 0 || !b->tokens || !b->pos)
        return lm_fail(err, LM_ERR_INVALID_ARG, "forward: empty or incomplete batch");
    out->rows = NULL; /* written into out->data */
    if (lm_fault_hit("forward"))
        return lm_fail(err, LM_ERR_FAULT_INJECTED, "forward: fault injected by LOCALM_FAULT");
    int want = 1;
    if (b->logits) {
        want = 0;
        for (int32_t i = 0; i < b->n_tokens; i++)
            want += b->logits[i] != 0;
    }
    if (want > 0 && (!out->data || out->capacity < want))
        return lm_fail(err, LM_ERR_INVALID_ARG,
                       "forward: %d logit rows requested but the buffer holds %d", want,
                       out->data ? out->capacity : 0);
    lm_status st = check_batch(e, b, err);
    if (st != LM_OK) return st;

    static const int32_t k_seq0[1] = {0};
    int rows_done = 0;
    for (int32_t i0 = 0; i0 < b->n_tokens; i0 += e->n_batch) {
        int n = b->n_tokens - i0 < e->n_batch ? b->n_tokens - i0 : e->n_batch;
        e->tok_pos = b->pos + i0;
        /* A batch without seq ids is one sequence: point at a zero row. */
        if (b->seq) {
            e->tok_seq = b->seq + i0;
        } else {
            for (int t = 0; t < n; t++)
                e->seq_zero[t] = k_seq0[0];
            e->tok_seq = e->seq_zero;
        }
        int nr = 0;
        run_step(e, b->tokens + i0, b->logits ? b->logits + i0 : NULL, n, b->logits == NULL,
                 i0 + n == b->n_tokens,
                 out->data ? out->data + (size_t)rows_done * e->n_vocab : NULL, &nr);
        rows_done += nr;
        for (int t = 0; t < n; t++)
            e->seq_len[e->tok_seq[t]] = e->tok_pos[t] + 1;
    }
    out->n_rows = rows_done;
    out->n_vocab = (int32_t)e->n_vocab;
    return LM_OK;
}
