# Fault injection (SPEC §1.3): SIGKILL of cps and pg_terminate_backend at
# random moments of stitching and attribute calculation (the first run's
# attribute batch loads the empty customer_attributes without its indexes),
# PostgreSQL restarted (fast and immediate) in the middle of a run, a
# statement timeout, a disk-full error in the middle of a COPY, and a spill
# directory that cannot be written. After a clean rerun the state (indexes
# included) equals that of a run that was never disturbed.
source "$(dirname "$0")/lib.sh"
EVENTS=${EVENTS:-6000}
MORE=${MORE:-2000}
HITS=${HITS:-3}

# This test restarts its server: it gets a cluster of its own. An immediate
# restart is a crash, and with the test clusters' synchronous_commit=off it
# could lose the generator's last committed events; the comparisons need
# every commit to survive, as on a production server.
"$CPS_SOURCE_DIR/scripts/pgcluster.sh" start "$TEST_TMP/pg" synchronous_commit=on >/dev/null
# shellcheck disable=SC1091
source "$TEST_TMP/pg/env"
# The whole cluster goes at the end (kept, stopped, if the test failed).
trap 'rc=$?; "$CPS_SOURCE_DIR/scripts/pgcluster.sh" stop "$TEST_TMP/pg" immediate >/dev/null 2>&1 || true
      if [[ $rc -eq 0 ]]; then rm -rf "$TEST_TMP"; else echo "cluster kept in $TEST_TMP/pg" >&2; fi
      exit $rc' EXIT

state() {
  echo "$(table_digest cdp_ps.matching) $(table_digest cdp_ps.identifiers)" \
       "$(sql "SELECT md5(string_agg(merged_id || into_id, ',' ORDER BY merged_id)) FROM cdp_ps.entity_merges")" \
       "$(sql "SELECT md5(string_agg(id || coalesce(first_event_id, ''), ',' ORDER BY id)) FROM cdp_ps.entities")" \
       "$(sql "SELECT md5(string_agg(id, ',' ORDER BY id)) FROM cdp_attr.customer_entities")" \
       "$(table_digest cdp_attr.customer_attributes)" \
       "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" \
       "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated IS NULL OR modified > calculated")" \
       "$(sql "SELECT md5(string_agg(indexdef, ',' ORDER BY indexdef)) FROM pg_indexes
               WHERE schemaname IN ('cdp_ps', 'cdp_attr')")"
}
wait_for_server() {
  for _ in $(seq 1 100); do psql -X -d postgres -Atc "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "the server did not come back"
}
# Run until a run succeeds (a killed run's session may hold the lock a moment).
finish() {
  for _ in $(seq 1 40); do
    local rc=0
    "$CPS" run >"$TEST_TMP/log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] && return 0
    [[ $rc -eq 3 ]] || { cat "$TEST_TMP/log"; fail "clean rerun exited $rc"; }
    sleep 0.5
  done
  fail "the lock was never released"
}
# Start a run and disturb it after a random delay in one of several ways.
hit() {
  local how=$1
  "$CPS" run >"$TEST_TMP/hit.log" 2>&1 &
  local pid=$!
  sleep "$(( RANDOM % 3 )).$(( RANDOM % 10 ))"
  case $how in
    kill) kill -KILL "$pid" 2>/dev/null || true ;;
    terminate) sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE application_name = 'Meiro CPS' AND datname = current_database()" >/dev/null ;;
    fast | immediate)
      "$CPS_SOURCE_DIR/scripts/pgcluster.sh" restart "$TEST_TMP/pg" "$how" >/dev/null
      wait_for_server ;;
  esac
  wait "$pid" 2>/dev/null || true
}
# A CDP of EVENTS events, then MORE arriving later.
load() {
  "$CPS_GEN" --events "$EVENTS" --quiet
}
more() { "$CPS_GEN" --append "$MORE" --quiet; }

newdb reference
load
expect_status 0 cps run
first=$(state)
more
expect_status 0 cps run
second=$(state)

for how in kill terminate fast immediate; do
  newdb "$how"
  load
  for _ in $(seq 1 "$HITS"); do hit "$how"; done
  finish
  assert_eq "$first" "$(state)" "after ${how} hits during the first run"
  more
  for _ in $(seq 1 "$HITS"); do hit "$how"; done
  finish
  assert_eq "$second" "$(state)" "after ${how} hits during an incremental run"
  echo "$how: $(sql "SELECT count(*) FROM cdp_ps.runs WHERE status IN ('aborted', 'interrupted', 'failed')") runs disturbed"
done

# A statement timeout stops the statement; the run reports it with status 1,
# nothing is half-applied. (A context query that sleeps makes sure one
# statement outlasts the timeout however fast the machine is.)
newdb timeout
load
expect_status 0 cps init
sql "INSERT INTO cdp_attr.context (key, query) VALUES ('slow', 'SELECT pg_sleep(0.5)')"
PGOPTIONS="-c statement_timeout=200" expect_status 1 cps run
assert_contains "$OUT" "statement timeout"
sql "DELETE FROM cdp_attr.context WHERE key = 'slow'"
finish
assert_eq "$first" "$(state)" "after a statement timeout"

# Disk full in the middle of a COPY into CPS's tables, in each step.
newdb diskfull
load
expect_status 0 cps init
sql "CREATE TABLE public.fault (target text);
     CREATE FUNCTION public.fail_like_a_full_disk() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN
       IF EXISTS (SELECT 1 FROM public.fault WHERE target = TG_TABLE_NAME) THEN
         RAISE EXCEPTION 'could not extend file \"base/1/2\": No space left on device'
           USING ERRCODE = 'disk_full';
       END IF;
       RETURN NEW;
     END \$\$;
     CREATE TRIGGER fault BEFORE INSERT ON cdp_ps.identifiers FOR EACH ROW EXECUTE FUNCTION public.fail_like_a_full_disk();
     CREATE TRIGGER fault BEFORE INSERT ON cdp_attr.customer_attributes FOR EACH ROW EXECUTE FUNCTION public.fail_like_a_full_disk();"
for target in identifiers customer_attributes; do
  sql "TRUNCATE public.fault; INSERT INTO public.fault VALUES ('$target')"
  expect_status 1 cps run
  assert_contains "$OUT" "No space left on device"
done
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "no attribute batch half-written"
sql "TRUNCATE public.fault"
finish
assert_eq "$first" "$(state)" "after disk-full failures"
more
sql "INSERT INTO public.fault VALUES ('identifiers')"
expect_status 1 cps run
sql "TRUNCATE public.fault"
finish
assert_eq "$second" "$(state)" "after a disk-full failure in an incremental run"

# Stitching from scratch spills the events to a file in $TMPDIR: a TMPDIR
# that cannot take it fails the run, naming it, with nothing applied; a good
# one is empty again after the run (the file is unlinked from the start).
newdb spill
load
TMPDIR=/nonexistent/cps-spill expect_status 1 cps run
assert_contains "$OUT" "/nonexistent/cps-spill"
assert_contains "$OUT" "TMPDIR"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "matching after the failed run"
mkdir "$TEST_TMP/spill"
TMPDIR="$TEST_TMP/spill" expect_status 0 cps run
assert_contains "$OUT" "spilled to a temporary file"
spill=$(sql "SELECT stats#>>'{steps,stitch,spill_bytes}' FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")
[[ $spill -gt $((EVENTS * 13)) ]] || fail "the run records its spill file's size: [$spill]"
assert_eq "$first" "$(state)" "after a spill file that could not be created"
assert_eq "" "$(ls -A "$TEST_TMP/spill")" "the spill directory after the run"

# While PostgreSQL builds identifiers' indexes, cps copies the events into a
# second file in $TMPDIR, sorted by entity: when that fails (here the
# directory is gone by then), the build is cancelled and the run fails,
# naming the directory, with nothing applied. A session holding a lock on
# identifiers keeps the run waiting until the directory is gone.
newdb sorted
load
TMPDIR=/nonexistent/cps-spill expect_status 1 cps run
mkdir "$TEST_TMP/going"
PGAPPNAME=cps-test-locker psql -X -q -c "BEGIN" -c "LOCK TABLE cdp_ps.identifiers IN ACCESS SHARE MODE" \
  -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
locker=$!
waiting() { sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND $1"; }
for _ in $(seq 100); do
  [[ $(waiting "application_name = 'cps-test-locker' AND wait_event = 'PgSleep'") -gt 0 ]] && break
  sleep 0.1
done
TMPDIR="$TEST_TMP/going" "$CPS" run >"$TEST_TMP/sorted.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  [[ $(waiting "application_name = 'Meiro CPS' AND wait_event_type = 'Lock'") -gt 0 ]] && break
  sleep 0.1
done
[[ $(waiting "application_name = 'Meiro CPS' AND wait_event_type = 'Lock'") -gt 0 ]] ||
  fail "the run did not come to the locked table: $(cat "$TEST_TMP/sorted.log")"
rmdir "$TEST_TMP/going"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cps-test-locker'" >/dev/null
wait "$locker" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
assert_eq 1 "$rc" "exit status of the run whose sorted file could not be created"
assert_contains "$(cat "$TEST_TMP/sorted.log")" "sorted file of the full stitching pass in $TEST_TMP/going"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "matching after the failed run"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.identifiers")" "identifiers after the failed run"
finish
assert_eq "$first" "$(state)" "after a sorted file that could not be created"
pass
