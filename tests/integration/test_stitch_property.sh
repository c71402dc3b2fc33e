# Property: on random graphs the entities are exactly the connected components
# (computed independently in SQL), ids come from each component's earliest
# event, and stitching in one run, in small batches, in many event_time-ordered
# runs, or again from scratch gives the same matching, row for row; after the
# many runs, identifiers, entities and lineage agree with matching; events
# arriving out of time order, or updated to gain identifiers, give the
# partition of a stitch from scratch, and the same matching in small batches.
#
# N (events) and SEED (the graph) vary the data: CI runs the defaults; a soak
# by hand runs many, one after another (the tests of a build directory share
# one cluster, which each ctest starts and stops):
#   for s in $(seq 1 40); do SEED=$s ctest -R test_stitch_property || break; done
source "$(dirname "$0")/lib.sh"
N=${N:-2500}
SEED=${SEED:-1}

setup() {
  sql <<'SQL'
INSERT INTO public.attributes (id) VALUES ('a'), ('b');
INSERT INTO public.events (id) VALUES ('ev');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('a', 'ev', 'payload->>''a'''),
  ('b', 'ev', 'jsonb_array_elements_text(payload->''b'')');
SQL
}

# Deterministic random events: identifiers from small pools so components form.
make_events() {
  sql "CREATE TABLE public.src AS
       SELECT 'e' || i AS id, timestamp '2024-01-01' + ((i * 7919) % 600) * interval '1 minute' AS t,
              jsonb_strip_nulls(jsonb_build_object(
                'a', CASE WHEN h % 10 < 6 THEN 'x' || (h / 10) % ($N / 3) WHEN h % 10 = 6 THEN '' END,
                'b', CASE WHEN h % 7 < 3 THEN jsonb_build_array('y' || (h / 7) % ($N / 2), 'y' || (h / 70) % ($N / 2)) END)) AS payload
       FROM (SELECT i, abs(hashint4(i * 31 + $SEED)) AS h FROM generate_series(1, $N) i) s"
}

# The identifiers setup's config gives each event (SQL: attribute_id, value, id).
EVENT_IDENTIFIERS="SELECT 'a' AS attribute_id, payload->>'a' AS value, id FROM cdp_ce.customer_events
                    WHERE payload->>'a' <> ''
                   UNION ALL
                   SELECT 'b', v, id FROM cdp_ce.customer_events, jsonb_array_elements_text(payload->'b') v
                    WHERE v <> ''"

# Each entity of matching with its earliest event (SQL: id, first_id, first_time).
ENTITY_FIRSTS="SELECT m.customer_entity_id AS id,
                      (array_agg(e.id ORDER BY e.event_time, e.id COLLATE \"C\"))[1] AS first_id,
                      (array_agg(e.event_time ORDER BY e.event_time, e.id COLLATE \"C\"))[1] AS first_time
                 FROM cdp_ps.matching m JOIN cdp_ce.customer_events e ON e.id = m.customer_event_id
                GROUP BY 1"

newdb one
expect_status 0 cps init
setup
make_events
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) SELECT id, 'ev', t, payload FROM src"
expect_status 0 cps stitch
one=$(table_digest cdp_ps.matching)
assert_eq "$N" "$(sql "SELECT count(*) FROM cdp_ps.matching")"

# The partition alone, whatever the entities are called: each event with the
# least event id of its entity.
partition() {
  sql "SELECT md5(string_agg(customer_event_id || ':' || first, ',' ORDER BY customer_event_id COLLATE \"C\"))
         FROM (SELECT customer_event_id,
                      min(customer_event_id COLLATE \"C\") OVER (PARTITION BY customer_entity_id) AS first
                 FROM cdp_ps.matching) s"
}
partition_one=$(partition)

# Absorbed ids that do not resolve to a current entity (none, ever).
unresolved_merges() {
  sql "SELECT count(*) FROM cdp_ps.entity_merges em
         LEFT JOIN cdp_ps.entities en ON en.id = cdp_ps.resolve_entity(em.merged_id)
        WHERE en.id IS NULL"
}

# The setup guide's re-stitch procedure (SPEC §3); the next run starts from scratch.
restitch_runbook() {
  sql "SET client_min_messages = warning; TRUNCATE TABLE cdp_attr.customer_entities CASCADE;
       TRUNCATE TABLE cdp_ps.matching;
       DROP TABLE cdp_ps.customer_events_to_process;
       DROP TABLE public.cached_source_events_per_date;"
}

# Components computed independently: transitive closure over shared identifiers.
sql <<SQL
CREATE TABLE ids AS SELECT id AS ev, attribute_id || ':' || value AS ident FROM ($EVENT_IDENTIFIERS) p;
CREATE TABLE edges AS SELECT DISTINCT i1.ev AS x, i2.ev AS y FROM ids i1 JOIN ids i2 USING (ident);
CREATE INDEX ON edges (x);
CREATE TABLE comp AS
  WITH RECURSIVE reach(ev, r) AS (
    SELECT id, id FROM cdp_ce.customer_events
    UNION SELECT reach.ev, edges.y FROM reach JOIN edges ON edges.x = reach.r)
  SELECT ev, min(r COLLATE "C") AS label FROM reach GROUP BY ev;
SQL
counts=$(sql "SELECT count(DISTINCT m.customer_entity_id) || ' ' || count(DISTINCT c.label) || ' ' ||
                     count(DISTINCT (m.customer_entity_id, c.label))
              FROM cdp_ps.matching m JOIN comp c ON c.ev = m.customer_event_id")
read -r ents labels pairs <<<"$counts"
assert_eq "$ents" "$labels" "number of entities = number of components"
assert_eq "$ents" "$pairs" "entities and components are the same partition"
[[ $ents -gt 50 && $ents -lt $((N - 50)) ]] || fail "degenerate test data: $ents components"
assert_eq 0 "$(sql "SELECT count(*) FROM ($ENTITY_FIRSTS) f
                    WHERE id <> $(entity_id_of first_time first_id)")" "ids from the earliest event"

# The same events in one run with tiny batches.
newdb batches
expect_status 0 cps init
setup
make_events
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload) SELECT id, 'ev', t, payload FROM src"
sql "DELETE FROM cdp_ps.state"  # not from scratch: the queue holds every event, in batches
echo '{"batch_size": 37}' >"$TEST_TMP/small.json"
expect_status 0 cps -c "$TEST_TMP/small.json" stitch
assert_eq "$one" "$(table_digest cdp_ps.matching)" "tiny batches = one run"

# The same events arriving over many runs, in event_time order.
newdb runs
expect_status 0 cps init
setup
make_events
for minute in 60 120 200 201 350 480 599; do
  sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
       SELECT id, 'ev', t, payload FROM src
        WHERE t < timestamp '2024-01-01' + $minute * interval '1 minute'
       ON CONFLICT (id) DO NOTHING"
  expect_status 0 cps stitch
done
sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
     SELECT id, 'ev', t, payload FROM src ON CONFLICT (id) DO NOTHING"
expect_status 0 cps stitch
assert_eq "$one" "$(table_digest cdp_ps.matching)" "many runs = one run"
merges=$(sql "SELECT count(*) FROM cdp_ps.entity_merges")
[[ $merges -gt 0 ]] || fail "the incremental runs should have merged entities"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.entity_merges em
                    JOIN cdp_ps.matching m ON m.customer_entity_id = em.merged_id")" "no absorbed id in use"
assert_eq "$(sql "SELECT count(DISTINCT customer_entity_id) FROM cdp_ps.matching")" \
  "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" "one customer_entities row per entity"
assert_eq 0 "$(sql "SELECT count(*) FROM ($EVENT_IDENTIFIERS) p
  JOIN cdp_ps.matching m ON m.customer_event_id = p.id
  LEFT JOIN cdp_ps.identifiers i USING (attribute_id, value)
  WHERE i.customer_entity_id IS DISTINCT FROM m.customer_entity_id")" \
  "every identifier belongs to the entity of its events"
assert_eq 0 "$(sql "SELECT count(*) FROM ($ENTITY_FIRSTS) f
  FULL JOIN cdp_ps.entities en USING (id)
  WHERE en.first_event_id IS DISTINCT FROM f.first_id
     OR en.first_event_time IS DISTINCT FROM f.first_time")" \
  "each entity's earliest event is known, and only current entities are"
assert_eq 0 "$(unresolved_merges)" "every absorbed id resolves to a current entity"

# The setup guide's re-stitch runbook rebuilds the same state from scratch.
restitch_runbook
expect_status 0 cps stitch
assert_contains "$OUT" "from scratch"
assert_eq "$one" "$(table_digest cdp_ps.matching)" "re-stitched from scratch = one run"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.entity_merges")" "lineage rebuilt"
assert_eq "$(sql "SELECT count(DISTINCT (attribute_id, value)) FROM ($EVENT_IDENTIFIERS) p")" \
  "$(sql "SELECT count(*) FROM cdp_ps.identifiers")" "identifiers rebuilt"

# The events in 5 runs of a fifth each, by a hash of their ids: earlier events
# after later ones. Arguments go to cps (a configuration).
shuffled_runs() {
  for part in 0 1 2 3 4; do
    sql "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
         SELECT id, 'ev', t, payload FROM src WHERE abs(hashtext(id || '$SEED')) % 5 = $part"
    expect_status 0 cps "$@" stitch
  done
}

# The same events arriving in an order unrelated to time (earlier events after
# later ones): the same partition; ids may differ, as an entity keeps the id it
# was created with.
newdb shuffled
expect_status 0 cps init
setup
make_events
shuffled_runs
assert_eq "$partition_one" "$(partition)" "arrival out of time order: same partition"
assert_eq 0 "$(unresolved_merges)" "out of time order: every absorbed id resolves"
shuffled=$(table_digest cdp_ps.matching)

# Updated events that gain identifiers (one in 20 gains a 'b' value) are queued
# again and merge as usual: the partition is then that of a re-stitch from
# scratch of the updated payloads, as nothing was lost.
UPDATE_SOME="UPDATE cdp_ce.customer_events
        SET payload = payload || jsonb_build_object('b', coalesce(payload->'b', '[]'::jsonb) ||
                      jsonb_build_array('y' || abs(hashtext(id || 'v$SEED')) % ($N / 2)))
      WHERE abs(hashtext(id || 'u$SEED')) % 20 = 0"
sql "$UPDATE_SOME"
expect_status 0 cps stitch
updated=$(partition)
updated_rows=$(table_digest cdp_ps.matching)
[[ $updated != "$partition_one" ]] || fail "the updates should have merged entities"
restitch_runbook
expect_status 0 cps stitch
assert_eq "$updated" "$(partition)" "updated events: the partition of a re-stitch from scratch"

# Where the batches of a run split must not matter, even for events out of
# time order (an earlier event in a batch can decide which entity survives):
# the same runs in batches of 37 give the same matching, ids included.
newdb shuffled_batches
expect_status 0 cps init
setup
make_events
shuffled_runs -c "$TEST_TMP/small.json"
assert_eq "$shuffled" "$(table_digest cdp_ps.matching)" "out of time order: batches of 37 = whole runs"
sql "$UPDATE_SOME"
expect_status 0 cps -c "$TEST_TMP/small.json" stitch
assert_eq "$updated_rows" "$(table_digest cdp_ps.matching)" "updated events: batches of 37 = one batch"
pass
