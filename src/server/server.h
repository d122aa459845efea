/* server.h — `localm serve`: the HTTP server (libmicrohttpd) carrying the
 * OpenAI-compatible API, the LocalM extensions and the embedded chat page. */
#ifndef LM_SERVER_SERVER_H
#define LM_SERVER_SERVER_H
#include "localm.h"
#include <stddef.h>

typedef struct lm_server_opts {
    const char *host;     /* "127.0.0.1" (default); "0.0.0.0" only when asked */
    int port;             /* 8080; 0 = any free port */
    const char *api_key;  /* NULL: no auth */
    size_t max_body;      /* request body limit in bytes (default 1 MiB) */
    int max_queue;        /* generation requests waiting at most (default 16) */
    const char *model;    /* model loaded at start and used when a request names none */
    const char *model_id; /* what clients call it; NULL: the file or folder name */
    int n_threads;        /* 0 = default */
    unsigned n_ctx;       /* 0 = model default */
    const char *backend;  /* forced backend or NULL */
    double keep_alive_s;  /* idle unload; default 300 */
} lm_server_opts;

void lm_server_opts_default(lm_server_opts *o);

typedef struct lm_server lm_server;
lm_status lm_server_start(const lm_server_opts *o, lm_server **out, lm_err *err);
int lm_server_port(const lm_server *s);
/* Graceful stop: new requests are refused, in-flight streams get a final
 * event, then the daemon stops. */
void lm_server_stop(lm_server *s);
#endif
