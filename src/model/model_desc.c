/* model_desc.c — opening a model description from a GGUF file or a Hugging
 * Face folder, and the architecture-neutral checks of its tensors. */
#include "model/model_desc.h"
#include "base/err.h"
#include "model/model_internal.h"
#include "model/tokenizer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const k_arch_names[] = {
    [LM_ARCH_UNKNOWN] = "unknown", [LM_ARCH_LLAMA] = "llama", [LM_ARCH_MISTRAL] = "mistral",
    [LM_ARCH_QWEN2] = "qwen2",     [LM_ARCH_QWEN3] = "qwen3",
};

const char *lm_arch_name(lm_arch a) {
    return (unsigned)a <= LM_ARCH_QWEN3 ? k_arch_names[a] : "unknown";
}

lm_arch lm_arch_from_name(const char *name) {
    for (int a = LM_ARCH_LLAMA; a <= LM_ARCH_QWEN3; a++)
        if (!strcmp(name, k_arch_names[a])) return (lm_arch)a;
    return LM_ARCH_UNKNOWN;
}

lm_status lm_model_open(const char *path, lm_model_desc **out, lm_err *err) {
    *out = NULL;
    lm_err local;
    if (!err) err = &local;
    struct stat st;
    if (!path || !*path) return lm_fail(err, LM_ERR_INVALID_ARG, "no model path given");
    if (stat(path, &st) != 0)
        return lm_fail(err, errno == ENOENT ? LM_ERR_NOT_FOUND : LM_ERR_IO, "model %s: %s", path,
                       strerror(errno));
    lm_model_desc *m = calloc(1, sizeof *m);
    if (!m) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    snprintf(m->path, sizeof m->path, "%s", path);
    lm_status s;
    if (S_ISDIR(st.st_mode)) {
        m->source = LM_SOURCE_HF;
        s = lm_model_open_hf(path, m, err);
    } else {
        m->source = LM_SOURCE_GGUF;
        s = lm_model_open_gguf(path, m, err);
    }
    if (!s) s = lm_model_bind(m, err);
    if (s) {
        lm_model_free(m);
        return s;
    }
    *out = m;
    return LM_OK;
}

void lm_model_free(lm_model_desc *m) {
    if (!m) return;
    lm_tokenizer_free(m->tokenizer);
    free(m->chat_template);
    free(m->bos_text);
    free(m->eos_text);
    free(m->tensors);
    free(m->layers);
    if (m->priv_free) m->priv_free(m->priv);
    free(m);
}

const lm_tensor *lm_model_find_tensor(const lm_model_desc *m, const char *name) {
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

/* ---- binding and shape checks ------------------------------------------- */

static const char *shape_str(const lm_tensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "[");
    for (uint32_t d = 0; d < t->n_dims && k > 0 && (size_t)k < n; d++)
        k += snprintf(buf + k, n - (size_t)k, d ? ", %llu" : "%llu", (unsigned long long)t->ne[d]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
    return buf;
}

/* Finds name and checks it is [ne0] (ne1 == 0) or [ne0, ne1]. */
static lm_status expect(const lm_model_desc *m, const char *name, bool required, uint64_t ne0,
                        uint64_t ne1, const lm_tensor **out, lm_err *err) {
    const lm_tensor *t = lm_model_find_tensor(m, name);
    *out = t;
    if (!t)
        return required ? lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor %s is missing", name) : LM_OK;
    bool ok = ne1 ? (t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1)
                  : (t->ne[0] == ne0 && t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1);
    if (!ok) {
        char got[96];
        if (ne1)
            return lm_fail(err, LM_ERR_MODEL_FORMAT,
                           "tensor %s has shape %s, expected [%llu, %llu] from the "
                           "hyper-parameters",
                           name, shape_str(t, got, sizeof got), (unsigned long long)ne0,
                           (unsigned long long)ne1);
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "tensor %s has shape %s, expected [%llu] from the hyper-parameters", name,
                       shape_str(t, got, sizeof got), (unsigned long long)ne0);
    }
    return LM_OK;
}

static lm_status check_hparams(const lm_hparams *hp, lm_err *err) {
    if (!hp->n_embd || !hp->n_layer || !hp->n_head || !hp->n_head_kv || !hp->head_dim || !hp->n_ff)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "hyper-parameters must be nonzero (hidden %u, layers %u, heads %u, kv heads "
                       "%u, head_dim %u, ffn %u)",
                       hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_ff);
    if (hp->n_layer > LM_MAX_LAYERS || hp->n_embd > LM_MAX_DIM || hp->n_ff > 4 * LM_MAX_DIM ||
        hp->n_head > LM_MAX_DIM || hp->head_dim > LM_MAX_DIM ||
        (uint64_t)hp->n_head * hp->head_dim > LM_MAX_DIM)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "hyper-parameters are implausibly large");
    if (hp->n_head % hp->n_head_kv)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "%u attention heads are not a multiple of %u key/value heads", hp->n_head,
                       hp->n_head_kv);
    if (hp->head_dim % 2)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "head_dim %u is odd; rotary pairs need it even",
                       hp->head_dim);
    if (!(hp->rope_theta > 0) || !(hp->norm_eps > 0))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "rope theta and norm epsilon must be positive");
    return LM_OK;
}

static lm_status bind_layer(lm_model_desc *m, uint32_t il, lm_err *err) {
    const lm_hparams *hp = &m->hp;
    lm_layer *L = &m->layers[il];
    uint64_t E = hp->n_embd, Q = (uint64_t)hp->n_head * hp->head_dim;
    uint64_t K = (uint64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    char n[96];
    lm_status s;
#define T(field, suffix, req, a, b)                                                                \
    snprintf(n, sizeof n, "blk.%u." suffix, il);                                                   \
    if ((s = expect(m, n, req, a, b, &L->field, err))) return s;
    T(attn_norm, "attn_norm.weight", true, E, 0)
    T(wq, "attn_q.weight", true, E, Q)
    T(wk, "attn_k.weight", true, E, K)
    T(wv, "attn_v.weight", true, E, K)
    T(wo, "attn_output.weight", true, Q, E)
    T(bq, "attn_q.bias", hp->qkv_bias, Q, 0)
    T(bk, "attn_k.bias", hp->qkv_bias, K, 0)
    T(bv, "attn_v.bias", hp->qkv_bias, K, 0)
    T(q_norm, "attn_q_norm.weight", hp->qk_norm, hp->head_dim, 0)
    T(k_norm, "attn_k_norm.weight", hp->qk_norm, hp->head_dim, 0)
    T(ffn_norm, "ffn_norm.weight", true, E, 0)
    T(ffn_gate, "ffn_gate.weight", true, E, F)
    T(ffn_up, "ffn_up.weight", true, E, F)
    T(ffn_down, "ffn_down.weight", true, F, E)
#undef T
    /* Biases come as a set; a partial set would silently change the model. */
    if (!!L->bq != !!L->bk || !!L->bq != !!L->bv)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "layer %u has only some of the q/k/v biases", il);
    if (!!L->q_norm != !!L->k_norm)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "layer %u has only one of q_norm/k_norm", il);
    return LM_OK;
}

lm_status lm_model_bind(lm_model_desc *m, lm_err *err) {
    lm_hparams *hp = &m->hp;
    const lm_tensor *emb = lm_model_find_tensor(m, "token_embd.weight");
    if (!emb) return lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor token_embd.weight is missing");
    if (emb->n_dims != 2 || emb->ne[0] != hp->n_embd)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "tensor token_embd.weight has rows of %llu, expected hidden size %u",
                       (unsigned long long)emb->ne[0], hp->n_embd);
    if (emb->ne[1] > UINT32_MAX)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "token_embd.weight has too many rows");
    if (hp->n_vocab && hp->n_vocab != emb->ne[1])
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "vocabulary size %u does not match the %llu rows of token_embd.weight",
                       hp->n_vocab, (unsigned long long)emb->ne[1]);
    hp->n_vocab = (uint32_t)emb->ne[1];
    lm_status s = check_hparams(hp, err);
    if (s) return s;
    m->tok_embd = emb;
    if ((s = expect(m, "output_norm.weight", true, hp->n_embd, 0, &m->output_norm, err)) ||
        (s = expect(m, "output.weight", false, hp->n_embd, hp->n_vocab, &m->output, err)))
        return s;
    if (!m->output) hp->tied_embeddings = true;
    if (hp->tied_embeddings) m->output = m->tok_embd;
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if ((s = bind_layer(m, il, err))) return s;
    /* Flags follow what the file holds, so engines can trust them. */
    hp->qkv_bias = m->layers[0].bq != NULL;
    hp->qk_norm = m->layers[0].q_norm != NULL;
    for (uint32_t il = 1; il < hp->n_layer; il++)
        if ((m->layers[il].bq != NULL) != hp->qkv_bias ||
            (m->layers[il].q_norm != NULL) != hp->qk_norm)
            return lm_fail(err, LM_ERR_MODEL_FORMAT,
                           "layer %u differs from layer 0 in which biases/norms it has", il);
    m->weight_bytes = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        m->weight_bytes += m->tensors[i].nbytes;
    return LM_OK;
}

uint32_t lm_model_default_ctx(const lm_hparams *hp) {
    uint32_t n = hp ? hp->n_ctx_train : 0;
    if (n == 0) return 4096;
    return n < LM_DEFAULT_CTX ? n : LM_DEFAULT_CTX;
}
