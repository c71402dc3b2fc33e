-- Attribute alternative (a): the best hand-written set-based SQL for the
-- generated definitions (gen/gen_catalog.c), one INSERT ... SELECT per
-- attribute over the whole population, into a table defined like
-- cdp_attr.customer_attributes (the same foreign key to
-- cdp_attr.customer_entities and the same two indexes), so that both pay the
-- same price per stored value.
--
-- Each statement follows SPEC §4: the entity's events pass the source/type/
-- version lists and the filter, `value` (maybe set-returning) gives inner
-- rows, outer rows with a NULL value are dropped, then the type's aggregate:
-- sum/avg/min/max/num_of_unique as GROUP BY, first/last as DISTINCT ON with
-- the (event_time, event id, value) order, most/least_frequent as a GROUP BY
-- of weights then DISTINCT ON, list as DISTINCT, value as min(), the custom
-- queries as the GROUP BY they amount to. Text compares as COLLATE "C".
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench.sql_attributes;
CREATE TABLE bench.sql_attributes (customer_entity_id text REFERENCES cdp_attr.customer_entities (id)
  ON DELETE CASCADE, attribute_id text, value text);
CREATE INDEX ON bench.sql_attributes (customer_entity_id, attribute_id);
CREATE INDEX ON bench.sql_attributes (attribute_id);

-- total_revenue: sum of (payload->>'amount')::numeric over purchases
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'total_revenue', sum((e.payload->>'amount')::numeric)::text
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.type IN ('purchase', 'app_purchase', 'pos_purchase') AND e.payload->>'amount' IS NOT NULL
 GROUP BY m.customer_entity_id;

-- avg_order_value: avg of the same
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'avg_order_value', avg((e.payload->>'amount')::numeric)::text
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.type IN ('purchase', 'app_purchase', 'pos_purchase') AND e.payload->>'amount' IS NOT NULL
 GROUP BY m.customer_entity_id;

-- max_order_value: numeric max of the same
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'max_order_value', max((e.payload->>'amount')::numeric)::text
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.type IN ('purchase', 'app_purchase', 'pos_purchase') AND e.payload->>'amount' IS NOT NULL
 GROUP BY m.customer_entity_id;

-- first_purchase_time: min event_time of events with an amount
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'first_purchase_time', min(e.event_time)::text
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.payload->>'amount' IS NOT NULL AND e.event_time IS NOT NULL
 GROUP BY m.customer_entity_id;

-- last_seen: max event_time
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'last_seen', max(e.event_time)::text
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.event_time IS NOT NULL
 GROUP BY m.customer_entity_id;

-- first_source: source_id of the first event by (event_time, id, value)
INSERT INTO bench.sql_attributes
SELECT DISTINCT ON (m.customer_entity_id) m.customer_entity_id, 'first_source', e.source_id
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.source_id IS NOT NULL
 ORDER BY m.customer_entity_id, e.event_time, e.id COLLATE "C", e.source_id COLLATE "C";

-- last_device_family: last payload->>'device_family' of web and app events
INSERT INTO bench.sql_attributes
SELECT DISTINCT ON (m.customer_entity_id) m.customer_entity_id, 'last_device_family',
       e.payload->>'device_family'
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.source_id IN ('web', 'app') AND e.payload->>'device_family' IS NOT NULL
 ORDER BY m.customer_entity_id, e.event_time DESC, e.id COLLATE "C" DESC,
          e.payload->>'device_family' COLLATE "C" DESC;

-- top_country: most frequent payload->>'country' (ties: smallest value)
INSERT INTO bench.sql_attributes
SELECT DISTINCT ON (entity) entity, 'top_country', v
  FROM (SELECT m.customer_entity_id AS entity, e.payload->>'country' AS v, count(*) AS w
          FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
         WHERE e.payload->>'country' IS NOT NULL
         GROUP BY 1, 2) s
 ORDER BY entity, w DESC, v COLLATE "C";

-- least_used_channel: least frequent payload->>'utm_source' of web events
INSERT INTO bench.sql_attributes
SELECT DISTINCT ON (entity) entity, 'least_used_channel', v
  FROM (SELECT m.customer_entity_id AS entity, e.payload->>'utm_source' AS v, count(*) AS w
          FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
         WHERE e.source_id = 'web' AND e.payload->>'utm_source' IS NOT NULL
         GROUP BY 1, 2) s
 ORDER BY entity, w ASC, v COLLATE "C";

-- emails: every distinct lower(email), non-empty emails only
INSERT INTO bench.sql_attributes
SELECT DISTINCT m.customer_entity_id, 'emails', lower(e.payload->>'email')
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.payload->>'email' <> '';

-- purchased_categories: every distinct category of purchased products
INSERT INTO bench.sql_attributes
SELECT DISTINCT m.customer_entity_id, 'purchased_categories', p.value->>'category'
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 CROSS JOIN LATERAL jsonb_array_elements(e.payload->'products') AS p(value)
 WHERE e.type IN ('purchase', 'app_purchase', 'pos_purchase') AND p.value->>'category' IS NOT NULL;

-- favourite_product: product name with the largest total quantity
INSERT INTO bench.sql_attributes
SELECT DISTINCT ON (entity) entity, 'favourite_product', v
  FROM (SELECT m.customer_entity_id AS entity, p.value->>'name' AS v,
               coalesce(sum((p.value->>'quantity')::numeric), 0) AS w
          FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
         CROSS JOIN LATERAL jsonb_array_elements(e.payload->'products') AS p(value)
         WHERE e.type IN ('purchase', 'app_purchase', 'pos_purchase') AND p.value->>'name' IS NOT NULL
         GROUP BY 1, 2) s
 ORDER BY entity, w DESC, v COLLATE "C";

-- favourite_store: store_id with the largest total amount, store purchases
INSERT INTO bench.sql_attributes
SELECT DISTINCT ON (entity) entity, 'favourite_store', v
  FROM (SELECT m.customer_entity_id AS entity, e.payload->>'store_id' AS v,
               coalesce(sum((e.payload->>'amount')::numeric), 0) AS w
          FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
         WHERE e.source_id = 'pos' AND e.payload->>'store_id' IS NOT NULL
         GROUP BY 1, 2) s
 ORDER BY entity, w DESC, v COLLATE "C";

-- num_cookies: distinct real cookies on the web
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'num_cookies', count(DISTINCT e.payload->>'cookie_id')::text
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.source_id = 'web' AND e.payload->>'cookie_id' NOT IN ('', 'undefined')
 GROUP BY m.customer_entity_id;

-- phone: any non-empty phone of CRM updates and forms (type `value`: any one)
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'phone', min(e.payload->>'phone')
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.type IN ('customer_updated', 'form_submitted') AND e.payload->>'phone' <> ''
 GROUP BY m.customer_entity_id;

-- email_domains: distinct domains of emails containing '@'
INSERT INTO bench.sql_attributes
SELECT DISTINCT m.customer_entity_id, 'email_domains', split_part(lower(e.payload->>'email'), '@', 2)
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE lower(e.payload->>'email') LIKE '%@%';

-- web_user_id: last non-empty user_id of page views version 1-1-0
INSERT INTO bench.sql_attributes
SELECT DISTINCT ON (m.customer_entity_id) m.customer_entity_id, 'web_user_id', e.payload->>'user_id'
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.type = 'page_view' AND e.version = '1-1-0' AND e.payload->>'user_id' <> ''
 ORDER BY m.customer_entity_id, e.event_time DESC, e.id COLLATE "C" DESC,
          e.payload->>'user_id' COLLATE "C" DESC;

-- events_count (custom: SELECT count(*) FROM base): events per entity
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'events_count', count(*)::text
  FROM cdp_ps.matching m
 GROUP BY m.customer_entity_id;

-- purchase_sources (custom: DISTINCT source_id of events with an amount)
INSERT INTO bench.sql_attributes
SELECT DISTINCT m.customer_entity_id, 'purchase_sources', e.source_id
  FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
 WHERE e.payload->>'amount' IS NOT NULL AND e.source_id IS NOT NULL;

-- engagement (custom: events / the context's 90th percentile, 2 decimals)
INSERT INTO bench.sql_attributes
SELECT m.customer_entity_id, 'engagement',
       round(count(*)::numeric / greatest((SELECT value FROM cdp_attr.context
                                            WHERE key = 'events_p90')::numeric, 1), 2)::text
  FROM cdp_ps.matching m
 GROUP BY m.customer_entity_id;
