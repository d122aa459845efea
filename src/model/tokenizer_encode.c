/* tokenizer_encode.c — lm_tokenize: added tokens are cut out of the text
 * first (leftmost, longest), each remaining segment is normalized, split into
 * words and each word merged by the model; the post-processor adds BOS/EOS. */
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <stdlib.h>
#include <string.h>

typedef struct enc_ctx {
    const lm_tokenizer *t;
    tk_ids out;
    tk_buf work;
    tk_spans words;
    pcre2_match_data *md;
    tk_bpe_scratch *bpe;
    lm_err *err;
} enc_ctx;

static lm_status encode_segment(enc_ctx *c, const char *s, size_t n, bool first) {
    if (n == 0) return LM_OK;
    const lm_tokenizer *t = c->t;
    lm_status st = tk_normalize(t, s, n, first, &c->work, c->err);
    if (st == LM_OK) st = tk_pretokenize(t, &c->work, first, &c->words, c->md, c->err);
    for (size_t i = 0; st == LM_OK && i < c->words.n; i++) {
        const char *w = c->work.p + c->words.v[i].off;
        size_t wl = c->words.v[i].len;
        if (tk_cache_get(t, w, wl, &c->out)) continue;
        size_t before = c->out.n;
        st = tk_bpe_word(t, c->bpe, w, wl, &c->out, c->err);
        if (st == LM_OK && c->out.n > before)
            tk_cache_put(t, w, wl, c->out.v + before, c->out.n - before);
    }
    return st;
}

static bool is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_word_byte(uint8_t c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c >= 0x80;
}

/* The added token that starts at text[pos] (longest first), or NULL. */
static const tk_added *match_added(const lm_tokenizer *t, const char *text, size_t len, size_t pos,
                                   bool parse_special) {
    uint8_t b = (uint8_t)text[pos];
    for (uint32_t i = t->added_first[b]; i < t->added_first[b + 1]; i++) {
        const tk_added *a = &t->added[i];
        if (a->special && !parse_special) continue;
        if (a->len > len - pos || memcmp(text + pos, a->text, a->len)) continue;
        if (a->single_word && ((pos > 0 && is_word_byte((uint8_t)text[pos - 1])) ||
                               (pos + a->len < len && is_word_byte((uint8_t)text[pos + a->len]))))
            continue;
        return a;
    }
    return NULL;
}

lm_status lm_tokenize(const lm_tokenizer *t, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids, lm_err *err) {
    if (!t || (!text && len) || !ids || !n_ids)
        return lm_fail(err, LM_ERR_INVALID_ARG, "lm_tokenize: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    if (len > UINT32_MAX / 4)
        return lm_fail(err, LM_ERR_INVALID_ARG, "lm_tokenize: text of %zu bytes is too long", len);
    enc_ctx c = {.t = t, .err = err};
    c.bpe = tk_bpe_scratch_new();
    c.md = pcre2_match_data_create(1, NULL);
    lm_status st = LM_OK;
    if (!c.bpe || !c.md) st = lm_fail(err, LM_ERR_NO_MEMORY, "lm_tokenize: scratch");
    for (size_t i = 0; st == LM_OK && add_special && i < t->n_prefix; i++)
        if (!tk_ids_put(&c.out, t->prefix_ids[i])) st = lm_fail(err, LM_ERR_NO_MEMORY, "ids");
    size_t seg = 0, pos = 0;
    while (st == LM_OK && pos < len) {
        const tk_added *a = t->n_added ? match_added(t, text, len, pos, parse_special) : NULL;
        if (!a) {
            pos++;
            continue;
        }
        size_t end = pos;
        if (a->lstrip)
            while (end > seg && is_space((uint8_t)text[end - 1]))
                end--;
        st = encode_segment(&c, text + seg, end - seg, seg == 0);
        if (st == LM_OK && !tk_ids_put(&c.out, a->id)) st = lm_fail(err, LM_ERR_NO_MEMORY, "ids");
        pos += a->len;
        if (a->rstrip)
            while (pos < len && is_space((uint8_t)text[pos]))
                pos++;
        seg = pos;
    }
    if (st == LM_OK) st = encode_segment(&c, text + seg, len - seg, seg == 0);
    for (size_t i = 0; st == LM_OK && add_special && i < t->n_suffix; i++)
        if (!tk_ids_put(&c.out, t->suffix_ids[i])) st = lm_fail(err, LM_ERR_NO_MEMORY, "ids");
    tk_bpe_scratch_free(c.bpe);
    pcre2_match_data_free(c.md);
    free(c.work.p);
    free(c.words.v);
    if (st != LM_OK) {
        free(c.out.v);
        return st;
    }
    if (!c.out.v) c.out.v = malloc(sizeof(int32_t)); /* a valid pointer even for no ids */
    if (!c.out.v) return lm_fail(err, LM_ERR_NO_MEMORY, "ids");
    *ids = c.out.v;
    *n_ids = c.out.n;
    return LM_OK;
}
