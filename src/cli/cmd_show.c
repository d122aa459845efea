/* cmd_show.c — `localm show MODEL [--json]`: what a model file or folder
 * holds (architecture, hyper-parameters, tensors by type, tokenizer, template). */
#include "base/err.h"
#include "cli/commands.h"
#include "cli/show_catalog.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: localm show MODEL [--json]\n\n"
               "Describes a model: architecture, hyper-parameters, tensor count and types,\n"
               "total weight bytes, tokenizer and chat template.\n"
               "MODEL is a .gguf file or a Hugging Face folder (config.json + safetensors).\n\n"
               "  --json   print the description as one JSON object\n");
}

typedef struct type_count {
    uint32_t count[LM_TYPE_COUNT];
    uint64_t bytes[LM_TYPE_COUNT];
} type_count;

static void count_types(const lm_model_desc *m, type_count *tc) {
    memset(tc, 0, sizeof *tc);
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].type < LM_TYPE_COUNT) {
            tc->count[m->tensors[i].type]++;
            tc->bytes[m->tensors[i].type] += m->tensors[i].nbytes;
        }
}

static const char *tokenizer_text(const lm_model_desc *m) {
    if (!m->tokenizer) return NULL;
    return lm_tokenizer_describe(m->tokenizer);
}

static int print_json(const lm_model_desc *m) {
    const lm_hparams *hp = &m->hp;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", m->path);
    cJSON_AddStringToObject(o, "source", m->source == LM_SOURCE_GGUF ? "gguf" : "hf");
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "architecture", hp->arch_name);
    cJSON *h = cJSON_AddObjectToObject(o, "hparams");
    cJSON_AddNumberToObject(h, "n_vocab", hp->n_vocab);
    cJSON_AddNumberToObject(h, "n_embd", hp->n_embd);
    cJSON_AddNumberToObject(h, "n_layer", hp->n_layer);
    cJSON_AddNumberToObject(h, "n_head", hp->n_head);
    cJSON_AddNumberToObject(h, "n_head_kv", hp->n_head_kv);
    cJSON_AddNumberToObject(h, "head_dim", hp->head_dim);
    cJSON_AddNumberToObject(h, "n_ff", hp->n_ff);
    cJSON_AddNumberToObject(h, "n_ctx_train", hp->n_ctx_train);
    cJSON_AddNumberToObject(h, "norm_eps", hp->norm_eps);
    cJSON_AddNumberToObject(h, "rope_theta", hp->rope_theta);
    cJSON_AddStringToObject(h, "rope_layout",
                            hp->rope_layout == LM_ROPE_ADJACENT ? "adjacent" : "half");
    cJSON_AddBoolToObject(h, "rope_freq_factors", hp->rope_freq_factors != NULL);
    cJSON_AddBoolToObject(h, "tied_embeddings", hp->tied_embeddings);
    cJSON_AddBoolToObject(h, "qkv_bias", hp->qkv_bias);
    cJSON_AddBoolToObject(h, "qk_norm", hp->qk_norm);
    cJSON_AddNumberToObject(o, "n_tensors", m->n_tensors);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)m->weight_bytes);
    type_count tc;
    count_types(m, &tc);
    cJSON *types = cJSON_AddObjectToObject(o, "types");
    for (int t = 0; t < LM_TYPE_COUNT; t++)
        if (tc.count[t]) cJSON_AddNumberToObject(types, lm_type_name((uint32_t)t), tc.count[t]);
    const char *tk = tokenizer_text(m);
    if (tk) {
        cJSON *k = cJSON_AddObjectToObject(o, "tokenizer");
        cJSON_AddStringToObject(k, "kind", tk);
        cJSON_AddNumberToObject(k, "vocab_size", lm_tokenizer_vocab_size(m->tokenizer));
    } else {
        cJSON_AddNullToObject(o, "tokenizer");
    }
    cJSON_AddBoolToObject(o, "chat_template", m->chat_template != NULL);
    char *s = cJSON_Print(o);
    int rc = s ? 0 : 1;
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
    return rc;
}

static void print_text(const lm_model_desc *m) {
    const lm_hparams *hp = &m->hp;
    printf("model          %s\n", m->name);
    printf("source         %s (%s)\n", m->path,
           m->source == LM_SOURCE_GGUF ? "GGUF file" : "Hugging Face folder");
    printf("architecture   %s\n", hp->arch_name);
    printf("hidden size    %u\n", hp->n_embd);
    printf("layers         %u\n", hp->n_layer);
    printf("heads          %u query, %u key/value, head_dim %u\n", hp->n_head, hp->n_head_kv,
           hp->head_dim);
    printf("ffn size       %u\n", hp->n_ff);
    printf("vocabulary     %u embedding rows\n", hp->n_vocab);
    printf("context        %u (training)\n", hp->n_ctx_train);
    printf("rms norm eps   %g\n", hp->norm_eps);
    printf("rope           theta %g, %s pairs%s\n", hp->rope_theta,
           hp->rope_layout == LM_ROPE_ADJACENT ? "adjacent" : "half-split",
           hp->rope_freq_factors ? ", llama3 frequency scaling" : "");
    printf("embeddings     %s\n",
           hp->tied_embeddings ? "tied (output = token embedding)" : "untied");
    if (hp->qkv_bias || hp->qk_norm)
        printf("extras         %s%s%s\n", hp->qkv_bias ? "q/k/v bias" : "",
               hp->qkv_bias && hp->qk_norm ? ", " : "", hp->qk_norm ? "q/k norm" : "");
    printf("tensors        %u, %.2f MiB\n", m->n_tensors, (double)m->weight_bytes / (1 << 20));
    type_count tc;
    count_types(m, &tc);
    printf("types         ");
    for (int t = 0; t < LM_TYPE_COUNT; t++)
        if (tc.count[t])
            printf(" %s x%u%s", lm_type_name((uint32_t)t), tc.count[t],
                   lm_type_get((uint32_t)t)->compute ? "" : " (no engine computes it)");
    printf("\n");
    const char *tk = tokenizer_text(m);
    if (tk)
        printf("tokenizer      %s, %u tokens\n", tk, lm_tokenizer_vocab_size(m->tokenizer));
    else
        printf("tokenizer      %s\n", tk ? tk : "none");
    printf("chat template  %s\n", m->chat_template ? "yes" : "no");
}

int lm_cmd_show(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "localm show: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    lm_err err = {0};
    lm_model_desc *m;
    /* A catalog id: its catalog entry, then its file when downloaded. */
    char cached[1400];
    struct stat sb;
    int cat = stat(path, &sb) == 0 ? -1 : lm_cli_show_catalog(path, json, cached, sizeof cached);
    if (cat == 0) return 0;
    if (cat == 1) {
        if (json) return 0; /* one JSON object: the catalog entry names the path */
        path = cached;
    }
    if (lm_model_open(path, &m, &err)) {
        fprintf(stderr, "localm show: %s: %s\n", lm_status_name(err.code), lm_err_text(&err));
        return 1;
    }
    int rc = 0;
    if (json)
        rc = print_json(m);
    else
        print_text(m);
    lm_model_free(m);
    return rc;
}
