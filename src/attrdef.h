/*
 * attrdef — attribute definitions (SPEC §4.1): parse and validate the JSON
 * of {attr}.attributes.definition into a struct, without a database.
 *
 * Expressions are kept as the operator wrote them (NULL when not set; an
 * empty string means "not set" too). A definition owns its strings;
 * attrdef_free() releases them.
 */
#ifndef CPS_ATTRDEF_H
#define CPS_ATTRDEF_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    AT_AVG,
    AT_SUM,
    AT_MIN,
    AT_MAX,
    AT_FIRST,
    AT_LAST,
    AT_MOST_FREQUENT,
    AT_LEAST_FREQUENT,
    AT_LIST,
    AT_NUM_OF_UNIQUE,
    AT_VALUE,
    AT_CUSTOM,
} attr_type;

typedef struct attr_list {
    char **items;
    size_t n;
} attr_list;

typedef struct attr_def {
    char *id;
    attr_type type;
    char *value;                        /* SQL over the event row (not for custom) */
    char *weight;                       /* SQL over the event row, NULL = 1 */
    char *filter;                       /* SQL boolean over the event row, NULL = none */
    char *outer_value;                  /* SQL over the inner row, NULL = value */
    char *outer_weight;                 /* SQL over the inner row, NULL = 1 */
    char *outer_filter;                 /* SQL boolean over the inner row, NULL = none */
    char *query;                        /* custom only: SQL over the table base */
    attr_list sources, types, versions; /* empty = all */
} attr_def;

/*
 * Parse a definition for the attribute whose row id is `row_id`. Returns 0
 * or CPS_ERR with a message naming the attribute and the key at fault.
 * Keys CPS does not know are allowed (a CDP may keep notes there) unless they
 * look like a misspelt known key; *warning (if given) receives a note about
 * ignored keys, or NULL. The caller frees *warning.
 */
int attrdef_parse(attr_def *d, const char *row_id, const char *json, size_t len, char **warning,
                  cps_error *err);
void attrdef_free(attr_def *d);

const char *attr_type_name(attr_type t);

#endif
