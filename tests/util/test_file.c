/* util/file: capped reads, atomic writes (real files in a temp dir). */
#include "bm_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/errmsg.h"
#include "util/file.h"

struct dir {
    char path[256];
};

static void dir_make(struct dir *d)
{
    const char *base = getenv("TMPDIR");

    snprintf(d->path, sizeof(d->path), "%s/bm_file_XXXXXX",
             base != NULL ? base : "/tmp");
    assert_non_null(mkdtemp(d->path));
}

static void dir_remove(struct dir *d)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    assert_int_equal(system(cmd), 0);
}

static void join(char *out, size_t n, const struct dir *d, const char *name)
{
    snprintf(out, n, "%s/%s", d->path, name);
}

static void read_expect(const char *path, const char *want)
{
    struct bm_buf b = {NULL, 0};

    assert_int_equal(bm_file_read(path, 1 << 16, "t", &b, NULL), BM_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.ptr, want, b.len);
    bm_buf_release(&b);
}

static const uint8_t *U(const char *s)
{
    return (const uint8_t *)s;
}

static void test_write_replace(void **state)
{
    struct bm_errmsg em = {{0}};
    struct dir d;
    char path[300], tmp[310];
    struct stat st;
    mode_t old;

    (void)state;
    dir_make(&d);
    join(path, sizeof(path), &d, "f.yaml");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    old = umask(0077);
    assert_int_equal(bm_file_write_atomic(path, U("one"), 3, 0644,
                                          BM_FILE_REPLACE, "t", &em),
                     BM_OK);
    umask(old);
    read_expect(path, "one");
    /* The mode is the one asked for, whatever the umask. */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_not_equal(access(tmp, F_OK), 0);
    /* A stale .tmp (another mode, other bytes) is replaced. */
    assert_int_equal(bm_file_write_atomic(tmp, U("stale-stale"), 11, 0666,
                                          BM_FILE_REPLACE, "t", &em),
                     BM_OK);
    assert_int_equal(bm_file_write_atomic(path, U("two"), 3, 0600,
                                          BM_FILE_REPLACE, "t", &em),
                     BM_OK);
    read_expect(path, "two");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_not_equal(access(tmp, F_OK), 0);
    /* Empty contents. */
    assert_int_equal(bm_file_write_atomic(path, NULL, 0, 0600,
                                          BM_FILE_REPLACE, "t", &em),
                     BM_OK);
    read_expect(path, "");
    dir_remove(&d);
}

static void test_write_noreplace(void **state)
{
    struct bm_errmsg em = {{0}};
    struct dir d;
    char path[300], tmp[310];

    (void)state;
    dir_make(&d);
    join(path, sizeof(path), &d, "key.json");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(bm_file_write_atomic(path, U("first"), 5, 0600,
                                          BM_FILE_NOREPLACE, "key", &em),
                     BM_OK);
    read_expect(path, "first");
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(bm_file_write_atomic(path, U("second"), 6, 0600,
                                          BM_FILE_NOREPLACE, "key", &em),
                     BM_EEXIST);
    assert_non_null(strstr(em.msg, "key '"));
    assert_non_null(strstr(em.msg, "exists"));
    read_expect(path, "first");
    assert_int_not_equal(access(tmp, F_OK), 0);
    dir_remove(&d);
}

static void test_write_fails_cleanly(void **state)
{
    struct bm_errmsg em = {{0}};
    struct dir d;
    char path[300], tmp[310];

    (void)state;
    dir_make(&d);
    /* No parent directory. */
    join(path, sizeof(path), &d, "missing/f");
    assert_int_equal(bm_file_write_atomic(path, U("x"), 1, 0644,
                                          BM_FILE_REPLACE, "config", &em),
                     BM_ENOTFOUND);
    assert_non_null(strstr(em.msg, "config '"));
    assert_non_null(strstr(em.msg, path));
    /* The rename fails (a non-empty directory is in the way): the
     * directory is untouched and the .tmp is gone. */
    join(path, sizeof(path), &d, "busy");
    assert_int_equal(mkdir(path, 0755), 0);
    join(tmp, sizeof(tmp), &d, "busy/inside");
    assert_int_equal(bm_file_write_atomic(tmp, U("y"), 1, 0644,
                                          BM_FILE_REPLACE, "t", &em),
                     BM_OK);
    assert_int_not_equal(bm_file_write_atomic(path, U("x"), 1, 0644,
                                              BM_FILE_REPLACE, "t", &em),
                         BM_OK);
    assert_non_null(strstr(em.msg, "rename"));
    read_expect(tmp, "y");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
    dir_remove(&d);
}

static void test_read_limits(void **state)
{
    struct bm_errmsg em = {{0}};
    struct bm_buf b = {NULL, 0};
    struct dir d;
    char path[300];
    char big[5000];

    (void)state;
    dir_make(&d);
    join(path, sizeof(path), &d, "absent");
    assert_int_equal(bm_file_read(path, 100, "genesis", &b, &em),
                     BM_ENOTFOUND);
    assert_non_null(strstr(em.msg, "genesis '"));
    assert_null(b.ptr);
    /* A directory is not a file. */
    assert_int_equal(bm_file_read(d.path, 100, "t", &b, &em), BM_EINVAL);
    assert_non_null(strstr(em.msg, "directory"));
    /* Exactly the cap is fine, one byte more is not. */
    memset(big, 'a', sizeof(big));
    join(path, sizeof(path), &d, "big");
    assert_int_equal(bm_file_write_atomic(path, U(big), sizeof(big), 0644,
                                          BM_FILE_REPLACE, "t", &em),
                     BM_OK);
    assert_int_equal(bm_file_read(path, sizeof(big), "t", &b, &em), BM_OK);
    assert_int_equal(b.len, sizeof(big));
    bm_buf_release(&b);
    assert_int_equal(bm_file_read(path, sizeof(big) - 1, "t", &b, &em),
                     BM_ETOOBIG);
    assert_non_null(strstr(em.msg, "limit"));
    assert_null(b.ptr);
    /* An endless device: refused at the cap, never read to its end. */
    assert_int_equal(bm_file_read("/dev/zero", 10000, "t", &b, &em),
                     BM_ETOOBIG);
    assert_null(b.ptr);
    dir_remove(&d);
}

static void *fifo_writer(void *arg)
{
    const char *path = arg;
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    if (fd >= 0) {
        /* Two writes: the reader must read to the end, not one chunk. */
        (void)!write(fd, "secret-", 7);
        bm_sleep_ms(20);
        (void)!write(fd, "passphrase\n", 11);
        close(fd);
    }
    return NULL;
}

static void test_read_fifo(void **state)
{
    struct bm_buf b = {NULL, 0};
    struct dir d;
    char path[300];
    pthread_t t;

    (void)state;
    dir_make(&d);
    join(path, sizeof(path), &d, "fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(pthread_create(&t, NULL, fifo_writer, path), 0);
    assert_int_equal(bm_file_read(path, 4096, "passphrase file", &b, NULL),
                     BM_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(b.len, 18);
    assert_memory_equal(b.ptr, "secret-passphrase\n", 18);
    bm_buf_release(&b);
    dir_remove(&d);
}

/* bm_file_remove_tree: the whole tree goes, a symbolic link is removed
 * without touching what it points to, and a missing path is BM_OK. */
static void test_remove_tree(void **state)
{
    struct dir d, outside;
    char tree[300], sub[320], f[340], link[320], kept[300];
    struct stat st;
    (void)state;

    dir_make(&d);
    dir_make(&outside);
    join(tree, sizeof(tree), &d, "tree");
    snprintf(sub, sizeof(sub), "%s/a", tree);
    snprintf(f, sizeof(f), "%s/a/f", tree);
    snprintf(link, sizeof(link), "%s/link", tree);
    join(kept, sizeof(kept), &outside, "kept");
    assert_int_equal(mkdir(tree, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(bm_file_write_atomic(f, U("x"), 1, 0600, 0, "t", NULL),
                     BM_OK);
    assert_int_equal(bm_file_write_atomic(kept, U("y"), 1, 0600, 0, "t",
                                          NULL),
                     BM_OK);
    assert_int_equal(symlink(outside.path, link), 0);

    assert_int_equal(bm_file_remove_tree(tree), BM_OK);
    assert_int_not_equal(lstat(tree, &st), 0);
    read_expect(kept, "y");
    assert_int_equal(bm_file_remove_tree(tree), BM_OK);
    dir_remove(&outside);
    dir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_replace),
        cmocka_unit_test(test_write_noreplace),
        cmocka_unit_test(test_write_fails_cleanly),
        cmocka_unit_test(test_read_limits),
        cmocka_unit_test(test_read_fifo),
        cmocka_unit_test(test_remove_tree),
    };
    return BM_TEST_RUN(tests);
}
