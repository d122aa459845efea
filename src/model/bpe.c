/* bpe.c — the merge loop shared by byte-level BPE, character BPE (merges by
 * rank) and SentencePiece BPE (merges by score): symbols in a linked list,
 * candidate pairs in a binary heap ordered by priority then position. */
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <stdlib.h>
#include <string.h>

typedef struct sym {
    int32_t id;          /* -1: not (yet) a vocabulary token (SPM only) */
    uint32_t start, len; /* len 0: merged away */
    int32_t prev, next;
} sym;

typedef struct cand {
    float prio; /* lower merges first */
    int32_t left, right;
    uint32_t total; /* left.len + right.len when pushed: stale entries differ */
    int32_t merged;
} cand;

struct tk_bpe_scratch {
    sym *syms;
    size_t cap;
    cand *heap;
    size_t hn, hcap;
};

tk_bpe_scratch *tk_bpe_scratch_new(void) {
    return calloc(1, sizeof(tk_bpe_scratch));
}

void tk_bpe_scratch_free(tk_bpe_scratch *s) {
    if (!s) return;
    free(s->syms);
    free(s->heap);
    free(s);
}

static bool before(const cand *a, const cand *b) {
    if (a->prio != b->prio) return a->prio < b->prio;
    return a->left < b->left;
}

static bool heap_push(tk_bpe_scratch *s, cand c) {
    if (s->hn == s->hcap) {
        size_t n = s->hcap ? s->hcap * 2 : 64;
        cand *h = realloc(s->heap, n * sizeof *h);
        if (!h) return false;
        s->heap = h;
        s->hcap = n;
    }
    size_t i = s->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&c, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = c;
    return true;
}

static cand heap_pop(tk_bpe_scratch *s) {
    cand top = s->heap[0], last = s->heap[--s->hn];
    size_t i = 0, n = s->hn;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < n && before(&s->heap[l], best)) {
            m = l;
            best = &s->heap[l];
        }
        if (r < n && before(&s->heap[r], best)) m = r;
        if (m == i) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n) s->heap[i] = last;
    return top;
}

/* Pushes the pair (l, r) when the vocabulary can merge it. */
static bool try_pair(const lm_tokenizer *t, tk_bpe_scratch *s, const char *w, int32_t l,
                     int32_t r) {
    if (l < 0 || r < 0) return true;
    const sym *a = &s->syms[l], *b = &s->syms[r];
    cand c = {.left = l, .right = r, .total = a->len + b->len};
    if (t->model == TK_SPM) {
        int32_t id = tk_strmap_get(&t->vocab, w + a->start, c.total);
        if (id < 0 || (t->attr[id] & (TK_ATTR_SPECIAL | TK_ATTR_BYTE | TK_ATTR_UNUSED)))
            return true;
        c.merged = id;
        c.prio = t->scores ? -t->scores[id] : (float)id;
    } else {
        uint32_t rank;
        if (a->id < 0 || b->id < 0 || !tk_pairmap_get(&t->merges, a->id, b->id, &rank, &c.merged))
            return true;
        c.prio = (float)rank;
    }
    return heap_push(s, c);
}

static bool add_sym(tk_bpe_scratch *s, size_t *n, int32_t id, size_t start, size_t len) {
    sym *y = &s->syms[*n];
    y->id = id;
    y->start = (uint32_t)start;
    y->len = (uint32_t)len;
    y->prev = (int32_t)*n - 1;
    y->next = (int32_t)*n + 1;
    (*n)++;
    return true;
}

/* Fills the initial symbols: bytes (byte-level) or characters, with byte
 * fallback or the unknown token for characters the vocabulary lacks. */
static size_t initial_symbols(const lm_tokenizer *t, tk_bpe_scratch *s, const char *w, size_t n) {
    size_t k = 0;
    const uint8_t *u = (const uint8_t *)w;
    if (t->model == TK_BYTE_BPE) {
        for (size_t i = 0; i < n; i++)
            if (t->byte_tok[u[i]] >= 0) add_sym(s, &k, t->byte_tok[u[i]], i, 1);
        return k;
    }
    size_t cl;
    for (size_t i = 0; i < n; i += cl) {
        cl = tk_utf8_valid_char(u + i, n - i);
        if (!cl) cl = 1;
        int32_t id = tk_strmap_get(&t->vocab, w + i, cl);
        if (id >= 0 && (t->attr[id] & TK_ATTR_SPECIAL) && t->model == TK_SPM) id = -1;
        if (id >= 0 || t->model == TK_SPM) {
            add_sym(s, &k, id, i, cl);
            continue;
        }
        bool bytes_ok = t->byte_fallback;
        for (size_t j = 0; bytes_ok && j < cl; j++)
            bytes_ok = t->byte_tok[u[i + j]] >= 0;
        if (bytes_ok) {
            for (size_t j = 0; j < cl; j++)
                add_sym(s, &k, t->byte_tok[u[i + j]], i + j, 1);
        } else if (t->unk_id >= 0) {
            if (t->fuse_unk && k > 0 && s->syms[k - 1].id == t->unk_id &&
                s->syms[k - 1].start + s->syms[k - 1].len == i)
                s->syms[k - 1].len += (uint32_t)cl;
            else
                add_sym(s, &k, t->unk_id, i, cl);
        }
    }
    return k;
}

lm_status tk_bpe_word(const lm_tokenizer *t, tk_bpe_scratch *s, const char *w, size_t n,
                      tk_ids *out, lm_err *err) {
    if (n == 0) return LM_OK;
    if (t->ignore_merges) {
        int32_t id = tk_strmap_get(&t->vocab, w, n);
        if (id >= 0) return tk_ids_put(out, id) ? LM_OK : lm_fail(err, LM_ERR_NO_MEMORY, "bpe");
    }
    if (n > s->cap) {
        sym *y = realloc(s->syms, n * sizeof *y);
        if (!y) return lm_fail(err, LM_ERR_NO_MEMORY, "bpe: word of %zu bytes", n);
        s->syms = y;
        s->cap = n;
    }
    size_t k = initial_symbols(t, s, w, n);
    if (k == 0) return LM_OK;
    s->syms[k - 1].next = -1;
    s->hn = 0;
    for (size_t i = 0; i + 1 < k; i++)
        if (!try_pair(t, s, w, (int32_t)i, (int32_t)i + 1))
            return lm_fail(err, LM_ERR_NO_MEMORY, "bpe: heap");
    while (s->hn) {
        cand c = heap_pop(s);
        sym *a = &s->syms[c.left], *b = &s->syms[c.right];
        if (a->len == 0 || b->len == 0 || a->next != c.right || a->len + b->len != c.total)
            continue;
        a->id = c.merged;
        a->len = c.total;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0) s->syms[b->next].prev = c.left;
        if (!try_pair(t, s, w, a->prev, c.left) || !try_pair(t, s, w, c.left, a->next))
            return lm_fail(err, LM_ERR_NO_MEMORY, "bpe: heap");
    }
    for (int32_t i = 0; i >= 0; i = s->syms[i].next) {
        const sym *y = &s->syms[i];
        bool ok = true;
        if (y->id >= 0) {
            ok = tk_ids_put(out, y->id);
        } else {
            /* SPM: a piece the vocabulary lacks falls back to bytes, else <unk> */
            const uint8_t *u = (const uint8_t *)w + y->start;
            bool bytes_ok = true;
            for (uint32_t j = 0; j < y->len; j++)
                bytes_ok = bytes_ok && t->byte_tok[u[j]] >= 0;
            if (bytes_ok)
                for (uint32_t j = 0; ok && j < y->len; j++)
                    ok = tk_ids_put(out, t->byte_tok[u[j]]);
            else if (t->unk_id >= 0)
                ok = tk_ids_put(out, t->unk_id);
        }
        if (!ok) return lm_fail(err, LM_ERR_NO_MEMORY, "bpe: output");
    }
    return LM_OK;
}
