// labels: unit asan
/* test_model_hf.c — Hugging Face folders built on the fly: qwen3 (q/k norms,
 * head_dim != hidden/heads), sharded weights with an index, BF16 and F32
 * tensors, renaming to GGUF names and GGUF shape order, and clean failures. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "format/ggml_types.h"
#include "model/model_desc.h"

typedef struct st_entry {
    char name[96];
    const char *dtype;
    uint64_t shape[2];
    int n_dims;
} st_entry;

static void write_text(const char *dir, const char *file, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* One safetensors file holding entries (zero-filled data except a marker). */
static void write_shard(const char *dir, const char *file, const st_entry *e, int n) {
    char hdr[16384];
    int k = snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t elems = 1;
        for (int d = 0; d < e[i].n_dims; d++)
            elems *= e[i].shape[d];
        uint64_t bytes = elems * (strchr(e[i].dtype, '3') ? 4 : 2); /* F32, I32 */
        k += snprintf(
            hdr + k, sizeof hdr - (size_t)k,
            ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%llu%s%.0llu],\"data_offsets\":[%llu,%llu]}",
            e[i].name, e[i].dtype, (unsigned long long)e[i].shape[0], e[i].n_dims > 1 ? "," : "",
            e[i].n_dims > 1 ? (unsigned long long)e[i].shape[1] : 0ull, (unsigned long long)off,
            (unsigned long long)(off + bytes));
        off += bytes;
    }
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, "}");
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    uint64_t hl = (uint64_t)k;
    for (int i = 0; i < 8; i++)
        fputc((int)((hl >> (8 * i)) & 0xff), f);
    fwrite(hdr, 1, (size_t)k, f);
    for (uint64_t i = 0; i < off; i++)
        fputc((int)(i % 251), f);
    fclose(f);
}

static int layer_entries(st_entry *e, int layer, const char *dt) {
    static const struct {
        const char *suffix;
        uint64_t a, b;
        int nd;
    } k[] = {
        {"input_layernorm.weight", 32, 0, 1},   {"self_attn.q_proj.weight", 64, 32, 2},
        {"self_attn.k_proj.weight", 32, 32, 2}, {"self_attn.v_proj.weight", 32, 32, 2},
        {"self_attn.o_proj.weight", 32, 64, 2}, {"self_attn.q_norm.weight", 16, 0, 1},
        {"self_attn.k_norm.weight", 16, 0, 1},  {"post_attention_layernorm.weight", 32, 0, 1},
        {"mlp.gate_proj.weight", 48, 32, 2},    {"mlp.up_proj.weight", 48, 32, 2},
        {"mlp.down_proj.weight", 32, 48, 2},    {"self_attn.rotary_emb.inv_freq", 8, 0, 1},
    };
    int n = (int)(sizeof k / sizeof *k);
    for (int i = 0; i < n; i++) {
        snprintf(e[i].name, sizeof e[i].name, "model.layers.%d.%s", layer, k[i].suffix);
        e[i].dtype = dt;
        e[i].shape[0] = k[i].a;
        e[i].shape[1] = k[i].b;
        e[i].n_dims = k[i].nd;
    }
    return n;
}

static const char *k_config =
    "{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\",\"hidden_size\":32,"
    "\"intermediate_size\":48,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
    "\"num_key_value_heads\":2,\"head_dim\":16,\"vocab_size\":8,\"rope_theta\":1000000,"
    "\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":true,\"max_position_embeddings\":512}";

static void make_folder(char *dir, const char *shard0_dtype, const char *index) {
    strcpy(dir, "/tmp/localm-hf-XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_text(dir, "config.json", k_config);
    write_text(dir, "tokenizer_config.json",
               "{\"eos_token\":\"<|im_end|>\",\"chat_template\":\"{{ messages }}\"}");
    st_entry e[16];
    int n = layer_entries(e, 0, shard0_dtype);
    strcpy(e[n].name, "model.embed_tokens.weight");
    e[n].dtype = "BF16", e[n].shape[0] = 8, e[n].shape[1] = 32, e[n].n_dims = 2;
    n++;
    write_shard(dir, "model-00001-of-00002.safetensors", e, n);
    n = layer_entries(e, 1, "F32");
    strcpy(e[n].name, "model.norm.weight");
    e[n].dtype = "F32", e[n].shape[0] = 32, e[n].n_dims = 1;
    n++;
    write_shard(dir, "model-00002-of-00002.safetensors", e, n);
    write_text(dir, "model.safetensors.index.json", index);
}

static void remove_folder(const char *dir) {
    const char *files[] = {"config.json", "tokenizer_config.json", "model.safetensors.index.json",
                           "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    char p[512];
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static const char *k_index = "{\"weight_map\":{\"model.embed_tokens.weight\":"
                             "\"model-00001-of-00002.safetensors\",\"model.norm.weight\":"
                             "\"model-00002-of-00002.safetensors\"}}";

static void sharded_qwen3(void **state) {
    (void)state;
    char dir[64];
    make_folder(dir, "BF16", k_index);
    lm_model_desc *m = NULL;
    lm_err e = {0};
    if (lm_model_open(dir, &m, &e)) fail_msg("%s", e.msg);
    const lm_hparams *hp = &m->hp;
    assert_int_equal(hp->arch, LM_ARCH_QWEN3);
    assert_string_equal(hp->arch_name, "qwen3");
    assert_int_equal(hp->n_embd, 32);
    assert_int_equal(hp->head_dim, 16);
    assert_int_equal(hp->n_head, 4);
    assert_int_equal(hp->n_head_kv, 2);
    assert_int_equal(hp->n_ff, 48);
    assert_int_equal(hp->n_vocab, 8);
    assert_int_equal(hp->n_ctx_train, 512);
    assert_true(hp->qk_norm);
    assert_false(hp->qkv_bias);
    assert_true(hp->tied_embeddings);
    assert_int_equal(hp->rope_layout, LM_ROPE_HALF);
    assert_ptr_equal(m->output, m->tok_embd);
    /* 2 x 11 layer tensors + embedding + norm; inv_freq buffers are not weights */
    assert_int_equal(m->n_tensors, 24);
    const lm_tensor *q = m->layers[0].wq;
    assert_string_equal(q->name, "blk.0.attn_q.weight");
    assert_int_equal(q->ne[0], 32);
    assert_int_equal(q->ne[1], 64);
    assert_int_equal(q->type, LM_TYPE_BF16);
    assert_int_equal(q->file_index, 0);
    assert_int_equal(m->layers[0].wo->ne[0], 64);
    assert_int_equal(m->layers[1].q_norm->ne[0], 16);
    assert_int_equal(m->layers[1].ffn_down->type, LM_TYPE_F32);
    assert_int_equal(m->layers[1].ffn_down->file_index, 1);
    assert_int_equal(m->layers[1].ffn_down->ne[0], 48);
    assert_int_equal(m->output_norm->file_index, 1);
    assert_string_equal(m->eos_text, "<|im_end|>");
    assert_string_equal(m->chat_template, "{{ messages }}");
    assert_null(m->tokenizer); /* no tokenizer.json in this folder */
    lm_model_free(m);
    remove_folder(dir);
}

static void bad_folders(void **state) {
    (void)state;
    struct {
        const char *dtype, *index;
        lm_status code;
        const char *needle;
    } cases[] = {
        {"I32", k_index, LM_ERR_UNSUPPORTED,
         "tensor model.layers.0.input_layernorm.weight: dtype I32 is not supported"},
        {"BF16", "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}", LM_ERR_JSON,
         "invalid file name"},
        {"BF16", "{\"weight_map\":{\"a\":\"model-00003-of-00002.safetensors\"}}", LM_ERR_NOT_FOUND,
         "model-00003-of-00002.safetensors"},
        {"BF16", "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\"}}",
         LM_ERR_MODEL_FORMAT, "tensor output_norm.weight is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[64];
        make_folder(dir, cases[i].dtype, cases[i].index);
        lm_model_desc *m = NULL;
        lm_err e = {0};
        lm_status s = lm_model_open(dir, &m, &e);
        if (s != cases[i].code || !strstr(e.msg, cases[i].needle))
            fail_msg("case %zu: expected %s \"%s\", got %s \"%s\"", i,
                     lm_status_name(cases[i].code), cases[i].needle, lm_status_name(s), e.msg);
        assert_null(m);
        remove_folder(dir);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sharded_qwen3),
        cmocka_unit_test(bad_folders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
