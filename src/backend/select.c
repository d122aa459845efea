/* select.c — the selection policy and its record of decisions. */
#include "backend/select.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lm_decision_kind_name(lm_decision_kind k) {
    switch (k) {
    case LM_DECISION_ACCEPTED:
        return "accepted";
    case LM_DECISION_DECLINED:
        return "declined";
    case LM_DECISION_FAILED:
        return "failed";
    }
    return "unknown";
}

const char *lm_format_bytes(uint64_t b, char *buf, size_t cap) {
    if (b >= (1ull << 30))
        snprintf(buf, cap, "%.1f GiB", (double)b / (1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, cap, "%.0f MiB", (double)b / (1ull << 20));
    else
        snprintf(buf, cap, "%.0f KiB", (double)b / 1024.0);
    return buf;
}

void lm_select_record(lm_selection *s, const char *backend, lm_decision_kind kind,
                      const char *reason, uint64_t bytes_needed) {
    /* Keep the latest decisions when there are more than fit: drop the oldest. */
    if (s->n_decisions == LM_SELECT_MAX_DECISIONS) {
        memmove(&s->decisions[0], &s->decisions[1],
                (LM_SELECT_MAX_DECISIONS - 1) * sizeof s->decisions[0]);
        s->n_decisions--;
    }
    lm_decision *d = &s->decisions[s->n_decisions++];
    memset(d, 0, sizeof *d);
    snprintf(d->backend, sizeof d->backend, "%s", backend ? backend : "?");
    d->kind = kind;
    snprintf(d->reason, sizeof d->reason, "%s", reason ? reason : "");
    d->bytes_needed = bytes_needed;
}

static bool in_cand(const lm_selection *s, const lm_backend_ops *o) {
    for (int i = 0; i < s->n_cand; i++)
        if (s->cand[i] == o) return true;
    return false;
}

static int cmp_hint(const void *a, const void *b) {
    const lm_select_hint *x = *(const lm_select_hint *const *)a;
    const lm_select_hint *y = *(const lm_select_hint *const *)b;
    return (x->priority > y->priority) - (x->priority < y->priority);
}

lm_status lm_select_init(lm_selection *s, const char *explicit_name, const lm_select_hint *hints,
                         int n_hints, lm_err *err) {
    memset(s, 0, sizeof *s);
    const char *name = explicit_name;
    snprintf(s->source, sizeof s->source, "--backend");
    if (!name || !*name) {
        name = getenv("LOCALM_BACKEND");
        snprintf(s->source, sizeof s->source, "LOCALM_BACKEND");
    }
    if (name && *name) {
        const lm_backend_ops *o = lm_registry_find(name);
        if (!o) {
            char names[256];
            return lm_fail(err, LM_ERR_NOT_FOUND, "unknown backend '%s' (%s); available: %s", name,
                           s->source, lm_registry_names(names, sizeof names));
        }
        s->cand[s->n_cand++] = o;
        s->strict = true;
        return LM_OK;
    }
    if (hints && n_hints > 0) {
        snprintf(s->source, sizeof s->source, "catalog");
        const lm_select_hint *sorted[LM_REGISTRY_MAX * 2];
        int n = 0;
        for (int i = 0; i < n_hints && n < (int)(sizeof sorted / sizeof sorted[0]); i++)
            sorted[n++] = &hints[i];
        qsort(sorted, (size_t)n, sizeof sorted[0], cmp_hint);
        for (int i = 0; i < n; i++) {
            const lm_backend_ops *o = lm_registry_find(sorted[i]->backend);
            if (!o || in_cand(s, o)) continue;
            if (!sorted[i]->supported) {
                char why[256];
                snprintf(why, sizeof why, "not supported for this model (catalog%s%s)",
                         sorted[i]->notes && *sorted[i]->notes ? ": " : "",
                         sorted[i]->notes ? sorted[i]->notes : "");
                /* Recorded; the registry pass below skips recorded names. */
                lm_select_record(s, o->name, LM_DECISION_DECLINED, why, 0);
                continue;
            }
            s->cand[s->n_cand++] = o;
        }
    } else {
        snprintf(s->source, sizeof s->source, "registry");
    }
    int count = lm_registry_count();
    for (int i = 0; i < count && s->n_cand < LM_REGISTRY_MAX; i++) {
        const lm_backend_ops *o = lm_registry_get(i);
        if (!o || in_cand(s, o)) continue;
        bool vetoed = false;
        for (int d = 0; d < s->n_decisions; d++)
            if (!strcmp(s->decisions[d].backend, o->name)) vetoed = true;
        if (!vetoed) s->cand[s->n_cand++] = o;
    }
    if (s->n_cand == 0) {
        char why[512];
        lm_selection_reasons(s, why, sizeof why);
        return lm_fail(err, LM_ERR_DECLINED, "no backend is available%s%s", *why ? ": " : "", why);
    }
    return LM_OK;
}

/* One candidate: check(), then load(). Returns LM_OK when it loaded. */
static lm_status try_one(lm_selection *s, const lm_backend_ops *o, const lm_model_desc *m,
                         const lm_load_opts *opts, lm_progress_fn fn, void *user, lm_engine **eng) {
    lm_support sup;
    memset(&sup, 0, sizeof sup);
    lm_load_opts budgeted = *opts;
    uint64_t user_budget = strcmp(o->name, "cpu") ? s->vram_budget : s->ram_budget;
    if (!budgeted.mem_budget && user_budget) budgeted.mem_budget = user_budget;
    opts = &budgeted;
    lm_status st = o->check(m, opts, &sup);
    if (st != LM_OK || !sup.ok) {
        char why[300];
        snprintf(why, sizeof why, "%s",
                 *sup.reason ? sup.reason : (st != LM_OK ? lm_status_message(st) : "declined"));
        lm_select_record(s, o->name, LM_DECISION_DECLINED, why, sup.bytes_needed);
        return st != LM_OK ? st : LM_ERR_DECLINED;
    }
    lm_err e = {0};
    *eng = NULL;
    st = o->load(m, opts, fn, user, eng, &e);
    if (st != LM_OK || !*eng) {
        if (st == LM_OK) st = lm_fail(&e, LM_ERR_INTERNAL, "load returned no engine");
        lm_select_record(s, o->name, LM_DECISION_FAILED, lm_err_text(&e), sup.bytes_needed);
        *eng = NULL;
        return st;
    }
    lm_select_record(s, o->name, LM_DECISION_ACCEPTED, "", sup.bytes_needed);
    return LM_OK;
}

static lm_status none_left(lm_selection *s, lm_status last, lm_err *err) {
    char why[1024];
    lm_selection_reasons(s, why, sizeof why);
    if (s->strict)
        return lm_fail(err, last == LM_OK ? LM_ERR_DECLINED : last,
                       "backend '%s' (chosen by %s) cannot run this model: %s",
                       s->cand[0] ? s->cand[0]->name : "?", s->source, why);
    return lm_fail(err, last == LM_OK ? LM_ERR_DECLINED : last, "no backend can run this model: %s",
                   why);
}

lm_status lm_select_load(lm_selection *s, const lm_model_desc *m, const lm_load_opts *o,
                         lm_progress_fn fn, void *user, const lm_backend_ops **ops, lm_engine **eng,
                         lm_err *err) {
    lm_status last = LM_OK;
    *ops = NULL;
    *eng = NULL;
    while (s->next < s->n_cand) {
        const lm_backend_ops *c = s->cand[s->next++];
        last = try_one(s, c, m, o, fn, user, eng);
        if (last == LM_OK) {
            *ops = c;
            return LM_OK;
        }
        if (last == LM_ERR_CANCELLED) return lm_fail(err, last, "loading cancelled");
    }
    return none_left(s, last, err);
}

lm_status lm_select_failover(lm_selection *s, const char *failed_backend, const char *reason,
                             const lm_model_desc *m, const lm_load_opts *o, lm_progress_fn fn,
                             void *user, const lm_backend_ops **ops, lm_engine **eng, lm_err *err) {
    lm_select_record(s, failed_backend, LM_DECISION_FAILED, reason, 0);
    if (!s->strict && s->next < s->n_cand) {
        lm_err e = {0};
        if (lm_select_load(s, m, o, fn, user, ops, eng, &e) == LM_OK) return LM_OK;
    }
    /* Nothing after it: reload the failed backend once. */
    if (s->retried_last) return none_left(s, LM_ERR_BACKEND, err);
    s->retried_last = 1;
    const lm_backend_ops *again = lm_registry_find(failed_backend);
    if (!again) return none_left(s, LM_ERR_BACKEND, err);
    lm_status st = try_one(s, again, m, o, fn, user, eng);
    if (st != LM_OK) return none_left(s, st, err);
    *ops = again;
    return LM_OK;
}

const char *lm_selection_backend(const lm_selection *s) {
    for (int i = s->n_decisions - 1; i >= 0; i--)
        if (s->decisions[i].kind == LM_DECISION_ACCEPTED) return s->decisions[i].backend;
    return NULL;
}

const char *lm_selection_reasons(const lm_selection *s, char *buf, size_t cap) {
    if (!cap) return buf;
    buf[0] = 0;
    size_t n = 0;
    for (int i = 0; i < s->n_decisions && n + 1 < cap; i++) {
        const lm_decision *d = &s->decisions[i];
        /* Earlier acceptances are superseded by their later failure record. */
        if (d->kind == LM_DECISION_ACCEPTED) continue;
        char need[48] = "";
        if (d->kind == LM_DECISION_DECLINED && d->bytes_needed) {
            char b[32];
            snprintf(need, sizeof need, " (needs %s)",
                     lm_format_bytes(d->bytes_needed, b, sizeof b));
        }
        int w = snprintf(buf + n, cap - n, "%s%s: %s — %s%s", n ? "; " : "", d->backend,
                         lm_decision_kind_name(d->kind), d->reason, need);
        if (w < 0) break;
        n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
    }
    return buf;
}

const char *lm_selection_format(const lm_selection *s, char *buf, size_t cap) {
    char why[1024];
    lm_selection_reasons(s, why, sizeof why);
    const char *b = lm_selection_backend(s);
    if (*why)
        snprintf(buf, cap, "%s (%s)", b ? b : "none", why);
    else
        snprintf(buf, cap, "%s", b ? b : "none");
    return buf;
}
