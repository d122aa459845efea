// labels: unit asan
/* test_model_cache.c — loaded-model cache: LRU eviction order under RAM and
 * VRAM budgets, models in use never evicted, keep-alive expiry on an injected
 * clock, explicit unload, discard while in use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "runtime/model_cache.h"

static uint64_t g_now;
static uint64_t clock_fn(void *u) {
    (void)u;
    return g_now;
}

static char g_destroyed[16];
static int g_n_destroyed;
static void destroy(void *p) {
    g_destroyed[g_n_destroyed++] = *(char *)p;
}

static char g_names[] = "ABCDEFGH";

static lm_model_cache *make(uint64_t ram, uint64_t vram, uint64_t keep) {
    g_now = 1;
    g_n_destroyed = 0;
    memset(g_destroyed, 0, sizeof g_destroyed);
    lm_model_cache_params p;
    lm_model_cache_default_params(&p);
    p.ram_budget = ram;
    p.vram_budget = vram;
    p.keep_alive_ns = keep;
    p.clock = clock_fn;
    return lm_model_cache_create(&p);
}

static lm_cached_model *put(lm_model_cache *c, int i, const char *backend, uint64_t ram,
                            uint64_t vram, lm_status want) {
    lm_cache_key k;
    lm_file_id f = {1, (uint64_t)i, 100, 5};
    lm_load_opts o;
    lm_load_opts_default(&o);
    lm_cache_key_make(&k, &f, backend, &o);
    lm_cached_model *e = NULL;
    lm_err err = {0};
    assert_int_equal(lm_model_cache_insert(c, &k, NULL, &g_names[i], destroy, ram, vram, &e, &err),
                     want);
    return e;
}

static void lru_eviction_order(void **state) {
    (void)state;
    lm_model_cache *c = make(100, 0, LM_KEEP_ALIVE_FOREVER);
    lm_cached_model *a = put(c, 0, "cpu", 40, 0, LM_OK);
    g_now = 2;
    lm_model_cache_release(c, a); /* A idle since 2 */
    lm_cached_model *b = put(c, 1, "cpu", 40, 0, LM_OK);
    g_now = 3;
    lm_model_cache_release(c, b); /* B idle since 3 */
    /* Touch A again: now B is the least recently used. */
    lm_cache_key ka = a->key;
    assert_ptr_equal(lm_model_cache_acquire(c, &ka), a);
    g_now = 4;
    lm_model_cache_release(c, a);
    lm_cached_model *cc = put(c, 2, "cpu", 40, 0, LM_OK); /* 120 > 100: evict B */
    assert_int_equal(g_n_destroyed, 1);
    assert_int_equal(g_destroyed[0], 'B');
    g_now = 5;
    lm_model_cache_release(c, cc);
    put(c, 3, "cpu", 70, 0, LM_OK); /* needs 70: evict A (4) then C (5) */
    assert_string_equal(g_destroyed, "BAC");
    assert_int_equal(lm_model_cache_count(c), 1);
    uint64_t ram, vram;
    lm_model_cache_usage(c, &ram, &vram);
    assert_true(ram == 70 && vram == 0);
    lm_model_cache_free(c);
    assert_string_equal(g_destroyed, "BACD");
}

static void in_use_is_never_evicted(void **state) {
    (void)state;
    lm_model_cache *c = make(100, 50, LM_KEEP_ALIVE_FOREVER);
    lm_cached_model *a = put(c, 0, "cpu", 60, 0, LM_OK); /* held */
    lm_cached_model *g = put(c, 1, "cuda", 0, 30, LM_OK);
    lm_model_cache_release(c, g);
    /* RAM: 60 in use + 50 does not fit and A cannot go. */
    assert_null(put(c, 2, "cpu", 50, 0, LM_ERR_NO_MEMORY));
    assert_int_equal(g_n_destroyed, 0); /* G (VRAM) was not sacrificed for RAM it never used... */
    /* VRAM: 30 idle + 30 > 50 → G is evicted, A untouched. */
    lm_cached_model *h = put(c, 3, "cuda", 0, 30, LM_OK);
    assert_string_equal(g_destroyed, "B");
    lm_err err = {0};
    assert_int_equal(lm_model_cache_unload(c, a, &err), LM_ERR_BUSY);
    assert_int_equal(a->refs, 1);
    /* Two references: still in use after one release. */
    lm_model_cache_retain(c, a);
    lm_model_cache_release(c, a);
    assert_null(put(c, 4, "cpu", 50, 0, LM_ERR_NO_MEMORY));
    lm_model_cache_release(c, a);
    assert_int_equal(lm_model_cache_unload(c, a, &err), LM_OK);
    assert_string_equal(g_destroyed, "BA");
    assert_int_equal(lm_model_cache_unload(c, a, &err), LM_ERR_NOT_FOUND);
    lm_model_cache_release(c, h);
    lm_model_cache_free(c);
}

static void keep_alive_expiry(void **state) {
    (void)state;
    const uint64_t sec = 1000000000ull;
    lm_model_cache *c = make(0, 0, 300 * sec);
    lm_cached_model *a = put(c, 0, "cpu", 1, 0, LM_OK);
    lm_cached_model *b = put(c, 1, "cpu", 1, 0, LM_OK);
    b->keep_alive_ns = 10 * sec; /* e.g. --keep-alive 10s */
    g_now = 100 * sec;
    lm_model_cache_release(c, a);
    lm_model_cache_release(c, b);
    assert_true(lm_model_cache_next_expiry_ns(c) == 10 * sec);
    g_now = 100 * sec + 10 * sec - 1;
    assert_int_equal(lm_model_cache_expire(c), 0);
    g_now = 110 * sec;
    assert_int_equal(lm_model_cache_expire(c), 1);
    assert_string_equal(g_destroyed, "B");
    /* A model in use does not expire however long it runs. */
    lm_cache_key ka = a->key;
    assert_non_null(lm_model_cache_acquire(c, &ka));
    g_now = 10000 * sec;
    assert_int_equal(lm_model_cache_expire(c), 0);
    assert_true(lm_model_cache_next_expiry_ns(c) == UINT64_MAX);
    lm_model_cache_release(c, a);
    g_now += 300 * sec;
    assert_int_equal(lm_model_cache_expire(c), 1);
    assert_string_equal(g_destroyed, "BA");
    lm_model_cache_free(c);
}

static void discard_while_in_use(void **state) {
    (void)state;
    lm_model_cache *c = make(0, 0, LM_KEEP_ALIVE_FOREVER);
    lm_cached_model *a = put(c, 0, "cpu", 5, 0, LM_OK);
    lm_cache_key ka = a->key;
    lm_model_cache_discard(c, a);
    assert_int_equal(g_n_destroyed, 0);          /* still used */
    assert_null(lm_model_cache_acquire(c, &ka)); /* but no longer found */
    lm_model_cache_release(c, a);
    assert_string_equal(g_destroyed, "A");
    assert_int_equal(lm_model_cache_count(c), 0);
    lm_model_cache_free(c);
}

static void keys_distinguish_backend_and_options(void **state) {
    (void)state;
    lm_file_id f = {1, 2, 3, 4};
    lm_load_opts o;
    lm_load_opts_default(&o);
    lm_cache_key a, b;
    lm_cache_key_make(&a, &f, "cpu", &o);
    lm_cache_key_make(&b, &f, "cpu", &o);
    assert_true(lm_cache_key_equal(&a, &b));
    lm_cache_key_make(&b, &f, "cuda", &o);
    assert_false(lm_cache_key_equal(&a, &b));
    o.n_ctx = 2048;
    lm_cache_key_make(&b, &f, "cpu", &o);
    assert_false(lm_cache_key_equal(&a, &b));
    lm_load_opts_default(&o);
    f.mtime_ns = 5; /* the file changed on disk */
    lm_cache_key_make(&b, &f, "cpu", &o);
    assert_false(lm_cache_key_equal(&a, &b));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lru_eviction_order),
        cmocka_unit_test(in_use_is_never_evicted),
        cmocka_unit_test(keep_alive_expiry),
        cmocka_unit_test(discard_while_in_use),
        cmocka_unit_test(keys_distinguish_backend_and_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
