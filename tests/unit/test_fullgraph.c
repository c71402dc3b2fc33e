/* Unit tests for fullgraph: the same answers as stitchcore, from a spill file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "entityid.h"
#include "fullgraph.h"
#include "stitchcore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct seen {
    char (*entity)[33];
    char **id;
    int64_t *time;
    size_t n;
} seen;

static int collect(void *arg, const char *id, size_t len, int64_t time, const char entity[33],
                   cps_error *err)
{
    (void)err;
    seen *s = arg;
    s->entity = realloc(s->entity, (s->n + 1) * sizeof *s->entity);
    s->id = realloc(s->id, (s->n + 1) * sizeof *s->id);
    s->time = realloc(s->time, (s->n + 1) * sizeof *s->time);
    memcpy(s->entity[s->n], entity, 33);
    s->id[s->n] = strndup(id, len);
    s->time[s->n] = time;
    s->n++;
    return 0;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->id[i]);
    free(s->entity);
    free(s->id);
    free(s->time);
}

static fg *new_graph(void)
{
    cps_error err = {0};
    fg *g = fg_new(NULL, 16, &err);
    if (!g)
        fail_msg("%s", err.msg);
    return g;
}

static int compare_info(const void *a, const void *b)
{
    return strcmp(((const sc_entity_info *)a)->id, ((const sc_entity_info *)b)->id);
}

/* Random events over small pools of identifiers (so components form and
 * merge), times from a small range (so ties are common), some events
 * without identifiers, ids of different lengths: stitchcore is the oracle. */
static void same_as_stitchcore(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 60; round++) {
        int nev = 1 + rand() % 400, pool = 1 + rand() % 300, times = 1 + rand() % 50;
        sc_graph *o = sc_new(16);
        fg *g = new_graph();
        cps_error err = {0};
        for (int e = 0; e < nev; e++) {
            char id[200];
            int pad = rand() % 4 == 0 ? 100 + rand() % 80 : 0; /* longer than one read-back */
            snprintf(id, sizeof id, "%0*d-ev%d", pad, rand() % 7, e);
            int64_t t = rand() % times;
            uint32_t ev = sc_add_event(o, id, strlen(id), t);
            assert_int_equal(fg_add_event(g, id, strlen(id), t, &err), 0);
            int k = rand() % 4; /* 0 .. 3 identifiers */
            for (int j = 0; j < k; j++) {
                char v[32];
                uint32_t attr = (uint32_t)(rand() % 3);
                snprintf(v, sizeof v, "v%d", rand() % pool);
                sc_add_identifier(o, ev, attr, v, strlen(v));
                fg_add_identifier(g, attr, v, strlen(v));
            }
        }
        sc_resolve(o);
        assert_int_equal(fg_resolve(g, &err), 0);

        assert_int_equal(fg_event_count(g), sc_event_count(o));
        assert_int_equal(fg_entity_count(g), sc_entity_count(o));
        assert_int_equal(fg_identifier_count(g), sc_identifier_count(o));
        /* the same identifiers with the same entities, grouped by entity in id order */
        char prev[33] = "";
        for (uint32_t i = 0; i < fg_identifier_count(g); i++) {
            uint32_t attr;
            const char *v;
            size_t len, olen = 0;
            char entity[33];
            fg_identifier(g, i, &attr, &v, &len, entity);
            uint32_t j = 0;
            for (; j < sc_identifier_count(o); j++) {
                const char *ov = sc_identifier_value(o, j, &olen);
                if (sc_identifier_attr(o, j) == attr && olen == len && memcmp(ov, v, len) == 0)
                    break;
            }
            assert_true(j < sc_identifier_count(o));
            assert_string_equal(entity, sc_identifier_result(o, j));
            assert_true(strcmp(prev, entity) <= 0);
            memcpy(prev, entity, sizeof prev);
        }
        fg_release_identifiers(g);

        /* every event once, with stitchcore's entity; grouped by entity in id
           order, each entity's events in order of addition; sorted in chunks
           of one entity, of a few, or all at once; sorted ahead or not */
        seen s = {0};
        fg_set_sort_bytes(g, round % 3 == 0 ? 1 : round % 3 == 1 ? 300 : 32u << 20);
        if (round % 2)
            assert_int_equal(fg_sort_events(g, &err), 0);
        assert_int_equal(fg_each_event(g, collect, &s, &err), 0);
        assert_int_equal(s.n, sc_event_count(o));
        bool *met = calloc(s.n + 1, sizeof *met);
        uint32_t before = 0;
        for (uint32_t i = 0; i < s.n; i++) {
            uint32_t e = 0;
            while (e < s.n && strcmp(s.id[i], sc_event_id(o, e)) != 0)
                e++;
            assert_true(e < s.n);
            assert_false(met[e]);
            met[e] = true;
            assert_string_equal(s.entity[i], sc_event_result(o, e));
            if (i > 0) {
                int order = strcmp(s.entity[i - 1], s.entity[i]);
                assert_true(order < 0 || (order == 0 && before < e));
            }
            before = e;
        }
        free(met);
        /* the entities in id order, each with stitchcore's earliest event */
        sc_entity_info *oids = malloc((sc_entity_count(o) + 1) * sizeof *oids);
        for (size_t k = 0; k < sc_entity_count(o); k++)
            sc_entity(o, k, &oids[k]);
        qsort(oids, sc_entity_count(o), sizeof *oids, compare_info);
        seen ents = {0};
        assert_int_equal(fg_each_entity(g, collect, &ents, &err), 0);
        assert_int_equal(ents.n, sc_entity_count(o));
        for (size_t k = 0; k < ents.n; k++) {
            char hex[33];
            fg_entity_id(g, k, hex);
            assert_string_equal(hex, oids[k].id);
            assert_string_equal(ents.entity[k], oids[k].id);
            assert_string_equal(ents.id[k], oids[k].first_id);
            assert_int_equal(ents.time[k], oids[k].first_time);
        }
        seen_free(&ents);
        free(oids);
        seen_free(&s);
        fg_free(g);
        sc_free(o);
    }
}

/* A tie on time is broken by the ids' bytes, even for an id of megabytes. */
static void tie_with_huge_ids(void **state)
{
    (void)state;
    size_t big = 3u << 20;
    char *a = malloc(big + 1), *b = malloc(big + 1);
    memset(a, 'x', big);
    memcpy(b, a, big);
    a[big - 1] = 'b';
    b[big - 1] = 'a'; /* b < a, differing only in the last byte */
    fg *g = new_graph();
    cps_error err = {0};
    assert_int_equal(fg_add_event(g, a, big, 5, &err), 0);
    fg_add_identifier(g, 0, "same", 4);
    assert_int_equal(fg_add_event(g, b, big, 5, &err), 0);
    fg_add_identifier(g, 0, "same", 4);
    assert_int_equal(fg_add_event(g, "alone", 5, 1, &err), 0);
    assert_true(fg_is_current(g, "alone", 5));
    assert_false(fg_is_current(g, "alon", 4));
    assert_false(fg_is_current(g, b, big));
    assert_int_equal(fg_resolve(g, &err), 0);
    assert_int_equal(fg_entity_count(g), 2);
    char want[33], alone[33];
    entity_id_hex(5, b, big, want);
    entity_id_hex(1, "alone", 5, alone);
    size_t first = strcmp(want, alone) < 0 ? 0 : 1; /* where a and b are, in id order */
    size_t other = first == 0 ? 2 : 0;
    /* twice: each time sorted in chunks of one entity, the big ids written past the buffers */
    for (int pass = 0; pass < 2; pass++) {
        seen s = {0};
        assert_int_equal(fg_each_event(g, collect, &s, &err), 0);
        assert_int_equal(s.n, 3);
        assert_memory_equal(s.id[first], a, big);
        assert_memory_equal(s.id[first + 1], b, big);
        assert_string_equal(s.entity[first], want);
        assert_string_equal(s.entity[first + 1], want);
        assert_string_equal(s.id[other], "alone");
        assert_string_equal(s.entity[other], alone);
        seen_free(&s);
    }
    assert_true(fg_spill_bytes(g) > 2 * big);
    seen ents = {0};
    assert_int_equal(fg_each_entity(g, collect, &ents, &err), 0);
    assert_int_equal(ents.n, 2);
    for (size_t k = 0; k < 2; k++)
        if (strcmp(ents.id[k], "alone") != 0)
            assert_memory_equal(ents.id[k], b, big);
    seen_free(&ents);
    fg_free(g);
    free(a);
    free(b);
}

static void spill_directory_missing(void **state)
{
    (void)state;
    cps_error err = {0};
    assert_null(fg_new("/nonexistent/cps", 16, &err));
    assert_non_null(strstr(err.msg, "/nonexistent/cps"));
    assert_non_null(strstr(err.msg, "TMPDIR"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_stitchcore),
        cmocka_unit_test(tie_with_huge_ids),
        cmocka_unit_test(spill_directory_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
