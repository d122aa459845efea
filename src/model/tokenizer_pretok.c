/* tokenizer_pretok.c — normalizers (text -> text) and pre-tokenizers (text ->
 * words) of the HF tokenizers pipeline, with PCRE2 (UTF + UCP, JIT) for the
 * split regexes. */
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

lm_status tk_compile_regex(const char *pat, size_t len, pcre2_code **out, lm_err *err) {
    int ec;
    PCRE2_SIZE eo;
    /* Invalid UTF-8 in the subject must not fail a match: it simply never matches. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return lm_fail(err, LM_ERR_TOKENIZER, "tokenizer: regex /%.*s/ at %zu: %s",
                       (int)(len > 80 ? 80 : len), pat, (size_t)eo, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is absent */
    *out = re;
    return LM_OK;
}

/* Next match of re in [s, s+n) from `from`; false when none. */
static bool next_match(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n,
                       size_t from, size_t *ms, size_t *me) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, from, 0, md, NULL);
    if (rc < 0) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return true;
}

static lm_status oom(lm_err *err) {
    return lm_fail(err, LM_ERR_NO_MEMORY, "tokenizer: out of memory");
}

/* ---- normalizers --------------------------------------------------------- */

static bool all_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] >= 0x80) return false;
    return true;
}

static lm_status unicode_norm(const tk_norm *nm, tk_buf *in, tk_buf *out, lm_err *err) {
    if (nm->kind != TK_NORM_LOWER && all_ascii(in->p, in->n)) return LM_OK;
    int opt = UTF8PROC_STABLE;
    switch (nm->kind) {
    case TK_NORM_NFC:
        opt |= UTF8PROC_COMPOSE;
        break;
    case TK_NORM_NFKC:
        opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
    case TK_NORM_NFD:
        opt |= UTF8PROC_DECOMPOSE;
        break;
    case TK_NORM_NFKD:
        opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    default:
        break;
    }
    out->n = 0;
    if (nm->kind == TK_NORM_LOWER) {
        size_t k;
        for (size_t i = 0; i < in->n; i += k) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t r =
                utf8proc_iterate((const uint8_t *)in->p + i, (utf8proc_ssize_t)(in->n - i), &cp);
            char enc[4];
            if (r <= 0) {
                k = 1;
                if (!tk_buf_put(out, in->p + i, 1)) return oom(err);
                continue;
            }
            k = (size_t)r;
            size_t el = tk_utf8_encode((uint32_t)utf8proc_tolower(cp), enc);
            if (!tk_buf_put(out, enc, el)) return oom(err);
        }
    } else {
        utf8proc_uint8_t *res = NULL;
        utf8proc_ssize_t r = utf8proc_map((const uint8_t *)in->p, (utf8proc_ssize_t)in->n, &res,
                                          (utf8proc_option_t)opt);
        if (r < 0) return LM_OK; /* invalid UTF-8: left as it is */
        bool ok = tk_buf_put(out, res, (size_t)r);
        free(res);
        if (!ok) return oom(err);
    }
    tk_buf t = *in;
    *in = *out;
    *out = t;
    return LM_OK;
}

static lm_status replace(const tk_norm *nm, tk_buf *in, tk_buf *out, pcre2_match_data *md,
                         lm_err *err) {
    out->n = 0;
    size_t i = 0;
    while (i <= in->n) {
        size_t ms, me;
        bool found;
        if (nm->re) {
            found = next_match(nm->re, md, in->p, in->n, i, &ms, &me) && me > ms;
        } else {
            const char *h = nm->a_len ? memmem(in->p + i, in->n - i, nm->a, nm->a_len) : NULL;
            found = h != NULL;
            ms = found ? (size_t)(h - in->p) : 0;
            me = ms + nm->a_len;
        }
        if (!found) break;
        if (!tk_buf_put(out, in->p + i, ms - i) || !tk_buf_put(out, nm->b, nm->b_len))
            return oom(err);
        i = me;
    }
    if (!tk_buf_put(out, in->p + i, in->n - i)) return oom(err);
    tk_buf t = *in;
    *in = *out;
    *out = t;
    return LM_OK;
}

lm_status tk_normalize(const lm_tokenizer *t, const char *s, size_t n, bool first, tk_buf *out,
                       lm_err *err) {
    (void)first;
    out->n = 0;
    if (!tk_buf_put(out, s, n)) return oom(err);
    if (!t->n_norms && !t->spm_escape) return LM_OK;
    tk_buf tmp = {0};
    pcre2_match_data *md = NULL;
    lm_status st = LM_OK;
    for (size_t i = 0; st == LM_OK && i < t->n_norms; i++) {
        const tk_norm *nm = &t->norms[i];
        switch (nm->kind) {
        case TK_NORM_PREPEND:
            if (out->n) {
                tmp.n = 0;
                if (!tk_buf_put(&tmp, nm->a, nm->a_len) || !tk_buf_put(&tmp, out->p, out->n)) {
                    st = oom(err);
                    break;
                }
                tk_buf x = *out;
                *out = tmp;
                tmp = x;
            }
            break;
        case TK_NORM_REPLACE:
            if (nm->re && !md) md = pcre2_match_data_create_from_pattern(nm->re, NULL);
            if (nm->re && !md) {
                st = oom(err);
                break;
            }
            st = replace(nm, out, &tmp, md, err);
            break;
        case TK_NORM_STRIP: {
            size_t a = 0, b = out->n;
            while (nm->left && a < b && strchr(" \t\n\r\v\f", out->p[a]))
                a++;
            while (nm->right && b > a && strchr(" \t\n\r\v\f", out->p[b - 1]))
                b--;
            memmove(out->p, out->p + a, b - a);
            out->n = b - a;
            out->p[out->n] = 0;
            break;
        }
        default:
            st = unicode_norm(nm, out, &tmp, err);
        }
    }
    if (st == LM_OK && t->spm_escape) {
        /* GGUF SentencePiece: spaces become U+2581, and one leads the text */
        tmp.n = 0;
        bool ok = true;
        if (t->spm_prefix && out->n) ok = tk_buf_put(&tmp, "\xE2\x96\x81", 3);
        for (size_t i = 0; ok && i < out->n; i++)
            ok = out->p[i] == ' ' ? tk_buf_put(&tmp, "\xE2\x96\x81", 3)
                                  : tk_buf_put(&tmp, out->p + i, 1);
        if (!ok) st = oom(err);
        tk_buf x = *out;
        *out = tmp;
        tmp = x;
    }
    free(tmp.p);
    pcre2_match_data_free(md);
    return st;
}

/* ---- pre-tokenizers ------------------------------------------------------ */

/* Splits one word by a regex (or literal) and keeps the pieces as `behavior` says. */
static bool split_word(const tk_pre *p, const pcre2_code *re, pcre2_match_data *md,
                       const char *base, tk_span w, tk_spans *out) {
    const char *s = base + w.off;
    size_t n = w.len, pos = 0;
    size_t first_out = out->n;
    bool last_was_delim = false;
    size_t pend_off = 0, pend_len = 0;
    bool have_pend = false;
    while (pos <= n) {
        size_t ms = n, me = n;
        bool found;
        if (re) {
            found = next_match(re, md, s, n, pos, &ms, &me);
        } else {
            const char *h =
                p->literal_len ? memmem(s + pos, n - pos, p->literal, p->literal_len) : 0;
            found = h != NULL;
            if (found) {
                ms = (size_t)(h - s);
                me = ms + p->literal_len;
            }
        }
        if (found && me == ms) { /* empty match: try one character further */
            if (ms >= n)
                found = false;
            else {
                size_t cl = tk_utf8_valid_char((const uint8_t *)s + ms, n - ms);
                pos = ms + (cl ? cl : 1);
                continue;
            }
        }
        if (!found) ms = me = n;
        /* two segments: the gap [pos, ms) and the match [ms, me) */
        for (int k = 0; k < 2; k++) {
            size_t a = k == 0 ? pos : ms, b = k == 0 ? ms : me;
            if (b <= a) continue;
            bool is_match = k == 1;
            bool delim = p->invert ? !is_match : is_match;
            size_t off = w.off + a, len = b - a;
            switch (p->behavior) {
            case TK_SPLIT_ISOLATED:
                if (!tk_spans_put(out, off, len)) return false;
                break;
            case TK_SPLIT_REMOVED:
                if (!delim && !tk_spans_put(out, off, len)) return false;
                break;
            case TK_SPLIT_MERGED_PREV:
                /* a delimiter joins the piece before it, unless that was one too */
                if (delim && !last_was_delim && out->n > first_out)
                    out->v[out->n - 1].len += (uint32_t)len;
                else if (!tk_spans_put(out, off, len))
                    return false;
                break;
            case TK_SPLIT_MERGED_NEXT:
                if (delim) {
                    if (!have_pend) pend_off = off;
                    pend_len += len;
                    have_pend = true;
                } else {
                    if (!tk_spans_put(out, have_pend ? pend_off : off, len + pend_len))
                        return false;
                    have_pend = false;
                    pend_len = 0;
                }
                break;
            case TK_SPLIT_CONTIGUOUS:
                if (delim && last_was_delim && out->n > first_out)
                    out->v[out->n - 1].len += (uint32_t)len;
                else if (!tk_spans_put(out, off, len))
                    return false;
                break;
            }
            last_was_delim = delim;
        }
        if (!found) break;
        pos = me;
    }
    if (have_pend && !tk_spans_put(out, pend_off, pend_len)) return false;
    return true;
}

/* Rewrites every word (ByteLevel prefix space, Metaspace) into a fresh buffer. */
static bool rewrite(const tk_pre *p, bool first, tk_buf *work, tk_spans *words, tk_spans *tmp) {
    tk_buf nb = {0};
    tmp->n = 0;
    for (size_t i = 0; i < words->n; i++) {
        const char *s = work->p + words->v[i].off;
        size_t n = words->v[i].len, start = nb.n;
        bool ok = true;
        if (p->kind == TK_PRE_BYTELEVEL) {
            if (n && s[0] != ' ') ok = tk_buf_put(&nb, " ", 1);
            ok = ok && tk_buf_put(&nb, s, n);
        } else {
            bool pre = p->prepend == 2 || (p->prepend == 1 && first && i == 0);
            if (pre && n && !(n >= 3 && !memcmp(s, "\xE2\x96\x81", 3)))
                ok = tk_buf_put(&nb, "\xE2\x96\x81", 3);
            for (size_t j = 0; ok && j < n; j++)
                ok = s[j] == ' ' ? tk_buf_put(&nb, "\xE2\x96\x81", 3) : tk_buf_put(&nb, s + j, 1);
        }
        if (!ok || !tk_spans_put(tmp, start, nb.n - start)) {
            free(nb.p);
            return false;
        }
    }
    free(work->p);
    *work = nb;
    tk_spans x = *words;
    *words = *tmp;
    *tmp = x;
    return true;
}

lm_status tk_pretokenize(const lm_tokenizer *t, tk_buf *work, bool first, tk_spans *words,
                         pcre2_match_data *md, lm_err *err) {
    words->n = 0;
    if (work->n == 0) return LM_OK;
    if (!tk_spans_put(words, 0, work->n)) return oom(err);
    tk_spans tmp = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < t->n_pres; i++) {
        const tk_pre *p = &t->pres[i];
        bool needs_rewrite =
            (p->kind == TK_PRE_BYTELEVEL && p->add_prefix_space) || p->kind == TK_PRE_METASPACE;
        if (needs_rewrite && !(ok = rewrite(p, first, work, words, &tmp))) break;
        if (p->kind == TK_PRE_BYTELEVEL && !p->use_regex) continue;
        if (p->kind == TK_PRE_METASPACE && !p->split) continue;
        tmp.n = 0;
        for (size_t w = 0; ok && w < words->n; w++)
            ok = split_word(p, p->re, md, work->p, words->v[w], &tmp);
        tk_spans x = *words;
        *words = tmp;
        tmp = x;
    }
    free(tmp.v);
    return ok ? LM_OK : oom(err);
}
