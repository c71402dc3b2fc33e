/*
 * md5 — the MD5 digest (RFC 1321), the same value PostgreSQL's md5() gives:
 * part of an entity id (entityid.h), so that an operator can check it in SQL,
 * and the name of a production view. Not used for anything security-related.
 */
#ifndef CPS_MD5_H
#define CPS_MD5_H

#include <stddef.h>
#include <stdint.h>

void md5_digest(const void *data, size_t len, uint8_t out[16]);
/* 32 lowercase hex characters and a NUL. */
void md5_hex(const void *data, size_t len, char out[33]);
/* Any 16 bytes (a digest, an entity id) so. */
void hex16(const uint8_t in[16], char out[33]);

#endif
