// labels: unit asan data
/* test_worker_text.c — the worker on a real model (tiny-llama3, CPU engine):
 * streamed token texts concatenate to the whole-sequence decode of the
 * generated ids, stop strings end the text where they begin (and are not
 * emitted), and a session's second turn prefills only its new tokens.
 * Skips without the reference data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testdata.h"
#include "model/model_desc.h"
#include "model/tokenizer.h"
#include "runtime/worker.h"

typedef struct result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    char text[4096];
    size_t len;
    int32_t ids[256];
    int n_ids;
    lm_worker_event last;
    char finish[32];
} result;

static void on_event(const lm_worker_event *ev, void *user) {
    result *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->kind == LM_EV_TOKEN) {
        if (r->len + ev->text_len < sizeof r->text) {
            memcpy(r->text + r->len, ev->text, ev->text_len);
            r->len += ev->text_len;
            r->text[r->len] = 0;
        }
        if (ev->token_id >= 0 && r->n_ids < 256) r->ids[r->n_ids++] = ev->token_id;
    } else if (ev->kind != LM_EV_PROGRESS) {
        r->last = *ev;
        snprintf(r->finish, sizeof r->finish, "%s", ev->finish_reason ? ev->finish_reason : "");
        r->done = true;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

static void run(lm_worker *w, lm_generate_params *p, result *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    assert_true(lm_worker_generate(w, p, on_event, r) > 0);
    pthread_mutex_lock(&r->mu);
    while (!r->done)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    assert_int_equal(r->last.kind, LM_EV_DONE);
}

static void streamed_text_and_stop_strings(void **state) {
    (void)state;
    if (!lm_test_data_dir()) skip();
    lm_model_desc *d;
    lm_err err = {0};
    assert_int_equal(lm_model_open(lm_test_path("models/tiny-llama3-f16.gguf"), &d, &err), LM_OK);
    lm_worker *w;
    assert_int_equal(lm_worker_create(NULL, &w, &err), LM_OK);
    lm_generate_params p;
    lm_generate_params_default(&p);
    p.model.desc = d;
    p.prompt = "The jury said";
    p.n_predict = 24;
    p.sampling.temperature = 0;
    p.sampling.repeat_penalty = 1.0f;
    result *r = malloc(sizeof *r);
    run(w, &p, r);
    /* The stream equals the whole decode of the ids it reported. */
    char *whole;
    size_t wl;
    assert_int_equal(lm_detokenize(d->tokenizer, r->ids, (size_t)r->n_ids, true, &whole, &wl, &err),
                     LM_OK);
    assert_string_equal(r->text, whole);
    assert_true(r->len > 6);
    char full[4096];
    snprintf(full, sizeof full, "%s", r->text);
    int full_ids = r->n_ids;

    /* Stop at a string that starts a few characters in. */
    char stop[8];
    memcpy(stop, full + 4, 3);
    stop[3] = 0;
    const char *stops[] = {"\x01never", stop};
    p.stop = stops;
    p.n_stop = 2;
    run(w, &p, r);
    assert_string_equal(r->finish, "stop");
    size_t at = (size_t)(strstr(full, stop) - full);
    assert_int_equal(r->len, at);
    assert_memory_equal(r->text, full, at);
    assert_true(r->n_ids < full_ids);

    /* A session: turn 2 repeats turn 1's prompt + output and adds text. */
    p.stop = NULL;
    p.n_stop = 0;
    p.n_predict = 8;
    p.session = 3;
    p.keep_kv = true;
    run(w, &p, r);
    char turn2[4200];
    snprintf(turn2, sizeof turn2, "The jury said%s and then", r->text);
    int32_t *t1, *t2;
    size_t n1, n2;
    assert_int_equal(lm_tokenize(d->tokenizer, "The jury said", 13, true, true, &t1, &n1, &err),
                     LM_OK);
    assert_int_equal(lm_tokenize(d->tokenizer, turn2, strlen(turn2), true, true, &t2, &n2, &err),
                     LM_OK);
    /* What stays in KV: the common prefix of the two tokenizations, limited
     * to turn 1's prompt + all but the last generated token. */
    int32_t kv[512];
    size_t nkv = 0;
    memcpy(kv, t1, n1 * sizeof *kv);
    nkv = n1;
    memcpy(kv + nkv, r->ids, (size_t)(r->n_ids - 1) * sizeof *kv);
    nkv += (size_t)r->n_ids - 1;
    size_t keep = 0;
    while (keep < nkv && keep < n2 && kv[keep] == t2[keep])
        keep++;
    p.prompt = turn2;
    run(w, &p, r);
    assert_int_equal(r->last.usage.prompt_tokens, (int)n2);
    assert_int_equal(r->last.usage.prefilled_tokens, (int)(n2 - keep));
    assert_true(r->last.usage.prefilled_tokens < (int)n2);
    /* And the continuation equals a fresh run of the same prompt. */
    char kept[4096];
    snprintf(kept, sizeof kept, "%s", r->text);
    p.session = 0;
    p.keep_kv = false;
    run(w, &p, r);
    assert_string_equal(r->text, kept);
    free(t1);
    free(t2);
    free(whole);
    free(r);
    lm_worker_free(w);
    lm_model_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(streamed_text_and_stop_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
