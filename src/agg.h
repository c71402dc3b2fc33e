/*
 * agg — aggregation of one attribute's outer rows in memory (SPEC §4.3), for
 * the entities of a batch numbered 0..n-1.
 *
 * PostgreSQL evaluates the expressions and streams the final (value, weight,
 * event_time, event id) rows; agg folds them per entity by the attribute's
 * type, with PostgreSQL's ordering and equality for the value kind (value.h),
 * and exact decimal sums (decimal.h). Strings passed in are copied.
 */
#ifndef CPS_AGG_H
#define CPS_AGG_H

#include "attrdef.h"
#include "value.h"

#include <stddef.h>
#include <stdint.h>

typedef struct agg agg;

agg *agg_new(attr_type type, value_kind kind, uint32_t nentities);
void agg_free(agg *a);

/*
 * Fold one row into entity e. w is the final weight as numeric text (NULL
 * counts as 0); t the event_time text (NULL sorts last) and ev the event id,
 * both only for first/last. Returns 0, or -1 if a number is malformed.
 */
int agg_add(agg *a, uint32_t e, const char *v, size_t vlen, const char *w, size_t wlen,
            const char *t, size_t tlen, const char *ev, size_t evlen);

/* Forget entities from..to (inclusive), e.g. before evaluating them again. */
void agg_reset(agg *a, uint32_t from, uint32_t to);

/* Call emit once per stored value of entity e (none if it has no value). */
typedef void (*agg_emit_fn)(void *ctx, const char *value, size_t len);
void agg_results(agg *a, uint32_t e, agg_emit_fn emit, void *ctx);

/* Bytes held, for memory reports. */
size_t agg_bytes(const agg *a);

#endif
