-- Attribute alternative (b): per-entity queries, the naive way. One prepared
-- statement per attribute definition, run once per entity and attribute
-- ($1 = the entity id); run.sh executes them for a sample of entities, one
-- transaction per entity (its values replaced at once, as CPS does), and
-- extrapolates to the population. Each statement finds the entity's events
-- through the index on cdp_ps.matching (customer_entity_id) and the primary
-- key of cdp_ce.customer_events -- the plan a per-entity query gets.
-- The aggregates are those of attr_sql.sql for one entity; an aggregate over
-- no rows gives NULL, which is not stored.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench.naive_attributes;
CREATE TABLE bench.naive_attributes (customer_entity_id text REFERENCES cdp_attr.customer_entities (id)
  ON DELETE CASCADE, attribute_id text, value text);
CREATE INDEX ON bench.naive_attributes (customer_entity_id, attribute_id);
CREATE INDEX ON bench.naive_attributes (attribute_id);

CREATE TEMP VIEW naive_events AS
  SELECT m.customer_entity_id AS entity, e.*
    FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id;

PREPARE total_revenue(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'total_revenue', v FROM (
  SELECT sum((payload->>'amount')::numeric)::text AS v FROM naive_events
   WHERE entity = $1 AND type IN ('purchase', 'app_purchase', 'pos_purchase')) s
 WHERE v IS NOT NULL;

PREPARE avg_order_value(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'avg_order_value', v FROM (
  SELECT avg((payload->>'amount')::numeric)::text AS v FROM naive_events
   WHERE entity = $1 AND type IN ('purchase', 'app_purchase', 'pos_purchase')) s
 WHERE v IS NOT NULL;

PREPARE max_order_value(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'max_order_value', v FROM (
  SELECT max((payload->>'amount')::numeric)::text AS v FROM naive_events
   WHERE entity = $1 AND type IN ('purchase', 'app_purchase', 'pos_purchase')) s
 WHERE v IS NOT NULL;

PREPARE first_purchase_time(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'first_purchase_time', v FROM (
  SELECT min(event_time)::text AS v FROM naive_events
   WHERE entity = $1 AND payload->>'amount' IS NOT NULL) s
 WHERE v IS NOT NULL;

PREPARE last_seen(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'last_seen', v FROM (
  SELECT max(event_time)::text AS v FROM naive_events WHERE entity = $1) s
 WHERE v IS NOT NULL;

PREPARE first_source(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'first_source', source_id FROM naive_events
 WHERE entity = $1 AND source_id IS NOT NULL
 ORDER BY event_time, id COLLATE "C", source_id COLLATE "C" LIMIT 1;

PREPARE last_device_family(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'last_device_family', payload->>'device_family' FROM naive_events
 WHERE entity = $1 AND source_id IN ('web', 'app') AND payload->>'device_family' IS NOT NULL
 ORDER BY event_time DESC, id COLLATE "C" DESC, payload->>'device_family' COLLATE "C" DESC LIMIT 1;

PREPARE top_country(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'top_country', v FROM (
  SELECT payload->>'country' AS v, count(*) AS w FROM naive_events
   WHERE entity = $1 AND payload->>'country' IS NOT NULL GROUP BY 1) s
 ORDER BY w DESC, v COLLATE "C" LIMIT 1;

PREPARE least_used_channel(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'least_used_channel', v FROM (
  SELECT payload->>'utm_source' AS v, count(*) AS w FROM naive_events
   WHERE entity = $1 AND source_id = 'web' AND payload->>'utm_source' IS NOT NULL GROUP BY 1) s
 ORDER BY w ASC, v COLLATE "C" LIMIT 1;

PREPARE emails(text) AS INSERT INTO bench.naive_attributes
SELECT DISTINCT $1, 'emails', lower(payload->>'email') FROM naive_events
 WHERE entity = $1 AND payload->>'email' <> '';

PREPARE purchased_categories(text) AS INSERT INTO bench.naive_attributes
SELECT DISTINCT $1, 'purchased_categories', p.value->>'category'
  FROM naive_events e CROSS JOIN LATERAL jsonb_array_elements(e.payload->'products') AS p(value)
 WHERE e.entity = $1 AND e.type IN ('purchase', 'app_purchase', 'pos_purchase')
   AND p.value->>'category' IS NOT NULL;

PREPARE favourite_product(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'favourite_product', v FROM (
  SELECT p.value->>'name' AS v, coalesce(sum((p.value->>'quantity')::numeric), 0) AS w
    FROM naive_events e CROSS JOIN LATERAL jsonb_array_elements(e.payload->'products') AS p(value)
   WHERE e.entity = $1 AND e.type IN ('purchase', 'app_purchase', 'pos_purchase')
     AND p.value->>'name' IS NOT NULL GROUP BY 1) s
 ORDER BY w DESC, v COLLATE "C" LIMIT 1;

PREPARE favourite_store(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'favourite_store', v FROM (
  SELECT payload->>'store_id' AS v, coalesce(sum((payload->>'amount')::numeric), 0) AS w FROM naive_events
   WHERE entity = $1 AND source_id = 'pos' AND payload->>'store_id' IS NOT NULL GROUP BY 1) s
 ORDER BY w DESC, v COLLATE "C" LIMIT 1;

PREPARE num_cookies(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'num_cookies', count(DISTINCT payload->>'cookie_id')::text FROM naive_events
 WHERE entity = $1 AND source_id = 'web' AND payload->>'cookie_id' NOT IN ('', 'undefined')
HAVING count(*) > 0;

PREPARE phone(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'phone', payload->>'phone' FROM naive_events
 WHERE entity = $1 AND type IN ('customer_updated', 'form_submitted') AND payload->>'phone' <> ''
 LIMIT 1;

PREPARE email_domains(text) AS INSERT INTO bench.naive_attributes
SELECT DISTINCT $1, 'email_domains', split_part(lower(payload->>'email'), '@', 2) FROM naive_events
 WHERE entity = $1 AND lower(payload->>'email') LIKE '%@%';

PREPARE web_user_id(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'web_user_id', payload->>'user_id' FROM naive_events
 WHERE entity = $1 AND type = 'page_view' AND version = '1-1-0' AND payload->>'user_id' <> ''
 ORDER BY event_time DESC, id COLLATE "C" DESC, payload->>'user_id' COLLATE "C" DESC LIMIT 1;

PREPARE events_count(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'events_count', count(*)::text FROM naive_events WHERE entity = $1;

PREPARE purchase_sources(text) AS INSERT INTO bench.naive_attributes
SELECT DISTINCT $1, 'purchase_sources', source_id FROM naive_events
 WHERE entity = $1 AND payload->>'amount' IS NOT NULL AND source_id IS NOT NULL;

PREPARE engagement(text) AS INSERT INTO bench.naive_attributes
SELECT $1, 'engagement',
       round(count(*)::numeric / greatest((SELECT value FROM cdp_attr.context
                                            WHERE key = 'events_p90')::numeric, 1), 2)::text
  FROM naive_events WHERE entity = $1;
