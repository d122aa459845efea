/* jinja_internal.h — the types shared by the Jinja engine's files: arena,
 * error escape, values, syntax tree and render context. Not a public header. */
#ifndef LM_MODEL_JINJA_INTERNAL_H
#define LM_MODEL_JINJA_INTERNAL_H
#include "model/jinja.h"
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors: parse and render unwind with longjmp to their entry point, where
 * the arena (which owns every allocation) is freed in one go. */
typedef struct jenv {
    jmp_buf jb;
    lm_err *err;
} jenv;
_Noreturn void jthrow(jenv *e, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- arena: bump allocation in malloc'd chunks, capped in total bytes. */
typedef struct jchunk jchunk;
typedef struct jarena {
    jchunk *head;
    size_t used, cap;
    jenv *env; /* where an over-cap allocation throws */
} jarena;
void *ja_alloc(jarena *a, size_t n); /* zeroed; throws past the cap */
void *ja_grow(jarena *a, void *old, size_t old_n, size_t new_n);
char *ja_strndup(jarena *a, const char *s, size_t n);
void ja_free_all(jarena *a);

/* ---- growable byte buffer living in an arena; limit 0 means unbounded. */
typedef struct jbuf {
    char *p;
    size_t n, cap, limit;
} jbuf;
void jb_put(jarena *a, jbuf *b, const char *s, size_t n);
void jb_puts(jarena *a, jbuf *b, const char *s);
void jb_putc(jarena *a, jbuf *b, char c);

/* ---- values (passed by value; the things they point to live in the arena). */
typedef enum jv_kind {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* also tuples (flag tuple) */
    JV_DICT,
    JV_NS,   /* namespace(): a dict whose attributes can be assigned */
    JV_FUNC, /* global function, macro or bound method */
    JV_LOOP, /* the `loop` variable of a for loop */
} jv_kind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jloop jloop;

typedef struct jv {
    uint8_t k;
    uint8_t tuple; /* JV_LIST: prints as a tuple */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p; /* JV_STR bytes; JV_UNDEF: the error hint (NUL-terminated) */
            size_t n;
        } s;
        jlist *l;
        jdict *d;
        jfunc *fn;
        jloop *loop;
    } u;
} jv;

struct jlist {
    size_t n, cap;
    jv *v;
};
struct jdict {
    size_t n, cap;
    jv *key, *val;
};
struct jloop {
    const jlist *items;
    size_t index0;
    int depth;
};
typedef enum jfunc_kind { JF_GLOBAL, JF_MACRO, JF_METHOD, JF_CYCLE } jfunc_kind;
struct jnode;
struct jscope;
struct jfunc {
    jfunc_kind kind;
    const char *name;         /* global, macro or method name */
    jv self;                  /* JF_METHOD / JF_CYCLE: the bound object */
    const struct jnode *node; /* JF_MACRO: its definition */
    struct jscope *closure;   /* JF_MACRO: the scope it was defined in */
};

/* ---- syntax tree: one generic node shape (fields used per kind, see parser). */
typedef enum jnode_kind {
    N_CONST,
    N_NAME,
    N_LIST,
    N_TUPLE,
    N_DICT,
    N_GETATTR,
    N_GETITEM,
    N_SLICE,
    N_CALL,
    N_FILTER,
    N_TEST,
    N_NEG,
    N_POS,
    N_NOT,
    N_BINOP,
    N_AND,
    N_OR,
    N_CMP,
    N_COND,
    S_TEXT,
    S_OUTPUT,
    S_IF,
    S_FOR,
    S_SET,
    S_SETBLOCK,
    S_MACRO,
    S_BREAK,
    S_CONTINUE,
    S_FILTERBLOCK,
    S_WITH,
    S_BLOCK,
} jnode_kind;

/* Binary and comparison operators (N_BINOP / N_CMP op field). */
enum {
    OP_ADD = 1,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_CONCAT,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_NOTIN
};

typedef struct jnode {
    uint8_t kind;
    uint8_t neg; /* N_TEST: `is not` */
    int line, col;
    jv value;         /* N_CONST, S_TEXT */
    const char *name; /* N_NAME, N_GETATTR attr, N_FILTER / N_TEST / S_MACRO name */
    int op;           /* N_BINOP */
    struct jnode *a, *b, *c, *d;
    struct jnode **args; /* items, call args, dict keys+values alternating, macro params */
    size_t n_args;
    int *ops; /* N_CMP: n_args operators for args[0..] after a */
    const char **kw_names;
    struct jnode **kw_vals; /* keyword args; S_MACRO: defaults per param (NULL = none) */
    size_t n_kw;
    struct jnode **body, **orelse;
    size_t n_body, n_orelse;
} jnode;

struct lm_jinja_template {
    jarena arena;
    jnode *root; /* S_BLOCK holding the top-level statements */
};

/* ---- lexer: the template as a flat token list (text runs and tag contents),
 * whitespace control already applied to the text runs. */
typedef enum jtok_kind {
    T_TEXT,
    T_VBEGIN,
    T_VEND,
    T_BBEGIN,
    T_BEND,
    T_NAME,
    T_STR,
    T_INT,
    T_FLOAT,
    T_OP,
    T_EOF
} jtok_kind;
typedef struct jtok {
    uint8_t kind;
    int line, col;
    const char *p; /* T_TEXT / T_STR: decoded bytes; T_NAME / T_OP: source text */
    size_t n;
    int64_t i;
    double f;
} jtok;
jtok *jlex(jarena *a, jenv *env, const char *src, size_t len, size_t *n_out);

/* Parses into t->arena; throws through env. */
jnode *jparse(jarena *a, jenv *env, const char *src, size_t len);

/* ---- render context */
typedef struct jscope {
    struct jscope *parent;
    size_t n, cap;
    const char **names;
    jv *vals;
} jscope;

typedef struct jctx {
    jarena *ar;
    jenv *env;
    lm_jinja_limits lim;
    uint64_t steps;
    int depth;
    jbuf *out;       /* current output (captures push their own) */
    jscope *globals; /* context variables + builtins */
    jscope *scope;   /* innermost scope of the statement being run */
    const jnode *at; /* node being evaluated, for error positions */
} jctx;

_Noreturn void jfail(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jstep(jctx *c); /* counts one step against max_steps */

/* values: constructors */
jv jv_undef(const char *hint);
jv jv_none(void);
jv jv_bool(bool b);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_str(const char *p, size_t n);
jv jv_cstr(const char *s);
jv jv_list(jctx *c, size_t cap);
jv jv_dict(jctx *c);
void jl_push(jctx *c, jlist *l, jv v);
void jd_set(jctx *c, jdict *d, jv key, jv val);
bool jd_get(const jdict *d, jv key, jv *out);
bool jd_get_str(const jdict *d, const char *key, jv *out);

/* values: Python semantics */
bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);
int jv_compare(jctx *c, jv a, jv b); /* <0, 0, >0; fails on unorderable types */
bool jv_is_num(jv v);                /* int, float or bool */
double jv_num(jv v);
const char *jv_type_name(jv v);             /* "dict object", "None", ... as in Jinja messages */
void jv_write_str(jctx *c, jbuf *b, jv v);  /* str(v) */
void jv_write_repr(jctx *c, jbuf *b, jv v); /* repr(v) */
jv jv_to_str(jctx *c, jv v);                /* str(v) as a string value */
void jv_write_float(jctx *c, jbuf *b, double f); /* Python repr of a float */
_Noreturn void jv_fail_undef(jctx *c, jv v);     /* raises an undefined value's error */

/* utf-8 (lenient: an invalid byte counts as one character) */
size_t ju_next(const char *p, size_t n, size_t i, uint32_t *cp); /* returns next index */
size_t ju_count(const char *p, size_t n);
void ju_put(jctx *c, jbuf *b, uint32_t cp);
bool ju_is_space(uint32_t cp); /* Python str.isspace() */

/* sequence access shared by filters, loops and the evaluator */
jv jv_iter_list(jctx *c, jv v); /* list of the items iterating v yields */
int64_t jv_length(jctx *c, jv v);

/* dispatch tables */
jv jfilter_call(jctx *c, const char *name, jv v, jv *args, size_t n, const char **kwn, jv *kwv,
                size_t nkw);
bool jtest_call(jctx *c, const char *name, jv v, jv *args, size_t n);
bool jtest_exists(const char *name);
bool jfilter_exists(const char *name);
bool jmethod_lookup(jv self, const char *name); /* does the object have such a method */
jv jmethod_call(jctx *c, jv self, const char *name, jv *args, size_t n, const char **kwn, jv *kwv,
                size_t nkw);
jv jglobal_call(jctx *c, const char *name, jv *args, size_t n, const char **kwn, jv *kwv,
                size_t nkw);
void jglobals_install(jctx *c, jscope *s);
jv jcall_value(jctx *c, jv fn, jv *args, size_t n, const char **kwn, jv *kwv, size_t nkw);
jv jgetattr(jctx *c, jv obj, const char *name, size_t len);
jv jgetitem(jctx *c, jv obj, jv key);

/* Call argument `idx` (positional) or `name` (keyword), or def when absent. */
jv jarg(const jv *args, size_t n, const char **kwn, const jv *kwv, size_t nkw, size_t idx,
        const char *name, jv def);
/* Fails when a call passes keywords outside the space-separated list `known`. */
void jkw_check(jctx *c, const char *fn, const char **kwn, size_t nkw, const char *known);
int64_t jv_as_index(jctx *c, jv v, const char *what);

/* Python string helpers (pystr) */
jv jps_strip(jctx *c, jv s, jv chars, int which); /* which: 1 left, 2 right, 3 both */
jv jps_case(jctx *c, jv s, int mode);             /* 0 lower, 1 upper, 2 capitalize, 3 title */
jv jps_replace(jctx *c, jv s, jv old, jv new_, int64_t count);
jv jps_split(jctx *c, jv s, jv sep, int64_t maxsplit, bool from_right);
jv jps_percent(jctx *c, jv fmt, jv args); /* Python's fmt % args */

/* json */
jv jjson_to_value(jctx *c, const struct cJSON *j, int depth);
void jjson_dump(jctx *c, jbuf *b, jv v, jv indent, bool sort_keys, int level);

/* evaluator */
jv jeval(jctx *c, const jnode *n);
int jexec_block(jctx *c, jscope *s, jnode **body, size_t n);
jv jcall_macro(jctx *c, jfunc *f, jv *args, size_t n, const char **kwn, jv *kwv, size_t nkw);
jscope *jscope_new(jctx *c, jscope *parent);
void jscope_set(jctx *c, jscope *s, const char *name, jv v);
bool jscope_get(const jscope *s, const char *name, jv *out);
#endif
