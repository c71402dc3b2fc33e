# The caches (SPEC §5, §2.4): contents equal to independent SQL, distinct
# entities counted, cache_top_values, the freshness rules (empty or an
# attribute's row missing, modified NULL, older than cache_max_age_hours;
# fresh tables are kept), a dropped
# table is rebuilt, and a reader is never blocked by a rebuild.
source "$(dirname "$0")/lib.sh"
newdb
"$CPS_GEN" --events 3000 --quiet
expect_status 0 cps run
ACA=cdp_attr.cached_attributes_counts_customers_per_attribute
AVC=cdp_attr.cached_attribute_values_counts
SED=public.cached_source_events_per_date
for t in $ACA $AVC $SED; do
  assert_contains "$OUT" "CACHE: $t rebuilt (its rows are missing)"
done

# An attribute nobody has, and a custom attribute storing the same value twice
# for one entity: counts are of distinct entities.
sql "INSERT INTO cdp_attr.attributes VALUES ('nobody_has', '{\"type\": \"max\", \"value\": \"payload->>''no_such_key''\"}')"
sql "INSERT INTO cdp_attr.customer_attributes (customer_entity_id, attribute_id, value)
     SELECT customer_entity_id, attribute_id, value FROM cdp_attr.customer_attributes
      WHERE attribute_id = 'emails' LIMIT 5"
assert_eq 5 "$(sql "SELECT count(*) FROM (SELECT 1 FROM cdp_attr.customer_attributes
                    GROUP BY customer_entity_id, attribute_id, value HAVING count(*) > 1) d")" "duplicates exist"

# Independent expectations: distinct (entity, attribute[, value]) in SQL, ties by bytes.
expect_attr_counts() {
  sql "SELECT string_agg(a || '=' || n, ',' ORDER BY a) FROM (
         SELECT ids.a, (SELECT count(*) FROM (SELECT DISTINCT customer_entity_id FROM cdp_attr.customer_attributes ca
                                              WHERE ca.attribute_id = ids.a) d) AS n
           FROM (SELECT id AS a FROM cdp_attr.attributes UNION SELECT attribute_id FROM cdp_attr.customer_attributes) ids) s"
}
got_attr_counts() { sql "SELECT string_agg(attribute_id || '=' || count, ',' ORDER BY attribute_id) FROM $ACA"; }
expect_values() { # $1 = top N
  sql "SELECT md5(string_agg(attribute_id || '|' || value || '|' || n, E'\n' ORDER BY attribute_id, value)) FROM (
         SELECT attribute_id, value, n, row_number() OVER (PARTITION BY attribute_id ORDER BY n DESC, convert_to(value, 'UTF8')) AS r
           FROM (SELECT attribute_id, value, count(*) AS n
                   FROM (SELECT DISTINCT attribute_id, value, customer_entity_id FROM cdp_attr.customer_attributes) d
                  GROUP BY attribute_id, value) c) s WHERE r <= $1"
}
got_values() { sql "SELECT md5(string_agg(attribute_id || '|' || value || '|' || count, E'\n' ORDER BY attribute_id, value)) FROM $AVC"; }
expect_sources() {
  sql "SELECT md5(string_agg(r, E'\n' ORDER BY r)) FROM (SELECT coalesce(source_id, '-') || '|' || coalesce(d::text, '-') || '|' || n AS r FROM (
         SELECT source_id, date_trunc('day', event_time)::date AS d, count(*) AS n FROM cdp_ce.customer_events GROUP BY 1, 2) s) t"
}
got_sources() {
  sql "SELECT md5(string_agg(r, E'\n' ORDER BY r)) FROM (SELECT coalesce(source_id, '-') || '|' || coalesce(date::text, '-') || '|' || count AS r FROM $SED) t"
}
built() { sql "SELECT min(modified) || ' ' || max(modified) || ' ' || count(*) FROM $1"; }

# Forcing every cache (the setup guide's way plus the source cache) rebuilds all three.
sql "UPDATE $ACA SET modified = NULL; UPDATE $AVC SET modified = NULL; UPDATE $SED SET modified = NULL"
expect_status 0 cps cache
for t in $ACA $AVC $SED; do assert_contains "$OUT" "CACHE: $t rebuilt (" "log of $t"; done
assert_contains "$OUT" "with modified NULL"
assert_eq "$(expect_attr_counts)" "$(got_attr_counts)" "customers per attribute"
assert_eq "0" "$(sql "SELECT count FROM $ACA WHERE attribute_id = 'nobody_has'")" "an attribute without values counts 0"
assert_eq "0" "$(sql "SELECT count(*) FROM $AVC WHERE attribute_id = 'nobody_has'")" "... and has no value rows"
assert_eq "$(expect_values 1000)" "$(got_values)" "values counts"
assert_eq "$(expect_sources)" "$(got_sources)" "events per source per date"
assert_eq "$(sql "SELECT count(*) FROM cdp_ce.customer_events")" "$(sql "SELECT sum(count) FROM $SED")" "every event counted"
assert_eq 0 "$(sql "SELECT count(*) FROM $ACA WHERE modified IS NULL OR modified < now()::timestamp - interval '1 minute'")" "modified set"
# A list attribute: an entity with 3 values counts once per value and once for the attribute.
e=$(sql "SELECT customer_entity_id FROM cdp_attr.customer_attributes WHERE attribute_id = 'num_cookies' LIMIT 1")
sql "DELETE FROM cdp_attr.customer_attributes WHERE attribute_id = 'purchased_categories';
     INSERT INTO cdp_attr.customer_attributes VALUES ('$e', 'purchased_categories', 'x'), ('$e', 'purchased_categories', 'y'), ('$e', 'purchased_categories', 'z')"
sql "UPDATE $ACA SET modified = NULL WHERE attribute_id = 'emails'; UPDATE $AVC SET modified = NULL WHERE value = 'x' OR attribute_id = 'emails'"
expect_status 0 cps cache
assert_eq 1 "$(sql "SELECT count FROM $ACA WHERE attribute_id = 'purchased_categories'")" "list attribute: one entity"
assert_eq "x=1,y=1,z=1" "$(sql "SELECT string_agg(value || '=' || count, ',' ORDER BY value) FROM $AVC WHERE attribute_id = 'purchased_categories'")" "one per value"

# cache_top_values: the N most common values per attribute, ties to the smaller value.
echo '{"cache_top_values": 3}' >"$TEST_TMP/top3.json"
sql "UPDATE $AVC SET modified = NULL WHERE attribute_id = 'top_country'"
expect_status 0 cps -c "$TEST_TMP/top3.json" cache
assert_eq "$(expect_values 3)" "$(got_values)" "top 3 values"
assert_eq 3 "$(sql "SELECT max(c) FROM (SELECT count(*) AS c FROM $AVC GROUP BY attribute_id) s")" "at most 3 per attribute"
sql "INSERT INTO cdp_attr.attributes VALUES ('ties', '{\"type\": \"list\", \"value\": \"id\"}');
     INSERT INTO cdp_attr.customer_attributes SELECT id, 'ties', v FROM (SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 4) e,
       (VALUES ('b'), ('a'), ('B'), ('é'), ('c')) v(v)"
sql "UPDATE $AVC SET modified = NULL WHERE attribute_id = 'top_country'"
expect_status 0 cps -c "$TEST_TMP/top3.json" cache
assert_eq "B,a,b" "$(sql "SELECT string_agg(value, ',' ORDER BY convert_to(value, 'UTF8')) FROM $AVC WHERE attribute_id = 'ties'")" "ties by bytes"
echo '{"cache_top_values": 0}' >"$TEST_TMP/top0.json"
sql "UPDATE $AVC SET modified = NULL WHERE attribute_id = 'top_country'"
expect_status 0 cps -c "$TEST_TMP/top0.json" cache
assert_eq 0 "$(sql "SELECT count(*) FROM $AVC")" "cache_top_values 0 keeps none"
sql "UPDATE $AVC SET modified = NULL"  # (empty: rebuilt anyway)
expect_status 0 cps cache
assert_eq "$(expect_values 1000)" "$(got_values)" "back to 1000"

# Freshness: fresh tables are kept, row for row, even when the data changed.
before_aca=$(built $ACA); before_avc=$(built $AVC); before_sed=$(built $SED)
sql "DELETE FROM cdp_attr.customer_attributes WHERE attribute_id = 'phone'"
expect_status 0 cps cache
for t in $ACA $AVC $SED; do assert_contains "$OUT" "CACHE: $t is fresh (" "log of $t"; done
assert_eq "$before_aca" "$(built $ACA)" "fresh: kept"
assert_eq "$before_avc" "$(built $AVC)" "fresh: kept"
assert_eq "$before_sed" "$(built $SED)" "fresh: kept"
# Older than cache_max_age_hours (24 by default, or as configured): rebuilt.
sql "UPDATE $ACA SET modified = now()::timestamp - interval '23 hours'"
sql "UPDATE $AVC SET modified = now()::timestamp - interval '25 hours'"
expect_status 0 cps cache
assert_contains "$OUT" "CACHE: $ACA is fresh ("
assert_contains "$OUT" "CACHE: $AVC rebuilt (built 25.0 h ago, older than 24 h)"
assert_contains "$OUT" "CACHE: $SED is fresh ("
assert_eq "$(expect_values 1000)" "$(got_values)" "rebuilt from the current data"
echo '{"cache_max_age_hours": 2}' >"$TEST_TMP/short.json"
expect_status 0 cps -c "$TEST_TMP/short.json" cache
assert_contains "$OUT" "CACHE: $ACA rebuilt (built 23.0 h ago, older than 2 h)"
assert_eq "$(expect_attr_counts)" "$(got_attr_counts)" "rebuilt after 2 h"
# One old row is enough.
sql "UPDATE $SED SET modified = now()::timestamp - interval '30 hours' WHERE ctid = (SELECT min(ctid) FROM $SED)"
expect_status 0 cps cache
assert_contains "$OUT" "CACHE: $SED rebuilt (built 30.0 h ago"
# The run records what it did.
assert_eq "false true" "$(sql "SELECT (stats->'steps'->'cache'->'tables'->'cached_attribute_values_counts'->>'rebuilt') || ' ' ||
                                      (stats->'steps'->'cache'->'tables'->'cached_source_events_per_date'->>'rebuilt')
                                 FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" "stats"
# A defined attribute without its row (one added since, or a row deleted): rebuilt.
sql "DELETE FROM $ACA WHERE attribute_id = (SELECT min(attribute_id) FROM $ACA)"
expect_status 0 cps cache
assert_contains "$OUT" "CACHE: $ACA rebuilt (the rows of 1 attribute are missing)"
assert_eq "$(expect_attr_counts)" "$(got_attr_counts)" "the missing row is back"

# `modified` is a timestamp without time zone: it is the database's local time
# (its TimeZone setting), as now() gives in any other session, not UTC. East
# of UTC a table "25 hours old" is due; west of UTC one "23 hours old" is not.
sql "ALTER DATABASE $PGDATABASE SET timezone = 'Asia/Tokyo'"
sql "UPDATE $ACA SET modified = now() - interval '25 hours'"
expect_status 0 cps cache
assert_contains "$OUT" "CACHE: $ACA rebuilt (built 25.0 h ago, older than 24 h)"
assert_eq t "$(sql "SELECT bool_and(modified BETWEEN now()::timestamp - interval '1 minute' AND now()::timestamp) FROM $ACA")" "written in the database's local time"
sql "ALTER DATABASE $PGDATABASE SET timezone = 'America/Bogota'"
sql "UPDATE $ACA SET modified = now() - interval '23 hours'"
expect_status 0 cps cache
assert_contains "$OUT" "CACHE: $ACA is fresh (built 23.0 h ago"
assert_contains "$(cps status)" "$ACA: $(sql "SELECT count(*) FROM $ACA") rows, built 23 h"
sql "ALTER DATABASE $PGDATABASE RESET timezone"
# Missing rows: an emptied table, and a dropped one (recreated at run start).
sql "DELETE FROM $ACA"
sql "DROP TABLE $SED"
sql "INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, type, version, payload)
     VALUES ('late-1', md5('web' || 'page_view' || '1-0-0'), 'web', '2030-01-02 03:04:05', 'page_view', '1-0-0', '{}'),
            ('late-2', 'x', NULL, NULL, 'x', 'x', '{}')"
expect_status 0 cps run
assert_contains "$OUT" "created table $SED"
assert_contains "$OUT" "CACHE: $ACA rebuilt (its rows are missing)"
assert_contains "$OUT" "CACHE: $SED rebuilt (its rows are missing)"
assert_contains "$OUT" "CACHE: $AVC is fresh ("
assert_eq "$(expect_sources)" "$(got_sources)" "recreated and filled"
assert_eq 1 "$(sql "SELECT count FROM $SED WHERE source_id = 'web' AND date = '2030-01-02'")" "the new event's day"
assert_eq 1 "$(sql "SELECT count FROM $SED WHERE source_id IS NULL AND date IS NULL")" "no source, no time"

# A cache table someone altered so that it cannot be rebuilt (a NOT NULL column
# CPS does not fill): that table keeps its rows and is a problem of the run
# (exit 1, named); the other caches and the production views are still done.
sql "ALTER TABLE $ACA ADD COLUMN note text NOT NULL DEFAULT 'x'; ALTER TABLE $ACA ALTER COLUMN note DROP DEFAULT"
sql "UPDATE $ACA SET modified = NULL; UPDATE $AVC SET modified = NULL; UPDATE $SED SET modified = NULL"
kept=$(sql "SELECT count(*) FROM $ACA")
echo '{"production": true}' >"$TEST_TMP/prod.json"
expect_status 1 cps -c "$TEST_TMP/prod.json" run
assert_contains "$OUT" "ERROR CACHE: rebuilding $ACA: null value in column \"note\""
assert_contains "$OUT" "CACHE: $AVC rebuilt ("
assert_contains "$OUT" "CACHE: $SED rebuilt ("
assert_contains "$OUT" "PROD: public.pivoted_customer_attributes created"
assert_eq "$kept" "$(sql "SELECT count(*) FROM $ACA WHERE modified IS NULL")" "the broken table keeps its rows"
assert_eq "$(expect_values 1000)" "$(got_values)" "the values cache is rebuilt"
assert_eq "errors 1" "$(sql "SELECT status || ' ' || (stats->'steps'->'cache'->>'failed') FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")"
sql "ALTER TABLE $ACA DROP COLUMN note; DROP VIEW public.pivoted_customer_attributes, public.customer_events"
expect_status 0 cps cache
assert_eq "$(expect_attr_counts)" "$(got_attr_counts)" "rebuilt once repaired"

# A reader is never blocked: while a rebuild's transaction is open (a test
# trigger keeps it open for 3 s after the DELETE), another session still reads
# the old rows at once.
sql "CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN PERFORM pg_sleep(3); RETURN NULL; END\$\$;
     CREATE TRIGGER slow AFTER DELETE ON $AVC FOR EACH STATEMENT EXECUTE FUNCTION public.slow()"
rows=$(sql "SELECT count(*) FROM $AVC")
sql "UPDATE $AVC SET modified = NULL"
cps cache >"$TEST_TMP/cache.log" 2>&1 &
pid=$!
open=0
for _ in $(seq 100); do  # wait until the rebuild's transaction is open
  open=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'Meiro CPS' AND wait_event = 'PgSleep' AND datname = current_database()")
  [[ $open -gt 0 ]] && break
  sleep 0.1
done
[[ $open -gt 0 ]] || fail "the rebuild never reached the test's trigger: $(cat "$TEST_TMP/cache.log")"
t0=$(date +%s%N)
seen=$(psql -X -q -At -c "SET lock_timeout = '500ms'" -c "SELECT count(*) FROM $AVC WHERE modified IS NULL")
t1=$(date +%s%N)
assert_eq "$rows" "$seen" "the reader sees the old rows during the rebuild"
[[ $(((t1 - t0) / 1000000)) -lt 2500 ]] || fail "the reader waited $(((t1 - t0) / 1000000)) ms"
wait $pid || fail "cps cache failed: $(cat "$TEST_TMP/cache.log")"
assert_eq 0 "$(sql "SELECT count(*) FROM $AVC WHERE modified IS NULL")" "rebuilt after the reader"
# ... and a reader's open transaction does not block the rebuild (TRUNCATE would wait).
sql "DROP TRIGGER slow ON $AVC"
PGAPPNAME=cps-test-reader psql -X -q -c "BEGIN" -c "SELECT count(*) FROM $AVC" -c "SELECT pg_sleep(20)" >/dev/null 2>&1 &
reader=$!
for _ in $(seq 50); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cps-test-reader' AND wait_event = 'PgSleep'") -gt 0 ]] && break
  sleep 0.1
done
sql "UPDATE $AVC SET modified = NULL"
timeout 10 "$CPS" cache >"$TEST_TMP/cache2.log" 2>&1 || fail "cps cache blocked by a reader: $(cat "$TEST_TMP/cache2.log")"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cps-test-reader'" >/dev/null
wait "$reader" 2>/dev/null || true
pass
