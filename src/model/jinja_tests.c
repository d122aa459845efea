/* jinja_tests.c — Jinja's built-in tests (`x is defined`, `n is divisibleby 3`,
 * `v is string`, ...) with the answers Jinja2 3.1 gives for each value type. */
#include "model/jinja_internal.h"
#include <math.h>
#include <string.h>
#include <utf8proc.h>

static const char *const k_tests[] = {
    "defined", "undefined", "none",   "boolean", "false",       "true",     "integer",
    "float",   "number",    "string", "mapping", "iterable",    "sequence", "callable",
    "sameas",  "escaped",   "lower",  "upper",   "even",        "odd",      "divisibleby",
    "eq",      "equalto",   "==",     "ne",      "!=",          "lt",       "lessthan",
    "<",       "le",        "<=",     "gt",      "greaterthan", ">",        "ge",
    ">=",      "in",        "filter", "test",    NULL};

bool jtest_exists(const char *name) {
    for (int i = 0; k_tests[i]; i++)
        if (!strcmp(k_tests[i], name)) return true;
    return false;
}

static int64_t int_of(jctx *c, jv v) {
    if (v.k == JV_INT) return v.u.i;
    if (v.k == JV_BOOL) return v.u.b;
    if (v.k == JV_UNDEF) jv_fail_undef(c, v);
    jfail(c, "test needs an integer, got %s", jv_type_name(v));
}

/* str.islower() / str.isupper(): some cased character, none of the other case. */
static bool case_test(jctx *c, jv v, bool upper) {
    jv s = jv_to_str(c, v);
    bool cased = false;
    uint32_t cp;
    for (size_t i = 0; i < s.u.s.n;) {
        i = ju_next(s.u.s.p, s.u.s.n, i, &cp);
        utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
        if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LT) {
            if (!upper) return false;
            cased = true;
        } else if (k == UTF8PROC_CATEGORY_LL) {
            if (upper) return false;
            cased = true;
        }
    }
    return cased;
}

static jv arg0(jctx *c, jv *args, size_t n, const char *name) {
    if (n < 1) jfail(c, "test '%s' needs an argument", name);
    return args[0];
}

bool jtest_call(jctx *c, const char *name, jv v, jv *args, size_t n) {
#define IS(s) (!strcmp(name, s))
    if (IS("defined")) return v.k != JV_UNDEF;
    if (IS("undefined")) return v.k == JV_UNDEF;
    if (IS("none")) return v.k == JV_NONE;
    if (IS("boolean")) return v.k == JV_BOOL;
    if (IS("false")) return v.k == JV_BOOL && !v.u.b;
    if (IS("true")) return v.k == JV_BOOL && v.u.b;
    if (IS("integer")) return v.k == JV_INT;
    if (IS("float")) return v.k == JV_FLOAT;
    if (IS("number")) return jv_is_num(v);
    if (IS("string")) return v.k == JV_STR;
    if (IS("mapping")) return v.k == JV_DICT;
    /* Jinja's Undefined is iterable (it yields nothing) and has len() and []. */
    if (IS("iterable")) return v.k == JV_STR || v.k == JV_LIST || v.k == JV_DICT || v.k == JV_UNDEF;
    if (IS("sequence")) return v.k == JV_STR || v.k == JV_LIST || v.k == JV_DICT || v.k == JV_UNDEF;
    if (IS("callable")) return v.k == JV_FUNC;
    if (IS("escaped")) return false;
    if (IS("lower")) return case_test(c, v, false);
    if (IS("upper")) return case_test(c, v, true);
    if (IS("even") || IS("odd")) {
        if (v.k == JV_FLOAT) {
            double m = fmod(v.u.f, 2.0);
            if (m < 0) m += 2.0;
            return IS("even") ? m == 0.0 : m == 1.0;
        }
        int64_t i = int_of(c, v);
        return IS("even") ? i % 2 == 0 : i % 2 != 0;
    }
    if (IS("divisibleby")) {
        jv d = arg0(c, args, n, name);
        if (v.k == JV_FLOAT || d.k == JV_FLOAT) {
            if (jv_num(d) == 0) jfail(c, "float modulo");
            return fmod(jv_num(v), jv_num(d)) == 0;
        }
        int64_t x = int_of(c, v), y = int_of(c, d);
        if (y == 0) jfail(c, "integer division or modulo by zero");
        return y == -1 || x % y == 0;
    }
    if (IS("sameas")) {
        jv o = arg0(c, args, n, name);
        if (v.k != o.k) return false;
        if (v.k == JV_NONE || v.k == JV_UNDEF) return true;
        if (v.k == JV_BOOL) return v.u.b == o.u.b;
        if (v.k == JV_LIST) return v.u.l == o.u.l;
        if (v.k == JV_DICT || v.k == JV_NS) return v.u.d == o.u.d;
        return jv_equal(v, o);
    }
    if (IS("eq") || IS("equalto") || IS("==")) return jv_equal(v, arg0(c, args, n, name));
    if (IS("ne") || IS("!=")) return !jv_equal(v, arg0(c, args, n, name));
    if (IS("lt") || IS("lessthan") || IS("<")) return jv_compare(c, v, arg0(c, args, n, name)) < 0;
    if (IS("le") || IS("<=")) return jv_compare(c, v, arg0(c, args, n, name)) <= 0;
    if (IS("gt") || IS("greaterthan") || IS(">"))
        return jv_compare(c, v, arg0(c, args, n, name)) > 0;
    if (IS("ge") || IS(">=")) return jv_compare(c, v, arg0(c, args, n, name)) >= 0;
    if (IS("in")) {
        jv seq = arg0(c, args, n, name);
        if (seq.k == JV_STR) {
            if (v.k != JV_STR) jfail(c, "'in <string>' requires string as left operand");
            return v.u.s.n == 0 || memmem(seq.u.s.p, seq.u.s.n, v.u.s.p, v.u.s.n) != NULL;
        }
        if (seq.k == JV_DICT) {
            jv o;
            return jd_get(seq.u.d, v, &o);
        }
        jv items = jv_iter_list(c, seq);
        for (size_t i = 0; i < items.u.l->n; i++)
            if (jv_equal(items.u.l->v[i], v)) return true;
        return false;
    }
    if (IS("filter") || IS("test")) {
        /* whether a filter / test of that name exists */
        if (v.k != JV_STR) return false;
        char nm[64];
        size_t k = v.u.s.n < sizeof nm - 1 ? v.u.s.n : sizeof nm - 1;
        memcpy(nm, v.u.s.p, k);
        nm[k] = 0;
        if (IS("test")) return jtest_exists(nm);
        return jfilter_exists(nm);
    }
#undef IS
    jfail(c, "no test named '%s'", name);
}
