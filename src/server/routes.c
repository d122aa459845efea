/* routes.c — request dispatch, API-key check, the embedded page, /health,
 * /metrics, and the model table shared by the other routes. */
#include "server/routes.h"
#include "base/err.h"
#include "catalog/catalog.h"
#include "catalog/pull.h"
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const unsigned char lm_web_index_html[], lm_web_style_css[], lm_web_app_js[];
extern const size_t lm_web_index_html_len, lm_web_style_css_len, lm_web_app_js_len;

static void model_id_from_path(const char *path, char *id, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b && b[1] ? b + 1 : path;
    snprintf(id, cap, "%s", b);
    size_t n = strlen(id);
    while (n > 1 && id[n - 1] == '/')
        id[--n] = 0;
    if (n > 5 && !strcasecmp(id + n - 5, ".gguf")) id[n - 5] = 0;
}

/* Adds a model entry (mu held). */
static lm_routes_model *add_model(lm_server *s, const char *id, const char *path, lm_api_error *e) {
    struct lm_routes *r = s->routes;
    if (r->n_models >= LM_ROUTES_MAX_MODELS) {
        lm_api_fail(e, 503, "server_error", "model", "too_many_models",
                    "the server already knows %d models; unload one first", r->n_models);
        return NULL;
    }
    lm_err err = {0};
    lm_model_desc *d = NULL;
    if (lm_model_open(path, &d, &err) != LM_OK) {
        lm_api_fail(e, 500, "server_error", "model", "model_unreadable", "cannot open %s: %s", path,
                    lm_err_text(&err));
        return NULL;
    }
    lm_routes_model *m = &r->models[r->n_models++];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->path, sizeof m->path, "%s", path);
    m->desc = d;
    return m;
}

lm_routes_model *lm_routes_model_get(lm_server *s, const char *name, lm_api_error *e) {
    struct lm_routes *r = s->routes;
    lm_routes_model *found = NULL;
    pthread_mutex_lock(&r->mu);
    if (!name || !name[0]) {
        if (r->default_model >= 0)
            found = &r->models[r->default_model];
        else
            lm_api_fail(e, 400, "invalid_request_error", "model", "model_required",
                        "'model' is required: this server was started without a default model");
        pthread_mutex_unlock(&r->mu);
        return found;
    }
    for (int i = 0; i < r->n_models && !found; i++)
        if (!strcmp(r->models[i].id, name) || !strcmp(r->models[i].path, name))
            found = &r->models[i];
    if (!found) {
        char path[1024];
        lm_err err = {0};
        /* Catalog ids and hf:// references in the disk cache; file paths are
         * not accepted from clients (only the default model is a path). */
        bool remote = !strncmp(name, "hf://", 5) || !strncmp(name, "https://", 8) ||
                      !strncmp(name, "http://", 7);
        lm_status rs = remote
                           ? lm_model_ref_resolve(name, false, NULL, NULL, path, sizeof path, &err)
                           : lm_catalog_resolve(name, path, sizeof path, &err);
        if (rs == LM_OK) {
            found = add_model(s, name, path, e);
        } else if (remote) {
            lm_api_fail(e, 404, "invalid_request_error", "model", "model_not_found",
                        "%s is not downloaded: POST /v1/models/pull {\"model\":\"%s\"} first", name,
                        name);
        } else {
            const lm_catalog_model *cm = NULL;
            const lm_catalog_file *cf = NULL;
            lm_err e2 = {0};
            if (lm_catalog_lookup(name, &cm, &cf, &e2) == LM_OK)
                lm_api_fail(e, 404, "invalid_request_error", "model", "model_not_found",
                            "model '%s' is in the catalog but not downloaded: POST "
                            "/v1/models/pull {\"model\":\"%s\"} or run `localm pull %s`",
                            name, name, name);
            else
                lm_api_fail(e, 404, "invalid_request_error", "model", "model_not_found",
                            "the model '%.200s' does not exist (GET /v1/models lists them)", name);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

void lm_routes_fill_model_ref(lm_server *s, lm_routes_model *m, lm_model_ref *ref) {
    lm_model_ref_default(ref);
    ref->model = m->path;
    ref->desc = m->desc;
    ref->backend = s->opts.backend;
    ref->opts.n_ctx = s->opts.n_ctx;
    ref->opts.n_threads = s->opts.n_threads;
    if (s->opts.keep_alive_s > 0) ref->keep_alive_ns = (uint64_t)(s->opts.keep_alive_s * 1e9);
}

lm_status lm_routes_create(lm_server *s, lm_err *err) {
    struct lm_routes *r = calloc(1, sizeof *r);
    if (!r) return lm_fail(err, LM_ERR_NO_MEMORY, "server: out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->default_model = -1;
    s->routes = r;
    lm_worker_params wp;
    lm_worker_default_params(&wp);
    if (s->opts.keep_alive_s > 0) wp.keep_alive_ns = (uint64_t)(s->opts.keep_alive_s * 1e9);
    lm_status st = lm_worker_create(&wp, &r->worker, err);
    if (st) goto fail;
    if (s->opts.model) {
        char id[128];
        lm_api_error e;
        if (s->opts.model_id)
            snprintf(id, sizeof id, "%s", s->opts.model_id);
        else
            model_id_from_path(s->opts.model, id, sizeof id);
        pthread_mutex_lock(&r->mu);
        lm_routes_model *m = add_model(s, id, s->opts.model, &e);
        pthread_mutex_unlock(&r->mu);
        if (!m) {
            st = lm_fail(err, LM_ERR_IO, "%s", e.message);
            goto fail;
        }
        r->default_model = 0;
        if (!lm_routes_model_load(s, m, NULL, &e)) {
            st = lm_fail(err, LM_ERR_BACKEND, "loading %s: %s", m->id, e.message);
            goto fail;
        }
    }
    return LM_OK;
fail:
    lm_routes_free(s);
    return st;
}

void lm_routes_shutdown(lm_server *s) {
    /* Freeing the worker cancels running generations: each gets its DONE
     * event ("cancelled"), which closes its stream with a final chunk. */
    if (s->routes && s->routes->worker) {
        lm_worker_free(s->routes->worker);
        s->routes->worker = NULL;
    }
}

void lm_routes_free(lm_server *s) {
    struct lm_routes *r = s->routes;
    if (!r) return;
    lm_worker_free(r->worker);
    for (int i = 0; i < r->n_models; i++)
        lm_model_free(r->models[i].desc);
    pthread_mutex_destroy(&r->mu);
    free(r);
    s->routes = NULL;
}

static bool authorized(lm_server *s, const lm_http_request *req) {
    if (!s->opts.api_key) return true;
    const char *a = req->authorization;
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) return false;
    a += 7;
    /* Constant-time comparison: the key must not leak through timing. */
    size_t n = strlen(s->opts.api_key), m = strlen(a);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)s->opts.api_key[i] ^ (unsigned char)(i < m ? a[i] : 0);
    return diff == 0;
}

static void set_static(lm_http_response *resp, const char *type, const unsigned char *data,
                       size_t len) {
    resp->status = 200;
    resp->content_type = type;
    resp->body_static = (const char *)data;
    resp->body_len = len;
}

void lm_server_route(lm_server *s, const lm_http_request *req, lm_http_response *resp) {
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    lm_api_error e;
    if (get && (!strcmp(p, "/") || !strcmp(p, "/index.html")))
        return set_static(resp, "text/html; charset=utf-8", lm_web_index_html,
                          lm_web_index_html_len);
    if (get && !strcmp(p, "/style.css"))
        return set_static(resp, "text/css; charset=utf-8", lm_web_style_css, lm_web_style_css_len);
    if (get && !strcmp(p, "/app.js"))
        return set_static(resp, "text/javascript; charset=utf-8", lm_web_app_js, lm_web_app_js_len);
    if (get && !strcmp(p, "/health")) {
        lm_http_set_json(resp, 200,
                         strdup(atomic_load(&s->stopping) ? "{\"status\":\"stopping\"}"
                                                          : "{\"status\":\"ok\"}"));
        return;
    }
    if (get && !strcmp(p, "/metrics")) return lm_route_metrics(s, resp);
    if (strncmp(p, "/v1/", 4) != 0) {
        lm_api_fail(&e, 404, "invalid_request_error", NULL, "not_found", "no route for %s %.200s",
                    req->method, p);
        return lm_http_set_error(resp, &e);
    }
    if (!authorized(s, req)) {
        lm_api_fail(&e, 401, "authentication_error", NULL, "invalid_api_key",
                    req->authorization ? "incorrect API key provided"
                                       : "missing API key: send 'Authorization: Bearer KEY'");
        return lm_http_set_error(resp, &e);
    }
    if (atomic_load(&s->stopping)) {
        lm_api_fail(&e, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
        return lm_http_set_error(resp, &e);
    }
    if (get && !strcmp(p, "/v1/models")) return lm_route_models(s, resp);
    if (post && !strcmp(p, "/v1/chat/completions")) return lm_route_generate(s, req, true, resp);
    if (post && !strcmp(p, "/v1/completions")) return lm_route_generate(s, req, false, resp);
    if (post && !strcmp(p, "/v1/models/load")) return lm_route_model_load(s, req, resp);
    if (post && !strcmp(p, "/v1/models/unload")) return lm_route_model_unload(s, req, resp);
    if (post && !strcmp(p, "/v1/models/pull")) return lm_route_model_pull(s, req, resp);
    bool known = !strcmp(p, "/v1/models") || !strcmp(p, "/v1/chat/completions") ||
                 !strcmp(p, "/v1/completions") || !strncmp(p, "/v1/models/", 11);
    lm_api_fail(&e, known ? 405 : 404, "invalid_request_error", NULL,
                known ? "method_not_allowed" : "not_found", "no route for %s %.200s", req->method,
                p);
    lm_http_set_error(resp, &e);
}

void lm_route_metrics(lm_server *s, lm_http_response *resp) {
    struct lm_server_metrics *m = &s->metrics;
    int loaded = 0;
    pthread_mutex_lock(&s->routes->mu);
    for (int i = 0; i < s->routes->n_models; i++)
        loaded += s->routes->models[i].loaded;
    pthread_mutex_unlock(&s->routes->mu);
    char *buf = malloc(4096);
    if (!buf) return;
    int n = snprintf(
        buf, 4096,
        "# HELP localm_requests_total HTTP requests received.\n# TYPE localm_requests_total "
        "counter\n"
        "localm_requests_total %llu\n"
        "# HELP localm_requests_failed_total Requests answered with a 4xx or 5xx status.\n"
        "# TYPE localm_requests_failed_total counter\nlocalm_requests_failed_total %llu\n"
        "# HELP localm_prompt_tokens_total Prompt tokens processed.\n"
        "# TYPE localm_prompt_tokens_total counter\nlocalm_prompt_tokens_total %llu\n"
        "# HELP localm_completion_tokens_total Tokens generated.\n"
        "# TYPE localm_completion_tokens_total counter\nlocalm_completion_tokens_total %llu\n"
        "# HELP localm_queue_depth Generation requests waiting or running.\n"
        "# TYPE localm_queue_depth gauge\nlocalm_queue_depth %d\n"
        "# HELP localm_streams_active Streamed responses in progress.\n"
        "# TYPE localm_streams_active gauge\nlocalm_streams_active %d\n"
        "# HELP localm_decode_tokens_per_second Decode speed of the last request.\n"
        "# TYPE localm_decode_tokens_per_second gauge\nlocalm_decode_tokens_per_second %.3f\n"
        "# HELP localm_prefill_tokens_per_second Prefill speed of the last request.\n"
        "# TYPE localm_prefill_tokens_per_second gauge\nlocalm_prefill_tokens_per_second %.3f\n"
        "# HELP localm_models_loaded Models loaded on an engine.\n"
        "# TYPE localm_models_loaded gauge\nlocalm_models_loaded %d\n",
        (unsigned long long)atomic_load(&m->requests_total),
        (unsigned long long)atomic_load(&m->requests_failed),
        (unsigned long long)atomic_load(&m->prompt_tokens_total),
        (unsigned long long)atomic_load(&m->completion_tokens_total), atomic_load(&m->queue_depth),
        atomic_load(&m->streams_active), atomic_load(&m->last_decode_tps),
        atomic_load(&m->last_prefill_tps), loaded);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    resp->body = buf;
    resp->body_len = (size_t)n < 4096 ? (size_t)n : 4095;
}
