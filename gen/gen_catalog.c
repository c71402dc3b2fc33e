/*
 * gen_catalog — the sources, event definitions, stitching configuration,
 * attribute definitions and context of the sample CDP (see gen_catalog.h).
 *
 * The attribute definitions cover every calculation type of SPEC §4.3 and
 * every optional key of §4.1 at least once, so the generated CDP exercises
 * the whole attribute engine. The stitching configuration deliberately does
 * not filter junk values ("undefined" cookies, placeholder emails): the
 * over-merging they cause is what cps_gen.truth lets a quality check see.
 */
#include "gen_catalog.h"

#include <jansson.h>
#include <stdlib.h>

const gen_source gen_sources[] = {
    {"web", "Website (e-shop)"},
    {"app", "Mobile app"},
    {"crm", "CRM"},
    {"pos", "Point of sale (stores)"},
    {"esp", "Email service provider"},
};
const int gen_nsources = sizeof gen_sources / sizeof gen_sources[0];

const gen_event_def gen_event_defs[EV_COUNT] = {
    [EV_PAGE_VIEW] = {"web", "page_view", "1-0-0", "Page view"},
    [EV_PAGE_VIEW_V11] = {"web", "page_view", "1-1-0", "Page view (with user id)"},
    [EV_WEB_SIGNIN] = {"web", "web_signin", "1-0-0", "Web sign-in"},
    [EV_PURCHASE] = {"web", "purchase", "1-0-0", "Web purchase"},
    [EV_FORM_SUBMITTED] = {"web", "form_submitted", "1-0-0", "Form submitted"},
    [EV_APP_OPEN] = {"app", "app_open", "1-0-0", "App opened"},
    [EV_APP_SIGNIN] = {"app", "app_signin", "1-0-0", "App sign-in"},
    [EV_APP_PURCHASE] = {"app", "app_purchase", "2-0-0", "App purchase"},
    [EV_CUSTOMER_UPDATED] = {"crm", "customer_updated", "1-0-0", "Customer record updated"},
    [EV_POS_PURCHASE] = {"pos", "pos_purchase", "1-0-0", "Store purchase"},
    [EV_EMAIL_OPENED] = {"esp", "email_opened", "1-0-0", "Email opened"},
    [EV_EMAIL_CLICKED] = {"esp", "email_clicked", "1-0-0", "Email link clicked"},
};

const gen_cdp_attribute gen_stitching_attributes[] = {
    {"stitching_cookie_id", "Cookie ID", "string"},
    {"stitching_user_id", "User ID", "string"},
    {"stitching_email", "Email", "string"},
    {"stitching_phone", "Phone number", "string"},
    {"stitching_device_id", "Mobile device ID", "string"},
};
const int gen_nstitching_attributes =
    sizeof gen_stitching_attributes / sizeof gen_stitching_attributes[0];

/* The identifier expressions, as an operator would write them. Phones come in
 * several formats ("+420 601 234 567", "00420601234567", "601-234-567"): the
 * last nine digits are the national number, the same in every format. */
#define X_COOKIE  "payload->>'cookie_id'"
#define X_USER    "payload->>'user_id'"
#define X_INBOUND "jsonb_array_elements_text(payload->'inbound_user_ids')"
#define X_EMAIL   "lower(payload->>'email')"
#define X_PHONE   "right(regexp_replace(payload->>'phone', '[^0-9]', '', 'g'), 9)"
#define X_DEVICE  "payload->>'device_id'"

const gen_stitching_rule gen_stitching_rules[] = {
    {"stitching_cookie_id", EV_PAGE_VIEW, X_COOKIE},
    {"stitching_cookie_id", EV_PAGE_VIEW_V11, X_COOKIE},
    {"stitching_user_id", EV_PAGE_VIEW_V11, X_USER},
    {"stitching_cookie_id", EV_WEB_SIGNIN, X_COOKIE},
    {"stitching_user_id", EV_WEB_SIGNIN, X_USER},
    {"stitching_email", EV_WEB_SIGNIN, X_EMAIL},
    {"stitching_cookie_id", EV_PURCHASE, X_COOKIE},
    {"stitching_user_id", EV_PURCHASE, X_USER},
    {"stitching_email", EV_PURCHASE, X_EMAIL},
    {"stitching_cookie_id", EV_FORM_SUBMITTED, X_COOKIE},
    {"stitching_email", EV_FORM_SUBMITTED, X_EMAIL},
    {"stitching_phone", EV_FORM_SUBMITTED, X_PHONE},
    {"stitching_device_id", EV_APP_OPEN, X_DEVICE},
    {"stitching_device_id", EV_APP_SIGNIN, X_DEVICE},
    {"stitching_user_id", EV_APP_SIGNIN, X_INBOUND},
    {"stitching_device_id", EV_APP_PURCHASE, X_DEVICE},
    {"stitching_user_id", EV_APP_PURCHASE, X_USER},
    {"stitching_user_id", EV_CUSTOMER_UPDATED, X_USER},
    {"stitching_email", EV_CUSTOMER_UPDATED, X_EMAIL},
    {"stitching_phone", EV_CUSTOMER_UPDATED, X_PHONE},
    {"stitching_phone", EV_POS_PURCHASE, X_PHONE},
    {"stitching_email", EV_EMAIL_OPENED, X_EMAIL},
    {"stitching_email", EV_EMAIL_CLICKED, X_EMAIL},
};
const int gen_nstitching_rules = sizeof gen_stitching_rules / sizeof gen_stitching_rules[0];

static const char *const purchase_types[] = {"purchase", "app_purchase", "pos_purchase", NULL};
static const char *const web_app[] = {"web", "app", NULL};
static const char *const web_only[] = {"web", NULL};
static const char *const pos_only[] = {"pos", NULL};
static const char *const page_view[] = {"page_view", NULL};
static const char *const v110[] = {"1-1-0", NULL};
static const char *const phone_types[] = {"customer_updated", "form_submitted", NULL};

#define AMOUNT   "(payload->>'amount')::numeric"
#define PRODUCTS "jsonb_array_elements(payload->'products')"

const gen_attribute gen_attributes[] = {
    {.id = "total_revenue",
     .name = "Total revenue",
     .data_type = "float",
     .type = "sum",
     .value = AMOUNT,
     .types = purchase_types},
    {.id = "avg_order_value",
     .name = "Average order value",
     .data_type = "float",
     .type = "avg",
     .value = AMOUNT,
     .types = purchase_types},
    {.id = "max_order_value",
     .name = "Largest order",
     .data_type = "float",
     .type = "max",
     .value = AMOUNT,
     .types = purchase_types},
    {.id = "first_purchase_time",
     .name = "First purchase",
     .data_type = "datetime",
     .type = "min",
     .value = "event_time",
     .filter = "payload->>'amount' IS NOT NULL"},
    {.id = "last_seen",
     .name = "Last seen",
     .data_type = "datetime",
     .type = "max",
     .value = "event_time"},
    {.id = "first_source",
     .name = "First source",
     .data_type = "string",
     .type = "first",
     .value = "source_id"},
    /* written the way the setup guide shows it: defaults spelled out, "" = not set */
    {.id = "last_device_family",
     .name = "Last device family",
     .data_type = "string",
     .type = "last",
     .value = "payload->>'device_family'",
     .weight = "1",
     .filter = "",
     .outer_value = "value",
     .outer_filter = "",
     .sources = web_app},
    {.id = "top_country",
     .name = "Country",
     .data_type = "string",
     .type = "most_frequent",
     .value = "payload->>'country'"},
    {.id = "least_used_channel",
     .name = "Least used marketing channel",
     .data_type = "string",
     .type = "least_frequent",
     .value = "payload->>'utm_source'",
     .sources = web_only},
    {.id = "emails",
     .name = "Emails",
     .data_type = "string",
     .type = "list",
     .value = "lower(payload->>'email')",
     .filter = "payload->>'email' <> ''"},
    {.id = "purchased_categories",
     .name = "Purchased categories",
     .data_type = "string",
     .type = "list",
     .value = PRODUCTS,
     .outer_value = "value->>'category'",
     .types = purchase_types},
    {.id = "favourite_product",
     .name = "Favourite product",
     .data_type = "string",
     .type = "most_frequent",
     .value = PRODUCTS,
     .outer_value = "value->>'name'",
     .outer_weight = "(value->>'quantity')::numeric",
     .types = purchase_types},
    {.id = "favourite_store",
     .name = "Favourite store (by spend)",
     .data_type = "string",
     .type = "most_frequent",
     .value = "payload->>'store_id'",
     .weight = AMOUNT,
     .sources = pos_only},
    {.id = "num_cookies",
     .name = "Number of cookies",
     .data_type = "int",
     .type = "num_of_unique",
     .value = "payload->>'cookie_id'",
     .filter = "payload->>'cookie_id' NOT IN ('', 'undefined')",
     .sources = web_only},
    {.id = "phone",
     .name = "Phone",
     .data_type = "string",
     .type = "value",
     .value = "payload->>'phone'",
     .filter = "payload->>'phone' <> ''",
     .types = phone_types},
    {.id = "email_domains",
     .name = "Email domains",
     .data_type = "string",
     .type = "list",
     .value = "lower(payload->>'email')",
     .outer_value = "split_part(value, '@', 2)",
     .outer_filter = "value LIKE '%@%'"},
    {.id = "web_user_id",
     .name = "Signed-in web user id",
     .data_type = "string",
     .type = "last",
     .value = "payload->>'user_id'",
     .filter = "payload->>'user_id' <> ''",
     .types = page_view,
     .versions = v110},
    {.id = "events_count",
     .name = "Number of events",
     .data_type = "int",
     .type = "custom",
     .query = "SELECT count(*) AS value FROM base"},
    {.id = "purchase_sources",
     .name = "Sources with purchases",
     .data_type = "string",
     .type = "custom",
     .query = "SELECT DISTINCT source_id AS value FROM base WHERE payload->>'amount' IS NOT NULL"},
    {.id = "engagement",
     .name = "Engagement (events / 90th percentile)",
     .data_type = "float",
     .type = "custom",
     .query = "SELECT round(count(*)::numeric / greatest((SELECT value FROM {attr}.context "
              "WHERE key = 'events_p90')::numeric, 1), 2) AS value FROM base"},
};
const int gen_nattributes = sizeof gen_attributes / sizeof gen_attributes[0];

const gen_context_row gen_context_rows[] = {
    {"events_p90", "SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY n) FROM (SELECT count(*) "
                   "AS n FROM {ps}.matching GROUP BY customer_entity_id) AS counts"},
};
const int gen_ncontext_rows = sizeof gen_context_rows / sizeof gen_context_rows[0];

static void set_sql(json_t *obj, const char *key, const char *tmpl, const cps_schemas *schemas)
{
    if (!tmpl)
        return;
    char *sql = sql_expand(schemas, tmpl);
    json_object_set_new(obj, key, json_string(sql));
    free(sql);
}

static void set_list(json_t *obj, const char *key, const char *const *list)
{
    if (!list)
        return;
    json_t *arr = json_array();
    for (const char *const *p = list; *p; p++)
        json_array_append_new(arr, json_string(*p));
    json_object_set_new(obj, key, arr);
}

char *gen_attribute_json(const gen_attribute *a, const cps_schemas *schemas)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "id", json_string(a->id));
    json_object_set_new(obj, "type", json_string(a->type));
    set_sql(obj, "value", a->value, schemas);
    set_sql(obj, "weight", a->weight, schemas);
    set_sql(obj, "filter", a->filter, schemas);
    set_sql(obj, "outer_value", a->outer_value, schemas);
    set_sql(obj, "outer_weight", a->outer_weight, schemas);
    set_sql(obj, "outer_filter", a->outer_filter, schemas);
    set_list(obj, "sources", a->sources);
    set_list(obj, "types", a->types);
    set_list(obj, "versions", a->versions);
    set_sql(obj, "query", a->query, schemas);
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    char *out = xstrdup(text ? text : "{}");
    free(text);
    return out;
}
