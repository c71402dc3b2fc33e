# The stitching-config loader (SPEC §7): a valid CSV replaces
# stitching_attributes_config exactly; a file with problems reports every one
# with its line number, exits 1 and changes nothing; the config's action+input
# and the command line both work; the lock is respected; the stitch step then
# uses the loaded config.
source "$(dirname "$0")/lib.sh"
DATA="$(cd "$(dirname "$0")" && pwd)/data"
newdb
expect_status 0 cps init

WEB=$(sql "SELECT md5('web' || 'signin' || '1-0-0')")
SHOP=$(sql "SELECT md5('shop' || 'order' || '3')")
sql <<'SQL'
INSERT INTO public.attributes (id) VALUES ('email'), ('user_id'), ('phone'), ('cookie');
INSERT INTO public.events (id, source_id, type, version) VALUES
  (md5('web' || 'signin' || '1-0-0'), 'web', 'signin', '1-0-0'),
  -- an id that is not the usual md5: the table is the truth
  ('crm_purchase', 'crm', 'purchase', '2'),
  -- two definitions of one (source_id, type, version): ambiguous
  ('app_a', 'app', 'open', '1'), ('app_b', 'app', 'open', '1');
-- only the id: found as md5(source_id || type || version)
INSERT INTO public.events (id) VALUES (md5('shop' || 'order' || '3'));
SQL

CONFIG=cdp_ps.stitching_attributes_config
# The table as text: one line per row, the expression as JSON (newlines, quotes visible).
config_rows() {
  sql "SELECT event_id || '|' || attribute_id || '|' || to_json(value_expression)::text
       FROM $CONFIG ORDER BY event_id COLLATE \"C\", attribute_id COLLATE \"C\""
}
VALID_ROWS="$WEB|cookie|\"customer_events.\\\"payload\\\"->>'cookie'\"
$WEB|email|\"lower(payload->>'email')\"
$WEB|user_id|\"coalesce(payload->>'uid', payload->>'user_id')\"
$SHOP|phone|\"payload #>> '{\\\"contact\\\",\\\"phone\\\"}'\"
crm_purchase|email|\"trim(both ' ' from -- strip spaces\\n  payload->>'mail')\"
crm_purchase|user_id|\"json_array_elements_text(json_build_array(payload->>'user_id', payload->'inbound_user_ids'->>0))\""

# --- a valid file: quoted commas, quotes and line breaks arrive exactly -------
expect_status 0 cps load-stitching-config "$DATA/loader_valid.csv"
assert_eq "$VALID_ROWS" "$(config_rows)" "loaded table"
assert_contains "$OUT" "LOAD: $DATA/loader_valid.csv: 6 rows loaded into $CONFIG: 6 added, 0 removed, 0 with a changed expression, 0 unchanged"
assert_contains "$OUT" "applies to events stitched from now on"
assert_contains "$OUT" "TRUNCATE cdp_attr.customer_entities CASCADE; TRUNCATE cdp_ps.matching; DROP TABLE cdp_ps.customer_events_to_process; DROP TABLE public.cached_source_events_per_date"
assert_eq "ok|6|6" "$(sql "SELECT status || '|' || (stats->'steps'->'load'->>'rows') || '|' || (stats->'steps'->'load'->>'added')
                           FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" "run recorded"

# The same file again: nothing to do.
expect_status 0 cps load-stitching-config "$DATA/loader_valid.csv"
assert_contains "$OUT" "no changes"
assert_eq "$VALID_ROWS" "$(config_rows)"

# --- every kind of problem, each with its line; nothing changes -------------
BEFORE=$(table_digest $CONFIG)
F="$DATA/loader_problems.csv"
expect_status 1 cps load-stitching-config "$F"
for want in \
  "$F line 3: attribute \"nope\" is not in public.attributes" \
  "$F line 4: no event in public.events has source_id \"web\", type \"signin\", version \"2-0-0\"" \
  "$F line 5: duplicate of line 2: attribute \"email\" for event \"$WEB\"" \
  "$F line 6: value_expression for attribute \"phone\" of event \"$WEB\" does not work on cdp_ce.customer_events: operator does not exist" \
  "$F line 7: empty type" \
  "$F line 8: source_id \"app\", type \"open\", version \"1\" match 2 event definitions in public.events (ids app_a, app_b)" \
  "$F line 9: 4 fields, but the header has 5" \
  "$F line 10: 6 fields, but the header has 5" \
  "$F line 11: value_expression for attribute \"user_id\" of event \"crm_purchase\" does not work on cdp_ce.customer_events: syntax error" \
  "$F line 13: a \" inside a field that does not start with one" \
  "$F line 14: text after the closing quote" \
  "$F line 15: value_expression for attribute \"user_id\" of event \"$WEB\" does not work on cdp_ce.customer_events: division by zero" \
  "$F line 16: empty attribute_id, source_id, type, version, value_expression" \
  "$F line 17: the quoted field that starts on this line is never closed" \
  "14 problems in $F; nothing was loaded"; do
  assert_contains "$OUT" "$want" "loader output"
done
for ok_line in 2 12; do
  [[ "$OUT" != *"$F line $ok_line:"* ]] || fail "line $ok_line has no problem: $OUT"
done
# reported in line order
assert_eq "3 4 5 6 7 8 9 10 11 13 14 15 16 17" \
  "$(grep -o "csv line [0-9]*:" <<<"$OUT" | grep -o "[0-9]*" | tr '\n' ' ' | sed 's/ $//')" "problem order"
assert_eq "$BEFORE" "$(table_digest $CONFIG)" "table unchanged after a failed load"
assert_eq "failed|14" "$(sql "SELECT status || '|' || (stats->'steps'->'load'->>'problems')
                              FROM cdp_ps.runs ORDER BY id DESC LIMIT 1")" "failed run recorded"

# A CSV mistake before an expression spanning lines is one problem: the rest
# of its record is not read as records of their own.
F="$TEST_TMP/resync.csv"
cat >"$F" <<'CSV'
attribute_id,source_id,type,version,value_expression
email,web,signin,"1-0-0"x,"lower(
  payload->>'email')"
user_id,web,si"gn"in,1-0-0,"coalesce(payload->>'uid',
  payload->>'user_id')"
cookie,web,signin,1-0-0,payload->>'cookie'
CSV
expect_status 1 cps load-stitching-config "$F"
assert_contains "$OUT" "$F line 2: text after the closing quote"
assert_contains "$OUT" "$F line 4: a \" inside a field that does not start with one"
assert_contains "$OUT" "2 problems in $F; nothing was loaded"

# One expression, not a row of several nor more than one: a comma outside any
# function's parentheses makes a ROW (whose text is no identifier); a ")" too
# many would close the parentheses stitching wraps the expression in.
F="$TEST_TMP/shapes.csv"
cat >"$F" <<'CSV'
attribute_id,source_id,type,version,value_expression
email,web,signin,1-0-0,"coalesce(payload->>'email'), payload->>'mail'"
cookie,web,signin,1-0-0,"lower(payload->>'email')), (payload->>'x'"
phone,crm,purchase,2,"(payload->>'a', payload->>'b')"
user_id,crm,purchase,2,"lower(payload->>'uid')
  ) || (payload->>'x'"
email,crm,purchase,2,"max(payload->>'email')"
cookie,crm,purchase,2,"count(*) OVER ()"
phone,web,signin,1-0-0,"length(')"
CSV
expect_status 1 cps load-stitching-config "$F"
for want in \
  "$F line 2: value_expression for attribute \"email\" of event \"$WEB\" does not work on cdp_ce.customer_events: it gives a row (type record), not one value" \
  "$F line 3: value_expression for attribute \"cookie\" of event \"$WEB\" does not work on cdp_ce.customer_events: the \")\" (at character 25 of the expression) closes a parenthesis that the expression did not open" \
  "$F line 4: value_expression for attribute \"phone\" of event \"crm_purchase\" does not work on cdp_ce.customer_events: it gives a row (type record)" \
  "$F line 5: value_expression for attribute \"user_id\" of event \"crm_purchase\" does not work on cdp_ce.customer_events: the \")\" (at line 2, character 3 of the expression) closes" \
  "$F line 7: value_expression for attribute \"email\" of event \"crm_purchase\" does not work on cdp_ce.customer_events: aggregate functions are not allowed" \
  "$F line 8: value_expression for attribute \"cookie\" of event \"crm_purchase\" does not work on cdp_ce.customer_events: window functions are not allowed in GROUP BY (at character 1 of the expression); a window function such as count(*) OVER () cannot be a stitching expression" \
  "$F line 9: value_expression for attribute \"phone\" of event \"$WEB\" does not work on cdp_ce.customer_events: the quoted string (at character 8 of the expression) is never closed" \
  "7 problems in $F; nothing was loaded"; do
  assert_contains "$OUT" "$want" "loader output"
done
assert_eq "$BEFORE" "$(table_digest $CONFIG)" "table unchanged after refusing rows and extra parentheses"

# A header with a missing and an unknown column, and the event_id hint.
printf 'attribute_id,event_id,type,version,value_expression,\nemail,x,signin,1-0-0,a,\n' >"$TEST_TMP/header.csv"
expect_status 1 cps load-stitching-config "$TEST_TMP/header.csv"
assert_contains "$OUT" "header.csv line 1: column \"event_id\" is not part of this format"
assert_contains "$OUT" "header.csv line 1: column 6 of the header has no name"
assert_contains "$OUT" "header.csv line 1: the header has no column \"source_id\""
assert_contains "$OUT" "3 problems in"
# Empty files, invalid UTF-8.
: >"$TEST_TMP/empty.csv"
expect_status 1 cps load-stitching-config "$TEST_TMP/empty.csv"
assert_contains "$OUT" "empty.csv line 1: the file is empty"
printf 'attribute_id,source_id,type,version,value_expression\nemail,web,signin,1-0-0,"lower(\xff)"\n' >"$TEST_TMP/latin1.csv"
expect_status 1 cps load-stitching-config "$TEST_TMP/latin1.csv"
assert_contains "$OUT" "latin1.csv line 2: value_expression is not valid UTF-8"
assert_eq "$BEFORE" "$(table_digest $CONFIG)" "table unchanged"

# --- the lock: another CPS at work means exit 3 and no change ---------------
coproc HOLD { psql -X -q -At 2>&1; }
echo "SELECT pg_advisory_lock(1129336883, hashtext('cdp_ps')); SELECT 'locked';" >&"${HOLD[1]}"
read -r line <&"${HOLD[0]}"
read -r line <&"${HOLD[0]}"
assert_eq locked "$line"
printf 'attribute_id,source_id,type,version,value_expression\n' >"$TEST_TMP/header_only.csv"
expect_status 3 cps load-stitching-config "$TEST_TMP/header_only.csv"
assert_contains "$OUT" "another CPS"
echo "\\q" >&"${HOLD[1]}"
wait
assert_eq "$BEFORE" "$(table_digest $CONFIG)" "table unchanged while locked"

# --- CRLF line ends and a byte order mark ----------------------------------
# Two rows: the web email row as before, the crm email row with a new expression.
printf '\xEF\xBB\xBF"Attribute_ID", source_id ,type,version,value_expression\r\n' >"$TEST_TMP/crlf.csv"
printf 'email,web,signin,1-0-0,lower(payload->>'"'"'email'"'"')\r\n' >>"$TEST_TMP/crlf.csv"
printf 'email,crm,purchase,2,"lower(payload->>'"'"'mail'"'"')"\r\n\r\n' >>"$TEST_TMP/crlf.csv"
CRLF_ROWS="$WEB|email|\"lower(payload->>'email')\"
crm_purchase|email|\"lower(payload->>'mail')\""
expect_status 0 cps load-stitching-config "$TEST_TMP/crlf.csv"
assert_eq "$CRLF_ROWS" "$(config_rows)" "CRLF + BOM file"
assert_contains "$OUT" "2 rows loaded into $CONFIG: 0 added, 4 removed, 1 with a changed expression, 1 unchanged"

# --- "action" + "input" in the configuration --------------------------------
cat >"$TEST_TMP/action.json" <<JSON
{"action": "load_stitching_attributes_config", "input": "$DATA/loader_valid.csv"}
JSON
expect_status 0 cps -c "$TEST_TMP/action.json"
assert_eq "$VALID_ROWS" "$(config_rows)" "loaded through the config's action"
assert_contains "$OUT" "6 rows loaded into $CONFIG: 4 added, 0 removed, 1 with a changed expression, 1 unchanged"
# The command-line argument wins over "input".
expect_status 0 cps -c "$TEST_TMP/action.json" load-stitching-config "$TEST_TMP/crlf.csv"
assert_eq "$CRLF_ROWS" "$(config_rows)" "the argument wins over input"
# A relative path is taken from the current directory.
(cd "$DATA" && expect_status 0 "$CPS" load-stitching-config loader_valid.csv)
assert_eq "$VALID_ROWS" "$(config_rows)" "relative path"

# --- bad usage: exit 2 before anything is touched ---------------------------
BEFORE=$(table_digest $CONFIG)
echo '{"action": "load_stitching_attributes_config"}' >"$TEST_TMP/noinput.json"
expect_status 2 cps -c "$TEST_TMP/noinput.json"
assert_contains "$OUT" "needs a CSV file"
expect_status 2 cps load-stitching-config
assert_contains "$OUT" "needs a CSV file"
expect_status 2 cps load-stitching-config "$TEST_TMP/missing.csv"
assert_contains "$OUT" "cannot read the stitching config file \"$TEST_TMP/missing.csv\": No such file or directory"
echo "{\"action\": \"load_stitching_attributes_config\", \"input\": \"$TEST_TMP/missing.csv\"}" >"$TEST_TMP/missing.json"
expect_status 2 cps -c "$TEST_TMP/missing.json"
assert_contains "$OUT" "$TEST_TMP/missing.csv"
expect_status 2 cps load-stitching-config "$TEST_TMP"
assert_contains "$OUT" "is a directory"
expect_status 2 cps load-stitching-config a.csv b.csv
assert_eq "$BEFORE" "$(table_digest $CONFIG)" "bad usage changes nothing"

# --- the stitch step uses the loaded config ---------------------------------
sql <<SQL
INSERT INTO cdp_ce.customer_events (id, event_id, source_id, type, version, event_time, payload) VALUES
  ('e1', '$WEB', 'web', 'signin', '1-0-0', '2024-01-01 10:00', '{"email": "A@X.com", "uid": "u1", "cookie": "c1"}'),
  ('e2', 'crm_purchase', 'crm', 'purchase', '2', '2024-01-01 11:00',
   '{"mail": " a@x.com ", "user_id": "u9", "inbound_user_ids": ["u2"]}'),
  ('e3', '$SHOP', 'shop', 'order', '3', '2024-01-01 12:00', '{"contact": {"phone": "123"}}'),
  ('e4', '$SHOP', 'shop', 'order', '3', '2024-01-01 13:00', '{"contact": {"phone": "123"}}'),
  ('e5', '$WEB', 'web', 'signin', '1-0-0', '2024-01-01 14:00', '{"uid": "u2"}'),
  ('e6', '$WEB', 'web', 'signin', '1-0-0', '2024-01-01 15:00', '{"cookie": "c1"}'),
  ('e7', '$WEB', 'web', 'signin', '1-0-0', '2024-01-01 16:00', '{"email": "other@x.com"}');
SQL
expect_status 0 cps stitch
assert_eq "e1,e2,e5,e6|e3,e4|e7" \
  "$(sql "SELECT string_agg(ids, '|' ORDER BY ids) FROM (
            SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id) AS ids
            FROM cdp_ps.matching GROUP BY customer_entity_id) g")" "entities stitched with the loaded config"
assert_eq "a@x.com" "$(sql "SELECT string_agg(DISTINCT value, ',') FROM cdp_ps.identifiers
                            WHERE attribute_id = 'email' AND value LIKE 'a@%'")" "multi-line expression used"

# --- expressions of every kind load, and stitching uses them ----------------
# set-returning, casts, CASE, a subquery, several arguments, non-text types,
# parentheses at the top level, and ")" in a comment or a string
cat >"$TEST_TMP/kinds.csv" <<'CSV'
attribute_id,source_id,type,version,value_expression
user_id,web,signin,1-0-0,jsonb_array_elements_text(payload->'ids')
cookie,web,signin,1-0-0,(payload->>'n')::int + 1
phone,web,signin,1-0-0,"CASE WHEN payload ? 'p' THEN 'p-' || (payload->>'p') END"
email,web,signin,1-0-0,"(SELECT lower(e.payload->>'email') FROM cdp_ce.customer_events e WHERE e.id = customer_events.id)"
email,crm,purchase,2,"concat_ws('-', payload->>'a', payload->>'b')"
user_id,crm,purchase,2,md5(id)::uuid
cookie,crm,purchase,2,"date_trunc('day', event_time)"
phone,crm,purchase,2,"(payload->>'a') || (payload->>'b') -- a ) in a comment"
phone,shop,order,3,"nullif(payload->>'d', ')')"
CSV
expect_status 0 cps load-stitching-config "$TEST_TMP/kinds.csv"
assert_contains "$OUT" "9 rows loaded into $CONFIG"
sql <<SQL
INSERT INTO cdp_ce.customer_events (id, event_id, source_id, type, version, event_time, payload) VALUES
  ('k1', '$WEB', 'web', 'signin', '1-0-0', '2024-02-01 10:00',
   '{"ids": ["i1", "i2"], "n": "41", "p": "7", "email": "K@X.com"}'),
  ('k2', 'crm_purchase', 'crm', 'purchase', '2', '2024-02-02 11:30', '{"a": "x", "b": "y"}'),
  ('k3', '$SHOP', 'shop', 'order', '3', '2024-02-03 12:00', '{"d": "d1"}'),
  ('k4', '$SHOP', 'shop', 'order', '3', '2024-02-03 13:00', '{"d": ")"}');
SQL
expect_status 0 cps stitch
assert_eq "cookie=2024-02-02 00:00:00|cookie=42|email=k@x.com|email=x-y|phone=d1|phone=p-7|phone=xy|user_id=$(sql "SELECT md5('k2')::uuid")|user_id=i1|user_id=i2" \
  "$(sql "SELECT string_agg(i.attribute_id || '=' || i.value, '|' ORDER BY i.attribute_id, i.value COLLATE \"C\")
          FROM cdp_ps.identifiers i JOIN cdp_ps.matching m ON m.customer_entity_id = i.customer_entity_id
          WHERE m.customer_event_id IN ('k1', 'k2', 'k3', 'k4')")" "identifiers of every kind of expression"
pass
