-- Benchmark helpers, created (untimed) in every database the benchmark measures in.
-- Schema names are CPS's defaults (cdp_ce, cdp_ps, cdp_attr); cps-gen writes there.
--
-- bench.identifier_rows  the evaluated stitching expressions: one row per
--                        (event, identifier) -- what every stitching alternative
--                        starts from. Built from cdp_ps.stitching_attributes_config
--                        exactly as CPS builds its extraction: one UNION ALL branch
--                        per config row, chosen by the event's definition, NULL and
--                        '' dropped.
-- bench.extraction       a query of the shape CPS's from-scratch pass COPYed out
--                        when this benchmark was written (id, event_time, broken
--                        flag, config row, value; LEFT JOIN so that events without
--                        identifiers come too). The floor replays CPS's own
--                        statement, captured from the server log; this view is its
--                        fallback when that fails.
-- bench.grp              the config's event definitions numbered as CPS numbers
--                        them (its pg_temp.cps_grp: by event_id).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgrouting CASCADE;  -- needs postgis
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
CREATE SCHEMA IF NOT EXISTS bench;

-- The config's event definitions, numbered (CPS's pg_temp.cps_grp).
DROP TABLE IF EXISTS bench.grp CASCADE;
CREATE TABLE bench.grp AS
  SELECT event_id, (dense_rank() OVER (ORDER BY event_id) - 1)::int AS g, false AS broken
    FROM (SELECT DISTINCT event_id FROM cdp_ps.stitching_attributes_config) d;
ANALYZE bench.grp;

DO $$
DECLARE
  branches_attr text;  -- value tagged with its attribute id (identifier = (attribute, value))
  branches_row text;   -- value tagged with its config row number (as CPS does)
BEGIN
  SELECT string_agg(format('SELECT %L::text AS attribute_id, (%s)::text AS v WHERE customer_events.bench_g = %s',
                           c.attribute_id, c.value_expression, g.g),
                    E'\n  UNION ALL ' ORDER BY c.event_id, c.attribute_id),
         string_agg(format('SELECT %s AS c, (%s)::text AS v WHERE customer_events.bench_g = %s',
                           c.n, c.value_expression, g.g),
                    E'\n  UNION ALL ' ORDER BY c.n)
    INTO branches_attr, branches_row
    FROM (SELECT *, (row_number() OVER (ORDER BY event_id, attribute_id) - 1)::int AS n
            FROM cdp_ps.stitching_attributes_config) c
    JOIN bench.grp g ON g.event_id = c.event_id;

  EXECUTE format($v$
    CREATE OR REPLACE VIEW bench.identifier_rows AS
    SELECT customer_events.id, x.attribute_id, x.v AS value
      FROM (SELECT e.*, g.g AS bench_g FROM cdp_ce.customer_events e
              JOIN bench.grp g ON g.event_id = e.event_id) AS customer_events
     CROSS JOIN LATERAL (%s) AS x
     WHERE x.v <> ''$v$, branches_attr);

  EXECUTE format($v$
    CREATE OR REPLACE VIEW bench.extraction AS
    SELECT customer_events.id, customer_events.event_time, customer_events.bench_broken, x.c, x.v
      FROM (SELECT e.*, g.g AS bench_g, g.broken AS bench_broken FROM cdp_ce.customer_events e
              LEFT JOIN bench.grp g ON g.event_id = e.event_id) AS customer_events
      LEFT JOIN LATERAL (%s) AS x ON x.v <> ''$v$, branches_row);
END $$;

-- Partition check: does the matching in table `alt` (customer_event_id, label)
-- group the events exactly as CPS's matching in table `ref` does? The ids
-- differ, so compare the partitions: every event in both, and the pairs
-- (CPS entity, alternative's label) are as many as the entities and as the labels.
CREATE OR REPLACE FUNCTION bench.same_partition(ref regclass, alt regclass, OUT ok boolean, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
  events bigint; ref_rows bigint; alt_rows bigint; joined bigint;
  ents bigint; labels bigint; pairs bigint;
BEGIN
  SELECT count(*) INTO events FROM cdp_ce.customer_events;
  EXECUTE format('SELECT count(*) FROM %s', ref) INTO ref_rows;
  EXECUTE format('SELECT count(*) FROM %s', alt) INTO alt_rows;
  EXECUTE format($q$SELECT count(*), count(DISTINCT r.customer_entity_id), count(DISTINCT a.label),
                           count(DISTINCT (r.customer_entity_id, a.label))
                      FROM %s r JOIN %s a ON a.customer_event_id = r.customer_event_id$q$, ref, alt)
     INTO joined, ents, labels, pairs;
  ok := ref_rows = events AND alt_rows = events AND joined = events AND ents = labels AND ents = pairs;
  detail := format('events %s, rows: CPS %s, alternative %s, joined %s; entities %s, labels %s, pairs %s',
                   events, ref_rows, alt_rows, joined, ents, labels, pairs);
END $$;

-- Attribute check: do the rows of table `alt` (customer_entity_id, attribute_id,
-- value) equal CPS's cdp_attr.customer_attributes, for every entity or for the
-- entities listed in table `only` (customer_entity_id)? Values of avg and sum
-- compare as numbers (trailing zeros may differ, SPEC §4.3); for the type
-- `value` ("any one value") only the presence is compared here, and
-- bench.value_attributes_valid() checks that the chosen values are the entity's.
-- detail lists, per attribute with differences, rows only in CPS / only in the
-- alternative, and one example.
CREATE OR REPLACE FUNCTION bench.same_attributes(alt regclass, only_entities regclass DEFAULT NULL,
                                                 OUT ok boolean, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
  filter text := CASE WHEN only_entities IS NULL THEN 'true'
                      ELSE format('r.customer_entity_id IN (SELECT customer_entity_id FROM %s)', only_entities) END;
  rows_cps bigint; rows_alt bigint;
BEGIN
  EXECUTE format($q$
    WITH defs AS (SELECT id, definition->>'type' AS type FROM cdp_attr.attributes),
    cps AS (SELECT r.customer_entity_id, r.attribute_id,
                   CASE d.type WHEN 'value' THEN NULL
                               WHEN 'sum' THEN trim_scale(r.value::numeric)::text
                               WHEN 'avg' THEN trim_scale(r.value::numeric)::text
                               ELSE r.value END AS value
              FROM cdp_attr.customer_attributes r JOIN defs d ON d.id = r.attribute_id WHERE %1$s),
    alt AS (SELECT r.customer_entity_id, r.attribute_id,
                   CASE d.type WHEN 'value' THEN NULL
                               WHEN 'sum' THEN trim_scale(r.value::numeric)::text
                               WHEN 'avg' THEN trim_scale(r.value::numeric)::text
                               ELSE r.value END AS value
              FROM %2$s r JOIN defs d ON d.id = r.attribute_id WHERE %1$s),
    only_cps AS (SELECT * FROM cps EXCEPT ALL SELECT * FROM alt),
    only_alt AS (SELECT * FROM alt EXCEPT ALL SELECT * FROM cps),
    diff AS (SELECT 'CPS' AS side, * FROM only_cps UNION ALL SELECT 'alternative', * FROM only_alt)
    SELECT (SELECT count(*) FROM cps), (SELECT count(*) FROM alt),
           (SELECT string_agg(format('%%s: %%s rows only in CPS, %%s only in the alternative (e.g. %%s)',
                                     attribute_id, n_cps, n_alt, example), '; ')
              FROM (SELECT attribute_id, count(*) FILTER (WHERE side = 'CPS') AS n_cps,
                           count(*) FILTER (WHERE side <> 'CPS') AS n_alt,
                           min(format('entity %%s: %%s has %%L', customer_entity_id, side, value)) AS example
                      FROM diff GROUP BY attribute_id) per)
  $q$, filter, alt) INTO rows_cps, rows_alt, detail;
  ok := detail IS NULL AND rows_cps > 0;
  detail := format('%s values in CPS, %s in the alternative%s', rows_cps, rows_alt,
                   coalesce('; DIFFERENCES: ' || detail, ''));
END $$;

-- The `value` attribute of the generated catalog (phone: any non-empty
-- payload->>'phone' of customer_updated/form_submitted events): is every
-- stored value one of that entity's? Returns the number of values that are not.
CREATE OR REPLACE FUNCTION bench.value_attributes_invalid(tab regclass) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format($q$
    SELECT count(*) FROM %s r
     WHERE r.attribute_id = 'phone' AND NOT EXISTS (
           SELECT 1 FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
            WHERE m.customer_entity_id = r.customer_entity_id
              AND e.type IN ('customer_updated', 'form_submitted') AND e.payload->>'phone' = r.value)$q$, tab)
    INTO n;
  RETURN n;
END $$;
