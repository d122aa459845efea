/* bench_tokenizer.c — encode throughput of the tokenizer on one core over a
 * few MB of English-like text (Llama 3 vocabulary by default), and the time to
 * load the real tokenizer.json files, each next to the target it chases.
 * Usage: bench_tokenizer [tokenizer.json[.gz]] */
#include "model/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGET_MBS 5.0
#define TARGET_LOAD_S 1.0

/* CPU time of this thread: the machine may be shared, and the work is
 * single-threaded, so this is the time one core spends on it. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *const common[] = {
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "that",
    "is",
    "was",
    "he",
    "for",
    "it",
    "with",
    "as",
    "his",
    "on",
    "be",
    "at",
    "by",
    "I",
    "this",
    "had",
    "not",
    "are",
    "but",
    "from",
    "or",
    "have",
    "an",
    "they",
    "which",
    "one",
    "you",
    "were",
    "her",
    "all",
    "she",
    "there",
    "would",
    "their",
    "we",
    "him",
    "been",
    "has",
    "when",
    "who",
    "will",
    "more",
    "no",
    "if",
    "out",
    "so",
    "said",
    "what",
    "up",
    "its",
    "about",
    "into",
    "than",
    "them",
    "can",
    "only",
    "other",
    "new",
    "some",
    "could",
    "time",
    "these",
    "two",
    "may",
    "then",
    "do",
    "first",
    "any",
    "my",
    "now",
    "such",
    "like",
    "our",
    "over",
    "man",
    "me",
    "even",
    "most",
    "made",
    "after",
    "also",
    "did",
    "many",
    "before",
    "must",
    "through",
    "back",
    "years",
    "where",
    "much",
    "your",
    "way",
    "well",
    "down",
    "should",
    "because",
    "each",
    "just",
    "those",
    "people",
    "how",
    "too",
    "little",
    "state",
    "good",
    "very",
    "make",
    "world",
    "still",
    "own",
    "see",
    "men",
    "work",
    "long",
    "get",
    "here",
    "between",
    "both",
    "life",
    "being",
    "under",
    "never",
    "day",
    "same",
    "another",
    "know",
    "while",
    "last",
    "might",
    "us",
    "great",
    "old",
    "year",
    "off",
    "come",
    "since",
    "against",
    "go",
    "came",
    "right",
    "used",
    "take",
    "three",
    "government",
    "development",
    "experience",
    "administration",
    "understanding",
    "particularly",
    "relationship",
    "responsibility",
};
static const char *const syll[] = {
    "ba",  "con", "ter", "ing", "pro", "ex",  "ment", "tion", "al",   "re",
    "de",  "un",  "ous", "ly",  "ca",  "mo",  "li",   "per",  "sta",  "ver",
    "ist", "ble", "ra",  "po",  "na",  "gen", "tri",  "ful",  "ness", "im",
    "ad",  "or",  "en",  "qu",  "sh",  "th",  "ick",  "ward", "ice",  "ate",
};

/* Zipf-like picks from common words plus made-up words (so the word cache
 * sees new words all the time), punctuation, capitals, numbers, newlines. */
static char *english_like(size_t want, size_t *len) {
    char *s = malloc(want + 64);
    size_t n = 0;
    unsigned r = 12345;
    bool cap = true;
    while (n < want) {
        r = r * 1103515245u + 12345u;
        unsigned x = (r >> 8) % 1000;
        char w[64];
        size_t wl;
        if (x < 700) {
            unsigned k = (unsigned)((x * x) / 700) % (sizeof common / sizeof common[0]);
            wl = (size_t)snprintf(w, sizeof w, "%s", common[k]);
        } else if (x < 980) {
            wl = 0;
            for (unsigned i = 0, m = 2 + (r >> 20) % 3; i < m; i++)
                wl += (size_t)snprintf(w + wl, sizeof w - wl, "%s",
                                       syll[(r >> (4 * i + 3)) % (sizeof syll / sizeof syll[0])]);
        } else {
            wl = (size_t)snprintf(w, sizeof w, "%u", (r >> 12) % 100000);
        }
        if (cap && w[0] >= 'a' && w[0] <= 'z') w[0] = (char)(w[0] - 32);
        cap = false;
        memcpy(s + n, w, wl);
        n += wl;
        unsigned p = (r >> 16) % 100;
        const char *sep = " ";
        if (p < 5)
            sep = ". ", cap = true;
        else if (p < 9)
            sep = ", ";
        else if (p == 9)
            sep = ".\n\n", cap = true;
        else if (p == 10)
            sep = "'s ";
        memcpy(s + n, sep, strlen(sep));
        n += strlen(sep);
    }
    s[n] = 0;
    *len = n;
    return s;
}

static void load_time(const char *dir, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizers/%s/tokenizer.json.gz", dir, name);
    lm_tokenizer *t = NULL;
    lm_err err = {0};
    double t0 = now();
    if (lm_tokenizer_from_file(path, &t, &err) != LM_OK) {
        printf("load %-7s: %s\n", name, err.msg);
        return;
    }
    double dt = now() - t0;
    printf("load %-7s: %.3f s for %u tokens (target <= %.1f s: %.2fx of the budget)\n", name, dt,
           lm_tokenizer_vocab_size(t), TARGET_LOAD_S, dt / TARGET_LOAD_S);
    lm_tokenizer_free(t);
}

int main(int argc, char **argv) {
    const char *env = getenv("LOCALM_TESTDATA");
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s", env ? env : LOCALM_SOURCE_DIR "/../shared/testdata");
    snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.json.gz", dir);
    const char *tok_path = argc > 1 ? argv[1] : path;
    if (argc <= 1) {
        load_time(dir, "llama3");
        load_time(dir, "qwen3");
        load_time(dir, "llama2");
    }
    lm_tokenizer *t = NULL;
    lm_err err = {0};
    if (lm_tokenizer_from_file(tok_path, &t, &err) != LM_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        return 1;
    }
    size_t len;
    char *text = english_like(4u << 20, &len);
    int32_t *ids;
    size_t n;
    /* the first pass fills the word cache as any long-running process would */
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        if (lm_tokenize(t, text, len, true, false, &ids, &n, &err) != LM_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
        if (rep == 0) {
            double mbs = len / dt / 1e6;
            printf("encode (cold cache): %.2f MB/s, %zu bytes -> %zu tokens (%.2f bytes/token); "
                   "target %.0f MB/s: %.2fx\n",
                   mbs, len, n, (double)len / n, TARGET_MBS, mbs / TARGET_MBS);
        }
        free(ids);
    }
    double mbs = len / best / 1e6;
    printf("encode (warm cache): %.2f MB/s on one core (%s); target %.0f MB/s: %.2fx\n", mbs,
           lm_tokenizer_describe(t), TARGET_MBS, mbs / TARGET_MBS);
    free(text);
    lm_tokenizer_free(t);
    return 0;
}
