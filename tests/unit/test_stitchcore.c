/* Unit tests for stitchcore: hand-made graphs with known answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "entityid.h"
#include "pgtime.h"
#include "stitchcore.h"

#include <stdio.h>
#include <string.h>

static uint32_t ev(sc_graph *g, const char *id, int64_t t)
{
    return sc_add_event(g, id, strlen(id), t);
}

static uint32_t ident(sc_graph *g, uint32_t e, uint32_t attr, const char *v)
{
    return sc_add_identifier(g, e, attr, v, strlen(v));
}

/* The id of an entity whose earliest event is (event, t). */
static const char *idof(const char *event, int64_t t)
{
    static char buf[8][33];
    static int k;
    k = (k + 1) % 8;
    entity_id_hex(t, event, strlen(event), buf[k]);
    return buf[k];
}

/* The batch merged exactly one known entity, from into into. */
static void assert_one_merge(const sc_graph *g, const char *from, const char *into)
{
    assert_int_equal(sc_merge_count(g), 1);
    const char *f, *i;
    sc_merge(g, 0, &f, &i);
    assert_string_equal(f, from);
    assert_string_equal(i, into);
}

static void chain_and_singletons(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    uint32_t a = ev(g, "a", 30), b = ev(g, "b", 10), c = ev(g, "c", 20), d = ev(g, "d", 5);
    uint32_t lonely = ev(g, "lonely", 1);
    ident(g, a, 0, "x");
    ident(g, b, 0, "x");
    ident(g, b, 1, "y");
    ident(g, c, 1, "y");
    ident(g, d, 2, "z");
    sc_resolve(g);
    /* a-b-c chain: earliest is b (time 10) */
    assert_string_equal(sc_event_result(g, a), idof("b", 10));
    assert_string_equal(sc_event_result(g, c), idof("b", 10));
    assert_string_equal(sc_event_result(g, d), idof("d", 5));
    assert_string_equal(sc_event_result(g, lonely), idof("lonely", 1));
    assert_int_equal(sc_merge_count(g), 0);
    assert_int_equal(sc_entity_count(g), 3);
    assert_int_equal(sc_identifier_count(g), 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_true(sc_identifier_is_new(g, i));
    sc_free(g);
}

static void same_value_two_attributes(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    uint32_t a = ev(g, "a", 1), b = ev(g, "b", 2);
    ident(g, a, 0, "shared");
    ident(g, b, 1, "shared");
    sc_resolve(g);
    assert_string_not_equal(sc_event_result(g, a), sc_event_result(g, b));
    sc_free(g);
}

static void ties_break_by_id_bytes(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    uint32_t b = ev(g, "b", 7), a = ev(g, "B", 7), n = ev(g, "nul", PGTIME_NULL);
    ident(g, b, 0, "k");
    ident(g, a, 0, "k");
    ident(g, n, 0, "k");
    sc_resolve(g);
    /* "B" (0x42) < "b" (0x62); NULL times sort last */
    assert_string_equal(sc_event_result(g, b), idof("B", 7));
    sc_free(g);
}

static void bridge_merges_known_entities(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    /* new event e carries identifiers of two known entities, older and newer */
    uint32_t e = ev(g, "e", 100);
    uint32_t x = ident(g, e, 0, "x");
    uint32_t y = ident(g, e, 1, "y");
    uint32_t z = ident(g, e, 2, "z-new");
    sc_identifier_entity(g, x, "ent-young", 50, "ey");
    sc_identifier_entity(g, y, "ent-old", 10, "eo");
    sc_resolve(g);
    assert_string_equal(sc_event_result(g, e), "ent-old");
    assert_false(sc_identifier_is_new(g, x));
    assert_true(sc_identifier_is_new(g, z));
    assert_string_equal(sc_identifier_result(g, z), "ent-old");
    assert_one_merge(g, "ent-young", "ent-old");
    assert_int_equal(sc_entity_count(g), 1);
    sc_entity_info info;
    sc_entity(g, 0, &info);
    assert_string_equal(info.id, "ent-old");
    assert_false(info.is_new);
    assert_int_equal(info.first_time, 10);
    assert_string_equal(info.first_id, "eo");
    sc_free(g);
}

static void late_event_keeps_id_moves_first(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    uint32_t e = ev(g, "late", 1);
    uint32_t x = ident(g, e, 0, "x");
    sc_identifier_entity(g, x, "ent", 50, "first");
    sc_resolve(g);
    assert_string_equal(sc_event_result(g, e), "ent");
    sc_entity_info info;
    sc_entity(g, 0, &info);
    assert_int_equal(info.first_time, 1);
    assert_string_equal(info.first_id, "late");
    assert_false(info.is_new);
    assert_true(info.first_changed); /* {ps}.entities needs the new first event */
    sc_free(g);
}

/* A late event joins the newer of two known entities in the batch that
 * merges them: stitched one at a time, it would have made that entity the
 * earlier one before the merge, so that entity survives. */
static void late_event_decides_the_survivor(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    sc_known_entity(g, "ent-a", 5, "a1");
    sc_known_entity(g, "ent-b", 10, "b1");
    uint32_t e0 = ev(g, "e0", 1);
    sc_identifier_entity(g, ident(g, e0, 0, "cookie-b"), "ent-b", PGTIME_NINF, NULL);
    uint32_t e2 = ev(g, "e2", 20);
    sc_identifier_entity(g, ident(g, e2, 0, "cookie-a"), "ent-a", PGTIME_NINF, NULL);
    ident(g, e2, 1, "x@example.com");
    uint32_t e3 = ev(g, "e3", 21);
    ident(g, e3, 0, "cookie-b");
    ident(g, e3, 1, "x@example.com");
    sc_resolve(g);
    for (uint32_t e = 0; e < 3; e++)
        assert_string_equal(sc_event_result(g, e), "ent-b");
    assert_one_merge(g, "ent-a", "ent-b");
    sc_entity_info info;
    assert_int_equal(sc_entity_count(g), 1);
    sc_entity(g, 0, &info);
    assert_false(info.is_new);
    assert_true(info.first_changed);
    assert_string_equal(info.first_id, "e0");
    sc_free(g);
}

/* A late event that meets no known entity itself founds a new one, which
 * absorbs the known entity a later event of the batch connects it to. */
static void late_event_founds_the_survivor(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    sc_known_entity(g, "ent-a", 5, "a1");
    uint32_t e0 = ev(g, "e0", 1);
    ident(g, e0, 1, "z@example.com");
    uint32_t e3 = ev(g, "e3", 21);
    ident(g, e3, 1, "z@example.com");
    sc_identifier_entity(g, ident(g, e3, 0, "cookie-a"), "ent-a", PGTIME_NINF, NULL);
    sc_resolve(g);
    const char *want = idof("e0", 1);
    assert_string_equal(sc_event_result(g, e0), want);
    assert_string_equal(sc_event_result(g, e3), want);
    assert_one_merge(g, "ent-a", want);
    sc_entity_info info;
    sc_entity(g, 0, &info);
    assert_true(info.is_new);
    assert_string_equal(info.first_id, "e0");
    sc_free(g);
}

/* ---- batch independence: a small model of the tables a batch reads and writes */

enum { NEV = 40, NIDENT = 24, MAXID = 3 };

typedef struct model_event {
    char id[16];
    int64_t time;
    int nident, ident[MAXID]; /* identifiers: attribute = ident / 8, value = ident % 8 */
    int run;
} model_event;

typedef struct model {
    char event_ent[NEV][33];    /* {ps}.matching, "" = not stitched */
    char ident_ent[NIDENT][33]; /* {ps}.identifiers */
    struct {
        char id[33], first_id[16];
        int64_t first_time;
    } ent[NEV * 2]; /* {ps}.entities */
    int nent;
} model;

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(*s >> 33);
}

static int model_entity(model *m, const char *id)
{
    for (int k = 0; k < m->nent; k++)
        if (strcmp(m->ent[k].id, id) == 0)
            return k;
    return -1;
}

static void model_known(sc_graph *g, model *m, const char *id)
{
    int k = model_entity(m, id);
    assert_true(k >= 0);
    sc_known_entity(g, id, m->ent[k].first_time, m->ent[k].first_id);
}

/* Stitch events (indexes into evs, in queue order) as one batch, as stitch.c does. */
static void model_batch(model *m, const model_event *evs, const int *batch, int n)
{
    sc_graph *g = sc_new(16);
    uint32_t node_of[NEV], ident_of[NIDENT];
    for (int i = 0; i < n; i++) {
        const model_event *e = &evs[batch[i]];
        node_of[batch[i]] = ev(g, e->id, e->time);
        for (int j = 0; j < e->nident; j++) {
            char v[8];
            snprintf(v, sizeof v, "v%d", e->ident[j] % 8);
            int x = e->ident[j];
            ident_of[x] = sc_add_identifier(g, node_of[batch[i]], (uint32_t)(x / 8), v, strlen(v));
            if (*m->ident_ent[x]) { /* in {ps}.identifiers */
                model_known(g, m, m->ident_ent[x]);
                sc_identifier_entity(g, ident_of[x], m->ident_ent[x], PGTIME_NINF, NULL);
            }
        }
    }
    sc_resolve(g);
    for (size_t k = 0; k < sc_merge_count(g); k++) {
        const char *from, *into;
        sc_merge(g, k, &from, &into);
        for (int e = 0; e < NEV; e++)
            if (strcmp(m->event_ent[e], from) == 0)
                snprintf(m->event_ent[e], 33, "%s", into);
        for (int i = 0; i < NIDENT; i++)
            if (strcmp(m->ident_ent[i], from) == 0)
                snprintf(m->ident_ent[i], 33, "%s", into);
        int x = model_entity(m, from);
        m->ent[x] = m->ent[--m->nent];
    }
    for (int i = 0; i < n; i++)
        snprintf(m->event_ent[batch[i]], 33, "%s", sc_event_result(g, node_of[batch[i]]));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < evs[batch[i]].nident; j++) {
            uint32_t x = ident_of[evs[batch[i]].ident[j]];
            if (sc_identifier_is_new(g, x))
                snprintf(m->ident_ent[evs[batch[i]].ident[j]], 33, "%s",
                         sc_identifier_result(g, x));
        }
    for (size_t k = 0; k < sc_entity_count(g); k++) {
        sc_entity_info info;
        sc_entity(g, k, &info);
        int x = model_entity(m, info.id);
        if (x < 0) {
            assert_true(info.is_new);
            x = m->nent++;
            snprintf(m->ent[x].id, 33, "%s", info.id);
        }
        m->ent[x].first_time = info.first_time;
        snprintf(m->ent[x].first_id, sizeof m->ent[x].first_id, "%s", info.first_id);
    }
    sc_free(g);
}

static int queue_cmp(const void *a, const void *b, void *evs)
{
    const model_event *x = &((const model_event *)evs)[*(const int *)a];
    const model_event *y = &((const model_event *)evs)[*(const int *)b];
    return sc_first_cmp(x->time, x->id, strlen(x->id), y->time, y->id, strlen(y->id));
}

/* Each run stitches its events in queue order, batch_size at a time. */
static void model_runs(model *m, const model_event *evs, int runs, int batch_size)
{
    memset(m, 0, sizeof *m);
    for (int r = 0; r < runs; r++) {
        int queue[NEV], n = 0;
        for (int e = 0; e < NEV; e++)
            if (evs[e].run == r)
                queue[n++] = e;
        for (int i = 1; i < n; i++) /* insertion sort by (time, id) */
            for (int j = i; j > 0 && queue_cmp(&queue[j - 1], &queue[j], (void *)evs) > 0; j--) {
                int t = queue[j];
                queue[j] = queue[j - 1];
                queue[j - 1] = t;
            }
        for (int i = 0; i < n; i += batch_size)
            model_batch(m, evs, queue + i, n - i < batch_size ? n - i : batch_size);
    }
}

/* Events arriving out of time order, over several runs: every batch size
 * gives the same entities, ids included, as stitching one event at a time. */
static void batches_do_not_change_the_result(void **state)
{
    (void)state;
    static const int sizes[] = {2, 3, 7, NEV};
    for (uint64_t seed = 1; seed <= 400; seed++) {
        uint64_t r = seed;
        model_event evs[NEV];
        int runs = 1 + (int)(rnd(&r) % 4);
        for (int e = 0; e < NEV; e++) {
            /* unique ids, whose order is not the events' order */
            snprintf(evs[e].id, sizeof evs[e].id, "e%02u%02d", rnd(&r) % 100, e);
            evs[e].time = rnd(&r) % 30;
            evs[e].nident = (int)(rnd(&r) % (MAXID + 1));
            for (int j = 0; j < evs[e].nident; j++)
                evs[e].ident[j] = (int)(rnd(&r) % NIDENT);
            evs[e].run = (int)(rnd(&r) % (uint32_t)runs);
        }
        static model one, many;
        model_runs(&one, evs, runs, 1);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            model_runs(&many, evs, runs, sizes[k]);
            for (int e = 0; e < NEV; e++)
                if (strcmp(one.event_ent[e], many.event_ent[e]))
                    fail_msg("seed %llu, %d runs, batches of %d: event %s in %s, one at a "
                             "time in %s",
                             (unsigned long long)seed, runs, sizes[k], evs[e].id, many.event_ent[e],
                             one.event_ent[e]);
        }
    }
}

static void known_entity_unchanged_or_missing(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    /* first-event details given once, before the links (as stitch.c does) */
    sc_known_entity(g, "ent", 5, "first");
    sc_known_entity(g, "gone", 0, NULL); /* not in {ps}.entities any more */
    uint32_t a = ev(g, "later", 9);
    sc_identifier_entity(g, ident(g, a, 0, "x"), "ent", PGTIME_NINF, NULL);
    uint32_t b = ev(g, "other", 7);
    sc_identifier_entity(g, ident(g, b, 0, "y"), "gone", PGTIME_NINF, NULL);
    sc_resolve(g);
    assert_string_equal(sc_event_result(g, a), "ent");
    assert_string_equal(sc_event_result(g, b), "gone");
    for (size_t k = 0; k < sc_entity_count(g); k++) {
        sc_entity_info info;
        sc_entity(g, k, &info);
        assert_false(info.is_new);
        if (strcmp(info.id, "ent") == 0) {
            assert_false(info.first_changed); /* nothing to write to {ps}.entities */
            assert_int_equal(info.first_time, 5);
            assert_string_equal(info.first_id, "first");
        } else {
            assert_true(info.first_changed); /* written back with its batch event */
            assert_string_equal(info.first_id, "other");
        }
    }
    sc_free(g);
}

static void updated_event_joins_by_its_entity(void **state)
{
    (void)state;
    sc_graph *g = sc_new(8);
    /* an already stitched event gained identifier y, known to another entity */
    uint32_t e = ev(g, "old-event", 20);
    sc_event_entity(g, e, "ent-a", 20, "old-event");
    uint32_t y = ident(g, e, 0, "y");
    sc_identifier_entity(g, y, "ent-b", 5, "bbb");
    uint32_t f = ev(g, "fresh", 30); /* unrelated */
    sc_resolve(g);
    assert_string_equal(sc_event_result(g, e), "ent-b");
    assert_string_equal(sc_event_result(g, f), idof("fresh", 30));
    assert_int_equal(sc_merge_count(g), 1);
    assert_int_equal(sc_entity_count(g), 2);
    sc_free(g);
}

static void star_of_many(void **state)
{
    (void)state;
    sc_graph *g = sc_new(4);
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "ev%05d", i);
        uint32_t e = ev(g, id, 1000 - i % 1000);
        ident(g, e, 0, "hub");
        snprintf(id, sizeof id, "own%d", i);
        ident(g, e, 1, id);
    }
    sc_resolve(g);
    /* earliest: time 1 is reached by i = 999, 1999, ...; smallest id ev00999 */
    for (uint32_t e = 0; e < 5000; e++)
        assert_string_equal(sc_event_result(g, e), idof("ev00999", 1));
    assert_int_equal(sc_entity_count(g), 1);
    assert_int_equal(sc_identifier_count(g), 5001);
    sc_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_and_singletons),
        cmocka_unit_test(same_value_two_attributes),
        cmocka_unit_test(ties_break_by_id_bytes),
        cmocka_unit_test(bridge_merges_known_entities),
        cmocka_unit_test(late_event_keeps_id_moves_first),
        cmocka_unit_test(late_event_decides_the_survivor),
        cmocka_unit_test(late_event_founds_the_survivor),
        cmocka_unit_test(batches_do_not_change_the_result),
        cmocka_unit_test(known_entity_unchanged_or_missing),
        cmocka_unit_test(updated_event_joins_by_its_entity),
        cmocka_unit_test(star_of_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
