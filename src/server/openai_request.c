/* openai_request.c — validation of OpenAI request bodies: every field's type
 * and range is checked, and parameters LocalM does not support are refused by
 * name rather than silently ignored. */
#include "server/openai_request.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool lm_api_fail(lm_api_error *e, int status, const char *type, const char *param, const char *code,
                 const char *fmt, ...) {
    e->http_status = status;
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

char *lm_api_error_json(const lm_api_error *e) {
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type);
    if (e->param[0])
        cJSON_AddStringToObject(err, "param", e->param);
    else
        cJSON_AddNullToObject(err, "param");
    if (e->code[0])
        cJSON_AddStringToObject(err, "code", e->code);
    else
        cJSON_AddNullToObject(err, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

#define BAD(param, ...) lm_api_fail(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

/* Parameters that OpenAI clients may send and LocalM does not implement yet. */
static const char *const k_unsupported[] = {
    "response_format", "tools",  "tool_choice", "functions",  "function_call",
    "logit_bias",      "audio",  "modalities",  "prediction", "parallel_tool_calls",
    "best_of",         "suffix", "echo",        NULL};

/* Parameters accepted but with no effect on a local engine. */
static const char *const k_ignored[] = {"user", "store", "metadata", "service_tier", NULL};

static const char *const k_known[] = {"model",
                                      "messages",
                                      "prompt",
                                      "stream",
                                      "stream_options",
                                      "max_tokens",
                                      "max_completion_tokens",
                                      "temperature",
                                      "top_p",
                                      "top_k",
                                      "min_p",
                                      "frequency_penalty",
                                      "presence_penalty",
                                      "repeat_penalty",
                                      "seed",
                                      "stop",
                                      "logprobs",
                                      "top_logprobs",
                                      "n",
                                      NULL};

static bool in_list(const char *const *list, const char *s) {
    for (; *list; list++)
        if (!strcmp(*list, s)) return true;
    return false;
}

static bool get_number(const cJSON *root, const char *name, double lo, double hi, double *out,
                       lm_api_error *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return BAD(name, "'%s' must be a number", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return BAD(name, "'%s' must be between %g and %g, got %g", name, lo, hi, v->valuedouble);
    *out = v->valuedouble;
    return true;
}

static bool get_int(const cJSON *root, const char *name, double lo, double hi, int *out,
                    bool *present, lm_api_error *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return BAD(name, "'%s' must be an integer", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return BAD(name, "'%s' must be between %.0f and %.0f, got %.0f", name, lo, hi,
                   v->valuedouble);
    *out = (int)v->valuedouble;
    if (present) *present = true;
    return true;
}

static bool get_bool(const cJSON *root, const char *name, bool *out, lm_api_error *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsBool(v)) return BAD(name, "'%s' must be a boolean", name);
    *out = cJSON_IsTrue(v);
    return true;
}

static bool check_messages(const cJSON *msgs, lm_api_error *e) {
    if (!msgs) return BAD("messages", "'messages' is required");
    if (!cJSON_IsArray(msgs)) return BAD("messages", "'messages' must be an array");
    if (cJSON_GetArraySize(msgs) == 0) return BAD("messages", "'messages' must not be empty");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        char p[48];
        snprintf(p, sizeof p, "messages[%d]", i);
        if (!cJSON_IsObject(m)) return BAD(p, "'%s' must be an object", p);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role)) return BAD(p, "'%s.role' must be a string", p);
        const char *r = role->valuestring;
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") &&
            strcmp(r, "developer") && strcmp(r, "tool"))
            return BAD(p,
                       "'%s.role' must be system, developer, user, assistant or tool, got '%.40s'",
                       p, r);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsArray(content)) {
            /* Content parts: only text parts are supported. */
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
                if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") ||
                    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(part, "text")))
                    return BAD(p,
                               "'%s.content' parts must be {\"type\":\"text\",\"text\":...}; "
                               "images and audio are not supported",
                               p);
            }
        } else if (!cJSON_IsString(content) && !cJSON_IsNull(content)) {
            return BAD(p, "'%s.content' must be a string or an array of text parts", p);
        }
        i++;
    }
    return true;
}

bool lm_gen_request_parse(const char *body, size_t len, bool chat, lm_gen_request *out,
                          lm_api_error *e) {
    memset(out, 0, sizeof *out);
    lm_sampler_params_default(&out->sampling);
    out->sampling.temperature = 0.8f;
    out->max_tokens = -1;
    out->chat = chat;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root)
        return BAD(NULL, "the request body is not valid JSON (near byte %ld)",
                   end ? (long)(end - body) : 0L);
    out->root = root;
    if (!cJSON_IsObject(root)) return BAD(NULL, "the request body must be a JSON object");
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (in_list(k_unsupported, it->string))
            return lm_api_fail(e, 400, "invalid_request_error", it->string, "unsupported_parameter",
                               "'%s' is not supported by LocalM yet", it->string);
        if (!in_list(k_known, it->string) && !in_list(k_ignored, it->string))
            return lm_api_fail(e, 400, "invalid_request_error", it->string, "unknown_parameter",
                               "unknown parameter '%.60s'", it->string);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model)) return BAD("model", "'model' must be a string");
        if (strlen(model->valuestring) >= sizeof out->model)
            return BAD("model", "'model' is too long");
        snprintf(out->model, sizeof out->model, "%s", model->valuestring);
    }
    if (chat) {
        out->messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
        if (!check_messages(out->messages, e)) return false;
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
        if (!p) return BAD("prompt", "'prompt' is required");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child))
            p = p->child;
        if (!cJSON_IsString(p))
            return BAD("prompt", "'prompt' must be a string (or an array of one string)");
        out->prompt = p->valuestring;
    }
    if (!get_bool(root, "stream", &out->stream, e)) return false;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) return BAD("stream_options", "'stream_options' must be an object");
        if (!get_bool(so, "include_usage", &out->include_usage, e)) return false;
    }
    int n = 1;
    if (!get_int(root, "n", 1, 1e9, &n, NULL, e)) return false;
    if (n != 1)
        return lm_api_fail(e, 400, "invalid_request_error", "n", "unsupported_parameter",
                           "only n = 1 is supported");
    if (!get_int(root, "max_tokens", 1, 2147483647.0, &out->max_tokens, NULL, e)) return false;
    if (!get_int(root, "max_completion_tokens", 1, 2147483647.0, &out->max_tokens, NULL, e))
        return false;
    double d;
    lm_sampler_params *sp = &out->sampling;
    d = sp->temperature;
    if (!get_number(root, "temperature", 0, 2, &d, e)) return false;
    sp->temperature = (float)d;
    d = 1.0;
    if (!get_number(root, "top_p", 0, 1, &d, e)) return false;
    sp->top_p = (float)d;
    if (!get_int(root, "top_k", 0, 1e9, &sp->top_k, NULL, e)) return false;
    d = sp->min_p;
    if (!get_number(root, "min_p", 0, 1, &d, e)) return false;
    sp->min_p = (float)d;
    d = 0;
    if (!get_number(root, "frequency_penalty", -2, 2, &d, e)) return false;
    sp->frequency_penalty = (float)d;
    d = 0;
    if (!get_number(root, "presence_penalty", -2, 2, &d, e)) return false;
    sp->presence_penalty = (float)d;
    d = sp->repeat_penalty;
    if (!get_number(root, "repeat_penalty", 0, 10, &d, e)) return false;
    sp->repeat_penalty = (float)d;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (seed && !cJSON_IsNull(seed)) {
        if (!cJSON_IsNumber(seed) || seed->valuedouble != floor(seed->valuedouble) ||
            fabs(seed->valuedouble) > 9007199254740992.0)
            return BAD("seed", "'seed' must be an integer");
        sp->seed = (uint64_t)(int64_t)seed->valuedouble;
        out->has_seed = true;
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (cJSON_IsString(stop)) {
        if (stop->valuestring[0]) out->stop[out->n_stop++] = stop->valuestring;
    } else if (cJSON_IsArray(stop)) {
        if (cJSON_GetArraySize(stop) > LM_MAX_STOP)
            return BAD("stop", "'stop' may hold at most %d strings", LM_MAX_STOP);
        const cJSON *s;
        cJSON_ArrayForEach(s, stop) {
            if (!cJSON_IsString(s))
                return BAD("stop", "'stop' must be a string or an array of strings");
            if (s->valuestring[0]) out->stop[out->n_stop++] = s->valuestring;
        }
    } else if (stop && !cJSON_IsNull(stop)) {
        return BAD("stop", "'stop' must be a string or an array of strings");
    }
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
    if (chat) {
        if (!get_bool(root, "logprobs", &out->logprobs, e)) return false;
        if (!get_int(root, "top_logprobs", 0, 20, &out->top_logprobs, NULL, e)) return false;
        if (out->top_logprobs > 0 && !out->logprobs)
            return BAD("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    } else if (lp && !cJSON_IsNull(lp)) {
        /* completions: logprobs is an integer count of top alternatives */
        if (!get_int(root, "logprobs", 0, 5, &out->top_logprobs, NULL, e)) return false;
        out->logprobs = true;
    }
    return true;
}

void lm_gen_request_free(lm_gen_request *r) {
    if (!r) return;
    cJSON_Delete(r->root);
    memset(r, 0, sizeof *r);
}
