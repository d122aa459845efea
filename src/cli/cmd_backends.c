/* cmd_backends.c — `localm backends`: every engine in preference order, its
 * devices and capabilities, and whether it is usable here (or why not). */
#include "backend/registry.h"
#include "backend/select.h"
#include "cli/commands.h"
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: localm backends\n\n"
               "Lists the engines built into this binary in the order they are tried, their\n"
               "devices (CPU: ISA, threads, RAM; GPU: name, VRAM) and whether each can run\n"
               "here. LOCALM_BACKEND or --backend NAME picks one explicitly.\n");
}

int lm_cmd_backends(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "localm backends: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    int n = lm_registry_count();
    if (n == 0) {
        printf("no engines are built into this binary\n");
        return 1;
    }
    int usable = 0;
    for (int i = 0; i < n; i++) {
        const lm_backend_ops *o = lm_registry_get(i);
        lm_backend_info info;
        memset(&info, 0, sizeof info);
        lm_status st = o->probe(&info);
        if (st != LM_OK) {
            printf("%d. %-6s not usable: probe failed (%s)\n", i + 1, o->name, lm_status_message(st));
            continue;
        }
        if (info.usable) usable++;
        printf("%d. %-6s %s%s%s\n", i + 1, o->name, info.usable ? "usable" : "not usable: ",
               info.usable ? "" : info.reason, "");
        for (int d = 0; d < info.n_devices && d < 8; d++) {
            const lm_device_info *dv = &info.devices[d];
            char tot[32], fr[32];
            lm_format_bytes(dv->mem_total, tot, sizeof tot);
            lm_format_bytes(dv->mem_free, fr, sizeof fr);
            bool cpu = !strcmp(o->name, "cpu");
            printf("   device %d: %s\n", d, dv->name);
            if (*dv->caps) printf("     %s: %s\n", cpu ? "ISA" : "compute", dv->caps);
            printf("     %s: %s total, %s free\n", cpu ? "RAM" : "VRAM", tot, fr);
        }
        if (info.threads > 0) printf("     threads: %d (physical cores)\n", info.threads);
    }
    return usable ? 0 : 1;
}
