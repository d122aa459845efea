// labels: unit asan
/* test_safetensors.c — safetensors headers, shard index, config.json and
 * tokenizer_config.json: valid files parse, malformed ones fail by name. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/hf_config.h"
#include "format/safetensors.h"

/* header JSON + data bytes -> a safetensors file in a malloc'd exact-size buffer */
static uint8_t *st_file(const char *header, size_t data_len, size_t *len) {
    size_t hl = strlen(header);
    *len = 8 + hl + data_len;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hl + i] = (uint8_t)i;
    return b;
}

static void st_expect(const char *header, size_t data_len, lm_status code, const char *needle) {
    size_t len;
    uint8_t *b = st_file(header, data_len, &len);
    lm_safetensors *st = NULL;
    lm_err e = {0};
    lm_status s = lm_safetensors_parse(b, len, &st, &e);
    if (s != code || (needle && !strstr(e.msg, needle)))
        fail_msg("expected %s \"%s\", got %s \"%s\"", lm_status_name(code), needle ? needle : "",
                 lm_status_name(s), e.msg);
    lm_safetensors_free(st);
    free(b);
}

static void safetensors_valid(void **state) {
    (void)state;
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a.weight\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[0,12]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[12,14]},"
                    "\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[14,22]}}";
    size_t len;
    uint8_t *b = st_file(h, 22, &len);
    lm_safetensors *st;
    lm_err e = {0};
    assert_int_equal(lm_safetensors_parse(b, len, &st, &e), LM_OK);
    assert_int_equal(st->n_tensors, 3);
    const lm_st_tensor *t = lm_safetensors_find(st, "a.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, LM_ST_F16);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 2);
    assert_int_equal(t->nbytes, 12);
    assert_int_equal(t->file_offset, 8 + strlen(h));
    assert_int_equal(((const uint8_t *)t->data)[1], 1);
    t = lm_safetensors_find(st, "b");
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->nbytes, 2);
    assert_int_equal(lm_st_dtype_to_type(LM_ST_I64), -1);
    assert_int_equal(lm_st_dtype_to_type(LM_ST_BF16), 30);
    lm_safetensors_free(st);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, b, cut);
        assert_int_not_equal(lm_safetensors_parse(c, cut, &st, &e), LM_OK);
        free(c);
    }
    free(b);
}

static void safetensors_hostile(void **state) {
    (void)state;
    st_expect("{\"x\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 4,
              LM_ERR_MODEL_FORMAT, "tensor x: data [0, 8) is past the end of the data (4 bytes)");
    st_expect("{\"x\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,6]}}", 8,
              LM_ERR_MODEL_FORMAT, "span 6 bytes but shape and dtype need 8");
    st_expect("{\"x\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[6,2]}}", 8,
              LM_ERR_MODEL_FORMAT, "begin <= end");
    st_expect("{\"x\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 8,
              LM_ERR_UNSUPPORTED, "unsupported dtype Q4");
    st_expect("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 8,
              LM_ERR_MODEL_FORMAT, "dimension 0 is not a valid size");
    st_expect("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8,
              LM_ERR_MODEL_FORMAT, "dimension 0");
    st_expect("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
              "\"data_offsets\":[0,4]}}",
              8, LM_ERR_MODEL_FORMAT, "dimension 1 is not a valid size");
    st_expect("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 8,
              LM_ERR_MODEL_FORMAT, "data_offsets");
    st_expect("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8, LM_ERR_MODEL_FORMAT, "data_offsets");
    st_expect("[1,2]", 0, LM_ERR_MODEL_FORMAT, "not a JSON object");
    st_expect("{\"x\":", 0, LM_ERR_MODEL_FORMAT, "not valid JSON");
    st_expect("{\"bad\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
              LM_ERR_MODEL_FORMAT, "non-UTF-8");
    /* header length past the end */
    uint8_t b[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0};
    lm_safetensors *st;
    lm_err e = {0};
    assert_int_equal(lm_safetensors_parse(b, sizeof b, &st, &e), LM_ERR_MODEL_FORMAT);
    assert_non_null(strstr(e.msg, "header length 1099511627775 is past the end"));
}

static void index_parse(void **state) {
    (void)state;
    const char *j = "{\"metadata\":{\"total_size\":10},\"weight_map\":{"
                    "\"a\":\"model-00001-of-00002.safetensors\","
                    "\"b\":\"model-00002-of-00002.safetensors\","
                    "\"c\":\"model-00001-of-00002.safetensors\"}}";
    lm_st_index *ix;
    lm_err e = {0};
    assert_int_equal(lm_st_index_parse(j, strlen(j), &ix, &e), LM_OK);
    assert_int_equal(ix->n_entries, 3);
    assert_int_equal(ix->n_files, 2);
    assert_string_equal(ix->tensor_names[2], "c");
    assert_string_equal(ix->files[ix->file_of[2]], "model-00001-of-00002.safetensors");
    assert_string_equal(ix->files[ix->file_of[1]], "model-00002-of-00002.safetensors");
    lm_st_index_free(ix);
    const char *bad[] = {"{\"weight_map\":{\"a\":\"../etc/passwd\"}}",
                         "{\"weight_map\":{\"a\":\"/abs.safetensors\"}}",
                         "{\"weight_map\":{\"a\":\"..\"}}",
                         "{\"weight_map\":{\"a\":1}}",
                         "{\"weight_map\":[]}",
                         "{}"};
    for (int i = 0; i < 6; i++) {
        ix = NULL;
        assert_int_equal(lm_st_index_parse(bad[i], strlen(bad[i]), &ix, &e), LM_ERR_JSON);
        assert_null(ix);
    }
}

static void config_llama3(void **state) {
    (void)state;
    const char *j = "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
                    "\"vocab_size\":1024,\"head_dim\":64,\"rope_theta\":500000.0,"
                    "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                    "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                    "\"original_max_position_embeddings\":8192},"
                    "\"tie_word_embeddings\":false,\"attention_bias\":false,"
                    "\"bos_token_id\":1019,\"eos_token_id\":[1020,1023],"
                    "\"hidden_size\":256,\"intermediate_size\":512,\"num_hidden_layers\":2,"
                    "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                    "\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-05}";
    lm_hf_config c;
    lm_err e = {0};
    assert_int_equal(lm_hf_config_parse(j, strlen(j), &c, &e), LM_OK);
    assert_string_equal(c.model_type, "llama");
    assert_string_equal(c.architecture, "LlamaForCausalLM");
    assert_int_equal(c.hidden_size, 256);
    assert_int_equal(c.intermediate_size, 512);
    assert_int_equal(c.num_hidden_layers, 2);
    assert_int_equal(c.num_attention_heads, 4);
    assert_int_equal(c.num_key_value_heads, 2);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.vocab_size, 1024);
    assert_int_equal(c.max_position_embeddings, 2048);
    assert_true(c.rope_theta == 500000.0);
    assert_true(c.rms_norm_eps == 1e-5);
    assert_true(c.has_rope_scaling);
    assert_string_equal(c.rope_type, "llama3");
    assert_true(c.rope_factor == 8.0 && c.low_freq_factor == 1.0 && c.high_freq_factor == 4.0);
    assert_int_equal(c.original_max_position_embeddings, 8192);
    assert_int_equal(c.bos_token_id, 1019);
    assert_int_equal(c.n_eos, 2);
    assert_int_equal(c.eos_token_ids[1], 1023);
}

static void config_defaults_and_errors(void **state) {
    (void)state;
    const char *j = "{\"model_type\":\"qwen2\",\"hidden_size\":96,\"intermediate_size\":8,"
                    "\"num_hidden_layers\":1,\"num_attention_heads\":3,\"vocab_size\":10,"
                    "\"eos_token_id\":5,\"rope_scaling\":null,\"tie_word_embeddings\":true}";
    lm_hf_config c;
    lm_err e = {0};
    assert_int_equal(lm_hf_config_parse(j, strlen(j), &c, &e), LM_OK);
    assert_int_equal(c.num_key_value_heads, 3);
    assert_int_equal(c.head_dim, 32);
    assert_true(c.rope_theta == 10000.0);
    assert_false(c.has_rope_scaling);
    assert_true(c.tie_word_embeddings);
    assert_int_equal(c.bos_token_id, -1);
    assert_int_equal(c.n_eos, 1);
    assert_int_equal(c.eos_token_ids[0], 5);
    struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":1,"
         "\"vocab_size\":1}",
         "config.json: hidden_size is missing"},
        {"{\"hidden_size\":\"256\",\"intermediate_size\":8,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":1,\"vocab_size\":1}",
         "hidden_size must be an integer"},
        {"{\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":100000,"
         "\"num_attention_heads\":1,\"vocab_size\":1}",
         "num_hidden_layers must be an integer in 1..1024"},
        {"{\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":1,\"vocab_size\":1,\"eos_token_id\":[1,\"x\"]}",
         "eos_token_id[1] must be an integer"},
        {"{\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":1,\"vocab_size\":1,\"rope_theta\":-1}",
         "rope_theta must be a positive number"},
        {"{\"hidden_size\":2,\"intermediate_size\":8,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":4,\"vocab_size\":1}",
         "smaller than num_attention_heads"},
        {"{\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,"
         "\"num_attention_heads\":1,\"vocab_size\":1,\"rope_scaling\":{\"factor\":2}}",
         "rope_scaling has no rope_type"},
        {"nope", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lm_status s = lm_hf_config_parse(bad[i].json, strlen(bad[i].json), &c, &e);
        if (s != LM_ERR_JSON || !strstr(e.msg, bad[i].needle))
            fail_msg("case %zu: got %s \"%s\"", i, lm_status_name(s), e.msg);
    }
}

static void tokenizer_config(void **state) {
    (void)state;
    const char *j = "{\"bos_token\":{\"content\":\"<s>\",\"lstrip\":false},\"eos_token\":\"</s>\","
                    "\"add_bos_token\":true,\"chat_template\":[{\"name\":\"tool_use\","
                    "\"template\":\"T\"},{\"name\":\"default\",\"template\":\"D{{x}}\"}]}";
    lm_hf_tokenizer_config t;
    lm_err e = {0};
    assert_int_equal(lm_hf_tokenizer_config_parse(j, strlen(j), &t, &e), LM_OK);
    assert_string_equal(t.bos_token, "<s>");
    assert_string_equal(t.eos_token, "</s>");
    assert_string_equal(t.chat_template, "D{{x}}");
    assert_int_equal(t.add_bos_token, 1);
    assert_int_equal(t.add_eos_token, -1);
    lm_hf_tokenizer_config_free(&t);
    const char *j2 = "{\"bos_token\":null,\"chat_template\":\"X\",\"add_bos_token\":false}";
    assert_int_equal(lm_hf_tokenizer_config_parse(j2, strlen(j2), &t, &e), LM_OK);
    assert_null(t.bos_token);
    assert_string_equal(t.chat_template, "X");
    assert_int_equal(t.add_bos_token, 0);
    lm_hf_tokenizer_config_free(&t);
    const char *j3 = "{\"chat_template\":42}";
    assert_int_equal(lm_hf_tokenizer_config_parse(j3, strlen(j3), &t, &e), LM_ERR_JSON);
    assert_non_null(strstr(e.msg, "chat_template must be a string"));
    assert_null(t.chat_template);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(safetensors_valid),
        cmocka_unit_test(safetensors_hostile),
        cmocka_unit_test(index_parse),
        cmocka_unit_test(config_llama3),
        cmocka_unit_test(config_defaults_and_errors),
        cmocka_unit_test(tokenizer_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
