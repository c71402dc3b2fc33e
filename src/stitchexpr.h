/*
 * stitchexpr — a stitching expression (stitching_attributes_config's
 * value_expression, SPEC §3) as CPS's SQL embeds it, and the one check of it
 * that the loader (before it writes the config) and the stitch step (before
 * it uses the config) share.
 *
 * Every statement that evaluates an expression embeds it with
 * stitchexpr_append, as "(\n<expr>\n)::text": the newlines end a trailing
 * "--" comment, the parentheses make it one operand of whatever surrounds it
 * (a LATERAL branch, a CASE column, a probe). That holds only for one scalar
 * SQL expression, so stitchexpr_check accepts an expression only if
 *   - every quote and block comment in it is closed (else it would run on
 *     into the surrounding SQL);
 *   - no ")" in it closes a parenthesis it did not open (such a ")" would
 *     close the wrapper early and put the rest into the surrounding SQL);
 *   - it compiles, plans and runs over a row of {ce}.customer_events, in the
 *     place the batch statement gives it: a LATERAL subquery per event (no
 *     aggregate), grouped by it (no window function: the full pass puts it
 *     in a column over all events, a batch in that subquery over one);
 *   - it gives one column, not a row: a top-level comma ("a, b") makes the
 *     wrapper a ROW constructor, whose text "(a,b)" is no identifier.
 * It may be set-returning, and of any type (the text of it is the value).
 *
 * Strings passed in are borrowed; a problem is a new string the caller frees.
 */
#ifndef CPS_STITCHEXPR_H
#define CPS_STITCHEXPR_H

#include "db.h"

/* Append expr to sql as the stitching statements embed it: (\n<expr>\n)::text */
void stitchexpr_append(strbuf *sql, const char *expr);

/*
 * Check expr as described above, on d. Returns 0 with *problem NULL when it
 * is fine, 0 with *problem set when it is not (what is wrong and where in the
 * expression, to follow "does not work: "), or CPS_ERR / CPS_EINTR (err set)
 * when the check itself could not be made: lost connection, cancel, ...
 * In a transaction, a problem leaves the transaction aborted: check under a
 * savepoint and roll back to it.
 */
int stitchexpr_check(db *d, const char *expr, char **problem, cps_error *err);

#endif
