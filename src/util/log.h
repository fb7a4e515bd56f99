/*
 * Logging: one bm_log(level, module, fmt, ...) on syslog levels.
 *
 * The level is checked before the arguments are evaluated. The sink is
 * pluggable (tests capture lines; the node renders text or JSON). Messages
 * are lower-case, without a trailing period, error first, key=value fields:
 *   bm_log_warn("store", "cannot open '%s' err=%s", path, bm_err_name(e));
 * Log once, where the error is decided; callers propagate the code silently.
 * Thread-safe: a line is written with one write(2) call.
 */
#ifndef BM_UTIL_LOG_H
#define BM_UTIL_LOG_H

#include <stdatomic.h>

enum bm_log_level {
    BM_LOG_ERROR = 3,
    BM_LOG_WARN = 4,
    BM_LOG_INFO = 6,
    BM_LOG_DEBUG = 7,
};

/* Receives one formatted message (no trailing newline). Must be
 * thread-safe and must not call bm_log. */
typedef void bm_log_sink_fn(enum bm_log_level level, const char *module,
                            const char *msg, void *arg);

extern atomic_int bm_log_threshold;

/* Messages above `level` (less severe) are dropped. Default BM_LOG_INFO. */
void bm_log_set_level(enum bm_log_level level);

/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int bm_log_level_parse(const char *s);
const char *bm_log_level_name(enum bm_log_level level);

/* Replaces the sink; NULL restores the default (stderr, text). */
void bm_log_set_sink(bm_log_sink_fn *fn, void *arg);

void bm_log_emit(enum bm_log_level level, const char *module, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

#define bm_log(level, module, ...)                                             \
    do {                                                                       \
        if ((int)(level) <= atomic_load_explicit(&bm_log_threshold,            \
                                                 memory_order_relaxed)) {      \
            bm_log_emit((level), (module), __VA_ARGS__);                       \
        }                                                                      \
    } while (0)

#define bm_log_error(module, ...) bm_log(BM_LOG_ERROR, module, __VA_ARGS__)
#define bm_log_warn(module, ...) bm_log(BM_LOG_WARN, module, __VA_ARGS__)
#define bm_log_info(module, ...) bm_log(BM_LOG_INFO, module, __VA_ARGS__)
#define bm_log_debug(module, ...) bm_log(BM_LOG_DEBUG, module, __VA_ARGS__)

#endif /* BM_UTIL_LOG_H */
