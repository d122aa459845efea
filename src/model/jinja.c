/* jinja.c — the Jinja engine's entry points: parse a template once, render it
 * against a JSON context within limits, free it. */
#include "base/err.h"
#include "model/jinja_internal.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_BYTES (16u << 20)

lm_jinja_limits lm_jinja_default_limits(void) {
    return (lm_jinja_limits){.max_output = 4u << 20,
                             .max_memory = 256u << 20,
                             .max_steps = 10000000,
                             .max_depth = 200};
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

lm_status lm_jinja_render(const lm_jinja_template *t, const cJSON *context,
                          const lm_jinja_limits *lim, char **out, size_t *out_len, lm_err *err) {
    if (!t || !out) return lm_fail(err, LM_ERR_INVALID_ARG, "jinja: bad arguments");
    *out = NULL;
    if (out_len) *out_len = 0;
    if (context && !cJSON_IsObject(context))
        return lm_fail(err, LM_ERR_INVALID_ARG, "jinja: the render context must be a JSON object");
    jenv env = {.err = err};
    jarena ar = {.env = &env};
    jctx c = {.ar = &ar, .env = &env, .lim = lim ? *lim : lm_jinja_default_limits()};
    ar.cap = c.lim.max_memory;
    /* volatile: read after longjmp */
    volatile lm_status st = LM_OK;
    if (setjmp(env.jb)) {
        st = err ? err->code : LM_ERR_TEMPLATE;
        ja_free_all(&ar);
        return st == LM_OK ? LM_ERR_TEMPLATE : st;
    }
    jbuf buf = {.limit = c.lim.max_output};
    c.out = &buf;
    c.globals = jscope_new(&c, NULL);
    jglobals_install(&c, c.globals);
    if (context)
        for (const cJSON *e = context->child; e; e = e->next)
            if (e->string) jscope_set(&c, c.globals, ja_strndup(&ar, e->string, strlen(e->string)),
                                      jjson_to_value(&c, e, 0));
    jscope *top = jscope_new(&c, c.globals);
    jexec_block(&c, top, t->root->body, t->root->n_body);
    char *res = malloc(buf.n + 1);
    if (!res) {
        ja_free_all(&ar);
        return lm_fail(err, LM_ERR_NO_MEMORY, "jinja: out of memory for %zu bytes of output", buf.n);
    }
    if (buf.n) memcpy(res, buf.p, buf.n);
    res[buf.n] = 0;
    *out = res;
    if (out_len) *out_len = buf.n;
    ja_free_all(&ar);
    return st;
}
