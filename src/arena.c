/* arena — bump allocation of strings in large chunks (see arena.h). */
#include "arena.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Chunks start small, for the many small graphs of incremental batches, and
 * double up to a size that makes their count irrelevant for large ones. */
#define FIRST_CHUNK_BYTES (64u << 10)
#define MAX_CHUNK_BYTES   (4u << 20)

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    char data[];
} chunk;

struct arena {
    chunk *head;
    size_t bytes;
};

arena *arena_new(void)
{
    return xcalloc(1, sizeof(arena));
}

void *arena_alloc(arena *a, size_t n)
{
    chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = c ? c->size * 2 : FIRST_CHUNK_BYTES;
        if (size > MAX_CHUNK_BYTES)
            size = MAX_CHUNK_BYTES;
        if (size < n)
            size = n;
        c = xmalloc(sizeof(chunk) + size);
        c->used = 0;
        c->size = size;
        c->next = a->head;
        a->head = c;
        a->bytes += sizeof(chunk) + size;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

size_t arena_bytes(const arena *a)
{
    return a->bytes;
}

void arena_free(arena *a)
{
    if (!a)
        return;
    chunk *c = a->head;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}
