/* fake_backend.h — engines for tests of the registry, selection, worker and
 * failover: configurable to decline, to fail loading, or to fail at the N-th
 * forward. Their "logits" are a deterministic function of the tokens in the
 * sequence's KV (fake_next_token), so a wrongly rebuilt KV changes the text. */
#ifndef LM_TESTS_FAKE_BACKEND_H
#define LM_TESTS_FAKE_BACKEND_H
#include "backend/backend.h"
#include <stdbool.h>

#define FAKE_MAX 4

typedef struct fake_cfg {
    char name[32];
    const char *decline_reason; /* non-NULL: check() declines with it */
    uint64_t bytes_needed;      /* check()'s estimate */
    bool load_fails;
    int fail_at_forward;  /* 1-based forward call that fails; 0: never */
    int forward_delay_us; /* slows each forward (cancellation tests) */
    /* counters */
    int checks, loads, unloads, forwards, live_engines;
} fake_cfg;

extern fake_cfg fake_cfgs[FAKE_MAX];

/* Table i (0..FAKE_MAX-1), named after fake_cfgs[i].name. */
const lm_backend_ops *fake_ops(int i);
/* Resets fake_cfgs[i] and names it. */
void fake_reset(int i, const char *name);

/* A model description with n_vocab, training context n_ctx and a unique file
 * identity (ino); no tensors, no tokenizer. */
void fake_model_desc(lm_model_desc *d, int n_vocab, int n_ctx, uint64_t ino);

/* The token the fake engine's logits peak at after this sequence. */
int32_t fake_next_token(const int32_t *toks, int n, int n_vocab);
#endif
