/* tokenizer_json.c — building a tokenizer from Hugging Face tokenizer.json
 * (model BPE; normalizer, pre_tokenizer, decoder, post_processor and
 * added_tokens sections) and tokenizer_config.json (BOS/EOS, add_bos_token). */
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ids beyond this many times the entries present are treated as malformed:
 * they would only make us allocate for holes. */
#define MAX_ID_SLACK 65536u

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int bool_of(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static bool is_type(const cJSON *o, const char *type) {
    const char *t = str_of(o, "type");
    return t && !strcmp(t, type);
}

/* Pattern {"String": s} or {"Regex": r}; *is_regex tells which. */
static const char *pattern_of(const cJSON *o, bool *is_regex) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *s = str_of(p, "Regex");
    *is_regex = s != NULL;
    return s ? s : str_of(p, "String");
}

static char *dup_str(const char *s, size_t *len) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    if (len) *len = n;
    return d;
}

typedef struct loader {
    lm_tokenizer *t;
    tk_strmap text_map; /* stored text -> id, for merges and special-token names */
    lm_err *err;
    char desc_pre[64];
} loader;

static lm_status oom(loader *L) {
    return lm_fail(L->err, LM_ERR_NO_MEMORY, "tokenizer.json: out of memory");
}

/* ---- vocabulary ---------------------------------------------------------- */

static lm_status load_vocab(loader *L, const cJSON *vocab, const cJSON *added) {
    if (!cJSON_IsObject(vocab))
        return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: model.vocab is not an object");
    uint64_t entries = 0, max_id = 0, bytes = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e9)
            return lm_fail(L->err, LM_ERR_TOKENIZER,
                           "tokenizer.json: vocab entry \"%.40s\" has "
                           "no valid id",
                           e->string ? e->string : "");
        if ((uint64_t)e->valueint > max_id) max_id = (uint64_t)e->valueint;
        bytes += strlen(e->string) + 1;
        entries++;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *c = str_of(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 1e9 || !c)
            return lm_fail(L->err, LM_ERR_TOKENIZER,
                           "tokenizer.json: added token without id "
                           "or content");
        if ((uint64_t)id->valueint > max_id) max_id = (uint64_t)id->valueint;
        bytes += strlen(c) + 1;
        entries++;
    }
    if (entries == 0) return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: empty vocabulary");
    if (max_id >= entries * 4 + MAX_ID_SLACK)
        return lm_fail(L->err, LM_ERR_TOKENIZER,
                       "tokenizer.json: token id %llu is far beyond "
                       "the %llu tokens listed",
                       (unsigned long long)max_id, (unsigned long long)entries);
    lm_tokenizer *t = tk_alloc((uint32_t)max_id + 1);
    if (!t) return oom(L);
    L->t = t;
    t->arena = malloc(bytes + 1);
    if (!t->arena) return oom(L);
    size_t off = 0;
    cJSON_ArrayForEach(e, vocab) {
        size_t n = strlen(e->string);
        memcpy(t->arena + off, e->string, n + 1);
        t->text[e->valueint] = t->arena + off;
        t->len[e->valueint] = (uint32_t)n;
        off += n + 1;
    }
    size_t n_added = (size_t)cJSON_GetArraySize(added);
    t->added = calloc(n_added ? n_added : 1, sizeof *t->added);
    if (!t->added) return oom(L);
    cJSON_ArrayForEach(e, added) {
        int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        const char *c = str_of(e, "content");
        size_t n = strlen(c);
        memcpy(t->arena + off, c, n + 1);
        t->text[id] = t->arena + off;
        t->len[id] = (uint32_t)n;
        off += n + 1;
        bool special = bool_of(e, "special", 0);
        t->attr[id] |= TK_ATTR_ADDED | (special ? TK_ATTR_SPECIAL : 0);
        tk_added *a = &t->added[t->n_added++];
        a->id = id;
        a->special = special;
        a->lstrip = bool_of(e, "lstrip", 0);
        a->rstrip = bool_of(e, "rstrip", 0);
        a->single_word = bool_of(e, "single_word", 0);
    }
    cJSON_ArrayForEach(e, vocab) t->attr[e->valueint] |= TK_ATTR_INVOCAB;
    return tk_strmap_build(&L->text_map, t->n_vocab, (const char *const *)t->text, t->len, NULL,
                           L->err);
}

static int32_t text_id(loader *L, const char *s) {
    return s ? tk_strmap_get(&L->text_map, s, strlen(s)) : -1;
}

static lm_status load_merges(loader *L, const cJSON *merges) {
    lm_tokenizer *t = L->t;
    size_t n = (size_t)cJSON_GetArraySize(merges);
    lm_status st = tk_pairmap_init(&t->merges, (uint32_t)(n ? n : 1), L->err);
    if (st != LM_OK) return st;
    char *buf = NULL;
    size_t cap = 0;
    uint32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(m)) {
            a = m->valuestring;
            const char *sp = strchr(a, ' ');
            if (!sp) {
                free(buf);
                return lm_fail(L->err, LM_ERR_TOKENIZER,
                               "tokenizer.json: merge %u \"%.40s\" "
                               "has no space",
                               rank, a);
            }
            al = (size_t)(sp - a);
            b = sp + 1;
            bl = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            a = cJSON_GetArrayItem(m, 0)->valuestring;
            b = cJSON_GetArrayItem(m, 1)->valuestring;
            al = strlen(a);
            bl = strlen(b);
        } else {
            free(buf);
            return lm_fail(L->err, LM_ERR_TOKENIZER,
                           "tokenizer.json: merge %u is neither "
                           "\"a b\" nor [a, b]",
                           rank);
        }
        if (al + bl + 1 > cap) {
            cap = (al + bl + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return oom(L);
            }
            buf = nb;
        }
        memcpy(buf, a, al);
        memcpy(buf + al, b, bl);
        int32_t ia = tk_strmap_get(&L->text_map, a, al);
        int32_t ib = tk_strmap_get(&L->text_map, b, bl);
        int32_t iab = tk_strmap_get(&L->text_map, buf, al + bl);
        /* a merge whose parts or result are not tokens can never apply */
        if (ia >= 0 && ib >= 0 && iab >= 0) tk_pairmap_put(&t->merges, ia, ib, rank, iab);
        rank++;
    }
    free(buf);
    return LM_OK;
}

/* ---- pipeline sections --------------------------------------------------- */

static lm_status add_norm(loader *L, tk_norm nm) {
    lm_tokenizer *t = L->t;
    tk_norm *v = realloc(t->norms, (t->n_norms + 1) * sizeof *v);
    if (!v) return oom(L);
    t->norms = v;
    t->norms[t->n_norms++] = nm;
    return LM_OK;
}

static lm_status load_normalizer(loader *L, const cJSON *n, int depth) {
    if (!n || cJSON_IsNull(n)) return LM_OK;
    const char *type = str_of(n, "type");
    if (!type || depth > 8)
        return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: bad normalizer");
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "normalizers")) {
            lm_status st = load_normalizer(L, e, depth + 1);
            if (st != LM_OK) return st;
        }
        return LM_OK;
    }
    tk_norm nm = {0};
    if (!strcmp(type, "NFC"))
        nm.kind = TK_NORM_NFC;
    else if (!strcmp(type, "NFKC"))
        nm.kind = TK_NORM_NFKC;
    else if (!strcmp(type, "NFD"))
        nm.kind = TK_NORM_NFD;
    else if (!strcmp(type, "NFKD"))
        nm.kind = TK_NORM_NFKD;
    else if (!strcmp(type, "Lowercase"))
        nm.kind = TK_NORM_LOWER;
    else if (!strcmp(type, "Strip")) {
        nm.kind = TK_NORM_STRIP;
        nm.left = bool_of(n, "strip_left", 1);
        nm.right = bool_of(n, "strip_right", 1);
    } else if (!strcmp(type, "Prepend")) {
        const char *p = str_of(n, "prepend");
        if (!p) return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: Prepend without text");
        nm.kind = TK_NORM_PREPEND;
        if (!(nm.a = dup_str(p, &nm.a_len))) return oom(L);
    } else if (!strcmp(type, "Replace")) {
        bool is_re;
        const char *p = pattern_of(n, &is_re), *c = str_of(n, "content");
        if (!p || !c)
            return lm_fail(L->err, LM_ERR_TOKENIZER,
                           "tokenizer.json: Replace needs pattern and "
                           "content");
        nm.kind = TK_NORM_REPLACE;
        nm.a = dup_str(p, &nm.a_len);
        nm.b = dup_str(c, &nm.b_len);
        lm_status st = add_norm(L, nm);
        if (st != LM_OK || !nm.a || !nm.b) return st != LM_OK ? st : oom(L);
        if (is_re)
            return tk_compile_regex(p, strlen(p), &L->t->norms[L->t->n_norms - 1].re, L->err);
        return LM_OK;
    } else
        return lm_fail(L->err, LM_ERR_UNSUPPORTED,
                       "tokenizer.json: normalizer %.40s is not "
                       "supported",
                       type);
    return add_norm(L, nm);
}

static lm_status add_pre(loader *L, tk_pre p) {
    lm_tokenizer *t = L->t;
    tk_pre *v = realloc(t->pres, (t->n_pres + 1) * sizeof *v);
    if (!v) {
        pcre2_code_free(p.re);
        free(p.literal);
        return oom(L);
    }
    t->pres = v;
    t->pres[t->n_pres++] = p;
    size_t dl = strlen(L->desc_pre);
    snprintf(L->desc_pre + dl, sizeof L->desc_pre - dl, "%s%s", dl ? "+" : "",
             p.kind == TK_PRE_SPLIT       ? "Split"
             : p.kind == TK_PRE_BYTELEVEL ? "ByteLevel"
             : p.kind == TK_PRE_METASPACE ? "Metaspace"
             : p.kind == TK_PRE_DIGITS    ? "Digits"
                                          : "Whitespace");
    return LM_OK;
}

static lm_status load_pretok(loader *L, const cJSON *n, int depth, bool *bytelevel) {
    if (!n || cJSON_IsNull(n)) return LM_OK;
    const char *type = str_of(n, "type");
    if (!type || depth > 8)
        return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: bad pre_tokenizer");
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "pretokenizers")) {
            lm_status st = load_pretok(L, e, depth + 1, bytelevel);
            if (st != LM_OK) return st;
        }
        return LM_OK;
    }
    tk_pre p = {0};
    lm_status st = LM_OK;
    if (!strcmp(type, "Split")) {
        bool is_re;
        const char *pat = pattern_of(n, &is_re), *beh = str_of(n, "behavior");
        if (!pat) return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: Split without pattern");
        p.kind = TK_PRE_SPLIT;
        p.invert = bool_of(n, "invert", 0);
        p.behavior = TK_SPLIT_ISOLATED;
        if (beh && !strcmp(beh, "Removed"))
            p.behavior = TK_SPLIT_REMOVED;
        else if (beh && !strcmp(beh, "MergedWithPrevious"))
            p.behavior = TK_SPLIT_MERGED_PREV;
        else if (beh && !strcmp(beh, "MergedWithNext"))
            p.behavior = TK_SPLIT_MERGED_NEXT;
        else if (beh && !strcmp(beh, "Contiguous"))
            p.behavior = TK_SPLIT_CONTIGUOUS;
        if (is_re)
            st = tk_compile_regex(pat, strlen(pat), &p.re, L->err);
        else if (!(p.literal = dup_str(pat, &p.literal_len)))
            st = oom(L);
    } else if (!strcmp(type, "ByteLevel")) {
        p.kind = TK_PRE_BYTELEVEL;
        p.add_prefix_space = bool_of(n, "add_prefix_space", 1);
        p.use_regex = bool_of(n, "use_regex", 1);
        p.behavior = TK_SPLIT_ISOLATED;
        *bytelevel = true;
        if (p.use_regex) st = tk_compile_regex(TK_GPT2_REGEX, strlen(TK_GPT2_REGEX), &p.re, L->err);
    } else if (!strcmp(type, "Metaspace")) {
        const char *scheme = str_of(n, "prepend_scheme");
        p.kind = TK_PRE_METASPACE;
        p.prepend = bool_of(n, "add_prefix_space", 1) ? 2 : 0;
        if (scheme) p.prepend = !strcmp(scheme, "always") ? 2 : !strcmp(scheme, "first") ? 1 : 0;
        p.split = bool_of(n, "split", 1);
        p.behavior = TK_SPLIT_MERGED_NEXT;
        if (!(p.literal = dup_str("\xE2\x96\x81", &p.literal_len))) st = oom(L);
    } else if (!strcmp(type, "Digits")) {
        p.kind = TK_PRE_DIGITS;
        p.behavior = bool_of(n, "individual_digits", 0) ? TK_SPLIT_ISOLATED : TK_SPLIT_CONTIGUOUS;
        st = tk_compile_regex("\\p{N}", 5, &p.re, L->err);
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p.kind = TK_PRE_WHITESPACE_SPLIT;
        p.behavior = TK_SPLIT_REMOVED;
        st = tk_compile_regex("\\s+", 3, &p.re, L->err);
    } else if (!strcmp(type, "Whitespace")) {
        p.kind = TK_PRE_WHITESPACE_SPLIT;
        p.behavior = TK_SPLIT_REMOVED;
        p.invert = true;
        st = tk_compile_regex("\\w+|[^\\w\\s]+", 12, &p.re, L->err);
    } else
        return lm_fail(L->err, LM_ERR_UNSUPPORTED,
                       "tokenizer.json: pre_tokenizer %.40s is not "
                       "supported",
                       type);
    if (st != LM_OK) {
        free(p.literal);
        return st;
    }
    return add_pre(L, p);
}

static lm_status load_decoder(loader *L, const cJSON *n, int depth, bool *bytelevel) {
    if (!n || cJSON_IsNull(n)) return LM_OK;
    const char *type = str_of(n, "type");
    tk_decoder *d = &L->t->decoder;
    if (!type || depth > 8) return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: bad decoder");
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "decoders")) {
            lm_status st = load_decoder(L, e, depth + 1, bytelevel);
            if (st != LM_OK) return st;
        }
    } else if (!strcmp(type, "ByteLevel")) {
        *bytelevel = true;
    } else if (!strcmp(type, "ByteFallback")) {
        d->byte_fallback_runs = true;
    } else if (!strcmp(type, "Replace")) {
        bool is_re;
        const char *p = pattern_of(n, &is_re), *c = str_of(n, "content");
        if (p && c && !is_re && !strcmp(p, "\xE2\x96\x81") && !strcmp(c, " "))
            d->meta_to_space = true;
        else
            return lm_fail(L->err, LM_ERR_UNSUPPORTED,
                           "tokenizer.json: decoder Replace other "
                           "than U+2581 -> ' ' is not supported");
    } else if (!strcmp(type, "Strip")) {
        const char *c = str_of(n, "content");
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(n, "start");
        if (c && !strcmp(c, " ") && cJSON_IsNumber(start) && start->valueint >= 1)
            d->strip_first_space = true;
    } else if (!strcmp(type, "Metaspace")) {
        const char *scheme = str_of(n, "prepend_scheme");
        d->meta_to_space = true;
        d->strip_first_space = bool_of(n, "add_prefix_space", 1);
        if (scheme) d->strip_first_space = strcmp(scheme, "never") != 0;
    } else if (strcmp(type, "Fuse") != 0) {
        return lm_fail(L->err, LM_ERR_UNSUPPORTED,
                       "tokenizer.json: decoder %.40s is not "
                       "supported",
                       type);
    }
    return LM_OK;
}

static lm_status put_id(loader *L, int32_t **v, size_t *n, int32_t id) {
    if (id < 0 || (uint32_t)id >= L->t->n_vocab)
        return lm_fail(L->err, LM_ERR_TOKENIZER,
                       "tokenizer.json: post_processor id %d is not a "
                       "token",
                       (int)id);
    int32_t *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return oom(L);
    *v = nv;
    nv[(*n)++] = id;
    return LM_OK;
}

/* TemplateProcessing "single": special tokens before $A go first, after it last. */
static lm_status load_post(loader *L, const cJSON *n, int depth) {
    if (!n || cJSON_IsNull(n) || depth > 8) return LM_OK;
    lm_tokenizer *t = L->t;
    if (is_type(n, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "processors")) {
            lm_status st = load_post(L, e, depth + 1);
            if (st != LM_OK) return st;
        }
        return LM_OK;
    }
    if (!is_type(n, "TemplateProcessing")) return LM_OK;
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(n, "special_tokens"), *e;
    bool after = false;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "single")) {
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) {
            after = true;
            continue;
        }
        const char *name = str_of(cJSON_GetObjectItemCaseSensitive(e, "SpecialToken"), "id");
        if (!name) continue;
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(specials, name), *id;
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(spec, "ids");
        if (!ids) {
            int32_t i = text_id(L, name);
            lm_status st = after ? put_id(L, &t->suffix_ids, &t->n_suffix, i)
                                 : put_id(L, &t->prefix_ids, &t->n_prefix, i);
            if (st != LM_OK) return st;
        }
        cJSON_ArrayForEach(id, ids) {
            int32_t i = cJSON_IsNumber(id) ? id->valueint : -1;
            lm_status st = after ? put_id(L, &t->suffix_ids, &t->n_suffix, i)
                                 : put_id(L, &t->prefix_ids, &t->n_prefix, i);
            if (st != LM_OK) return st;
        }
    }
    return LM_OK;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static const char *token_name(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    return str_of(v, "content");
}

static lm_status set_flag_token(loader *L, int32_t **v, size_t *n, int32_t id, int flag) {
    if (flag < 0 || id < 0) return LM_OK;
    size_t k = 0;
    bool present = false;
    for (size_t i = 0; i < *n; i++) {
        if ((*v)[i] == id) present = true;
        if ((*v)[i] != id || flag) (*v)[k++] = (*v)[i];
    }
    *n = k;
    if (flag && !present) {
        lm_status st = put_id(L, v, n, id);
        if (st != LM_OK) return st;
        if (v == &L->t->prefix_ids) { /* BOS goes first */
            memmove(*v + 1, *v, (*n - 1) * sizeof **v);
            (*v)[0] = id;
        }
    }
    return LM_OK;
}

static lm_status load_config(loader *L, const cJSON *cfg) {
    lm_tokenizer *t = L->t;
    if (cfg) {
        int32_t b = text_id(L, token_name(cfg, "bos_token"));
        int32_t e = text_id(L, token_name(cfg, "eos_token"));
        if (b >= 0) t->bos_id = b;
        if (e >= 0) t->eos_id = e;
    }
    if (t->bos_id < 0 && t->n_prefix) t->bos_id = t->prefix_ids[0];
    if (cfg) {
        lm_status st = set_flag_token(L, &t->prefix_ids, &t->n_prefix, t->bos_id,
                                      bool_of(cfg, "add_bos_token", -1));
        if (st == LM_OK)
            st = set_flag_token(L, &t->suffix_ids, &t->n_suffix, t->eos_id,
                                bool_of(cfg, "add_eos_token", -1));
        if (st != LM_OK) return st;
    }
    static const char *const eog_texts[] = {
        "<|eot_id|>", "<|eom_id|>",    "<|im_end|>", "<|end|>",  "<|endoftext|>", "<|end_of_text|>",
        "</s>",       "<end_of_turn>", "<|return|>", "<|call|>", "<eos>",
    };
    if (tk_add_eog(t, t->eos_id) != LM_OK) return oom(L);
    for (size_t i = 0; i < sizeof eog_texts / sizeof eog_texts[0]; i++) {
        int32_t id = text_id(L, eog_texts[i]);
        if (id >= 0 && (t->attr[id] & TK_ATTR_ADDED) && tk_add_eog(t, id) != LM_OK) return oom(L);
    }
    return LM_OK;
}

static lm_status build(loader *L, const cJSON *root, const cJSON *cfg) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *mtype = str_of(model, "type");
    if (!cJSON_IsObject(model))
        return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: no model section");
    if (mtype && strcmp(mtype, "BPE") != 0)
        return lm_fail(L->err, LM_ERR_UNSUPPORTED,
                       "tokenizer.json: model type %.40s is not "
                       "supported (only BPE)",
                       mtype);
    const char *cont = str_of(model, "continuing_subword_prefix");
    const char *suffix = str_of(model, "end_of_word_suffix");
    if ((cont && *cont) || (suffix && *suffix))
        return lm_fail(L->err, LM_ERR_UNSUPPORTED,
                       "tokenizer.json: BPE with continuing_subword_prefix or "
                       "end_of_word_suffix is not supported");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsArray(added))
        return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: added_tokens is not an array");
    lm_status st = load_vocab(L, cJSON_GetObjectItemCaseSensitive(model, "vocab"), added);
    if (st != LM_OK) return st;
    lm_tokenizer *t = L->t;
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (merges && !cJSON_IsArray(merges))
        return lm_fail(L->err, LM_ERR_TOKENIZER, "tokenizer.json: model.merges is not an array");
    st = load_merges(L, merges);
    bool bl_pre = false, bl_dec = false;
    if (st == LM_OK)
        st = load_normalizer(L, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0);
    if (st == LM_OK)
        st = load_pretok(L, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0, &bl_pre);
    if (st == LM_OK)
        st = load_decoder(L, cJSON_GetObjectItemCaseSensitive(root, "decoder"), 0, &bl_dec);
    if (st == LM_OK) st = load_post(L, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0);
    if (st == LM_OK) st = load_config(L, cfg);
    if (st != LM_OK) return st;
    t->model = bl_pre || bl_dec ? TK_BYTE_BPE : TK_CHAR_BPE;
    t->byte_fallback = bool_of(model, "byte_fallback", 0);
    t->fuse_unk = bool_of(model, "fuse_unk", 0);
    t->ignore_merges = bool_of(model, "ignore_merges", 0);
    t->unk_id = text_id(L, str_of(model, "unk_token"));
    snprintf(t->describe, sizeof t->describe, "%s (tokenizer.json, pre-tokenizer %s, %u tokens)",
             t->model == TK_BYTE_BPE ? "byte-level BPE"
             : t->byte_fallback      ? "BPE with byte fallback"
                                     : "BPE",
             L->desc_pre[0] ? L->desc_pre : "none", t->n_vocab);
    return tk_finish(t, L->err);
}

lm_status lm_tokenizer_from_json(const char *json, size_t len, const char *config_json,
                                 size_t config_len, lm_tokenizer **out, lm_err *err) {
    if (!json || !out) return lm_fail(err, LM_ERR_INVALID_ARG, "lm_tokenizer_from_json: NULL");
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lm_fail(err, LM_ERR_JSON, "tokenizer.json: not a JSON object");
    }
    cJSON *cfg = NULL;
    if (config_json) {
        cfg = cJSON_ParseWithLength(config_json, config_len);
        if (!cfg || !cJSON_IsObject(cfg)) {
            cJSON_Delete(root);
            cJSON_Delete(cfg);
            return lm_fail(err, LM_ERR_JSON, "tokenizer_config.json: not a JSON object");
        }
    }
    loader L = {.err = err};
    lm_status st = build(&L, root, cfg);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    free(L.text_map.slots);
    if (st != LM_OK) {
        lm_tokenizer_free(L.t);
        return st;
    }
    *out = L.t;
    return LM_OK;
}
