/* jinja_pystr.c — Python str methods the templates rely on (strip, case
 * mapping, replace, split) with Python's whitespace and Unicode rules. */
#include "model/jinja_internal.h"
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

static jv mkstr(jbuf *b) {
    return jv_str(b->p ? b->p : "", b->n);
}

static bool in_chars(jv chars, uint32_t cp) {
    if (chars.k != JV_STR) return ju_is_space(cp);
    uint32_t x;
    for (size_t i = 0; i < chars.u.s.n;) {
        i = ju_next(chars.u.s.p, chars.u.s.n, i, &x);
        if (x == cp) return true;
    }
    return false;
}

jv jps_strip(jctx *c, jv s, jv chars, int which) {
    if (chars.k != JV_STR && chars.k != JV_NONE && chars.k != JV_UNDEF)
        jfail(c, "strip arg must be None or str");
    const char *p = s.u.s.p;
    size_t b = 0, e = s.u.s.n;
    uint32_t cp;
    if (which & 1)
        while (b < e) {
            size_t nx = ju_next(p, e, b, &cp);
            if (!in_chars(chars, cp)) break;
            b = nx;
        }
    if (which & 2)
        while (e > b) {
            size_t k = e - 1;
            while (k > b && ((unsigned char)p[k] & 0xC0) == 0x80)
                k--;
            ju_next(p, e, k, &cp);
            if (!in_chars(chars, cp)) break;
            e = k;
        }
    (void)c;
    return jv_str(p + b, e - b);
}

static bool is_cased(uint32_t cp) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}

/* mode: 0 lower, 1 upper, 2 capitalize, 3 str.title, 4 Jinja's title filter */
jv jps_case(jctx *c, jv s, int mode) {
    jbuf b = {0};
    bool prev_cased = false, word_start = true;
    uint32_t cp;
    for (size_t i = 0, first = 1; i < s.u.s.n; first = 0) {
        i = ju_next(s.u.s.p, s.u.s.n, i, &cp);
        char want; /* 'l'ower, 'u'pper, 't'itle or '=' unchanged */
        switch (mode) {
        case 0:
            want = 'l';
            break;
        case 1:
            want = 'u';
            break;
        case 2:
            want = first ? 't' : 'l';
            break;
        case 3:
            want = prev_cased ? 'l' : 't';
            prev_cased = is_cased(cp);
            break;
        default: {
            bool sep =
                ju_is_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
            want = sep ? '=' : word_start ? 'u' : 'l';
            word_start = sep;
        }
        }
        if (cp == 0xDF && (want == 'u' || want == 't')) {
            /* Python's full case mapping: upper('ß') is "SS", title('ß') is "Ss" */
            jb_puts(c->ar, &b, want == 'u' ? "SS" : "Ss");
            continue;
        }
        utf8proc_int32_t x = (utf8proc_int32_t)cp;
        utf8proc_int32_t o = want == 'l'   ? utf8proc_tolower(x)
                             : want == 'u' ? utf8proc_toupper(x)
                             : want == 't' ? utf8proc_totitle(x)
                                           : x;
        ju_put(c, &b, (uint32_t)o);
    }
    return mkstr(&b);
}

jv jps_replace(jctx *c, jv s, jv old, jv new_, int64_t count) {
    jbuf b = {0};
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, on = old.u.s.n;
    if (count < 0) count = INT64_MAX;
    if (on == 0) {
        uint32_t cp;
        size_t i = 0;
        for (; i < n && count > 0; count--) {
            jb_put(c->ar, &b, new_.u.s.p, new_.u.s.n);
            size_t nx = ju_next(p, n, i, &cp);
            jb_put(c->ar, &b, p + i, nx - i);
            i = nx;
        }
        if (i >= n && count > 0) jb_put(c->ar, &b, new_.u.s.p, new_.u.s.n);
        jb_put(c->ar, &b, p + i, n - i);
        return mkstr(&b);
    }
    size_t i = 0;
    while (count > 0) {
        const char *hit = memmem(p + i, n - i, old.u.s.p, on);
        if (!hit) break;
        size_t k = (size_t)(hit - p);
        jb_put(c->ar, &b, p + i, k - i);
        jb_put(c->ar, &b, new_.u.s.p, new_.u.s.n);
        i = k + on;
        count--;
    }
    jb_put(c->ar, &b, p + i, n - i);
    return mkstr(&b);
}

static const char *rmemmem(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (!memcmp(h + i, nd, nn)) return h + i;
    return NULL;
}

jv jps_split(jctx *c, jv s, jv sep, int64_t maxsplit, bool from_right) {
    jv out = jv_list(c, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (maxsplit < 0) maxsplit = INT64_MAX;
    if (sep.k == JV_STR) {
        if (sep.u.s.n == 0) jfail(c, "empty separator");
        jv parts = jv_list(c, 0);
        if (!from_right) {
            size_t i = 0;
            while (maxsplit-- > 0) {
                const char *hit = memmem(p + i, n - i, sep.u.s.p, sep.u.s.n);
                if (!hit) break;
                jl_push(c, parts.u.l, jv_str(p + i, (size_t)(hit - p) - i));
                i = (size_t)(hit - p) + sep.u.s.n;
            }
            jl_push(c, parts.u.l, jv_str(p + i, n - i));
            return parts;
        }
        size_t e = n;
        while (maxsplit-- > 0) {
            const char *hit = rmemmem(p, e, sep.u.s.p, sep.u.s.n);
            if (!hit) break;
            size_t k = (size_t)(hit - p) + sep.u.s.n;
            jl_push(c, parts.u.l, jv_str(p + k, e - k));
            e = (size_t)(hit - p);
        }
        jl_push(c, parts.u.l, jv_str(p, e));
        for (size_t i = parts.u.l->n; i-- > 0;)
            jl_push(c, out.u.l, parts.u.l->v[i]);
        return out;
    }
    if (sep.k != JV_NONE && sep.k != JV_UNDEF)
        jfail(c, "must be str or None, not %s", jv_type_name(sep));
    /* whitespace split: runs of whitespace, no empty strings */
    size_t i = 0;
    uint32_t cp;
    jv words = jv_list(c, 0);
    if (!from_right) {
        while (i < n) {
            size_t nx;
            while (i < n && (nx = ju_next(p, n, i, &cp), ju_is_space(cp)))
                i = nx;
            if (i >= n) break;
            if (maxsplit-- <= 0) { /* the remainder keeps its trailing whitespace */
                jl_push(c, words.u.l, jv_str(p + i, n - i));
                break;
            }
            size_t b = i;
            while (i < n && (nx = ju_next(p, n, i, &cp), !ju_is_space(cp)))
                i = nx;
            jl_push(c, words.u.l, jv_str(p + b, i - b));
        }
        return words;
    }
    /* rsplit on whitespace: split from the end, then reverse */
    jv all = jps_split(c, s, jv_none(), -1, false);
    size_t k = all.u.l->n;
    if ((uint64_t)maxsplit >= k) return all;
    if (maxsplit == 0) {
        jl_push(c, out.u.l, jps_strip(c, s, jv_none(), 2));
        return out;
    }
    /* keep the first k - maxsplit words joined with their original spacing */
    size_t keep = k - (size_t)maxsplit;
    const char *last_kept = all.u.l->v[keep - 1].u.s.p + all.u.l->v[keep - 1].u.s.n;
    jl_push(c, out.u.l, jv_str(p, (size_t)(last_kept - p))); /* keeps leading whitespace */
    for (size_t j = keep; j < k; j++)
        jl_push(c, out.u.l, all.u.l->v[j]);
    return out;
}

/* Python's printf-style `fmt % args`: args is a tuple of values, a dict (for
 * %(name)s) or a single value. Flags -+ 0#, width, precision, and the s r d i
 * f F e E g G x X o c conversions. */
jv jps_percent(jctx *c, jv fmt, jv args) {
    jbuf b = {0};
    size_t next = 0, nargs = args.k == JV_LIST && args.tuple ? args.u.l->n : 1;
    bool used_map = false;
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            jb_putc(c->ar, &b, p[i]);
            continue;
        }
        if (++i >= n) jfail(c, "incomplete format");
        jv v = jv_undef(NULL);
        bool have = false;
        if (p[i] == '(') {
            size_t e = i + 1;
            while (e < n && p[e] != ')')
                e++;
            if (e >= n || args.k != JV_DICT) jfail(c, "format requires a mapping");
            if (!jd_get(args.u.d, jv_str(p + i + 1, e - i - 1), &v))
                jfail(c, "KeyError: '%.*s'", (int)(e - i - 1), p + i + 1);
            have = used_map = true;
            i = e + 1;
        }
        char spec[32] = "%";
        size_t k = 1;
        while (i < n && strchr("-+ 0#", p[i]) && k < 8)
            spec[k++] = p[i++];
        int width = -1, prec = -1;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            width = (width < 0 ? 0 : width) * 10 + (p[i++] - '0') % 1000000;
        if (i < n && p[i] == '.') {
            prec = 0;
            i++;
            while (i < n && p[i] >= '0' && p[i] <= '9')
                prec = prec * 10 + (p[i++] - '0') % 1000000;
        }
        if (i >= n) jfail(c, "incomplete format");
        if (width > 10000 || prec > 1000) jfail(c, "format width or precision too large");
        char conv = p[i];
        if (conv == '%') {
            jb_putc(c->ar, &b, '%');
            continue;
        }
        if (!have) {
            if (next >= nargs) jfail(c, "not enough arguments for format string");
            v = args.k == JV_LIST && args.tuple ? args.u.l->v[next] : args;
            next++;
        }
        char tmp[1200];
        if (width >= 0) k += (size_t)snprintf(spec + k, sizeof spec - k, "%d", width);
        if (prec >= 0) k += (size_t)snprintf(spec + k, sizeof spec - k, ".%d", prec);
        if (conv == 's' || conv == 'r') {
            jbuf sv = {0};
            if (conv == 's')
                jv_write_str(c, &sv, v);
            else
                jv_write_repr(c, &sv, v);
            size_t len = sv.n, chars = ju_count(sv.p ? sv.p : "", sv.n);
            if (prec >= 0 && (size_t)prec < chars) { /* precision truncates characters */
                uint32_t cp;
                size_t at = 0;
                for (int q = 0; q < prec; q++)
                    at = ju_next(sv.p, sv.n, at, &cp);
                len = at;
                chars = (size_t)prec;
            }
            bool left = memchr(spec, '-', k) != NULL;
            size_t pad = width > 0 && (size_t)width > chars ? (size_t)width - chars : 0;
            for (size_t q = 0; !left && q < pad; q++)
                jb_putc(c->ar, &b, ' ');
            jb_put(c->ar, &b, sv.p ? sv.p : "", len);
            for (size_t q = 0; left && q < pad; q++)
                jb_putc(c->ar, &b, ' ');
            continue;
        }
        if (!jv_is_num(v))
            jfail(c, "%%%c format: a real number is required, not %s", conv, jv_type_name(v));
        if (strchr("dixXoc", conv)) {
            int64_t iv;
            if (v.k == JV_FLOAT) {
                if (conv != 'd' && conv != 'i')
                    jfail(c, "%%%c format: an integer is required", conv);
                if (!(v.u.f > -9.2e18 && v.u.f < 9.2e18))
                    jfail(c, "cannot convert float to integer");
                iv = (int64_t)v.u.f;
            } else {
                iv = v.k == JV_BOOL ? v.u.b : v.u.i;
            }
            if (conv == 'c') {
                if (iv < 0 || iv > 0x10FFFF) jfail(c, "%%c arg not in range(0x110000)");
                ju_put(c, &b, (uint32_t)iv);
                continue;
            }
            snprintf(spec + k, sizeof spec - k, "ll%c", conv == 'i' ? 'd' : conv);
            snprintf(tmp, sizeof tmp, spec, (long long)iv);
        } else if (strchr("fFeEgG", conv)) {
            snprintf(spec + k, sizeof spec - k, "%c", conv);
            snprintf(tmp, sizeof tmp, spec, jv_num(v));
        } else {
            jfail(c, "unsupported format character '%c'", conv);
        }
        jb_puts(c->ar, &b, tmp);
    }
    if (!used_map && args.k == JV_LIST && args.tuple && next < nargs)
        jfail(c, "not all arguments converted during string formatting");
    if (!used_map && !(args.k == JV_LIST && args.tuple) && next == 0 && args.k != JV_DICT)
        jfail(c, "not all arguments converted during string formatting");
    return jv_str(b.p ? b.p : "", b.n);
}
