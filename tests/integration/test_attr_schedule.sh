# Which entities are calculated (SPEC §4.5), and that batches and workers do
# not change results: activity, staleness, merges, calculated = NULL, and the
# setup guide's "run attributes from scratch" (TRUNCATE ... CASCADE).
source "$(dirname "$0")/lib.sh"
newdb
"$CPS_GEN" --events 4000 --quiet
expect_status 0 cps stitch
expect_status 0 cps attributes
entities=$(sql "SELECT count(*) FROM cdp_attr.customer_entities")
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated IS NULL")" "all calculated"
assert_eq 20 "$(sql "SELECT count(DISTINCT attribute_id) FROM cdp_attr.customer_attributes")" "every attribute has values"
reference=$(table_digest cdp_attr.customer_attributes)
calculated() { sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated > '$1'"; }

# Nothing is due: a second run calculates nothing.
expect_status 0 cps attributes
assert_contains "$OUT" "no entity is due"

# The CDP's own triggers on customer_entities see calculated being set: as
# superuser a batch skips the foreign key's per-row checks with
# session_replication_role, for its COPY into customer_attributes only.
sql "CREATE TABLE public.calc_log (id text, calculated timestamptz);
     CREATE FUNCTION public.log_calc() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN INSERT INTO public.calc_log VALUES (NEW.id, NEW.calculated); RETURN NEW; END \$\$;
     CREATE TRIGGER log_calc AFTER UPDATE OF calculated ON cdp_attr.customer_entities
       FOR EACH ROW EXECUTE FUNCTION public.log_calc();
     UPDATE cdp_attr.customer_entities SET calculated = NULL
      WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 5);
     TRUNCATE public.calc_log"
expect_status 0 cps attributes
assert_eq 5 "$(sql "SELECT count(*) FROM public.calc_log WHERE calculated IS NOT NULL")" \
  "a trigger on customer_entities saw the 5 entities calculated"
sql "DROP TRIGGER log_calc ON cdp_attr.customer_entities"

# Batches of 7 entities on 3 connections give the same values.
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL"
echo '{"batch_size": 7, "workers": 3}' >"$TEST_TMP/par.json"
expect_status 0 cps -c "$TEST_TMP/par.json" attributes
assert_contains "$OUT" "on 3 connections"
assert_eq "$reference" "$(table_digest cdp_attr.customer_attributes)" "batches and workers change nothing"
# ... and so does the other engine.
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL"
CPS_FORCE_SQL_AGGREGATION=1 expect_status 0 cps attributes
assert_eq "$reference" "$(table_digest cdp_attr.customer_attributes)" "PostgreSQL's aggregation agrees"

# Activity: new events for two entities recalculate exactly those.
updates() { sql "SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'cdp_attr.customer_entities'::regclass"; }
sql "VACUUM cdp_attr.customer_entities" # what autovacuum does: room on the pages
read -r upd0 hot0 <<<"$(updates)"
mark=$(sql "SELECT now()")
sql "INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, type, version, payload)
     SELECT id || '-again', event_id, source_id, event_time + interval '1 day', type, version, payload
       FROM cdp_ce.customer_events WHERE id IN (
         SELECT min(customer_event_id) FROM cdp_ps.matching GROUP BY customer_entity_id
          ORDER BY customer_entity_id LIMIT 2)"
expect_status 0 cps stitch
assert_eq 2 "$(sql "SELECT count(*) FROM cdp_ps.entities_to_calculate")" "activity marks the two"
# Recording activity rewrites no index entry (no index reads modified): HOT updates.
for _ in $(seq 50); do # CPS's server process reports its statistics as it exits
  read -r upd1 hot1 <<<"$(updates)"
  ((upd1 > upd0)) && break
  sleep 0.1
done
((upd1 > upd0)) || fail "activity updated no entity"
assert_eq "$((upd1 - upd0))" "$((hot1 - hot0))" "every activity update is HOT"
expect_status 0 cps attributes
assert_eq 2 "$(calculated "$mark")" "only the active entities"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.entities_to_calculate")" "calculation unmarks them"

# Activity recorded by someone else (modified set past calculated) counts too.
mark=$(sql "SELECT now()")
sql "UPDATE cdp_attr.customer_entities SET modified = now()
      WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id DESC LIMIT 4)"
sql "UPDATE cdp_attr.customer_entities SET modified = calculated - interval '1 hour'
      WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 3)"
assert_eq 4 "$(sql "SELECT count(*) FROM cdp_ps.entities_to_calculate")" "marked by the trigger"
expect_status 0 cps attributes
assert_eq 4 "$(calculated "$mark")" "hand-made activity is calculated"

# An install of CPS 1.0 found active entities with a partial index on
# modified > calculated: upgrading marks them and drops the index.
sql "DROP TABLE cdp_ps.entities_to_calculate; DROP FUNCTION cdp_ps.cps_entities_active() CASCADE;
     CREATE INDEX customer_entities_due_idx ON cdp_attr.customer_entities (id)
      WHERE calculated IS NULL OR modified > calculated;
     UPDATE cdp_attr.customer_entities SET modified = now()
      WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 3)"
mark=$(sql "SELECT now()")
expect_status 0 cps init
assert_eq 3 "$(sql "SELECT count(*) FROM cdp_ps.entities_to_calculate")" "upgrade marks the active"
assert_eq "" "$(sql "SELECT to_regclass('cdp_attr.customer_entities_due_idx')")" "upgrade drops the old index"
expect_status 0 cps attributes
assert_eq 3 "$(calculated "$mark")" "the marked are calculated"

# Staleness: after recalculate_after_hours without activity.
mark=$(sql "SELECT now()")
sql "UPDATE cdp_attr.customer_entities SET calculated = now() - interval '49 hours', modified = now() - interval '50 hours'
      WHERE id IN (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 5)"
echo '{"recalculate_after_hours": 100}' >"$TEST_TMP/long.json"
expect_status 0 cps -c "$TEST_TMP/long.json" attributes
assert_eq 0 "$(calculated "$mark")" "not stale under a 100 hour rule"
expect_status 0 cps attributes
assert_eq 5 "$(calculated "$mark")" "stale after the default 48 hours"

# A merge: the absorbed entity's rows go, the survivor is recalculated. Two new
# page views carry a cookie of each of two entities and a shared "glue" id.
read -r a b <<<"$(sql "SELECT string_agg(id, ' ') FROM (SELECT e.id FROM cdp_ps.entities e
  WHERE EXISTS (SELECT 1 FROM cdp_ps.identifiers i WHERE i.customer_entity_id = e.id
                  AND i.attribute_id = 'stitching_cookie_id')
  ORDER BY e.first_event_time LIMIT 2) s")"
pv=$(sql "SELECT md5('web' || 'page_view' || '1-0-0')")
sql "INSERT INTO public.attributes (id) VALUES ('stitching_glue');
     INSERT INTO cdp_ps.stitching_attributes_config VALUES ('stitching_glue', '$pv', 'payload->>''glue''');
     INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, type, version, payload)
     SELECT 'glue-' || i.customer_entity_id, '$pv', 'web', now(), 'page_view', '1-0-0',
            jsonb_build_object('cookie_id', min(i.value), 'glue', 'g')
       FROM cdp_ps.identifiers i WHERE i.customer_entity_id IN ('$a', '$b')
        AND i.attribute_id = 'stitching_cookie_id' GROUP BY i.customer_entity_id"
mark=$(sql "SELECT now()")
expect_status 0 cps stitch
assert_eq 1 "$(sql "SELECT count(*) FROM cdp_ps.entity_merges WHERE merged_id = '$b' AND into_id = '$a'")" "merged"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes WHERE customer_entity_id = '$b'")" "absorbed rows gone"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE id = '$b'")" "absorbed entity gone"
expect_status 0 cps attributes
assert_eq t "$(sql "SELECT calculated > '$mark' FROM cdp_attr.customer_entities WHERE id = '$a'")" "survivor recalculated"

# calculated = NULL recalculates everything, keeping the data meanwhile.
before=$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL"
assert_eq "$before" "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "data kept until recalculated"
mark=$(sql "SELECT now()")
expect_status 0 cps attributes
entities=$(sql "SELECT count(*) FROM cdp_attr.customer_entities")
assert_eq "$entities" "$(calculated "$mark")" "all recalculated"

# The setup guide: TRUNCATE customer_entities CASCADE, and the next run rebuilds all.
reference=$(table_digest cdp_attr.customer_attributes)
sql "SET client_min_messages = warning; TRUNCATE TABLE cdp_attr.customer_entities CASCADE"
expect_status 0 cps attributes
assert_contains "$OUT" "are back"
assert_eq "$entities" "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" "entities recreated"
assert_eq "$reference" "$(table_digest cdp_attr.customer_attributes)" "attributes rebuilt from scratch"

# context.modified is a timestamp without time zone in the database's local
# time, as for the caches: east of UTC a value set 25 hours ago is refreshed,
# west of UTC one set 23 hours ago is kept; a refresh writes local time.
sql "ALTER DATABASE $PGDATABASE SET timezone = 'Asia/Tokyo'"
sql "UPDATE cdp_attr.context SET modified = now() - interval '25 hours'"
expect_status 0 cps attributes
assert_contains "$OUT" "CONTEXT: events_p90 refreshed"
assert_eq t "$(sql "SELECT bool_and(modified BETWEEN now()::timestamp - interval '1 minute' AND now()::timestamp) FROM cdp_attr.context")" "written in local time"
sql "ALTER DATABASE $PGDATABASE SET timezone = 'America/Bogota'"
sql "UPDATE cdp_attr.context SET modified = now() - interval '23 hours'"
expect_status 0 cps attributes
[[ $OUT != *"CONTEXT: events_p90 refreshed"* ]] || fail "a context value 23 hours old was refreshed: $OUT"
sql "ALTER DATABASE $PGDATABASE RESET timezone"

# The longest ages the configuration takes (100 years) work in a run and in
# status: nothing is stale, and no timestamp goes out of range.
echo '{"recalculate_after_hours": 876600, "context_max_age_hours": 876600,
       "cache_max_age_hours": 876600}' >"$TEST_TMP/ages.json"
expect_status 0 cps -c "$TEST_TMP/ages.json" run
assert_contains "$OUT" "no entity is due"
expect_status 0 cps -c "$TEST_TMP/ages.json" status

# Progress (SPEC §1.3) comes while a batch is read, not only after it: one
# batch of every entity, slowed to about 1 ms per event, reports on the way.
sql "INSERT INTO cdp_attr.attributes VALUES ('slow', '{\"type\": \"max\",
       \"value\": \"CASE WHEN pg_sleep(0.001) IS NULL THEN event_time END\"}');
     UPDATE cdp_attr.customer_entities SET calculated = NULL"
expect_status 0 cps attributes
mid=$(grep -E "ATTR: [0-9.k]+/[0-9.k]+ entities \(([0-9]|[1-9][0-9])%\)" <<<"$OUT" | head -1)
[[ -n $mid ]] || fail "no progress line before the batch was done: $OUT"
sql "DELETE FROM cdp_attr.attributes WHERE id = 'slow'"
pass
