/* Unit tests for config: defaults, every key, and every kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(cps_config *cfg, const char *json, cps_error *err)
{
    config_defaults(cfg);
    return config_parse(cfg, json, strlen(json), "test", err);
}

static void defaults(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    assert_int_equal(parse(&cfg, "{}", &err), 0);
    assert_string_equal(cfg.cdp_schema, "public");
    assert_string_equal(cfg.ce_schema, "cdp_ce");
    assert_string_equal(cfg.ps_schema, "cdp_ps");
    assert_string_equal(cfg.attr_schema, "cdp_attr");
    assert_false(cfg.production);
    assert_string_equal(cfg.action, "run");
    assert_true(cfg.recalculate_after_hours == 48);
    assert_true(cfg.context_max_age_hours == 24);
    assert_true(cfg.cache_max_age_hours == 24);
    assert_int_equal(cfg.cache_top_values, 1000);
    assert_int_equal(cfg.workers, 1);
    assert_int_equal(cfg.batch_size, 0);
    assert_null(cfg.host);
    assert_null(cfg.password);
    config_free(&cfg);
}

static void full(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    const char *json = "{\"postgresql\": {\"host\": \"db.example\", \"port\": 6543, \"user\": "
                       "\"cps\", \"password\": \"s3cret\", \"dbname\": \"cdp\"},"
                       " \"cdp_schema\": \"cdp\", \"ce_schema\": \"ce\", \"ps_schema\": \"ps\","
                       " \"attr_schema\": \"attr\", \"production\": true,"
                       " \"action\": \"load_stitching_attributes_config\", \"input\": \"x.csv\","
                       " \"recalculate_after_hours\": 1.5, \"context_max_age_hours\": 0,"
                       " \"cache_max_age_hours\": 2, \"cache_top_values\": 10,"
                       " \"batch_size\": 5000, \"workers\": 4}";
    assert_int_equal(parse(&cfg, json, &err), 0);
    assert_string_equal(cfg.host, "db.example");
    assert_string_equal(cfg.port, "6543");
    assert_string_equal(cfg.user, "cps");
    assert_string_equal(cfg.password, "s3cret");
    assert_string_equal(cfg.dbname, "cdp");
    assert_string_equal(cfg.cdp_schema, "cdp");
    assert_true(cfg.production);
    assert_string_equal(cfg.action, "load_stitching_attributes_config");
    assert_string_equal(cfg.input, "x.csv");
    assert_true(cfg.recalculate_after_hours == 1.5);
    assert_int_equal(cfg.batch_size, 5000);
    assert_int_equal(cfg.workers, 4);
    config_free(&cfg);
}

/* The longest ages: 100 years in hours. */
static void longest_ages(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    assert_int_equal(parse(&cfg,
                           "{\"recalculate_after_hours\": 876600, \"context_max_age_hours\": "
                           "876600.0, \"cache_max_age_hours\": 876600}",
                           &err),
                     0);
    assert_true(cfg.recalculate_after_hours == 876600);
    assert_true(cfg.context_max_age_hours == 876600);
    config_free(&cfg);
}

static void dsn_and_string_port(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    assert_int_equal(parse(&cfg, "{\"dsn\": \"postgresql://u@h/db\"}", &err), 0);
    assert_string_equal(cfg.dsn, "postgresql://u@h/db");
    config_free(&cfg);
    assert_int_equal(
        parse(&cfg, "{\"postgresql\": {\"dsn\": \"host=h\", \"port\": \"5433\"}}", &err), 0);
    assert_string_equal(cfg.dsn, "host=h");
    assert_string_equal(cfg.port, "5433");
    config_free(&cfg);
}

/* --dsn replaces every connection key of the file, its "dsn" too. */
static void command_line_dsn_replaces_the_files(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    assert_int_equal(parse(&cfg,
                           "{\"dsn\": \"dbname=d0\", \"postgresql\": {\"host\": \"h\", \"port\": "
                           "5433, \"user\": \"u\", \"password\": \"p\", \"dbname\": \"d1\"}}",
                           &err),
                     0);
    assert_string_equal(cfg.dsn_key, "dsn");
    assert_int_equal(config_use_dsn(&cfg, "dbname=d2", &err), 0);
    assert_string_equal(cfg.dsn, "dbname=d2");
    assert_string_equal(cfg.dsn_key, "--dsn");
    assert_null(cfg.host);
    assert_null(cfg.port);
    assert_null(cfg.user);
    assert_null(cfg.password);
    assert_null(cfg.dbname);
    config_free(&cfg);
}

/* A DSN libpq cannot parse is rejected up front, naming where it came from
 * and libpq's reason, but never quoting a password. */
static void malformed_dsn(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    assert_int_not_equal(parse(&cfg, "{\"dsn\": \"nonsense = =\"}", &err), 0);
    assert_non_null(strstr(err.msg, "key \"dsn\""));
    assert_non_null(strstr(err.msg, "invalid connection option \"nonsense\""));
    config_free(&cfg);
    assert_int_not_equal(parse(&cfg, "{\"postgresql\": {\"dsn\": \"host='x\"}}", &err), 0);
    assert_non_null(strstr(err.msg, "key \"postgresql.dsn\""));
    assert_non_null(strstr(err.msg, "unterminated quoted string"));
    config_free(&cfg);

    config_defaults(&cfg);
    assert_int_not_equal(config_use_dsn(&cfg, "hostx=foo", &err), 0);
    assert_non_null(strstr(err.msg, "--dsn"));
    assert_non_null(strstr(err.msg, "invalid connection option \"hostx\""));
    static const char *const secret[] = {
        "postgresql://u:hunter2@[::1/db",
        "postgresql://u:hunter?2@[::1/db", /* a "?" in the password (found by review) */
        "postgresql://u:hunter2%zz@h/db",
        "host=h password=hunter2 hunter3",
        "postgresql://h/db?password=hunter2&x",
    };
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++) {
        assert_int_not_equal(config_use_dsn(&cfg, secret[i], &err), 0);
        if (strstr(err.msg, "hunter") || !strstr(err.msg, "--dsn"))
            fail_msg("%s: %s", secret[i], err.msg);
    }
    config_free(&cfg);

    /* URIs, keyword=value strings and a bare database name (as libpq takes it) */
    static const char *const good[] = {"postgresql://u:p@h:5433/db?sslmode=disable",
                                       "postgres:///db", "host=h port=5 dbname='a b'", "mydb", ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        config_defaults(&cfg);
        if (config_use_dsn(&cfg, good[i], &err) < 0)
            fail_msg("%s: %s", good[i], err.msg);
        config_free(&cfg);
    }
}

/* Each bad input fails and the message names the key (or the position). */
static void rejects(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *expect;
    } cases[] = {
        {"{\"cdp_schema\": \"public\",}", "line 1, column 25"},
        {"{\n  \"workers\": 2\n  \"x\": 1}", "line 3"},
        {"[1, 2]", "must be a JSON object"},
        {"{\"colour\": 1}", "unknown key \"colour\""},
        {"{\"postgresql\": {\"hots\": \"x\"}}", "unknown key \"postgresql.hots\""},
        {"{\"postgresql\": \"host=x\"}", "\"postgresql\" must be an object"},
        {"{\"postgresql\": {\"port\": \"abc\"}}", "\"postgresql.port\""},
        {"{\"postgresql\": {\"port\": 70000}}", "\"postgresql.port\""},
        {"{\"postgresql\": {\"port\": 5432.0}}",
         "\"postgresql.port\" must be an integer from 1 to 65535 (or a string holding one), not "
         "5432.0: write 5432"},
        {"{\"postgresql\": {\"port\": 1e9}}", "\"postgresql.port\" must be an integer from 1 to "
                                              "65535 (or a string holding one), not 1e+09"},
        {"{\"postgresql\": {\"port\": true}}", "\"postgresql.port\" must be an integer from 1 to "
                                               "65535 (or a string holding one), not a boolean"},
        {"{\"postgresql\": {\"user\": 5}}", "\"postgresql.user\" must be a string"},
        {"{\"ps_schema\": \"cdp_ps; DROP TABLE x\"}",
         "\"ps_schema\" is not a plain SQL identifier"},
        {"{\"ps_schema\": \"Cdp\"}", "\"ps_schema\" is not a plain SQL identifier"},
        {"{\"ps_schema\": \"\"}", "\"ps_schema\""},
        {"{\"ps_schema\": \"1abc\"}", "\"ps_schema\""},
        {"{\"ps_schema\": \"pg_ps\"}", "\"ps_schema\" is \"pg_ps\": PostgreSQL reserves"},
        {"{\"attr_schema\": \"a\\\"b\"}", "\"attr_schema\""},
        {"{\"ce_schema\": 7}", "\"ce_schema\" must be a string"},
        {"{\"production\": \"yes\"}", "\"production\" must be true or false"},
        {"{\"action\": \"explode\"}", "key \"action\" is \"explode\""},
        {"{\"workers\": 0}", "\"workers\" must be an integer from 1 to 64"},
        {"{\"workers\": 1.5}", "\"workers\""},
        {"{\"batch_size\": -1}", "\"batch_size\""},
        {"{\"recalculate_after_hours\": -2}", "\"recalculate_after_hours\""},
        {"{\"cache_max_age_hours\": \"1\"}", "\"cache_max_age_hours\""},
        {"{\"recalculate_after_hours\": 100000000}",
         "\"recalculate_after_hours\" must be a number of hours from 0 to 876600 (100 years)"},
        {"{\"context_max_age_hours\": 1e300}", "\"context_max_age_hours\""},
        {"{\"cache_max_age_hours\": 876600.5}", "\"cache_max_age_hours\""},
        {"{\"cache_top_values\": true}", "\"cache_top_values\""},
        {"{\"workers\": 1, \"workers\": 2}", "duplicate"},
        {"{\"cdp_schema\": \"x\", \"attr_schema\": \"x\"}", "\"attr_schema\" are both"},
        {"{\"production\": true, \"cdp_schema\": \"x\", \"ce_schema\": \"x\"}", "must differ"},
        {"", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cps_config cfg;
        cps_error err;
        int rc = parse(&cfg, cases[i].json, &err);
        if (rc == 0 || !strstr(err.msg, cases[i].expect))
            fail_msg("case %zu (%s): rc %d, message \"%s\", expected \"%s\"", i, cases[i].json, rc,
                     rc ? err.msg : "", cases[i].expect);
        config_free(&cfg);
    }
}

static void password_never_in_messages(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    assert_int_not_equal(
        parse(&cfg, "{\"postgresql\": {\"password\": \"hunter2\", \"port\": \"bad\"}}", &err), 0);
    assert_null(strstr(err.msg, "hunter2"));
    config_free(&cfg);
}

static void null_means_unset(void **state)
{
    (void)state;
    cps_config cfg;
    cps_error err;
    assert_int_equal(parse(&cfg, "{\"postgresql\": {\"password\": null}, \"workers\": null}", &err),
                     0);
    assert_null(cfg.password);
    assert_int_equal(cfg.workers, 1);
    config_free(&cfg);
}

static void load_file_and_env(void **state)
{
    (void)state;
    char path[] = "/tmp/cps-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = "{\"ps_schema\": \"from_file\"}";
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);

    cps_config cfg;
    cps_error err;
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.ps_schema, "from_file");
    config_free(&cfg);

    setenv("CPS_CONFIG", path, 1);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, NULL, &err), 0);
    assert_string_equal(cfg.ps_schema, "from_file");
    config_free(&cfg);
    unsetenv("CPS_CONFIG");
    unlink(path);

    config_defaults(&cfg);
    assert_int_not_equal(config_load(&cfg, "/nonexistent/cps.json", &err), 0);
    assert_non_null(strstr(err.msg, "/nonexistent/cps.json"));
    config_free(&cfg);

    config_defaults(&cfg);
    assert_int_not_equal(config_load(&cfg, "/tmp", &err), 0);
    assert_non_null(strstr(err.msg, "config file /tmp is a directory"));
    config_free(&cfg);
}

static void schema_names(void **state)
{
    (void)state;
    assert_true(config_valid_schema_name("cdp_ps"));
    assert_true(config_valid_schema_name("_x1$"));
    assert_false(config_valid_schema_name("x-y"));
    assert_false(config_valid_schema_name("a b"));
    assert_false(config_valid_schema_name("pg_cps"));
    assert_true(config_valid_schema_name("pgcps"));
    assert_false(config_valid_schema_name("ÿ"));
    char long_name[70];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_false(config_valid_schema_name(long_name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(full),
        cmocka_unit_test(longest_ages),
        cmocka_unit_test(dsn_and_string_port),
        cmocka_unit_test(command_line_dsn_replaces_the_files),
        cmocka_unit_test(malformed_dsn),
        cmocka_unit_test(rejects),
        cmocka_unit_test(password_never_in_messages),
        cmocka_unit_test(null_means_unset),
        cmocka_unit_test(load_file_and_env),
        cmocka_unit_test(schema_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
