/*
 * agg — per-entity folding of outer rows by attribute type (see agg.h).
 *
 * Scalar types keep one best value per entity. Types over a set of distinct
 * values (most/least_frequent, list, num_of_unique) intern (entity, value
 * key) pairs in one idtab and chain each entity's entries; an entity's
 * epoch lets agg_reset() forget its entries without touching the table.
 */
#include "agg.h"

#include "decimal.h"
#include "idtab.h"
#include "pgtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *s;
    uint32_t len, cap;
} slot;

struct agg {
    attr_type type;
    value_kind kind;
    uint32_t n;
    /* avg, sum */
    decimal *sum;
    int64_t *count;
    /* min, max, value, first, last */
    slot *best;
    uint8_t *has;
    /* first, last */
    slot *best_event;
    int64_t *best_time;
    /* sets of distinct values */
    idtab *values;
    uint32_t *head;        /* entity -> first entry + 1 (0 = none) */
    uint32_t *epoch;       /* entity -> current epoch */
    uint32_t *distinct;    /* entity -> number of distinct values */
    uint32_t *next;        /* entry -> next entry of the same entity + 1 */
    uint32_t *entry_epoch; /* entry -> epoch it was last used in */
    decimal *weight;       /* entry -> total final weight */
    slot *original;        /* entry -> the value as first seen, if its key differs */
    size_t entries_cap;
    strbuf scratch;
};

static bool is_set_type(attr_type t)
{
    return t == AT_MOST_FREQUENT || t == AT_LEAST_FREQUENT || t == AT_LIST || t == AT_NUM_OF_UNIQUE;
}

agg *agg_new(attr_type type, value_kind kind, uint32_t n)
{
    agg *a = xcalloc(1, sizeof *a);
    a->type = type;
    a->kind = kind;
    a->n = n;
    size_t m = (size_t)n + 1;
    if (type == AT_AVG || type == AT_SUM) {
        a->sum = xcalloc(m, sizeof *a->sum);
        for (size_t i = 0; i < m; i++)
            dec_init(&a->sum[i]);
        a->count = xcalloc(m, sizeof *a->count);
    } else if (is_set_type(type)) {
        a->values = idtab_new(m);
        a->head = xcalloc(m, sizeof *a->head);
        a->epoch = xcalloc(m, sizeof *a->epoch);
        a->distinct = xcalloc(m, sizeof *a->distinct);
    } else {
        a->best = xcalloc(m, sizeof *a->best);
        a->has = xcalloc(m, 1);
        if (type == AT_FIRST || type == AT_LAST) {
            a->best_event = xcalloc(m, sizeof *a->best_event);
            a->best_time = xcalloc(m, sizeof *a->best_time);
        }
    }
    return a;
}

void agg_free(agg *a)
{
    if (!a)
        return;
    size_t m = (size_t)a->n + 1;
    if (a->sum)
        for (size_t i = 0; i < m; i++)
            dec_free(&a->sum[i]);
    free(a->sum);
    free(a->count);
    if (a->best)
        for (size_t i = 0; i < m; i++)
            free(a->best[i].s);
    free(a->best);
    free(a->has);
    if (a->best_event)
        for (size_t i = 0; i < m; i++)
            free(a->best_event[i].s);
    free(a->best_event);
    free(a->best_time);
    if (a->values) {
        uint32_t entries = idtab_count(a->values);
        for (uint32_t i = 0; i < entries; i++) {
            if (a->weight)
                dec_free(&a->weight[i]);
            if (a->original)
                free(a->original[i].s);
        }
    }
    idtab_free(a->values);
    free(a->head);
    free(a->epoch);
    free(a->distinct);
    free(a->next);
    free(a->entry_epoch);
    free(a->weight);
    free(a->original);
    sb_free(&a->scratch);
    free(a);
}

static void slot_set(slot *s, const char *v, size_t len)
{
    if (!s->s || s->cap < len + 1) {
        free(s->s);
        s->cap = (uint32_t)(len + 1 < 16 ? 16 : len + 1);
        s->s = xmalloc(s->cap);
    }
    memcpy(s->s, v, len);
    s->s[len] = '\0';
    s->len = (uint32_t)len;
}

static int64_t event_time(const char *t, size_t tlen)
{
    int64_t x;
    if (!t || pgtime_parse(t, tlen, &x) != 0)
        return PGTIME_NULL;
    return x;
}

/* Order rows by (event_time, event id, value) for first/last. */
static int order_cmp(const agg *a, uint32_t e, int64_t t, const char *ev, size_t evlen,
                     const char *v, size_t vlen)
{
    if (t != a->best_time[e])
        return t < a->best_time[e] ? -1 : 1;
    const slot *be = &a->best_event[e];
    size_t n = evlen < be->len ? evlen : be->len;
    int c = memcmp(ev, be->s, n);
    if (c)
        return c;
    if (evlen != be->len)
        return evlen < be->len ? -1 : 1;
    return value_cmp(a->kind, v, vlen, a->best[e].s, a->best[e].len);
}

/* The entry of (e, value) in the current epoch, created or revived as needed. */
static uint32_t entry_of(agg *a, uint32_t e, const char *v, size_t vlen, bool *fresh)
{
    size_t keylen;
    const char *key = value_key(a->kind, v, vlen, &a->scratch, &keylen);
    bool added;
    uint32_t i = idtab_intern(a->values, e, key, keylen, &added);
    if (added) {
        size_t cap = a->entries_cap;
        xgrow((void **)&a->next, &cap, (size_t)i + 1, sizeof *a->next);
        cap = a->entries_cap;
        xgrow((void **)&a->entry_epoch, &cap, (size_t)i + 1, sizeof *a->entry_epoch);
        if (a->type == AT_MOST_FREQUENT || a->type == AT_LEAST_FREQUENT) {
            cap = a->entries_cap;
            xgrow((void **)&a->weight, &cap, (size_t)i + 1, sizeof *a->weight);
            dec_init(&a->weight[i]);
        }
        cap = a->entries_cap;
        xgrow((void **)&a->original, &cap, (size_t)i + 1, sizeof *a->original);
        a->entries_cap = cap;
        memset(&a->original[i], 0, sizeof a->original[i]);
        if (key != v || keylen != vlen)
            slot_set(&a->original[i], v, vlen);
    } else if (a->entry_epoch[i] == a->epoch[e]) {
        *fresh = false;
        return i;
    } else if (a->weight) {
        dec_free(&a->weight[i]);
        dec_init(&a->weight[i]);
    }
    a->entry_epoch[i] = a->epoch[e];
    a->next[i] = a->head[e];
    a->head[e] = i + 1;
    a->distinct[e]++;
    *fresh = true;
    return i;
}

int agg_add(agg *a, uint32_t e, const char *v, size_t vlen, const char *w, size_t wlen,
            const char *t, size_t tlen, const char *ev, size_t evlen)
{
    switch (a->type) {
    case AT_AVG:
    case AT_SUM:
        if (dec_add_text(&a->sum[e], v, vlen) != 0)
            return -1;
        a->count[e]++;
        return 0;
    case AT_MIN:
    case AT_MAX: {
        if (a->has[e]) {
            int c = value_cmp(a->kind, v, vlen, a->best[e].s, a->best[e].len);
            if (a->type == AT_MIN ? c >= 0 : c <= 0)
                return 0;
        }
        slot_set(&a->best[e], v, vlen);
        a->has[e] = 1;
        return 0;
    }
    case AT_FIRST:
    case AT_LAST: {
        int64_t time = event_time(t, tlen);
        if (!ev)
            ev = "", evlen = 0;
        if (a->has[e]) {
            int c = order_cmp(a, e, time, ev, evlen, v, vlen);
            if (a->type == AT_FIRST ? c >= 0 : c <= 0)
                return 0;
        }
        slot_set(&a->best[e], v, vlen);
        slot_set(&a->best_event[e], ev, evlen);
        a->best_time[e] = time;
        a->has[e] = 1;
        return 0;
    }
    case AT_VALUE:
        /* any one value: the smallest text, so that both engines and every
         * run agree */
        if (!a->has[e] || value_cmp(VK_TEXT, v, vlen, a->best[e].s, a->best[e].len) < 0) {
            slot_set(&a->best[e], v, vlen);
            a->has[e] = 1;
        }
        return 0;
    case AT_MOST_FREQUENT:
    case AT_LEAST_FREQUENT: {
        bool fresh;
        uint32_t i = entry_of(a, e, v, vlen, &fresh);
        return w ? (dec_add_text(&a->weight[i], w, wlen) == 0 ? 0 : -1) : 0;
    }
    case AT_LIST:
    case AT_NUM_OF_UNIQUE: {
        bool fresh;
        entry_of(a, e, v, vlen, &fresh);
        return 0;
    }
    case AT_CUSTOM:
        break;
    }
    return 0;
}

void agg_reset(agg *a, uint32_t from, uint32_t to)
{
    for (uint32_t e = from; e <= to && e < a->n; e++) {
        if (a->sum) {
            dec_free(&a->sum[e]);
            dec_init(&a->sum[e]);
            a->count[e] = 0;
        }
        if (a->has)
            a->has[e] = 0;
        if (a->head) {
            a->head[e] = 0;
            a->epoch[e]++;
            a->distinct[e] = 0;
        }
    }
}

static void entry_text(const agg *a, uint32_t i, const char **s, size_t *len)
{
    if (a->original[i].s) {
        *s = a->original[i].s;
        *len = a->original[i].len;
    } else {
        *s = idtab_str(a->values, i);
        *len = idtab_len(a->values, i);
    }
}

void agg_results(agg *a, uint32_t e, agg_emit_fn emit, void *ctx)
{
    switch (a->type) {
    case AT_AVG:
    case AT_SUM:
        if (a->count[e]) {
            sb_reset(&a->scratch);
            if (a->type == AT_SUM)
                dec_format(&a->sum[e], &a->scratch);
            else
                dec_avg_format(&a->sum[e], a->count[e], &a->scratch);
            emit(ctx, sb_str(&a->scratch), a->scratch.len);
        }
        return;
    case AT_MIN:
    case AT_MAX:
    case AT_FIRST:
    case AT_LAST:
    case AT_VALUE:
        if (a->has[e])
            emit(ctx, a->best[e].s, a->best[e].len);
        return;
    case AT_NUM_OF_UNIQUE:
        if (a->distinct[e]) {
            char buf[16];
            int n = snprintf(buf, sizeof buf, "%u", a->distinct[e]);
            emit(ctx, buf, (size_t)n);
        }
        return;
    case AT_LIST:
        for (uint32_t i = a->head[e]; i; i = a->next[i - 1]) {
            const char *s;
            size_t len;
            entry_text(a, i - 1, &s, &len);
            emit(ctx, s, len);
        }
        return;
    case AT_MOST_FREQUENT:
    case AT_LEAST_FREQUENT: {
        uint32_t best = 0;
        const char *bs = NULL;
        size_t blen = 0;
        for (uint32_t i = a->head[e]; i; i = a->next[i - 1]) {
            const char *s;
            size_t len;
            entry_text(a, i - 1, &s, &len);
            if (best) {
                int c = dec_cmp(&a->weight[i - 1], &a->weight[best - 1]);
                if (a->type == AT_LEAST_FREQUENT)
                    c = -c;
                /* more weight wins; on a tie, the smaller value */
                if (c < 0 || (c == 0 && value_cmp(a->kind, s, len, bs, blen) >= 0))
                    continue;
            }
            best = i;
            bs = s;
            blen = len;
        }
        if (best)
            emit(ctx, bs, blen);
        return;
    }
    case AT_CUSTOM:
        return;
    }
}

size_t agg_bytes(const agg *a)
{
    size_t m = (size_t)a->n + 1, bytes = sizeof *a;
    if (a->sum)
        bytes += m * (sizeof *a->sum + sizeof *a->count);
    if (a->best) {
        bytes += m * (sizeof *a->best + 1);
        for (size_t i = 0; i < m; i++)
            bytes += a->best[i].cap;
    }
    if (a->best_event)
        bytes += m * (sizeof *a->best_event + sizeof *a->best_time);
    if (a->values)
        bytes += idtab_bytes(a->values) + m * 12 +
                 a->entries_cap * (8 + sizeof(slot) + (a->weight ? sizeof(decimal) : 0));
    return bytes;
}
