-- Stitching alternative (b): iterative label propagation in plain SQL, the
-- way warehouse tools (dbt identity-resolution packages) compute identity
-- graphs: every event starts with its own label; each round, an identifier
-- takes the smallest label among its events, and an event the smallest label
-- among its identifiers; repeat until no label changes. Written as well as
-- plain SQL allows: integer keys, only changed labels are updated, scratch
-- tables are TEMP. Ends with the matching (event -> label) in a logged table
-- indexed like cdp_ps.matching.
--
-- The loop gives up at the time in the setting bench.deadline (epoch seconds;
-- set by run.sh) with the error "bench: label propagation did not finish".
\set ON_ERROR_STOP on
SET client_min_messages = notice;
DROP TABLE IF EXISTS bench.lp_matching;

-- integer ids for events and identifiers, and the (event, identifier) pairs
CREATE TEMP TABLE lp_events AS
  SELECT id, row_number() OVER ()::int AS ev FROM cdp_ce.customer_events;
CREATE TEMP TABLE lp_pairs_text AS
  SELECT id, attribute_id, value FROM bench.identifier_rows;
CREATE TEMP TABLE lp_identifiers AS
  SELECT attribute_id, value, row_number() OVER ()::int AS ident
    FROM (SELECT DISTINCT attribute_id, value FROM lp_pairs_text) d;
ANALYZE lp_events, lp_pairs_text, lp_identifiers;
CREATE TEMP TABLE lp_pairs AS
  SELECT DISTINCT e.ev, i.ident
    FROM lp_pairs_text p
    JOIN lp_events e ON e.id = p.id
    JOIN lp_identifiers i ON i.attribute_id = p.attribute_id AND i.value = p.value;
-- labels of events that have identifiers (the others keep their own)
CREATE TEMP TABLE lp_labels AS SELECT DISTINCT ev, ev AS label FROM lp_pairs;
ALTER TABLE lp_labels ADD PRIMARY KEY (ev);
ANALYZE lp_pairs, lp_labels;

DO $$
DECLARE
  changed bigint;
  round int := 0;
  deadline float8 := current_setting('bench.deadline')::float8;
BEGIN
  LOOP
    round := round + 1;
    WITH ident_label AS (
           SELECT p.ident, min(l.label) AS label
             FROM lp_pairs p JOIN lp_labels l ON l.ev = p.ev GROUP BY p.ident),
         event_label AS (
           SELECT p.ev, min(il.label) AS label
             FROM lp_pairs p JOIN ident_label il ON il.ident = p.ident GROUP BY p.ev)
    UPDATE lp_labels l SET label = el.label
      FROM event_label el
     WHERE el.ev = l.ev AND el.label < l.label;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RAISE NOTICE 'label propagation round %: % labels changed', round, changed;
    EXIT WHEN changed = 0;
    IF extract(epoch FROM clock_timestamp()) > deadline THEN
      RAISE EXCEPTION 'bench: label propagation did not finish (% rounds done, % labels still changing)',
        round, changed;
    END IF;
  END LOOP;
END $$;

CREATE TABLE bench.lp_matching (customer_event_id text PRIMARY KEY, label int NOT NULL);
CREATE INDEX ON bench.lp_matching (label);
INSERT INTO bench.lp_matching (customer_event_id, label)
  SELECT e.id, coalesce(l.label, e.ev)
    FROM lp_events e LEFT JOIN lp_labels l ON l.ev = e.ev;
