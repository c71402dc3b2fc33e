/*
 * db — connections, statements, transactions, COPY, lock and cancellation.
 *
 * Cancellation follows PostgreSQL's own client tools (fe_utils/cancel.c): the
 * signal handler only records the signal and sends PQcancel for every open
 * connection; the steps check db_interrupted() between batches, and a
 * statement cancelled under them fails with CPS_EINTR.
 */
#include "db.h"

#include "copyfmt.h"
#include "log.h"
#include "pgtime.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CPS's advisory locks: one per schema it writes, keyed on a CPS constant
 * and a hash of the schema's name (the lock is per database already). */
#define LOCK_CLASS "1129336883" /* 'CPS3' */
#define LOCK_KEY   "(" LOCK_CLASS ", pg_catalog.hashtext($1))"
#define MAX_LOCKS  3 /* ps, attr and cdp schemas */

/* COPY FROM STDIN sends its rows in pieces smaller than a socket's buffer
 * (~200 kB): cps formats the next piece while the server parses the last.
 * With pieces larger than the buffer, each send waited for the server to
 * parse most of it, and the server then waited for cps: at 10M events the
 * four loads took 19.4 s (median of 5) with 1 MB pieces, 15.4 s with 64 kB. */
#define COPY_BUFFER_BYTES (1u << 16)
/* A row of COPY OUT has at most as many fields as PostgreSQL allows a
 * query's result columns (MaxTupleAttributeNumber); the attribute step's
 * one pass has a column or two per simple definition. */
#define COPY_MAX_FIELDS 1664
#define MAX_CONNECTIONS 128

struct db {
    PGconn *conn;
    char *locks[MAX_LOCKS]; /* schemas whose advisory lock this session holds */
    int nlocks;
    PGcancel *cancel;
    int slot; /* index in cancel_slots */
    cps_schemas schemas;
    const cps_config *cfg;
};

/* Connections the signal handler may cancel; written only by the main thread. */
static PGcancel *volatile cancel_slots[MAX_CONNECTIONS];
static volatile sig_atomic_t interrupted_by;

static void on_signal(int sig)
{
    if (interrupted_by) {
        /* A second signal: stop at once, the way the user asked twice. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupted_by = sig;
    static const char msg[] = "\ncps: interrupted, cancelling the running statement\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    char errbuf[256];
    for (int i = 0; i < MAX_CONNECTIONS; i++) {
        PGcancel *c = cancel_slots[i];
        if (c)
            PQcancel(c, errbuf, sizeof errbuf);
    }
}

void db_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int db_interrupted(void)
{
    return interrupted_by;
}

void db_interrupt_for_test(int sig)
{
    interrupted_by = sig;
}

static void notice_processor(void *arg, const char *message)
{
    (void)arg;
    size_t n = strlen(message);
    while (n > 0 && message[n - 1] == '\n')
        n--;
    log_debug("DB", "%.*s", (int)n, message);
}

/* connection, transaction state, rollback, resources, object state,
   operator intervention, system and config errors, internal errors */
static const char *const fatal_classes[] = {"08", "25", "40", "53", "55", "57", "58", "F0", "XX"};
/* of those, what operator SQL brings on itself (see db_sqlstate_sql_fault) */
static const char *const sql_fault_class = "55";
static const char *const sql_fault_states[] = {"25006", "53400", "57014"};

bool db_sqlstate_fatal(const char *sqlstate)
{
    if (!sqlstate || !*sqlstate)
        return true;
    for (size_t i = 0; i < sizeof fatal_classes / sizeof fatal_classes[0]; i++)
        if (!strncmp(sqlstate, fatal_classes[i], 2))
            return true;
    return false;
}

bool db_sqlstate_sql_fault(const char *sqlstate)
{
    if (!sqlstate || !*sqlstate)
        return false;
    if (!strncmp(sqlstate, sql_fault_class, 2))
        return true;
    for (size_t i = 0; i < sizeof sql_fault_states / sizeof sql_fault_states[0]; i++)
        if (!strcmp(sqlstate, sql_fault_states[i]))
            return true;
    return false;
}

/* left(sqlstate, 2) IN (the fatal classes), into sb */
static void append_fatal_sql(strbuf *sb, const char *sqlstate)
{
    sb_appendf(sb, "left(%s, 2) IN (", sqlstate);
    for (size_t i = 0; i < sizeof fatal_classes / sizeof fatal_classes[0]; i++)
        sb_appendf(sb, "%s'%s'", i ? ", " : "", fatal_classes[i]);
    sb_append(sb, ")");
}

char *db_sqlstate_fatal_sql(const char *sqlstate)
{
    strbuf sb = STRBUF_INIT;
    sb_append(&sb, "(");
    append_fatal_sql(&sb, sqlstate);
    sb_append(&sb, ")");
    return sb_detach(&sb);
}

char *db_sqlstate_stops_step_sql(const char *sqlstate)
{
    strbuf sb = STRBUF_INIT;
    sb_append(&sb, "(");
    append_fatal_sql(&sb, sqlstate);
    sb_appendf(&sb, " AND left(%s, 2) <> '%s' AND %s NOT IN (", sqlstate, sql_fault_class,
               sqlstate);
    for (size_t i = 0; i < sizeof sql_fault_states / sizeof sql_fault_states[0]; i++)
        sb_appendf(&sb, "%s'%s'", i ? ", " : "", sql_fault_states[i]);
    sb_append(&sb, "))");
    return sb_detach(&sb);
}

bool db_error_stops_step(db *d, const cps_error *err)
{
    if (db_interrupted() || PQstatus(d->conn) != CONNECTION_OK)
        return true;
    return db_sqlstate_fatal(err->sqlstate) && !db_sqlstate_sql_fault(err->sqlstate);
}

char *db_result_message(const PGresult *res)
{
    strbuf sb = STRBUF_INIT;
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    const char *where = PQresultErrorField(res, PG_DIAG_CONTEXT);
    if (primary) {
        sb_append(&sb, primary);
        if (detail)
            sb_appendf(&sb, " (%s)", detail);
        if (hint)
            sb_appendf(&sb, " Hint: %s", hint);
        /* CPS's own functions (triggers, trap functions) are no news */
        if (where && !strstr(where, "PL/pgSQL function cps_") &&
            !strstr(where, "PL/pgSQL function pg_temp_"))
            sb_appendf(&sb, " [context: %s]", where);
    } else {
        const char *m = PQresultErrorMessage(res);
        sb_append(&sb, m && *m ? m : "unknown database error");
        while (sb.len > 0 && sb.buf[sb.len - 1] == '\n')
            sb.buf[--sb.len] = '\0';
    }
    return sb_detach(&sb);
}

/* Fill err from a failed result (or the connection's message) and classify. */
static int fail(db *d, const PGresult *res, cps_error *err)
{
    if (res && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) {
        char *m = db_result_message(res);
        cps_error_set(err, "%s", m);
        free(m);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (err && state)
            snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state);
    } else {
        const char *m = PQerrorMessage(d->conn);
        size_t n = m ? strlen(m) : 0;
        while (n > 0 && m[n - 1] == '\n')
            n--;
        bool lost = PQstatus(d->conn) == CONNECTION_BAD;
        if (n)
            cps_error_set(err, "%.*s", (int)n, m);
        else if (lost)
            cps_error_set(err, "lost the connection to the database");
        else
            cps_error_set(err, "unexpected result from the database: %s",
                          PQresStatus(PQresultStatus(res)));
        if (err && lost)
            snprintf(err->sqlstate, sizeof err->sqlstate, "08006");
    }
    return db_interrupted() ? CPS_EINTR : CPS_ERR;
}

const cps_schemas *db_schemas(const db *d)
{
    return &d->schemas;
}

const cps_config *db_config(const db *d)
{
    return d->cfg;
}

PGconn *db_pg(db *d)
{
    return d->conn;
}

char *db_sql(const db *d, const char *tmpl)
{
    return sql_expand(&d->schemas, tmpl);
}

static char *quote_ident(PGconn *conn, const char *name)
{
    char *q = PQescapeIdentifier(conn, name, strlen(name));
    char *r = xstrdup(q ? q : "\"\"");
    PQfreemem(q);
    return r;
}

static char *quote_literal(PGconn *conn, const char *s)
{
    char *q = PQescapeLiteral(conn, s, strlen(s));
    char *r = xstrdup(q ? q : "''");
    PQfreemem(q);
    return r;
}

static void register_cancel(db *d)
{
    d->cancel = PQgetCancel(d->conn);
    d->slot = -1;
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        if (!cancel_slots[i]) {
            cancel_slots[i] = d->cancel;
            d->slot = i;
            return;
        }
}

/* What to check when a connection fails: where its settings came from. */
static char *connect_hint(const cps_config *cfg)
{
    if (cfg->dsn_key && !strcmp(cfg->dsn_key, "--dsn"))
        return xstrdup("--dsn and the PG* environment variables");
    if (!cfg->origin || !strcmp(cfg->origin, "defaults"))
        return xstrdup("the PG* environment variables, or give a configuration with -c");
    return xasprintf("the \"postgresql\"%s keys of the %s and the PG* environment variables",
                     cfg->dsn_key ? " and \"dsn\"" : "", cfg->origin);
}

int db_connect(db **out, const cps_config *cfg, cps_error *err)
{
    *out = NULL;
    /* Later keywords override earlier ones: the dsn first, then the separate
     * keys, then what CPS insists on. Unset ones fall back to libpq's PG*.
     * A --dsn has already replaced the configuration's keys (config_use_dsn). */
    const struct {
        const char *key, *value;
    } settings[] = {
        {"dbname", cfg->dsn},        {"host", cfg->host},
        {"port", cfg->port},         {"user", cfg->user},
        {"password", cfg->password}, {"dbname", cfg->dbname},
        {"client_encoding", "UTF8"}, {"application_name", "Meiro CPS"},
    };
    const char *keys[sizeof settings / sizeof settings[0] + 1];
    const char *vals[sizeof settings / sizeof settings[0] + 1];
    int n = 0;
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (settings[i].value) {
            keys[n] = settings[i].key;
            vals[n++] = settings[i].value;
        }
    keys[n] = NULL;
    vals[n] = NULL;

    PGconn *conn = PQconnectdbParams(keys, vals, cfg->dsn ? 1 : 0);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        const char *m = conn ? PQerrorMessage(conn) : "out of memory";
        size_t len = strlen(m);
        while (len > 0 && m[len - 1] == '\n')
            len--;
        char *hint = connect_hint(cfg);
        cps_error_set(err, "cannot connect to PostgreSQL: %.*s (check %s)", (int)len, m, hint);
        free(hint);
        PQfinish(conn);
        return CPS_ERR;
    }
    if (PQserverVersion(conn) < 150000) {
        cps_error_set(err, "PostgreSQL 15 or newer is required; the server is version %d.%d",
                      PQserverVersion(conn) / 10000, PQserverVersion(conn) / 100 % 100);
        PQfinish(conn);
        return CPS_ERR;
    }
    PQsetNoticeProcessor(conn, notice_processor, NULL);

    db *d = xcalloc(1, sizeof *d);
    d->conn = conn;
    d->cfg = cfg;
    d->schemas.cdp = quote_ident(conn, cfg->cdp_schema);
    d->schemas.ce = quote_ident(conn, cfg->ce_schema);
    d->schemas.ps = quote_ident(conn, cfg->ps_schema);
    d->schemas.attr = quote_ident(conn, cfg->attr_schema);
    d->schemas.cdp_lit = quote_literal(conn, cfg->cdp_schema);
    d->schemas.ce_lit = quote_literal(conn, cfg->ce_schema);
    d->schemas.ps_lit = quote_literal(conn, cfg->ps_schema);
    d->schemas.attr_lit = quote_literal(conn, cfg->attr_schema);
    register_cancel(d);

    /* Operator SQL sees the CDP schema, then public; CPS's own SQL is qualified. */
    char *path = strcmp(cfg->cdp_schema, "public") ? xasprintf("%s, public", d->schemas.cdp)
                                                   : xstrdup("public");
    const char *params[] = {path};
    int64_t rc = db_exec_raw(d, err,
                             "SELECT pg_catalog.set_config('search_path', $1, false), "
                             "pg_catalog.set_config('DateStyle', 'ISO, YMD', false), "
                             "pg_catalog.set_config('TimeZone', 'UTC', false), "
                             "pg_catalog.set_config('IntervalStyle', 'postgres', false), "
                             "pg_catalog.set_config('extra_float_digits', '1', false), "
                             "pg_catalog.set_config('bytea_output', 'hex', false), "
                             /* compiling CPS's wide generated queries costs more than
                                it saves: measured 0.7 s per attribute batch */
                             "pg_catalog.set_config('jit', 'off', false), "
                             /* a killed CPS's statement stops soon, freeing the lock */
                             "pg_catalog.set_config('client_connection_check_interval', "
                             "'1000', false), "
                             /* CPS's own deletes are not "someone removed entities" */
                             "pg_catalog.set_config('cps.internal', 'on', false)",
                             1, params);
    free(path);
    if (rc < 0) {
        cps_error_prefix(err, "setting up the session");
        db_close(d);
        return CPS_ERR;
    }
    *out = d;
    return 0;
}

/* Release every advisory lock this session holds (db_lock); the list is
 * emptied even when the connection is gone (and the locks with it). */
static void unlock_all(db *d)
{
    for (int i = d->nlocks - 1; i >= 0; i--) {
        if (PQstatus(d->conn) == CONNECTION_OK) {
            const char *params[] = {d->locks[i]};
            PGresult *res = PQexecParams(d->conn, "SELECT pg_catalog.pg_advisory_unlock" LOCK_KEY,
                                         1, NULL, params, NULL, NULL, 0);
            PQclear(res);
        }
        free(d->locks[i]);
    }
    d->nlocks = 0;
}

void db_cancel(db *d)
{
    char errbuf[256];
    if (d && d->cancel)
        PQcancel(d->cancel, errbuf, sizeof errbuf);
}

void db_close(db *d)
{
    if (!d)
        return;
    /* release the locks now: the backend may outlive the connection by a
     * moment, and the next CPS must not find them still taken */
    if (d->nlocks && PQstatus(d->conn) == CONNECTION_OK)
        db_rollback(d);
    unlock_all(d);
    if (d->slot >= 0)
        cancel_slots[d->slot] = NULL;
    PQfreeCancel(d->cancel);
    PQfinish(d->conn);
    schemas_free(&d->schemas);
    free(d);
}

static PGresult *run(db *d, const char *sql, int nparams, const char *const *params)
{
    if (nparams == 0)
        return PQexec(d->conn, sql);
    return PQexecParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

/* A statement's result as rows affected (>= 0), or its error; clears res. */
static int64_t rows_affected(db *d, PGresult *res, cps_error *err)
{
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = fail(d, res, err);
        PQclear(res);
        return rc;
    }
    const char *t = PQcmdTuples(res);
    int64_t n = (t && *t) ? strtoll(t, NULL, 10) : 0;
    PQclear(res);
    return n;
}

int64_t db_exec_raw(db *d, cps_error *err, const char *sql, int nparams, const char *const *params)
{
    return rows_affected(d, run(d, sql, nparams, params), err);
}

int64_t db_exec_single(db *d, cps_error *err, const char *sql)
{
    return rows_affected(d, PQexecParams(d->conn, sql, 0, NULL, NULL, NULL, NULL, 0), err);
}

int64_t db_exec(db *d, cps_error *err, const char *tmpl, int nparams, const char *const *params)
{
    char *sql = db_sql(d, tmpl);
    int64_t rc = db_exec_raw(d, err, sql, nparams, params);
    free(sql);
    return rc;
}

PGresult *db_query_raw(db *d, cps_error *err, const char *sql, int nparams,
                       const char *const *params)
{
    /* always one statement: queries may be operator-written (context) */
    PGresult *res = PQexecParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
        cps_error_set(err, "the query returned no result set (%s)",
                      st == PGRES_EMPTY_QUERY ? "it is empty or only a comment"
                                              : "it is a command, not a SELECT");
        if (err)
            snprintf(err->sqlstate, sizeof err->sqlstate, "%s", DB_NO_RESULT_SET);
        PQclear(res);
        return NULL;
    }
    if (st != PGRES_TUPLES_OK) {
        fail(d, res, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

PGresult *db_query(db *d, cps_error *err, const char *tmpl, int nparams, const char *const *params)
{
    char *sql = db_sql(d, tmpl);
    PGresult *res = db_query_raw(d, err, sql, nparams, params);
    free(sql);
    return res;
}

int db_query_value(db *d, cps_error *err, char **value, int *found, const char *tmpl, int nparams,
                   const char *const *params)
{
    *value = NULL;
    if (found)
        *found = 0;
    PGresult *res = db_query(d, err, tmpl, nparams, params);
    if (!res)
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    if (PQntuples(res) > 0 && PQnfields(res) > 0) {
        if (found)
            *found = 1;
        if (!PQgetisnull(res, 0, 0))
            *value = xstrdup(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return 0;
}

PGresult *db_describe(db *d, const char *sql, cps_error *err)
{
    PGresult *res = PQprepare(d->conn, "", sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(d, res, err);
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    res = PQdescribePrepared(d->conn, "");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(d, res, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

int db_columns(db *d, const char *table_tmpl, char ***columns, size_t *n, cps_error *err)
{
    char *table = db_sql(d, table_tmpl);
    const char *params[] = {table};
    PGresult *res = db_query(d, err,
                             "SELECT attname FROM pg_catalog.pg_attribute "
                             "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped "
                             "ORDER BY attnum",
                             1, params);
    free(table);
    *columns = NULL;
    *n = 0;
    if (!res)
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    *n = (size_t)PQntuples(res);
    *columns = xcalloc(*n + 1, sizeof **columns);
    for (size_t i = 0; i < *n; i++)
        (*columns)[i] = xstrdup(PQgetvalue(res, (int)i, 0));
    PQclear(res);
    return 0;
}

void db_columns_free(char **columns)
{
    for (size_t i = 0; columns && columns[i]; i++)
        free(columns[i]);
    free(columns);
}

int db_prefer_index_lookups(db *d, cps_error *err)
{
    int64_t rc = db_exec_raw(d, err,
                             "SELECT pg_catalog.set_config('enable_hashjoin', 'off', true), "
                             "pg_catalog.set_config('enable_mergejoin', 'off', true)",
                             0, NULL);
    return rc < 0 ? (int)rc : 0;
}

/* A number about a table (template name) from a query taking its name as $1; 0 if none. */
static int64_t table_number(db *d, const char *table_tmpl, const char *sql)
{
    char *table = db_sql(d, table_tmpl);
    const char *params[] = {table};
    char *v = NULL;
    cps_error ignored;
    db_query_value(d, &ignored, &v, NULL, sql, 1, params);
    int64_t n = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    free(table);
    return n;
}

int64_t db_estimated_rows(db *d, const char *table_tmpl)
{
    return table_number(d, table_tmpl,
                        "SELECT greatest(reltuples, 0)::bigint FROM pg_catalog.pg_class "
                        "WHERE oid = $1::regclass");
}

int64_t db_table_blocks(db *d, const char *table_tmpl)
{
    return table_number(d, table_tmpl,
                        "SELECT pg_catalog.pg_relation_size(c.oid) / "
                        "pg_catalog.current_setting('block_size')::int8 "
                        "FROM pg_catalog.pg_class c "
                        "WHERE c.oid = pg_catalog.to_regclass($1) AND c.relkind = 'r'");
}

static int simple(db *d, cps_error *err, const char *sql)
{
    int64_t rc = db_exec_raw(d, err, sql, 0, NULL);
    return rc < 0 ? (int)rc : 0;
}

int db_begin(db *d, cps_error *err)
{
    return simple(d, err, "BEGIN ISOLATION LEVEL READ COMMITTED");
}

int db_begin_read(db *d, cps_error *err)
{
    return simple(d, err, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

int db_export_snapshot(db *d, char **snapshot, cps_error *err)
{
    int found = 0;
    int rc =
        db_query_value(d, err, snapshot, &found, "SELECT pg_catalog.pg_export_snapshot()", 0, NULL);
    return rc < 0 ? rc : 0;
}

int db_begin_read_snapshot(db *d, const char *snapshot, cps_error *err)
{
    int rc = db_begin_read(d, err);
    if (rc < 0)
        return rc;
    /* a utility statement takes no parameters; the id is the server's own, quoted */
    char *lit = quote_literal(d->conn, snapshot);
    char *sql = xasprintf("SET TRANSACTION SNAPSHOT %s", lit);
    rc = simple(d, err, sql);
    free(sql);
    free(lit);
    if (rc < 0)
        db_rollback(d);
    return rc;
}

int db_commit(db *d, cps_error *err)
{
    return simple(d, err, "COMMIT");
}

void db_rollback(db *d)
{
    if (PQtransactionStatus(d->conn) == PQTRANS_IDLE)
        return;
    PGresult *res = PQexec(d->conn, "ROLLBACK");
    PQclear(res);
}

int db_savepoint(db *d, cps_error *err)
{
    return simple(d, err, "SAVEPOINT cps_sp");
}

int db_release_savepoint(db *d, cps_error *err)
{
    return simple(d, err, "RELEASE SAVEPOINT cps_sp");
}

int db_rollback_to_savepoint(db *d, cps_error *err)
{
    return simple(d, err, "ROLLBACK TO SAVEPOINT cps_sp");
}

/* After an error before or in the middle of a COPY OUT (sent, its start
 * awaited or not): cancel it and drain what is left. */
static void abandon_copy_out(db *d)
{
    db_cancel(d);
    PGresult *res;
    while ((res = PQgetResult(d->conn)) != NULL) {
        bool copying = PQresultStatus(res) == PGRES_COPY_OUT;
        PQclear(res);
        if (!copying)
            continue;
        /* in COPY OUT, PQgetResult gives the same status until the data is read */
        char *buf;
        int n;
        while ((n = PQgetCopyData(d->conn, &buf, 0)) > 0)
            PQfreemem(buf);
        if (n == -2) /* the connection failed: nothing more will come */
            break;
    }
}

/* The end of a COPY OUT (its last row read, or an error): its final status. */
static int copy_out_finish(db *d, cps_error *err)
{
    PGresult *res = PQgetResult(d->conn);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail(d, res, err);
    PQclear(res);
    while ((res = PQgetResult(d->conn)) != NULL)
        PQclear(res);
    return rc;
}

/* A COPY OUT's format, as the statement asked for it (text or binary). */
typedef struct copy_format {
    bool binary;
    bool header; /* binary: the header is still to come */
} copy_format;

static copy_format format_of(const PGresult *res)
{
    bool binary = PQbinaryTuples(res) == 1;
    return (copy_format){.binary = binary, .header = binary};
}

/* One message of a COPY OUT (row[len] is writable) to fn: a row, in either
 * format (a text row's newline is optional), or the binary trailer. */
static int copy_out_row(copy_format *f, char *row, size_t len, db_row_fn fn, void *ctx,
                        int64_t *count, cps_error *err)
{
    char *fields[COPY_MAX_FIELDS];
    size_t lens[COPY_MAX_FIELDS];
    int nf = f->binary ? copy_bin_decode_row(row, len, &f->header, fields, lens, COPY_MAX_FIELDS)
                       : copy_decode_row(row, len, fields, lens, COPY_MAX_FIELDS);
    if (nf < 0)
        return cps_error_set(err, "COPY row with more than %d fields%s", COPY_MAX_FIELDS,
                             f->binary ? ", or not in the binary format" : "");
    if (f->binary && nf == 0)
        return 0; /* the trailer */
    ++*count;
    return fn(ctx, fields, lens, nf, err);
}

/* The rows of a started COPY OUT, to its end. */
static int copy_out_rows(db *d, copy_format *f, db_row_fn fn, void *ctx, int64_t *count,
                         cps_error *err)
{
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(d->conn, &buf, 0);
        if (n < 0)
            return copy_out_finish(d, err);
        int rc = copy_out_row(f, buf, (size_t)n, fn, ctx, count, err);
        PQfreemem(buf);
        if (rc != 0) {
            abandon_copy_out(d);
            return rc;
        }
    }
}

int db_copy_out(db *d, const char *sql, db_row_fn fn, void *ctx, int64_t *nrows, cps_error *err)
{
    if (nrows)
        *nrows = 0;
    PGresult *res = PQexec(d->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        int rc = fail(d, res, err);
        PQclear(res);
        return rc;
    }
    copy_format f = format_of(res);
    PQclear(res);
    int64_t count = 0;
    int rc = copy_out_rows(d, &f, fn, ctx, &count, err);
    if (nrows)
        *nrows = count;
    return rc;
}

/* ---- two COPY OUTs at once ---------------------------------------------- */

/* A COPY OUT sent (send_copy_out) is started once its first response has
 * come (await_copy_out). The server sends that response when it has
 * produced output enough to fill its buffer, or all of it: a statement that
 * returns its rows only at its end (a function's RETURN QUERY) starts then. */
static int send_copy_out(db *d, const char *sql, cps_error *err)
{
    return PQsendQuery(d->conn, sql) ? 0 : fail(d, NULL, err);
}

static int await_copy_out(db *d, copy_format *f, cps_error *err)
{
    PGresult *res = PQgetResult(d->conn);
    int rc = PQresultStatus(res) == PGRES_COPY_OUT ? 0 : fail(d, res, err);
    *f = format_of(res);
    PQclear(res);
    if (rc < 0)
        while ((res = PQgetResult(d->conn)) != NULL)
            PQclear(res);
    return rc;
}

#define HOLD_BUFFER_BYTES (1u << 20)

/* The second statement's rows that arrive before the first one ends, each
 * as its length (4 bytes, native order) and its bytes as they arrived. */
typedef struct held_rows {
    int fd; /* an unlinked temporary file, -1 until the first row */
    strbuf buf;
    uint64_t bytes;     /* written to fd */
    bool started;       /* the second COPY's start has come (await_copy_out) */
    copy_format format; /* its format, once started */
    bool done;          /* the second COPY has ended */
} held_rows;

static int hold_flush(held_rows *h, cps_error *err)
{
    if (write_all(h->fd, h->buf.buf, h->buf.len) < 0)
        return cps_error_set(err,
                             "cannot write the rows read ahead to a temporary file in %s: %s "
                             "(set TMPDIR to a directory with room)",
                             temp_dir(NULL), strerror(errno));
    h->bytes += h->buf.len;
    sb_reset(&h->buf);
    return 0;
}

/* Take every row of the second COPY that has arrived, without waiting. */
static int hold_available(db *d, held_rows *h, cps_error *err)
{
    if (h->done)
        return 0;
    if (!PQconsumeInput(d->conn)) {
        h->done = true;
        return copy_out_finish(d, err);
    }
    if (!h->started) {
        if (PQisBusy(d->conn))
            return 0;
        h->started = true;
        int rc = await_copy_out(d, &h->format, err); /* does not wait */
        if (rc < 0) {
            h->done = true;
            return rc;
        }
    }
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(d->conn, &buf, 1);
        if (n == 0)
            return 0;
        if (n < 0) {
            h->done = true;
            return copy_out_finish(d, err);
        }
        if (h->fd < 0 && (h->fd = temp_file(NULL, "the file of rows read ahead", err)) < 0) {
            PQfreemem(buf);
            return CPS_ERR;
        }
        uint32_t len = (uint32_t)n;
        sb_appendn(&h->buf, (const char *)&len, sizeof len);
        sb_appendn(&h->buf, buf, (size_t)n);
        PQfreemem(buf);
        if (h->buf.len >= HOLD_BUFFER_BYTES && hold_flush(h, err) < 0)
            return CPS_ERR;
    }
}

/* The held rows, in order, to fn. */
static int replay_held(held_rows *h, copy_format *f, db_row_fn fn, void *ctx, int64_t *count,
                       cps_error *err)
{
    if (h->fd < 0)
        return 0;
    if (hold_flush(h, err) < 0)
        return CPS_ERR;
    if (lseek(h->fd, 0, SEEK_SET) < 0)
        return cps_error_set(err, "cannot reread the rows read ahead: %s", strerror(errno));
    size_t cap = HOLD_BUFFER_BYTES, have = 0;
    char *chunk = xmalloc(cap + 1);
    uint64_t left = h->bytes;
    int rc = 0;
    while (rc == 0 && left > 0) {
        if (have == cap) {
            cap *= 2; /* a row longer than the buffer */
            chunk = xrealloc(chunk, cap + 1);
        }
        ssize_t n = read(h->fd, chunk + have, cap - have < left ? cap - have : (size_t)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = cps_error_set(err, "cannot reread the rows read ahead: %s",
                               n < 0 ? strerror(errno) : "the file is shorter than written");
            break;
        }
        left -= (uint64_t)n;
        have += (size_t)n;
        size_t start = 0;
        while (rc == 0 && have - start >= sizeof(uint32_t)) {
            uint32_t len;
            memcpy(&len, chunk + start, sizeof len);
            if (have - start - sizeof len < len)
                break; /* the rest of the row comes with the next read */
            char *row = chunk + start + sizeof len;
            char after = row[len]; /* the next row's length, or the NUL slot */
            rc = copy_out_row(f, row, len, fn, ctx, count, err);
            row[len] = after;
            start += sizeof len + len;
        }
        memmove(chunk, chunk + start, have - start);
        have -= start;
    }
    if (rc == 0 && have > 0)
        rc = cps_error_set(err, "the rows read ahead end in the middle of a row");
    free(chunk);
    return rc;
}

/* Wait until one of the two sessions has something to read. */
static int wait_readable(db *a, db *b, bool b_open, cps_error *err)
{
    struct pollfd fds[2] = {{.fd = PQsocket(a->conn), .events = POLLIN},
                            {.fd = PQsocket(b->conn), .events = POLLIN}};
    while (poll(fds, b_open ? 2 : 1, -1) < 0) {
        if (errno != EINTR)
            return cps_error_set(err, "waiting for the database: %s", strerror(errno));
        if (db_interrupted())
            break; /* the cancellation is on its way: the next read sees it */
    }
    return PQconsumeInput(a->conn) ? 0 : fail(a, NULL, err);
}

int db_copy_out_pair(db *first, const char *sql1, db *second, const char *sql2, db_row_fn fn,
                     void *ctx, int64_t *nrows, cps_error *err)
{
    if (nrows)
        *nrows = 0;
    /* Both are sent before either's start is awaited, so that they run at
     * once however late the first starts; meanwhile the second's rows are
     * held, and its error ends both. */
    copy_format f1;
    int rc = send_copy_out(first, sql1, err);
    if (rc < 0)
        return rc;
    if ((rc = send_copy_out(second, sql2, err)) < 0) {
        abandon_copy_out(first);
        return rc;
    }
    held_rows h = {.fd = -1};
    bool first_open = true;
    for (;;) {
        if ((rc = hold_available(second, &h, err)) < 0)
            break;
        if (!PQisBusy(first->conn)) {
            if ((rc = await_copy_out(first, &f1, err)) < 0) /* its results are drained */
                first_open = false;
            break;
        }
        if ((rc = wait_readable(first, second, !h.done, err)) < 0)
            break;
    }
    int64_t count = 0;
    unsigned since_check = 0;
    while (rc == 0) {
        char *buf = NULL;
        int n = PQgetCopyData(first->conn, &buf, 1);
        if (n < 0) {
            first_open = false;
            rc = copy_out_finish(first, err);
            break;
        }
        if (n == 0) { /* nothing buffered: take the second's rows, then wait */
            if ((rc = hold_available(second, &h, err)) == 0)
                rc = wait_readable(first, second, !h.done, err);
            continue;
        }
        rc = copy_out_row(&f1, buf, (size_t)n, fn, ctx, &count, err);
        PQfreemem(buf);
        /* the second session must not stall on a full socket while the first's rows are used */
        if (rc == 0 && ++since_check == 256) {
            since_check = 0;
            rc = hold_available(second, &h, err);
        }
    }
    if (rc != 0 && first_open)
        abandon_copy_out(first);
    if (rc == 0 && !h.started) {
        h.started = true;
        if ((rc = await_copy_out(second, &h.format, err)) < 0)
            h.done = true; /* its results are drained */
    }
    if (rc == 0)
        rc = replay_held(&h, &h.format, fn, ctx, &count, err);
    if (rc == 0 && !h.done) {
        h.done = true; /* however copy_out_rows ends, it ends the COPY */
        rc = copy_out_rows(second, &h.format, fn, ctx, &count, err);
    }
    if (!h.done)
        abandon_copy_out(second);
    if (h.fd >= 0) {
        log_debug("DB", "%.0f MB of the second statement's rows were read ahead into a file",
                  (double)h.bytes / 1e6);
        close(h.fd);
    }
    sb_free(&h.buf);
    if (nrows)
        *nrows = count;
    return rc;
}

struct db_copy {
    db *d;
    strbuf buf;
    bool binary;
    int nfields; /* fields written in the current row */
    size_t row;  /* binary: where the current row's field count goes */
    int failed;
    char *error;
};

static db_copy *copy_in_begin(db *d, const char *sql, bool binary, cps_error *err)
{
    PGresult *res = PQexec(d->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        fail(d, res, err);
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    db_copy *c = xcalloc(1, sizeof *c);
    c->d = d;
    c->binary = binary;
    sb_reserve(&c->buf, COPY_BUFFER_BYTES + 4096);
    if (binary)
        copy_bin_header(&c->buf);
    return c;
}

db_copy *db_copy_in_begin(db *d, const char *sql, cps_error *err)
{
    return copy_in_begin(d, sql, false, err);
}

db_copy *db_copy_in_begin_binary(db *d, const char *sql, cps_error *err)
{
    return copy_in_begin(d, sql, true, err);
}

static void flush(db_copy *c)
{
    if (c->buf.len == 0 || c->failed)
        return;
    if (PQputCopyData(c->d->conn, c->buf.buf, (int)c->buf.len) != 1) {
        c->failed = 1;
        c->error = xstrdup(PQerrorMessage(c->d->conn));
    }
    sb_reset(&c->buf);
}

/* Before a field: the separator (text) or the row's header (binary). */
static void next_field(db_copy *c)
{
    if (c->nfields++ == 0) {
        if (c->binary)
            c->row = copy_bin_row(&c->buf);
    } else if (!c->binary)
        sb_appendc(&c->buf, '\t');
}

void copyin_field(db_copy *c, const char *s, size_t len)
{
    next_field(c);
    if (c->binary)
        copy_bin_field(&c->buf, s, len);
    else
        copy_encode_field(&c->buf, s, len);
}

void copyin_str(db_copy *c, const char *s)
{
    copyin_field(c, s, s ? strlen(s) : 0);
}

void copyin_int(db_copy *c, int64_t v)
{
    next_field(c);
    if (c->binary) {
        copy_bin_int8(&c->buf, v);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    sb_appendn(&c->buf, tmp, (size_t)n);
}

void copyin_timestamp(db_copy *c, int64_t t)
{
    next_field(c);
    char text[40];
    if (c->binary)
        copy_bin_timestamp(&c->buf, t);
    else if (pgtime_format(t, text) == 0)
        copy_encode_field(&c->buf, text, strlen(text));
    else
        copy_encode_field(&c->buf, NULL, 0);
}

void copyin_end_row(db_copy *c)
{
    if (c->binary)
        copy_bin_row_end(&c->buf, c->row, c->nfields);
    else
        sb_appendc(&c->buf, '\n');
    c->nfields = 0;
    if (c->buf.len >= COPY_BUFFER_BYTES)
        flush(c);
}

int db_copy_in_end(db_copy *c, int64_t *nrows, cps_error *err)
{
    if (c->binary)
        copy_bin_trailer(&c->buf);
    flush(c);
    db *d = c->d;
    int rc = 0;
    if (PQputCopyEnd(d->conn, c->failed ? "cps: sending COPY data failed" : NULL) != 1)
        rc = fail(d, NULL, err);
    PGresult *res = PQgetResult(d->conn);
    if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fail(d, res, err);
    else if (rc == 0 && c->failed)
        rc = cps_error_set(err, "sending COPY data failed: %s", c->error);
    if (rc == 0 && nrows) {
        const char *t = PQcmdTuples(res);
        *nrows = (t && *t) ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(res);
    while ((res = PQgetResult(d->conn)) != NULL)
        PQclear(res);
    sb_free(&c->buf);
    free(c->error);
    free(c);
    return rc;
}

void db_copy_in_abort(db_copy *c)
{
    if (!c)
        return;
    PQputCopyEnd(c->d->conn, "cps: aborted");
    PGresult *res;
    while ((res = PQgetResult(c->d->conn)) != NULL)
        PQclear(res);
    sb_free(&c->buf);
    free(c->error);
    free(c);
}

/* The rows of pg_locks that are CPS's lock on schema $1 in this database. */
#define LOCK_ROWS                                                                                  \
    "FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.database = "     \
    "(SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "      \
    "AND l.classid = " LOCK_CLASS "::oid AND l.objid = pg_catalog.hashtext($1)::oid "              \
    "AND l.objsubid = 2"

/* The configuration keys that name `schema` among the written ones, for
 * messages: "ps_schema", or "ps_schema and cdp_schema" (caller frees). */
static char *schema_keys(const cps_config *cfg, const char *schema)
{
    const char *names[MAX_LOCKS] = {cfg->ps_schema, cfg->attr_schema, cfg->cdp_schema};
    static const char *const keys[MAX_LOCKS] = {"ps_schema", "attr_schema", "cdp_schema"};
    strbuf sb = STRBUF_INIT;
    for (int i = 0; i < MAX_LOCKS; i++)
        if (!strcmp(names[i], schema))
            sb_appendf(&sb, "%s%s", sb.len ? " and " : "", keys[i]);
    return sb_detach(&sb);
}

int db_lock(db *d, cps_error *err)
{
    const cps_config *cfg = d->cfg;
    /* ce is only read; the configuration may name one schema twice (ps = cdp) */
    const char *schemas[MAX_LOCKS] = {cfg->ps_schema, cfg->attr_schema, cfg->cdp_schema};
    for (int i = 0; i < MAX_LOCKS; i++) {
        if (db_holds_lock(d, schemas[i]))
            continue;
        const char *params[] = {schemas[i]};
        char *got = NULL;
        int rc = db_query_value(d, err, &got, NULL,
                                "SELECT pg_catalog.pg_try_advisory_lock" LOCK_KEY, 1, params);
        int locked = rc == 0 && got && !strcmp(got, "t");
        free(got);
        if (locked) {
            d->locks[d->nlocks++] = xstrdup(schemas[i]);
            continue;
        }
        if (rc == 0) {
            char *holder = NULL;
            cps_error ignored;
            db_lock_holder(d, schemas[i], &holder, &ignored);
            char *keys = schema_keys(cfg, schemas[i]);
            cps_error_set(err,
                          "another CPS (%s) is working on schema %s (this configuration's %s); "
                          "only one CPS at a time may write a schema: wait for it to finish, or "
                          "stop it first",
                          holder ? holder : "connection unknown", schemas[i], keys);
            free(keys);
            free(holder);
            rc = CPS_ELOCKED;
        }
        /* all or nothing: give back the locks already taken */
        unlock_all(d);
        return rc;
    }
    return 0;
}

int db_lock_holder(db *d, const char *schema, char **holder, cps_error *err)
{
    const char *params[] = {schema};
    *holder = NULL;
    return db_query_value(
        d, err, holder, NULL,
        "SELECT 'pid ' || l.pid || coalesce(', running since ' || "
        "(SELECT pg_catalog.to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') "
        "FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.pid) || ' UTC', '') " LOCK_ROWS
        " AND l.pid <> pg_catalog.pg_backend_pid() ORDER BY l.pid LIMIT 1",
        1, params);
}

bool db_holds_lock(const db *d, const char *schema)
{
    for (int i = 0; i < d->nlocks; i++)
        if (!strcmp(d->locks[i], schema))
            return true;
    return false;
}

struct db_indexes {
    char *table; /* qualified, quoted */
    int n;
    char **create; /* statements that build each again, in the order dropped */
    char **lead;   /* each index's first key column (NULL: not an index) */
    bool keys_kept;
};

/* Drop one index or constraint (drop, freed) and remember how to build it
 * again (create, kept in ix; freed if the drop fails). */
static int drop_saving(db *d, db_indexes *ix, char *drop, char *create, const char *lead,
                       cps_error *err)
{
    int rc = db_exec_raw(d, err, drop, 0, NULL) < 0 ? (db_interrupted() ? CPS_EINTR : CPS_ERR) : 0;
    free(drop);
    if (rc == 0) {
        ix->lead[ix->n] = lead ? xstrdup(lead) : NULL;
        ix->create[ix->n++] = create;
    } else {
        free(create);
    }
    return rc;
}

static int drop_constraint(db *d, db_indexes *ix, const char *table, const char *name,
                           const char *definition, const char *lead, cps_error *err)
{
    return drop_saving(d, ix, xasprintf("ALTER TABLE %s DROP CONSTRAINT %s", table, name),
                       xasprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", table, name, definition),
                       lead, err);
}

int db_indexes_drop(db *d, const char *table_tmpl, db_indexes **out, cps_error *err)
{
    *out = NULL;
    char *table = db_sql(d, table_tmpl);
    const char *params[] = {table};
    /* (in descending name order: they are built again in reverse) */
    PGresult *res = db_query(
        d, err,
        "SELECT i.indexrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid), "
        "pg_catalog.quote_ident(c.conname), pg_catalog.pg_get_constraintdef(c.oid), "
        "pg_catalog.pg_get_indexdef(i.indexrelid, 1, false) "
        "FROM pg_catalog.pg_index i LEFT JOIN pg_catalog.pg_constraint c "
        "ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u') "
        "WHERE i.indrelid = $1::regclass ORDER BY 1 DESC",
        1, params);
    /* foreign keys referencing the table depend on its primary key or unique
       constraints: they go first and come back last, if cps may alter their
       tables (it owns them); else the keys stay */
    PGresult *refs =
        res ? db_query(d, err,
                       "SELECT c.conrelid::regclass::text, pg_catalog.quote_ident(c.conname), "
                       "pg_catalog.pg_get_constraintdef(c.oid), "
                       "pg_catalog.pg_has_role(r.relowner, 'USAGE') "
                       "FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r "
                       "ON r.oid = c.conrelid "
                       "WHERE c.confrelid = $1::regclass AND c.contype = 'f' ORDER BY 1, 2",
                       1, params)
            : NULL;
    if (!refs) {
        PQclear(res);
        free(table);
        return db_interrupted() ? CPS_EINTR : CPS_ERR;
    }
    db_indexes *ix = xcalloc(1, sizeof *ix);
    ix->table = table;
    ix->create = xcalloc((size_t)PQntuples(res) + (size_t)PQntuples(refs) + 1, sizeof *ix->create);
    ix->lead = xcalloc((size_t)PQntuples(res) + (size_t)PQntuples(refs) + 1, sizeof *ix->lead);
    for (int i = 0; i < PQntuples(refs); i++)
        if (PQgetvalue(refs, i, 3)[0] != 't')
            ix->keys_kept = true;
    int rc = 0;
    for (int i = 0; i < PQntuples(refs) && !ix->keys_kept && rc == 0; i++)
        rc = drop_constraint(d, ix, PQgetvalue(refs, i, 0), PQgetvalue(refs, i, 1),
                             PQgetvalue(refs, i, 2), NULL, err);
    PQclear(refs);
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        if (PQgetisnull(res, i, 2))
            rc = drop_saving(d, ix, xasprintf("DROP INDEX %s", PQgetvalue(res, i, 0)),
                             xstrdup(PQgetvalue(res, i, 1)), PQgetvalue(res, i, 4), err);
        else if (!ix->keys_kept)
            rc = drop_constraint(d, ix, table, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                                 PQgetvalue(res, i, 4), err);
    }
    PQclear(res);
    *out = ix;
    return rc;
}

bool db_indexes_keys_kept(const db_indexes *ix)
{
    return ix && ix->keys_kept;
}

void db_indexes_free(db_indexes *ix)
{
    if (!ix)
        return;
    for (int i = 0; i < ix->n; i++) {
        free(ix->create[i]);
        free(ix->lead[i]);
    }
    free(ix->create);
    free(ix->lead);
    free(ix->table);
    free(ix);
}

int db_exec_meanwhile(db *d, const char *sql, db_task meanwhile, void *arg, cps_error *err)
{
    if (!PQsendQuery(d->conn, sql))
        return fail(d, NULL, err);
    cps_error why = {0};
    int task_rc = meanwhile ? meanwhile(arg, &why) : 0, rc = 0;
    if (task_rc < 0)
        db_cancel(d);
    PGresult *res;
    while ((res = PQgetResult(d->conn))) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = fail(d, res, err);
        PQclear(res);
    }
    if (task_rc < 0) { /* the client's failure, not the cancelled statement's */
        if (err)
            *err = why;
        return task_rc;
    }
    return rc;
}

int db_indexes_restore(db *d, db_indexes *ix, const char *sorted_by, db_task meanwhile, void *arg,
                       cps_error *err)
{
    if (ix->n == 0) {
        db_indexes_free(ix);
        return meanwhile ? meanwhile(arg, err) : 0;
    }
    /* One round trip for every statement; the client's task runs until the
     * results. An index whose first column is the one the rows went in by
     * sorts already sorted rows: one backend merely checks the order, while
     * parallel workers would each sort a share and the leader merge them
     * again, more slowly. */
    strbuf sql = STRBUF_INIT;
    for (int i = ix->n - 1; i >= 0; i--) { /* in reverse: keys before what depends on them */
        bool sorted = sorted_by && ix->lead[i] && strcmp(ix->lead[i], sorted_by) == 0;
        sb_appendf(&sql, "%s%s%s%s", i < ix->n - 1 ? ";\n" : "",
                   sorted ? "SET LOCAL max_parallel_maintenance_workers = 0;\n" : "", ix->create[i],
                   sorted ? ";\nSET LOCAL max_parallel_maintenance_workers TO DEFAULT" : "");
    }
    db_indexes_free(ix);
    int rc = db_exec_meanwhile(d, sb_str(&sql), meanwhile, arg, err);
    sb_free(&sql);
    return rc;
}
