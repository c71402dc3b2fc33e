# After narrowing a failing attribute down is given up on (SPEC §4.4), the
# failing ranges it works for no part of are evaluated entity by entity inside
# the database, in one statement (a trap function): every good entity among
# bad ones gets its value, byte for byte the value it gets when nothing fails,
# only the bad ones keep their previous values, and rows a bad entity gave
# before its error do not count. Errors that stop the step still stop it; a
# statement timeout is the attribute's failure, as everywhere.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init

source "$(dirname "$0")/attr_lib.sh"
rows() {
  sql "SELECT string_agg(customer_entity_id || ' ' || attribute_id || ' ' || value, E'\n'
                         ORDER BY customer_entity_id, attribute_id, value COLLATE \"C\")
       FROM cdp_attr.customer_attributes WHERE value <> 'old' $1"
}
echo '{"batch_size": 100}' >"$TEST_TMP/hundred.json"

# Entities 1..100 are all bad (narrowing is given up on after 32 of them);
# in 101..200, 40 bad ones sit among 60 good ones, so that every half of a
# failing range fails too. A bad entity's list begins with a good item, which
# its evaluation streams before the bad one fails it.
BAD="i <= 100 OR i % 5 < 2"
PAYLOAD="jsonb_build_object('n', CASE WHEN $BAD THEN 'N/A' ELSE i::text END,
                            'xs', jsonb_build_array(i::text, CASE WHEN $BAD THEN 'N/A' ELSE (2 * i)::text END))"
ATTRIBUTES="INSERT INTO cdp_attr.attributes VALUES
  ('total', '{\"type\": \"sum\", \"value\": \"payload->>''n''\"}'),
  ('items', '{\"type\": \"list\", \"value\": \"(jsonb_array_elements_text(payload->''xs''))::numeric\"}'),
  ('last', '{\"type\": \"last\", \"value\": \"(jsonb_array_elements_text(payload->''xs''))::numeric\"}'),
  ('written', '{\"type\": \"custom\", \"query\":
     \"SELECT CASE WHEN payload->>''n'' = ''N/A'' THEN nextval(''public.s'')::text ELSE payload->>''n'' END AS value FROM base\"}'),
  ('summed', '{\"type\": \"custom\", \"query\":
     \"SELECT sum(x::numeric)::text AS value FROM base, jsonb_array_elements_text(base.payload->''xs'') x\"}')"
sql "CREATE SEQUENCE public.s"

# The attributes on the memory path, then all of them aggregated by PostgreSQL.
for engine in memory sql; do
  force=0
  [[ $engine == sql ]] && force=1
  entities 200 "$PAYLOAD"
  sql "$ATTRIBUTES"
  # previous values: a bad entity keeps them, a good one gets new ones
  sql "INSERT INTO cdp_attr.customer_attributes
         SELECT e, a, 'old' FROM unnest(ARRAY['ent00101', 'ent00103']) e,
                unnest(ARRAY['total', 'items', 'last', 'written', 'summed']) a"
  CPS_FORCE_SQL_AGGREGATION=$force expect_status 1 cps -c "$TEST_TMP/hundred.json" attributes
  assert_contains "$OUT" 'attribute "total" fails for every entity tried (32 so far)'
  for a in total items last written summed; do
    assert_eq "140 0" "$(stat $a failed_entities) $(stat $a failed_unnarrowed)" \
      "$engine: $a's failures, each entity's own"
  done
  assert_contains "$OUT" 'attribute "written" failed for entity ent00001: cannot execute nextval() in a read-only transaction'
  # (and ent00101 its previous one)
  assert_eq "61 121 61 61 61" "$(count total) $(count items) $(count last) $(count written) $(count summed)" \
    "$engine: every good entity has its values"
  assert_eq "old old old old old" \
    "$(sql "SELECT string_agg(value, ' ') FROM cdp_attr.customer_attributes WHERE customer_entity_id = 'ent00101'")" \
    "$engine: a bad entity keeps its previous values, none of what it gave before its error"
  assert_eq 0 "$(uncalculated)"
  trapped=$(rows "AND customer_entity_id > 'ent00100'")
  # the same entities where nothing fails: the one pass gives the same bytes
  sql "UPDATE cdp_ce.customer_events SET payload = jsonb_build_object('n', '1', 'xs', jsonb_build_array('1'))
        WHERE payload->>'n' = 'N/A';
       UPDATE cdp_attr.customer_entities SET calculated = NULL"
  CPS_FORCE_SQL_AGGREGATION=$force expect_status 0 cps -c "$TEST_TMP/hundred.json" attributes
  assert_eq "$trapped" "$(rows "AND customer_entity_id > 'ent00100' AND customer_entity_id IN
                                (SELECT customer_entity_id FROM cdp_attr.customer_attributes
                                  WHERE attribute_id = 'total' AND value <> '1')")" \
    "$engine: values evaluated entity by entity are those of the one pass"
done

# The same on two connections: each creates the trap functions it calls.
entities 400 "jsonb_build_object('n', CASE WHEN i <= 64 OR (i > 200 AND i <= 264) OR i % 5 < 2 THEN 'N/A' ELSE i::text END)"
sql "INSERT INTO cdp_attr.attributes VALUES ('total', '{\"type\": \"sum\", \"value\": \"payload->>''n''\"}')"
echo '{"workers": 2}' >"$TEST_TMP/two.json"
expect_status 1 cps -c "$TEST_TMP/two.json" attributes
good=$(sql "SELECT count(*) FROM generate_series(1, 400) i WHERE NOT (i <= 64 OR (i > 200 AND i <= 264) OR i % 5 < 2)")
assert_eq "$good $((400 - good)) 0" "$(count total) $(stat total failed_entities) $(stat total failed_unnarrowed)" \
  "two connections"
assert_eq 0 "$(uncalculated)"

# An error that stops the step is not trapped: it stops the step, naming the
# attribute and the entities, and the batch is not written.
sql "CREATE FUNCTION public.boom(v text) RETURNS text LANGUAGE plpgsql AS
       \$\$ BEGIN IF v = 'boom' THEN RAISE EXCEPTION 'the disk is on fire' USING ERRCODE = '58030'; END IF; RETURN v; END \$\$"
entities 200 "jsonb_build_object('n', CASE WHEN i = 199 THEN 'boom' WHEN $BAD THEN 'N/A' ELSE i::text END)"
sql "INSERT INTO cdp_attr.attributes VALUES ('total', '{\"type\": \"sum\", \"value\": \"public.boom(payload->>''n'')\"}')"
expect_status 1 cps -c "$TEST_TMP/hundred.json" attributes
assert_contains "$OUT" 'attribute "total", evaluated entity by entity, for entities ent00101 to ent00200: the disk is on fire'
assert_contains "$OUT" 'stopped after 100 of the 200 entities due were calculated'
assert_eq 100 "$(uncalculated)" "the stopped batch is not written"

# A statement timeout is the attribute's failure: the statement evaluating the
# entities one by one runs past it, so their ranges keep their values, and
# every other attribute is calculated.
entities 200 "jsonb_build_object('n', CASE WHEN i = 199 THEN 'slow' WHEN $BAD THEN 'N/A' ELSE i::text END, 's', i::text)"
sql "INSERT INTO cdp_attr.attributes VALUES
       ('total', '{\"type\": \"sum\", \"value\": \"CASE WHEN payload->>''n'' = ''slow'' THEN (SELECT ''1'' FROM pg_sleep(3)) ELSE payload->>''n'' END\"}'),
       ('good', '{\"type\": \"max\", \"value\": \"payload->>''s''\"}')"
PGOPTIONS="-c statement_timeout=1500" expect_status 1 cps -c "$TEST_TMP/hundred.json" attributes
assert_contains "$OUT" 'evaluated entity by entity: canceling statement due to statement timeout; their previous values are kept'
assert_eq 200 "$(count good)" "the other attribute under the timeout"
[[ $(stat total failed_unnarrowed) -gt 0 ]] || fail "the timed-out ranges are counted as not narrowed down"
assert_eq 0 "$(uncalculated)"
pass
