/* Log sink: text and JSON rendering, file output, reopen, threads. */
#include "bm_test.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "node/logsink.h"
#include "util/errmsg.h"
#include "util/log.h"

/* 2026-11-24T09:00:00.123456789Z */
#define T0 (1795510800ull * 1000000000ull + 123456789ull)

static char *render(enum bm_logsink_format fmt, enum bm_log_level lv,
                    const char *module, const char *msg)
{
    struct bm_dynbuf d;
    char *s;

    bm_dynbuf_init(&d, 1 << 16);
    assert_int_equal(bm_logsink_render(&d, fmt, T0, lv, module, msg), BM_OK);
    s = bm_xmalloc(d.len + 1);
    memcpy(s, d.ptr, d.len);
    s[d.len] = '\0';
    bm_dynbuf_release(&d);
    return s;
}

static void test_text(void **state)
{
    char *s;

    (void)state;
    s = render(BM_LOGSINK_TEXT, BM_LOG_INFO, "producer",
               "block produced height=5 txs=2");
    assert_string_equal(s, "2026-11-24T09:00:00.123Z info  producer: block "
                           "produced height=5 txs=2\n");
    bm_free(s);
    s = render(BM_LOGSINK_TEXT, BM_LOG_ERROR, "store", "two\nlines");
    assert_string_equal(s, "2026-11-24T09:00:00.123Z error store: two "
                           "lines\n");
    bm_free(s);
}

/* Parses a rendered JSON line (must end with exactly one newline). */
static struct json_object *parse_line(const char *s)
{
    size_t n = strlen(s);
    struct json_object *o;

    assert_true(n > 1);
    assert_int_equal(s[n - 1], '\n');
    assert_null(memchr(s, '\n', n - 1));
    o = json_tokener_parse(s);
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_object));
    return o;
}

static const char *member(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, k, &v)) {
        return NULL;
    }
    return json_object_get_string(v);
}

static void test_json_fields(void **state)
{
    char *s;
    struct json_object *o;

    (void)state;
    s = render(BM_LOGSINK_JSON, BM_LOG_WARN, "da",
               "cannot submit 'a b=c' err=EDA_TOO_BIG height=7 "
               "why=\"two words\" time=9");
    o = parse_line(s);
    assert_string_equal(member(o, "time"), "2026-11-24T09:00:00.123Z");
    assert_string_equal(member(o, "level"), "warn");
    assert_string_equal(member(o, "module"), "da");
    assert_string_equal(member(o, "msg"), "cannot submit 'a b=c'");
    assert_string_equal(member(o, "err"), "EDA_TOO_BIG");
    assert_string_equal(member(o, "height"), "7");
    assert_string_equal(member(o, "why"), "two words");
    assert_string_equal(member(o, "_time"), "9");
    json_object_put(o);
    bm_free(s);
}

static void test_json_escaping(void **state)
{
    char *s;
    struct json_object *o;

    (void)state;
    s = render(BM_LOGSINK_JSON, BM_LOG_DEBUG, "m\"x",
               "k=\"unterminated quote \" back \\ tab\t ctl \x01 bad \xff "
               "utf8 \xc3\xa9");
    o = parse_line(s);
    assert_string_equal(member(o, "module"), "m\"x");
    assert_string_equal(member(o, "k"), "unterminated quote ");
    assert_string_equal(member(o, "msg"), "back \\ tab\t ctl \x01 bad "
                                          "\xef\xbf\xbd utf8 \xc3\xa9");
    json_object_put(o);
    bm_free(s);
    /* an unterminated quoted value runs to the end of the message */
    s = render(BM_LOGSINK_JSON, BM_LOG_DEBUG, "m", "x k='open value");
    o = parse_line(s);
    assert_string_equal(member(o, "msg"), "x");
    assert_string_equal(member(o, "k"), "open value");
    json_object_put(o);
    bm_free(s);
    s = render(BM_LOGSINK_JSON, BM_LOG_DEBUG, "m",
               "back \\ tab\t ctl \x01 bad \xff utf8 \xc3\xa9 end=1");
    o = parse_line(s);
    assert_string_equal(member(o, "msg"), "back \\ tab\t ctl \x01 bad "
                                          "\xef\xbf\xbd utf8 \xc3\xa9");
    assert_string_equal(member(o, "end"), "1");
    json_object_put(o);
    bm_free(s);
    /* A message of only fields, and an empty one. */
    s = render(BM_LOGSINK_JSON, BM_LOG_INFO, "x", "a=1 b=");
    o = parse_line(s);
    assert_string_equal(member(o, "msg"), "");
    assert_string_equal(member(o, "a"), "1");
    assert_string_equal(member(o, "b"), "");
    json_object_put(o);
    bm_free(s);
    s = render(BM_LOGSINK_JSON, BM_LOG_INFO, "x", "");
    o = parse_line(s);
    assert_string_equal(member(o, "msg"), "");
    json_object_put(o);
    bm_free(s);
}

static void test_format_parse(void **state)
{
    enum bm_logsink_format f;

    (void)state;
    assert_int_equal(bm_logsink_format_parse("json", &f), BM_OK);
    assert_int_equal(f, BM_LOGSINK_JSON);
    assert_int_equal(bm_logsink_format_parse("text", &f), BM_OK);
    assert_int_equal(f, BM_LOGSINK_TEXT);
    assert_int_equal(bm_logsink_format_parse("xml", &f), BM_EINVAL);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = bm_xmalloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void test_file_and_reopen(void **state)
{
    char dir[] = "/tmp/bm-logsink-XXXXXX";
    char path[128];
    char rotated[128];
    struct bm_logsink *s = NULL;
    struct bm_errmsg em = {{0}};
    char *text;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/node.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/node.log.1", dir);
    assert_int_equal(bm_logsink_new(&s, BM_LOGSINK_TEXT, path, &em), BM_OK);
    bm_logsink_install(s);
    bm_log_info("test", "first line n=1");
    assert_int_equal(rename(path, rotated), 0);
    bm_log_info("test", "second line n=2"); /* still the old file */
    assert_int_equal(bm_logsink_reopen(s, &em), BM_OK);
    bm_log_info("test", "third line n=3");
    bm_logsink_free(s); /* restores the default sink */

    text = read_file(rotated);
    assert_non_null(strstr(text, " info  test: first line n=1\n"));
    assert_non_null(strstr(text, "second line n=2\n"));
    assert_null(strstr(text, "third"));
    bm_free(text);
    text = read_file(path);
    assert_non_null(strstr(text, "third line n=3\n"));
    assert_null(strstr(text, "first"));
    bm_free(text);

    /* An unwritable path names the path. */
    assert_int_equal(bm_logsink_new(&s, BM_LOGSINK_TEXT,
                                    "/nonexistent-dir/x.log", &em),
                     BM_EIO);
    assert_non_null(strstr(em.msg, "/nonexistent-dir/x.log"));
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

#define THREADS 4
#define LINES 300

static void *writer(void *arg)
{
    long id = (long)arg;

    for (int i = 0; i < LINES; i++) {
        bm_log_info("thread", "line from thread t=%ld i=%d pad=%s", id, i,
                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    }
    return NULL;
}

/* log.trace: error lines carry the caller's stack (object+offset frames,
 * the first one in the function that logged); other levels do not, and
 * nothing does with trace off. */
static void test_trace(void **state)
{
    char dir[] = "/tmp/bm-logsink-XXXXXX";
    char path[128];
    struct bm_logsink *s = NULL;
    struct bm_errmsg em = {{0}};
    const char *p;
    char *text, *line;
    Dl_info self;
    uintptr_t start, off;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/trace.log", dir);
    assert_int_equal(bm_logsink_new(&s, BM_LOGSINK_TEXT, path, &em), BM_OK);
    bm_logsink_set_trace(s, true);
    bm_logsink_install(s);
    bm_log_error("test", "cannot go on err=BM_EIO");
    bm_log_warn("test", "careful n=1");
    bm_logsink_free(s);
    text = read_file(path);
    line = strstr(text, " error test: cannot go on err=BM_EIO stack=");
    assert_non_null(line);
    /* the first frame is in this function */
    p = strstr(line, "stack=") + 6;
    p = strstr(p, "+0x");
    assert_non_null(p);
    off = (uintptr_t)strtoull(p + 3, NULL, 16);
    assert_int_not_equal(dladdr((void *)(uintptr_t)test_trace, &self), 0);
    start = (uintptr_t)test_trace - (uintptr_t)self.dli_fbase;
    if (off < start || off > start + 4096) {
        fail_msg("first frame +0x%lx is not in test_trace (+0x%lx)",
                 (unsigned long)off, (unsigned long)start);
    }
    assert_non_null(strstr(text, " warn  test: careful n=1\n"));
    assert_null(strstr(strstr(text, "careful"), "stack="));
    bm_free(text);
    unlink(path);

    /* JSON: a "stack" member */
    assert_int_equal(bm_logsink_new(&s, BM_LOGSINK_JSON, path, &em), BM_OK);
    bm_logsink_set_trace(s, true);
    bm_logsink_install(s);
    bm_log_error("test", "cannot go on");
    bm_logsink_free(s);
    text = read_file(path);
    assert_non_null(strstr(text, "\"msg\":\"cannot go on\""));
    assert_non_null(strstr(text, "\"stack\":\""));
    bm_free(text);
    unlink(path);

    /* off (the default): no stack */
    assert_int_equal(bm_logsink_new(&s, BM_LOGSINK_TEXT, path, &em), BM_OK);
    bm_logsink_install(s);
    bm_log_error("test", "cannot go on");
    bm_logsink_free(s);
    text = read_file(path);
    assert_non_null(strstr(text, " error test: cannot go on\n"));
    assert_null(strstr(text, "stack="));
    bm_free(text);
    unlink(path);
    rmdir(dir);
}

static void test_threads_whole_lines(void **state)
{
    char dir[] = "/tmp/bm-logsink-XXXXXX";
    char path[128];
    struct bm_logsink *s = NULL;
    pthread_t th[THREADS];
    char *text;
    char *line;
    char *save = NULL;
    int count = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/node.log", dir);
    assert_int_equal(bm_logsink_new(&s, BM_LOGSINK_JSON, path, NULL), BM_OK);
    bm_logsink_install(s);
    for (long i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)i), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    bm_logsink_free(s);
    text = read_file(path);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        struct json_object *o = json_tokener_parse(line);

        assert_non_null(o);
        assert_string_equal(member(o, "msg"), "line from thread");
        json_object_put(o);
        count++;
    }
    assert_int_equal(count, THREADS * LINES);
    bm_free(text);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_file_and_reopen),
        cmocka_unit_test(test_threads_whole_lines),
        cmocka_unit_test(test_trace),
    };

    return BM_TEST_RUN(tests);
}
