/* fake_backend.c — configurable fake engines for runtime tests. */
#include "fake_backend.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fake_cfg fake_cfgs[FAKE_MAX];

#define FAKE_SEQS 8
struct lm_engine {
    fake_cfg *cfg;
    int n_vocab, n_ctx;
    int32_t *kv[FAKE_SEQS]; /* tokens whose "KV" is stored, per sequence */
    int n_kv[FAKE_SEQS];
};

int32_t fake_next_token(const int32_t *toks, int n, int n_vocab) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uint32_t)toks[i] + (uint64_t)i * 0x9e3779b97f4a7c15ull;
        h *= 1099511628211ull;
    }
    return (int32_t)(h % (uint64_t)n_vocab);
}

void fake_model_desc(lm_model_desc *d, int n_vocab, int n_ctx, uint64_t ino) {
    memset(d, 0, sizeof *d);
    d->source = LM_SOURCE_GGUF;
    snprintf(d->path, sizeof d->path, "/fake/model-%llu.gguf", (unsigned long long)ino);
    d->identity.dev = 42;
    d->identity.ino = ino;
    d->identity.size = 1000 + ino;
    snprintf(d->name, sizeof d->name, "fake %llu", (unsigned long long)ino);
    d->hp.arch = LM_ARCH_LLAMA;
    d->hp.n_vocab = (uint32_t)n_vocab;
    d->hp.n_ctx_train = (uint32_t)n_ctx;
    d->weight_bytes = 1u << 20;
}

static fake_cfg *cfg_of(int i) {
    return &fake_cfgs[i];
}

static lm_status probe_impl(fake_cfg *c, lm_backend_info *out) {
    memset(out, 0, sizeof *out);
    out->usable = c->decline_reason == NULL;
    if (c->decline_reason) snprintf(out->reason, sizeof out->reason, "%s", c->decline_reason);
    out->n_devices = 1;
    snprintf(out->devices[0].name, sizeof out->devices[0].name, "fake device %s", c->name);
    out->devices[0].mem_total = 0; /* unlimited: no budget from fakes */
    return LM_OK;
}

static lm_status check_impl(fake_cfg *c, const lm_model_desc *m, const lm_load_opts *o,
                            lm_support *out) {
    (void)m;
    (void)o;
    c->checks++;
    memset(out, 0, sizeof *out);
    out->bytes_needed = c->bytes_needed;
    out->ok = c->decline_reason == NULL;
    if (!out->ok) snprintf(out->reason, sizeof out->reason, "%s", c->decline_reason);
    return LM_OK;
}

static lm_status load_impl(fake_cfg *c, const lm_model_desc *m, const lm_load_opts *o,
                           lm_progress_fn fn, void *user, lm_engine **out, lm_err *err) {
    c->loads++;
    if (fn) {
        lm_progress p = {LM_PHASE_LOAD, 1, 1, c->name};
        fn(&p, user);
    }
    if (c->load_fails) return lm_fail(err, LM_ERR_BACKEND, "fake load error in %s", c->name);
    lm_engine *e = calloc(1, sizeof *e);
    e->cfg = c;
    e->n_vocab = (int)m->hp.n_vocab;
    e->n_ctx = o->n_ctx ? (int)o->n_ctx : (int)m->hp.n_ctx_train;
    for (int s = 0; s < FAKE_SEQS; s++)
        e->kv[s] = calloc((size_t)e->n_ctx, sizeof(int32_t));
    c->live_engines++;
    *out = e;
    return LM_OK;
}

static lm_status forward(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err) {
    fake_cfg *c = e->cfg;
    c->forwards++;
    if (c->forward_delay_us) usleep((useconds_t)c->forward_delay_us);
    if (c->fail_at_forward && c->forwards == c->fail_at_forward)
        return lm_fail(err, LM_ERR_FAULT_INJECTED, "injected fault at forward %d", c->forwards);
    int last_seq = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        int s = b->seq[i];
        if (s < 0 || s >= FAKE_SEQS) return lm_fail(err, LM_ERR_INVALID_ARG, "bad seq %d", s);
        /* KV must be extended contiguously: a position gap means the caller
         * lost track of what the engine holds. */
        if (b->pos[i] != e->n_kv[s] || b->pos[i] >= e->n_ctx)
            return lm_fail(err, LM_ERR_INVALID_ARG, "seq %d: position %d but KV holds %d", s,
                           b->pos[i], e->n_kv[s]);
        e->kv[s][e->n_kv[s]++] = b->tokens[i];
        last_seq = s;
    }
    int32_t next = fake_next_token(e->kv[last_seq], e->n_kv[last_seq], e->n_vocab);
    for (int v = 0; v < e->n_vocab; v++)
        out->data[v] = -(float)abs(v - next) * 0.5f;
    out->n_vocab = e->n_vocab;
    out->n_rows = 1;
    return LM_OK;
}

static lm_status kv_seq(lm_engine *e, lm_kv_op op, int seq, int p0, int p1) {
    (void)p1;
    for (int s = 0; s < FAKE_SEQS; s++) {
        if (seq >= 0 && s != seq) continue;
        if (op == LM_KV_CLEAR)
            e->n_kv[s] = 0;
        else if (p0 < e->n_kv[s])
            e->n_kv[s] = p0;
    }
    return LM_OK;
}

static void unload(lm_engine *e) {
    if (!e) return;
    e->cfg->unloads++;
    e->cfg->live_engines--;
    for (int s = 0; s < FAKE_SEQS; s++)
        free(e->kv[s]);
    free(e);
}

#define FAKE_TABLE(I)                                                                              \
    static lm_status probe_##I(lm_backend_info *o) {                                               \
        return probe_impl(cfg_of(I), o);                                                           \
    }                                                                                              \
    static lm_status check_##I(const lm_model_desc *m, const lm_load_opts *o, lm_support *s) {     \
        return check_impl(cfg_of(I), m, o, s);                                                     \
    }                                                                                              \
    static lm_status load_##I(const lm_model_desc *m, const lm_load_opts *o, lm_progress_fn f,     \
                              void *u, lm_engine **e, lm_err *err) {                               \
        return load_impl(cfg_of(I), m, o, f, u, e, err);                                           \
    }                                                                                              \
    static lm_backend_ops table_##I = {                                                            \
        LM_BACKEND_ABI_VERSION, "", probe_##I, check_##I, load_##I, forward, kv_seq, unload};
FAKE_TABLE(0)
FAKE_TABLE(1)
FAKE_TABLE(2)
FAKE_TABLE(3)

const lm_backend_ops *fake_ops(int i) {
    lm_backend_ops *t[FAKE_MAX] = {&table_0, &table_1, &table_2, &table_3};
    t[i]->name = fake_cfgs[i].name;
    return t[i];
}

void fake_reset(int i, const char *name) {
    memset(&fake_cfgs[i], 0, sizeof fake_cfgs[i]);
    snprintf(fake_cfgs[i].name, sizeof fake_cfgs[i].name, "%s", name);
}
