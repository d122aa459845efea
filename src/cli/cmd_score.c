/* cmd_score.c — `localm score`: mean negative log-likelihood of a token
 * sequence (each token given its prefix), the argmax at every position and
 * the last position's logits, from one forward pass over the whole sequence. */
#include "backend/cpu/engine_cpu.h"
#include "backend/registry.h"
#include "base/err.h"
#include "cli/commands.h"
#include "model/tokenizer.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: localm score -m MODEL (--ids 1,2,3 | --text STR) [--backend cpu]\n"
               "                    [--threads N] [--kv f16|f32] [--json]\n"
               "prints {\"n_tokens\",\"mean_nll\",\"argmax\":[per position],\"last_logits\"}\n");
}

static lm_status parse_ids(const char *s, int32_t **ids, size_t *n, lm_err *err) {
    size_t cap = 16, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return lm_fail(err, LM_ERR_NO_MEMORY, "ids");
    while (*s) {
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end == s || errno || x < 0 || x > INT32_MAX) {
            free(v);
            return lm_fail(err, LM_ERR_INVALID_ARG, "--ids: bad number at '%.20s'", s);
        }
        if (k == cap) {
            int32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return lm_fail(err, LM_ERR_NO_MEMORY, "ids");
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = (int32_t)x;
        s = end;
        while (*s == ',' || *s == ' ')
            s++;
    }
    *ids = v;
    *n = k;
    return LM_OK;
}

/* log-softmax denominator of one row */
static double logsumexp(const float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double s = 0;
    for (int i = 0; i < n; i++)
        s += exp((double)(x[i] - mx));
    return mx + log(s);
}

int lm_cmd_score(int argc, char **argv) {
    const char *model = NULL, *ids_s = NULL, *text = NULL, *backend = "cpu";
    int threads = 0;
    bool json = false, kv32 = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--json")) {
            json = true;
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return 0;
        } else if (i + 1 < argc && (!strcmp(s, "-m") || !strcmp(s, "--model"))) {
            model = argv[++i];
        } else if (i + 1 < argc && !strcmp(s, "--ids")) {
            ids_s = argv[++i];
        } else if (i + 1 < argc && !strcmp(s, "--text")) {
            text = argv[++i];
        } else if (i + 1 < argc && !strcmp(s, "--backend")) {
            backend = argv[++i];
        } else if (i + 1 < argc && !strcmp(s, "--threads")) {
            threads = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(s, "--kv")) {
            kv32 = !strcmp(argv[++i], "f32");
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!model || (!ids_s) == (!text)) {
        usage(stderr);
        return 2;
    }
    const lm_backend_ops *be = lm_registry_find(backend);
    /* a strong reference, so static links keep the CPU engine the registry
     * only references weakly */
    if (!be && !strcmp(backend, "cpu")) be = lm_backend_cpu();
    if (!be) {
        fprintf(stderr, "localm score: backend '%s' is not built in\n", backend);
        return 1;
    }
    lm_err err = {0};
    lm_model_desc *m = NULL;
    lm_engine *e = NULL;
    int32_t *ids = NULL, *pos = NULL;
    int8_t *flags = NULL;
    float *logits = NULL;
    size_t n = 0;
    int rc = 1;
    if (lm_model_open(model, &m, &err) != LM_OK) goto done;
    if (ids_s) {
        if (parse_ids(ids_s, &ids, &n, &err) != LM_OK) goto done;
    } else {
        if (!m->tokenizer) {
            lm_fail(&err, LM_ERR_TOKENIZER, "model %s has no tokenizer", model);
            goto done;
        }
        if (lm_tokenize(m->tokenizer, text, strlen(text), true, true, &ids, &n, &err) != LM_OK)
            goto done;
    }
    if (n == 0 || n > INT32_MAX / 2) {
        lm_fail(&err, LM_ERR_INVALID_ARG, "nothing to score");
        goto done;
    }
    lm_load_opts o;
    lm_load_opts_default(&o);
    o.n_threads = threads;
    o.n_ctx = (uint32_t)n;
    o.kv_type = kv32 ? LM_KV_F32 : LM_KV_F16;
    lm_support sup;
    if (be->check(m, &o, &sup) != LM_OK || !sup.ok) {
        lm_fail(&err, LM_ERR_DECLINED, "%s declined: %s", be->name, sup.reason);
        goto done;
    }
    if (be->load(m, &o, NULL, NULL, &e, &err) != LM_OK) goto done;
    int32_t nv = (int32_t)m->output->ne[1];
    pos = malloc(n * sizeof *pos);
    flags = malloc(n);
    logits = malloc(n * (size_t)nv * sizeof(float));
    if (!pos || !flags || !logits) {
        lm_fail(&err, LM_ERR_NO_MEMORY, "logits of %zu positions", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        pos[i] = (int32_t)i;
        flags[i] = 1;
    }
    lm_batch b = {.n_tokens = (int32_t)n, .tokens = ids, .pos = pos, .logits = flags};
    lm_logits out = {.data = logits, .capacity = (int32_t)n};
    if (be->forward(e, &b, &out, &err) != LM_OK) goto done;
    const float *rows = lm_logits_rows(&out);
    double nll = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const float *row = rows + i * (size_t)nv;
        nll += logsumexp(row, nv) - row[ids[i + 1]];
    }
    double mean = n > 1 ? nll / (double)(n - 1) : 0;
    cJSON *j = cJSON_CreateObject(), *am = cJSON_CreateArray(), *ll = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const float *row = rows + i * (size_t)nv;
        int best = 0;
        for (int k = 1; k < nv; k++)
            if (row[k] > row[best]) best = k;
        cJSON_AddItemToArray(am, cJSON_CreateNumber(best));
    }
    const float *last = rows + (n - 1) * (size_t)nv;
    for (int k = 0; k < nv; k++)
        cJSON_AddItemToArray(ll, cJSON_CreateNumber(last[k]));
    cJSON_AddNumberToObject(j, "n_tokens", (double)n);
    cJSON_AddNumberToObject(j, "mean_nll", mean);
    cJSON_AddItemToObject(j, "argmax", am);
    cJSON_AddItemToObject(j, "last_logits", ll);
    if (json) {
        char *txt = cJSON_PrintUnformatted(j);
        printf("%s\n", txt);
        free(txt);
    } else {
        printf("tokens %zu, mean NLL %.6f (perplexity %.3f), backend %s\n", n, mean, exp(mean),
               be->name);
    }
    cJSON_Delete(j);
    rc = 0;
done:
    if (rc) fprintf(stderr, "localm score: %s\n", lm_err_text(&err));
    if (e) be->unload(e);
    if (m) lm_model_free(m);
    free(ids);
    free(pos);
    free(flags);
    free(logits);
    return rc;
}
