/* sampler.h — choosing the next token from logits: greedy, temperature,
 * top-k, top-p, min-p, repetition/frequency/presence penalties, seeded RNG. */
#ifndef LM_RUNTIME_SAMPLER_H
#define LM_RUNTIME_SAMPLER_H
#include <stdint.h>

typedef struct lm_sampler_params {
    float temperature;       /* <= 0: greedy */
    int top_k;               /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int repeat_last_n;       /* tokens of history the penalties look at */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    uint64_t seed;
} lm_sampler_params;

void lm_sampler_params_default(lm_sampler_params *p); /* temp 0.8, top_k 40, top_p 0.95, min_p 0.05 */

typedef struct lm_sampler lm_sampler;
lm_sampler *lm_sampler_create(const lm_sampler_params *p, int n_vocab);
/* Picks a token; logits may be modified. history: tokens so far (for penalties).
 * If logprob is non-NULL it receives log p(token) under the unmodified logits. */
int32_t lm_sampler_sample(lm_sampler *s, float *logits, const int32_t *history, int n_history,
                          float *logprob);
void lm_sampler_free(lm_sampler *s);
#endif
