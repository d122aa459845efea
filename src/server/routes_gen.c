/* routes_gen.c — POST /v1/chat/completions and /v1/completions: validate,
 * resolve and load the model, render the chat template, run the generation
 * on the worker and answer as one JSON body or as Server-Sent Events. */
#include "base/err.h"
#include "model/tokenizer.h"
#include "runtime/chat_prompt.h"
#include "server/routes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct gen_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* handler + worker callback */
    bool finished;
    lm_server *srv;
    lm_channel *ch; /* streaming only */
    bool chat, stream, include_usage, logprobs, sent_role;
    char id[48], model[128];
    long created;
    /* accumulated (non-streaming) */
    char *text;
    size_t len, cap;
    cJSON *lp_content;             /* logprobs entries */
    const lm_tokenizer *tokenizer; /* decodes top_logprobs alternatives */
    /* terminal event */
    char backend[32], fallback[512], finish_reason[16];
    lm_usage usage;
    lm_timings timings;
    lm_status status;
    char message[512];
} gen_job;

static void job_unref(gen_job *j) {
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->text);
    cJSON_Delete(j->lp_content);
    free(j);
}

static void append_text(gen_job *j, const char *t, size_t n) {
    if (j->len + n + 1 > j->cap) {
        size_t nc = j->cap ? j->cap * 2 : 1024;
        while (nc < j->len + n + 1)
            nc *= 2;
        char *nb = realloc(j->text, nc);
        if (!nb) return;
        j->text = nb;
        j->cap = nc;
    }
    memcpy(j->text + j->len, t, n);
    j->len += n;
    j->text[j->len] = 0;
}

static cJSON *token_logprob(const char *text, size_t n, float lp) {
    cJSON *o = cJSON_CreateObject();
    char *tok = strndup(text, n);
    cJSON_AddStringToObject(o, "token", tok ? tok : "");
    free(tok);
    cJSON_AddNumberToObject(o, "logprob", lp);
    cJSON *bytes = cJSON_AddArrayToObject(o, "bytes");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)text[i]));
    return o;
}

/* {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}...]} for one
 * generated token; the alternatives are decoded one token at a time. */
static cJSON *logprob_entry(const lm_tokenizer *tk, const lm_worker_event *ev) {
    cJSON *o = token_logprob(ev->text, ev->text_len, ev->logprob);
    cJSON *top = cJSON_AddArrayToObject(o, "top_logprobs");
    for (int i = 0; tk && i < ev->n_top; i++) {
        char *t = NULL;
        size_t len = 0;
        if (lm_detokenize(tk, &ev->top_ids[i], 1, false, &t, &len, NULL) != LM_OK) continue;
        cJSON_AddItemToArray(top, token_logprob(t, len, ev->top_logprobs[i]));
        free(t);
    }
    return o;
}

/* The common head of every response object and chunk. */
static cJSON *response_head(const gen_job *j, bool chunk) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object",
                            j->chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                    : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", j->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "localm-" LOCALM_VERSION);
    return o;
}

static cJSON *usage_json(const gen_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->usage.prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", j->usage.completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", j->usage.prompt_tokens + j->usage.completion_tokens);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", j->usage.prompt_tokens - j->usage.prefilled_tokens);
    return u;
}

/* LocalM's extension object: which engine answered, why others did not, and
 * how fast it went. */
static cJSON *localm_json(const gen_job *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backend", j->backend);
    cJSON *fb = cJSON_AddArrayToObject(o, "fallback");
    if (j->fallback[0]) cJSON_AddItemToArray(fb, cJSON_CreateString(j->fallback));
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    cJSON_AddNumberToObject(t, "prompt_tokens", j->usage.prompt_tokens);
    cJSON_AddNumberToObject(t, "prefilled_tokens", j->usage.prefilled_tokens);
    cJSON_AddNumberToObject(t, "completion_tokens", j->usage.completion_tokens);
    cJSON_AddNumberToObject(t, "load_ms", j->timings.load_ms);
    cJSON_AddNumberToObject(t, "prefill_ms", j->timings.prefill_ms);
    cJSON_AddNumberToObject(t, "decode_ms", j->timings.decode_ms);
    cJSON_AddNumberToObject(t, "prefill_tps", j->timings.prefill_tps);
    cJSON_AddNumberToObject(t, "decode_tps", j->timings.decode_tps);
    return o;
}

static void send_event(gen_job *j, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    lm_channel_printf(j->ch, "data: %s\n\n", s);
    free(s);
}

/* One streamed chunk carrying `text` (and the role on the first chat chunk). */
static void stream_delta(gen_job *j, const char *text, size_t n, const cJSON *lp,
                         const char *finish) {
    cJSON *o = response_head(j, true);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    char *t = strndup(text ? text : "", n);
    if (j->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (!j->sent_role) {
            cJSON_AddStringToObject(d, "role", "assistant");
            j->sent_role = true;
        }
        if (n || !finish) cJSON_AddStringToObject(d, "content", t ? t : "");
    } else {
        cJSON_AddStringToObject(c, "text", t ? t : "");
    }
    free(t);
    if (lp) {
        cJSON *l = cJSON_AddObjectToObject(c, "logprobs");
        cJSON *arr = cJSON_AddArrayToObject(l, "content");
        cJSON_AddItemToArray(arr, cJSON_Duplicate(lp, 1));
    } else {
        cJSON_AddNullToObject(c, "logprobs");
    }
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    if (j->include_usage) cJSON_AddNullToObject(o, "usage");
    send_event(j, o);
}

static void on_event(const lm_worker_event *ev, void *user) {
    gen_job *j = user;
    lm_server *s = j->srv;
    switch (ev->kind) {
    case LM_EV_TOKEN: {
        cJSON *lp = j->logprobs ? logprob_entry(j->tokenizer, ev) : NULL;
        if (j->ch) {
            if (ev->text_len || lp) stream_delta(j, ev->text, ev->text_len, lp, NULL);
            cJSON_Delete(lp);
            /* A client that went away cancels its generation, and nothing else. */
            if (lm_channel_cancelled(j->ch)) lm_worker_cancel(s->routes->worker, ev->request_id);
        } else {
            append_text(j, ev->text, ev->text_len);
            if (lp) cJSON_AddItemToArray(j->lp_content, lp);
        }
        return;
    }
    case LM_EV_DONE:
    case LM_EV_ERROR:
        break;
    default:
        return;
    }
    pthread_mutex_lock(&j->mu);
    if (ev->kind == LM_EV_DONE) {
        snprintf(j->backend, sizeof j->backend, "%s", ev->backend ? ev->backend : "");
        snprintf(j->fallback, sizeof j->fallback, "%s", ev->fallback ? ev->fallback : "");
        snprintf(j->finish_reason, sizeof j->finish_reason, "%s",
                 ev->finish_reason ? ev->finish_reason : "stop");
        j->usage = ev->usage;
        j->timings = ev->timings;
        atomic_fetch_add(&s->metrics.prompt_tokens_total, (uint64_t)ev->usage.prompt_tokens);
        atomic_fetch_add(&s->metrics.completion_tokens_total,
                         (uint64_t)ev->usage.completion_tokens);
        atomic_store(&s->metrics.last_decode_tps, ev->timings.decode_tps);
        atomic_store(&s->metrics.last_prefill_tps, ev->timings.prefill_tps);
    } else {
        j->status = ev->status;
        snprintf(j->message, sizeof j->message, "%s", ev->message ? ev->message : "");
    }
    pthread_mutex_unlock(&j->mu);
    atomic_fetch_sub(&s->metrics.queue_depth, 1);
    if (j->ch) {
        if (ev->kind == LM_EV_DONE) {
            /* "cancelled" is LocalM's: the server stopped or the client left. */
            stream_delta(j, "", 0, NULL, j->finish_reason);
            cJSON *last = response_head(j, true);
            cJSON_AddArrayToObject(last, "choices");
            if (j->include_usage) cJSON_AddItemToObject(last, "usage", usage_json(j));
            cJSON_AddItemToObject(last, "localm", localm_json(j));
            send_event(j, last);
        } else {
            lm_api_error e;
            lm_api_fail(&e, 500, "server_error", NULL, lm_status_name(ev->status), "%s",
                        j->message);
            char *body = lm_api_error_json(&e);
            lm_channel_printf(j->ch, "data: %s\n\n", body ? body : "{}");
            free(body);
        }
        lm_channel_printf(j->ch, "data: [DONE]\n\n");
        lm_channel_close(j->ch);
        atomic_fetch_sub(&s->metrics.streams_active, 1);
    }
    pthread_mutex_lock(&j->mu);
    j->finished = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
}

/* The prompt text: the model's chat template over the messages, or the raw
 * completion prompt. Content given as text parts is joined first. */
static char *build_prompt(lm_routes_model *m, const lm_gen_request *r, lm_api_error *e) {
    if (!r->chat) return strdup(r->prompt);
    cJSON *msgs = cJSON_Duplicate(r->messages, 1);
    cJSON *msg;
    cJSON_ArrayForEach(msg, msgs) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsArray(content)) {
            size_t n = 0;
            cJSON *part;
            cJSON_ArrayForEach(part, content) n +=
                strlen(cJSON_GetObjectItem(part, "text")->valuestring);
            char *joined = calloc(1, n + 1);
            cJSON_ArrayForEach(part, content)
                strcat(joined, cJSON_GetObjectItem(part, "text")->valuestring);
            cJSON_ReplaceItemInObjectCaseSensitive(msg, "content", cJSON_CreateString(joined));
            free(joined);
        } else if (cJSON_IsNull(content) || !content) {
            cJSON_DeleteItemFromObjectCaseSensitive(msg, "content");
            cJSON_AddStringToObject(msg, "content", "");
        }
    }
    char *out = NULL;
    lm_err err = {0};
    lm_status st = lm_chat_prompt(m->desc, msgs, NULL, true, &out, NULL, &err);
    cJSON_Delete(msgs);
    if (st) {
        lm_api_fail(e, 400, "invalid_request_error", "messages", "template_error",
                    "the model's chat template failed: %s", lm_err_text(&err));
        return NULL;
    }
    return out;
}

static void new_id(char *buf, size_t cap, const char *prefix) {
    unsigned char r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) memset(r, 7, sizeof r);
    int n = snprintf(buf, cap, "%s", prefix);
    for (size_t i = 0; i < sizeof r && (size_t)n + 2 < cap; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%02x", r[i]);
}

void lm_route_generate(lm_server *s, const lm_http_request *req, bool chat,
                       lm_http_response *resp) {
    lm_api_error e;
    lm_gen_request r;
    if (!lm_gen_request_parse(req->body, req->body_len, chat, &r, &e)) {
        lm_gen_request_free(&r);
        return lm_http_set_error(resp, &e);
    }
    char *prompt = NULL;
    gen_job *j = NULL;
    lm_routes_model *m = lm_routes_model_get(s, r.model, &e);
    if (!m) goto fail;
    uint32_t n_ctx = s->opts.n_ctx ? s->opts.n_ctx : lm_model_default_ctx(&m->desc->hp);
    if (r.max_tokens > 0 && (uint32_t)r.max_tokens > n_ctx) {
        lm_api_fail(&e, 400, "invalid_request_error",
                    cJSON_GetObjectItem(r.root, "max_completion_tokens") ? "max_completion_tokens"
                                                                         : "max_tokens",
                    "context_length_exceeded",
                    "max_tokens (%d) is larger than the model's context length (%u tokens)",
                    r.max_tokens, n_ctx);
        goto fail;
    }
    if (atomic_load(&s->metrics.queue_depth) >= s->opts.max_queue) {
        lm_api_fail(&e, 503, "server_error", NULL, "queue_full",
                    "the server is busy: %d requests are queued; retry later", s->opts.max_queue);
        goto fail;
    }
    prompt = build_prompt(m, &r, &e);
    if (!prompt) goto fail;
    if (!lm_routes_model_load(s, m, NULL, &e)) goto fail;

    j = calloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 2;
    j->srv = s;
    j->chat = chat;
    j->stream = r.stream;
    j->include_usage = r.include_usage;
    j->logprobs = r.logprobs;
    j->created = (long)time(NULL);
    new_id(j->id, sizeof j->id, chat ? "chatcmpl-" : "cmpl-");
    snprintf(j->model, sizeof j->model, "%s", m->id);
    if (j->logprobs) j->lp_content = cJSON_CreateArray();
    j->tokenizer = m->desc->tokenizer;
    if (r.stream) j->ch = lm_channel_create();

    lm_generate_params gp;
    lm_generate_params_default(&gp);
    lm_routes_fill_model_ref(s, m, &gp.model);
    gp.prompt = prompt;
    gp.n_predict = r.max_tokens;
    gp.sampling = r.sampling;
    if (!r.has_seed) {
        uint64_t seed;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) seed = (uint64_t)time(NULL);
        gp.sampling.seed = seed;
    }
    gp.stop = r.stop;
    gp.top_logprobs = r.logprobs ? r.top_logprobs : 0;
    gp.n_stop = r.n_stop;
    atomic_fetch_add(&s->metrics.queue_depth, 1);
    if (j->ch) atomic_fetch_add(&s->metrics.streams_active, 1);
    if (!lm_worker_generate(s->routes->worker, &gp, on_event, j)) {
        atomic_fetch_sub(&s->metrics.queue_depth, 1);
        lm_api_fail(&e, 503, "server_error", NULL, "unavailable",
                    "the worker is not accepting requests");
        if (j->ch) {
            atomic_fetch_sub(&s->metrics.streams_active, 1);
            lm_channel_close(j->ch);
            lm_channel_drop(j->ch);
        }
        job_unref(j);
        job_unref(j);
        goto fail;
    }
    free(prompt);
    lm_http_add_header(resp, "x-localm-backend", m->backend);
    if (r.stream) {
        resp->status = 200;
        resp->content_type = "text/event-stream";
        resp->stream = j->ch;
        lm_gen_request_free(&r);
        job_unref(j);
        return;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->finished)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    if (j->status != LM_OK) {
        lm_api_fail(&e, j->status == LM_ERR_CONTEXT_FULL ? 400 : 500,
                    j->status == LM_ERR_CONTEXT_FULL ? "invalid_request_error" : "server_error",
                    NULL, lm_status_name(j->status), "%s", j->message);
        lm_http_set_error(resp, &e);
    } else {
        cJSON *o = response_head(j, false);
        cJSON *choices = cJSON_AddArrayToObject(o, "choices");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, c);
        cJSON_AddNumberToObject(c, "index", 0);
        if (chat) {
            cJSON *msg = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            cJSON_AddStringToObject(msg, "content", j->text ? j->text : "");
            cJSON_AddNullToObject(msg, "refusal");
        } else {
            cJSON_AddStringToObject(c, "text", j->text ? j->text : "");
        }
        if (j->logprobs) {
            cJSON *l = cJSON_AddObjectToObject(c, "logprobs");
            cJSON_AddItemToObject(l, "content", j->lp_content);
            j->lp_content = NULL;
        } else {
            cJSON_AddNullToObject(c, "logprobs");
        }
        cJSON_AddStringToObject(c, "finish_reason", j->finish_reason);
        cJSON_AddItemToObject(o, "usage", usage_json(j));
        cJSON_AddItemToObject(o, "localm", localm_json(j));
        lm_http_set_json(resp, 200, cJSON_PrintUnformatted(o));
        cJSON_Delete(o);
    }
    job_unref(j);
    lm_gen_request_free(&r);
    return;
fail:
    free(prompt);
    lm_gen_request_free(&r);
    lm_http_set_error(resp, &e);
}
