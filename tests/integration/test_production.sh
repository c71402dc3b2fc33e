# Production mode (SPEC §6): the two views equal independent SQL (list and
# custom as sorted text[], an entity without values, a malformed definition as
# text); the pivot is recreated when the attribute set changes and only then,
# keeping its privileges; an object CPS did not create is never touched (exit
# 1, nothing changed); without production nothing is created or changed under
# these names; the front end's two queries are index probes.
source "$(dirname "$0")/lib.sh"
newdb
"$CPS_GEN" --events 8000 --quiet
echo '{"production": true}' >"$TEST_TMP/prod.json"
prod() { cps -c "$TEST_TMP/prod.json" "$@"; }
PIVOT=public.pivoted_customer_attributes
EVENTS=public.customer_events
relkind() { sql "SELECT coalesce((SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                  WHERE n.nspname = 'public' AND c.relname = '$1'), 'none')"; }
oid() { sql "SELECT '$1'::regclass::oid"; }
comment() { sql "SELECT obj_description('$1'::regclass, 'pg_class')"; }
columns() { sql "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
                   FROM pg_attribute WHERE attrelid = '$1'::regclass AND attnum > 0 AND NOT attisdropped"; }

# Without production nothing exists under the two names.
expect_status 0 cps run
assert_eq none "$(relkind customer_events)" "no view without production"
assert_eq none "$(relkind pivoted_customer_attributes)" "no view without production"
assert_eq "" "$(echo "$OUT" | grep PROD: || true)" "no production step"

expect_status 0 prod run
assert_contains "$OUT" "PROD: $EVENTS created"
assert_contains "$OUT" "PROD: $PIVOT created (20 attribute columns)"
assert_eq v "$(relkind customer_events)"
assert_eq v "$(relkind pivoted_customer_attributes)"
assert_contains "$(comment $PIVOT)" "Meiro CPS view"
assert_contains "$(comment $EVENTS)" "Meiro CPS view"

# customer_events: the event log's columns, the entity from matching, stitched events only.
ce_cols=$(columns cdp_ce.customer_events)
assert_eq "$ce_cols" "$(columns $EVENTS)" "the event log's columns"
check_events() {
  assert_eq "$(table_digest "(SELECT e.id, m.customer_entity_id, e.event_id, e.source_id, e.event_time, e.type,
                                     e.version, e.payload, e.created
                                FROM cdp_ce.customer_events e JOIN cdp_ps.matching m ON m.customer_event_id = e.id)")" \
            "$(table_digest $EVENTS)" "customer_events = event log joined with matching"
}
check_events
sql "INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, type, version, payload)
     VALUES ('not-yet', 'x', 'web', now(), 'x', 'x', '{}')"
assert_eq 0 "$(sql "SELECT count(*) FROM $EVENTS WHERE id = 'not-yet'")" "unstitched events are not in the view"
assert_eq 8000 "$(sql "SELECT count(*) FROM $EVENTS")"
expect_status 0 prod stitch
assert_eq 1 "$(sql "SELECT count(*) FROM $EVENTS WHERE id = 'not-yet' AND customer_entity_id IS NOT NULL")" "stitched: in the view"
check_events

# The pivot: customer_entity_id, then one column per attribute ordered by id.
types=$(sql "SELECT string_agg(id || ' ' || CASE WHEN definition->>'type' IN ('list', 'custom') THEN 'text[]' ELSE 'text' END,
                               ',' ORDER BY id) FROM cdp_attr.attributes")
assert_eq "customer_entity_id text,$types" "$(columns $PIVOT)" "pivot columns and types"
check_pivot() {
  assert_eq "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" "$(sql "SELECT count(*) FROM $PIVOT")" "one row per entity"
  local a col array
  while IFS='|' read -r a col array; do
    if [[ $array == t ]]; then
      expected=$(table_digest "(SELECT customer_entity_id, array_agg(value ORDER BY convert_to(value, 'UTF8'))::text
                                  FROM cdp_attr.customer_attributes WHERE attribute_id = $a GROUP BY 1)")
    else
      expected=$(table_digest "(SELECT customer_entity_id, value FROM cdp_attr.customer_attributes WHERE attribute_id = $a)")
    fi
    assert_eq "$expected" "$(table_digest "(SELECT customer_entity_id, $col::text FROM $PIVOT WHERE $col IS NOT NULL)")" "column $a"
  done < <(sql "SELECT quote_literal(id), quote_ident(left(id, 63)), definition->>'type' IN ('list', 'custom')
                  FROM cdp_attr.attributes ORDER BY id")
}
check_pivot
multi=$(sql "SELECT count(*) FROM $PIVOT WHERE cardinality(purchased_categories) > 2")
[[ $multi -gt 0 ]] || fail "test data: no entity with 3 purchased categories"
# An entity without any value: a row of NULLs.
sql "INSERT INTO cdp_attr.customer_entities (id, created, modified, calculated) VALUES ('lonely', now(), now(), now())"
assert_eq 0 "$(sql "SELECT (SELECT count(*) FROM jsonb_each(to_jsonb(p)) WHERE key <> 'customer_entity_id' AND value <> 'null')
                     FROM $PIVOT p WHERE customer_entity_id = 'lonely'")" "an entity with no values: a row of NULLs"
sql "DELETE FROM cdp_attr.customer_entities WHERE id = 'lonely'"

# Recreated only when the attribute set (ids, types) changes.
o1=$(oid $PIVOT); c1=$(comment $PIVOT); e1=$(oid $EVENTS)
expect_status 0 prod run
assert_contains "$OUT" "PROD: $PIVOT is up to date (20 attribute columns)"
assert_contains "$OUT" "PROD: $EVENTS is up to date"
assert_eq "$o1 $c1 $e1" "$(oid $PIVOT) $(comment $PIVOT) $(oid $EVENTS)" "nothing changed: untouched"
sql "UPDATE cdp_attr.attributes SET definition = jsonb_set(definition, '{value}', '\"lower(payload->>''country'')\"') WHERE id = 'top_country'"
expect_status 0 prod run
assert_contains "$OUT" "PROD: $PIVOT is up to date"
assert_eq "$o1 $c1" "$(oid $PIVOT) $(comment $PIVOT)" "a new expression, same type: untouched"
# A new attribute after the others: replaced in place.
sql "GRANT SELECT ON $PIVOT TO PUBLIC; GRANT SELECT (top_country) ON $PIVOT TO PUBLIC"
colacl() { sql "SELECT string_agg(attname || ' ' || attacl::text, ',') FROM pg_attribute WHERE attrelid = '$PIVOT'::regclass AND attname = '$1'"; }
sql "INSERT INTO cdp_attr.attributes VALUES ('zz_last', '{\"type\": \"last\", \"value\": \"source_id\"}')"
expect_status 0 prod run
assert_contains "$OUT" "PROD: $PIVOT replaced (21 attribute columns)"
assert_contains "$(columns $PIVOT)" ",zz_last text"
[[ "$(comment $PIVOT)" != "$c1" ]] || fail "the comment's hash did not change"
# One in the middle, and odd ids (quotes, braces, case, length): dropped and created in one go.
long=$(printf 'l%.0s' $(seq 70))
sql "INSERT INTO cdp_attr.attributes VALUES
       ('b \"odd'' {attr} id', '{\"type\": \"list\", \"value\": \"source_id\"}'),
       ('Upper', '{\"type\": \"custom\", \"query\": \"SELECT DISTINCT type AS value FROM base\"}'),
       ('$long', '{\"type\": \"first\", \"value\": \"type\"}'),
       ('malformed', '\"not an object\"'),
       ('no_type', '{\"value\": \"id\"}')"
expect_status 1 prod run  # (malformed definitions are reported by the attribute step)
assert_contains "$OUT" "PROD: $PIVOT recreated (26 attribute columns)"
[[ "$(oid $PIVOT)" != "$o1" ]] || fail "expected a new view"
assert_eq "t" "$(sql "SELECT has_table_privilege('public', '$PIVOT', 'SELECT')")" "privileges kept"
assert_eq "top_country {=r/$(sql "SELECT current_user")}" "$(colacl top_country)" "column privileges kept"
types=$(sql "SELECT string_agg(left(id, 63) || ' ' || CASE WHEN definition->>'type' IN ('list', 'custom') THEN 'text[]' ELSE 'text' END,
                               ',' ORDER BY id) FROM cdp_attr.attributes")
assert_eq "customer_entity_id text,$types" "$(columns $PIVOT)" "odd ids as columns; malformed ones are text"
check_pivot
assert_eq 0 "$(sql "SELECT count(*) FROM $PIVOT WHERE \"malformed\" IS NOT NULL OR \"no_type\" IS NOT NULL")" "no values for broken definitions"
# A type change and a removed attribute.
sql "UPDATE cdp_attr.attributes SET definition = '{\"type\": \"list\", \"value\": \"source_id\"}' WHERE id = 'zz_last';
     DELETE FROM cdp_attr.attributes WHERE id IN ('malformed', 'no_type')"
expect_status 0 prod run
assert_contains "$OUT" "PROD: $PIVOT recreated (24 attribute columns)"
assert_contains "$(columns $PIVOT)" ",zz_last text[]"
check_pivot
# An id that cannot be a column is left out and reported.
sql "INSERT INTO cdp_attr.attributes VALUES ('customer_entity_id', '{\"type\": \"last\", \"value\": \"id\"}'),
                                            ('${long}x', '{\"type\": \"last\", \"value\": \"id\"}')"
expect_status 1 prod run
assert_contains "$OUT" "attribute \"customer_entity_id\" is left out of $PIVOT"
assert_contains "$OUT" "attribute \"${long}x\" is left out of $PIVOT"
assert_contains "$OUT" "PROD: $PIVOT is up to date (24 attribute columns)"
sql "DELETE FROM cdp_attr.attributes WHERE id IN ('customer_entity_id', '${long}x')"
# A view of someone else's on top of the pivot stops a recreation, with advice.
sql "CREATE VIEW public.on_top AS SELECT customer_entity_id FROM $PIVOT"
sql "GRANT UPDATE (\"Upper\") ON $PIVOT TO PUBLIC"  # (a column that goes: its privilege goes too)
sql "DELETE FROM cdp_attr.attributes WHERE id = 'Upper'"
expect_status 1 prod run
assert_contains "$OUT" "other objects depend on view $PIVOT"
assert_contains "$OUT" "view on_top depends on view pivoted_customer_attributes"
assert_contains "$(columns $PIVOT)" "Upper text[]" "unchanged"
sql "DROP VIEW public.on_top"
expect_status 0 prod run
assert_contains "$OUT" "PROD: $PIVOT recreated (23 attribute columns)"
assert_eq "top_country {=r/$(sql "SELECT current_user")}" "$(colacl top_country)" "column privileges kept"

# The front end's queries: one customer is index probes, a filter on one column
# reads that attribute's rows only (the other joins are removed).
sql "ANALYZE cdp_attr.customer_attributes; ANALYZE cdp_attr.customer_entities"
sql "CREATE FUNCTION public.plan_of(q text) RETURNS jsonb LANGUAGE plpgsql AS \$\$
       DECLARE p jsonb; BEGIN EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p; RETURN p; END \$\$"
scans() { # scans of customer_attributes in the plan of $1: "node type" per line
  sql "SELECT n->>'Node Type' FROM jsonb_path_query(plan_of(\$q\$$1\$q\$), 'strict \$.**') n
        WHERE jsonb_typeof(n) = 'object' AND n->>'Relation Name' = 'customer_attributes' ORDER BY 1"
}
one=$(sql "SELECT id FROM cdp_attr.customer_entities ORDER BY id LIMIT 1 OFFSET 7")
plan=$(scans "SELECT * FROM public.pivoted_customer_attributes WHERE customer_entity_id = '$one'")
[[ $plan != *"Seq Scan"* ]] || fail "one customer reads customer_attributes sequentially: $plan"
assert_eq 23 "$(echo "$plan" | grep -c .)" "one probe per attribute: $plan"
generic=$(psql -X -q -At -c "SET plan_cache_mode = force_generic_plan" \
  -c "PREPARE one(text) AS SELECT * FROM public.pivoted_customer_attributes WHERE customer_entity_id = \$1" \
  -c "EXPLAIN EXECUTE one('$one')")
[[ $generic != *"Seq Scan on customer_attributes"* ]] || fail "the generic plan reads customer_attributes sequentially"
for q in "SELECT count(*) FROM public.pivoted_customer_attributes WHERE top_country = 'CZ'" \
         "SELECT count(*) FROM public.pivoted_customer_attributes WHERE 'web' = ANY (purchase_sources)"; do
  plan=$(scans "$q")
  assert_eq 1 "$(echo "$plan" | grep -c .)" "one scan of customer_attributes for [$q]: $plan"
  [[ $plan != *"Seq Scan"* ]] || fail "[$q] reads customer_attributes sequentially"
done
assert_eq "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes WHERE attribute_id = 'top_country' AND value = 'CZ'")" \
          "$(sql "SELECT count(*) FROM public.pivoted_customer_attributes WHERE top_country = 'CZ'")" "filtered count"

# Without production: nothing changes under the two names, even when it would.
o2=$(oid $PIVOT); c2=$(comment $PIVOT); cols2=$(columns $PIVOT)
sql "INSERT INTO cdp_attr.attributes VALUES ('aaa_new', '{\"type\": \"list\", \"value\": \"id\"}')"
expect_status 0 cps run
assert_eq "$o2 $c2 $cols2" "$(oid $PIVOT) $(comment $PIVOT) $(columns $PIVOT)" "production false: untouched"
sql "DELETE FROM cdp_attr.attributes WHERE id = 'aaa_new'"

# An object CPS did not create: exit 1, nothing changed, told to rename it.
sql "DROP VIEW $PIVOT; DROP VIEW $EVENTS"
sql "CREATE TABLE $PIVOT (customer_entity_id text, x text); INSERT INTO $PIVOT VALUES ('a', 'b')"
expect_status 1 prod run
assert_contains "$OUT" "$PIVOT exists and CPS did not create it (it is a table)"
assert_contains "$OUT" "ALTER TABLE $PIVOT RENAME TO pivoted_customer_attributes_backup"
assert_eq "r a|b" "$(relkind pivoted_customer_attributes) $(sql "SELECT customer_entity_id || '|' || x FROM $PIVOT")" "the table is untouched"
assert_eq none "$(relkind customer_events)" "nothing created either"
assert_eq failed "$(sql "SELECT status FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")"
assert_contains "$(sql "SELECT stats->>'error' FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" "production: $PIVOT exists"
expect_status 0 cps run  # (and without production, nobody complains)
sql "ALTER TABLE $PIVOT RENAME TO pivoted_customer_attributes_backup"
sql "CREATE VIEW $EVENTS AS SELECT 1 AS x; COMMENT ON VIEW $EVENTS IS 'the CDP''s own, not a Meiro CPS view'"
def=$(sql "SELECT pg_get_viewdef('$EVENTS'::regclass)")
expect_status 1 prod run
assert_contains "$OUT" "$EVENTS exists and CPS did not create it (it is a view without CPS's comment)"
assert_contains "$OUT" "ALTER VIEW $EVENTS RENAME TO customer_events_backup"
assert_eq "$def" "$(sql "SELECT pg_get_viewdef('$EVENTS'::regclass)")" "the view is untouched"
assert_eq none "$(relkind pivoted_customer_attributes)" "nothing created either"
sql "ALTER VIEW $EVENTS RENAME TO customer_events_backup"
# A type of that name takes it too (a view has a row type): ALTER TYPE.
sql "CREATE TYPE $PIVOT AS ENUM ('a')"
expect_status 1 prod run
assert_contains "$OUT" "$PIVOT exists and CPS did not create it (it is a type)"
assert_contains "$OUT" "ALTER TYPE $PIVOT RENAME TO pivoted_customer_attributes_backup"
assert_eq none "$(relkind customer_events)" "nothing created"
sql "DROP TYPE $PIVOT; CREATE TYPE $PIVOT AS (a int)"
expect_status 1 prod run
assert_contains "$OUT" "$PIVOT exists and CPS did not create it (it is a composite type)"
assert_contains "$OUT" "ALTER TYPE $PIVOT RENAME TO pivoted_customer_attributes_backup"
sql "DROP TYPE $PIVOT"
expect_status 0 prod run
assert_eq "v v" "$(relkind customer_events) $(relkind pivoted_customer_attributes)"
check_events
check_pivot

# A column added to the event log: customer_events is replaced in place (the
# column comes last) and views built on it survive. A column to drop or retype
# needs CPS's view out of the way first (PostgreSQL's rule); the next run
# creates it again.
sql "CREATE VIEW public.on_events AS SELECT id, customer_entity_id FROM $EVENTS"
sql "ALTER TABLE cdp_ce.customer_events ADD COLUMN extra text"
expect_status 0 prod run
assert_contains "$OUT" "PROD: $EVENTS replaced"
assert_eq "$(columns cdp_ce.customer_events)" "$(columns $EVENTS)" "the new column is in the view"
assert_eq v "$(relkind on_events)" "the view on top survives"
sql "DROP VIEW public.on_events; DROP VIEW $EVENTS; ALTER TABLE cdp_ce.customer_events DROP COLUMN extra"
expect_status 0 prod run
assert_contains "$OUT" "PROD: $EVENTS created"
check_events

pass
