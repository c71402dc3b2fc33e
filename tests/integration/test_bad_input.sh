# Bad input (SPEC §1.1, §3, §4.4): a corpus of malformed configurations, and
# event payloads CPS must survive: huge strings, deep nesting, unicode,
# escaped NULs, and a super-connector entity with very many events.
source "$(dirname "$0")/lib.sh"
SUPER=${SUPER:-100000}

# Every malformed configuration exits 2, names what is wrong, connects to nothing.
corpus=$(dirname "$0")/data/config_corpus
n=0
for f in "$corpus"/*.json; do
  expected=$(cat "${f%.json}.expect")
  rc=0
  OUT=$(PGHOST=/nonexistent "$CPS" -c "$f" run 2>&1) || rc=$?
  [[ $rc -eq 2 ]] || fail "$(basename "$f"): exit $rc, expected 2: $OUT"
  assert_contains "$OUT" "$expected" "$(basename "$f")"
  [[ "$OUT" != *"connect"* ]] || fail "$(basename "$f"): tried to connect"
  n=$((n + 1))
done
echo "$n malformed configurations rejected"

newdb
expect_status 0 cps init
sql <<'SQL'
DELETE FROM cdp_ps.state;
INSERT INTO public.attributes (id) VALUES ('k');
INSERT INTO public.events (id) VALUES ('ev');
INSERT INTO cdp_ps.stitching_attributes_config VALUES ('k', 'ev', 'payload->>''k''');
INSERT INTO cdp_attr.attributes VALUES
  ('texts', '{"type": "list", "value": "payload->>''t''"}'),
  ('longest', '{"type": "max", "value": "length(payload->>''t'')"}'),
  ('depth', '{"type": "max", "value": "jsonb_path_query_first(payload, ''strict $.**'')::text"}'),
  ('n', '{"type": "custom", "query": "SELECT count(*) AS value FROM base"}');
-- a 10 MB string, 2000-deep nesting, unicode, an escaped NUL (\u0000 as text)
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES
  ('huge', 'ev', '2024-01-01', jsonb_build_object('k', 'a', 't', repeat('x', 10000000))),
  ('deep', 'ev', '2024-01-02', (repeat('{"d": ', 2000) || '1' || repeat('}', 2000))::jsonb || '{"k": "a"}'),
  ('uni', 'ev', '2024-01-03', '{"k": "a", "t": "žluť 🐎 \\u0000 \u00e9"}'),
  ('long-id', 'ev', '2024-01-04', jsonb_build_object('k', repeat('k', 10000)));
SQL
expect_status 0 cps stitch
assert_contains "$OUT" "longer than 2000 bytes were ignored"
assert_eq 1 "$(sql "SELECT count(DISTINCT customer_entity_id) FROM cdp_ps.matching WHERE customer_event_id IN ('huge', 'deep', 'uni')")"
expect_status 0 cps attributes
assert_eq 10000000 "$(sql "SELECT max(length(value)) FROM cdp_attr.customer_attributes WHERE attribute_id = 'texts'")" "10 MB value stored"
assert_eq 3 "$(sql "SELECT value FROM cdp_attr.customer_attributes a JOIN cdp_ps.matching m ON m.customer_entity_id = a.customer_entity_id
                    WHERE m.customer_event_id = 'huge' AND attribute_id = 'n'")"
assert_contains "$(sql "SELECT string_agg(value, ' ') FROM cdp_attr.customer_attributes WHERE attribute_id = 'texts' AND length(value) < 100")" '🐎 \u0000 é'

# A super-connector: one identifier shared by SUPER events.
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
     SELECT 's' || i, 'ev', timestamp '2024-02-01' + i * interval '1 second',
            jsonb_build_object('k', 'shared', 't', 'v' || (i % 1000))
     FROM generate_series(1, $SUPER) i"
/usr/bin/time -f "%M" -o "$TEST_TMP/rss" "$CPS" stitch >"$TEST_TMP/log" 2>&1 || { cat "$TEST_TMP/log"; fail "stitch"; }
assert_eq 1 "$(sql "SELECT count(DISTINCT customer_entity_id) FROM cdp_ps.matching WHERE customer_event_id LIKE 's%'")" "one entity"
/usr/bin/time -f "%M" -o "$TEST_TMP/rss2" "$CPS" attributes >"$TEST_TMP/log" 2>&1 || { cat "$TEST_TMP/log"; fail "attributes"; }
big=$(sql "SELECT customer_entity_id FROM cdp_ps.matching WHERE customer_event_id = 's1'")
assert_eq "$SUPER" "$(sql "SELECT value FROM cdp_attr.customer_attributes WHERE customer_entity_id = '$big' AND attribute_id = 'n'")"
assert_eq 1000 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes WHERE customer_entity_id = '$big' AND attribute_id = 'texts'")"
echo "super-connector of $SUPER events: peak RSS stitch $(cat "$TEST_TMP/rss") kB, attributes $(cat "$TEST_TMP/rss2") kB"
pass
