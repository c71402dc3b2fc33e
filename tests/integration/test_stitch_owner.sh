# Stitching from scratch loads an empty customer_entities without its keys,
# dropping the foreign keys that reference them (customer_attributes', and
# any of the CDP's own tables') and adding them back. Here cps runs as a
# role that owns its tables but not a CDP table referencing the entities: it
# cannot drop that foreign key, so the keys stay during the load (no
# TRUNCATE, no FREEZE) and the run succeeds all the same. Once the role owns
# that table too, the keys go and come back. Both runs give the same tables,
# and keys, foreign keys, indexes and triggers as they were.
source "$(dirname "$0")/lib.sh"
ROLE="cps_op_$$"
newdb
sql "CREATE ROLE $ROLE LOGIN; ALTER DATABASE $PGDATABASE OWNER TO $ROLE"
as_role() { PGUSER=$ROLE "$@"; }
as_role expect_status 0 cps init
sql <<'SQL'
INSERT INTO public.attributes (id) VALUES ('email'), ('phone');
INSERT INTO public.events (id) VALUES ('ev');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('email', 'ev', 'payload->>''email'''), ('phone', 'ev', 'payload->>''phone''');
INSERT INTO cdp_ce.customer_events (id, event_id, event_time, payload)
  SELECT 'e' || i, 'ev', timestamp '2024-01-01' + i * interval '1 minute',
         jsonb_build_object('email', 'm' || i % 300, 'phone', 'p' || i % 170)
    FROM generate_series(1, 2000) i;
-- a table of the CDP's own, owned by another role, that references the entities
CREATE TABLE public.crm_notes (customer_entity_id text
  REFERENCES cdp_attr.customer_entities (id) ON DELETE SET NULL, note text);
INSERT INTO public.crm_notes VALUES (NULL, 'not yet linked');
SQL
tables() {
  echo "$(table_digest cdp_ps.matching) $(table_digest cdp_ps.identifiers)" \
    "$(table_digest "(SELECT id, first_event_time, first_event_id FROM cdp_ps.entities)")" \
    "$(table_digest "(SELECT id, calculated FROM cdp_attr.customer_entities)")"
}
restitch() {
  sql "SET client_min_messages = warning; TRUNCATE TABLE cdp_attr.customer_entities CASCADE;
       TRUNCATE TABLE cdp_ps.matching; DROP TABLE cdp_ps.customer_events_to_process"
  sql "INSERT INTO public.crm_notes VALUES (NULL, 'not yet linked')"
}
schema=$(entity_schema)
assert_contains "$schema" "crm_notes_customer_entity_id_fkey FOREIGN KEY" "the check sees the CDP's key"

restitch
as_role expect_status 0 cps -v stitch
assert_contains "$OUT" "stitching every event from scratch"
assert_contains "$OUT" "customer_entities keeps its keys while it loads"
assert_eq "$schema" "$(entity_schema)" "keys kept: everything as it was"
assert_eq 2000 "$(sql "SELECT count(*) FROM cdp_ps.matching")" "every event stitched"
assert_eq "$(sql "SELECT count(*) FROM cdp_ps.entities")" \
  "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" "every entity in customer_entities"
kept=$(tables)

sql "ALTER TABLE public.crm_notes OWNER TO $ROLE"
restitch
as_role expect_status 0 cps -v stitch
assert_contains "$OUT" "stitching every event from scratch"
[[ $OUT != *"keeps its keys"* ]] || fail "the keys should go while customer_entities loads"
assert_eq "$schema" "$(entity_schema)" "keys dropped and added back: everything as it was"
assert_eq "$kept" "$(tables)" "the same tables either way"
assert_eq 1 "$(sql "SELECT count(*) FROM public.crm_notes")" "the CDP's rows kept"

dropdb "$PGDATABASE"
sql_postgres() { PGDATABASE=postgres sql "$@"; }
sql_postgres "DROP ROLE $ROLE"
pass
