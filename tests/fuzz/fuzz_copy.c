/*
 * fuzz_copy — the COPY text decoder and encoder.
 *
 * 1. copy_decode_row on an arbitrary line, in a buffer of exactly len + 1
 *    bytes (the NUL slot the header asks for), so that any access beyond it
 *    is caught: every field lies inside the line, ends in a NUL, and equals
 *    what a plain (not in-place) decoder written from the header makes of it.
 * 2. The round trip: the input cut at NUL bytes into fields (the first byte
 *    says which are NULL), each encoded with copy_encode_field and joined by
 *    tabs, decodes back to the same fields; the encoding has no raw tab,
 *    newline or carriage return.
 * 3. copy_bin_decode_row on arbitrary bytes (with or without the header
 *    expected): a row's fields lie inside the message and end in a NUL; and
 *    the same fields written with copy_bin_field (after a header for odd
 *    sizes) decode back to themselves.
 */
#include "fuzz.h"

#include "copyfmt.h"

#include <string.h>

#define MAX_FIELDS 64

/* A reference decoder of one field's text [s, s + n) into out; returns its length. */
static size_t ref_field(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i++];
        if (c != '\\' || i == n) {
            out[o++] = c;
            continue;
        }
        char e = s[i++];
        const char *simple = strchr("b\bf\fn\nr\rt\tv\v", e);
        if (e && simple && (simple - "b\bf\fn\nr\rt\tv\v") % 2 == 0) {
            out[o++] = simple[1];
        } else if (e == 'x' && i < n && strchr("0123456789abcdefABCDEF", s[i]) && s[i]) {
            int v = 0;
            for (int k = 0; k < 2 && i < n && s[i] && strchr("0123456789abcdefABCDEF", s[i]);
                 k++, i++)
                v = v * 16 + (s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
            out[o++] = (char)v;
        } else if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 1; k < 3 && i < n && s[i] >= '0' && s[i] <= '7'; k++, i++)
                v = v * 8 + (s[i] - '0');
            out[o++] = (char)v;
        } else {
            out[o++] = e;
        }
    }
    return o;
}

/* The reference's split of a line into fields: at tabs not preceded by an
 * escaping backslash. Returns the number of fields (up to max + 1). */
static int ref_row(const char *line, size_t len, char **fields, size_t *lens, char *store, int max)
{
    size_t end = len && line[len - 1] == '\n' ? len - 1 : len;
    int n = 0;
    size_t start = 0, o = 0;
    for (size_t i = 0;; i++) {
        if (i < end && line[i] == '\\' && i + 1 < end) {
            i++;
            continue;
        }
        if (i < end && line[i] != '\t')
            continue;
        if (n > max)
            return n;
        if (i - start == 2 && line[start] == '\\' && line[start + 1] == 'N') {
            fields[n] = NULL;
            lens[n] = 0;
        } else {
            fields[n] = store + o;
            lens[n] = ref_field(line + start, i - start, store + o);
            o += lens[n];
        }
        n++;
        if (i >= end)
            return n;
        start = i + 1;
    }
}

static void check_decode(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    char *copy = malloc(size + 1);
    char *store = malloc(size + 1);
    memcpy(line, data, size);
    memcpy(copy, data, size);
    line[size] = 'Z'; /* the decoder may write here, never read before writing */
    char *fields[MAX_FIELDS], *ref[MAX_FIELDS + 1];
    size_t lens[MAX_FIELDS], rlens[MAX_FIELDS + 1];
    int n = copy_decode_row(line, size, fields, lens, MAX_FIELDS);
    int rn = ref_row(copy, size, ref, rlens, store, MAX_FIELDS);
    if (rn > MAX_FIELDS) {
        fuzz_check(n == -1, "too many fields is -1");
    } else {
        fuzz_check(n == rn, "field count agrees with the reference");
        for (int i = 0; i < n; i++) {
            fuzz_check((fields[i] == NULL) == (ref[i] == NULL), "NULL agrees with the reference");
            if (!fields[i])
                continue;
            fuzz_check(fields[i] >= line && fields[i] + lens[i] <= line + size,
                       "a field lies inside the line");
            fuzz_check(fields[i][lens[i]] == '\0', "a field ends in a NUL");
            fuzz_check(lens[i] == rlens[i] && !memcmp(fields[i], ref[i], lens[i]),
                       "field bytes agree with the reference");
        }
    }
    free(line);
    free(copy);
    free(store);
}

/* The input cut at NUL bytes into fields (the first byte says which are NULL). */
static int cut_fields(const uint8_t *data, size_t size, const char **in, size_t *inlen)
{
    unsigned nullmask = data[0];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    int n = 0;
    while (n < MAX_FIELDS) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        const char *stop = nul ? nul : end;
        bool is_null = n < 8 && (nullmask >> n & 1);
        in[n] = is_null ? NULL : p;
        inlen[n] = is_null ? 0 : (size_t)(stop - p);
        n++;
        if (!nul)
            break;
        p = nul + 1;
    }
    return n;
}

/* A round trip's decoded fields against the fields it started from. */
static void check_same(char **fields, const size_t *lens, int n, const char **in,
                       const size_t *inlen, int want)
{
    fuzz_check(n == want, "the round trip keeps the field count");
    for (int i = 0; i < n; i++) {
        fuzz_check((fields[i] == NULL) == (in[i] == NULL), "the round trip keeps NULLs");
        if (in[i])
            fuzz_check(lens[i] == inlen[i] && !memcmp(fields[i], in[i], inlen[i]),
                       "the round trip keeps the bytes");
    }
}

static void check_round_trip(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    const char *in[MAX_FIELDS];
    size_t inlen[MAX_FIELDS];
    int n = cut_fields(data, size, in, inlen);
    strbuf row = STRBUF_INIT;
    for (int i = 0; i < n; i++) {
        if (i)
            sb_appendc(&row, '\t');
        size_t before = row.len;
        copy_encode_field(&row, in[i], inlen[i]);
        const char *enc = row.buf + before;
        size_t enclen = row.len - before;
        fuzz_check(!memchr(enc, '\t', enclen) && !memchr(enc, '\n', enclen) &&
                       !memchr(enc, '\r', enclen),
                   "an encoded field has no raw tab, newline or carriage return");
    }
    if (size % 2)
        sb_appendc(&row, '\n'); /* as COPY TO sends it */
    size_t len = row.len;
    sb_reserve(&row, 1);
    char *fields[MAX_FIELDS];
    size_t lens[MAX_FIELDS];
    int got = copy_decode_row(row.buf, len, fields, lens, MAX_FIELDS);
    check_same(fields, lens, got, in, inlen, n);
    sb_free(&row);
}

static void check_binary(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    char *msg = malloc(size + 1);
    memcpy(msg, data, size);
    msg[size] = 'Z';
    bool header = data[0] & 1;
    char *fields[MAX_FIELDS];
    size_t lens[MAX_FIELDS];
    int n = copy_bin_decode_row(msg, size, &header, fields, lens, MAX_FIELDS);
    fuzz_check(n >= -1 && n <= MAX_FIELDS, "the field count is -1 or fits");
    for (int i = 0; i < n; i++)
        if (fields[i])
            fuzz_check(fields[i] >= msg && fields[i] + lens[i] <= msg + size &&
                           fields[i][lens[i]] == '\0',
                       "a binary field lies inside the message and ends in a NUL");
    free(msg);

    const char *in[MAX_FIELDS];
    size_t inlen[MAX_FIELDS];
    int want = cut_fields(data, size, in, inlen);
    strbuf row = STRBUF_INIT;
    if (size % 2)
        copy_bin_header(&row);
    size_t at = copy_bin_row(&row);
    for (int i = 0; i < want; i++)
        copy_bin_field(&row, in[i], inlen[i]);
    copy_bin_row_end(&row, at, want);
    size_t len = row.len;
    sb_reserve(&row, 1);
    header = size % 2;
    n = copy_bin_decode_row(row.buf, len, &header, fields, lens, MAX_FIELDS);
    fuzz_check(!header, "the binary round trip reads the header");
    check_same(fields, lens, n, in, inlen, want);
    sb_free(&row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    check_round_trip(data, size);
    check_binary(data, size);
    return 0;
}
