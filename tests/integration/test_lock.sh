# Only one CPS at a time on each schema it writes (SPEC §1.3): the ps, attr
# and cdp schemas each have their own advisory lock, and a CPS takes all three
# or none. A second CPS that shares any of them exits 3, naming the holder and
# the schema, and changes nothing, not even the holder's run in {ps}.runs.
# The ce schema is only read: it is not locked.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init

# Hold CPS's lock on one schema from another session, the way a running CPS does.
coproc HOLD { psql -X -q -At 2>&1; }
echo "SELECT pg_backend_pid();" >&"${HOLD[1]}"
read -r holder <&"${HOLD[0]}"
hold() {
  echo "SELECT pg_advisory_lock(1129336883, hashtext('$1')); SELECT 'locked';" >&"${HOLD[1]}"
  local line
  read -r line <&"${HOLD[0]}"
  read -r line <&"${HOLD[0]}"
  assert_eq locked "$line" "holding the lock on $1"
}
release() {
  echo "SELECT pg_advisory_unlock_all(); SELECT 'released';" >&"${HOLD[1]}"
  local line
  read -r line <&"${HOLD[0]}"
  read -r line <&"${HOLD[0]}"
  assert_eq released "$line"
}

# Any one of the written schemas held: locked out, the holder and schema named.
for held in cdp_ps:ps_schema cdp_attr:attr_schema public:cdp_schema; do
  schema=${held%%:*}
  hold "$schema"
  expect_status 3 cps init
  assert_contains "$OUT" "another CPS (pid $holder, running since "
  assert_contains "$OUT" "is working on schema $schema (this configuration's ${held#*:})"
  expect_status 3 cps run
  release
done
# The event log's schema is only read.
hold cdp_ce
expect_status 0 cps init
release
# No lock outlives a CPS: all of them are free again.
assert_eq 0 "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1129336883
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" \
  "no lock left behind"

# Two real CPS sharing one schema but not the others. The first stays busy
# in a slow context query; every other configuration that writes one of its
# schemas is locked out and leaves its run alone.
sql "INSERT INTO cdp_attr.context (key, query) VALUES ('slow', 'SELECT pg_sleep(4)::text')"
cps attributes >"$TEST_TMP/first.log" 2>&1 &
first=$!
for _ in $(seq 100); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND wait_event = 'PgSleep' AND datname = current_database()") -gt 0 ]] && break
  sleep 0.1
done
run=$(sql "SELECT id FROM cdp_ps.runs WHERE status = 'running'")
[[ -n $run ]] || fail "the first CPS did not start its run"
echo '{"attr_schema": "other_attr"}' >"$TEST_TMP/attr.json"
echo '{"cdp_schema": "other_cdp"}' >"$TEST_TMP/cdp.json"
echo '{"ps_schema": "other_ps", "attr_schema": "other_attr"}' >"$TEST_TMP/ps_attr.json"
echo '{"cdp_schema": "other_cdp", "ps_schema": "other_ps"}' >"$TEST_TMP/cdp_ps.json"
for cfg in attr cdp ps_attr cdp_ps; do
  expect_status 3 cps -c "$TEST_TMP/$cfg.json" stitch
  assert_contains "$OUT" "another CPS (pid "
done
assert_contains "$OUT" "is working on schema cdp_attr (this configuration's attr_schema)"
assert_eq running "$(sql "SELECT status FROM cdp_ps.runs WHERE id = $run")" "the first CPS's run"
assert_eq "$run" "$(sql "SELECT max(id) FROM cdp_ps.runs")" "no run recorded by those locked out"
wait "$first" || { cat "$TEST_TMP/first.log"; fail "the first CPS failed"; }
assert_eq ok "$(sql "SELECT status FROM cdp_ps.runs WHERE id = $run")" "the first CPS's run"

# Schemas that share only the event log are not blocked.
hold cdp_ps
hold cdp_attr
hold public
cat >"$TEST_TMP/other.json" <<JSON
{"cdp_schema": "other_cdp", "ps_schema": "other_ps", "attr_schema": "other_attr"}
JSON
expect_status 0 cps -c "$TEST_TMP/other.json" init
echo "\\q" >&"${HOLD[1]}"
wait
expect_status 0 cps init
pass
