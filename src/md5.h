/*
 * md5 — the MD5 digest (RFC 1321), for entity ids: an entity's id is the md5
 * of its earliest event's id, the same value PostgreSQL's md5() gives, so an
 * operator can check it in SQL. Not used for anything security-related.
 */
#ifndef CPS_MD5_H
#define CPS_MD5_H

#include <stddef.h>
#include <stdint.h>

void md5_digest(const void *data, size_t len, uint8_t out[16]);
/* 32 lowercase hex characters and a NUL. */
void md5_hex(const void *data, size_t len, char out[33]);

#endif
