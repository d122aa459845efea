/* jinja_arena.c — the Jinja engine's capped bump allocator, byte buffers and
 * error escape: everything a parse or render allocates is freed at once. */
#include "base/checked.h"
#include "base/err.h"
#include "model/jinja_internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jchunk {
    jchunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void jthrow(jenv *e, int line, int col, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        lm_fail(e->err, LM_ERR_TEMPLATE, "line %d, column %d: %s", line, col, msg);
    else
        lm_fail(e->err, LM_ERR_TEMPLATE, "%s", msg);
    longjmp(e->jb, 1);
}

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jchunk *h = a->head;
    if (!h || h->size - h->used < n) {
        size_t sz = n > 65536 ? n : 65536;
        size_t total;
        if (!lm_add_size(a->used, sz, &total) || total > a->cap)
            jthrow(a->env, 0, 0, "template memory limit of %zu bytes exceeded", a->cap);
        h = malloc(sizeof *h + sz);
        if (!h) jthrow(a->env, 0, 0, "out of memory");
        h->size = sz;
        h->used = 0;
        h->next = a->head;
        a->head = h;
        a->used += sz;
    }
    void *p = h->data + h->used;
    h->used += n;
    memset(p, 0, n);
    return p;
}

void *ja_grow(jarena *a, void *old, size_t old_n, size_t new_n) {
    void *p = ja_alloc(a, new_n);
    if (old_n) memcpy(p, old, old_n < new_n ? old_n : new_n);
    return p;
}

char *ja_strndup(jarena *a, const char *s, size_t n) {
    size_t sz;
    if (!lm_add_size(n, 1, &sz)) jthrow(a->env, 0, 0, "string too long");
    char *p = ja_alloc(a, sz);
    if (n) memcpy(p, s, n);
    return p;
}

void ja_free_all(jarena *a) {
    jchunk *h = a->head;
    while (h) {
        jchunk *nx = h->next;
        free(h);
        h = nx;
    }
    a->head = NULL;
    a->used = 0;
}

void jb_put(jarena *a, jbuf *b, const char *s, size_t n) {
    size_t need;
    if (!lm_add_size(b->n, n, &need) || (b->limit && need > b->limit))
        jthrow(a->env, 0, 0, "rendered output exceeds the limit of %zu bytes", b->limit);
    if (need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need + 1) {
            if (!lm_mul_size(cap, 2, &cap)) jthrow(a->env, 0, 0, "output too large");
        }
        b->p = ja_grow(a, b->p, b->n, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n = need;
    b->p[b->n] = 0;
}

void jb_puts(jarena *a, jbuf *b, const char *s) {
    jb_put(a, b, s, strlen(s));
}

void jb_putc(jarena *a, jbuf *b, char ch) {
    jb_put(a, b, &ch, 1);
}
