# Nasty text survives COPY both ways: values read from PostgreSQL with COPY
# (stitching identifiers, attribute values) come back exactly through COPY
# into CPS's tables: tabs, newlines, carriage returns, backslashes, \N,
# unicode, control and binary-looking bytes (everything but NUL). Batches
# write COPY's text format, the full pass its binary format: both give the
# same rows, timestamps at their extremes included.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
sql <<'SQL'
DELETE FROM cdp_ps.state;
INSERT INTO public.attributes (id) VALUES ('v');
INSERT INTO public.events (id) VALUES ('ev');
INSERT INTO cdp_ps.stitching_attributes_config VALUES ('v', 'ev', 'payload->>''v''');
INSERT INTO cdp_attr.attributes VALUES
  ('all', '{"type": "list", "value": "payload->>''v''"}'),
  ('first', '{"type": "first", "value": "payload->>''v''"}');
CREATE TABLE nasty (n int, v text);
INSERT INTO nasty VALUES
  (1, E'tab\there'), (2, E'new\nline'), (3, E'cr\rlf\r\n'), (4, E'back\\slash'), (5, E'\\N'),
  (6, 'N'), (7, E'\\\\t literally'), (8, 'žluťoučký kůň úpěl ďábelské ódy 🐎 ∑'),
  (9, E'\x01\x02\x03\x7f control'), (10, E'ends with backslash\\'), (11, ' spaces  '),
  (12, E'\t\t\n\\\\\n'), (13, repeat('long ', 300)), (14, E'quote '' " and \b\f\v'),
  (15, E'\u00ff\u0100\uffff'), (16, 'x');
-- each value its own event and entity; the event id is nasty too
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
  SELECT 'e' || n || E'\t' || v, 'ev', timestamp '2024-01-01' + n * interval '1 hour',
         jsonb_build_object('v', v)
  FROM nasty;
SQL
expect_status 0 cps stitch
assert_eq 16 "$(sql "SELECT count(*) FROM cdp_ps.identifiers")" "one identifier per value"
assert_eq 0 "$(sql "SELECT count(*) FROM nasty n WHERE NOT EXISTS (
                      SELECT 1 FROM cdp_ps.identifiers i WHERE i.value = n.v)")" "identifiers exact"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ce.customer_events e
                     JOIN cdp_ps.matching m ON m.customer_event_id = e.id
                     WHERE m.customer_entity_id <> $(entity_id_of e.event_time e.id)")" \
  "event ids exact, entity ids from them"
expect_status 0 cps attributes
assert_eq 0 "$(sql "SELECT count(*) FROM nasty n WHERE NOT EXISTS (
                      SELECT 1 FROM cdp_attr.customer_attributes a
                       JOIN cdp_ps.matching m ON m.customer_entity_id = a.customer_entity_id
                      WHERE a.attribute_id = 'all' AND a.value = n.v
                        AND m.customer_event_id = 'e' || n.n || E'\t' || n.v)")" "list values exact"
assert_eq 16 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes WHERE attribute_id = 'first'
                      AND value IN (SELECT v FROM nasty)")" "first values exact"

# Times at the edges, written by a batch (text), then from scratch (binary);
# every event is its own entity, so both give the same ids.
sql <<'SQL'
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) VALUES
  ('t-inf', 'ev', 'infinity', '{"v": "t1"}'), ('t-ninf', 'ev', '-infinity', '{"v": "t2"}'),
  ('t-bc', 'ev', '0044-03-15 12:00:00.000001 BC', '{"v": "t3"}'),
  ('t-null', 'ev', NULL, '{"v": "t4"}'), ('t-us', 'ev', '2024-02-29 23:59:59.999999', '{"v": "t5"}'),
  (E'tab\tnew\nline\\', 'ev', '1999-12-31 23:59:59.5', '{"v": "y"}');
SQL
expect_status 0 cps stitch
state() {
  echo "$(table_digest cdp_ps.matching) $(table_digest cdp_ps.identifiers)" \
       "$(table_digest "(SELECT id, first_event_time, first_event_id FROM cdp_ps.entities)")" \
       "$(table_digest "(SELECT id FROM cdp_attr.customer_entities)")"
}
by_batches=$(state)
assert_eq "0044-03-15 12:00:00.000001 BC|infinity|-infinity||2024-02-29 23:59:59.999999" \
  "$(sql "SELECT string_agg(coalesce(first_event_time::text, ''), '|' ORDER BY first_event_id)
            FROM cdp_ps.entities WHERE first_event_id LIKE 't-%'")" "edge times kept"
assert_eq "000000000000 ffffffffffff 000000000000 000000000000 018df74f83ff 00dc6acfaa0c" \
  "$(sql "SELECT string_agg(left(m.customer_entity_id, 12), ' ' ORDER BY e.id COLLATE \"C\")
            FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
           WHERE e.id LIKE 't-%' OR e.id LIKE 'tab%'")" "entity ids begin with the time, clamped"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.matching m
                     JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
                     WHERE m.customer_entity_id <> $(entity_id_of e.event_time e.id)")" \
  "entity ids at the edge times as in SQL"
sql "TRUNCATE cdp_attr.customer_entities CASCADE; TRUNCATE cdp_ps.matching;
     DROP TABLE cdp_ps.customer_events_to_process" >/dev/null
expect_status 0 cps stitch
assert_contains "$OUT" "stitching every event from scratch"
assert_eq "$by_batches" "$(state)" "from scratch (binary COPY) = batches (text COPY)"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities
                     WHERE created IS DISTINCT FROM modified OR created > now()
                        OR created < now() - interval '1 hour'")" "created and modified: the run's time"
pass
