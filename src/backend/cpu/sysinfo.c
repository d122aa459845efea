/* sysinfo.c — machine facts from /proc for the CPU engine and benchmarks. */
#include "backend/cpu/sysinfo.h"
#include <stdio.h>
#include <string.h>

/* Value in kB of "Key:   123 kB" lines of a /proc file. */
static bool proc_kb(const char *path, const char *key, uint64_t *out) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[256];
    size_t kl = strlen(key);
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (strncmp(line, key, kl) == 0 && line[kl] == ':' &&
            sscanf(line + kl + 1, "%llu", &v) == 1) {
            *out = (uint64_t)v * 1024;
            found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

bool lm_sys_meminfo(uint64_t *total, uint64_t *available) {
    uint64_t t = 0, a = 0;
    if (!proc_kb("/proc/meminfo", "MemTotal", &t)) return false;
    if (!proc_kb("/proc/meminfo", "MemAvailable", &a)) a = t;
    if (total) *total = t;
    if (available) *available = a;
    return true;
}

void lm_sys_cpu_name(char *buf, size_t n) {
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        size_t l = strcspn(v, "\n");
        snprintf(buf, n, "%.*s", (int)l, v);
        break;
    }
    fclose(f);
}

uint64_t lm_sys_peak_rss(void) {
    uint64_t v = 0;
    return proc_kb("/proc/self/status", "VmHWM", &v) ? v : 0;
}

void lm_sys_rss_split(uint64_t *anon, uint64_t *file) {
    uint64_t a = 0, f = 0;
    proc_kb("/proc/self/status", "RssAnon", &a);
    proc_kb("/proc/self/status", "RssFile", &f);
    if (anon) *anon = a;
    if (file) *file = f;
}
