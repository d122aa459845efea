/* tokenizer_gguf.c — building a tokenizer from GGUF tokenizer.ggml.* metadata
 * (lm_vocab_spec): byte-level BPE ("gpt2") with the pre-tokenizer the file
 * names, or SentencePiece BPE ("llama") with scores and byte fallback. */
#include "base/checked.h"
#include "base/err.h"
#include "model/tokenizer_impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lm_status load_merges(lm_tokenizer *t, const lm_vocab_spec *s, const tk_strmap *map,
                             lm_err *err) {
    lm_status st = tk_pairmap_init(&t->merges, s->n_merges ? s->n_merges : 1, err);
    if (st != LM_OK) return st;
    for (uint32_t r = 0; r < s->n_merges; r++) {
        const char *m = s->merges[r];
        size_t n = s->merge_lens ? s->merge_lens[r] : 0;
        if (!m) continue;
        const char *sp = memchr(m, ' ', n);
        if (!sp) return lm_fail(err, LM_ERR_TOKENIZER, "GGUF merge %u has no space", r);
        size_t al = (size_t)(sp - m), bl = n - al - 1;
        char *ab = malloc(al + bl + 1);
        if (!ab) return lm_fail(err, LM_ERR_NO_MEMORY, "GGUF merges");
        memcpy(ab, m, al);
        memcpy(ab + al, sp + 1, bl);
        int32_t a = tk_strmap_get(map, m, al), b = tk_strmap_get(map, sp + 1, bl);
        int32_t c = tk_strmap_get(map, ab, al + bl);
        free(ab);
        if (a >= 0 && b >= 0 && c >= 0) tk_pairmap_put(&t->merges, a, b, r, c);
    }
    return LM_OK;
}

static lm_status set_pre(lm_tokenizer *t, const char *name, lm_err *err) {
    const char *const *pats;
    size_t n;
    bool known = tk_pre_for_name(name, &pats, &n);
    t->pres = calloc(n, sizeof *t->pres);
    if (!t->pres) return lm_fail(err, LM_ERR_NO_MEMORY, "pre-tokenizer");
    for (size_t i = 0; i < n; i++) {
        tk_pre *p = &t->pres[t->n_pres];
        p->kind = TK_PRE_SPLIT;
        p->behavior = TK_SPLIT_ISOLATED;
        lm_status st = tk_compile_regex(pats[i], strlen(pats[i]), &p->re, err);
        if (st != LM_OK) return st;
        t->n_pres++;
    }
    snprintf(t->describe, sizeof t->describe, "byte-level BPE (pre-tokenizer %.40s%s%.40s%s)",
             known ? name : "default", known ? "" : "; unknown \"", known ? "" : name,
             known ? "" : "\" treated as default");
    return LM_OK;
}

static bool valid_id(const lm_vocab_spec *s, int32_t id) {
    return id >= 0 && (uint32_t)id < s->n_tokens;
}

static lm_status build(lm_tokenizer *t, const lm_vocab_spec *s, lm_err *err) {
    uint64_t bytes = 1;
    for (uint32_t i = 0; i < s->n_tokens; i++)
        if (!lm_add_u64(bytes, (uint64_t)s->token_lens[i] + 1, &bytes) || bytes > (1ull << 32))
            return lm_fail(err, LM_ERR_TOKENIZER, "GGUF vocabulary texts are too large");
    t->arena = malloc(bytes);
    if (!t->arena) return lm_fail(err, LM_ERR_NO_MEMORY, "GGUF vocabulary");
    size_t off = 0, n_added = 0;
    for (uint32_t i = 0; i < s->n_tokens; i++) {
        if (!s->tokens[i] && s->token_lens[i])
            return lm_fail(err, LM_ERR_TOKENIZER, "GGUF token %u has no text", i);
        if (s->token_lens[i]) memcpy(t->arena + off, s->tokens[i], s->token_lens[i]);
        t->arena[off + s->token_lens[i]] = 0;
        t->text[i] = t->arena + off;
        t->len[i] = s->token_lens[i];
        off += s->token_lens[i] + 1;
        int32_t ty = s->types ? s->types[i] : LM_TOKEN_NORMAL;
        if (ty == LM_TOKEN_CONTROL)
            t->attr[i] |= TK_ATTR_ADDED | TK_ATTR_SPECIAL;
        else if (ty == LM_TOKEN_USER_DEFINED)
            t->attr[i] |= TK_ATTR_ADDED;
        else if (ty == LM_TOKEN_UNUSED)
            t->attr[i] |= TK_ATTR_UNUSED | TK_ATTR_SPECIAL;
        if (ty == LM_TOKEN_CONTROL || ty == LM_TOKEN_USER_DEFINED) n_added++;
    }
    t->added = calloc(n_added ? n_added : 1, sizeof *t->added);
    if (!t->added) return lm_fail(err, LM_ERR_NO_MEMORY, "GGUF added tokens");
    for (uint32_t i = 0; i < s->n_tokens; i++) {
        if (!(t->attr[i] & TK_ATTR_ADDED)) continue;
        tk_added *a = &t->added[t->n_added++];
        a->id = (int32_t)i;
        a->special = (t->attr[i] & TK_ATTR_SPECIAL) != 0;
    }
    if (s->kind == LM_VOCAB_SPM) {
        t->model = TK_SPM;
        t->byte_fallback = true;
        t->spm_escape = true;
        t->spm_prefix = s->add_space_prefix != 0;
        t->decoder.meta_to_space = true;
        t->decoder.strip_first_space = t->spm_prefix;
        if (s->scores) {
            t->scores = malloc(s->n_tokens * sizeof *t->scores);
            if (!t->scores) return lm_fail(err, LM_ERR_NO_MEMORY, "GGUF scores");
            memcpy(t->scores, s->scores, s->n_tokens * sizeof *t->scores);
        }
        snprintf(t->describe, sizeof t->describe, "SentencePiece BPE (%u tokens, byte fallback)",
                 s->n_tokens);
    } else {
        t->model = TK_BYTE_BPE;
        tk_strmap map = {0};
        lm_status st =
            tk_strmap_build(&map, t->n_vocab, (const char *const *)t->text, t->len, NULL, err);
        if (st == LM_OK) st = load_merges(t, s, &map, err);
        free(map.slots);
        if (st == LM_OK) st = set_pre(t, s->pre[0] ? s->pre : "default", err);
        if (st != LM_OK) return st;
    }
    t->bos_id = valid_id(s, s->bos_id) ? s->bos_id : -1;
    t->eos_id = valid_id(s, s->eos_id) ? s->eos_id : -1;
    t->unk_id = valid_id(s, s->unk_id) ? s->unk_id : -1;
    bool add_bos = s->add_bos >= 0 ? s->add_bos != 0 : s->kind == LM_VOCAB_SPM;
    bool add_eos = s->add_eos > 0;
    t->prefix_ids = malloc(sizeof(int32_t));
    t->suffix_ids = malloc(sizeof(int32_t));
    if (!t->prefix_ids || !t->suffix_ids) return lm_fail(err, LM_ERR_NO_MEMORY, "GGUF");
    if (add_bos && t->bos_id >= 0) t->prefix_ids[t->n_prefix++] = t->bos_id;
    if (add_eos && t->eos_id >= 0) t->suffix_ids[t->n_suffix++] = t->eos_id;
    int32_t eog[] = {t->eos_id, valid_id(s, s->eot_id) ? s->eot_id : -1,
                     valid_id(s, s->eom_id) ? s->eom_id : -1};
    for (size_t i = 0; i < 3; i++)
        if (tk_add_eog(t, eog[i]) != LM_OK) return lm_fail(err, LM_ERR_NO_MEMORY, "eog");
    static const char *const eog_texts[] = {"<|eot_id|>", "<|eom_id|>",    "<|im_end|>",
                                            "<|end|>",    "<|endoftext|>", "<end_of_turn>",
                                            "<|return|>"};
    for (uint32_t i = 0; i < s->n_tokens; i++) {
        if (!(t->attr[i] & TK_ATTR_ADDED)) continue;
        for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++)
            if (t->len[i] == strlen(eog_texts[k]) && !memcmp(t->text[i], eog_texts[k], t->len[i]) &&
                tk_add_eog(t, (int32_t)i) != LM_OK)
                return lm_fail(err, LM_ERR_NO_MEMORY, "eog");
    }
    return tk_finish(t, err);
}

lm_status lm_tokenizer_from_spec(const lm_vocab_spec *spec, lm_tokenizer **out, lm_err *err) {
    if (!spec || !out) return lm_fail(err, LM_ERR_INVALID_ARG, "lm_tokenizer_from_spec: NULL");
    *out = NULL;
    if (spec->kind != LM_VOCAB_BPE && spec->kind != LM_VOCAB_SPM)
        return lm_fail(err, LM_ERR_UNSUPPORTED, "tokenizer model \"%.32s\" is not supported",
                       spec->model);
    if (!spec->n_tokens || !spec->tokens || !spec->token_lens)
        return lm_fail(err, LM_ERR_TOKENIZER, "GGUF file has no tokenizer.ggml.tokens");
    if (spec->n_merges && !spec->merges)
        return lm_fail(err, LM_ERR_TOKENIZER, "GGUF merges count without merges");
    lm_tokenizer *t = tk_alloc(spec->n_tokens);
    if (!t) return lm_fail(err, LM_ERR_NO_MEMORY, "tokenizer of %u tokens", spec->n_tokens);
    lm_status st = build(t, spec, err);
    if (st != LM_OK) {
        lm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return LM_OK;
}
