# The attribute step's two shortcuts give the same values as the plain way:
# - the custom attributes run on a second session (the worker's companion)
#   while the one pass streams the events, in the same snapshot;
# - a batch that writes into an empty customer_attributes (the first run, or
#   after TRUNCATE customer_entities CASCADE) loads it without its indexes
#   and builds them after, unless a reader holds the table (it waits at most
#   2 s for it) or the role does not own it.
# The reference is the same definitions aggregated by PostgreSQL
# (CPS_FORCE_SQL_AGGREGATION=1: no one pass, so no companion), written
# through the indexes. cps runs as a role that is not a superuser (as an
# operator's would), so that a connection limit can take the companion away.
source "$(dirname "$0")/lib.sh"
ROLE="cps_att_$$"
newdb
sql "CREATE ROLE $ROLE LOGIN; ALTER DATABASE $PGDATABASE OWNER TO $ROLE"
as_role() { PGUSER=$ROLE "$@"; }
as_role expect_status 0 cps init

# 300 entities of a few events each, hand-stitched (so no re-stitch pending)
sql <<'SQL'
DELETE FROM cdp_ps.state;
INSERT INTO cdp_ce.customer_events (id, event_time, source_id, type, version, payload)
  SELECT 'e' || i, timestamp '2024-01-01' + (i % 97) * interval '1 hour', 'web',
         CASE WHEN i % 3 = 0 THEN 'purchase' ELSE 'pv' END, '1',
         jsonb_build_object('n', i % 13, 'c', 'c' || i % 5, 'tags', jsonb_build_array('t' || i % 4, 'u' || i % 3))
    FROM generate_series(1, 1200) i;
INSERT INTO cdp_ps.matching SELECT id, 'ent' || lpad((abs(hashtext(id)) % 300)::text, 5, '0')
  FROM cdp_ce.customer_events;
INSERT INTO cdp_ps.entities SELECT DISTINCT customer_entity_id, now(), 'x' FROM cdp_ps.matching;
INSERT INTO cdp_attr.customer_entities SELECT id, now(), now(), NULL FROM cdp_ps.entities;
INSERT INTO cdp_attr.attributes VALUES
  ('a_list', '{"type": "list", "value": "payload->>''c''"}'),
  ('a_max', '{"type": "max", "value": "(payload->>''n'')::int"}'),
  ('a_first', '{"type": "first", "value": "payload->>''c''"}'),
  ('a_freq', '{"type": "most_frequent", "value": "jsonb_array_elements_text(payload->''tags'')"}'),
  ('a_sum', '{"type": "sum", "value": "(payload->>''n'')::numeric", "types": ["purchase"]}'),
  ('c_count', '{"type": "custom", "query": "SELECT count(*)::text AS value FROM base"}'),
  ('c_tags', '{"type": "custom", "query": "SELECT DISTINCT t AS value FROM base, jsonb_array_elements_text(payload->''tags'') t"}');
SQL
values() { table_digest cdp_attr.customer_attributes; }
indexes() { sql "SELECT string_agg(indexdef, ' | ' ORDER BY indexdef) FROM pg_indexes
                 WHERE schemaname = 'cdp_attr' AND tablename = 'customer_attributes'"; }
from_scratch() { sql "SET client_min_messages = warning; TRUNCATE cdp_attr.customer_entities CASCADE"; }
INDEXES=$(indexes)

# the reference
PGUSER=$ROLE CPS_FORCE_SQL_AGGREGATION=1 expect_status 0 cps -v attributes
[[ $OUT != *"beside the one pass"* ]] || fail "a companion without a one pass: $OUT"
WANT=$(values)
[[ $(sql "SELECT count(DISTINCT attribute_id) FROM cdp_attr.customer_attributes") == 7 ]] ||
  fail "the reference lacks attributes"

# both shortcuts
from_scratch
as_role expect_status 0 cps -v attributes
assert_contains "$OUT" "the custom attributes run beside the one pass, on a second session"
assert_contains "$OUT" "the empty table's indexes built after them"
assert_eq "$WANT" "$(values)" "values with the companion, loaded without indexes"
assert_eq "$INDEXES" "$(indexes)" "the indexes as they were"

# a table with rows, even if the batch replaces them all: written through its
# indexes (readers keep seeing the old values meanwhile)
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL"
as_role expect_status 0 cps -v attributes
[[ $OUT != *"indexes built after"* ]] || fail "indexes dropped on a table with rows: $OUT"
assert_eq "$WANT" "$(values)" "values recalculated over old ones"

# one custom attribute alone also runs beside the one pass
sql "DELETE FROM cdp_attr.attributes WHERE id = 'c_tags'"
from_scratch
PGUSER=$ROLE CPS_FORCE_SQL_AGGREGATION=1 expect_status 0 cps attributes
WANT1=$(values)
from_scratch
as_role expect_status 0 cps -v attributes
assert_contains "$OUT" "beside the one pass"
assert_eq "$WANT1" "$(values)" "one custom attribute beside the one pass"
sql "INSERT INTO cdp_attr.attributes VALUES ('c_tags', '{\"type\": \"custom\", \"query\": \"SELECT DISTINCT t AS value FROM base, jsonb_array_elements_text(payload->''tags'') t\"}')"

# a reader holding the empty table: the batch waits 2 s for it at most, then
# writes through the indexes
from_scratch
psql -X -q -c "BEGIN; SELECT count(*) FROM cdp_attr.customer_attributes; SELECT pg_sleep(20)" >/dev/null 2>&1 &
reader=$!
wait_until "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%'
            AND datname = current_database() AND pid <> pg_backend_pid()" "the reader"
t0=$SECONDS
as_role expect_status 0 cps -v attributes
kill "$reader" 2>/dev/null || true
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND datname = current_database() AND pid <> pg_backend_pid()" >/dev/null
wait "$reader" 2>/dev/null || true
[[ $((SECONDS - t0)) -le 10 ]] || fail "waited $((SECONDS - t0)) s for the reader"
assert_contains "$OUT" "is empty but busy with readers: the batch writes through its indexes"
assert_eq "$WANT" "$(values)" "values written past the reader"
assert_eq "$INDEXES" "$(indexes)" "the indexes untouched"

# a table the role does not own (but may write): through its indexes
sql "ALTER TABLE cdp_attr.customer_attributes OWNER TO CURRENT_USER;
     GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON cdp_attr.customer_attributes TO $ROLE"
from_scratch
as_role expect_status 0 cps -v attributes
[[ $OUT != *"indexes built after"* ]] || fail "indexes dropped on a table the role does not own: $OUT"
assert_eq "$WANT" "$(values)" "values in a table of another owner"
sql "ALTER TABLE cdp_attr.customer_attributes OWNER TO $ROLE"

# no second session to be had (the role's connection limit): a warning, and
# the customs after the one pass
sql "ALTER ROLE $ROLE CONNECTION LIMIT 1"
from_scratch
as_role expect_status 0 cps -v attributes
assert_contains "$OUT" "no second session for the custom attributes"
assert_eq "$WANT" "$(values)" "values without the companion"
sql "ALTER ROLE $ROLE CONNECTION LIMIT -1"

# SIGKILL while the empty table's indexes are being built again (an index of
# the CDP's own, on a slow expression, keeps the build going): the batch's
# transaction rolls back, every index is there, and the next run does it all
sql "CREATE FUNCTION public.slow_len(v text) RETURNS int LANGUAGE sql IMMUTABLE
       AS 'SELECT length(v) + 0 * length(pg_sleep(0.0005)::text)';
     CREATE INDEX cdp_value_length ON cdp_attr.customer_attributes (public.slow_len(value))"
INDEXES=$(indexes)
from_scratch
PGUSER=$ROLE "$CPS" attributes >"$TEST_TMP/log" 2>&1 &
pid=$!
wait_until "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX%slow_len%'
            AND application_name = 'Meiro CPS' AND datname = current_database()" "the index build"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
# (the backend notices its client is gone within a second)
wait_until "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'Meiro CPS'
            AND datname = current_database()" "the killed CPS's session to end"
assert_eq "$INDEXES" "$(indexes)" "every index there after a kill during the rebuild"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "nothing written"
as_role expect_status 0 cps -v attributes
assert_contains "$OUT" "the empty table's indexes built after them"
assert_eq "$WANT" "$(values)" "the next run does it all"
assert_eq "$INDEXES" "$(indexes)" "every index there after the rerun"
sql "DROP INDEX cdp_attr.cdp_value_length"
INDEXES=$(indexes)

# the companion's session terminated by an administrator stops the step;
# nothing is written, and the next run does it
sql "INSERT INTO cdp_attr.attributes VALUES
       ('c_nap', '{\"type\": \"custom\", \"query\": \"SELECT ''z'' AS value FROM pg_sleep(CASE WHEN (SELECT min(id) FROM base) = ''e1'' THEN 60 ELSE 0 END)\"}')"
from_scratch
PGUSER=$ROLE "$CPS" attributes >"$TEST_TMP/log" 2>&1 &
pid=$!
wait_until "SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'
            AND application_name = 'Meiro CPS' AND datname = current_database()" "the sleeping custom query"
t0=$SECONDS
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE wait_event = 'PgSleep' AND application_name = 'Meiro CPS' AND datname = current_database()" >/dev/null
rc=0
wait "$pid" || rc=$?
cat "$TEST_TMP/log"
assert_eq 1 "$rc" "exit status after the companion was terminated"
[[ $((SECONDS - t0)) -le 5 ]] || fail "took $((SECONDS - t0)) s to stop"
assert_contains "$(cat "$TEST_TMP/log")" "the custom attributes' shared query for entities"
assert_contains "$(cat "$TEST_TMP/log")" "terminating connection due to administrator command"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "nothing written"
sql "DELETE FROM cdp_attr.attributes WHERE id = 'c_nap'"
as_role expect_status 0 cps attributes
assert_eq "$WANT" "$(values)" "the next run does the work"
assert_eq "$INDEXES" "$(indexes)" "the indexes as they were"

dropdb "$PGDATABASE"
PGDATABASE=postgres sql "DROP ROLE $ROLE"
pass
