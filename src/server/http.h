/* http.h — the request/response shapes the route handlers work with, kept
 * independent of libmicrohttpd so handlers can be unit-tested. */
#ifndef LM_SERVER_HTTP_H
#define LM_SERVER_HTTP_H
#include "server/channel.h"
#include "server/openai_request.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct lm_http_request {
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    const char *authorization; /* header value or NULL */
} lm_http_request;

#define LM_HTTP_MAX_HEADERS 6

typedef struct lm_http_response {
    int status;
    const char *content_type;
    char *body; /* malloc'd (owned) unless body_static */
    const char *body_static;
    size_t body_len;
    lm_channel *stream; /* non-NULL: stream the channel's bytes (SSE) instead */
    int n_headers;
    char headers[LM_HTTP_MAX_HEADERS][2][256];
} lm_http_response;

void lm_http_set_json(lm_http_response *r, int status, char *json); /* takes json */
void lm_http_set_error(lm_http_response *r, const lm_api_error *e);
void lm_http_add_header(lm_http_response *r, const char *name, const char *value);
#endif
