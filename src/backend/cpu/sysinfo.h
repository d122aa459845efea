/* sysinfo.h — what the CPU engine needs to know about this machine: RAM from
 * /proc/meminfo, the CPU's model name, and this process's peak RSS. */
#ifndef LM_BACKEND_CPU_SYSINFO_H
#define LM_BACKEND_CPU_SYSINFO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MemTotal and MemAvailable in bytes; false when /proc/meminfo is unreadable. */
bool lm_sys_meminfo(uint64_t *total, uint64_t *available);
/* "AMD EPYC" (from /proc/cpuinfo), or "unknown CPU". */
void lm_sys_cpu_name(char *buf, size_t n);
/* Peak resident set size of this process in bytes (VmHWM), 0 if unknown. */
uint64_t lm_sys_peak_rss(void);
/* Current resident bytes of anonymous memory (heap: copies would show here)
 * and of mapped files (weights used in place from the mmap). */
void lm_sys_rss_split(uint64_t *anon, uint64_t *file);
#endif
