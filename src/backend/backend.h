/* backend.h — the engine interface: a versioned table of functions plus an
 * opaque engine handle. Each backend (cpu, cuda, fakes in tests) fills one
 * lm_backend_ops; the registry lists them and the selection policy asks each
 * in turn. Tables only grow at the end; abi_version is checked on register.
 *
 * Threading: one thread owns an engine (the worker); no function of one engine
 * is called concurrently. probe/check may be called from any thread. */
#ifndef LM_BACKEND_BACKEND_H
#define LM_BACKEND_BACKEND_H
#include "base/progress.h"
#include "localm.h"
#include "model/model_desc.h"
#include <stdbool.h>
#include <stdint.h>

#define LM_BACKEND_ABI_VERSION 1

typedef struct lm_engine lm_engine; /* defined by each backend */

typedef struct lm_device_info {
    char name[128];       /* "NVIDIA H100 80GB HBM3", "AMD EPYC (AVX-512)" */
    uint64_t mem_total;   /* bytes of VRAM or RAM */
    uint64_t mem_free;
    char caps[128];       /* "sm_90", "avx2 fma avx512f avx512vnni" */
} lm_device_info;

typedef struct lm_backend_info {
    bool usable;          /* can it run anything here at all? */
    char reason[256];     /* why not, when !usable ("no CUDA device") */
    int n_devices;
    lm_device_info devices[8];
    int threads;          /* CPU: physical cores used by default */
} lm_backend_info;

typedef enum lm_kv_type { LM_KV_F16 = 0, LM_KV_F32 = 1 } lm_kv_type;

typedef struct lm_load_opts {
    uint32_t n_ctx;       /* 0 = lm_model_default_ctx() */
    int n_threads;        /* 0 = default (physical cores) */
    lm_kv_type kv_type;
    int n_seq_max;        /* sequences that can be resident at once (>= 1) */
    uint64_t mem_budget;  /* bytes the engine may use; 0 = what probe reports */
    int device;           /* device index for multi-device backends */
} lm_load_opts;

void lm_load_opts_default(lm_load_opts *o);

typedef struct lm_support {
    bool ok;
    char reason[256];      /* why it declines ("needs 9.1 GiB of VRAM, 7.8 free") */
    uint64_t bytes_weights;
    uint64_t bytes_kv;     /* KV cache at the requested context */
    uint64_t bytes_needed; /* weights + kv + scratch */
} lm_support;

/* Tokens of one or more sequences processed in one call. Row i of the output
 * logits corresponds to the i-th token whose `logits` flag is set. */
typedef struct lm_batch {
    int32_t n_tokens;
    const int32_t *tokens;
    const int32_t *pos;   /* position of each token in its sequence */
    const int32_t *seq;   /* sequence id of each token (0..n_seq_max-1) */
    const int8_t *logits; /* non-zero: return logits for this token; NULL: last only */
} lm_batch;

typedef struct lm_logits {
    float *data;      /* caller-owned, capacity rows x n_vocab */
    int32_t n_vocab;  /* set by the engine */
    int32_t n_rows;   /* set by the engine */
    int32_t capacity; /* rows the caller's buffer holds */
    /* NULL (callers zero it): the rows are in data. An engine may instead
     * point it at its own copy of the rows, valid (and writable) until its
     * next call, where copying them into data would cost a pass over host
     * memory per token (the CUDA engine's pinned buffer). Read the rows
     * through lm_logits_rows(). */
    float *rows;
} lm_logits;

static inline float *lm_logits_rows(const lm_logits *l) {
    return l->rows ? l->rows : l->data;
}

typedef enum lm_kv_op {
    LM_KV_CLEAR = 0,  /* forget sequence seq entirely (seq -1: all) */
    LM_KV_REMOVE = 1, /* forget positions [p0, p1) of seq (p1 -1: to the end) */
} lm_kv_op;

typedef struct lm_backend_ops {
    uint32_t abi_version; /* LM_BACKEND_ABI_VERSION; first field */
    const char *name;     /* "cuda", "cpu" */
    lm_status (*probe)(lm_backend_info *out);
    lm_status (*check)(const lm_model_desc *m, const lm_load_opts *o, lm_support *out);
    lm_status (*load)(const lm_model_desc *m, const lm_load_opts *o, lm_progress_fn fn,
                      void *user, lm_engine **out, lm_err *err);
    lm_status (*forward)(lm_engine *e, const lm_batch *b, lm_logits *out, lm_err *err);
    lm_status (*kv_seq)(lm_engine *e, lm_kv_op op, int seq, int p0, int p1);
    void (*unload)(lm_engine *e);
} lm_backend_ops;
#endif
