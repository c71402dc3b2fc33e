/* copyfmt — encode and decode COPY text rows (see copyfmt.h). */
#include "copyfmt.h"

#include "pgtime.h"

#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode the escape starting after a backslash at line[*i]; advances *i. */
static char decode_escape(const char *line, size_t end, size_t *i)
{
    char e = line[(*i)++];
    switch (e) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'v':
        return '\v';
    case 'x': {
        int v = 0, k = 0, h;
        while (k < 2 && *i < end && (h = hexval(line[*i])) >= 0) {
            v = v * 16 + h;
            (*i)++;
            k++;
        }
        return k ? (char)v : 'x';
    }
    default:
        if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 1; k < 3 && *i < end && line[*i] >= '0' && line[*i] <= '7'; k++)
                v = v * 8 + (line[(*i)++] - '0');
            return (char)v;
        }
        return e;
    }
}

int copy_decode_row(char *line, size_t len, char **fields, size_t *lens, int max)
{
    size_t end = len;
    if (end > 0 && line[end - 1] == '\n')
        end--;
    int n = 0;
    size_t i = 0;
    for (;;) {
        if (n >= max)
            return -1;
        if (end - i >= 2 && line[i] == '\\' && line[i + 1] == 'N' &&
            (i + 2 == end || line[i + 2] == '\t')) {
            fields[n] = NULL;
            lens[n] = 0;
            i += 2;
        } else {
            size_t start = i, out = i;
            while (i < end && line[i] != '\t') {
                char c = line[i++];
                if (c == '\\' && i < end)
                    c = decode_escape(line, end, &i);
                line[out++] = c;
            }
            fields[n] = line + start;
            lens[n] = out - start;
            if (i == end) {
                line[out] = '\0'; /* out <= end <= len: the caller's NUL slot at worst */
                return n + 1;
            }
            line[out] = '\0'; /* out <= i, and line[i] is the tab we step over next */
        }
        n++;
        if (i >= end)
            return n;
        i++; /* the tab */
    }
}

void copy_encode_field(strbuf *out, const char *s, size_t len)
{
    if (!s) {
        sb_appendn(out, "\\N", 2);
        return;
    }
    sb_reserve(out, len + 16);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        const char *esc = NULL;
        switch (c) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        sb_appendn(out, s + run, i - run);
        sb_appendn(out, esc, 2);
        run = i + 1;
    }
    sb_appendn(out, s + run, len - run);
}

/* ---- binary format ------------------------------------------------------ */

static void put_be(strbuf *out, uint64_t v, int bytes)
{
    char b[8];
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        b[i] = (char)(v & 0xff);
    sb_appendn(out, b, (size_t)bytes);
}

void copy_bin_header(strbuf *out)
{
    /* signature, flags (no OIDs), header extension length */
    sb_appendn(out, "PGCOPY\n\377\r\n\0", 11);
    put_be(out, 0, 4);
    put_be(out, 0, 4);
}

size_t copy_bin_row(strbuf *out)
{
    size_t at = out->len;
    put_be(out, 0, 2);
    return at;
}

void copy_bin_row_end(strbuf *out, size_t row, int nfields)
{
    out->buf[row] = (char)((nfields >> 8) & 0xff);
    out->buf[row + 1] = (char)(nfields & 0xff);
}

void copy_bin_field(strbuf *out, const char *s, size_t len)
{
    if (!s) {
        put_be(out, UINT32_MAX, 4);
        return;
    }
    put_be(out, (uint32_t)len, 4);
    sb_appendn(out, s, len);
}

void copy_bin_int8(strbuf *out, int64_t v)
{
    put_be(out, 8, 4);
    put_be(out, (uint64_t)v, 8);
}

void copy_bin_timestamp(strbuf *out, int64_t t)
{
    if (t == PGTIME_NULL) {
        put_be(out, UINT32_MAX, 4);
        return;
    }
    copy_bin_int8(out, t == PGTIME_INFINITY ? INT64_MAX : t);
}

void copy_bin_trailer(strbuf *out)
{
    put_be(out, UINT16_MAX, 2);
}

static uint64_t get_be(const char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

int copy_bin_decode_row(char *msg, size_t len, bool *header, char **fields, size_t *lens, int max)
{
    size_t at = 0;
    if (*header) {
        if (len < 19 || memcmp(msg, "PGCOPY\n\377\r\n\0", 11) != 0)
            return -1;
        uint64_t ext = get_be(msg + 15, 4);
        if (ext > len - 19)
            return -1;
        at = 19 + (size_t)ext;
        *header = false;
    }
    if (len - at < 2)
        return -1;
    uint64_t n = get_be(msg + at, 2);
    at += 2;
    if (n == UINT16_MAX) /* the trailer */
        return at == len ? 0 : -1;
    if (n > (uint64_t)max)
        return -1;
    /* a field's NUL goes where the next field's length was: after reading it */
    char *nul = NULL;
    for (size_t i = 0; i < n; i++) {
        if (len - at < 4)
            return -1;
        uint64_t flen = get_be(msg + at, 4);
        at += 4;
        if (nul)
            *nul = '\0';
        nul = NULL;
        if (flen == UINT32_MAX) {
            fields[i] = NULL;
            lens[i] = 0;
            continue;
        }
        if (flen > len - at)
            return -1;
        fields[i] = msg + at;
        lens[i] = (size_t)flen;
        at += (size_t)flen;
        nul = msg + at;
    }
    if (at != len)
        return -1;
    if (nul)
        *nul = '\0'; /* msg[len] at most */
    return (int)n;
}

int copy_bin_get_int(const char *f, size_t len, int64_t *v)
{
    switch (len) {
    case 1:
        *v = (unsigned char)f[0];
        return 0;
    case 2:
        *v = (int16_t)get_be(f, 2);
        return 0;
    case 4:
        *v = (int32_t)get_be(f, 4);
        return 0;
    case 8:
        *v = (int64_t)get_be(f, 8);
        return 0;
    default:
        return -1;
    }
}

int copy_bin_get_timestamp(const char *f, size_t len, int64_t *t)
{
    if (!f) {
        *t = PGTIME_NULL;
        return 0;
    }
    if (len != 8)
        return -1;
    int64_t v = (int64_t)get_be(f, 8);
    *t = v == INT64_MAX ? PGTIME_INFINITY : v; /* -infinity is INT64_MIN in both */
    return 0;
}
