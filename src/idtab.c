/* idtab — open-addressing intern table over an arena (see idtab.h). */
#include "idtab.h"

#include "arena.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct entry {
    const char *s; /* in the arena, NUL-terminated */
    uint32_t len;
    uint32_t tag;
} entry;

struct idtab {
    entry *entries;
    size_t n, cap;   /* entries used / allocated */
    uint64_t *slots; /* 0 = empty; else (fingerprint << 32) | (index + 1) */
    size_t nslots;   /* a power of two */
    arena *strings;
};

static inline uint64_t hash_of(uint32_t tag, const char *s, size_t len)
{
    return XXH3_64bits_withSeed(s, len, tag);
}

idtab *idtab_new(size_t expected)
{
    idtab *t = xcalloc(1, sizeof *t);
    size_t n = 1024;
    while (n < expected * 2)
        n *= 2;
    t->nslots = n;
    t->slots = xcalloc(n, sizeof *t->slots);
    t->strings = arena_new();
    return t;
}

void idtab_free(idtab *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t->slots);
    arena_free(t->strings);
    free(t);
}

static void rehash(idtab *t)
{
    size_t n = t->nslots * 2;
    uint64_t *slots = xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < t->nslots; i++) {
        uint64_t v = t->slots[i];
        if (!v)
            continue;
        const entry *e = &t->entries[(uint32_t)v - 1];
        size_t j = hash_of(e->tag, e->s, e->len) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = v;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
}

/* Find the slot of (tag, s), or the empty slot where it would go. */
static inline size_t probe(const idtab *t, uint64_t h, uint32_t tag, const char *s, size_t len)
{
    uint32_t fp = (uint32_t)(h >> 32);
    size_t mask = t->nslots - 1;
    size_t j = h & mask;
    for (;;) {
        uint64_t v = t->slots[j];
        if (!v)
            return j;
        if ((uint32_t)(v >> 32) == fp) {
            const entry *e = &t->entries[(uint32_t)v - 1];
            if (e->len == len && e->tag == tag && memcmp(e->s, s, len) == 0)
                return j;
        }
        j = (j + 1) & mask;
    }
}

uint32_t idtab_intern(idtab *t, uint32_t tag, const char *s, size_t len, bool *added)
{
    uint64_t h = hash_of(tag, s, len);
    size_t j = probe(t, h, tag, s, len);
    if (t->slots[j]) {
        if (added)
            *added = false;
        return (uint32_t)t->slots[j] - 1;
    }
    if (t->n + 1 > t->nslots * 7 / 10) {
        rehash(t);
        j = probe(t, h, tag, s, len);
    }
    xgrow((void **)&t->entries, &t->cap, t->n + 1, sizeof *t->entries);
    uint32_t idx = (uint32_t)t->n++;
    t->entries[idx].s = arena_strndup(t->strings, s, len);
    t->entries[idx].len = (uint32_t)len;
    t->entries[idx].tag = tag;
    t->slots[j] = ((h >> 32) << 32) | (uint64_t)(idx + 1);
    if (added)
        *added = true;
    return idx;
}

uint32_t idtab_find(const idtab *t, uint32_t tag, const char *s, size_t len)
{
    size_t j = probe(t, hash_of(tag, s, len), tag, s, len);
    return t->slots[j] ? (uint32_t)t->slots[j] - 1 : IDTAB_NONE;
}

uint32_t idtab_count(const idtab *t)
{
    return (uint32_t)t->n;
}

const char *idtab_str(const idtab *t, uint32_t i)
{
    return t->entries[i].s;
}

size_t idtab_len(const idtab *t, uint32_t i)
{
    return t->entries[i].len;
}

uint32_t idtab_tag(const idtab *t, uint32_t i)
{
    return t->entries[i].tag;
}

size_t idtab_bytes(const idtab *t)
{
    return t->cap * sizeof(entry) + t->nslots * sizeof(uint64_t) + arena_bytes(t->strings);
}
