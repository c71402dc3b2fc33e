# Shared helpers for integration tests. Each test script sources this file,
# calls `newdb`, and talks to PostgreSQL with psql and to CPS with `cps`.
#
# Environment (set by CTest): CPS (the binary), CPS_GEN (the generator),
# CPS_TEST_PGENV (PGHOST/PGPORT/PGUSER of the shared test cluster).
set -euo pipefail

: "${CPS:?run through ctest, or set CPS to the cps binary}"
# shellcheck disable=SC1090
source "${CPS_TEST_PGENV:?run through ctest, or set CPS_TEST_PGENV}"
export PGDATABASE
TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "/tmp/cps-${TEST_NAME}.XXXXXX")
chmod 755 "$TEST_TMP"
# Sanitizer builds: leaks are checked, and a sanitizer report fails the test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

DATABASES=()
cleanup() {
  local rc=$?
  # Leave the databases behind when a test failed, for a look with psql.
  if [[ $rc -eq 0 ]]; then
    for db in "${DATABASES[@]}"; do dropdb --if-exists "$db" 2>/dev/null || true; done
  elif [[ -n ${PGDATABASE:-} ]]; then
    echo "test failed; its database is kept: PGHOST=$PGHOST psql -d $PGDATABASE" >&2
  fi
  rm -rf "$TEST_TMP"
  return $rc
}
trap cleanup EXIT

# Create this test's own database (an optional suffix allows several).
newdb() {
  PGDATABASE="t_${TEST_NAME}_${1:-$$}"
  PGDATABASE=${PGDATABASE:0:63}
  dropdb --if-exists "$PGDATABASE" 2>/dev/null || true
  createdb "$PGDATABASE"
  DATABASES+=("$PGDATABASE")
}

# Run SQL (an argument or stdin); unaligned, tuples only, stop on the first error.
sql() {
  if [[ $# -gt 0 ]]; then
    psql -X -q -v ON_ERROR_STOP=1 -At -c "$1"
  else
    psql -X -q -v ON_ERROR_STOP=1 -At
  fi
}

cps() { "$CPS" "$@"; }

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# assert_eq EXPECTED ACTUAL [what]
assert_eq() {
  if [[ "$1" != "$2" ]]; then
    fail "${3:-values differ}: expected [$1], got [$2]"
  fi
}

# assert_contains HAYSTACK NEEDLE [what]
assert_contains() {
  if [[ "$1" != *"$2"* ]]; then
    fail "${3:-text} does not contain [$2]: [$1]"
  fi
}

# expect_status N command...: run it, check its exit status, keep stderr in $OUT.
expect_status() {
  local want=$1; shift
  local got=0
  OUT=$("$@" 2>&1) || got=$?
  if [[ $got -ne $want ]]; then
    echo "$OUT" >&2
    fail "'$*' exited $got, expected $want"
  fi
}

# wait_until SQL [what]: until the query says t (polled every 0.1 s, for
# at most 30 s; then the test fails naming what it waited for).
wait_until() {
  for _ in $(seq 300); do
    [[ $(sql "$1") == t ]] && return 0
    sleep 0.1
  done
  fail "waited 30 s for ${2:-$1}"
}

# The numbers of a few tables, for comparing whole states.
table_digest() {
  sql "SELECT md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM $1 t"
}

# The keys, indexes, foreign keys (other tables' too) and triggers of the
# entity tables, which the full pass drops and restores around its load of
# customer_entities.
entity_schema() {
  sql "SELECT string_agg(d, ' | ' ORDER BY d) FROM (
         SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
                || ' ' || convalidated AS d
           FROM pg_constraint WHERE conrelid::regclass::text LIKE 'cdp_attr.customer_%'
                                 OR confrelid = 'cdp_attr.customer_entities'::regclass
         UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index
          WHERE indrelid::regclass::text LIKE 'cdp_attr.customer_%'
         UNION ALL SELECT tgname || ' ' || tgenabled::text FROM pg_trigger
          WHERE tgrelid::regclass::text LIKE 'cdp_attr.customer_%' AND NOT tgisinternal) x"
}

# entity_id_of TIME ID: the SQL giving the id of an entity whose earliest event
# has that time and id (the formula of src/entityid.h, written independently).
entity_id_of() {
  echo "(lpad(to_hex(least(greatest(floor(extract(epoch FROM $1) * 1000), 0),
                          281474976710655)::bigint), 12, '0') || left(md5($2), 20))"
}

pass() { echo "ok: $TEST_NAME"; }
