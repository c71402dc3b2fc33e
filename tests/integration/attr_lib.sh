# Helpers of the attribute isolation tests (sourced after lib.sh).

# entities N PAYLOAD: ent00001..entN, one event each, hand-stitched in the
# order of i; the payload is SQL over i
entities() {
  sql "TRUNCATE cdp_ce.customer_events, cdp_ps.matching, cdp_ps.entities, cdp_attr.attributes;
       SET client_min_messages = warning; TRUNCATE cdp_attr.customer_entities CASCADE;
       DELETE FROM cdp_ps.state;
       INSERT INTO cdp_ce.customer_events (id, event_time, source_id, type, version, payload)
         SELECT 'e' || i, timestamp '2024-01-01' + i * interval '1 hour', 'web', 'pv', '1', $2
         FROM generate_series(1, $1) i;
       INSERT INTO cdp_ps.matching SELECT id, 'ent' || lpad(substr(id, 2), 5, '0') FROM cdp_ce.customer_events;
       INSERT INTO cdp_ps.entities SELECT customer_entity_id, now(), 'x' FROM cdp_ps.matching;
       INSERT INTO cdp_attr.customer_entities SELECT id, now(), now(), NULL FROM cdp_ps.entities;"
}
count() { sql "SELECT count(*) FROM cdp_attr.customer_attributes WHERE attribute_id = '$1'"; }
stat() { sql "SELECT stats#>>'{steps,attributes,per_attribute,$1,$2}' FROM cdp_ps.runs ORDER BY id DESC LIMIT 1"; }
uncalculated() { sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated IS NULL"; }
