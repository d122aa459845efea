// labels: unit data
/* test_chat_session.c — a chat's second turn prefills only its new tokens:
 * two turns of a real model (tiny-qwen2, its own ChatML template) through the
 * worker with one session, counting the tokens each turn computes against
 * what the first turn left in the KV cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers/testdata.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"
#include "runtime/chat_prompt.h"
#include "runtime/worker.h"
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct turn {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int32_t ids[256];
    int n_ids;
    char text[4096];
    size_t len;
    lm_usage usage;
    char finish[16];
    lm_status status;
} turn;

static void on_event(const lm_worker_event *ev, void *user) {
    turn *t = user;
    pthread_mutex_lock(&t->mu);
    if (ev->kind == LM_EV_TOKEN) {
        if (ev->token_id >= 0 && t->n_ids < 256) t->ids[t->n_ids++] = ev->token_id;
        if (t->len + ev->text_len < sizeof t->text) {
            memcpy(t->text + t->len, ev->text, ev->text_len);
            t->len += ev->text_len;
        }
    } else if (ev->kind == LM_EV_DONE || ev->kind == LM_EV_ERROR) {
        t->usage = ev->usage;
        t->status = ev->kind == LM_EV_DONE ? LM_OK : ev->status;
        snprintf(t->finish, sizeof t->finish, "%s", ev->finish_reason ? ev->finish_reason : "");
        t->done = true;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

static void run_turn(lm_worker *w, lm_generate_params *gp, const char *prompt, turn *t) {
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    gp->prompt = prompt;
    assert_true(lm_worker_generate(w, gp, on_event, t) > 0);
    pthread_mutex_lock(&t->mu);
    while (!t->done) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    assert_int_equal(t->status, LM_OK);
}

static void add_msg(cJSON *msgs, const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(msgs, m);
}

static void second_turn_prefills_only_new_tokens(void **state) {
    (void)state;
    if (!lm_test_data_dir()) {
        skip();
        return;
    }
    lm_model_desc *d = NULL;
    lm_err err = {0};
    assert_int_equal(lm_model_open(lm_test_path("models/tiny-qwen2-f16.gguf"), &d, &err), LM_OK);
    assert_non_null(d->chat_template);
    lm_worker *w = NULL;
    assert_int_equal(lm_worker_create(NULL, &w, &err), LM_OK);
    lm_generate_params gp;
    lm_generate_params_default(&gp);
    gp.model.desc = d;
    gp.model.opts.n_threads = 2;
    gp.sampling.temperature = 0;
    gp.n_predict = 8;
    gp.session = 42;
    gp.keep_kv = true;

    cJSON *msgs = cJSON_CreateArray();
    add_msg(msgs, "user", "The jury said");
    char *p1 = NULL;
    assert_int_equal(lm_chat_prompt(d, msgs, NULL, true, &p1, NULL, &err), LM_OK);
    turn t1, t2;
    run_turn(w, &gp, p1, &t1);
    int32_t *ids1 = NULL;
    size_t n1 = 0;
    assert_int_equal(lm_tokenize(d->tokenizer, p1, strlen(p1), true, true, &ids1, &n1, &err), LM_OK);
    assert_int_equal(t1.usage.prompt_tokens, (int)n1);
    assert_int_equal(t1.usage.prefilled_tokens, (int)n1); /* a new session computes everything */

    add_msg(msgs, "assistant", t1.text);
    add_msg(msgs, "user", "What did they find?");
    char *p2 = NULL;
    assert_int_equal(lm_chat_prompt(d, msgs, NULL, true, &p2, NULL, &err), LM_OK);
    int32_t *ids2 = NULL;
    size_t n2 = 0;
    assert_int_equal(lm_tokenize(d->tokenizer, p2, strlen(p2), true, true, &ids2, &n2, &err), LM_OK);
    /* What the first turn left in the KV cache: its prompt and the generated
     * tokens that were fed back (the last one is not when it ran out of length). */
    int32_t kv[1024];
    size_t n_kv = 0;
    for (size_t i = 0; i < n1; i++) kv[n_kv++] = ids1[i];
    int fed = !strcmp(t1.finish, "length") ? t1.n_ids - 1 : t1.n_ids;
    for (int i = 0; i < fed; i++) kv[n_kv++] = t1.ids[i];
    size_t common = 0;
    while (common < n_kv && common < n2 && kv[common] == ids2[common]) common++;
    assert_true(common >= n1); /* the second prompt starts with the first */

    run_turn(w, &gp, p2, &t2);
    assert_int_equal(t2.usage.prompt_tokens, (int)n2);
    assert_int_equal(t2.usage.prefilled_tokens, (int)(n2 - common));
    assert_true(t2.usage.prefilled_tokens < t2.usage.prompt_tokens);
    fprintf(stderr, "turn 1: %d prompt tokens, all prefilled; turn 2: %d prompt tokens, %d "
                    "prefilled (%zu reused from the KV cache)\n",
            t1.usage.prompt_tokens, t2.usage.prompt_tokens, t2.usage.prefilled_tokens, common);

    /* The same second turn in a fresh session gives the same answer. */
    turn t3;
    gp.session = 43;
    run_turn(w, &gp, p2, &t3);
    assert_int_equal(t3.usage.prefilled_tokens, (int)n2);
    assert_int_equal(t3.len, t2.len);
    assert_memory_equal(t3.text, t2.text, t2.len);

    free(ids1);
    free(ids2);
    free(p1);
    free(p2);
    cJSON_Delete(msgs);
    lm_worker_free(w);
    lm_model_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(second_turn_prefills_only_new_tokens)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
