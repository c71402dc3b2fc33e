# Stitching expressions of every legitimate kind (SPEC §3) pass the check that
# refuses rows and stray ")" (test_stitch_poison.sh), and give the same
# identifiers from scratch (scalar ones as CASE columns, set-returning ones in
# a LATERAL) as in batches (all in a LATERAL): set-returning, casts, CASE, a
# subquery, several arguments, values of types other than text, parentheses
# at the top level, a ")" in a comment or a string.
source "$(dirname "$0")/lib.sh"

setup() {
  expect_status 0 cps init
  sql <<'SQL'
INSERT INTO public.attributes (id) VALUES
  ('ids'), ('n'), ('vip'), ('email'), ('pair'), ('uuid'), ('day'), ('ab'), ('d');
INSERT INTO public.events (id) VALUES ('web'), ('crm');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('ids', 'web', 'jsonb_array_elements_text(payload->''ids'')'),
  ('n', 'web', '(payload->>''n'')::int * 2'),
  ('vip', 'web', 'CASE WHEN payload ? ''vip'' THEN ''vip-'' || (payload->>''vip'') END'),
  ('email', 'web', '(SELECT lower(e.payload->>''email'') FROM cdp_ce.customer_events e
                     WHERE e.id = customer_events.id)'),
  ('pair', 'crm', 'concat_ws(''-'', payload->>''a'', payload->>''b'')'),
  ('uuid', 'crm', 'md5(payload->>''u'')::uuid'),
  ('day', 'crm', 'date_trunc(''day'', event_time)'),
  ('ab', 'crm', '(payload->>''a'') || (payload->>''b'') -- a ) in a comment'),
  ('d', 'crm', 'nullif(payload->>''d'', '')'')');
SQL
}
events() {
  sql <<'SQL'
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES
  ('w1', 'web', '2024-01-01 10:00', '{"ids": ["i1", "i2"], "n": "21", "vip": "1", "email": "A@X"}'),
  ('w2', 'web', '2024-01-02 10:00', '{"ids": ["i2"]}'),
  ('w3', 'web', '2024-01-03 10:00', '{"n": "21"}'),
  ('c1', 'crm', '2024-01-04 10:00', '{"a": "x", "b": "y", "u": "k", "d": ")"}'),
  ('c2', 'crm', '2024-01-04 23:00', '{"d": "d2"}');
SQL
}
entities() {
  sql "SELECT string_agg(ids, '|' ORDER BY ids) FROM (
         SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id) AS ids
         FROM cdp_ps.matching GROUP BY customer_entity_id) g"
}
identifiers() {
  sql "SELECT string_agg(attribute_id || '=' || value, '|' ORDER BY attribute_id, value COLLATE \"C\")
       FROM cdp_ps.identifiers"
}

for mode in scratch incremental; do
  newdb "$mode"
  setup
  [[ $mode == scratch ]] || sql "DELETE FROM cdp_ps.state"
  events
  expect_status 0 cps stitch
  [[ "$OUT" != *"does not work"* ]] || fail "$mode: an expression was refused: $OUT"
  assert_eq "c1,c2|w1,w2,w3" "$(entities)" "$mode: entities"
  assert_eq "ab=xy|d=d2|day=2024-01-04 00:00:00|email=a@x|ids=i1|ids=i2|n=42|pair=x-y|uuid=$(sql "SELECT md5('k')::uuid")|vip=vip-1" \
    "$(identifiers)" "$mode: identifiers"
  assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "$mode: queue empty"
done
pass
