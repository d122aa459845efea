/* cmd_template.c — `localm template`: renders a chat template for a
 * conversation and prints exactly the rendered text (for checking templates
 * against Python's Jinja2 output). */
#include "base/err.h"
#include "base/mapfile.h"
#include "cli/commands.h"
#include "model/chat_template.h"
#include "model/model_desc.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_BYTES (64u << 20)

static void usage(FILE *f) {
    fprintf(f, "usage: localm template (-m MODEL | --template FILE) --messages FILE.json\n"
               "                      [--tools FILE.json] [--add-generation-prompt]\n"
               "                      [--bos TEXT] [--eos TEXT]\n"
               "Prints the rendered prompt text and nothing else. Without -m or --template\n"
               "the built-in ChatML template is used (said on stderr).\n");
}

static cJSON *read_json(const char *path, lm_err *err) {
    char *text = NULL;
    size_t len = 0;
    if (lm_read_file(path, MAX_JSON_BYTES, &text, &len, err) != LM_OK) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) lm_fail(err, LM_ERR_JSON, "%s: malformed JSON", path);
    return j;
}

int lm_cmd_template(int argc, char **argv) {
    const char *model = NULL, *tpl_path = NULL, *msg_path = NULL, *tools_path = NULL;
    const char *bos = NULL, *eos = NULL;
    bool gen = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model = argv[++i];
        } else if (!strcmp(a, "--template") && has_val) {
            tpl_path = argv[++i];
        } else if (!strcmp(a, "--messages") && has_val) {
            msg_path = argv[++i];
        } else if (!strcmp(a, "--tools") && has_val) {
            tools_path = argv[++i];
        } else if (!strcmp(a, "--bos") && has_val) {
            bos = argv[++i];
        } else if (!strcmp(a, "--eos") && has_val) {
            eos = argv[++i];
        } else if (!strcmp(a, "--add-generation-prompt")) {
            gen = true;
        } else {
            fprintf(stderr, "localm template: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!msg_path || (model && tpl_path)) {
        usage(stderr);
        return 2;
    }
    lm_err err = {0};
    int rc = 1;
    char *tpl = NULL, *out = NULL;
    cJSON *messages = NULL, *tools = NULL;
    lm_model_desc *desc = NULL;
    if (model) {
        if (lm_model_open(model, &desc, &err) != LM_OK) goto fail;
        if (desc->chat_template) tpl = strdup(desc->chat_template);
        if (!bos && desc->bos_text) bos = desc->bos_text;
        if (!eos && desc->eos_text) eos = desc->eos_text;
    } else if (tpl_path) {
        size_t len;
        if (lm_read_file(tpl_path, 16u << 20, &tpl, &len, &err) != LM_OK) goto fail;
    }
    if (!(messages = read_json(msg_path, &err))) goto fail;
    if (cJSON_IsObject(messages)) { /* also accept {"messages": [...], "tools": [...]} */
        cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(messages, "messages");
        cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(messages, "tools");
        cJSON_Delete(messages);
        messages = m;
        tools = t;
    }
    if (tools_path) {
        cJSON_Delete(tools);
        if (!(tools = read_json(tools_path, &err))) goto fail;
    }
    lm_chat_params p = lm_chat_default_params();
    p.template_src = tpl;
    p.messages = messages;
    p.tools = tools;
    p.add_generation_prompt = gen;
    p.bos_token = bos;
    p.eos_token = eos;
    bool builtin = false;
    size_t n = 0;
    if (lm_chat_render(&p, &out, &n, &builtin, &err) != LM_OK) goto fail;
    if (builtin) fprintf(stderr, "localm template: no chat template given; used built-in ChatML\n");
    if (fwrite(out, 1, n, stdout) != n || fflush(stdout) != 0) {
        fprintf(stderr, "localm template: write failed\n");
        goto done;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "localm template: %s\n", lm_err_text(&err));
done:
    free(out);
    free(tpl);
    cJSON_Delete(messages);
    cJSON_Delete(tools);
    lm_model_free(desc);
    return rc;
}
