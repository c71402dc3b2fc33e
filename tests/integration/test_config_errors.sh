# Bad configurations exit 2 before any connection, naming the key.
source "$(dirname "$0")/lib.sh"
newdb

# A server that does not exist: if CPS tried to connect, it would fail differently.
export PGHOST=/nonexistent
bad() {
  printf '%s' "$1" >"$TEST_TMP/c.json"
  expect_status 2 cps -c "$TEST_TMP/c.json" run
  assert_contains "$OUT" "$2"
  [[ "$OUT" != *"connect"* ]] || fail "tried to connect: $OUT"
}
bad '{"cdp_schema": "public",' "line 1"
bad '{"unknown_key": 1}' '"unknown_key"'
bad '{"workers": "many"}' '"workers"'
bad '{"ps_schema": "x; drop table y"}' '"ps_schema"'
bad '{"attr_schema": "pg_attr"}' 'key "attr_schema" is "pg_attr": PostgreSQL reserves'
bad '{"postgresql": {"port": "x"}}' '"postgresql.port"'
bad '{"postgresql": {"port": 5432.0}}' '"postgresql.port" must be an integer from 1 to 65535'
bad '{"recalculate_after_hours": 100000000}' '"recalculate_after_hours" must be a number of hours from 0 to 876600'
bad '{"context_max_age_hours": 1e300}' '"context_max_age_hours"'
bad '{"cache_max_age_hours": 876601}' '"cache_max_age_hours"'
bad '{"postgresql": {"password": "hunter2", "colour": 1}}' '"postgresql.colour"'
[[ "$OUT" != *hunter2* ]] || fail "password printed"

# A DSN libpq cannot parse: exit 2, naming --dsn or the key and libpq's reason.
printf '{"dsn": "nonsense = ="}' >"$TEST_TMP/c.json"
expect_status 2 cps -c "$TEST_TMP/c.json" run
assert_contains "$OUT" 'key "dsn" is not a valid'
assert_contains "$OUT" 'invalid connection option "nonsense"'
expect_status 2 cps --dsn "hostx=foo" status
assert_contains "$OUT" '--dsn is not a valid'
assert_contains "$OUT" 'invalid connection option "hostx"'
[[ "$OUT" != *'"postgresql" keys'* ]] || fail "points at the postgresql keys: $OUT"
expect_status 2 cps --dsn "postgresql://u:hunter2@[::1/db" status
[[ "$OUT" != *hunter2* ]] || fail "password printed: $OUT"

expect_status 2 cps -c /nonexistent/config.json run
assert_contains "$OUT" "/nonexistent/config.json"
expect_status 2 cps -c "$TEST_TMP" run
assert_contains "$OUT" "config file $TEST_TMP is a directory"
CPS_CONFIG=$TEST_TMP/c.json expect_status 2 cps run
expect_status 2 cps frobnicate
assert_contains "$OUT" "unknown command"
expect_status 2 cps --no-such-option
expect_status 2 cps status extra-arg
assert_contains "$OUT" "too many arguments for 'status'"
# Options go before the command (getopt stops at it): say so, with the fix.
expect_status 2 cps status -v
assert_contains "$OUT" "options go before the command: cps -v status"
expect_status 2 cps run -c "$TEST_TMP/c.json"
assert_contains "$OUT" "options go before the command: cps -c FILE run"
expect_status 2 cps load-stitching-config x.csv --quiet
assert_contains "$OUT" "options go before the command: cps --quiet load-stitching-config FILE"
expect_status 2 cps status --dsn=password=hunter2
assert_contains "$OUT" "options go before the command: cps --dsn DSN status"
[[ "$OUT" != *hunter2* ]] || fail "password printed: $OUT"
# every misplaced option, not the first only
expect_status 2 cps status -v --dsn password=hunter2 -cX
assert_contains "$OUT" "options go before the command: cps -v --dsn DSN -c FILE status"
[[ "$OUT" != *hunter2* ]] || fail "password printed: $OUT"
expect_status 2 cps status -x
assert_contains "$OUT" "'-x' after the command 'status': options go before the command"
expect_status 0 cps --help
assert_contains "$OUT" "load-stitching-config FILE"
expect_status 0 cps --version

# The password never appears in output, even when the connection fails.
printf '{"postgresql": {"host": "/nonexistent", "password": "hunter2"}}' >"$TEST_TMP/c.json"
expect_status 1 cps -c "$TEST_TMP/c.json" run
assert_contains "$OUT" "cannot connect"
[[ "$OUT" != *hunter2* ]] || fail "password printed: $OUT"
pass
