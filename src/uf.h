/*
 * uf — union-find (disjoint sets) over dense node numbers, with path halving
 * and union by rank: near-constant time per operation, 5 bytes per node.
 */
#ifndef CPS_UF_H
#define CPS_UF_H

#include <stddef.h>
#include <stdint.h>

typedef struct uf uf;

uf *uf_new(size_t expected);
void uf_free(uf *u);
/* Add a node in a set of its own; returns its number (0, 1, 2, ...). */
uint32_t uf_add(uf *u);
uint32_t uf_count(const uf *u);
/* The representative of x's set. */
uint32_t uf_find(uf *u, uint32_t x);
/* Merge the sets of a and b; returns the new representative. */
uint32_t uf_union(uf *u, uint32_t a, uint32_t b);
size_t uf_bytes(const uf *u);

#endif
