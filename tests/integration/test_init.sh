# cps init creates every object of SPEC §2, twice without change, and never
# touches data; a missing queue table means "stitch from scratch".
source "$(dirname "$0")/lib.sh"
newdb

expect_status 0 cps init
for t in public.attributes public.events public.sources cdp_ce.customer_events \
  cdp_ps.stitching_attributes_config cdp_ps.matching cdp_ps.identifiers \
  cdp_ps.entity_merges cdp_ps.failed_events cdp_ps.customer_events_to_process cdp_ps.runs \
  cdp_attr.attributes cdp_attr.context cdp_attr.customer_entities \
  cdp_attr.customer_attributes cdp_attr.cached_attributes_counts_customers_per_attribute \
  cdp_attr.cached_attribute_values_counts public.cached_source_events_per_date; do
  assert_eq t "$(sql "SELECT to_regclass('$t') IS NOT NULL")" "$t exists"
done
assert_eq t "$(sql "SELECT to_regprocedure('cdp_ps.resolve_entity(text)') IS NOT NULL")" \
  "resolve_entity exists"
assert_eq 3 "$(sql "SELECT count(*) FROM pg_indexes WHERE schemaname = 'cdp_ps'
  AND tablename = 'stitching_attributes_config' AND indexname <> 'x'")" "config indexes"

# A snapshot of the catalog: a second init must not change it.
catalog() {
  sql "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
         SELECT c.oid::regclass::text || ':' || c.relkind::text AS x FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('public', 'cdp_ce', 'cdp_ps', 'cdp_attr')
         UNION ALL SELECT tgname || tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal
         UNION ALL SELECT p.oid::regprocedure::text || md5(prosrc) FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'cdp_ps') s"
}
before=$(catalog)
sql "INSERT INTO public.attributes (id) VALUES ('a1');
     INSERT INTO cdp_attr.attributes VALUES ('a1', '{\"type\": \"last\"}');"
expect_status 0 cps init
assert_contains "$OUT" "nothing to do"
assert_eq "$before" "$(catalog)" "catalog after the second init"
assert_eq 1 "$(sql "SELECT count(*) FROM cdp_attr.attributes")" "data kept"

# Objects the operator made by the setup guide are reused, not duplicated.
newdb guide
sql <<'SQL'
CREATE SCHEMA cdp_ps;
CREATE TABLE public.attributes (id varchar(255) PRIMARY KEY, name text);
CREATE TABLE public.events (id varchar(255) PRIMARY KEY, name text);
CREATE TABLE cdp_ps.stitching_attributes_config (
  attribute_id character varying(255) REFERENCES public.attributes(id),
  event_id character varying(255) REFERENCES public.events(id),
  value_expression text);
create index on cdp_ps.stitching_attributes_config ("attribute_id");
create index on cdp_ps.stitching_attributes_config ("event_id");
CREATE UNIQUE INDEX ON cdp_ps.stitching_attributes_config("event_id", "attribute_id");
SQL
expect_status 0 cps init
assert_eq 3 "$(sql "SELECT count(*) FROM pg_indexes WHERE tablename = 'stitching_attributes_config'")" \
  "no duplicate indexes"

# Other schema names from the config, validated and quoted.
newdb schemas
cat >"$TEST_TMP/cfg.json" <<JSON
{"cdp_schema": "my_cdp", "ce_schema": "my_ce", "ps_schema": "my_ps", "attr_schema": "my_attr",
 "postgresql": {"dbname": "$PGDATABASE"}}
JSON
expect_status 0 cps -c "$TEST_TMP/cfg.json" init
assert_eq t "$(sql "SELECT to_regclass('my_ps.matching') IS NOT NULL")"
assert_eq t "$(sql "SELECT to_regclass('my_attr.customer_entities') IS NOT NULL")"
assert_eq f "$(sql "SELECT to_regclass('cdp_ps.matching') IS NOT NULL")"
pass
