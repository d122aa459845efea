/* tokenizer_decode.c — ids back to text: whole-sequence decode as HF
 * `decode` does it, and a streaming decoder that only ever emits complete
 * UTF-8 characters. */
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xEF\xBF\xBD"

/* Length of the invalid sequence at s that becomes one U+FFFD: the longest
 * prefix of a well-formed sequence, at least one byte (as Rust's lossy
 * conversion does). Sets *truncated when the bytes could still complete. */
static size_t invalid_len(const uint8_t *s, size_t n, bool *truncated) {
    uint8_t lo, hi;
    *truncated = false;
    size_t k = tk_utf8_lead(s[0], &lo, &hi);
    if (k == 0) return 1;
    if (n < 2) {
        *truncated = true;
        return 1;
    }
    if (s[1] < lo || s[1] > hi) return 1;
    size_t i = 2;
    while (i < k && i < n && (s[i] & 0xC0) == 0x80)
        i++;
    if (i == n && i < k) *truncated = true;
    return i;
}

/* Appends s as valid UTF-8; with hold, an unfinished last character stays
 * out and its length is returned. */
static size_t put_lossy(tk_buf *out, const char *s, size_t n, bool hold, bool *ok) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        size_t k = tk_utf8_valid_char(u + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        bool trunc;
        size_t bad = invalid_len(u + i, n - i, &trunc);
        if (hold && trunc) {
            *ok = *ok && tk_buf_put(out, s + run, i - run);
            return n - i;
        }
        *ok = *ok && tk_buf_put(out, s + run, i - run) && tk_buf_put(out, REPLACEMENT, 3);
        i += bad;
        run = i;
    }
    *ok = *ok && tk_buf_put(out, s + run, n - run);
    return 0;
}

lm_status lm_detokenize(const lm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                        char **text, size_t *len, lm_err *err) {
    if (!t || (!ids && n) || !text)
        return lm_fail(err, LM_ERR_INVALID_ARG, "lm_detokenize: NULL argument");
    *text = NULL;
    tk_buf raw = {0}, out = {0};
    bool ok = tk_buf_put(&raw, "", 0);
    size_t run_start = 0, run_len = 0; /* pending <0xNN> run (ByteFallback) */
    for (size_t i = 0; ok && i <= n; i++) {
        int32_t id = i < n ? ids[i] : -1;
        if (i < n && (id < 0 || (uint32_t)id >= t->n_vocab || !t->dec[id])) {
            free(raw.p);
            return lm_fail(err, LM_ERR_INVALID_ARG,
                           "lm_detokenize: id %d at %zu is not in the "
                           "vocabulary (%u tokens)",
                           (int)id, i, t->n_vocab);
        }
        bool is_byte = i < n && t->decoder.byte_fallback_runs && (t->attr[id] & TK_ATTR_BYTE);
        if (run_len && !is_byte) {
            /* HF ByteFallback: a run of byte tokens that is not valid UTF-8
             * becomes one U+FFFD per token */
            const uint8_t *u = (const uint8_t *)raw.p + run_start;
            size_t j = 0, k;
            while (j < run_len && (k = tk_utf8_valid_char(u + j, run_len - j)))
                j += k;
            if (j < run_len) {
                raw.n = run_start;
                for (size_t r = 0; ok && r < run_len; r++)
                    ok = tk_buf_put(&raw, REPLACEMENT, 3);
            }
            run_len = 0;
        }
        if (i == n) break;
        if (skip_special && (t->attr[id] & TK_ATTR_SPECIAL)) continue;
        if (is_byte && !run_len) run_start = raw.n;
        if (is_byte) run_len += t->dec_len[id];
        ok = ok && tk_buf_put(&raw, t->dec[id], t->dec_len[id]);
    }
    size_t skip = t->decoder.strip_first_space && raw.n && raw.p[0] == ' ' ? 1 : 0;
    ok = ok && tk_buf_put(&out, "", 0);
    if (ok) put_lossy(&out, raw.p + skip, raw.n - skip, false, &ok);
    free(raw.p);
    if (!ok) {
        free(out.p);
        return lm_fail(err, LM_ERR_NO_MEMORY, "lm_detokenize: out of memory");
    }
    *text = out.p;
    if (len) *len = out.n;
    return LM_OK;
}

struct lm_detok_stream {
    const lm_tokenizer *t;
    bool skip_special;
    bool started; /* some byte has been seen (the leading-space rule is spent) */
    tk_buf held;  /* bytes of an unfinished character */
    tk_buf out;
};

lm_detok_stream *lm_detok_stream_create(const lm_tokenizer *t, bool skip_special) {
    if (!t) return NULL;
    lm_detok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    s->skip_special = skip_special;
    return s;
}

size_t lm_detok_stream_push(lm_detok_stream *s, int32_t id, const char **out) {
    static const char empty[1] = "";
    *out = empty;
    if (!s) return 0;
    const lm_tokenizer *t = s->t;
    if (id < 0 || (uint32_t)id >= t->n_vocab || !t->dec[id]) return 0;
    if (s->skip_special && (t->attr[id] & TK_ATTR_SPECIAL)) return 0;
    const char *d = t->dec[id];
    size_t n = t->dec_len[id];
    if (!s->started && n) {
        s->started = true;
        if (t->decoder.strip_first_space && d[0] == ' ') {
            d++;
            n--;
        }
    }
    bool ok = tk_buf_put(&s->held, d, n);
    s->out.n = 0;
    ok = ok && tk_buf_put(&s->out, "", 0);
    size_t keep = 0;
    if (ok) keep = put_lossy(&s->out, s->held.p, s->held.n, true, &ok);
    if (!ok) return 0;
    memmove(s->held.p, s->held.p + s->held.n - keep, keep);
    s->held.n = keep;
    *out = s->out.p;
    return s->out.n;
}

size_t lm_detok_stream_flush(lm_detok_stream *s, const char **out) {
    static const char empty[1] = "";
    *out = empty;
    if (!s) return 0;
    bool ok = true;
    s->out.n = 0;
    ok = tk_buf_put(&s->out, "", 0);
    if (ok && s->held.n) put_lossy(&s->out, s->held.p, s->held.n, false, &ok);
    s->held.n = 0;
    if (!ok) return 0;
    *out = s->out.p;
    return s->out.n;
}

void lm_detok_stream_free(lm_detok_stream *s) {
    if (!s) return;
    free(s->held.p);
    free(s->out.p);
    free(s);
}
