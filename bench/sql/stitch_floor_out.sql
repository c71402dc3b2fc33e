-- Stitching floor, part 1: PostgreSQL alone evaluating the stitching
-- expressions and sending the rows out, into /dev/null, through the same
-- COPY TO STDOUT -- no resolution at all. The statement is CPS's own: run.sh
-- captures the from-scratch extraction CPS ran (server log of its first run)
-- into the file :extraction_file, so the floor follows CPS's query as it
-- changes. It reads CPS's temporary table of event definitions, rebuilt here
-- as CPS fills it (pg_temp.cps_grp). If the statement could not be captured,
-- the file holds COPY (SELECT * FROM bench.extraction) TO STDOUT instead.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE TEMP TABLE cps_grp AS
  SELECT event_id AS cps_event_id, g AS cps_g, broken AS cps_broken FROM bench.grp;
ANALYZE cps_grp;
\o /dev/null
\i :extraction_file
