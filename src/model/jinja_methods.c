/* jinja_methods.c — the Python methods templates call on values: str
 * (startswith, split, strip, format, ...), dict (get, items, keys, values)
 * and the read-only list methods. Mutating methods are refused elsewhere,
 * as Jinja's immutable sandbox does. */
#include "model/jinja_internal.h"
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

static const char *const k_str_methods[] = {
    "startswith", "endswith", "split",      "rsplit",  "strip",   "lstrip",  "rstrip",
    "upper",      "lower",    "capitalize", "title",   "replace", "find",    "rfind",
    "count",      "join",     "isdigit",    "isalpha", "isalnum", "isspace", "islower",
    "isupper",    "format",   "splitlines", NULL};
static const char *const k_dict_methods[] = {"get", "items", "keys", "values", "copy", NULL};
static const char *const k_list_methods[] = {"index", "count", "copy", NULL};

static bool in_list(const char *const *l, const char *name) {
    for (int i = 0; l[i]; i++)
        if (!strcmp(l[i], name)) return true;
    return false;
}

bool jmethod_lookup(jv self, const char *name) {
    if (self.k == JV_STR) return in_list(k_str_methods, name);
    if (self.k == JV_DICT) return in_list(k_dict_methods, name);
    if (self.k == JV_LIST)
        return in_list(k_list_methods, name) && !(self.tuple && !strcmp(name, "copy"));
    return false;
}

static jv need_str(jctx *c, jv v, const char *what) {
    if (v.k == JV_UNDEF) jv_fail_undef(c, v);
    if (v.k != JV_STR) jfail(c, "%s must be str, not %s", what, jv_type_name(v));
    return v;
}

/* Character offsets [start, end) of optional slice args, as byte offsets. */
static void char_range(jctx *c, jv s, jv a, jv b, size_t *bs, size_t *be) {
    int64_t n = (int64_t)ju_count(s.u.s.p, s.u.s.n);
    int64_t st = 0, en = n;
    if (a.k != JV_UNDEF && a.k != JV_NONE) st = jv_as_index(c, a, "slice index");
    if (b.k != JV_UNDEF && b.k != JV_NONE) en = jv_as_index(c, b, "slice index");
    if (st < 0) st = st + n < 0 ? 0 : st + n;
    if (en < 0) en = en + n < 0 ? 0 : en + n;
    if (st > n) st = n + 1; /* past the end: nothing matches, not even "" */
    if (en > n) en = n;
    size_t p = 0;
    uint32_t cp;
    *bs = *be = SIZE_MAX;
    for (int64_t i = 0; i <= n; i++) {
        if (i == st) *bs = p;
        if (i == en) *be = p;
        if (p < s.u.s.n) p = ju_next(s.u.s.p, s.u.s.n, p, &cp);
    }
}

static bool affix(jctx *c, jv s, jv a, size_t bs, size_t be, bool end) {
    if (a.k == JV_LIST && a.tuple) {
        for (size_t i = 0; i < a.u.l->n; i++)
            if (affix(c, s, a.u.l->v[i], bs, be, end)) return true;
        return false;
    }
    if (a.k != JV_STR)
        jfail(c, "%s first arg must be str or a tuple of str, not %s",
              end ? "endswith" : "startswith", jv_type_name(a));
    if (bs == SIZE_MAX || be == SIZE_MAX || be < bs) return false;
    size_t len = be - bs;
    if (a.u.s.n > len) return false;
    const char *p = s.u.s.p + (end ? be - a.u.s.n : bs);
    return !memcmp(p, a.u.s.p, a.u.s.n);
}

static int64_t find(jv s, jv sub, bool right) {
    if (sub.u.s.n > s.u.s.n) return -1;
    const char *hit = NULL;
    if (!right) {
        hit = sub.u.s.n ? memmem(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n) : s.u.s.p;
    } else {
        for (size_t i = s.u.s.n - sub.u.s.n + 1; i-- > 0;)
            if (!memcmp(s.u.s.p + i, sub.u.s.p, sub.u.s.n)) {
                hit = s.u.s.p + i;
                break;
            }
    }
    if (!hit) return -1;
    return (int64_t)ju_count(s.u.s.p, (size_t)(hit - s.u.s.p));
}

typedef bool (*cp_pred)(uint32_t);
static bool is_digit_cp(uint32_t cp) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
    return k == UTF8PROC_CATEGORY_ND || cp == 0xB2 || cp == 0xB3 || cp == 0xB9; /* + superscripts */
}
static bool is_alpha_cp(uint32_t cp) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static bool is_alnum_cp(uint32_t cp) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
    return is_alpha_cp(cp) || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
           k == UTF8PROC_CATEGORY_NO;
}

static bool all_chars(jv s, cp_pred f) {
    if (s.u.s.n == 0) return false;
    uint32_t cp;
    for (size_t i = 0; i < s.u.s.n;) {
        i = ju_next(s.u.s.p, s.u.s.n, i, &cp);
        if (!f(cp)) return false;
    }
    return true;
}

/* str.format with {} / {0} / {name} fields and {{ }} escapes (no format specs). */
static jv str_format(jctx *c, jv fmt, jv *args, size_t n, const char **kwn, jv *kwv, size_t nkw) {
    jbuf b = {0};
    size_t auto_idx = 0;
    const char *p = fmt.u.s.p;
    size_t len = fmt.u.s.n;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '{' && i + 1 < len && p[i + 1] == '{') {
            jb_putc(c->ar, &b, '{');
            i++;
        } else if (p[i] == '}' && i + 1 < len && p[i + 1] == '}') {
            jb_putc(c->ar, &b, '}');
            i++;
        } else if (p[i] == '{') {
            size_t e = i + 1;
            while (e < len && p[e] != '}')
                e++;
            if (e >= len) jfail(c, "Single '{' encountered in format string");
            const char *f = p + i + 1;
            size_t fl = e - i - 1;
            if (memchr(f, ':', fl) || memchr(f, '!', fl) || memchr(f, '.', fl) ||
                memchr(f, '[', fl))
                jfail(c, "format specs and field access in str.format are not supported");
            jv v;
            if (fl == 0 || (f[0] >= '0' && f[0] <= '9')) {
                size_t idx = auto_idx++;
                if (fl) {
                    idx = 0;
                    for (size_t k = 0; k < fl; k++) {
                        if (f[k] < '0' || f[k] > '9' || idx > 100000) jfail(c, "bad format field");
                        idx = idx * 10 + (size_t)(f[k] - '0');
                    }
                }
                if (idx >= n)
                    jfail(c, "Replacement index %zu out of range for positional args tuple", idx);
                v = args[idx];
            } else {
                bool found = false;
                for (size_t k = 0; k < nkw; k++)
                    if (strlen(kwn[k]) == fl && !memcmp(kwn[k], f, fl)) {
                        v = kwv[k];
                        found = true;
                    }
                if (!found) jfail(c, "KeyError: '%.*s'", (int)fl, f);
            }
            jv_write_str(c, &b, v);
            i = e;
        } else if (p[i] == '}') {
            jfail(c, "Single '}' encountered in format string");
        } else {
            jb_putc(c->ar, &b, p[i]);
        }
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jv splitlines(jctx *c, jv s, bool keepends) {
    jv out = jv_list(c, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, b = 0;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t nx = ju_next(p, n, i, &cp);
        bool brk = cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c ||
                   cp == 0x1d || cp == 0x1e || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (brk) {
            if (cp == '\r' && nx < n && p[nx] == '\n') nx++;
            jl_push(c, out.u.l, jv_str(p + b, (keepends ? nx : i) - b));
            b = nx;
        }
        i = nx;
    }
    if (b < n) jl_push(c, out.u.l, jv_str(p + b, n - b));
    return out;
}

static jv str_method(jctx *c, jv s, const char *m, jv *args, size_t n, const char **kwn, jv *kwv,
                     size_t nkw) {
#define IS(x) (!strcmp(m, x))
#define ARG(i, name, def) jarg(args, n, kwn, kwv, nkw, i, name, def)
    jv none = jv_none(), undef = jv_undef(NULL);
    if (IS("format")) return str_format(c, s, args, n, kwn, kwv, nkw);
    if (IS("startswith") || IS("endswith")) {
        size_t bs, be;
        char_range(c, s, ARG(1, NULL, undef), ARG(2, NULL, undef), &bs, &be);
        if (n < 1) jfail(c, "%s() takes at least 1 argument", m);
        return jv_bool(affix(c, s, args[0], bs, be, IS("endswith")));
    }
    if (IS("split") || IS("rsplit")) {
        jkw_check(c, m, kwn, nkw, "sep maxsplit");
        jv sep = ARG(0, "sep", none);
        int64_t maxsplit = jv_as_index(c, ARG(1, "maxsplit", jv_int(-1)), "maxsplit");
        return jps_split(c, s, sep, maxsplit, IS("rsplit"));
    }
    if (IS("strip")) return jps_strip(c, s, ARG(0, "chars", none), 3);
    if (IS("lstrip")) return jps_strip(c, s, ARG(0, "chars", none), 1);
    if (IS("rstrip")) return jps_strip(c, s, ARG(0, "chars", none), 2);
    if (IS("lower")) return jps_case(c, s, 0);
    if (IS("upper")) return jps_case(c, s, 1);
    if (IS("capitalize")) return jps_case(c, s, 2);
    if (IS("title")) return jps_case(c, s, 3);
    if (IS("replace")) {
        jv old = need_str(c, ARG(0, "old", undef), "replace() argument 1");
        jv nw = need_str(c, ARG(1, "new", undef), "replace() argument 2");
        return jps_replace(c, s, old, nw, jv_as_index(c, ARG(2, "count", jv_int(-1)), "count"));
    }
    if (IS("find") || IS("rfind"))
        return jv_int(find(s, need_str(c, ARG(0, NULL, undef), "find() argument"), IS("rfind")));
    if (IS("count")) {
        jv sub = need_str(c, ARG(0, NULL, undef), "count() argument");
        if (sub.u.s.n == 0) return jv_int((int64_t)ju_count(s.u.s.p, s.u.s.n) + 1);
        int64_t k = 0;
        for (size_t i = 0; i + sub.u.s.n <= s.u.s.n;) {
            const char *h = memmem(s.u.s.p + i, s.u.s.n - i, sub.u.s.p, sub.u.s.n);
            if (!h) break;
            k++;
            i = (size_t)(h - s.u.s.p) + sub.u.s.n;
        }
        return jv_int(k);
    }
    if (IS("join")) {
        jv items = jv_iter_list(c, ARG(0, NULL, undef));
        jbuf b = {0};
        for (size_t i = 0; i < items.u.l->n; i++) {
            if (i) jb_put(c->ar, &b, s.u.s.p, s.u.s.n);
            jv it = items.u.l->v[i];
            if (it.k != JV_STR)
                jfail(c, "sequence item %zu: expected str instance, %s found", i, jv_type_name(it));
            jb_put(c->ar, &b, it.u.s.p, it.u.s.n);
        }
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (IS("isdigit")) return jv_bool(all_chars(s, is_digit_cp));
    if (IS("isalpha")) return jv_bool(all_chars(s, is_alpha_cp));
    if (IS("isalnum")) return jv_bool(all_chars(s, is_alnum_cp));
    if (IS("isspace")) return jv_bool(all_chars(s, ju_is_space));
    if (IS("islower") || IS("isupper")) {
        return jv_bool(jtest_call(c, IS("islower") ? "lower" : "upper", s, NULL, 0));
    }
    if (IS("splitlines")) return splitlines(c, s, jv_truthy(ARG(0, "keepends", jv_bool(false))));
#undef IS
#undef ARG
    jfail(c, "'str' object has no attribute '%s'", m);
}

jv jmethod_call(jctx *c, jv self, const char *m, jv *args, size_t n, const char **kwn, jv *kwv,
                size_t nkw) {
    if (self.k == JV_STR) return str_method(c, self, m, args, n, kwn, kwv, nkw);
    if (self.k == JV_DICT) {
        if (!strcmp(m, "get")) {
            if (n < 1) jfail(c, "get expected at least 1 argument, got 0");
            jv v;
            if (jd_get(self.u.d, args[0], &v)) return v;
            return n > 1 ? args[1] : jv_none();
        }
        if (!strcmp(m, "copy")) {
            jv d = jv_dict(c);
            for (size_t i = 0; i < self.u.d->n; i++)
                jd_set(c, d.u.d, self.u.d->key[i], self.u.d->val[i]);
            return d;
        }
        jv out = jv_list(c, self.u.d->n);
        for (size_t i = 0; i < self.u.d->n; i++) {
            if (!strcmp(m, "keys")) {
                jl_push(c, out.u.l, self.u.d->key[i]);
            } else if (!strcmp(m, "values")) {
                jl_push(c, out.u.l, self.u.d->val[i]);
            } else {
                jv pair = jv_list(c, 2);
                pair.tuple = 1;
                jl_push(c, pair.u.l, self.u.d->key[i]);
                jl_push(c, pair.u.l, self.u.d->val[i]);
                jl_push(c, out.u.l, pair);
            }
        }
        return out;
    }
    if (self.k == JV_LIST) {
        if (!strcmp(m, "copy")) {
            jv l = jv_list(c, self.u.l->n);
            for (size_t i = 0; i < self.u.l->n; i++)
                jl_push(c, l.u.l, self.u.l->v[i]);
            return l;
        }
        if (n < 1) jfail(c, "%s() takes exactly one argument (0 given)", m);
        int64_t k = 0;
        for (size_t i = 0; i < self.u.l->n; i++)
            if (jv_equal(self.u.l->v[i], args[0])) {
                if (!strcmp(m, "index")) return jv_int((int64_t)i);
                k++;
            }
        if (!strcmp(m, "index")) jfail(c, "value is not in list");
        return jv_int(k);
    }
    jfail(c, "'%s' has no method '%s'", jv_type_name(self), m);
}
