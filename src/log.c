/* log — timestamped, levelled log lines and progress reports (see log.h). */
#include "log.h"

#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_level current_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int bar_visible; /* a live progress bar occupies the current line */

static const char *level_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

void log_set_level(log_level level)
{
    current_level = level;
}

log_level log_get_level(void)
{
    return current_level;
}

static void timestamp(char *buf, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void clear_bar(void)
{
    if (bar_visible) {
        fputs("\r\033[K", stderr);
        bar_visible = 0;
    }
}

void log_msg(log_level level, const char *step, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char ts[40];
    timestamp(ts, sizeof ts);
    strbuf line = STRBUF_INIT;
    sb_appendf(&line, "%s %s %s: ", ts, level_names[level], step);
    va_list ap;
    va_start(ap, fmt);
    sb_vappendf(&line, fmt, ap);
    va_end(ap);
    sb_appendc(&line, '\n');
    pthread_mutex_lock(&log_lock);
    clear_bar();
    fputs(sb_str(&line), stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    sb_free(&line);
}

struct progress {
    char step[16];
    char what[32];
    uint64_t total;
    uint64_t done;
    double started;
    double last_print;
    int tty;
    pthread_mutex_t lock;
};

progress *progress_begin(const char *step, const char *what, uint64_t total)
{
    progress *p = xcalloc(1, sizeof *p);
    snprintf(p->step, sizeof p->step, "%s", step);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total;
    p->started = p->last_print = now_seconds();
    p->tty = isatty(STDERR_FILENO) && current_level >= LOG_INFO;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

/* "1.2M" style numbers keep progress lines short. */
static void human(char *buf, size_t n, double v)
{
    if (v >= 1e9)
        snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

static void report(progress *p, double now, int final)
{
    double elapsed = now - p->started;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    char done[32], total[32], r[32], eta[48] = "";
    human(done, sizeof done, (double)p->done);
    human(total, sizeof total, (double)p->total);
    human(r, sizeof r, rate);
    if (!final && p->total > p->done && rate > 0)
        snprintf(eta, sizeof eta, ", ETA %.0f s", (double)(p->total - p->done) / rate);
    if (p->tty && !final) {
        int width = 30;
        int fill = p->total ? (int)((double)width * (double)p->done / (double)p->total) : 0;
        if (fill > width)
            fill = width;
        pthread_mutex_lock(&log_lock);
        fprintf(stderr, "\r\033[K%s: [%.*s%*s] %s/%s %s, %s/s%s", p->step, fill,
                "##############################", width - fill, "", done, total, p->what, r, eta);
        fflush(stderr);
        bar_visible = 1;
        pthread_mutex_unlock(&log_lock);
    } else if (p->total)
        log_info(p->step, "%s/%s %s (%.0f%%), %s/s%s%s", done, total, p->what,
                 100.0 * (double)p->done / (double)p->total, r, eta, final ? ", done" : "");
    else
        log_info(p->step, "%s %s, %s/s%s", done, p->what, r, final ? ", done" : "");
}

static void maybe_report(progress *p)
{
    double now = now_seconds();
    double every = p->tty ? 0.2 : 3.0;
    /* all done: progress_end's summary says so, once */
    if (p->total && p->done >= p->total)
        return;
    if (now - p->last_print >= every) {
        p->last_print = now;
        report(p, now, 0);
    }
}

void progress_set(progress *p, uint64_t done)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->done = done;
    maybe_report(p);
    pthread_mutex_unlock(&p->lock);
}

void progress_add(progress *p, uint64_t n)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->done += n;
    maybe_report(p);
    pthread_mutex_unlock(&p->lock);
}

void progress_end(progress *p)
{
    if (!p)
        return;
    double now = now_seconds();
    if (p->tty) {
        pthread_mutex_lock(&log_lock);
        clear_bar();
        pthread_mutex_unlock(&log_lock);
    }
    /* Short steps finish quietly; long ones end with a last summary line. */
    if (now - p->started >= 3.0)
        report(p, now, 1);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
