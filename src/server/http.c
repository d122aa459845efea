/* http.c — helpers that fill lm_http_response values. */
#include "server/http.h"
#include <stdio.h>
#include <string.h>

void lm_http_set_json(lm_http_response *r, int status, char *json) {
    r->status = status;
    r->content_type = "application/json";
    r->body = json;
    r->body_len = json ? strlen(json) : 0;
}

void lm_http_set_error(lm_http_response *r, const lm_api_error *e) {
    lm_http_set_json(r, e->http_status, lm_api_error_json(e));
}

void lm_http_add_header(lm_http_response *r, const char *name, const char *value) {
    if (r->n_headers >= LM_HTTP_MAX_HEADERS) return;
    snprintf(r->headers[r->n_headers][0], sizeof r->headers[0][0], "%s", name);
    snprintf(r->headers[r->n_headers][1], sizeof r->headers[0][1], "%s", value);
    r->n_headers++;
}
