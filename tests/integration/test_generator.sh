# cps-gen writes a complete, deterministic sample CDP: the same seed gives the
# same rows, appending continues the same data set, the definitions cover
# every attribute type and compile against the data, and it refuses to write
# into an event log that is not empty.
source "$(dirname "$0")/lib.sh"
: "${CPS_GEN:?run through ctest, or set CPS_GEN to the cps-gen binary}"
gen() { "$CPS_GEN" "$@"; }

TABLES="public.sources public.events public.attributes cdp_ce.customer_events
  cdp_ps.stitching_attributes_config cdp_attr.attributes cdp_attr.context
  cps_gen.truth cps_gen.params"
digests() { for t in $TABLES; do echo "$t $(table_digest "$t")"; done; }
count() { sql "SELECT count(*) FROM $1"; }
leave() { local db=$PGDATABASE; PGDATABASE=postgres dropdb "$db"; }

# --- Determinism: the same seed twice gives the same tables -----------------
newdb same1
expect_status 0 gen --events 3000 --seed 7 --quiet
first=$(digests)
assert_eq 3000 "$(count cdp_ce.customer_events)" "events written"
assert_eq 3000 "$(count cps_gen.truth)" "truth rows"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ce.customer_events e
                   LEFT JOIN cps_gen.truth t ON t.customer_event_id = e.id WHERE t IS NULL")" \
  "every event has its person"
leave
newdb same2
expect_status 0 gen --events 3000 --seed 7 --quiet
assert_eq "$first" "$(digests)" "digests of two runs with the same seed"
ev_seed7=$(table_digest cdp_ce.customer_events)

# What the data look like.
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ce.customer_events e
                   LEFT JOIN public.events d ON d.id = e.event_id WHERE d.id IS NULL")" \
  "events whose event_id is not in public.events"
assert_eq 0 "$(sql "SELECT count(*) FROM public.events
                   WHERE id <> md5(source_id || type || version)")" "event definition ids"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ce.customer_events e JOIN public.events d
                   ON d.id = e.event_id WHERE (d.source_id, d.type, d.version)
                   IS DISTINCT FROM (e.source_id, e.type, e.version)")" "events match definitions"
assert_eq 5 "$(count public.sources)" "sources"
assert_eq "t|t|t" "$(sql "SELECT min(event_time) >= '2024-07-01', max(event_time) < '2026-07-01',
                          bool_and(created > event_time) FROM cdp_ce.customer_events")" \
  "times within the two years before 2026-07-01"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ce.customer_events
                   WHERE length(id) <> 36 OR customer_entity_id IS NOT NULL")" "ids"
assert_eq t "$(sql "SELECT avg(length(payload::text)) BETWEEN 150 AND 600
                   FROM cdp_ce.customer_events")" "payloads of a few hundred bytes"
assert_eq t "$(sql "SELECT count(*) > 0 FROM cdp_ce.customer_events
                   WHERE payload->>'email' <> lower(payload->>'email')")" "emails in mixed case"
assert_eq t "$(sql "SELECT count(DISTINCT regexp_replace(payload->>'phone', '[0-9]', '9', 'g')) > 2
                   FROM cdp_ce.customer_events")" "phones in several formats"
assert_eq "t|t" "$(sql "SELECT max(n) >= 20, min(n) = 1 FROM (SELECT count(*) AS n
                        FROM cps_gen.truth GROUP BY person_id) s")" \
  "heavy users and one-off visitors"

# Every calculation type of SPEC §4.3 and every optional key of §4.1.
assert_eq "" "$(sql "SELECT string_agg(t, ',') FROM unnest(ARRAY['avg', 'sum', 'min', 'max',
                  'first', 'last', 'most_frequent', 'least_frequent', 'list', 'num_of_unique',
                  'value', 'custom']) t WHERE NOT EXISTS (SELECT 1 FROM cdp_attr.attributes
                  WHERE definition->>'type' = t)")" "attribute types missing"
assert_eq "" "$(sql "SELECT string_agg(k, ',') FROM unnest(ARRAY['weight', 'filter',
                  'outer_value', 'outer_weight', 'outer_filter', 'sources', 'types', 'versions'])
                  k WHERE NOT EXISTS (SELECT 1 FROM cdp_attr.attributes
                  WHERE definition->>k <> '')")" "optional definition keys missing"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.attributes a
                   LEFT JOIN public.attributes c ON c.id = a.id WHERE c.id IS NULL")" \
  "definitions without a public.attributes row"
assert_eq t "$(sql "SELECT count(*) > 0 FROM cdp_attr.context WHERE value IS NULL
                   AND modified IS NULL AND query <> ''")" "context rows"

# A set-returning identifier expression, and every expression finds identifiers.
assert_eq t "$(sql "SELECT EXISTS (SELECT 1 FROM cdp_ps.stitching_attributes_config c
                   JOIN pg_proc p ON p.proretset
                   AND c.value_expression LIKE '%' || p.proname || '(%')")" \
  "a set-returning stitching expression"
sql <<'SQL'
DO $$
DECLARE r record; n bigint;
BEGIN
  FOR r IN SELECT * FROM cdp_ps.stitching_attributes_config LOOP
    EXECUTE format('SELECT count(*) FROM (SELECT (%s)::text AS v FROM cdp_ce.customer_events '
                   'WHERE event_id = %L) s WHERE v <> ''''', r.value_expression, r.event_id)
      INTO n;
    IF n = 0 THEN
      RAISE EXCEPTION 'stitching rule %/% finds no identifier', r.attribute_id, r.event_id;
    END IF;
  END LOOP;
END $$;
SQL

# Every attribute definition's SQL runs on the generated events.
sql <<'SQL'
DO $$
DECLARE a record; d jsonb; q text;
BEGIN
  FOR a IN SELECT * FROM cdp_attr.attributes LOOP
    d := a.definition;
    IF d->>'type' = 'custom' THEN
      q := 'WITH base AS (SELECT * FROM cdp_ce.customer_events LIMIT 200) ' || (d->>'query');
    ELSE
      q := format('SELECT (%s), (%s) FROM (SELECT e.*, (%s) AS value, (%s) AS weight '
                  'FROM cdp_ce.customer_events e WHERE (%s)) inner_rows WHERE (%s)',
                  coalesce(nullif(d->>'outer_value', ''), 'value'),
                  coalesce(nullif(d->>'outer_weight', ''), '1'),
                  d->>'value', coalesce(nullif(d->>'weight', ''), '1'),
                  coalesce(nullif(d->>'filter', ''), 'true'),
                  coalesce(nullif(d->>'outer_filter', ''), 'true'));
    END IF;
    BEGIN
      EXECUTE q;
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION 'attribute %: % (%)', a.id, SQLERRM, q;
    END;
  END LOOP;
END $$;
SQL

# Another seed, other data.
leave
newdb seed8
expect_status 0 gen --events 3000 --seed 8 --quiet
[[ $(table_digest cdp_ce.customer_events) != "$ev_seed7" ]] || fail "seeds 7 and 8 gave the same events"

# --- A database with events is refused; so is appending to nothing ----------
before=$(digests)
expect_status 2 gen --events 10
assert_contains "$OUT" "cdp_ce.customer_events already holds events"
assert_eq "$before" "$(digests)" "a refused run changes nothing"
expect_status 2 gen --append 10 --seed 9
assert_contains "$OUT" "--seed 9 differs"
expect_status 2 gen --events 10 --append 10
expect_status 2 gen --events lots
assert_contains "$OUT" "--events needs a whole number"
leave
newdb noparams
expect_status 2 gen --append 10
assert_contains "$OUT" "no data set made by cps-gen to append to"

# --- --events 1000 then --append 500 equals --events 1500 -------------------
leave
newdb append
expect_status 0 gen --events 1000 --persons 250 --quiet
last_time=$(sql "SELECT max(event_time) FROM cdp_ce.customer_events")
expect_status 0 gen --append 500 --quiet
assert_eq 500 "$(sql "SELECT count(*) FROM cdp_ce.customer_events WHERE event_time > '$last_time'")" \
  "appended events come after the existing ones"
appended_events=$(table_digest cdp_ce.customer_events)
appended_truth=$(table_digest cps_gen.truth)
appended_params=$(table_digest cps_gen.params)
leave
newdb whole
expect_status 0 gen --events 1500 --persons 250 --quiet
assert_eq "$appended_events" "$(table_digest cdp_ce.customer_events)" "events: 1000 + 500 vs 1500"
assert_eq "$appended_truth" "$(table_digest cps_gen.truth)" "truth: 1000 + 500 vs 1500"
assert_eq "$appended_params" "$(table_digest cps_gen.params)" "params: 1000 + 500 vs 1500"
assert_eq 1500 "$(sql "SELECT events FROM cps_gen.params")" "events recorded in params"

# --- With CPS installed, the queue trigger queues the generated events ------
leave
newdb queue
expect_status 0 cps init
expect_status 0 gen --events 700 --quiet
assert_eq 700 "$(count cdp_ps.customer_events_to_process)" "generated events queued"

# --- Other schema names, from a config file ---------------------------------
leave
newdb schemas
cat >"$TEST_TMP/cfg.json" <<JSON
{"cdp_schema": "my_cdp", "ce_schema": "my_ce", "ps_schema": "my_ps", "attr_schema": "my_attr",
 "postgresql": {"dbname": "$PGDATABASE"}}
JSON
expect_status 0 gen -c "$TEST_TMP/cfg.json" --events 500 --quiet
assert_eq 500 "$(count my_ce.customer_events)" "events in my_ce"
assert_eq 12 "$(count my_cdp.events)" "event definitions in my_cdp"
assert_eq 0 "$(sql "SELECT count(*) FROM my_ce.customer_events e
                   LEFT JOIN my_cdp.events d ON d.id = e.event_id WHERE d.id IS NULL")" \
  "event ids in my_cdp.events"
assert_eq t "$(sql "SELECT count(*) > 0 FROM my_ps.stitching_attributes_config")" "config in my_ps"
assert_eq f "$(sql "SELECT to_regclass('cdp_ce.customer_events') IS NOT NULL
                    OR to_regclass('public.events') IS NOT NULL")" "default schemas untouched"
assert_contains "$(sql "SELECT definition->>'query' FROM my_attr.attributes WHERE id = 'engagement'")" \
  '"my_attr".context'
assert_contains "$(sql "SELECT query FROM my_attr.context WHERE key = 'events_p90'")" '"my_ps".matching'
# The context query runs once CPS's tables exist.
expect_status 0 cps -c "$TEST_TMP/cfg.json" init
sql "$(sql "SELECT query FROM my_attr.context WHERE key = 'events_p90'")" >/dev/null
pass
