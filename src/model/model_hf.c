/* model_hf.c — model description from a Hugging Face folder: config.json,
 * model.safetensors (or shards listed in model.safetensors.index.json),
 * tokenizer.json and tokenizer_config.json. Tensors are renamed to GGUF names
 * and reshaped to GGUF order; their bytes stay in the file mappings. */
#include "base/err.h"
#include "base/mapfile.h"
#include "format/hf_config.h"
#include "format/safetensors.h"
#include "model/model_internal.h"
#include "model/tokenizer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_JSON_BYTES (64u << 20)

typedef struct hf_priv {
    uint32_t n_maps;
    lm_mapfile *maps;
    float *rope_factors;
} hf_priv;

static void hf_priv_free(void *p) {
    hf_priv *q = p;
    if (!q) return;
    for (uint32_t i = 0; i < q->n_maps; i++)
        lm_mapfile_close(&q->maps[i]);
    free(q->maps);
    free(q->rope_factors);
    free(q);
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* HF parameter names -> GGUF names. Returns false for names LocalM does not map. */
static bool gguf_name(const char *hf, char *out, size_t n) {
    static const struct {
        const char *hf, *gguf;
    } k_global[] =
        {
            {"model.embed_tokens.weight", "token_embd.weight"},
            {"model.norm.weight", "output_norm.weight"},
            {"lm_head.weight", "output.weight"},
        },
      k_layer[] = {
          {"input_layernorm.weight", "attn_norm.weight"},
          {"self_attn.q_proj.weight", "attn_q.weight"},
          {"self_attn.k_proj.weight", "attn_k.weight"},
          {"self_attn.v_proj.weight", "attn_v.weight"},
          {"self_attn.o_proj.weight", "attn_output.weight"},
          {"self_attn.q_proj.bias", "attn_q.bias"},
          {"self_attn.k_proj.bias", "attn_k.bias"},
          {"self_attn.v_proj.bias", "attn_v.bias"},
          {"self_attn.q_norm.weight", "attn_q_norm.weight"},
          {"self_attn.k_norm.weight", "attn_k_norm.weight"},
          {"post_attention_layernorm.weight", "ffn_norm.weight"},
          {"mlp.gate_proj.weight", "ffn_gate.weight"},
          {"mlp.up_proj.weight", "ffn_up.weight"},
          {"mlp.down_proj.weight", "ffn_down.weight"},
      };
    for (size_t i = 0; i < sizeof k_global / sizeof *k_global; i++)
        if (!strcmp(hf, k_global[i].hf)) return snprintf(out, n, "%s", k_global[i].gguf) > 0;
    const char *pre = "model.layers.";
    if (strncmp(hf, pre, strlen(pre))) return false;
    const char *p = hf + strlen(pre);
    unsigned layer = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 5)
        layer = layer * 10 + (unsigned)(*p++ - '0'), digits++;
    if (!digits || *p != '.') return false;
    p++;
    for (size_t i = 0; i < sizeof k_layer / sizeof *k_layer; i++)
        if (!strcmp(p, k_layer[i].hf)) {
            int k = snprintf(out, n, "blk.%u.%s", layer, k_layer[i].gguf);
            return k > 0 && (size_t)k < n;
        }
    return false;
}

static lm_status add_tensors(lm_model_desc *m, const lm_safetensors *st, uint16_t file_index,
                             lm_err *err) {
    for (uint64_t i = 0; i < st->n_tensors; i++) {
        const lm_st_tensor *s = &st->tensors[i];
        char name[96];
        if (!gguf_name(s->name, name, sizeof name)) continue; /* not part of the model we run */
        int type = lm_st_dtype_to_type(s->dtype);
        if (type < 0)
            return lm_fail(err, LM_ERR_UNSUPPORTED,
                           "tensor %s: dtype %s is not supported (F32, F16 and BF16 are)", s->name,
                           lm_st_dtype_name(s->dtype));
        if (s->n_dims == 0 || s->n_dims > 4)
            return lm_fail(err, LM_ERR_UNSUPPORTED, "tensor %s has %u dimensions (1..4 supported)",
                           s->name, s->n_dims);
        if (lm_model_find_tensor(m, name))
            return lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor %s appears twice", s->name);
        lm_tensor *t = &m->tensors[m->n_tensors];
        memset(t, 0, sizeof *t);
        memcpy(t->name, name, sizeof name);
        t->type = (uint32_t)type;
        t->n_dims = s->n_dims;
        for (uint32_t d = 0; d < 4; d++)
            t->ne[d] = d < s->n_dims ? s->shape[s->n_dims - 1 - d] : 1;
        t->nbytes = s->nbytes;
        t->data = s->data;
        t->file_offset = s->file_offset;
        t->file_index = file_index;
        m->n_tensors++;
    }
    return LM_OK;
}

/* Maps each shard (or the single model.safetensors) and collects its tensors. */
static lm_status load_weights(lm_model_desc *m, hf_priv *p, const char *dir, lm_err *err) {
    char path[1200];
    lm_st_index *ix = NULL;
    const char *single = "model.safetensors";
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    uint32_t n_files = 1;
    lm_status s = LM_OK;
    if (file_exists(path)) {
        char *json;
        size_t len;
        if ((s = lm_read_file(path, MAX_JSON_BYTES, &json, &len, err))) return s;
        s = lm_st_index_parse(json, len, &ix, err);
        free(json);
        if (s) return lm_err_prefix(err, "%s", path);
        n_files = ix->n_files;
        if (n_files == 0 || n_files > 65535) {
            lm_st_index_free(ix);
            return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s lists %u shard files", path, n_files);
        }
    } else {
        snprintf(path, sizeof path, "%s/%s", dir, single);
        if (!file_exists(path))
            return lm_fail(err, LM_ERR_NOT_FOUND,
                           "folder %s has no model.safetensors or model.safetensors.index.json",
                           dir);
    }
    p->maps = calloc(n_files, sizeof *p->maps);
    lm_safetensors **sts = calloc(n_files, sizeof *sts);
    uint64_t total = 0;
    if (!p->maps || !sts) s = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    for (uint32_t f = 0; f < n_files && !s; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, ix ? ix->files[f] : single);
        if ((s = lm_mapfile_open(&p->maps[f], path, err))) break;
        p->n_maps++;
        if (f == 0) m->identity = p->maps[0].id;
        if ((s = lm_safetensors_parse(p->maps[f].data, p->maps[f].size, &sts[f], err))) {
            lm_err_prefix(err, "%s", path);
            break;
        }
        total += sts[f]->n_tensors;
    }
    if (!s && total > UINT32_MAX) s = lm_fail(err, LM_ERR_MODEL_FORMAT, "too many tensors");
    if (!s && !(m->tensors = calloc(total ? total : 1, sizeof *m->tensors)))
        s = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    for (uint32_t f = 0; f < n_files && !s; f++)
        s = add_tensors(m, sts[f], (uint16_t)f, err);
    for (uint32_t f = 0; sts && f < n_files; f++)
        lm_safetensors_free(sts[f]);
    free(sts);
    lm_st_index_free(ix);
    return s;
}

/* llama3 rope scaling as transformers' _compute_llama3_parameters defines it,
 * expressed as divisors of the base inverse frequencies: wavelengths longer
 * than original_ctx/low_freq_factor are divided by `factor`, shorter than
 * original_ctx/high_freq_factor are kept, and the band between blends the two
 * with smooth = (original_ctx/wavelen - low) / (high - low). */
static lm_status llama3_factors(const lm_hf_config *c, uint32_t head_dim, float **out,
                                lm_err *err) {
    double factor = c->rope_factor, lo = c->low_freq_factor, hi = c->high_freq_factor;
    double old_ctx = c->original_max_position_embeddings;
    if (!(factor > 0) || !(lo > 0) || !(hi > lo) || !(old_ctx > 0))
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "config.json: llama3 rope_scaling needs factor > 0, 0 < low_freq_factor < "
                       "high_freq_factor and original_max_position_embeddings");
    uint32_t half = head_dim / 2;
    float *f = malloc(half * sizeof *f);
    if (!f) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    double low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
    for (uint32_t i = 0; i < half; i++) {
        /* transformers computes inv_freq in float32; do the same so band
         * boundaries fall where they fall there. */
        float inv = 1.0f / powf((float)c->rope_theta, (float)(2 * i) / (float)head_dim);
        double wavelen = 2.0 * M_PI / inv;
        if (wavelen < high_wavelen)
            f[i] = 1.0f;
        else if (wavelen > low_wavelen)
            f[i] = (float)factor;
        else {
            double smooth = (old_ctx / wavelen - lo) / (hi - lo);
            f[i] = (float)(1.0 / ((1.0 - smooth) / factor + smooth));
        }
    }
    *out = f;
    return LM_OK;
}

static lm_status read_config(lm_model_desc *m, hf_priv *p, const char *dir, lm_hf_config *c,
                             lm_err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!file_exists(path))
        return lm_fail(err, LM_ERR_NOT_FOUND,
                       "folder %s has no config.json (not a Hugging Face model folder)", dir);
    char *json;
    size_t len;
    lm_status s = lm_read_file(path, MAX_JSON_BYTES, &json, &len, err);
    if (s) return s;
    s = lm_hf_config_parse(json, len, c, err);
    free(json);
    if (s) return lm_err_prefix(err, "%s", dir);
    static const struct {
        const char *cls;
        lm_arch arch;
    } k_classes[] = {{"LlamaForCausalLM", LM_ARCH_LLAMA},
                     {"MistralForCausalLM", LM_ARCH_MISTRAL},
                     {"Qwen2ForCausalLM", LM_ARCH_QWEN2},
                     {"Qwen3ForCausalLM", LM_ARCH_QWEN3}};
    lm_hparams *hp = &m->hp;
    hp->arch = lm_arch_from_name(c->model_type);
    for (size_t i = 0; !hp->arch && !c->model_type[0] && i < 4; i++)
        if (!strcmp(c->architecture, k_classes[i].cls)) hp->arch = k_classes[i].arch;
    if (!hp->arch)
        return lm_fail(err, LM_ERR_UNSUPPORTED,
                       "%s: unknown architecture \"%s\" (supported: " LM_ARCH_SUPPORTED_LIST ")",
                       dir, c->model_type[0] ? c->model_type : c->architecture);
    snprintf(hp->arch_name, sizeof hp->arch_name, "%s", lm_arch_name(hp->arch));
    hp->n_vocab = c->vocab_size;
    hp->n_embd = c->hidden_size;
    hp->n_layer = c->num_hidden_layers;
    hp->n_head = c->num_attention_heads;
    hp->n_head_kv = c->num_key_value_heads;
    hp->head_dim = c->head_dim;
    hp->n_ff = c->intermediate_size;
    hp->n_ctx_train = c->max_position_embeddings;
    hp->norm_eps = (float)c->rms_norm_eps;
    hp->rope_theta = (float)c->rope_theta;
    hp->rope_layout = LM_ROPE_HALF;
    hp->tied_embeddings = c->tie_word_embeddings;
    hp->qkv_bias = c->attention_bias || hp->arch == LM_ARCH_QWEN2;
    hp->qk_norm = hp->arch == LM_ARCH_QWEN3;
    if (c->has_rope_scaling && strcmp(c->rope_type, "default")) {
        if (strcmp(c->rope_type, "llama3"))
            return lm_fail(err, LM_ERR_UNSUPPORTED,
                           "%s: rope_scaling type \"%s\" is not supported (llama3 is)", dir,
                           c->rope_type);
        if (hp->head_dim % 2)
            return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s: head_dim %u is odd", dir, hp->head_dim);
        if ((s = llama3_factors(c, hp->head_dim, &p->rope_factors, err)))
            return lm_err_prefix(err, "%s", dir);
        hp->rope_freq_factors = p->rope_factors;
    }
    return LM_OK;
}

static lm_status read_tokenizer(lm_model_desc *m, const char *dir, lm_err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (file_exists(path)) {
        char *json;
        size_t len;
        lm_status s = lm_read_file(path, MAX_JSON_BYTES, &json, &len, err);
        if (s) return s;
        lm_hf_tokenizer_config tc;
        s = lm_hf_tokenizer_config_parse(json, len, &tc, err);
        free(json);
        if (s) return lm_err_prefix(err, "%s", dir);
        m->chat_template = tc.chat_template;
        m->bos_text = tc.bos_token;
        m->eos_text = tc.eos_token;
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!file_exists(path)) {
        snprintf(path, sizeof path, "%s/tokenizer.json.gz", dir);
        if (!file_exists(path)) return LM_OK;
    }
    return lm_tokenizer_from_file(path, &m->tokenizer, err);
}

lm_status lm_model_open_hf(const char *path, lm_model_desc *m, lm_err *err) {
    hf_priv *p = calloc(1, sizeof *p);
    if (!p) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    m->priv = p;
    m->priv_free = hf_priv_free;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = 0;
    const char *base = strrchr(dir, '/');
    snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : dir);
    lm_hf_config c;
    lm_status s;
    if ((s = read_config(m, p, dir, &c, err)) || (s = load_weights(m, p, dir, err)) ||
        (s = read_tokenizer(m, dir, err)))
        return s;
    return LM_OK;
}
