/*
 * value — SQL values as PostgreSQL prints them, compared in memory the way
 * PostgreSQL orders and equates them, for the types CPS aggregates itself.
 *
 * A value kind is chosen from the type of an attribute's final value: text
 * types compare by bytes (COLLATE "C"), numbers numerically, booleans false
 * first, dates and timestamps chronologically. For any other type CPS lets
 * PostgreSQL aggregate (VK_OTHER). Strings are borrowed.
 */
#ifndef CPS_VALUE_H
#define CPS_VALUE_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    VK_TEXT,    /* text, varchar, name, "char", uuid: bytes */
    VK_BPCHAR,  /* character(n): bytes, trailing spaces insignificant */
    VK_INT,     /* int2, int4, int8, oid */
    VK_FLOAT,   /* float4, float8: NaN last, -0 = 0 */
    VK_NUMERIC, /* numeric: exact; NaN last */
    VK_BOOL,    /* false < true */
    VK_TIME,    /* date, timestamp, timestamptz (DateStyle ISO, UTC) */
    VK_OTHER,   /* everything else: PostgreSQL aggregates it */
} value_kind;

value_kind value_kind_of(uint32_t type_oid);
const char *value_kind_name(value_kind k);

/* <0, 0, >0 as PostgreSQL's ORDER BY on the type would order a and b. */
int value_cmp(value_kind k, const char *a, size_t alen, const char *b, size_t blen);

/* The text under which equal values group: the value itself, or a
 * normalized form (1.50 and 1.5 are one numeric). Uses scratch if needed;
 * the result lives until scratch changes. */
const char *value_key(value_kind k, const char *s, size_t len, strbuf *scratch, size_t *keylen);

#endif
