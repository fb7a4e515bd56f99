/* Helpers for the exec and seq tests: temp dirs and tx lists. */
#ifndef BM_TESTS_EXEC_TEST_UTIL_H
#define BM_TESTS_EXEC_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockv2/buf.h"
#include "util/file.h"
#include "util/alloc.h"

/* Creates a fresh temp dir; returns owned path (bm_free). */
static inline char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/bm-exec-test-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return bm_xstrdup(d);
}

/* Removes the dir recursively and frees the path. */
static inline void tmpdir_free(char *dir)
{
    if (dir != NULL) {
        (void)bm_file_remove_tree(dir);
        bm_free(dir);
    }
}

/* dir/sub, owned. */
static inline char *path_join(const char *dir, const char *sub)
{
    size_t n = strlen(dir) + strlen(sub) + 2;
    char *p = bm_xmalloc(n);

    snprintf(p, n, "%s/%s", dir, sub);
    return p;
}

/* Array of n txs from C strings (owned; free with bm_exec_txs_free). */
static inline struct bm_buf *txs_from(const char *const *s, size_t n)
{
    struct bm_buf *t = bm_xcalloc(n ? n : 1, sizeof(*t));

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bm_buf_set(&t[i], (const uint8_t *)s[i],
                                    strlen(s[i])), 0);
    }
    return t;
}

static inline bool tx_is(const struct bm_buf *b, const char *s)
{
    return b->len == strlen(s) && memcmp(b->ptr, s, b->len) == 0;
}

#endif /* BM_TESTS_EXEC_TEST_UTIL_H */
