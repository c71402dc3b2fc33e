# The database's collation changes nothing (SPEC §3, §4.2: text compares by
# its bytes, whatever the server's locale): the same CDP in a C.UTF-8 database
# and in an ICU en-US one (where "B" < "a" is false and "a-b" sorts after "aa")
# gives the same entities, identifiers, attribute values and caches, from
# scratch and incrementally.
source "$(dirname "$0")/lib.sh"

# Events of one person whose values sort differently in the two collations,
# two of them at the same time (first/last fall back on the event id's bytes).
TRICKY="INSERT INTO cdp_ce.customer_events (id, event_id, source_id, type, version, event_time, payload)
  SELECT id, md5('web' || 'web_signin' || '1-0-0'), 'web', 'web_signin', '1-0-0', t,
         jsonb_build_object('email', 'Tricky@Example.com', 'v', v)
    FROM (VALUES ('id-aa', timestamp '2020-01-01', 'aa'), ('id-a-b', timestamp '2020-01-01', 'a-b'),
                 ('id-B', timestamp '2020-01-02', 'B'), ('id-a', timestamp '2020-01-03', 'a'),
                 ('id-É', timestamp '2020-01-04', 'É'), ('id-e', timestamp '2020-01-05', 'e'),
                 ('id-Z', timestamp '2020-01-06', 'Z'), ('id-b2', timestamp '2020-01-07', 'B'),
                 ('id-a2', timestamp '2020-01-08', 'a')) AS x(id, t, v)"
ATTRS="INSERT INTO cdp_attr.attributes VALUES
  ('v_max', '{\"type\": \"max\", \"value\": \"payload->>''v''\"}'),
  ('v_min', '{\"type\": \"min\", \"value\": \"payload->>''v''\"}'),
  ('v_first', '{\"type\": \"first\", \"value\": \"payload->>''v''\"}'),
  ('v_last', '{\"type\": \"last\", \"value\": \"payload->>''v''\", \"filter\": \"event_time < ''2020-01-02''\"}'),
  ('v_most', '{\"type\": \"most_frequent\", \"value\": \"payload->>''v''\"}'),
  ('v_least', '{\"type\": \"least_frequent\", \"value\": \"payload->>''v''\"}'),
  ('v_list', '{\"type\": \"list\", \"value\": \"payload->>''v''\"}'),
  ('v_any', '{\"type\": \"value\", \"value\": \"payload->>''v''\"}'),
  ('v_unique', '{\"type\": \"num_of_unique\", \"value\": \"payload->>''v''\"}')"

# Each table's rows as text, in byte order; `created`, `merged_at` and
# `modified` are times of the run, not results.
digest() {
  sql "SELECT md5(string_agg(r, E'\n' ORDER BY r COLLATE \"C\")) FROM (SELECT ($2)::text AS r FROM $1) s"
}
results() {
  for t in "cdp_ps.matching|customer_event_id, customer_entity_id" \
    "cdp_ps.identifiers|attribute_id, value, customer_entity_id" \
    "cdp_ps.entities|id, first_event_time, first_event_id" \
    "cdp_ps.entity_merges|merged_id, into_id" \
    "cdp_attr.customer_entities|id" \
    "cdp_attr.customer_attributes|customer_entity_id, attribute_id, value" \
    "cdp_attr.cached_attributes_counts_customers_per_attribute|attribute_id, count" \
    "cdp_attr.cached_attribute_values_counts|attribute_id, value, count" \
    "public.cached_source_events_per_date|source_id, date, count"; do
    echo "${t%%|*} $(digest "${t%%|*}" "${t#*|}")"
  done
}

# A new database NAME of the cluster's collation (c) or of ICU en-US (icu).
newdb_of() {
  newdb "$2"
  if [[ $1 == icu ]]; then
    dropdb "$PGDATABASE"
    createdb --template=template0 --locale-provider=icu --icu-locale=en-US "$PGDATABASE"
    assert_eq "f" "$(sql "SELECT 'B' < 'a'")" "en-US collation in effect"
  fi
}

declare -A first second
for kind in c icu; do
  newdb_of "$kind" "$kind"
  "$CPS_GEN" --events 3000 --quiet
  sql "$TRICKY"
  sql "$ATTRS"
  expect_status 0 cps run
  first[$kind]=$(results)
  # incrementally: new events, and a bridge that merges two entities
  "$CPS_GEN" --append 400 --quiet
  sql "INSERT INTO cdp_ce.customer_events (id, event_id, source_id, type, version, event_time, payload)
       SELECT 'bridge', md5('web' || 'web_signin' || '1-0-0'), 'web', 'web_signin', '1-0-0',
              timestamp '2030-01-01', jsonb_build_object('email', 'tricky@example.com',
              'cookie_id', (SELECT value FROM cdp_ps.identifiers WHERE attribute_id = 'stitching_cookie_id'
                             ORDER BY value COLLATE \"C\" LIMIT 1), 'v', 'a')"
  sql "UPDATE cdp_attr.cached_attributes_counts_customers_per_attribute SET modified = NULL;
       UPDATE cdp_attr.cached_attribute_values_counts SET modified = NULL;
       UPDATE public.cached_source_events_per_date SET modified = NULL"
  expect_status 0 cps run
  second[$kind]=$(results)
done

assert_eq "${first[c]}" "${first[icu]}" "from scratch: C.UTF-8 against ICU en-US"
assert_eq "${second[c]}" "${second[icu]}" "incrementally: C.UTF-8 against ICU en-US"
# the tricky person's values, by bytes
assert_eq "v_any=B v_first=a-b v_last=aa v_least=Z v_list=B v_list=Z v_list=a v_list=a-b v_list=aa v_list=e v_list=É v_max=É v_min=B v_most=a v_unique=7" \
  "$(sql "SELECT string_agg(attribute_id || '=' || value, ' ' ORDER BY attribute_id COLLATE \"C\", value COLLATE \"C\")
            FROM cdp_attr.customer_attributes
           WHERE attribute_id LIKE 'v\_%' AND customer_entity_id =
                 (SELECT customer_entity_id FROM cdp_ps.matching WHERE customer_event_id = 'id-aa')")" \
  "values compared by bytes"
# PostgreSQL's aggregation, which CPS uses for types it does not fold in
# memory, compares by bytes too
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL"
CPS_FORCE_SQL_AGGREGATION=1 expect_status 0 cps attributes
attrs=$(grep "^cdp_attr.customer_attributes " <<<"${second[c]}")
assert_eq "$attrs" "cdp_attr.customer_attributes $(digest cdp_attr.customer_attributes "customer_entity_id, attribute_id, value")" \
  "PostgreSQL's aggregation in ICU en-US"

# The pivot's columns are ordered by attribute id in bytes too (SPEC §6).
echo '{"production": true}' >"$TEST_TMP/prod.json"
declare -A columns
for kind in c icu; do
  newdb_of "$kind" "pivot_$kind"
  expect_status 0 cps init
  sql "INSERT INTO cdp_attr.attributes VALUES
         ('aa', '{\"type\": \"max\", \"value\": \"payload->>''v''\"}'),
         ('a-b', '{\"type\": \"max\", \"value\": \"payload->>''v''\"}'),
         ('B_total', '{\"type\": \"max\", \"value\": \"payload->>''v''\"}'),
         ('a_last', '{\"type\": \"max\", \"value\": \"payload->>''v''\"}')"
  expect_status 0 cps -c "$TEST_TMP/prod.json" run
  columns[$kind]=$(sql "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_catalog.pg_attribute
                         WHERE attrelid = 'public.pivoted_customer_attributes'::regclass AND attnum > 0")
done
assert_eq "customer_entity_id,B_total,a-b,a_last,aa" "${columns[c]}" "pivot columns by bytes, C.UTF-8"
assert_eq "${columns[c]}" "${columns[icu]}" "pivot columns by bytes, ICU en-US"
pass
