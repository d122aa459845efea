/* sampler.c — next-token choice: penalties over recent history, then greedy
 * argmax or (temperature → top-k → softmax → min-p → top-p) and a draw from a
 * seeded xoshiro256** generator, so one seed always gives one text. */
#include "runtime/sampler.h"
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct lm_sampler {
    lm_sampler_params p;
    int n_vocab;
    uint64_t rng[4];
    float *work;     /* [n_vocab] penalised copy of the logits */
    cand *cands;     /* [n_vocab] candidate list */
    int32_t *counts; /* [n_vocab] occurrences in the penalty window (kept zeroed) */
};

void lm_sampler_params_default(lm_sampler_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0x5eed;
}

/* ---- xoshiro256** seeded through splitmix64 (public-domain algorithms by
 * Blackman and Vigna, written from their description) ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_unit(uint64_t *s) {
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

lm_sampler *lm_sampler_create(const lm_sampler_params *p, int n_vocab) {
    if (!p || n_vocab <= 0) return NULL;
    lm_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->work = malloc(sizeof(float) * (size_t)n_vocab);
    s->cands = malloc(sizeof(cand) * (size_t)n_vocab);
    s->counts = calloc((size_t)n_vocab, sizeof(int32_t));
    if (!s->work || !s->cands || !s->counts) {
        lm_sampler_free(s);
        return NULL;
    }
    uint64_t seed = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&seed);
    return s;
}

void lm_sampler_free(lm_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cands);
    free(s->counts);
    free(s);
}

/* Repetition penalty divides positive logits and multiplies negative ones
 * (so it always lowers them); frequency and presence penalties subtract
 * count * frequency + presence, as in the OpenAI API. */
static void apply_penalties(lm_sampler *s, const int32_t *hist, int n_hist) {
    const lm_sampler_params *p = &s->p;
    bool rep = p->repeat_penalty != 1.0f && p->repeat_penalty > 0;
    if (!hist || n_hist <= 0 || p->repeat_last_n == 0 ||
        (!rep && p->frequency_penalty == 0 && p->presence_penalty == 0))
        return;
    int start = p->repeat_last_n < 0 || p->repeat_last_n >= n_hist ? 0 : n_hist - p->repeat_last_n;
    for (int i = start; i < n_hist; i++)
        if (hist[i] >= 0 && hist[i] < s->n_vocab) s->counts[hist[i]]++;
    for (int i = start; i < n_hist; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= s->n_vocab || s->counts[t] == 0) continue; /* done already */
        float *l = &s->work[t];
        if (rep) *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
        *l -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
        s->counts[t] = 0;
    }
}

static int cmp_cand_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id; /* ties by id, so the order never depends on qsort */
}

/* Moves the k largest candidates to the front (unordered) by a min-heap. */
static void heap_down(cand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cmp_cand_desc(&h[l], &h[m]) > 0) m = l;
        if (r < n && cmp_cand_desc(&h[r], &h[m]) > 0) m = r;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void select_top_k(cand *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--)
        heap_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (cmp_cand_desc(&c[i], &c[0]) < 0) { /* better than the heap's worst */
            c[0] = c[i];
            heap_down(c, k, 0);
        }
    }
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int32_t sample_dist(lm_sampler *s) {
    const lm_sampler_params *p = &s->p;
    int n = s->n_vocab;
    float inv_t = 1.0f / p->temperature;
    for (int i = 0; i < n; i++)
        s->cands[i] = (cand){s->work[i] * inv_t, i};
    if (p->top_k > 0 && p->top_k < n) {
        select_top_k(s->cands, n, p->top_k);
        n = p->top_k;
    }
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (s->cands[i].logit > mx) mx = s->cands[i].logit;
    /* Probabilities (unnormalised: p_max = 1) and their total over the top-k. */
    double total = 0;
    for (int i = 0; i < n; i++) {
        s->cands[i].logit = expf(s->cands[i].logit - mx);
        total += s->cands[i].logit;
    }
    /* min-p keeps p >= min_p * p_max; it and top-p both keep a prefix of the
     * sorted order, so pruning first leaves less to sort and the same set. */
    if (p->min_p > 0) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (s->cands[i].logit >= p->min_p) s->cands[m++] = s->cands[i];
        n = m;
    }
    if (p->top_p < 1.0f) {
        qsort(s->cands, (size_t)n, sizeof(cand), cmp_cand_desc);
        double cum = 0, need = (double)p->top_p * total;
        int m = 0;
        while (m < n) {
            cum += s->cands[m++].logit;
            if (cum >= need) break;
        }
        n = m;
    }
    double kept = 0;
    for (int i = 0; i < n; i++)
        kept += s->cands[i].logit;
    double u = next_unit(s->rng) * kept;
    for (int i = 0; i < n; i++) {
        u -= s->cands[i].logit;
        if (u < 0) return s->cands[i].id;
    }
    return s->cands[n - 1].id; /* rounding left u at the very end */
}

int32_t lm_sampler_sample(lm_sampler *s, float *logits, const int32_t *history, int n_history,
                          float *logprob) {
    if (!s || !logits) return -1;
    memcpy(s->work, logits, sizeof(float) * (size_t)s->n_vocab);
    apply_penalties(s, history, n_history);
    int32_t tok = s->p.temperature <= 0 ? argmax(s->work, s->n_vocab) : sample_dist(s);
    if (logprob) {
        float mx = logits[argmax(logits, s->n_vocab)];
        double sum = 0;
        for (int i = 0; i < s->n_vocab; i++)
            sum += exp((double)(logits[i] - mx));
        *logprob = (float)((double)(logits[tok] - mx) - log(sum));
    }
    return tok;
}
