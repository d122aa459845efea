/* main.c — the localm command-line entry point: dispatches to subcommands. */
#include "cli/commands.h"
#include "localm.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command k_commands[] = {
    {"run", lm_cmd_run, "generate text from a prompt"},
    {"chat", lm_cmd_chat, "chat with a model in the terminal"},
    {"serve", lm_cmd_serve, "OpenAI-compatible HTTP API and chat page"},
    {"score", lm_cmd_score, "negative log-likelihood and argmax of a token sequence"},
    {"bench", lm_cmd_bench, "prefill/decode speed against the hardware roofline"},
    {"show", lm_cmd_show, "describe a model file, folder or catalog id"},
    {"tokenize", lm_cmd_tokenize, "text to token ids"},
    {"detokenize", lm_cmd_detokenize, "token ids to text"},
    {"template", lm_cmd_template, "render a chat template"},
    {"backends", lm_cmd_backends, "list engines and whether they are usable here"},
    {"ls", lm_cmd_ls, "list catalog models and what is on disk"},
    {"pull", lm_cmd_pull, "download a model"},
    {"rm", lm_cmd_rm, "delete a downloaded model"},
};
#define N_COMMANDS (sizeof k_commands / sizeof k_commands[0])

static void usage(FILE *f) {
    fprintf(f, "LocalM %s — run open-weights language models locally\n\n"
               "usage: localm COMMAND [options]   (localm COMMAND --help for details)\n\n"
               "commands:\n",
            LOCALM_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (k_commands[i].fn) fprintf(f, "  %-11s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f, "\nMODEL is a path to a .gguf file or a Hugging Face folder.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(c, "--version")) {
        printf("localm %s\n", LOCALM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (k_commands[i].fn && !strcmp(c, k_commands[i].name))
            return k_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "localm: unknown command '%s'\n\n", c);
    usage(stderr);
    return 2;
}
