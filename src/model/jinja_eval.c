/* jinja_eval.c — evaluates Jinja expressions and runs statements against a
 * chain of scopes, with Jinja2's scoping (for bodies and macros get their own
 * scope, `if` does not), loop controls and Undefined semantics. */
#include "base/checked.h"
#include "model/jinja_internal.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { FLOW_NORMAL = 0, FLOW_BREAK, FLOW_CONTINUE };

void jfail(jctx *c, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jthrow(c->env, c->at ? c->at->line : 0, c->at ? c->at->col : 0, "%s", msg);
}

void jstep(jctx *c) {
    if (++c->steps > c->lim.max_steps)
        jfail(c, "template exceeded the limit of %llu steps", (unsigned long long)c->lim.max_steps);
}

/* ---- scopes */

jscope *jscope_new(jctx *c, jscope *parent) {
    jscope *s = ja_alloc(c->ar, sizeof *s);
    s->parent = parent;
    return s;
}

void jscope_set(jctx *c, jscope *s, const char *name, jv v) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) {
            s->vals[i] = v;
            return;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        s->names = ja_grow(c->ar, s->names, s->n * sizeof(char *), cap * sizeof(char *));
        s->vals = ja_grow(c->ar, s->vals, s->n * sizeof(jv), cap * sizeof(jv));
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n++] = v;
}

bool jscope_get(const jscope *s, const char *name, jv *out) {
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (!strcmp(s->names[i], name)) {
                *out = s->vals[i];
                return true;
            }
    return false;
}

static const char *hint(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *hint(jctx *c, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    return ja_strndup(c->ar, msg, (size_t)k < sizeof msg ? (size_t)k : sizeof msg - 1);
}

static jv undef_attr(jctx *c, jv obj, const char *name, size_t len) {
    return jv_undef(hint(c, "'%s' has no attribute '%.*s'", jv_type_name(obj), (int)len, name));
}

/* ---- attribute and item access (Jinja: attribute first for `.`, item first for []) */

static const char *k_mutators[] = {"append",  "extend", "insert",  "pop",    "remove",
                                   "clear",   "sort",   "reverse", "update", "setdefault",
                                   "popitem", "add",    "discard", NULL};

static jv loop_attr(jctx *c, jloop *l, const char *name, size_t len) {
    size_t n = l->items->n, i = l->index0;
#define IS(s) (len == strlen(s) && !memcmp(name, s, len))
    if (IS("index")) return jv_int((int64_t)i + 1);
    if (IS("index0")) return jv_int((int64_t)i);
    if (IS("revindex")) return jv_int((int64_t)(n - i));
    if (IS("revindex0")) return jv_int((int64_t)(n - i - 1));
    if (IS("first")) return jv_bool(i == 0);
    if (IS("last")) return jv_bool(i + 1 == n);
    if (IS("length")) return jv_int((int64_t)n);
    if (IS("depth")) return jv_int(l->depth);
    if (IS("depth0")) return jv_int(l->depth - 1);
    if (IS("previtem")) return i > 0 ? l->items->v[i - 1] : jv_undef("there is no previous item");
    if (IS("nextitem")) return i + 1 < n ? l->items->v[i + 1] : jv_undef("there is no next item");
    if (IS("cycle")) {
        jv f = {.k = JV_FUNC};
        f.u.fn = ja_alloc(c->ar, sizeof(jfunc));
        f.u.fn->kind = JF_CYCLE;
        f.u.fn->name = "cycle";
        f.u.fn->self.k = JV_LOOP;
        f.u.fn->self.u.loop = l;
        return f;
    }
#undef IS
    jv o = {.k = JV_LOOP};
    o.u.loop = l;
    return undef_attr(c, o, name, len);
}

jv jgetattr(jctx *c, jv obj, const char *name, size_t len) {
    if (obj.k == JV_UNDEF) jv_fail_undef(c, obj);
    if (len && name[0] == '_') return undef_attr(c, obj, name, len);
    if (obj.k == JV_LOOP) return loop_attr(c, obj.u.loop, name, len);
    const char *nm = ja_strndup(c->ar, name, len);
    if (obj.k == JV_NS) {
        jv v;
        if (jd_get_str(obj.u.d, nm, &v)) return v;
        return undef_attr(c, obj, name, len);
    }
    if (obj.k == JV_LIST || obj.k == JV_DICT) {
        for (int i = 0; k_mutators[i]; i++)
            if (!strcmp(k_mutators[i], nm) && !(obj.k == JV_LIST && obj.tuple))
                return jv_undef(hint(c, "access to attribute '%s' of '%s' object is unsafe.", nm,
                                     obj.k == JV_LIST ? "list" : "dict"));
    }
    if (jmethod_lookup(obj, nm)) {
        jv f = {.k = JV_FUNC};
        f.u.fn = ja_alloc(c->ar, sizeof(jfunc));
        f.u.fn->kind = JF_METHOD;
        f.u.fn->name = nm;
        f.u.fn->self = obj;
        return f;
    }
    if (obj.k == JV_DICT) {
        jv v;
        if (jd_get(obj.u.d, jv_str(nm, len), &v)) return v;
    }
    return undef_attr(c, obj, name, len);
}

static bool index_of(jctx *c, jv key, int64_t n, int64_t *out) {
    if (key.k != JV_INT && key.k != JV_BOOL) return false;
    int64_t i = key.k == JV_BOOL ? key.u.b : key.u.i;
    if (i < 0) i += n;
    (void)c;
    if (i < 0 || i >= n) return false;
    *out = i;
    return true;
}

jv jgetitem(jctx *c, jv obj, jv key) {
    if (obj.k == JV_UNDEF) jv_fail_undef(c, obj);
    int64_t i;
    switch (obj.k) {
    case JV_DICT: {
        jv v;
        if (jd_get(obj.u.d, key, &v)) return v;
        break;
    }
    case JV_LIST:
        if (index_of(c, key, (int64_t)obj.u.l->n, &i)) return obj.u.l->v[i];
        break;
    case JV_STR: {
        if (index_of(c, key, (int64_t)ju_count(obj.u.s.p, obj.u.s.n), &i)) {
            size_t p = 0;
            uint32_t cp;
            for (int64_t k = 0; k < i; k++)
                p = ju_next(obj.u.s.p, obj.u.s.n, p, &cp);
            size_t e = ju_next(obj.u.s.p, obj.u.s.n, p, &cp);
            return jv_str(obj.u.s.p + p, e - p);
        }
        break;
    }
    default:
        break;
    }
    if (key.k == JV_STR) {
        if (obj.k == JV_DICT) return undef_attr(c, obj, key.u.s.p, key.u.s.n);
        return jgetattr(c, obj, key.u.s.p, key.u.s.n);
    }
    jbuf b = {0};
    jv_write_repr(c, &b, key);
    return jv_undef(hint(c, "%s has no element %s", jv_type_name(obj), b.p ? b.p : ""));
}

/* Python's slice index adjustment for a sequence of n items. */
static void slice_bounds(jctx *c, jv st, jv en, jv sp, int64_t n, int64_t *start, int64_t *stop,
                         int64_t *step) {
    *step = 1;
    if (sp.k != JV_NONE && sp.k != JV_UNDEF) {
        if (sp.k != JV_INT) jfail(c, "slice indices must be integers or None");
        *step = sp.u.i;
        if (*step == 0) jfail(c, "slice step cannot be zero");
        if (*step < -INT64_MAX) *step = -INT64_MAX;
    }
    int64_t lo = *step < 0 ? -1 : 0, hi = *step < 0 ? n - 1 : n;
    jv b[2] = {st, en};
    int64_t r[2] = {*step < 0 ? hi : lo, *step < 0 ? lo : hi};
    for (int k = 0; k < 2; k++) {
        if (b[k].k == JV_NONE || b[k].k == JV_UNDEF) continue;
        if (b[k].k != JV_INT && b[k].k != JV_BOOL)
            jfail(c, "slice indices must be integers or None");
        int64_t v = b[k].k == JV_BOOL ? b[k].u.b : b[k].u.i;
        if (v < 0) {
            v = v < -n ? lo : v + n;
            if (v < lo) v = lo;
        } else if (v > hi) {
            v = hi;
        }
        r[k] = v;
    }
    *start = r[0];
    *stop = r[1];
}

static jv eval_slice(jctx *c, jv obj, jv st, jv en, jv sp) {
    if (obj.k == JV_UNDEF) jv_fail_undef(c, obj);
    jv items;
    if (obj.k == JV_LIST)
        items = obj;
    else if (obj.k == JV_STR)
        items = jv_iter_list(c, obj);
    else
        jfail(c, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t start, stop, step, n = (int64_t)items.u.l->n;
    slice_bounds(c, st, en, sp, n, &start, &stop, &step);
    jv out = jv_list(c, 0);
    out.tuple = obj.tuple;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        jl_push(c, out.u.l, items.u.l->v[i]);
        if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
    }
    if (obj.k != JV_STR) return out;
    jbuf b = {0};
    for (size_t i = 0; i < out.u.l->n; i++)
        jb_put(c->ar, &b, out.u.l->v[i].u.s.p, out.u.l->v[i].u.s.n);
    return jv_str(b.p ? b.p : "", b.n);
}

/* ---- operators */

static _Noreturn void bad_operands(jctx *c, const char *op, jv a, jv b) {
    if (a.k == JV_UNDEF) jv_fail_undef(c, a);
    if (b.k == JV_UNDEF) jv_fail_undef(c, b);
    jfail(c, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
          jv_type_name(b));
}

static int64_t as_int(jv v) {
    return v.k == JV_BOOL ? v.u.b : v.u.i;
}

static jv repeat(jctx *c, jv seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.k == JV_STR) {
        size_t total;
        if (!lm_mul_size(seq.u.s.n, (size_t)times, &total) || total > c->lim.max_output)
            jfail(c, "string repetition result too large");
        jbuf b = {0};
        for (int64_t i = 0; i < times; i++)
            jb_put(c->ar, &b, seq.u.s.p, seq.u.s.n);
        return jv_str(b.p ? b.p : "", b.n);
    }
    size_t total;
    if (!lm_mul_size(seq.u.l->n, (size_t)times, &total) || total > c->lim.max_output)
        jfail(c, "list repetition result too large");
    jv out = jv_list(c, total);
    out.tuple = seq.tuple;
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.u.l->n; k++)
            jl_push(c, out.u.l, seq.u.l->v[k]);
    return out;
}

static jv arith(jctx *c, int op, jv a, jv b) {
    static const char *names[] = {"", "+", "-", "*", "/", "//", "%", "**"};
    if (op == OP_ADD && a.k == JV_STR && b.k == JV_STR) {
        jbuf buf = {0};
        jb_put(c->ar, &buf, a.u.s.p, a.u.s.n);
        jb_put(c->ar, &buf, b.u.s.p, b.u.s.n);
        return jv_str(buf.p ? buf.p : "", buf.n);
    }
    if (op == OP_ADD && a.k == JV_LIST && b.k == JV_LIST && a.tuple == b.tuple) {
        jv out = jv_list(c, a.u.l->n + b.u.l->n);
        out.tuple = a.tuple;
        for (size_t i = 0; i < a.u.l->n; i++)
            jl_push(c, out.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++)
            jl_push(c, out.u.l, b.u.l->v[i]);
        return out;
    }
    if (op == OP_MOD && a.k == JV_STR) return jps_percent(c, a, b);
    if (op == OP_MUL && (a.k == JV_STR || a.k == JV_LIST) && (b.k == JV_INT || b.k == JV_BOOL))
        return repeat(c, a, as_int(b));
    if (op == OP_MUL && (b.k == JV_STR || b.k == JV_LIST) && (a.k == JV_INT || a.k == JV_BOOL))
        return repeat(c, b, as_int(a));
    if (!jv_is_num(a) || !jv_is_num(b)) bad_operands(c, names[op], a, b);
    bool ints = a.k != JV_FLOAT && b.k != JV_FLOAT;
    if (ints) {
        int64_t x = as_int(a), y = as_int(b), r = 0;
        bool ovf = false;
        switch (op) {
        case OP_ADD:
            ovf = __builtin_add_overflow(x, y, &r);
            break;
        case OP_SUB:
            ovf = __builtin_sub_overflow(x, y, &r);
            break;
        case OP_MUL:
            ovf = __builtin_mul_overflow(x, y, &r);
            break;
        case OP_DIV:
            if (y == 0) jfail(c, "division by zero");
            return jv_float((double)x / (double)y);
        case OP_FLOORDIV:
        case OP_MOD:
            if (y == 0) jfail(c, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                ovf = op == OP_FLOORDIV;
                r = 0;
                break;
            }
            r = op == OP_FLOORDIV ? x / y : x % y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) r = op == OP_FLOORDIV ? r - 1 : r + y;
            break;
        case OP_POW:
            if (y < 0) return jv_float(pow((double)x, (double)y));
            r = 1;
            for (int64_t k = 0; k < y && !ovf; k++) {
                ovf = __builtin_mul_overflow(r, x, &r);
                if (r == 0 || r == 1) break;
                if (r == -1) {
                    r = (y % 2) ? (x == -1 ? -1 : r) : 1;
                    break;
                }
            }
            break;
        }
        if (ovf) jfail(c, "integer overflow in '%s'", names[op]);
        return jv_int(r);
    }
    double x = jv_num(a), y = jv_num(b);
    switch (op) {
    case OP_ADD:
        return jv_float(x + y);
    case OP_SUB:
        return jv_float(x - y);
    case OP_MUL:
        return jv_float(x * y);
    case OP_DIV:
        if (y == 0) jfail(c, "float division by zero");
        return jv_float(x / y);
    case OP_FLOORDIV:
        if (y == 0) jfail(c, "float floor division by zero");
        return jv_float(floor(x / y));
    case OP_MOD: {
        if (y == 0) jfail(c, "float modulo");
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return jv_float(m);
    }
    default: {
        if (x == 0 && y < 0) jfail(c, "0.0 cannot be raised to a negative power");
        if (x < 0 && y != floor(y)) jfail(c, "complex results are not supported");
        return jv_float(pow(x, y));
    }
    }
}

static bool contains(jctx *c, jv hay, jv needle) {
    switch (hay.k) {
    case JV_UNDEF:
        return false;
    case JV_STR:
        if (needle.k != JV_STR)
            jfail(c, "'in <string>' requires string as left operand, not %s", jv_type_name(needle));
        if (needle.u.s.n == 0) return true;
        return memmem(hay.u.s.p, hay.u.s.n, needle.u.s.p, needle.u.s.n) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (jv_equal(hay.u.l->v[i], needle)) return true;
        return false;
    case JV_DICT: {
        jv v;
        return jd_get(hay.u.d, needle, &v);
    }
    default:
        jfail(c, "argument of type '%s' is not iterable", jv_type_name(hay));
    }
}

static bool compare(jctx *c, int op, jv a, jv b) {
    switch (op) {
    case OP_EQ:
        return jv_equal(a, b);
    case OP_NE:
        return !jv_equal(a, b);
    case OP_IN:
        return contains(c, b, a);
    case OP_NOTIN:
        return !contains(c, b, a);
    case OP_LT:
        return jv_compare(c, a, b) < 0;
    case OP_LE:
        return jv_compare(c, a, b) <= 0;
    case OP_GT:
        return jv_compare(c, a, b) > 0;
    default:
        return jv_compare(c, a, b) >= 0;
    }
}

/* ---- calls */

typedef struct argv_ {
    jv *pos;
    size_t n;
    jv *kw;
} argv_;

static argv_ eval_args(jctx *c, const jnode *n) {
    argv_ a = {0};
    a.n = n->n_args;
    if (n->n_args) a.pos = ja_alloc(c->ar, n->n_args * sizeof(jv));
    for (size_t i = 0; i < n->n_args; i++)
        a.pos[i] = jeval(c, n->args[i]);
    if (n->n_kw) a.kw = ja_alloc(c->ar, n->n_kw * sizeof(jv));
    for (size_t i = 0; i < n->n_kw; i++)
        a.kw[i] = jeval(c, n->kw_vals[i]);
    c->at = n;
    return a;
}

jv jcall_value(jctx *c, jv fn, jv *args, size_t n, const char **kwn, jv *kwv, size_t nkw) {
    if (fn.k == JV_UNDEF) jv_fail_undef(c, fn);
    if (fn.k != JV_FUNC) jfail(c, "'%s' is not callable", jv_type_name(fn));
    jstep(c);
    switch (fn.u.fn->kind) {
    case JF_GLOBAL:
        return jglobal_call(c, fn.u.fn->name, args, n, kwn, kwv, nkw);
    case JF_MACRO:
        return jcall_macro(c, fn.u.fn, args, n, kwn, kwv, nkw);
    case JF_METHOD:
        return jmethod_call(c, fn.u.fn->self, fn.u.fn->name, args, n, kwn, kwv, nkw);
    default:
        if (n == 0) jfail(c, "no items for cycling given");
        return args[fn.u.fn->self.u.loop->index0 % n];
    }
}

static jv apply_filter(jctx *c, const jnode *f, jv base) {
    if (++c->depth > c->lim.max_depth)
        jfail(c, "filter chain too long (limit %d)", c->lim.max_depth);
    /* chains from filter blocks end in a NULL operand, which stands for `base` */
    jv v = !f->a ? base : f->a->kind == N_FILTER ? apply_filter(c, f->a, base) : jeval(c, f->a);
    c->at = f;
    argv_ a = eval_args(c, f);
    jstep(c);
    jv r = jfilter_call(c, f->name, v, a.pos, a.n, f->kw_names, a.kw, f->n_kw);
    c->depth--;
    return r;
}

/* ---- expressions */

static jv eval_inner(jctx *c, const jnode *n) {
    jv a, b;
    switch (n->kind) {
    case N_CONST:
        return n->value;
    case N_NAME:
        if (jscope_get(c->scope, n->name, &a)) return a;
        return jv_undef(hint(c, "'%s' is undefined", n->name));
    case N_LIST:
    case N_TUPLE: {
        jv l = jv_list(c, n->n_args);
        l.tuple = n->kind == N_TUPLE;
        for (size_t i = 0; i < n->n_args; i++)
            jl_push(c, l.u.l, jeval(c, n->args[i]));
        return l;
    }
    case N_DICT: {
        jv d = jv_dict(c);
        for (size_t i = 0; i + 1 < n->n_args; i += 2) {
            jv k = jeval(c, n->args[i]);
            c->at = n;
            if (k.k == JV_LIST && !k.tuple) jfail(c, "unhashable type: 'list'");
            if (k.k == JV_DICT || k.k == JV_NS) jfail(c, "unhashable type: 'dict'");
            jd_set(c, d.u.d, k, jeval(c, n->args[i + 1]));
        }
        return d;
    }
    case N_GETATTR:
        a = jeval(c, n->a);
        c->at = n;
        return jgetattr(c, a, n->name, strlen(n->name));
    case N_GETITEM:
        a = jeval(c, n->a);
        b = jeval(c, n->b);
        c->at = n;
        return jgetitem(c, a, b);
    case N_SLICE: {
        a = jeval(c, n->a);
        jv s = n->b ? jeval(c, n->b) : jv_none(), e = n->c ? jeval(c, n->c) : jv_none(),
           st = n->d ? jeval(c, n->d) : jv_none();
        c->at = n;
        return eval_slice(c, a, s, e, st);
    }
    case N_CALL: {
        a = jeval(c, n->a);
        argv_ args = eval_args(c, n);
        return jcall_value(c, a, args.pos, args.n, n->kw_names, args.kw, n->n_kw);
    }
    case N_FILTER:
        return apply_filter(c, n, jv_undef(NULL));
    case N_TEST: {
        a = jeval(c, n->a);
        argv_ args = eval_args(c, n);
        bool r = jtest_call(c, n->name, a, args.pos, args.n);
        return jv_bool(n->neg ? !r : r);
    }
    case N_NEG:
    case N_POS:
        a = jeval(c, n->a);
        c->at = n;
        if (a.k == JV_UNDEF) jv_fail_undef(c, a);
        if (!jv_is_num(a))
            jfail(c, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+',
                  jv_type_name(a));
        if (a.k == JV_FLOAT) return jv_float(n->kind == N_NEG ? -a.u.f : a.u.f);
        if (n->kind == N_POS) return jv_int(as_int(a));
        if (as_int(a) == INT64_MIN) jfail(c, "integer overflow in unary '-'");
        return jv_int(-as_int(a));
    case N_NOT:
        return jv_bool(!jv_truthy(jeval(c, n->a)));
    case N_AND:
        a = jeval(c, n->a);
        return jv_truthy(a) ? jeval(c, n->b) : a;
    case N_OR:
        a = jeval(c, n->a);
        return jv_truthy(a) ? a : jeval(c, n->b);
    case N_COND:
        if (jv_truthy(jeval(c, n->b))) return jeval(c, n->a);
        return n->c ? jeval(c, n->c)
                    : jv_undef("the inline if-expression evaluated to false and no else section "
                               "was defined.");
    case N_BINOP:
        a = jeval(c, n->a);
        b = jeval(c, n->b);
        c->at = n;
        if (n->op == OP_CONCAT) {
            jbuf buf = {0};
            jv_write_str(c, &buf, a);
            jv_write_str(c, &buf, b);
            return jv_str(buf.p ? buf.p : "", buf.n);
        }
        return arith(c, n->op, a, b);
    case N_CMP:
        a = jeval(c, n->a);
        for (size_t i = 0; i < n->n_args; i++) {
            b = jeval(c, n->args[i]);
            c->at = n;
            if (!compare(c, n->ops[i], a, b)) return jv_bool(false);
            a = b;
        }
        return jv_bool(true);
    default:
        jfail(c, "statement used as an expression");
    }
}

jv jeval(jctx *c, const jnode *n) {
    const jnode *saved = c->at;
    c->at = n;
    if (++c->depth > c->lim.max_depth)
        jfail(c, "template nested too deeply (limit %d)", c->lim.max_depth);
    jv r = eval_inner(c, n);
    c->depth--;
    c->at = saved;
    return r;
}

/* ---- statements */

static int exec_stmt(jctx *c, const jnode *n);

static jv capture(jctx *c, jscope *s, jnode **body, size_t nb) {
    jbuf buf = {.limit = c->lim.max_output};
    jbuf *saved = c->out;
    jscope *saved_scope = c->scope;
    c->out = &buf;
    jexec_block(c, s, body, nb);
    c->out = saved;
    c->scope = saved_scope;
    return jv_str(buf.p ? buf.p : "", buf.n);
}

static void assign(jctx *c, jscope *s, const jnode *target, jv v) {
    c->at = target;
    if (target->kind == N_NAME) {
        jscope_set(c, s, target->name, v);
        return;
    }
    if (target->kind == N_GETATTR) {
        jv ns;
        if (!jscope_get(s, target->a->name, &ns) || ns.k != JV_NS)
            jfail(c, "cannot assign attribute on non-namespace object");
        jd_set(c, ns.u.d, jv_cstr(target->name), v);
        return;
    }
    jv items = v.k == JV_LIST ? v : jv_iter_list(c, v);
    if (items.u.l->n != target->n_args)
        jfail(c,
              items.u.l->n > target->n_args ? "too many values to unpack (expected %zu)"
                                            : "not enough values to unpack (expected %zu)",
              target->n_args);
    for (size_t i = 0; i < target->n_args; i++)
        assign(c, s, target->args[i], items.u.l->v[i]);
}

static int exec_for(jctx *c, const jnode *n) {
    jv seq = jeval(c, n->b);
    c->at = n;
    jv all = jv_iter_list(c, seq);
    jscope *outer = c->scope;
    if (n->c) { /* `for x in y if cond` filters before the loop counts */
        jv kept = jv_list(c, 0);
        for (size_t i = 0; i < all.u.l->n; i++) {
            jstep(c);
            jscope *t = jscope_new(c, outer);
            assign(c, t, n->a, all.u.l->v[i]);
            c->scope = t;
            bool keep = jv_truthy(jeval(c, n->c));
            c->scope = outer;
            if (keep) jl_push(c, kept.u.l, all.u.l->v[i]);
        }
        all = kept;
    }
    int depth = 1; /* loop.depth only grows in recursive loops, which are not supported */
    jloop *lp = ja_alloc(c->ar, sizeof *lp);
    lp->items = all.u.l;
    lp->depth = depth;
    for (size_t i = 0; i < all.u.l->n; i++) {
        jstep(c);
        jscope *s = jscope_new(c, outer);
        jloop *li = ja_alloc(c->ar, sizeof *li);
        *li = *lp;
        li->index0 = i;
        jv lv = {.k = JV_LOOP};
        lv.u.loop = li;
        jscope_set(c, s, "loop", lv);
        assign(c, s, n->a, all.u.l->v[i]);
        int flow = jexec_block(c, s, n->body, n->n_body);
        c->scope = outer;
        if (flow == FLOW_BREAK) break;
    }
    if (all.u.l->n == 0 && n->n_orelse) {
        jexec_block(c, jscope_new(c, outer), n->orelse, n->n_orelse);
        c->scope = outer;
    }
    return FLOW_NORMAL;
}

jv jcall_macro(jctx *c, jfunc *f, jv *args, size_t n, const char **kwn, jv *kwv, size_t nkw) {
    const jnode *m = f->node;
    if (n > m->n_args)
        jfail(c, "macro '%s' takes not more than %zu argument(s)", m->name, m->n_args);
    jscope *s = jscope_new(c, f->closure);
    jscope *saved = c->scope;
    const jnode *saved_at = c->at;
    c->scope = s;
    for (size_t k = 0; k < nkw; k++) {
        bool found = false;
        for (size_t i = 0; i < m->n_args; i++)
            if (!strcmp(m->args[i]->name, kwn[k])) found = true;
        if (!found) jfail(c, "macro '%s' has no argument named '%s'", m->name, kwn[k]);
    }
    for (size_t i = 0; i < m->n_args; i++) {
        const char *pn = m->args[i]->name;
        jv v;
        bool have = false;
        if (i < n) {
            v = args[i];
            have = true;
        }
        for (size_t k = 0; k < nkw; k++)
            if (!strcmp(pn, kwn[k])) {
                if (have) jfail(c, "macro '%s' got multiple values for argument '%s'", m->name, pn);
                v = kwv[k];
                have = true;
            }
        if (!have)
            v = m->kw_vals[i] ? jeval(c, m->kw_vals[i])
                              : jv_undef(hint(c, "parameter '%s' was not provided", pn));
        jscope_set(c, s, pn, v);
    }
    if (++c->depth > c->lim.max_depth)
        jfail(c, "macro calls nested too deeply (limit %d)", c->lim.max_depth);
    jv out = capture(c, s, m->body, m->n_body);
    c->depth--;
    c->scope = saved;
    c->at = saved_at;
    return out;
}

static int exec_stmt(jctx *c, const jnode *n) {
    c->at = n;
    switch (n->kind) {
    case S_TEXT:
        jb_put(c->ar, c->out, n->value.u.s.p, n->value.u.s.n);
        return FLOW_NORMAL;
    case S_OUTPUT: {
        jv v = jeval(c, n->a);
        jv_write_str(c, c->out, v);
        return FLOW_NORMAL;
    }
    case S_IF:
        if (jv_truthy(jeval(c, n->a))) return jexec_block(c, c->scope, n->body, n->n_body);
        return jexec_block(c, c->scope, n->orelse, n->n_orelse);
    case S_FOR:
        return exec_for(c, n);
    case S_SET:
        assign(c, c->scope, n->a, jeval(c, n->b));
        return FLOW_NORMAL;
    case S_SETBLOCK: {
        jscope *s = c->scope;
        jv v = capture(c, s, n->body, n->n_body);
        if (n->b) v = apply_filter(c, n->b, v);
        assign(c, s, n->a, v);
        return FLOW_NORMAL;
    }
    case S_MACRO: {
        jv f = {.k = JV_FUNC};
        f.u.fn = ja_alloc(c->ar, sizeof(jfunc));
        f.u.fn->kind = JF_MACRO;
        f.u.fn->name = n->name;
        f.u.fn->node = n;
        f.u.fn->closure = c->scope;
        jscope_set(c, c->scope, n->name, f);
        return FLOW_NORMAL;
    }
    case S_BREAK:
        return FLOW_BREAK;
    case S_CONTINUE:
        return FLOW_CONTINUE;
    case S_FILTERBLOCK: {
        jscope *s = c->scope;
        jv v = capture(c, s, n->body, n->n_body);
        v = apply_filter(c, n->a, v);
        jv_write_str(c, c->out, v);
        return FLOW_NORMAL;
    }
    case S_WITH: {
        jscope *outer = c->scope, *s = jscope_new(c, outer);
        for (size_t i = 0; i < n->n_args; i++)
            assign(c, s, n->args[i], jeval(c, n->kw_vals[i]));
        int flow = jexec_block(c, s, n->body, n->n_body);
        c->scope = outer;
        return flow;
    }
    case S_BLOCK:
        return jexec_block(c, c->scope, n->body, n->n_body);
    default:
        jfail(c, "expression used as a statement");
    }
}

int jexec_block(jctx *c, jscope *s, jnode **body, size_t n) {
    jscope *saved = c->scope;
    c->scope = s;
    for (size_t i = 0; i < n; i++) {
        int flow = exec_stmt(c, body[i]);
        c->scope = s;
        if (flow != FLOW_NORMAL) {
            c->scope = saved;
            return flow;
        }
    }
    c->scope = saved;
    return FLOW_NORMAL;
}

/* ---- argument helpers shared by filters, tests, methods and globals */

jv jarg(const jv *args, size_t n, const char **kwn, const jv *kwv, size_t nkw, size_t idx,
        const char *name, jv def) {
    if (idx < n) return args[idx];
    for (size_t k = 0; k < nkw; k++)
        if (name && !strcmp(kwn[k], name)) return kwv[k];
    return def;
}

void jkw_check(jctx *c, const char *fn, const char **kwn, size_t nkw, const char *known) {
    for (size_t k = 0; k < nkw; k++) {
        size_t len = strlen(kwn[k]);
        const char *p = known;
        bool ok = false;
        while (p && *p) {
            const char *e = strchr(p, ' ');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == len && !memcmp(p, kwn[k], len)) ok = true;
            p = e ? e + 1 : NULL;
        }
        if (!ok) jfail(c, "%s() got an unexpected keyword argument '%s'", fn, kwn[k]);
    }
}

int64_t jv_as_index(jctx *c, jv v, const char *what) {
    if (v.k == JV_INT) return v.u.i;
    if (v.k == JV_BOOL) return v.u.b;
    if (v.k == JV_UNDEF) jv_fail_undef(c, v);
    jfail(c, "%s must be an integer, not %s", what, jv_type_name(v));
}
