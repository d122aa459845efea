// labels: unit asan
/* test_sampler.c — the sampler against definitions: greedy is the argmax,
 * one seed gives one sequence, top-k/top-p/min-p only ever pick allowed
 * tokens (and draw them in proportion), penalties change the choice as
 * defined, logprob is the log-softmax of the unmodified logits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/sampler.h"

#define NV 16

static void plain_params(lm_sampler_params *p, float temp) {
    lm_sampler_params_default(p);
    p->temperature = temp;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->min_p = 0;
    p->repeat_penalty = 1.0f;
    p->seed = 1234;
}

/* Logits whose softmax is exactly probs (log of the probabilities). */
static void logits_from_probs(const double *probs, float *l, int n) {
    for (int i = 0; i < n; i++)
        l[i] = probs[i] > 0 ? (float)log(probs[i]) : -1e30f;
}

static const double k_probs[NV] = {0.40,  0.25,  0.15,  0.08,  0.04,  0.03,  0.02,   0.01,
                                   0.005, 0.005, 0.003, 0.003, 0.002, 0.001, 0.0005, 0.0005};

/* Draws n tokens and counts them. */
static void draw(lm_sampler_params *p, int n, int *counts) {
    lm_sampler *s = lm_sampler_create(p, NV);
    assert_non_null(s);
    float l[NV];
    memset(counts, 0, sizeof(int) * NV);
    for (int i = 0; i < n; i++) {
        logits_from_probs(k_probs, l, NV);
        int32_t t = lm_sampler_sample(s, l, NULL, 0, NULL);
        assert_true(t >= 0 && t < NV);
        counts[t]++;
    }
    lm_sampler_free(s);
}

static void greedy_is_argmax(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 0);
    lm_sampler *s = lm_sampler_create(&p, 1000);
    float *l = malloc(1000 * sizeof(float));
    srand(7);
    for (int trial = 0; trial < 50; trial++) {
        int best = 0;
        for (int i = 0; i < 1000; i++) {
            l[i] = (float)rand() / (float)RAND_MAX * 20.0f - 10.0f;
            if (l[i] > l[best]) best = i;
        }
        assert_int_equal(lm_sampler_sample(s, l, NULL, 0, NULL), best);
    }
    free(l);
    lm_sampler_free(s);
}

static void same_seed_same_tokens(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 1.0f);
    lm_sampler *a = lm_sampler_create(&p, NV), *b = lm_sampler_create(&p, NV);
    p.seed = 99;
    lm_sampler *c = lm_sampler_create(&p, NV);
    float l[NV];
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        logits_from_probs(k_probs, l, NV);
        int32_t ta = lm_sampler_sample(a, l, NULL, 0, NULL);
        logits_from_probs(k_probs, l, NV);
        int32_t tb = lm_sampler_sample(b, l, NULL, 0, NULL);
        logits_from_probs(k_probs, l, NV);
        differ += ta != lm_sampler_sample(c, l, NULL, 0, NULL);
        assert_int_equal(ta, tb);
    }
    assert_true(differ > 20); /* another seed is another sequence */
    lm_sampler_free(a);
    lm_sampler_free(b);
    lm_sampler_free(c);
}

/* With no filter, frequencies follow the softmax (20000 draws: a binomial
 * standard deviation of at most 0.0035, tolerance 0.015). */
static void draws_follow_distribution(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 1.0f);
    int counts[NV];
    draw(&p, 20000, counts);
    for (int i = 0; i < NV; i++)
        assert_true(fabs(counts[i] / 20000.0 - k_probs[i]) < 0.015);
}

static void top_k_only_top_tokens(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 1.0f);
    p.top_k = 3;
    int counts[NV];
    draw(&p, 20000, counts);
    for (int i = 3; i < NV; i++)
        assert_int_equal(counts[i], 0);
    double z = k_probs[0] + k_probs[1] + k_probs[2];
    for (int i = 0; i < 3; i++)
        assert_true(fabs(counts[i] / 20000.0 - k_probs[i] / z) < 0.015);
}

static void top_p_smallest_prefix(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 1.0f);
    p.top_p = 0.75f; /* 0.40 + 0.25 = 0.65 < 0.75 <= 0.80: keeps tokens 0, 1, 2 */
    int counts[NV];
    draw(&p, 20000, counts);
    for (int i = 0; i < 3; i++)
        assert_true(counts[i] > 0);
    for (int i = 3; i < NV; i++)
        assert_int_equal(counts[i], 0);
    double z = 0.80;
    for (int i = 0; i < 3; i++)
        assert_true(fabs(counts[i] / 20000.0 - k_probs[i] / z) < 0.015);
}

static void min_p_relative_threshold(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 1.0f);
    p.min_p = 0.09f; /* keeps p >= 0.036: tokens 0..4 */
    int counts[NV];
    draw(&p, 20000, counts);
    for (int i = 0; i < 5; i++)
        assert_true(counts[i] > 0);
    for (int i = 5; i < NV; i++)
        assert_int_equal(counts[i], 0);
}

static void temperature_sharpens(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 0.5f); /* p^2 renormalised */
    int counts[NV];
    draw(&p, 20000, counts);
    double z = 0;
    for (int i = 0; i < NV; i++)
        z += k_probs[i] * k_probs[i];
    for (int i = 0; i < NV; i++)
        assert_true(fabs(counts[i] / 20000.0 - k_probs[i] * k_probs[i] / z) < 0.015);
}

static void penalties_change_choice(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 0);
    float l[4];
    int32_t hist[3] = {0, 0, 3};
    /* repetition: 2.0 / 1.25 = 1.6 < 1.9, so token 1 wins */
    p.repeat_penalty = 1.25f;
    p.repeat_last_n = 64;
    lm_sampler *s = lm_sampler_create(&p, 4);
    memcpy(l, (float[]){2.0f, 1.9f, -5, -6}, sizeof l);
    assert_int_equal(lm_sampler_sample(s, l, hist, 3, NULL), 1);
    /* a negative logit is multiplied: -1.0 * 1.25 = -1.25 < -1.1 */
    memcpy(l, (float[]){-5, -6, -1.1f, -1.0f}, sizeof l);
    assert_int_equal(lm_sampler_sample(s, l, hist, 3, NULL), 2);
    /* outside the window (last 1 token = 3) token 0 keeps its logit */
    lm_sampler_free(s);
    p.repeat_last_n = 1;
    s = lm_sampler_create(&p, 4);
    memcpy(l, (float[]){2.0f, 1.9f, -5, -6}, sizeof l);
    assert_int_equal(lm_sampler_sample(s, l, hist, 3, NULL), 0);
    lm_sampler_free(s);
    /* frequency: 2 occurrences * 0.06 = 0.12 > 0.1 gap; 1 * 0.06 would not be */
    plain_params(&p, 0);
    p.frequency_penalty = 0.06f;
    p.repeat_last_n = 64;
    s = lm_sampler_create(&p, 4);
    memcpy(l, (float[]){2.0f, 1.9f, -5, -6}, sizeof l);
    assert_int_equal(lm_sampler_sample(s, l, hist, 3, NULL), 1);
    memcpy(l, (float[]){2.0f, 1.9f, -5, -6}, sizeof l);
    assert_int_equal(lm_sampler_sample(s, l, hist, 1, NULL), 0); /* one 0: 1.94 > 1.9 */
    lm_sampler_free(s);
    /* presence: once is enough, count does not matter */
    plain_params(&p, 0);
    p.presence_penalty = 0.11f;
    p.repeat_last_n = 64;
    s = lm_sampler_create(&p, 4);
    memcpy(l, (float[]){2.0f, 1.9f, -5, -6}, sizeof l);
    assert_int_equal(lm_sampler_sample(s, l, hist, 1, NULL), 1);
    lm_sampler_free(s);
}

static void logprob_of_unmodified_logits(void **state) {
    (void)state;
    lm_sampler_params p;
    plain_params(&p, 0);
    p.repeat_penalty = 2.0f;
    lm_sampler *s = lm_sampler_create(&p, NV);
    float l[NV], lp = 0;
    logits_from_probs(k_probs, l, NV);
    int32_t hist[1] = {0};
    int32_t t = lm_sampler_sample(s, l, hist, 1, &lp);
    assert_int_equal(t, 1); /* log 0.4 = -0.92 penalised to -1.83 < log 0.25 */
    assert_true(fabs(lp - log(k_probs[1])) < 1e-5);
    lm_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greedy_is_argmax),
        cmocka_unit_test(same_seed_same_tokens),
        cmocka_unit_test(draws_follow_distribution),
        cmocka_unit_test(top_k_only_top_tokens),
        cmocka_unit_test(top_p_smallest_prefix),
        cmocka_unit_test(min_p_relative_threshold),
        cmocka_unit_test(temperature_sharpens),
        cmocka_unit_test(penalties_change_choice),
        cmocka_unit_test(logprob_of_unmodified_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
