/* tokenizer_cache.c — a bounded word -> ids cache: natural text repeats its
 * words, so most words skip the merge loop. Cleared wholesale when full. */
#include "model/tokenizer_impl.h"
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_USED (CACHE_SLOTS / 2)
#define CACHE_ARENA (4u << 20)
#define CACHE_MAX_WORD 64

typedef struct entry {
    uint64_t hash; /* 0: empty */
    uint32_t off;  /* key bytes, then ids, in the arena */
    uint16_t len, n_ids;
} entry;

struct tk_cache {
    entry *slots;
    char *arena;
    uint32_t used, arena_n;
};

/* The tables are allocated on the first insert: many tokenizers (tests,
 * one-off CLI runs) never encode enough text to need them. */
struct tk_cache *tk_cache_new(void) {
    return calloc(1, sizeof(struct tk_cache));
}

void tk_cache_free(struct tk_cache *c) {
    if (!c) return;
    free(c->slots);
    free(c->arena);
    free(c);
}

static entry *find(struct tk_cache *c, uint64_t h, const char *w, size_t n) {
    uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
    while (c->slots[i].hash) {
        entry *e = &c->slots[i];
        if (e->hash == h && e->len == n && !memcmp(c->arena + e->off, w, n)) return e;
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    return &c->slots[i];
}

bool tk_cache_get(const lm_tokenizer *t, const char *w, size_t n, tk_ids *out) {
    if (!t->cache || n > CACHE_MAX_WORD) return false;
    uint64_t h = tk_hash(w, n) | 1;
    bool hit = false;
    pthread_mutex_lock((pthread_mutex_t *)&t->cache_mu);
    entry *e = t->cache->slots ? find(t->cache, h, w, n) : NULL;
    if (e && e->hash) {
        hit = true;
        const char *p = t->cache->arena + e->off + e->len;
        for (uint16_t i = 0; hit && i < e->n_ids; i++) {
            int32_t id;
            memcpy(&id, p + 4 * i, 4);
            hit = tk_ids_put(out, id);
        }
    }
    pthread_mutex_unlock((pthread_mutex_t *)&t->cache_mu);
    return hit;
}

void tk_cache_put(const lm_tokenizer *t, const char *w, size_t n, const int32_t *ids, size_t k) {
    if (!t->cache || n > CACHE_MAX_WORD || k > CACHE_MAX_WORD) return;
    uint64_t h = tk_hash(w, n) | 1;
    size_t need = n + 4 * k;
    pthread_mutex_lock((pthread_mutex_t *)&t->cache_mu);
    struct tk_cache *c = t->cache;
    if (!c->slots) {
        c->arena = malloc(CACHE_ARENA);
        c->slots = c->arena ? calloc(CACHE_SLOTS, sizeof *c->slots) : NULL;
        if (!c->slots) {
            free(c->arena);
            c->arena = NULL;
            pthread_mutex_unlock((pthread_mutex_t *)&t->cache_mu);
            return;
        }
    }
    if (c->used >= CACHE_MAX_USED || c->arena_n + need > CACHE_ARENA) {
        memset(c->slots, 0, CACHE_SLOTS * sizeof *c->slots);
        c->used = c->arena_n = 0;
    }
    entry *e = find(c, h, w, n);
    if (!e->hash) {
        e->hash = h;
        e->off = c->arena_n;
        e->len = (uint16_t)n;
        e->n_ids = (uint16_t)k;
        memcpy(c->arena + c->arena_n, w, n);
        memcpy(c->arena + c->arena_n + n, ids, 4 * k);
        c->arena_n += (uint32_t)need;
        c->used++;
    }
    pthread_mutex_unlock((pthread_mutex_t *)&t->cache_mu);
}
