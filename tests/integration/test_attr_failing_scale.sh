# Attributes that fail for every entity of a large batch, where every entity
# has values from before: the narrowing and the write stay linear. Two such
# attributes over 20000 entities took 84 s before (the kept rows were looked
# up by a scan per deleted row; the narrowing rewrote every flag of the batch
# under savepoints hundreds of times); now a few seconds. The bound is wide:
# it catches a quadratic cost coming back, not a slower machine.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
N=20000
sql <<SQL
DELETE FROM cdp_ps.state;
INSERT INTO cdp_ce.customer_events (id, event_time, source_id, type, version, payload)
  SELECT 'e' || i, timestamp '2024-01-01' + i * interval '1 minute', 'web', 'pv', '1',
         jsonb_build_object('n', i::text, 'm', i::text)
  FROM generate_series(1, $N) i;
INSERT INTO cdp_ps.matching SELECT id, 'ent' || substr(id, 2) FROM cdp_ce.customer_events;
INSERT INTO cdp_ps.entities SELECT DISTINCT customer_entity_id, now(), 'x' FROM cdp_ps.matching;
INSERT INTO cdp_attr.customer_entities SELECT id, now(), now(), NULL FROM cdp_ps.entities;
INSERT INTO cdp_attr.attributes VALUES
  ('num', '{"type": "sum", "value": "payload->>''n''"}'),
  ('bad', '{"type": "sum", "value": "payload->>''m''"}'),
  ('bad2', '{"type": "max", "value": "(payload->>''m'')::int"}');
SQL
expect_status 0 cps attributes
assert_eq $((3 * N)) "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "every value there"

sql "UPDATE cdp_ce.customer_events SET payload = payload || '{\"m\": \"x\", \"n\": \"1\"}';
     UPDATE cdp_attr.customer_entities SET calculated = NULL"
t0=$SECONDS
expect_status 1 cps attributes
took=$((SECONDS - t0))
[[ $took -lt 40 ]] || fail "two attributes failing everywhere on $N entities took $took s"
assert_contains "$OUT" 'attribute "bad" failed for 20000 entities in all; their previous values are kept'
assert_contains "$OUT" 'attribute "bad2" failed for 20000 entities in all; their previous values are kept'
assert_eq "$N|$N|$N" "$(sql "SELECT count(*) FILTER (WHERE attribute_id = 'num' AND value = '1') || '|' ||
                                     count(*) FILTER (WHERE attribute_id = 'bad' AND value = substr(customer_entity_id, 4)) || '|' ||
                                     count(*) FILTER (WHERE attribute_id = 'bad2' AND value = substr(customer_entity_id, 4))
                                FROM cdp_attr.customer_attributes")" "new values, and the old ones kept"
echo "took $took s"
pass
