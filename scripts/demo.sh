#!/usr/bin/env bash
# make demo: a private PostgreSQL under .demo/, a realistic sample CDP, a CPS
# run, and a summary of what it found. Running it again adds a few new events
# and shows an incremental run.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CPS=$ROOT/$BUILD/cps
GEN=$ROOT/$BUILD/cps-gen
EVENTS=${DEMO_EVENTS:-50000}

echo "== PostgreSQL: a private cluster in .demo/pg"
scripts/pgcluster.sh start "$ROOT/.demo/pg"
# shellcheck disable=SC1091
source "$ROOT/.demo/pg/env"
export PGDATABASE=cps_demo

if psql -X -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'cps_demo'" | grep -q 1; then
  echo "== Sample CDP exists; 1000 new events arrive"
  "$GEN" --append 1000 --quiet
else
  echo "== Sample CDP: $EVENTS events (cps-gen)"
  createdb cps_demo
  "$GEN" --events "$EVENTS" --quiet
fi

echo "== cps run"
"$CPS" run

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
echo
echo "== What CPS found"
q -c "SELECT (SELECT count(*) FROM cdp_ce.customer_events) AS events,
             (SELECT count(*) FROM cdp_ps.matching) AS stitched,
             (SELECT count(*) FROM cdp_attr.customer_entities) AS entities,
             (SELECT count(*) FROM cdp_ps.identifiers) AS identifiers,
             (SELECT count(*) FROM cdp_ps.entity_merges) AS merges,
             (SELECT count(*) FROM cdp_ps.failed_events) AS set_aside"
echo "Stitching quality against the generator's ground truth (cps_gen.truth):"
q -c "WITH per_entity AS (
        SELECT m.customer_entity_id, count(DISTINCT t.person_id) AS persons
          FROM cdp_ps.matching m JOIN cps_gen.truth t USING (customer_event_id) GROUP BY 1),
      per_person AS (
        SELECT t.person_id, count(DISTINCT m.customer_entity_id) AS entities
          FROM cdp_ps.matching m JOIN cps_gen.truth t USING (customer_event_id) GROUP BY 1)
      SELECT (SELECT count(*) FROM per_entity WHERE persons > 1) AS entities_mixing_persons,
             (SELECT max(persons) FROM per_entity) AS most_persons_in_one_entity,
             (SELECT count(*) FROM per_person WHERE entities > 1) AS persons_split,
             (SELECT count(*) FROM per_person) AS persons"
echo "A few customers (the three with the most events) and some of their attributes:"
q -c "WITH top AS (SELECT customer_entity_id FROM cdp_ps.matching GROUP BY 1
                   ORDER BY count(*) DESC, 1 OFFSET 1 LIMIT 3)
      SELECT ca.customer_entity_id AS entity, ca.attribute_id AS attribute,
             string_agg(left(ca.value, 40), ', ' ORDER BY ca.value) AS value
        FROM cdp_attr.customer_attributes ca JOIN top USING (customer_entity_id)
       WHERE ca.attribute_id IN ('events_count', 'first_source', 'top_country', 'emails',
                                 'total_revenue', 'favourite_product', 'last_seen')
       GROUP BY 1, 2 ORDER BY 1, 2"
echo "(The entity with the most events is left out above: it is the one that junk"
echo " identifiers such as noemail@example.com glue together; see the quality line.)"
echo
echo "== Look around yourself:"
echo "   PGHOST=$PGHOST psql -d cps_demo"
echo "   $CPS --dsn 'host=$PGHOST dbname=cps_demo' status"
echo "   make demo again adds 1000 events and runs CPS incrementally;"
echo "   scripts/pgcluster.sh stop $ROOT/.demo/pg stops the server."
