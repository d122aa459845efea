/* worker_gen.c — one generate request on the worker: prompt tokens into the
 * sequence's KV (keeping a session's matching prefix), then per step engine
 * forward → sampler → token → incremental detokenizer → stop checks → events,
 * with failover when the engine fails mid-generation. */
#include "base/err.h"
#include "base/fault.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"
#include "runtime/worker_impl.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void emit_token(gen *g, const char *text, size_t len, int32_t id, float logprob) {
    if (!g->m->fn) return;
    lm_worker_event e;
    memset(&e, 0, sizeof e);
    e.kind = LM_EV_TOKEN;
    e.request_id = g->m->id;
    e.text = text ? text : "";
    e.text_len = text ? len : 0;
    e.token_id = id;
    e.logprob = logprob;
    if (id >= 0 && g->n_top) {
        e.n_top = g->n_top;
        e.top_ids = g->top_ids;
        e.top_logprobs = g->top_lp;
    }
    g->m->fn(&e, g->m->user);
}

/* The k most likely tokens and their log-probabilities, taken before the
 * sampler changes the logits (insertion into a small sorted list: k <= 20). */
static void top_alternatives(gen *g, const float *logits, int n) {
    int k = g->m->top_logprobs;
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(sum);
    g->n_top = 0;
    for (int i = 0; i < n; i++) {
        if (g->n_top == k && logits[i] <= g->top_lp[k - 1]) continue;
        int j = g->n_top < k ? g->n_top++ : k - 1;
        while (j > 0 && g->top_lp[j - 1] < logits[i]) {
            g->top_lp[j] = g->top_lp[j - 1];
            g->top_ids[j] = g->top_ids[j - 1];
            j--;
        }
        g->top_lp[j] = logits[i];
        g->top_ids[j] = i;
    }
    for (int i = 0; i < g->n_top; i++)
        g->top_lp[i] -= lse;
}

static bool slot_reserve(seq_slot *s, int n) {
    if (n <= s->cap) return true;
    int nc = s->cap ? s->cap : 64;
    while (nc < n)
        nc *= 2;
    int32_t *t = realloc(s->toks, (size_t)nc * sizeof *t);
    if (!t) return false;
    s->toks = t;
    s->cap = nc;
    return true;
}

/* A free slot: the request's session if it has one, else an idle slot
 * (least recently used first; sessions lose their KV then). */
static int pick_slot(loaded *l, uint64_t session) {
    if (session)
        for (int i = 0; i < l->n_slots; i++)
            if (l->slots[i].session == session) return l->slots[i].busy ? -1 : i;
    int best = -1;
    for (int i = 0; i < l->n_slots; i++) {
        if (l->slots[i].busy) continue;
        if (best < 0 || (l->slots[i].session == 0 && l->slots[best].session != 0) ||
            ((l->slots[i].session == 0) == (l->slots[best].session == 0) &&
             l->slots[i].last_used < l->slots[best].last_used))
            best = i;
    }
    return best;
}

lm_status lm_gen_start(lm_worker *w, gen *g, lm_err *err) {
    (void)w;
    loaded *l = g->l;
    msg *m = g->m;
    /* A free sequence first: a request that has to wait is not tokenized
     * again on every pass of the scheduler. */
    int si = pick_slot(l, m->session);
    if (si < 0) return lm_fail(err, LM_ERR_BUSY, "no free sequence");
    int32_t *toks = NULL;
    size_t n = 0;
    if (m->prompt) {
        if (!l->desc->tokenizer)
            return lm_fail(err, LM_ERR_TOKENIZER, "the model has no usable tokenizer");
        lm_status st = lm_tokenize(l->desc->tokenizer, m->prompt, strlen(m->prompt), true, true,
                                   &toks, &n, err);
        if (st != LM_OK) return st;
    } else {
        n = (size_t)m->n_ptoks;
        toks = malloc((n ? n : 1) * sizeof *toks);
        if (!toks) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
        memcpy(toks, m->ptoks, n * sizeof *toks);
    }
    if (n == 0) {
        free(toks);
        return lm_fail(err, LM_ERR_INVALID_ARG, "empty prompt");
    }
    for (size_t i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= l->n_vocab) {
            int32_t bad = toks[i];
            free(toks);
            return lm_fail(err, LM_ERR_INVALID_ARG,
                           "prompt token %d is outside the vocabulary (%d)", bad, l->n_vocab);
        }
    if (n >= l->n_ctx) {
        free(toks);
        return lm_fail(err, LM_ERR_CONTEXT_FULL,
                       "prompt of %zu tokens does not fit the context of %u", n, l->n_ctx);
    }
    seq_slot *s = &l->slots[si];
    /* Keep the longest prefix of what is in KV that the new prompt repeats;
     * at least one token is recomputed so there are logits to sample from. */
    int keep = 0;
    if (m->keep_kv && m->session && s->session == m->session && !s->rebuild) {
        while (keep < s->n_kv && keep < (int)n && s->toks[keep] == toks[keep])
            keep++;
        if (keep == (int)n) keep--;
    }
    if (keep < s->n_kv) {
        lm_status st = l->ops->kv_seq(l->eng, keep == 0 ? LM_KV_CLEAR : LM_KV_REMOVE, si, keep, -1);
        if (st != LM_OK) {
            free(toks);
            return lm_fail(err, st, "%s: could not trim the KV cache of sequence %d", l->backend,
                           si);
        }
    }
    if (!slot_reserve(s, (int)n + 16)) {
        free(toks);
        return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(s->toks, toks, n * sizeof *toks);
    free(toks);
    s->n_toks = (int)n;
    s->n_kv = keep;
    s->busy = true;
    s->rebuild = false;
    s->session = m->session;
    g->slot = si;
    g->n_prompt = (int)n;
    g->first_forward = true;
    g->sampler = lm_sampler_create(&m->sp, l->n_vocab);
    if (!g->sampler) return lm_fail(err, LM_ERR_NO_MEMORY, "could not create the sampler");
    if (l->desc->tokenizer) g->detok = lm_detok_stream_create(l->desc->tokenizer, true);
    return LM_OK;
}

static bool text_append(gen *g, const char *s, size_t n) {
    if (g->text_len + n + 1 > g->text_cap) {
        size_t nc = g->text_cap ? g->text_cap * 2 : 256;
        while (nc < g->text_len + n + 1)
            nc *= 2;
        char *t = realloc(g->text, nc);
        if (!t) return false;
        g->text = t;
        g->text_cap = nc;
    }
    memcpy(g->text + g->text_len, s, n);
    g->text_len += n;
    g->text[g->text_len] = 0;
    return true;
}

/* Finds the earliest stop string in the text not yet emitted (a match may
 * start in held-back text). Returns its offset, or -1; *hold gets how many
 * trailing bytes could still be the start of a stop string. */
static long find_stop(const gen *g, size_t *hold) {
    long best = -1;
    *hold = 0;
    for (int i = 0; i < g->m->n_stop; i++) {
        const char *st = g->m->stop[i];
        size_t sl = strlen(st);
        if (!sl) continue;
        size_t from = g->emitted;
        const char *p =
            g->text_len >= sl ? memmem(g->text + from, g->text_len - from, st, sl) : NULL;
        if (p && (best < 0 || p - g->text < best)) best = p - g->text;
        for (size_t h = sl - 1; h > 0; h--) {
            if (h > g->text_len - g->emitted) continue;
            if (!memcmp(g->text + g->text_len - h, st, h)) {
                if (h > *hold) *hold = h;
                break;
            }
        }
    }
    return best;
}

static void save_slot(lm_worker *w, gen *g) {
    loaded *l = g->l;
    if (!l || g->slot < 0 || g->slot >= l->n_slots) return;
    seq_slot *s = &l->slots[g->slot];
    s->busy = false;
    s->last_used = lm_model_cache_now(w->cache);
    if (!g->m->session && l->eng) {
        l->ops->kv_seq(l->eng, LM_KV_CLEAR, g->slot, 0, -1);
        s->n_kv = 0;
        s->session = 0;
    }
}

void lm_gen_fail(lm_worker *w, gen *g, lm_status st, const char *text) {
    lm_worker_emit_error(g->m, st, text);
    save_slot(w, g);
    g->done = true;
}

void lm_gen_finish(lm_worker *w, gen *g, const char *reason) {
    /* Whatever the detokenizer or the stop-string check held back (nothing
     * after a stop string: the text ends where it begins). */
    if (!g->stop_hit && g->detok) {
        const char *out = NULL;
        size_t n = lm_detok_stream_flush(g->detok, &out);
        if (n) text_append(g, out, n);
    }
    if (!g->stop_hit) {
        size_t hold = 0;
        long at = g->m->n_stop ? find_stop(g, &hold) : -1;
        size_t end = at >= 0 ? (size_t)at : g->text_len;
        if (end > g->emitted) emit_token(g, g->text + g->emitted, end - g->emitted, -1, 0);
        g->emitted = end;
    }
    loaded *l = g->l;
    if (g->m->fn) {
        lm_worker_event e;
        memset(&e, 0, sizeof e);
        e.kind = LM_EV_DONE;
        e.request_id = g->m->id;
        e.backend = l ? l->backend : "";
        e.fallback = l ? l->fallback : "";
        e.finish_reason = reason;
        e.usage.prompt_tokens = g->n_prompt;
        e.usage.prefilled_tokens = g->n_prefilled;
        e.usage.completion_tokens = g->n_generated;
        e.timings.load_ms = g->load_ms;
        e.timings.prefill_ms = g->prefill_ms;
        e.timings.decode_ms = g->decode_ms;
        e.timings.rebuild_ms = g->rebuild_ms;
        e.timings.prefill_tps = g->prefill_ms > 0 ? g->n_prefilled / (g->prefill_ms / 1e3) : 0;
        /* The first sampled token comes from the prefill's logits. */
        int decoded = g->n_generated > 1 ? g->n_generated - 1 : 0;
        e.timings.decode_tps = g->decode_ms > 0 ? decoded / (g->decode_ms / 1e3) : 0;
        e.model_bytes = l ? lm_worker_bytes_per_token(l->desc) : 0;
        e.n_vocab = l ? l->n_vocab : 0;
        g->m->fn(&e, g->m->user);
    }
    save_slot(w, g);
    g->done = true;
}

bool lm_gen_step(lm_worker *w, gen *g) {
    loaded *l = g->l;
    seq_slot *s = &l->slots[g->slot];
    if (s->n_toks >= (int)l->n_ctx) {
        lm_gen_finish(w, g, "length");
        return false;
    }
    int n_new = s->n_toks - s->n_kv;
    for (int i = 0; i < n_new; i++) {
        l->pos[i] = s->n_kv + i;
        l->seq[i] = g->slot;
    }
    lm_batch b = {n_new, s->toks + s->n_kv, l->pos, l->seq, NULL};
    lm_logits lg = {l->logits, 0, 0, 1, NULL};
    lm_err e = {0};
    bool rebuilding = s->rebuild;
    double t0 = lm_worker_now_ms();
    lm_status st = l->ops->forward(l->eng, &b, &lg, &e);
    double dt = lm_worker_now_ms() - t0;
    if (st != LM_OK) {
        char reason[600];
        snprintf(reason, sizeof reason, "forward failed after %d generated tokens: %s",
                 g->n_generated, lm_err_text(&e));
        lm_err fe = {0};
        if (lm_worker_failover(w, g->entry, reason, &fe) != LM_OK) {
            lm_gen_fail(w, g, fe.code ? fe.code : st, lm_err_text(&fe));
            return false;
        }
        return true; /* the next step rebuilds this sequence's KV on the new engine */
    }
    if (rebuilding) {
        g->rebuild_ms += dt;
        s->rebuild = false;
    } else if (g->first_forward) {
        g->prefill_ms += dt;
        g->n_prefilled = n_new;
    } else {
        g->decode_ms += dt;
    }
    g->first_forward = false;
    s->n_kv = s->n_toks;
    if (lg.n_vocab <= 0 || lg.n_vocab > l->n_vocab) {
        lm_gen_fail(w, g, LM_ERR_BACKEND, "engine returned logits of an unexpected size");
        return false;
    }
    float lp = 0, *rows = lm_logits_rows(&lg);
    if (g->m->top_logprobs > 0) top_alternatives(g, rows, lg.n_vocab);
    const int32_t *hist = s->toks + g->n_prompt;
    int32_t tok = lm_sampler_sample(g->sampler, rows, hist, g->n_generated, &lp);
    if (!g->m->ignore_eog && l->desc->tokenizer && lm_tokenizer_is_eog(l->desc->tokenizer, tok)) {
        lm_gen_finish(w, g, "stop");
        return false;
    }
    if (!slot_reserve(s, s->n_toks + 1)) {
        lm_gen_fail(w, g, LM_ERR_NO_MEMORY, "out of memory");
        return false;
    }
    s->toks[s->n_toks++] = tok;
    g->n_generated++;
    const char *piece = NULL;
    size_t plen = 0;
    if (g->detok) plen = lm_detok_stream_push(g->detok, tok, &piece);
    if (plen && !text_append(g, piece, plen)) {
        lm_gen_fail(w, g, LM_ERR_NO_MEMORY, "out of memory");
        return false;
    }
    size_t hold = 0;
    long at = g->m->n_stop ? find_stop(g, &hold) : -1;
    size_t end = at >= 0 ? (size_t)at : g->text_len - hold;
    /* No text at all without a tokenizer (engines tested on ids alone). */
    const char *piece_out = g->text ? g->text + g->emitted : "";
    emit_token(g, piece_out, end > g->emitted ? end - g->emitted : 0, tok, lp);
    long delay_ms = lm_fault_value("token_delay_ms"); /* test hook, 0 normally */
    if (delay_ms > 0)
        nanosleep(&(struct timespec){delay_ms / 1000, delay_ms % 1000 * 1000000L}, NULL);
    if (end > g->emitted) g->emitted = end;
    if (at >= 0) {
        g->text_len = (size_t)at; /* the stop string is not part of the output */
        g->stop_hit = true;
        lm_gen_finish(w, g, "stop");
        return false;
    }
    if (g->m->n_predict > 0 && g->n_generated >= g->m->n_predict) {
        lm_gen_finish(w, g, "length");
        return false;
    }
    return true;
}
