/* random_model.c — random-weight models of named real shapes, built fast in
 * memory (rows copied from a small pool of quantised random rows) and
 * optionally written as GGUF. */
#include "runtime/random_model.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/threadpool.h"
#include "base/bigalloc.h"
#include "base/err.h"
#include "format/gguf_write.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct shape {
    const char *name, *arch_name;
    lm_arch arch;
    uint32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
    float eps, theta;
    bool tied, qkv_bias;
    float rope_factor; /* llama3 rope scaling: 0 = none */
    float low_freq, high_freq;
    uint32_t orig_ctx;
} shape;

static const shape k_shapes[] = {
    {"tinyllama-1.1b", "llama", LM_ARCH_LLAMA, 32000, 2048, 22, 32, 4, 64, 5632, 2048, 1e-5f,
     10000.0f, false, false, 0, 0, 0, 0},
    {"llama3.2-1b", "llama", LM_ARCH_LLAMA, 128256, 2048, 16, 32, 8, 64, 8192, 131072, 1e-5f,
     500000.0f, true, false, 32.0f, 1.0f, 4.0f, 8192},
    {"qwen2.5-0.5b", "qwen2", LM_ARCH_QWEN2, 151936, 896, 24, 14, 2, 64, 4864, 32768, 1e-6f,
     1000000.0f, true, true, 0, 0, 0, 0},
    {"llama3-8b", "llama", LM_ARCH_LLAMA, 128256, 4096, 32, 32, 8, 128, 14336, 8192, 1e-5f,
     500000.0f, false, false, 0, 0, 0, 0},
};
#define N_SHAPES (sizeof k_shapes / sizeof k_shapes[0])
#define POOL_ROWS 64
#define MAX_POOLS 16

const char *lm_random_shape_names(void) {
    return "tinyllama-1.1b, llama3.2-1b, qwen2.5-0.5b, llama3-8b";
}

/* What the description's priv holds. */
typedef struct random_priv {
    uint8_t *data; /* all tensor bytes */
    float *freq_factors;
} random_priv;

static void priv_free(void *p) {
    random_priv *r = p;
    if (!r) return;
    lm_big_free(r->data);
    free(r->freq_factors);
    free(r);
}

void lm_random_model_free(lm_model_desc *m) {
    if (!m) return;
    if (m->priv_free) m->priv_free(m->priv);
    free(m->tensors);
    free(m->layers);
    free(m);
}

/* ---- weight types ---- */

typedef enum role { R_EMBD, R_OUT, R_ATTN_V, R_FFN_DOWN, R_OTHER } role;

static uint32_t pick_type(const char *type_name, int base, role r, uint64_t n_in) {
    bool mixed = base < 0; /* Q4_K_M */
    uint32_t t;
    if (mixed) {
        t = (r == R_OUT || r == R_ATTN_V || r == R_FFN_DOWN) ? LM_TYPE_Q6_K : LM_TYPE_Q4_K;
    } else {
        t = (uint32_t)base;
        /* llama-quantize keeps the output matrix at Q6_K in 4/5-bit files */
        bool small = t == LM_TYPE_Q4_0 || t == LM_TYPE_Q4_1 || t == LM_TYPE_Q5_0 ||
                     t == LM_TYPE_Q5_1 || t == LM_TYPE_Q4_K || t == LM_TYPE_Q5_K;
        if (small && r == R_OUT) t = LM_TYPE_Q6_K;
    }
    (void)type_name;
    const lm_type_info *ti = lm_type_get(t);
    if (ti && n_in % ti->block_elems != 0) {
        /* K-quants need rows of 256: fall back to the 32-block type of similar size */
        if (t == LM_TYPE_Q4_K || t == LM_TYPE_Q5_K)
            t = LM_TYPE_Q5_0;
        else
            t = LM_TYPE_Q8_0;
    }
    return t;
}

/* ---- cheap RNG ---- */

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float unit(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ull;
    return (float)((int64_t)mix64(*s) >> 40) * (1.0f / 8388608.0f);
}

/* ---- building ---- */

static const lm_tensor *find(const lm_model_desc *m, const char *name) {
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

typedef struct pool {
    uint32_t type;
    uint64_t n_in, row_bytes;
    uint8_t *rows; /* POOL_ROWS rows */
} pool;

typedef struct builder {
    lm_model_desc *m;
    pool pools[MAX_POOLS];
    int n_pools;
    uint64_t seed;
    float *scratch;
} builder;

static pool *get_pool(builder *b, uint32_t type, uint64_t n_in, float scale, lm_err *err) {
    for (int i = 0; i < b->n_pools; i++)
        if (b->pools[i].type == type && b->pools[i].n_in == n_in) return &b->pools[i];
    if (b->n_pools == MAX_POOLS) {
        lm_fail(err, LM_ERR_INTERNAL, "random model: too many row pools");
        return NULL;
    }
    pool *p = &b->pools[b->n_pools];
    uint64_t rb;
    if (!lm_type_row_bytes(type, n_in, &rb)) {
        lm_fail(err, LM_ERR_UNSUPPORTED, "random model: %s rows of %llu", lm_type_name(type),
                (unsigned long long)n_in);
        return NULL;
    }
    p->rows = malloc(rb * POOL_ROWS);
    float *x = malloc(n_in * sizeof(float));
    if (!p->rows || !x) {
        free(p->rows);
        free(x);
        lm_fail(err, LM_ERR_NO_MEMORY, "random model: row pool");
        return NULL;
    }
    uint64_t s = b->seed ^ (type * 0x1000193ull + n_in);
    for (int r = 0; r < POOL_ROWS; r++) {
        for (uint64_t i = 0; i < n_in; i++)
            x[i] = unit(&s) * scale;
        if (!lm_cpu_quantize_row(type, x, p->rows + rb * (uint64_t)r, (int64_t)n_in)) {
            free(p->rows);
            free(x);
            lm_fail(err, LM_ERR_UNSUPPORTED, "random model: cannot quantise to %s",
                    lm_type_name(type));
            return NULL;
        }
    }
    free(x);
    p->type = type;
    p->n_in = n_in;
    p->row_bytes = rb;
    b->n_pools++;
    return p;
}

typedef struct fill_job {
    const pool *p;
    uint8_t *dst;
    uint64_t n_rows, salt;
} fill_job;

static void fill_task(void *ctx, int ith, int nth) {
    const fill_job *j = ctx;
    uint64_t r0 = j->n_rows * (uint64_t)ith / (uint64_t)nth;
    uint64_t r1 = j->n_rows * (uint64_t)(ith + 1) / (uint64_t)nth;
    for (uint64_t r = r0; r < r1; r++) {
        uint64_t pick = mix64(j->salt + r) % POOL_ROWS;
        memcpy(j->dst + r * j->p->row_bytes, j->p->rows + pick * j->p->row_bytes, j->p->row_bytes);
    }
}

typedef struct tspec {
    char name[96];
    uint32_t type;
    uint64_t ne0, ne1;
    role r;
    bool vec; /* F32 vector */
    float scale;
} tspec;

static void add_spec(tspec *t, int *n, const char *name, uint32_t type, uint64_t ne0, uint64_t ne1,
                     role r, bool vec, float scale) {
    tspec *s = &t[(*n)++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->type = vec ? LM_TYPE_F32 : type;
    s->ne0 = ne0;
    s->ne1 = ne1;
    s->r = r;
    s->vec = vec;
    s->scale = scale;
}

/* llama3 rope scaling: wavelengths shorter than orig/high keep their
 * frequency, longer than orig/low are divided by factor, in between blend. */
static void llama3_factors(const shape *sh, float *f) {
    double lo_wave = sh->orig_ctx / sh->low_freq, hi_wave = sh->orig_ctx / sh->high_freq;
    for (uint32_t i = 0; i < sh->head_dim / 2; i++) {
        double freq = pow(sh->theta, -2.0 * i / sh->head_dim), wave = 2 * M_PI / freq;
        if (wave < hi_wave) {
            f[i] = 1.0f;
        } else if (wave > lo_wave) {
            f[i] = sh->rope_factor;
        } else {
            double smooth = (sh->orig_ctx / wave - sh->low_freq) / (sh->high_freq - sh->low_freq);
            double nf = (1 - smooth) * freq / sh->rope_factor + smooth * freq;
            f[i] = (float)(freq / nf);
        }
    }
}

lm_status lm_random_model_create(const char *shape_name, const char *type_name, uint64_t seed,
                                 int n_threads, lm_model_desc **out, lm_err *err) {
    return lm_random_model_create_layers(shape_name, type_name, 0, seed, n_threads, out, err);
}

lm_status lm_random_model_create_layers(const char *shape_name, const char *type_name, int n_layer,
                                        uint64_t seed, int n_threads, lm_model_desc **out,
                                        lm_err *err) {
    if (!shape_name || !type_name || !out || n_layer < 0)
        return lm_fail(err, LM_ERR_INVALID_ARG, "random model: missing shape or type");
    *out = NULL;
    shape s;
    const shape *sh = NULL;
    for (size_t i = 0; i < N_SHAPES; i++)
        if (!strcmp(k_shapes[i].name, shape_name)) s = k_shapes[i], sh = &s;
    if (!sh)
        return lm_fail(err, LM_ERR_NOT_FOUND, "random model: unknown shape '%s' (known: %s)",
                       shape_name, lm_random_shape_names());
    if (n_layer > 0 && (uint32_t)n_layer < s.n_layer) s.n_layer = (uint32_t)n_layer;
    int base = -1;
    if (strcasecmp(type_name, "Q4_K_M") != 0) {
        base = lm_type_from_name(type_name);
        if (base < 0 || !lm_cpu_type_supported((uint32_t)base))
            return lm_fail(err, LM_ERR_UNSUPPORTED,
                           "random model: type '%s' is not a weight type the CPU engine computes",
                           type_name);
    }

    /* Tensor list in GGUF order. */
    uint32_t q = sh->n_head * sh->head_dim, kv = sh->n_head_kv * sh->head_dim;
    int max_t = 4 + (int)sh->n_layer * 12, nt = 0;
    tspec *ts = calloc((size_t)max_t, sizeof *ts);
    if (!ts) return lm_fail(err, LM_ERR_NO_MEMORY, "random model: tensor list");
    float ws = 1.7320508f; /* uniform(-a, a) with a = sqrt(3/n_in): unit-variance outputs */
    add_spec(ts, &nt, "token_embd.weight",
             pick_type(type_name, base, sh->tied ? R_OUT : R_EMBD, sh->n_embd), sh->n_embd,
             sh->n_vocab, R_EMBD, false, 1.0f);
    if (sh->rope_factor > 0)
        add_spec(ts, &nt, "rope_freqs.weight", 0, sh->head_dim / 2, 1, R_OTHER, true, 0);
    add_spec(ts, &nt, "output_norm.weight", 0, sh->n_embd, 1, R_OTHER, true, 0);
    if (!sh->tied)
        add_spec(ts, &nt, "output.weight", pick_type(type_name, base, R_OUT, sh->n_embd),
                 sh->n_embd, sh->n_vocab, R_OUT, false, ws / sqrtf((float)sh->n_embd));
    for (uint32_t l = 0; l < sh->n_layer; l++) {
        char n[96];
#define SPEC(suffix, role_, ne0, ne1, vec)                                                         \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%u.%s", l, suffix);                                             \
        add_spec(ts, &nt, n, pick_type(type_name, base, role_, ne0), ne0, ne1, role_, vec,         \
                 ws / sqrtf((float)(ne0)));                                                        \
    } while (0)
        SPEC("attn_norm.weight", R_OTHER, sh->n_embd, 1, true);
        SPEC("attn_q.weight", R_OTHER, sh->n_embd, q, false);
        SPEC("attn_k.weight", R_OTHER, sh->n_embd, kv, false);
        SPEC("attn_v.weight", R_ATTN_V, sh->n_embd, kv, false);
        if (sh->qkv_bias) {
            SPEC("attn_q.bias", R_OTHER, q, 1, true);
            SPEC("attn_k.bias", R_OTHER, kv, 1, true);
            SPEC("attn_v.bias", R_OTHER, kv, 1, true);
        }
        SPEC("attn_output.weight", R_OTHER, q, sh->n_embd, false);
        SPEC("ffn_norm.weight", R_OTHER, sh->n_embd, 1, true);
        SPEC("ffn_gate.weight", R_OTHER, sh->n_embd, sh->n_ff, false);
        SPEC("ffn_up.weight", R_OTHER, sh->n_embd, sh->n_ff, false);
        SPEC("ffn_down.weight", R_FFN_DOWN, sh->n_ff, sh->n_embd, false);
#undef SPEC
    }

    lm_model_desc *m = calloc(1, sizeof *m);
    random_priv *rp = calloc(1, sizeof *rp);
    builder b = {.m = m, .seed = seed};
    lm_threadpool *tp = NULL;
    lm_status st = LM_OK;
    if (!m || !rp) {
        st = lm_fail(err, LM_ERR_NO_MEMORY, "random model: description");
        goto fail;
    }
    m->priv = rp;
    m->priv_free = priv_free;
    m->tensors = calloc((size_t)nt, sizeof *m->tensors);
    m->layers = calloc(sh->n_layer, sizeof *m->layers);
    if (!m->tensors || !m->layers) {
        st = lm_fail(err, LM_ERR_NO_MEMORY, "random model: tensor table");
        goto fail;
    }
    uint64_t total = 0;
    uint64_t *offs = calloc((size_t)nt, sizeof *offs);
    if (!offs) {
        st = lm_fail(err, LM_ERR_NO_MEMORY, "random model: offsets");
        goto fail;
    }
    for (int i = 0; i < nt; i++) {
        uint64_t rb = 0;
        if (!lm_type_row_bytes(ts[i].type, ts[i].ne0, &rb)) {
            free(offs);
            st = lm_fail(err, LM_ERR_UNSUPPORTED, "random model: %s cannot hold rows of %llu",
                         lm_type_name(ts[i].type), (unsigned long long)ts[i].ne0);
            goto fail;
        }
        offs[i] = total;
        total += (rb * ts[i].ne1 + 63) & ~63ull; /* 64-byte aligned tensors */
    }
    rp->data = lm_big_alloc(total);
    if (!rp->data) {
        free(offs);
        st = lm_fail(err, LM_ERR_NO_MEMORY, "random model: %.2f GiB of weights",
                     total / 1073741824.0);
        goto fail;
    }
    tp = lm_threadpool_create(n_threads > 0 ? n_threads : lm_cpu_physical_cores());
    if (!tp) {
        free(offs);
        st = lm_fail(err, LM_ERR_NO_MEMORY, "random model: threads");
        goto fail;
    }
    for (int i = 0; i < nt; i++) {
        lm_tensor *t = &m->tensors[i];
        snprintf(t->name, sizeof t->name, "%s", ts[i].name);
        t->type = ts[i].type;
        t->n_dims = ts[i].ne1 > 1 ? 2 : 1;
        t->ne[0] = ts[i].ne0;
        t->ne[1] = ts[i].ne1;
        t->ne[2] = t->ne[3] = 1;
        lm_type_row_bytes(t->type, t->ne[0], &t->nbytes);
        t->nbytes *= t->ne[1];
        t->data = rp->data + offs[i];
        float *v = (float *)(rp->data + offs[i]);
        if (!strcmp(t->name, "rope_freqs.weight")) {
            llama3_factors(sh, v);
        } else if (ts[i].vec) {
            /* norms near 1, biases small */
            uint64_t s = seed + (uint64_t)i * 7919;
            bool bias = strstr(t->name, ".bias") != NULL;
            for (uint64_t k = 0; k < t->ne[0]; k++)
                v[k] = bias ? 0.1f * unit(&s) : 1.0f + 0.1f * unit(&s);
        } else {
            pool *p = get_pool(&b, t->type, t->ne[0], ts[i].scale, err);
            if (!p) {
                free(offs);
                st = err ? err->code : LM_ERR_INTERNAL;
                goto fail;
            }
            fill_job j = {p, rp->data + offs[i], t->ne[1], mix64(seed + (uint64_t)i)};
            lm_threadpool_run(tp, fill_task, &j);
        }
        m->weight_bytes += t->nbytes;
    }
    free(offs);
    m->n_tensors = (uint32_t)nt;

    /* Hyper-parameters and the tensor groups engines read. */
    lm_hparams *hp = &m->hp;
    hp->arch = sh->arch;
    snprintf(hp->arch_name, sizeof hp->arch_name, "%s", sh->arch_name);
    hp->n_vocab = sh->n_vocab;
    hp->n_embd = sh->n_embd;
    hp->n_layer = sh->n_layer;
    hp->n_head = sh->n_head;
    hp->n_head_kv = sh->n_head_kv;
    hp->head_dim = sh->head_dim;
    hp->n_ff = sh->n_ff;
    hp->n_ctx_train = sh->n_ctx;
    hp->norm_eps = sh->eps;
    hp->rope_theta = sh->theta;
    hp->rope_layout = sh->arch == LM_ARCH_LLAMA ? LM_ROPE_ADJACENT : LM_ROPE_HALF;
    hp->tied_embeddings = sh->tied;
    hp->qkv_bias = sh->qkv_bias;
    const lm_tensor *rf = NULL;
    for (int i = 0; i < nt; i++)
        if (!strcmp(m->tensors[i].name, "rope_freqs.weight")) rf = &m->tensors[i];
    hp->rope_freq_factors = rf ? rf->data : NULL;
    snprintf(m->path, sizeof m->path, "random:%s", sh->name);
    snprintf(m->name, sizeof m->name, "random %s %s", sh->name, type_name);
    m->tok_embd = find(m, "token_embd.weight");
    m->output_norm = find(m, "output_norm.weight");
    m->output = sh->tied ? m->tok_embd : find(m, "output.weight");
    for (uint32_t l = 0; l < sh->n_layer; l++) {
        lm_layer *L = &m->layers[l];
        char n[96];
#define FIND(field, suffix)                                                                        \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%u.%s", l, suffix);                                             \
        L->field = find(m, n);                                                                     \
    } while (0)
        FIND(attn_norm, "attn_norm.weight");
        FIND(wq, "attn_q.weight");
        FIND(wk, "attn_k.weight");
        FIND(wv, "attn_v.weight");
        FIND(wo, "attn_output.weight");
        FIND(bq, "attn_q.bias");
        FIND(bk, "attn_k.bias");
        FIND(bv, "attn_v.bias");
        FIND(ffn_norm, "ffn_norm.weight");
        FIND(ffn_gate, "ffn_gate.weight");
        FIND(ffn_up, "ffn_up.weight");
        FIND(ffn_down, "ffn_down.weight");
#undef FIND
    }
    for (int i = 0; i < b.n_pools; i++)
        free(b.pools[i].rows);
    lm_threadpool_free(tp);
    free(ts);
    *out = m;
    return LM_OK;
fail:
    for (int i = 0; i < b.n_pools; i++)
        free(b.pools[i].rows);
    lm_threadpool_free(tp);
    free(ts);
    if (m) {
        lm_random_model_free(m);
    } else {
        free(rp);
    }
    return st;
}

/* ---- saving ---- */

static lm_status add_vocab(lm_gguf_writer *w, uint32_t n) {
    char **tok = calloc(n, sizeof *tok);
    float *scores = calloc(n, sizeof *scores);
    int32_t *types = calloc(n, sizeof *types);
    lm_status st = LM_ERR_NO_MEMORY;
    if (!tok || !scores || !types) goto done;
    for (uint32_t i = 0; i < n; i++) {
        char buf[32];
        if (i == 0)
            snprintf(buf, sizeof buf, "<unk>");
        else if (i == 1)
            snprintf(buf, sizeof buf, "<s>");
        else if (i == 2)
            snprintf(buf, sizeof buf, "</s>");
        else if (i < 3 + 256)
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
        else
            snprintf(buf, sizeof buf, "\xe2\x96\x81t%u", i); /* "▁t123" */
        tok[i] = strdup(buf);
        if (!tok[i]) goto done;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 3 + 256 ? 6 : 1;
        scores[i] = -(float)i;
    }
    lm_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
    lm_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, n);
    lm_gguf_writer_add_arr(w, "tokenizer.ggml.scores", LM_GGUF_F32, scores, n);
    lm_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", LM_GGUF_I32, types, n);
    lm_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    lm_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    st = lm_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
done:
    if (tok)
        for (uint32_t i = 0; i < n; i++)
            free(tok[i]);
    free(tok);
    free(scores);
    free(types);
    return st;
}

lm_status lm_random_model_save(const lm_model_desc *m, const char *path, lm_err *err) {
    if (!m || !path) return lm_fail(err, LM_ERR_INVALID_ARG, "save: no model or path");
    lm_gguf_writer *w = lm_gguf_writer_new();
    if (!w) return lm_fail(err, LM_ERR_NO_MEMORY, "save: writer");
    const lm_hparams *hp = &m->hp;
    char k[96];
    const char *a = hp->arch_name;
    lm_gguf_writer_add_str(w, "general.architecture", a);
    lm_gguf_writer_add_str(w, "general.name", m->name);
#define U32(suffix, v)                                                                             \
    do {                                                                                           \
        snprintf(k, sizeof k, "%s.%s", a, suffix);                                                 \
        lm_gguf_writer_add_u32(w, k, v);                                                           \
    } while (0)
    U32("context_length", hp->n_ctx_train);
    U32("embedding_length", hp->n_embd);
    U32("block_count", hp->n_layer);
    U32("feed_forward_length", hp->n_ff);
    U32("attention.head_count", hp->n_head);
    U32("attention.head_count_kv", hp->n_head_kv);
    U32("attention.key_length", hp->head_dim);
    U32("attention.value_length", hp->head_dim);
    U32("rope.dimension_count", hp->head_dim);
    U32("vocab_size", hp->n_vocab);
#undef U32
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", a);
    lm_gguf_writer_add_f32(w, k, hp->norm_eps);
    snprintf(k, sizeof k, "%s.rope.freq_base", a);
    lm_gguf_writer_add_f32(w, k, hp->rope_theta);
    lm_status st = add_vocab(w, hp->n_vocab);
    for (uint32_t i = 0; st == LM_OK && i < m->n_tensors; i++) {
        const lm_tensor *t = &m->tensors[i];
        st = lm_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    if (st != LM_OK) {
        lm_gguf_writer_free(w);
        return lm_fail(err, st, "save %s: building the GGUF header failed", path);
    }
    st = lm_gguf_writer_write_file(w, path, err);
    lm_gguf_writer_free(w);
    return st;
}
