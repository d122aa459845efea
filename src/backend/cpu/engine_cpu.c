/* engine_cpu.c — the CPU engine's backend table: probe the machine, check a
 * model against it, load (weights stay in the mapping; KV cache and run state
 * allocated once), forget sequences, unload. The forward pass is forward.c. */
#include "backend/cpu/engine_cpu.h"
#include "backend/cpu/cpu_engine_state.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/sysinfo.h"
#include "base/checked.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens per internal step: big enough that prefill runs as batched matrix
 * products, small enough that the run state stays modest for large models. */
#define MAX_BATCH 512

/* ---- model validation ---- */

static bool vec_ok(const lm_tensor *t, uint64_t n, bool optional, const char *what, char *why,
                   size_t wn) {
    if (!t) {
        if (!optional) snprintf(why, wn, "missing tensor %s", what);
        return optional;
    }
    uint64_t rb;
    if (t->ne[0] != n || t->ne[1] != 1 || !lm_cpu_type_supported(t->type) ||
        !lm_type_row_bytes(t->type, n, &rb) || rb > t->nbytes || !t->data) {
        snprintf(why, wn,
                 "tensor %s: expected a vector of %llu supported elements, got %llux%llu %s",
                 t->name, (unsigned long long)n, (unsigned long long)t->ne[0],
                 (unsigned long long)t->ne[1], lm_type_name(t->type));
        return false;
    }
    return true;
}

static bool mat_ok(const lm_tensor *t, uint64_t n_in, uint64_t n_out, const char *what, char *why,
                   size_t wn) {
    if (!t) {
        snprintf(why, wn, "missing tensor %s", what);
        return false;
    }
    if (!lm_cpu_type_supported(t->type)) {
        snprintf(why, wn, "tensor %s: type %s is not supported by the CPU engine", t->name,
                 lm_type_name(t->type));
        return false;
    }
    uint64_t rb, total;
    if (t->ne[0] != n_in || t->ne[1] != n_out || !lm_type_row_bytes(t->type, n_in, &rb) ||
        !lm_mul_u64(rb, n_out, &total) || total > t->nbytes || !t->data) {
        snprintf(why, wn, "tensor %s: expected %llux%llu, got %llux%llu %s (%llu bytes)", t->name,
                 (unsigned long long)n_in, (unsigned long long)n_out, (unsigned long long)t->ne[0],
                 (unsigned long long)t->ne[1], lm_type_name(t->type),
                 (unsigned long long)t->nbytes);
        return false;
    }
    return true;
}

/* Everything forward.c relies on, so a malformed description is declined
 * here instead of read out of bounds later. */
static bool model_ok(const lm_model_desc *m, char *why, size_t wn) {
    const lm_hparams *hp = &m->hp;
    if (hp->arch != LM_ARCH_LLAMA && hp->arch != LM_ARCH_MISTRAL && hp->arch != LM_ARCH_QWEN2 &&
        hp->arch != LM_ARCH_QWEN3) {
        snprintf(why, wn, "architecture '%s' is not supported by the CPU engine", hp->arch_name);
        return false;
    }
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0 || hp->n_head_kv == 0 ||
        hp->head_dim == 0 || hp->head_dim % 2 || hp->n_head % hp->n_head_kv || hp->n_ff == 0 ||
        hp->n_head > 4096 || hp->head_dim > 4096 || !m->layers) {
        snprintf(why, wn, "inconsistent hyper-parameters (heads %u/%u, head_dim %u)", hp->n_head,
                 hp->n_head_kv, hp->head_dim);
        return false;
    }
    uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    const lm_tensor *emb = m->tok_embd;
    if (!emb || !m->output || !mat_ok(emb, hp->n_embd, emb->ne[1], "token_embd", why, wn) ||
        emb->ne[1] == 0 || emb->ne[1] > INT32_MAX ||
        !mat_ok(m->output, hp->n_embd, m->output->ne[1], "output", why, wn) ||
        m->output->ne[1] == 0 || m->output->ne[1] > INT32_MAX ||
        !vec_ok(m->output_norm, hp->n_embd, false, "output_norm", why, wn)) {
        if (!emb || !m->output) snprintf(why, wn, "missing token embedding or output matrix");
        return false;
    }
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const lm_layer *L = &m->layers[l];
        bool ok = vec_ok(L->attn_norm, hp->n_embd, false, "attn_norm", why, wn) &&
                  vec_ok(L->ffn_norm, hp->n_embd, false, "ffn_norm", why, wn) &&
                  mat_ok(L->wq, hp->n_embd, q, "attn_q", why, wn) &&
                  mat_ok(L->wk, hp->n_embd, kv, "attn_k", why, wn) &&
                  mat_ok(L->wv, hp->n_embd, kv, "attn_v", why, wn) &&
                  mat_ok(L->wo, q, hp->n_embd, "attn_output", why, wn) &&
                  mat_ok(L->ffn_gate, hp->n_embd, hp->n_ff, "ffn_gate", why, wn) &&
                  mat_ok(L->ffn_up, hp->n_embd, hp->n_ff, "ffn_up", why, wn) &&
                  mat_ok(L->ffn_down, hp->n_ff, hp->n_embd, "ffn_down", why, wn) &&
                  vec_ok(L->bq, q, true, "attn_q.bias", why, wn) &&
                  vec_ok(L->bk, kv, true, "attn_k.bias", why, wn) &&
                  vec_ok(L->bv, kv, true, "attn_v.bias", why, wn) &&
                  vec_ok(L->q_norm, hp->head_dim, true, "attn_q_norm", why, wn) &&
                  vec_ok(L->k_norm, hp->head_dim, true, "attn_k_norm", why, wn);
        if (!ok) {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", why);
            snprintf(why, wn, "layer %u: %.200s", l, tmp);
            return false;
        }
    }
    return true;
}

/* ---- sizes ---- */

typedef struct sizes {
    uint32_t n_ctx;
    int n_seq, n_batch;
    uint64_t kv, scratch;
} sizes;

static uint64_t max_act_bytes(const lm_model_desc *m, int64_t n_in) {
    /* Converted activations are at most one float per element plus block
     * headers for every type; ask the kernels for the ones present. */
    uint64_t mx = (uint64_t)n_in * 4;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const lm_tensor *t = &m->tensors[i];
        if (t->ne[0] == (uint64_t)n_in && t->n_dims >= 2 && lm_cpu_type_supported(t->type)) {
            uint64_t b = lm_cpu_act_row_bytes(t->type, n_in);
            if (b > mx) mx = b;
        }
    }
    return mx;
}

static void compute_sizes(const lm_model_desc *m, const lm_load_opts *o, sizes *s) {
    const lm_hparams *hp = &m->hp;
    s->n_ctx = o && o->n_ctx ? o->n_ctx : lm_model_default_ctx(hp);
    s->n_seq = o && o->n_seq_max > 0 ? o->n_seq_max : 1;
    uint64_t elt = o && o->kv_type == LM_KV_F32 ? 4 : 2;
    uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    s->kv = 2 * elt * kv_dim * hp->n_layer * s->n_ctx * (uint64_t)s->n_seq;
    uint64_t tokens = (uint64_t)s->n_ctx * (uint64_t)s->n_seq;
    s->n_batch = tokens < MAX_BATCH ? (int)tokens : MAX_BATCH;
    uint64_t q = (uint64_t)hp->n_head * hp->head_dim;
    uint64_t per_tok = 4 * (3 * (uint64_t)hp->n_embd + 2 * q + 2 * kv_dim + 2 * (uint64_t)hp->n_ff +
                            hp->head_dim) +
                       3 * max_act_bytes(m, hp->n_embd) * LM_CPU_ACT_SLOTS +
                       max_act_bytes(m, (int64_t)q) + max_act_bytes(m, hp->n_ff);
    s->scratch = per_tok * (uint64_t)s->n_batch + 4 * (uint64_t)s->n_ctx * 64;
}

/* ---- table entries ---- */

static lm_status cpu_probe(lm_backend_info *out) {
    if (!out) return LM_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    out->usable = true;
    out->n_devices = 1;
    lm_device_info *d = &out->devices[0];
    char cpu[96];
    lm_sys_cpu_name(cpu, sizeof cpu);
    snprintf(d->name, sizeof d->name, "%s (%s)", cpu, lm_cpu_isa_name(lm_cpu_best_isa()));
    lm_sys_meminfo(&d->mem_total, &d->mem_free);
    snprintf(d->caps, sizeof d->caps, "%s", lm_cpu_features_string());
    out->threads = lm_cpu_physical_cores();
    return LM_OK;
}

static lm_status cpu_check(const lm_model_desc *m, const lm_load_opts *o, lm_support *out) {
    if (!m || !out) return LM_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (!model_ok(m, out->reason, sizeof out->reason)) return LM_OK;
    sizes s;
    compute_sizes(m, o, &s);
    out->bytes_weights = m->weight_bytes;
    out->bytes_kv = s.kv;
    out->bytes_needed = m->weight_bytes + s.kv + s.scratch;
    uint64_t total = 0, avail = 0;
    uint64_t budget = o && o->mem_budget ? o->mem_budget : 0;
    if (!budget && lm_sys_meminfo(&total, &avail)) budget = avail;
    if (budget && out->bytes_needed > budget) {
        snprintf(out->reason, sizeof out->reason,
                 "needs %.2f GiB (weights %.2f + KV cache %.2f at context %u + scratch %.2f), "
                 "%.2f GiB available",
                 out->bytes_needed / 1073741824.0, m->weight_bytes / 1073741824.0,
                 s.kv / 1073741824.0, s.n_ctx, s.scratch / 1073741824.0, budget / 1073741824.0);
        return LM_OK;
    }
    out->ok = true;
    return LM_OK;
}

static void cpu_unload(lm_engine *e) {
    if (!e) return;
    lm_threadpool_free(e->pool);
    free(e->layers);
    free(e->small);
    free(e->inv_freq);
    free(e->k_cache);
    free(e->v_cache);
    free(e->seq_len);
    free(e->seq_len_scratch);
    free(e->seq_last_scratch);
    free(e->x);
    free(e->xn);
    free(e->q);
    free(e->k);
    free(e->v);
    free(e->att);
    free(e->gate);
    free(e->up);
    free(e->tmp);
    free(e->rope_cs);
    free(e->scores);
    cpu_act *acts[4] = {&e->act_xn, &e->act_att, &e->act_h, &e->act_out};
    for (int a = 0; a < 4; a++)
        for (int s = 0; s < LM_CPU_ACT_SLOTS; s++)
            free(acts[a]->buf[s]);
    free(e->rows);
    free(e->seq_zero);
    free(e->t_x);
    free(e->t_act);
    free(e);
}

/* Float copy of a small vector (norm weights, biases) in any compute type. */
static const float *load_vec(const lm_tensor *t, float **cursor) {
    if (!t) return NULL;
    float *dst = *cursor;
    lm_cpu_dequant_row(t->type, t->data, dst, (int64_t)t->ne[0]);
    *cursor += t->ne[0];
    return dst;
}

static uint64_t vec_len(const lm_tensor *t) {
    return t ? t->ne[0] : 0;
}

static bool alloc_act(cpu_act *a, uint64_t row_bytes, int n_batch) {
    for (int s = 0; s < LM_CPU_ACT_SLOTS; s++) {
        a->buf[s] = malloc(row_bytes * (uint64_t)n_batch + 64);
        if (!a->buf[s]) return false;
    }
    return true;
}

static lm_status cpu_load(const lm_model_desc *m, const lm_load_opts *o, lm_progress_fn fn,
                          void *user, lm_engine **out, lm_err *err) {
    if (!m || !out) return lm_fail(err, LM_ERR_INVALID_ARG, "cpu load: no model");
    *out = NULL;
    char why[256];
    if (!model_ok(m, why, sizeof why)) return lm_fail(err, LM_ERR_UNSUPPORTED, "cpu: %s", why);
    sizes s;
    compute_sizes(m, o, &s);
    lm_engine *e = calloc(1, sizeof *e);
    if (!e) return lm_fail(err, LM_ERR_NO_MEMORY, "cpu: engine state");
    const lm_hparams *hp = &m->hp;
    e->m = m;
    e->hp = *hp;
    e->n_ctx = s.n_ctx;
    e->n_seq = s.n_seq;
    e->n_batch = s.n_batch;
    e->kv_type = o && o->kv_type == LM_KV_F32 ? LM_KV_F32 : LM_KV_F16;
    e->kv_elt = e->kv_type == LM_KV_F32 ? 4 : 2;
    e->n_vocab = (int64_t)m->output->ne[1];
    e->q_dim = (int64_t)hp->n_head * hp->head_dim;
    e->kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    e->n_threads = o && o->n_threads > 0 ? o->n_threads : lm_cpu_physical_cores();

    /* Small vectors, converted to float once. */
    uint64_t n_small = hp->n_embd;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const lm_layer *L = &m->layers[l];
        n_small += 2 * (uint64_t)hp->n_embd + vec_len(L->q_norm) + vec_len(L->k_norm) +
                   vec_len(L->bq) + vec_len(L->bk) + vec_len(L->bv);
    }
    e->small = malloc(n_small * sizeof(float));
    e->layers = calloc(hp->n_layer, sizeof *e->layers);
    e->inv_freq = malloc(hp->head_dim / 2 * sizeof(float));
    size_t nb = (size_t)s.n_batch;
    e->k_cache = calloc(1, s.kv / 2);
    e->v_cache = calloc(1, s.kv / 2);
    e->seq_len = calloc((size_t)s.n_seq, sizeof(int32_t));
    e->seq_len_scratch = calloc((size_t)s.n_seq, sizeof(int32_t));
    e->seq_last_scratch = calloc((size_t)s.n_seq, sizeof(int32_t));
    e->x = malloc(nb * hp->n_embd * 4);
    e->xn = malloc(nb * hp->n_embd * 4);
    e->q = malloc(nb * (size_t)e->q_dim * 4);
    e->k = malloc(nb * (size_t)e->kv_dim * 4);
    e->v = malloc(nb * (size_t)e->kv_dim * 4);
    e->att = malloc(nb * (size_t)e->q_dim * 4);
    e->gate = malloc(nb * hp->n_ff * 4);
    e->up = malloc(nb * hp->n_ff * 4);
    e->tmp = malloc(nb * hp->n_embd * 4);
    e->rope_cs = malloc(nb * hp->head_dim * 4);
    e->scores = malloc((size_t)e->n_threads * s.n_ctx * 4);
    e->rows = malloc(nb * sizeof(int32_t));
    e->seq_zero = calloc(nb, sizeof(int32_t));
    bool ok = e->small && e->layers && e->inv_freq && e->k_cache && e->v_cache && e->seq_len &&
              e->seq_len_scratch && e->seq_last_scratch && e->x && e->xn && e->q && e->k && e->v &&
              e->att && e->gate && e->up && e->tmp && e->rope_cs && e->scores && e->rows &&
              e->seq_zero && alloc_act(&e->act_xn, max_act_bytes(m, hp->n_embd), s.n_batch) &&
              alloc_act(&e->act_att, max_act_bytes(m, e->q_dim), s.n_batch) &&
              alloc_act(&e->act_h, max_act_bytes(m, hp->n_ff), s.n_batch) &&
              alloc_act(&e->act_out, max_act_bytes(m, hp->n_embd), s.n_batch);
    if (!ok) {
        cpu_unload(e);
        return lm_fail(err, LM_ERR_NO_MEMORY,
                       "cpu: cannot allocate KV cache (%.1f MiB at context %u) and run state "
                       "(%.1f MiB)",
                       s.kv / 1048576.0, s.n_ctx, s.scratch / 1048576.0);
    }
    float *cur = e->small;
    e->output_norm = load_vec(m->output_norm, &cur);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const lm_layer *L = &m->layers[l];
        cpu_layer *c = &e->layers[l];
        c->attn_norm = load_vec(L->attn_norm, &cur);
        c->ffn_norm = load_vec(L->ffn_norm, &cur);
        c->q_norm = load_vec(L->q_norm, &cur);
        c->k_norm = load_vec(L->k_norm, &cur);
        c->bq = load_vec(L->bq, &cur);
        c->bk = load_vec(L->bk, &cur);
        c->bv = load_vec(L->bv, &cur);
        if (fn) {
            lm_progress ev = {LM_PHASE_LOAD, l + 1, hp->n_layer, "cpu: preparing layers"};
            if (fn(&ev, user)) {
                cpu_unload(e);
                return lm_fail(err, LM_ERR_CANCELLED, "cpu: load cancelled");
            }
        }
    }
    lm_cpu_rope_freqs(hp, e->inv_freq);
    e->pool = lm_threadpool_create(e->n_threads);
    if (!e->pool) {
        cpu_unload(e);
        return lm_fail(err, LM_ERR_NO_MEMORY, "cpu: cannot start %d threads", e->n_threads);
    }
    e->n_threads = lm_threadpool_size(e->pool);
    int64_t widest = hp->n_embd > hp->n_ff ? hp->n_embd : hp->n_ff;
    if (e->q_dim > widest) widest = e->q_dim;
    uint64_t act_w = max_act_bytes(m, hp->n_embd);
    if (max_act_bytes(m, e->q_dim) > act_w) act_w = max_act_bytes(m, e->q_dim);
    if (max_act_bytes(m, hp->n_ff) > act_w) act_w = max_act_bytes(m, hp->n_ff);
    e->t_x_stride = ((size_t)widest + 15) & ~(size_t)15;
    e->t_act_stride = ((size_t)act_w + 63) & ~(size_t)63;
    e->t_x = malloc((size_t)e->n_threads * e->t_x_stride * sizeof(float));
    e->t_act = malloc((size_t)e->n_threads * LM_CPU_ACT_SLOTS * e->t_act_stride);
    if (!e->t_x || !e->t_act) {
        cpu_unload(e);
        return lm_fail(err, LM_ERR_NO_MEMORY, "cpu: per-thread scratch");
    }
    *out = e;
    return LM_OK;
}

static lm_status cpu_forward(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err) {
    return lm_cpu_forward(e, b, out, err);
}

/* The cache keeps positions densely from 0, so a removed range must reach the
 * end of what the sequence holds (keys after a hole would keep rotations of
 * their old positions). */
static lm_status cpu_kv_seq(lm_engine *e, lm_kv_op op, int seq, int p0, int p1) {
    if (!e) return LM_ERR_INVALID_ARG;
    if (seq < -1 || seq >= e->n_seq) return LM_ERR_INVALID_ARG;
    int s0 = seq < 0 ? 0 : seq, s1 = seq < 0 ? e->n_seq : seq + 1;
    for (int s = s0; s < s1; s++) {
        if (op == LM_KV_CLEAR) {
            e->seq_len[s] = 0;
        } else if (op == LM_KV_REMOVE) {
            if (p0 < 0) p0 = 0;
            if (p1 >= 0 && p1 < e->seq_len[s] && p1 > p0) return LM_ERR_UNSUPPORTED;
            if (p0 < e->seq_len[s]) e->seq_len[s] = p0;
        } else {
            return LM_ERR_INVALID_ARG;
        }
    }
    return LM_OK;
}

static const lm_backend_ops k_cpu_ops = {
    .abi_version = LM_BACKEND_ABI_VERSION,
    .name = "cpu",
    .probe = cpu_probe,
    .check = cpu_check,
    .load = cpu_load,
    .forward = cpu_forward,
    .kv_seq = cpu_kv_seq,
    .unload = cpu_unload,
};

const lm_backend_ops *lm_backend_cpu(void) {
    return &k_cpu_ops;
}
