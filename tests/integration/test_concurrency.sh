# Concurrency (SPEC §1.3, §2.2): events inserted by other connections while
# CPS runs are all stitched by the end of the next run, exactly once and into
# the right entities; two CPS started together: one works, one exits 3; a
# long-running reader of the production views is not blocked by runs.
source "$(dirname "$0")/lib.sh"
newdb
"$CPS_GEN" --events 5000 --quiet
expect_status 0 cps init

# Writers: new events (copies of existing ones under new ids, so they connect
# to existing entities) and payload updates, in many small transactions,
# while CPS runs again and again.
writer() {
  local w=$1
  for i in $(seq 1 60); do
    psql -X -q -v ON_ERROR_STOP=1 -c "
      INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, type, version, payload)
      SELECT id || '-w$w-$i', event_id, source_id, event_time + interval '1 second', type, version, payload
        FROM cdp_ce.customer_events WHERE id NOT LIKE '%-w%' ORDER BY md5(id || '$w-$i') LIMIT 20;
      UPDATE cdp_ce.customer_events SET payload = payload || jsonb_build_object('touched', $i)
       WHERE id IN (SELECT id FROM cdp_ce.customer_events ORDER BY md5(id || 'u$w-$i') LIMIT 5);" >/dev/null
  done
}
writer 1 & w1=$!
writer 2 & w2=$!
runs=0
while kill -0 "$w1" 2>/dev/null || kill -0 "$w2" 2>/dev/null; do
  "$CPS" run >"$TEST_TMP/log" 2>&1 || { cat "$TEST_TMP/log"; fail "a run failed while writers wrote"; }
  runs=$((runs + 1))
done
wait "$w1" "$w2"
expect_status 0 cps run
echo "$runs runs while the writers wrote"
[[ $runs -ge 2 ]] || fail "the writers finished before CPS could overlap them"

total=$(sql "SELECT count(*) FROM cdp_ce.customer_events")
assert_eq $((5000 + 2 * 60 * 20)) "$total" "all events written"
assert_eq "$total" "$(sql "SELECT count(*) FROM cdp_ps.matching")" "every event stitched once"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue empty"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching m WHERE NOT EXISTS
                     (SELECT 1 FROM cdp_attr.customer_entities c WHERE c.id = m.customer_entity_id)")" \
  "every entity has its customer_entities row"

# The partition equals stitching the same final events from scratch.
sql "CREATE TABLE public.live AS SELECT * FROM cdp_ps.matching"
sql "SET client_min_messages = warning; TRUNCATE cdp_attr.customer_entities CASCADE;
     TRUNCATE cdp_ps.matching; DROP TABLE cdp_ps.customer_events_to_process"
expect_status 0 cps stitch
read -r a b c <<<"$(sql "SELECT count(DISTINCT l.customer_entity_id) || ' ' || count(DISTINCT m.customer_entity_id)
                         || ' ' || count(DISTINCT (l.customer_entity_id, m.customer_entity_id))
                    FROM public.live l JOIN cdp_ps.matching m USING (customer_event_id)")"
assert_eq "$a" "$b" "same number of entities as from scratch"
assert_eq "$a" "$c" "same partition as from scratch"

# Two CPS started together: exactly one of them works, the other exits 3.
"$CPS_GEN" --append 20000 --quiet
"$CPS" run >"$TEST_TMP/a.log" 2>&1 & a=$!
"$CPS" run >"$TEST_TMP/b.log" 2>&1 & b=$!
ra=0; rb=0
wait "$a" || ra=$?
wait "$b" || rb=$?
statuses=$(printf '%s\n' "$ra" "$rb" | sort | tr '\n' ' ')
assert_eq "0 3 " "$statuses" "one runs, one is locked out"
grep -q "another CPS" "$TEST_TMP/a.log" "$TEST_TMP/b.log" || fail "no lock message"

# A long-running reader of the production views is not blocked by a run, and
# does not block it: incremental runs write rows, never lock the views.
cat >"$TEST_TMP/prod.json" <<JSON
{"production": true}
JSON
expect_status 0 cps -c "$TEST_TMP/prod.json" run
coproc READER { psql -X -q -At 2>&1; }
echo "BEGIN; SELECT count(*) FROM public.pivoted_customer_attributes; SELECT 'reading';" >&"${READER[1]}"
read -r _ <&"${READER[0]}"
read -r line <&"${READER[0]}"
assert_eq reading "$line" "the long reader is in its transaction"
"$CPS_GEN" --append 2000 --quiet
# meanwhile other readers keep querying the views within a second each
reads_ok=0
(
  for _ in $(seq 1 20); do
    PGOPTIONS="-c statement_timeout=1000" psql -X -q -At -c \
      "SELECT count(*) FROM public.customer_events; SELECT count(*) FROM public.pivoted_customer_attributes" >/dev/null || exit 1
  done
) & readers=$!
t0=$SECONDS
expect_status 0 cps -c "$TEST_TMP/prod.json" run
wait "$readers" || fail "a reader of the views was blocked during a run"
[[ $((SECONDS - t0)) -lt 60 ]] || fail "the run waited for the long reader"
# A new attribute needs a new pivot view: CPS waits a little for the long
# reader, then gives up for this run (status 1) instead of blocking everyone.
sql "INSERT INTO cdp_attr.attributes VALUES ('extra', '{\"type\": \"value\", \"value\": \"type\"}')"
expect_status 1 cps -c "$TEST_TMP/prod.json" run
assert_contains "$OUT" "is read without pause"
echo "SELECT 'still reading'; COMMIT; \\q" >&"${READER[1]}"
wait
expect_status 0 cps -c "$TEST_TMP/prod.json" run
assert_eq t "$(sql "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_name = 'pivoted_customer_attributes' AND column_name = 'extra')")" \
  "the view gets the new column once the reader is gone"
pass
