/* tokenizer.h — text <-> token ids for byte-level BPE and SentencePiece BPE
 * vocabularies, built from GGUF metadata (lm_vocab_spec) or from Hugging Face
 * tokenizer.json (+ tokenizer_config.json). Owned by the tokenizer module;
 * functions here are its whole surface. */
#ifndef LM_MODEL_TOKENIZER_H
#define LM_MODEL_TOKENIZER_H
#include "localm.h"
#include "model/vocab_spec.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lm_tokenizer lm_tokenizer;

/* From GGUF metadata. The tokenizer copies what it keeps; spec may be freed. */
lm_status lm_tokenizer_from_spec(const lm_vocab_spec *spec, lm_tokenizer **out, lm_err *err);
/* From the bytes of tokenizer.json and (optionally, may be NULL) tokenizer_config.json. */
lm_status lm_tokenizer_from_json(const char *json, size_t len, const char *config_json,
                                 size_t config_len, lm_tokenizer **out, lm_err *err);
/* From a tokenizer.json path (also .json.gz); reads tokenizer_config.json
 * beside it when present. */
lm_status lm_tokenizer_from_file(const char *path, lm_tokenizer **out, lm_err *err);
void lm_tokenizer_free(lm_tokenizer *t);

/* add_special: add BOS/EOS as the model says; parse_special: match special and
 * added tokens that appear in the text. *ids is malloc'd, caller frees. */
lm_status lm_tokenize(const lm_tokenizer *t, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids, lm_err *err);
/* Whole-sequence decode (as HF decode with skip_special_tokens=False unless
 * skip_special). *text is malloc'd and NUL-terminated. */
lm_status lm_detokenize(const lm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                        char **text, size_t *len, lm_err *err);

uint32_t lm_tokenizer_vocab_size(const lm_tokenizer *t);
int32_t lm_tokenizer_bos(const lm_tokenizer *t); /* -1 when none */
int32_t lm_tokenizer_eos(const lm_tokenizer *t);
bool lm_tokenizer_adds_bos(const lm_tokenizer *t);
/* End-of-generation: EOS, EOT (<|eot_id|>, <|im_end|>, <|end|>, ...). */
bool lm_tokenizer_is_eog(const lm_tokenizer *t, int32_t id);
/* "byte-level BPE (pre-tokenizer llama-bpe)", "SentencePiece BPE". */
const char *lm_tokenizer_describe(const lm_tokenizer *t);
/* The token's stored text (raw vocabulary form), or NULL for a bad id. */
const char *lm_tokenizer_token_text(const lm_tokenizer *t, int32_t id, size_t *len);

/* Incremental detokenizer for streaming: feed ids one at a time; it returns only
 * complete UTF-8 characters and holds back partial ones (and SentencePiece's
 * leading-space rules are applied as in a whole decode). */
typedef struct lm_detok_stream lm_detok_stream;
lm_detok_stream *lm_detok_stream_create(const lm_tokenizer *t, bool skip_special);
/* Appends the text that becomes complete after `id`; returns bytes written to
 * *out (a pointer into the stream's buffer, valid until the next call). */
size_t lm_detok_stream_push(lm_detok_stream *s, int32_t id, const char **out);
/* Whatever is held back (invalid or partial UTF-8 is emitted as U+FFFD). */
size_t lm_detok_stream_flush(lm_detok_stream *s, const char **out);
void lm_detok_stream_free(lm_detok_stream *s);
#endif
