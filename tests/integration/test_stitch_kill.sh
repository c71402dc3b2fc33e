# Kill tests: SIGKILL of cps and pg_terminate_backend of its connection at
# random moments of from-scratch and incremental stitching; after a rerun the
# state equals that of an uninterrupted run.
source "$(dirname "$0")/lib.sh"
N=${N:-4000}
KILLS=${KILLS:-6}

setup() {
  expect_status 0 cps init
  sql <<SQL
INSERT INTO public.attributes (id) VALUES ('a'), ('b');
INSERT INTO public.events (id) VALUES ('ev');
-- a little sleep per event makes every batch last long enough to be hit
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('a', 'ev', '(payload->>''a'') || left(pg_sleep(0.0002)::text, 0)'),
  ('b', 'ev', 'jsonb_array_elements_text(payload->''b'')');
CREATE TABLE public.src AS
  SELECT 'e' || i AS id, timestamp '2024-01-01' + i * interval '1 minute' AS t,
         jsonb_build_object('a', 'x' || (h % ($N / 4)), 'b', jsonb_build_array('y' || (h / 13) % ($N / 2))) AS payload
  FROM (SELECT i, abs(hashint4(i)) AS h FROM generate_series(1, $N) i) s;
SQL
}
# Events up to a fraction of the time line.
arrive() {
  sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
       SELECT id, 'ev', t, payload FROM src WHERE t < timestamp '2024-01-01' + $1 * interval '1 minute'
       ON CONFLICT (id) DO NOTHING"
}
state() {
  echo "$(table_digest cdp_ps.matching) $(table_digest cdp_ps.identifiers)" \
       "$(sql "SELECT md5(string_agg(merged_id || into_id, ',' ORDER BY merged_id)) FROM cdp_ps.entity_merges")" \
       "$(sql "SELECT md5(string_agg(id || first_event_id, ',' ORDER BY id)) FROM cdp_ps.entities")" \
       "$(sql "SELECT md5(string_agg(id, ',' ORDER BY id)) FROM cdp_attr.customer_entities")" \
       "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")"
}
# Run cps stitch until it succeeds (a killed run's backend may briefly hold the lock).
finish() {
  for _ in $(seq 1 30); do
    local rc=0
    "$CPS" -c "$TEST_TMP/cfg.json" stitch >"$TEST_TMP/log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] && return 0
    [[ $rc -eq 3 ]] || { cat "$TEST_TMP/log"; fail "rerun exited $rc"; }
    sleep 0.5
  done
  fail "the lock was never released"
}
# Start cps, then after a random delay kill it one way or the other.
hit() {
  "$CPS" -c "$TEST_TMP/cfg.json" stitch >"$TEST_TMP/log" 2>&1 &
  local pid=$!
  sleep "0.$(( RANDOM % 9 ))$(( RANDOM % 10 ))"
  if (( RANDOM % 2 )); then
    kill -KILL "$pid" 2>/dev/null || true
  else
    sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND datname = current_database()" >/dev/null
  fi
  wait "$pid" 2>/dev/null || true
}
echo '{"batch_size": 300}' >"$TEST_TMP/cfg.json"

# The reference: no interruptions.
newdb reference
setup
arrive 2000
expect_status 0 cps -c "$TEST_TMP/cfg.json" stitch
for upto in 2600 3300 $((N + 1)); do
  arrive "$upto"
  expect_status 0 cps -c "$TEST_TMP/cfg.json" stitch
done
reference=$(state)

newdb killed
setup
arrive 2000
for _ in $(seq 1 "$KILLS"); do hit; done
finish
for upto in 2600 3300 $((N + 1)); do
  arrive "$upto"
  for _ in $(seq 1 "$KILLS"); do hit; done
  finish
done
assert_eq "$reference" "$(state)" "state after kills and reruns"
# The kills must have landed in the middle of runs, not between them.
landed=$(sql "SELECT count(*) FROM cdp_ps.runs WHERE status = 'aborted'")
echo "$landed of $((4 * KILLS)) kills interrupted a run;" \
  "runs took $(sql "SELECT round(avg(extract(epoch FROM finished_at - started_at))::numeric, 2)
                    FROM cdp_ps.runs WHERE status = 'ok'") s on average"
[[ $landed -ge $KILLS ]] || fail "too few kills landed during a run ($landed)"
pass
