/* run — the pipeline of steps and its record in {ps}.runs (see run.h). */
#include "run.h"

#include "log.h"
#include "schema.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

json_t *run_step_stats(run_ctx *ctx, const char *step)
{
    json_t *steps = json_object_get(ctx->stats, "steps");
    if (!steps) {
        steps = json_object();
        json_object_set_new(ctx->stats, "steps", steps);
    }
    json_t *s = json_object_get(steps, step);
    if (!s) {
        s = json_object();
        json_object_set_new(steps, step, s);
    }
    return s;
}

void run_problem(run_ctx *ctx, const char *step, const char *fmt, ...)
{
    strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    sb_vappendf(&sb, fmt, ap);
    va_end(ap);
    log_error(step, "%s", sb_str(&sb));
    json_t *problems = json_object_get(ctx->stats, "problems");
    if (!problems) {
        problems = json_array();
        json_object_set_new(ctx->stats, "problems", problems);
    }
    /* keep the record readable when a definition fails on many entities */
    if (json_array_size(problems) < 100)
        json_array_append_new(problems, json_sprintf("%s: %s", step, sb_str(&sb)));
    ctx->problems++;
    sb_free(&sb);
}

int run_exit_status(int rc)
{
    if (rc == CPS_EINTR || db_interrupted())
        return 128 + (db_interrupted() ? db_interrupted() : 2);
    if (rc == CPS_ELOCKED)
        return EXIT_LOCKED;
    return rc < 0 ? EXIT_FAILED : EXIT_OK;
}

static const char *step_prefix(const char *name, char *buf, size_t n)
{
    if (!strcmp(name, "attributes"))
        return "ATTR";
    if (!strcmp(name, "production"))
        return "PROD";
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++)
        buf[i] = (char)toupper((unsigned char)name[i]);
    buf[i] = '\0';
    return buf;
}

static int record_start(run_ctx *ctx, const char *command, cps_error *err)
{
    /* Holding the ps schema's lock, we know that any other run still marked
     * running in its runs table has died. Without it, such a run may be alive:
     * then leave it alone (db_lock takes the lock first; this is the proof). */
    if (!db_holds_lock(ctx->d, ctx->cfg->ps_schema))
        return cps_error_set(err,
                             "this CPS does not hold the lock on schema %s, so it cannot tell "
                             "whether the runs marked running in %s.runs are still alive; "
                             "nothing was changed (a bug in CPS: please report it)",
                             ctx->cfg->ps_schema, ctx->cfg->ps_schema);
    if (db_exec(ctx->d, err,
                "UPDATE {ps}.runs SET status = 'aborted', finished_at = coalesce(finished_at, "
                "now()) WHERE status = 'running'",
                0, NULL) < 0)
        return CPS_ERR;
    const char *params[] = {command};
    char *id = NULL;
    int rc = db_query_value(ctx->d, err, &id, NULL,
                            "INSERT INTO {ps}.runs (started_at, status, stats) "
                            "VALUES (now(), 'running', jsonb_build_object('command', $1::text)) "
                            "RETURNING id",
                            1, params);
    ctx->run_id = id ? strtoll(id, NULL, 10) : 0;
    free(id);
    return rc;
}

static void record_finish(run_ctx *ctx, const char *status)
{
    if (!ctx->run_id)
        return;
    cps_error err;
    db_rollback(ctx->d);
    char *stats = json_dumps(ctx->stats, JSON_COMPACT);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)ctx->run_id);
    const char *params[] = {status, stats, id};
    if (db_exec(ctx->d, &err,
                "UPDATE {ps}.runs SET finished_at = now(), status = $1, stats = $2::jsonb "
                "WHERE id = $3::bigint",
                3, params) < 0)
        log_warn("CPS", "could not record the end of run %s in runs: %s", id, err.msg);
    free(stats);
}

int run_pipeline(const cps_config *cfg, const char *command, const run_step *steps, int nsteps)
{
    cps_error err;
    cps_error_clear(&err);
    db *d = NULL;
    double started = now_seconds();
    if (db_connect(&d, cfg, &err) < 0) {
        log_error("CPS", "%s", err.msg);
        return run_exit_status(db_interrupted() ? CPS_EINTR : CPS_ERR);
    }
    run_ctx ctx = {.d = d, .cfg = cfg, .stats = json_object()};
    json_object_set_new(ctx.stats, "command", json_string(command));
    int rc = db_lock(d, &err);
    if (rc == 0)
        rc = schema_ensure(d, NULL, &err);
    if (rc == 0)
        rc = record_start(&ctx, command, &err);
    if (rc < 0) {
        log_error("CPS", "%s", err.msg);
        json_decref(ctx.stats);
        db_close(d);
        return run_exit_status(rc);
    }
    log_info("CPS", "run %lld started (%s)", (long long)ctx.run_id, command);

    for (int i = 0; i < nsteps && rc >= 0; i++) {
        char buf[32];
        const char *prefix = step_prefix(steps[i].name, buf, sizeof buf);
        if (!steps[i].fn) {
            log_warn(prefix, "%s is not implemented yet; skipped", steps[i].name);
            continue;
        }
        if (db_interrupted()) {
            rc = CPS_EINTR;
            break;
        }
        double t0 = now_seconds();
        cps_error_clear(&err);
        rc = steps[i].fn(&ctx, &err);
        json_t *st = run_step_stats(&ctx, steps[i].name);
        json_object_set_new(st, "seconds", json_real(now_seconds() - t0));
        json_object_set_new(st, "peak_rss_bytes", json_integer((json_int_t)peak_rss_bytes()));
        if (rc == CPS_EINTR || db_interrupted())
            rc = CPS_EINTR;
        else if (rc < 0) {
            log_error(prefix, "%s", err.msg);
            json_object_set_new(ctx.stats, "error", json_sprintf("%s: %s", steps[i].name, err.msg));
        }
    }

    const char *status = rc == CPS_EINTR ? "interrupted"
                         : rc < 0        ? "failed"
                         : ctx.problems  ? "errors"
                                         : "ok";
    json_object_set_new(ctx.stats, "seconds", json_real(now_seconds() - started));
    record_finish(&ctx, status);
    int exit_status = run_exit_status(rc);
    if (exit_status == EXIT_OK && ctx.problems)
        exit_status = EXIT_FAILED;
    if (rc == CPS_EINTR)
        log_warn("CPS", "run %lld interrupted; the next run continues where it stopped",
                 (long long)ctx.run_id);
    else
        log_info("CPS", "run %lld finished: %s in %.1f s%s", (long long)ctx.run_id, status,
                 now_seconds() - started,
                 ctx.problems ? " (see the errors above; exit status 1)" : "");
    json_decref(ctx.stats);
    db_close(d);
    return exit_status;
}
