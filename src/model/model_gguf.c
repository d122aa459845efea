/* model_gguf.c — model description from a GGUF file: hyper-parameters from
 * `ARCH.*` keys, tensors in place in the mapping, tokenizer from
 * `tokenizer.ggml.*`, chat template from `tokenizer.chat_template`. */
#include "base/err.h"
#include "base/mapfile.h"
#include "format/gguf.h"
#include "model/model_internal.h"
#include "model/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gguf_priv {
    lm_mapfile map;
    lm_gguf *g;
    float *rope_factors;
} gguf_priv;

static void gguf_priv_free(void *p) {
    gguf_priv *q = p;
    if (!q) return;
    lm_gguf_free(q->g);
    lm_mapfile_close(&q->map);
    free(q->rope_factors);
    free(q);
}

const struct lm_gguf *lm_model_gguf(const lm_model_desc *m) {
    return m && m->source == LM_SOURCE_GGUF && m->priv ? ((gguf_priv *)m->priv)->g : NULL;
}

/* Reads ARCH.suffix as u32: required ones fail when absent. */
static lm_status arch_u32(const lm_gguf *g, const char *arch, const char *suffix, bool required,
                          uint32_t *out, lm_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!lm_gguf_get(g, key) && !required) return LM_OK;
    return lm_gguf_get_u32(g, key, out, err);
}

static lm_status arch_f32(const lm_gguf *g, const char *arch, const char *suffix, float *out,
                          lm_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!lm_gguf_get(g, key)) return LM_OK;
    return lm_gguf_get_f32(g, key, out, err);
}

static lm_status read_hparams(lm_model_desc *m, const lm_gguf *g, lm_err *err) {
    lm_hparams *hp = &m->hp;
    const char *a;
    uint64_t alen;
    lm_status s = lm_gguf_get_str(g, "general.architecture", &a, &alen, err);
    if (s) return s;
    snprintf(hp->arch_name, sizeof hp->arch_name, "%.*s", (int)(alen < 31 ? alen : 31), a);
    hp->arch = alen < 31 ? lm_arch_from_name(hp->arch_name) : LM_ARCH_UNKNOWN;
    if (hp->arch == LM_ARCH_UNKNOWN)
        return lm_fail(err, LM_ERR_UNSUPPORTED,
                       "unknown architecture \"%s\" (supported: " LM_ARCH_SUPPORTED_LIST ")",
                       hp->arch_name);
    const char *an = hp->arch_name;
    hp->norm_eps = 1e-5f;
    hp->rope_theta = 10000.0f;
    if ((s = arch_u32(g, an, "embedding_length", true, &hp->n_embd, err)) ||
        (s = arch_u32(g, an, "block_count", true, &hp->n_layer, err)) ||
        (s = arch_u32(g, an, "feed_forward_length", true, &hp->n_ff, err)) ||
        (s = arch_u32(g, an, "attention.head_count", true, &hp->n_head, err)))
        return s;
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_head ? hp->n_embd / hp->n_head : 0;
    if ((s = arch_u32(g, an, "attention.head_count_kv", false, &hp->n_head_kv, err)) ||
        (s = arch_u32(g, an, "attention.key_length", false, &hp->head_dim, err)) ||
        (s = arch_u32(g, an, "context_length", false, &hp->n_ctx_train, err)) ||
        (s = arch_u32(g, an, "vocab_size", false, &hp->n_vocab, err)) ||
        (s = arch_f32(g, an, "rope.freq_base", &hp->rope_theta, err)) ||
        (s = arch_f32(g, an, "attention.layer_norm_rms_epsilon", &hp->norm_eps, err)))
        return s;
    uint32_t rot = hp->head_dim;
    if ((s = arch_u32(g, an, "rope.dimension_count", false, &rot, err))) return s;
    if (rot != hp->head_dim)
        return lm_fail(err, LM_ERR_UNSUPPORTED,
                       "%s.rope.dimension_count %u differs from head_dim %u (partial rotary "
                       "embeddings are not supported)",
                       an, rot, hp->head_dim);
    /* llama.cpp permutes Q/K rows of `llama`-family files for adjacent pairs. */
    hp->rope_layout = (hp->arch == LM_ARCH_LLAMA || hp->arch == LM_ARCH_MISTRAL) ? LM_ROPE_ADJACENT
                                                                                 : LM_ROPE_HALF;
    return LM_OK;
}

static lm_status fill_tensors(lm_model_desc *m, const lm_gguf *g, lm_err *err) {
    if (g->n_tensors > UINT32_MAX) return lm_fail(err, LM_ERR_MODEL_FORMAT, "too many tensors");
    m->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *m->tensors);
    if (!m->tensors) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const lm_gguf_tensor *s = &g->tensors[i];
        lm_tensor *t = &m->tensors[i];
        memcpy(t->name, s->name, sizeof t->name);
        t->type = s->type;
        t->n_dims = s->n_dims;
        memcpy(t->ne, s->ne, sizeof t->ne);
        t->nbytes = s->nbytes;
        t->data = s->data;
        t->file_offset = s->file_offset;
    }
    m->n_tensors = (uint32_t)g->n_tensors;
    return LM_OK;
}

/* rope_freqs.weight (llama3 scaling) is copied out so engines get aligned floats. */
static lm_status read_rope_factors(lm_model_desc *m, gguf_priv *p, lm_err *err) {
    const lm_tensor *t = lm_model_find_tensor(m, "rope_freqs.weight");
    if (!t) return LM_OK;
    uint32_t half = m->hp.head_dim / 2;
    if (t->type != LM_TYPE_F32 || t->ne[0] != half || t->ne[1] * t->ne[2] * t->ne[3] != 1)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "tensor rope_freqs.weight must be F32 [%u], found %s with %llu elements",
                       half, lm_type_name(t->type), (unsigned long long)t->ne[0]);
    p->rope_factors = malloc(half * sizeof(float));
    if (!p->rope_factors) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    memcpy(p->rope_factors, t->data, half * sizeof(float));
    for (uint32_t i = 0; i < half; i++)
        if (!(p->rope_factors[i] > 0))
            return lm_fail(err, LM_ERR_MODEL_FORMAT,
                           "rope_freqs.weight[%u] is not a positive number", i);
    m->hp.rope_freq_factors = p->rope_factors;
    return LM_OK;
}

/* ---- tokenizer ---------------------------------------------------------- */

typedef struct spec_bufs {
    const char **tokens, **merges;
    uint32_t *token_lens, *merge_lens;
    float *scores;
    int32_t *types;
} spec_bufs;

static void spec_bufs_free(spec_bufs *b) {
    free(b->tokens);
    free(b->merges);
    free(b->token_lens);
    free(b->merge_lens);
    free(b->scores);
    free(b->types);
}

static lm_status string_array(const lm_gguf *g, const char *key, const char ***strs,
                              uint32_t **lens, uint32_t *n, lm_err *err) {
    const lm_gguf_value *v = lm_gguf_get(g, key);
    *n = 0;
    if (!v) return LM_OK;
    if (v->type != LM_GGUF_ARRAY || v->elem_type != LM_GGUF_STRING)
        return lm_fail(err, LM_ERR_TOKENIZER, "%s must be an array of strings", key);
    if (v->count > (1u << 24))
        return lm_fail(err, LM_ERR_TOKENIZER, "%s has %llu entries (limit %u)", key,
                       (unsigned long long)v->count, 1u << 24);
    *strs = malloc((v->count ? v->count : 1) * sizeof **strs);
    *lens = malloc((v->count ? v->count : 1) * sizeof **lens);
    if (!*strs || !*lens) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    lm_gguf_iter it;
    lm_gguf_value e;
    lm_gguf_iter_init(&it, v);
    while (lm_gguf_iter_next(&it, &e)) {
        if (e.size > UINT32_MAX)
            return lm_fail(err, LM_ERR_TOKENIZER, "%s[%u] is too long", key, *n);
        (*strs)[*n] = (const char *)e.data;
        (*lens)[(*n)++] = (uint32_t)e.size;
    }
    return LM_OK;
}

/* Numeric per-token array (scores f32, token_type i32) with n_tokens entries. */
static lm_status token_numbers(const lm_gguf *g, const char *key, uint32_t n_tokens, bool as_float,
                               void **out, lm_err *err) {
    const lm_gguf_value *v = lm_gguf_get(g, key);
    if (!v) return LM_OK;
    if (v->type != LM_GGUF_ARRAY || v->count != n_tokens)
        return lm_fail(err, LM_ERR_TOKENIZER, "%s must be an array of %u numbers (one per token)",
                       key, n_tokens);
    void *buf = malloc((n_tokens ? n_tokens : 1) * 4);
    if (!buf) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    *out = buf;
    for (uint32_t i = 0; i < n_tokens; i++) {
        lm_gguf_value e;
        lm_status s = lm_gguf_array_at(v, i, &e, err);
        if (s) return s;
        if (as_float) {
            double d;
            if ((s = lm_gguf_value_f64(&e, key, &d, err))) return s;
            ((float *)buf)[i] = (float)d;
        } else {
            int64_t x;
            if ((s = lm_gguf_value_i64(&e, key, &x, err))) return s;
            ((int32_t *)buf)[i] = (int32_t)x;
        }
    }
    return LM_OK;
}

static lm_status token_id(const lm_gguf *g, const char *key, uint32_t n_tokens, int32_t *out,
                          lm_err *err) {
    *out = -1;
    if (!lm_gguf_get(g, key)) return LM_OK;
    uint32_t id;
    lm_status s = lm_gguf_get_u32(g, key, &id, err);
    if (s) return s;
    if (id >= n_tokens)
        return lm_fail(err, LM_ERR_TOKENIZER, "%s = %u is out of range (%u tokens)", key, id,
                       n_tokens);
    *out = (int32_t)id;
    return LM_OK;
}

static lm_status flag(const lm_gguf *g, const char *key, int8_t *out, lm_err *err) {
    *out = -1;
    if (!lm_gguf_get(g, key)) return LM_OK;
    bool b;
    lm_status s = lm_gguf_get_bool(g, key, &b, err);
    if (!s) *out = b;
    return s;
}

static char *token_dup(const lm_vocab_spec *v, int32_t id) {
    if (id < 0) return NULL;
    return strndup(v->tokens[id], v->token_lens[id]);
}

static lm_status build_spec(lm_model_desc *m, const lm_gguf *g, lm_vocab_spec *v, spec_bufs *b,
                            lm_err *err) {
    const char *s;
    uint64_t n;
    if (lm_gguf_get_str(g, "tokenizer.ggml.model", &s, &n, NULL)) return LM_OK;
    snprintf(v->model, sizeof v->model, "%.*s", (int)(n < 31 ? n : 31), s);
    v->kind = !strcmp(v->model, "gpt2")    ? LM_VOCAB_BPE
              : !strcmp(v->model, "llama") ? LM_VOCAB_SPM
                                           : LM_VOCAB_NONE;
    if (!lm_gguf_get_str(g, "tokenizer.ggml.pre", &s, &n, NULL))
        snprintf(v->pre, sizeof v->pre, "%.*s", (int)(n < 63 ? n : 63), s);
    lm_status st;
    if ((st = string_array(g, "tokenizer.ggml.tokens", &b->tokens, &b->token_lens, &v->n_tokens,
                           err)) ||
        (st = string_array(g, "tokenizer.ggml.merges", &b->merges, &b->merge_lens, &v->n_merges,
                           err)))
        return st;
    if (!v->n_tokens)
        return lm_fail(err, LM_ERR_TOKENIZER, "tokenizer.ggml.tokens is missing or empty");
    v->tokens = b->tokens;
    v->token_lens = b->token_lens;
    v->merges = b->merges;
    v->merge_lens = b->merge_lens;
    if ((st = token_numbers(g, "tokenizer.ggml.scores", v->n_tokens, true, (void **)&b->scores,
                            err)) ||
        (st = token_numbers(g, "tokenizer.ggml.token_type", v->n_tokens, false, (void **)&b->types,
                            err)))
        return st;
    v->scores = b->scores;
    v->types = b->types;
    const uint32_t nt = v->n_tokens;
    if ((st = token_id(g, "tokenizer.ggml.bos_token_id", nt, &v->bos_id, err)) ||
        (st = token_id(g, "tokenizer.ggml.eos_token_id", nt, &v->eos_id, err)) ||
        (st = token_id(g, "tokenizer.ggml.eot_token_id", nt, &v->eot_id, err)) ||
        (st = token_id(g, "tokenizer.ggml.eom_token_id", nt, &v->eom_id, err)) ||
        (st = token_id(g, "tokenizer.ggml.unknown_token_id", nt, &v->unk_id, err)) ||
        (st = token_id(g, "tokenizer.ggml.padding_token_id", nt, &v->pad_id, err)) ||
        (st = flag(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err)) ||
        (st = flag(g, "tokenizer.ggml.add_eos_token", &v->add_eos, err)) ||
        (st = flag(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err)))
        return st;
    m->bos_text = token_dup(v, v->bos_id);
    m->eos_text = token_dup(v, v->eos_id);
    return LM_OK;
}

static lm_status read_tokenizer(lm_model_desc *m, const lm_gguf *g, lm_err *err) {
    lm_vocab_spec v;
    memset(&v, 0, sizeof v);
    v.bos_id = v.eos_id = v.eot_id = v.eom_id = v.unk_id = v.pad_id = -1;
    v.add_bos = v.add_eos = v.add_space_prefix = -1;
    spec_bufs b = {0};
    lm_status s = build_spec(m, g, &v, &b, err);
    if (!s && v.kind != LM_VOCAB_NONE)
        s = lm_tokenizer_from_spec(&v, &m->tokenizer, err);
    spec_bufs_free(&b);
    return s;
}

lm_status lm_model_open_gguf(const char *path, lm_model_desc *m, lm_err *err) {
    gguf_priv *p = calloc(1, sizeof *p);
    if (!p) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    m->priv = p;
    m->priv_free = gguf_priv_free;
    lm_status s = lm_mapfile_open(&p->map, path, err);
    if (s) return s;
    m->identity = p->map.id;
    s = lm_gguf_parse(p->map.data, p->map.size, &p->g, err);
    if (s) return lm_err_prefix(err, "%s", path);
    const lm_gguf *g = p->g;
    const char *nm;
    uint64_t nl;
    if (!lm_gguf_get_str(g, "general.name", &nm, &nl, NULL))
        snprintf(m->name, sizeof m->name, "%.*s", (int)(nl < 127 ? nl : 127), nm);
    else {
        const char *base = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
    }
    if ((s = read_hparams(m, g, err)) || (s = fill_tensors(m, g, err)) ||
        (s = read_rope_factors(m, p, err)) || (s = read_tokenizer(m, g, err)))
        return lm_err_prefix(err, "%s", path);
    if (lm_gguf_get(g, "tokenizer.chat_template") &&
        (s = lm_gguf_get_strdup(g, "tokenizer.chat_template", &m->chat_template, err)))
        return lm_err_prefix(err, "%s", path);
    return LM_OK;
}
