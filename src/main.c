/*
 * main — the command line of SPEC §1.2 and nothing else: global options, a
 * table of subcommands, and each subcommand's exit status.
 */
#include "attr.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "loader.h"
#include "log.h"
#include "prod.h"
#include "run.h"
#include "schema.h"
#include "status.h"
#include "stitch.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CPS_VERSION
#define CPS_VERSION "0.0.0"
#endif

static const char usage_text[] =
    "Usage: cps [-c FILE | --config FILE] [--dsn DSN] [-v|-q] [COMMAND] [ARGS]\n"
    "\n"
    "CPS stitches customer events into customer entities and calculates their\n"
    "attributes in the PostgreSQL database of a Customer Data Platform.\n"
    "\n"
    "Commands:\n"
    "  run                         whole pipeline (default)\n"
    "  init                        create or upgrade CPS's own tables; never drops data\n"
    "  stitch                      profile stitching only\n"
    "  attributes                  context + attribute calculation only\n"
    "  cache                       cache refresh only\n"
    "  load-stitching-config FILE  load stitching_attributes_config from a CSV file\n"
    "  status                      queue length, entity counts, last runs\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   JSON configuration (default: $CPS_CONFIG, else defaults\n"
    "                      and the PG* environment of libpq)\n"
    "      --dsn DSN       libpq connection string or URI; replaces the connection\n"
    "                      keys of the config (\"dsn\", \"postgresql\")\n"
    "  -v, --verbose       more detail in the log\n"
    "  -q, --quiet         errors and warnings only\n"
    "  -h, --help          this help\n"
    "  -V, --version       print the version\n"
    "\n"
    "Exit status: 0 success; 1 the run failed (see the log); 2 bad usage or\n"
    "configuration; 3 another CPS holds the lock; 130/143 interrupted.\n";

typedef int (*command_fn)(int argc, char **argv, cps_config *cfg);

static int usage_error(const char *fmt, const char *arg)
{
    fputs("cps: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'cps --help'.\n", stderr);
    return EXIT_USAGE;
}

/*
 * An argument after the command that looks like an option: getopt stops at
 * the command (what follows is the command's), so say where options go
 * instead of "too many arguments". argv[0] is the command; operands is how
 * the usage names its own arguments (" FILE"), "" for none. Returns
 * EXIT_USAGE, or 0 if no argument looks like an option. The example never
 * repeats an option's value: a DSN may hold a password.
 */
static int misplaced_option(int argc, char **argv, const char *command, const char *operands)
{
    static const struct {
        char short_name; /* 0: none */
        const char *long_name;
        const char *value; /* how the usage names its value, "" for none */
    } known[] = {{'c', "config", " FILE"}, {0, "dsn", " DSN"}, {'v', "verbose", ""},
                 {'q', "quiet", ""},       {'h', "help", ""},  {'V', "version", ""}};
    strbuf moved = STRBUF_INIT; /* the known options, as they would go before the command */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1] || !strcmp(a, "--"))
            continue;
        /* the option's name without its value (-cFILE, --dsn=DSN) */
        int n = a[1] == '-' ? 2 + (int)strcspn(a + 2, "=") : 2;
        size_t k = 0;
        for (; k < sizeof known / sizeof known[0]; k++)
            if (a[1] == '-' ? (size_t)n - 2 == strlen(known[k].long_name) &&
                                  !strncmp(a + 2, known[k].long_name, (size_t)n - 2)
                            : a[1] == known[k].short_name)
                break;
        if (k == sizeof known / sizeof known[0]) {
            fprintf(stderr,
                    "cps: '%.*s' after the command '%s': options go before the command, and cps "
                    "has no option %.*s\nTry 'cps --help'.\n",
                    n, a, command, n, a);
            sb_free(&moved);
            return EXIT_USAGE;
        }
        sb_appendf(&moved, "%.*s%s ", n, a, known[k].value);
    }
    if (!moved.len)
        return 0;
    fprintf(stderr, "cps: options go before the command: cps %s%s%s\nTry 'cps --help'.\n",
            sb_str(&moved), command, operands);
    sb_free(&moved);
    return EXIT_USAGE;
}

static int no_args(int argc, char **argv, const char *command)
{
    if (misplaced_option(argc, argv, command, ""))
        return EXIT_USAGE;
    if (argc > 1)
        return usage_error("too many arguments for '%s'", command);
    return 0;
}

static int pipeline(cps_config *cfg, const char *command, const run_step *steps, int n)
{
    db_signals_install();
    return run_pipeline(cfg, command, steps, n);
}

static int cmd_run(int argc, char **argv, cps_config *cfg)
{
    if (no_args(argc, argv, "run"))
        return EXIT_USAGE;
    const run_step steps[] = {
        {"stitch", stitch_step},
        {"attributes", attr_step},
        {"cache", cache_step},
        {"production", prod_step},
    };
    return pipeline(cfg, "run", steps, cfg->production ? 4 : 3);
}

static int cmd_stitch(int argc, char **argv, cps_config *cfg)
{
    if (no_args(argc, argv, "stitch"))
        return EXIT_USAGE;
    const run_step steps[] = {{"stitch", stitch_step}};
    return pipeline(cfg, "stitch", steps, 1);
}

static int cmd_attributes(int argc, char **argv, cps_config *cfg)
{
    if (no_args(argc, argv, "attributes"))
        return EXIT_USAGE;
    const run_step steps[] = {{"attributes", attr_step}};
    return pipeline(cfg, "attributes", steps, 1);
}

static int cmd_cache(int argc, char **argv, cps_config *cfg)
{
    if (no_args(argc, argv, "cache"))
        return EXIT_USAGE;
    const run_step steps[] = {{"cache", cache_step}};
    return pipeline(cfg, "cache", steps, 1);
}

/* The loader (SPEC §7): the argument, else the config's "input", names the CSV.
 * A missing or unreadable file is bad usage (2); problems in it fail the run (1). */
static int cmd_load(int argc, char **argv, cps_config *cfg)
{
    if (misplaced_option(argc, argv, "load-stitching-config", " FILE"))
        return EXIT_USAGE;
    if (argc > 2)
        return usage_error("too many arguments for '%s'", "load-stitching-config");
    if (argc == 2) {
        free(cfg->input);
        cfg->input = xstrdup(argv[1]);
    }
    if (!cfg->input || !*cfg->input)
        return usage_error("%s needs a CSV file: give it as an argument "
                           "(cps load-stitching-config FILE) or as \"input\" in the configuration",
                           "load-stitching-config");
    cps_error err;
    if (loader_check_input(cfg->input, &err) < 0) {
        fprintf(stderr, "cps: %s\n", err.msg);
        return EXIT_USAGE;
    }
    const run_step steps[] = {{"load", loader_step}};
    return pipeline(cfg, "load-stitching-config", steps, 1);
}

static int cmd_init(int argc, char **argv, cps_config *cfg)
{
    if (no_args(argc, argv, "init"))
        return EXIT_USAGE;
    db_signals_install();
    cps_error err;
    db *d = NULL;
    int rc = db_connect(&d, cfg, &err);
    if (rc == 0)
        rc = db_lock(d, &err);
    int created = 0;
    if (rc == 0)
        rc = schema_ensure(d, &created, &err);
    if (rc < 0)
        log_error("INIT", "%s", err.msg);
    else
        log_info("INIT", "%s", created ? "schema ready" : "schema already complete; nothing to do");
    db_close(d);
    return run_exit_status(rc);
}

static int cmd_status(int argc, char **argv, cps_config *cfg)
{
    if (no_args(argc, argv, "status"))
        return EXIT_USAGE;
    cps_error err;
    if (status_print(cfg, stdout, &err) < 0) {
        log_error("STATUS", "%s", err.msg);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

static const struct {
    const char *name;
    const char *action; /* the config's "action" value that selects it */
    command_fn fn;
} commands[] = {
    {"run", "run", cmd_run},
    {"init", "init", cmd_init},
    {"stitch", "stitch", cmd_stitch},
    {"attributes", "attributes", cmd_attributes},
    {"cache", "cache", cmd_cache},
    {"load-stitching-config", "load_stitching_attributes_config", cmd_load},
    {"status", "status", cmd_status},
};

int main(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"dsn", required_argument, NULL, 'D'},
                                            {"verbose", no_argument, NULL, 'v'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    const char *dsn = NULL;
    int verbosity = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+c:vqhV", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'D':
            dsn = optarg;
            break;
        case 'v':
            verbosity = 1;
            break;
        case 'q':
            verbosity = -1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'V':
            printf("cps %s\n", CPS_VERSION);
            return EXIT_OK;
        default:
            fputs("Try 'cps --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    log_set_level(verbosity > 0 ? LOG_DEBUG : verbosity < 0 ? LOG_WARN : LOG_INFO);

    cps_config cfg;
    config_defaults(&cfg);
    cps_error err;
    if (config_load(&cfg, config_path, &err) < 0) {
        fprintf(stderr, "cps: %s\n", err.msg);
        config_free(&cfg);
        return EXIT_USAGE;
    }
    if (dsn && config_use_dsn(&cfg, dsn, &err) < 0) {
        fprintf(stderr, "cps: %s\n", err.msg);
        config_free(&cfg);
        return EXIT_USAGE;
    }

    /* The command line names the command; without one, the config's "action". */
    int rest = argc - optind;
    char **args = argv + optind;
    const char *name = rest > 0 ? args[0] : NULL;
    int status = -1;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        int match =
            name ? !strcmp(name, commands[i].name) : !strcmp(cfg.action, commands[i].action);
        if (!match)
            continue;
        char *fallback[] = {(char *)commands[i].name, NULL};
        status = rest > 0 ? commands[i].fn(rest, args, &cfg) : commands[i].fn(1, fallback, &cfg);
        break;
    }
    if (status < 0)
        status = usage_error("unknown command '%s'", name ? name : cfg.action);
    config_free(&cfg);
    return status;
}
