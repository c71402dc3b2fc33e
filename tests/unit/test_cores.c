/* Unit tests for the small pure libraries: md5, entityid, pgtime, idtab, uf, arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"
#include "entityid.h"
#include "idtab.h"
#include "md5.h"
#include "pgtime.h"
#include "uf.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static void md5_vectors(void **state)
{
    (void)state;
    /* RFC 1321, appendix A.5 */
    static const char *cases[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[33];
        md5_hex(cases[i][0], strlen(cases[i][0]), hex);
        assert_string_equal(hex, cases[i][1]);
    }
    /* lengths around the 56-byte padding boundary */
    char buf[130];
    memset(buf, 'x', sizeof buf);
    char hex[33];
    md5_hex(buf, 55, hex);
    assert_string_equal(hex, "04364420e25c512fd958a70738aa8f72");
    md5_hex(buf, 56, hex);
    assert_string_equal(hex, "668a72d5ba17f08e62dabcafad6db14b");
    md5_hex(buf, 64, hex);
    assert_string_equal(hex, "c1bb4f81d892b2d57947682aeb252456");
}

static int64_t parse(const char *s)
{
    int64_t t;
    if (pgtime_parse(s, strlen(s), &t) != 0)
        fail_msg("cannot parse %s", s);
    return t;
}

static void pgtime_round_trips(void **state)
{
    (void)state;
    assert_int_equal(parse("2000-01-01 00:00:00"), 0);
    assert_int_equal(parse("2000-01-02 00:00:00"), INT64_C(86400000000));
    assert_int_equal(parse("1999-12-31 23:59:59.5"), -500000);
    assert_int_equal(parse("2000-01-01 01:00:00+01"), 0);
    assert_int_equal(parse("2000-01-01 00:00:00-05:30"), INT64_C(19800000000));
    assert_int_equal(parse("2000-01-01"), 0);
    assert_int_equal(parse("2000-01-01T00:00:01"), 1000000);
    assert_true(parse("infinity") == PGTIME_INFINITY);
    assert_true(parse("-infinity") == PGTIME_NINF);
    /* ordering across eras */
    assert_true(parse("0001-01-01 00:00:00 BC") < parse("0001-01-01 00:00:00"));
    assert_true(parse("0044-03-15 12:00:00 BC") < parse("0001-01-01 00:00:00 BC"));
    assert_true(parse("1969-07-20 20:17:40") < parse("2024-02-29 23:59:59.999999"));
    static const char *texts[] = {"2024-02-29 23:59:59.999999",
                                  "1970-01-01 00:00:00",
                                  "0044-03-15 12:00:00 BC",
                                  "12345-06-07 08:09:10.5",
                                  "1900-03-01 00:00:00.000001",
                                  "infinity",
                                  "-infinity"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char out[40];
        assert_int_equal(pgtime_format(parse(texts[i]), out), 0);
        assert_string_equal(out, texts[i]);
    }
    int64_t t;
    assert_int_equal(pgtime_parse("yesterday", 9, &t), -1);
    assert_int_equal(pgtime_parse("2020-13-01 00:00:00", 19, &t), -1);
    assert_int_equal(pgtime_parse("2020-01-01 00:00", 16, &t), -1);
    char out[40];
    assert_int_equal(pgtime_format(PGTIME_NULL, out), -1);
    /* PostgreSQL's dates reach 5874897 AD; microseconds do not (found by fuzzing) */
    assert_int_equal(pgtime_parse("5874897-12-31", 13, &t), -1);
    assert_int_equal(pgtime_parse("294276-12-31 23:59:59", 21, &t), 0);
    /* ... which pgtime_parse_days reaches, with the microseconds into the day */
    int64_t days, usec, days2, usec2;
    assert_int_equal(pgtime_parse_days("5874897-12-31", 13, &days, &usec), 0);
    assert_int_equal(pgtime_parse_days("300001-01-01 00:00:01", 21, &days2, &usec2), 0);
    assert_true(days > days2);
    assert_int_equal(usec, 0);
    assert_int_equal(usec2, 1000000);
    assert_int_equal(pgtime_parse_days("2000-01-01 00:30:00+01", 22, &days, &usec), 0);
    assert_int_equal(days, -1); /* the offset moves it to the day before */
    assert_int_equal(usec, INT64_C(84600000000));
    assert_int_equal(pgtime_parse_days("1999-12-31 23:59:59.5", 21, &days, &usec), 0);
    assert_true(days * INT64_C(86400000000) + usec == parse("1999-12-31 23:59:59.5"));
    assert_int_equal(pgtime_parse_days("infinity", 8, &days, &usec), 0);
    assert_true(days == INT64_MAX);
    assert_int_equal(pgtime_parse_days("-infinity", 9, &days, &usec), 0);
    assert_true(days == INT64_MIN);
    assert_int_equal(pgtime_parse_days("7000000-01-01", 13, &days, &usec), -1);
}

static void idtab_interns(void **state)
{
    (void)state;
    idtab *t = idtab_new(4);
    bool added;
    char buf[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(buf, sizeof buf, "value-%d", i);
        assert_int_equal(idtab_intern(t, (uint32_t)(i % 3), buf, (size_t)n, &added), (uint32_t)i);
        assert_true(added);
    }
    for (int i = 0; i < 100000; i += 7) {
        int n = snprintf(buf, sizeof buf, "value-%d", i);
        assert_int_equal(idtab_intern(t, (uint32_t)(i % 3), buf, (size_t)n, &added), (uint32_t)i);
        assert_false(added);
        /* the same text under another tag is another entry */
        assert_int_equal(idtab_find(t, (uint32_t)(i % 3) + 1, buf, (size_t)n), IDTAB_NONE);
    }
    assert_int_equal(idtab_count(t), 100000);
    assert_string_equal(idtab_str(t, 42), "value-42");
    assert_int_equal(idtab_tag(t, 42), 0);
    /* embedded NUL bytes and the empty string are values like any other */
    uint32_t a = idtab_intern(t, 9, "a\0b", 3, &added);
    uint32_t b = idtab_intern(t, 9, "a\0c", 3, &added);
    assert_int_not_equal(a, b);
    assert_int_equal(idtab_len(t, a), 3);
    uint32_t e = idtab_intern(t, 9, "", 0, &added);
    assert_true(added);
    assert_int_equal(idtab_find(t, 9, "", 0), e);
    idtab_free(t);
}

static void uf_sets(void **state)
{
    (void)state;
    uf *u = uf_new(2);
    for (int i = 0; i < 1000; i++)
        uf_add(u);
    for (uint32_t i = 0; i + 2 < 1000; i += 2)
        uf_union(u, i, i + 2);
    assert_int_equal(uf_find(u, 0), uf_find(u, 998));
    assert_int_equal(uf_find(u, 1), 1);
    assert_int_not_equal(uf_find(u, 0), uf_find(u, 1));
    uf_union(u, 1, 999);
    uf_union(u, 999, 500);
    assert_int_equal(uf_find(u, 1), uf_find(u, 0));
    assert_int_equal(uf_count(u), 1000);
    uf_free(u);
}

static void arena_strings(void **state)
{
    (void)state;
    arena *a = arena_new();
    char big[10000];
    memset(big, 'q', sizeof big);
    const char *s = arena_strndup(a, "hello", 5);
    const char *b = NULL;
    for (int i = 0; i < 1000; i++)
        b = arena_strndup(a, big, sizeof big);
    assert_string_equal(s, "hello");
    assert_int_equal(strlen(b), sizeof big);
    assert_true(arena_bytes(a) >= 1000 * sizeof big);
    arena_free(a);
}

/* The values PostgreSQL gives for the formula in entityid.h */
static void entity_ids(void **state)
{
    (void)state;
    static const struct {
        const char *time, *id, *want;
    } cases[] = {
        {"2025-06-01 12:34:56.789999", "evt-1", "01972b7cec95ef205f13777dad5a0047"},
        {"1969-12-31 23:59:59.999999", "old", "000000000000149603e6c03516362a8d"},
        {"1970-01-01 00:00:00.0015", "x", "0000000000019dd4e461268c8034f5c8"},
        {"infinity", "inf", "ffffffffffffee7b630995e7a36b6420"},
        {"-infinity", "ninf", "0000000000004feafbe2844085aa42e9"},
        {NULL, "none", "000000000000334c4a4c42fdb79d7ebc"},
        {"12000-01-01 00:00:00", "far", "ffffffffffff17d965747c701d6ffb40"},
        {"2000-01-01 00:00:00", "", "00dc6acfac00d41d8cd98f00b204e980"},
    };
    char hex[33];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = PGTIME_NULL;
        if (cases[i].time)
            assert_int_equal(pgtime_parse(cases[i].time, strlen(cases[i].time), &t), 0);
        entity_id_hex(t, cases[i].id, strlen(cases[i].id), hex);
        assert_string_equal(hex, cases[i].want);
    }
    /* ids sort as their events' times do, to the millisecond */
    char earlier[33], later[33];
    entity_id_hex(INT64_C(789000000000000), "zzz", 3, earlier);
    entity_id_hex(INT64_C(789000000001000), "aaa", 3, later);
    assert_true(strcmp(earlier, later) < 0);
    /* the binary form is the hex one's bytes */
    uint8_t d[16];
    entity_id_digest(INT64_C(789000000000000), "zzz", 3, d);
    for (int i = 0; i < 16; i++) {
        unsigned byte;
        assert_int_equal(sscanf(earlier + 2 * i, "%2x", &byte), 1);
        assert_int_equal(d[i], byte);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(md5_vectors),
        cmocka_unit_test(entity_ids),
        cmocka_unit_test(pgtime_round_trips),
        cmocka_unit_test(idtab_interns),
        cmocka_unit_test(uf_sets),
        cmocka_unit_test(arena_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
