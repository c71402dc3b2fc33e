/* attrdef — parse and validate attribute definitions (see attrdef.h). */
#include "attrdef.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    [AT_AVG] = "avg",
    [AT_SUM] = "sum",
    [AT_MIN] = "min",
    [AT_MAX] = "max",
    [AT_FIRST] = "first",
    [AT_LAST] = "last",
    [AT_MOST_FREQUENT] = "most_frequent",
    [AT_LEAST_FREQUENT] = "least_frequent",
    [AT_LIST] = "list",
    [AT_NUM_OF_UNIQUE] = "num_of_unique",
    [AT_VALUE] = "value",
    [AT_CUSTOM] = "custom",
};
#define NTYPES (sizeof type_names / sizeof type_names[0])
#define TYPE_LIST                                                                                  \
    "avg, sum, min, max, first, last, most_frequent, least_frequent, list, num_of_unique, value, " \
    "custom"

static const char *const known_keys[] = {"id",      "type",        "value",        "weight",
                                         "filter",  "outer_value", "outer_weight", "outer_filter",
                                         "sources", "types",       "versions",     "query"};

const char *attr_type_name(attr_type t)
{
    return (size_t)t < NTYPES ? type_names[t] : "?";
}

/* Edit distance, to tell a misspelt key from a note the CDP keeps. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t prev[41], cur[41];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof cur);
    }
    return prev[lb];
}

static int get_expr(char **dst, const json_t *root, const char *key, const char *id, cps_error *err)
{
    json_t *v = json_object_get(root, key);
    *dst = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return cps_error_set(err, "attribute \"%s\": \"%s\" must be a string of SQL", id, key);
    if (str_blank(json_string_value(v)))
        return 0;
    *dst = xstrdup(json_string_value(v));
    return 0;
}

static int get_list(attr_list *dst, const json_t *root, const char *key, const char *id,
                    cps_error *err)
{
    json_t *v = json_object_get(root, key);
    dst->items = NULL;
    dst->n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v) && str_blank(json_string_value(v)))
        return 0; /* "" is not set (SPEC §4.1): all events */
    if (!json_is_array(v))
        return cps_error_set(
            err, "attribute \"%s\": \"%s\" must be a list of strings, e.g. [\"web\"]", id, key);
    dst->items = xcalloc(json_array_size(v) + 1, sizeof *dst->items);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return cps_error_set(err, "attribute \"%s\": item %zu of \"%s\" is not a string", id,
                                 i + 1, key);
        dst->items[dst->n++] = xstrdup(json_string_value(item));
    }
    return 0;
}

static void free_list(attr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int check_keys(const json_t *root, const char *id, char **warning, cps_error *err)
{
    const char *key;
    json_t *v;
    strbuf ignored = STRBUF_INIT;
    json_object_foreach((json_t *)root, key, v)
    {
        (void)v;
        const char *closest = NULL;
        size_t best = 99;
        for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++) {
            size_t dist = distance(key, known_keys[i]);
            if (dist < best) {
                best = dist;
                closest = known_keys[i];
            }
        }
        if (best == 0)
            continue;
        if (best <= 2 && strlen(key) > 3) {
            sb_free(&ignored);
            return cps_error_set(err, "attribute \"%s\": unknown key \"%s\" (did you mean \"%s\"?)",
                                 id, key, closest);
        }
        sb_appendf(&ignored, "%s\"%s\"", ignored.len ? ", " : "", key);
    }
    if (ignored.len && warning)
        *warning = xasprintf("attribute \"%s\": keys %s are not CPS's and are ignored", id,
                             sb_str(&ignored));
    sb_free(&ignored);
    return 0;
}

static int parse_object(attr_def *d, const json_t *root, const char *row_id, char **warning,
                        cps_error *err)
{
    if (!json_is_object(root))
        return cps_error_set(err, "attribute \"%s\": the definition must be a JSON object", row_id);
    /* an empty string means "not set" (SPEC §4.1): the row's id */
    json_t *id = json_object_get(root, "id");
    if (id && !json_is_null(id) &&
        (!json_is_string(id) ||
         (!str_blank(json_string_value(id)) && strcmp(json_string_value(id), row_id))))
        return cps_error_set(err,
                             "attribute \"%s\": the definition's \"id\" must equal the row's "
                             "id (or be left out)",
                             row_id);
    d->id = xstrdup(row_id);
    if (check_keys(root, row_id, warning, err) < 0)
        return CPS_ERR;
    json_t *type = json_object_get(root, "type");
    if (type && !json_is_null(type) && !json_is_string(type))
        return cps_error_set(
            err, "attribute \"%s\": \"type\" must be a string, one of " TYPE_LIST " (it is %s)",
            row_id, json_kind(type));
    if (!type || json_is_null(type) || str_blank(json_string_value(type)))
        return cps_error_set(err, "attribute \"%s\": \"type\" is missing; use one of " TYPE_LIST,
                             row_id);
    size_t t = 0;
    while (t < NTYPES && strcmp(type_names[t], json_string_value(type)))
        t++;
    if (t == NTYPES)
        return cps_error_set(err, "attribute \"%s\": unknown type \"%s\"; use one of " TYPE_LIST,
                             row_id, json_string_value(type));
    d->type = (attr_type)t;
    if (get_expr(&d->value, root, "value", row_id, err) < 0 ||
        get_expr(&d->weight, root, "weight", row_id, err) < 0 ||
        get_expr(&d->filter, root, "filter", row_id, err) < 0 ||
        get_expr(&d->outer_value, root, "outer_value", row_id, err) < 0 ||
        get_expr(&d->outer_weight, root, "outer_weight", row_id, err) < 0 ||
        get_expr(&d->outer_filter, root, "outer_filter", row_id, err) < 0 ||
        get_expr(&d->query, root, "query", row_id, err) < 0 ||
        get_list(&d->sources, root, "sources", row_id, err) < 0 ||
        get_list(&d->types, root, "types", row_id, err) < 0 ||
        get_list(&d->versions, root, "versions", row_id, err) < 0)
        return CPS_ERR;
    if (d->type == AT_CUSTOM && !d->query)
        return cps_error_set(err,
                             "attribute \"%s\": type custom needs a \"query\" over the table "
                             "base returning one column named value",
                             row_id);
    if (d->type != AT_CUSTOM && !d->value)
        return cps_error_set(err,
                             "attribute \"%s\": \"value\" is missing (an SQL expression over "
                             "the event, e.g. payload->>'country')",
                             row_id);
    return 0;
}

int attrdef_parse(attr_def *d, const char *row_id, const char *json, size_t len, char **warning,
                  cps_error *err)
{
    memset(d, 0, sizeof *d);
    if (warning)
        *warning = NULL;
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!root)
        return cps_error_set(err, "attribute \"%s\": the definition is not valid JSON%s%s", row_id,
                             json ? ": " : " (it is NULL)", json ? jerr.text : "");
    int rc = parse_object(d, root, row_id, warning, err);
    json_decref(root);
    if (rc < 0) {
        attrdef_free(d);
        if (warning) {
            free(*warning);
            *warning = NULL;
        }
    }
    return rc;
}

void attrdef_free(attr_def *d)
{
    if (!d)
        return;
    char **strings[] = {&d->id,          &d->value,        &d->weight,       &d->filter,
                        &d->outer_value, &d->outer_weight, &d->outer_filter, &d->query};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    free_list(&d->sources);
    free_list(&d->types);
    free_list(&d->versions);
}
