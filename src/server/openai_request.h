/* openai_request.h — parsing and validating OpenAI-style request bodies
 * (/v1/chat/completions, /v1/completions) into one struct, with errors in the
 * OpenAI shape: HTTP status, message, type, param, code. */
#ifndef LM_SERVER_OPENAI_REQUEST_H
#define LM_SERVER_OPENAI_REQUEST_H
#include "runtime/sampler.h"
#include <cjson/cJSON.h>
#include <stdbool.h>

#define LM_MAX_STOP 4

typedef struct lm_api_error {
    int http_status; /* 400, 401, 404, 413, 500, 503 */
    char type[48];   /* "invalid_request_error", "authentication_error", ... */
    char param[64];  /* offending parameter or "" */
    char code[48];   /* machine code or "" */
    char message[512];
} lm_api_error;

typedef struct lm_gen_request {
    bool chat;          /* chat/completions (messages) vs completions (prompt) */
    char model[256];    /* "" when absent */
    cJSON *messages;    /* chat: array of {role, content}, owned by root */
    const char *prompt; /* completions: owned by root */
    bool stream;
    bool include_usage;
    int max_tokens; /* -1: until end of generation or context */
    lm_sampler_params sampling;
    bool has_seed;
    int n_stop;
    const char *stop[LM_MAX_STOP]; /* owned by root */
    bool logprobs;
    int top_logprobs;
    cJSON *root; /* the parsed body; freed by lm_gen_request_free */
} lm_gen_request;

/* Parses body[0..len). On failure fills e (http_status 400) and returns false. */
bool lm_gen_request_parse(const char *body, size_t len, bool chat, lm_gen_request *out,
                          lm_api_error *e);
void lm_gen_request_free(lm_gen_request *r);

/* Fills e; returns false so callers can `return lm_api_fail(...)`. */
bool lm_api_fail(lm_api_error *e, int status, const char *type, const char *param, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* {"error":{"message","type","param","code"}} — malloc'd. */
char *lm_api_error_json(const lm_api_error *e);
#endif
