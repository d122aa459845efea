/* model_cache.h — loaded models, keyed by (file identity, backend, load
 * options) and reference-counted: a model in use is never evicted; idle ones
 * are evicted least-recently-used first when a RAM or VRAM budget would be
 * exceeded, unloaded after their keep-alive, or on request.
 *
 * The cache does not know what it holds: each entry carries a payload and a
 * destroy function (the worker stores its engine + model description there).
 * Not thread-safe: one thread (the worker) owns a cache. Time comes from an
 * injectable clock so that tests can step it. */
#ifndef LM_RUNTIME_MODEL_CACHE_H
#define LM_RUNTIME_MODEL_CACHE_H
#include "backend/backend.h"
#include "base/mapfile.h"
#include "localm.h"
#include <stdbool.h>
#include <stdint.h>

#define LM_KEEP_ALIVE_DEFAULT_NS (5ull * 60 * 1000000000ull) /* 5 minutes */
#define LM_KEEP_ALIVE_FOREVER UINT64_MAX

typedef struct lm_cache_key {
    lm_file_id file;
    char backend[32];
    uint32_t n_ctx;
    int32_t n_threads, kv_type, n_seq_max, device;
} lm_cache_key;

void lm_cache_key_make(lm_cache_key *k, const lm_file_id *file, const char *backend,
                       const lm_load_opts *o);
bool lm_cache_key_equal(const lm_cache_key *a, const lm_cache_key *b);

typedef uint64_t (*lm_clock_fn)(void *user); /* monotonic nanoseconds */
uint64_t lm_clock_monotonic_ns(void *user);  /* the default clock */

typedef struct lm_model_cache_params {
    uint64_t ram_budget;    /* bytes; 0 = unlimited (the worker fills it from probe) */
    uint64_t vram_budget;   /* bytes; 0 = unlimited */
    uint64_t keep_alive_ns; /* default for entries; LM_KEEP_ALIVE_FOREVER = never */
    lm_clock_fn clock;      /* NULL = lm_clock_monotonic_ns */
    void *clock_user;
} lm_model_cache_params;

void lm_model_cache_default_params(lm_model_cache_params *p);

typedef struct lm_cached_model {
    lm_cache_key key;
    char label[160]; /* for listings: "tiny-llama3-f16.gguf on cpu" */
    void *payload;
    void (*destroy)(void *payload);
    uint64_t ram_bytes, vram_bytes;
    int refs;               /* users now; > 0 means never evicted */
    uint64_t last_used_ns;  /* when the last user released it */
    uint64_t keep_alive_ns; /* idle time before unload */
    bool doomed;            /* discarded while in use: destroyed at the last release */
} lm_cached_model;

typedef struct lm_model_cache lm_model_cache;

lm_model_cache *lm_model_cache_create(const lm_model_cache_params *p);
/* Destroys every entry, in use or not (shutdown). NULL is fine. */
void lm_model_cache_free(lm_model_cache *c);

/* A loaded model with this key, with one more reference; NULL when absent. */
lm_cached_model *lm_model_cache_acquire(lm_model_cache *c, const lm_cache_key *k);
/* Takes one more reference on an entry found by iteration. */
void lm_model_cache_retain(lm_model_cache *c, lm_cached_model *e);
/* Drops a reference; the entry becomes idle (keep-alive starts) at zero. */
void lm_model_cache_release(lm_model_cache *c, lm_cached_model *e);

/* Evicts idle entries, least recently used first, until ram/vram more bytes
 * fit in the budgets. LM_ERR_NO_MEMORY (naming what is in use) when they
 * cannot fit because the rest is held by models in use. */
lm_status lm_model_cache_make_room(lm_model_cache *c, uint64_t ram, uint64_t vram, lm_err *err);
/* Adds a freshly loaded model with one reference (the caller's), evicting
 * idle entries to make room first. On failure nothing is kept and the
 * payload is NOT destroyed (the caller still owns it). */
lm_status lm_model_cache_insert(lm_model_cache *c, const lm_cache_key *k, const char *label,
                                void *payload, void (*destroy)(void *), uint64_t ram_bytes,
                                uint64_t vram_bytes, lm_cached_model **out, lm_err *err);
/* Changes an entry's key and sizes (after its engine was replaced). */
void lm_model_cache_rekey(lm_model_cache *c, lm_cached_model *e, const lm_cache_key *k,
                          uint64_t ram_bytes, uint64_t vram_bytes);

/* Unloads idle entries whose keep-alive has passed; returns how many. */
int lm_model_cache_expire(lm_model_cache *c);
/* Nanoseconds until the next idle entry expires; UINT64_MAX when none will. */
uint64_t lm_model_cache_next_expiry_ns(lm_model_cache *c);
/* Explicit unload: LM_ERR_BUSY when in use, LM_ERR_NOT_FOUND when absent. */
lm_status lm_model_cache_unload(lm_model_cache *c, lm_cached_model *e, lm_err *err);
/* Removes an entry from lookups now and destroys it at its last release
 * (an engine that failed while a request holds it). */
void lm_model_cache_discard(lm_model_cache *c, lm_cached_model *e);

int lm_model_cache_count(const lm_model_cache *c);
lm_cached_model *lm_model_cache_at(lm_model_cache *c, int i);
void lm_model_cache_usage(const lm_model_cache *c, uint64_t *ram, uint64_t *vram);
void lm_model_cache_set_budgets(lm_model_cache *c, uint64_t ram, uint64_t vram);
uint64_t lm_model_cache_now(const lm_model_cache *c);
#endif
