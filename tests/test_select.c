// labels: unit asan
/* test_select.c — registry and selection policy with fake engines: declines
 * and load failures fall through, every decision is recorded and formatted,
 * explicit choices are strict, catalog hints order candidates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "backend/registry.h"
#include "backend/select.h"
#include "helpers/fake_backend.h"

static lm_model_desc g_desc;

static int setup(void **state) {
    (void)state;
    unsetenv("LOCALM_BACKEND");
    fake_reset(0, "fdecl");
    fake_cfgs[0].decline_reason = "no fake device";
    fake_cfgs[0].bytes_needed = 1ull << 30;
    fake_reset(1, "fbroken");
    fake_cfgs[1].load_fails = true;
    fake_reset(2, "fgood");
    fake_cfgs[2].bytes_needed = 3ull << 20;
    for (int i = 0; i < 3; i++)
        assert_int_equal(lm_registry_register(fake_ops(i), i, NULL), LM_OK);
    fake_model_desc(&g_desc, 32, 128, 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lm_registry_unregister("fdecl", NULL);
    lm_registry_unregister("fbroken", NULL);
    lm_registry_unregister("fgood", NULL);
    return 0;
}

static void falls_through_and_records(void **state) {
    (void)state;
    lm_selection s;
    lm_err err = {0};
    assert_int_equal(lm_select_init(&s, NULL, NULL, 0, &err), LM_OK);
    assert_false(s.strict);
    assert_string_equal(s.source, "registry");
    lm_load_opts o;
    lm_load_opts_default(&o);
    const lm_backend_ops *ops;
    lm_engine *eng;
    assert_int_equal(lm_select_load(&s, &g_desc, &o, NULL, NULL, &ops, &eng, &err), LM_OK);
    assert_string_equal(ops->name, "fgood");
    assert_int_equal(s.n_decisions, 3);
    assert_string_equal(s.decisions[0].backend, "fdecl");
    assert_int_equal(s.decisions[0].kind, LM_DECISION_DECLINED);
    assert_string_equal(s.decisions[0].reason, "no fake device");
    assert_true(s.decisions[0].bytes_needed == 1ull << 30);
    assert_string_equal(s.decisions[1].backend, "fbroken");
    assert_int_equal(s.decisions[1].kind, LM_DECISION_FAILED);
    assert_string_equal(s.decisions[1].reason, "fake load error in fbroken");
    assert_int_equal(s.decisions[2].kind, LM_DECISION_ACCEPTED);
    assert_int_equal(fake_cfgs[0].loads, 0); /* a declined backend is never loaded */
    char buf[512];
    assert_string_equal(lm_selection_format(&s, buf, sizeof buf),
                        "fgood (fdecl: declined — no fake device (needs 1.0 GiB); "
                        "fbroken: failed — fake load error in fbroken)");
    ops->unload(eng);
}

static void explicit_choice_is_strict(void **state) {
    (void)state;
    lm_selection s;
    lm_err err = {0};
    assert_int_equal(lm_select_init(&s, "fdecl", NULL, 0, &err), LM_OK);
    assert_true(s.strict);
    lm_load_opts o;
    lm_load_opts_default(&o);
    const lm_backend_ops *ops;
    lm_engine *eng;
    assert_int_equal(lm_select_load(&s, &g_desc, &o, NULL, NULL, &ops, &eng, &err),
                     LM_ERR_DECLINED);
    assert_null(eng);
    assert_non_null(strstr(err.msg, "backend 'fdecl' (chosen by --backend) cannot run this model"));
    assert_non_null(strstr(err.msg, "no fake device"));
    assert_int_equal(fake_cfgs[2].loads, 0); /* no fall-back to fgood */

    /* LOCALM_BACKEND does the same when no --backend is given. */
    setenv("LOCALM_BACKEND", "fbroken", 1);
    assert_int_equal(lm_select_init(&s, NULL, NULL, 0, &err), LM_OK);
    assert_string_equal(s.source, "LOCALM_BACKEND");
    assert_int_equal(lm_select_load(&s, &g_desc, &o, NULL, NULL, &ops, &eng, &err), LM_ERR_BACKEND);
    assert_non_null(strstr(err.msg, "fake load error"));
    unsetenv("LOCALM_BACKEND");

    assert_int_equal(lm_select_init(&s, "nosuch", NULL, 0, &err), LM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "unknown backend 'nosuch'"));
    assert_non_null(strstr(err.msg, "fdecl, fbroken, fgood"));
}

static void catalog_hints_order_and_veto(void **state) {
    (void)state;
    lm_select_hint h[] = {
        {"fbroken", true, 5, NULL},
        {"fgood", true, 1, NULL},
        {"fdecl", false, 0, "too large for this engine"},
    };
    lm_selection s;
    lm_err err = {0};
    assert_int_equal(lm_select_init(&s, NULL, h, 3, &err), LM_OK);
    assert_string_equal(s.source, "catalog");
    /* fgood (priority 1) before fbroken (5), fdecl vetoed and not a candidate. */
    int n = s.n_cand;
    assert_true(n >= 2);
    assert_string_equal(s.cand[0]->name, "fgood");
    assert_string_equal(s.cand[1]->name, "fbroken");
    for (int i = 0; i < n; i++)
        assert_string_not_equal(s.cand[i]->name, "fdecl");
    assert_int_equal(s.n_decisions, 1);
    assert_int_equal(s.decisions[0].kind, LM_DECISION_DECLINED);
    assert_string_equal(s.decisions[0].reason,
                        "not supported for this model (catalog: too large for this engine)");
    lm_load_opts o;
    lm_load_opts_default(&o);
    const lm_backend_ops *ops;
    lm_engine *eng;
    assert_int_equal(lm_select_load(&s, &g_desc, &o, NULL, NULL, &ops, &eng, &err), LM_OK);
    assert_string_equal(ops->name, "fgood");
    assert_int_equal(fake_cfgs[1].loads, 0);
    ops->unload(eng);
}

static void failover_goes_to_next_then_retries_last(void **state) {
    (void)state;
    lm_select_hint h[] = {
        {"fgood", true, 1, NULL}, {"fbroken", true, 2, NULL}, {"fdecl", false, 3, NULL}};
    lm_selection s;
    lm_err err = {0};
    assert_int_equal(lm_select_init(&s, NULL, h, 3, &err), LM_OK);
    /* Only the fakes: compiled-in engines that follow in registry order would
     * otherwise be tried with this tensor-less description. */
    assert_string_equal(s.cand[1]->name, "fbroken");
    s.n_cand = 2;
    lm_load_opts o;
    lm_load_opts_default(&o);
    const lm_backend_ops *ops;
    lm_engine *eng;
    assert_int_equal(lm_select_load(&s, &g_desc, &o, NULL, NULL, &ops, &eng, &err), LM_OK);
    ops->unload(eng);
    /* fgood fails while running: fbroken fails to load, registry rest has
     * nothing usable, so fgood is reloaded once. */
    assert_int_equal(
        lm_select_failover(&s, "fgood", "device lost", &g_desc, &o, NULL, NULL, &ops, &eng, &err),
        LM_OK);
    assert_string_equal(ops->name, "fgood");
    assert_int_equal(fake_cfgs[2].loads, 2);
    char buf[512];
    lm_selection_reasons(&s, buf, sizeof buf);
    assert_non_null(strstr(buf, "fgood: failed — device lost"));
    assert_non_null(strstr(buf, "fbroken: failed — fake load error in fbroken"));
    ops->unload(eng);
    /* A second failure has nowhere left to go. */
    assert_int_not_equal(lm_select_failover(&s, "fgood", "device lost again", &g_desc, &o, NULL,
                                            NULL, &ops, &eng, &err),
                         LM_OK);
    assert_non_null(strstr(err.msg, "no backend can run this model"));
}

static void registry_checks_tables(void **state) {
    (void)state;
    lm_backend_ops bad = *fake_ops(3);
    bad.name = "fversion";
    bad.abi_version = LM_BACKEND_ABI_VERSION + 1;
    lm_err err = {0};
    assert_int_equal(lm_registry_register(&bad, -1, &err), LM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "engine interface version"));
    bad.abi_version = LM_BACKEND_ABI_VERSION;
    bad.forward = NULL;
    assert_int_equal(lm_registry_register(&bad, -1, &err), LM_ERR_INVALID_ARG);
    assert_int_equal(lm_registry_register(fake_ops(2), -1, &err), LM_ERR_INVALID_ARG); /* dup */
    assert_ptr_equal(lm_registry_find("fgood"), fake_ops(2));
    assert_null(lm_registry_find("fversion"));
    /* Order: the fakes were inserted at 0, 1, 2 ahead of compiled-in engines. */
    assert_string_equal(lm_registry_get(0)->name, "fdecl");
    assert_string_equal(lm_registry_get(2)->name, "fgood");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(falls_through_and_records, setup, teardown),
        cmocka_unit_test_setup_teardown(explicit_choice_is_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(catalog_hints_order_and_veto, setup, teardown),
        cmocka_unit_test_setup_teardown(failover_goes_to_next_then_retries_last, setup, teardown),
        cmocka_unit_test_setup_teardown(registry_checks_tables, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
