/* tokenizer_impl.h — the private layout of lm_tokenizer shared by the tokenizer
 * sources (vocabulary tables, merge tables, normalizer / pre-tokenizer /
 * decoder pipelines); nothing outside src/model/tokenizer_* and bpe* uses it. */
#ifndef LM_MODEL_TOKENIZER_IMPL_H
#define LM_MODEL_TOKENIZER_IMPL_H
#include "model/tokenizer.h"
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* How a word becomes tokens. */
typedef enum tk_model {
    TK_BYTE_BPE = 1, /* GPT-2 byte-level BPE, merges by rank, symbols start as bytes */
    TK_CHAR_BPE = 2, /* HF BPE on characters (optional byte fallback), merges by rank */
    TK_SPM = 3,      /* SentencePiece BPE: merge the pair whose join scores highest */
} tk_model;

/* Open-addressing map from byte strings to token ids (keys live in `keys`). */
typedef struct tk_strmap {
    uint32_t cap;    /* power of two */
    uint32_t *slots; /* id + 1, 0 = empty */
    const char *const *keys;
    const uint32_t *key_lens;
} tk_strmap;

/* Open-addressing map from an id pair to (rank, merged id). */
typedef struct tk_pairmap {
    uint32_t cap;
    uint64_t *keys; /* (left << 32 | right) + 1, 0 = empty */
    uint32_t *rank;
    int32_t *merged;
} tk_pairmap;

/* A text-to-text step applied before splitting (tokenizer.json normalizers). */
typedef enum tk_norm_kind {
    TK_NORM_NFC,
    TK_NORM_NFKC,
    TK_NORM_NFD,
    TK_NORM_NFKD,
    TK_NORM_LOWER,
    TK_NORM_PREPEND,
    TK_NORM_REPLACE, /* literal or regex -> content */
    TK_NORM_STRIP,
} tk_norm_kind;

typedef struct tk_norm {
    tk_norm_kind kind;
    char *a; /* prepend text / replace pattern (literal) */
    size_t a_len;
    char *b; /* replace content */
    size_t b_len;
    pcre2_code *re;   /* replace with a regex pattern */
    bool left, right; /* strip */
} tk_norm;

/* How a Split keeps the delimiters it finds (HF SplitDelimiterBehavior). */
typedef enum tk_split_behavior {
    TK_SPLIT_ISOLATED,
    TK_SPLIT_REMOVED,
    TK_SPLIT_MERGED_PREV,
    TK_SPLIT_MERGED_NEXT,
    TK_SPLIT_CONTIGUOUS,
} tk_split_behavior;

typedef enum tk_pre_kind {
    TK_PRE_SPLIT,     /* regex or literal */
    TK_PRE_BYTELEVEL, /* optional prefix space + GPT-2 regex; byte map is done by the model */
    TK_PRE_METASPACE, /* ' ' -> U+2581, optional prefix, optional split */
    TK_PRE_DIGITS,    /* digits apart from the rest (individually or in runs) */
    TK_PRE_WHITESPACE_SPLIT,
} tk_pre_kind;

typedef struct tk_pre {
    tk_pre_kind kind;
    pcre2_code *re; /* split regex (NULL for a literal) */
    char *literal;  /* split literal */
    size_t literal_len;
    tk_split_behavior behavior;
    bool invert;
    bool add_prefix_space; /* ByteLevel */
    bool use_regex;        /* ByteLevel */
    bool individual;       /* Digits */
    int prepend;           /* Metaspace: 0 never, 1 first, 2 always */
    bool split;            /* Metaspace */
} tk_pre;

/* A text the tokenizer matches whole before the model sees the text. */
typedef struct tk_added {
    int32_t id;
    const char *text; /* points into the vocabulary arena */
    uint32_t len;
    bool special; /* only matched when parse_special */
    bool lstrip, rstrip, single_word;
} tk_added;

/* What the decoder does beyond mapping each token to its bytes. */
typedef struct tk_decoder {
    bool strip_first_space;  /* Metaspace / Strip: drop one leading ' ' of the text */
    bool byte_fallback_runs; /* ByteFallback: invalid runs of <0xNN> become one U+FFFD each */
    bool meta_to_space;      /* Replace / Metaspace: U+2581 decodes as ' ' */
} tk_decoder;

struct lm_tokenizer {
    tk_model model;
    uint32_t n_vocab;
    char *arena; /* all token texts, NUL-separated */
    char **text; /* stored text per id (NULL for holes in the id space) */
    uint32_t *len;
    char *enc_arena; /* per id: the bytes the token stands for when encoding */
    char **enc;      /* byte-level: raw bytes; otherwise == text */
    uint32_t *enc_len;
    char *dec_arena; /* per id: the bytes a decode emits */
    char **dec;
    uint32_t *dec_len;
    float *scores;   /* SPM */
    uint8_t *attr;   /* TK_ATTR_* per id */
    tk_strmap vocab; /* enc form -> id (model tokens only) */
    tk_pairmap merges;
    int32_t byte_tok[256]; /* byte-level: byte -> id; byte fallback: <0xNN> -> id; -1 absent */
    bool byte_fallback;
    bool ignore_merges;
    bool fuse_unk;
    int32_t unk_id;

    tk_norm *norms;
    size_t n_norms;
    tk_pre *pres;
    size_t n_pres;
    bool spm_escape; /* GGUF SPM: ' ' -> U+2581 (and prefix when add_space_prefix) */
    bool spm_prefix;
    tk_decoder decoder;

    tk_added *added; /* sorted by first byte, then longer first */
    size_t n_added;
    uint32_t added_first[257]; /* added[added_first[b] .. added_first[b+1]) start with byte b */

    int32_t bos_id, eos_id;
    bool add_bos, add_eos;
    int32_t *prefix_ids, *suffix_ids; /* post-processor template */
    size_t n_prefix, n_suffix;
    int32_t *eog;
    size_t n_eog;
    char describe[256];

    /* word -> ids cache; guarded because lm_tokenize takes a const tokenizer */
    pthread_mutex_t cache_mu;
    struct tk_cache *cache;
};

enum {
    TK_ATTR_SPECIAL =
        1,             /* control token: skipped by skip_special, matched only when parse_special */
    TK_ATTR_ADDED = 2, /* matched whole in the text */
    TK_ATTR_BYTE = 4,  /* <0xNN> */
    TK_ATTR_UNUSED = 8,
    TK_ATTR_INVOCAB = 16, /* an added token that the model's own vocabulary also lists */
};

/* tokenizer_core.c */
lm_tokenizer *tk_alloc(uint32_t n_vocab);
uint64_t tk_hash(const char *s, size_t n);
/* skip: NULL, or one byte per key, non-zero to leave that key out. */
lm_status tk_strmap_build(tk_strmap *m, uint32_t n, const char *const *keys, const uint32_t *lens,
                          const uint8_t *skip, lm_err *err);
int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n);
lm_status tk_pairmap_init(tk_pairmap *m, uint32_t n, lm_err *err);
bool tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged);
bool tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged);
/* After text/attr/scores/byte flags are set: builds enc/dec forms, maps, added list. */
lm_status tk_finish(lm_tokenizer *t, lm_err *err);
lm_status tk_add_eog(lm_tokenizer *t, int32_t id);

/* bytemap.c: GPT-2 byte <-> code point map. */
uint32_t tk_byte_to_cp(uint8_t b);
int tk_cp_to_byte(uint32_t cp); /* -1 when cp is not one of the 256 */
/* UTF-8 helpers */
size_t tk_utf8_len(uint8_t lead); /* sequence length a lead byte announces (1 for invalid) */
size_t tk_utf8_encode(uint32_t cp, char out[4]);
/* Length of the valid UTF-8 character at s (0 when invalid or truncated). */
/* Bytes of a sequence led by c (0: c cannot lead one) and the allowed range
 * of its second byte. */
size_t tk_utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi);
size_t tk_utf8_valid_char(const uint8_t *s, size_t n);

/* tokenizer_pretok.c */
#define TK_GPT2_REGEX                                                                              \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
lm_status tk_compile_regex(const char *pat, size_t len, pcre2_code **out, lm_err *err);
/* Built-in pre-tokenizer regexes for a GGUF tokenizer.ggml.pre name; false if unknown. */
bool tk_pre_for_name(const char *name, const char *const **pats, size_t *n);

/* A growable byte buffer. */
typedef struct tk_buf {
    char *p;
    size_t n, cap;
} tk_buf;
bool tk_buf_put(tk_buf *b, const void *p, size_t n);

/* A piece of text after pre-tokenization: [off, off+len) of a work buffer. */
typedef struct tk_span {
    uint32_t off, len;
} tk_span;
typedef struct tk_spans {
    tk_span *v;
    size_t n, cap;
} tk_spans;
bool tk_spans_put(tk_spans *s, size_t off, size_t len);

/* Runs the normalizers on [s, s+n) into out (replacing its contents). */
lm_status tk_normalize(const lm_tokenizer *t, const char *s, size_t n, bool first, tk_buf *out,
                       lm_err *err);
/* Splits the text in *work into words (may rewrite *work). */
lm_status tk_pretokenize(const lm_tokenizer *t, tk_buf *work, bool first, tk_spans *words,
                         pcre2_match_data *md, lm_err *err);

/* bpe.c: encodes one word and appends its ids. */
typedef struct tk_ids {
    int32_t *v;
    size_t n, cap;
} tk_ids;
bool tk_ids_put(tk_ids *ids, int32_t id);
typedef struct tk_bpe_scratch tk_bpe_scratch;
tk_bpe_scratch *tk_bpe_scratch_new(void);
void tk_bpe_scratch_free(tk_bpe_scratch *s);
lm_status tk_bpe_word(const lm_tokenizer *t, tk_bpe_scratch *s, const char *w, size_t n,
                      tk_ids *out, lm_err *err);

/* tokenizer_cache.c */
struct tk_cache *tk_cache_new(void);
void tk_cache_free(struct tk_cache *c);
/* Appends the cached ids of word w to out and returns true, or returns false. */
bool tk_cache_get(const lm_tokenizer *t, const char *w, size_t n, tk_ids *out);
void tk_cache_put(const lm_tokenizer *t, const char *w, size_t n, const int32_t *ids, size_t k);
#endif
