/*
 * db — CPS's only door to PostgreSQL: connections, statements, transactions,
 * COPY in both directions, the advisory lock, and cancellation on signals.
 *
 * Every connection sets application_name 'Meiro CPS', a fixed search_path,
 * DateStyle ISO, TimeZone UTC and UTF8, and checks for PostgreSQL 15+.
 * SQL passed to the functions taking `tmpl` is a template over the schema
 * placeholders of sqltext.h; the *_raw variants take finished SQL (used for
 * operator-written expressions). Values always travel as text parameters.
 *
 * Ownership: db_connect returns a handle freed by db_close (NULL is fine).
 * PGresults returned to the caller are freed with PQclear. A db_copy is freed
 * by db_copy_in_end or db_copy_in_abort. Strings passed in are borrowed.
 * Errors return CPS_ERR (or CPS_EINTR once a SIGINT/SIGTERM arrived) and fill
 * err, including its SQLSTATE for database errors.
 */
#ifndef CPS_DB_H
#define CPS_DB_H

#include "config.h"
#include "sqltext.h"
#include "util.h"

#include <libpq-fe.h>
#include <stdint.h>

typedef struct db db;

int db_connect(db **out, const cps_config *cfg, cps_error *err);
void db_close(db *d);
/* Ask the server to cancel d's running statement, if any (any thread may). */
void db_cancel(db *d);
PGconn *db_pg(db *d);
const cps_schemas *db_schemas(const db *d);
/* The configuration the connection was made from (borrowed). */
const cps_config *db_config(const db *d);
/* Expand a schema template (caller frees). */
char *db_sql(const db *d, const char *tmpl);

/* SQL for the database's local time now, as a `timestamp without time zone`:
 * the wall clock of its own TimeZone setting (postgresql.conf, ALTER DATABASE
 * or ALTER ROLE ... SET timezone), which now()::timestamp gives in any other
 * session. CPS's sessions run in UTC; the `modified` columns of the caches and
 * of context are written and read with this, so that they mean what the CDP's
 * other sessions (and an operator in psql) take them to mean. */
#define DB_LOCAL_NOW                                                                               \
    "pg_catalog.timezone((SELECT s.reset_val FROM pg_catalog.pg_settings s "                       \
    "WHERE s.name = 'TimeZone'), pg_catalog.now())"

/* Run a statement (template) with text parameters; returns rows affected (>= 0). */
int64_t db_exec(db *d, cps_error *err, const char *tmpl, int nparams, const char *const *params);
int64_t db_exec_raw(db *d, cps_error *err, const char *sql, int nparams, const char *const *params);
/* Run finished SQL as exactly one statement (the extended protocol refuses
 * more): for operator-written SQL, which must not smuggle in a second one. */
int64_t db_exec_single(db *d, cps_error *err, const char *sql);
/* Run a query returning rows (template); NULL on error. Caller PQclears.
 * A statement that returns no result set (a command, or only a comment)
 * is an error with SQLSTATE DB_NO_RESULT_SET (PostgreSQL's no_data). */
#define DB_NO_RESULT_SET "02000"
PGresult *db_query(db *d, cps_error *err, const char *tmpl, int nparams, const char *const *params);
PGresult *db_query_raw(db *d, cps_error *err, const char *sql, int nparams,
                       const char *const *params);
/* A one-value query: the first column of the first row as a new string
 * (NULL for SQL NULL or no row; *found tells which). */
int db_query_value(db *d, cps_error *err, char **value, int *found, const char *tmpl, int nparams,
                   const char *const *params);

/* Prepare a statement without running it and describe its result columns
 * (PQnfields/PQftype/PQfname of the returned result); NULL on error, e.g.
 * when the SQL does not compile. Caller PQclears. */
PGresult *db_describe(db *d, const char *sql, cps_error *err);

/* Type OIDs of PQftype that CPS tells apart; fixed in every PostgreSQL. */
enum {
    DB_TYPE_BOOL = 16,     /* boolean */
    DB_TYPE_RECORD = 2249, /* the anonymous row type, of ROW(...) and (a, b) */
};

/* The longest CPS lets readers queue behind an exclusive lock it asks for
 * (SET LOCAL lock_timeout): then it gives up for now, or tries again later,
 * rather than stall them (the production views, an empty
 * customer_attributes loaded without its indexes). */
#define DB_READERS_WAIT "2s"

/* For the rest of the current transaction, plan joins as index lookups
 * (no hash or merge joins): a small batch against a large history costs
 * what the batch touches, whatever the statistics say. */
int db_prefer_index_lookups(db *d, cps_error *err);
/* PostgreSQL's estimate of a table's rows (template name), 0 if unknown. */
int64_t db_estimated_rows(db *d, const char *table_tmpl);
/* A plain table's size in 8 kB blocks (template name); 0 for anything else. */
int64_t db_table_blocks(db *d, const char *table_tmpl);

/* Transactions. db_begin_read starts REPEATABLE READ READ ONLY (one snapshot). */
int db_begin(db *d, cps_error *err);
int db_begin_read(db *d, cps_error *err);
/* In a read transaction: its snapshot's id (pg_export_snapshot), for other
 * sessions to see exactly the same data while it stays open. */
int db_export_snapshot(db *d, char **snapshot, cps_error *err);
/* A read transaction that sees the exported snapshot. */
int db_begin_read_snapshot(db *d, const char *snapshot, cps_error *err);
int db_commit(db *d, cps_error *err);
/* Roll back whatever is open; never fails loudly (used on error paths). */
void db_rollback(db *d);
int db_savepoint(db *d, cps_error *err);
int db_release_savepoint(db *d, cps_error *err);
int db_rollback_to_savepoint(db *d, cps_error *err);

/* COPY ... TO STDOUT: fn is called per row with the decoded fields (NULL for
 * SQL NULL), each NUL-terminated; fields may be modified. A statement WITH
 * (FORMAT binary) gives each field's binary value (copyfmt.h: text as it is,
 * copy_bin_get_int, copy_bin_get_timestamp), any other its text. A non-zero
 * return from fn stops the copy and is returned. *nrows (if given) receives
 * the number of rows seen. */
typedef int (*db_row_fn)(void *ctx, char **fields, size_t *lens, int nfields, cps_error *err);
int db_copy_out(db *d, const char *sql, db_row_fn fn, void *ctx, int64_t *nrows, cps_error *err);
/* Two COPY ... TO STDOUT at once, on two sessions: fn sees every row of sql1,
 * then every row of sql2, as db_copy_out would one after the other. The
 * second's rows that arrive while the first's are still being read wait in an
 * unlinked temporary file in $TMPDIR. An error on either side ends both. */
int db_copy_out_pair(db *first, const char *sql1, db *second, const char *sql2, db_row_fn fn,
                     void *ctx, int64_t *nrows, cps_error *err);

/* COPY ... FROM STDIN through a large buffer. The _binary variant is for a
 * statement WITH (FORMAT binary): fields then go as they are (copyfmt.h), so
 * each must match its column's type exactly: copyin_field and copyin_str
 * for text, copyin_int for bigint, copyin_timestamp for timestamp(tz). */
typedef struct db_copy db_copy;
db_copy *db_copy_in_begin(db *d, const char *sql, cps_error *err);
db_copy *db_copy_in_begin_binary(db *d, const char *sql, cps_error *err);
void copyin_field(db_copy *c, const char *s, size_t len); /* s NULL = SQL NULL */
void copyin_str(db_copy *c, const char *s);               /* s NULL = SQL NULL */
void copyin_int(db_copy *c, int64_t v);
void copyin_timestamp(db_copy *c, int64_t t); /* pgtime microseconds; PGTIME_NULL = NULL */
void copyin_end_row(db_copy *c);
int db_copy_in_end(db_copy *c, int64_t *nrows, cps_error *err);
void db_copy_in_abort(db_copy *c);

/*
 * Bulk loads into an emptied table are several times faster without its
 * indexes: db_indexes_drop() drops every index of the table (constraints
 * through ALTER TABLE), and the foreign keys of other tables that depend on
 * its keys, and remembers their definitions; db_indexes_restore() builds the
 * indexes again (sorted builds), then adds the foreign keys back (which
 * checks the referencing rows), and frees the list. Both run inside the
 * caller's transaction, so a failure or kill leaves everything as it was.
 * A foreign key on a table that cps does not own cannot be dropped: then the
 * primary key and unique constraints stay, and so do the foreign keys.
 */
typedef struct db_indexes db_indexes;
int db_indexes_drop(db *d, const char *table_tmpl, db_indexes **out, cps_error *err);
/* Did db_indexes_drop keep the table's keys (see above)? Then the table is
 * still referenced: it cannot be truncated. */
bool db_indexes_keys_kept(const db_indexes *ix);
/* sorted_by (NULL: none) names the column the rows were loaded in order of:
 * indexes that begin with it are built by one backend, the others in
 * parallel as the server's settings allow. meanwhile (NULL: none) runs in
 * the client while the server builds them; if it fails, the builds are
 * cancelled and its error is returned. */
typedef int (*db_task)(void *arg, cps_error *err);
int db_indexes_restore(db *d, db_indexes *ix, const char *sorted_by, db_task meanwhile, void *arg,
                       cps_error *err);
/* Forget the list without building anything (the transaction rolls back). */
void db_indexes_free(db_indexes *ix);

/* Send sql (complete SQL text, several statements allowed, no results
 * expected) and run meanwhile (NULL: none) in the client until the results
 * come; if meanwhile fails, the statements are cancelled and its error is
 * returned. */
int db_exec_meanwhile(db *d, const char *sql, db_task meanwhile, void *arg, cps_error *err);

/* Take CPS's session-level advisory locks, one per schema it writes (the
 * ps, attr and cdp schemas; ce is only read), all or none: if another
 * session holds any of them, give back those taken and return CPS_ELOCKED
 * with a message naming the holder and the schema. db_close releases them. */
int db_lock(db *d, cps_error *err);
/* Which other session holds CPS's lock on `schema` (a raw name) in this
 * database: "pid N, running since ..." in *holder (caller frees), or NULL
 * when none does. */
int db_lock_holder(db *d, const char *schema, char **holder, cps_error *err);
/* Does this session hold CPS's lock on `schema` (taken by db_lock)? A
 * session-level advisory lock lasts until it is released or the session
 * ends, so the session's own list is the answer. */
bool db_holds_lock(const db *d, const char *schema);

/* Install SIGINT/SIGTERM handlers that cancel running statements. */
void db_signals_install(void);
/* The signal that interrupted the run, or 0. */
int db_interrupted(void);
/* Pretend a signal arrived (tests). */
void db_interrupt_for_test(int sig);

/* True for errors that say nothing about the data a statement read (lost
 * connection, cancel or timeout, shutdown, disk full, ...): the step cannot
 * go on. Any other error may be caused by one row (a bad cast, a failing
 * function), so it is worth narrowing down. */
bool db_sqlstate_fatal(const char *sqlstate);
/* db_sqlstate_fatal as a boolean SQL expression over the text expression
 * `sqlstate`, for SQL that traps errors (PL/pgSQL) and must raise those
 * again. Caller frees. */
char *db_sqlstate_fatal_sql(const char *sqlstate);
/* True for the errors among those that operator-written SQL brings on itself,
 * whatever rows it reads: it writes in a read-only transaction (25006), runs
 * past statement_timeout or is cancelled by someone else (57014; CPS's own
 * cancellation is db_interrupted()), writes more temporary files than
 * temp_file_limit (53400), waits past lock_timeout or uses an object in the
 * wrong state (class 55: 55P03, currval before nextval, ...). */
bool db_sqlstate_sql_fault(const char *sqlstate);
/* Operator-written SQL evaluated on its own (an attribute's definition or
 * custom query, under a savepoint) failed on d with err: must the step stop?
 * True when CPS is being interrupted (SIGINT/SIGTERM), the session is gone
 * (lost connection, a terminated backend, a server shutting down: 08xxx,
 * 57P0x), or the error is fatal (db_sqlstate_fatal) and not the SQL's own
 * (db_sqlstate_sql_fault). Otherwise the failure is that SQL's alone. */
bool db_error_stops_step(db *d, const cps_error *err);
/* The same for SQL that traps errors (PL/pgSQL, see sqlgen_trap): a boolean
 * SQL expression over the text expression `sqlstate`, true where the error
 * is fatal and not the SQL's own, so that the trap raises it again (a lost
 * session ends the trap anyway). Caller frees. */
char *db_sqlstate_stops_step_sql(const char *sqlstate);

/* The columns of a table (template name) in order, as new strings in a
 * NULL-terminated array the caller frees with db_columns_free. */
int db_columns(db *d, const char *table_tmpl, char ***columns, size_t *n, cps_error *err);
void db_columns_free(char **columns);

/* The database's message for a result, with detail and hint (caller frees). */
char *db_result_message(const PGresult *res);

#endif
