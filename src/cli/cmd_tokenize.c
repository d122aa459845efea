/* cmd_tokenize.c — `localm tokenize` (text to ids) and `localm detokenize`
 * (ids to text) with the tokenizer of a model or of a tokenizer.json file. */
#include "base/err.h"
#include "cli/commands.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    const char *model, *tokenizer, *text, *ids;
    bool no_special, no_parse_special, json, skip_special;
} opts;

typedef struct source {
    lm_model_desc *model;
    lm_tokenizer *own;
    const lm_tokenizer *t;
} source;

static void usage(FILE *f, const char *cmd) {
    if (!strcmp(cmd, "tokenize"))
        fprintf(f, "usage: localm tokenize (-m MODEL | --tokenizer FILE) [--text TEXT] "
                   "[--no-special] [--no-parse-special] [--json]\n"
                   "  TEXT defaults to standard input. --no-special adds no BOS/EOS;\n"
                   "  --no-parse-special reads special-token texts as plain text.\n");
    else
        fprintf(f, "usage: localm detokenize (-m MODEL | --tokenizer FILE) --ids 1,2,3 "
                   "[--skip-special] [--json]\n");
}

static int parse(int argc, char **argv, opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "-m") || !strcmp(a, "--model") ? &o->model
                           : !strcmp(a, "--tokenizer")               ? &o->tokenizer
                           : !strcmp(a, "--text")                    ? &o->text
                           : !strcmp(a, "--ids")                     ? &o->ids
                                                                     : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "localm %s: %s needs a value\n", argv[0], a);
                return 2;
            }
            *dst = argv[++i];
        } else if (!strcmp(a, "--no-special"))
            o->no_special = true;
        else if (!strcmp(a, "--no-parse-special"))
            o->no_parse_special = true;
        else if (!strcmp(a, "--skip-special"))
            o->skip_special = true;
        else if (!strcmp(a, "--json"))
            o->json = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, argv[0]);
            return 1;
        } else {
            fprintf(stderr, "localm %s: unknown option '%s'\n", argv[0], a);
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (!o->model == !o->tokenizer) {
        fprintf(stderr, "localm %s: give exactly one of -m MODEL and --tokenizer FILE\n", argv[0]);
        usage(stderr, argv[0]);
        return 2;
    }
    return 0;
}

static bool open_source(const opts *o, source *s) {
    lm_err err = {0};
    lm_status st;
    if (o->tokenizer) {
        st = lm_tokenizer_from_file(o->tokenizer, &s->own, &err);
    } else {
        st = lm_model_open(o->model, &s->model, &err);
        if (st == LM_OK && !s->model->tokenizer)
            st = lm_fail(&err, LM_ERR_TOKENIZER, "%s has no tokenizer", o->model);
        if (st == LM_OK) s->t = s->model->tokenizer;
    }
    if (st != LM_OK) {
        fprintf(stderr, "localm: %s: %s\n", lm_status_name(st), err.msg);
        return false;
    }
    if (s->own) s->t = s->own;
    return true;
}

static void close_source(source *s) {
    lm_tokenizer_free(s->own);
    lm_model_free(s->model);
}

static char *read_stdin(size_t *len) {
    size_t cap = 4096, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    if (b) b[n] = 0;
    *len = n;
    return b;
}

/* Writes s as the inside of a JSON string. */
static void put_json_str(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            printf("\\n");
        else if (c == '\r')
            printf("\\r");
        else if (c == '\t')
            printf("\\t");
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
}

int lm_cmd_tokenize(int argc, char **argv) {
    opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    source s = {0};
    if (!open_source(&o, &s)) return 1;
    size_t len = 0;
    char *owned = NULL;
    const char *text = o.text;
    if (text)
        len = strlen(text);
    else
        text = owned = read_stdin(&len);
    int32_t *ids = NULL;
    size_t n = 0;
    lm_err err = {0};
    lm_status st = LM_ERR_IO;
    if (!text)
        lm_fail(&err, LM_ERR_IO, "cannot read standard input");
    else
        st = lm_tokenize(s.t, text, len, !o.no_special, !o.no_parse_special, &ids, &n, &err);
    if (st != LM_OK) {
        fprintf(stderr, "localm tokenize: %s: %s\n", lm_status_name(st), err.msg);
    } else if (o.json) {
        printf("{\"ids\":[");
        for (size_t i = 0; i < n; i++)
            printf(i ? ",%d" : "%d", ids[i]);
        printf("]}\n");
    } else {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        for (size_t i = 0; i < n; i++) {
            size_t tl = 0;
            const char *tt = lm_tokenizer_token_text(s.t, ids[i], &tl);
            printf("%8d  \"", ids[i]);
            put_json_str(tt ? tt : "", tt ? tl : 0);
            printf("\"\n");
        }
    }
    free(ids);
    free(owned);
    close_source(&s);
    return st == LM_OK ? 0 : 1;
}

int lm_cmd_detokenize(int argc, char **argv) {
    opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.ids) {
        fprintf(stderr, "localm detokenize: --ids is required\n");
        return 2;
    }
    size_t cap = strlen(o.ids) / 2 + 2, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = o.ids;
    while (ids && *p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || n == cap) {
            fprintf(stderr, "localm detokenize: bad id list at \"%.20s\"\n", p);
            free(ids);
            return 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    source s = {0};
    if (!ids || !open_source(&o, &s)) {
        free(ids);
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    lm_err err = {0};
    lm_status st = lm_detokenize(s.t, ids, n, o.skip_special, &text, &len, &err);
    if (st != LM_OK) {
        fprintf(stderr, "localm detokenize: %s: %s\n", lm_status_name(st), err.msg);
    } else if (o.json) {
        printf("{\"text\":\"");
        put_json_str(text, len);
        printf("\"}\n");
    } else {
        fwrite(text, 1, len, stdout);
        printf("\n");
    }
    free(text);
    free(ids);
    close_source(&s);
    return st == LM_OK ? 0 : 1;
}
