/* sqlgen — SQL for attribute definitions (see sqlgen.h). */
#include "sqlgen.h"

#include <stdio.h>
#include <string.h>

unsigned sqlgen_needs(attr_type t)
{
    switch (t) {
    case AT_AVG:
    case AT_SUM:
        return SG_NUMERIC;
    case AT_FIRST:
    case AT_LAST:
        return SG_ORDER;
    case AT_MOST_FREQUENT:
    case AT_LEAST_FREQUENT:
        return SG_WEIGHT;
    default:
        return 0;
    }
}

/* Operator SQL, between newlines and parentheses. */
static void expr(strbuf *out, const char *sql, const char *fallback)
{
    sb_append(out, "(\n");
    sb_append(out, sql ? sql : fallback);
    sb_append(out, "\n)");
}

void sqlgen_event_columns(strbuf *out, char *const *columns, size_t ncolumns, const char *alias)
{
    bool has_entity = false;
    for (size_t i = 0; i < ncolumns; i++)
        has_entity |= !strcmp(columns[i], "customer_entity_id");
    for (size_t i = 0; i < ncolumns; i++) {
        if (i)
            sb_append(out, ", ");
        if (!strcmp(columns[i], "customer_entity_id")) {
            sb_append(out, "m.customer_entity_id AS customer_entity_id");
            continue;
        }
        sb_appendf(out, "%s.", alias);
        sql_append_ident(out, columns[i]);
        /* an event log without the column still gets it, after the first */
        if (i == 0 && !has_entity)
            sb_append(out, ", m.customer_entity_id AS customer_entity_id");
    }
    if (ncolumns == 0)
        sb_append(out, "m.customer_entity_id AS customer_entity_id");
}

void sqlgen_events(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                   const char *ents)
{
    sb_append(out, "SELECT ");
    sqlgen_event_columns(out, columns, ncolumns, "ce");
    /* OFFSET 0 keeps the planner from evaluating expressions on events of
     * other entities before the join: a failure must belong to the batch */
    sb_appendf(out, ", b.k AS cps_k FROM %s b ", ents);
    sql_expand_into(out, s,
                    "JOIN {ps}.matching m ON m.customer_entity_id = b.id "
                    "JOIN {ce}.customer_events ce ON ce.id = m.customer_event_id "
                    "WHERE b.cps_on OFFSET 0");
}

/* The conditions on the event row: the lists and the filter. */
static void conditions(strbuf *out, const attr_def *d, int n)
{
    static const struct {
        const char *column, *list;
    } lists[] = {{"source_id", "sources"}, {"type", "types"}, {"version", "versions"}};
    const attr_list *l[] = {&d->sources, &d->types, &d->versions};
    int any = 0;
    for (size_t i = 0; i < 3; i++) {
        if (!l[i]->n)
            continue;
        sb_appendf(
            out,
            "%scustomer_events.%s = ANY ((SELECT %s FROM pg_temp.cps_defs WHERE n = %d)::text[])",
            any++ ? " AND " : "", lists[i].column, lists[i].list, n);
    }
    if (d->filter) {
        sb_append(out, any++ ? " AND " : "");
        expr(out, d->filter, NULL);
    }
    if (!any)
        sb_append(out, "true");
}

/* The value and weight of an event, only where it passes the conditions:
 * "SELECT (value) AS value, (weight) AS weight WHERE conditions". */
static void value_and_weight(strbuf *out, const attr_def *d, int n)
{
    sb_append(out, "SELECT ");
    expr(out, d->value, NULL);
    sb_append(out, " AS value, ");
    expr(out, d->weight, "1");
    sb_append(out, " AS weight WHERE ");
    conditions(out, d, n);
}

static void outer_filter(strbuf *out, const attr_def *d)
{
    sb_append(out, " WHERE ");
    if (d->outer_filter)
        expr(out, d->outer_filter, NULL);
    else
        sb_append(out, "true");
}

/* FROM (inner rows) AS inner_row WHERE outer_filter, inside the LATERAL
 * over customer_events. */
static void inner_rows(strbuf *out, const attr_def *d, int n)
{
    sb_append(out, " FROM (SELECT customer_events.*, x.value, x.weight FROM (");
    value_and_weight(out, d, n);
    sb_append(out, ") AS x) AS inner_row");
    outer_filter(out, d);
}

void sqlgen_branch(strbuf *out, const attr_def *d, int n, unsigned needs)
{
    sb_appendf(out, "SELECT %d AS a, o.v, o.w, o.t, o.e FROM (SELECT ", n);
    expr(out, d->outer_value, "value");
    sb_append(out, needs & SG_NUMERIC ? "::numeric::text AS v, " : "::text AS v, ");
    if (needs & SG_WEIGHT) {
        sb_append(out, "((inner_row.weight) * ");
        expr(out, d->outer_weight, "1");
        sb_append(out, ")::numeric::text AS w, ");
    } else
        sb_append(out, "NULL::text AS w, ");
    if (needs & SG_ORDER)
        sb_append(out, "inner_row.event_time::text AS t, inner_row.id::text AS e");
    else
        sb_append(out, "NULL::text AS t, NULL::text AS e");
    inner_rows(out, d, n);
    sb_append(out, ") AS o WHERE o.v IS NOT NULL");
}

void sqlgen_extract(strbuf *out, const char *events, const char *branches)
{
    sb_append(out, "SELECT customer_events.cps_k, x.a, x.v, x.w, x.t, x.e FROM (");
    sb_append(out, events);
    sb_append(out, ") AS customer_events CROSS JOIN LATERAL (");
    sb_append(out, branches);
    sb_append(out, ") AS x");
}

bool sqlgen_simple(const attr_def *d)
{
    return (!d->outer_value || !strcmp(d->outer_value, "value")) && !d->outer_filter &&
           (!d->outer_weight || !strcmp(d->outer_weight, "1"));
}

void sqlgen_columns(strbuf *out, const attr_def *d, int n, unsigned needs)
{
    sb_append(out, "CASE WHEN ");
    conditions(out, d, n);
    sb_append(out, " THEN ");
    expr(out, d->value, NULL);
    sb_append(out, needs & SG_NUMERIC ? "::numeric::text END" : "::text END");
    if (needs & SG_WEIGHT) {
        sb_append(out, ", CASE WHEN ");
        conditions(out, d, n);
        sb_append(out, " THEN ");
        expr(out, d->weight, "1");
        sb_append(out, "::numeric::text END");
    }
}

void sqlgen_one_pass(strbuf *out, const char *events, const char *branches, const char *columns,
                     bool with_time)
{
    sb_appendf(out, "SELECT customer_events.cps_k, %s, customer_events.id::text, x.a, x.v, x.w",
               with_time ? "customer_events.event_time::text" : "NULL::text");
    if (*columns) {
        sb_append(out, ",\n");
        sb_append(out, columns);
    }
    sb_append(out, " FROM (");
    sb_append(out, events);
    sb_append(out, ") AS customer_events LEFT JOIN LATERAL (");
    sb_append(out,
              *branches ? branches : "SELECT NULL::int AS a, NULL::text AS v, NULL::text AS w");
    sb_append(out, *branches ? ") AS x ON true" : " WHERE false) AS x ON true");
}

/* The typed outer rows of one attribute: (k, v, w, t, e), v never NULL. The
 * final weight only where the type weighs values: a weight of another type
 * (text, say) is no mistake for a list. */
static void typed_rows(strbuf *out, const char *events, const attr_def *d, int n)
{
    sb_append(out, "SELECT o.k, o.v, o.w, o.t, o.e FROM (SELECT inner_row.cps_k AS k, ");
    expr(out, d->outer_value, "value");
    if (sqlgen_needs(d->type) & SG_WEIGHT) {
        sb_append(out, " AS v, ((inner_row.weight) * ");
        expr(out, d->outer_weight, "1");
        sb_append(out, ")::numeric AS w");
    } else {
        sb_append(out, " AS v, NULL::numeric AS w");
    }
    sb_append(out, ", inner_row.event_time AS t, inner_row.id AS e FROM (SELECT "
                   "customer_events.*, x.value, x.weight FROM (");
    sb_append(out, events);
    sb_append(out, ") AS customer_events CROSS JOIN LATERAL (");
    value_and_weight(out, d, n);
    sb_append(out, ") AS x) AS inner_row");
    outer_filter(out, d);
    sb_append(out, ") AS o WHERE o.v IS NOT NULL");
}

void sqlgen_value_probe(strbuf *out, const char *events, const attr_def *d, int n)
{
    sb_append(out, "SELECT r.v FROM (");
    typed_rows(out, events, d, n);
    sb_append(out, ") AS r");
}

void sqlgen_aggregate(strbuf *out, const char *events, const attr_def *d, int n, bool collate_c)
{
    const char *c = collate_c ? " COLLATE \"C\"" : "";
    strbuf rows = STRBUF_INIT;
    typed_rows(&rows, events, d, n);
    const char *r = sb_str(&rows);
    switch (d->type) {
    case AT_AVG:
        sb_appendf(out, "SELECT r.k, avg(r.v::numeric)::text FROM (%s) r GROUP BY r.k", r);
        break;
    case AT_SUM:
        sb_appendf(out, "SELECT r.k, sum(r.v::numeric)::text FROM (%s) r GROUP BY r.k", r);
        break;
    case AT_MIN:
    case AT_MAX:
        /* by the type's ordering: also for types without min()/max(), like boolean */
        sb_appendf(out, "SELECT DISTINCT ON (r.k) r.k, r.v::text FROM (%s) r ORDER BY r.k, r.v%s%s",
                   r, c, d->type == AT_MAX ? " DESC" : "");
        break;
    case AT_FIRST:
        sb_appendf(out,
                   "SELECT DISTINCT ON (r.k) r.k, r.v::text FROM (%s) r "
                   "ORDER BY r.k, r.t, r.e COLLATE \"C\", r.v%s",
                   r, c);
        break;
    case AT_LAST:
        sb_appendf(out,
                   "SELECT DISTINCT ON (r.k) r.k, r.v::text FROM (%s) r "
                   "ORDER BY r.k, r.t DESC, r.e COLLATE \"C\" DESC, r.v%s DESC",
                   r, c);
        break;
    case AT_MOST_FREQUENT:
    case AT_LEAST_FREQUENT:
        sb_appendf(out,
                   "SELECT DISTINCT ON (s.k) s.k, s.v::text FROM (SELECT r.k, r.v, "
                   "coalesce(sum(r.w), 0) AS w FROM (%s) r GROUP BY r.k, r.v) s "
                   "ORDER BY s.k, s.w%s, s.v%s",
                   r, d->type == AT_MOST_FREQUENT ? " DESC" : "", c);
        break;
    case AT_LIST:
        sb_appendf(out, "SELECT s.k, s.v::text FROM (SELECT DISTINCT r.k, r.v FROM (%s) r) s", r);
        break;
    case AT_NUM_OF_UNIQUE:
        sb_appendf(out, "SELECT r.k, count(DISTINCT r.v)::text FROM (%s) r GROUP BY r.k", r);
        break;
    case AT_VALUE:
        sb_appendf(out,
                   "SELECT DISTINCT ON (r.k) r.k, r.v::text FROM (%s) r "
                   "ORDER BY r.k, r.v::text COLLATE \"C\"",
                   r);
        break;
    case AT_CUSTOM:
        break;
    }
    sb_free(&rows);
}

/* The custom query without trailing semicolons and comments, which a
 * subquery cannot hold. */
static void custom_query(strbuf *out, const char *query)
{
    sb_append(out, "(\n");
    sb_appendn(out, query, sql_statement_length(query, strlen(query)));
    sb_append(out, "\n) AS cps_q");
}

static void custom_base(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns)
{
    sb_append(out, "WITH base AS (SELECT ");
    sqlgen_event_columns(out, columns, ncolumns, "ce");
    sql_expand_into(out, s,
                    " FROM {ps}.matching m "
                    "JOIN {ce}.customer_events ce ON ce.id = m.customer_event_id "
                    "WHERE m.customer_entity_id = b.id) ");
}

void sqlgen_custom(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                   const char *ents, const char *query)
{
    sb_appendf(out,
               "SELECT b.k, q.value::text FROM (SELECT * FROM %s cps_e WHERE cps_on OFFSET 0) b "
               "CROSS JOIN LATERAL (",
               ents);
    custom_base(out, s, columns, ncolumns);
    sb_append(out, "SELECT cps_q.value FROM ");
    custom_query(out, query);
    sb_append(out, ") AS q WHERE q.value IS NOT NULL");
}

void sqlgen_customs(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                    const char *const *queries, const int *numbers, size_t n)
{
    sb_append(out, "SELECT b.k, q.a, q.value FROM (SELECT * FROM pg_temp.cps_ents WHERE cps_on "
                   "OFFSET 0) b CROSS JOIN LATERAL (");
    custom_base(out, s, columns, ncolumns);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_append(out, "\nUNION ALL ");
        sb_appendf(out, "SELECT %d AS a, cps_q.value::text AS value FROM ", numbers[i]);
        custom_query(out, queries[i]);
    }
    sb_append(out, ") AS q WHERE q.value IS NOT NULL");
}

void sqlgen_custom_probe(strbuf *out, const cps_schemas *s, char *const *columns, size_t ncolumns,
                         const char *query)
{
    sb_append(out, "SELECT * FROM pg_temp.cps_ents b CROSS JOIN LATERAL (");
    custom_base(out, s, columns, ncolumns);
    sb_append(out, "SELECT * FROM ");
    custom_query(out, query);
    sb_append(out, ") AS q");
}

void sqlgen_trap(strbuf *out, int n, const char *query, int ncolumns, const char *stop_if)
{
    strbuf body = STRBUF_INIT;
    sb_append(&body, "\n#variable_conflict use_column\n"
                     "DECLARE\n"
                     "    cps_trap_k int;\n"
                     "    cps_trap_id text;\n"
                     "    cps_trap_detail text;\n"
                     "    cps_trap_hint text;\n"
                     "BEGIN\n"
                     "    FOR cps_trap_k, cps_trap_id IN SELECT cps_e.k, cps_e.id "
                     "FROM pg_temp.cps_ents cps_e WHERE cps_e.cps_on ORDER BY cps_e.k LOOP\n"
                     "        BEGIN\n"
                     "            RETURN QUERY SELECT ");
    if (ncolumns == 6)
        sb_append(&body, "cps_trap_q.c1::int, cps_trap_q.c2::int, cps_trap_q.c3::text, "
                         "cps_trap_q.c4::text, cps_trap_q.c5::text, cps_trap_q.c6::text");
    else
        sb_append(&body, "cps_trap_q.c1::int, NULL::int, cps_trap_q.c2::text, NULL::text, "
                         "NULL::text, NULL::text");
    sb_append(&body, ", NULL::text FROM (\n");
    sb_append(&body, query);
    sb_append(&body, ncolumns == 6 ? "\n) AS cps_trap_q (c1, c2, c3, c4, c5, c6);\n"
                                   : "\n) AS cps_trap_q (c1, c2);\n");
    sb_appendf(&body,
               "        EXCEPTION WHEN OTHERS THEN\n"
               "            IF %s THEN\n"
               "                RAISE;\n"
               "            END IF;\n"
               "            cps_trap_o1 := cps_trap_k;\n",
               stop_if);
    sql_append_trap_message(&body, "            ", "cps_trap_fail");
    sb_append(&body, "            RETURN NEXT;\n"
                     "        END;\n"
                     "    END LOOP;\n"
                     "END\n");
    sb_appendf(out,
               "CREATE OR REPLACE FUNCTION pg_temp.cps_trap_%d() RETURNS TABLE (cps_trap_o1 int, "
               "cps_trap_o2 int, cps_trap_o3 text, cps_trap_o4 text, cps_trap_o5 text, "
               "cps_trap_o6 text, cps_trap_fail text) LANGUAGE plpgsql VOLATILE AS ",
               n);
    sql_append_dollar_quoted(out, "cps_trap", sb_str(&body));
    sb_free(&body);
}
