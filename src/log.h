/*
 * log — log lines and progress reports on stderr.
 *
 * Every line carries a UTC timestamp, a level and a step prefix, e.g.
 *   2026-11-27 18:01:42.123Z INFO  STITCH: 10000 events stitched in 0.4 s
 * A progress reporter prints done/total, rate and ETA at most every few
 * seconds; when stderr is a terminal it redraws a live bar instead.
 * Strings passed in are borrowed. A progress object is freed by progress_end().
 */
#ifndef CPS_LOG_H
#define CPS_LOG_H

#include <stdint.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
void log_msg(log_level level, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(step, ...) log_msg(LOG_ERROR, step, __VA_ARGS__)
#define log_warn(step, ...)  log_msg(LOG_WARN, step, __VA_ARGS__)
#define log_info(step, ...)  log_msg(LOG_INFO, step, __VA_ARGS__)
#define log_debug(step, ...) log_msg(LOG_DEBUG, step, __VA_ARGS__)

typedef struct progress progress;

/* Start reporting `what` (e.g. "events") for a step; total may be 0 if unknown. */
progress *progress_begin(const char *step, const char *what, uint64_t total);
/* Record that `done` units are finished; prints when due. Thread-safe. */
void progress_set(progress *p, uint64_t done);
void progress_add(progress *p, uint64_t n);
/* Print the final line and free p. NULL does nothing. */
void progress_end(progress *p);

#endif
