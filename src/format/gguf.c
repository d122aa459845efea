/* gguf.c — GGUF v2/v3 parsing: header, metadata values, tensor table, with
 * every count, length and offset checked against the bytes that remain. */
#include "format/gguf.h"
#include "base/checked.h"
#include "base/err.h"
#include "format/ggml_types.h"
#include "format/utf8_check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NESTING 8       /* arrays of arrays deeper than this are refused */
#define MAX_KEY_BYTES 65535 /* the GGUF spec's limit on key length */

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd_u64(const uint8_t *p) {
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

static const uint32_t k_type_size[LM_GGUF_TYPE_COUNT] = {
    [LM_GGUF_U8] = 1,  [LM_GGUF_I8] = 1,  [LM_GGUF_U16] = 2, [LM_GGUF_I16] = 2,
    [LM_GGUF_U32] = 4, [LM_GGUF_I32] = 4, [LM_GGUF_F32] = 4, [LM_GGUF_BOOL] = 1,
    [LM_GGUF_U64] = 8, [LM_GGUF_I64] = 8, [LM_GGUF_F64] = 8,
};
static const char *const k_type_names[LM_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

uint32_t lm_gguf_type_size(lm_gguf_type t) {
    return (unsigned)t < LM_GGUF_TYPE_COUNT ? k_type_size[t] : 0;
}
const char *lm_gguf_type_name(lm_gguf_type t) {
    return (unsigned)t < LM_GGUF_TYPE_COUNT ? k_type_names[t] : "invalid";
}

/* Decodes one value of type t starting at p (not past end) into *v and sets
 * *next past it. On failure writes the reason into why (offsets relative to
 * base) and returns false. Recursion is bounded by MAX_NESTING. */
static bool walk_value(const uint8_t *base, const uint8_t *p, const uint8_t *end, uint32_t t,
                       int depth, lm_gguf_value *v, const uint8_t **next, char *why, size_t whyn) {
    uint64_t left = (uint64_t)(end - p), at = (uint64_t)(p - base);
    memset(v, 0, sizeof *v);
    if (t >= LM_GGUF_TYPE_COUNT) {
        snprintf(why, whyn, "value type %u at byte %llu is not a GGUF type", t,
                 (unsigned long long)at);
        return false;
    }
    v->type = (lm_gguf_type)t;
    if (t == LM_GGUF_STRING) {
        if (left < 8) goto truncated;
        uint64_t n = rd_u64(p);
        if (n > left - 8) {
            snprintf(why, whyn,
                     "string length %llu at byte %llu is past the end of the data (%llu bytes "
                     "left)",
                     (unsigned long long)n, (unsigned long long)at, (unsigned long long)(left - 8));
            return false;
        }
        v->data = p + 8;
        v->size = n;
        *next = p + 8 + n;
        return true;
    }
    if (t != LM_GGUF_ARRAY) {
        if (left < k_type_size[t]) goto truncated;
        v->data = p;
        v->size = k_type_size[t];
        *next = p + k_type_size[t];
        return true;
    }
    if (depth >= MAX_NESTING) {
        snprintf(why, whyn, "arrays nested deeper than %d levels at byte %llu", MAX_NESTING,
                 (unsigned long long)at);
        return false;
    }
    if (left < 12) goto truncated;
    uint32_t et = rd_u32(p);
    uint64_t count = rd_u64(p + 4);
    if (et >= LM_GGUF_TYPE_COUNT) {
        snprintf(why, whyn, "array element type %u at byte %llu is not a GGUF type", et,
                 (unsigned long long)at);
        return false;
    }
    v->elem_type = (lm_gguf_type)et;
    v->count = count;
    v->data = p + 12;
    left -= 12;
    uint64_t bytes;
    if (k_type_size[et]) {
        if (!lm_mul_u64(count, k_type_size[et], &bytes) || bytes > left) {
            snprintf(why, whyn,
                     "array of %llu %s at byte %llu is past the end of the data (%llu bytes left)",
                     (unsigned long long)count, k_type_names[et], (unsigned long long)at,
                     (unsigned long long)left);
            return false;
        }
    } else {
        /* Strings take >= 8 bytes and arrays >= 12: reject impossible counts
         * before walking, so the walk is bounded by the remaining bytes. */
        uint64_t min = et == LM_GGUF_STRING ? 8 : 12;
        if (count > left / min) {
            snprintf(why, whyn, "array of %llu %s at byte %llu cannot fit in the %llu bytes left",
                     (unsigned long long)count, k_type_names[et], (unsigned long long)at,
                     (unsigned long long)left);
            return false;
        }
        const uint8_t *q = p + 12;
        for (uint64_t i = 0; i < count; i++) {
            lm_gguf_value e;
            if (!walk_value(base, q, end, et, depth + 1, &e, &q, why, whyn)) return false;
        }
        bytes = (uint64_t)(q - (p + 12));
    }
    v->size = bytes;
    *next = p + 12 + bytes;
    return true;
truncated:
    snprintf(why, whyn, "%s value at byte %llu is cut off by the end of the data", k_type_names[t],
             (unsigned long long)at);
    return false;
}

typedef struct cursor {
    const uint8_t *base, *p, *end;
    lm_err *err;
} cursor;

static bool need(cursor *c, uint64_t n, const char *what) {
    if ((uint64_t)(c->end - c->p) >= n) return true;
    lm_fail(c->err, LM_ERR_MODEL_FORMAT,
            "%s at byte %llu is cut off by the end of the file (%llu bytes)", what,
            (unsigned long long)(c->p - c->base), (unsigned long long)(c->end - c->base));
    return false;
}

/* Reads a length-prefixed name (key or tensor name) into a fresh NUL-terminated
 * buffer, validating length, NUL bytes and UTF-8. */
static char *read_name(cursor *c, const char *what, uint64_t max) {
    if (!need(c, 8, what)) return NULL;
    uint64_t n = rd_u64(c->p);
    uint64_t at = (uint64_t)(c->p - c->base);
    if (n > (uint64_t)(c->end - c->p) - 8) {
        lm_fail(c->err, LM_ERR_MODEL_FORMAT,
                "%s length %llu at byte %llu is past the end of the file (%llu bytes)", what,
                (unsigned long long)n, (unsigned long long)at,
                (unsigned long long)(c->end - c->base));
        return NULL;
    }
    if (n == 0 || n > max) {
        lm_fail(c->err, LM_ERR_MODEL_FORMAT, "%s at byte %llu has length %llu (must be 1..%llu)",
                what, (unsigned long long)at, (unsigned long long)n, (unsigned long long)max);
        return NULL;
    }
    const char *s = (const char *)c->p + 8;
    if (memchr(s, 0, n)) {
        lm_fail(c->err, LM_ERR_MODEL_FORMAT, "%s at byte %llu contains a NUL byte", what,
                (unsigned long long)at);
        return NULL;
    }
    size_t bad;
    if (!lm_utf8_valid(s, n, &bad)) {
        lm_fail(c->err, LM_ERR_MODEL_FORMAT,
                "%s at byte %llu is not valid UTF-8 (bad byte 0x%02x at position %zu)", what,
                (unsigned long long)at, (unsigned)(uint8_t)s[bad], bad);
        return NULL;
    }
    char *out = malloc(n + 1);
    if (!out) {
        lm_fail(c->err, LM_ERR_NO_MEMORY, "%s: cannot allocate %llu bytes", what,
                (unsigned long long)n + 1);
        return NULL;
    }
    memcpy(out, s, n);
    out[n] = 0;
    c->p += 8 + n;
    return out;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts a copy of the name pointers and reports the first repeated name. */
static const char *find_duplicate(const char **names, uint64_t n, bool *oom) {
    *oom = false;
    if (n < 2) return NULL;
    const char **s = malloc(n * sizeof *s);
    if (!s) {
        *oom = true;
        return NULL;
    }
    memcpy(s, names, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_str_ptr);
    const char *dup = NULL;
    for (uint64_t i = 1; i < n && !dup; i++)
        if (!strcmp(s[i - 1], s[i])) dup = s[i];
    free(s);
    return dup;
}

static lm_status parse_kvs(lm_gguf *g, cursor *c) {
    lm_err *err = c->err;
    char why[200];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        char what[48];
        snprintf(what, sizeof what, "metadata key #%llu", (unsigned long long)i);
        char *key = read_name(c, what, MAX_KEY_BYTES);
        if (!key) return err->code;
        g->kv[i].key = key;
        if (!need(c, 4, "value type")) return lm_err_prefix(err, "metadata key %s", key);
        uint32_t t = rd_u32(c->p);
        c->p += 4;
        if (!walk_value(c->base, c->p, c->end, t, 0, &g->kv[i].value, &c->p, why, sizeof why))
            return lm_fail(err, LM_ERR_MODEL_FORMAT, "metadata key %s: %s", key, why);
    }
    const char **names = malloc((g->n_kv ? g->n_kv : 1) * sizeof *names);
    if (!names) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory checking metadata keys");
    for (uint64_t i = 0; i < g->n_kv; i++)
        names[i] = g->kv[i].key;
    bool oom;
    const char *dup = find_duplicate(names, g->n_kv, &oom);
    lm_status st = LM_OK;
    if (oom)
        st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory checking metadata keys");
    else if (dup)
        st = lm_fail(err, LM_ERR_MODEL_FORMAT, "metadata key %s appears twice", dup);
    free(names);
    return st;
}

static lm_status read_alignment(lm_gguf *g, lm_err *err) {
    g->alignment = LM_GGUF_DEFAULT_ALIGNMENT;
    const lm_gguf_value *v = lm_gguf_get(g, "general.alignment");
    if (!v) return LM_OK;
    uint32_t a;
    lm_status st = lm_gguf_value_u32(v, "general.alignment", &a, err);
    if (st) return st;
    if (a == 0 || (a & (a - 1)) != 0)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "general.alignment is %u; it must be a nonzero power of 2", a);
    g->alignment = a;
    return LM_OK;
}

static lm_status parse_tensor_info(lm_gguf *g, cursor *c, uint64_t i) {
    lm_err *err = c->err;
    lm_gguf_tensor *t = &g->tensors[i];
    char what[48];
    snprintf(what, sizeof what, "tensor #%llu name", (unsigned long long)i);
    char *name = read_name(c, what, LM_GGUF_MAX_NAME - 1);
    if (!name) return err->code;
    memcpy(t->name, name, strlen(name) + 1);
    free(name);
    if (!need(c, 4, "dimension count")) return lm_err_prefix(err, "tensor %s", t->name);
    t->n_dims = rd_u32(c->p);
    c->p += 4;
    if (t->n_dims == 0 || t->n_dims > LM_GGUF_MAX_DIMS)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor %s: %u dimensions (must be 1..%d)",
                       t->name, t->n_dims, LM_GGUF_MAX_DIMS);
    if (!need(c, 8ull * t->n_dims + 12, "tensor shape, type and offset"))
        return lm_err_prefix(err, "tensor %s", t->name);
    uint64_t n_elems = 1;
    for (uint32_t d = 0; d < LM_GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < t->n_dims ? rd_u64(c->p + 8 * d) : 1;
        if (t->ne[d] == 0)
            return lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor %s: dimension %u is zero", t->name, d);
        if (!lm_mul_u64(n_elems, t->ne[d], &n_elems) || n_elems > (1ull << 56))
            return lm_fail(err, LM_ERR_MODEL_FORMAT,
                           "tensor %s: dimensions overflow (dimension %u is %llu)", t->name, d,
                           (unsigned long long)t->ne[d]);
    }
    c->p += 8 * t->n_dims;
    t->type = rd_u32(c->p);
    t->offset = rd_u64(c->p + 4);
    c->p += 12;
    const lm_type_info *ti = lm_type_get(t->type);
    if (!ti)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor %s: unknown tensor type %u", t->name,
                       t->type);
    uint64_t row;
    if (!lm_type_row_bytes(t->type, t->ne[0], &row))
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "tensor %s: row length %llu is not a multiple of the %s block size %u",
                       t->name, (unsigned long long)t->ne[0], ti->name, ti->block_elems);
    if (!lm_mul_u64(row, n_elems / t->ne[0], &t->nbytes))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor %s: byte size overflows", t->name);
    if (t->offset % g->alignment)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "tensor %s: offset %llu is not a multiple of the alignment %u", t->name,
                       (unsigned long long)t->offset, g->alignment);
    return LM_OK;
}

static lm_status parse_tensors(lm_gguf *g, cursor *c) {
    lm_err *err = c->err;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        lm_status st = parse_tensor_info(g, c, i);
        if (st) return st;
    }
    /* The data section starts at the next multiple of the alignment. */
    uint64_t pos = (uint64_t)(c->p - c->base), start;
    if (!lm_add_u64(pos, g->alignment - 1, &start))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "data section offset overflows");
    start -= start % g->alignment;
    g->data_offset = start;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        lm_gguf_tensor *t = &g->tensors[i];
        uint64_t abs, end;
        if (!lm_add_u64(start, t->offset, &abs) || !lm_add_u64(abs, t->nbytes, &end) ||
            end > g->len)
            return lm_fail(err, LM_ERR_MODEL_FORMAT,
                           "tensor %s: offset %llu + size %llu is past the end of the file "
                           "(%llu bytes)",
                           t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                           (unsigned long long)g->len);
        t->file_offset = abs;
        t->data = g->buf + abs;
    }
    const char **names = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *names);
    if (!names) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory checking tensor names");
    for (uint64_t i = 0; i < g->n_tensors; i++)
        names[i] = g->tensors[i].name;
    bool oom;
    const char *dup = find_duplicate(names, g->n_tensors, &oom);
    lm_status st = LM_OK;
    if (oom)
        st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory checking tensor names");
    else if (dup)
        st = lm_fail(err, LM_ERR_MODEL_FORMAT, "tensor %s appears twice", dup);
    free(names);
    return st;
}

static lm_status parse_header(lm_gguf *g, cursor *c) {
    lm_err *err = c->err;
    if (g->len < 4 || memcmp(c->p, "GGUF", 4) != 0)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "not a GGUF file (no \"GGUF\" magic)");
    if (!need(c, 24, "GGUF header")) return LM_ERR_MODEL_FORMAT;
    g->version = rd_u32(c->p + 4);
    if (g->version == 1)
        return lm_fail(err, LM_ERR_UNSUPPORTED, "GGUF version 1 is not supported (only 2 and 3)");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version)
            return lm_fail(err, LM_ERR_UNSUPPORTED,
                           "big-endian GGUF files are not supported (version field 0x%08x)",
                           g->version);
        return lm_fail(err, LM_ERR_UNSUPPORTED, "GGUF version %u is not supported (only 2 and 3)",
                       g->version);
    }
    g->n_tensors = rd_u64(c->p + 8);
    g->n_kv = rd_u64(c->p + 16);
    c->p += 24;
    uint64_t left = (uint64_t)(c->end - c->p);
    /* A key/value takes at least 8+1+4+1 bytes and a tensor entry 8+1+4+8+4+8:
     * counts that cannot fit are refused before anything is allocated. */
    if (g->n_kv > left / 14)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "metadata count %llu cannot fit in the %llu bytes after the header",
                       (unsigned long long)g->n_kv, (unsigned long long)left);
    if (g->n_tensors > left / 33)
        return lm_fail(err, LM_ERR_MODEL_FORMAT,
                       "tensor count %llu cannot fit in the %llu bytes after the header",
                       (unsigned long long)g->n_tensors, (unsigned long long)left);
    return LM_OK;
}

lm_status lm_gguf_parse(const void *buf, size_t len, lm_gguf **out, lm_err *err) {
    *out = NULL;
    lm_err local;
    if (!err) err = &local; /* failure paths below read err->code */
    if (!buf && len) return lm_fail(err, LM_ERR_INVALID_ARG, "NULL buffer");
    lm_gguf *g = calloc(1, sizeof *g);
    if (!g) return lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    g->buf = buf;
    g->len = len;
    cursor c = {buf, buf, (const uint8_t *)buf + len, err};
    lm_status st = parse_header(g, &c);
    if (!st) {
        g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
        g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
        if (!g->kv || !g->tensors) st = lm_fail(err, LM_ERR_NO_MEMORY, "out of memory");
    }
    if (!st) st = parse_kvs(g, &c);
    if (!st) st = read_alignment(g, err);
    if (!st) st = parse_tensors(g, &c);
    if (st) {
        lm_gguf_free(g);
        return st;
    }
    *out = g;
    return LM_OK;
}

void lm_gguf_free(lm_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].key);
    free(g->kv);
    free(g->tensors);
    free(g);
}

int64_t lm_gguf_find_key(const lm_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && !strcmp(g->kv[i].key, key)) return (int64_t)i;
    return -1;
}

const lm_gguf_value *lm_gguf_get(const lm_gguf *g, const char *key) {
    int64_t i = lm_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i].value;
}

const lm_gguf_tensor *lm_gguf_find_tensor(const lm_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

/* ---- typed access ------------------------------------------------------- */

static bool int_value(const lm_gguf_value *v, int64_t *s, uint64_t *u, bool *is_unsigned) {
    const uint8_t *p = v->data;
    *is_unsigned = false;
    switch (v->type) {
    case LM_GGUF_U8:
        *s = p[0];
        return true;
    case LM_GGUF_I8:
        *s = (int8_t)p[0];
        return true;
    case LM_GGUF_U16:
        *s = (uint16_t)(p[0] | p[1] << 8);
        return true;
    case LM_GGUF_I16:
        *s = (int16_t)(uint16_t)(p[0] | p[1] << 8);
        return true;
    case LM_GGUF_U32:
        *s = rd_u32(p);
        return true;
    case LM_GGUF_I32:
        *s = (int32_t)rd_u32(p);
        return true;
    case LM_GGUF_U64:
        *u = rd_u64(p);
        *is_unsigned = true;
        return true;
    case LM_GGUF_I64:
        *s = (int64_t)rd_u64(p);
        return true;
    default:
        return false;
    }
}

lm_status lm_gguf_value_i64(const lm_gguf_value *v, const char *what, int64_t *out, lm_err *err) {
    int64_t s = 0;
    uint64_t u = 0;
    bool is_u;
    if (!int_value(v, &s, &u, &is_u))
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s is a %s, expected an integer", what,
                       lm_gguf_type_name(v->type));
    if (is_u) {
        if (u > INT64_MAX)
            return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s = %llu is out of range", what,
                           (unsigned long long)u);
        s = (int64_t)u;
    }
    *out = s;
    return LM_OK;
}

lm_status lm_gguf_value_u32(const lm_gguf_value *v, const char *what, uint32_t *out, lm_err *err) {
    int64_t s;
    lm_status st = lm_gguf_value_i64(v, what, &s, err);
    if (st) return st;
    if (s < 0 || s > UINT32_MAX)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s = %lld is out of range (0..%u)", what,
                       (long long)s, UINT32_MAX);
    *out = (uint32_t)s;
    return LM_OK;
}

lm_status lm_gguf_value_f64(const lm_gguf_value *v, const char *what, double *out, lm_err *err) {
    if (v->type == LM_GGUF_F32) {
        uint32_t b = rd_u32(v->data);
        float f;
        memcpy(&f, &b, 4);
        *out = f;
        return LM_OK;
    }
    if (v->type == LM_GGUF_F64) {
        uint64_t b = rd_u64(v->data);
        memcpy(out, &b, 8);
        return LM_OK;
    }
    int64_t s;
    if (lm_gguf_value_i64(v, what, &s, NULL) == LM_OK) {
        *out = (double)s;
        return LM_OK;
    }
    return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s is a %s, expected a number", what,
                   lm_gguf_type_name(v->type));
}

lm_status lm_gguf_value_bool(const lm_gguf_value *v, const char *what, bool *out, lm_err *err) {
    if (v->type != LM_GGUF_BOOL)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s is a %s, expected a bool", what,
                       lm_gguf_type_name(v->type));
    *out = v->data[0] != 0;
    return LM_OK;
}

lm_status lm_gguf_value_str(const lm_gguf_value *v, const char *what, const char **s, uint64_t *len,
                            lm_err *err) {
    if (v->type != LM_GGUF_STRING)
        return lm_fail(err, LM_ERR_MODEL_FORMAT, "%s is a %s, expected a string", what,
                       lm_gguf_type_name(v->type));
    *s = (const char *)v->data;
    if (len) *len = v->size;
    return LM_OK;
}

static const lm_gguf_value *get_or_fail(const lm_gguf *g, const char *key, lm_err *err) {
    const lm_gguf_value *v = lm_gguf_get(g, key);
    if (!v) lm_fail(err, LM_ERR_NOT_FOUND, "key %s is missing", key);
    return v;
}

lm_status lm_gguf_get_u32(const lm_gguf *g, const char *key, uint32_t *out, lm_err *err) {
    const lm_gguf_value *v = get_or_fail(g, key, err);
    return v ? lm_gguf_value_u32(v, key, out, err) : LM_ERR_NOT_FOUND;
}
lm_status lm_gguf_get_i64(const lm_gguf *g, const char *key, int64_t *out, lm_err *err) {
    const lm_gguf_value *v = get_or_fail(g, key, err);
    return v ? lm_gguf_value_i64(v, key, out, err) : LM_ERR_NOT_FOUND;
}
lm_status lm_gguf_get_f32(const lm_gguf *g, const char *key, float *out, lm_err *err) {
    const lm_gguf_value *v = get_or_fail(g, key, err);
    if (!v) return LM_ERR_NOT_FOUND;
    double d;
    lm_status st = lm_gguf_value_f64(v, key, &d, err);
    if (!st) *out = (float)d;
    return st;
}
lm_status lm_gguf_get_bool(const lm_gguf *g, const char *key, bool *out, lm_err *err) {
    const lm_gguf_value *v = get_or_fail(g, key, err);
    return v ? lm_gguf_value_bool(v, key, out, err) : LM_ERR_NOT_FOUND;
}
lm_status lm_gguf_get_str(const lm_gguf *g, const char *key, const char **s, uint64_t *len,
                          lm_err *err) {
    const lm_gguf_value *v = get_or_fail(g, key, err);
    return v ? lm_gguf_value_str(v, key, s, len, err) : LM_ERR_NOT_FOUND;
}

lm_status lm_gguf_get_strdup(const lm_gguf *g, const char *key, char **out, lm_err *err) {
    *out = NULL;
    const char *s;
    uint64_t n;
    lm_status st = lm_gguf_get_str(g, key, &s, &n, err);
    if (st) return st;
    char *d = malloc(n + 1);
    if (!d)
        return lm_fail(err, LM_ERR_NO_MEMORY, "%s: cannot allocate %llu bytes", key,
                       (unsigned long long)n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    *out = d;
    return LM_OK;
}

/* ---- arrays ------------------------------------------------------------- */

void lm_gguf_iter_init(lm_gguf_iter *it, const lm_gguf_value *arr) {
    it->arr = arr;
    it->index = 0;
    it->p = arr->type == LM_GGUF_ARRAY ? arr->data : NULL;
    it->end = it->p ? arr->data + arr->size : NULL;
}

bool lm_gguf_iter_next(lm_gguf_iter *it, lm_gguf_value *out) {
    if (!it->p || it->index >= it->arr->count) return false;
    char why[8];
    /* The walk re-checks bounds, so a value tampered with after parsing still
     * cannot lead the iterator outside the array. */
    if (!walk_value(it->p, it->p, it->end, it->arr->elem_type, 1, out, &it->p, why, sizeof why))
        return false;
    it->index++;
    return true;
}

lm_status lm_gguf_array_at(const lm_gguf_value *arr, uint64_t i, lm_gguf_value *out, lm_err *err) {
    if (arr->type != LM_GGUF_ARRAY)
        return lm_fail(err, LM_ERR_INVALID_ARG, "value is a %s, not an array",
                       lm_gguf_type_name(arr->type));
    if (i >= arr->count)
        return lm_fail(err, LM_ERR_INVALID_ARG, "array index %llu is out of range (%llu elements)",
                       (unsigned long long)i, (unsigned long long)arr->count);
    uint32_t sz = lm_gguf_type_size(arr->elem_type);
    if (sz) {
        memset(out, 0, sizeof *out);
        out->type = arr->elem_type;
        out->data = arr->data + i * sz;
        out->size = sz;
        return LM_OK;
    }
    lm_gguf_iter it;
    lm_gguf_iter_init(&it, arr);
    while (lm_gguf_iter_next(&it, out))
        if (it.index == i + 1) return LM_OK;
    return lm_fail(err, LM_ERR_MODEL_FORMAT, "array element %llu is malformed",
                   (unsigned long long)i);
}
