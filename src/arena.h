/*
 * arena — a bump allocator for many small strings that die together.
 *
 * Strings copied into an arena live until arena_free(); there is no per-string
 * free. Chunks double from 64 KiB to 4 MiB, so that millions of identifiers
 * cost one malloc each few thousand strings and no per-string header, and a
 * small graph does not take megabytes.
 */
#ifndef CPS_ARENA_H
#define CPS_ARENA_H

#include <stddef.h>

typedef struct arena arena;

arena *arena_new(void);
/* n bytes, unaligned (for byte records). */
void *arena_alloc(arena *a, size_t n);
/* Copy len bytes and a terminating NUL; returns the copy. */
char *arena_strndup(arena *a, const char *s, size_t len);
/* Bytes reserved from the system (for memory reports). */
size_t arena_bytes(const arena *a);
/* Free every string of the arena. NULL does nothing. */
void arena_free(arena *a);

#endif
