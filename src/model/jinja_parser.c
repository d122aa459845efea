/* jinja_parser.c — builds the syntax tree of a Jinja template from its tokens,
 * following the grammar and operator precedence of Jinja2's parser. */
#include "model/jinja_internal.h"
#include <string.h>

#define MAX_NEST 200

typedef struct parser {
    jarena *a;
    jenv *env;
    jtok *t;
    size_t nt, i;
    int nest;
    int loops; /* for-loop bodies open around the cursor (break/continue need one) */
} parser;

/* growable node-pointer vector in the arena */
typedef struct nvec {
    jnode **v;
    size_t n, cap;
} nvec;

static void nv_push(parser *P, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        v->v = ja_grow(P->a, v->v, v->n * sizeof(jnode *), cap * sizeof(jnode *));
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static jtok *cur(parser *P) {
    return &P->t[P->i];
}

static _Noreturn void pfail(parser *P, const char *fmt, const char *arg) {
    jtok *t = cur(P);
    jthrow(P->env, t->line, t->col, fmt, arg);
}

static bool is_op(parser *P, const char *op) {
    jtok *t = cur(P);
    return t->kind == T_OP && t->n == strlen(op) && !memcmp(t->p, op, t->n);
}

static bool is_name(parser *P, const char *name) {
    jtok *t = cur(P);
    return t->kind == T_NAME && t->n == strlen(name) && !memcmp(t->p, name, t->n);
}

static jtok *next(parser *P) {
    jtok *t = cur(P);
    if (t->kind != T_EOF) P->i++;
    return t;
}

static void expect_op(parser *P, const char *op) {
    if (!is_op(P, op)) pfail(P, "expected '%s'", op);
    next(P);
}

static jnode *node(parser *P, int kind, jtok *at) {
    jnode *n = ja_alloc(P->a, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static const char *name_of(parser *P, jtok *t) {
    return ja_strndup(P->a, t->p, t->n);
}

static const char *expect_name(parser *P) {
    if (cur(P)->kind != T_NAME) pfail(P, "expected a name%s", "");
    return name_of(P, next(P));
}

static jnode *parse_expr(parser *P, bool with_cond);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *n);

static void enter(parser *P) {
    if (++P->nest > MAX_NEST) pfail(P, "expression nested too deeply%s", "");
}

/* Call arguments after '(' : positional then keyword (name=value). */
static void parse_call_args(parser *P, jnode *n) {
    expect_op(P, "(");
    nvec args = {0}, kwv = {0};
    const char **kwn = NULL;
    size_t kcap = 0;
    while (!is_op(P, ")")) {
        if (args.n + kwv.n > 0) {
            expect_op(P, ",");
            if (is_op(P, ")")) break;
        }
        if (is_op(P, "*") || is_op(P, "**")) pfail(P, "*args and **kwargs are not supported%s", "");
        if (cur(P)->kind == T_NAME && P->t[P->i + 1].kind == T_OP && P->t[P->i + 1].n == 1 &&
            P->t[P->i + 1].p[0] == '=') {
            const char *k = expect_name(P);
            next(P);
            if (kwv.n == kcap) {
                size_t cap = kcap ? kcap * 2 : 4;
                kwn = ja_grow(P->a, kwn, kcap * sizeof *kwn, cap * sizeof *kwn);
                kcap = cap;
            }
            kwn[kwv.n] = k;
            nv_push(P, &kwv, parse_expr(P, true));
        } else {
            if (kwv.n) pfail(P, "positional argument after keyword argument%s", "");
            nv_push(P, &args, parse_expr(P, true));
        }
    }
    next(P);
    n->args = args.v;
    n->n_args = args.n;
    n->kw_names = kwn;
    n->kw_vals = kwv.v;
    n->n_kw = kwv.n;
}

/* A dotted filter or test name: `name(.name)*`. */
static const char *dotted_name(parser *P) {
    jtok *t = cur(P);
    const char *nm = expect_name(P);
    while (is_op(P, ".")) {
        next(P);
        jtok *e = cur(P);
        expect_name(P);
        nm = ja_strndup(P->a, t->p, (size_t)(e->p + e->n - t->p));
    }
    return nm;
}

static jnode *parse_filter(parser *P, jnode *operand) {
    jtok *at = next(P); /* '|' */
    jnode *f = node(P, N_FILTER, at);
    f->a = operand;
    f->name = dotted_name(P);
    if (is_op(P, "(")) parse_call_args(P, f);
    return f;
}

static jnode *parse_test(parser *P, jnode *operand) {
    jtok *at = next(P); /* 'is' */
    jnode *n = node(P, N_TEST, at);
    n->a = operand;
    if (is_name(P, "not")) {
        next(P);
        n->neg = 1;
    }
    n->name = dotted_name(P);
    jtok *t = cur(P);
    if (is_op(P, "(")) {
        parse_call_args(P, n);
    } else if ((t->kind == T_NAME || t->kind == T_STR || t->kind == T_INT || t->kind == T_FLOAT ||
                is_op(P, "(") || is_op(P, "[") || is_op(P, "{")) &&
               !is_name(P, "else") && !is_name(P, "or") && !is_name(P, "and")) {
        if (is_name(P, "is")) pfail(P, "you cannot chain multiple tests with is%s", "");
        n->args = ja_alloc(P->a, sizeof(jnode *));
        n->args[0] = parse_postfix(P, parse_primary(P));
        n->n_args = 1;
    }
    return n;
}

static jnode *parse_filter_expr(parser *P, jnode *n) {
    for (;;) {
        if (is_op(P, "|"))
            n = parse_filter(P, n);
        else if (is_name(P, "is"))
            n = parse_test(P, n);
        else if (is_op(P, "(")) {
            jnode *c = node(P, N_CALL, cur(P));
            c->a = n;
            parse_call_args(P, c);
            n = c;
        } else
            return n;
    }
}

static jnode *parse_subscript_part(parser *P) {
    if (is_op(P, ":") || is_op(P, "]") || is_op(P, ",")) return NULL;
    return parse_expr(P, true);
}

static jnode *parse_postfix(parser *P, jnode *n) {
    for (;;) {
        jtok *at = cur(P);
        if (is_op(P, ".")) {
            next(P);
            jtok *t = cur(P);
            if (t->kind == T_NAME) {
                jnode *g = node(P, N_GETATTR, at);
                g->a = n;
                g->name = name_of(P, next(P));
                n = g;
            } else if (t->kind == T_INT) {
                jnode *g = node(P, N_GETITEM, at);
                g->a = n;
                g->b = node(P, N_CONST, t);
                g->b->value = jv_int(next(P)->i);
                n = g;
            } else {
                pfail(P, "expected a name after '.'%s", "");
            }
        } else if (is_op(P, "[")) {
            next(P);
            jnode *start = parse_subscript_part(P);
            if (is_op(P, ":")) {
                jnode *s = node(P, N_SLICE, at);
                s->a = n;
                s->b = start;
                next(P);
                s->c = parse_subscript_part(P);
                if (is_op(P, ":")) {
                    next(P);
                    s->d = parse_subscript_part(P);
                }
                n = s;
            } else {
                if (!start) pfail(P, "expected an index expression%s", "");
                if (is_op(P, ",")) pfail(P, "tuple subscripts are not supported%s", "");
                jnode *g = node(P, N_GETITEM, at);
                g->a = n;
                g->b = start;
                n = g;
            }
            expect_op(P, "]");
        } else if (is_op(P, "(")) {
            jnode *c = node(P, N_CALL, at);
            c->a = n;
            parse_call_args(P, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_primary(parser *P) {
    jtok *t = cur(P);
    enter(P);
    jnode *n;
    if (t->kind == T_NAME) {
        next(P);
        n = node(P, N_CONST, t);
#define NM(s) (t->n == strlen(s) && !memcmp(t->p, s, t->n))
        if (NM("true") || NM("True"))
            n->value = jv_bool(true);
        else if (NM("false") || NM("False"))
            n->value = jv_bool(false);
        else if (NM("none") || NM("None"))
            n->value = jv_none();
        else {
            n->kind = N_NAME;
            n->name = name_of(P, t);
        }
#undef NM
    } else if (t->kind == T_STR) {
        /* adjacent string literals concatenate */
        jbuf b = {0};
        while (cur(P)->kind == T_STR) {
            jtok *s = next(P);
            jb_put(P->a, &b, s->p, s->n);
        }
        n = node(P, N_CONST, t);
        n->value = jv_str(b.p ? b.p : "", b.n);
    } else if (t->kind == T_INT || t->kind == T_FLOAT) {
        next(P);
        n = node(P, N_CONST, t);
        n->value = t->kind == T_INT ? jv_int(t->i) : jv_float(t->f);
    } else if (is_op(P, "(")) {
        next(P);
        if (is_op(P, ")")) {
            next(P);
            n = node(P, N_TUPLE, t);
        } else {
            jnode *first = parse_expr(P, true);
            if (is_op(P, ",")) {
                nvec items = {0};
                nv_push(P, &items, first);
                while (is_op(P, ",")) {
                    next(P);
                    if (is_op(P, ")")) break;
                    nv_push(P, &items, parse_expr(P, true));
                }
                n = node(P, N_TUPLE, t);
                n->args = items.v;
                n->n_args = items.n;
            } else {
                n = first;
            }
            expect_op(P, ")");
        }
    } else if (is_op(P, "[")) {
        next(P);
        nvec items = {0};
        while (!is_op(P, "]")) {
            if (items.n) {
                expect_op(P, ",");
                if (is_op(P, "]")) break;
            }
            nv_push(P, &items, parse_expr(P, true));
        }
        next(P);
        n = node(P, N_LIST, t);
        n->args = items.v;
        n->n_args = items.n;
    } else if (is_op(P, "{")) {
        next(P);
        nvec items = {0};
        while (!is_op(P, "}")) {
            if (items.n) {
                expect_op(P, ",");
                if (is_op(P, "}")) break;
            }
            nv_push(P, &items, parse_expr(P, true));
            expect_op(P, ":");
            nv_push(P, &items, parse_expr(P, true));
        }
        next(P);
        n = node(P, N_DICT, t);
        n->args = items.v;
        n->n_args = items.n;
    } else if (t->kind == T_EOF) {
        pfail(P, "unexpected end of template%s", "");
    } else {
        jthrow(P->env, t->line, t->col, "unexpected '%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p);
    }
    P->nest--;
    return n;
}

static jnode *parse_unary(parser *P, bool with_filter) {
    jtok *t = cur(P);
    enter(P);
    jnode *n;
    if (is_op(P, "-") || is_op(P, "+")) {
        next(P);
        n = node(P, t->p[0] == '-' ? N_NEG : N_POS, t);
        n->a = parse_unary(P, false);
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filter_expr(P, n);
    P->nest--;
    return n;
}

static jnode *binop(parser *P, jtok *at, int op, jnode *l, jnode *r) {
    jnode *n = node(P, N_BINOP, at);
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *l = parse_unary(P, true);
    while (is_op(P, "**")) {
        jtok *at = next(P);
        l = binop(P, at, OP_POW, l, parse_unary(P, true));
    }
    return l;
}

static jnode *parse_math2(parser *P) {
    jnode *l = parse_pow(P);
    for (;;) {
        int op = is_op(P, "*")    ? OP_MUL
                 : is_op(P, "/")  ? OP_DIV
                 : is_op(P, "//") ? OP_FLOORDIV
                 : is_op(P, "%")  ? OP_MOD
                                  : 0;
        if (!op) return l;
        jtok *at = next(P);
        l = binop(P, at, op, l, parse_pow(P));
    }
}

static jnode *parse_concat(parser *P) {
    jnode *l = parse_math2(P);
    while (is_op(P, "~")) {
        jtok *at = next(P);
        l = binop(P, at, OP_CONCAT, l, parse_math2(P));
    }
    return l;
}

static jnode *parse_math1(parser *P) {
    jnode *l = parse_concat(P);
    for (;;) {
        int op = is_op(P, "+") ? OP_ADD : is_op(P, "-") ? OP_SUB : 0;
        if (!op) return l;
        jtok *at = next(P);
        l = binop(P, at, op, l, parse_concat(P));
    }
}

static jnode *parse_compare(parser *P) {
    jtok *at = cur(P);
    jnode *l = parse_math1(P);
    nvec rhs = {0};
    int *ops = NULL;
    for (;;) {
        int op = is_op(P, "==")     ? OP_EQ
                 : is_op(P, "!=")   ? OP_NE
                 : is_op(P, "<")    ? OP_LT
                 : is_op(P, "<=")   ? OP_LE
                 : is_op(P, ">")    ? OP_GT
                 : is_op(P, ">=")   ? OP_GE
                 : is_name(P, "in") ? OP_IN
                                    : 0;
        if (!op && is_name(P, "not") && P->t[P->i + 1].kind == T_NAME && P->t[P->i + 1].n == 2 &&
            !memcmp(P->t[P->i + 1].p, "in", 2)) {
            next(P);
            op = OP_NOTIN;
        }
        if (!op) break;
        next(P);
        if (rhs.n % 8 == 0)
            ops = ja_grow(P->a, ops, rhs.n * sizeof(int), (rhs.n + 8) * sizeof(int));
        ops[rhs.n] = op;
        nv_push(P, &rhs, parse_math1(P));
    }
    if (!rhs.n) return l;
    jnode *n = node(P, N_CMP, at);
    n->a = l;
    n->args = rhs.v;
    n->n_args = rhs.n;
    n->ops = ops;
    return n;
}

static jnode *parse_not(parser *P) {
    if (is_name(P, "not")) {
        jtok *at = next(P);
        enter(P);
        jnode *n = node(P, N_NOT, at);
        n->a = parse_not(P);
        P->nest--;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *l = parse_not(P);
    while (is_name(P, "and")) {
        jtok *at = next(P);
        jnode *n = node(P, N_AND, at);
        n->a = l;
        n->b = parse_not(P);
        l = n;
    }
    return l;
}

static jnode *parse_or(parser *P) {
    jnode *l = parse_and(P);
    while (is_name(P, "or")) {
        jtok *at = next(P);
        jnode *n = node(P, N_OR, at);
        n->a = l;
        n->b = parse_and(P);
        l = n;
    }
    return l;
}

static jnode *parse_expr(parser *P, bool with_cond) {
    enter(P);
    jnode *n = parse_or(P);
    if (with_cond) {
        while (is_name(P, "if")) {
            jtok *at = next(P);
            jnode *c = node(P, N_COND, at);
            c->a = n;
            c->b = parse_or(P);
            if (is_name(P, "else")) {
                next(P);
                c->c = parse_expr(P, true);
            }
            n = c;
        }
    }
    P->nest--;
    return n;
}

/* An expression, or an implicit tuple `a, b` (as in {{ a, b }} or set x = 1, 2). */
static jnode *parse_tuple(parser *P, bool with_cond) {
    jtok *at = cur(P);
    jnode *first = parse_expr(P, with_cond);
    if (!is_op(P, ",")) return first;
    nvec items = {0};
    nv_push(P, &items, first);
    while (is_op(P, ",")) {
        next(P);
        if (cur(P)->kind == T_BEND || cur(P)->kind == T_VEND || is_name(P, "in")) break;
        nv_push(P, &items, parse_expr(P, with_cond));
    }
    jnode *n = node(P, N_TUPLE, at);
    n->args = items.v;
    n->n_args = items.n;
    return n;
}

/* Assignment target: name, `a, b` or (set only) `ns.attr`. */
static jnode *parse_target(parser *P, bool allow_attr) {
    jtok *at = cur(P);
    jnode *n = node(P, N_NAME, at);
    n->name = expect_name(P);
    if (allow_attr && is_op(P, ".")) {
        next(P);
        jnode *g = node(P, N_GETATTR, at);
        g->a = n;
        g->name = expect_name(P);
        return g;
    }
    if (!is_op(P, ",")) return n;
    nvec items = {0};
    nv_push(P, &items, n);
    while (is_op(P, ",")) {
        next(P);
        jnode *x = node(P, N_NAME, cur(P));
        x->name = expect_name(P);
        nv_push(P, &items, x);
    }
    jnode *t = node(P, N_TUPLE, at);
    t->args = items.v;
    t->n_args = items.n;
    return t;
}

static void expect_block_end(parser *P) {
    if (cur(P)->kind != T_BEND) pfail(P, "expected end of statement block%s", "");
    next(P);
}

/* Parses statements until a block tag whose name is in `ends` (space-separated
 * list); leaves the cursor on that name. ends NULL: until end of template. */
static nvec parse_body(parser *P, const char *ends, const char *what);

static bool name_in(jtok *t, const char *list) {
    if (t->kind != T_NAME) return false;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == t->n && !memcmp(p, t->p, k)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static void set_body(jnode *n, nvec b) {
    n->body = b.v;
    n->n_body = b.n;
}

static jnode *parse_if(parser *P, jtok *at) {
    jnode *n = node(P, S_IF, at);
    n->a = parse_tuple(P, true);
    expect_block_end(P);
    set_body(n, parse_body(P, "elif else endif", "if"));
    jtok *t = next(P);
    if (t->n == 4 && !memcmp(t->p, "elif", 4)) {
        n->orelse = ja_alloc(P->a, sizeof(jnode *));
        n->orelse[0] = parse_if(P, t);
        n->n_orelse = 1;
        return n;
    }
    if (t->n == 4 && !memcmp(t->p, "else", 4)) {
        expect_block_end(P);
        nvec e = parse_body(P, "endif", "if");
        n->orelse = e.v;
        n->n_orelse = e.n;
        next(P);
    }
    expect_block_end(P);
    return n;
}

static jnode *parse_for(parser *P, jtok *at) {
    jnode *n = node(P, S_FOR, at);
    n->a = parse_target(P, false);
    if (!is_name(P, "in")) pfail(P, "expected 'in' in for loop%s", "");
    next(P);
    n->b = parse_tuple(P, false);
    if (is_name(P, "if")) {
        next(P);
        n->c = parse_expr(P, true);
    }
    if (is_name(P, "recursive")) pfail(P, "recursive loops are not supported%s", "");
    expect_block_end(P);
    P->loops++;
    set_body(n, parse_body(P, "else endfor", "for"));
    P->loops--;
    if (next(P)->n == 4) {
        expect_block_end(P);
        nvec e = parse_body(P, "endfor", "for");
        n->orelse = e.v;
        n->n_orelse = e.n;
        next(P);
    }
    expect_block_end(P);
    return n;
}

static jnode *parse_set(parser *P, jtok *at) {
    jnode *target = parse_target(P, true);
    if (is_op(P, "=")) {
        next(P);
        jnode *n = node(P, S_SET, at);
        n->a = target;
        n->b = parse_tuple(P, true);
        expect_block_end(P);
        return n;
    }
    jnode *n = node(P, S_SETBLOCK, at);
    n->a = target;
    while (is_op(P, "|"))
        n->b = parse_filter(P, n->b);
    expect_block_end(P);
    set_body(n, parse_body(P, "endset", "set"));
    next(P);
    expect_block_end(P);
    return n;
}

static jnode *parse_macro(parser *P, jtok *at) {
    jnode *n = node(P, S_MACRO, at);
    n->name = expect_name(P);
    expect_op(P, "(");
    nvec params = {0}, defs = {0};
    while (!is_op(P, ")")) {
        if (params.n) {
            expect_op(P, ",");
            if (is_op(P, ")")) break;
        }
        jnode *p = node(P, N_NAME, cur(P));
        p->name = expect_name(P);
        nv_push(P, &params, p);
        jnode *d = NULL;
        if (is_op(P, "=")) {
            next(P);
            d = parse_expr(P, true);
        } else if (defs.n && defs.v[defs.n - 1]) {
            pfail(P, "non-default argument follows default argument%s", "");
        }
        nv_push(P, &defs, d);
    }
    next(P);
    expect_block_end(P);
    n->args = params.v;
    n->n_args = params.n;
    n->kw_vals = defs.v;
    n->n_kw = defs.n;
    int loops = P->loops;
    P->loops = 0;
    set_body(n, parse_body(P, "endmacro", "macro"));
    P->loops = loops;
    next(P);
    expect_block_end(P);
    return n;
}

static jnode *parse_statement(parser *P) {
    jtok *at = cur(P);
    if (at->kind != T_NAME) pfail(P, "expected a statement name%s", "");
    next(P);
#define IS(s) (at->n == strlen(s) && !memcmp(at->p, s, at->n))
    if (IS("if")) return parse_if(P, at);
    if (IS("for")) return parse_for(P, at);
    if (IS("set")) return parse_set(P, at);
    if (IS("macro")) return parse_macro(P, at);
    if (IS("break") || IS("continue")) {
        if (!P->loops)
            jthrow(P->env, at->line, at->col, "'%.*s' outside of a loop", (int)at->n, at->p);
        jnode *n = node(P, IS("break") ? S_BREAK : S_CONTINUE, at);
        expect_block_end(P);
        return n;
    }
    if (IS("filter")) {
        jnode *n = node(P, S_FILTERBLOCK, at);
        jnode *f = NULL;
        do {
            jtok *ft = cur(P);
            jnode *x = node(P, N_FILTER, ft);
            x->a = f;
            x->name = dotted_name(P);
            if (is_op(P, "(")) parse_call_args(P, x);
            f = x;
            if (!is_op(P, "|")) break;
            next(P);
        } while (1);
        n->a = f;
        expect_block_end(P);
        set_body(n, parse_body(P, "endfilter", "filter"));
        next(P);
        expect_block_end(P);
        return n;
    }
    if (IS("with")) {
        jnode *n = node(P, S_WITH, at);
        nvec targets = {0}, vals = {0};
        while (cur(P)->kind != T_BEND) {
            if (targets.n) expect_op(P, ",");
            nv_push(P, &targets, parse_target(P, false));
            expect_op(P, "=");
            nv_push(P, &vals, parse_expr(P, true));
        }
        expect_block_end(P);
        n->args = targets.v;
        n->n_args = targets.n;
        n->kw_vals = vals.v;
        n->n_kw = vals.n;
        set_body(n, parse_body(P, "endwith", "with"));
        next(P);
        expect_block_end(P);
        return n;
    }
    if (IS("block")) { /* in a standalone template a block renders in place */
        jnode *n = node(P, S_BLOCK, at);
        n->name = expect_name(P);
        if (is_name(P, "scoped")) next(P);
        expect_block_end(P);
        set_body(n, parse_body(P, "endblock", "block"));
        next(P);
        if (cur(P)->kind == T_NAME) next(P);
        expect_block_end(P);
        return n;
    }
    if (IS("generation")) { /* Hugging Face's assistant-mask tag: renders its body */
        jnode *n = node(P, S_BLOCK, at);
        expect_block_end(P);
        set_body(n, parse_body(P, "endgeneration", "generation"));
        next(P);
        expect_block_end(P);
        return n;
    }
#undef IS
    jthrow(P->env, at->line, at->col, "unknown or unsupported tag '%.*s'",
           (int)(at->n > 40 ? 40 : at->n), at->p);
}

static nvec parse_body(parser *P, const char *ends, const char *what) {
    nvec body = {0};
    if (++P->nest > MAX_NEST) pfail(P, "blocks nested too deeply%s", "");
    for (;;) {
        jtok *t = cur(P);
        if (t->kind == T_EOF) {
            if (ends)
                jthrow(P->env, t->line, t->col, "unexpected end of template: '%s' not closed",
                       what);
            break;
        }
        if (t->kind == T_TEXT) {
            jnode *n = node(P, S_TEXT, t);
            n->value = jv_str(t->p, t->n);
            nv_push(P, &body, n);
            next(P);
        } else if (t->kind == T_VBEGIN) {
            next(P);
            jnode *n = node(P, S_OUTPUT, t);
            n->a = parse_tuple(P, true);
            if (cur(P)->kind != T_VEND) pfail(P, "expected end of print statement '}}'%s", "");
            next(P);
            nv_push(P, &body, n);
        } else if (t->kind == T_BBEGIN) {
            next(P);
            if (ends && name_in(cur(P), ends)) break;
            if (name_in(cur(P), "endif endfor endset endmacro endfilter endwith endgeneration "
                                "endblock elif else"))
                jthrow(P->env, cur(P)->line, cur(P)->col, "unexpected '%.*s'", (int)cur(P)->n,
                       cur(P)->p);
            nv_push(P, &body, parse_statement(P));
        } else {
            pfail(P, "unexpected token%s", "");
        }
    }
    P->nest--;
    return body;
}

/* Jinja fails at compile time on unknown filters and tests, except where they
 * sit in an `if` (test or bodies) or a conditional expression: there the error
 * waits until they run. Loop and macro bodies are strict again. */
static void check_names(parser *P, const jnode *n, bool soft, int depth);

static void check_all(parser *P, jnode **v, size_t k, bool soft, int depth) {
    for (size_t i = 0; i < k; i++)
        if (v[i]) check_names(P, v[i], soft, depth);
}

static void check_names(parser *P, const jnode *n, bool soft, int depth) {
    if (depth > 4 * MAX_NEST) return;
    if (!soft && n->kind == N_FILTER && !jfilter_exists(n->name))
        jthrow(P->env, n->line, n->col, "no filter named '%s'", n->name);
    if (!soft && n->kind == N_TEST && !jtest_exists(n->name))
        jthrow(P->env, n->line, n->col, "no test named '%s'", n->name);
    bool inner_soft = soft || n->kind == S_IF || n->kind == N_COND;
    bool body_soft = inner_soft && n->kind != S_FOR && n->kind != S_MACRO;
    jnode *kids[4] = {n->a, n->b, n->c, n->d};
    check_all(P, kids, 4, inner_soft, depth + 1);
    check_all(P, n->args, n->n_args, inner_soft, depth + 1);
    check_all(P, n->kw_vals, n->n_kw, n->kind == S_MACRO ? false : inner_soft, depth + 1);
    check_all(P, n->body, n->n_body, body_soft, depth + 1);
    check_all(P, n->orelse, n->n_orelse, body_soft, depth + 1);
}

jnode *jparse(jarena *a, jenv *env, const char *src, size_t len) {
    parser P = {.a = a, .env = env};
    P.t = jlex(a, env, src, len, &P.nt);
    jnode *root = node(&P, S_BLOCK, &P.t[0]);
    set_body(root, parse_body(&P, NULL, NULL));
    check_names(&P, root, false, 0);
    return root;
}
