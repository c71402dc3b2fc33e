-- Stitching alternative (a): pgRouting's pgr_connectedComponents.
--
-- The identifier graph is bipartite: one vertex per event, one per distinct
-- identifier (attribute_id, value), one edge per (event, identifier) row. The
-- components of that graph restricted to event vertices are exactly CPS's
-- entities; events without identifiers are components of their own.
-- Everything counts: evaluating the stitching expressions (bench.identifier_rows,
-- the same expressions CPS evaluates), numbering vertices, building the edge
-- table, the components, and writing the matching (event -> component) into a
-- logged table indexed like cdp_ps.matching. Scratch tables are TEMP (no WAL),
-- which favours the alternative.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench.pgr_matching;

-- 1. every event gets a vertex number
CREATE TEMP TABLE pgr_events AS
  SELECT id, row_number() OVER () AS vertex FROM cdp_ce.customer_events;
-- 2. the evaluated identifiers
CREATE TEMP TABLE pgr_rows AS
  SELECT id, attribute_id, value FROM bench.identifier_rows;
-- 3. every distinct identifier gets a vertex number after the events'
CREATE TEMP TABLE pgr_identifiers AS
  SELECT attribute_id, value,
         (SELECT count(*) FROM pgr_events) + row_number() OVER () AS vertex
    FROM (SELECT DISTINCT attribute_id, value FROM pgr_rows) d;
ANALYZE pgr_events, pgr_rows, pgr_identifiers;
-- 4. the edge table, in the shape pgRouting reads
CREATE TEMP TABLE pgr_edges AS
  SELECT row_number() OVER () AS id, e.vertex AS source, i.vertex AS target,
         1::float8 AS cost, 1::float8 AS reverse_cost
    FROM pgr_rows r
    JOIN pgr_events e ON e.id = r.id
    JOIN pgr_identifiers i ON i.attribute_id = r.attribute_id AND i.value = r.value;
-- 5. connected components (component = smallest vertex number in it)
CREATE TEMP TABLE pgr_components AS
  SELECT node, component
    FROM pgr_connectedComponents('SELECT id, source, target, cost, reverse_cost FROM pgr_edges');
ANALYZE pgr_components;
-- 6. the matching: event -> component (its own vertex when it has no identifier)
CREATE TABLE bench.pgr_matching (customer_event_id text PRIMARY KEY, label bigint NOT NULL);
CREATE INDEX ON bench.pgr_matching (label);
INSERT INTO bench.pgr_matching (customer_event_id, label)
  SELECT e.id, coalesce(c.component, e.vertex)
    FROM pgr_events e LEFT JOIN pgr_components c ON c.node = e.vertex;
