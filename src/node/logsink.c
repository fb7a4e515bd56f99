/* The node's log sink, see logsink.h and docs/OPERATIONS.md "Logs". */
#include "node/logsink.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/rfc3339.h"
#include "util/utf8.h"

/* Largest rendered line (bm_log messages are at most 1 KiB; JSON escaping
 * may grow them up to 6x). */
#define LINE_MAX_BYTES (16u * 1024u)

struct bm_logsink {
    pthread_mutex_t mu;
    enum bm_logsink_format fmt;
    char *path;      /* NULL: stderr */
    int fd;
    bool installed;
    bool trace;      /* log.trace: a stack= field on error lines */
};

enum bm_err bm_logsink_format_parse(const char *s,
                                    enum bm_logsink_format *out)
{
    if (s == NULL || s[0] == '\0' || strcmp(s, "text") == 0 ||
        strcmp(s, "plain") == 0) {
        *out = BM_LOGSINK_TEXT;
        return BM_OK;
    }
    if (strcmp(s, "json") == 0) {
        *out = BM_LOGSINK_JSON;
        return BM_OK;
    }
    return BM_EINVAL;
}

/* ------------------------------------------------------------ rendering */

static void format_time(uint64_t unix_ns, char out[BM_RFC3339_MAX])
{
    char *dot;

    bm_rfc3339_format_utc9((int64_t)(unix_ns / 1000000000u),
                           (int32_t)(unix_ns % 1000000000u), out);
    dot = strrchr(out, '.');
    if (dot != NULL) {
        dot[4] = 'Z'; /* milliseconds */
        dot[5] = '\0';
    }
}

struct out {
    struct bm_dynbuf *d;
    enum bm_err err;
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->err == BM_OK) {
        o->err = bm_dynbuf_append(o->d, p, n);
    }
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Length of the UTF-8 sequence led by c (1 for an invalid lead). */
static size_t utf8_len(uint8_t c)
{
    if (c >= 0xf0 && c <= 0xf4) {
        return 4;
    }
    if (c >= 0xe0) {
        return 3;
    }
    if (c >= 0xc2) {
        return 2;
    }
    return 1;
}

/* Appends s[0:n) as the inside of a JSON string. */
static void json_chars(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];

        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};

            put(o, e, 2);
            i++;
        } else if (c == '\n') {
            puts_(o, "\\n");
            i++;
        } else if (c == '\t') {
            puts_(o, "\\t");
            i++;
        } else if (c == '\r') {
            puts_(o, "\\r");
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

            put(o, e, sizeof(e));
            i++;
        } else if (c < 0x80) {
            put(o, &s[i], 1);
            i++;
        } else {
            size_t k = utf8_len(c);

            if (k > 1 && i + k <= n &&
                bm_utf8_valid((const uint8_t *)s + i, k)) {
                put(o, &s[i], k);
                i += k;
            } else {
                puts_(o, "\\ufffd");
                i++;
            }
        }
    }
}

static void json_string(struct out *o, const char *s, size_t n)
{
    puts_(o, "\"");
    json_chars(o, s, n);
    puts_(o, "\"");
}

static bool key_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool key_char(char c)
{
    return key_start(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

/* If msg[i..] starts a key=value field, returns the key length, else 0. */
static size_t field_key(const char *msg, size_t i, size_t n)
{
    size_t k = i;

    if (k >= n || !key_start(msg[k])) {
        return 0;
    }
    while (k < n && key_char(msg[k])) {
        k++;
    }
    return k < n && msg[k] == '=' ? k - i : 0;
}

/* End of a token starting at i: a quoted run (' or ") is kept whole. */
static size_t token_end(const char *msg, size_t i, size_t n)
{
    while (i < n && msg[i] != ' ') {
        if (msg[i] == '\'' || msg[i] == '"') {
            const char *q = memchr(msg + i + 1, msg[i], n - i - 1);

            i = q ? (size_t)(q - msg) + 1 : n;
        } else {
            i++;
        }
    }
    return i;
}

static bool reserved_key(const char *k, size_t n)
{
    static const char *const names[] = {"time", "level", "module", "msg"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Appends one ,"key":"value" member for the field at msg[i..]; returns the
 * index after it. */
static size_t json_field(struct out *o, const char *msg, size_t i, size_t n,
                         size_t klen)
{
    size_t v = i + klen + 1;
    size_t vend;
    size_t next;

    puts_(o, ",\"");
    if (reserved_key(msg + i, klen)) {
        puts_(o, "_");
    }
    json_chars(o, msg + i, klen);
    puts_(o, "\":\"");
    if (v < n && (msg[v] == '"' || msg[v] == '\'')) {
        const char *q = memchr(msg + v + 1, msg[v], n - v - 1);

        vend = q ? (size_t)(q - msg) : n;
        json_chars(o, msg + v + 1, vend - v - 1);
        next = q ? vend + 1 : n;
    } else {
        vend = v;
        while (vend < n && msg[vend] != ' ') {
            vend++;
        }
        json_chars(o, msg + v, vend - v);
        next = vend;
    }
    puts_(o, "\"");
    return next;
}

static void render_json(struct out *o, const char *ts, const char *level,
                        const char *module, const char *msg)
{
    size_t n = strlen(msg);
    size_t i = 0;
    bool first = true;

    puts_(o, "{\"time\":");
    json_string(o, ts, strlen(ts));
    puts_(o, ",\"level\":");
    json_string(o, level, strlen(level));
    puts_(o, ",\"module\":");
    json_string(o, module, strlen(module));
    /* msg: the text tokens joined by single spaces. */
    puts_(o, ",\"msg\":\"");
    while (i < n) {
        size_t end;

        if (msg[i] == ' ') {
            i++;
            continue;
        }
        end = token_end(msg, i, n);
        if (field_key(msg, i, n) == 0) {
            if (!first) {
                puts_(o, " ");
            }
            json_chars(o, msg + i, end - i);
            first = false;
        } else {
            /* skip the field here; its value may hold quoted spaces */
            size_t klen = field_key(msg, i, n);
            size_t v = i + klen + 1;

            if (v < n && (msg[v] == '"' || msg[v] == '\'')) {
                const char *q = memchr(msg + v + 1, msg[v], n - v - 1);

                end = q ? (size_t)(q - msg) + 1 : n;
            }
        }
        i = end;
    }
    puts_(o, "\"");
    /* the fields, in order */
    i = 0;
    while (i < n) {
        size_t klen;

        if (msg[i] == ' ') {
            i++;
            continue;
        }
        klen = field_key(msg, i, n);
        if (klen == 0) {
            i = token_end(msg, i, n);
            continue;
        }
        i = json_field(o, msg, i, n, klen);
    }
    puts_(o, "}\n");
}

enum bm_err bm_logsink_render(struct bm_dynbuf *out,
                              enum bm_logsink_format fmt, uint64_t unix_ns,
                              enum bm_log_level level, const char *module,
                              const char *msg)
{
    struct out o = {out, BM_OK};
    char ts[BM_RFC3339_MAX];
    const char *lv = bm_log_level_name(level);

    bm_dynbuf_reset(out);
    format_time(unix_ns, ts);
    module = module ? module : "";
    msg = msg ? msg : "";
    if (fmt == BM_LOGSINK_JSON) {
        render_json(&o, ts, lv, module, msg);
    } else {
        char head[BM_RFC3339_MAX + 16];

        snprintf(head, sizeof(head), "%s %-5s ", ts, lv);
        puts_(&o, head);
        puts_(&o, module);
        puts_(&o, ": ");
        /* one event, one line: newlines in the text become spaces */
        for (const char *p = msg; *p != '\0'; p++) {
            put(&o, *p == '\n' || *p == '\r' ? " " : p, 1);
        }
        puts_(&o, "\n");
    }
    return o.err;
}

/* ------------------------------------------------------------ the sink */

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

enum bm_err bm_logsink_new(struct bm_logsink **out,
                           enum bm_logsink_format fmt, const char *path,
                           struct bm_errmsg *em)
{
    struct bm_logsink *s;

    *out = NULL;
    s = bm_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->fmt = fmt;
    s->fd = STDERR_FILENO;
    if (path != NULL && path[0] != '\0' && strcmp(path, "-") != 0) {
        s->path = bm_xstrdup(path);
        s->fd = open_file(path);
        if (s->fd < 0) {
            int e = errno;

            bm_free(s->path);
            pthread_mutex_destroy(&s->mu);
            bm_free(s);
            return bm_errf(em, BM_EIO, "log file '%s': %s", path,
                           strerror(e));
        }
    }
    *out = s;
    return BM_OK;
}

enum bm_err bm_logsink_reopen(struct bm_logsink *s, struct bm_errmsg *em)
{
    int fd;
    int old;

    if (s->path == NULL) {
        return BM_OK;
    }
    fd = open_file(s->path);
    if (fd < 0) {
        return bm_errf(em, BM_EIO, "log file '%s': %s", s->path,
                       strerror(errno));
    }
    pthread_mutex_lock(&s->mu);
    old = s->fd;
    s->fd = fd;
    pthread_mutex_unlock(&s->mu);
    close(old);
    return BM_OK;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return; /* nowhere to report a logging failure */
        }
        p += w;
        n -= (size_t)w;
    }
}

void bm_logsink_set_trace(struct bm_logsink *s, bool on)
{
    s->trace = on;
}

#define TRACE_FRAMES 32

/* msg followed by " stack=" and the frames of the bm_log caller and its
 * callers, innermost first, each as <object>+0x<offset from its load
 * address> (what `addr2line -f -e <object>` takes), comma-separated; into
 * out[0..cap). emit_ra is the return address into bm_log_emit (which
 * calls the sink through a pointer, so it is a real frame): frames up to
 * and including it are left out, however many the unwinder or a
 * sanitizer's interceptor put before it. */
static void with_stack(char *out, size_t cap, const char *msg,
                       const void *emit_ra)
{
    void *frames[TRACE_FRAMES];
    int n = backtrace(frames, TRACE_FRAMES);
    int first = 0;
    size_t w;

    for (int i = 0; i < n; i++) {
        if (frames[i] == emit_ra) {
            first = i + 1;
            break;
        }
    }
    w = (size_t)snprintf(out, cap, "%s stack=", msg);
    for (int i = first; i < n && w < cap; i++) {
        Dl_info info;
        const char *obj = "?";
        uintptr_t off = (uintptr_t)frames[i];

        if (dladdr(frames[i], &info) != 0 && info.dli_fname != NULL) {
            const char *slash = strrchr(info.dli_fname, '/');

            obj = slash != NULL ? slash + 1 : info.dli_fname;
            off -= (uintptr_t)info.dli_fbase;
        }
        w += (size_t)snprintf(out + w, cap - w, "%s%s+0x%" PRIxPTR,
                              i > first ? "," : "", obj, off);
    }
}

void bm_logsink_write(enum bm_log_level level, const char *module,
                      const char *msg, void *arg)
{
    struct bm_logsink *s = arg;
    struct bm_dynbuf line;
    uint64_t now = bm_clock_wall_ns();
    char traced[4096];

    if (s->trace && level <= BM_LOG_ERROR) {
        with_stack(traced, sizeof(traced), msg != NULL ? msg : "",
                   __builtin_return_address(0));
        msg = traced;
    }
    bm_dynbuf_init(&line, LINE_MAX_BYTES);
    if (bm_logsink_render(&line, s->fmt, now, level, module, msg) !=
        BM_OK) {
        /* Too long or out of memory: say so in a short line. */
        (void)bm_logsink_render(&line, s->fmt, now, level, module,
                                "log message dropped: cannot render");
    }
    if (line.len > 0) {
        pthread_mutex_lock(&s->mu);
        /* One write(2) per line keeps lines whole across threads and
         * processes sharing the file (O_APPEND). */
        write_all(s->fd, line.ptr, line.len);
        pthread_mutex_unlock(&s->mu);
    }
    bm_dynbuf_release(&line);
}

void bm_logsink_install(struct bm_logsink *s)
{
    s->installed = true;
    bm_log_set_sink(bm_logsink_write, s);
}

void bm_logsink_free(struct bm_logsink *s)
{
    if (s == NULL) {
        return;
    }
    if (s->installed) {
        bm_log_set_sink(NULL, NULL);
    }
    if (s->path != NULL) {
        close(s->fd);
    }
    bm_free(s->path);
    pthread_mutex_destroy(&s->mu);
    bm_free(s);
}
