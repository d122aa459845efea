/* cmd_pull.c — `localm pull REF` and `localm rm REF`: download a model into
 * the disk cache (with the shared progress bar: bytes, rate and ETA on a
 * terminal), or delete one. */
#include "backend/select.h"
#include "base/err.h"
#include "catalog/pull.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lm_cmd_pull(int argc, char **argv) {
    const char *ref = NULL;
    bool offline = lm_offline();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: localm pull REF [--offline]\n\n"
                   "REF is a catalog id (`localm ls`), ID:QUANT, hf://OWNER/REPO/FILE.gguf or an\n"
                   "https:// URL. Downloads resume after interruptions, are checked against the\n"
                   "catalog's sha256 (or record it), and appear in the cache only when complete.\n"
                   "Environment: LOCALM_HOME (cache), HF_TOKEN (gated repositories),\n"
                   "LOCALM_HF_ENDPOINT (hub address), LOCALM_OFFLINE=1 (never download).\n");
            return 0;
        } else if (!strcmp(argv[i], "--offline"))
            offline = true;
        else if (argv[i][0] != '-' && !ref)
            ref = argv[i];
        else {
            fprintf(stderr, "localm pull: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!ref) {
        fprintf(stderr, "usage: localm pull REF [--offline]\n");
        return 2;
    }
    lm_progress_bar bar;
    lm_progress_bar_init(&bar, stderr);
    lm_pull_result r;
    lm_err err = {0};
    lm_status st = lm_pull(ref, offline, lm_progress_bar_fn, &bar, &r, &err);
    lm_progress_bar_finish(&bar);
    if (st != LM_OK) {
        fprintf(stderr, "localm pull: %s\n", lm_err_text(&err));
        return 1;
    }
    char size[32];
    lm_format_bytes(r.size, size, sizeof size);
    printf("%s %s (%s, sha256 %s)\n",
           r.already_present ? "already present:" : "downloaded:", r.path, size,
           r.sha256[0] ? r.sha256 : "unknown");
    return 0;
}

int lm_cmd_rm(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: localm rm REF   (a catalog id, ID:QUANT or hf://OWNER/REPO/FILE)\n");
        return argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
    }
    char removed[1024];
    lm_err err = {0};
    if (lm_pull_remove(argv[1], removed, sizeof removed, &err) != LM_OK) {
        fprintf(stderr, "localm rm: %s\n", lm_err_text(&err));
        return 1;
    }
    printf("removed %s\n", removed);
    return 0;
}
