# The queue trigger catches events from any connection and transaction, once;
# rolled-back inserts are not queued; changed payloads are queued again.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
queue() { sql "SELECT string_agg(customer_event_id, ',' ORDER BY customer_event_id) FROM cdp_ps.customer_events_to_process"; }
dequeue_all() { sql "DELETE FROM cdp_ps.customer_events_to_process"; }

sql "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('a', '{}'), ('b', '{}')"
sql "BEGIN; INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('c', '{}'); ROLLBACK;"
sql "BEGIN; INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('d', '{}');
     SAVEPOINT s; INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('e', '{}');
     ROLLBACK TO SAVEPOINT s; COMMIT;"
# COPY, and a loader that skips existing ids
printf 'f\t{}\ng\t{}\n' | psql -X -q -c "\\copy cdp_ce.customer_events (id, payload) FROM STDIN"
sql "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('a', '{}'), ('h', '{}') ON CONFLICT (id) DO NOTHING"
assert_eq "a,b,d,f,g,h" "$(queue)" "queue after inserts"

# Two concurrent transactions from other connections, committed in the other order.
coproc P1 { psql -X -q -v ON_ERROR_STOP=1 2>&1; }
coproc P2 { psql -X -q -v ON_ERROR_STOP=1 2>&1; }
echo "BEGIN; INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('p1', '{}');" >&"${P1[1]}"
echo "BEGIN; INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('p2', '{}');" >&"${P2[1]}"
sleep 0.5
assert_eq "a,b,d,f,g,h" "$(queue)" "uncommitted inserts are not visible"
echo "COMMIT; \\q" >&"${P2[1]}"
echo "ROLLBACK; \\q" >&"${P1[1]}"
wait
assert_eq "a,b,d,f,g,h,p2" "$(queue)" "committed insert queued, rolled back one not"

# Dequeued events come back when their payload changes, not on a no-op update.
dequeue_all
sql "UPDATE cdp_ce.customer_events SET payload = '{}' WHERE id = 'a'"
sql "UPDATE cdp_ce.customer_events SET payload = '{\"x\": 1}' WHERE id = 'b'"
sql "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('d', '{\"y\": 2}')
     ON CONFLICT (id) DO UPDATE SET payload = excluded.payload"
assert_eq "b,d" "$(queue)" "changed events queued again"

# A change that jsonb's equality does not see still changes what an
# expression reads: 1 and 1.0 are equal numbers, but payload->>'x' is '1' or '1.0'.
dequeue_all
sql "UPDATE cdp_ce.customer_events SET payload = '{\"x\": 1}' WHERE id = 'a'"
dequeue_all
sql "UPDATE cdp_ce.customer_events SET payload = '{\"x\": 1.0}' WHERE id = 'a'"
assert_eq "a" "$(queue)" "a payload changed from 1 to 1.0 is queued again"

# A column of the CDP's own whose type has no equality operator (json, point)
# must not break the CDP's updates, changed or not.
sql "ALTER TABLE cdp_ce.customer_events ADD COLUMN cdp_raw json, ADD COLUMN cdp_geo point"
dequeue_all
sql "UPDATE cdp_ce.customer_events SET cdp_raw = '{\"k\": 1}', cdp_geo = '(1,2)' WHERE id = 'f'"
sql "UPDATE cdp_ce.customer_events SET payload = payload WHERE id = 'g'"
sql "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('h', '{}')
     ON CONFLICT (id) DO UPDATE SET payload = excluded.payload"
assert_eq "f" "$(queue)" "with json and point columns: only the changed event queued"
sql "ALTER TABLE cdp_ce.customer_events DROP COLUMN cdp_raw, DROP COLUMN cdp_geo"
dequeue_all
sql "UPDATE cdp_ce.customer_events SET payload = '{}' WHERE id IN ('b', 'd')"

# A queued event changed again is queued once, with a new row version.
x1=$(sql "SELECT xmin FROM cdp_ps.customer_events_to_process WHERE customer_event_id = 'b'")
sql "UPDATE cdp_ce.customer_events SET payload = '{\"x\": 2}' WHERE id = 'b'"
x2=$(sql "SELECT xmin FROM cdp_ps.customer_events_to_process WHERE customer_event_id = 'b'")
[[ "$x1" != "$x2" ]] || fail "re-queued row keeps its version"
assert_eq "b,d" "$(queue)"

# Without the queue table (re-stitch from scratch), loaders keep working.
sql "DROP TABLE cdp_ps.customer_events_to_process"
sql "INSERT INTO cdp_ce.customer_events (id, payload) VALUES ('z', '{}')"
sql "UPDATE cdp_ce.customer_events SET payload = '{\"q\": 1}' WHERE id = 'z'"
pass
