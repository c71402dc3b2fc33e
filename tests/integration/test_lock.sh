# Only one CPS per set of schemas: a second one exits 3 and names the holder.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init

# Hold the same advisory lock from another session, the way a running CPS does.
coproc HOLD { psql -X -q -At 2>&1; }
echo "SELECT pg_advisory_lock(1129336883, hashtext('public|cdp_ce|cdp_ps|cdp_attr')); SELECT 'locked';" >&"${HOLD[1]}"
read -r line <&"${HOLD[0]}"
read -r line <&"${HOLD[0]}"
assert_eq locked "$line"
expect_status 3 cps init
assert_contains "$OUT" "another CPS"
assert_contains "$OUT" "pid "
expect_status 3 cps run

# Other schemas are not blocked.
cat >"$TEST_TMP/other.json" <<JSON
{"ps_schema": "other_ps", "attr_schema": "other_attr"}
JSON
expect_status 0 cps -c "$TEST_TMP/other.json" init
echo "\\q" >&"${HOLD[1]}"
wait
expect_status 0 cps init
pass
