/* Unit tests for attrdef: definitions parse, and mistakes are reported
 * naming the attribute and the key, with what to write instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "attrdef.h"

#include <stdlib.h>
#include <string.h>

static int parse(attr_def *d, const char *json, cps_error *err)
{
    return attrdef_parse(d, "a1", json, strlen(json), NULL, err);
}

static void parses_a_definition(void **state)
{
    (void)state;
    attr_def d;
    cps_error err;
    assert_int_equal(parse(&d,
                           "{\"id\": \"a1\", \"type\": \"sum\", \"value\": \"payload->>'n'\", "
                           "\"weight\": \"\", \"sources\": [\"web\"]}",
                           &err),
                     0);
    assert_string_equal(d.id, "a1");
    assert_int_equal(d.type, AT_SUM);
    assert_string_equal(d.value, "payload->>'n'");
    assert_null(d.weight); /* "" is not set */
    assert_int_equal(d.sources.n, 1);
    attrdef_free(&d);
}

/* SPEC §4.1: an empty string means "not set" for every optional key, id too. */
static void empty_id_is_the_row_id(void **state)
{
    (void)state;
    static const char *const defs[] = {
        "{\"id\": \"\", \"type\": \"max\", \"value\": \"payload->>'n'\"}",
        "{\"id\": null, \"type\": \"max\", \"value\": \"payload->>'n'\"}",
        "{\"type\": \"max\", \"value\": \"payload->>'n'\"}",
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        attr_def d;
        cps_error err;
        if (parse(&d, defs[i], &err) != 0)
            fail_msg("%s: %s", defs[i], err.msg);
        assert_string_equal(d.id, "a1");
        attrdef_free(&d);
    }
}

/* The same for the lists: "" is all events, as [] and a missing key are;
 * a string that is not blank is still not a list. */
static void empty_string_list_is_all(void **state)
{
    (void)state;
    attr_def d;
    cps_error err;
    if (parse(&d,
              "{\"type\": \"list\", \"value\": \"v\", \"sources\": \"\", "
              "\"types\": \" \", \"versions\": \"\"}",
              &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(d.sources.n, 0);
    assert_int_equal(d.types.n, 0);
    assert_int_equal(d.versions.n, 0);
    attrdef_free(&d);
    assert_int_equal(parse(&d, "{\"type\": \"list\", \"value\": \"v\", \"types\": \"web\"}", &err),
                     CPS_ERR);
    assert_non_null(strstr(err.msg, "attribute \"a1\": \"types\" must be a list of strings"));
}

static void rejects_another_id(void **state)
{
    (void)state;
    attr_def d;
    cps_error err;
    assert_int_equal(parse(&d, "{\"id\": \"a2\", \"type\": \"max\", \"value\": \"v\"}", &err),
                     CPS_ERR);
    assert_non_null(strstr(err.msg, "attribute \"a1\": the definition's \"id\" must equal"));
    assert_int_equal(parse(&d, "{\"id\": 7, \"type\": \"max\", \"value\": \"v\"}", &err), CPS_ERR);
    assert_non_null(strstr(err.msg, "\"id\""));
}

static void type_mistakes(void **state)
{
    (void)state;
    static const struct {
        const char *json, *message;
    } cases[] = {
        {"{\"value\": \"v\"}", "attribute \"a1\": \"type\" is missing; use one of avg, sum"},
        {"{\"type\": null, \"value\": \"v\"}", "attribute \"a1\": \"type\" is missing"},
        {"{\"type\": \"\", \"value\": \"v\"}", "attribute \"a1\": \"type\" is missing"},
        {"{\"type\": 5, \"value\": \"v\"}",
         "attribute \"a1\": \"type\" must be a string, one of avg, sum, min, max, first, last, "
         "most_frequent, least_frequent, list, num_of_unique, value, custom (it is a number)"},
        {"{\"type\": [\"sum\"], \"value\": \"v\"}",
         "attribute \"a1\": \"type\" must be a string, one of avg"},
        {"{\"type\": \"summ\", \"value\": \"v\"}",
         "attribute \"a1\": unknown type \"summ\"; use one of avg, sum"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        attr_def d;
        cps_error err;
        if (parse(&d, cases[i].json, &err) != CPS_ERR)
            fail_msg("%s: accepted", cases[i].json);
        if (!strstr(err.msg, cases[i].message))
            fail_msg("%s: [%s] does not contain [%s]", cases[i].json, err.msg, cases[i].message);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_a_definition),
        cmocka_unit_test(empty_id_is_the_row_id),
        cmocka_unit_test(empty_string_list_is_all),
        cmocka_unit_test(rejects_another_id),
        cmocka_unit_test(type_mistakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
