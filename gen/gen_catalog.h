/*
 * gen_catalog — what the sample CDP of cps-gen looks like: its sources, its
 * event definitions, the stitching configuration, the attribute definitions
 * and the context rows. Pure data, no database: cps_gen.c writes these tables
 * and gen_model.c generates events of the kinds listed here.
 *
 * Everything here is static and borrowed; gen_attribute_json() returns a new
 * string the caller frees.
 */
#ifndef CPS_GEN_CATALOG_H
#define CPS_GEN_CATALOG_H

#include "sqltext.h"

/* {cdp}.sources */
typedef struct gen_source {
    const char *id;
    const char *name;
} gen_source;

extern const gen_source gen_sources[];
extern const int gen_nsources;

/* The event definitions of {cdp}.events, one per (source, type, version). */
typedef enum gen_event_kind {
    EV_PAGE_VIEW,        /* web page_view 1-0-0 */
    EV_PAGE_VIEW_V11,    /* web page_view 1-1-0: adds user_id of signed-in visitors */
    EV_WEB_SIGNIN,       /* web web_signin */
    EV_PURCHASE,         /* web purchase */
    EV_FORM_SUBMITTED,   /* web form_submitted */
    EV_APP_OPEN,         /* app app_open */
    EV_APP_SIGNIN,       /* app app_signin */
    EV_APP_PURCHASE,     /* app app_purchase 2-0-0 */
    EV_CUSTOMER_UPDATED, /* crm customer_updated */
    EV_POS_PURCHASE,     /* pos pos_purchase */
    EV_EMAIL_OPENED,     /* esp email_opened */
    EV_EMAIL_CLICKED,    /* esp email_clicked */
    EV_COUNT
} gen_event_kind;

typedef struct gen_event_def {
    const char *source_id;
    const char *type;
    const char *version;
    const char *name;
} gen_event_def;

extern const gen_event_def gen_event_defs[EV_COUNT];

/* {cdp}.attributes rows of the stitching identifiers. */
typedef struct gen_cdp_attribute {
    const char *id;
    const char *name;
    const char *data_type;
} gen_cdp_attribute;

extern const gen_cdp_attribute gen_stitching_attributes[];
extern const int gen_nstitching_attributes;

/* {ps}.stitching_attributes_config: one row per (event definition, identifier). */
typedef struct gen_stitching_rule {
    const char *attribute_id;
    gen_event_kind event;
    const char *value_expression;
} gen_stitching_rule;

extern const gen_stitching_rule gen_stitching_rules[];
extern const int gen_nstitching_rules;

/* A calculated attribute: its {cdp}.attributes row and its definition (SPEC
 * §4.1). NULL keys are left out of the JSON; "" is written as "" (= not set).
 * SQL texts may use the {cdp}/{ce}/{ps}/{attr} placeholders of sqltext.h. */
typedef struct gen_attribute {
    const char *id;
    const char *name;
    const char *data_type;
    const char *type;
    const char *value;
    const char *weight;
    const char *filter;
    const char *outer_value;
    const char *outer_weight;
    const char *outer_filter;
    const char *const *sources; /* NULL-terminated lists, or NULL */
    const char *const *types;
    const char *const *versions;
    const char *query;
} gen_attribute;

extern const gen_attribute gen_attributes[];
extern const int gen_nattributes;

/* {attr}.context rows: key and query (a template over the schemas). */
typedef struct gen_context_row {
    const char *key;
    const char *query;
} gen_context_row;

extern const gen_context_row gen_context_rows[];
extern const int gen_ncontext_rows;

/* The definition JSON of an attribute with the configured schema names
 * written into its SQL (caller frees). */
char *gen_attribute_json(const gen_attribute *a, const cps_schemas *schemas);

#endif
