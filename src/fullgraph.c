/*
 * fullgraph — identifiers in memory, events in a spill file (see fullgraph.h).
 *
 * Memory per distinct identifier: its record in an arena (attribute and
 * length as varints, then the bytes), a pointer to it, 8-byte hash slots at
 * most 3/4 full and 5 bytes of union-find while events arrive; afterwards
 * the slots and the union-find give way to a component number per
 * identifier (then its entity's rank by id) and 40 bytes per component
 * (earliest event's time, its offset in the file, the bytes of its events'
 * records, the entity id), plus the
 * ranking (4 bytes per entity) and the identifiers' order for writing (4
 * bytes per identifier, freed with their strings). (idtab's 16-byte entries
 * and NULs would add about 10 bytes per identifier to the 84 measured at 10M
 * events.)
 *
 * Spill record: varint id length, id bytes, time (8 bytes), first
 * identifier (4 bytes, NONE without identifiers), in native byte order: the
 * file lives and dies with the process. The sorted file (fg_sort_events)
 * holds the same records with the entity's rank in place of the identifier.
 */
#include "fullgraph.h"

#include "arena.h"
#include "entityid.h"
#include "md5.h"
#include "stitchcore.h"
#include "uf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define NONE             UINT32_MAX
#define UNSET            UINT64_MAX
#define IO_BYTES         (1u << 20)
#define SORT_BYTES       (32u << 20) /* see "the events by entity" */
#define SORT_WRITE_BYTES (8u << 20)

typedef struct sorter sorter;
static void sorter_free(fg *g);

typedef struct component {
    int64_t time;    /* of the earliest event */
    uint64_t off;    /* the earliest event's record in the spill file, UNSET before one */
    uint64_t weight; /* the bytes of its events' records */
    uint8_t id[16];
} component;

/* A sequential reader of a file's region [base, size). */
typedef struct reader {
    int fd;
    uint8_t *buf;
    size_t cap, start, end; /* unread bytes are buf[start, end) */
    uint64_t base;          /* file offset of buf[0] */
    uint64_t size;
} reader;

typedef struct record {
    const char *id;
    size_t len;
    int64_t time;
    uint32_t ident; /* the first identifier; in the sorted file, the entity's rank */
    uint64_t off;
} record;

struct fg {
    int fd;
    char *dir;
    uint8_t *wbuf; /* written records not yet in the file */
    size_t wlen;
    uint64_t spilled; /* bytes in the file */
    /* the current event */
    char *cur_id;
    size_t cur_len, cur_cap;
    int64_t cur_time;
    uint32_t cur_first;
    bool has_cur;
    uint64_t nev;
    /* identifiers */
    arena *strings;
    const uint8_t **rec;
    size_t rec_cap;
    uint32_t nid;
    uint64_t *slots; /* 0 = empty; else (fingerprint << 32) | (index + 1) */
    size_t nslots;
    uf *sets;
    /* after fg_resolve */
    uint32_t *comp_of; /* per identifier: its component, then its entity's rank */
    component *comps;
    uint32_t ncomps;
    component *lone; /* events without identifiers: entities of their own */
    size_t nlone, lone_cap;
    uint32_t *by_id;       /* entity rank -> component (< ncomps) or ncomps + lone event */
    uint32_t *ident_order; /* the identifiers grouped by entity, in rank order */
    component *sorted;     /* every entity in id order, once asked for */
    const uint8_t **first; /* their earliest events' ids (varint length, bytes) */
    arena *first_ids;
    uint8_t *scratch; /* an earlier event's id, read back for a tie */
    size_t scratch_cap;
    size_t sort_bytes; /* the largest chunk of events sorted by entity in memory */
    sorter *sort;      /* the events by entity, between fg_sort_events and fg_each_event */
};

/* ---- varints and records ----------------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decodes at most avail bytes; returns the bytes used, 0 if cut short. */
static size_t get_varint(const uint8_t *p, size_t avail, uint64_t *v)
{
    uint64_t x = 0;
    *v = 0;
    for (size_t n = 0; n < avail && n < 10; n++) {
        x |= (uint64_t)(p[n] & 0x7f) << (7 * n);
        if (!(p[n] & 0x80)) {
            *v = x;
            return n + 1;
        }
    }
    return 0;
}

/* The bytes of an event's record in the spill file. */
static uint64_t record_size(size_t len)
{
    size_t n = 1;
    for (uint64_t v = len; v >= 0x80; v >>= 7)
        n++;
    return n + len + 12;
}

static const uint8_t *decode_identifier(const uint8_t *r, uint32_t *attr, size_t *len)
{
    uint64_t a, l;
    r += get_varint(r, 10, &a);
    r += get_varint(r, 10, &l);
    *attr = (uint32_t)a;
    *len = (size_t)l;
    return r;
}

static inline uint64_t hash_of(uint32_t attr, const char *v, size_t len)
{
    return XXH3_64bits_withSeed(v, len, attr);
}

/* ---- the spill file ---------------------------------------------------- */

static int io_error(const fg *g, const char *what, cps_error *err)
{
    return cps_error_set(err,
                         "%s the spill files of the full stitching pass in %s: %s (they "
                         "need up to about %llu MB there; set TMPDIR to a directory with room)",
                         what, g->dir, strerror(errno),
                         (unsigned long long)(2 * g->spilled / 1000000 + 1));
}

static int flush_writes(fg *g, cps_error *err)
{
    if (write_all(g->fd, g->wbuf, g->wlen) < 0)
        return io_error(g, "writing", err);
    g->spilled += g->wlen;
    g->wlen = 0;
    return 0;
}

static int spill_current(fg *g, cps_error *err)
{
    if (!g->has_cur)
        return 0;
    size_t need = 10 + g->cur_len + 12;
    if (g->wlen + need > IO_BYTES && flush_writes(g, err) < 0)
        return CPS_ERR;
    if (need > IO_BYTES) /* an id of a megabyte: written on its own */
        g->wbuf = xrealloc(g->wbuf, need);
    uint8_t *p = g->wbuf + g->wlen;
    size_t n = put_varint(p, g->cur_len);
    memcpy(p + n, g->cur_id, g->cur_len);
    n += g->cur_len;
    memcpy(p + n, &g->cur_time, 8);
    memcpy(p + n + 8, &g->cur_first, 4);
    g->wlen += n + 12;
    g->has_cur = false;
    return 0;
}

static void reader_open(reader *r, int fd, uint64_t from, uint64_t to)
{
    *r = (reader){.fd = fd, .cap = IO_BYTES, .base = from, .size = to};
    r->buf = xmalloc(r->cap);
}

/* Make at least need unread bytes available (fewer only at the end of the region). */
static int reader_fill(reader *r, size_t need, const fg *g, cps_error *err)
{
    if (r->end - r->start >= need)
        return 0;
    memmove(r->buf, r->buf + r->start, r->end - r->start);
    r->base += r->start;
    r->end -= r->start;
    r->start = 0;
    if (need > r->cap) {
        r->cap = need;
        r->buf = xrealloc(r->buf, r->cap);
    }
    while (r->end < need && r->base + r->end < r->size) {
        size_t want = r->cap - r->end;
        if (want > r->size - (r->base + r->end))
            want = (size_t)(r->size - (r->base + r->end));
        ssize_t n = pread(r->fd, r->buf + r->end, want, (off_t)(r->base + r->end));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return io_error(g, "reading", err);
        }
        r->end += (size_t)n;
    }
    return 0;
}

/* The record at p, of avail bytes: its size, 0 if cut short. */
static size_t decode_record(const uint8_t *p, size_t avail, record *out)
{
    uint64_t len;
    size_t h = get_varint(p, avail, &len);
    if (h == 0 || avail - h < 12 || len > avail - h - 12)
        return 0;
    out->id = (const char *)p + h;
    out->len = (size_t)len;
    memcpy(&out->time, p + h + len, 8);
    memcpy(&out->ident, p + h + len + 8, 4);
    return h + (size_t)len + 12;
}

/* The next record: 1, or 0 at the end. */
static int reader_next(reader *r, record *out, const fg *g, cps_error *err)
{
    if (reader_fill(r, 10, g, err) < 0)
        return CPS_ERR;
    if (r->start == r->end)
        return 0;
    uint64_t len;
    size_t h = get_varint(r->buf + r->start, r->end - r->start, &len);
    if (h && reader_fill(r, h + (size_t)len + 12, g, err) < 0)
        return CPS_ERR;
    size_t n = h ? decode_record(r->buf + r->start, r->end - r->start, out) : 0;
    if (n == 0) {
        errno = EIO; /* cut short: the file is not what was written */
        return io_error(g, "reading", err);
    }
    out->off = r->base + r->start;
    r->start += n;
    return 1;
}

/* The id of the event recorded at off, into g->scratch. */
static int read_id_at(fg *g, uint64_t off, size_t *len, cps_error *err)
{
    size_t want = 64;
    for (;;) {
        xgrow((void **)&g->scratch, &g->scratch_cap, want, 1);
        ssize_t n = pread(g->fd, g->scratch, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        uint64_t l;
        size_t h = n > 0 ? get_varint(g->scratch, (size_t)n, &l) : 0;
        if (h == 0) {
            errno = n < 0 ? errno : EIO;
            return io_error(g, "reading", err);
        }
        if (h + l <= (uint64_t)n) {
            memmove(g->scratch, g->scratch + h, (size_t)l);
            *len = (size_t)l;
            return 0;
        }
        if ((uint64_t)n < want) {
            errno = EIO;
            return io_error(g, "reading", err);
        }
        want = h + (size_t)l;
    }
}

/* ---- building ---------------------------------------------------------- */

fg *fg_new(const char *dir, size_t expected_identifiers, cps_error *err)
{
    int fd = temp_file(dir, "the spill file of the full stitching pass", err);
    if (fd < 0)
        return NULL;
    fg *g = xcalloc(1, sizeof *g);
    g->fd = fd;
    g->dir = xstrdup(temp_dir(dir));
    g->wbuf = xmalloc(IO_BYTES);
    g->strings = arena_new();
    g->nslots = 1024;
    while (g->nslots * 3 / 4 < expected_identifiers)
        g->nslots *= 2;
    g->slots = xcalloc(g->nslots, sizeof *g->slots);
    g->sets = uf_new(expected_identifiers);
    g->sort_bytes = SORT_BYTES;
    return g;
}

void fg_free(fg *g)
{
    if (!g)
        return;
    close(g->fd);
    free(g->dir);
    free(g->wbuf);
    free(g->cur_id);
    arena_free(g->strings);
    free(g->rec);
    free(g->slots);
    uf_free(g->sets);
    free(g->comp_of);
    free(g->comps);
    free(g->lone);
    free(g->by_id);
    free(g->ident_order);
    free(g->sorted);
    free(g->first);
    arena_free(g->first_ids);
    free(g->scratch);
    sorter_free(g);
    free(g);
}

int fg_add_event(fg *g, const char *id, size_t len, int64_t time, cps_error *err)
{
    if (spill_current(g, err) < 0)
        return CPS_ERR;
    xgrow((void **)&g->cur_id, &g->cur_cap, len + 1, 1);
    memcpy(g->cur_id, id, len);
    g->cur_len = len;
    g->cur_time = time;
    g->cur_first = NONE;
    g->has_cur = true;
    g->nev++;
    return 0;
}

bool fg_is_current(const fg *g, const char *id, size_t len)
{
    return g->has_cur && g->cur_len == len && memcmp(g->cur_id, id, len) == 0;
}

static void grow_slots(fg *g)
{
    size_t n = g->nslots * 2;
    uint64_t *slots = xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < g->nslots; i++) {
        uint64_t v = g->slots[i];
        if (!v)
            continue;
        uint32_t attr;
        size_t len;
        const uint8_t *s = decode_identifier(g->rec[(uint32_t)v - 1], &attr, &len);
        size_t j = hash_of(attr, (const char *)s, len) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = v;
    }
    free(g->slots);
    g->slots = slots;
    g->nslots = n;
}

static uint32_t intern(fg *g, uint32_t attr, const char *v, size_t len)
{
    uint64_t h = hash_of(attr, v, len);
    uint32_t fp = (uint32_t)(h >> 32);
    size_t mask = g->nslots - 1, j = h & mask;
    for (uint64_t s; (s = g->slots[j]); j = (j + 1) & mask) {
        if ((uint32_t)(s >> 32) != fp)
            continue;
        uint32_t a;
        size_t l;
        const uint8_t *b = decode_identifier(g->rec[(uint32_t)s - 1], &a, &l);
        if (a == attr && l == len && memcmp(b, v, len) == 0)
            return (uint32_t)s - 1;
    }
    if ((size_t)g->nid + 1 > g->nslots * 3 / 4) {
        grow_slots(g);
        mask = g->nslots - 1;
        for (j = h & mask; g->slots[j]; j = (j + 1) & mask)
            ;
    }
    if (g->nid == g->rec_cap) {
        g->rec_cap = g->rec_cap ? g->rec_cap + g->rec_cap / 2 : 1024;
        g->rec = xrealloc(g->rec, g->rec_cap * sizeof *g->rec);
    }
    uint8_t head[20];
    size_t n = put_varint(head, attr);
    n += put_varint(head + n, len);
    uint8_t *r = arena_alloc(g->strings, n + len);
    memcpy(r, head, n);
    memcpy(r + n, v, len);
    uint32_t i = g->nid++;
    g->rec[i] = r;
    uf_add(g->sets);
    g->slots[j] = ((uint64_t)fp << 32) | ((uint64_t)i + 1);
    return i;
}

void fg_add_identifier(fg *g, uint32_t attr, const char *value, size_t len)
{
    uint32_t i = intern(g, attr, value, len);
    if (g->cur_first == NONE)
        g->cur_first = i;
    else
        uf_union(g->sets, g->cur_first, i);
}

/* ---- resolving --------------------------------------------------------- */

static const component *entity_at(const fg *g, uint32_t x)
{
    return x < g->ncomps ? &g->comps[x] : &g->lone[x - g->ncomps];
}

static int compare_entities(const void *a, const void *b, void *arg)
{
    const fg *g = arg;
    return memcmp(entity_at(g, *(const uint32_t *)a)->id, entity_at(g, *(const uint32_t *)b)->id,
                  16);
}

/* Rank the entities by id, and group the identifiers by entity in that order:
 * PostgreSQL then builds the identifiers' entity index from presorted rows
 * (entity ids are hex, in the same order in every collation). Each
 * identifier's component number becomes its entity's rank. */
static void rank_entities(fg *g)
{
    size_t n = (size_t)fg_entity_count(g);
    g->by_id = xmalloc((n + 1) * sizeof *g->by_id);
    for (size_t k = 0; k < n; k++)
        g->by_id[k] = (uint32_t)k;
    qsort_r(g->by_id, n, sizeof *g->by_id, compare_entities, g);

    uint32_t *count = xcalloc(n + 1, sizeof *count); /* first the rank of each component */
    for (size_t k = 0; k < n; k++)
        if (g->by_id[k] < g->ncomps)
            count[g->by_id[k]] = (uint32_t)k;
    for (uint32_t i = 0; i < g->nid; i++)
        g->comp_of[i] = count[g->comp_of[i]];
    memset(count, 0, (n + 1) * sizeof *count); /* then a counting sort by rank */
    for (uint32_t i = 0; i < g->nid; i++)
        count[g->comp_of[i] + 1]++;
    for (size_t k = 0; k < n; k++)
        count[k + 1] += count[k];
    g->ident_order = xmalloc(((size_t)g->nid + 1) * sizeof *g->ident_order);
    for (uint32_t i = 0; i < g->nid; i++)
        g->ident_order[count[g->comp_of[i]]++] = i;
    free(count);
}

/* The component of an identifier, once ranked. */
static const component *component_of(const fg *g, uint32_t ident)
{
    return entity_at(g, g->by_id[g->comp_of[ident]]);
}

/* (time, id bytes) of a record against a component's earliest event so far. */
static int earlier(fg *g, const record *e, const component *k, bool *yes, cps_error *err)
{
    *yes = k->off == UNSET || e->time < k->time;
    if (k->off == UNSET || e->time != k->time)
        return 0;
    size_t len = 0;
    if (read_id_at(g, k->off, &len, err) < 0)
        return CPS_ERR;
    *yes = sc_first_cmp(e->time, e->id, e->len, k->time, (const char *)g->scratch, len) < 0;
    return 0;
}

int fg_resolve(fg *g, cps_error *err)
{
    if (spill_current(g, err) < 0 || flush_writes(g, err) < 0)
        return CPS_ERR;
    free(g->slots);
    g->slots = NULL;
    g->nslots = 0;

    /* Number the components: roots first, then every identifier takes its root's. */
    g->comp_of = xmalloc(((size_t)g->nid + 1) * sizeof *g->comp_of);
    for (uint32_t i = 0; i < g->nid; i++)
        if (uf_find(g->sets, i) == i)
            g->comp_of[i] = g->ncomps++;
    for (uint32_t i = 0; i < g->nid; i++)
        g->comp_of[i] = g->comp_of[uf_find(g->sets, i)];
    uf_free(g->sets);
    g->sets = NULL;
    g->comps = xmalloc(((size_t)g->ncomps + 1) * sizeof *g->comps);
    for (uint32_t c = 0; c < g->ncomps; c++)
        g->comps[c] = (component){.off = UNSET};

    reader r;
    reader_open(&r, g->fd, 0, g->spilled);
    record e;
    int rc;
    while ((rc = reader_next(&r, &e, g, err)) > 0) {
        if (e.ident == NONE) {
            xgrow((void **)&g->lone, &g->lone_cap, g->nlone + 1, sizeof *g->lone);
            component *k = &g->lone[g->nlone++];
            k->time = e.time;
            k->off = e.off;
            k->weight = record_size(e.len);
            entity_id_digest(e.time, e.id, e.len, k->id);
            continue;
        }
        component *k = &g->comps[g->comp_of[e.ident]];
        k->weight += record_size(e.len);
        bool yes;
        if ((rc = earlier(g, &e, k, &yes, err)) < 0)
            break;
        if (yes) {
            k->time = e.time;
            k->off = e.off;
            entity_id_digest(e.time, e.id, e.len, k->id);
        }
    }
    free(r.buf);
    if (rc < 0)
        return CPS_ERR;
    if (fg_entity_count(g) >= UINT32_MAX) /* ranks are 32-bit, like identifiers */
        return cps_error_set(err,
                             "%llu entities are more than one full stitching pass can rank; "
                             "stitch in batches instead (queue the events)",
                             (unsigned long long)fg_entity_count(g));
    rank_entities(g);
    return 0;
}

/* ---- results ----------------------------------------------------------- */

uint64_t fg_event_count(const fg *g)
{
    return g->nev;
}

uint32_t fg_identifier_count(const fg *g)
{
    return g->nid;
}

uint64_t fg_entity_count(const fg *g)
{
    return (uint64_t)g->ncomps + g->nlone;
}

void fg_identifier(const fg *g, uint32_t i, uint32_t *attr, const char **value, size_t *len,
                   char entity[33])
{
    i = g->ident_order[i];
    *value = (const char *)decode_identifier(g->rec[i], attr, len);
    hex16(component_of(g, i)->id, entity);
}

void fg_release_identifiers(fg *g)
{
    arena_free(g->strings);
    g->strings = NULL;
    free(g->rec);
    g->rec = NULL;
    g->rec_cap = 0;
    free(g->ident_order);
    g->ident_order = NULL;
}

/* ---- the events by entity ----------------------------------------------
 *
 * PostgreSQL builds matching's index on the entity id from presorted rows
 * in a fraction of the time it takes from rows in random order (a text sort
 * without abbreviated keys is bound by cache misses). So the events are
 * streamed back grouped by entity, the entities in id order, each entity's
 * events in order of addition. The entities (weighed by fg_resolve) are cut
 * into chunks of consecutive ranks of at most sort_bytes of records; one
 * pass over the spill file copies every record into its chunk's region of a
 * second temporary file, the sorted file, with the entity's rank in place of
 * the first identifier (fg_sort_events); then each chunk is read back,
 * counting-sorted by rank in memory and streamed (fg_each_event). A chunk of
 * one entity (one heavier than sort_bytes) is streamed as it is: its events
 * are in order already. Memory: write buffers of up to SORT_WRITE_BYTES
 * while copying, then a chunk and 4 bytes per event of it (plan_chunks).
 */

typedef struct chunk {
    uint32_t lo, hi;   /* its entities' ranks: [lo, hi) */
    uint64_t at, size; /* its region of the sorted file */
    uint64_t filled;   /* bytes written to the region */
    uint8_t *buf;      /* records not yet written */
    size_t len;
} chunk;

struct sorter {
    int fd; /* the sorted file */
    chunk *chunks;
    size_t nchunks, buf_cap;
};

static void sorter_free(fg *g)
{
    sorter *t = g->sort;
    if (!t)
        return;
    for (size_t i = 0; i < t->nchunks; i++)
        free(t->chunks[i].buf);
    free(t->chunks);
    close(t->fd);
    free(t);
    g->sort = NULL;
}

/* Consecutive ranks into chunks of a sixteenth of the events' bytes, at
 * least 1 MB, at most sort_bytes (or of one heavier entity); the write
 * buffers take a sixty-fourth, at most SORT_WRITE_BYTES. */
static void plan_chunks(fg *g, sorter *t)
{
    size_t n = (size_t)fg_entity_count(g), cap = 0;
    uint64_t at = 0, limit = g->spilled / 16, buffers = g->spilled / 64;
    limit = limit < IO_BYTES ? IO_BYTES : limit > g->sort_bytes ? g->sort_bytes : limit;
    buffers = buffers > SORT_WRITE_BYTES ? SORT_WRITE_BYTES : buffers;
    for (size_t k = 0; k < n; k++) {
        uint64_t w = entity_at(g, g->by_id[k])->weight;
        chunk *c = t->nchunks ? &t->chunks[t->nchunks - 1] : NULL;
        if (!c || c->size + w > limit) {
            xgrow((void **)&t->chunks, &cap, t->nchunks + 1, sizeof *t->chunks);
            c = &t->chunks[t->nchunks++];
            *c = (chunk){.lo = (uint32_t)k, .at = at};
        }
        c->hi = (uint32_t)k + 1;
        c->size += w;
        at += w;
    }
    t->buf_cap = (size_t)buffers / (t->nchunks + 1);
    t->buf_cap = t->buf_cap < 4096 ? 4096 : t->buf_cap > IO_BYTES ? IO_BYTES : t->buf_cap;
    for (size_t i = 0; i < t->nchunks; i++)
        t->chunks[i].buf = xmalloc(t->buf_cap);
}

static int chunk_write(const fg *g, chunk *c, const void *p, size_t len, cps_error *err)
{
    if (lseek(g->sort->fd, (off_t)(c->at + c->filled), SEEK_SET) < 0 ||
        write_all(g->sort->fd, p, len) < 0)
        return io_error(g, "writing", err);
    c->filled += len;
    return 0;
}

/* The chunk of a rank: the last one starting at or before it. */
static chunk *chunk_of(const sorter *t, uint32_t rank)
{
    size_t lo = 0, hi = t->nchunks;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->chunks[mid].lo <= rank)
            lo = mid;
        else
            hi = mid;
    }
    return &t->chunks[lo];
}

/* Every record into its chunk's region, its first identifier replaced by its rank. */
static int distribute(fg *g, cps_error *err)
{
    sorter *t = g->sort;
    uint32_t *lone_rank = xmalloc((g->nlone + 1) * sizeof *lone_rank);
    for (size_t k = 0; k < (size_t)fg_entity_count(g); k++)
        if (g->by_id[k] >= g->ncomps)
            lone_rank[g->by_id[k] - g->ncomps] = (uint32_t)k;
    reader r;
    reader_open(&r, g->fd, 0, g->spilled);
    record e;
    int rc;
    size_t lone = 0;
    while ((rc = reader_next(&r, &e, g, err)) > 0) {
        uint32_t rank = e.ident == NONE ? lone_rank[lone++] : g->comp_of[e.ident];
        chunk *c = chunk_of(t, rank);
        const uint8_t *p = r.buf + (e.off - r.base); /* the record as read */
        size_t size = (size_t)record_size(e.len);
        if (c->len + size > t->buf_cap) {
            if ((rc = chunk_write(g, c, c->buf, c->len, err)) < 0)
                break;
            c->len = 0;
        }
        if (size > t->buf_cap) { /* a long id: written on its own */
            if ((rc = chunk_write(g, c, p, size - 4, err)) < 0 ||
                (rc = chunk_write(g, c, &rank, 4, err)) < 0)
                break;
            continue;
        }
        memcpy(c->buf + c->len, p, size - 4);
        memcpy(c->buf + c->len + size - 4, &rank, 4);
        c->len += size;
    }
    free(r.buf);
    free(lone_rank);
    for (size_t i = 0; rc == 0 && i < t->nchunks; i++) {
        chunk *c = &t->chunks[i];
        rc = chunk_write(g, c, c->buf, c->len, err);
        free(c->buf);
        c->buf = NULL;
        if (rc == 0 && c->filled != c->size) {
            errno = EIO; /* the records are not what fg_resolve weighed */
            rc = io_error(g, "writing", err);
        }
    }
    return rc;
}

int fg_sort_events(fg *g, cps_error *err)
{
    if (!g->comps)
        return cps_error_set(err, "fullgraph: the events are sorted before the entities");
    if (g->sort)
        return 0;
    int fd = temp_file(g->dir, "the sorted file of the full stitching pass", err);
    if (fd < 0)
        return CPS_ERR;
    g->sort = xcalloc(1, sizeof *g->sort);
    g->sort->fd = fd;
    plan_chunks(g, g->sort);
    int rc = distribute(g, err);
    if (rc < 0)
        sorter_free(g);
    return rc;
}

static int emit(const fg *g, const record *e, uint32_t *last, char hex[33], fg_event_fn fn,
                void *arg, cps_error *err)
{
    if (e->ident != *last) {
        *last = e->ident;
        hex16(entity_at(g, g->by_id[e->ident])->id, hex);
    }
    return fn(arg, e->id, e->len, e->time, hex, err);
}

/* One chunk of several entities: read whole, counting-sorted by rank, streamed. */
static int each_in_chunk(const fg *g, const chunk *c, reader *r, uint32_t *last, char hex[33],
                         fg_event_fn fn, void *arg, cps_error *err)
{
    int rc = reader_fill(r, (size_t)c->size, g, err);
    uint32_t *count = xcalloc((size_t)(c->hi - c->lo) + 1, sizeof *count);
    size_t nrec = 0, at, size;
    record e;
    for (at = 0; rc == 0 && at < r->end; at += size) {
        size = decode_record(r->buf + at, r->end - at, &e);
        if (size == 0 || e.ident < c->lo || e.ident >= c->hi) {
            errno = EIO;
            rc = io_error(g, "reading", err);
            break;
        }
        count[e.ident - c->lo + 1]++;
        nrec++;
    }
    for (size_t k = 0; k < c->hi - c->lo; k++)
        count[k + 1] += count[k];
    uint32_t *order = xmalloc((nrec + 1) * sizeof *order);
    for (at = 0; rc == 0 && at < r->end; at += size) {
        size = decode_record(r->buf + at, r->end - at, &e);
        order[count[e.ident - c->lo]++] = (uint32_t)at;
    }
    for (size_t j = 0; rc == 0 && j < nrec; j++) {
        decode_record(r->buf + order[j], r->end - order[j], &e);
        rc = emit(g, &e, last, hex, fn, arg, err);
    }
    free(order);
    free(count);
    return rc;
}

void fg_set_sort_bytes(fg *g, size_t bytes)
{
    g->sort_bytes = bytes;
}

int fg_each_event(fg *g, fg_event_fn fn, void *arg, cps_error *err)
{
    if (fg_sort_events(g, err) < 0)
        return CPS_ERR;
    const sorter *t = g->sort;
    int rc = 0;
    uint32_t last = NONE;
    char hex[33];
    for (size_t i = 0; rc == 0 && i < t->nchunks; i++) {
        const chunk *c = &t->chunks[i];
        reader r;
        reader_open(&r, t->fd, c->at, c->at + c->size);
        if (c->hi - c->lo > 1)
            rc = each_in_chunk(g, c, &r, &last, hex, fn, arg, err);
        else { /* one entity: in order already */
            record e;
            while ((rc = reader_next(&r, &e, g, err)) > 0 &&
                   (rc = emit(g, &e, &last, hex, fn, arg, err)) == 0)
                ;
        }
        free(r.buf);
    }
    sorter_free(g);
    return rc;
}

/* Every entity in id order, built once; the components and the identifiers'
 * ranks give way to it (their memory serves the next step). */
static void sort_entities(fg *g)
{
    if (g->sorted)
        return;
    size_t n = (size_t)fg_entity_count(g);
    g->sorted = xmalloc((n + 1) * sizeof *g->sorted);
    for (size_t k = 0; k < n; k++)
        g->sorted[k] = *entity_at(g, g->by_id[k]);
    free(g->by_id);
    g->by_id = NULL;
    free(g->comps);
    g->comps = NULL;
    free(g->lone);
    g->lone = NULL;
    g->lone_cap = 0;
    free(g->comp_of);
    g->comp_of = NULL;
}

typedef struct place {
    uint64_t off;
    uint64_t k;
} place;

static int compare_places(const void *a, const void *b)
{
    uint64_t x = ((const place *)a)->off, y = ((const place *)b)->off;
    return x < y ? -1 : x > y;
}

/* The entities' earliest event ids, gathered in one sequential pass over the
 * file: a read at each entity's offset would cost a disk seek apiece once the
 * file has left the page cache. */
int fg_gather_entities(fg *g, cps_error *err)
{
    if (g->first)
        return 0;
    sort_entities(g);
    size_t n = (size_t)fg_entity_count(g);
    place *at = xmalloc((n + 1) * sizeof *at);
    for (size_t k = 0; k < n; k++)
        at[k] = (place){g->sorted[k].off, k};
    qsort(at, n, sizeof *at, compare_places);
    g->first = xcalloc(n + 1, sizeof *g->first);
    g->first_ids = arena_new();
    reader r;
    reader_open(&r, g->fd, 0, g->spilled);
    record e;
    size_t j = 0;
    int rc = 0;
    while (j < n && (rc = reader_next(&r, &e, g, err)) > 0) {
        if (e.off != at[j].off)
            continue;
        uint8_t head[10];
        size_t h = put_varint(head, e.len);
        uint8_t *p = arena_alloc(g->first_ids, h + e.len);
        memcpy(p, head, h);
        memcpy(p + h, e.id, e.len);
        g->first[at[j++].k] = p;
    }
    free(r.buf);
    free(at);
    if (rc < 0)
        return CPS_ERR;
    if (j < n) {
        errno = EIO; /* an entity's first event is not where it was */
        return io_error(g, "reading", err);
    }
    return 0;
}

int fg_each_entity(fg *g, fg_event_fn fn, void *arg, cps_error *err)
{
    if (fg_gather_entities(g, err) < 0)
        return CPS_ERR;
    size_t n = (size_t)fg_entity_count(g);
    char hex[33];
    for (size_t k = 0; k < n; k++) {
        const component *c = &g->sorted[k];
        uint64_t len;
        size_t h = get_varint(g->first[k], 10, &len);
        hex16(c->id, hex);
        int rc = fn(arg, (const char *)g->first[k] + h, (size_t)len, c->time, hex, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void fg_entity_id(fg *g, uint64_t k, char out[33])
{
    sort_entities(g);
    hex16(g->sorted[k].id, out);
}

size_t fg_bytes(const fg *g)
{
    return IO_BYTES + g->cur_cap + (g->strings ? arena_bytes(g->strings) : 0) +
           g->rec_cap * sizeof *g->rec + g->nslots * sizeof *g->slots +
           (g->sets ? uf_bytes(g->sets) : 0) +
           (g->comp_of ? (size_t)g->nid * sizeof *g->comp_of : 0) +
           (g->by_id ? (size_t)fg_entity_count(g) * sizeof *g->by_id : 0) +
           (g->ident_order ? (size_t)g->nid * sizeof *g->ident_order : 0) +
           (g->comps ? (size_t)g->ncomps * sizeof *g->comps : 0) + g->lone_cap * sizeof *g->lone +
           (g->sorted ? (size_t)fg_entity_count(g) * sizeof *g->sorted : 0) +
           (g->first ? (size_t)fg_entity_count(g) * sizeof *g->first : 0) +
           (g->first_ids ? arena_bytes(g->first_ids) : 0) + g->scratch_cap;
}

uint64_t fg_spill_bytes(const fg *g)
{
    return g->spilled;
}
