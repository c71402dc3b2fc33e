# The rights model (README "Rights"): CPS runs as a role of its own that owns
# its schemas; the CDP owns the event log. Loaders with rights on the event
# log only, and operators with rights on the one table a runbook touches,
# still feed CPS's queue and bookkeeping: the trigger functions run with the
# rights of CPS's role (SECURITY DEFINER, fixed search_path), and nobody else
# may attach them to a trigger. Installations whose functions lack that get
# them replaced by `cps init` or a run.
source "$(dirname "$0")/lib.sh"
CPS_ROLE="cps_r_$$" LOADER="loader_r_$$" OPERATOR="op_r_$$"
newdb
as() { local role=$1; shift; PGUSER=$role "$@"; }
sql <<SQL
CREATE ROLE $CPS_ROLE LOGIN; CREATE ROLE $LOADER LOGIN; CREATE ROLE $OPERATOR LOGIN;
GRANT CREATE ON DATABASE $PGDATABASE TO $CPS_ROLE;
GRANT CREATE ON SCHEMA public TO $CPS_ROLE;
-- the CDP's own tables, owned by the CDP (here the superuser)
CREATE TABLE public.attributes (id varchar(255) PRIMARY KEY, name text, data_type text);
CREATE TABLE public.events (id varchar(255) PRIMARY KEY, source_id text, type text,
                            version text, name text);
CREATE TABLE public.sources (id varchar(255) PRIMARY KEY, name text);
CREATE SCHEMA cdp_ce;
CREATE TABLE cdp_ce.customer_events (id text PRIMARY KEY, customer_entity_id text,
  event_id text, source_id text, event_time timestamp, type text, version text,
  payload jsonb, created timestamp DEFAULT now());
GRANT SELECT, REFERENCES ON public.attributes, public.events, public.sources TO $CPS_ROLE;
GRANT USAGE ON SCHEMA cdp_ce TO $CPS_ROLE, $LOADER;
GRANT SELECT, TRIGGER ON cdp_ce.customer_events TO $CPS_ROLE;
GRANT INSERT, UPDATE, SELECT ON cdp_ce.customer_events TO $LOADER;
INSERT INTO public.attributes (id) VALUES ('n');
INSERT INTO public.events (id) VALUES ('ev');
-- schemas where the loader and the operator may create objects of their own
CREATE SCHEMA loader_own AUTHORIZATION $LOADER;
CREATE SCHEMA op_own AUTHORIZATION $OPERATOR;
SQL
as "$CPS_ROLE" expect_status 0 cps init
as "$CPS_ROLE" sql "INSERT INTO cdp_ps.stitching_attributes_config VALUES
                      ('n', 'ev', '((payload->>''n'')::int)::text')"
assert_eq f "$(as "$LOADER" sql "SELECT has_schema_privilege('cdp_ps', 'USAGE')")" \
  "the loader has no rights on CPS's schema"
queue() { sql "SELECT coalesce(string_agg(customer_event_id, ',' ORDER BY customer_event_id), '')
               FROM cdp_ps.customer_events_to_process"; }
load() { as "$LOADER" sql "$@"; }

# A loader with rights on the event log alone: inserts, COPY, upserts, updates.
load "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
      VALUES ('e1', 'ev', '2024-01-01', '{\"n\": \"1\"}'), ('e2', 'ev', '2024-01-02', '{\"n\": \"1\"}')"
printf 'e3\tev\t2024-01-03\t{"n": "2"}\n' |
  as "$LOADER" psql -X -q -v ON_ERROR_STOP=1 \
    -c "\\copy cdp_ce.customer_events (id, event_id, event_time, payload) FROM STDIN"
assert_eq "e1,e2,e3" "$(queue)" "the loader's inserts are queued"
as "$CPS_ROLE" expect_status 0 cps stitch
assert_eq "" "$(queue)" "stitched"
load "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"bad\"}' WHERE id = 'e2'"
load "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
      VALUES ('e3', 'ev', '2024-01-03', '{\"n\": \"3\"}'), ('e4', 'ev', '2024-01-04', '{\"n\": \"3\"}')
      ON CONFLICT (id) DO UPDATE SET payload = excluded.payload"
assert_eq "e2,e3,e4" "$(queue)" "the loader's updates and upserts are queued"
as "$CPS_ROLE" expect_status 1 cps stitch
assert_eq e2 "$(sql "SELECT string_agg(customer_event_id, ',') FROM cdp_ps.failed_events")" "e2 set aside"
as "$CPS_ROLE" expect_status 0 cps run
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE calculated IS NULL")" \
  "every entity calculated"

# Nobody else may attach CPS's functions to a trigger of their own (they
# would write to CPS's tables with its rights), not even with USAGE on {ps}.
sql "GRANT USAGE ON SCHEMA cdp_ps, cdp_attr TO $OPERATOR;
     GRANT SELECT, DELETE ON cdp_ps.failed_events TO $OPERATOR;
     GRANT SELECT, UPDATE, TRUNCATE ON cdp_attr.customer_entities TO $OPERATOR;
     GRANT TRUNCATE ON cdp_attr.customer_attributes TO $OPERATOR"
for f in cps_queue_inserted cps_queue_updated cps_failed_requeue cps_entities_active \
  cps_entities_removed; do
  expect_status 1 as "$OPERATOR" psql -X -q -v ON_ERROR_STOP=1 -c "
    CREATE TABLE IF NOT EXISTS op_own.t (id text);
    CREATE TRIGGER t_$f AFTER INSERT ON op_own.t FOR EACH STATEMENT
      EXECUTE FUNCTION cdp_ps.$f()"
  assert_contains "$OUT" "permission denied for function cdp_ps.$f"
done

# An operator retries a set-aside event: deleting its row queues it again.
as "$OPERATOR" sql "DELETE FROM cdp_ps.failed_events WHERE customer_event_id = 'e2'"
assert_eq e2 "$(queue)" "the operator's delete re-queues the event"
load "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"2\"}' WHERE id = 'e2'"
# Someone sets an entity's modified past calculated: it is marked for calculation.
entity=$(sql "SELECT customer_entity_id FROM cdp_ps.matching WHERE customer_event_id = 'e1'")
as "$OPERATOR" sql "UPDATE cdp_attr.customer_entities SET modified = calculated + interval '1 hour'
                    WHERE id = '$entity'"
assert_eq 1 "$(sql "SELECT count(*) FROM cdp_ps.entities_to_calculate")" "the entity is marked"
# Runbook "attributes from scratch", by the operator: CPS learns of it.
PGOPTIONS="-c client_min_messages=warning" \
  as "$OPERATOR" sql "TRUNCATE TABLE cdp_attr.customer_entities CASCADE"
assert_eq pending "$(sql "SELECT value FROM cdp_ps.state WHERE key = 'entities_resync'")" \
  "the truncate is noticed"
as "$CPS_ROLE" expect_status 0 cps run

# Runbook "profile stitching from scratch": the recreated queue is fed too.
as "$CPS_ROLE" sql "DROP TABLE cdp_ps.customer_events_to_process"
as "$CPS_ROLE" expect_status 0 cps stitch
load "INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
      VALUES ('e5', 'ev', '2024-01-05', '{\"n\": \"5\"}')"
load "UPDATE cdp_ce.customer_events SET payload = '{\"n\": \"4\"}' WHERE id = 'e4'"
assert_eq "e4,e5" "$(queue)" "the recreated queue is fed"
as "$CPS_ROLE" expect_status 0 cps stitch

# Upgrade: functions as an older CPS installed them (running with the rights of
# whoever fires the trigger, executable by anyone) are replaced.
old_definitions() {
  local f
  for f in cps_queue_inserted cps_queue_updated cps_failed_requeue cps_entities_active \
    cps_entities_removed; do
    as "$CPS_ROLE" sql "ALTER FUNCTION cdp_ps.$f() SECURITY INVOKER RESET ALL;
                        GRANT EXECUTE ON FUNCTION cdp_ps.$f() TO PUBLIC"
  done
}
definers() {
  sql "SELECT string_agg(proname || ':' || prosecdef || ':' || array_to_string(proconfig, '/')
                         || ':' || has_function_privilege('public', p.oid, 'EXECUTE'),
                         ' ' ORDER BY proname)
         FROM pg_proc p WHERE pronamespace = 'cdp_ps'::regnamespace AND proname LIKE 'cps\_%'"
}
expected="cps_entities_active:true:search_path=pg_catalog, pg_temp:false"
expected+=" cps_entities_removed:true:search_path=pg_catalog, pg_temp:false"
expected+=" cps_failed_requeue:true:search_path=pg_catalog, pg_temp:false"
expected+=" cps_queue_inserted:true:search_path=pg_catalog, pg_temp:false"
expected+=" cps_queue_updated:true:search_path=pg_catalog, pg_temp:false"
assert_eq "$expected" "$(definers)" "trigger functions after init"
old_definitions
# (cps_queue_inserted exactly as the previous CPS created it: the same body)
as "$CPS_ROLE" sql <<'SQL'
CREATE OR REPLACE FUNCTION cdp_ps.cps_queue_inserted() RETURNS trigger LANGUAGE plpgsql AS $cps$
BEGIN
  IF pg_catalog.to_regclass(pg_catalog.quote_ident('cdp_ps') || '.customer_events_to_process') IS NOT NULL THEN
    INSERT INTO "cdp_ps".customer_events_to_process AS q (customer_event_id) SELECT n.id FROM cps_new n ON CONFLICT (customer_event_id) DO UPDATE SET customer_event_id = q.customer_event_id;
  END IF;
  RETURN NULL;
END
$cps$
SQL
expect_status 1 load "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('x1', '{}')"
assert_contains "$OUT" "permission denied for schema cdp_ps" "the old definitions"
as "$CPS_ROLE" expect_status 0 cps init
assert_eq 5 "$(grep -c 'INIT: replaced function cdp_ps.cps_.* (it was out of date)' <<<"$OUT")" "five functions replaced"
assert_eq 0 "$(grep -c 'INIT: created function' <<<"$OUT")" "none created: they were there"
assert_eq "$expected" "$(definers)" "trigger functions after the upgrade"
as "$CPS_ROLE" expect_status 0 cps init
assert_contains "$OUT" "nothing to do"
load "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('x1', '{}')"
assert_eq x1 "$(queue)" "queued after the upgrade"
# A run upgrades too.
old_definitions
as "$CPS_ROLE" expect_status 0 cps stitch
assert_eq "$expected" "$(definers)" "trigger functions after a run"

dropdb "$PGDATABASE"
PGDATABASE=postgres sql "DROP ROLE $CPS_ROLE; DROP ROLE $LOADER; DROP ROLE $OPERATOR"
pass
