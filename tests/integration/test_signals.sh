# SIGTERM and SIGINT during a long statement: the statement is cancelled, the
# batch rolled back, the run recorded as interrupted, and the exit status is
# 143 / 130. Nothing is left behind; the next run does the work.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
sql <<'SQL'
DELETE FROM cdp_ps.state;
INSERT INTO public.attributes (id) VALUES ('a');
INSERT INTO public.events (id) VALUES ('ev');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('a', 'ev', '(SELECT payload->>''a'' FROM pg_sleep(CASE WHEN payload ? ''slow'' THEN 60 ELSE 0 END))');
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
  VALUES ('e1', 'ev', '2024-01-01', '{"a": "x", "slow": true}'), ('e2', 'ev', '2024-01-02', '{"a": "x"}');
SQL

wait_for_sleep() { # until CPS's statement sleeps in pg_sleep (at most 10 s)
  for _ in $(seq 1 100); do
    [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND datname = current_database()
              AND state = 'active' AND query LIKE '%pg_sleep%'") == 1 ]] && return
    sleep 0.1
  done
}
interrupt() { # signal expected-status
  local sig=$1 want=$2
  "$CPS" stitch >"$TEST_TMP/log" 2>&1 &
  local pid=$!
  wait_for_sleep
  local t0=$SECONDS
  kill "-$sig" "$pid"
  local rc=0
  wait "$pid" || rc=$?
  cat "$TEST_TMP/log"
  assert_eq "$want" "$rc" "exit status after SIG$sig"
  [[ $((SECONDS - t0)) -le 5 ]] || fail "took $((SECONDS - t0)) s to stop"
  assert_eq 0 "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND datname = current_database()")" \
    "no CPS statement left running"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "nothing half-applied"
  assert_eq 2 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue intact"
  assert_eq interrupted "$(sql "SELECT status FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")"
}
interrupt TERM 143
interrupt INT 130

sql "UPDATE cdp_ce.customer_events SET payload = payload - 'slow'"
expect_status 0 cps stitch
assert_eq 2 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "the next run does the work"

# The same in the attribute step, in a custom query: a signal cancels it and
# stops the step (it is not that attribute's failure), and so does a session
# terminated by an administrator. Nothing is written; the next run does it.
sql "INSERT INTO cdp_attr.attributes VALUES
       ('good', '{\"type\": \"list\", \"value\": \"payload->>''a''\"}'),
       ('nap', '{\"type\": \"custom\", \"query\": \"SELECT ''z'' AS value FROM pg_sleep(60)\"}')"
stop_attributes() { # how expected-status
  local how=$1 want=$2
  "$CPS" attributes >"$TEST_TMP/log" 2>&1 &
  local pid=$!
  wait_for_sleep
  local t0=$SECONDS
  case $how in
    TERM | INT) kill "-$how" "$pid" ;;
    terminate) sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE application_name = 'Meiro CPS' AND datname = current_database()" >/dev/null ;;
  esac
  local rc=0
  wait "$pid" || rc=$?
  cat "$TEST_TMP/log"
  assert_eq "$want" "$rc" "exit status after $how in the attribute step"
  [[ $((SECONDS - t0)) -le 5 ]] || fail "took $((SECONDS - t0)) s to stop"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "nothing written after $how"
  assert_eq 1 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated IS NULL")" "still due after $how"
}
stop_attributes TERM 143
assert_eq interrupted "$(sql "SELECT status FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")"
stop_attributes terminate 1
assert_contains "$(cat "$TEST_TMP/log")" 'attribute "nap" for entity'
assert_contains "$(cat "$TEST_TMP/log")" "terminating connection due to administrator command"
sql "UPDATE cdp_attr.attributes SET definition = '{\"type\": \"custom\", \"query\": \"SELECT ''z'' AS value\"}' WHERE id = 'nap'"
expect_status 0 cps attributes
assert_eq 2 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "the next run does the work"
pass
