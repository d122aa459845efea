/* routes.h — the server's routes and the state they share: the worker that
 * runs every generation, the default model, opened model descriptions (for
 * chat templates) and what each loaded model runs on. */
#ifndef LM_SERVER_ROUTES_H
#define LM_SERVER_ROUTES_H
#include "model/model_desc.h"
#include "runtime/worker.h"
#include "server/server_internal.h"

#define LM_ROUTES_MAX_MODELS 16

typedef struct lm_routes_model {
    char id[128];    /* what clients call it */
    char path[1024]; /* resolved file or folder */
    lm_model_desc *desc;
    char backend[32];
    char fallback[512];
    bool loaded;
} lm_routes_model;

struct lm_routes {
    lm_worker *worker;
    pthread_mutex_t mu;
    lm_routes_model models[LM_ROUTES_MAX_MODELS];
    int n_models;
    int default_model; /* index or -1 */
};

/* Finds or opens the model a request names ("" = the default). On failure
 * fills e (404 unknown model, 500 unreadable file) and returns NULL. */
lm_routes_model *lm_routes_model_get(lm_server *s, const char *name, lm_api_error *e);
/* Loads m on the worker (no-op when loaded) and waits; progress, when ch is
 * non-NULL, is streamed as SSE events. */
bool lm_routes_model_load(lm_server *s, lm_routes_model *m, lm_channel *ch, lm_api_error *e);
void lm_routes_fill_model_ref(lm_server *s, lm_routes_model *m, lm_model_ref *r);

lm_status lm_routes_create(lm_server *s, lm_err *err);
void lm_routes_shutdown(lm_server *s);
void lm_routes_free(lm_server *s);

void lm_route_generate(lm_server *s, const lm_http_request *req, bool chat, lm_http_response *resp);
void lm_route_models(lm_server *s, lm_http_response *resp);
void lm_route_model_load(lm_server *s, const lm_http_request *req, lm_http_response *resp);
void lm_route_model_unload(lm_server *s, const lm_http_request *req, lm_http_response *resp);
void lm_route_model_pull(lm_server *s, const lm_http_request *req, lm_http_response *resp);
void lm_route_metrics(lm_server *s, lm_http_response *resp);
#endif
