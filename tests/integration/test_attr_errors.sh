# Errors (SPEC §4.4, §4.6): a broken definition or a bad value never stops the
# others; the message names the attribute, the entity and the database's
# words; the failing attribute keeps its old values there; the run exits 1.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
# 60 entities with 3 events each, stitched by hand.
sql <<'SQL'
DELETE FROM cdp_ps.state;
INSERT INTO cdp_ce.customer_events (id, event_time, source_id, type, version, payload)
  SELECT 'e' || i || '-' || j, timestamp '2024-01-01' + (i * 3 + j) * interval '1 hour', 'web', 'pv', '1',
         jsonb_build_object('n', (i * j)::text, 'd', j::text, 'i', j || ' hours')
  FROM generate_series(1, 60) i, generate_series(1, 3) j;
INSERT INTO cdp_ps.matching SELECT id, 'ent' || split_part(substr(id, 2), '-', 1) FROM cdp_ce.customer_events;
INSERT INTO cdp_ps.entities SELECT DISTINCT customer_entity_id, now(), 'x' FROM cdp_ps.matching;
INSERT INTO cdp_attr.customer_entities SELECT id, now(), now(), NULL FROM cdp_ps.entities;
INSERT INTO cdp_attr.attributes VALUES
  ('num', '{"type": "sum", "value": "payload->>''n''"}'),
  ('cnt', '{"type": "custom", "query": "SELECT (100 / (count(*) - 3 + (min(payload->>''d'')::int)))::text AS value FROM base"}'),
  ('longest', '{"type": "max", "value": "(payload->>''i'')::interval"}'),
  ('ok', '{"type": "last", "value": "payload->>''n''"}'),
  ('cnt2', '{"type": "custom", "query": "SELECT count(*) AS value FROM base"}');
INSERT INTO cdp_attr.context (key, query) VALUES ('good', 'SELECT 42'), ('bad', 'SELECT 1/0'),
  ('flag', 'SELECT 2 > 1');
SQL
expect_status 1 cps attributes   # the bad context query
assert_contains "$OUT" 'context "bad": the query failed, the old value is kept: division by zero'
assert_eq "42" "$(sql "SELECT value FROM cdp_attr.context WHERE key = 'good'")" "other context rows refreshed"
assert_eq "true" "$(sql "SELECT value FROM cdp_attr.context WHERE key = 'flag'")" \
  "a boolean as text is what its cast gives, as for attribute values"
assert_eq 300 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "5 attributes x 60 entities"
sql "UPDATE cdp_attr.context SET query = 'SELECT 7', modified = NULL WHERE key = 'bad'"
before=$(table_digest cdp_attr.customer_attributes)

# Three entities get values the definitions fail on; everything is recalculated.
sql "UPDATE cdp_ce.customer_events SET payload = payload || '{\"n\": \"many\", \"d\": \"0\", \"i\": \"forever\"}'
      WHERE id IN ('e7-1', 'e21-2', 'e55-3');
     UPDATE cdp_ce.customer_events SET payload = payload || jsonb_build_object('n', '1000')
      WHERE id NOT IN ('e7-1', 'e21-2', 'e55-3');
     UPDATE cdp_attr.customer_entities SET calculated = NULL;"
expect_status 1 cps attributes
for e in ent7 ent21 ent55; do
  assert_contains "$OUT" "attribute \"num\" failed for entity $e: invalid input syntax for type numeric"
  assert_contains "$OUT" "attribute \"longest\" failed for entity $e: invalid input syntax for type interval"
done
assert_contains "$OUT" 'attribute "cnt" failed for entity ent7: division by zero'
old() { sql "SELECT value FROM cdp_attr.customer_attributes WHERE customer_entity_id = '$1' AND attribute_id = '$2'"; }
# entity i's events carry n = i, 2i, 3i: the sum was 6i; now n = 1000 but where it fails
assert_eq 42 "$(old ent7 num)" "ent7 keeps its old sum"
assert_eq 126 "$(old ent21 num)" "ent21 keeps its old sum"
assert_eq 330 "$(old ent55 num)" "ent55 keeps its old sum"
assert_eq 3000 "$(old ent8 num)" "the others are recalculated"
assert_eq 03:00:00 "$(old ent7 longest)" "an attribute PostgreSQL aggregates keeps its value too"
assert_eq 100 "$(old ent7 cnt)" "custom keeps its value"
assert_eq 1000 "$(old ent7 ok)" "other attributes of a failing entity are calculated"
assert_eq 300 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")"
assert_eq 3 "$(old ent7 cnt2)" "a custom query next to a failing one is calculated"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated IS NULL")" "all marked calculated"
assert_eq errors "$(sql "SELECT status FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")"
assert_eq 3 "$(sql "SELECT stats->'steps'->'attributes'->'per_attribute'->'num'->>'failed_entities'
                    FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" "failures counted per attribute"

# A definition that compiles but fails on every entity is given up on quickly;
# one that does not compile is reported once. The others go on.
sql "INSERT INTO cdp_attr.attributes VALUES
       ('everywhere', '{\"type\": \"sum\", \"value\": \"payload->>''i''\"}'),
       ('broken', '{\"type\": \"max\", \"value\": \"payload->>>''i''\"}');
     UPDATE cdp_ce.customer_events SET payload = payload || '{\"n\": \"5\", \"d\": \"1\", \"i\": \"1 hour\"}';
     UPDATE cdp_attr.customer_entities SET calculated = NULL;"
t0=$SECONDS
expect_status 1 cps attributes
assert_contains "$OUT" 'attribute "everywhere" fails for every entity tried (32 so far)'
assert_contains "$OUT" 'attribute "broken": the definition does not work: operator does not exist'
[[ $(grep -c 'attribute "everywhere" failed for entity' <<<"$OUT") -le 10 ]] || fail "too many lines for one attribute"
[[ $((SECONDS - t0)) -lt 60 ]] || fail "giving up took too long"
assert_eq 15 "$(old ent1 num)" "the others are calculated"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes WHERE attribute_id IN ('everywhere', 'broken')")"

# A context query that returns no result set (a command, only a comment) is
# reported as such, and what it did is rolled back.
sql "INSERT INTO cdp_attr.context (key, query) VALUES
       ('ddl', 'CREATE TABLE public.zz AS SELECT 1 AS a'), ('nothing', '-- only a comment')"
expect_status 1 cps attributes
for key in ddl nothing; do
  assert_contains "$OUT" "context \"$key\": the query returned no result set"
done
assert_contains "$OUT" "a context query must be a SELECT returning one value"
assert_eq "" "$(sql "SELECT to_regclass('public.zz')")" "the command was rolled back"

# A weight that is no number, where the type weighs values: the message says
# which keys to fix.
sql "DELETE FROM cdp_attr.context WHERE key IN ('ddl', 'nothing');
     INSERT INTO cdp_attr.attributes VALUES
       ('text_weight', '{\"type\": \"most_frequent\", \"value\": \"payload->>''d''\", \"weight\": \"payload->>''d''\"}')"
expect_status 1 cps attributes
assert_contains "$OUT" 'attribute "text_weight": the definition does not work: operator does not exist: text * integer'
assert_contains "$OUT" "(the final weight is weight * outer_weight: both must be numbers; cast them, as in (payload->>'quantity')::numeric)"
pass
