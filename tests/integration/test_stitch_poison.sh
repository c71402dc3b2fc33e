# Poison events never block the queue (SPEC §3): an expression failing on some
# payloads sets exactly those events aside; one that fails to compile, or is
# not one expression (a row, a ")" too many, an aggregate, a window
# function), leaves its events queued, is
# reported, and the run exits 1; nothing is half-applied.
source "$(dirname "$0")/lib.sh"

setup() {
  expect_status 0 cps init
  sql <<'SQL'
INSERT INTO public.attributes (id) VALUES ('num'), ('cookie'), ('email');
INSERT INTO public.events (id) VALUES ('web'), ('crm');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('num', 'web', '((payload->>''n'')::int)::text'),
  ('cookie', 'web', 'payload->>''cookie'''),
  ('email', 'crm', 'lower(payload->>''email'')');
SQL
}
load() { # 10k web events; three carry a non-numeric n
  sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
       SELECT 'w' || i, 'web', timestamp '2024-01-01' + i * interval '1 second',
              jsonb_build_object('n', CASE WHEN i IN (17, 4242, 9999) THEN 'bad-' || i ELSE (i % 500)::text END,
                                 'cookie', 'c' || (i % 3000))
       FROM generate_series(1, 10000) i"
}
check_poison() {
  assert_eq "w17,w4242,w9999" "$(sql "SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id)
                                      FROM cdp_ps.failed_events")" "exactly the 3 failing events set aside"
  assert_eq "num web" "$(sql "SELECT DISTINCT attribute_id || ' ' || event_id FROM cdp_ps.failed_events")" "config row named"
  assert_contains "$(sql "SELECT error FROM cdp_ps.failed_events WHERE customer_event_id = 'w17'")" \
    'invalid input syntax for type integer: "bad-17"'
  assert_eq 9997 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "the others stitched"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue empty"
}

# Incremental batches (the queue already holds the events).
newdb incremental
setup
sql "DELETE FROM cdp_ps.state"
load
expect_status 1 cps stitch
assert_contains "$OUT" "3 events set aside"
check_poison

# Fixing the expression and deleting the rows puts the events back in the queue.
sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'payload->>''n''' WHERE attribute_id = 'num'"
sql "DELETE FROM cdp_ps.failed_events WHERE customer_event_id IN ('w17', 'w4242')"
assert_eq 2 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "deleted rows requeued"
expect_status 0 cps stitch
assert_eq 9999 "$(sql "SELECT count(*) FROM cdp_ps.matching")"
sql "TRUNCATE cdp_ps.failed_events"
assert_eq 1 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "truncate requeues too"

# An event set aside, then fixed by the loader (its payload updated): stitched
# by the next batch, which removes its row from failed_events in the same
# transaction, without queueing it again as an operator's delete would.
newdb fixed
setup
sql "DELETE FROM cdp_ps.state"
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES
       ('e1', 'web', '2024-01-01', '{\"n\": \"bad\"}'), ('e2', 'web', '2024-01-02', '{\"n\": \"5\"}'),
       ('e3', 'web', '2024-01-03', '{\"n\": \"bad\"}')"
expect_status 1 cps stitch
assert_eq "e1,e3" "$(sql "SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id) FROM cdp_ps.failed_events")"
sql "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"5\"}' WHERE id = 'e1'"
sql "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"still bad\"}' WHERE id = 'e3'"
expect_status 1 cps stitch
assert_eq e3 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.failed_events")" \
  "the fixed event's row is gone, the one still failing stays"
assert_contains "$(sql "SELECT error FROM cdp_ps.failed_events")" '"still bad"' "its new error"
assert_eq 1 "$(sql "SELECT count(DISTINCT customer_entity_id) FROM cdp_ps.matching
                    WHERE customer_event_id IN ('e1', 'e2')")" "the fixed event stitched"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "nothing queued again"
sql "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"7\"}' WHERE id = 'e3'"
expect_status 0 cps stitch
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.failed_events")" "no event set aside any more"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "nothing queued again"
assert_eq 3 "$(sql "SELECT count(*) FROM cdp_ps.matching")"
expect_status 0 cps status
assert_contains "$OUT" " 0 set aside" "cps status"
# A stitched event set aside after an update keeps its entity; fixed again,
# it is stitched to the same entity (nothing to write there) and its row goes.
sql "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"bad\"}' WHERE id = 'e2'"
expect_status 1 cps stitch
assert_eq e2 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.failed_events")"
sql "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"5\"}' WHERE id = 'e2'"
expect_status 0 cps stitch
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.failed_events")" "the stitched event's row is gone"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "nothing queued again"

# The trap that finds failing events (pg_temp.cps_stitch_trap) evaluates a
# failing batch in ranges, then event by event. A set-returning expression
# that fails on its third value has given two rows before the error: they
# do not count, neither for the event (set aside, no identifier of its own)
# nor for the range around it (the good events' values come from their own
# evaluation, once each). An event failing in two expressions is set aside
# under the first in config order.
newdb trap
setup
sql "DELETE FROM cdp_ps.state"
sql <<'SQL'
INSERT INTO public.attributes (id) VALUES ('tag');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('tag', 'web', '(jsonb_array_elements_text(payload->''tags'')::int)::text');
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
  SELECT 'w' || i, 'web', timestamp '2024-01-01' + i * interval '1 second',
         jsonb_build_object('n', (i % 7)::text, 'cookie', 'c' || i,
                            'tags', CASE WHEN i = 5 THEN '["901", "902", "x"]'::jsonb
                                         ELSE jsonb_build_array((1000 + i)::text, (2000 + i)::text) END)
  FROM generate_series(1, 300) i;
UPDATE cdp_ce.customer_events SET payload = payload || '{"n": "bad", "tags": ["y"]}' WHERE id = 'w250';
SQL
expect_status 1 cps stitch
assert_contains "$OUT" "2 events set aside"
assert_eq "w250 num|w5 tag" "$(sql "SELECT string_agg(customer_event_id || ' ' || attribute_id, '|' ORDER BY customer_event_id)
                                    FROM cdp_ps.failed_events")" "the failing events, each under its first failing row"
assert_contains "$(sql "SELECT error FROM cdp_ps.failed_events WHERE customer_event_id = 'w5'")" \
  'invalid input syntax for type integer: "x"'
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.identifiers WHERE value IN ('901', '902', 'c5', 'c250')")" \
  "nothing of the failing events, not even the values given before the error"
assert_eq "298|596|596" "$(sql "SELECT count(*) FILTER (WHERE attribute_id = 'cookie') || '|' ||
                                       count(*) FILTER (WHERE attribute_id = 'tag') || '|' ||
                                       count(DISTINCT value) FILTER (WHERE attribute_id = 'tag')
                                FROM cdp_ps.identifiers")" "every other event's identifiers, once"
assert_eq 298 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "the others stitched"

# An error that stops the step, inside the trap (a statement timeout on an
# event after a failing one): raised again, not taken for a failing event;
# nothing of the batch written, its events stay queued.
newdb trap_stop
setup
sql "DELETE FROM cdp_ps.state"
sql "UPDATE cdp_ps.stitching_attributes_config
        SET value_expression = 'CASE WHEN payload ? ''sleep'' THEN pg_sleep(3)::text ELSE payload->>''cookie'' END'
      WHERE attribute_id = 'cookie'"
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES
       ('w1', 'web', '2024-01-01', '{\"n\": \"bad\"}'),
       ('w2', 'web', '2024-01-02', '{\"n\": \"1\", \"sleep\": 1}'),
       ('w3', 'web', '2024-01-03', '{\"n\": \"2\"}')"
sql "ALTER DATABASE $PGDATABASE SET statement_timeout = '1s'"
expect_status 1 cps stitch
assert_contains "$OUT" "statement timeout"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.failed_events")" "nothing set aside"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "nothing stitched"
assert_eq 3 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "the batch stays queued"
sql "ALTER DATABASE $PGDATABASE RESET statement_timeout"
expect_status 1 cps stitch
assert_eq w1 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.failed_events")" "then w1 set aside"
assert_eq 2 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "the others stitched"

# From scratch: the full pass hits the bad payloads, finds the events they
# belong to (one statement over the table's blocks), and reads every event
# again but those, in one snapshot: still one pass, no batches.
newdb scratch
setup
load
expect_status 1 cps stitch
assert_contains "$OUT" "finding the events it fails on to set them aside"
[[ "$OUT" != *"continuing in batches"* ]] || fail "from scratch fell back to batches: $OUT"
check_poison
assert_eq true "$(sql "SELECT stats->'steps'->'stitch'->>'from_scratch' FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" \
  "stitched from scratch"

# An expression whose failures depend on what ran before it in the session
# (volatile: it fails once it has been evaluated 1000 times in a
# transaction) fails the second read too, after the search: stitching from
# scratch then falls back to batches, and every event ends up stitched or
# set aside, none lost, none half-applied.
newdb volatile
setup
sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression =
       'CASE WHEN set_config(''cps_test.calls'', (coalesce(nullif(current_setting(''cps_test.calls'', true), ''''), ''0'')::int + 1)::text, false)::int > 1000
             THEN (payload->>''cookie'')::int::text ELSE payload->>''cookie'' END'
     WHERE attribute_id = 'cookie'"
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
     SELECT 'w' || i, 'web', timestamp '2024-01-01' + i * interval '1 second',
            jsonb_build_object('n', (i % 500)::text, 'cookie', 'c' || (i % 300))
     FROM generate_series(1, 3000) i"
expect_status 1 cps stitch
assert_contains "$OUT" "finding the events it fails on"
assert_contains "$OUT" "continuing in batches"
assert_eq 3000 "$(sql "SELECT (SELECT count(*) FROM cdp_ps.matching) + (SELECT count(*) FROM cdp_ps.failed_events)")" \
  "every event stitched or set aside"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching m JOIN cdp_ps.failed_events f USING (customer_event_id)")" \
  "not both"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue empty"

# An expression that does not compile: its events stay queued, others go on.
newdb broken
setup
sql "DELETE FROM cdp_ps.state"
sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'payload->>>''cookie''' WHERE attribute_id = 'cookie'"
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
     VALUES ('w1', 'web', '2024-01-01', '{\"n\": \"1\"}'), ('c1', 'crm', '2024-01-02', '{\"email\": \"x@y\"}')"
expect_status 1 cps stitch
assert_contains "$OUT" 'attribute "cookie" of event "web" does not work'
assert_contains "$OUT" "stay queued"
assert_eq c1 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.matching")" "crm stitched"
assert_eq w1 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.customer_events_to_process")" "web queued"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.failed_events")" "nothing set aside"
# The run record says what went wrong.
assert_eq errors "$(sql "SELECT status FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")"
sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'payload->>''cookie''' WHERE attribute_id = 'cookie'"
expect_status 0 cps stitch
assert_eq 2 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "stitched once fixed"

# Expressions that compile in parentheses but are not one expression, put
# in the table by hand (the loader refuses them): a comma list, which the
# parentheses make a ROW whose text "(x@y,m)" is no identifier, and a ")" too
# many, which closes the parentheses early. Each is reported with its
# attribute and event, its events stay queued, the other event types are
# stitched, the run exits 1; in batches and from scratch alike.
for mode in incremental scratch; do
  newdb "shapes_$mode"
  setup
  [[ $mode == scratch ]] || sql "DELETE FROM cdp_ps.state"
  sql <<'SQL'
INSERT INTO public.events (id) VALUES ('app');
INSERT INTO cdp_ps.stitching_attributes_config VALUES ('cookie', 'app', 'payload->>''cookie''');
UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'coalesce(payload->>''email''), payload->>''mail'''
 WHERE (attribute_id, event_id) = ('email', 'crm');
UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'lower(payload->>''cookie'')), (payload->>''n'''
 WHERE (attribute_id, event_id) = ('cookie', 'web');
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES
  ('w1', 'web', '2024-01-01', '{"n": "1", "cookie": "c1"}'),
  ('c1', 'crm', '2024-01-02', '{"email": "X@y", "mail": "m"}'),
  ('a1', 'app', '2024-01-03', '{"cookie": "c1"}');
SQL
  expect_status 1 cps stitch
  assert_contains "$OUT" 'stitching expression for attribute "email" of event "crm" does not work: it gives a row (type record), not one value' "$mode"
  assert_contains "$OUT" 'stitching expression for attribute "cookie" of event "web" does not work: the ")" (at character 26 of the expression) closes a parenthesis that the expression did not open' "$mode"
  [[ "$OUT" != *"syntax error"* ]] || fail "$mode: a syntax error reached the stitching statements: $OUT"
  assert_eq a1 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.matching")" "$mode: app stitched"
  assert_eq c1,w1 "$(sql "SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id)
                          FROM cdp_ps.customer_events_to_process")" "$mode: web and crm queued"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.failed_events")" "$mode: nothing set aside"
  assert_eq "cookie=c1" "$(sql "SELECT string_agg(attribute_id || '=' || value, ',') FROM cdp_ps.identifiers")" "$mode: identifiers"
  assert_eq errors "$(sql "SELECT status FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" "$mode: run recorded"
  # Fixed: one value each; the queued events are stitched.
  sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'lower(coalesce(payload->>''email'', payload->>''mail''))'
       WHERE (attribute_id, event_id) = ('email', 'crm')"
  sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'lower(payload->>''cookie'')'
       WHERE (attribute_id, event_id) = ('cookie', 'web')"
  expect_status 0 cps stitch
  assert_eq 3 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "$mode: stitched once fixed"
  assert_eq "cookie=c1,email=x@y,num=1" "$(sql "SELECT string_agg(attribute_id || '=' || value, ',' ORDER BY attribute_id)
                                              FROM cdp_ps.identifiers")" "$mode: identifiers once fixed"
done

# An aggregate or a window function gives no value of one event (the helper
# found max() setting every event aside, and count(*) OVER () merging all the
# events of a type from scratch but not in batches): refused like a broken
# expression, in batches and from scratch alike.
for mode in incremental scratch; do
  newdb "sets_$mode"
  setup
  [[ $mode == scratch ]] || sql "DELETE FROM cdp_ps.state"
  sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'max(payload->>''email'')'
        WHERE attribute_id = 'email';
       UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'count(*) OVER ()'
        WHERE attribute_id = 'num';
       UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'length('')'
        WHERE attribute_id = 'cookie';
       INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES
         ('w1', 'web', '2024-01-01', '{\"cookie\": \"c1\"}'), ('w2', 'web', '2024-01-02', '{\"cookie\": \"c2\"}'),
         ('c1', 'crm', '2024-01-03', '{\"email\": \"x@y\"}')"
  expect_status 1 cps stitch
  assert_contains "$OUT" 'stitching expression for attribute "email" of event "crm" does not work: aggregate functions are not allowed' "$mode"
  assert_contains "$OUT" 'an aggregate such as max() or count() cannot be a stitching expression' "$mode"
  assert_contains "$OUT" 'stitching expression for attribute "num" of event "web" does not work: window functions are not allowed in GROUP BY (at character 1 of the expression)' "$mode"
  assert_contains "$OUT" 'a window function such as count(*) OVER () cannot be a stitching expression' "$mode"
  assert_contains "$OUT" 'stitching expression for attribute "cookie" of event "web" does not work: the quoted string (at character 8 of the expression) is never closed' "$mode"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.failed_events")" "$mode: nothing set aside"
  assert_eq c1,w1,w2 "$(sql "SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id)
                             FROM cdp_ps.customer_events_to_process")" "$mode: their events stay queued"
done

# The same from scratch: broken events end up queued, not lost.
newdb broken_scratch
setup
sql "UPDATE cdp_ps.stitching_attributes_config SET value_expression = 'no_such_function(payload)' WHERE attribute_id = 'email'"
load
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES ('c1', 'crm', '2024-01-02', '{}')"
expect_status 1 cps stitch
assert_eq c1 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.customer_events_to_process")" "crm queued"
assert_eq 3 "$(sql "SELECT count(*) FROM cdp_ps.failed_events")"
pass
