/* routes_models.c — GET /v1/models and LocalM's model management extensions:
 * POST /v1/models/load (progress as SSE), /v1/models/unload, /v1/models/pull. */
#include "base/err.h"
#include "catalog/catalog.h"
#include "catalog/pull.h"
#include "server/routes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Waits on the worker for one request's terminal event. */
typedef struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    lm_channel *ch;
    lm_event_kind kind;
    char backend[32], fallback[512], message[512];
    lm_status status;
} sync_wait;

static void on_load_event(const lm_worker_event *ev, void *user) {
    sync_wait *w = user;
    if (ev->kind == LM_EV_PROGRESS) {
        if (w->ch)
            lm_channel_printf(
                w->ch, "data: {\"phase\":\"%s\",\"done\":%llu,\"total\":%llu,\"text\":\"%s\"}\n\n",
                lm_phase_name(ev->progress.phase), (unsigned long long)ev->progress.done,
                (unsigned long long)ev->progress.total, "");
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->kind = ev->kind;
    if (ev->kind == LM_EV_ERROR) {
        w->status = ev->status;
        snprintf(w->message, sizeof w->message, "%s", ev->message ? ev->message : "");
    } else {
        snprintf(w->backend, sizeof w->backend, "%s", ev->backend ? ev->backend : "");
        snprintf(w->fallback, sizeof w->fallback, "%s", ev->fallback ? ev->fallback : "");
    }
    w->done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void wait_done(sync_wait *w) {
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

bool lm_routes_model_load(lm_server *s, lm_routes_model *m, lm_channel *ch, lm_api_error *e) {
    sync_wait w = {.ch = ch};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    lm_model_ref ref;
    lm_routes_fill_model_ref(s, m, &ref);
    if (!lm_worker_load(s->routes->worker, &ref, on_load_event, &w)) {
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
        return lm_api_fail(e, 503, "server_error", NULL, "unavailable",
                           "the worker is not accepting requests");
    }
    wait_done(&w);
    if (w.kind == LM_EV_ERROR)
        return lm_api_fail(e, w.status == LM_ERR_DECLINED ? 400 : 500,
                           w.status == LM_ERR_DECLINED ? "invalid_request_error" : "server_error",
                           "model", lm_status_name(w.status), "loading %s failed: %s", m->id,
                           w.message);
    pthread_mutex_lock(&s->routes->mu);
    snprintf(m->backend, sizeof m->backend, "%s", w.backend);
    snprintf(m->fallback, sizeof m->fallback, "%s", w.fallback);
    m->loaded = true;
    pthread_mutex_unlock(&s->routes->mu);
    return true;
}

static cJSON *model_entry(const char *id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", 0);
    cJSON_AddStringToObject(o, "owned_by", "localm");
    return o;
}

void lm_route_models(lm_server *s, lm_http_response *resp) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    struct lm_routes *r = s->routes;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_models; i++) {
        lm_routes_model *m = &r->models[i];
        cJSON *o = model_entry(m->id);
        cJSON *x = cJSON_AddObjectToObject(o, "localm");
        cJSON_AddStringToObject(x, "name", m->desc->name[0] ? m->desc->name : m->id);
        cJSON_AddStringToObject(
            x, "source", lm_catalog_find(lm_catalog_builtin(NULL), m->id) ? "catalog" : "local");
        cJSON_AddStringToObject(x, "architecture", m->desc->hp.arch_name);
        cJSON_AddNumberToObject(x, "size_bytes", (double)m->desc->weight_bytes);
        cJSON_AddBoolToObject(x, "on_disk", 1);
        cJSON_AddBoolToObject(x, "loaded", m->loaded);
        cJSON_AddBoolToObject(x, "default", i == r->default_model);
        cJSON_AddStringToObject(x, "state", m->loaded ? "loaded" : "on_disk");
        if (m->loaded) {
            cJSON_AddStringToObject(x, "backend", m->backend);
            cJSON *fb = cJSON_AddArrayToObject(x, "fallback");
            if (m->fallback[0]) cJSON_AddItemToArray(fb, cJSON_CreateString(m->fallback));
        }
        cJSON_AddItemToArray(data, o);
    }
    pthread_mutex_unlock(&r->mu);
    const lm_catalog *cat = lm_catalog_builtin(NULL);
    for (int i = 0; cat && i < cat->n_models; i++) {
        const lm_catalog_model *cm = &cat->models[i];
        bool listed = false;
        cJSON *it;
        cJSON_ArrayForEach(it, data) listed |=
            !strcmp(cJSON_GetObjectItem(it, "id")->valuestring, cm->id);
        if (listed) continue;
        cJSON *o = model_entry(cm->id);
        cJSON *x = cJSON_AddObjectToObject(o, "localm");
        cJSON_AddStringToObject(x, "name", cm->name);
        cJSON_AddStringToObject(x, "source", "catalog");
        cJSON_AddStringToObject(x, "architecture", cm->architecture);
        cJSON_AddNumberToObject(x, "parameters", (double)cm->parameters);
        cJSON_AddStringToObject(x, "license", cm->license);
        const lm_catalog_file *f = lm_catalog_file_for(cm, NULL);
        cJSON_AddNumberToObject(x, "size_bytes", f ? (double)f->size_bytes : 0);
        char path[1024];
        bool on_disk = lm_catalog_resolve(cm->id, path, sizeof path, NULL) == LM_OK;
        cJSON_AddBoolToObject(x, "on_disk", on_disk);
        cJSON_AddBoolToObject(x, "loaded", 0);
        cJSON_AddStringToObject(x, "state", on_disk ? "on_disk" : "available");
        cJSON *b = cJSON_AddObjectToObject(x, "backends");
        for (int k = 0; k < cm->n_backends; k++) {
            cJSON *be = cJSON_AddObjectToObject(b, cm->backends[k].name);
            cJSON_AddBoolToObject(be, "supported", cm->backends[k].supported);
            cJSON_AddNumberToObject(be, "priority", cm->backends[k].priority);
            if (cm->backends[k].notes[0])
                cJSON_AddStringToObject(be, "notes", cm->backends[k].notes);
        }
        cJSON_AddItemToArray(data, o);
    }
    lm_http_set_json(resp, 200, cJSON_PrintUnformatted(root));
    cJSON_Delete(root);
}

/* Reads {"model": "..."} from a management request body. */
static bool model_field(const lm_http_request *req, char *out, size_t cap, lm_api_error *e) {
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lm_api_fail(e, 400, "invalid_request_error", NULL, NULL,
                           "the request body must be a JSON object like {\"model\":\"ID\"}");
    }
    cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    bool ok = cJSON_IsString(m) && strlen(m->valuestring) < cap;
    if (ok) snprintf(out, cap, "%s", m->valuestring);
    cJSON_Delete(root);
    return ok ? true
              : lm_api_fail(e, 400, "invalid_request_error", "model", NULL,
                            "'model' must be a string naming a model");
}

typedef struct load_job {
    lm_server *s;
    lm_routes_model *m;
    lm_channel *ch;
} load_job;

static void *load_thread(void *p) {
    load_job *lj = p;
    lm_api_error e;
    if (lm_routes_model_load(lj->s, lj->m, lj->ch, &e)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "loaded");
        cJSON_AddStringToObject(o, "model", lj->m->id);
        cJSON_AddStringToObject(o, "backend", lj->m->backend);
        cJSON *fb = cJSON_AddArrayToObject(o, "fallback");
        if (lj->m->fallback[0]) cJSON_AddItemToArray(fb, cJSON_CreateString(lj->m->fallback));
        char *js = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        lm_channel_printf(lj->ch, "data: %s\n\n", js ? js : "{}");
        free(js);
    } else {
        char *js = lm_api_error_json(&e);
        lm_channel_printf(lj->ch, "data: %s\n\n", js ? js : "{}");
        free(js);
    }
    lm_channel_printf(lj->ch, "data: [DONE]\n\n");
    lm_channel_close(lj->ch);
    free(lj);
    return NULL;
}

void lm_route_model_load(lm_server *s, const lm_http_request *req, lm_http_response *resp) {
    lm_api_error e;
    char name[256];
    if (!model_field(req, name, sizeof name, &e)) return lm_http_set_error(resp, &e);
    lm_routes_model *m = lm_routes_model_get(s, name, &e);
    if (!m) return lm_http_set_error(resp, &e);
    load_job *lj = calloc(1, sizeof *lj);
    lj->s = s;
    lj->m = m;
    lj->ch = lm_channel_create();
    pthread_t t;
    if (pthread_create(&t, NULL, load_thread, lj) != 0) {
        lm_channel_close(lj->ch);
        lm_channel_drop(lj->ch);
        free(lj);
        lm_api_fail(&e, 500, "server_error", NULL, NULL, "cannot start the load");
        return lm_http_set_error(resp, &e);
    }
    pthread_detach(t);
    resp->status = 200;
    resp->content_type = "text/event-stream";
    resp->stream = lj->ch;
}

void lm_route_model_unload(lm_server *s, const lm_http_request *req, lm_http_response *resp) {
    lm_api_error e;
    char name[256];
    if (!model_field(req, name, sizeof name, &e)) return lm_http_set_error(resp, &e);
    lm_routes_model *m = lm_routes_model_get(s, name, &e);
    if (!m) return lm_http_set_error(resp, &e);
    sync_wait w = {0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    lm_model_ref ref;
    lm_routes_fill_model_ref(s, m, &ref);
    if (!lm_worker_unload(s->routes->worker, &ref, on_load_event, &w)) {
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
        lm_api_fail(&e, 503, "server_error", NULL, NULL, "the worker is not accepting requests");
        return lm_http_set_error(resp, &e);
    }
    wait_done(&w);
    if (w.kind == LM_EV_ERROR) {
        lm_api_fail(&e, 400, "invalid_request_error", "model", lm_status_name(w.status), "%s",
                    w.message);
        return lm_http_set_error(resp, &e);
    }
    pthread_mutex_lock(&s->routes->mu);
    m->loaded = false;
    pthread_mutex_unlock(&s->routes->mu);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "unloaded");
    cJSON_AddStringToObject(o, "model", m->id); /* escaped: ids come from file names */
    lm_http_set_json(resp, 200, cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
}

typedef struct pull_job {
    char ref[256];
    lm_channel *ch;
} pull_job;

static int pull_progress(const lm_progress *ev, void *user) {
    pull_job *pj = user;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "phase", lm_phase_name(ev->phase));
    cJSON_AddNumberToObject(o, "done", (double)ev->done);
    cJSON_AddNumberToObject(o, "total", (double)ev->total);
    cJSON_AddStringToObject(o, "text", ev->text ? ev->text : "");
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    bool ok = js && lm_channel_printf(pj->ch, "data: %s\n\n", js);
    free(js);
    return ok ? 0 : 1; /* the client left: stop downloading (the partial file stays) */
}

static void *pull_thread(void *p) {
    pull_job *pj = p;
    lm_pull_result r;
    lm_err err = {0};
    cJSON *o = cJSON_CreateObject();
    if (lm_pull(pj->ref, lm_offline(), pull_progress, pj, &r, &err) == LM_OK) {
        cJSON_AddStringToObject(o, "status", r.already_present ? "present" : "downloaded");
        cJSON_AddStringToObject(o, "model", pj->ref);
        cJSON_AddStringToObject(o, "sha256", r.sha256);
        cJSON_AddNumberToObject(o, "size_bytes", (double)r.size);
    } else {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", lm_err_text(&err));
        cJSON_AddStringToObject(e, "type", "server_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddStringToObject(e, "code", lm_status_name(err.code));
    }
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    lm_channel_printf(pj->ch, "data: %s\n\ndata: [DONE]\n\n", js ? js : "{}");
    free(js);
    lm_channel_close(pj->ch);
    free(pj);
    return NULL;
}

void lm_route_model_pull(lm_server *s, const lm_http_request *req, lm_http_response *resp) {
    (void)s;
    lm_api_error e;
    pull_job *pj = calloc(1, sizeof *pj);
    if (!pj || !model_field(req, pj->ref, sizeof pj->ref, &e)) {
        if (!pj) lm_api_fail(&e, 500, "server_error", NULL, NULL, "out of memory");
        free(pj);
        return lm_http_set_error(resp, &e);
    }
    pj->ch = lm_channel_create();
    pthread_t t;
    if (pthread_create(&t, NULL, pull_thread, pj) != 0) {
        lm_channel_close(pj->ch);
        lm_channel_drop(pj->ch);
        free(pj);
        lm_api_fail(&e, 500, "server_error", NULL, NULL, "cannot start the download");
        return lm_http_set_error(resp, &e);
    }
    pthread_detach(t);
    resp->status = 200;
    resp->content_type = "text/event-stream";
    resp->stream = pj->ch;
}
