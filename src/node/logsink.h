/*
 * The node's log sink (installed with bm_log_set_sink): renders each
 * bm_log message as one line, text or JSON (config log.format), to stderr
 * or a file opened for append, with reopen for SIGHUP (log rotation).
 *
 *   text: 2026-11-24T09:00:00.123Z info  module: msg key=value
 *   json: {"time":"2026-11-24T09:00:00.123Z","level":"info",
 *          "module":"module","msg":"msg","key":"value"}
 *
 * JSON splits the message's key=value fields (key: a letter then letters,
 * digits, '_', '.', '-'; value: up to the next space, or quoted with '
 * or ") into string members; the rest of the text is "msg". A field named
 * like a fixed member gets a "_" prefix ("_time").
 *
 * Thread-safe: each line is written with one write(2) under the sink's
 * mutex, which also orders it against reopen.
 */
#ifndef BM_NODE_LOGSINK_H
#define BM_NODE_LOGSINK_H

#include <stdbool.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"
#include "util/log.h"

struct bm_errmsg;
struct bm_logsink;

enum bm_logsink_format {
    BM_LOGSINK_TEXT = 0,
    BM_LOGSINK_JSON = 1,
};

/* Parses "text" / "json" (also "plain" / ""). BM_EINVAL otherwise. */
enum bm_err bm_logsink_format_parse(const char *s,
                                    enum bm_logsink_format *out);

/*
 * Renders one line (with the trailing newline) for a message at wall time
 * unix_ns into *out (reset first; keeps its cap). module and msg are
 * borrowed. Errors: BM_ETOOBIG past the dynbuf's cap, BM_ENOMEM. Pure.
 */
enum bm_err bm_logsink_render(struct bm_dynbuf *out,
                              enum bm_logsink_format fmt, uint64_t unix_ns,
                              enum bm_log_level level, const char *module,
                              const char *msg);

/*
 * Creates a sink writing to path (borrowed, copied; NULL, "" or "-" =
 * stderr), opened O_APPEND|O_CREAT (0640). Returns owned *out. Errors:
 * BM_EIO (cannot open; message names the path), BM_ENOMEM. Does not
 * install it.
 */
enum bm_err bm_logsink_new(struct bm_logsink **out,
                           enum bm_logsink_format fmt, const char *path,
                           struct bm_errmsg *em);

/*
 * log.trace: when on, every error line gets a last field
 * "stack=<object>+0x<offset>,..." with the frames that led to the
 * bm_log_error call (innermost first; offsets are relative to each
 * object's load address, so `addr2line -f -e build/cmd/blockv2 0x...`
 * names the function and line). Warnings and below are unchanged. Call
 * before bm_logsink_install.
 */
void bm_logsink_set_trace(struct bm_logsink *s, bool on);

/* Reopens the file (after rotation); a no-op for stderr. On error the old
 * descriptor stays in use. Any thread (not from a signal handler: set a
 * flag there and call this from a normal thread). */
enum bm_err bm_logsink_reopen(struct bm_logsink *s, struct bm_errmsg *em);

/* The bm_log_sink_fn: arg is the struct bm_logsink *. */
void bm_logsink_write(enum bm_log_level level, const char *module,
                      const char *msg, void *arg);

/* bm_log_set_sink(bm_logsink_write, s). */
void bm_logsink_install(struct bm_logsink *s);

/* Restores the default sink if s is installed, then frees s. Call when
 * no other thread may still be logging through s (after the node's
 * threads stopped): bm_log_emit calls the sink outside its lock. NULL-safe. */
void bm_logsink_free(struct bm_logsink *s);

#endif /* BM_NODE_LOGSINK_H */
