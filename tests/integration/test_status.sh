# `cps status` (SPEC §1.2): a clear message before CPS is set up, exit 1 when
# the database is unreachable, the numbers equal the tables', the re-stitch
# flag, cache ages, the last runs with their problems and errors, and it works
# (without waiting) while another CPS runs or holds a table.
source "$(dirname "$0")/lib.sh"
newdb

# Unreachable: exit 1 with libpq's reason.
expect_status 1 cps --dsn "host=$TEST_TMP/nowhere port=1 dbname=x connect_timeout=2" status
assert_contains "$OUT" "cannot connect to PostgreSQL"

# Not initialised: a clear message, no crash.
expect_status 0 cps status
assert_contains "$OUT" "CPS is not initialised in this database: table cdp_ps.runs does not exist"
assert_contains "$OUT" "cps init"

"$CPS_GEN" --events 3000 --quiet
# poison: two events whose expression fails, set aside
sql "INSERT INTO public.attributes (id) VALUES ('pn'); INSERT INTO public.events (id) VALUES ('poison');
     INSERT INTO cdp_ps.stitching_attributes_config VALUES ('pn', 'poison', '((payload->>''n'')::int)::text');
     INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, payload) VALUES
       ('p1', 'poison', 'web', now(), '{\"n\": \"bad\"}'), ('p2', 'poison', 'web', now(), '{\"n\": \"worse\"}'),
       ('p3', 'poison', 'web', now(), '{\"n\": \"3\"}')"
expect_status 1 cps run
expect_status 0 cps status
status=$OUT
field() { echo "$status" | sed -n "s/^  $1: *//p"; }
count() { sql "SELECT count(*) FROM $1"; }
assert_eq "no" "$(field "Running now")"
assert_eq "0 events waiting to be stitched" "$(field Queue)"
assert_eq "$(count cdp_ce.customer_events)" "$(field "Events in the log")"
assert_eq "$(count cdp_ps.matching)" "$(field "Stitched events")"
assert_eq "$(count cdp_ps.entities)" "$(field Entities)"
assert_eq "$(count cdp_ps.entity_merges) entity ids absorbed by others" "$(field Merges)"
assert_eq "2 set aside" "$(field "Failed events")"
assert_eq "$(count cdp_attr.attributes)" "$(field "Attributes defined")"
assert_eq "0 of $(count cdp_attr.customer_entities) entities with attributes" "$(field "Entities due")"
assert_contains "$status" "cdp_attr.cached_attributes_counts_customers_per_attribute: $(count cdp_attr.cached_attributes_counts_customers_per_attribute) rows, built "
assert_contains "$status" "public.cached_source_events_per_date: $(count public.cached_source_events_per_date) rows, built "
run=$(sql "SELECT max(id) FROM cdp_ps.runs")
assert_contains "$status" "#$run "
assert_contains "$status" "errors      run"
assert_contains "$status" "problem: STITCH: 2 events set aside"

# Queue, due entities, caches and runs follow the tables.
sql "INSERT INTO cdp_attr.attributes VALUES ('broken', '{\"type\": \"nonsense\"}')"
expect_status 1 cps attributes  # a run with a problem
sql "INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, payload)
     SELECT 'new-' || i, 'x', 'web', now(), '{}' FROM generate_series(1, 5) i"
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 3)"
sql "UPDATE cdp_attr.cached_attribute_values_counts SET modified = NULL; DELETE FROM cdp_attr.cached_attributes_counts_customers_per_attribute;
     DROP TABLE public.cached_source_events_per_date"
expect_status 0 cps status
status=$OUT
assert_eq "5 events waiting to be stitched" "$(field Queue)"
assert_eq "3 of $(count cdp_attr.customer_entities) entities with attributes" "$(field "Entities due")"
assert_contains "$status" "cdp_attr.cached_attribute_values_counts: $(count cdp_attr.cached_attribute_values_counts) rows, rebuild pending (modified NULL)"
assert_contains "$status" "cdp_attr.cached_attributes_counts_customers_per_attribute: empty; the next run fills it"
assert_contains "$status" "public.cached_source_events_per_date: does not exist; the next run creates and fills it"
assert_contains "$status" "problem: ATTR: attribute \"broken\": unknown type \"nonsense\""
# A failed run shows its error, and only the last 5 runs are listed.
echo '{"production": true}' >"$TEST_TMP/prod.json"
sql "CREATE TABLE public.pivoted_customer_attributes (x int)"
expect_status 0 cps cache
expect_status 1 cps -c "$TEST_TMP/prod.json" run
expect_status 1 cps -c "$TEST_TMP/prod.json" run
expect_status 0 cps status
status=$OUT
assert_contains "$status" "failed      run"
assert_contains "$status" "error: production: public.pivoted_customer_attributes exists and CPS did not create it"
assert_eq 5 "$(echo "$status" | grep -c '^  #')" "the last 5 runs"
newest=$(sql "SELECT max(id) FROM cdp_ps.runs")
assert_eq "#$newest" "$(echo "$status" | grep '^  #' | head -1 | awk '{print $1}')" "newest first"
sql "DROP TABLE public.pivoted_customer_attributes; DELETE FROM cdp_attr.attributes WHERE id = 'broken'"

# Many problems: the first ones and how many more.
sql "INSERT INTO cdp_ps.runs (started_at, finished_at, status, stats) VALUES (now(), now() + interval '75 seconds', 'errors',
       '{\"command\": \"run\", \"problems\": [\"ATTR: one\", \"ATTR: two\", \"ATTR: three\", \"ATTR: four\", \"ATTR: five\"]}')"
expect_status 0 cps status
assert_contains "$OUT" "1 min 15 s"
assert_contains "$OUT" "problem: ATTR: three"
assert_contains "$OUT" "... and 2 more problems"
[[ $OUT != *"ATTR: four"* ]] || fail "too many problems listed"

# A run marked running while no CPS holds the lock on its ps schema died,
# even while other CPS sessions (working on other schemas, say) are connected.
sql "INSERT INTO cdp_ps.runs (started_at, status, stats) VALUES (now(), 'running', '{\"command\": \"run\"}')"
dead=$(sql "SELECT max(id) FROM cdp_ps.runs")
expect_status 0 cps status
assert_contains "$OUT" "Running now:           no (run $dead is marked running but no CPS holds the lock on schema cdp_ps: it died"
coproc OTHER { PGAPPNAME="Meiro CPS" psql -X -q -At 2>&1; }
other_pid=$OTHER_PID
echo "SELECT pg_backend_pid();" >&"${OTHER[1]}"
read -r other <&"${OTHER[0]}"
expect_status 0 cps status
assert_contains "$OUT" "Running now:           no (run $dead is marked running but no CPS holds the lock on schema cdp_ps: it died"
# The lock's holder is the run's CPS (here: that session takes it).
echo "SELECT pg_advisory_lock(1129336883, hashtext('cdp_ps')); SELECT 'locked';" >&"${OTHER[1]}"
read -r _ <&"${OTHER[0]}"
read -r line <&"${OTHER[0]}"
assert_eq locked "$line"
expect_status 0 cps status
assert_contains "$OUT" "Running now:           yes: run $dead (run), started "
assert_contains "$OUT" "(pid $other, running since "
# A CPS holding the lock before it records its run (cps init, a run starting).
sql "UPDATE cdp_ps.runs SET status = 'aborted' WHERE status = 'running'"
expect_status 0 cps status
assert_contains "$OUT" "Running now:           yes: a CPS (pid $other, running since "
assert_contains "$OUT" "holds the lock on schema cdp_ps but has recorded no run yet"
echo "\\q" >&"${OTHER[1]}"
wait "$other_pid" 2>/dev/null || true

# Attributes from scratch (the README's runbook): customer_entities emptied,
# every entity is due all the same; rows deleted by hand are due too.
entities=$(count cdp_ps.entities)
[[ $entities -gt 10 ]] || fail "too few entities for this test: $entities"
sql "SET client_min_messages = warning; TRUNCATE TABLE cdp_attr.customer_entities CASCADE"
expect_status 0 cps status
status=$OUT
assert_eq "all $entities entities: cdp_attr.customer_entities is empty, so the next run recreates every entity and calculates its attributes" \
  "$(field "Entities due")"
expect_status 0 cps attributes
expect_status 0 cps status
status=$OUT
assert_eq "0 of $entities entities with attributes" "$(field "Entities due")"
sql "DELETE FROM cdp_attr.customer_entities WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 4)"
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 2)"
expect_status 0 cps status
status=$OUT
assert_eq "2 of $((entities - 4)) entities with attributes, and 4 missing from cdp_attr.customer_entities (rows removed): the next run recreates and calculates them too" \
  "$(field "Entities due")"
expect_status 0 cps attributes
assert_eq "$entities" "$(count cdp_attr.customer_entities)" "entities recreated"

# Re-stitch from scratch: the queue dropped, then recreated with the flag set;
# every entity is calculated after it.
sql "DROP TABLE cdp_ps.customer_events_to_process"
expect_status 0 cps status
status=$OUT
assert_contains "$status" "all events: the queue table cdp_ps.customer_events_to_process does not exist"
assert_eq "every entity: the next run stitches every event from scratch, then calculates the attributes of every entity" \
  "$(field "Entities due")"
expect_status 0 cps init
expect_status 0 cps status
status=$OUT
assert_contains "$status" "all events: re-stitch from scratch pending"
assert_eq "every entity: the next run stitches every event from scratch, then calculates the attributes of every entity" \
  "$(field "Entities due")"

# While another CPS runs (a slow context query keeps it busy): no waiting.
sql "INSERT INTO cdp_attr.context (key, query) VALUES ('slow', 'SELECT pg_sleep(6)::text')"
cps run >"$TEST_TMP/run.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND wait_event = 'PgSleep' AND datname = current_database()") -gt 0 ]] && break
  sleep 0.1
done
t0=$(date +%s)
expect_status 0 timeout 5 "$CPS" status
assert_contains "$OUT" "Running now:           yes: run $(sql "SELECT max(id) FROM cdp_ps.runs") (run)"
assert_contains "$OUT" "Queue:"
[[ $(($(date +%s) - t0)) -lt 4 ]] || fail "status waited for the run"
wait $pid || true
# A table locked by someone else is reported busy instead of waited for.
PGAPPNAME=cps-test-locker psql -X -q -c "BEGIN" -c "LOCK TABLE cdp_ps.matching" -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
locker=$!
for _ in $(seq 50); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cps-test-locker' AND wait_event = 'PgSleep'") -gt 0 ]] && break
  sleep 0.1
done
expect_status 0 timeout 10 "$CPS" status
assert_contains "$OUT" "Stitched events:       ? (cdp_ps.matching is busy"
assert_contains "$OUT" "Last runs"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cps-test-locker'" >/dev/null
wait "$locker" 2>/dev/null || true
pass
