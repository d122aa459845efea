/* cpu_engine_state.h — the CPU engine's private state, shared by its files:
 * hyper-parameters, weights borrowed from the mapping, the KV cache and the
 * run-state buffers allocated once at load. */
#ifndef LM_BACKEND_CPU_CPU_ENGINE_STATE_H
#define LM_BACKEND_CPU_CPU_ENGINE_STATE_H
#include "backend/backend.h"
#include "backend/cpu/threadpool.h"
#include <stddef.h>
#include <stdint.h>

/* Most distinct weight types one activation feeds (q/k/v/gate/up may mix
 * e.g. Q4_K and Q6_K in a Q4_K_M file), each needing its own conversion. */
#define LM_CPU_ACT_SLOTS 4

/* One activation converted for the weight types that consume it. */
typedef struct cpu_act {
    int n_slots;
    uint32_t types[LM_CPU_ACT_SLOTS];
    size_t row_bytes[LM_CPU_ACT_SLOTS]; /* converted bytes per token */
    uint8_t *buf[LM_CPU_ACT_SLOTS];     /* [n_batch][row_bytes] */
} cpu_act;

/* Small per-layer vectors converted to float at load (norms, biases). */
typedef struct cpu_layer {
    const float *attn_norm, *ffn_norm; /* [n_embd] */
    const float *q_norm, *k_norm;      /* [head_dim] or NULL */
    const float *bq, *bk, *bv;         /* [n_head*head_dim] / [n_kv*head_dim] or NULL */
} cpu_layer;

struct lm_engine {
    const lm_model_desc *m; /* borrowed; weights are read in place */
    lm_hparams hp;
    int n_threads;
    lm_threadpool *pool;
    uint32_t n_ctx;
    int n_seq;
    lm_kv_type kv_type;
    int n_batch; /* tokens processed per internal step (run-state capacity) */
    int64_t n_vocab;
    int64_t q_dim, kv_dim; /* n_head*head_dim, n_head_kv*head_dim */

    cpu_layer *layers; /* n_layer */
    float *small;      /* storage behind cpu_layer's vectors and output_norm */
    const float *output_norm;
    float *inv_freq; /* [head_dim/2] rotary frequencies */

    /* KV cache: [seq][layer][kv_head][pos][head_dim] of F16 or F32, K and V. */
    void *k_cache, *v_cache;
    size_t kv_elt;        /* 2 or 4 bytes */
    int32_t *seq_len;     /* [n_seq] positions held per sequence */
    int32_t *seq_len_scratch, *seq_last_scratch; /* [n_seq] batch validation */

    /* Run state for up to n_batch tokens. */
    float *x;     /* [n_batch][n_embd] residual stream */
    float *xn;    /* [n_batch][n_embd] normalised */
    float *q;     /* [n_batch][q_dim] */
    float *k;     /* [n_batch][kv_dim] */
    float *v;     /* [n_batch][kv_dim] */
    float *att;   /* [n_batch][q_dim] attention output */
    float *gate;  /* [n_batch][n_ff] */
    float *up;    /* [n_batch][n_ff] */
    float *tmp;   /* [n_batch][max(n_embd,q_dim)] matmul output before residual add */
    float *rope_cs; /* [n_batch][head_dim] cos then sin per token */
    float *scores;  /* [n_threads][n_ctx] attention scratch */
    float *acc;     /* [n_threads][head_dim] attention accumulator */
    cpu_act act_xn, act_att, act_h, act_out;
    /* Per-thread copies for one-token steps, where each thread normalises and
     * converts the single row itself instead of waiting at a barrier. */
    float *t_x;        /* [n_threads][t_x_stride] */
    uint8_t *t_act;    /* [n_threads][LM_CPU_ACT_SLOTS][t_act_stride] */
    size_t t_x_stride, t_act_stride;
    int32_t *rows;     /* [n_batch] indices of tokens wanting logits */
    int32_t *seq_zero; /* [n_batch] sequence ids of a batch that gives none */

    /* The current batch step (set by forward before dispatching). */
    int n_tok;
    const int32_t *tok_pos, *tok_seq;
};

/* rope.c */
void lm_cpu_rope_freqs(const lm_hparams *hp, float *inv_freq);
void lm_cpu_rope_cos_sin(const float *inv_freq, int half, int32_t pos, float *cs);
void lm_cpu_rope_apply(float *v, int n_heads, int head_dim, lm_rope_layout layout,
                       const float *cs);
/* norm.c */
void lm_cpu_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
/* attention.c: one query head of one token over its sequence's cached keys. */
void lm_cpu_attend_head(const lm_engine *e, int layer, int seq, int32_t pos, int head,
                        const float *q, float *out, float *scores);
/* forward.c */
lm_status lm_cpu_forward(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err);
#endif
