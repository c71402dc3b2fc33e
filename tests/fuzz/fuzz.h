/*
 * fuzz — what the libFuzzer targets of tests/fuzz share: the entry point's
 * declaration and a check that stops the run on a broken property.
 *
 * A target feeds the bytes libFuzzer gives it to one parser and checks, past
 * "no crash, no leak, no undefined behaviour" (the sanitizers' part), the
 * properties the parser's header promises. A broken property aborts, so
 * libFuzzer saves the input as a crash file like any other failure.
 */
#ifndef CPS_FUZZ_H
#define CPS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with `what` unless `ok`: the stack trace names the line at fault. */
static inline void fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz property broken: %s\n", what);
        abort();
    }
}

#endif
