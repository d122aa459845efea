/* jinja_json.c — JSON in and out of the Jinja engine: cJSON trees become
 * values (object key order kept, like Python dicts) and `tojson` writes
 * values exactly as Python's json.dumps(ensure_ascii=False, indent=...). */
#include "model/jinja_internal.h"
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

jv jjson_to_value(jctx *c, const cJSON *j, int depth) {
    if (depth > 100) jfail(c, "JSON value nested too deeply");
    if (!j || cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        /* cJSON keeps no source text: integral values within 2^53 are ints. */
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) <= 9007199254740992.0) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jv_str(j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        jv l = jv_list(c, 0);
        for (const cJSON *e = j->child; e; e = e->next)
            jl_push(c, l.u.l, jjson_to_value(c, e, depth + 1));
        return l;
    }
    if (cJSON_IsObject(j)) {
        jv d = jv_dict(c);
        for (const cJSON *e = j->child; e; e = e->next)
            jd_set(c, d.u.d, jv_cstr(e->string ? e->string : ""), jjson_to_value(c, e, depth + 1));
        return d;
    }
    return jv_none();
}

static void dump_string(jctx *c, jbuf *b, const char *p, size_t n) {
    jb_putc(c->ar, b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        const char *esc = NULL;
        char tmp[8];
        switch (ch) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (ch < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", ch);
                esc = tmp;
            }
        }
        if (!esc) continue;
        jb_put(c->ar, b, p + run, i - run);
        jb_puts(c->ar, b, esc);
        run = i + 1;
    }
    jb_put(c->ar, b, p + run, n - run);
    jb_putc(c->ar, b, '"');
}

static void newline_indent(jctx *c, jbuf *b, jv indent, int level) {
    jb_putc(c->ar, b, '\n');
    for (int i = 0; i < level; i++) {
        if (indent.k == JV_STR)
            jb_put(c->ar, b, indent.u.s.p, indent.u.s.n);
        else
            for (int64_t k = 0; k < indent.u.i; k++)
                jb_putc(c->ar, b, ' ');
    }
}

static void dump_key(jctx *c, jbuf *b, jv k) {
    char tmp[32];
    switch (k.k) {
    case JV_STR:
        dump_string(c, b, k.u.s.p, k.u.s.n);
        return;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "\"%" PRId64 "\"", k.u.i);
        jb_puts(c->ar, b, tmp);
        return;
    case JV_BOOL:
        jb_puts(c->ar, b, k.u.b ? "\"true\"" : "\"false\"");
        return;
    case JV_NONE:
        jb_puts(c->ar, b, "\"null\"");
        return;
    case JV_FLOAT: {
        jbuf t = {0};
        jv_write_float(c, &t, k.u.f);
        dump_string(c, b, t.p, t.n);
        return;
    }
    default:
        jfail(c, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
}

/* Key order for sort_keys: Python sorts the (string) keys by code point. */
static size_t *sorted_keys(jctx *c, const jdict *d, bool sort) {
    size_t *ix = ja_alloc(c->ar, (d->n ? d->n : 1) * sizeof(size_t));
    for (size_t i = 0; i < d->n; i++) {
        if (sort && d->key[i].k != JV_STR) jfail(c, "sort_keys needs string keys");
        size_t j = i;
        while (sort && j > 0 && jv_compare(c, d->key[ix[j - 1]], d->key[i]) > 0) {
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = i;
    }
    return ix;
}

void jjson_dump(jctx *c, jbuf *b, jv v, jv indent, bool sort_keys, int level) {
    bool pretty = indent.k == JV_INT || indent.k == JV_STR;
    if (level > 100) jfail(c, "value nested too deeply for tojson");
    char tmp[32];
    switch (v.k) {
    case JV_NONE:
        jb_puts(c->ar, b, "null");
        return;
    case JV_BOOL:
        jb_puts(c->ar, b, v.u.b ? "true" : "false");
        return;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%" PRId64, v.u.i);
        jb_puts(c->ar, b, tmp);
        return;
    case JV_FLOAT:
        if (isnan(v.u.f))
            jb_puts(c->ar, b, "NaN");
        else if (isinf(v.u.f))
            jb_puts(c->ar, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else
            jv_write_float(c, b, v.u.f);
        return;
    case JV_STR:
        dump_string(c, b, v.u.s.p, v.u.s.n);
        return;
    case JV_LIST:
        if (v.u.l->n == 0) {
            jb_puts(c->ar, b, "[]");
            return;
        }
        jb_putc(c->ar, b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_puts(c->ar, b, pretty ? "," : ", ");
            if (pretty) newline_indent(c, b, indent, level + 1);
            jjson_dump(c, b, v.u.l->v[i], indent, sort_keys, level + 1);
        }
        if (pretty) newline_indent(c, b, indent, level);
        jb_putc(c->ar, b, ']');
        return;
    case JV_DICT:
        if (v.u.d->n == 0) {
            jb_puts(c->ar, b, "{}");
            return;
        }
        jb_putc(c->ar, b, '{');
        size_t *ix = sorted_keys(c, v.u.d, sort_keys);
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jb_puts(c->ar, b, pretty ? "," : ", ");
            if (pretty) newline_indent(c, b, indent, level + 1);
            dump_key(c, b, v.u.d->key[ix[i]]);
            jb_puts(c->ar, b, ": ");
            jjson_dump(c, b, v.u.d->val[ix[i]], indent, sort_keys, level + 1);
        }
        if (pretty) newline_indent(c, b, indent, level);
        jb_putc(c->ar, b, '}');
        return;
    case JV_UNDEF:
        jfail(c, "Object of type Undefined is not JSON serializable");
    default:
        jfail(c, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
}
