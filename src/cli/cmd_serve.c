/* cmd_serve.c — `localm serve [MODEL]`: the OpenAI-compatible API and the
 * chat page, until SIGINT/SIGTERM. */
#include "base/err.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "model/demo_model.h"
#include "server/server.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: localm serve [MODEL] [--host ADDR] [--port N] [--api-key KEY]\n"
            "                    [--backend NAME] [--threads N] [--ctx N] [--keep-alive SECONDS]\n"
            "                    [--max-body BYTES] [--max-queue N]\n\n"
            "Serves the OpenAI-compatible API (/v1/chat/completions, /v1/completions,\n"
            "/v1/models, /v1/models/load|unload|pull), /health, /metrics and the chat page\n"
            "at /. MODEL (a .gguf file, a Hugging Face folder or a catalog id) is loaded at\n"
            "start and answers requests that name no model; without it, the embedded demo\n"
            "model is used. Listens on 127.0.0.1 unless --host says otherwise. The API key\n"
            "may also come from LOCALM_API_KEY.\n");
}

int lm_cmd_serve(int argc, char **argv) {
    lm_server_opts o;
    lm_server_opts_default(&o);
    o.api_key = getenv("LOCALM_API_KEY");
    if (o.api_key && !*o.api_key) o.api_key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--host") && v)
            o.host = argv[++i];
        else if (!strcmp(a, "--port") && v)
            o.port = atoi(argv[++i]);
        else if (!strcmp(a, "--api-key") && v)
            o.api_key = argv[++i];
        else if (!strcmp(a, "--backend") && v)
            o.backend = argv[++i];
        else if (!strcmp(a, "--threads") && v)
            o.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--ctx") && v)
            o.n_ctx = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--keep-alive") && v)
            o.keep_alive_s = atof(argv[++i]);
        else if (!strcmp(a, "--max-body") && v)
            o.max_body = (size_t)atoll(argv[++i]);
        else if (!strcmp(a, "--max-queue") && v)
            o.max_queue = atoi(argv[++i]);
        else if (!strcmp(a, "-m") && v)
            o.model = argv[++i];
        else if (a[0] != '-' && !o.model)
            o.model = a;
        else {
            fprintf(stderr, "localm serve: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.port < 0 || o.port > 65535) {
        fprintf(stderr, "localm serve: --port must be 0..65535\n");
        return 2;
    }
    char path[1024];
    lm_err err = {0};
    bool demo = false;
    if (lm_cli_model_path(o.model, path, sizeof path, &demo, &err) != LM_OK) {
        fprintf(stderr, "localm serve: %s\n", lm_err_text(&err));
        return 1;
    }
    if (demo) {
        fprintf(stderr, "model: the built-in LocalM demo model (localm-demo)\n");
        o.model_id = LM_DEMO_MODEL_ID;
    }
    o.model = path;
    if (strcmp(o.host, "127.0.0.1") && strcmp(o.host, "localhost"))
        fprintf(stderr, "warning: listening on %s: other machines can reach this server%s\n",
                o.host, o.api_key ? "" : " and no API key is set");
    if (!strcmp(o.host, "localhost")) o.host = "127.0.0.1";
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    lm_server *s = NULL;
    if (lm_server_start(&o, &s, &err) != LM_OK) {
        fprintf(stderr, "localm serve: %s\n", lm_err_text(&err));
        return 1;
    }
    printf("LocalM is serving on http://%s:%d/ — open it in a browser to chat\n", o.host,
           lm_server_port(s));
    printf("OpenAI-compatible API: http://%s:%d/v1 (Ctrl-C stops)\n", o.host, lm_server_port(s));
    fflush(stdout);
    while (!g_stop)
        pause();
    fprintf(stderr, "\nstopping: finishing in-flight streams\n");
    lm_server_stop(s);
    return 0;
}
