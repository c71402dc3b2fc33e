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
    assert_int_equal(sc_merge_count(g), 1);
    const char *from, *into;
    sc_merge(g, 0, &from, &into);
    assert_string_equal(from, "ent-young");
    assert_string_equal(into, "ent-old");
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
        cmocka_unit_test(known_entity_unchanged_or_missing),
        cmocka_unit_test(updated_event_joins_by_its_entity),
        cmocka_unit_test(star_of_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
