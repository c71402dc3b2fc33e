-- Stitching floor, part 2: COPYing one matching row per event into a table
-- indexed like cdp_ps.matching (primary key + index on the entity), in one
-- transaction. The rows are CPS's own matching, dumped earlier by run.sh
-- (run.sh feeds the file on psql's standard input).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench.floor_matching;
BEGIN;
CREATE TABLE bench.floor_matching (customer_event_id text PRIMARY KEY, label text NOT NULL);
CREATE INDEX ON bench.floor_matching (label);
\copy bench.floor_matching FROM pstdin
COMMIT;
