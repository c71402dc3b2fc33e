/*
 * idtab — interning of tagged strings: each distinct (tag, bytes) pair gets a
 * dense index 0, 1, 2, ... in order of first appearance.
 *
 * Stitching interns every event id and every identifier value it meets, so
 * this is the hottest in-memory structure: open addressing with linear
 * probing, 64-bit slots holding a 32-bit hash fingerprint and the index, and
 * the strings themselves in an arena. Hashing is XXH3.
 * Strings passed in are copied; returned strings live as long as the table.
 */
#ifndef CPS_IDTAB_H
#define CPS_IDTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idtab idtab;

#define IDTAB_NONE UINT32_MAX

idtab *idtab_new(size_t expected);
void idtab_free(idtab *t);

/* The index of (tag, s); added if new, in which case *added (if given) is true. */
uint32_t idtab_intern(idtab *t, uint32_t tag, const char *s, size_t len, bool *added);
/* The index of (tag, s), or IDTAB_NONE. */
uint32_t idtab_find(const idtab *t, uint32_t tag, const char *s, size_t len);

uint32_t idtab_count(const idtab *t);
const char *idtab_str(const idtab *t, uint32_t i);
size_t idtab_len(const idtab *t, uint32_t i);
uint32_t idtab_tag(const idtab *t, uint32_t i);
/* Bytes held (entries, slots and strings). */
size_t idtab_bytes(const idtab *t);

#endif
