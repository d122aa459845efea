// labels: unit asan
/* test_worker.c — the worker with fake engines: greedy output equals the
 * engine's reference continuation, failover mid-generation continues with the
 * same tokens on the next engine, decisions reach the events, cancellation
 * stops before the next token, sessions reuse their KV prefix, concurrent
 * requests interleave, keep-alive expiry and explicit unload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/registry.h"
#include "helpers/fake_backend.h"
#include "runtime/worker.h"

#define NV 97

/* Events of the requests of one test, collected from the worker thread. */
typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t toks[2][512];
    int n_toks[2];
    uint64_t ids[2];
    uint64_t order[1024]; /* request id of each token event */
    int n_order;
    int terminal;
    lm_worker_event last[2];
    char backend[2][32], fallback[2][1024], finish[2][32], message[2][512];
    int cancel_after; /* cancel request 0 after this many tokens (0: never) */
    lm_worker *w;
    int n_models_listed;
    int progress_events;
} collector;

static int slot_of(collector *c, uint64_t id) {
    return c->ids[1] == id ? 1 : 0;
}

static void on_event(const lm_worker_event *ev, void *user) {
    collector *c = user;
    pthread_mutex_lock(&c->mu);
    int k = slot_of(c, ev->request_id);
    switch (ev->kind) {
    case LM_EV_TOKEN:
        if (ev->token_id >= 0) c->toks[k][c->n_toks[k]++] = ev->token_id;
        if (c->n_order < 1024) c->order[c->n_order++] = ev->request_id;
        if (c->cancel_after && k == 0 && c->n_toks[0] == c->cancel_after)
            lm_worker_cancel(c->w, ev->request_id); /* posting from the callback is allowed */
        break;
    case LM_EV_PROGRESS: c->progress_events++; break;
    case LM_EV_LIST: c->n_models_listed = ev->n_models; /* fall through */
    default:
        c->last[k] = *ev;
        if (ev->backend) snprintf(c->backend[k], sizeof c->backend[k], "%s", ev->backend);
        if (ev->fallback) snprintf(c->fallback[k], sizeof c->fallback[k], "%s", ev->fallback);
        if (ev->finish_reason) snprintf(c->finish[k], sizeof c->finish[k], "%s", ev->finish_reason);
        if (ev->message) snprintf(c->message[k], sizeof c->message[k], "%s", ev->message);
        c->terminal++;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

static void wait_terminal(collector *c, int n) {
    pthread_mutex_lock(&c->mu);
    while (c->terminal < n) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

/* Records the id under the collector's lock, so that an event that arrives
 * before the post returns is filed under the right request. */
#define POST(c, k, call)                                                                          \
    do {                                                                                          \
        pthread_mutex_lock(&(c)->mu);                                                             \
        (c)->ids[k] = (call);                                                                     \
        pthread_mutex_unlock(&(c)->mu);                                                           \
    } while (0)

static collector *new_collector(lm_worker *w) {
    collector *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->w = w;
    return c;
}

static void free_collector(collector *c) {
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* The reference continuation: what greedy decoding must produce. */
static void reference(const int32_t *prompt, int n_prompt, int n_gen, int32_t *out) {
    int32_t seq[512];
    memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
    for (int i = 0; i < n_gen; i++) {
        out[i] = fake_next_token(seq, n_prompt + i, NV);
        seq[n_prompt + i] = out[i];
    }
}

static lm_model_desc g_desc;

static int setup(void **state) {
    (void)state;
    unsetenv("LOCALM_BACKEND");
    fake_reset(0, "wdecl");
    fake_cfgs[0].decline_reason = "no fake GPU";
    fake_reset(1, "wprimary");
    fake_reset(2, "wsecondary");
    for (int i = 0; i < 3; i++) assert_int_equal(lm_registry_register(fake_ops(i), i, NULL), LM_OK);
    fake_model_desc(&g_desc, NV, 256, 7);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lm_registry_unregister("wdecl", NULL);
    lm_registry_unregister("wprimary", NULL);
    lm_registry_unregister("wsecondary", NULL);
    return 0;
}

static void gen_params(lm_generate_params *p, const int32_t *prompt, int n, int n_predict) {
    lm_generate_params_default(p);
    p->model.desc = &g_desc;
    p->prompt_tokens = prompt;
    p->n_prompt_tokens = n;
    p->n_predict = n_predict;
    p->sampling.temperature = 0;
    p->sampling.repeat_penalty = 1.0f;
    p->sampling.frequency_penalty = 0;
    p->sampling.presence_penalty = 0;
}

static const int32_t k_prompt[] = {5, 17, 3, 88, 41};

static void greedy_matches_reference_and_reports_decisions(void **state) {
    (void)state;
    lm_worker *w;
    assert_int_equal(lm_worker_create(NULL, &w, NULL), LM_OK);
    collector *c = new_collector(w);
    lm_generate_params p;
    gen_params(&p, k_prompt, 5, 12);
    POST(c, 0, lm_worker_generate(w, &p, on_event, c));
    assert_true(c->ids[0] > 0);
    wait_terminal(c, 1);
    assert_int_equal(c->last[0].kind, LM_EV_DONE);
    assert_string_equal(c->finish[0], "length");
    assert_string_equal(c->backend[0], "wprimary");
    assert_string_equal(c->fallback[0], "wdecl: declined — no fake GPU");
    int32_t ref[12];
    reference(k_prompt, 5, 12, ref);
    assert_int_equal(c->n_toks[0], 12);
    assert_memory_equal(c->toks[0], ref, sizeof ref);
    assert_int_equal(c->last[0].usage.prompt_tokens, 5);
    assert_int_equal(c->last[0].usage.prefilled_tokens, 5);
    assert_int_equal(c->last[0].usage.completion_tokens, 12);
    assert_true(c->progress_events > 0);
    lm_worker_free(w);
    assert_int_equal(fake_cfgs[1].live_engines, 0); /* everything unloaded */
    free_collector(c);
}

static void failover_mid_generation_continues_same_text(void **state) {
    (void)state;
    fake_cfgs[1].fail_at_forward = 5; /* prefill + 3 decodes succeed, the 5th call fails */
    lm_worker *w;
    assert_int_equal(lm_worker_create(NULL, &w, NULL), LM_OK);
    collector *c = new_collector(w);
    lm_generate_params p;
    gen_params(&p, k_prompt, 5, 12);
    POST(c, 0, lm_worker_generate(w, &p, on_event, c));
    wait_terminal(c, 1);
    assert_int_equal(c->last[0].kind, LM_EV_DONE);
    int32_t ref[12];
    reference(k_prompt, 5, 12, ref);
    assert_int_equal(c->n_toks[0], 12);
    assert_memory_equal(c->toks[0], ref, sizeof ref);
    assert_string_equal(c->backend[0], "wsecondary");
    assert_non_null(strstr(c->fallback[0], "wdecl: declined — no fake GPU"));
    assert_non_null(strstr(c->fallback[0], "wprimary: failed — forward failed after 4 generated "
                                           "tokens: injected fault at forward 5"));
    assert_int_equal(fake_cfgs[1].live_engines, 0); /* the failed engine was unloaded */
    assert_int_equal(fake_cfgs[2].loads, 1);
    assert_true(c->last[0].timings.rebuild_ms >= 0);
    lm_worker_free(w);
    free_collector(c);
}

static void load_failure_falls_through(void **state) {
    (void)state;
    fake_cfgs[1].load_fails = true;
    lm_worker *w;
    assert_int_equal(lm_worker_create(NULL, &w, NULL), LM_OK);
    collector *c = new_collector(w);
    lm_model_ref r;
    lm_model_ref_default(&r);
    r.desc = &g_desc;
    POST(c, 0, lm_worker_load(w, &r, on_event, c));
    wait_terminal(c, 1);
    assert_int_equal(c->last[0].kind, LM_EV_LOADED);
    assert_string_equal(c->backend[0], "wsecondary");
    assert_string_equal(c->fallback[0], "wdecl: declined — no fake GPU; "
                                        "wprimary: failed — fake load error in wprimary");
    /* Strict choice of the broken engine: an error naming the reason. */
    r.backend = "wprimary";
    POST(c, 1, lm_worker_load(w, &r, on_event, c));
    wait_terminal(c, 2);
    assert_int_equal(c->last[1].kind, LM_EV_ERROR);
    assert_non_null(strstr(c->message[1], "backend 'wprimary' (chosen by --backend) cannot run"));
    assert_non_null(strstr(c->message[1], "fake load error in wprimary"));
    lm_worker_free(w);
    free_collector(c);
}

static void cancel_stops_before_next_token(void **state) {
    (void)state;
    fake_cfgs[1].forward_delay_us = 2000;
    lm_worker *w;
    assert_int_equal(lm_worker_create(NULL, &w, NULL), LM_OK);
    collector *c = new_collector(w);
    c->cancel_after = 3;
    lm_generate_params p;
    gen_params(&p, k_prompt, 5, 200);
    POST(c, 0, lm_worker_generate(w, &p, on_event, c));
    wait_terminal(c, 1);
    assert_string_equal(c->finish[0], "cancelled");
    assert_int_equal(c->n_toks[0], 3);
    assert_int_equal(c->last[0].usage.completion_tokens, 3);
    lm_worker_free(w);
    free_collector(c);
}

static void session_reuses_kv_prefix(void **state) {
    (void)state;
    lm_worker *w;
    assert_int_equal(lm_worker_create(NULL, &w, NULL), LM_OK);
    collector *c = new_collector(w);
    lm_generate_params p;
    gen_params(&p, k_prompt, 5, 4);
    p.session = 9;
    p.keep_kv = true;
    POST(c, 0, lm_worker_generate(w, &p, on_event, c));
    wait_terminal(c, 1);
    assert_int_equal(c->n_toks[0], 4);
    /* Turn 2: the whole first turn plus two new tokens. */
    int32_t turn2[11];
    memcpy(turn2, k_prompt, sizeof k_prompt);
    memcpy(turn2 + 5, c->toks[0], 4 * sizeof(int32_t));
    turn2[9] = 60;
    turn2[10] = 61;
    gen_params(&p, turn2, 11, 6);
    p.session = 9;
    p.keep_kv = true;
    POST(c, 1, lm_worker_generate(w, &p, on_event, c));
    wait_terminal(c, 2);
    assert_int_equal(c->last[1].kind, LM_EV_DONE);
    assert_int_equal(c->last[1].usage.prompt_tokens, 11);
    /* KV held prompt + 3 generated (the 4th was sampled, never fed): 8 kept. */
    assert_int_equal(c->last[1].usage.prefilled_tokens, 3);
    int32_t ref[6];
    reference(turn2, 11, 6, ref);
    assert_memory_equal(c->toks[1], ref, sizeof ref);
    lm_worker_free(w);
    free_collector(c);
}

static void concurrent_requests_take_turns(void **state) {
    (void)state;
    lm_worker *w;
    assert_int_equal(lm_worker_create(NULL, &w, NULL), LM_OK);
    collector *c = new_collector(w);
    lm_generate_params p;
    gen_params(&p, k_prompt, 5, 8);
    p.model.opts.n_seq_max = 2;
    /* Hold the worker while both are posted so they are admitted together. */
    pthread_mutex_lock(&c->mu);
    c->ids[0] = lm_worker_generate(w, &p, on_event, c);
    int32_t other[] = {9, 9, 9};
    gen_params(&p, other, 3, 8);
    p.model.opts.n_seq_max = 2;
    c->ids[1] = lm_worker_generate(w, &p, on_event, c);
    pthread_mutex_unlock(&c->mu);
    wait_terminal(c, 2);
    int32_t ref0[8], ref1[8];
    reference(k_prompt, 5, 8, ref0);
    reference(other, 3, 8, ref1);
    assert_memory_equal(c->toks[0], ref0, sizeof ref0);
    assert_memory_equal(c->toks[1], ref1, sizeof ref1);
    /* Round robin: request 1 produced tokens before request 0 finished. */
    int first_b = -1, last_a = -1;
    for (int i = 0; i < c->n_order; i++) {
        if (c->order[i] == c->ids[1] && first_b < 0) first_b = i;
        if (c->order[i] == c->ids[0]) last_a = i;
    }
    assert_true(first_b >= 0 && first_b < last_a);
    lm_worker_free(w);
    free_collector(c);
}

static uint64_t g_now;
static uint64_t fake_clock(void *u) {
    (void)u;
    return __atomic_load_n(&g_now, __ATOMIC_SEQ_CST);
}

static void keep_alive_and_unload(void **state) {
    (void)state;
    lm_worker_params wp;
    lm_worker_default_params(&wp);
    wp.clock = fake_clock;
    g_now = 1000;
    lm_worker *w;
    assert_int_equal(lm_worker_create(&wp, &w, NULL), LM_OK);
    collector *c = new_collector(w);
    lm_model_ref r;
    lm_model_ref_default(&r);
    r.desc = &g_desc;
    r.keep_alive_ns = 2000000000ull; /* 2 s */
    POST(c, 0, lm_worker_load(w, &r, on_event, c));
    wait_terminal(c, 1);
    assert_int_equal(fake_cfgs[1].live_engines, 1);
    POST(c, 1, lm_worker_list(w, on_event, c));
    wait_terminal(c, 2);
    assert_int_equal(c->n_models_listed, 1);
    __atomic_store_n(&g_now, 1000 + 1999999999ull, __ATOMIC_SEQ_CST);
    POST(c, 1, lm_worker_list(w, on_event, c));
    wait_terminal(c, 3);
    assert_int_equal(c->n_models_listed, 1); /* not yet */
    __atomic_store_n(&g_now, 1000 + 2000000000ull, __ATOMIC_SEQ_CST);
    lm_worker_poke(w);
    POST(c, 1, lm_worker_list(w, on_event, c));
    wait_terminal(c, 4);
    assert_int_equal(c->n_models_listed, 0);
    assert_int_equal(fake_cfgs[1].live_engines, 0);
    /* Load again, unload explicitly. */
    POST(c, 0, lm_worker_load(w, &r, on_event, c));
    wait_terminal(c, 5);
    POST(c, 0, lm_worker_unload(w, &r, on_event, c));
    wait_terminal(c, 6);
    assert_int_equal(c->last[0].kind, LM_EV_UNLOADED);
    assert_int_equal(fake_cfgs[1].live_engines, 0);
    POST(c, 0, lm_worker_unload(w, &r, on_event, c));
    wait_terminal(c, 7);
    assert_int_equal(c->last[0].kind, LM_EV_ERROR);
    assert_int_equal(c->last[0].status, LM_ERR_NOT_FOUND);
    lm_worker_free(w);
    free_collector(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(greedy_matches_reference_and_reports_decisions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failover_mid_generation_continues_same_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(load_failure_falls_through, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_stops_before_next_token, setup, teardown),
        cmocka_unit_test_setup_teardown(session_reuses_kv_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_requests_take_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(keep_alive_and_unload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
