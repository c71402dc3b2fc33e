/*
 * sqlgen — the SQL that evaluates attribute definitions (SPEC §4.2) for a
 * batch of entities, without a database.
 *
 * The batch is the temporary table pg_temp.cps_ents (k int, id text,
 * cps_on bool): k numbers the entities 1..n and only rows with cps_on are
 * evaluated (so a failing batch can be split without new SQL). The event row
 * an expression sees is every column of {ce}.customer_events, with
 * customer_entity_id set to the entity, plus cps_k; the inner row adds
 * `value` and `weight`. Operator SQL is pasted verbatim between newlines, so
 * a trailing "-- comment" cannot swallow CPS's own text.
 *
 * Every function appends to `out`; strings are borrowed.
 */
#ifndef CPS_SQLGEN_H
#define CPS_SQLGEN_H

#include "attrdef.h"
#include "sqltext.h"

/* What a branch must carry besides the value. */
enum {
    SG_WEIGHT = 1,  /* final weight (most/least_frequent) */
    SG_ORDER = 2,   /* event_time and event id (first/last) */
    SG_NUMERIC = 4, /* cast the value to numeric (avg/sum) */
};

/* Which of those the type needs. */
unsigned sqlgen_needs(attr_type t);

/* The columns of an event row: those of the log (table alias `alias`),
 * customer_entity_id taken from matching (alias m); a log without that
 * column gets it after its first. */
void sqlgen_event_columns(strbuf *out, char *const *columns, size_t ncolumns, const char *alias);

/* The entities evaluated: the batch (SQLGEN_BATCH), or in a trap function
 * (sqlgen_trap) the one entity its loop is at (SQLGEN_TRAP_ENTITY). Either
 * is a FROM item without alias, with the columns k, id, cps_on. */
#define SQLGEN_BATCH       "pg_temp.cps_ents"
#define SQLGEN_TRAP_ENTITY "(SELECT cps_trap_k AS k, cps_trap_id AS id, true AS cps_on)"

/* The event rows of the entities `ents`, as a derived table body (no parentheses). */
void sqlgen_events(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                   const char *ents);

/* One attribute's branch of the LATERAL: rows (a, v, w, t, e) of text, where
 * a is the attribute's number n in the plan and v is never NULL. */
void sqlgen_branch(strbuf *out, const attr_def *d, int n, unsigned needs);

/* The extraction: COPY body giving (k, a, v, w, t, e) for every branch. */
void sqlgen_extract(strbuf *out, const char *events, const char *branches);

/* True if the definition's final value is its value: no outer_value (or
 * just "value"), outer_weight or outer_filter. If its value is not
 * set-returning either, it can be a column of the one pass. */
bool sqlgen_simple(const attr_def *d);
/* A simple definition as columns of the one pass: its value (NULL where the
 * event does not count) and, with SG_WEIGHT, its weight. */
void sqlgen_columns(strbuf *out, const attr_def *d, int n, unsigned needs);
/* The one pass over a batch's events, one row per event (more when a
 * branch yields several): k, event_time, event id, then (a, v, w) of the
 * branches (NULL if none), then the columns. `branches` or `columns` may be
 * empty. with_time: event_time is needed (first/last), else NULL. */
void sqlgen_one_pass(strbuf *out, const char *events, const char *branches, const char *columns,
                     bool with_time);

/* A query whose single column v has the type of the attribute's final values
 * (for describing; it is never run). */
void sqlgen_value_probe(strbuf *out, const char *events, const attr_def *d, int n);

/* Aggregation by PostgreSQL itself (for value types CPS cannot order in
 * memory): COPY body giving (k, value text). collate_c: the value type is
 * collatable, so text compares by bytes. */
void sqlgen_aggregate(strbuf *out, const char *events, const attr_def *d, int n, bool collate_c);

/* A custom attribute over the entities `ents`: COPY body giving (k, value
 * text); base holds the entity's events (columns as in sqlgen_events,
 * without cps_k). */
void sqlgen_custom(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                   const char *ents, const char *query);
/* Several custom queries in one statement, sharing base per entity: COPY
 * body giving (k, a, value text), a being numbers[i] for queries[i]. */
void sqlgen_customs(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                    const char *const *queries, const int *numbers, size_t n);
/* The custom query's own columns (for describing): k, id, cps_on, then them. */
void sqlgen_custom_probe(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                         const char *query);

/*
 * The trap of attribute n: CREATE OR REPLACE FUNCTION pg_temp.cps_trap_<n>()
 * (PL/pgSQL), which evaluates `query` (over SQLGEN_TRAP_ENTITY, giving
 * `ncolumns` columns: 6 like sqlgen_extract, or 2 like sqlgen_aggregate and
 * sqlgen_custom) for each entity of pg_temp.cps_ents with cps_on, in k
 * order, each in its own subtransaction (BEGIN ... EXCEPTION), so that one
 * entity's error leaves the others their values. It returns rows (k int,
 * a int, v, w, t, e, failure text): the query's rows (a 2-column row as k
 * and v), and for an entity whose evaluation failed one row of k and the
 * error's message, which follows any rows the entity gave before the error
 * (they do not count). Errors for which `stop_if` holds (an SQL condition
 * over SQLSTATE) are raised again; query_canceled (a statement timeout, a
 * cancel) is never trapped, and ends the statement.
 *
 * The query is static SQL, so each session plans it once, not per entity.
 * The function's variables are named cps_trap_*, and columns win over them
 * (#variable_conflict use_column): SQL that compiles on its own means the
 * same inside. Writing nothing itself, a subtransaction takes no
 * transaction id (unless the attribute's SQL writes a temporary table), so
 * thousands of them do not overflow the server's subtransaction cache.
 */
void sqlgen_trap(strbuf *out, int n, const char *query, int ncolumns, const char *stop_if);

#endif
