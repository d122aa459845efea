/* jinja.c — the Jinja engine's entry points: parse a template once, render it
 * against a JSON context within limits, free it. */
#include "base/err.h"
#include "model/jinja_internal.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_BYTES (16u << 20)

lm_jinja_limits lm_jinja_default_limits(void) {
    return (lm_jinja_limits){
        .max_output = 4u << 20, .max_memory = 256u << 20, .max_steps = 10000000, .max_depth = 200};
}

lm_status lm_jinja_parse(const char *src, size_t len, lm_jinja_template **out, lm_err *err) {
    if (!out || (!src && len)) return lm_fail(err, LM_ERR_INVALID_ARG, "jinja: bad arguments");
    *out = NULL;
    if (len > MAX_TEMPLATE_BYTES)
        return lm_fail(err, LM_ERR_TEMPLATE, "template is %zu bytes, more than the %u allowed", len,
                       MAX_TEMPLATE_BYTES);
    lm_jinja_template *t = calloc(1, sizeof *t);
    if (!t) return lm_fail(err, LM_ERR_NO_MEMORY, "jinja: out of memory");
    jenv env = {.err = err};
    t->arena.cap = 64u * len + (1u << 20);
    t->arena.env = &env;
    if (setjmp(env.jb)) {
        lm_status st = err ? err->code : LM_ERR_TEMPLATE;
        ja_free_all(&t->arena);
        free(t);
        return st == LM_OK ? LM_ERR_TEMPLATE : st;
    }
    t->root = jparse(&t->arena, &env, src ? src : "", len);
    t->arena.env = NULL;
    *out = t;
    return LM_OK;
}

void lm_jinja_free(lm_jinja_template *t) {
    if (!t) return;
    ja_free_all(&t->arena);
    free(t);
}

/* Everything a render touches after setjmp lives on the heap, so its values
 * are well defined after the longjmp back. */
typedef struct render_state {
    jenv env;
    jarena ar;
    jctx c;
    jbuf buf;
} render_state;

lm_status lm_jinja_render(const lm_jinja_template *t, const cJSON *context,
                          const lm_jinja_limits *lim, char **out, size_t *out_len, lm_err *err) {
    if (!t || !out) return lm_fail(err, LM_ERR_INVALID_ARG, "jinja: bad arguments");
    *out = NULL;
    if (out_len) *out_len = 0;
    if (context && !cJSON_IsObject(context))
        return lm_fail(err, LM_ERR_INVALID_ARG, "jinja: the render context must be a JSON object");
    render_state *rs = calloc(1, sizeof *rs);
    if (!rs) return lm_fail(err, LM_ERR_NO_MEMORY, "jinja: out of memory");
    rs->env.err = err;
    rs->ar.env = &rs->env;
    rs->c.ar = &rs->ar;
    rs->c.env = &rs->env;
    rs->c.lim = lim ? *lim : lm_jinja_default_limits();
    rs->ar.cap = rs->c.lim.max_memory;
    if (setjmp(rs->env.jb)) {
        lm_status st = err ? err->code : LM_ERR_TEMPLATE;
        /* limits hit inside the allocator carry no position: add the node's */
        if (err && strncmp(err->msg, "line ", 5) && rs->c.at)
            lm_err_prefix(err, "line %d, column %d", rs->c.at->line, rs->c.at->col);
        ja_free_all(&rs->ar);
        free(rs);
        return st == LM_OK ? LM_ERR_TEMPLATE : st;
    }
    jctx *c = &rs->c;
    rs->buf.limit = c->lim.max_output;
    c->out = &rs->buf;
    c->globals = jscope_new(c, NULL);
    jglobals_install(c, c->globals);
    if (context)
        for (const cJSON *e = context->child; e; e = e->next)
            if (e->string)
                jscope_set(c, c->globals, ja_strndup(&rs->ar, e->string, strlen(e->string)),
                           jjson_to_value(c, e, 0));
    jscope *top = jscope_new(c, c->globals);
    jexec_block(c, top, t->root->body, t->root->n_body);
    lm_status st = LM_OK;
    char *res = malloc(rs->buf.n + 1);
    if (!res) {
        st = lm_fail(err, LM_ERR_NO_MEMORY, "jinja: out of memory for %zu bytes of output",
                     rs->buf.n);
    } else {
        if (rs->buf.n) memcpy(res, rs->buf.p, rs->buf.n);
        res[rs->buf.n] = 0;
        *out = res;
        if (out_len) *out_len = rs->buf.n;
    }
    ja_free_all(&rs->ar);
    free(rs);
    return st;
}
