/* gguf_write.c — building GGUF v3 files: metadata and tensor table are encoded
 * in memory, tensor bytes are streamed from the caller's buffers. */
#include "format/gguf_write.h"
#include "base/checked.h"
#include "base/err.h"
#include "format/ggml_types.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

typedef struct wtensor {
    const void *data;
    uint64_t nbytes, offset;
} wtensor;

struct lm_gguf_writer {
    uint32_t version, alignment;
    uint64_t n_kv, n_tensors, data_size;
    bytes meta, infos;
    wtensor *tensors;
    size_t tensors_cap;
    lm_err err; /* first failure, sticky */
};

static bool grow(lm_gguf_writer *w, bytes *b, size_t more) {
    if (w->err.code) return false;
    size_t need;
    if (!lm_add_size(b->n, more, &need)) {
        lm_fail(&w->err, LM_ERR_NO_MEMORY, "GGUF writer: size overflow");
        return false;
    }
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        lm_fail(&w->err, LM_ERR_NO_MEMORY, "GGUF writer: out of memory (%zu bytes)", cap);
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void put(lm_gguf_writer *w, bytes *b, const void *p, size_t n) {
    if (!grow(w, b, n)) return;
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put_u32(lm_gguf_writer *w, bytes *b, uint32_t v) {
    uint8_t q[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, q, 4);
}
static void put_u64(lm_gguf_writer *w, bytes *b, uint64_t v) {
    put_u32(w, b, (uint32_t)v);
    put_u32(w, b, (uint32_t)(v >> 32));
}
static void put_str(lm_gguf_writer *w, bytes *b, const char *s, size_t n) {
    put_u64(w, b, n);
    put(w, b, s, n);
}
/* Little-endian encoding of one fixed-size value given in host order. */
static void put_scalar(lm_gguf_writer *w, bytes *b, lm_gguf_type t, const void *v) {
    uint32_t sz = lm_gguf_type_size(t);
    uint8_t q[8];
    uint64_t x = 0;
    switch (sz) {
    case 1:
        x = *(const uint8_t *)v;
        break;
    case 2:
        x = *(const uint16_t *)v;
        break;
    case 4:
        x = *(const uint32_t *)v;
        break;
    case 8:
        x = *(const uint64_t *)v;
        break;
    default:
        return;
    }
    for (uint32_t i = 0; i < sz; i++)
        q[i] = (uint8_t)(x >> (8 * i));
    put(w, b, q, sz);
}

lm_gguf_writer *lm_gguf_writer_new(void) {
    lm_gguf_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->version = 3;
        w->alignment = LM_GGUF_DEFAULT_ALIGNMENT;
    }
    return w;
}

void lm_gguf_writer_free(lm_gguf_writer *w) {
    if (!w) return;
    free(w->meta.p);
    free(w->infos.p);
    free(w->tensors);
    free(w);
}

void lm_gguf_writer_set_version(lm_gguf_writer *w, uint32_t version) {
    w->version = version;
}

static lm_status begin_kv(lm_gguf_writer *w, const char *key, uint32_t type) {
    put_str(w, &w->meta, key, strlen(key));
    put_u32(w, &w->meta, type);
    w->n_kv++;
    return w->err.code;
}

static lm_status add_scalar(lm_gguf_writer *w, const char *key, lm_gguf_type t, const void *v) {
    if (begin_kv(w, key, t)) return w->err.code;
    put_scalar(w, &w->meta, t, v);
    return w->err.code;
}

lm_status lm_gguf_writer_set_alignment(lm_gguf_writer *w, uint32_t a) {
    if (w->err.code) return w->err.code;
    if (w->n_tensors)
        return lm_fail(&w->err, LM_ERR_INVALID_ARG, "GGUF writer: alignment set after tensors");
    w->alignment = a ? a : 1;
    if (a != LM_GGUF_DEFAULT_ALIGNMENT) return add_scalar(w, "general.alignment", LM_GGUF_U32, &a);
    return LM_OK;
}

#define SCALAR_ADDER(NAME, CTYPE, TAG)                                                             \
    lm_status lm_gguf_writer_add_##NAME(lm_gguf_writer *w, const char *key, CTYPE v) {             \
        return add_scalar(w, key, TAG, &v);                                                        \
    }
SCALAR_ADDER(u8, uint8_t, LM_GGUF_U8)
SCALAR_ADDER(i8, int8_t, LM_GGUF_I8)
SCALAR_ADDER(u16, uint16_t, LM_GGUF_U16)
SCALAR_ADDER(i16, int16_t, LM_GGUF_I16)
SCALAR_ADDER(u32, uint32_t, LM_GGUF_U32)
SCALAR_ADDER(i32, int32_t, LM_GGUF_I32)
SCALAR_ADDER(u64, uint64_t, LM_GGUF_U64)
SCALAR_ADDER(i64, int64_t, LM_GGUF_I64)
SCALAR_ADDER(f32, float, LM_GGUF_F32)
SCALAR_ADDER(f64, double, LM_GGUF_F64)
#undef SCALAR_ADDER

lm_status lm_gguf_writer_add_bool(lm_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return add_scalar(w, key, LM_GGUF_BOOL, &b);
}

lm_status lm_gguf_writer_add_strn(lm_gguf_writer *w, const char *key, const char *v, size_t n) {
    if (begin_kv(w, key, LM_GGUF_STRING)) return w->err.code;
    put_str(w, &w->meta, v, n);
    return w->err.code;
}

lm_status lm_gguf_writer_add_str(lm_gguf_writer *w, const char *key, const char *v) {
    return lm_gguf_writer_add_strn(w, key, v, strlen(v));
}

lm_status lm_gguf_writer_add_arr(lm_gguf_writer *w, const char *key, lm_gguf_type elem,
                                 const void *values, uint64_t count) {
    uint32_t sz = lm_gguf_type_size(elem);
    if (!sz)
        return lm_fail(&w->err, LM_ERR_INVALID_ARG, "GGUF writer: %s arrays need their own call",
                       lm_gguf_type_name(elem));
    if (begin_kv(w, key, LM_GGUF_ARRAY)) return w->err.code;
    put_u32(w, &w->meta, elem);
    put_u64(w, &w->meta, count);
    for (uint64_t i = 0; i < count && !w->err.code; i++)
        put_scalar(w, &w->meta, elem, (const uint8_t *)values + i * sz);
    return w->err.code;
}

lm_status lm_gguf_writer_add_arr_str(lm_gguf_writer *w, const char *key, const char *const *strs,
                                     const uint32_t *lens, uint64_t count) {
    if (begin_kv(w, key, LM_GGUF_ARRAY)) return w->err.code;
    put_u32(w, &w->meta, LM_GGUF_STRING);
    put_u64(w, &w->meta, count);
    for (uint64_t i = 0; i < count && !w->err.code; i++)
        put_str(w, &w->meta, strs[i], lens ? lens[i] : strlen(strs[i]));
    return w->err.code;
}

lm_status lm_gguf_writer_add_raw(lm_gguf_writer *w, const char *key, uint32_t type,
                                 const void *bytes_, size_t n) {
    if (begin_kv(w, key, type)) return w->err.code;
    put(w, &w->meta, bytes_, n);
    return w->err.code;
}

lm_status lm_gguf_writer_add_tensor(lm_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const uint64_t *ne, const void *data) {
    if (w->err.code) return w->err.code;
    if (n_dims == 0 || n_dims > LM_GGUF_MAX_DIMS)
        return lm_fail(&w->err, LM_ERR_INVALID_ARG, "GGUF writer: tensor %s has %u dims", name,
                       n_dims);
    uint64_t nbytes = 0, rows = 1;
    for (uint32_t d = 1; d < n_dims; d++)
        if (!lm_mul_u64(rows, ne[d], &rows))
            return lm_fail(&w->err, LM_ERR_INVALID_ARG, "GGUF writer: tensor %s is too large",
                           name);
    if (!lm_type_row_bytes(type, ne[0], &nbytes) || !lm_mul_u64(nbytes, rows, &nbytes))
        return lm_fail(&w->err, LM_ERR_INVALID_ARG,
                       "GGUF writer: tensor %s: bad type %u or row length %llu", name, type,
                       (unsigned long long)ne[0]);
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? w->tensors_cap * 2 : 16;
        wtensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return lm_fail(&w->err, LM_ERR_NO_MEMORY, "GGUF writer: out of memory");
        w->tensors = t;
        w->tensors_cap = cap;
    }
    uint64_t off = w->data_size, end;
    if (off % w->alignment) off += w->alignment - off % w->alignment;
    if (!lm_add_u64(off, nbytes, &end))
        return lm_fail(&w->err, LM_ERR_INVALID_ARG, "GGUF writer: data size overflows");
    w->tensors[w->n_tensors++] = (wtensor){data, nbytes, off};
    w->data_size = end;
    put_str(w, &w->infos, name, strlen(name));
    put_u32(w, &w->infos, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        put_u64(w, &w->infos, ne[d]);
    put_u32(w, &w->infos, type);
    put_u64(w, &w->infos, off);
    return w->err.code;
}

/* Emits the file through sink; sink returns false on a write error. */
typedef bool (*sink_fn)(void *ctx, const void *p, size_t n);

static bool emit_zeros(sink_fn sink, void *ctx, uint64_t n) {
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (!sink(ctx, zeros, k)) return false;
        n -= k;
    }
    return true;
}

static bool emit(lm_gguf_writer *w, sink_fn sink, void *ctx) {
    bytes h = {0};
    put(w, &h, "GGUF", 4);
    put_u32(w, &h, w->version);
    put_u64(w, &h, w->n_tensors);
    put_u64(w, &h, w->n_kv);
    bool ok = !w->err.code && sink(ctx, h.p, h.n) && sink(ctx, w->meta.p, w->meta.n) &&
              sink(ctx, w->infos.p, w->infos.n);
    uint64_t pos = h.n + w->meta.n + w->infos.n;
    free(h.p);
    if (ok && w->n_tensors && pos % w->alignment) {
        ok = emit_zeros(sink, ctx, w->alignment - pos % w->alignment);
    }
    uint64_t at = 0;
    for (uint64_t i = 0; ok && i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        ok = emit_zeros(sink, ctx, t->offset - at);
        if (ok) ok = t->data ? sink(ctx, t->data, t->nbytes) : emit_zeros(sink, ctx, t->nbytes);
        at = t->offset + t->nbytes;
    }
    return ok;
}

static bool sink_count(void *ctx, const void *p, size_t n) {
    (void)p;
    *(uint64_t *)ctx += n;
    return true;
}

typedef struct mem_sink {
    uint8_t *p;
    size_t n;
} mem_sink;

static bool sink_mem(void *ctx, const void *p, size_t n) {
    mem_sink *m = ctx;
    if (n) memcpy(m->p + m->n, p, n);
    m->n += n;
    return true;
}

lm_status lm_gguf_writer_to_buffer(lm_gguf_writer *w, uint8_t **buf, size_t *len, lm_err *err) {
    *buf = NULL;
    *len = 0;
    uint64_t total = 0;
    if (!emit(w, sink_count, &total) || w->err.code)
        return lm_fail(err, w->err.code, "%s", w->err.msg);
    if (total > SIZE_MAX) return lm_fail(err, LM_ERR_NO_MEMORY, "GGUF writer: file too large");
    mem_sink m = {malloc(total ? (size_t)total : 1), 0};
    if (!m.p)
        return lm_fail(err, LM_ERR_NO_MEMORY, "GGUF writer: cannot allocate %llu bytes",
                       (unsigned long long)total);
    emit(w, sink_mem, &m);
    *buf = m.p;
    *len = m.n;
    return LM_OK;
}

static bool sink_file(void *ctx, const void *p, size_t n) {
    return n == 0 || fwrite(p, 1, n, (FILE *)ctx) == n;
}

lm_status lm_gguf_writer_write_file(lm_gguf_writer *w, const char *path, lm_err *err) {
    if (w->err.code) return lm_fail(err, w->err.code, "%s", w->err.msg);
    FILE *f = fopen(path, "wb");
    if (!f) return lm_fail(err, LM_ERR_IO, "%s: %s", path, strerror(errno));
    bool ok = emit(w, sink_file, f);
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        remove(path);
        return lm_fail(err, w->err.code ? w->err.code : LM_ERR_IO, "%s: write failed: %s", path,
                       w->err.code ? w->err.msg : strerror(e));
    }
    return LM_OK;
}
