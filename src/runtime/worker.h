/* worker.h — the thread that owns engines. Clients post messages (load,
 * generate, cancel, unload, list) to its queue and receive events (progress,
 * loaded, token, done, error, list) through a callback.
 *
 * THREADING: every event callback runs ON THE WORKER THREAD. It must return
 * quickly and must not call lm_worker_free; it may post new messages.
 * Each request ends with exactly one terminal event: LOADED (load), DONE or
 * ERROR (generate), UNLOADED or ERROR (unload), LIST (list).
 *
 * Scheduling: active generations take turns, one token each (round robin), so
 * several concurrent requests progress fairly; messages are read between
 * every two tokens, which is why a cancel takes effect before the next token.
 * Requests wait in arrival order when every sequence slot of their model is
 * busy. Loading a model blocks the worker for the duration of the load.
 *
 * Sessions: a generate request may name a session (a chat). The tokens of its
 * last turn stay in that sequence's KV cache; with keep_kv, a new prompt that
 * extends them prefills only the new tokens (done.usage.prefilled_tokens).
 *
 * Failover: when an engine's forward fails, the worker records (backend,
 * failed, reason), loads the model on the next candidate (see select.h),
 * rebuilds the KV state from the tokens so far and continues the request. */
#ifndef LM_RUNTIME_WORKER_H
#define LM_RUNTIME_WORKER_H
#include "backend/backend.h"
#include "base/progress.h"
#include "localm.h"
#include "runtime/model_cache.h"
#include "runtime/sampler.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct lm_worker lm_worker;

typedef enum lm_event_kind {
    LM_EV_PROGRESS = 0,
    LM_EV_LOADED,   /* load finished: backend + fallback reasons */
    LM_EV_TOKEN,    /* one generated token and the text it completed */
    LM_EV_DONE,     /* generation finished (stop, length, cancelled) */
    LM_EV_ERROR,    /* the request failed */
    LM_EV_UNLOADED, /* explicit unload finished */
    LM_EV_LIST,     /* the loaded models */
} lm_event_kind;

typedef struct lm_usage {
    int prompt_tokens;     /* tokens of the prompt */
    int prefilled_tokens;  /* of those, computed now (the rest was kept in KV) */
    int completion_tokens; /* tokens generated */
} lm_usage;

typedef struct lm_timings {
    double load_ms;    /* 0 when the model was already loaded */
    double prefill_ms, decode_ms, rebuild_ms; /* rebuild: KV rebuilt after failover */
    double prefill_tps, decode_tps;
} lm_timings;

typedef struct lm_worker_model_info {
    const char *label;
    const char *backend;
    uint64_t ram_bytes, vram_bytes;
    int refs;
    double idle_s;
} lm_worker_model_info;

typedef struct lm_worker_event {
    lm_event_kind kind;
    uint64_t request_id;
    /* PROGRESS */
    lm_progress progress;
    /* TOKEN: text is what this token completed (may be empty: a partial UTF-8
     * character, or text held back because it may start a stop string). */
    const char *text;
    size_t text_len;
    int32_t token_id;
    float logprob;
    /* LOADED and DONE */
    const char *backend;       /* the engine that produced the result */
    const char *fallback;      /* "cuda: declined — no CUDA device", or "" */
    const char *finish_reason; /* DONE: "stop", "length", "cancelled" */
    lm_usage usage;
    lm_timings timings;
    uint64_t model_bytes; /* weight bytes read per decoded token */
    int n_vocab;
    /* ERROR */
    lm_status status;
    const char *message;
    /* LIST */
    int n_models;
    const lm_worker_model_info *models;
} lm_worker_event;

typedef void (*lm_worker_event_fn)(const lm_worker_event *ev, void *user);

typedef struct lm_worker_params {
    uint64_t ram_budget;    /* 0: from the cpu backend's probe (total RAM) */
    uint64_t vram_budget;   /* 0: from the first GPU backend's probe */
    uint64_t keep_alive_ns; /* default keep-alive (LM_KEEP_ALIVE_DEFAULT_NS) */
    lm_clock_fn clock;      /* NULL: monotonic */
    void *clock_user;
} lm_worker_params;

void lm_worker_default_params(lm_worker_params *p);

/* Which model, on which engine, with which options. */
typedef struct lm_model_ref {
    const char *model;          /* path (.gguf or HF folder) or catalog id */
    const lm_model_desc *desc;  /* or an opened model, borrowed (must outlive the worker) */
    const char *backend;        /* explicit engine (strict), or NULL */
    lm_load_opts opts;
    uint64_t keep_alive_ns;     /* 0: the worker's default */
} lm_model_ref;

void lm_model_ref_default(lm_model_ref *r);

typedef struct lm_generate_params {
    lm_model_ref model;
    const char *prompt;           /* text, tokenized with the model's tokenizer; or */
    const int32_t *prompt_tokens; /* token ids (used when prompt is NULL) */
    int n_prompt_tokens;
    int n_predict;                /* maximum new tokens (<= 0: until context is full) */
    lm_sampler_params sampling;
    const char *const *stop;      /* stop strings (not included in the output) */
    int n_stop;
    bool ignore_eog;              /* keep going past end-of-generation tokens */
    uint64_t session;             /* 0: a one-off sequence */
    bool keep_kv;                 /* reuse the session's KV when the prompt extends it */
} lm_generate_params;

void lm_generate_params_default(lm_generate_params *p);

lm_status lm_worker_create(const lm_worker_params *p, lm_worker **out, lm_err *err);
/* Cancels what is pending, joins the thread, unloads every model. NULL is fine. */
void lm_worker_free(lm_worker *w);

/* Each returns the request id (> 0), or 0 when the message could not be
 * queued (out of memory, worker stopping); parameters are copied. */
uint64_t lm_worker_load(lm_worker *w, const lm_model_ref *r, lm_worker_event_fn fn, void *user);
uint64_t lm_worker_generate(lm_worker *w, const lm_generate_params *p, lm_worker_event_fn fn,
                            void *user);
/* Cancels a generate request (queued or running); its DONE event says
 * "cancelled". Unknown or finished ids are ignored. */
void lm_worker_cancel(lm_worker *w, uint64_t request_id);
uint64_t lm_worker_unload(lm_worker *w, const lm_model_ref *r, lm_worker_event_fn fn,
                          void *user);
uint64_t lm_worker_list(lm_worker *w, lm_worker_event_fn fn, void *user);

/* Weight bytes one decoded token reads (the roofline's numerator). */
uint64_t lm_worker_bytes_per_token(const lm_model_desc *d);

/* Runs idle-expiry now (tests with an injected clock). */
void lm_worker_poke(lm_worker *w);
#endif
