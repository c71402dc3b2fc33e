/*
 * decimal — exact decimal arithmetic that reproduces PostgreSQL 15's numeric
 * for the aggregates CPS computes in C: sum, avg, min/max and grouping of
 * values that PostgreSQL streamed out as numeric text.
 *
 * A decimal is an accumulator: sign, a magnitude in base-10^9 limbs aligned on
 * the decimal point, and a display scale (the number of fraction digits
 * numeric_out prints; a sum keeps the largest of its inputs', as PostgreSQL
 * does). Up to DEC_INLINE limbs (72 digits) live inside the struct, so the hot
 * loop of dec_add_text allocates nothing for ordinary values.
 *
 * Ownership: a decimal owns its limbs until dec_free, which leaves it as
 * dec_init does; the struct can be moved with memcpy but not copied (two
 * copies would share a heap buffer). Text arguments are borrowed and need no
 * NUL. Output goes to the end of the caller's strbuf.
 *
 * min/max: PostgreSQL returns an input value with its own scale, and of equal
 * values (1.5, 1.50) the one it met last; compare with dec_cmp_text and keep
 * the text.
 *
 * Accepted text: [+-]digits[.digits] (either side of the point may be empty,
 * not both), and NaN, Infinity, -Infinity, +Infinity, inf, +inf, -inf in any
 * case — the forms numeric_in accepts, minus exponents and surrounding spaces,
 * which numeric_out never produces. At most 131072 digits before the point
 * and 16383 after it, PostgreSQL's limits. Anything else is rejected with -1.
 */
#ifndef CPS_DECIMAL_H
#define CPS_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define DEC_INLINE 8

enum dec_kind { DEC_FINITE, DEC_NAN, DEC_PINF, DEC_NINF };

typedef struct decimal {
    uint32_t *heap;           /* limbs once more than DEC_INLINE are needed, else NULL */
    uint32_t inl[DEC_INLINE]; /* limbs while they fit */
    int32_t cap;              /* limbs the heap buffer holds (0 without one) */
    int32_t nlimb;            /* limbs in use, least significant first; 0 iff zero */
    int32_t nfrac;            /* how many of them are below the point (nfrac <= nlimb) */
    int32_t dscale;           /* display scale: fraction digits printed */
    uint8_t neg;              /* 1 if negative (never for zero) */
    uint8_t kind;             /* enum dec_kind; for a special the rest is unused */
} decimal;

/* Zero with display scale 0 (allocates nothing). */
void dec_init(decimal *d);
/* Release d's heap buffer and make it zero again. */
void dec_free(decimal *d);

/* Set d (initialized; its buffer is reused) to the value of the text s (len
 * bytes), with the text's fraction digits as display scale. Returns 0, or -1
 * (d is then zero) if the text is not a number. */
int dec_parse(decimal *d, const char *s, size_t len);

/* acc += v with sum(numeric)'s rules: the display scale is the larger one;
 * NaN absorbs everything, +Infinity + -Infinity is NaN, an infinity absorbs
 * any finite value. v may be acc. */
void dec_add(decimal *acc, const decimal *v);
/* acc += the value of the text; returns 0, or -1 (acc unchanged) on bad text. */
int dec_add_text(decimal *acc, const char *s, size_t len);

/* -1, 0 or 1 in PostgreSQL's order: -Infinity < finite values < Infinity <
 * NaN; NaN equals NaN and 1.5 equals 1.50. */
int dec_cmp(const decimal *a, const decimal *b);
/* The same for two texts, without allocating. A text dec_parse rejects
 * compares as NaN. */
int dec_cmp_text(const char *a, size_t alen, const char *b, size_t blen);

/* Append the text numeric_out would print: exactly dscale fraction digits. */
void dec_format(const decimal *d, strbuf *out);
/* Append the text of avg(numeric) over count values whose sum is `sum`:
 * PostgreSQL's numeric division sum / count, at the scale its
 * select_div_scale picks (at least 16 significant digits, at least the sum's
 * display scale), rounded half away from zero. A special sum gives itself.
 * Returns 0, or -1 (nothing appended) if count < 1, where avg is NULL. */
int dec_avg_format(const decimal *sum, int64_t count, strbuf *out);

/* Append a canonical text of s for equality grouping — the same text for
 * values PostgreSQL calls equal: no trailing fraction zeros, no point after
 * an integer, "0" for any zero, and NaN / Infinity / -Infinity (the text of
 * trim_scale(s::numeric)). Returns 0, or -1 if s is not a number (then s is
 * appended unchanged). */
int dec_normalize_text(const char *s, size_t len, strbuf *out);

#endif
