/* model_arg.c — resolving the MODEL argument of the CLI commands. */
#include "cli/model_arg.h"
#include "catalog/pull.h"
#include "cli/progress_bar.h"
#include "model/demo_model.h"
#include <stdio.h>
#include <string.h>

lm_status lm_cli_model_path(const char *ref, char *path, size_t cap, bool *is_demo, lm_err *err) {
    if (is_demo) *is_demo = !ref || !*ref || !strcmp(ref, LM_DEMO_MODEL_ID);
    if (!ref || !*ref || !strcmp(ref, LM_DEMO_MODEL_ID)) return lm_demo_model_path(path, cap, err);
    lm_progress_bar bar;
    lm_progress_bar_init(&bar, stderr);
    lm_status st = lm_model_ref_resolve(ref, true, lm_progress_bar_fn, &bar, path, cap, err);
    lm_progress_bar_finish(&bar);
    return st;
}
