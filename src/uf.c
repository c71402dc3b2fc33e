/* uf — union-find with path halving and union by rank (see uf.h). */
#include "uf.h"

#include "util.h"

#include <stdlib.h>

struct uf {
    uint32_t *parent;
    uint8_t *rank;
    size_t n, cap;
};

uf *uf_new(size_t expected)
{
    uf *u = xcalloc(1, sizeof *u);
    u->cap = expected > 16 ? expected : 16;
    u->parent = xmalloc(u->cap * sizeof *u->parent);
    u->rank = xmalloc(u->cap);
    return u;
}

void uf_free(uf *u)
{
    if (!u)
        return;
    free(u->parent);
    free(u->rank);
    free(u);
}

uint32_t uf_add(uf *u)
{
    if (u->n == u->cap) {
        u->cap *= 2;
        u->parent = xrealloc(u->parent, u->cap * sizeof *u->parent);
        u->rank = xrealloc(u->rank, u->cap);
    }
    uint32_t x = (uint32_t)u->n++;
    u->parent[x] = x;
    u->rank[x] = 0;
    return x;
}

uint32_t uf_count(const uf *u)
{
    return (uint32_t)u->n;
}

uint32_t uf_find(uf *u, uint32_t x)
{
    uint32_t *p = u->parent;
    while (p[x] != x) {
        p[x] = p[p[x]];
        x = p[x];
    }
    return x;
}

uint32_t uf_union(uf *u, uint32_t a, uint32_t b)
{
    a = uf_find(u, a);
    b = uf_find(u, b);
    if (a == b)
        return a;
    if (u->rank[a] < u->rank[b]) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    u->parent[b] = a;
    if (u->rank[a] == u->rank[b])
        u->rank[a]++;
    return a;
}

size_t uf_bytes(const uf *u)
{
    return u->cap * (sizeof *u->parent + 1);
}
