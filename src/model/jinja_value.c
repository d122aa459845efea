/* jinja_value.c — Jinja values with Python semantics: construction, truth,
 * equality, ordering, str() and repr() formatting, UTF-8 character helpers. */
#include "model/jinja_internal.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

jv jv_undef(const char *hint) {
    jv v = {.k = JV_UNDEF};
    v.u.s.p = hint;
    return v;
}
jv jv_none(void) {
    return (jv){.k = JV_NONE};
}
jv jv_bool(bool b) {
    jv v = {.k = JV_BOOL};
    v.u.b = b;
    return v;
}
jv jv_int(int64_t i) {
    jv v = {.k = JV_INT};
    v.u.i = i;
    return v;
}
jv jv_float(double f) {
    jv v = {.k = JV_FLOAT};
    v.u.f = f;
    return v;
}
jv jv_str(const char *p, size_t n) {
    jv v = {.k = JV_STR};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}
jv jv_cstr(const char *s) {
    return jv_str(s, strlen(s));
}
jv jv_list(jctx *c, size_t cap) {
    jv v = {.k = JV_LIST};
    v.u.l = ja_alloc(c->ar, sizeof(jlist));
    if (cap) {
        v.u.l->v = ja_alloc(c->ar, cap * sizeof(jv));
        v.u.l->cap = cap;
    }
    return v;
}
jv jv_dict(jctx *c) {
    jv v = {.k = JV_DICT};
    v.u.d = ja_alloc(c->ar, sizeof(jdict));
    return v;
}

void jl_push(jctx *c, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        l->v = ja_grow(c->ar, l->v, l->n * sizeof(jv), cap * sizeof(jv));
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

static bool dict_find(const jdict *d, jv key, size_t *at) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->key[i], key)) {
            *at = i;
            return true;
        }
    return false;
}

void jd_set(jctx *c, jdict *d, jv key, jv val) {
    size_t at;
    if (dict_find(d, key, &at)) {
        d->val[at] = val;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        d->key = ja_grow(c->ar, d->key, d->n * sizeof(jv), cap * sizeof(jv));
        d->val = ja_grow(c->ar, d->val, d->n * sizeof(jv), cap * sizeof(jv));
        d->cap = cap;
    }
    d->key[d->n] = key;
    d->val[d->n++] = val;
}

bool jd_get(const jdict *d, jv key, jv *out) {
    size_t at;
    if (!dict_find(d, key, &at)) return false;
    *out = d->val[at];
    return true;
}

bool jd_get_str(const jdict *d, const char *key, jv *out) {
    return jd_get(d, jv_cstr(key), out);
}

bool jv_truthy(jv v) {
    switch (v.k) {
    case JV_UNDEF:
    case JV_NONE:
        return false;
    case JV_BOOL:
        return v.u.b;
    case JV_INT:
        return v.u.i != 0;
    case JV_FLOAT:
        return v.u.f != 0.0;
    case JV_STR:
        return v.u.s.n != 0;
    case JV_LIST:
        return v.u.l->n != 0;
    case JV_DICT:
        return v.u.d->n != 0;
    default:
        return true;
    }
}

bool jv_is_num(jv v) {
    return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
}

double jv_num(jv v) {
    return v.k == JV_FLOAT ? v.u.f : v.k == JV_INT ? (double)v.u.i : v.k == JV_BOOL ? v.u.b : 0;
}

static bool num_equal(jv a, jv b) {
    if (a.k != JV_FLOAT && b.k != JV_FLOAT) {
        int64_t x = a.k == JV_BOOL ? a.u.b : a.u.i, y = b.k == JV_BOOL ? b.u.b : b.u.i;
        return x == y;
    }
    return jv_num(a) == jv_num(b);
}

/* Values nested deeper than this compare unequal rather than exhausting the
 * stack (JSON input stops at 100 levels; only a template can build more). */
#define MAX_COMPARE_DEPTH 200

static bool equal_d(jv a, jv b, int depth) {
    if (jv_is_num(a) && jv_is_num(b)) return num_equal(a, b);
    if (depth > MAX_COMPARE_DEPTH) return false;
    if (a.k != b.k) return false;
    switch (a.k) {
    case JV_UNDEF:
    case JV_NONE:
        return true;
    case JV_STR:
        return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    case JV_LIST:
        if (a.tuple != b.tuple || a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!equal_d(a.u.l->v[i], b.u.l->v[i], depth + 1)) return false;
        return true;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv o;
            if (!jd_get(b.u.d, a.u.d->key[i], &o) || !equal_d(a.u.d->val[i], o, depth + 1))
                return false;
        }
        return true;
    case JV_NS:
        return a.u.d == b.u.d;
    case JV_FUNC:
        return a.u.fn == b.u.fn;
    case JV_LOOP:
        return a.u.loop == b.u.loop;
    default:
        return false;
    }
}

bool jv_equal(jv a, jv b) {
    return equal_d(a, b, 0);
}

static const char *py_type(jv v) {
    switch (v.k) {
    case JV_UNDEF:
        return "Undefined";
    case JV_NONE:
        return "NoneType";
    case JV_BOOL:
        return "bool";
    case JV_INT:
        return "int";
    case JV_FLOAT:
        return "float";
    case JV_STR:
        return "str";
    case JV_LIST:
        return v.tuple ? "tuple" : "list";
    case JV_DICT:
        return "dict";
    case JV_NS:
        return "Namespace";
    case JV_FUNC:
        return "function";
    default:
        return "LoopContext";
    }
}

const char *jv_type_name(jv v) {
    switch (v.k) {
    case JV_NONE:
        return "None";
    case JV_BOOL:
        return "bool object";
    case JV_INT:
        return "int object";
    case JV_FLOAT:
        return "float object";
    case JV_STR:
        return "str object";
    case JV_LIST:
        return v.tuple ? "tuple object" : "list object";
    case JV_DICT:
        return "dict object";
    case JV_NS:
        return "jinja2.utils.Namespace object";
    case JV_FUNC:
        return "function object";
    case JV_LOOP:
        return "jinja2.runtime.LoopContext object";
    default:
        return "jinja2.runtime.Undefined object";
    }
}

static int compare_d(jctx *c, jv a, jv b, int depth);

int jv_compare(jctx *c, jv a, jv b) {
    return compare_d(c, a, b, 0);
}

static int compare_d(jctx *c, jv a, jv b, int depth) {
    if (depth > MAX_COMPARE_DEPTH) jfail(c, "values nested too deeply to compare");
    if (a.k == JV_UNDEF) jv_fail_undef(c, a);
    if (b.k == JV_UNDEF) jv_fail_undef(c, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) {
            int64_t x = a.k == JV_BOOL ? a.u.b : a.u.i, y = b.k == JV_BOOL ? b.u.b : b.u.i;
            return x < y ? -1 : x > y;
        }
        double x = jv_num(a), y = jv_num(b);
        return x < y ? -1 : x > y; /* NaN compares as equal here: neither < nor > */
    }
    if (a.k == JV_STR && b.k == JV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (r) return r < 0 ? -1 : 1;
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    if (a.k == JV_LIST && b.k == JV_LIST && a.tuple == b.tuple) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_equal(a.u.l->v[i], b.u.l->v[i])) continue;
            return compare_d(c, a.u.l->v[i], b.u.l->v[i], depth + 1);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    jfail(c, "'<' not supported between instances of '%s' and '%s'", py_type(a), py_type(b));
}

void jv_fail_undef(jctx *c, jv v) {
    jfail(c, "%s", v.u.s.p ? v.u.s.p : "value is undefined");
}

/* ---- UTF-8 */

size_t ju_next(const char *p, size_t n, size_t i, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)p;
    unsigned char b = s[i];
    size_t k = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (k == 0 || i + k > n) {
        *cp = b;
        return i + 1;
    }
    uint32_t v = k == 1 ? b : k == 2 ? (b & 31u) : k == 3 ? (b & 15u) : (b & 7u);
    for (size_t j = 1; j < k; j++) {
        if ((s[i + j] & 0xC0) != 0x80) {
            *cp = b;
            return i + 1;
        }
        v = (v << 6) | (s[i + j] & 63u);
    }
    *cp = v;
    return i + k;
}

size_t ju_count(const char *p, size_t n) {
    size_t k = 0;
    uint32_t cp;
    for (size_t i = 0; i < n; k++)
        i = ju_next(p, n, i, &cp);
    return k;
}

void ju_put(jctx *c, jbuf *b, uint32_t cp) {
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)cp, u);
    if (k <= 0) {
        u[0] = (utf8proc_uint8_t)cp;
        k = 1;
    }
    jb_put(c->ar, b, (const char *)u, (size_t)k);
}

bool ju_is_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* ---- formatting */

void jv_write_float(jctx *c, jbuf *b, double f) {
    if (isnan(f)) {
        jb_puts(c->ar, b, "nan");
        return;
    }
    if (isinf(f)) {
        jb_puts(c->ar, b, f < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int p = 1; p <= 17; p++) { /* the shortest digits that read back exactly */
        snprintf(e, sizeof e, "%.*e", p - 1, f);
        if (strtod(e, NULL) == f) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *q = e;
    bool neg = *q == '-';
    if (neg) q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[64];
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (exp10 < -4 || exp10 >= 16) {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[k++] = digits[i];
        }
        k += (size_t)snprintf(out + k, sizeof out - k, "e%c%02d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            out[k++] = '0';
        for (size_t i = 0; i < nd; i++)
            out[k++] = digits[i];
    } else {
        for (int i = 0; i <= exp10; i++)
            out[k++] = (size_t)i < nd ? digits[i] : '0';
        out[k++] = '.';
        if ((size_t)exp10 + 1 < nd)
            for (size_t i = (size_t)exp10 + 1; i < nd; i++)
                out[k++] = digits[i];
        else
            out[k++] = '0';
    }
    jb_put(c->ar, b, out, k);
}

static void write_str_repr(jctx *c, jbuf *b, const char *p, size_t n) {
    bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jb_putc(c->ar, b, q);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t nx = ju_next(p, n, i, &cp);
        char esc[16];
        if (cp == '\\' || cp == (uint32_t)q) {
            esc[0] = '\\';
            esc[1] = (char)cp;
            jb_put(c->ar, b, esc, 2);
        } else if (cp == '\n') {
            jb_puts(c->ar, b, "\\n");
        } else if (cp == '\r') {
            jb_puts(c->ar, b, "\\r");
        } else if (cp == '\t') {
            jb_puts(c->ar, b, "\\t");
        } else if (cp < 0x20 || cp == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", cp);
            jb_puts(c->ar, b, esc);
        } else if (cp < 0x80) {
            jb_putc(c->ar, b, (char)cp);
        } else {
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
            bool printable = nx - i > 1 && cat != UTF8PROC_CATEGORY_CC &&
                             cat != UTF8PROC_CATEGORY_CF && cat != UTF8PROC_CATEGORY_CS &&
                             cat != UTF8PROC_CATEGORY_CO && cat != UTF8PROC_CATEGORY_CN &&
                             cat != UTF8PROC_CATEGORY_ZL && cat != UTF8PROC_CATEGORY_ZP &&
                             cat != UTF8PROC_CATEGORY_ZS;
            if (printable) {
                jb_put(c->ar, b, p + i, nx - i);
            } else {
                if (cp < 0x100)
                    snprintf(esc, sizeof esc, "\\x%02x", cp);
                else if (cp < 0x10000)
                    snprintf(esc, sizeof esc, "\\u%04x", cp);
                else
                    snprintf(esc, sizeof esc, "\\U%08x", cp);
                jb_puts(c->ar, b, esc);
            }
        }
        i = nx;
    }
    jb_putc(c->ar, b, q);
}

static void write_value(jctx *c, jbuf *b, jv v, bool repr, int depth) {
    char tmp[32];
    if (depth > 100) jfail(c, "value nested too deeply to print");
    switch (v.k) {
    case JV_UNDEF:
        if (repr) jb_puts(c->ar, b, "Undefined");
        break;
    case JV_NONE:
        jb_puts(c->ar, b, "None");
        break;
    case JV_BOOL:
        jb_puts(c->ar, b, v.u.b ? "True" : "False");
        break;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%" PRId64, v.u.i);
        jb_puts(c->ar, b, tmp);
        break;
    case JV_FLOAT:
        jv_write_float(c, b, v.u.f);
        break;
    case JV_STR:
        if (repr)
            write_str_repr(c, b, v.u.s.p, v.u.s.n);
        else
            jb_put(c->ar, b, v.u.s.p, v.u.s.n);
        break;
    case JV_LIST:
        jb_putc(c->ar, b, v.tuple ? '(' : '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_puts(c->ar, b, ", ");
            write_value(c, b, v.u.l->v[i], true, depth + 1);
        }
        if (v.tuple && v.u.l->n == 1) jb_putc(c->ar, b, ',');
        jb_putc(c->ar, b, v.tuple ? ')' : ']');
        break;
    case JV_NS:
        jb_puts(c->ar, b, "<Namespace ");
        /* fall through */
    case JV_DICT:
        jb_putc(c->ar, b, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jb_puts(c->ar, b, ", ");
            write_value(c, b, v.u.d->key[i], true, depth + 1);
            jb_puts(c->ar, b, ": ");
            write_value(c, b, v.u.d->val[i], true, depth + 1);
        }
        jb_putc(c->ar, b, '}');
        if (v.k == JV_NS) jb_putc(c->ar, b, '>');
        break;
    case JV_FUNC:
        jb_puts(c->ar, b, "<function ");
        jb_puts(c->ar, b, v.u.fn->name);
        jb_putc(c->ar, b, '>');
        break;
    case JV_LOOP:
        snprintf(tmp, sizeof tmp, "<LoopContext %zu/%zu>", v.u.loop->index0 + 1,
                 v.u.loop->items->n);
        jb_puts(c->ar, b, tmp);
        break;
    }
}

void jv_write_str(jctx *c, jbuf *b, jv v) {
    write_value(c, b, v, false, 0);
}

void jv_write_repr(jctx *c, jbuf *b, jv v) {
    write_value(c, b, v, true, 0);
}

jv jv_to_str(jctx *c, jv v) {
    if (v.k == JV_STR) return v;
    jbuf b = {0};
    jv_write_str(c, &b, v);
    return jv_str(b.p ? b.p : "", b.n);
}

/* ---- sequences */

jv jv_iter_list(jctx *c, jv v) {
    switch (v.k) {
    case JV_UNDEF:
        return jv_list(c, 0);
    case JV_LIST:
        return v;
    case JV_DICT: {
        jv l = jv_list(c, v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++)
            jl_push(c, l.u.l, v.u.d->key[i]);
        return l;
    }
    case JV_STR: {
        jv l = jv_list(c, 0);
        uint32_t cp;
        for (size_t i = 0; i < v.u.s.n;) {
            size_t nx = ju_next(v.u.s.p, v.u.s.n, i, &cp);
            jl_push(c, l.u.l, jv_str(v.u.s.p + i, nx - i));
            i = nx;
        }
        return l;
    }
    default:
        jfail(c, "'%s' object is not iterable", py_type(v));
    }
}

int64_t jv_length(jctx *c, jv v) {
    switch (v.k) {
    case JV_UNDEF:
        return 0;
    case JV_STR:
        return (int64_t)ju_count(v.u.s.p, v.u.s.n);
    case JV_LIST:
        return (int64_t)v.u.l->n;
    case JV_DICT:
        return (int64_t)v.u.d->n;
    case JV_LOOP:
        return (int64_t)v.u.loop->items->n;
    default:
        jfail(c, "object of type '%s' has no len()", py_type(v));
    }
}
