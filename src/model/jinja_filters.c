/* jinja_filters.c — Jinja's built-in filters (`x | trim`, `| tojson`,
 * `| selectattr(...)`, ...) with Jinja2 3.1's behaviour for each value type,
 * and Hugging Face's tojson (json.dumps without ASCII escaping). */
#include "model/jinja_internal.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static const char *const k_filters[] = {
    "abs",        "attr",      "batch",      "capitalize", "center",  "count",  "d",      "default",
    "dictsort",   "e",         "escape",     "first",      "float",   "format", "indent", "int",
    "items",      "join",      "last",       "length",     "list",    "lower",  "map",    "max",
    "min",        "reject",    "rejectattr", "replace",    "reverse", "round",  "safe",   "select",
    "selectattr", "sort",      "string",     "sum",        "title",   "tojson", "trim",   "unique",
    "upper",      "wordcount", NULL};

bool jfilter_exists(const char *name) {
    for (int i = 0; k_filters[i]; i++)
        if (!strcmp(k_filters[i], name)) return true;
    return false;
}

#define ARG(i, name, def) jarg(args, n, kwn, kwv, nkw, i, name, def)

/* soft_str: str() of anything, "" for undefined */
static jv sstr(jctx *c, jv v) {
    return jv_to_str(c, v);
}

static jv mklist(jctx *c, jv l) {
    return l.k == JV_LIST && !l.tuple ? l : jv_iter_list(c, l);
}

/* Jinja's attribute getter: "a.b.0" looks up each part with item-then-attribute. */
static jv attr_get(jctx *c, jv item, jv attr) {
    if (attr.k != JV_STR) return jgetitem(c, item, attr);
    const char *p = attr.u.s.p, *end = p + attr.u.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t len = (size_t)(dot - p);
        bool digits = len > 0;
        int64_t idx = 0;
        for (size_t k = 0; k < len; k++) {
            if (p[k] < '0' || p[k] > '9' || idx > 1000000000)
                digits = false;
            else
                idx = idx * 10 + (p[k] - '0');
        }
        item = jgetitem(c, item, digits ? jv_int(idx) : jv_str(p, len));
        p = dot + 1;
    }
    return item;
}

/* lower-cases strings for case-insensitive comparisons */
static jv fold(jctx *c, jv v, bool case_sensitive) {
    return !case_sensitive && v.k == JV_STR ? jps_case(c, v, 0) : v;
}

static void merge_sort(jctx *c, jv *v, jv *keys, size_t n, bool reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, v, keys, h, reverse);
    merge_sort(c, v + h, keys + h, n - h, reverse);
    jv *tv = ja_alloc(c->ar, n * sizeof(jv)), *tk = ja_alloc(c->ar, n * sizeof(jv));
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int r = jv_compare(c, keys[j], keys[i]);
        bool take_right = reverse ? r > 0 : r < 0;
        if (take_right) {
            tv[k] = v[j];
            tk[k++] = keys[j++];
        } else {
            tv[k] = v[i];
            tk[k++] = keys[i++];
        }
    }
    while (i < h) {
        tv[k] = v[i];
        tk[k++] = keys[i++];
    }
    while (j < n) {
        tv[k] = v[j];
        tk[k++] = keys[j++];
    }
    memcpy(v, tv, n * sizeof(jv));
    memcpy(keys, tk, n * sizeof(jv));
}

static jv do_sort(jctx *c, jv seq, bool reverse, bool cs, jv attribute, bool dict_items_by_value) {
    jv items = mklist(c, seq);
    size_t cnt = items.u.l->n;
    jv out = jv_list(c, cnt), *keys = ja_alloc(c->ar, (cnt ? cnt : 1) * sizeof(jv));
    for (size_t i = 0; i < cnt; i++) {
        jv it = items.u.l->v[i], k = it;
        if (dict_items_by_value)
            k = it.u.l->v[1];
        else if (attribute.k != JV_UNDEF && attribute.k != JV_NONE)
            k = attr_get(c, it, attribute);
        jl_push(c, out.u.l, it);
        keys[i] = fold(c, k, cs);
    }
    merge_sort(c, out.u.l->v, keys, cnt, reverse);
    return out;
}

static jv dict_items(jctx *c, jv v) {
    if (v.k == JV_UNDEF) return jv_list(c, 0);
    if (v.k != JV_DICT) jfail(c, "Can only get item pairs from a mapping.");
    return jmethod_call(c, v, "items", NULL, 0, NULL, NULL, 0);
}

static jv select_impl(jctx *c, jv seq, jv *args, size_t n, bool by_attr, bool keep_if) {
    jv items = jv_iter_list(c, seq), out = jv_list(c, 0);
    size_t first_test = by_attr ? 1 : 0;
    if (by_attr && n < 1) jfail(c, "selectattr/rejectattr need an attribute name");
    jv test = n > first_test ? args[first_test] : jv_undef(NULL);
    if (test.k != JV_UNDEF && test.k != JV_STR) jfail(c, "test name must be a string");
    char tname[64] = "";
    if (test.k == JV_STR) {
        size_t k = test.u.s.n < sizeof tname - 1 ? test.u.s.n : sizeof tname - 1;
        memcpy(tname, test.u.s.p, k);
        tname[k] = 0;
        if (!jtest_exists(tname)) jfail(c, "no test named '%s'", tname);
    }
    size_t targ = n > first_test + 1 ? n - first_test - 1 : 0;
    for (size_t i = 0; i < items.u.l->n; i++) {
        jstep(c);
        jv it = items.u.l->v[i], x = by_attr ? attr_get(c, it, args[0]) : it;
        bool r = tname[0] ? jtest_call(c, tname, x, args + first_test + 1, targ) : jv_truthy(x);
        if (r == keep_if) jl_push(c, out.u.l, it);
    }
    return out;
}

static jv do_map(jctx *c, jv seq, jv *args, size_t n, const char **kwn, jv *kwv, size_t nkw) {
    jv items = jv_iter_list(c, seq), out = jv_list(c, items.u.l->n);
    jv attribute = jv_undef(NULL), def = jv_undef(NULL);
    for (size_t k = 0; k < nkw; k++) {
        if (!strcmp(kwn[k], "attribute"))
            attribute = kwv[k];
        else if (!strcmp(kwn[k], "default"))
            def = kwv[k];
    }
    if (attribute.k != JV_UNDEF) {
        for (size_t i = 0; i < items.u.l->n; i++) {
            jv v = attr_get(c, items.u.l->v[i], attribute);
            if (v.k == JV_UNDEF && def.k != JV_UNDEF) v = def;
            jl_push(c, out.u.l, v);
        }
        return out;
    }
    if (n < 1 || args[0].k != JV_STR) jfail(c, "map needs a filter name or attribute=");
    char fname[64];
    size_t k = args[0].u.s.n < sizeof fname - 1 ? args[0].u.s.n : sizeof fname - 1;
    memcpy(fname, args[0].u.s.p, k);
    fname[k] = 0;
    if (!jfilter_exists(fname)) jfail(c, "no filter named '%s'", fname);
    for (size_t i = 0; i < items.u.l->n; i++) {
        jstep(c);
        jl_push(c, out.u.l,
                jfilter_call(c, fname, items.u.l->v[i], args + 1, n - 1, kwn, kwv, nkw));
    }
    return out;
}

static jv do_round(jctx *c, jv v, jv prec, jv method) {
    int64_t p = jv_as_index(c, prec, "round precision");
    if (method.k == JV_STR && method.u.s.n &&
        !(method.u.s.n == 6 && !memcmp(method.u.s.p, "common", 6))) {
        bool ceil_ = method.u.s.n == 4 && !memcmp(method.u.s.p, "ceil", 4);
        bool floor_ = method.u.s.n == 5 && !memcmp(method.u.s.p, "floor", 5);
        if (!ceil_ && !floor_) jfail(c, "method must be common, ceil or floor");
        double s = pow(10.0, (double)p), x = jv_num(v) * s;
        return jv_float((ceil_ ? ceil(x) : floor(x)) / s);
    }
    if (!jv_is_num(v)) jfail(c, "type %s doesn't define __round__ method", jv_type_name(v));
    if (v.k != JV_FLOAT) return jv_int(v.k == JV_BOOL ? v.u.b : v.u.i); /* round(int, n) is int */
    double x = v.u.f;
    if (!isfinite(x)) return v;
    if (p >= 0 && p <= 300) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)p, x); /* exact, ties to even */
        return jv_float(strtod(buf, NULL));
    }
    if (p < 0 && p > -300) {
        double s = pow(10.0, (double)-p);
        return jv_float(nearbyint(x / s) * s);
    }
    return v;
}

static jv do_int(jctx *c, jv v, jv def, jv base) {
    int64_t b = jv_as_index(c, base, "base");
    if (v.k == JV_INT) return v;
    if (v.k == JV_BOOL) return jv_int(v.u.b);
    if (v.k == JV_FLOAT) {
        if (isnan(v.u.f)) return def;
        if (!isfinite(v.u.f) || fabs(v.u.f) >= 9.2e18) jfail(c, "cannot convert float to integer");
        return jv_int((int64_t)v.u.f);
    }
    if (v.k != JV_STR) return def;
    char buf[128];
    size_t k = 0;
    for (size_t i = 0; i < v.u.s.n && k + 1 < sizeof buf; i++)
        if (v.u.s.p[i] != '_') buf[k++] = v.u.s.p[i];
    if (v.u.s.n >= sizeof buf - 1) return def;
    buf[k] = 0;
    char *end;
    errno = 0;
    long long r = strtoll(buf, &end, (int)(b >= 2 && b <= 36 ? b : 10));
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (end != buf && !*end && errno == 0) return jv_int(r);
    double d = strtod(buf, &end);
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (end == buf || *end || isnan(d)) return def;
    if (!isfinite(d) || fabs(d) >= 9.2e18) jfail(c, "cannot convert float to integer");
    return jv_int((int64_t)d);
}

static jv do_float(jv v, jv def) {
    if (v.k == JV_FLOAT) return v;
    if (v.k == JV_INT || v.k == JV_BOOL) return jv_float(jv_num(v));
    if (v.k != JV_STR || v.u.s.n >= 127) return def;
    char buf[128];
    memcpy(buf, v.u.s.p, v.u.s.n);
    buf[v.u.s.n] = 0;
    char *end;
    double d = strtod(buf, &end);
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (end == buf || *end) return def;
    return jv_float(d);
}

static bool is_word_cp(uint32_t cp) {
    if (cp == '_') return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

static jv do_indent(jctx *c, jv s, jv width, bool first, bool blank) {
    jbuf ind = {0}, out = {0};
    if (width.k == JV_STR)
        jb_put(c->ar, &ind, width.u.s.p, width.u.s.n);
    else
        for (int64_t i = jv_as_index(c, width, "width"); i > 0; i--)
            jb_putc(c->ar, &ind, ' ');
    jbuf src = {0};
    jb_put(c->ar, &src, s.u.s.p, s.u.s.n);
    jb_putc(c->ar, &src, '\n'); /* Jinja appends a newline before splitlines() */
    jv lines = jmethod_call(c, jv_str(src.p, src.n), "splitlines", NULL, 0, NULL, NULL, 0);
    for (size_t i = 0; i < lines.u.l->n; i++) {
        jv ln = lines.u.l->v[i];
        if (i) jb_putc(c->ar, &out, '\n');
        if ((i > 0 || first) && (blank || ln.u.s.n)) jb_put(c->ar, &out, ind.p, ind.n);
        jb_put(c->ar, &out, ln.u.s.p, ln.u.s.n);
    }
    return jv_str(out.p ? out.p : "", out.n);
}

static jv minmax(jctx *c, jv seq, bool is_max, bool cs, jv attribute) {
    jv items = jv_iter_list(c, seq);
    if (!items.u.l->n) return jv_undef("No aggregated item, sequence was empty.");
    jv best = items.u.l->v[0];
    jv bk = fold(c, attribute.k == JV_UNDEF ? best : attr_get(c, best, attribute), cs);
    for (size_t i = 1; i < items.u.l->n; i++) {
        jv it = items.u.l->v[i];
        jv k = fold(c, attribute.k == JV_UNDEF ? it : attr_get(c, it, attribute), cs);
        int r = jv_compare(c, k, bk);
        if (is_max ? r > 0 : r < 0) {
            best = it;
            bk = k;
        }
    }
    return best;
}

jv jfilter_call(jctx *c, const char *name, jv v, jv *args, size_t n, const char **kwn, jv *kwv,
                size_t nkw) {
#define IS(s) (!strcmp(name, s))
    jv undef = jv_undef(NULL), none = jv_none(), F = jv_bool(false);
    if (IS("default") || IS("d")) {
        jv def = ARG(0, "default_value", jv_cstr(""));
        bool boolean = jv_truthy(ARG(1, "boolean", F));
        if (v.k == JV_UNDEF || (boolean && !jv_truthy(v))) return def;
        return v;
    }
    if (IS("safe")) return v;
    if (IS("format")) { /* value % (kwargs or args) */
        if (n && nkw) jfail(c, "can't handle positional and keyword arguments at the same time");
        jv a;
        if (nkw) {
            a = jv_dict(c);
            for (size_t k = 0; k < nkw; k++)
                jd_set(c, a.u.d, jv_cstr(kwn[k]), kwv[k]);
        } else {
            a = jv_list(c, n);
            a.tuple = 1;
            for (size_t k = 0; k < n; k++)
                jl_push(c, a.u.l, args[k]);
        }
        return jps_percent(c, sstr(c, v), a);
    }
    if (IS("string")) return sstr(c, v);
    if (IS("trim")) return jps_strip(c, sstr(c, v), ARG(0, "chars", none), 3);
    if (IS("upper")) return jps_case(c, sstr(c, v), 1);
    if (IS("lower")) return jps_case(c, sstr(c, v), 0);
    if (IS("capitalize")) return jps_case(c, sstr(c, v), 2);
    if (IS("title")) return jps_case(c, sstr(c, v), 4);
    if (IS("length") || IS("count")) return jv_int(jv_length(c, v));
    if (IS("tojson")) {
        jkw_check(c, name, kwn, nkw, "indent ensure_ascii separators sort_keys");
        if (jv_truthy(ARG(0, "ensure_ascii", F)) || ARG(2, "separators", none).k != JV_NONE)
            jfail(c, "tojson: ensure_ascii and separators are not supported");
        jv indent = ARG(1, "indent", none);
        if (indent.k == JV_BOOL) indent = jv_int(indent.u.b);
        if (indent.k != JV_NONE && indent.k != JV_INT && indent.k != JV_STR)
            jfail(c, "tojson: indent must be an integer or a string");
        if (indent.k == JV_INT && indent.u.i > 1000) jfail(c, "tojson: indent too large");
        jbuf b = {0};
        jjson_dump(c, &b, v, indent, jv_truthy(ARG(3, "sort_keys", F)), 0);
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (IS("join")) {
        jv sep = sstr(c, ARG(0, "d", jv_cstr("")));
        jv attribute = ARG(1, "attribute", none);
        jv items = jv_iter_list(c, v);
        jbuf b = {0};
        for (size_t i = 0; i < items.u.l->n; i++) {
            if (i) jb_put(c->ar, &b, sep.u.s.p, sep.u.s.n);
            jv it = items.u.l->v[i];
            if (attribute.k != JV_NONE) it = attr_get(c, it, attribute);
            jv_write_str(c, &b, it);
        }
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (IS("first") || IS("last")) {
        jv items = jv_iter_list(c, v);
        if (!items.u.l->n)
            return jv_undef(IS("first") ? "No first item, sequence was empty."
                                        : "No last item, sequence was empty.");
        return items.u.l->v[IS("first") ? 0 : items.u.l->n - 1];
    }
    if (IS("list")) {
        jv items = jv_iter_list(c, v), out = jv_list(c, items.u.l->n);
        for (size_t i = 0; i < items.u.l->n; i++)
            jl_push(c, out.u.l, items.u.l->v[i]);
        return out;
    }
    if (IS("items")) return dict_items(c, v);
    if (IS("replace")) {
        jv cnt = ARG(2, "count", none);
        return jps_replace(c, sstr(c, v), sstr(c, ARG(0, "old", undef)),
                           sstr(c, ARG(1, "new", undef)),
                           cnt.k == JV_NONE ? -1 : jv_as_index(c, cnt, "count"));
    }
    if (IS("int")) return do_int(c, v, ARG(0, "default", jv_int(0)), ARG(1, "base", jv_int(10)));
    if (IS("float")) return do_float(v, ARG(0, "default", jv_float(0.0)));
    if (IS("abs")) {
        if (v.k == JV_FLOAT) return jv_float(fabs(v.u.f));
        if (v.k == JV_INT || v.k == JV_BOOL) {
            int64_t i = v.k == JV_BOOL ? v.u.b : v.u.i;
            if (i == INT64_MIN) jfail(c, "integer overflow in abs");
            return jv_int(i < 0 ? -i : i);
        }
        if (v.k == JV_UNDEF) jv_fail_undef(c, v);
        jfail(c, "bad operand type for abs(): '%s'", jv_type_name(v));
    }
    if (IS("attr")) {
        jv a = ARG(0, "name", undef);
        if (a.k != JV_STR) jfail(c, "attribute name must be a string");
        return jgetattr(c, v, a.u.s.p, a.u.s.n);
    }
    if (IS("select")) return select_impl(c, v, args, n, false, true);
    if (IS("reject")) return select_impl(c, v, args, n, false, false);
    if (IS("selectattr")) return select_impl(c, v, args, n, true, true);
    if (IS("rejectattr")) return select_impl(c, v, args, n, true, false);
    if (IS("map")) return do_map(c, v, args, n, kwn, kwv, nkw);
    if (IS("unique")) {
        jkw_check(c, name, kwn, nkw, "case_sensitive attribute");
        bool cs = jv_truthy(ARG(0, "case_sensitive", F));
        jv attribute = ARG(1, "attribute", none);
        jv items = jv_iter_list(c, v), out = jv_list(c, 0), seen = jv_list(c, 0);
        for (size_t i = 0; i < items.u.l->n; i++) {
            jv it = items.u.l->v[i];
            jv k = fold(c, attribute.k == JV_NONE ? it : attr_get(c, it, attribute), cs);
            bool dup = false;
            for (size_t j = 0; j < seen.u.l->n && !dup; j++)
                dup = jv_equal(seen.u.l->v[j], k);
            if (!dup) {
                jl_push(c, seen.u.l, k);
                jl_push(c, out.u.l, it);
            }
        }
        return out;
    }
    if (IS("reverse")) {
        jv items = jv_iter_list(c, v), out = jv_list(c, items.u.l->n);
        for (size_t i = items.u.l->n; i-- > 0;)
            jl_push(c, out.u.l, items.u.l->v[i]);
        if (v.k != JV_STR) return out;
        jbuf b = {0};
        for (size_t i = 0; i < out.u.l->n; i++)
            jb_put(c->ar, &b, out.u.l->v[i].u.s.p, out.u.l->v[i].u.s.n);
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (IS("sort")) {
        jkw_check(c, name, kwn, nkw, "reverse case_sensitive attribute");
        return do_sort(c, jv_iter_list(c, v), jv_truthy(ARG(0, "reverse", F)),
                       jv_truthy(ARG(1, "case_sensitive", F)), ARG(2, "attribute", none), false);
    }
    if (IS("dictsort")) {
        jkw_check(c, name, kwn, nkw, "case_sensitive by reverse");
        jv by = ARG(1, "by", jv_cstr("key"));
        bool by_value = by.k == JV_STR && by.u.s.n == 5 && !memcmp(by.u.s.p, "value", 5);
        jv items = dict_items(c, v);
        return do_sort(c, items, jv_truthy(ARG(2, "reverse", F)),
                       jv_truthy(ARG(0, "case_sensitive", F)), by_value ? none : jv_int(0),
                       by_value);
    }
    if (IS("round"))
        return do_round(c, v, ARG(0, "precision", jv_int(0)), ARG(1, "method", jv_cstr("common")));
    if (IS("escape") || IS("e")) {
        jv s = sstr(c, v);
        jbuf b = {0};
        for (size_t i = 0; i < s.u.s.n; i++) {
            char ch = s.u.s.p[i];
            if (ch == '&')
                jb_puts(c->ar, &b, "&amp;");
            else if (ch == '<')
                jb_puts(c->ar, &b, "&lt;");
            else if (ch == '>')
                jb_puts(c->ar, &b, "&gt;");
            else if (ch == '"')
                jb_puts(c->ar, &b, "&#34;");
            else if (ch == '\'')
                jb_puts(c->ar, &b, "&#39;");
            else
                jb_putc(c->ar, &b, ch);
        }
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (IS("wordcount")) {
        jv s = sstr(c, v);
        int64_t words = 0;
        bool in = false;
        uint32_t cp;
        for (size_t i = 0; i < s.u.s.n;) {
            i = ju_next(s.u.s.p, s.u.s.n, i, &cp);
            bool w = is_word_cp(cp);
            if (w && !in) words++;
            in = w;
        }
        return jv_int(words);
    }
    if (IS("indent"))
        return do_indent(c, sstr(c, v), ARG(0, "width", jv_int(4)), jv_truthy(ARG(1, "first", F)),
                         jv_truthy(ARG(2, "blank", F)));
    if (IS("center")) {
        jv s = sstr(c, v);
        int64_t w = jv_as_index(c, ARG(0, "width", jv_int(80)), "width");
        int64_t len = (int64_t)ju_count(s.u.s.p, s.u.s.n);
        if (w <= len) return s;
        if (w > (int64_t)c->lim.max_output) jfail(c, "center width too large");
        int64_t pad = w - len, left = pad / 2 + (pad & w & 1); /* CPython's split */
        jbuf b = {0};
        for (int64_t i = 0; i < left; i++)
            jb_putc(c->ar, &b, ' ');
        jb_put(c->ar, &b, s.u.s.p, s.u.s.n);
        for (int64_t i = 0; i < pad - left; i++)
            jb_putc(c->ar, &b, ' ');
        return jv_str(b.p, b.n);
    }
    if (IS("max") || IS("min")) {
        jkw_check(c, name, kwn, nkw, "case_sensitive attribute");
        jv attribute = ARG(1, "attribute", undef);
        if (attribute.k == JV_NONE) attribute = undef;
        return minmax(c, v, IS("max"), jv_truthy(ARG(0, "case_sensitive", F)), attribute);
    }
    if (IS("sum")) {
        jv attribute = ARG(0, "attribute", none), total = ARG(1, "start", jv_int(0));
        jv items = jv_iter_list(c, v);
        for (size_t i = 0; i < items.u.l->n; i++) {
            jv it =
                attribute.k == JV_NONE ? items.u.l->v[i] : attr_get(c, items.u.l->v[i], attribute);
            if (!jv_is_num(it) || !jv_is_num(total))
                jfail(c, "sum needs numbers, got %s", jv_type_name(it));
            if (it.k == JV_FLOAT || total.k == JV_FLOAT) {
                total = jv_float(jv_num(total) + jv_num(it));
            } else {
                int64_t r;
                if (__builtin_add_overflow((int64_t)jv_num(total),
                                           it.k == JV_BOOL ? it.u.b : it.u.i, &r))
                    jfail(c, "integer overflow in sum");
                total = jv_int(r);
            }
        }
        return total;
    }
    if (IS("batch")) {
        int64_t size = jv_as_index(c, ARG(0, "linecount", undef), "linecount");
        if (size <= 0) jfail(c, "batch size must be positive");
        jv fill = ARG(1, "fill_with", none);
        jv items = jv_iter_list(c, v), out = jv_list(c, 0), cur = jv_list(c, 0);
        for (size_t i = 0; i < items.u.l->n; i++) {
            if ((int64_t)cur.u.l->n == size) {
                jl_push(c, out.u.l, cur);
                cur = jv_list(c, 0);
            }
            jl_push(c, cur.u.l, items.u.l->v[i]);
        }
        if (cur.u.l->n) {
            if (fill.k != JV_NONE)
                while ((int64_t)cur.u.l->n < size)
                    jl_push(c, cur.u.l, fill);
            jl_push(c, out.u.l, cur);
        }
        return out;
    }
#undef IS
    jfail(c, "no filter named '%s'", name);
}
