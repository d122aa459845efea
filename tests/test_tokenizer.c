// labels: unit asan
/* test_tokenizer.c — tokenizer ids and decodes against the Hugging Face
 * references: tokenizers/refs.json (Llama 3, Qwen 3, Llama 2 tokenizer.json)
 * and the prompts of refs/NAME.json with the tiny models' tokenizer.json and
 * GGUF files; streaming decode equals whole decode and never splits UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testdata.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"

static cJSON *load_json(const char *rel) {
    size_t n;
    char *s = lm_test_read(lm_test_path(rel), &n);
    if (!s) return NULL;
    cJSON *j = cJSON_ParseWithLength(s, n);
    free(s);
    return j;
}

/* True when s is complete, well-formed UTF-8. */
static bool utf8_complete(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t k = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (!k || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if ((u[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

static void check_ids(const int32_t *got, size_t n, const cJSON *want, const char *what) {
    size_t wn = (size_t)cJSON_GetArraySize(want);
    bool same = n == wn;
    for (size_t i = 0; same && i < n; i++)
        same = got[i] == cJSON_GetArrayItem(want, (int)i)->valueint;
    if (!same) {
        fprintf(stderr, "%s: ids differ\n  got :", what);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < wn; i++)
            fprintf(stderr, " %d", cJSON_GetArrayItem(want, (int)i)->valueint);
        fprintf(stderr, "\n");
    }
    assert_true(same);
}

/* Streams ids one at a time: each piece is complete UTF-8 and the pieces
 * join to the whole decode. */
static void check_stream(const lm_tokenizer *t, const int32_t *ids, size_t n, const char *whole) {
    lm_detok_stream *s = lm_detok_stream_create(t, false);
    assert_non_null(s);
    char *acc = calloc(1, strlen(whole) * 2 + 64 * (n + 1));
    size_t an = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *p;
        size_t k = i < n ? lm_detok_stream_push(s, ids[i], &p) : lm_detok_stream_flush(s, &p);
        assert_true(utf8_complete(p, k));
        memcpy(acc + an, p, k);
        an += k;
    }
    acc[an] = 0;
    assert_string_equal(acc, whole);
    free(acc);
    lm_detok_stream_free(s);
}

static void check_refs_tokenizer(const char *name) {
    if (!lm_test_data_dir()) {
        skip();
        return;
    }
    cJSON *refs = load_json("tokenizers/refs.json");
    assert_non_null(refs);
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json.gz", name);
    lm_tokenizer *t = NULL;
    lm_err err = {0};
    lm_status st = lm_tokenizer_from_file(lm_test_path(rel), &t, &err);
    if (st != LM_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, LM_OK);
    const cJSON *c;
    int count = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(refs, name)) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        int32_t *ids;
        size_t n;
        assert_int_equal(lm_tokenize(t, text, strlen(text), false, true, &ids, &n, &err), LM_OK);
        check_ids(ids, n, cJSON_GetObjectItem(c, "ids"), text);
        char *dec;
        size_t dl;
        assert_int_equal(lm_detokenize(t, ids, n, false, &dec, &dl, &err), LM_OK);
        assert_string_equal(dec, cJSON_GetObjectItem(c, "decoded")->valuestring);
        check_stream(t, ids, n, dec);
        free(dec);
        free(ids);
        count++;
    }
    assert_true(count >= 10);
    lm_tokenizer_free(t);
    cJSON_Delete(refs);
}

static void refs_llama3(void **state) {
    (void)state;
    check_refs_tokenizer("llama3");
}
static void refs_qwen3(void **state) {
    (void)state;
    check_refs_tokenizer("qwen3");
}
static void refs_llama2(void **state) {
    (void)state;
    check_refs_tokenizer("llama2");
}

/* Every prompt of refs/MODEL.json, BOS as the model says. */
static void check_prompts(const lm_tokenizer *t, const char *model) {
    char rel[128];
    snprintf(rel, sizeof rel, "refs/%s.json", model);
    cJSON *refs = load_json(rel);
    assert_non_null(refs);
    bool add_bos = cJSON_IsTrue(cJSON_GetObjectItem(refs, "add_bos"));
    assert_int_equal(lm_tokenizer_adds_bos(t), add_bos);
    const cJSON *p;
    int count = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(refs, "prompts")) {
        const char *text = cJSON_GetObjectItem(p, "prompt")->valuestring;
        int32_t *ids;
        size_t n;
        lm_err err = {0};
        assert_int_equal(lm_tokenize(t, text, strlen(text), true, true, &ids, &n, &err), LM_OK);
        check_ids(ids, n, cJSON_GetObjectItem(p, "ids"), text);
        char *dec;
        assert_int_equal(lm_detokenize(t, ids, n, true, &dec, NULL, &err), LM_OK);
        assert_string_equal(dec, text);
        free(dec);
        free(ids);
        count++;
    }
    assert_true(count > 0);
    cJSON_Delete(refs);
}

static void hf_folder(const char *model) {
    if (!lm_test_data_dir()) {
        skip();
        return;
    }
    char rel[128];
    snprintf(rel, sizeof rel, "models/%s/tokenizer.json", model);
    lm_tokenizer *t = NULL;
    lm_err err = {0};
    lm_status st = lm_tokenizer_from_file(lm_test_path(rel), &t, &err);
    if (st != LM_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, LM_OK);
    check_prompts(t, model);
    lm_tokenizer_free(t);
}

static void hf_tiny_llama3(void **state) {
    (void)state;
    hf_folder("tiny-llama3");
}
static void hf_tiny_qwen2(void **state) {
    (void)state;
    hf_folder("tiny-qwen2");
}

/* ---- a minimal GGUF metadata walk (test-only) so that lm_tokenizer_from_spec
 * is exercised on the real files even before the model reader is built in */

typedef struct rd {
    const unsigned char *p;
    size_t n, off;
    bool bad;
} rd;

static uint64_t rd_u(rd *r, size_t k) {
    uint64_t v = 0;
    if (r->bad || r->n - r->off < k) {
        r->bad = true;
        return 0;
    }
    for (size_t i = 0; i < k; i++)
        v |= (uint64_t)r->p[r->off + i] << (8 * i);
    r->off += k;
    return v;
}

static const char *rd_str(rd *r, uint32_t *len) {
    uint64_t n = rd_u(r, 8);
    if (r->bad || n > r->n - r->off) {
        r->bad = true;
        return NULL;
    }
    const char *s = (const char *)r->p + r->off;
    r->off += n;
    *len = (uint32_t)n;
    return s;
}

static size_t type_size(uint32_t ty) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return ty < 13 ? sz[ty] : 0;
}

static void rd_skip(rd *r, uint32_t ty) {
    uint32_t l;
    if (ty == 8)
        rd_str(r, &l);
    else if (ty == 9) {
        uint32_t et = (uint32_t)rd_u(r, 4);
        uint64_t cnt = rd_u(r, 8);
        for (uint64_t i = 0; i < cnt && !r->bad; i++)
            rd_skip(r, et);
    } else if (type_size(ty))
        rd_u(r, type_size(ty));
    else
        r->bad = true;
}

static bool key_is(const char *k, uint32_t kl, const char *want) {
    return kl == strlen(want) && !memcmp(k, want, kl);
}

/* Fills spec from the tokenizer.ggml.* keys; arrays are malloc'd (freed by
 * free_spec), strings point into buf. */
static bool read_gguf_spec(const unsigned char *buf, size_t len, lm_vocab_spec *s) {
    rd r = {buf, len, 0, false};
    memset(s, 0, sizeof *s);
    s->bos_id = s->eos_id = s->eot_id = s->eom_id = s->unk_id = s->pad_id = -1;
    s->add_bos = s->add_eos = s->add_space_prefix = -1;
    if (rd_u(&r, 4) != 0x46554747u || rd_u(&r, 4) != 3) return false;
    rd_u(&r, 8);
    uint64_t n_kv = rd_u(&r, 8);
    for (uint64_t i = 0; i < n_kv && !r.bad; i++) {
        uint32_t kl, vl;
        const char *k = rd_str(&r, &kl);
        uint32_t ty = (uint32_t)rd_u(&r, 4);
        if (r.bad) break;
        if (kl < 16 || memcmp(k, "tokenizer.ggml.", 15)) {
            rd_skip(&r, ty);
            continue;
        }
        if (ty == 8 &&
            (key_is(k, kl, "tokenizer.ggml.model") || key_is(k, kl, "tokenizer.ggml.pre"))) {
            const char *v = rd_str(&r, &vl);
            char *dst = key_is(k, kl, "tokenizer.ggml.model") ? s->model : s->pre;
            snprintf(dst, 32, "%.*s", (int)vl, v ? v : "");
        } else if (ty == 9) {
            uint32_t et = (uint32_t)rd_u(&r, 4);
            uint64_t cnt = rd_u(&r, 8);
            if (r.bad || cnt > len) return false;
            bool toks = key_is(k, kl, "tokenizer.ggml.tokens"),
                 mer = key_is(k, kl, "tokenizer.ggml.merges");
            bool sc = key_is(k, kl, "tokenizer.ggml.scores"),
                 tt = key_is(k, kl, "tokenizer.ggml.token_type");
            const char **strs = (toks || mer) ? calloc(cnt + 1, sizeof *strs) : NULL;
            uint32_t *lens = (toks || mer) ? calloc(cnt + 1, sizeof *lens) : NULL;
            float *f = sc ? calloc(cnt + 1, sizeof *f) : NULL;
            int32_t *ti = tt ? calloc(cnt + 1, sizeof *ti) : NULL;
            for (uint64_t j = 0; j < cnt && !r.bad; j++) {
                if (strs && et == 8)
                    strs[j] = rd_str(&r, &lens[j]);
                else if (f && et == 6) {
                    uint32_t bits = (uint32_t)rd_u(&r, 4);
                    memcpy(&f[j], &bits, 4);
                } else if (ti && et == 5)
                    ti[j] = (int32_t)rd_u(&r, 4);
                else
                    rd_skip(&r, et);
            }
            if (toks)
                s->tokens = strs, s->token_lens = lens, s->n_tokens = (uint32_t)cnt;
            else if (mer)
                s->merges = strs, s->merge_lens = lens, s->n_merges = (uint32_t)cnt;
            else if (sc)
                s->scores = f;
            else if (tt)
                s->types = ti;
        } else if (ty == 4 || ty == 5) {
            int32_t v = (int32_t)rd_u(&r, 4);
            if (key_is(k, kl, "tokenizer.ggml.bos_token_id"))
                s->bos_id = v;
            else if (key_is(k, kl, "tokenizer.ggml.eos_token_id"))
                s->eos_id = v;
            else if (key_is(k, kl, "tokenizer.ggml.eot_token_id"))
                s->eot_id = v;
            else if (key_is(k, kl, "tokenizer.ggml.eom_token_id"))
                s->eom_id = v;
            else if (key_is(k, kl, "tokenizer.ggml.unknown_token_id"))
                s->unk_id = v;
            else if (key_is(k, kl, "tokenizer.ggml.padding_token_id"))
                s->pad_id = v;
        } else if (ty == 7) {
            int8_t v = (int8_t)rd_u(&r, 1);
            if (key_is(k, kl, "tokenizer.ggml.add_bos_token"))
                s->add_bos = v;
            else if (key_is(k, kl, "tokenizer.ggml.add_eos_token"))
                s->add_eos = v;
            else if (key_is(k, kl, "tokenizer.ggml.add_space_prefix"))
                s->add_space_prefix = v;
        } else
            rd_skip(&r, ty);
    }
    s->kind = !strcmp(s->model, "llama")  ? LM_VOCAB_SPM
              : !strcmp(s->model, "gpt2") ? LM_VOCAB_BPE
                                          : LM_VOCAB_NONE;
    return !r.bad && s->n_tokens > 0;
}

static void free_spec(lm_vocab_spec *s) {
    free(s->tokens);
    free(s->token_lens);
    free(s->merges);
    free(s->merge_lens);
    free((void *)s->scores);
    free((void *)s->types);
}

static void gguf_spec_direct(void **state) {
    (void)state;
    if (!lm_test_data_dir()) {
        skip();
        return;
    }
    const char *models[] = {"tiny-llama3", "tiny-qwen2", "tiny-llama2"};
    const char *kind[] = {"byte-level BPE (pre-tokenizer llama-bpe)",
                          "byte-level BPE (pre-tokenizer qwen2)", "SentencePiece BPE"};
    for (size_t i = 0; i < 3; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s-f16.gguf", models[i]);
        size_t n;
        unsigned char *buf = (unsigned char *)lm_test_read(lm_test_path(rel), &n);
        assert_non_null(buf);
        lm_vocab_spec spec;
        assert_true(read_gguf_spec(buf, n, &spec));
        lm_tokenizer *t = NULL;
        lm_err err = {0};
        lm_status st = lm_tokenizer_from_spec(&spec, &t, &err);
        if (st != LM_OK) fprintf(stderr, "%s: %s\n", rel, err.msg);
        assert_int_equal(st, LM_OK);
        assert_non_null(strstr(lm_tokenizer_describe(t), kind[i]));
        check_prompts(t, models[i]);
        assert_true(lm_tokenizer_is_eog(t, lm_tokenizer_eos(t)));
        lm_tokenizer_free(t);
        free_spec(&spec);
        free(buf);
    }
}

/* The GGUF files through the model reader. */
static void gguf_models(void **state) {
    (void)state;
    if (!lm_test_data_dir()) {
        skip();
        return;
    }
    const char *models[] = {"tiny-llama3", "tiny-qwen2", "tiny-llama2"};
    for (size_t i = 0; i < 3; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s-f16.gguf", models[i]);
        lm_model_desc *m = NULL;
        lm_err err = {0};
        lm_status st = lm_model_open(lm_test_path(rel), &m, &err);
        if (st != LM_OK) fprintf(stderr, "%s: %s\n", rel, err.msg);
        assert_int_equal(st, LM_OK);
        assert_non_null(m->tokenizer);
        check_prompts(m->tokenizer, models[i]);
        lm_model_free(m);
    }
}

/* `localm tokenize --json` prints the reference ids of the first prompt, with
 * BOS by default and without it under --no-special; detokenize inverts it. */
static void cli_tokenize(void **state) {
    (void)state;
    if (!lm_test_data_dir()) {
        skip();
        return;
    }
    cJSON *refs = load_json("refs/tiny-llama3.json");
    assert_non_null(refs);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(refs, "prompts"), 0);
    const char *prompt = cJSON_GetObjectItem(p, "prompt")->valuestring;
    const cJSON *want = cJSON_GetObjectItem(p, "ids");
    for (int no_special = 0; no_special < 2; no_special++) {
        char args[2048], *out = NULL;
        snprintf(args, sizeof args, "tokenize -m '%s' --text '%s' --json%s",
                 lm_test_path("models/tiny-llama3"), prompt, no_special ? " --no-special" : "");
        assert_int_equal(lm_test_run_cli(args, &out), 0);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        const cJSON *ids = cJSON_GetObjectItem(j, "ids");
        int n = cJSON_GetArraySize(ids), wn = cJSON_GetArraySize(want);
        assert_int_equal(n, wn - no_special);
        for (int i = 0; i < n; i++)
            assert_int_equal(cJSON_GetArrayItem(ids, i)->valueint,
                             cJSON_GetArrayItem(want, i + no_special)->valueint);
        cJSON_Delete(j);
        free(out);
    }
    char args[2048], list[512] = "", *out = NULL;
    const cJSON *id;
    cJSON_ArrayForEach(id, want) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%d", l ? "," : "", id->valueint);
    }
    snprintf(args, sizeof args, "detokenize --tokenizer '%s' --ids %s --skip-special",
             lm_test_path("models/tiny-llama3/tokenizer.json"), list);
    assert_int_equal(lm_test_run_cli(args, &out), 0);
    char expect[512];
    snprintf(expect, sizeof expect, "%s\n", prompt);
    assert_string_equal(out, expect);
    free(out);
    cJSON_Delete(refs);
}

/* Byte-fallback tokens of one character: the stream holds them until the
 * character is complete; a broken run decodes to U+FFFD, as HF does. */
static void stream_holds_partial_utf8(void **state) {
    (void)state;
    if (!lm_test_data_dir()) {
        skip();
        return;
    }
    lm_tokenizer *t = NULL;
    lm_err err = {0};
    assert_int_equal(
        lm_tokenizer_from_file(lm_test_path("tokenizers/llama2/tokenizer.json.gz"), &t, &err),
        LM_OK);
    int32_t b[3] = {-1, -1, -1};
    const char *names[3] = {"<0xE6>", "<0x97>", "<0xA5>"}; /* U+65E5 */
    for (uint32_t id = 0; id < lm_tokenizer_vocab_size(t); id++) {
        size_t l;
        const char *x = lm_tokenizer_token_text(t, (int32_t)id, &l);
        for (int k = 0; k < 3; k++)
            if (x && l == 6 && !memcmp(x, names[k], 6)) b[k] = (int32_t)id;
    }
    assert_true(b[0] >= 0 && b[1] >= 0 && b[2] >= 0);
    lm_detok_stream *s = lm_detok_stream_create(t, false);
    const char *p;
    assert_int_equal(lm_detok_stream_push(s, b[0], &p), 0);
    assert_int_equal(lm_detok_stream_push(s, b[1], &p), 0);
    assert_int_equal(lm_detok_stream_push(s, b[2], &p), 3);
    assert_memory_equal(p, "\xE6\x97\xA5", 3);
    /* a dangling lead byte is flushed as U+FFFD */
    assert_int_equal(lm_detok_stream_push(s, b[0], &p), 0);
    assert_int_equal(lm_detok_stream_flush(s, &p), 3);
    assert_memory_equal(p, "\xEF\xBF\xBD", 3);
    lm_detok_stream_free(s);
    char *text;
    size_t len;
    int32_t broken[2] = {b[0], b[1]};
    assert_int_equal(lm_detokenize(t, broken, 2, false, &text, &len, &err), LM_OK);
    assert_string_equal(text, "\xEF\xBF\xBD\xEF\xBF\xBD");
    free(text);
    int32_t bad = (int32_t)lm_tokenizer_vocab_size(t);
    assert_int_equal(lm_detokenize(t, &bad, 1, false, &text, &len, &err), LM_ERR_INVALID_ARG);
    lm_tokenizer_free(t);
}

/* Malformed or unsupported tokenizer.json is an error with a reason, never a crash. */
static void bad_json_is_reported(void **state) {
    (void)state;
    lm_tokenizer *t = NULL;
    lm_err err = {0};
    assert_int_equal(lm_tokenizer_from_json("{", 1, NULL, 0, &t, &err), LM_ERR_JSON);
    const char *wp = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}";
    assert_int_equal(lm_tokenizer_from_json(wp, strlen(wp), NULL, 0, &t, &err), LM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "WordPiece"));
    const char *far = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":900000000},\"merges\":[]}}";
    assert_int_equal(lm_tokenizer_from_json(far, strlen(far), NULL, 0, &t, &err), LM_ERR_TOKENIZER);
    const char *re = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                     "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"}}}";
    assert_int_equal(lm_tokenizer_from_json(re, strlen(re), NULL, 0, &t, &err), LM_ERR_TOKENIZER);
    assert_null(t);
}

/* Every pre-tokenizer name a GGUF file may carry compiles and round-trips
 * text over a vocabulary of the 256 byte tokens; unknown names say so. */
static void gguf_pre_names(void **state) {
    (void)state;
    static const char *names[] = {
        "default",        "llama-bpe", "qwen2",        "smollm",      "gpt-2",     "deepseek-llm",
        "deepseek-coder", "falcon",    "starcoder",    "refact",      "command-r", "olmo",
        "dbrx",           "poro",      "tekken",       "chatglm-bpe", "viking",    "jais",
        "smaug-bpe",      "bloom",     "gpt3-finnish", "exaone",      "chameleon", "minerva-7b",
        "codeshell",      "mpt",       "stablelm2",    "roberta-bpe", "gpt-4o",    "deepseek-v3",
        "no-such-pre"};
    static char texts[256][4];
    const char *tokens[256];
    uint32_t lens[256];
    for (int b = 0; b < 256; b++) { /* GPT-2 byte map */
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        int cp = b, k = 0;
        if (!printable) {
            for (int i = 0; i < b; i++)
                k += !((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE);
            cp = 0x100 + k;
        }
        if (cp < 0x80)
            texts[b][0] = (char)cp, lens[b] = 1;
        else
            texts[b][0] = (char)(0xC0 | (cp >> 6)), texts[b][1] = (char)(0x80 | (cp & 0x3F)),
            lens[b] = 2;
        tokens[b] = texts[b];
    }
    const char *text = "Hello, World! It's 2024: naïve 日本語 😀  x\n\n\ty";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        lm_vocab_spec s = {.kind = LM_VOCAB_BPE,
                           .n_tokens = 256,
                           .tokens = tokens,
                           .token_lens = lens,
                           .bos_id = -1,
                           .eos_id = -1,
                           .eot_id = -1,
                           .eom_id = -1,
                           .unk_id = -1,
                           .pad_id = -1,
                           .add_bos = -1,
                           .add_eos = -1,
                           .add_space_prefix = -1};
        snprintf(s.model, sizeof s.model, "gpt2");
        snprintf(s.pre, sizeof s.pre, "%s", names[i]);
        lm_tokenizer *t = NULL;
        lm_err err = {0};
        lm_status st = lm_tokenizer_from_spec(&s, &t, &err);
        if (st != LM_OK) fprintf(stderr, "%s: %s\n", names[i], err.msg);
        assert_int_equal(st, LM_OK);
        const char *d = lm_tokenizer_describe(t);
        assert_non_null(strstr(d, names[i]));
        if (!strcmp(names[i], "no-such-pre")) assert_non_null(strstr(d, "default"));
        int32_t *ids;
        size_t n;
        char *back;
        assert_int_equal(lm_tokenize(t, text, strlen(text), true, true, &ids, &n, &err), LM_OK);
        assert_int_equal(n, strlen(text)); /* no merges: one token per byte */
        assert_int_equal(lm_detokenize(t, ids, n, false, &back, NULL, &err), LM_OK);
        assert_string_equal(back, text);
        free(back);
        free(ids);
        lm_tokenizer_free(t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refs_llama3),
        cmocka_unit_test(refs_qwen3),
        cmocka_unit_test(refs_llama2),
        cmocka_unit_test(hf_tiny_llama3),
        cmocka_unit_test(hf_tiny_qwen2),
        cmocka_unit_test(gguf_models),
        cmocka_unit_test(cli_tokenize),
        cmocka_unit_test(gguf_spec_direct),
        cmocka_unit_test(stream_holds_partial_utf8),
        cmocka_unit_test(bad_json_is_reported),
        cmocka_unit_test(gguf_pre_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
