# Stitching hand-made graphs with known answers (SPEC §3).
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
sql <<'SQL'
INSERT INTO public.attributes (id) VALUES ('email'), ('cookie'), ('uid'), ('phone');
INSERT INTO public.events (id, source_id, type, version) VALUES
  ('web', 'web', 'page_view', '1'), ('crm', 'crm', 'update', '1'), ('app', 'app', 'open', '1');
INSERT INTO cdp_ps.stitching_attributes_config VALUES
  ('cookie', 'web', 'payload->>''cookie'''),
  ('email', 'web', 'lower(payload->>''email'')'),
  ('email', 'crm', 'lower(payload->>''email'')'),
  ('phone', 'crm', 'payload->>''phone'''),
  -- set-returning: every id in an array, and the same value text under another attribute
  ('uid', 'app', 'json_array_elements_text(json_build_array(payload->>''user_id'', payload->''inbound_user_ids''->>0))'),
  ('cookie', 'app', 'payload->>''user_id''');
SQL
ev() { # id event_id time payload
  sql "INSERT INTO cdp_ce.customer_events (id, event_id, source_id, event_time, payload)
       VALUES ('$1', '$2', '$2', '$3', '$4')"
}
entity() { sql "SELECT customer_entity_id FROM cdp_ps.matching WHERE customer_event_id = '$1'"; }
same() { assert_eq "$(entity "$1")" "$(entity "$2")" "$1 and $2 in one entity"; }
differ() { [[ "$(entity "$1")" != "$(entity "$2")" ]] || fail "$1 and $2 should be apart"; }
# the id an entity gets from its earliest event, the one given
idof() { sql "SELECT $(entity_id_of event_time id) FROM cdp_ce.customer_events WHERE id = '$1'"; }

# A chain a1 -cookie- a2 -email- a3 -phone- a4, arriving out of time order.
ev a3 crm '2024-01-03' '{"email": "Ann@Example.com", "phone": "111"}'
ev a1 web '2024-01-01' '{"cookie": "ca"}'
ev a4 crm '2024-01-04' '{"phone": "111"}'
ev a2 web '2024-01-02' '{"cookie": "ca", "email": "ann@example.COM"}'
# A star: five events share one cookie.
for i in 1 2 3 4 5; do ev "s$i" web "2024-02-0$i" '{"cookie": "star"}'; done
# Same text under two attributes is two identifiers: u-x is a cookie and a user id.
ev t1 web '2024-03-01' '{"cookie": "same-text"}'
ev t2 app '2024-03-02' '{"user_id": "same-text-no"}'
ev t3 app '2024-03-03' '{"inbound_user_ids": ["same-text"]}'
# NULL, empty strings and missing keys are not identifiers.
ev n1 web '2024-04-01' '{"cookie": "", "email": null}'
ev n2 web '2024-04-02' '{"cookie": ""}'
ev n3 crm '2024-04-03' '{}'
# Events of a type without stitching config, and with no event_id at all.
ev o1 shop '2024-05-01' '{"cookie": "ca"}'
sql "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('o2', '{}')"
# Ties on time are broken by the event id's bytes.
ev Tb web '2024-06-01' '{"cookie": "tie"}'
ev TB web '2024-06-01' '{"cookie": "tie"}'

expect_status 0 cps stitch
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.customer_events_to_process")" "queue consumed"
assert_eq "$(sql "SELECT count(*) FROM cdp_ce.customer_events")" \
  "$(sql "SELECT count(*) FROM cdp_ps.matching")" "every event has one matching row"
same a1 a2; same a2 a3; same a3 a4
assert_eq "$(idof a1)" "$(entity a4)" "chain id from the earliest event"
for i in 2 3 4 5; do same s1 "s$i"; done
assert_eq "$(idof s1)" "$(entity s5)" "star id"
differ t1 t3
differ t2 t3
differ n1 n2; differ n2 n3
assert_eq "$(idof n2)" "$(entity n2)" "event without identifiers is its own entity"
differ o1 a1
assert_eq "$(idof o2)" "$(entity o2)"
assert_eq "$(idof TB)" "$(entity Tb)" "tie broken by id bytes (B < b)"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.identifiers WHERE value = ''")" "no empty identifiers"
assert_eq 1 "$(sql "SELECT count(*) FROM cdp_ps.identifiers WHERE attribute_id = 'email'")" "lower() normalises"
assert_eq 2 "$(sql "SELECT count(*) FROM cdp_ps.identifiers WHERE value = 'same-text'")"
assert_eq "$(sql "SELECT count(DISTINCT customer_entity_id) FROM cdp_ps.matching")" \
  "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" "customer_entities has every entity"
assert_eq "$(sql "SELECT count(*) FROM cdp_attr.customer_entities")" \
  "$(sql "SELECT count(*) FROM cdp_ps.entities")"

# A bridge event merges two big entities: the star (older) absorbs the chain? No:
# the chain's earliest event (2024-01-01) is older, so the chain survives.
star=$(entity s1); chain=$(entity a1)
sql "UPDATE cdp_attr.customer_entities SET calculated = now(), modified = now() - interval '1 hour'"
ev b1 web '2024-07-01' '{"cookie": "star", "email": "ANN@example.com"}'
expect_status 0 cps stitch
for e in s1 s5 a1 a4 b1; do assert_eq "$chain" "$(entity "$e")" "$e after the bridge"; done
assert_eq "$chain" "$(sql "SELECT into_id FROM cdp_ps.entity_merges WHERE merged_id = '$star'")" "lineage"
assert_eq "$chain" "$(sql "SELECT cdp_ps.resolve_entity('$star')")" "resolve_entity(absorbed)"
assert_eq "$chain" "$(sql "SELECT cdp_ps.resolve_entity('$chain')")" "resolve_entity(survivor)"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_attr.customer_entities WHERE id = '$star'")" "absorbed entity removed"
assert_eq t "$(sql "SELECT modified > calculated FROM cdp_attr.customer_entities WHERE id = '$chain'")" "survivor has activity"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.identifiers WHERE customer_entity_id = '$star'")" "identifiers moved"

# A later merge keeps lineage pointing at the current survivor.
ev z1 web '2023-12-01' '{"cookie": "older"}'
expect_status 0 cps stitch
older=$(entity z1)
ev z2 web '2024-08-01' '{"cookie": "older", "email": "ann@example.com"}'
expect_status 0 cps stitch
assert_eq "$older" "$(entity a1)" "the older entity survives"
assert_eq "$older" "$(sql "SELECT into_id FROM cdp_ps.entity_merges WHERE merged_id = '$star'")" "lineage follows"
assert_eq "$older" "$(sql "SELECT cdp_ps.resolve_entity('$star')")"
assert_eq 0 "$(sql "SELECT count(*) FROM cdp_ps.entity_merges m JOIN cdp_ps.entity_merges n ON n.merged_id = m.into_id")" "no chains in lineage"

# An updated event keeps its entity and merges what it gained; losing never splits.
lonely=$(entity n3)
sql "UPDATE cdp_ce.customer_events SET payload = '{\"phone\": \"111\"}' WHERE id = 'n3'"
expect_status 0 cps stitch
assert_eq "$older" "$(entity n3)" "updated event joined through its new identifier"
assert_eq "$older" "$(sql "SELECT cdp_ps.resolve_entity('$lonely')")"
sql "UPDATE cdp_ce.customer_events SET payload = '{}' WHERE id = 'n3'"
expect_status 0 cps stitch
assert_eq "$older" "$(entity n3)" "losing an identifier never splits"

# A late event older than its entity's first keeps the id.
ev late web '2020-01-01' '{"cookie": "star"}'
expect_status 0 cps stitch
assert_eq "$older" "$(entity late)" "late event joins, id stable"
assert_eq late "$(sql "SELECT first_event_id FROM cdp_ps.entities WHERE id = '$older'")"

# Very long identifier values are ignored with a warning, the event still stitched.
long=$(head -c 3000 /dev/zero | tr '\0' 'x')
ev big web '2024-09-01' "{\"cookie\": \"$long\"}"
expect_status 0 cps stitch
assert_contains "$OUT" "longer than"
assert_eq "$(idof big)" "$(entity big)"
pass
