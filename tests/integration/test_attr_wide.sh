# Many definitions at once (SPEC §4.1 sets no limit): the one pass over the
# events carries a column or two per simple definition, so 150 of them make
# rows of some 250 fields. Found by the randomized oracle test: until
# 2026-12-06 a row of more than 64 fields stopped the whole attribute step
# ("COPY row with more than 64 fields"), from 59 simple definitions on.
# Both engines must give every entity every value.
source "$(dirname "$0")/lib.sh"
newdb
expect_status 0 cps init
source "$(dirname "$0")/attr_lib.sh"

entities 40 "jsonb_build_object('v', 'x' || i % 7, 'n', i % 5)"
sql "INSERT INTO cdp_attr.attributes
       SELECT 'max_' || lpad(i::text, 3, '0'), jsonb_build_object('type', 'max', 'value', 'payload->>''v''')
         FROM generate_series(1, 50) i
       UNION ALL
       SELECT 'freq_' || lpad(i::text, 3, '0'), jsonb_build_object('type', 'most_frequent',
              'value', 'payload->>''v''', 'weight', '(payload->>''n'')::numeric + ' || i)
         FROM generate_series(1, 50) i
       UNION ALL
       SELECT 'sum_' || lpad(i::text, 3, '0'), jsonb_build_object('type', 'sum', 'value', '(payload->>''n'')::int * ' || i)
         FROM generate_series(1, 50) i"
want=$(sql "SELECT count(*) FROM cdp_attr.attributes")
expect_status 0 cps attributes
assert_contains "$OUT" "40 entities calculated"
assert_eq $((want * 40)) "$(sql "SELECT count(*) FROM cdp_attr.customer_attributes")" "every value of every entity"
memory=$(table_digest cdp_attr.customer_attributes)
sql "UPDATE cdp_attr.customer_entities SET calculated = NULL"
CPS_FORCE_SQL_AGGREGATION=1 expect_status 0 cps attributes
assert_eq "$memory" "$(table_digest cdp_attr.customer_attributes)" "the same values aggregated by PostgreSQL"
assert_eq "x6 5" "$(sql "SELECT max(value) FILTER (WHERE attribute_id = 'max_050') || ' ' ||
                             max(value) FILTER (WHERE attribute_id = 'sum_005')
                        FROM cdp_attr.customer_attributes WHERE customer_entity_id = 'ent00006'")"
pass
