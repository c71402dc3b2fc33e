/*
 * util — the few helpers every module uses: allocation that aborts on out of
 * memory, error values, and a growable string buffer.
 *
 * Ownership: memory from x*alloc/xstrdup/xasprintf is the caller's and is
 * released with free(). A strbuf owns its bytes until sb_free() or sb_detach().
 * Functions that can fail return 0 on success or a negative CPS_E* code and
 * fill the caller's struct cps_error.
 */
#ifndef CPS_UTIL_H
#define CPS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status codes returned by functions (0 is success). */
enum {
    CPS_OK = 0,
    CPS_ERR = -1,    /* failed; the message says why */
    CPS_EINTR = -2,  /* interrupted by SIGINT/SIGTERM */
    CPS_ELOCKED = -3 /* another CPS holds the lock */
};

/* Process exit statuses (SPEC §1.2). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_LOCKED = 3,
};

typedef struct cps_error {
    char msg[4096];   /* human message: names the thing at fault and what to do */
    char sqlstate[6]; /* SQLSTATE of a database error, "" otherwise */
} cps_error;

/* Set err's message (printf-style) and clear its SQLSTATE; returns CPS_ERR. */
int cps_error_set(cps_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Put "<prefix>: " in front of err's message; returns CPS_ERR. */
int cps_error_prefix(cps_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cps_error_clear(cps_error *err);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow *p (an array of *cap elements of `size` bytes) to hold at least `need`. */
void xgrow(void **p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct strbuf {
    char *buf;  /* always NUL-terminated once anything was appended */
    size_t len; /* bytes in use, without the NUL */
    size_t cap; /* bytes allocated */
} strbuf;

#define STRBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void sb_append(strbuf *sb, const char *s);
void sb_appendn(strbuf *sb, const char *s, size_t n);
void sb_appendc(strbuf *sb, char c);
void sb_appendf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vappendf(strbuf *sb, const char *fmt, va_list ap);
void sb_reserve(strbuf *sb, size_t extra);
void sb_reset(strbuf *sb);
void sb_free(strbuf *sb);
/* The buffer's string ("" if empty); the buffer still owns it. */
const char *sb_str(const strbuf *sb);
/* Hand the string to the caller (never NULL) and empty the buffer. */
char *sb_detach(strbuf *sb);

/* Monotonic seconds, for timings. */
double now_seconds(void);
/* Peak resident set size of this process in bytes (0 if unknown). */
uint64_t peak_rss_bytes(void);
/* True if s is NULL or has only whitespace. */
bool str_blank(const char *s);
/* The directory of temporary files: dir, else $TMPDIR, else /tmp. */
const char *temp_dir(const char *dir);
/* A new temporary file in temp_dir(dir), already
 * unlinked so that it disappears with the process whatever happens. Returns
 * its descriptor, or CPS_ERR with a message naming `what` and the directory. */
int temp_file(const char *dir, const char *what, cps_error *err);
/* Write all len bytes to fd (retrying after signals): 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);

/* What a JSON value is, for messages about a key of the wrong kind:
 * "an object", "an array", "a string", "a number", "a boolean", "null". */
struct json_t;
const char *json_kind(const struct json_t *v);

#endif
