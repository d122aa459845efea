/* cmd_chat.c — `localm chat [MODEL]`: a terminal chat with the model's own
 * template. Turns share one KV session so each turn prefills only its new
 * tokens; when the context fills, the oldest turns are dropped (the system
 * prompt kept). Interactive on a terminal (libedit line editing and history),
 * one message per line otherwise. */
#include "base/err.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "model/demo_model.h"
#include "model/tokenizer.h"
#include "runtime/chat_prompt.h"
#include "runtime/worker.h"
#include <cjson/cJSON.h>
#include <editline/readline.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct chat {
    lm_worker *w;
    lm_model_desc *desc;
    lm_generate_params gp;
    cJSON *messages;
    char *system;
    uint32_t n_ctx;
    int n_predict;
    bool interactive;
    /* the turn in flight */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    uint64_t req;
    char *answer;
    size_t len, cap;
    lm_usage usage;
    lm_timings timings;
    char backend[32], fallback[512], finish[16];
    lm_status status;
    char message[512];
    /* totals for /stats */
    int turns, total_prompt, total_prefilled, total_completion;
    double last_prefill_tps, last_decode_tps;
} chat;

static volatile sig_atomic_t g_interrupt;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupt = 1;
}

static void on_event(const lm_worker_event *ev, void *user) {
    chat *c = user;
    if (ev->kind == LM_EV_TOKEN) {
        fwrite(ev->text, 1, ev->text_len, stdout);
        fflush(stdout);
        if (c->len + ev->text_len + 1 > c->cap) {
            c->cap = (c->len + ev->text_len + 1) * 2;
            c->answer = realloc(c->answer, c->cap);
        }
        memcpy(c->answer + c->len, ev->text, ev->text_len);
        c->len += ev->text_len;
        c->answer[c->len] = 0;
        return;
    }
    if (ev->kind != LM_EV_DONE && ev->kind != LM_EV_ERROR && ev->kind != LM_EV_LOADED) return;
    pthread_mutex_lock(&c->mu);
    if (ev->kind == LM_EV_ERROR) {
        c->status = ev->status;
        snprintf(c->message, sizeof c->message, "%s", ev->message ? ev->message : "");
    } else {
        c->status = LM_OK;
        snprintf(c->backend, sizeof c->backend, "%s", ev->backend ? ev->backend : "");
        snprintf(c->fallback, sizeof c->fallback, "%s", ev->fallback ? ev->fallback : "");
        if (ev->kind == LM_EV_DONE) {
            c->usage = ev->usage;
            c->timings = ev->timings;
            snprintf(c->finish, sizeof c->finish, "%s", ev->finish_reason ? ev->finish_reason : "");
        }
    }
    c->done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Waits for the request's terminal event; Ctrl-C cancels the request. */
static void wait_turn(chat *c) {
    pthread_mutex_lock(&c->mu);
    while (!c->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (g_interrupt && !c->done) {
            g_interrupt = 0;
            lm_worker_cancel(c->w, c->req);
        }
    }
    c->done = false;
    pthread_mutex_unlock(&c->mu);
}

static void add_message(cJSON *msgs, const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(msgs, m);
}

static void reset_messages(chat *c) {
    cJSON_Delete(c->messages);
    c->messages = cJSON_CreateArray();
    if (c->system) add_message(c->messages, "system", c->system);
}

/* Renders the conversation; drops the oldest turns while the prompt plus
 * room for an answer does not fit the context. */
static char *render_fitting(chat *c) {
    for (;;) {
        char *text = NULL;
        lm_err err = {0};
        if (lm_chat_prompt(c->desc, c->messages, NULL, true, &text, NULL, &err) != LM_OK) {
            fprintf(stderr, "template error: %s\n", lm_err_text(&err));
            return NULL;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        if (c->desc->tokenizer && lm_tokenize(c->desc->tokenizer, text, strlen(text), true, true,
                                              &ids, &n, NULL) == LM_OK) {
            free(ids);
            uint32_t room = c->n_predict > 0 ? (uint32_t)c->n_predict : c->n_ctx / 4;
            if (n + room <= c->n_ctx) return text;
        } else {
            return text;
        }
        free(text);
        int first = c->system ? 1 : 0;
        if (cJSON_GetArraySize(c->messages) - first <= 1) {
            fprintf(stderr, "the message alone is longer than the context (%u tokens)\n", c->n_ctx);
            return NULL;
        }
        /* Drop the oldest user turn and the assistant answer after it. */
        cJSON_DeleteItemFromArray(c->messages, first);
        cJSON *next = cJSON_GetArrayItem(c->messages, first);
        if (next && !strcmp(cJSON_GetObjectItem(next, "role")->valuestring, "assistant"))
            cJSON_DeleteItemFromArray(c->messages, first);
        fprintf(stderr, "[context full: dropped the oldest turn%s]\n",
                c->system ? " (the system prompt is kept)" : "");
    }
}

static void turn(chat *c, const char *user_text) {
    add_message(c->messages, "user", user_text);
    char *prompt = render_fitting(c);
    if (!prompt) {
        cJSON_DeleteItemFromArray(c->messages, cJSON_GetArraySize(c->messages) - 1);
        return;
    }
    c->len = 0;
    if (c->answer) c->answer[0] = 0;
    c->gp.prompt = prompt;
    g_interrupt = 0;
    c->req = lm_worker_generate(c->w, &c->gp, on_event, c);
    if (!c->req) {
        fprintf(stderr, "the worker is not accepting requests\n");
        free(prompt);
        return;
    }
    wait_turn(c);
    free(prompt);
    printf("\n");
    if (c->status != LM_OK) {
        fprintf(stderr, "error: %s\n", c->message);
        cJSON_DeleteItemFromArray(c->messages, cJSON_GetArraySize(c->messages) - 1);
        return;
    }
    if (!strcmp(c->finish, "cancelled")) fprintf(stderr, "[stopped]\n");
    add_message(c->messages, "assistant", c->answer ? c->answer : "");
    c->turns++;
    c->total_prompt += c->usage.prompt_tokens;
    c->total_prefilled += c->usage.prefilled_tokens;
    c->total_completion += c->usage.completion_tokens;
    c->last_prefill_tps = c->timings.prefill_tps;
    c->last_decode_tps = c->timings.decode_tps;
    if (getenv("LOCALM_CHAT_STATS"))
        fprintf(stderr, "[turn %d: prompt %d tokens, prefilled %d, generated %d]\n", c->turns,
                c->usage.prompt_tokens, c->usage.prefilled_tokens, c->usage.completion_tokens);
}

static void print_stats(chat *c) {
    printf("backend: %s%s%s%s\n", c->backend, c->fallback[0] ? " (" : "", c->fallback,
           c->fallback[0] ? ")" : "");
    printf("turns: %d, messages kept: %d\n", c->turns, cJSON_GetArraySize(c->messages));
    printf("tokens: prompt %d (prefilled %d, reused from the KV cache %d), generated %d\n",
           c->total_prompt, c->total_prefilled, c->total_prompt - c->total_prefilled,
           c->total_completion);
    printf("last turn: prefill %.1f t/s, decode %.1f t/s\n", c->last_prefill_tps,
           c->last_decode_tps);
}

static void usage(FILE *f) {
    fprintf(f, "usage: localm chat [MODEL] [--system TEXT] [-n N] [--temp T] [--top-k K]\n"
               "                   [--top-p P] [--min-p P] [--seed S] [--threads N] [--ctx N]\n"
               "                   [--backend NAME]\n\n"
               "Chats with MODEL (default: the embedded demo model) using its own chat template.\n"
               "Commands: /reset, /system TEXT, /stats, /exit. Ctrl-C stops the current answer.\n"
               "When stdin is not a terminal, each line is one user message.\n");
}

int lm_cmd_chat(int argc, char **argv) {
    chat c = {0};
    lm_generate_params_default(&c.gp);
    c.n_predict = -1;
    const char *model = NULL, *backend = NULL;
    unsigned n_ctx = 0;
    int n_threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--system") && has)
            c.system = strdup(argv[++i]);
        else if (!strcmp(a, "-n") && has)
            c.n_predict = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has)
            c.gp.sampling.temperature = (float)atof(argv[++i]);
        else if (!strcmp(a, "--top-k") && has)
            c.gp.sampling.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has)
            c.gp.sampling.top_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--min-p") && has)
            c.gp.sampling.min_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--seed") && has)
            c.gp.sampling.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--threads") && has)
            n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--ctx") && has)
            n_ctx = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--backend") && has)
            backend = argv[++i];
        else if (!strcmp(a, "-m") && has)
            model = argv[++i];
        else if (a[0] != '-' && !model)
            model = a;
        else {
            fprintf(stderr, "localm chat: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    lm_err err = {0};
    char path[1024];
    if (lm_cli_model_path(model, path, sizeof path, NULL, &err) != LM_OK) {
        fprintf(stderr, "localm chat: %s\n", lm_err_text(&err));
        return 1;
    }
    if (lm_model_open(path, &c.desc, &err) != LM_OK) {
        fprintf(stderr, "localm chat: %s\n", lm_err_text(&err));
        return 1;
    }
    if (!c.desc->chat_template)
        fprintf(stderr, "note: %s has no chat template; using the built-in ChatML template\n",
                c.desc->name);
    c.n_ctx = n_ctx ? n_ctx : lm_model_default_ctx(&c.desc->hp);
    if (lm_worker_create(NULL, &c.w, &err) != LM_OK) {
        fprintf(stderr, "localm chat: %s\n", lm_err_text(&err));
        lm_model_free(c.desc);
        return 1;
    }
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    lm_model_ref_default(&c.gp.model);
    c.gp.model.model = path;
    c.gp.model.desc = c.desc;
    c.gp.model.backend = backend;
    c.gp.model.opts.n_ctx = c.n_ctx;
    c.gp.model.opts.n_threads = n_threads;
    c.gp.n_predict = c.n_predict;
    c.gp.session = 1;
    c.gp.keep_kv = true;
    /* Load first so that the backend line comes before the first prompt. */
    if (!(c.req = lm_worker_load(c.w, &c.gp.model, on_event, &c))) return 1;
    wait_turn(&c);
    if (c.status != LM_OK) {
        fprintf(stderr, "localm chat: %s\n", c.message);
        lm_worker_free(c.w);
        lm_model_free(c.desc);
        return 1;
    }
    fprintf(stderr, "backend: %s%s%s%s\n", c.backend, c.fallback[0] ? " (" : "", c.fallback,
            c.fallback[0] ? ")" : "");
    reset_messages(&c);
    c.interactive = isatty(STDIN_FILENO);
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    char hist[1200] = "";
    if (c.interactive) {
        const char *home = getenv("HOME");
        if (home) {
            snprintf(hist, sizeof hist, "%s/.localm_history", home);
            read_history(hist);
        }
        printf("Chatting with %s. /exit to leave, /reset, /system TEXT, /stats.\n", c.desc->name);
    }
    int rc = 0;
    for (;;) {
        char *line = NULL;
        if (c.interactive) {
            g_interrupt = 0;
            line = readline(">>> ");
            if (!line) break;
            if (*line) add_history(line);
        } else {
            size_t cap = 0;
            ssize_t n = getline(&line, &cap, stdin);
            if (n < 0) {
                free(line);
                break;
            }
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = 0;
        }
        if (!line[0]) {
            free(line);
            continue;
        }
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit") || !strcmp(line, "/bye")) {
            free(line);
            break;
        } else if (!strcmp(line, "/reset")) {
            reset_messages(&c);
            printf("[conversation cleared]\n");
        } else if (!strncmp(line, "/system", 7) && (line[7] == ' ' || !line[7])) {
            free(c.system);
            c.system = line[7] && line[8] ? strdup(line + 8) : NULL;
            reset_messages(&c);
            printf("[system prompt %s; conversation cleared]\n", c.system ? "set" : "removed");
        } else if (!strcmp(line, "/stats")) {
            print_stats(&c);
        } else if (line[0] == '/') {
            printf("unknown command %s (try /reset, /system TEXT, /stats, /exit)\n", line);
        } else {
            turn(&c, line);
        }
        free(line);
    }
    if (hist[0]) write_history(hist);
    lm_worker_free(c.w);
    lm_model_free(c.desc);
    cJSON_Delete(c.messages);
    free(c.system);
    free(c.answer);
    return rc;
}
