/* model_cache.c — reference-counted loaded models with LRU eviction under
 * budgets and keep-alive expiry. */
#include "runtime/model_cache.h"
#include "backend/select.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lm_model_cache {
    lm_model_cache_params p;
    lm_cached_model **items; /* every entry, doomed ones included until released */
    int n, cap;
};

uint64_t lm_clock_monotonic_ns(void *user) {
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void lm_cache_key_make(lm_cache_key *k, const lm_file_id *file, const char *backend,
                       const lm_load_opts *o) {
    memset(k, 0, sizeof *k); /* padding too: keys are compared field by field anyway */
    if (file) k->file = *file;
    snprintf(k->backend, sizeof k->backend, "%s", backend ? backend : "");
    if (o) {
        k->n_ctx = o->n_ctx;
        k->n_threads = o->n_threads;
        k->kv_type = (int32_t)o->kv_type;
        k->n_seq_max = o->n_seq_max;
        k->device = o->device;
    }
}

bool lm_cache_key_equal(const lm_cache_key *a, const lm_cache_key *b) {
    return a->file.dev == b->file.dev && a->file.ino == b->file.ino &&
           a->file.size == b->file.size && a->file.mtime_ns == b->file.mtime_ns &&
           !strcmp(a->backend, b->backend) && a->n_ctx == b->n_ctx &&
           a->n_threads == b->n_threads && a->kv_type == b->kv_type &&
           a->n_seq_max == b->n_seq_max && a->device == b->device;
}

void lm_model_cache_default_params(lm_model_cache_params *p) {
    memset(p, 0, sizeof *p);
    p->keep_alive_ns = LM_KEEP_ALIVE_DEFAULT_NS;
    p->clock = lm_clock_monotonic_ns;
}

lm_model_cache *lm_model_cache_create(const lm_model_cache_params *p) {
    lm_model_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (p)
        c->p = *p;
    else
        lm_model_cache_default_params(&c->p);
    if (!c->p.clock) c->p.clock = lm_clock_monotonic_ns;
    return c;
}

uint64_t lm_model_cache_now(const lm_model_cache *c) {
    return c->p.clock(c->p.clock_user);
}

static void destroy_entry(lm_cached_model *e) {
    if (e->destroy) e->destroy(e->payload);
    free(e);
}

void lm_model_cache_free(lm_model_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++)
        destroy_entry(c->items[i]);
    free(c->items);
    free(c);
}

lm_cached_model *lm_model_cache_acquire(lm_model_cache *c, const lm_cache_key *k) {
    for (int i = 0; i < c->n; i++)
        if (!c->items[i]->doomed && lm_cache_key_equal(&c->items[i]->key, k)) {
            c->items[i]->refs++;
            return c->items[i];
        }
    return NULL;
}

void lm_model_cache_retain(lm_model_cache *c, lm_cached_model *e) {
    (void)c;
    e->refs++;
}

static void remove_at(lm_model_cache *c, int i) {
    memmove(&c->items[i], &c->items[i + 1], (size_t)(c->n - i - 1) * sizeof c->items[0]);
    c->n--;
}

void lm_model_cache_release(lm_model_cache *c, lm_cached_model *e) {
    if (!e || e->refs <= 0) return;
    e->refs--;
    e->last_used_ns = lm_model_cache_now(c);
    if (e->doomed && e->refs == 0) {
        for (int i = 0; i < c->n; i++)
            if (c->items[i] == e) {
                remove_at(c, i);
                break;
            }
        destroy_entry(e);
    }
}

void lm_model_cache_usage(const lm_model_cache *c, uint64_t *ram, uint64_t *vram) {
    uint64_t r = 0, v = 0;
    for (int i = 0; i < c->n; i++) {
        r += c->items[i]->ram_bytes;
        v += c->items[i]->vram_bytes;
    }
    if (ram) *ram = r;
    if (vram) *vram = v;
}

/* Bytes held by entries in use (which cannot be evicted). */
static void usage_in_use(const lm_model_cache *c, uint64_t *ram, uint64_t *vram) {
    *ram = *vram = 0;
    for (int i = 0; i < c->n; i++)
        if (c->items[i]->refs > 0) {
            *ram += c->items[i]->ram_bytes;
            *vram += c->items[i]->vram_bytes;
        }
}

static bool over(uint64_t used, uint64_t need, uint64_t budget) {
    return budget && (need > budget || used > budget - need);
}

lm_status lm_model_cache_make_room(lm_model_cache *c, uint64_t ram, uint64_t vram, lm_err *err) {
    /* Fail before evicting anything when even evicting every idle model
     * would not make room: nothing is unloaded for no gain. */
    uint64_t ur, uv;
    usage_in_use(c, &ur, &uv);
    if (over(ur, ram, c->p.ram_budget) || over(uv, vram, c->p.vram_budget)) {
        char a[32], b[32], d[32], e2[32], f[32], g[32];
        return lm_fail(
            err, LM_ERR_NO_MEMORY,
            "not enough memory budget: need %s RAM + %s VRAM, models in use hold %s "
            "RAM + %s VRAM (budgets: RAM %s, VRAM %s)",
            lm_format_bytes(ram, a, sizeof a), lm_format_bytes(vram, b, sizeof b),
            lm_format_bytes(ur, d, sizeof d), lm_format_bytes(uv, e2, sizeof e2),
            c->p.ram_budget ? lm_format_bytes(c->p.ram_budget, f, sizeof f) : "unlimited",
            c->p.vram_budget ? lm_format_bytes(c->p.vram_budget, g, sizeof g) : "unlimited");
    }
    for (;;) {
        uint64_t r, v;
        lm_model_cache_usage(c, &r, &v);
        bool short_ram = over(r, ram, c->p.ram_budget);
        bool short_vram = over(v, vram, c->p.vram_budget);
        if (!short_ram && !short_vram) return LM_OK;
        /* The least recently used idle entry that holds what is short. */
        int lru = -1;
        for (int i = 0; i < c->n; i++) {
            const lm_cached_model *e = c->items[i];
            if (e->refs > 0 || !((short_ram && e->ram_bytes) || (short_vram && e->vram_bytes)))
                continue;
            if (lru < 0 || e->last_used_ns < c->items[lru]->last_used_ns) lru = i;
        }
        if (lru < 0) return lm_fail(err, LM_ERR_INTERNAL, "model cache: accounting mismatch");
        lm_cached_model *e = c->items[lru];
        remove_at(c, lru);
        destroy_entry(e);
    }
}

static bool grow(void ***arr, int *cap, int need) {
    if (need <= *cap) return true;
    int nc = *cap ? *cap * 2 : 8;
    void **na = realloc(*arr, (size_t)nc * sizeof *na);
    if (!na) return false;
    *arr = na;
    *cap = nc;
    return true;
}

lm_status lm_model_cache_insert(lm_model_cache *c, const lm_cache_key *k, const char *label,
                                void *payload, void (*destroy)(void *), uint64_t ram_bytes,
                                uint64_t vram_bytes, lm_cached_model **out, lm_err *err) {
    *out = NULL;
    lm_status st = lm_model_cache_make_room(c, ram_bytes, vram_bytes, err);
    if (st != LM_OK) return st;
    if (!grow((void ***)&c->items, &c->cap, c->n + 1))
        return lm_fail(err, LM_ERR_NO_MEMORY, "model cache: out of memory");
    lm_cached_model *e = calloc(1, sizeof *e);
    if (!e) return lm_fail(err, LM_ERR_NO_MEMORY, "model cache: out of memory");
    e->key = *k;
    snprintf(e->label, sizeof e->label, "%s", label ? label : "");
    e->payload = payload;
    e->destroy = destroy;
    e->ram_bytes = ram_bytes;
    e->vram_bytes = vram_bytes;
    e->refs = 1;
    e->last_used_ns = lm_model_cache_now(c);
    e->keep_alive_ns = c->p.keep_alive_ns;
    c->items[c->n++] = e;
    *out = e;
    return LM_OK;
}

void lm_model_cache_rekey(lm_model_cache *c, lm_cached_model *e, const lm_cache_key *k,
                          uint64_t ram_bytes, uint64_t vram_bytes) {
    (void)c;
    e->key = *k;
    e->ram_bytes = ram_bytes;
    e->vram_bytes = vram_bytes;
}

static bool expired(const lm_model_cache *c, const lm_cached_model *e, uint64_t now) {
    if (e->refs > 0 || e->keep_alive_ns == LM_KEEP_ALIVE_FOREVER) return false;
    (void)c;
    return now >= e->last_used_ns && now - e->last_used_ns >= e->keep_alive_ns;
}

int lm_model_cache_expire(lm_model_cache *c) {
    uint64_t now = lm_model_cache_now(c);
    int n = 0;
    for (int i = 0; i < c->n;) {
        if (expired(c, c->items[i], now)) {
            lm_cached_model *e = c->items[i];
            remove_at(c, i);
            destroy_entry(e);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

uint64_t lm_model_cache_next_expiry_ns(lm_model_cache *c) {
    uint64_t now = lm_model_cache_now(c), best = UINT64_MAX;
    for (int i = 0; i < c->n; i++) {
        const lm_cached_model *e = c->items[i];
        if (e->refs > 0 || e->keep_alive_ns == LM_KEEP_ALIVE_FOREVER) continue;
        uint64_t idle = now > e->last_used_ns ? now - e->last_used_ns : 0;
        uint64_t left = idle >= e->keep_alive_ns ? 0 : e->keep_alive_ns - idle;
        if (left < best) best = left;
    }
    return best;
}

lm_status lm_model_cache_unload(lm_model_cache *c, lm_cached_model *e, lm_err *err) {
    for (int i = 0; i < c->n; i++) {
        if (c->items[i] != e) continue;
        if (e->refs > 0)
            return lm_fail(err, LM_ERR_BUSY, "%s is in use by %d request(s)", e->label, e->refs);
        remove_at(c, i);
        destroy_entry(e);
        return LM_OK;
    }
    return lm_fail(err, LM_ERR_NOT_FOUND, "model is not loaded");
}

void lm_model_cache_discard(lm_model_cache *c, lm_cached_model *e) {
    for (int i = 0; i < c->n; i++) {
        if (c->items[i] != e) continue;
        if (e->refs == 0) {
            remove_at(c, i);
            destroy_entry(e);
        } else {
            e->doomed = true; /* still counted: it holds its memory until released */
        }
        return;
    }
}

int lm_model_cache_count(const lm_model_cache *c) {
    return c->n;
}

lm_cached_model *lm_model_cache_at(lm_model_cache *c, int i) {
    return i >= 0 && i < c->n ? c->items[i] : NULL;
}

void lm_model_cache_set_budgets(lm_model_cache *c, uint64_t ram, uint64_t vram) {
    c->p.ram_budget = ram;
    c->p.vram_budget = vram;
}
