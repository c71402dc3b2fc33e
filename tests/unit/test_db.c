/* Unit tests for db's error classes: which errors stop a step, and which are
 * the fault of the operator's SQL that raised them (no database needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"

static void error_classes(void **state)
{
    (void)state;
    static const struct {
        const char *sqlstate;
        bool fatal;     /* db_sqlstate_fatal */
        bool sql_fault; /* db_sqlstate_sql_fault */
    } cases[] = {
        {"22P02", false, false}, /* invalid_text_representation: a bad value */
        {"22012", false, false}, /* division_by_zero */
        {"42883", false, false}, /* undefined_function */
        {"25006", true, true},   /* read_only_sql_transaction: nextval(), an INSERT */
        {"57014", true, true},   /* query_canceled: statement_timeout, pg_cancel_backend */
        {"55P03", true, true},   /* lock_not_available: lock_timeout */
        {"55000", true, true},   /* object_not_in_prerequisite_state: currval first */
        {"53400", true, true},   /* configuration_limit_exceeded: temp_file_limit */
        {"57P01", true, false},  /* admin_shutdown: pg_terminate_backend, fast shutdown */
        {"57P02", true, false},  /* crash_shutdown */
        {"57P05", true, false},  /* idle_session_timeout */
        {"08006", true, false},  /* connection_failure */
        {"25P02", true, false},  /* in_failed_sql_transaction: CPS's own bug */
        {"25P03", true, false},  /* idle_in_transaction_session_timeout */
        {"40001", true, false},  /* serialization_failure: try again next run */
        {"53100", true, false},  /* disk_full */
        {"53200", true, false},  /* out_of_memory */
        {"58030", true, false},  /* io_error */
        {"XX000", true, false},  /* internal_error */
        {"", true, false},       /* not from the server: CPS's own error */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (db_sqlstate_fatal(cases[i].sqlstate) != cases[i].fatal)
            fail_msg("%s: fatal should be %d", cases[i].sqlstate, cases[i].fatal);
        if (db_sqlstate_sql_fault(cases[i].sqlstate) != cases[i].sql_fault)
            fail_msg("%s: the SQL's fault should be %d", cases[i].sqlstate, cases[i].sql_fault);
    }
    assert_true(db_sqlstate_fatal(NULL));
    assert_false(db_sqlstate_sql_fault(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
