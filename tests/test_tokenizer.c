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

#pragma weak lm_model_open
#pragma weak lm_model_free

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
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4 : 0;
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
    for (size_t i = 0; same && i < n; i++) same = got[i] == cJSON_GetArrayItem(want, (int)i)->valueint;
    if (!same) {
        fprintf(stderr, "%s: ids differ\n  got :", what);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < wn; i++) fprintf(stderr, " %d", cJSON_GetArrayItem(want, (int)i)->valueint);
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

/* The GGUF files through the model reader (skipped until it is built in). */
static void gguf_models(void **state) {
    (void)state;
    if (!lm_test_data_dir() || !lm_model_open) {
        if (lm_test_data_dir()) fprintf(stderr, "skipped: lm_model_open is not built in\n");
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refs_llama3),    cmocka_unit_test(refs_qwen3),
        cmocka_unit_test(refs_llama2),    cmocka_unit_test(hf_tiny_llama3),
        cmocka_unit_test(hf_tiny_qwen2),  cmocka_unit_test(gguf_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
