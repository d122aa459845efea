/* show_catalog.h — the catalog part of `localm show ID`: what the catalog
 * says about a model id (files, sizes, backends), and where its downloaded
 * file is so that show can go on to describe the file itself. */
#ifndef LM_CLI_SHOW_CATALOG_H
#define LM_CLI_SHOW_CATALOG_H
#include <stdbool.h>
#include <stddef.h>

/* For a catalog reference ("ID" or "ID:QUANT"): prints its catalog entry
 * (text, or JSON when json) and returns 1 with path set when its file is
 * downloaded, 0 when it is not (the entry says how to get it). Returns -1,
 * printing nothing, when ref is not a catalog id. */
int lm_cli_show_catalog(const char *ref, bool json, char *path, size_t cap);
#endif
