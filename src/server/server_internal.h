/* server_internal.h — state shared by the server's files (daemon, routes). */
#ifndef LM_SERVER_SERVER_INTERNAL_H
#define LM_SERVER_SERVER_INTERNAL_H
#include "server/http.h"
#include "server/server.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct lm_server_metrics {
    atomic_uint_fast64_t requests_total;
    atomic_uint_fast64_t requests_failed;
    atomic_uint_fast64_t prompt_tokens_total;
    atomic_uint_fast64_t completion_tokens_total;
    atomic_int queue_depth; /* generation requests waiting or running */
    atomic_int streams_active;
    _Atomic double last_decode_tps;
    _Atomic double last_prefill_tps;
};

struct lm_routes; /* generation and model management, see routes.h */

struct lm_server {
    lm_server_opts opts;
    char host[64];
    char api_key[256];
    struct MHD_Daemon *mhd;
    int port;
    atomic_bool stopping;
    struct lm_server_metrics metrics;
    struct lm_routes *routes;
};

/* Fills resp for req; runs on a connection thread. */
void lm_server_route(struct lm_server *s, const lm_http_request *req, lm_http_response *resp);
#endif
