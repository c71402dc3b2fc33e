# Many poison events (SPEC §3): 1200 failing events spread over a batch of
# 60000, then a batch of 20000 that all fail (a source whose payloads changed
# shape), are found in one statement by the trap function, in time that grows
# with the batch, not with it times the failing events. Bisection from the
# client took 9 s for the first under the sanitizers (86 s before its batch
# was indexed and its statement prepared), and 15 s for the second in a
# release build (2 s now). The bounds are wide: they catch the product
# coming back, not a slower machine.
source "$(dirname "$0")/lib.sh"

# load NAME N BAD: N web events in a new database; those where BAD (over i)
# holds carry a number that does not cast
load() {
  newdb "$1"
  expect_status 0 cps init
  sql <<SQL
DELETE FROM cdp_ps.state;
INSERT INTO public.attributes (id) VALUES ('num'), ('cookie');
INSERT INTO public.events (id) VALUES ('web');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('num', 'web', '((payload->>''n'')::int)::text'),
  ('cookie', 'web', 'payload->>''cookie''');
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
  SELECT 'w' || i, 'web', timestamp '2024-01-01' + i * interval '1 second',
         jsonb_build_object('n', CASE WHEN $3 THEN 'bad-' || i ELSE (i % 500)::text END,
                            'cookie', 'c' || (i % 3000))
  FROM generate_series(1, $2) i;
SQL
}
# stitch N FAILING: one batch of the N events; FAILING of them set aside, in time
stitch() {
  echo "{\"batch_size\": $1}" >"$TEST_TMP/c.json"
  local t0=$SECONDS took
  expect_status 1 cps -c "$TEST_TMP/c.json" stitch
  took=$((SECONDS - t0))
  echo "took $took s"
  [[ $took -lt 30 ]] || fail "$2 poison events among $1 took $took s"
  assert_contains "$OUT" "$2 events set aside in cdp_ps.failed_events"
  assert_eq $(($1 - $2)) "$(sql "SELECT count(*) FROM cdp_ps.matching")" "the others stitched"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue empty"
}

load spread 60000 'i % 50 = 7'
stitch 60000 1200
assert_eq 10 "$(grep -c 'set aside: the stitching expression' <<<"$OUT")" "ten of them named in the log"
assert_contains "$OUT" "more events set aside: cdp_ps.failed_events holds each with its error"
assert_eq "1200|1200" "$(sql "SELECT count(*) || '|' || count(*) FILTER (WHERE substr(customer_event_id, 2)::int % 50 = 7)
                             FROM cdp_ps.failed_events")" "exactly the failing events set aside"

# A batch in which every event fails.
load all 20000 true
stitch 20000 20000
assert_eq "20000|20000" "$(sql "SELECT count(*) || '|' || count(*) FILTER (WHERE attribute_id = 'num'
                                  AND error = 'invalid input syntax for type integer: \"bad-'
                                              || substr(customer_event_id, 2) || '\"')
                                FROM cdp_ps.failed_events")" "every event set aside, with its own error"
pass
