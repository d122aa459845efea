/* safetensors.c — parsing of safetensors headers and shard index files, with
 * every shape, offset and size checked against the file. */
#include "format/safetensors.h"
#include "base/checked.h"
#include "base/err.h"
#include "format/ggml_types.h"
#include "format/json_util.h"
#include "format/utf8_check.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 1024

static const struct {
    const char *name;
    uint32_t size;
} k_dtypes[LM_ST_DTYPE_COUNT] = {
    [LM_ST_BOOL] = {"BOOL", 1},       [LM_ST_U8] = {"U8", 1},           [LM_ST_I8] = {"I8", 1},
    [LM_ST_F8_E5M2] = {"F8_E5M2", 1}, [LM_ST_F8_E4M3] = {"F8_E4M3", 1}, [LM_ST_I16] = {"I16", 2},
    [LM_ST_U16] = {"U16", 2},         [LM_ST_F16] = {"F16", 2},         [LM_ST_BF16] = {"BF16", 2},
    [LM_ST_I32] = {"I32", 4},         [LM_ST_U32] = {"U32", 4},         [LM_ST_F32] = {"F32", 4},
    [LM_ST_F64] = {"F64", 8},         [LM_ST_I64] = {"I64", 8},         [LM_ST_U64] = {"U64", 8},
};

const char *lm_st_dtype_name(lm_st_dtype d) {
    return (unsigned)d < LM_ST_DTYPE_COUNT ? k_dtypes[d].name : "invalid";
}
uint32_t lm_st_dtype_size(lm_st_dtype d) {
    return (unsigned)d < LM_ST_DTYPE_COUNT ? k_dtypes[d].size : 0;
}
int lm_st_dtype_to_type(lm_st_dtype d) {
    switch (d) {
    case LM_ST_F32:
        return LM_TYPE_F32;
    case LM_ST_F16:
        return LM_TYPE_F16;
    case LM_ST_BF16:
        return LM_TYPE_BF16;
    default:
        return -1;
    }
}

static uint64_t rd_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static lm_status parse_tensor(const cJSON *e, lm_st_tensor *t, uint64_t data_len, lm_err *err) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "safetensors: entry %s is not an object", nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "safetensors: tensor %s has no dtype string", nm);
    int d = -1;
    for (int i = 0; i < LM_ST_DTYPE_COUNT; i++)
        if (!strcmp(dt->valuestring, k_dtypes[i].name)) d = i;
    if (d < 0)
        return lm_fail(err, LM_ERR_UNSUPPORTED,
                       "safetensors: tensor %s has unsupported dtype %.32s", nm, dt->valuestring);
    t->dtype = (lm_st_dtype)d;
    if (!cJSON_IsArray(sh))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "safetensors: tensor %s has no shape array", nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > LM_ST_MAX_DIMS)
        return lm_fail(err, LM_ERR_UNSUPPORTED, "safetensors: tensor %s has %d dimensions (max %d)",
                       nm, nd, LM_ST_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    uint64_t n = 1;
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, sh) {
        if (!lm_json_as_u64(x, &t->shape[i]) || !lm_mul_u64(n, t->shape[i], &n))
            return lm_fail(err, LM_ERR_MODEL_FORMAT,
                           "safetensors: tensor %s: dimension %d is not a valid size", nm, i);
        i++;
    }
    uint64_t nbytes, b, e_;
    if (!lm_mul_u64(n, k_dtypes[d].size, &nbytes))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "safetensors: tensor %s: size overflows", nm);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 ||
        !lm_json_as_u64(cJSON_GetArrayItem(of, 0), &b) ||
        !lm_json_as_u64(cJSON_GetArrayItem(of, 1), &e_) || b > e_)
        return lm_fail(
            err, LM_ERR_MODEL_FORMAT,
            "safetensors: tensor %s: data_offsets must be [begin, end] with begin <= end", nm);
    if (e_ > data_len)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "safetensors: tensor %s: data [%llu, %llu) is past the end of the data "
                       "(%llu bytes)",
                       nm, (unsigned long long)b, (unsigned long long)e_,
                       (unsigned long long)data_len);
    if (e_ - b != nbytes)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "safetensors: tensor %s: data_offsets span %llu bytes but shape and dtype "
                       "need %llu",
                       nm, (unsigned long long)(e_ - b), (unsigned long long)nbytes);
    t->nbytes = nbytes;
    t->file_offset = b; /* made absolute by the caller */
    return LM_OK;
}

lm_status lm_safetensors_parse(const void *buf, size_t len, lm_safetensors **out, lm_err *err) {
    *out = NULL;
    const uint8_t *p = buf;
    if (len < 8)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "safetensors: file of %zu bytes has no header",
                       len);
    uint64_t hl = rd_u64(p);
    if (hl > LM_ST_MAX_HEADER || hl > len - 8)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "safetensors: header length %llu is past the end of the file (%zu bytes)",
                       (unsigned long long)hl, len);
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, (size_t)hl);
    if (!root) return lm_fail(err, LM_ERR_MODEL_FORMAT, "safetensors: header is not valid JSON");
    lm_status st = LM_OK;
    lm_safetensors *s = calloc(1, sizeof *s);
    if (!s) st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    if (!st && !cJSON_IsObject(root))
        st = lm_fail(err, LM_ERR_MODEL_FORMAT, "safetensors: header is not a JSON object");
    uint64_t count = 0;
    const cJSON *e;
    if (!st) {
        cJSON_ArrayForEach(e, root) if (strcmp(e->string, "__metadata__")) count++;
        s->buf = buf;
        s->len = len;
        s->data_offset = 8 + hl;
        s->tensors = calloc(count ? count : 1, sizeof *s->tensors);
        if (!s->tensors) st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    }
    uint64_t data_len = len - 8 - hl;
    if (!st) {
        cJSON_ArrayForEach(e, root) {
            if (!strcmp(e->string, "__metadata__")) continue;
            size_t nl = strlen(e->string), bad;
            if (nl == 0 || nl >= MAX_NAME || !lm_utf8_valid(e->string, nl, &bad)) {
                st = lm_fail(err, LM_ERR_MODEL_FORMAT,
                             "safetensors: tensor #%llu has an empty, overlong or non-UTF-8 name",
                             (unsigned long long)s->n_tensors);
                break;
            }
            lm_st_tensor *t = &s->tensors[s->n_tensors];
            if ((st = parse_tensor(e, t, data_len, err))) break;
            t->name = strdup(e->string);
            if (!t->name) {
                st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
                break;
            }
            t->file_offset += s->data_offset;
            t->data = p + t->file_offset;
            s->n_tensors++;
        }
    }
    cJSON_Delete(root);
    if (st) {
        lm_safetensors_free(s);
        return st;
    }
    *out = s;
    return LM_OK;
}

void lm_safetensors_free(lm_safetensors *st) {
    if (!st) return;
    for (uint64_t i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    free(st);
}

const lm_st_tensor *lm_safetensors_find(const lm_safetensors *st, const char *name) {
    for (uint64_t i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

/* ---- index -------------------------------------------------------------- */

static bool plain_file_name(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..") &&
           strlen(s) < 256;
}

lm_status lm_st_index_parse(const char *json, size_t len, lm_st_index **out, lm_err *err) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return lm_fail(err, LM_ERR_JSON, "safetensors index: not valid JSON");
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    lm_status st = LM_OK;
    lm_st_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    else if (!cJSON_IsObject(wm))
        st = lm_fail(err, LM_ERR_JSON, "safetensors index: weight_map is missing or not an object");
    int n = st ? 0 : cJSON_GetArraySize(wm);
    if (!st) {
        ix->tensor_names = calloc(n ? (size_t)n : 1, sizeof *ix->tensor_names);
        ix->file_of = calloc(n ? (size_t)n : 1, sizeof *ix->file_of);
        ix->files = calloc(n ? (size_t)n : 1, sizeof *ix->files);
        if (!ix->tensor_names || !ix->file_of || !ix->files)
            st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    }
    const cJSON *e;
    if (!st) cJSON_ArrayForEach(e, wm) {
            if (!cJSON_IsString(e) || !plain_file_name(e->valuestring)) {
                st = lm_fail(err, LM_ERR_JSON,
                             "safetensors index: tensor %.200s maps to an invalid file name",
                             e->string);
                break;
            }
            uint32_t f = 0;
            while (f < ix->n_files && strcmp(ix->files[f], e->valuestring))
                f++;
            if (f == ix->n_files) {
                if (!(ix->files[f] = strdup(e->valuestring))) {
                    st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
                    break;
                }
                ix->n_files++;
            }
            if (!(ix->tensor_names[ix->n_entries] = strdup(e->string))) {
                st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
                break;
            }
            ix->file_of[ix->n_entries++] = f;
        }
    cJSON_Delete(root);
    if (st) {
        lm_st_index_free(ix);
        return st;
    }
    *out = ix;
    return LM_OK;
}

void lm_st_index_free(lm_st_index *ix) {
    if (!ix) return;
    for (uint32_t i = 0; i < ix->n_entries; i++)
        free(ix->tensor_names[i]);
    for (uint32_t i = 0; i < ix->n_files; i++)
        free(ix->files[i]);
    free(ix->tensor_names);
    free(ix->file_of);
    free(ix->files);
    free(ix);
}
