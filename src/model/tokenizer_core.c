/* tokenizer_core.c — building the shared tables of a tokenizer (vocabulary
 * map, merge map, encode/decode forms of every token, added-token index) and
 * the small accessors of the public API. */
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lm_tokenizer *tk_alloc(uint32_t n_vocab) {
    lm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_vocab = n_vocab;
    t->text = calloc(n_vocab ? n_vocab : 1, sizeof *t->text);
    t->len = calloc(n_vocab ? n_vocab : 1, sizeof *t->len);
    t->attr = calloc(n_vocab ? n_vocab : 1, 1);
    t->bos_id = t->eos_id = t->unk_id = -1;
    for (int i = 0; i < 256; i++)
        t->byte_tok[i] = -1;
    pthread_mutex_init(&t->cache_mu, NULL);
    if (!t->text || !t->len || !t->attr) {
        lm_tokenizer_free(t);
        return NULL;
    }
    return t;
}

/* FNV-1a, then a final mix so low bits are usable as a table index. */
uint64_t tk_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static uint32_t pow2_above(uint64_t n) {
    uint32_t c = 16;
    while (c < n * 2 && c < (1u << 30))
        c <<= 1;
    return c;
}

lm_status tk_strmap_build(tk_strmap *m, uint32_t n, const char *const *keys, const uint32_t *lens,
                          const uint8_t *skip, lm_err *err) {
    m->cap = pow2_above(n);
    m->slots = calloc(m->cap, sizeof *m->slots);
    m->keys = keys;
    m->key_lens = lens;
    if (!m->slots) return lm_fail(err, LM_ERR_NO_MEMORY, "tokenizer: vocabulary map");
    for (uint32_t id = 0; id < n; id++) {
        if (!keys[id] || (skip && skip[id])) continue;
        uint32_t i = (uint32_t)tk_hash(keys[id], lens[id]) & (m->cap - 1);
        bool dup = false;
        while (m->slots[i]) {
            uint32_t o = m->slots[i] - 1;
            if (lens[o] == lens[id] && !memcmp(keys[o], keys[id], lens[id])) {
                dup = true; /* the lower id keeps the text */
                break;
            }
            i = (i + 1) & (m->cap - 1);
        }
        if (!dup) m->slots[i] = id + 1;
    }
    return LM_OK;
}

int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint32_t i = (uint32_t)tk_hash(s, n) & (m->cap - 1);
    while (m->slots[i]) {
        uint32_t o = m->slots[i] - 1;
        if (m->key_lens[o] == n && !memcmp(m->keys[o], s, n)) return (int32_t)o;
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

lm_status tk_pairmap_init(tk_pairmap *m, uint32_t n, lm_err *err) {
    m->cap = pow2_above(n);
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->rank = calloc(m->cap, sizeof *m->rank);
    m->merged = calloc(m->cap, sizeof *m->merged);
    if (!m->keys || !m->rank || !m->merged)
        return lm_fail(err, LM_ERR_NO_MEMORY, "tokenizer: merge map of %u pairs", n);
    return LM_OK;
}

static uint32_t pair_slot(uint64_t key, uint32_t cap) {
    key ^= key >> 31;
    key *= 0x9e3779b97f4a7c15ull;
    key ^= key >> 29;
    return (uint32_t)key & (cap - 1);
}

bool tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = pair_slot(key, m->cap);
    while (m->keys[i]) {
        if (m->keys[i] == key) return false; /* first (lowest) rank wins */
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->rank[i] = rank;
    m->merged[i] = merged;
    return true;
}

bool tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged) {
    if (!m->keys) return false;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = pair_slot(key, m->cap);
    while (m->keys[i]) {
        if (m->keys[i] == key) {
            *rank = m->rank[i];
            *merged = m->merged[i];
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

/* Decodes one UTF-8 character of a token text (texts come from trusted-format
 * but untrusted-content files, so invalid bytes just yield -1). */
static int32_t next_cp(const uint8_t *s, size_t n, size_t *k) {
    size_t l = tk_utf8_valid_char(s, n);
    if (!l) {
        *k = 1;
        return -1;
    }
    *k = l;
    if (l == 1) return s[0];
    uint32_t cp = s[0] & (0x7F >> l);
    for (size_t i = 1; i < l; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    return (int32_t)cp;
}

static int parse_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Byte-level tokens stand for the bytes their characters map back to; a text
 * with a character outside the map stands for itself (as HF's decoder does). */
static size_t bytelevel_form(const char *s, size_t n, char *out) {
    size_t o = 0, k;
    for (size_t i = 0; i < n; i += k) {
        int32_t cp = next_cp((const uint8_t *)s + i, n - i, &k);
        int b = cp < 0 ? -1 : tk_cp_to_byte((uint32_t)cp);
        if (b < 0) {
            memcpy(out, s, n);
            return n;
        }
        out[o++] = (char)b;
    }
    return o;
}

/* SentencePiece-style texts: U+2581 (E2 96 81) reads as a space. */
static size_t meta_form(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && (uint8_t)s[i] == 0xE2 && (uint8_t)s[i + 1] == 0x96 &&
            (uint8_t)s[i + 2] == 0x81) {
            out[o++] = ' ';
            i += 2;
        } else
            out[o++] = s[i];
    }
    return o;
}

static int cmp_added(const void *a, const void *b) {
    const tk_added *x = a, *y = b;
    uint8_t fx = x->len ? (uint8_t)x->text[0] : 0, fy = y->len ? (uint8_t)y->text[0] : 0;
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

lm_status tk_finish(lm_tokenizer *t, lm_err *err) {
    uint32_t n = t->n_vocab;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += t->len[i] + 1;
    t->enc = calloc(n ? n : 1, sizeof *t->enc);
    t->enc_len = calloc(n ? n : 1, sizeof *t->enc_len);
    t->dec = calloc(n ? n : 1, sizeof *t->dec);
    t->dec_len = calloc(n ? n : 1, sizeof *t->dec_len);
    t->enc_arena = malloc(total + 1);
    t->dec_arena = malloc(total + 1);
    if (!t->enc || !t->enc_len || !t->dec || !t->dec_len || !t->enc_arena || !t->dec_arena)
        return lm_fail(err, LM_ERR_NO_MEMORY, "tokenizer: token forms for %u tokens", n);
    size_t eo = 0, dof = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *s = t->text[i];
        size_t l = t->len[i];
        if (!s) continue;
        char *e = t->enc_arena + eo, *d = t->dec_arena + dof;
        size_t el, dl;
        int bv = parse_byte_token(s, l);
        if (bv >= 0 && t->model != TK_BYTE_BPE) t->attr[i] |= TK_ATTR_BYTE;
        if (t->attr[i] & TK_ATTR_ADDED) {
            memcpy(e, s, l);
            memcpy(d, s, l);
            el = dl = l;
        } else if (t->model == TK_BYTE_BPE) {
            el = dl = bytelevel_form(s, l, e);
            memcpy(d, e, el);
        } else {
            memcpy(e, s, l);
            el = l;
            if (bv >= 0 && (t->decoder.byte_fallback_runs || t->model == TK_SPM)) {
                d[0] = (char)bv;
                dl = 1;
            } else if (t->decoder.meta_to_space) {
                dl = meta_form(s, l, d);
            } else {
                memcpy(d, s, l);
                dl = l;
            }
        }
        t->enc[i] = e;
        t->enc_len[i] = (uint32_t)el;
        t->dec[i] = d;
        t->dec_len[i] = (uint32_t)dl;
        eo += el + 1;
        dof += dl + 1;
    }
    /* the merge loop only sees model tokens: added tokens are matched in the
     * text before it runs (unless the model's vocabulary lists them too) */
    uint8_t *skip = malloc(n ? n : 1);
    if (!skip) return lm_fail(err, LM_ERR_NO_MEMORY, "tokenizer: vocabulary map");
    for (uint32_t i = 0; i < n; i++)
        skip[i] = (t->attr[i] & TK_ATTR_UNUSED) ||
                  ((t->attr[i] & TK_ATTR_ADDED) && !(t->attr[i] & TK_ATTR_INVOCAB));
    lm_status st =
        tk_strmap_build(&t->vocab, n, (const char *const *)t->enc, t->enc_len, skip, err);
    free(skip);
    if (st != LM_OK) return st;
    for (int b = 0; b < 256; b++) {
        if (t->model == TK_BYTE_BPE) {
            char c = (char)b;
            t->byte_tok[b] = tk_strmap_get(&t->vocab, &c, 1);
        } else {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_tok[b] = tk_strmap_get(&t->vocab, name, 6);
        }
    }
    for (size_t i = 0; i < t->n_added; i++) {
        int32_t id = t->added[i].id;
        t->added[i].text = t->text[id];
        t->added[i].len = t->len[id];
    }
    /* drop empty added texts: they would match everywhere */
    size_t k = 0;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len) t->added[k++] = t->added[i];
    t->n_added = k;
    qsort(t->added, t->n_added, sizeof *t->added, cmp_added);
    size_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < t->n_added && (uint8_t)t->added[j].text[0] < b)
            j++;
        t->added_first[b] = (uint32_t)j;
    }
    t->added_first[256] = (uint32_t)t->n_added;
    t->cache = tk_cache_new();
    if (!t->cache) return lm_fail(err, LM_ERR_NO_MEMORY, "tokenizer: word cache");
    return LM_OK;
}

lm_status tk_add_eog(lm_tokenizer *t, int32_t id) {
    if (id < 0 || (uint32_t)id >= t->n_vocab) return LM_OK;
    for (size_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return LM_OK;
    int32_t *e = realloc(t->eog, (t->n_eog + 1) * sizeof *e);
    if (!e) return LM_ERR_NO_MEMORY;
    t->eog = e;
    t->eog[t->n_eog++] = id;
    return LM_OK;
}

void lm_tokenizer_free(lm_tokenizer *t) {
    if (!t) return;
    free(t->arena);
    free(t->text);
    free(t->len);
    free(t->enc_arena);
    free(t->enc);
    free(t->enc_len);
    free(t->dec_arena);
    free(t->dec);
    free(t->dec_len);
    free(t->scores);
    free(t->attr);
    free(t->vocab.slots);
    free(t->merges.keys);
    free(t->merges.rank);
    free(t->merges.merged);
    for (size_t i = 0; i < t->n_norms; i++) {
        free(t->norms[i].a);
        free(t->norms[i].b);
        pcre2_code_free(t->norms[i].re);
    }
    free(t->norms);
    for (size_t i = 0; i < t->n_pres; i++) {
        pcre2_code_free(t->pres[i].re);
        free(t->pres[i].literal);
    }
    free(t->pres);
    free(t->added);
    free(t->prefix_ids);
    free(t->suffix_ids);
    free(t->eog);
    tk_cache_free(t->cache);
    pthread_mutex_destroy(&t->cache_mu);
    free(t);
}

uint32_t lm_tokenizer_vocab_size(const lm_tokenizer *t) {
    return t ? t->n_vocab : 0;
}
int32_t lm_tokenizer_bos(const lm_tokenizer *t) {
    return t ? t->bos_id : -1;
}
int32_t lm_tokenizer_eos(const lm_tokenizer *t) {
    return t ? t->eos_id : -1;
}
bool lm_tokenizer_adds_bos(const lm_tokenizer *t) {
    if (!t) return false;
    for (size_t i = 0; i < t->n_prefix; i++)
        if (t->prefix_ids[i] == t->bos_id) return true;
    return false;
}
bool lm_tokenizer_is_eog(const lm_tokenizer *t, int32_t id) {
    if (!t || id < 0) return false;
    for (size_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}
const char *lm_tokenizer_describe(const lm_tokenizer *t) {
    return t ? t->describe : "";
}
const char *lm_tokenizer_token_text(const lm_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || (uint32_t)id >= t->n_vocab || !t->text[id]) return NULL;
    if (len) *len = t->len[id];
    return t->text[id];
}

bool tk_buf_put(tk_buf *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1)
            c *= 2;
        char *q = realloc(b->p, c);
        if (!q) return false;
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

bool tk_spans_put(tk_spans *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 64;
        tk_span *v = realloc(s->v, c * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = c;
    }
    s->v[s->n].off = (uint32_t)off;
    s->v[s->n].len = (uint32_t)len;
    s->n++;
    return true;
}

bool tk_ids_put(tk_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t c = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, c * sizeof *v);
        if (!v) return false;
        ids->v = v;
        ids->cap = c;
    }
    ids->v[ids->n++] = id;
    return true;
}
