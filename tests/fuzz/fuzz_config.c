/*
 * fuzz_config — config_parse on arbitrary bytes.
 *
 * Never a crash or a leak, whatever the text. A failure is CPS_ERR with a
 * message that starts with the origin; a success leaves a configuration that
 * keeps every promise of config.h (valid schema names, known action, numbers
 * in range, a dsn libpq can parse). And the password is never printed: the input's "postgresql"
 * object gets a marker password, and no error message may contain it.
 */
#include "fuzz.h"

#include "config.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <string.h>

#define ORIGIN "fuzz"
/* A password no message template and no fuzzed key is likely to contain. */
#define MARKER "pw-7f3a9c-do-not-print"

static const char *const actions[] = {
    "run", "init", "stitch", "attributes", "cache", "status", "load_stitching_attributes_config",
    NULL};

static bool known_action(const char *a)
{
    for (int i = 0; actions[i]; i++)
        if (!strcmp(a, actions[i]))
            return true;
    return false;
}

static bool valid_port(const char *p)
{
    if (!p)
        return true;
    long v = 0;
    if (!*p || strlen(p) > 5)
        return false;
    for (const char *c = p; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (*c - '0');
    }
    return v >= 1 && v <= 65535 && p[0] != '0';
}

static bool valid_hours(double h)
{
    return isfinite(h) && h >= 0 && h <= 876600; /* 100 years */
}

/* libpq reads a connection string (an "=" or a URI prefix) in a dbname;
 * anything else is a database name. */
static bool dsn_parses(const char *dsn)
{
    if (!dsn || !(strchr(dsn, '=') || !strncmp(dsn, "postgresql://", 13) ||
                  !strncmp(dsn, "postgres://", 11)))
        return true;
    char *reason = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &reason);
    PQconninfoFree(opts);
    PQfreemem(reason);
    return opts != NULL;
}

static void check_config(const cps_config *cfg)
{
    fuzz_check(config_valid_schema_name(cfg->cdp_schema), "cdp_schema is valid");
    fuzz_check(config_valid_schema_name(cfg->ce_schema), "ce_schema is valid");
    fuzz_check(config_valid_schema_name(cfg->ps_schema), "ps_schema is valid");
    fuzz_check(config_valid_schema_name(cfg->attr_schema), "attr_schema is valid");
    fuzz_check(strcmp(cfg->cdp_schema, cfg->attr_schema) != 0, "cdp_schema != attr_schema");
    fuzz_check(!cfg->production || strcmp(cfg->cdp_schema, cfg->ce_schema) != 0,
               "production: cdp_schema != ce_schema");
    fuzz_check(cfg->action && known_action(cfg->action), "action is known");
    fuzz_check(valid_port(cfg->port), "port is a number from 1 to 65535");
    fuzz_check(dsn_parses(cfg->dsn), "dsn is a valid connection string");
    fuzz_check(valid_hours(cfg->recalculate_after_hours), "recalculate_after_hours in range");
    fuzz_check(valid_hours(cfg->context_max_age_hours), "context_max_age_hours in range");
    fuzz_check(valid_hours(cfg->cache_max_age_hours), "cache_max_age_hours in range");
    fuzz_check(cfg->cache_top_values >= 0 && cfg->cache_top_values <= 100000000,
               "cache_top_values in range");
    fuzz_check(cfg->batch_size >= 0 && cfg->batch_size <= 100000000, "batch_size in range");
    fuzz_check(cfg->workers >= 1 && cfg->workers <= 64, "workers in range");
    fuzz_check(cfg->origin && !strcmp(cfg->origin, ORIGIN), "origin kept");
}

static void check_error(int rc, const cps_error *err)
{
    fuzz_check(rc == CPS_ERR, "failure is CPS_ERR");
    fuzz_check(memchr(err->msg, '\0', sizeof err->msg) != NULL, "message is NUL-terminated");
    fuzz_check(!strncmp(err->msg, ORIGIN ": ", strlen(ORIGIN ": ")), "message names the origin");
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* If the input is a JSON object, give it "postgresql": {..., "password": MARKER}
 * and parse that: whatever fails, the message must not show the password. */
static void check_password_secret(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return;
    json_t *pg = json_object_get(root, "postgresql");
    if (json_is_object(pg) || (json_is_object(root) && !pg)) {
        if (!pg) {
            pg = json_object();
            json_object_set_new(root, "postgresql", pg);
        }
        json_object_set_new(pg, "password", json_string(MARKER));
        char *text = json_dumps(root, JSON_COMPACT);
        /* Skip the rare input that spells the marker itself somewhere. */
        if (text && count(text, MARKER) == 1) {
            cps_config cfg;
            cps_error err;
            config_defaults(&cfg);
            int rc = config_parse(&cfg, text, strlen(text), ORIGIN, &err);
            if (rc == 0) {
                check_config(&cfg);
                fuzz_check(cfg.password && !strcmp(cfg.password, MARKER), "password kept");
            } else {
                check_error(rc, &err);
                fuzz_check(!strstr(err.msg, MARKER), "the password is not in the message");
            }
            config_free(&cfg);
        }
        free(text);
    }
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cps_config cfg;
    cps_error err;
    config_defaults(&cfg);
    int rc = config_parse(&cfg, (const char *)data, size, ORIGIN, &err);
    if (rc == 0)
        check_config(&cfg);
    else
        check_error(rc, &err);
    config_free(&cfg);
    check_password_secret(data, size);
    return 0;
}
