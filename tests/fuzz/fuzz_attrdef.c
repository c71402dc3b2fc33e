/*
 * fuzz_attrdef — attrdef_parse on arbitrary bytes, for a fixed row id.
 *
 * Never a crash or a leak. A failure is CPS_ERR with a message naming the
 * attribute and leaves the definition empty and no warning; a success gives
 * a definition attr.c can use as it is: the row's id, a known type, a value
 * (or, for custom, a query), expressions that are NULL or not blank, lists
 * without NULL items.
 */
#include "fuzz.h"

#include "attrdef.h"

#include <string.h>

#define ROW_ID "fuzz_attr"

static bool expr_ok(const char *e)
{
    return !e || !str_blank(e);
}

static void check_list(const attr_list *l)
{
    fuzz_check(l->n == 0 || l->items, "a list with items has an array");
    for (size_t i = 0; i < l->n; i++)
        fuzz_check(l->items[i] != NULL, "list items are not NULL");
}

static void check_def(const attr_def *d)
{
    fuzz_check(d->id && !strcmp(d->id, ROW_ID), "the id is the row's");
    fuzz_check(strcmp(attr_type_name(d->type), "?") != 0, "the type is known");
    if (d->type == AT_CUSTOM)
        fuzz_check(d->query != NULL, "custom has a query");
    else
        fuzz_check(d->value != NULL, "non-custom has a value");
    const char *exprs[] = {d->value,        d->weight,       d->filter, d->outer_value,
                           d->outer_weight, d->outer_filter, d->query};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++)
        fuzz_check(expr_ok(exprs[i]), "an expression is NULL or not blank");
    check_list(&d->sources);
    check_list(&d->types);
    check_list(&d->versions);
}

static void check_empty(const attr_def *d)
{
    const char *strings[] = {d->id,          d->value,        d->weight,       d->filter,
                             d->outer_value, d->outer_weight, d->outer_filter, d->query};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        fuzz_check(strings[i] == NULL, "a failed parse leaves no strings");
    fuzz_check(!d->sources.items && !d->types.items && !d->versions.items,
               "a failed parse leaves no lists");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attr_def d;
    cps_error err;
    char *warning = (char *)"unset";
    int rc = attrdef_parse(&d, ROW_ID, (const char *)data, size, &warning, &err);
    if (rc == 0) {
        check_def(&d);
        fuzz_check(!warning || strstr(warning, "\"" ROW_ID "\""), "a warning names the attribute");
    } else {
        fuzz_check(rc == CPS_ERR, "failure is CPS_ERR");
        fuzz_check(warning == NULL, "no warning after a failure");
        fuzz_check(strstr(err.msg, "attribute \"" ROW_ID "\"") == err.msg,
                   "the message names the attribute");
        check_empty(&d);
    }
    attrdef_free(&d);
    free(warning);

    /* Without a warning pointer: the same verdict. */
    int rc2 = attrdef_parse(&d, ROW_ID, (const char *)data, size, NULL, &err);
    fuzz_check(rc2 == rc, "the verdict does not depend on the warning pointer");
    attrdef_free(&d);
    return 0;
}
