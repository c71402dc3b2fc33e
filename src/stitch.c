/*
 * stitch — the profile stitching step (see stitch.h and SPEC §3).
 *
 * Two paths share the same core:
 *   - from scratch (the queue was missing, {ps}.state says "restitch"): one
 *     read of every event, one in-memory resolution, one write transaction
 *     that replaces the stitching state. If an expression fails on some
 *     events, a PL/pgSQL scan finds them (one statement per reading session,
 *     each over its half of the table's blocks) and every other event is
 *     read again, in the same snapshot, the failing ones set aside; should
 *     that read fail too (a volatile expression), every event is queued and
 *     stitched in batches.
 *   - incremental: queued events in (event_time, id) order, batch by batch.
 *     A batch is read in one REPEATABLE READ transaction (the expressions are
 *     evaluated into a temporary table; where they fail, a PL/pgSQL trap
 *     finds the failing events in one statement), resolved in memory, and
 *     written in one transaction:
 *     merges, matching, identifiers, entities, customer_entities, failed
 *     events and the dequeue, all or nothing.
 * A queue row is consumed only if it has not changed since it was read (its
 * xmin), so an event updated while CPS works is stitched again next time.
 */
#include "stitch.h"

#include "copyfmt.h"
#include "fullgraph.h"
#include "idtab.h"
#include "log.h"
#include "pgtime.h"
#include "schema.h"
#include "stitchcore.h"
#include "stitchexpr.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH_EVENTS 100000

/* The stitching configuration, grouped by event definition. */
typedef struct cfg_row {
    char *attribute_id;
    char *event_id;
    char *expr;
    int group;   /* index into groups */
    int attr;    /* index into attrs: the identifier's tag */
    bool broken; /* does not compile: its group's events stay queued */
    bool srf;    /* set-returning: it may yield several values */
    int slot;    /* scalar rows: its column in the full pass's select list */
} cfg_row;

typedef struct stitcher {
    run_ctx *ctx;
    db *d;
    cfg_row *rows;
    size_t nrows;
    char **groups; /* distinct event_id values */
    bool *group_broken;
    size_t ngroups;
    char **attrs; /* distinct attribute_id values */
    size_t nattrs;
    char *branches;     /* the LATERAL body evaluating every expression */
    char *extract;      /* the statement evaluating a batch's expressions (extract_sql) */
    char *trap_problem; /* why the session has no trap function (create_trap), or NULL */
    /* the full pass's SELECT: scalar expressions as columns, the rest
     * LATERAL; the WHERE clause on the events (`e`) goes between the two
     * parts (a range of blocks; in the scan, one event) */
    char *full_sql_head, *full_sql_tail;
    int nslots;     /* columns of scalar expressions in the full pass */
    int **slot_row; /* [group][slot] -> config row, or -1 */
    long batch_size;
    bool index_lookups; /* batches are small next to the history: no hash joins */
    /* totals for the run's stats */
    int64_t events, identifiers_new, merges, entities_new, failed, too_long, batches;
    int64_t aside_named; /* events set aside named in the log (ASIDE_WARNINGS) */
    double read_s, resolve_s, write_s;
    progress *prog;
} stitcher;

static const char *const STEP = "STITCH";

/* The events set aside that a run names one by one at the default log level. */
#define ASIDE_WARNINGS 10

/* ---- configuration ---------------------------------------------------- */

static int index_of(char ***list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i], s))
            return (int)i;
    *list = xrealloc(*list, (*n + 1) * sizeof **list);
    (*list)[*n] = xstrdup(s);
    return (int)(*n)++;
}

/* Is the expression set-returning? PostgreSQL refuses those inside CASE. */
static int is_set_returning(stitcher *s, const cfg_row *r, bool *srf, cps_error *err)
{
    strbuf sql = STRBUF_INIT;
    sb_append(&sql, "SELECT CASE WHEN false THEN ");
    stitchexpr_append(&sql, r->expr);
    sql_expand_into(&sql, db_schemas(s->d),
                    " END FROM {ce}.customer_events AS customer_events WHERE false");
    cps_error e;
    int64_t rc = db_exec_single(s->d, &e, sb_str(&sql));
    sb_free(&sql);
    if (rc == CPS_EINTR)
        return CPS_EINTR;
    *srf = rc < 0;
    if (rc < 0 && strcmp(e.sqlstate, "0A000") != 0) {
        *err = e;
        return CPS_ERR;
    }
    return 0;
}

/*
 * The full pass reads every event once, so its per-event cost matters most:
 * a LATERAL branch costs a rescan per event and expression. Scalar
 * expressions therefore become CASE columns chosen by the event's group (an
 * event's k-th expression goes to column k); only set-returning ones go
 * through the LATERAL. Rows: id, event_time, broken, group, c, v, then the
 * columns, in COPY's binary format: the server formats no timestamps, cps
 * parses none, and neither escapes or scans the text.
 */
static int plan_full_pass(stitcher *s, cps_error *err)
{
    int *used = xcalloc(s->ngroups + 1, sizeof *used);
    strbuf lateral = STRBUF_INIT;
    int srfs = 0;
    for (size_t i = 0; i < s->nrows; i++) {
        cfg_row *r = &s->rows[i];
        r->slot = -1;
        if (s->group_broken[r->group])
            continue;
        int rc = is_set_returning(s, r, &r->srf, err);
        if (rc < 0) {
            free(used);
            sb_free(&lateral);
            return rc;
        }
        if (r->srf) {
            if (srfs++)
                sb_append(&lateral, "\n  UNION ALL ");
            sb_appendf(&lateral, "SELECT %zu AS c, ", i);
            stitchexpr_append(&lateral, r->expr);
            sb_appendf(&lateral, " AS v WHERE customer_events.cps_g = %d", r->group);
        } else {
            r->slot = used[r->group]++;
            if (r->slot + 1 > s->nslots)
                s->nslots = r->slot + 1;
        }
    }
    s->slot_row = xcalloc(s->ngroups + 1, sizeof *s->slot_row);
    for (size_t g = 0; g < s->ngroups; g++) {
        s->slot_row[g] = xcalloc((size_t)s->nslots + 1, sizeof **s->slot_row);
        for (int k = 0; k <= s->nslots; k++)
            s->slot_row[g][k] = -1;
    }
    strbuf sql = STRBUF_INIT;
    sql_expand_into(&sql, db_schemas(s->d),
                    "SELECT customer_events.id::text, customer_events.event_time::timestamp, "
                    "customer_events.cps_broken, customer_events.cps_g, x.c, x.v");
    for (int k = 0; k < s->nslots; k++) {
        sb_append(&sql, ",\n CASE customer_events.cps_g");
        for (size_t i = 0; i < s->nrows; i++) {
            const cfg_row *r = &s->rows[i];
            if (r->slot != k)
                continue;
            s->slot_row[r->group][k] = (int)i;
            sb_appendf(&sql, " WHEN %d THEN ", r->group);
            stitchexpr_append(&sql, r->expr);
        }
        sb_append(&sql, " END");
    }
    sql_expand_into(&sql, db_schemas(s->d),
                    " FROM (SELECT e.*, g.cps_g, g.cps_broken FROM {ce}.customer_events e "
                    "LEFT JOIN pg_temp.cps_grp g ON g.cps_event_id = e.event_id");
    s->full_sql_head = sb_detach(&sql);
    sb_append(&sql, ") AS customer_events LEFT JOIN LATERAL (");
    sb_append(&sql, srfs ? sb_str(&lateral) : "SELECT NULL::int AS c, NULL::text AS v WHERE false");
    sb_append(&sql, ") AS x ON x.v <> ''");
    s->full_sql_tail = sb_detach(&sql);
    sb_free(&lateral);
    free(used);
    return 0;
}

/* Load the config rows and check that each expression compiles. */
static int load_config(stitcher *s, cps_error *err)
{
    PGresult *res =
        db_query(s->d, err,
                 "SELECT attribute_id, event_id, value_expression "
                 "FROM {ps}.stitching_attributes_config ORDER BY event_id, attribute_id",
                 0, NULL);
    if (!res)
        return cps_error_prefix(err, "reading %s.stitching_attributes_config",
                                db_config(s->d)->ps_schema);
    s->nrows = (size_t)PQntuples(res);
    s->rows = xcalloc(s->nrows + 1, sizeof *s->rows);
    for (size_t i = 0; i < s->nrows; i++) {
        cfg_row *r = &s->rows[i];
        r->attribute_id = xstrdup(PQgetvalue(res, (int)i, 0));
        r->event_id = xstrdup(PQgetvalue(res, (int)i, 1));
        r->expr = xstrdup(PQgetvalue(res, (int)i, 2));
        r->group = index_of(&s->groups, &s->ngroups, r->event_id);
        r->attr = index_of(&s->attrs, &s->nattrs, r->attribute_id);
    }
    PQclear(res);
    s->group_broken = xcalloc(s->ngroups + 1, sizeof *s->group_broken);

    /* the loader's check (stitchexpr.h): the table may have been edited by hand */
    for (size_t i = 0; i < s->nrows; i++) {
        cfg_row *r = &s->rows[i];
        char *problem = NULL;
        int rc = stitchexpr_check(s->d, r->expr, &problem, err);
        if (rc < 0)
            return rc;
        if (problem) {
            r->broken = true;
            s->group_broken[r->group] = true;
            run_problem(s->ctx, STEP,
                        "stitching expression for attribute \"%s\" of event \"%s\" does not "
                        "work: %s; its events stay queued until it is fixed in "
                        "stitching_attributes_config",
                        r->attribute_id, r->event_id, problem);
            free(problem);
        }
    }

    /* The LATERAL body: one branch per working expression, chosen by group. */
    strbuf b = STRBUF_INIT;
    int branches = 0;
    for (size_t i = 0; i < s->nrows; i++) {
        const cfg_row *r = &s->rows[i];
        if (s->group_broken[r->group])
            continue;
        if (branches++)
            sb_append(&b, "\n  UNION ALL ");
        sb_appendf(&b, "SELECT %zu AS c, ", i);
        stitchexpr_append(&b, r->expr);
        sb_appendf(&b, " AS v WHERE customer_events.cps_g = %d", r->group);
    }
    if (!branches)
        sb_append(&b, "SELECT NULL::int AS c, NULL::text AS v WHERE false");
    s->branches = sb_detach(&b);
    return plan_full_pass(s, err);
}

static void free_config(stitcher *s)
{
    for (size_t i = 0; i < s->nrows; i++) {
        free(s->rows[i].attribute_id);
        free(s->rows[i].event_id);
        free(s->rows[i].expr);
    }
    free(s->rows);
    for (size_t i = 0; i < s->ngroups; i++)
        free(s->groups[i]);
    free(s->groups);
    free(s->group_broken);
    for (size_t i = 0; i < s->nattrs; i++)
        free(s->attrs[i]);
    free(s->attrs);
    free(s->branches);
    free(s->extract);
    free(s->trap_problem);
    free(s->full_sql_head);
    free(s->full_sql_tail);
    for (size_t g = 0; s->slot_row && g < s->ngroups; g++)
        free(s->slot_row[g]);
    free(s->slot_row);
}

/* The event types of the config (pg_temp.cps_grp) in session d: every query
 * that evaluates expressions joins them. And the table of the events that a
 * full pass leaves out (pg_temp.cps_poison, filled in its transaction). */
static int load_groups(stitcher *s, db *d, cps_error *err)
{
    if (db_exec(d, err,
                "CREATE TEMP TABLE IF NOT EXISTS cps_grp (cps_event_id text, cps_g int, "
                "cps_broken bool); TRUNCATE cps_grp; "
                "CREATE TEMP TABLE IF NOT EXISTS cps_poison (id text) ON COMMIT DELETE ROWS",
                0, NULL) < 0)
        return CPS_ERR;
    db_copy *c = db_copy_in_begin(d, "COPY pg_temp.cps_grp FROM STDIN", err);
    if (!c)
        return CPS_ERR;
    for (size_t g = 0; g < s->ngroups; g++) {
        copyin_str(c, s->groups[g]);
        copyin_int(c, (int64_t)g);
        copyin_str(c, s->group_broken[g] ? "t" : "f");
        copyin_end_row(c);
    }
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;
    return db_exec(d, err, "ANALYZE pg_temp.cps_grp", 0, NULL) < 0 ? CPS_ERR : 0;
}

/*
 * The trap, pg_temp.cps_stitch_trap(n) (PL/pgSQL), for a batch of n events
 * whose expressions fail on some of them (SPEC §3, poison events). It
 * evaluates the batch in chunks of TRAP_CHUNK events (k order), each in its
 * own subtransaction (BEGIN ... EXCEPTION); a chunk that fails is evaluated
 * again event by event, so that one event's error leaves the others their
 * identifiers; for a failing event it finds the first of its config rows
 * whose expression fails on it alone. Rows (k, config row, value, failure,
 * try): identifiers, with a NULL failure; where a try (one chunk or one
 * event) failed, a row with its failure, the rows the try gave before it
 * not counting: for a chunk k NULL, for an event its k, the failing config
 * row (NULL: none fails alone) and the error's message. Fatal errors
 * (db_sqlstate_fatal) are raised again and end the statement, as they would
 * without the trap.
 *
 * One statement finds every failing event of a batch, however many there
 * are. A subtransaction that writes nothing takes no transaction id, so
 * thousands of them do not overflow the server's subtransaction cache. The
 * statements are static SQL, planned once per session, as index lookups
 * from the batch's rows (the function's own settings). The variables are
 * named cps_trap_* and columns win over them (#variable_conflict
 * use_column). A batch reads in a READ ONLY transaction, which may not
 * create a function: the session creates it beforehand (create_trap).
 */
#define TRAP_FUNCTION "pg_temp.cps_stitch_trap"
#define TRAP_CHUNK    1024

/* The events of the batch, with their groups, as the statements evaluating
 * them read them. */
#define BATCH_EVENTS                                                                               \
    "SELECT e.*, b.cps_k, g.cps_g FROM pg_temp.cps_batch b "                                       \
    "JOIN {ce}.customer_events e ON e.id = b.cps_id "                                              \
    "JOIN pg_temp.cps_grp g ON g.cps_event_id = e.event_id"

/* FROM the events of subquery `events` (a template) evaluated by every
 * expression of their group: rows of customer_events and x (c, v). The
 * events come first (OFFSET 0 fences the subquery), so that no expression
 * runs on an event outside them. */
static void append_evaluation(stitcher *s, strbuf *sql, const char *events)
{
    sb_append(sql, " FROM (");
    sql_expand_into(sql, db_schemas(s->d), events);
    sb_append(sql, " OFFSET 0) AS customer_events CROSS JOIN LATERAL (");
    sb_append(sql, s->branches);
    sb_append(sql, ") AS x");
}

/* one event (cps_trap_id), with its group */
#define TRAP_EVENT                                                                                 \
    "SELECT e.*, g.cps_g FROM {ce}.customer_events e "                                             \
    "JOIN pg_temp.cps_grp g ON g.cps_event_id = e.event_id WHERE e.id = cps_trap_id"

/* The variables of trap_diagnose and of the error's message. */
#define TRAP_DIAGNOSE_VARS                                                                         \
    "    cps_trap_id text;\n"                                                                      \
    "    cps_trap_g int;\n"                                                                        \
    "    cps_trap_row int;\n"                                                                      \
    "    cps_trap_msg text;\n"                                                                     \
    "    cps_trap_detail text;\n"                                                                  \
    "    cps_trap_hint text;\n"

/* The statements of a trap that, for the failing event cps_trap_id, set
 * cps_trap_row to the first config row of its group whose expression fails
 * on it alone (NULL: none does), and cps_trap_msg to that error's message
 * (else it keeps the one it has). Each line starts with indent. */
static void trap_diagnose(stitcher *s, strbuf *body, const char *stop_if, const char *in)
{
    const cps_schemas *sch = db_schemas(s->d);
    sb_appendf(body, "%scps_trap_row := NULL;\n%s", in, in);
    sql_expand_into(body, sch,
                    "SELECT customer_events.cps_g INTO cps_trap_g FROM (" TRAP_EVENT
                    ") AS customer_events;\n");
    char *deeper = xasprintf("%s        ", in);
    for (size_t i = 0; i < s->nrows; i++) {
        const cfg_row *r = &s->rows[i];
        if (s->group_broken[r->group])
            continue;
        sb_appendf(body,
                   "%sIF cps_trap_row IS NULL AND cps_trap_g = %d THEN\n"
                   "%s    BEGIN\n"
                   "%s        PERFORM count(cps_trap_p.v) FROM (SELECT ",
                   in, r->group, in, in);
        stitchexpr_append(body, r->expr);
        sql_expand_into(body, sch,
                        " AS v FROM {ce}.customer_events AS customer_events "
                        "WHERE customer_events.id = cps_trap_id) AS cps_trap_p;\n");
        sb_appendf(body,
                   "%s    EXCEPTION WHEN OTHERS THEN\n"
                   "%s        IF %s THEN\n"
                   "%s            RAISE;\n"
                   "%s        END IF;\n"
                   "%s        cps_trap_row := %zu;\n",
                   in, in, stop_if, in, in, in, i);
        sql_append_trap_message(body, deeper, "cps_trap_msg");
        sb_appendf(body, "%s    END;\n%sEND IF;\n", in, in);
    }
    free(deeper);
}

static void trap_body(stitcher *s, strbuf *body, const char *stop_if)
{
    sb_appendf(body,
               "\n#variable_conflict use_column\n"
               "DECLARE\n"
               "    cps_trap_a int := 1;\n"
               "    cps_trap_b int;\n"
               "    cps_trap_w int := %d;\n"
               "    cps_trap_t int := 0;\n" TRAP_DIAGNOSE_VARS "BEGIN\n"
               "    WHILE cps_trap_a <= cps_trap_n LOOP\n"
               "        cps_trap_b := least(cps_trap_a + cps_trap_w - 1, cps_trap_n);\n"
               "        cps_trap_t := cps_trap_t + 1;\n"
               "        BEGIN\n"
               "            RETURN QUERY SELECT customer_events.cps_k, x.c, x.v, NULL::text, "
               "cps_trap_t",
               TRAP_CHUNK);
    append_evaluation(s, body, BATCH_EVENTS " WHERE b.cps_k BETWEEN cps_trap_a AND cps_trap_b");
    sb_appendf(body,
               " WHERE x.v <> '';\n"
               "            cps_trap_w := least(cps_trap_w * 2, %d);\n"
               "        EXCEPTION WHEN OTHERS THEN\n"
               "            IF %s THEN\n"
               "                RAISE;\n"
               "            END IF;\n"
               "            IF cps_trap_a < cps_trap_b THEN\n"
               "                RETURN QUERY SELECT NULL::int, NULL::int, NULL::text, ''::text, "
               "cps_trap_t;\n"
               "                cps_trap_w := (cps_trap_b - cps_trap_a + 2) / 2;\n"
               "                CONTINUE;\n"
               "            END IF;\n",
               TRAP_CHUNK, stop_if);
    sql_append_trap_message(body, "            ", "cps_trap_msg");
    sb_append(body, "            SELECT b.cps_id INTO cps_trap_id FROM pg_temp.cps_batch b "
                    "WHERE b.cps_k = cps_trap_a;\n");
    trap_diagnose(s, body, stop_if, "            ");
    sb_append(body, "            RETURN QUERY SELECT cps_trap_a, cps_trap_row, NULL::text, "
                    "cps_trap_msg, cps_trap_t;\n"
                    "        END;\n"
                    "        cps_trap_a := cps_trap_b + 1;\n"
                    "    END LOOP;\n"
                    "END\n");
}

/*
 * The scan, pg_temp.cps_stitch_scan(from, to), for stitching from scratch
 * when an expression fails on some events: the same search as the trap's,
 * over blocks from .. to-1 of the events table instead of a batch (ranges of
 * up to SCAN_CHUNK blocks, TID range scans; a failing block event by event).
 * It evaluates the full pass's own SELECT, so it fails exactly where that
 * read fails (and costs what it costs: the batches' shape, every expression
 * a LATERAL branch, took twice as long at 10M). It returns only the failing
 * events: (event id, config row or NULL, message). The full pass then reads
 * every event again, but for those, in the same snapshot. Where the events
 * are read on two sessions, each scans its half of the blocks (find_poison).
 */
#define SCAN_FUNCTION "pg_temp.cps_stitch_scan"
#define SCAN_CHUNK    256

/* The full pass's SELECT over the events matching `where`, every column
 * evaluated (the whole row is counted), so that the scan fails exactly
 * where that read does. */
static void scan_perform(stitcher *s, strbuf *body, const char *where)
{
    sb_appendf(body, "PERFORM count(cps_q.*) FROM (%s WHERE %s%s) AS cps_q;\n", s->full_sql_head,
               where, s->full_sql_tail);
}

static void scan_body(stitcher *s, strbuf *body, const char *stop_if)
{
    sb_appendf(body,
               "\n#variable_conflict use_column\n"
               "DECLARE\n"
               "    cps_trap_a bigint := cps_trap_from;\n"
               "    cps_trap_b bigint;\n"
               "    cps_trap_w bigint := %d;\n"
               "    cps_trap_lo tid;\n"
               "    cps_trap_hi tid;\n" TRAP_DIAGNOSE_VARS "BEGIN\n"
               "    WHILE cps_trap_a < cps_trap_n LOOP\n"
               "        cps_trap_b := least(cps_trap_a + cps_trap_w, cps_trap_n);\n"
               "        cps_trap_lo := format('(%%s,0)', cps_trap_a)::tid;\n"
               "        cps_trap_hi := format('(%%s,0)', cps_trap_b)::tid;\n"
               "        BEGIN\n"
               "            ",
               SCAN_CHUNK);
    scan_perform(s, body, "e.ctid >= cps_trap_lo AND e.ctid < cps_trap_hi");
    sb_appendf(body,
               "            cps_trap_w := least(cps_trap_w * 2, %d);\n"
               "        EXCEPTION WHEN OTHERS THEN\n"
               "            IF %s THEN\n"
               "                RAISE;\n"
               "            END IF;\n"
               "            IF cps_trap_b - cps_trap_a > 1 THEN\n"
               "                cps_trap_w := (cps_trap_b - cps_trap_a + 1) / 2;\n"
               "                CONTINUE;\n"
               "            END IF;\n"
               "            FOR cps_trap_id IN ",
               SCAN_CHUNK, stop_if);
    sql_expand_into(body, db_schemas(s->d),
                    "SELECT e.id FROM {ce}.customer_events e "
                    "WHERE e.ctid >= cps_trap_lo AND e.ctid < cps_trap_hi ORDER BY e.ctid LOOP\n");
    sb_append(body, "                BEGIN\n"
                    "                    ");
    scan_perform(s, body, "e.id = cps_trap_id");
    sb_appendf(body,
               "                EXCEPTION WHEN OTHERS THEN\n"
               "                    IF %s THEN\n"
               "                        RAISE;\n"
               "                    END IF;\n",
               stop_if);
    sql_append_trap_message(body, "                    ", "cps_trap_msg");
    trap_diagnose(s, body, stop_if, "                    ");
    sb_append(body, "                    RETURN QUERY SELECT cps_trap_id, cps_trap_row, "
                    "cps_trap_msg;\n"
                    "                END;\n"
                    "            END LOOP;\n"
                    "        END;\n"
                    "        cps_trap_a := cps_trap_b;\n"
                    "    END LOOP;\n"
                    "END\n");
}

/* Create the trap (TRAP_FUNCTION) or the scan (SCAN_FUNCTION) on session d,
 * outside any transaction: the trap with the session's temporary tables,
 * the scan only when stitching from scratch meets a failing expression.
 * Where one cannot be created, *problem says why; only fatal errors and
 * interruptions are returned. */
static int create_function(stitcher *s, db *d, const char *function, char **problem, cps_error *err)
{
    bool scan = strcmp(function, SCAN_FUNCTION) == 0;
    char *stop_if = db_sqlstate_fatal_sql("SQLSTATE");
    double t0 = now_seconds();
    strbuf body = STRBUF_INIT, sql = STRBUF_INIT;
    (scan ? scan_body : trap_body)(s, &body, stop_if);
    sb_appendf(&sql, "CREATE OR REPLACE FUNCTION %s%s", function,
               scan ? "(cps_trap_from bigint, cps_trap_n bigint) RETURNS TABLE (cps_trap_e text, "
                      "cps_trap_c int, "
                      "cps_trap_fail text)"
                    : "(cps_trap_n int) RETURNS TABLE (cps_trap_k int, cps_trap_c int, "
                      "cps_trap_v text, cps_trap_fail text, cps_trap_try int)");
    /* plans by index lookups (or TID ranges), as written, the same for every call */
    sb_append(&sql, " LANGUAGE plpgsql VOLATILE SET enable_hashjoin = off "
                    "SET enable_mergejoin = off SET join_collapse_limit = 1 "
                    "SET plan_cache_mode = force_generic_plan AS ");
    sql_append_dollar_quoted(&sql, "cps_trap", sb_str(&body));
    cps_error e;
    int rc = 0;
    if (db_exec_raw(d, &e, sb_str(&sql), 0, NULL) < 0) {
        if (db_interrupted() || db_sqlstate_fatal(e.sqlstate)) {
            *err = e;
            rc = db_interrupted() ? CPS_EINTR : CPS_ERR;
        } else {
            *problem = xstrdup(e.msg);
            log_debug(STEP, "%s is not created: %s", function, e.msg);
        }
    } else {
        log_debug(STEP, "%s created in %.3f s", function, now_seconds() - t0);
    }
    sb_free(&sql);
    sb_free(&body);
    free(stop_if);
    return rc;
}

/* The trap or the scan on the step's session. Where one cannot be created,
 * s->trap_problem says why: a failing batch then stops the step, stitching
 * from scratch falls back to batches. */
static int create_trap(stitcher *s, const char *function, cps_error *err)
{
    return create_function(s, s->d, function, &s->trap_problem, err);
}

/* Session temp tables: the config for SQL, the batch, values and staging. */
static int create_temp_tables(stitcher *s, cps_error *err)
{
    static const char *ddl =
        "CREATE TEMP TABLE IF NOT EXISTS cps_cfg (n int, attribute_id text);"
        "CREATE TEMP TABLE IF NOT EXISTS cps_batch (cps_k int, cps_id text, cps_xmin text, "
        "cps_time timestamp, cps_found bool) ON COMMIT DELETE ROWS;"
        /* the trap's chunks of a batch (create_trap), without a scan each */
        "CREATE INDEX IF NOT EXISTS cps_batch_k_idx ON pg_temp.cps_batch (cps_k);"
        "CREATE TEMP TABLE IF NOT EXISTS cps_vals (cps_k int, c int, v text) "
        "ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_known (k int, id text) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_w_match (id text, entity text, known bool) "
        "ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_w_ident (attribute_id text, value text, "
        "entity text) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_w_merge (old_id text, new_id text) "
        "ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_w_ent (id text, first_time timestamp, "
        "first_id text, is_new bool, first_changed bool) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_w_fail (id text, attribute_id text, "
        "event_id text, error text) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_w_done (id text, row_version text, stitched bool) "
        "ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS cps_w_queue (id text) ON COMMIT DELETE ROWS;"
        "TRUNCATE cps_cfg";
    if (db_exec(s->d, err, ddl, 0, NULL) < 0 || load_groups(s, s->d, err) < 0)
        return CPS_ERR;
    db_copy *c = db_copy_in_begin(s->d, "COPY pg_temp.cps_cfg FROM STDIN", err);
    if (!c)
        return CPS_ERR;
    for (size_t i = 0; i < s->nrows; i++) {
        copyin_int(c, (int64_t)i);
        copyin_str(c, s->rows[i].attribute_id);
        copyin_end_row(c);
    }
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;
    if (db_exec(s->d, err, "ANALYZE pg_temp.cps_cfg", 0, NULL) < 0)
        return CPS_ERR;
    return create_trap(s, TRAP_FUNCTION, err);
}

/* ---- small helpers ---------------------------------------------------- */

static int parse_time(const char *text, size_t len, int64_t *t, cps_error *err)
{
    if (!text) {
        *t = PGTIME_NULL;
        return 0;
    }
    if (pgtime_parse(text, len, t) != 0)
        return cps_error_set(err, "unexpected event_time text \"%s\" from the database", text);
    return 0;
}

static int copy_rows(db *d, const char *table, cps_error *err, db_copy **out)
{
    char *sql = xasprintf("COPY pg_temp.%s FROM STDIN", table);
    *out = db_copy_in_begin(d, sql, err);
    free(sql);
    return *out ? 0 : CPS_ERR;
}

/* The debug log times every statement of a batch: since t0, rows, the statement's start. */
static void log_statement(double t0, int64_t rows, const char *sql)
{
    log_debug(STEP, "%.3f s, %lld rows: %.60s", now_seconds() - t0, (long long)rows, sql);
}

static int exec_all(db *d, cps_error *err, const char *const *statements, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double t0 = now_seconds();
        int64_t rc = db_exec(d, err, statements[i], 0, NULL);
        if (rc < 0)
            return (int)rc;
        log_statement(t0, rc, statements[i]);
    }
    return 0;
}

/* COPY (query template) TO STDOUT, every row to fn, timed in the debug log. */
static int read_rows(db *d, const char *query, db_row_fn fn, void *arg, cps_error *err)
{
    char *sql = xasprintf("COPY (%s) TO STDOUT", query);
    char *expanded = db_sql(d, sql);
    double t0 = now_seconds();
    int64_t rows = 0;
    int rc = db_copy_out(d, expanded, fn, arg, &rows, err);
    if (rc == 0)
        log_statement(t0, rows, query);
    free(expanded);
    free(sql);
    return rc;
}

/* ---- writing a resolved batch ----------------------------------------- */

/* A poison event set aside, or an event not in customer_events any more. */
typedef struct aside {
    char *id;
    int row; /* config row that failed, or -1 */
    char *error;
} aside;

/* The events a batch or a full pass sets aside. */
typedef struct aside_list {
    aside *v;
    size_t n, cap;
} aside_list;

static void aside_add(aside_list *l, const char *id, int row, const char *error)
{
    xgrow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = (aside){xstrdup(id), row, error ? xstrdup(error) : NULL};
}

static void aside_free(aside_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].id);
        free(l->v[i].error);
    }
    free(l->v);
}

typedef struct dequeue {
    const char *id; /* borrowed */
    const char *xmin;
    bool stitched; /* in the graph: not set aside, still in customer_events */
} dequeue;

/* Stage the graph's results for the set-based statements of apply_batch;
 * known[ev] is the entity event ev had before the batch, if any. */
static int stage_results(stitcher *s, sc_graph *g, char *const *known, cps_error *err)
{
    db_copy *c;
    if (copy_rows(s->d, "cps_w_match", err, &c) < 0)
        return CPS_ERR;
    for (uint32_t ev = 0; ev < sc_event_count(g); ev++) {
        const char *entity = sc_event_result(g, ev);
        if (known[ev] && strcmp(known[ev], entity) == 0)
            continue; /* stitched again to the same entity: nothing to write */
        copyin_str(c, sc_event_id(g, ev));
        copyin_str(c, entity);
        copyin_str(c, known[ev] ? "t" : "f");
        copyin_end_row(c);
    }
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;
    if (copy_rows(s->d, "cps_w_ident", err, &c) < 0)
        return CPS_ERR;
    for (uint32_t i = 0; i < sc_identifier_count(g); i++) {
        if (!sc_identifier_is_new(g, i))
            continue;
        size_t len;
        const char *v = sc_identifier_value(g, i, &len);
        copyin_str(c, s->attrs[sc_identifier_attr(g, i)]);
        copyin_field(c, v, len);
        copyin_str(c, sc_identifier_result(g, i));
        copyin_end_row(c);
        s->identifiers_new++;
    }
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;
    if (copy_rows(s->d, "cps_w_merge", err, &c) < 0)
        return CPS_ERR;
    for (size_t k = 0; k < sc_merge_count(g); k++) {
        const char *from, *into;
        sc_merge(g, k, &from, &into);
        copyin_str(c, from);
        copyin_str(c, into);
        copyin_end_row(c);
    }
    s->merges += (int64_t)sc_merge_count(g);
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;
    if (copy_rows(s->d, "cps_w_ent", err, &c) < 0)
        return CPS_ERR;
    for (size_t k = 0; k < sc_entity_count(g); k++) {
        sc_entity_info e;
        sc_entity(g, k, &e);
        copyin_str(c, e.id);
        copyin_timestamp(c, e.first_time);
        copyin_str(c, e.first_id);
        copyin_str(c, e.is_new ? "t" : "f");
        copyin_str(c, e.first_changed ? "t" : "f");
        copyin_end_row(c);
        s->entities_new += e.is_new;
    }
    return db_copy_in_end(c, NULL, err);
}

/* Record the events staged in pg_temp.cps_w_fail (copy_asides) in
 * {ps}.failed_events; an event already there gets its new error. */
#define RECORD_ASIDES                                                                              \
    "INSERT INTO {ps}.failed_events AS f (customer_event_id, attribute_id, event_id, error, "      \
    "failed_at) SELECT id, attribute_id, event_id, error, now() FROM pg_temp.cps_w_fail "          \
    "ON CONFLICT (customer_event_id) DO UPDATE SET attribute_id = EXCLUDED.attribute_id, "         \
    "event_id = EXCLUDED.event_id, error = EXCLUDED.error, failed_at = EXCLUDED.failed_at"

/* The events set aside (those with an error) into pg_temp.cps_w_fail. */
static int copy_asides(stitcher *s, const aside_list *l, cps_error *err)
{
    db_copy *c;
    if (copy_rows(s->d, "cps_w_fail", err, &c) < 0)
        return CPS_ERR;
    for (size_t i = 0; i < l->n; i++) {
        const aside *a = &l->v[i];
        if (!a->error)
            continue;
        copyin_str(c, a->id);
        copyin_str(c, a->row >= 0 ? s->rows[a->row].attribute_id : NULL);
        copyin_str(c, a->row >= 0 ? s->rows[a->row].event_id : NULL);
        copyin_str(c, a->error);
        copyin_end_row(c);
        s->failed++;
    }
    return db_copy_in_end(c, NULL, err);
}

static int stage_aside_and_dequeue(stitcher *s, const aside_list *asides, const dequeue *done,
                                   size_t ndone, cps_error *err)
{
    db_copy *c;
    if (copy_asides(s, asides, err) < 0 || copy_rows(s->d, "cps_w_done", err, &c) < 0)
        return CPS_ERR;
    for (size_t i = 0; i < ndone; i++) {
        copyin_str(c, done[i].id);
        copyin_str(c, done[i].xmin);
        copyin_str(c, done[i].stitched ? "t" : "f");
        copyin_end_row(c);
    }
    return db_copy_in_end(c, NULL, err);
}

/* Apply a staged incremental batch, all in the caller's transaction. */
static int apply_batch(stitcher *s, cps_error *err)
{
    static const char *const statements[] = {
        /* statistics for the joins below; with index lookups there is no choice to make */
        "ANALYZE pg_temp.cps_w_match; ANALYZE pg_temp.cps_w_ident; "
        "ANALYZE pg_temp.cps_w_merge; ANALYZE pg_temp.cps_w_ent; ANALYZE pg_temp.cps_w_done",
        /* merges: everything of an absorbed entity moves to its survivor */
        "UPDATE {ps}.matching m SET customer_entity_id = w.new_id FROM pg_temp.cps_w_merge w "
        "WHERE m.customer_entity_id = w.old_id",
        "UPDATE {ps}.identifiers i SET customer_entity_id = w.new_id "
        "FROM pg_temp.cps_w_merge w WHERE i.customer_entity_id = w.old_id",
        "UPDATE {ps}.entity_merges em SET into_id = w.new_id FROM pg_temp.cps_w_merge w "
        "WHERE em.into_id = w.old_id",
        "INSERT INTO {ps}.entity_merges (merged_id, into_id, merged_at) "
        "SELECT old_id, new_id, now() FROM pg_temp.cps_w_merge",
        "DELETE FROM {ps}.entities e USING pg_temp.cps_w_merge w WHERE e.id = w.old_id",
        "DELETE FROM {attr}.customer_entities c USING pg_temp.cps_w_merge w "
        "WHERE c.id = w.old_id",
        "DELETE FROM {ps}.entities_to_calculate a USING pg_temp.cps_w_merge w "
        "WHERE a.customer_entity_id = w.old_id",
        /* the batch's own events and identifiers; plain INSERTs and UPDATEs:
           ON CONFLICT costs an index probe, and locks (writes) every row it meets */
        "INSERT INTO {ps}.matching (customer_event_id, customer_entity_id) "
        "SELECT id, entity FROM pg_temp.cps_w_match WHERE NOT known",
        "UPDATE {ps}.matching m SET customer_entity_id = w.entity FROM pg_temp.cps_w_match w "
        "WHERE w.known AND m.customer_event_id = w.id AND m.customer_entity_id <> w.entity",
        "INSERT INTO {ps}.identifiers (attribute_id, value, customer_entity_id) "
        "SELECT attribute_id, value, entity FROM pg_temp.cps_w_ident",
        /* a known entity missing in {ps}.entities (first_changed) comes back */
        "INSERT INTO {ps}.entities AS e (id, first_event_time, first_event_id) "
        "SELECT id, first_time, first_id FROM pg_temp.cps_w_ent WHERE is_new OR first_changed "
        "ON CONFLICT (id) DO UPDATE SET first_event_time = EXCLUDED.first_event_time, "
        "first_event_id = EXCLUDED.first_event_id",
        /* activity: new entities, and every entity the batch touched (a HOT
           update of modified), marked for calculation */
        "INSERT INTO {attr}.customer_entities AS c (id, created, modified, calculated) "
        "SELECT id, now(), now(), NULL FROM pg_temp.cps_w_ent WHERE is_new "
        "ON CONFLICT (id) DO UPDATE SET modified = now()",
        "UPDATE {attr}.customer_entities c SET modified = now() FROM pg_temp.cps_w_ent w "
        "WHERE NOT w.is_new AND c.id = w.id",
        "INSERT INTO {ps}.entities_to_calculate (customer_entity_id) "
        "SELECT id FROM pg_temp.cps_w_ent ON CONFLICT DO NOTHING",
        /* set-aside events stitched now (their payload was fixed) are no longer
           set aside; CPS's session skips the trigger that would queue them again
           (cps.internal). Without set-aside events, nothing is joined at all. */
        "DELETE FROM {ps}.failed_events f USING pg_temp.cps_w_done d "
        "WHERE f.customer_event_id = d.id AND d.stitched "
        "AND EXISTS (SELECT 1 FROM {ps}.failed_events)",
        RECORD_ASIDES,
        /* consume the queue rows read, unless they changed since */
        "DELETE FROM {ps}.customer_events_to_process q USING pg_temp.cps_w_done d "
        "WHERE q.customer_event_id = d.id AND q.xmin = d.row_version::xid",
    };
    size_t skip = s->index_lookups ? 1 : 0;
    return exec_all(s->d, err, statements + skip, sizeof statements / sizeof statements[0] - skip);
}

/* ---- the incremental path --------------------------------------------- */

typedef struct batch {
    stitcher *s;
    sc_graph *g;
    int n;           /* events in the batch (k = 1..n) */
    char **id_of;    /* k -> event id */
    char **xmin_of;  /* k -> queue row version */
    uint32_t *ev_of; /* k -> event in the graph, or IDTAB_NONE */
    char **known;    /* event in the graph -> its entity before the batch, or NULL */
    /* identifiers' known entities, looked up once each after the identifiers */
    idtab *ents;
    struct ident_entity {
        uint32_t ident, ent;
    } * ident_ent;
    size_t nident_ent, ident_ent_cap;
    bool *poison; /* k -> set aside */
    aside_list asides;
    cps_error *err;
} batch;

static void batch_free(batch *b)
{
    for (int k = 0; k <= b->n; k++) {
        if (b->id_of)
            free(b->id_of[k]);
        if (b->xmin_of)
            free(b->xmin_of[k]);
    }
    free(b->id_of);
    free(b->xmin_of);
    free(b->poison);
    free(b->ev_of);
    if (b->known)
        for (uint32_t ev = 0; ev < (uint32_t)b->n; ev++)
            free(b->known[ev]);
    free(b->known);
    idtab_free(b->ents);
    free(b->ident_ent);
    aside_free(&b->asides);
    sc_free(b->g);
}

/* The statement evaluating the expressions of the batch's events into
 * cps_vals. */
static const char *extract_sql(stitcher *s)
{
    if (!s->extract) {
        strbuf sql = STRBUF_INIT;
        sb_append(&sql, "INSERT INTO pg_temp.cps_vals (cps_k, c, v) "
                        "SELECT customer_events.cps_k, x.c, x.v");
        append_evaluation(s, &sql, BATCH_EVENTS);
        sb_append(&sql, " WHERE x.v <> ''");
        s->extract = sb_detach(&sql);
    }
    return s->extract;
}

/* The config row a trap or scan names for a failing event (its text, NULL
 * if none), or -1: none fails alone. */
static int config_row(const stitcher *s, const char *text)
{
    int row = text ? atoi(text) : -1;
    return row < (int)s->nrows ? row : -1;
}

/* The config row of column col of row i of a trap's result. */
static int trap_row(const stitcher *s, const PGresult *res, int i, int col)
{
    return config_row(s, PQgetisnull(res, i, col) ? NULL : PQgetvalue(res, i, col));
}

/* An event set aside, in the log: the first ASIDE_WARNINGS of a run as
 * warnings, the others with -v. */
static void name_aside(stitcher *s, const char *id, int row, const char *message)
{
    log_msg(s->aside_named++ < ASIDE_WARNINGS ? LOG_WARN : LOG_DEBUG, STEP,
            "event \"%s\" set aside: the stitching expression for attribute \"%s\" fails on "
            "it: %s",
            id, row >= 0 ? s->rows[row].attribute_id : "?", message);
    if (s->aside_named == ASIDE_WARNINGS + 1)
        log_warn(STEP,
                 "more events set aside: %s.failed_events holds each with its error (and -v "
                 "names them here)",
                 db_config(s->d)->ps_schema);
}

/* The batch's expressions event by event through the trap (create_trap):
 * the identifiers of the events that pass go to cps_vals, the events that
 * fail are set aside. */
static int trap_batch(batch *b, cps_error *err)
{
    stitcher *s = b->s;
    static const char *sql =
        "WITH t AS MATERIALIZED (SELECT * FROM " TRAP_FUNCTION "($1::int)), "
        "ins AS (INSERT INTO pg_temp.cps_vals (cps_k, c, v) "
        "SELECT t.cps_trap_k, t.cps_trap_c, t.cps_trap_v FROM t WHERE t.cps_trap_fail IS NULL "
        "AND t.cps_trap_try NOT IN (SELECT f.cps_trap_try FROM t f "
        "WHERE f.cps_trap_fail IS NOT NULL)) "
        "SELECT f.cps_trap_k, b.cps_id, f.cps_trap_c, f.cps_trap_fail FROM t f "
        "JOIN pg_temp.cps_batch b ON b.cps_k = f.cps_trap_k "
        "WHERE f.cps_trap_fail IS NOT NULL ORDER BY f.cps_trap_k";
    char ns[16];
    snprintf(ns, sizeof ns, "%d", b->n);
    const char *params[] = {ns};
    double t0 = now_seconds();
    PGresult *res = db_query_raw(s->d, err, sql, 1, params);
    if (!res)
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    int n = PQntuples(res);
    log_statement(t0, n, "the stitching expressions event by event (the trap)");
    for (int i = 0; i < n; i++) {
        int k = atoi(PQgetvalue(res, i, 0));
        if (k < 1 || k > b->n || b->poison[k]) {
            PQclear(res);
            return cps_error_set(err, "unexpected row of the trap function for batch event %d", k);
        }
        const char *id = PQgetvalue(res, i, 1), *message = PQgetvalue(res, i, 3);
        int row = trap_row(s, res, i, 2);
        b->poison[k] = true;
        aside_add(&b->asides, id, row, message);
        name_aside(s, id, row, message);
    }
    PQclear(res);
    return 0;
}

/* Evaluate the batch's expressions into cps_vals; where they fail on some
 * events (a data error), the trap finds those events and sets them aside. */
static int extract_batch(batch *b, cps_error *err)
{
    stitcher *s = b->s;
    if (db_savepoint(s->d, err) < 0)
        return CPS_ERR;
    cps_error e;
    double t0 = now_seconds();
    int64_t rc = db_exec_raw(s->d, &e, extract_sql(s), 0, NULL);
    if (rc >= 0) {
        log_statement(t0, rc, "INSERT INTO pg_temp.cps_vals: the stitching expressions");
        return db_release_savepoint(s->d, err);
    }
    if (rc == CPS_EINTR || db_sqlstate_fatal(e.sqlstate)) {
        *err = e;
        return rc == CPS_EINTR ? CPS_EINTR : CPS_ERR;
    }
    if (db_rollback_to_savepoint(s->d, err) < 0 || db_release_savepoint(s->d, err) < 0)
        return CPS_ERR;
    if (s->trap_problem)
        return cps_error_set(err,
                             "a stitching expression fails on an event of this batch (%s), and "
                             "the failing events cannot be set aside: the function that finds "
                             "them (" TRAP_FUNCTION ") could not be created (%s); the batch stays "
                             "queued",
                             e.msg, s->trap_problem);
    log_info(STEP,
             "a stitching expression fails on some of the batch's %d events (%s): finding "
             "them to set them aside",
             b->n, e.msg);
    return trap_batch(b, err);
}

/* Rows of the batch: k, id, event_time, queue xmin, present, entity, its first event. */
static int batch_event_row(void *arg, char **f, size_t *len, int n, cps_error *err)
{
    batch *b = arg;
    (void)n;
    int k = atoi(f[0]);
    if (k < 1 || k > b->n)
        return cps_error_set(err, "unexpected batch row %d", k);
    b->id_of[k] = xstrdup(f[1]);
    b->xmin_of[k] = xstrdup(f[3]);
    if (f[4][0] != 't') {
        aside_add(&b->asides, f[1], -1, NULL); /* no longer in customer_events: just dequeue */
        return 0;
    }
    if (b->poison[k])
        return 0;
    int64_t t, ft;
    if (parse_time(f[2], len[2], &t, err) < 0)
        return CPS_ERR;
    uint32_t ev = b->ev_of[k] = sc_add_event(b->g, f[1], len[1], t);
    if (f[5]) {
        if (parse_time(f[6], len[6], &ft, err) < 0)
            return CPS_ERR;
        sc_event_entity(b->g, ev, f[5], f[7] ? ft : PGTIME_NINF, f[7]);
        b->known[ev] = xstrdup(f[5]);
    }
    return 0;
}

/* Identifier rows: k, config row, value, known entity. */
static int batch_value_row(void *arg, char **f, size_t *len, int n, cps_error *err)
{
    batch *b = arg;
    stitcher *s = b->s;
    (void)n;
    int k = atoi(f[0]);
    size_t row = (size_t)atol(f[1]);
    if (k < 1 || k > b->n || row >= s->nrows || b->ev_of[k] == IDTAB_NONE)
        return cps_error_set(err, "unexpected value row %d/%zu", k, row);
    if (len[2] > STITCH_MAX_VALUE_BYTES) {
        s->too_long++;
        return 0;
    }
    uint32_t id = sc_add_identifier(b->g, b->ev_of[k], (uint32_t)s->rows[row].attr, f[2], len[2]);
    if (f[3]) {
        xgrow((void **)&b->ident_ent, &b->ident_ent_cap, b->nident_ent + 1, sizeof *b->ident_ent);
        b->ident_ent[b->nident_ent++] =
            (struct ident_entity){id, idtab_intern(b->ents, 0, f[3], len[3], NULL)};
    }
    return 0;
}

/* Known entity rows: its number in b->ents, its earliest event (NULL: no longer known). */
static int known_entity_row(void *arg, char **f, size_t *len, int n, cps_error *err)
{
    batch *b = arg;
    (void)n;
    long k = atol(f[0]);
    if (k < 0 || (uint32_t)k >= idtab_count(b->ents))
        return cps_error_set(err, "unexpected entity row %ld", k);
    int64_t ft = PGTIME_NINF;
    if (f[2] && parse_time(f[1], len[1], &ft, err) < 0)
        return CPS_ERR;
    /* the graph keeps what it sees first of an entity: give it to every identifier now */
    sc_known_entity(b->g, idtab_str(b->ents, (uint32_t)k), ft, f[2]);
    return 0;
}

/* The first events of the identifiers' entities: one lookup per entity, not per identifier. */
static int read_known_entities(stitcher *s, batch *b, cps_error *err)
{
    uint32_t n = idtab_count(b->ents);
    db_copy *c;
    if (n == 0)
        return 0;
    if (copy_rows(s->d, "cps_known", err, &c) < 0)
        return CPS_ERR;
    for (uint32_t k = 0; k < n; k++) {
        copyin_int(c, k);
        copyin_str(c, idtab_str(b->ents, k));
        copyin_end_row(c);
    }
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;
    int rc = read_rows(s->d,
                       "SELECT n.k, en.first_event_time, en.first_event_id "
                       "FROM pg_temp.cps_known n "
                       "LEFT JOIN {ps}.entities en ON en.id = n.id",
                       known_entity_row, b, err);
    for (size_t i = 0; rc == 0 && i < b->nident_ent; i++)
        sc_identifier_entity(b->g, b->ident_ent[i].ident, idtab_str(b->ents, b->ident_ent[i].ent),
                             PGTIME_NINF, NULL);
    return rc;
}

/* Read one batch: select it, evaluate expressions, look up what is known. */
static int read_batch(stitcher *s, batch *b, cps_error *err)
{
    char limit[24];
    snprintf(limit, sizeof limit, "%ld", s->batch_size);
    const char *params[] = {limit};
    /* the events' times and existence come along: later statements need not look again */
    static const char *select_batch =
        "INSERT INTO pg_temp.cps_batch (cps_k, cps_id, cps_xmin, cps_time, cps_found) "
        "SELECT row_number() OVER (), s.id, s.xmin, s.event_time, s.found FROM ("
        "SELECT q.customer_event_id AS id, q.xmin::text AS xmin, "
        "e.event_time::timestamp AS event_time, e.id IS NOT NULL AS found "
        "FROM {ps}.customer_events_to_process q "
        "LEFT JOIN {ce}.customer_events e ON e.id = q.customer_event_id "
        "WHERE NOT EXISTS (SELECT 1 FROM pg_temp.cps_grp g "
        "WHERE g.cps_event_id = e.event_id AND g.cps_broken) "
        "ORDER BY e.event_time, q.customer_event_id COLLATE \"C\" LIMIT $1::bigint) s";
    double t0 = now_seconds();
    int64_t n = db_exec(s->d, err, select_batch, 1, params);
    if (n >= 0)
        log_statement(t0, n, select_batch);
    if (n <= 0)
        return (int)n;
    b->n = (int)n;
    b->id_of = xcalloc((size_t)n + 1, sizeof *b->id_of);
    b->xmin_of = xcalloc((size_t)n + 1, sizeof *b->xmin_of);
    b->poison = xcalloc((size_t)n + 1, sizeof *b->poison);
    b->ev_of = xmalloc(((size_t)n + 1) * sizeof *b->ev_of);
    b->known = xcalloc((size_t)n + 1, sizeof *b->known);
    memset(b->ev_of, 0xff, ((size_t)n + 1) * sizeof *b->ev_of);
    b->g = sc_new((size_t)n);
    int rc;
    /* (with index lookups forced, statistics choose nothing) */
    if (!s->index_lookups && db_exec(s->d, err, "ANALYZE pg_temp.cps_batch", 0, NULL) < 0)
        return CPS_ERR;
    if ((rc = extract_batch(b, err)) < 0)
        return rc;
    if (!s->index_lookups && db_exec(s->d, err, "ANALYZE pg_temp.cps_vals", 0, NULL) < 0)
        return CPS_ERR;
    rc = read_rows(s->d,
                   "SELECT b.cps_k, b.cps_id, b.cps_time, b.cps_xmin, b.cps_found, "
                   "m.customer_entity_id, en.first_event_time, en.first_event_id "
                   "FROM pg_temp.cps_batch b "
                   "LEFT JOIN {ps}.matching m ON m.customer_event_id = b.cps_id "
                   "LEFT JOIN {ps}.entities en ON en.id = m.customer_entity_id",
                   batch_event_row, b, err);
    if (rc < 0)
        return rc;
    b->ents = idtab_new(1024);
    rc = read_rows(s->d,
                   "SELECT v.cps_k, v.c, v.v, i.customer_entity_id "
                   "FROM pg_temp.cps_vals v JOIN pg_temp.cps_cfg c ON c.n = v.c "
                   "LEFT JOIN {ps}.identifiers i ON i.attribute_id = c.attribute_id "
                   "AND i.value = v.v",
                   batch_value_row, b, err);
    return rc < 0 ? rc : read_known_entities(s, b, err);
}

/* Process one batch from the queue; *count receives its size (0 = queue empty). */
static int run_batch(stitcher *s, int *count, cps_error *err)
{
    batch b = {.s = s, .err = err};
    *count = 0;
    double t0 = now_seconds();
    int rc = db_begin_read(s->d, err);
    if (rc == 0 && s->index_lookups)
        rc = db_prefer_index_lookups(s->d, err);
    if (rc == 0)
        rc = read_batch(s, &b, err);
    db_rollback(s->d); /* read only: nothing to keep */
    if (rc < 0 || b.n == 0) {
        batch_free(&b);
        return rc;
    }
    double t1 = now_seconds();
    sc_resolve(b.g);
    double t2 = now_seconds();

    dequeue *done = xmalloc((size_t)b.n * sizeof *done);
    for (int k = 1; k <= b.n; k++)
        done[k - 1] = (dequeue){b.id_of[k], b.xmin_of[k], b.ev_of[k] != IDTAB_NONE};
    rc = db_begin(s->d, err);
    if (rc == 0 && s->index_lookups)
        rc = db_prefer_index_lookups(s->d, err);
    if (rc == 0)
        rc = stage_results(s, b.g, b.known, err);
    if (rc == 0)
        rc = stage_aside_and_dequeue(s, &b.asides, done, (size_t)b.n, err);
    if (rc == 0)
        rc = apply_batch(s, err);
    if (rc == 0)
        rc = db_commit(s->d, err);
    if (rc < 0)
        db_rollback(s->d);
    free(done);
    double t3 = now_seconds();
    if (rc == 0) {
        s->events += sc_event_count(b.g);
        s->batches++;
        s->read_s += t1 - t0;
        s->resolve_s += t2 - t1;
        s->write_s += t3 - t2;
        *count = b.n;
        log_debug(STEP, "batch of %d events: read %.3f s, resolve %.3f s, write %.3f s", b.n,
                  t1 - t0, t2 - t1, t3 - t2);
    }
    batch_free(&b);
    return rc;
}

static int incremental(stitcher *s, cps_error *err)
{
    char *queued = NULL;
    int rc = db_query_value(s->d, err, &queued, NULL,
                            "SELECT count(*) FROM {ps}.customer_events_to_process", 0, NULL);
    if (rc < 0)
        return rc;
    uint64_t total = queued ? strtoull(queued, NULL, 10) : 0;
    free(queued);
    if (total == 0) {
        log_info(STEP, "queue is empty; nothing to stitch");
        return 0;
    }
    log_info(STEP, "%llu events queued", (unsigned long long)total);
    /* A batch touches its events and what they connect to; with a history
     * much larger than the batch, index lookups beat scans of the history. */
    if (db_exec(s->d, err, "ANALYZE {ps}.customer_events_to_process", 0, NULL) < 0)
        return CPS_ERR;
    uint64_t batch = total < (uint64_t)s->batch_size ? total : (uint64_t)s->batch_size;
    s->index_lookups = batch * 20 < (uint64_t)db_estimated_rows(s->d, "{ps}.matching");
    s->prog = progress_begin(STEP, "events", total);
    for (;;) {
        if (db_interrupted())
            return CPS_EINTR;
        int n;
        if ((rc = run_batch(s, &n, err)) < 0)
            break;
        progress_add(s->prog, (uint64_t)n);
        if (n == 0)
            break;
    }
    return rc;
}

/* ---- from scratch ----------------------------------------------------- */

typedef struct full_pass {
    stitcher *s;
    fg *g;
    idtab *held_back; /* events of broken groups: they go (back) to the queue */
    char **queue_ids; /* queue rows seen, to consume */
    char **queue_xmins;
    size_t nqueue, queue_cap;
    int64_t now;       /* the write transaction's now(): customer_entities' created and modified */
    int sessions;      /* that read every event */
    aside_list poison; /* events an expression fails on (find_poison), left out */
} full_pass;

/* One identifier value of the current event in the full pass. */
static void full_value(full_pass *p, size_t row, const char *v, size_t len)
{
    stitcher *s = p->s;
    if (len == 0)
        return;
    if (len > STITCH_MAX_VALUE_BYTES) {
        s->too_long++;
        return;
    }
    fg_add_identifier(p->g, (uint32_t)s->rows[row].attr, v, len);
}

/* A binary integer column of the full pass (a NULL one is not asked for). */
static int full_int(const char *f, size_t len, int64_t *v, const char *what, cps_error *err)
{
    if (copy_bin_get_int(f, len, v) < 0)
        return cps_error_set(err, "unexpected %s (%zu bytes) from the database", what, len);
    return 0;
}

static int full_row(void *arg, char **f, size_t *len, int n, cps_error *err)
{
    full_pass *p = arg;
    stitcher *s = p->s;
    if (n < 6)
        return cps_error_set(err, "unexpected row of %d columns in the full pass", n);
    if (f[2] && len[2] == 1 && f[2][0] == 1) { /* the event's type is broken */
        idtab_intern(p->held_back, 0, f[0], len[0], NULL);
        return 0;
    }
    bool again = fg_is_current(p->g, f[0], len[0]); /* rows of one event arrive together */
    if (!again) {
        int64_t t;
        if (copy_bin_get_timestamp(f[1], len[1], &t) < 0)
            return cps_error_set(err, "unexpected event_time (%zu bytes) from the database",
                                 len[1]);
        if (fg_add_event(p->g, f[0], len[0], t, err) < 0)
            return CPS_ERR;
        uint64_t events = fg_event_count(p->g);
        if ((events & 0xffff) == 0)
            progress_set(s->prog, events);
    }
    int64_t v;
    if (f[4]) {
        if (full_int(f[4], len[4], &v, "config row", err) < 0)
            return CPS_ERR;
        if (v < 0 || (uint64_t)v >= s->nrows)
            return cps_error_set(err, "unexpected config row %lld", (long long)v);
        full_value(p, (size_t)v, f[5], len[5]);
    }
    /* the scalar columns repeat on every row of the event: take them once */
    if (again || !f[3])
        return 0;
    if (full_int(f[3], len[3], &v, "event type group", err) < 0)
        return CPS_ERR;
    if (v < 0 || (uint64_t)v >= s->ngroups)
        return cps_error_set(err, "unexpected event type group %lld", (long long)v);
    int g = (int)v;
    for (int k = 0; k < s->nslots && 6 + k < n; k++)
        if (f[6 + k] && s->slot_row[g][k] >= 0)
            full_value(p, (size_t)s->slot_row[g][k], f[6 + k], len[6 + k]);
    return 0;
}

static int queue_row(void *arg, char **f, size_t *len, int n, cps_error *err)
{
    full_pass *p = arg;
    (void)len, (void)n, (void)err;
    if (p->nqueue == p->queue_cap) {
        p->queue_cap = p->queue_cap ? p->queue_cap * 2 : 1024;
        p->queue_ids = xrealloc(p->queue_ids, p->queue_cap * sizeof *p->queue_ids);
        p->queue_xmins = xrealloc(p->queue_xmins, p->queue_cap * sizeof *p->queue_xmins);
    }
    p->queue_ids[p->nqueue] = xstrdup(f[0]);
    p->queue_xmins[p->nqueue] = xstrdup(f[1]);
    p->nqueue++;
    return 0;
}

static void full_pass_free(full_pass *p)
{
    fg_free(p->g);
    idtab_free(p->held_back);
    for (size_t i = 0; i < p->nqueue; i++) {
        free(p->queue_ids[i]);
        free(p->queue_xmins[i]);
    }
    free(p->queue_ids);
    free(p->queue_xmins);
    aside_free(&p->poison);
    memset(p, 0, sizeof *p);
}

/* Fills a table from the resolved graph, through COPY. */
typedef int (*table_filler)(db_copy *c, const full_pass *p, cps_error *err);

static int matching_event(void *arg, const char *id, size_t len, int64_t time,
                          const char entity[33], cps_error *err)
{
    db_copy *c = arg;
    (void)time, (void)err;
    copyin_field(c, id, len);
    copyin_str(c, entity);
    copyin_end_row(c);
    return 0;
}

static int fill_matching(db_copy *c, const full_pass *p, cps_error *err)
{
    return fg_each_event(p->g, matching_event, c, err);
}

/* The events grouped by entity, while identifiers' indexes are built. */
static int sort_events(void *g, cps_error *err)
{
    return fg_sort_events(g, err);
}

/* The entities' earliest events, while matching's indexes are built. */
static int gather_entities(void *g, cps_error *err)
{
    return fg_gather_entities(g, err);
}

/* The entities in id order: the primary key is built from presorted rows. */
static int entity_event(void *arg, const char *id, size_t len, int64_t time, const char entity[33],
                        cps_error *err)
{
    db_copy *c = arg;
    (void)err;
    copyin_str(c, entity);
    copyin_timestamp(c, time);
    copyin_field(c, id, len);
    copyin_end_row(c);
    return 0;
}

static int fill_entities(db_copy *c, const full_pass *p, cps_error *err)
{
    return fg_each_entity(p->g, entity_event, c, err);
}

static int fill_identifiers(db_copy *c, const full_pass *p, cps_error *err)
{
    (void)err;
    for (uint32_t i = 0; i < fg_identifier_count(p->g); i++) {
        uint32_t attr;
        const char *v;
        size_t len;
        char entity[33];
        fg_identifier(p->g, i, &attr, &v, &len, entity);
        copyin_str(c, p->s->attrs[attr]);
        copyin_field(c, v, len);
        copyin_str(c, entity);
        copyin_end_row(c);
    }
    return 0;
}

/* COPY into an empty table through the filler, without its indexes
 * (rebuilt after the load: random keys such as entity ids make row-by-row
 * index maintenance the dominant cost of a full pass) nor the foreign keys
 * that reference it (added back after them); the filler's rows come in
 * order of the column sorted_by; meanwhile (if any) prepares the next
 * table's rows while the server builds them. The table is truncated in
 * this transaction (truncate: here, once nothing references it), so its rows
 * go in frozen, its pages all-visible: nobody has to come back later to set
 * hint bits or freeze them, i.e. to write the table again. (Where a table
 * cps does not own references it, its keys stay: no truncation, no FREEZE.)
 * The rows travel in the binary format: the server parses no text. */
static int copy_all(full_pass *p, const char *table, const char *columns, const char *sorted_by,
                    bool truncate, table_filler fill, db_task meanwhile, cps_error *err)
{
    db *d = p->s->d;
    double t0 = now_seconds();
    db_indexes *ix = NULL;
    int rc = db_indexes_drop(d, table, &ix, err);
    bool fresh = !truncate; /* truncated earlier in this transaction */
    if (rc == 0 && truncate && db_indexes_keys_kept(ix)) {
        log_debug(STEP,
                  "%s keeps its keys while it loads: a table not owned by this role "
                  "references them",
                  table);
    } else if (rc == 0 && truncate) {
        char *sql = xasprintf("TRUNCATE %s", table);
        int64_t done = db_exec(d, err, sql, 0, NULL);
        free(sql);
        if (done < 0)
            rc = (int)done;
        fresh = true;
    }
    char *tmpl = xasprintf("COPY %s (%s) FROM STDIN WITH (%sFORMAT binary)", table, columns,
                           fresh ? "FREEZE, " : "");
    char *sql = db_sql(d, tmpl);
    free(tmpl);
    db_copy *c = rc == 0 ? db_copy_in_begin_binary(d, sql, err) : NULL;
    free(sql);
    if (rc == 0 && !c)
        rc = CPS_ERR;
    int64_t rows = 0;
    if (rc == 0) {
        rc = fill(c, p, err);
        if (rc == 0)
            rc = db_copy_in_end(c, &rows, err);
        else
            db_copy_in_abort(c);
    }
    double t1 = now_seconds();
    if (rc == 0)
        rc = db_indexes_restore(d, ix, sorted_by, meanwhile, p->g, err);
    else
        db_indexes_free(ix); /* the failed transaction rolls the drop back */
    log_debug(STEP, "%s: %lld rows copied in %.3f s, indexes built in %.3f s", table,
              (long long)rows, t1 - t0, now_seconds() - t1);
    return rc;
}

static int entities_table_empty(stitcher *s, int *empty, cps_error *err)
{
    char *v = NULL;
    int rc = db_query_value(s->d, err, &v, NULL,
                            "SELECT NOT EXISTS (SELECT 1 FROM {attr}.customer_entities)", 0, NULL);
    *empty = v && v[0] == 't';
    free(v);
    return rc;
}

/* Every entity, in id order (its primary key builds from sorted rows), new
 * as of the write transaction. */
static int fill_customer_entities(db_copy *c, const full_pass *p, cps_error *err)
{
    (void)err;
    for (uint64_t k = 0; k < fg_entity_count(p->g); k++) {
        char id[33];
        fg_entity_id(p->g, k, id);
        copyin_str(c, id);
        copyin_timestamp(c, p->now);
        copyin_timestamp(c, p->now);
        copyin_timestamp(c, PGTIME_NULL);
        copyin_end_row(c);
    }
    return 0;
}

/* An empty customer_entities gets every entity by COPY, like the tables
 * before it: customer_attributes' foreign key goes while it loads. The locks
 * that takes (readers of either table wait for the commit, instead of
 * seeing them empty) are held for the last seconds of the transaction only. */
static int copy_customer_entities(full_pass *p, cps_error *err)
{
    char *text = NULL;
    int rc = db_query_value(p->s->d, err, &text, NULL, "SELECT now()", 0, NULL);
    if (rc == 0 && pgtime_parse(text, strlen(text), &p->now) != 0)
        rc = cps_error_set(err, "unexpected now() text \"%s\" from the database", text);
    free(text);
    if (rc == 0)
        rc = copy_all(p, "{attr}.customer_entities", "id, created, modified, calculated", "id",
                      true, fill_customer_entities, NULL, err);
    return rc;
}

/* Replace the whole stitching state with the graph's results. */
static int write_full(stitcher *s, full_pass *p, cps_error *err)
{
    static const char *const truncate[] = {
        "TRUNCATE {ps}.matching, {ps}.identifiers, {ps}.entities, {ps}.entity_merges, "
        "{ps}.failed_events, {ps}.entities_to_calculate"};
    fg *g = p->g;
    db_copy *c;
    /* identifiers first: their strings are the graph's largest part, freed next */
    if (exec_all(s->d, err, truncate, 1) < 0 ||
        copy_all(p, "{ps}.identifiers", "attribute_id, value, customer_entity_id",
                 "customer_entity_id", false, fill_identifiers, sort_events, err) < 0)
        return CPS_ERR;
    s->identifiers_new += fg_identifier_count(g);
    fg_release_identifiers(g);
    if (copy_all(p, "{ps}.matching", "customer_event_id, customer_entity_id", "customer_entity_id",
                 false, fill_matching, gather_entities, err) < 0 ||
        copy_all(p, "{ps}.entities", "id, first_event_time, first_event_id", "id", false,
                 fill_entities, NULL, err) < 0)
        return CPS_ERR;
    s->entities_new += (int64_t)fg_entity_count(g);
    static const char *const set_aside[] = {RECORD_ASIDES};
    if (p->poison.n &&
        (copy_asides(s, &p->poison, err) < 0 || exec_all(s->d, err, set_aside, 1) < 0))
        return CPS_ERR;

    /* Queue: consume what was read (the events set aside too); events of
       broken expressions wait there. */
    if (copy_rows(s->d, "cps_w_done (id, row_version)", err, &c) < 0)
        return CPS_ERR;
    for (size_t i = 0; i < p->nqueue; i++) {
        copyin_str(c, p->queue_ids[i]);
        copyin_str(c, p->queue_xmins[i]);
        copyin_end_row(c);
    }
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;
    if (copy_rows(s->d, "cps_w_queue", err, &c) < 0)
        return CPS_ERR;
    for (uint32_t i = 0; i < idtab_count(p->held_back); i++) {
        copyin_str(c, idtab_str(p->held_back, i));
        copyin_end_row(c);
    }
    if (db_copy_in_end(c, NULL, err) < 0)
        return CPS_ERR;

    int empty = 0;
    int rc = entities_table_empty(s, &empty, err);
    if (rc == 0 && empty)
        rc = copy_customer_entities(p, err);
    if (rc < 0)
        return rc;
    static const char *const statements[] = {
        "ANALYZE {ps}.entities",
        "DELETE FROM {attr}.customer_entities c "
        "WHERE NOT EXISTS (SELECT 1 FROM {ps}.entities e WHERE e.id = c.id)",
        /* in id order: the indexes on id grow at their right edge */
        "INSERT INTO {attr}.customer_entities AS c (id, created, modified, calculated) "
        "SELECT id, now(), now(), NULL FROM {ps}.entities ORDER BY id "
        "ON CONFLICT (id) DO UPDATE SET modified = now()",
        /* every entity is new or had activity: the calculated ones are marked */
        "INSERT INTO {ps}.entities_to_calculate (customer_entity_id) "
        "SELECT id FROM {attr}.customer_entities WHERE calculated IS NOT NULL ORDER BY id",
        "DELETE FROM {ps}.customer_events_to_process q USING pg_temp.cps_w_done d "
        "WHERE q.customer_event_id = d.id AND q.xmin = d.row_version::xid",
        "INSERT INTO {ps}.customer_events_to_process (customer_event_id) "
        "SELECT id FROM pg_temp.cps_w_queue ON CONFLICT DO NOTHING",
        /* population-wide values and the attribute caches describe the old
           entities: refresh them with the next calculation */
        "UPDATE {attr}.context SET modified = NULL",
        "UPDATE {attr}.cached_attributes_counts_customers_per_attribute SET modified = NULL",
        "UPDATE {attr}.cached_attribute_values_counts SET modified = NULL",
        "DELETE FROM {ps}.state WHERE key = '" STATE_RESTITCH "'",
    };
    /* with customer_entities filled by COPY, its upkeep statements have nothing to do */
    size_t skip = empty ? 4 : 0;
    return exec_all(s->d, err, statements + skip, sizeof statements / sizeof statements[0] - skip);
}

/* An expression failed during the full pass: queue everything instead, so
 * that the batches can find and set aside the failing events. */
static int fall_back_to_batches(stitcher *s, cps_error *err)
{
    static const char *const statements[] = {
        "TRUNCATE {ps}.matching, {ps}.identifiers, {ps}.entities, {ps}.entity_merges, "
        "{ps}.failed_events, {ps}.entities_to_calculate",
        "DELETE FROM {attr}.customer_entities",
        "INSERT INTO {ps}.customer_events_to_process (customer_event_id) "
        "SELECT id FROM {ce}.customer_events ON CONFLICT DO NOTHING",
        "DELETE FROM {ps}.state WHERE key = '" STATE_RESTITCH "'",
    };
    int rc = db_begin(s->d, err);
    if (rc == 0)
        rc = exec_all(s->d, err, statements, sizeof statements / sizeof statements[0]);
    if (rc == 0)
        rc = db_commit(s->d, err);
    if (rc < 0)
        db_rollback(s->d);
    return rc;
}

/* The events set aside into pg_temp.cps_poison of session d, in its
 * transaction: the full pass leaves them out. */
static int load_poison(const full_pass *p, db *d, cps_error *err)
{
    if (p->poison.n == 0)
        return 0;
    db_copy *c = db_copy_in_begin(d, "COPY pg_temp.cps_poison FROM STDIN", err);
    if (!c)
        return CPS_ERR;
    for (size_t i = 0; i < p->poison.n; i++) {
        copyin_str(c, p->poison.v[i].id);
        copyin_end_row(c);
    }
    return db_copy_in_end(c, NULL, err);
}

/* A block range of the events table, or all of it (from = to = 0); without
 * the events set aside (find_poison). */
static char *full_pass_sql(const stitcher *s, const full_pass *p, int64_t from, int64_t to)
{
    strbuf sql = STRBUF_INIT;
    sb_append(&sql, "COPY (");
    sb_append(&sql, s->full_sql_head);
    const char *where = " WHERE";
    if (from > 0) {
        sb_appendf(&sql, "%s e.ctid >= '(%lld,0)'::tid", where, (long long)from);
        where = " AND";
    }
    if (to > 0) {
        sb_appendf(&sql, "%s e.ctid < '(%lld,0)'::tid", where, (long long)to);
        where = " AND";
    }
    if (p->poison.n)
        sb_appendf(&sql,
                   "%s NOT EXISTS (SELECT 1 FROM pg_temp.cps_poison cps_p WHERE cps_p.id = e.id)",
                   where);
    sb_append(&sql, s->full_sql_tail);
    sb_append(&sql, ") TO STDOUT WITH (FORMAT binary)");
    return sb_detach(&sql);
}

/*
 * Reading every event is one backend evaluating the expressions, on one core,
 * while cps uses part of another. A large table is therefore read by two
 * sessions in the same snapshot, each evaluating one half of its blocks (TID
 * range scans; the second half is open-ended, so rows in blocks added since
 * the size was taken are read too); the second half's rows wait in a
 * temporary file until the first half's are in, so the events reach the
 * graph in the table's order either way. CPS_SPLIT_READ_BLOCKS sets the
 * smallest table so read (8 kB blocks; tests lower it).
 *
 * The second session is prepared before the read transaction begins: its
 * copy of the event types (a temp table) must be visible in the snapshot it
 * imports, and a read-only transaction may not create the scan (`scan`:
 * find_poison runs it on both sessions).
 */
static db *second_reader(stitcher *s, int64_t *blocks, bool scan)
{
    const char *env = getenv("CPS_SPLIT_READ_BLOCKS");
    int64_t min_blocks = env && *env ? atoll(env) : 1024;
    *blocks = db_table_blocks(s->d, "{ce}.customer_events");
    if (*blocks < 2 || *blocks < min_blocks)
        return NULL;
    db *d = NULL;
    cps_error why = {0};
    int rc = db_connect(&d, db_config(s->d), &why);
    if (rc == 0)
        rc = load_groups(s, d, &why);
    char *problem = NULL;
    if (rc == 0 && scan && (rc = create_function(s, d, SCAN_FUNCTION, &problem, &why)) == 0 &&
        problem) {
        snprintf(why.msg, sizeof why.msg, "%s", problem);
        rc = CPS_ERR;
    }
    free(problem);
    if (rc < 0) {
        log_warn(STEP, "reading every event on one session: the second failed (%s)", why.msg);
        db_close(d);
        return NULL;
    }
    return d;
}

/* The second session's read transaction, in the snapshot of the first's
 * (which this starts); if it cannot begin, *second is closed and NULL, and
 * the events are read on one session. */
static int share_snapshot(db *first, db **second, cps_error *err)
{
    if (!*second)
        return 0;
    char *snapshot = NULL;
    int rc = db_export_snapshot(first, &snapshot, err);
    if (rc == 0) {
        cps_error why = {0};
        if (db_begin_read_snapshot(*second, snapshot, &why) == 0) {
            free(snapshot);
            return 0;
        }
        log_warn(STEP, "reading every event on one session: the second failed (%s)", why.msg);
    }
    free(snapshot);
    db_close(*second);
    *second = NULL;
    return rc;
}

/* Every event's identifier rows into the graph, on second too if it is
 * given (in the same snapshot, share_snapshot); second is closed. */
static int read_every_event(stitcher *s, full_pass *p, db *second, int64_t blocks, cps_error *err)
{
    p->sessions = 1;
    int rc;
    if (second) {
        int64_t mid = blocks / 2;
        char *first_half = full_pass_sql(s, p, 0, mid), *second_half = full_pass_sql(s, p, mid, 0);
        log_debug(STEP, "reading the events' blocks 0-%lld and %lld-%lld on two sessions",
                  (long long)mid - 1, (long long)mid, (long long)blocks - 1);
        p->sessions = 2;
        rc = db_copy_out_pair(s->d, first_half, second, second_half, full_row, p, NULL, err);
        free(first_half);
        free(second_half);
        db_rollback(second);
        db_close(second);
    } else {
        char *all = full_pass_sql(s, p, 0, 0);
        rc = db_copy_out(s->d, all, full_row, p, NULL, err);
        free(all);
    }
    return rc;
}

/* The rewritten tables in two halves of about equal work. */
#define ANALYZE_FIRST_HALF  "ANALYZE {ps}.matching; ANALYZE {attr}.customer_entities"
#define ANALYZE_SECOND_HALF "ANALYZE {ps}.identifiers; ANALYZE {ps}.entities"

static int analyze_other_half(void *second, cps_error *err)
{
    return db_exec(second, err, ANALYZE_SECOND_HALF, 0, NULL) < 0 ? CPS_ERR : 0;
}

/*
 * The planner needs statistics on the rewritten tables for the next steps'
 * joins right away: autovacuum would analyze them only later. Each ANALYZE
 * is one backend on one core, so when the events were read on two sessions
 * the tables are analyzed on two as well, about half the rows each.
 */
static int analyze_written(stitcher *s, int sessions, cps_error *err)
{
    db *second = NULL;
    cps_error why = {0};
    if (sessions > 1 && db_connect(&second, db_config(s->d), &why) < 0) {
        log_debug(STEP, "analyzing on one session: the second failed (%s)", why.msg);
        second = NULL;
    }
    int n = second ? 2 : 1;
    char *sql =
        db_sql(s->d, second ? ANALYZE_FIRST_HALF : ANALYZE_FIRST_HALF "; " ANALYZE_SECOND_HALF);
    double t0 = now_seconds();
    int rc = db_exec_meanwhile(s->d, sql, second ? analyze_other_half : NULL, second, err);
    free(sql);
    db_close(second);
    if (rc == 0)
        log_debug(STEP, "the rewritten tables analyzed in %.3f s on %d session%s",
                  now_seconds() - t0, n, n > 1 ? "s" : "");
    return rc;
}

/* One failing event from the scan: (event id, config row or NULL, message). */
static int poison_row(void *arg, char **f, size_t *len, int n, cps_error *err)
{
    (void)len;
    full_pass *p = arg;
    if (n != 3 || !f[0] || !f[2])
        return cps_error_set(err, "unexpected row of the scan function (%d fields)", n);
    int row = config_row(p->s, f[1]);
    aside_add(&p->poison, f[0], row, f[2]);
    name_aside(p->s, f[0], row, f[2]);
    return 0;
}

/* The scan over blocks from .. to-1 of the events table, as a COPY. The
 * numbers are block numbers this process computed; COPY takes no
 * parameters. */
static char *scan_sql(int64_t from, int64_t to)
{
    return xasprintf("COPY (SELECT * FROM " SCAN_FUNCTION "(%lld, %lld)) TO STDOUT",
                     (long long)from, (long long)to);
}

/*
 * In the full pass's read transaction, before it reads: the events an
 * expression fails on, found by the scan (create_function), to leave out.
 * With a second session in the same snapshot (share_snapshot), each scans
 * one half of the blocks, split at `mid` as the read splits them, and both
 * load the events found; if the second cannot, the read goes on without it.
 */
static int find_poison(stitcher *s, full_pass *p, db **second, int64_t mid, cps_error *err)
{
    /* measured in the snapshot: every event it sees is in these blocks */
    int64_t end = db_table_blocks(s->d, "{ce}.customer_events");
    int64_t split = *second && mid > 0 && mid < end ? mid : end;
    double t0 = now_seconds();
    int64_t n = 0;
    int rc;
    char *first_part = scan_sql(0, split);
    if (split < end) {
        char *second_part = scan_sql(split, end);
        rc = db_copy_out_pair(s->d, first_part, *second, second_part, poison_row, p, &n, err);
        free(second_part);
        if (rc == 0)
            log_debug(STEP, "the scan: blocks 0-%lld and %lld-%lld on two sessions",
                      (long long)split - 1, (long long)split, (long long)end - 1);
    } else {
        rc = db_copy_out(s->d, first_part, poison_row, p, &n, err);
    }
    free(first_part);
    if (rc < 0)
        return db_interrupted() ? CPS_EINTR : rc;
    log_statement(t0, n, "the stitching expressions over every event (the scan)");
    if ((rc = load_poison(p, s->d, err)) < 0 || !*second)
        return rc;
    cps_error why = {0};
    if (load_poison(p, *second, &why) < 0) {
        log_warn(STEP, "reading every event on one session: the second failed (%s)", why.msg);
        db_close(*second);
        *second = NULL;
    }
    return 0;
}

/* Read every event into p, in one snapshot, on one or two sessions; with
 * `poison`, after finding the events an expression fails on and leaving
 * them out. */
static int read_all(stitcher *s, full_pass *p, int64_t expected, bool poison, cps_error *err)
{
    /* distinct identifiers are usually a third of the events or fewer; the table grows if not */
    if (!(p->g = fg_new(NULL, expected > 4000 ? (size_t)expected / 4 : 1000, err)))
        return CPS_ERR;
    p->held_back = idtab_new(64);
    int64_t blocks = 0;
    db *second = second_reader(s, &blocks, poison);
    /* a signal while connecting had no statement to cancel */
    int rc = db_interrupted() ? CPS_EINTR : db_begin_read(s->d, err);
    if (rc == 0)
        rc = share_snapshot(s->d, &second, err);
    if (rc == 0 && poison)
        rc = find_poison(s, p, &second, blocks / 2, err);
    if (rc == 0) {
        char *sql = db_sql(s->d, "COPY (SELECT customer_event_id, xmin::text "
                                 "FROM {ps}.customer_events_to_process) TO STDOUT");
        rc = db_copy_out(s->d, sql, queue_row, p, NULL, err);
        free(sql);
    }
    if (rc == 0)
        rc = read_every_event(s, p, second, blocks, err);
    else
        db_close(second);
    db_rollback(s->d);
    return rc;
}

/* An error of the full pass's read that some events' payloads may cause. */
static bool data_error(int rc, const cps_error *err)
{
    return rc < 0 && rc != CPS_EINTR && !db_sqlstate_fatal(err->sqlstate);
}

static int from_scratch(stitcher *s, cps_error *err)
{
    int64_t expected = db_estimated_rows(s->d, "{ce}.customer_events");
    log_info(STEP, "stitching every event from scratch");

    full_pass p = {.s = s};
    s->prog = progress_begin(STEP, "events read", (uint64_t)expected);
    double t0 = now_seconds();
    int rc = read_all(s, &p, expected, false, err);
    if (data_error(rc, err) && !s->trap_problem) {
        log_warn(STEP,
                 "a stitching expression failed while reading every event (%s); finding the "
                 "events it fails on to set them aside, then reading the others again",
                 err->msg);
        full_pass_free(&p);
        p.s = s;
        cps_error first = *err;
        rc = create_trap(s, SCAN_FUNCTION, err);
        if (rc == 0 && s->trap_problem) { /* no scan: fall back to batches below */
            *err = first;
            rc = CPS_ERR;
        } else if (rc == 0) {
            rc = read_all(s, &p, expected, true, err);
        }
    }
    if (rc == 0) /* the count is set every 65536 events as they come */
        progress_set(s->prog, fg_event_count(p.g));
    progress_end(s->prog);
    s->prog = NULL;
    if (data_error(rc, err)) {
        log_warn(STEP,
                 "a stitching expression failed while reading every event (%s); "
                 "queueing all events and continuing in batches to set the failing "
                 "ones aside",
                 err->msg);
        full_pass_free(&p);
        if ((rc = fall_back_to_batches(s, err)) < 0)
            return rc;
        return incremental(s, err);
    }
    if (rc < 0) {
        full_pass_free(&p);
        return rc;
    }
    double t1 = now_seconds();
    rc = fg_resolve(p.g, err);
    double t2 = now_seconds();
    size_t graph_bytes = fg_bytes(p.g);
    if (rc == 0)
        log_info(STEP,
                 "%llu events, %u identifiers, %llu entities resolved in %.1f s (%.0f MB in "
                 "memory, %.0f MB of events spilled to a temporary file)",
                 (unsigned long long)fg_event_count(p.g), fg_identifier_count(p.g),
                 (unsigned long long)fg_entity_count(p.g), t2 - t1, (double)graph_bytes / 1e6,
                 (double)fg_spill_bytes(p.g) / 1e6);
    if (rc == 0 && (rc = db_begin(s->d, err)) == 0) {
        rc = write_full(s, &p, err);
        if (rc == 0)
            rc = db_commit(s->d, err);
        if (rc < 0)
            db_rollback(s->d);
    }
    double t3 = now_seconds();
    if (rc == 0) {
        s->events += (int64_t)fg_event_count(p.g);
        s->batches++;
        s->read_s += t1 - t0;
        s->resolve_s += t2 - t1;
        s->write_s += t3 - t2;
        json_t *st = run_step_stats(s->ctx, "stitch");
        json_object_set_new(st, "from_scratch", json_true());
        json_object_set_new(st, "graph_bytes", json_integer((json_int_t)graph_bytes));
        json_object_set_new(st, "spill_bytes", json_integer((json_int_t)fg_spill_bytes(p.g)));
        json_object_set_new(st, "read_sessions", json_integer(p.sessions));
        if (idtab_count(p.held_back))
            log_warn(STEP, "%u events of event types with a broken expression stay queued",
                     idtab_count(p.held_back));
    }
    int sessions = p.sessions;
    full_pass_free(&p);
    if (rc == 0)
        rc = analyze_written(s, sessions, err);
    /* Events queued while the full pass ran are stitched now. */
    return rc == 0 ? incremental(s, err) : rc;
}

/* ---- the step ---------------------------------------------------------- */

int stitch_step(run_ctx *ctx, cps_error *err)
{
    stitcher s = {.ctx = ctx, .d = ctx->d};
    const cps_config *cfg = ctx->cfg;
    s.batch_size = cfg->batch_size > 0 ? cfg->batch_size : DEFAULT_BATCH_EVENTS;
    double t0 = now_seconds();
    int rc = load_config(&s, err);
    if (rc == 0)
        rc = create_temp_tables(&s, err);
    int restitch = 0;
    if (rc == 0)
        rc = schema_state_get(s.d, STATE_RESTITCH, &restitch, err);
    if (rc == 0 && s.nrows == 0)
        log_warn(STEP,
                 "%s.stitching_attributes_config is empty: every event becomes an entity "
                 "of its own",
                 cfg->ps_schema);
    if (rc == 0)
        rc = restitch ? from_scratch(&s, err) : incremental(&s, err);
    progress_end(s.prog);
    double secs = now_seconds() - t0;

    json_t *st = run_step_stats(ctx, "stitch");
    json_object_set_new(st, "events", json_integer(s.events));
    json_object_set_new(st, "batches", json_integer(s.batches));
    json_object_set_new(st, "identifiers_new", json_integer(s.identifiers_new));
    json_object_set_new(st, "entities_new", json_integer(s.entities_new));
    json_object_set_new(st, "merges", json_integer(s.merges));
    json_object_set_new(st, "failed_events", json_integer(s.failed));
    json_object_set_new(st, "values_too_long", json_integer(s.too_long));
    json_object_set_new(st, "read_seconds", json_real(s.read_s));
    json_object_set_new(st, "resolve_seconds", json_real(s.resolve_s));
    json_object_set_new(st, "write_seconds", json_real(s.write_s));
    if (s.too_long)
        log_warn(STEP, "%lld identifier values longer than %d bytes were ignored",
                 (long long)s.too_long, STITCH_MAX_VALUE_BYTES);
    if (s.failed)
        run_problem(ctx, STEP,
                    "%lld events set aside in %s.failed_events (a stitching expression fails on "
                    "them); delete their rows there to queue them again",
                    (long long)s.failed, cfg->ps_schema);
    if (rc == 0 && s.events)
        log_info(STEP,
                 "%lld events stitched in %.1f s (%.0f events/s): %lld new entities, "
                 "%lld merges, %lld new identifiers",
                 (long long)s.events, secs, (double)s.events / (secs > 0 ? secs : 1),
                 (long long)s.entities_new, (long long)s.merges, (long long)s.identifiers_new);
    free_config(&s);
    return rc;
}
