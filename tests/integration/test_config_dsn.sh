# Which connection settings win (README, Configuration): --dsn on the command
# line replaces the configuration's "dsn" and "postgresql" keys; within the
# file, the separate "postgresql" keys override its "dsn".
source "$(dirname "$0")/lib.sh"
newdb

# The file names a database that does not exist; --dsn names this test's.
printf '{"postgresql": {"dbname": "cps_no_such_db"}}' >"$TEST_TMP/db.json"
expect_status 1 cps -c "$TEST_TMP/db.json" status
assert_contains "$OUT" "cps_no_such_db"
expect_status 0 cps -c "$TEST_TMP/db.json" --dsn "dbname=$PGDATABASE" status
assert_contains "$OUT" "CPS is not initialised in this database"

# The same over the file's own "dsn" key, and as a URI.
printf '{"dsn": "dbname=cps_no_such_db"}' >"$TEST_TMP/dsn.json"
expect_status 1 cps -c "$TEST_TMP/dsn.json" status
assert_contains "$OUT" "cps_no_such_db"
expect_status 0 cps -c "$TEST_TMP/dsn.json" --dsn "postgresql:///$PGDATABASE" status

# --dsn replaces the file's keys as a whole: what it leaves out (here the
# database) comes from the environment, not from the file.
expect_status 0 cps -c "$TEST_TMP/db.json" --dsn "connect_timeout=5" status

# Within the file, "postgresql.dbname" overrides the "dsn" key's dbname.
printf '{"dsn": "dbname=cps_no_such_db", "postgresql": {"dbname": "%s"}}' "$PGDATABASE" \
  >"$TEST_TMP/both.json"
expect_status 0 cps -c "$TEST_TMP/both.json" status

# A connection that fails names what to check: --dsn when it was given.
expect_status 1 cps --dsn "dbname=cps_no_such_db" status
assert_contains "$OUT" "--dsn"
pass
