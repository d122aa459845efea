/* pull.h — `localm pull`: model references (catalog id, hf://owner/repo/file,
 * https URL) to verified files in the disk cache, and the resolution of a
 * model reference to a local path that run, chat, serve and the API share. */
#ifndef LM_CATALOG_PULL_H
#define LM_CATALOG_PULL_H
#include "base/progress.h"
#include "localm.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct lm_pull_result {
    char path[1024];
    char sha256[65];
    uint64_t size;
    uint64_t resumed_from;
    bool already_present;
} lm_pull_result;

/* True when LOCALM_OFFLINE is set to something other than "" or "0". */
bool lm_offline(void);

/* Downloads (or verifies) ref into the disk cache and records its manifest.
 * offline: never touch the network (succeeds only when already present). */
lm_status lm_pull(const char *ref, bool offline, lm_progress_fn fn, void *user, lm_pull_result *out,
                  lm_err *err);

/* A path (file or folder) is returned as is; a catalog id or hf:// reference
 * becomes its cached file, downloaded first when `download` is true and we
 * are not offline. */
lm_status lm_model_ref_resolve(const char *ref, bool download, lm_progress_fn fn, void *user,
                               char *path, size_t cap, lm_err *err);

/* Deletes a downloaded model (ID, ID:QUANT or hf://...). */
lm_status lm_pull_remove(const char *ref, char *removed, size_t cap, lm_err *err);
#endif
