/* worker_impl.h — the worker's private state, shared by worker.c (queue and
 * thread), worker_models.c (loading, lookup, failover) and worker_gen.c
 * (generation steps). Not part of any public surface. */
#ifndef LM_RUNTIME_WORKER_IMPL_H
#define LM_RUNTIME_WORKER_IMPL_H
#include "backend/select.h"
#include "runtime/model_cache.h"
#include "runtime/worker.h"
#include <pthread.h>

typedef enum msg_kind {
    MSG_LOAD,
    MSG_GENERATE,
    MSG_CANCEL,
    MSG_UNLOAD,
    MSG_LIST,
    MSG_POKE
} msg_kind;

/* A copied lm_model_ref. */
typedef struct owned_ref {
    char *model;
    const lm_model_desc *desc;
    char *backend;
    lm_load_opts opts;
    uint64_t keep_alive_ns;
} owned_ref;

typedef struct msg {
    msg_kind kind;
    uint64_t id;
    lm_worker_event_fn fn;
    void *user;
    owned_ref ref;
    /* MSG_GENERATE */
    char *prompt;
    int32_t *ptoks;
    int n_ptoks;
    int n_predict;
    lm_sampler_params sp;
    char **stop;
    int n_stop;
    bool ignore_eog;
    uint64_t session;
    bool keep_kv;
    int top_logprobs;
    /* MSG_CANCEL */
    uint64_t cancel_id;
    struct msg *next;
} msg;

/* One sequence of a loaded engine: the tokens whose KV it holds. */
typedef struct seq_slot {
    uint64_t session; /* 0: free for anyone */
    int32_t *toks;    /* prompt + generated tokens of the latest request */
    int n_toks, cap;
    int n_kv;     /* toks[0..n_kv) are in the engine's KV cache */
    bool busy;    /* a request is generating on it */
    bool rebuild; /* KV was lost (failover): the next forward rebuilds it */
    uint64_t last_used;
} seq_slot;

/* The cache payload: a model description with the engine that runs it. */
typedef struct loaded {
    lm_model_desc *desc;
    bool own_desc;
    const lm_backend_ops *ops;
    lm_engine *eng;
    lm_selection sel;
    lm_load_opts opts;
    lm_file_id fid;
    char path[1024];
    char backend[32];
    char fallback[1024];
    bool explicit_backend;
    uint32_t n_ctx;
    seq_slot *slots;
    int n_slots;
    float *logits;
    int n_vocab;
    int32_t *pos, *seq; /* batch scratch, n_ctx entries */
} loaded;

/* An admitted generate request. */
typedef struct gen {
    msg *m;
    lm_cached_model *entry;
    loaded *l;
    int slot;
    int n_prompt, n_generated, n_prefilled;
    bool first_forward;
    struct lm_sampler *sampler;
    struct lm_detok_stream *detok;
    char *text; /* everything generated so far, for stop strings */
    size_t text_len, text_cap, emitted;
    double prefill_ms, decode_ms, rebuild_ms, load_ms;
    bool stop_hit; /* a stop string ended it */
    int n_top; /* alternatives of the current step (top_logprobs) */
    int32_t top_ids[LM_MAX_TOP_LOGPROBS];
    float top_lp[LM_MAX_TOP_LOGPROBS];
    bool done;
} gen;

struct lm_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    msg *head, *tail;
    bool stop;
    uint64_t next_id;
    lm_worker_params p;
    uint64_t user_ram_budget, user_vram_budget; /* set by the caller or the environment */
    lm_model_cache *cache;
    /* worker-thread state */
    msg *pending[256];
    int n_pending;
    gen *active[64];
    int n_active;
    int rr;
};

void lm_worker_emit_error(msg *m, lm_status st, const char *text);
double lm_worker_now_ms(void);

/* worker_models.c */
lm_status lm_worker_acquire(lm_worker *w, msg *m, lm_cached_model **entry, double *load_ms,
                            lm_err *err);
lm_cached_model *lm_worker_find_loaded(lm_worker *w, const owned_ref *r, lm_err *err);
lm_status lm_worker_failover(lm_worker *w, lm_cached_model *entry, const char *reason, lm_err *err);
void lm_worker_release(lm_worker *w, lm_cached_model *entry, const owned_ref *r);

/* worker_gen.c */
lm_status lm_gen_start(lm_worker *w, gen *g, lm_err *err);
/* One forward + sample; returns false when the request has finished. */
bool lm_gen_step(lm_worker *w, gen *g);
void lm_gen_finish(lm_worker *w, gen *g, const char *reason);
void lm_gen_fail(lm_worker *w, gen *g, lm_status st, const char *text);
#endif
