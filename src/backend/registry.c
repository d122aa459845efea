/* registry.c — compiled-in and registered engines, in preference order. */
#include "backend/registry.h"
#include "base/err.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* An engine is referenced strongly when its source is in the tree (so that
 * static linking pulls it in: a weak reference would not), and weakly
 * otherwise, so a tree without it still links and simply lists it as absent.
 * CUDA also needs a CUDA build; without it, cuda_missing.c says why. */
#if __has_include("backend/cpu/engine_cpu.h")
#include "backend/cpu/engine_cpu.h"
#else
#pragma weak lm_backend_cpu
const lm_backend_ops *lm_backend_cpu(void);
#endif
#if defined(LOCALM_HAVE_CUDA) && __has_include("backend/cuda/engine_cuda.h")
#include "backend/cuda/engine_cuda.h"
#else
#pragma weak lm_backend_cuda
const lm_backend_ops *lm_backend_cuda(void);
#endif
const lm_backend_ops *lm_backend_cuda_missing(void); /* cuda_missing.c */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const lm_backend_ops *g_list[LM_REGISTRY_MAX];
static int g_count;
static int g_init;

static void init_locked(void) {
    if (g_init) return;
    g_init = 1;
    /* Without the CUDA engine, a "cuda" entry that declines says why. */
    const lm_backend_ops *(*volatile cuda)(void) = lm_backend_cuda;
    if (cuda && cuda()) g_list[g_count++] = cuda();
    else g_list[g_count++] = lm_backend_cuda_missing();
    /* Through a variable: with a strong reference the NULL test is moot. */
    const lm_backend_ops *(*volatile cpu)(void) = lm_backend_cpu;
    if (cpu && cpu()) g_list[g_count++] = cpu();
}

int lm_registry_count(void) {
    pthread_mutex_lock(&g_lock);
    init_locked();
    int n = g_count;
    pthread_mutex_unlock(&g_lock);
    return n;
}

const lm_backend_ops *lm_registry_get(int i) {
    pthread_mutex_lock(&g_lock);
    init_locked();
    const lm_backend_ops *o = (i >= 0 && i < g_count) ? g_list[i] : NULL;
    pthread_mutex_unlock(&g_lock);
    return o;
}

static int find_locked(const char *name) {
    for (int i = 0; i < g_count; i++)
        if (!strcmp(g_list[i]->name, name)) return i;
    return -1;
}

const lm_backend_ops *lm_registry_find(const char *name) {
    if (!name) return NULL;
    pthread_mutex_lock(&g_lock);
    init_locked();
    int i = find_locked(name);
    const lm_backend_ops *o = i >= 0 ? g_list[i] : NULL;
    pthread_mutex_unlock(&g_lock);
    return o;
}

lm_status lm_registry_register(const lm_backend_ops *ops, int index, lm_err *err) {
    if (!ops) return lm_fail(err, LM_ERR_INVALID_ARG, "register: no backend table");
    /* Tables only grow at the end, so any version up to ours is readable. */
    if (ops->abi_version == 0 || ops->abi_version > LM_BACKEND_ABI_VERSION)
        return lm_fail(err, LM_ERR_UNSUPPORTED,
                       "backend '%s': engine interface version %u, this build understands 1..%d",
                       ops->name ? ops->name : "?", ops->abi_version, LM_BACKEND_ABI_VERSION);
    if (!ops->name || !*ops->name || !ops->probe || !ops->check || !ops->load || !ops->forward ||
        !ops->kv_seq || !ops->unload)
        return lm_fail(err, LM_ERR_INVALID_ARG, "backend '%s': a required function is missing",
                       ops->name ? ops->name : "?");
    pthread_mutex_lock(&g_lock);
    init_locked();
    lm_status st = LM_OK;
    if (find_locked(ops->name) >= 0) {
        st = lm_fail(err, LM_ERR_INVALID_ARG, "backend '%s' is already registered", ops->name);
    } else if (g_count >= LM_REGISTRY_MAX) {
        st = lm_fail(err, LM_ERR_BUSY, "backend registry is full (%d)", LM_REGISTRY_MAX);
    } else {
        if (index < 0 || index > g_count) index = g_count;
        memmove(&g_list[index + 1], &g_list[index], (size_t)(g_count - index) * sizeof g_list[0]);
        g_list[index] = ops;
        g_count++;
    }
    pthread_mutex_unlock(&g_lock);
    return st;
}

lm_status lm_registry_unregister(const char *name, lm_err *err) {
    pthread_mutex_lock(&g_lock);
    init_locked();
    int i = name ? find_locked(name) : -1;
    if (i >= 0) {
        memmove(&g_list[i], &g_list[i + 1], (size_t)(g_count - i - 1) * sizeof g_list[0]);
        g_count--;
    }
    pthread_mutex_unlock(&g_lock);
    if (i < 0) return lm_fail(err, LM_ERR_NOT_FOUND, "no backend named '%s'", name ? name : "");
    return LM_OK;
}

const char *lm_registry_names(char *buf, size_t cap) {
    if (!cap) return buf;
    buf[0] = 0;
    size_t n = 0;
    int count = lm_registry_count();
    for (int i = 0; i < count && n < cap; i++) {
        const lm_backend_ops *o = lm_registry_get(i);
        if (!o) break;
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", o->name);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}
