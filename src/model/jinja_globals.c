/* jinja_globals.c — the global functions a chat template can call: range,
 * namespace, dict, and Hugging Face's raise_exception and strftime_now. */
#include "model/jinja_internal.h"
#include <string.h>
#include <time.h>

#define MAX_RANGE 100000 /* Jinja's sandbox refuses larger ranges */

static const char *const k_globals[] = {"range",           "namespace",    "dict",
                                        "raise_exception", "strftime_now", NULL};

void jglobals_install(jctx *c, jscope *s) {
    for (int i = 0; k_globals[i]; i++) {
        jv f = {.k = JV_FUNC};
        f.u.fn = ja_alloc(c->ar, sizeof(jfunc));
        f.u.fn->kind = JF_GLOBAL;
        f.u.fn->name = k_globals[i];
        jscope_set(c, s, k_globals[i], f);
    }
}

static jv make_range(jctx *c, jv *args, size_t n) {
    if (n < 1 || n > 3) jfail(c, "range expected 1 to 3 arguments, got %zu", n);
    int64_t a[3];
    for (size_t i = 0; i < n; i++)
        a[i] = jv_as_index(c, args[i], "range() argument");
    int64_t start = n == 1 ? 0 : a[0], stop = n == 1 ? a[0] : a[1], step = n == 3 ? a[2] : 1;
    if (step == 0) jfail(c, "range() arg 3 must not be zero");
    /* count of items, computed without overflow in long double */
    long double cnt = step > 0 ? ((long double)stop - start + step - 1) / step
                               : ((long double)start - stop - step - 1) / -(long double)step;
    if (cnt > MAX_RANGE)
        jfail(c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", MAX_RANGE);
    int64_t count = cnt > 0 ? (int64_t)cnt : 0;
    jv l = jv_list(c, (size_t)count);
    for (int64_t i = 0; i < count; i++)
        jl_push(c, l.u.l, jv_int(start + i * step));
    return l;
}

jv jglobal_call(jctx *c, const char *name, jv *args, size_t n, const char **kwn, jv *kwv,
                size_t nkw) {
    if (!strcmp(name, "range")) {
        jkw_check(c, name, kwn, nkw, "");
        return make_range(c, args, n);
    }
    if (!strcmp(name, "namespace") || !strcmp(name, "dict")) {
        jv d = jv_dict(c);
        if (n > 1) jfail(c, "%s expected at most 1 positional argument", name);
        if (n == 1) {
            if (args[0].k != JV_DICT) jfail(c, "%s() argument must be a mapping", name);
            for (size_t i = 0; i < args[0].u.d->n; i++)
                jd_set(c, d.u.d, args[0].u.d->key[i], args[0].u.d->val[i]);
        }
        for (size_t k = 0; k < nkw; k++)
            jd_set(c, d.u.d, jv_cstr(kwn[k]), kwv[k]);
        if (name[0] == 'n') d.k = JV_NS;
        return d;
    }
    if (!strcmp(name, "raise_exception")) {
        jv m = jarg(args, n, kwn, kwv, nkw, 0, "message", jv_cstr(""));
        m = jv_to_str(c, m);
        jfail(c, "%.*s", (int)(m.u.s.n > 300 ? 300 : m.u.s.n), m.u.s.p);
    }
    if (!strcmp(name, "strftime_now")) {
        jv f = jarg(args, n, kwn, kwv, nkw, 0, "format", jv_undef(NULL));
        if (f.k != JV_STR) jfail(c, "strftime_now() needs a format string");
        char fmt[256], out[512];
        if (f.u.s.n >= sizeof fmt) jfail(c, "strftime_now() format too long");
        memcpy(fmt, f.u.s.p, f.u.s.n);
        fmt[f.u.s.n] = 0;
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t k = strftime(out, sizeof out, fmt, &tm);
        return jv_str(ja_strndup(c->ar, out, k), k);
    }
    jfail(c, "unknown global function '%s'", name);
}
