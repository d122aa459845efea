/* worker.c — the worker thread: its message queue, the scheduling loop that
 * admits requests and steps active generations in turn, and the public API. */
#include "base/err.h"
#include "backend/registry.h"
#include "runtime/worker_impl.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/tokenizer.h"

double lm_worker_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

uint64_t lm_worker_bytes_per_token(const lm_model_desc *d) {
    /* Decoding one token reads every weight once, except the embedding table
     * (one row) unless it doubles as the output matrix. */
    uint64_t b = d->weight_bytes;
    if (d->tok_embd && d->output != d->tok_embd && d->tok_embd->nbytes <= b)
        b -= d->tok_embd->nbytes;
    return b;
}

void lm_worker_default_params(lm_worker_params *p) {
    memset(p, 0, sizeof *p);
    p->keep_alive_ns = LM_KEEP_ALIVE_DEFAULT_NS;
}

void lm_model_ref_default(lm_model_ref *r) {
    memset(r, 0, sizeof *r);
    lm_load_opts_default(&r->opts);
}

void lm_generate_params_default(lm_generate_params *p) {
    memset(p, 0, sizeof *p);
    lm_model_ref_default(&p->model);
    p->n_predict = 128;
    lm_sampler_params_default(&p->sampling);
}

void lm_worker_emit_error(msg *m, lm_status st, const char *text) {
    if (!m->fn) return;
    lm_worker_event e;
    memset(&e, 0, sizeof e);
    e.kind = LM_EV_ERROR;
    e.request_id = m->id;
    e.status = st;
    e.message = text && *text ? text : lm_status_message(st);
    m->fn(&e, m->user);
}

static void msg_free(msg *m) {
    if (!m) return;
    free(m->ref.model);
    free(m->ref.backend);
    free(m->prompt);
    free(m->ptoks);
    for (int i = 0; i < m->n_stop; i++) free(m->stop[i]);
    free(m->stop);
    free(m);
}

static char *dup_or_null(const char *s, bool *ok) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *ok = false;
    return d;
}

static msg *msg_new(msg_kind k, const lm_model_ref *r, lm_worker_event_fn fn, void *user) {
    msg *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = k;
    m->fn = fn;
    m->user = user;
    if (r) {
        bool ok = true;
        m->ref.model = dup_or_null(r->model, &ok);
        m->ref.backend = dup_or_null(r->backend, &ok);
        m->ref.desc = r->desc;
        m->ref.opts = r->opts;
        m->ref.keep_alive_ns = r->keep_alive_ns;
        if (!ok) {
            msg_free(m);
            return NULL;
        }
    }
    return m;
}

static uint64_t post(lm_worker *w, msg *m) {
    if (!m) return 0;
    pthread_mutex_lock(&w->lock);
    if (w->stop) {
        pthread_mutex_unlock(&w->lock);
        msg_free(m);
        return 0;
    }
    m->id = ++w->next_id;
    uint64_t id = m->id;
    if (w->tail) w->tail->next = m;
    else w->head = m;
    w->tail = m;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return id;
}

static void gen_free(lm_worker *w, gen *g) {
    lm_sampler_free(g->sampler);
    if (g->detok) lm_detok_stream_free(g->detok);
    free(g->text);
    lm_worker_release(w, g->entry, &g->m->ref);
    msg_free(g->m);
    free(g);
}

/* A DONE event for a request that never started (cancelled while queued). */
static void done_unstarted(msg *m, const char *reason) {
    if (!m->fn) return;
    lm_worker_event e;
    memset(&e, 0, sizeof e);
    e.kind = LM_EV_DONE;
    e.request_id = m->id;
    e.backend = "";
    e.fallback = "";
    e.finish_reason = reason;
    m->fn(&e, m->user);
}

static void emit_loaded(msg *m, lm_cached_model *entry, double load_ms) {
    if (!m->fn) return;
    loaded *l = entry->payload;
    lm_worker_event e;
    memset(&e, 0, sizeof e);
    e.kind = LM_EV_LOADED;
    e.request_id = m->id;
    e.backend = l->backend;
    e.fallback = l->fallback;
    e.timings.load_ms = load_ms;
    e.model_bytes = lm_worker_bytes_per_token(l->desc);
    e.n_vocab = l->n_vocab;
    m->fn(&e, m->user);
}

static void do_load(lm_worker *w, msg *m) {
    lm_cached_model *entry = NULL;
    double load_ms = 0;
    lm_err err = {0};
    lm_status st = lm_worker_acquire(w, m, &entry, &load_ms, &err);
    if (st != LM_OK) {
        lm_worker_emit_error(m, st, lm_err_text(&err));
    } else {
        emit_loaded(m, entry, load_ms);
        lm_worker_release(w, entry, &m->ref);
    }
    msg_free(m);
}

static void do_unload(lm_worker *w, msg *m) {
    lm_err err = {0};
    lm_cached_model *e = lm_worker_find_loaded(w, &m->ref, &err);
    lm_status st = e ? lm_model_cache_unload(w->cache, e, &err) : err.code;
    if (st != LM_OK) {
        lm_worker_emit_error(m, st, lm_err_text(&err));
    } else if (m->fn) {
        lm_worker_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = LM_EV_UNLOADED;
        ev.request_id = m->id;
        m->fn(&ev, m->user);
    }
    msg_free(m);
}

static void do_list(lm_worker *w, msg *m) {
    int n = lm_model_cache_count(w->cache);
    lm_worker_model_info *info = calloc((size_t)(n ? n : 1), sizeof *info);
    uint64_t now = lm_model_cache_now(w->cache);
    int k = 0;
    for (int i = 0; info && i < n; i++) {
        lm_cached_model *e = lm_model_cache_at(w->cache, i);
        loaded *l = e->payload;
        info[k].label = e->label;
        info[k].backend = l->backend;
        info[k].ram_bytes = e->ram_bytes;
        info[k].vram_bytes = e->vram_bytes;
        info[k].refs = e->refs;
        info[k].idle_s = e->refs ? 0 : (double)(now - e->last_used_ns) / 1e9;
        k++;
    }
    if (m->fn) {
        lm_worker_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = LM_EV_LIST;
        ev.request_id = m->id;
        ev.n_models = k;
        ev.models = info;
        m->fn(&ev, m->user);
    }
    free(info);
    msg_free(m);
}

static void cancel(lm_worker *w, uint64_t id) {
    for (int i = 0; i < w->n_pending; i++) {
        if (w->pending[i]->id != id) continue;
        msg *m = w->pending[i];
        memmove(&w->pending[i], &w->pending[i + 1], (size_t)(w->n_pending - i - 1) * sizeof m);
        w->n_pending--;
        done_unstarted(m, "cancelled");
        msg_free(m);
        return;
    }
    for (int i = 0; i < w->n_active; i++)
        if (w->active[i]->m->id == id && !w->active[i]->done)
            lm_gen_finish(w, w->active[i], "cancelled");
}

static void handle(lm_worker *w, msg *m) {
    switch (m->kind) {
    case MSG_LOAD: do_load(w, m); return;
    case MSG_UNLOAD: do_unload(w, m); return;
    case MSG_LIST: /* a listing shows what is loaded now: expire first */
        lm_model_cache_expire(w->cache);
        do_list(w, m);
        return;
    case MSG_CANCEL:
        cancel(w, m->cancel_id);
        msg_free(m);
        return;
    case MSG_POKE:
        lm_model_cache_expire(w->cache);
        msg_free(m);
        return;
    case MSG_GENERATE:
        if (w->n_pending == (int)(sizeof w->pending / sizeof w->pending[0])) {
            lm_worker_emit_error(m, LM_ERR_BUSY, "too many queued requests");
            msg_free(m);
            return;
        }
        w->pending[w->n_pending++] = m;
        return;
    }
}

/* Starts queued requests in arrival order where a sequence slot is free. A
 * request whose model is busy waits without blocking later requests for
 * other models. */
static void admit(lm_worker *w) {
    for (int i = 0; i < w->n_pending;) {
        if (w->n_active == (int)(sizeof w->active / sizeof w->active[0])) return;
        msg *m = w->pending[i];
        gen *g = calloc(1, sizeof *g);
        if (g) g->slot = -1;
        lm_err err = {0};
        lm_status st = g ? LM_OK : lm_fail(&err, LM_ERR_NO_MEMORY, "out of memory");
        double load_ms = 0;
        if (st == LM_OK) st = lm_worker_acquire(w, m, &g->entry, &load_ms, &err);
        if (st == LM_OK) {
            g->m = m;
            g->l = g->entry->payload;
            g->load_ms = load_ms;
            st = lm_gen_start(w, g, &err);
            if (st == LM_ERR_BUSY) { /* every slot is generating: wait */
                lm_worker_release(w, g->entry, &m->ref);
                free(g);
                i++;
                continue;
            }
        }
        memmove(&w->pending[i], &w->pending[i + 1], (size_t)(w->n_pending - i - 1) * sizeof m);
        w->n_pending--;
        if (st != LM_OK) {
            lm_worker_emit_error(m, st, lm_err_text(&err));
            if (g) {
                g->m = m;
                if (g->l && g->slot >= 0 && g->l->slots && g->l->slots[g->slot].busy)
                    g->l->slots[g->slot].busy = false;
                gen_free(w, g);
            } else {
                msg_free(m);
            }
            continue;
        }
        w->active[w->n_active++] = g;
    }
}

static void reap(lm_worker *w) {
    for (int i = 0; i < w->n_active;) {
        if (w->active[i]->done) {
            gen_free(w, w->active[i]);
            memmove(&w->active[i], &w->active[i + 1],
                    (size_t)(w->n_active - i - 1) * sizeof w->active[0]);
            w->n_active--;
        } else {
            i++;
        }
    }
}

static msg *take_all(lm_worker *w, bool wait) {
    pthread_mutex_lock(&w->lock);
    if (wait) {
        while (!w->head && !w->stop) {
            uint64_t left = lm_model_cache_next_expiry_ns(w->cache);
            if (left == UINT64_MAX) {
                pthread_cond_wait(&w->cond, &w->lock);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t ns = (uint64_t)ts.tv_nsec + (left > 60000000000ull ? 60000000000ull : left);
                ts.tv_sec += (time_t)(ns / 1000000000ull);
                ts.tv_nsec = (long)(ns % 1000000000ull);
                if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT) break;
            }
        }
    }
    msg *h = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    return h;
}

static void *thread_main(void *arg) {
    lm_worker *w = arg;
    for (;;) {
        bool idle = w->n_active == 0;
        msg *h = take_all(w, idle);
        while (h) {
            msg *next = h->next;
            h->next = NULL;
            handle(w, h);
            h = next;
        }
        reap(w);
        pthread_mutex_lock(&w->lock);
        bool stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop) break;
        admit(w);
        if (w->n_active > 0) {
            /* One token of one request, then back to the queue: round robin. */
            gen *g = w->active[w->rr++ % w->n_active];
            if (!g->done) lm_gen_step(w, g);
            reap(w);
        }
        lm_model_cache_expire(w->cache);
    }
    /* Shutting down: everything still pending or running is cancelled. */
    for (int i = 0; i < w->n_active; i++)
        if (!w->active[i]->done) lm_gen_finish(w, w->active[i], "cancelled");
    reap(w);
    for (int i = 0; i < w->n_pending; i++) {
        done_unstarted(w->pending[i], "cancelled");
        msg_free(w->pending[i]);
    }
    w->n_pending = 0;
    for (msg *h = take_all(w, false); h;) {
        msg *next = h->next;
        if (h->kind == MSG_GENERATE) done_unstarted(h, "cancelled");
        else if (h->kind != MSG_CANCEL && h->kind != MSG_POKE)
            lm_worker_emit_error(h, LM_ERR_CANCELLED, "the worker is shutting down");
        msg_free(h);
        h = next;
    }
    return NULL;
}

/* Budgets from the engines' probes: RAM from cpu, VRAM from the first other
 * usable backend. */
static void default_budgets(uint64_t *ram, uint64_t *vram) {
    int n = lm_registry_count();
    for (int i = 0; i < n; i++) {
        const lm_backend_ops *o = lm_registry_get(i);
        lm_backend_info info;
        memset(&info, 0, sizeof info);
        if (!o || o->probe(&info) != LM_OK || !info.usable || info.n_devices < 1) continue;
        if (!strcmp(o->name, "cpu")) {
            if (!*ram) *ram = info.devices[0].mem_total;
        } else if (!*vram) {
            *vram = info.devices[0].mem_total;
        }
    }
}

lm_status lm_worker_create(const lm_worker_params *p, lm_worker **out, lm_err *err) {
    *out = NULL;
    lm_worker *w = calloc(1, sizeof *w);
    if (!w) return lm_fail(err, LM_ERR_NO_MEMORY, "worker: out of memory");
    if (p) w->p = *p;
    else lm_worker_default_params(&w->p);
    if (!w->p.keep_alive_ns) w->p.keep_alive_ns = LM_KEEP_ALIVE_DEFAULT_NS;
    default_budgets(&w->p.ram_budget, &w->p.vram_budget);
    lm_model_cache_params cp;
    lm_model_cache_default_params(&cp);
    cp.ram_budget = w->p.ram_budget;
    cp.vram_budget = w->p.vram_budget;
    cp.keep_alive_ns = w->p.keep_alive_ns;
    if (w->p.clock) {
        cp.clock = w->p.clock;
        cp.clock_user = w->p.clock_user;
    }
    w->cache = lm_model_cache_create(&cp);
    if (!w->cache) {
        free(w);
        return lm_fail(err, LM_ERR_NO_MEMORY, "worker: out of memory");
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, thread_main, w) != 0) {
        lm_model_cache_free(w->cache);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return lm_fail(err, LM_ERR_INTERNAL, "worker: could not start its thread");
    }
    *out = w;
    return LM_OK;
}

void lm_worker_free(lm_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    lm_model_cache_free(w->cache);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

uint64_t lm_worker_load(lm_worker *w, const lm_model_ref *r, lm_worker_event_fn fn, void *user) {
    return post(w, msg_new(MSG_LOAD, r, fn, user));
}

uint64_t lm_worker_generate(lm_worker *w, const lm_generate_params *p, lm_worker_event_fn fn,
                            void *user) {
    msg *m = msg_new(MSG_GENERATE, &p->model, fn, user);
    if (!m) return 0;
    bool ok = true;
    m->prompt = dup_or_null(p->prompt, &ok);
    if (!p->prompt && p->n_prompt_tokens > 0) {
        m->ptoks = malloc((size_t)p->n_prompt_tokens * sizeof *m->ptoks);
        if (m->ptoks) memcpy(m->ptoks, p->prompt_tokens, (size_t)p->n_prompt_tokens * sizeof *m->ptoks);
        else ok = false;
        m->n_ptoks = p->n_prompt_tokens;
    }
    if (p->n_stop > 0) {
        m->stop = calloc((size_t)p->n_stop, sizeof *m->stop);
        if (!m->stop) ok = false;
        for (int i = 0; ok && i < p->n_stop; i++) {
            m->stop[i] = dup_or_null(p->stop[i] ? p->stop[i] : "", &ok);
            m->n_stop = i + 1;
        }
    }
    m->n_predict = p->n_predict;
    m->sp = p->sampling;
    m->ignore_eog = p->ignore_eog;
    m->session = p->session;
    m->keep_kv = p->keep_kv;
    if (!ok) {
        msg_free(m);
        return 0;
    }
    return post(w, m);
}

void lm_worker_cancel(lm_worker *w, uint64_t request_id) {
    msg *m = msg_new(MSG_CANCEL, NULL, NULL, NULL);
    if (!m) return;
    m->cancel_id = request_id;
    post(w, m);
}

uint64_t lm_worker_unload(lm_worker *w, const lm_model_ref *r, lm_worker_event_fn fn,
                          void *user) {
    return post(w, msg_new(MSG_UNLOAD, r, fn, user));
}

uint64_t lm_worker_list(lm_worker *w, lm_worker_event_fn fn, void *user) {
    return post(w, msg_new(MSG_LIST, NULL, fn, user));
}

void lm_worker_poke(lm_worker *w) {
    post(w, msg_new(MSG_POKE, NULL, NULL, NULL));
}
