/* hf_config.c — reading config.json / tokenizer_config.json fields with type
 * and range checks (values are later used as sizes and allocation counts). */
#include "format/hf_config.h"
#include "base/err.h"
#include "format/json_util.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generous caps: larger values are certainly corrupt and would only make later
 * size arithmetic dangerous. */
#define MAX_DIM (1u << 20)
#define MAX_LAYERS 1024u
#define MAX_VOCAB (1u << 24)

static const cJSON *item(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNull(v) ? NULL : v;
}

/* Reads an integer field in [lo, hi]; absent -> *out untouched, unless required. */
static lm_status get_u32(const cJSON *o, const char *k, bool required, uint32_t lo, uint32_t hi,
                         uint32_t *out, lm_err *err) {
    const cJSON *v = item(o, k);
    if (!v) return required ? lm_fail(err, LM_ERR_JSON, "config.json: %s is missing", k) : LM_OK;
    uint64_t u;
    if (!lm_json_as_u64(v, &u) || u < lo || u > hi)
        return lm_fail(err, LM_ERR_JSON, "config.json: %s must be an integer in %u..%u", k, lo, hi);
    *out = (uint32_t)u;
    return LM_OK;
}

static lm_status get_num(const cJSON *o, const char *ctx, const char *k, double *out, lm_err *err) {
    const cJSON *v = item(o, k);
    if (!v) return LM_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || v->valuedouble > 1e300)
        return lm_fail(err, LM_ERR_JSON, "%s: %s must be a positive number", ctx, k);
    *out = v->valuedouble;
    return LM_OK;
}

static lm_status get_bool(const cJSON *o, const char *k, bool *out, lm_err *err) {
    const cJSON *v = item(o, k);
    if (!v) return LM_OK;
    if (!cJSON_IsBool(v))
        return lm_fail(err, LM_ERR_JSON, "config.json: %s must be true or false", k);
    *out = cJSON_IsTrue(v);
    return LM_OK;
}

static void copy_str(char *dst, size_t n, const cJSON *v) {
    if (cJSON_IsString(v)) snprintf(dst, n, "%s", v->valuestring);
}

static lm_status parse_rope_scaling(const cJSON *rs, lm_hf_config *c, lm_err *err) {
    if (!rs) return LM_OK;
    if (!cJSON_IsObject(rs))
        return lm_fail(err, LM_ERR_JSON, "config.json: rope_scaling must be an object or null");
    const cJSON *t = item(rs, "rope_type");
    if (!t) t = item(rs, "type");
    if (!cJSON_IsString(t))
        return lm_fail(err, LM_ERR_JSON, "config.json: rope_scaling has no rope_type string");
    c->has_rope_scaling = true;
    copy_str(c->rope_type, sizeof c->rope_type, t);
    c->rope_factor = 1;
    lm_status st;
    const char *ctx = "config.json rope_scaling";
    if ((st = get_num(rs, ctx, "factor", &c->rope_factor, err))) return st;
    if ((st = get_num(rs, ctx, "low_freq_factor", &c->low_freq_factor, err))) return st;
    if ((st = get_num(rs, ctx, "high_freq_factor", &c->high_freq_factor, err))) return st;
    const cJSON *o = item(rs, "original_max_position_embeddings");
    uint64_t u;
    if (o && (!lm_json_as_u64(o, &u) || u == 0 || u > UINT32_MAX))
        return lm_fail(err, LM_ERR_JSON,
                       "config.json: rope_scaling.original_max_position_embeddings must be a "
                       "positive integer");
    if (o) c->original_max_position_embeddings = (uint32_t)u;
    return LM_OK;
}

static lm_status parse_token_ids(const cJSON *root, lm_hf_config *c, lm_err *err) {
    const cJSON *b = item(root, "bos_token_id");
    if (b && !lm_json_as_i32(b, &c->bos_token_id))
        return lm_fail(err, LM_ERR_JSON, "config.json: bos_token_id must be an integer");
    const cJSON *e = item(root, "eos_token_id");
    if (!e) return LM_OK;
    if (cJSON_IsNumber(e)) {
        if (!lm_json_as_i32(e, &c->eos_token_ids[0]))
            return lm_fail(err, LM_ERR_JSON, "config.json: eos_token_id must be an integer");
        c->n_eos = 1;
        return LM_OK;
    }
    if (!cJSON_IsArray(e))
        return lm_fail(err, LM_ERR_JSON, "config.json: eos_token_id must be an integer or a list");
    const cJSON *x;
    cJSON_ArrayForEach(x, e) {
        if (c->n_eos == LM_HF_MAX_EOS)
            return lm_fail(err, LM_ERR_JSON, "config.json: more than %d eos_token_id values",
                           LM_HF_MAX_EOS);
        if (!lm_json_as_i32(x, &c->eos_token_ids[c->n_eos]))
            return lm_fail(err, LM_ERR_JSON, "config.json: eos_token_id[%u] must be an integer",
                           c->n_eos);
        c->n_eos++;
    }
    return LM_OK;
}

static lm_status parse_config(const cJSON *root, lm_hf_config *c, lm_err *err) {
    if (!cJSON_IsObject(root)) return lm_fail(err, LM_ERR_JSON, "config.json: not a JSON object");
    copy_str(c->model_type, sizeof c->model_type, item(root, "model_type"));
    const cJSON *archs = item(root, "architectures");
    if (cJSON_IsArray(archs))
        copy_str(c->architecture, sizeof c->architecture, cJSON_GetArrayItem(archs, 0));
    copy_str(c->torch_dtype, sizeof c->torch_dtype, item(root, "torch_dtype"));
    lm_status st;
    if ((st = get_u32(root, "hidden_size", true, 1, MAX_DIM, &c->hidden_size, err)) ||
        (st = get_u32(root, "intermediate_size", true, 1, MAX_DIM * 4, &c->intermediate_size,
                      err)) ||
        (st =
             get_u32(root, "num_hidden_layers", true, 1, MAX_LAYERS, &c->num_hidden_layers, err)) ||
        (st = get_u32(root, "num_attention_heads", true, 1, MAX_DIM, &c->num_attention_heads,
                      err)) ||
        (st = get_u32(root, "vocab_size", true, 1, MAX_VOCAB, &c->vocab_size, err)))
        return st;
    c->num_key_value_heads = c->num_attention_heads;
    c->head_dim = c->hidden_size / c->num_attention_heads;
    if ((st = get_u32(root, "num_key_value_heads", false, 1, MAX_DIM, &c->num_key_value_heads,
                      err)) ||
        (st = get_u32(root, "head_dim", false, 1, MAX_DIM, &c->head_dim, err)) ||
        (st = get_u32(root, "max_position_embeddings", false, 1, UINT32_MAX,
                      &c->max_position_embeddings, err)))
        return st;
    if (c->head_dim == 0)
        return lm_fail(err, LM_ERR_JSON,
                       "config.json: hidden_size %u is smaller than num_attention_heads %u",
                       c->hidden_size, c->num_attention_heads);
    if ((st = get_num(root, "config.json", "rope_theta", &c->rope_theta, err)) ||
        (st = get_num(root, "config.json", "rms_norm_eps", &c->rms_norm_eps, err)) ||
        (st = get_bool(root, "tie_word_embeddings", &c->tie_word_embeddings, err)) ||
        (st = get_bool(root, "attention_bias", &c->attention_bias, err)) ||
        (st = parse_rope_scaling(item(root, "rope_scaling"), c, err)))
        return st;
    return parse_token_ids(root, c, err);
}

lm_status lm_hf_config_parse(const char *json, size_t len, lm_hf_config *out, lm_err *err) {
    memset(out, 0, sizeof *out);
    out->rope_theta = 10000.0;
    out->rms_norm_eps = 1e-6;
    out->bos_token_id = -1;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return lm_fail(err, LM_ERR_JSON, "config.json: not valid JSON");
    lm_status st = parse_config(root, out, err);
    cJSON_Delete(root);
    return st;
}

/* ---- tokenizer_config.json ---------------------------------------------- */

static lm_status dup_token(const cJSON *v, const char *k, char **out, lm_err *err) {
    if (!v) return LM_OK;
    if (cJSON_IsObject(v)) v = item(v, "content");
    if (!cJSON_IsString(v))
        return lm_fail(err, LM_ERR_JSON,
                       "tokenizer_config.json: %s must be a string or {\"content\": string}", k);
    if (!(*out = strdup(v->valuestring))) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    return LM_OK;
}

static lm_status parse_template(const cJSON *t, char **out, lm_err *err) {
    if (!t) return LM_OK;
    if (cJSON_IsArray(t)) {
        /* Several named templates: the one named "default" is the chat template. */
        const cJSON *e, *found = NULL;
        cJSON_ArrayForEach(e, t) {
            const cJSON *n = item(e, "name");
            if (cJSON_IsString(n) && !strcmp(n->valuestring, "default"))
                found = item(e, "template");
        }
        t = found;
        if (!t) return LM_OK;
    }
    if (!cJSON_IsString(t))
        return lm_fail(err, LM_ERR_JSON,
                       "tokenizer_config.json: chat_template must be a string or a list of "
                       "{name, template}");
    if (!(*out = strdup(t->valuestring))) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    return LM_OK;
}

static lm_status get_flag(const cJSON *root, const char *k, int8_t *out, lm_err *err) {
    const cJSON *v = item(root, k);
    *out = -1;
    if (!v) return LM_OK;
    if (!cJSON_IsBool(v))
        return lm_fail(err, LM_ERR_JSON, "tokenizer_config.json: %s must be true or false", k);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return LM_OK;
}

lm_status lm_hf_tokenizer_config_parse(const char *json, size_t len, lm_hf_tokenizer_config *out,
                                       lm_err *err) {
    memset(out, 0, sizeof *out);
    out->add_bos_token = out->add_eos_token = -1;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return lm_fail(err, LM_ERR_JSON, "tokenizer_config.json: not valid JSON");
    lm_status st = LM_OK;
    if (!cJSON_IsObject(root))
        st = lm_fail(err, LM_ERR_JSON, "tokenizer_config.json: not a JSON object");
    if (!st) st = parse_template(item(root, "chat_template"), &out->chat_template, err);
    if (!st) st = dup_token(item(root, "bos_token"), "bos_token", &out->bos_token, err);
    if (!st) st = dup_token(item(root, "eos_token"), "eos_token", &out->eos_token, err);
    if (!st) st = get_flag(root, "add_bos_token", &out->add_bos_token, err);
    if (!st) st = get_flag(root, "add_eos_token", &out->add_eos_token, err);
    cJSON_Delete(root);
    if (st) lm_hf_tokenizer_config_free(out);
    return st;
}

void lm_hf_tokenizer_config_free(lm_hf_tokenizer_config *c) {
    if (!c) return;
    free(c->chat_template);
    free(c->bos_token);
    free(c->eos_token);
    c->chat_template = c->bos_token = c->eos_token = NULL;
}
