#include "util/log.h"

#include "util/clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

atomic_int bm_log_threshold = BM_LOG_INFO;

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static bm_log_sink_fn *sink_fn;
static void *sink_arg;

void bm_log_set_level(enum bm_log_level level)
{
    atomic_store(&bm_log_threshold, (int)level);
}

int bm_log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        enum bm_log_level level;
    } tab[] = {{"error", BM_LOG_ERROR}, {"warn", BM_LOG_WARN},
               {"info", BM_LOG_INFO},   {"debug", BM_LOG_DEBUG}};

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(s, tab[i].name) == 0) {
            return (int)tab[i].level;
        }
    }
    return -1;
}

const char *bm_log_level_name(enum bm_log_level level)
{
    switch (level) {
    case BM_LOG_ERROR:
        return "error";
    case BM_LOG_WARN:
        return "warn";
    case BM_LOG_INFO:
        return "info";
    case BM_LOG_DEBUG:
        return "debug";
    }
    return "info";
}

void bm_log_set_sink(bm_log_sink_fn *fn, void *arg)
{
    pthread_mutex_lock(&sink_lock);
    sink_fn = fn;
    sink_arg = arg;
    pthread_mutex_unlock(&sink_lock);
}

static void default_sink(enum bm_log_level level, const char *module,
                         const char *msg)
{
    char line[1200];
    uint64_t now = bm_clock_wall_ns();
    time_t sec = (time_t)(now / 1000000000u);
    struct tm tm;
    int n;

    gmtime_r(&sec, &tm);
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (long)(now / 1000000u % 1000u),
                 bm_log_level_name(level), module, msg);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    /* One write per line keeps lines whole across threads. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        return;
    }
}

void bm_log_emit(enum bm_log_level level, const char *module, const char *fmt,
                 ...)
{
    char msg[1024];
    va_list ap;
    bm_log_sink_fn *fn;
    void *arg;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&sink_lock);
    fn = sink_fn;
    arg = sink_arg;
    pthread_mutex_unlock(&sink_lock);
    if (fn != NULL) {
        fn(level, module, msg, arg);
    } else {
        default_sink(level, module, msg);
    }
}
