/* select.h — which engine runs a model, and why: the candidate order (explicit
 * choice > catalog priority > registry order), each candidate's check() and
 * load(), fall-through on decline or failure, and a record of every decision
 * that front ends show ("backend: cpu (cuda: declined — no CUDA device)"). */
#ifndef LM_BACKEND_SELECT_H
#define LM_BACKEND_SELECT_H
#include "backend/backend.h"
#include "backend/registry.h"
#include <stdbool.h>
#include <stddef.h>

typedef enum lm_decision_kind {
    LM_DECISION_ACCEPTED = 0, /* loaded and running */
    LM_DECISION_DECLINED = 1, /* check() said no (or the catalog says unsupported) */
    LM_DECISION_FAILED = 2,   /* load() failed, or the engine failed while running */
} lm_decision_kind;

typedef struct lm_decision {
    char backend[32];
    lm_decision_kind kind;
    char reason[256];
    uint64_t bytes_needed; /* check()'s memory estimate, 0 when unknown */
} lm_decision;

/* What the catalog says about one backend for one model. */
typedef struct lm_select_hint {
    const char *backend;
    bool supported;
    int priority;      /* smaller runs first */
    const char *notes; /* shown when !supported; may be NULL */
} lm_select_hint;

#define LM_SELECT_MAX_DECISIONS 32

typedef struct lm_selection {
    const lm_backend_ops *cand[LM_REGISTRY_MAX];
    int n_cand;
    int next;        /* the next candidate to try */
    bool strict;     /* an explicit choice: no fall-back */
    char source[32]; /* "--backend", "LOCALM_BACKEND", "catalog", "registry" */
    lm_decision decisions[LM_SELECT_MAX_DECISIONS];
    int n_decisions;
    int retried_last; /* the last candidate was reloaded once after a failure */
    /* Memory budgets a user set (0: none): a candidate whose own budget in the
     * load options is 0 is checked against these (cpu: RAM, others: VRAM). */
    uint64_t ram_budget, vram_budget;
} lm_selection;

const char *lm_decision_kind_name(lm_decision_kind k); /* "accepted", ... */

/* Builds the candidate list. explicit_name (from --backend) wins; when NULL,
 * LOCALM_BACKEND is read; either makes the selection strict. Otherwise the
 * hints (may be NULL) order supported backends by priority, drop unsupported
 * ones (recorded as declined with the catalog's notes) and registry backends
 * the hints do not mention follow in registry order. */
lm_status lm_select_init(lm_selection *s, const char *explicit_name, const lm_select_hint *hints,
                         int n_hints, lm_err *err);

/* Tries candidates from s->next: check(), then load(). Declines and failures
 * are recorded and fall through (unless strict). On success *ops and *eng are the
 * engine and the decision is recorded as accepted. */
lm_status lm_select_load(lm_selection *s, const lm_model_desc *m, const lm_load_opts *o,
                         lm_progress_fn fn, void *user, const lm_backend_ops **ops, lm_engine **eng,
                         lm_err *err);

/* An engine failed while running: records (backend, failed, reason), then
 * loads the model on the next candidate; when none is left, the failed
 * backend is reloaded once (a fresh engine on the same device) so a transient
 * fault does not end the request. */
lm_status lm_select_failover(lm_selection *s, const char *failed_backend, const char *reason,
                             const lm_model_desc *m, const lm_load_opts *o, lm_progress_fn fn,
                             void *user, const lm_backend_ops **ops, lm_engine **eng, lm_err *err);

void lm_select_record(lm_selection *s, const char *backend, lm_decision_kind kind,
                      const char *reason, uint64_t bytes_needed);

/* "cpu (cuda: declined — no CUDA device)": the backend in use, then every
 * other decision in order. Returns buf. */
const char *lm_selection_format(const lm_selection *s, char *buf, size_t cap);
/* Only the parenthesised part ("cuda: declined — no CUDA device"), "" when the
 * first choice ran. */
const char *lm_selection_reasons(const lm_selection *s, char *buf, size_t cap);
/* The accepted backend, or NULL. */
const char *lm_selection_backend(const lm_selection *s);

/* Human-readable size ("1.2 GiB") into buf. */
const char *lm_format_bytes(uint64_t bytes, char *buf, size_t cap);
#endif
