# Stitching from scratch reads a large events table on two sessions, one half
# of its blocks each, in one snapshot (CPS_SPLIT_READ_BLOCKS lowers the size
# that triggers it). The result is the same as reading on one session, row for
# row: rows held back in the temporary file keep their escapes (tabs, newlines,
# backslashes in ids and values), a row longer than the file's read buffer
# comes back whole, and a failing expression in either half sets exactly
# the failing events aside, the others read again on two sessions.
source "$(dirname "$0")/lib.sh"
N=3000

setup() {
  expect_status 0 cps init
  sql <<'SQL'
INSERT INTO public.attributes (id) VALUES ('a'), ('b'), ('n');
INSERT INTO public.events (id) VALUES ('ev');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('a', 'ev', 'payload->>''a'''),
  ('b', 'ev', 'jsonb_array_elements_text(payload->''b'')'),
  ('n', 'ev', '((payload->>''n'')::int)::text');
SQL
}
# Events in time order, so the second half of the table holds the later ones;
# nasty values and a 3.2 MB one (too long to be an identifier, but its row
# still comes back through the file) are among the last.
load() {
  sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
       SELECT CASE WHEN i % 997 = 0 THEN E'e\t' || i || E'\n\\\\x' ELSE 'e' || i END, 'ev',
              timestamp '2024-01-01' + i * interval '1 minute',
              jsonb_build_object('a', CASE WHEN i = $N - 5 THEN repeat(md5(i::text), 100000)
                                           WHEN i % 5 < 3 THEN 'x' || (i * 7) % ($N / 4)
                                           WHEN i > $N - 10 THEN E'v\t' || i || E'\\\\\n' END,
                                 'b', jsonb_build_array('y' || (i * 13) % ($N / 3), ''),
                                 'n', i::text)
       FROM generate_series(1, $N) i"
}
# interrupt PID LOG_TEXT: SIGINT to the cps started in the background (its
# log in $TEST_TMP/log, which must contain LOG_TEXT): it exits 130 within 5 s
# and leaves no session behind.
interrupt() {
  local t0=$SECONDS rc=0
  kill -INT "$1"
  wait "$1" || rc=$?
  cat "$TEST_TMP/log"
  assert_contains "$(cat "$TEST_TMP/log")" "$2"
  assert_eq 130 "$rc" "exit status after SIGINT"
  [[ $((SECONDS - t0)) -le 5 ]] || fail "took $((SECONDS - t0)) s to stop"
  assert_eq 0 "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS'
                       AND datname = current_database()")" "no CPS session left"
}
digests() { # entities.created is the run's time
  echo "$(table_digest cdp_ps.matching) $(table_digest cdp_ps.identifiers)" \
    "$(table_digest "(SELECT id, first_event_time, first_event_id FROM cdp_ps.entities)")"
}

newdb split
setup
load
# The first half's e700 takes a second: the second half's rows are all in by
# then, and go through the file.
sql "UPDATE cdp_ps.stitching_attributes_config
        SET value_expression = '(SELECT payload->>''a'' FROM pg_sleep(CASE WHEN id = ''e700'' THEN 1 ELSE 0 END))'
      WHERE attribute_id = 'a'"
[[ $(sql "SELECT pg_relation_size('cdp_ce.customer_events') / 8192") -ge 10 ]] || fail "too few blocks to split"
CPS_SPLIT_READ_BLOCKS=2 expect_status 0 cps -v stitch
assert_contains "$OUT" "on two sessions"
assert_contains "$OUT" "rows were read ahead into a file" # the held rows' path was taken
assert_eq 2 "$(sql "SELECT stats#>>'{steps,stitch,read_sessions}' FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" \
  "the run's record says how many sessions read"
assert_contains "$OUT" "analyzed in"
assert_contains "$OUT" "on 2 sessions"
analyzed() { # the rewritten tables have statistics for the next steps' plans
  sql "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_stat_user_tables
        WHERE relname IN ('matching', 'identifiers', 'entities', 'customer_entities')
          AND schemaname IN ('cdp_ps', 'cdp_attr') AND analyze_count > 0"
}
assert_eq "customer_entities,entities,identifiers,matching" "$(analyzed)" "analyzed on two sessions"
split=$(digests)
assert_eq "$N" "$(sql "SELECT count(*) FROM cdp_ps.matching")" "every event stitched"
assert_contains "$OUT" "1 identifier values longer than"
assert_eq 4 "$(sql "SELECT count(*) FROM cdp_ps.identifiers
                     WHERE left(value, 2) = E'v\t' AND right(value, 2) = E'\\\\\n'")" \
  "nasty values exact"
assert_eq 3 "$(sql "SELECT count(*) FROM cdp_ps.matching
                     WHERE left(customer_event_id, 2) = E'e\t' AND right(customer_event_id, 3) = E'\n\\\\x'")" \
  "nasty event ids exact"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ce.customer_events e
                     JOIN cdp_ps.matching m ON m.customer_event_id = e.id
                     JOIN cdp_ps.entities n ON n.id = m.customer_entity_id
                    WHERE n.first_event_id = e.id AND n.id <> $(entity_id_of e.event_time e.id)")" \
  "ids from the earliest event"

# The same events read on one session, by the setup guide's re-stitch procedure.
sql "SET client_min_messages = warning; TRUNCATE TABLE cdp_attr.customer_entities CASCADE;
     TRUNCATE TABLE cdp_ps.matching; DROP TABLE cdp_ps.customer_events_to_process"
CPS_SPLIT_READ_BLOCKS=1000000 expect_status 0 cps -v stitch
assert_contains "$OUT" "from scratch"
[[ $OUT != *"on two sessions"* ]] || fail "read on two sessions below CPS_SPLIT_READ_BLOCKS"
assert_eq 1 "$(sql "SELECT stats#>>'{steps,stitch,read_sessions}' FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")"
assert_contains "$OUT" "on 1 session"
assert_eq "$split" "$(digests)" "two sessions = one session"

# SIGINT while the first session evaluates a slow payload (the second has
# finished its half): both statements are cancelled, nothing is written, the
# next run does the work.
newdb interrupted
setup
load
sql "UPDATE cdp_ps.stitching_attributes_config
        SET value_expression = '(SELECT payload->>''n'' FROM pg_sleep(CASE WHEN payload ? ''slow'' THEN 60 ELSE 0 END))'
      WHERE attribute_id = 'n';
     UPDATE cdp_ce.customer_events SET payload = payload || '{\"slow\": 1}' WHERE id = 'e100';
     -- the updated row moved to the last block: back into time order
     CREATE INDEX customer_events_time ON cdp_ce.customer_events (event_time);
     CLUSTER cdp_ce.customer_events USING customer_events_time"
assert_eq t "$(sql "SELECT ctid < '(10,0)' FROM cdp_ce.customer_events WHERE id = 'e100'")" "the slow event in the first half"
CPS_SPLIT_READ_BLOCKS=2 "$CPS" -v stitch >"$TEST_TMP/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS'
             AND datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep%'") == 1 ]] && break
  sleep 0.1
done
sleep 0.5 # the second half is done and held
interrupt "$pid" "on two sessions"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "nothing written"
sql "UPDATE cdp_ce.customer_events SET payload = payload - 'slow' WHERE id = 'e100'"
CPS_SPLIT_READ_BLOCKS=2 expect_status 0 cps stitch
assert_eq "$split" "$(digests)" "the next run does the work"

# SIGINT while the scan for failing events runs on both sessions (a payload
# in the second half fails, one in the first is slow): both scans are
# cancelled, nothing is written, and no session is left behind.
newdb scan_interrupted
setup
load
sql "UPDATE cdp_ps.stitching_attributes_config
        SET value_expression = '(SELECT (payload->>''n'')::int::text FROM pg_sleep(CASE WHEN payload ? ''slow'' THEN 60 ELSE 0 END))'
      WHERE attribute_id = 'n';
     UPDATE cdp_ce.customer_events SET payload = payload || '{\"slow\": 1}' WHERE id = 'e100';
     UPDATE cdp_ce.customer_events SET payload = payload || '{\"n\": \"bad\"}' WHERE id = 'e2990';
     -- the updated rows moved to the last block: back into time order
     CREATE INDEX customer_events_time ON cdp_ce.customer_events (event_time);
     CLUSTER cdp_ce.customer_events USING customer_events_time"
assert_eq "t|t" "$(sql "SELECT (SELECT ctid < '(10,0)' FROM cdp_ce.customer_events WHERE id = 'e100'),
                              (SELECT ctid > '(30,0)' FROM cdp_ce.customer_events WHERE id = 'e2990')")" \
  "the slow event in the first half, the failing one in the second"
CPS_SPLIT_READ_BLOCKS=2 "$CPS" -v stitch >"$TEST_TMP/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS'
             AND datname = current_database() AND state = 'active' AND query LIKE '%cps_stitch_scan%'") == 1 ]] &&
    grep -q "finding the events it fails on" "$TEST_TMP/log" && break
  sleep 0.1
done
sleep 0.5 # the second half's scan is done
interrupt "$pid" "finding the events it fails on"
assert_eq "0|0" "$(sql "SELECT (SELECT count(*) FROM cdp_ps.matching), (SELECT count(*) FROM cdp_ps.failed_events)")" \
  "nothing written"

# A failing expression in the first half, in the second half, or in both:
# the failing events are found by scanning each half on its own session, and
# every other one read again on two sessions (both leaving those out);
# exactly those events set aside.
for bad in "17" "2990" "17, 2990"; do
  newdb "poison_${bad//[, ]/_}"
  setup
  load
  sql "UPDATE cdp_ce.customer_events SET payload = payload || '{\"n\": \"bad\"}'
        WHERE id IN (SELECT 'e' || i FROM unnest(ARRAY[$bad]) i)"
  CPS_SPLIT_READ_BLOCKS=2 expect_status 1 cps -v stitch
  assert_eq 2 "$(grep -c "reading the events' blocks .* on two sessions" <<<"$OUT")" "read twice on two sessions ($bad)"
  assert_contains "$OUT" "finding the events it fails on"
  assert_contains "$OUT" "the scan: blocks 0-"
  assert_contains "$OUT" "on two sessions"
  [[ "$OUT" != *"continuing in batches"* ]] || fail "fell back to batches ($bad)"
  assert_eq "$(sql "SELECT string_agg('e' || i, ',' ORDER BY 'e' || i) FROM unnest(ARRAY[$bad]) i")" \
    "$(sql "SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id) FROM cdp_ps.failed_events")" \
    "exactly the failing events set aside ($bad)"
  assert_eq $((N - $(wc -w <<<"$bad"))) "$(sql "SELECT count(*) FROM cdp_ps.matching")" "the others stitched"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue empty"
done
pass
