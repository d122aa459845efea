/* fault.c — parsing LOCALM_FAULT and counting calls per fault site. */
#include "base/fault.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SITES 16

typedef struct {
    char name[32];
    long target; /* the call number that fails */
    long count;  /* calls seen so far */
} fault_site;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static fault_site g_sites[MAX_SITES];
static int g_n_sites;

/* Reads "site:N,site:N" once; malformed entries are ignored (a test hook must
 * never break a normal run). */
static void parse_env(void) {
    const char *s = getenv("LOCALM_FAULT");
    while (s && *s && g_n_sites < MAX_SITES) {
        const char *colon = strchr(s, ':');
        const char *comma = strchr(s, ',');
        if (!colon || (comma && comma < colon)) {
            s = comma ? comma + 1 : NULL;
            continue;
        }
        size_t n = (size_t)(colon - s);
        char *end;
        long target = strtol(colon + 1, &end, 10);
        if (n > 0 && n < sizeof g_sites[0].name && target > 0 && end != colon + 1) {
            fault_site *f = &g_sites[g_n_sites++];
            memcpy(f->name, s, n);
            f->name[n] = 0;
            f->target = target;
        }
        s = comma ? comma + 1 : NULL;
    }
}

bool lm_fault_hit(const char *site) {
    pthread_once(&g_once, parse_env);
    if (g_n_sites == 0 || !site) return false;
    bool hit = false;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_sites; i++) {
        if (strcmp(g_sites[i].name, site) != 0) continue;
        g_sites[i].count++;
        if (g_sites[i].count == g_sites[i].target) hit = true;
    }
    pthread_mutex_unlock(&g_lock);
    return hit;
}
