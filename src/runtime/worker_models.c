/* worker_models.c — the worker's models: resolving a reference, finding it in
 * the model cache or loading it through the selection policy, and replacing
 * a failed engine with the next candidate. */
#include "base/err.h"
#include "catalog/catalog.h"
#include "catalog/pull.h"
#include "runtime/worker_impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The model readers live in another module; weak so the worker links (and its
 * tests run with opened descriptions) before that module is merged. */

static void loaded_free(void *p) {
    loaded *l = p;
    if (!l) return;
    if (l->eng && l->ops) l->ops->unload(l->eng);
    if (l->own_desc) lm_model_free(l->desc);
    for (int i = 0; i < l->n_slots; i++)
        free(l->slots[i].toks);
    free(l->slots);
    free(l->logits);
    free(l->pos);
    free(l->seq);
    free(l);
}

static bool same_file(const lm_file_id *a, const lm_file_id *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static bool same_opts(const lm_load_opts *a, const lm_load_opts *b) {
    return a->n_ctx == b->n_ctx && a->n_threads == b->n_threads && a->kv_type == b->kv_type &&
           a->n_seq_max == b->n_seq_max && a->device == b->device && a->mem_budget == b->mem_budget;
}

/* Path and file identity of a reference (a path, a catalog id or a desc). */
static lm_status resolve(const owned_ref *r, char *path, size_t cap, lm_file_id *fid, lm_err *err) {
    if (r->desc) {
        snprintf(path, cap, "%s", r->desc->path);
        *fid = r->desc->identity;
        return LM_OK;
    }
    if (!r->model || !*r->model) return lm_fail(err, LM_ERR_INVALID_ARG, "no model given");
    /* Paths, catalog ids and hf:// references; the worker never downloads
     * (that is `localm pull`, or the front end's choice before loading). */
    lm_status rs = lm_model_ref_resolve(r->model, false, NULL, NULL, path, cap, err);
    if (rs != LM_OK) return rs;
    struct stat st;
    if (stat(path, &st) != 0) return lm_fail(err, LM_ERR_NOT_FOUND, "%s: no such file", path);
    memset(fid, 0, sizeof *fid);
    fid->dev = (uint64_t)st.st_dev;
    fid->ino = (uint64_t)st.st_ino;
    fid->size = (uint64_t)st.st_size;
    fid->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    return LM_OK;
}

static lm_cached_model *find(lm_worker *w, const lm_file_id *fid, const owned_ref *r) {
    int n = lm_model_cache_count(w->cache);
    for (int i = 0; i < n; i++) {
        lm_cached_model *e = lm_model_cache_at(w->cache, i);
        loaded *l = e->payload;
        if (e->doomed || !l->eng || !same_file(&l->fid, fid) || !same_opts(&l->opts, &r->opts))
            continue;
        if (r->backend && strcmp(l->backend, r->backend)) continue;
        return e;
    }
    return NULL;
}

lm_cached_model *lm_worker_find_loaded(lm_worker *w, const owned_ref *r, lm_err *err) {
    char path[1024];
    lm_file_id fid;
    if (resolve(r, path, sizeof path, &fid, err) != LM_OK) return NULL;
    lm_cached_model *e = find(w, &fid, r);
    if (!e) lm_fail(err, LM_ERR_NOT_FOUND, "%s is not loaded", path);
    return e;
}

typedef struct progress_ctx {
    msg *m;
} progress_ctx;

static int forward_progress(const lm_progress *ev, void *user) {
    progress_ctx *pc = user;
    if (!pc->m->fn) return 0;
    lm_worker_event e;
    memset(&e, 0, sizeof e);
    e.kind = LM_EV_PROGRESS;
    e.request_id = pc->m->id;
    e.progress = *ev;
    pc->m->fn(&e, pc->m->user);
    return 0;
}

static void emit_phase(msg *m, lm_phase ph, uint64_t done, uint64_t total, const char *text) {
    progress_ctx pc = {m};
    lm_progress p = {ph, done, total, text};
    forward_progress(&p, &pc);
}

static bool is_cpu(const char *backend) {
    return !strcmp(backend, "cpu");
}

static void describe(loaded *l) {
    const char *b = lm_selection_backend(&l->sel);
    snprintf(l->backend, sizeof l->backend, "%s", b ? b : (l->ops ? l->ops->name : "none"));
    lm_selection_reasons(&l->sel, l->fallback, sizeof l->fallback);
}

static uint64_t accepted_bytes(const loaded *l) {
    for (int i = l->sel.n_decisions - 1; i >= 0; i--)
        if (l->sel.decisions[i].kind == LM_DECISION_ACCEPTED && l->sel.decisions[i].bytes_needed)
            return l->sel.decisions[i].bytes_needed;
    return l->desc->weight_bytes;
}

static lm_status alloc_state(loaded *l, lm_err *err) {
    l->n_slots = l->opts.n_seq_max > 0 ? l->opts.n_seq_max : 1;
    l->n_ctx = l->opts.n_ctx ? l->opts.n_ctx : lm_model_default_ctx(&l->desc->hp);
    l->n_vocab = (int)l->desc->hp.n_vocab;
    l->slots = calloc((size_t)l->n_slots, sizeof *l->slots);
    l->logits = malloc((size_t)(l->n_vocab > 0 ? l->n_vocab : 1) * sizeof(float));
    l->pos = malloc((size_t)l->n_ctx * sizeof(int32_t));
    l->seq = malloc((size_t)l->n_ctx * sizeof(int32_t));
    if (!l->slots || !l->logits || !l->pos || !l->seq)
        return lm_fail(err, LM_ERR_NO_MEMORY, "worker: out of memory for model state");
    return LM_OK;
}

lm_status lm_worker_acquire(lm_worker *w, msg *m, lm_cached_model **entry, double *load_ms,
                            lm_err *err) {
    *entry = NULL;
    *load_ms = 0;
    const owned_ref *r = &m->ref;
    char path[1024];
    lm_file_id fid;
    lm_status st = resolve(r, path, sizeof path, &fid, err);
    if (st != LM_OK) return st;
    lm_cached_model *e = find(w, &fid, r);
    if (e) {
        lm_model_cache_retain(w->cache, e);
        if (r->keep_alive_ns) e->keep_alive_ns = r->keep_alive_ns;
        *entry = e;
        return LM_OK;
    }
    emit_phase(m, LM_PHASE_RESOLVE, 0, 0, path);
    double t0 = lm_worker_now_ms();
    loaded *l = calloc(1, sizeof *l);
    if (!l) return lm_fail(err, LM_ERR_NO_MEMORY, "worker: out of memory");
    l->opts = r->opts;
    l->fid = fid;
    snprintf(l->path, sizeof l->path, "%s", path);
    if (r->desc) {
        l->desc = (lm_model_desc *)r->desc;
    } else {
        emit_phase(m, LM_PHASE_LOAD, 0, 0, "reading model description");
        st = lm_model_open(path, &l->desc, err);
        if (st != LM_OK) {
            loaded_free(l);
            return st;
        }
        l->own_desc = true;
    }
    lm_select_hint hints[LM_REGISTRY_MAX];
    int n_hints = lm_catalog_hints(r->model ? r->model : path, hints, LM_REGISTRY_MAX);
    st = lm_select_init(&l->sel, r->backend, hints, n_hints, err);
    l->explicit_backend = l->sel.strict;
    if (st == LM_OK) {
        /* Make room before loading: the first candidate's kind of memory.
         * When even an empty cache is over budget, nothing fails here: that
         * engine's check() declines against the same budget, with the
         * numbers, and the next candidate is tried. */
        const char *first = l->sel.n_cand ? l->sel.cand[0]->name : "cpu";
        uint64_t wb = l->desc->weight_bytes;
        lm_err room = {0};
        (void)lm_model_cache_make_room(w->cache, is_cpu(first) ? wb : 0, is_cpu(first) ? 0 : wb,
                                       &room);
    }
    progress_ctx pc = {m};
    l->sel.ram_budget = w->user_ram_budget;
    l->sel.vram_budget = w->user_vram_budget;
    if (st == LM_OK)
        st = lm_select_load(&l->sel, l->desc, &l->opts, forward_progress, &pc, &l->ops, &l->eng,
                            err);
    if (st == LM_OK) st = alloc_state(l, err);
    if (st != LM_OK) {
        loaded_free(l);
        return st;
    }
    describe(l);
    lm_cache_key k;
    lm_cache_key_make(&k, &fid, l->ops->name, &l->opts);
    char label[160];
    const char *base = strrchr(path, '/');
    snprintf(label, sizeof label, "%.100s on %.32s", base ? base + 1 : path, l->ops->name);
    uint64_t bytes = accepted_bytes(l);
    st =
        lm_model_cache_insert(w->cache, &k, label, l, loaded_free, is_cpu(l->ops->name) ? bytes : 0,
                              is_cpu(l->ops->name) ? 0 : bytes, &e, err);
    if (st != LM_OK) {
        loaded_free(l);
        return st;
    }
    if (r->keep_alive_ns) e->keep_alive_ns = r->keep_alive_ns;
    emit_phase(m, LM_PHASE_WARMUP, 1, 1, l->backend);
    *load_ms = lm_worker_now_ms() - t0;
    *entry = e;
    return LM_OK;
}

void lm_worker_release(lm_worker *w, lm_cached_model *entry, const owned_ref *r) {
    if (!entry) return;
    if (r && r->keep_alive_ns) entry->keep_alive_ns = r->keep_alive_ns;
    lm_model_cache_release(w->cache, entry);
}

lm_status lm_worker_failover(lm_worker *w, lm_cached_model *entry, const char *reason,
                             lm_err *err) {
    loaded *l = entry->payload;
    char failed[32];
    snprintf(failed, sizeof failed, "%s", l->ops ? l->ops->name : "?");
    /* Free the failed engine first: its memory may be what the next needs. */
    if (l->eng && l->ops) l->ops->unload(l->eng);
    l->eng = NULL;
    for (int i = 0; i < l->n_slots; i++) {
        l->slots[i].n_kv = 0;
        l->slots[i].rebuild = true;
        if (!l->slots[i].busy) l->slots[i].session = 0;
    }
    const lm_backend_ops *ops = NULL;
    lm_engine *eng = NULL;
    lm_status st =
        lm_select_failover(&l->sel, failed, reason, l->desc, &l->opts, NULL, NULL, &ops, &eng, err);
    if (st != LM_OK) {
        l->ops = NULL;
        describe(l);
        lm_model_cache_discard(w->cache, entry);
        return st;
    }
    l->ops = ops;
    l->eng = eng;
    describe(l);
    lm_cache_key k;
    lm_cache_key_make(&k, &l->fid, ops->name, &l->opts);
    uint64_t bytes = accepted_bytes(l);
    lm_model_cache_rekey(w->cache, entry, &k, is_cpu(ops->name) ? bytes : 0,
                         is_cpu(ops->name) ? 0 : bytes);
    snprintf(entry->label, sizeof entry->label, "%.100s on %.32s",
             strrchr(l->path, '/') ? strrchr(l->path, '/') + 1 : l->path, ops->name);
    return LM_OK;
}
