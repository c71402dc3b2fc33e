# The setup guide's runbooks (shared/seed/000_294e92010704ea27.txt), each
# performed exactly as written there (plain SQL through psql, then `cps run`),
# with the result tables checked: run attributes from scratch, recalculate
# keeping data, force context recalculation, run profile stitching from
# scratch, force cache update, deploy to production, and go back.
source "$(dirname "$0")/lib.sh"
newdb restitched
"$CPS_GEN" --events 3000 --persons 600 --quiet
expect_status 0 cps run
"$CPS_GEN" --append 1000 --quiet
expect_status 0 cps run
attrs() { table_digest cdp_attr.customer_attributes; }
reference=$(attrs)
entities=$(sql "SELECT count(*) FROM cdp_attr.customer_entities")
quiet_sql() { PGOPTIONS="-c client_min_messages=warning" sql "$@"; }  # (no NOTICE of the cascade)
calculated_after() { sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated > '$1'"; }

# ---- How to run Attributes from scratch ---------------------------------------
quiet_sql <<'SQL'
TRUNCATE TABLE cdp_attr.customer_entities CASCADE;
SQL
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "all values deleted"
expect_status 0 cps run
assert_eq "$entities" "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated IS NOT NULL")" "every entity back and calculated"
assert_eq "$reference" "$(attrs)" "attributes calculated from scratch"

# ---- Recalculate, but KEEP DATA ------------------------------------------------
# A CPS is running (kept busy by a slow context query) when the operator starts.
sql "INSERT INTO cdp_attr.context (key, query) VALUES ('slow', 'SELECT pg_sleep(60)::text')"
cps run >"$TEST_TMP/killed.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND wait_event = 'PgSleep' AND datname = current_database()") -gt 0 ]] && break
  sleep 0.1
done
# Check DB there is no query with app_name "Meiro CPS" running: SELECT * FROM pg_stat_activity;
# (this test shares its server with other tests: only this database's CPS)
running=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND datname = current_database()")
[[ -n $running ]] || fail "no CPS session found in pg_stat_activity"
# If there is, kill it: SELECT pg_terminate_backend(pid);
for p in $running; do sql "SELECT pg_terminate_backend($p)" >/dev/null; done
wait $pid && fail "the killed CPS exited 0"
sql "DELETE FROM cdp_attr.context WHERE key = 'slow'"  # (the test's slow query, not the runbook)
mark=$(sql "SELECT now()")
sql <<'SQL'
UPDATE cdp_attr.customer_entities SET calculated = NULL;
SQL
assert_eq "$reference" "$(attrs)" "data kept until recalculated"
expect_status 0 cps run
assert_eq aborted "$(sql "SELECT status FROM cdp_ps.runs WHERE id = (SELECT max(id) - 1 FROM cdp_ps.runs)")" "the killed run is recorded as aborted"
assert_eq "$entities" "$(calculated_after "$mark")" "every entity recalculated"
assert_eq "$reference" "$(attrs)" "same values"

# ---- And to force context recalculation ---------------------------------------
before=$(sql "SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM cdp_attr.context")
mark=$(sql "SELECT now()::timestamp")
sql <<'SQL'
UPDATE cdp_attr.context SET modified = NULL;
SQL
expect_status 0 cps run
assert_contains "$OUT" "CONTEXT: events_p90 refreshed"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.context WHERE modified IS NULL OR modified < '$mark'")" "every context row refreshed"
assert_eq "$before" "$(sql "SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM cdp_attr.context")" "same values"

# ---- How to force cache update --------------------------------------------------
ACA=cdp_attr.cached_attributes_counts_customers_per_attribute
AVC=cdp_attr.cached_attribute_values_counts
sed_built=$(sql "SELECT min(modified) FROM public.cached_source_events_per_date")
sql "DELETE FROM cdp_attr.customer_attributes WHERE attribute_id = 'phone'"  # (changed data the cache does not show yet)
expect_status 0 cps run
assert_contains "$OUT" "CACHE: $ACA is fresh"
assert_eq 1 "$(sql "SELECT count(*) FROM $ACA WHERE attribute_id = 'phone' AND count > 0")" "a fresh cache is not rebuilt"
mark=$(sql "SELECT now()::timestamp")
sql <<'SQL'
UPDATE cdp_attr.cached_attributes_counts_customers_per_attribute SET modified = NULL;
UPDATE cdp_attr.cached_attribute_values_counts SET modified = NULL;
SQL
expect_status 0 cps run
assert_contains "$OUT" "CACHE: $ACA rebuilt"
assert_contains "$OUT" "CACHE: $AVC rebuilt"
assert_contains "$OUT" "CACHE: public.cached_source_events_per_date is fresh"
assert_eq 0 "$(sql "SELECT count(*) FROM $ACA WHERE modified IS NULL OR modified < '$mark'")" "counts rebuilt"
assert_eq 0 "$(sql "SELECT count(*) FROM $AVC WHERE modified IS NULL OR modified < '$mark'")" "values rebuilt"
assert_eq 0 "$(sql "SELECT count FROM $ACA WHERE attribute_id = 'phone'")" "the cache shows the current data"
assert_eq "$(sql "SELECT count(DISTINCT customer_entity_id) FROM cdp_attr.customer_attributes WHERE attribute_id = 'emails'")" \
          "$(sql "SELECT count FROM $ACA WHERE attribute_id = 'emails'")" "counts right"
assert_eq "$sed_built" "$(sql "SELECT min(modified) FROM public.cached_source_events_per_date")" "the source cache is kept"

# ---- How to run Profile Stitching from scratch -------------------------------
# Re-configure first: e-mail addresses no longer join profiles.
sql "DELETE FROM cdp_ps.stitching_attributes_config WHERE attribute_id = 'stitching_email'"
quiet_sql <<'SQL'
TRUNCATE TABLE cdp_attr.customer_entities CASCADE;
TRUNCATE TABLE cdp_ps.matching;
DROP TABLE cdp_ps.customer_events_to_process;
DROP TABLE public.cached_source_events_per_date;
SQL
# a table of the CDP's own that references the entities (no entity: NULL)
sql "CREATE TABLE public.crm_notes (customer_entity_id text
       REFERENCES cdp_attr.customer_entities (id) ON DELETE SET NULL, note text);
     INSERT INTO public.crm_notes VALUES (NULL, 'not yet linked')"
# attributes alone before the re-stitch: the old stitching's entities stay out
expect_status 0 cps attributes
assert_contains "$OUT" "a re-stitch from scratch is pending"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" "customer_entities waits for the re-stitch"
# the keys, foreign keys, indexes and triggers the full pass drops and restores
schema_before=$(entity_schema)
expect_status 0 cps run
assert_contains "$OUT" "stitching every event from scratch"
assert_eq "$schema_before" "$(entity_schema)" "keys, foreign keys, indexes and triggers as they were"
assert_contains "$schema_before" "crm_notes_customer_entity_id_fkey FOREIGN KEY" "the check sees the CDP's key"
assert_eq 1 "$(sql "SELECT count(*) FROM public.crm_notes")" "the CDP's rows kept"
assert_eq 4000 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "every event stitched again"
assert_eq 4000 "$(sql "SELECT sum(count) FROM public.cached_source_events_per_date")" "source cache recreated and filled"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue empty"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.identifiers WHERE attribute_id = 'stitching_email'")" "old identifiers gone"
digest_all() {
  echo "$(table_digest cdp_ps.matching) $(table_digest cdp_ps.identifiers) $(table_digest cdp_ps.entity_merges)" \
       "$(table_digest "(SELECT id, first_event_time, first_event_id FROM cdp_ps.entities)")" \
       "$(table_digest "(SELECT id FROM cdp_attr.customer_entities)")" \
       "$(table_digest "(SELECT * FROM cdp_attr.customer_attributes WHERE attribute_id <> 'engagement')")"
}
# (engagement reads the context value events_p90, which was computed before the
# re-stitch and is refreshed only when it ages out or is forced, as above)
restitched=$(digest_all)
# The same data and configuration stitched in a new database from the start.
newdb fresh
"$CPS_GEN" --events 4000 --persons 600 --quiet
sql "DELETE FROM cdp_ps.stitching_attributes_config WHERE attribute_id = 'stitching_email'"
expect_status 0 cps run
assert_eq "$(digest_all)" "$restitched" "re-stitched = stitched from the start with the new configuration"
dropdb "t_test_runbooks_restitched"

# ---- How to deploy to production ---------------------------------------------
# The CDP before CPS: its own pivoted table and customer_events view.
sql "CREATE TABLE public.pivoted_customer_attributes (customer_entity_id text, old_attr text);
     INSERT INTO public.pivoted_customer_attributes VALUES ('old-1', 'x'), ('old-2', 'y');
     CREATE VIEW public.customer_events AS SELECT id, customer_entity_id, event_id, source_id, event_time FROM cdp_ce.customer_events"
old_view=$(sql "SELECT pg_get_viewdef('public.customer_events'::regclass)")
expect_status 0 cps run  # without production: nothing touched
assert_eq "r v" "$(sql "SELECT string_agg(relkind::text, ' ' ORDER BY relname DESC) FROM pg_class
                         WHERE relnamespace = 'public'::regnamespace AND relname IN ('pivoted_customer_attributes', 'customer_events')")"
echo '{"production": true}' >"$TEST_TMP/prod.json"
# (forgetting the backups: CPS refuses and changes nothing)
expect_status 1 cps -c "$TEST_TMP/prod.json" run
assert_contains "$OUT" "RENAME TO pivoted_customer_attributes_backup"
assert_eq 2 "$(sql "SELECT count(*) FROM public.pivoted_customer_attributes")"
assert_eq "$old_view" "$(sql "SELECT pg_get_viewdef('public.customer_events'::regclass)")"
# Check that no processing is running using select * from pg_stat_activity;
assert_eq 0 "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND datname = current_database()")" "nothing running"
sql <<'SQL'
ALTER TABLE public.pivoted_customer_attributes RENAME TO pivoted_customer_attributes_backup; ALTER VIEW public.customer_events RENAME TO customer_events_backup;
SQL
# Add "production": true to the config of CPS component, run it.
expect_status 0 cps -c "$TEST_TMP/prod.json" run
assert_contains "$OUT" "PROD: public.customer_events created"
assert_contains "$OUT" "PROD: public.pivoted_customer_attributes created"
assert_eq "v v" "$(sql "SELECT string_agg(relkind::text, ' ') FROM pg_class
                         WHERE relnamespace = 'public'::regnamespace AND relname IN ('pivoted_customer_attributes', 'customer_events')")"
assert_eq "$(sql "SELECT count(*) FROM cdp_ps.matching")" "$(sql "SELECT count(*) FROM public.customer_events")" "events view"
assert_eq 0 "$(sql "SELECT count(*) FROM public.customer_events e JOIN cdp_ps.matching m ON m.customer_event_id = e.id
                     WHERE e.customer_entity_id IS DISTINCT FROM m.customer_entity_id")" "entities from matching"
assert_eq "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" "$(sql "SELECT count(*) FROM public.pivoted_customer_attributes")" "pivot view"
assert_eq "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes WHERE attribute_id = 'top_country'")" \
          "$(sql "SELECT count(top_country) FROM public.pivoted_customer_attributes")" "pivot values"
assert_eq 2 "$(sql "SELECT count(*) FROM public.pivoted_customer_attributes_backup")" "backup kept"
assert_eq "$old_view" "$(sql "SELECT pg_get_viewdef('public.customer_events_backup'::regclass)")" "backup view kept"
# the CDP's context query of the guide now reads CPS's view
assert_eq t "$(sql "SELECT (select percentile_disc(0.9) WITHIN GROUP (ORDER BY count_all) as m from (
    select customer_entity_id, count(*) as count_all from public.customer_events
    where \"customer_entity_id\" IS NOT NULL group by 1) counts) > 0")"

# ---- What if it does not work and you want to go back? -----------------------
sql <<'SQL'
DROP VIEW IF EXISTS public.pivoted_customer_attributes;
DROP VIEW IF EXISTS public.customer_events;
ALTER TABLE public.pivoted_customer_attributes_backup RENAME TO pivoted_customer_attributes;
ALTER VIEW public.customer_events_backup RENAME TO customer_events;
SQL
# "CREATE VIEW public.pivoted_customer_attributes_view ...(from saved definition);"
# is the CDP's own saved SQL; a stand-in:
sql "CREATE VIEW public.pivoted_customer_attributes_view AS SELECT * FROM public.pivoted_customer_attributes"
# and "production" goes back to false (the default): CPS keeps working without
# recreating its views, whatever changes.
sql "INSERT INTO cdp_attr.attributes VALUES ('new_attr', '{\"type\": \"last\", \"value\": \"source_id\"}')"
sql "INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, payload) VALUES ('after-go-back', 'x', 'web', now(), '{}')"
for command in run stitch attributes cache run; do
  expect_status 0 cps "$command"
  [[ $OUT != *"PROD:"* ]] || fail "cps $command touched production: $OUT"
done
assert_eq "r v" "$(sql "SELECT string_agg(relkind::text, ' ' ORDER BY relname DESC) FROM pg_class
                         WHERE relnamespace = 'public'::regnamespace AND relname IN ('pivoted_customer_attributes', 'customer_events')")" \
          "the CDP's own objects are back"
assert_eq "old-1 old-2" "$(sql "SELECT string_agg(customer_entity_id, ' ' ORDER BY customer_entity_id) FROM public.pivoted_customer_attributes")"
assert_eq "$old_view" "$(sql "SELECT pg_get_viewdef('public.customer_events'::regclass)")" "the old view is back"
assert_eq 2 "$(sql "SELECT count(*) FROM public.pivoted_customer_attributes_view")"
assert_eq 0 "$(sql "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace
                     AND obj_description(oid, 'pg_class') LIKE 'Meiro CPS view%'")" "no CPS view left"
assert_eq 1 "$(sql "SELECT count(*) FROM cdp_ps.matching WHERE customer_event_id = 'after-go-back'")" "CPS still works"
pass
