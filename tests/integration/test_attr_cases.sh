# Attribute types and keys (SPEC §4.1-4.3), case by case from data/attr_cases.txt,
# each through both aggregation engines.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
sql "DELETE FROM cdp_ps.state"
cases=$(dirname "$0")/data/attr_cases.txt

name="" def="" status=0 events="" ctx="" old="" wants="" next_id="" have_id=0
count=0

# COPY text escaping for one field
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/\t/\\t/g'; }

run_case() {
  [[ -n "$name" ]] || return 0
  count=$((count + 1))
  sql "TRUNCATE cdp_ce.customer_events, cdp_ps.matching, cdp_attr.attributes, cdp_attr.context;
       SET client_min_messages = warning; TRUNCATE cdp_attr.customer_entities CASCADE;
       DELETE FROM cdp_ps.state;
       INSERT INTO cdp_attr.customer_entities VALUES ('ent', now(), now(), NULL);"
  printf '%s' "$events" | psql -X -q -v ON_ERROR_STOP=1 -c \
    "\\copy cdp_ce.customer_events (id, event_time, source_id, type, version, payload) FROM STDIN"
  sql "INSERT INTO cdp_ps.matching SELECT id, 'ent' FROM cdp_ce.customer_events"
  printf 'a\t%s\n' "$(esc "$def")" | psql -X -q -v ON_ERROR_STOP=1 -c "\\copy cdp_attr.attributes FROM STDIN"
  if [[ -n "$ctx" ]]; then
    printf '%s' "$ctx" | psql -X -q -v ON_ERROR_STOP=1 -c "\\copy cdp_attr.context (key, query) FROM STDIN"
  fi
  local expected
  expected=$(printf '%s' "$wants" | LC_ALL=C sort)
  for engine in memory sql; do
    sql "DELETE FROM cdp_attr.customer_attributes;
         UPDATE cdp_attr.customer_entities SET calculated = NULL;
         UPDATE cdp_attr.context SET modified = NULL, value = NULL"
    if [[ -n "$old" ]]; then
      printf '%s' "$old" | psql -X -q -v ON_ERROR_STOP=1 -c "\\copy cdp_attr.customer_attributes FROM STDIN"
    fi
    local rc=0
    if [[ $engine == sql ]]; then
      CPS_FORCE_SQL_AGGREGATION=1 "$CPS" attributes >"$TEST_TMP/log" 2>&1 || rc=$?
    else
      "$CPS" attributes >"$TEST_TMP/log" 2>&1 || rc=$?
    fi
    local got
    got=$(sql "SELECT value FROM cdp_attr.customer_attributes WHERE attribute_id = 'a'" | LC_ALL=C sort)
    if [[ "$got" != "$expected" || $rc -ne $status ]]; then
      cat "$TEST_TMP/log" >&2
      fail "case '$name' ($engine): expected [$expected] and status $status, got [$got] and status $rc"
    fi
  done
  assert_eq t "$(sql "SELECT calculated IS NOT NULL FROM cdp_attr.customer_entities")" "$name: calculated set"
}

n=0
while IFS= read -r line || [[ -n "$line" ]]; do
  case "$line" in
    "=== "*)
      run_case
      name=${line#=== } def="" status=0 events="" ctx="" old="" wants="" n=0 have_id=0 ;;
    "def "*) def=${line#def } ;;
    "id" | "id "*) next_id=${line#id} next_id=${next_id# } have_id=1 ;;
    "ev "*)
      n=$((n + 1))
      read -r t src typ ver payload <<<"${line#ev }"
      [[ $t == NULL ]] && t='\N' || t=${t/T/ }
      [[ $have_id == 1 ]] && id=$(esc "$next_id") || id=e$n
      have_id=0
      events+="$id	$t	$src	$typ	$ver	$(esc "$payload")"$'\n' ;;
    "ctx "*)
      read -r key query <<<"${line#ctx }"
      ctx+="$key	$(esc "$query")"$'\n' ;;
    "old "*) old+="ent	a	$(esc "${line#old }")"$'\n' ;;
    "want "*) wants+="${line#want }"$'\n' ;;
    "status "*) status=${line#status } ;;
    "#"* | "") ;;
    *) fail "cannot read case line: $line" ;;
  esac
done <"$cases"
run_case
echo "$count cases"
[[ $count -ge 60 ]] || fail "only $count cases ran"
pass
