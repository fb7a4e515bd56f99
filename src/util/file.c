/* Capped file reads and atomic file writes, see file.h. */
#include "util/file.h"

#include "util/alloc.h"
#include "util/errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum bm_err bm_file_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return BM_ENOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return BM_EPERM;
    case EEXIST:
        return BM_EEXIST;
    case ENOMEM:
        return BM_ENOMEM;
    default:
        return BM_EIO;
    }
}

/* Frees p[0..cap) after wiping it (it may hold a secret). NULL-safe. */
static void wipe_free(uint8_t *p, size_t cap)
{
    if (p != NULL) {
        explicit_bzero(p, cap);
        bm_free(p);
    }
}

enum bm_err bm_file_read(const char *path, size_t max, const char *what,
                         struct bm_buf *out, struct bm_errmsg *em)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    enum bm_err err = BM_OK;
    int fd;

    bm_buf_release(out);
    if (max == SIZE_MAX) {
        max = SIZE_MAX - 1; /* room for the one spare byte below */
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return bm_errf(em, bm_file_errno(e), "%s '%s': cannot open: %s", what,
                       path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        err = bm_errf(em, BM_EIO, "%s '%s': cannot stat: %s", what, path,
                      strerror(e));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        err = bm_errf(em, BM_EINVAL, "%s '%s': is a directory", what, path);
        goto out;
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) &&
        !S_ISCHR(st.st_mode)) {
        err = bm_errf(em, BM_EINVAL, "%s '%s': not a regular file", what,
                      path);
        goto out;
    }
    if (S_ISREG(st.st_mode) &&
        (st.st_size < 0 || (uint64_t)st.st_size > max)) {
        err = bm_errf(em, BM_ETOOBIG,
                      "%s '%s': file is %lld bytes, above the %zu byte limit",
                      what, path, (long long)st.st_size, max);
        goto out;
    }
    /* One spare byte detects a file that is (or grew) above the cap; the
     * size of a regular file is only the first guess. */
    cap = 4096;
    if (S_ISREG(st.st_mode)) {
        cap = (size_t)st.st_size + 1;
    }
    if (cap > max + 1) {
        cap = max + 1;
    }
    buf = bm_malloc(cap);
    if (buf == NULL) {
        err = bm_errf(em, BM_ENOMEM, "%s '%s': out of memory", what, path);
        goto out;
    }
    for (;;) {
        ssize_t r;
        if (len == cap) {
            size_t ncap;
            uint8_t *nb;
            if (len > max) {
                break;
            }
            ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
            /* Not bm_realloc: the old copy is wiped before it is freed. */
            nb = bm_malloc(ncap);
            if (nb == NULL) {
                err = bm_errf(em, BM_ENOMEM, "%s '%s': out of memory", what,
                              path);
                goto out;
            }
            memcpy(nb, buf, len);
            wipe_free(buf, cap);
            buf = nb;
            cap = ncap;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0) {
            int e = errno;
            if (e == EINTR) {
                continue;
            }
            err = bm_errf(em, BM_EIO, "%s '%s': cannot read: %s", what, path,
                          strerror(e));
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    if (len > max) {
        err = bm_errf(em, BM_ETOOBIG, "%s '%s': above the %zu byte limit",
                      what, path, max);
        goto out;
    }
    out->ptr = buf;
    out->len = len;
    buf = NULL;
out:
    wipe_free(buf, cap);
    close(fd);
    return err;
}

static enum bm_err write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return BM_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return BM_OK;
}

enum bm_err bm_file_sync_parent(const char *path, const char *what,
                                struct bm_errmsg *em)
{
    const char *slash = strrchr(path, '/');
    struct bm_dynbuf dir;
    enum bm_err err;
    int fd, e;

    bm_dynbuf_init(&dir, strlen(path) + 2);
    if (slash == NULL) {
        err = bm_dynbuf_printf(&dir, ".");
    } else if (slash == path) {
        err = bm_dynbuf_printf(&dir, "/");
    } else {
        err = bm_dynbuf_printf(&dir, "%.*s", (int)(slash - path), path);
    }
    if (err != BM_OK) {
        bm_dynbuf_release(&dir);
        return bm_errf(em, err, "%s '%s': out of memory", what, path);
    }
    fd = open((const char *)dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        err = bm_errf(em, BM_EIO, "%s '%s': cannot open directory '%s': %s",
                      what, path, (const char *)dir.ptr, strerror(e));
        bm_dynbuf_release(&dir);
        return err;
    }
    /* Some file systems cannot fsync a directory (EINVAL): nothing more
     * can be done there. */
    if (fsync(fd) != 0 && errno != EINVAL) {
        e = errno;
        err = bm_errf(em, BM_EIO, "%s '%s': cannot sync directory '%s': %s",
                      what, path, (const char *)dir.ptr, strerror(e));
    }
    close(fd);
    bm_dynbuf_release(&dir);
    return err;
}

enum bm_err bm_file_write_atomic(const char *path, const uint8_t *data,
                                 size_t len, unsigned mode,
                                 enum bm_file_write_flags flags,
                                 const char *what, struct bm_errmsg *em)
{
    bool replace = (flags & BM_FILE_NOREPLACE) == 0;
    struct bm_dynbuf tmp;
    struct stat st;
    bool created = false;
    enum bm_err err = BM_OK;
    int fd = -1, e;

    bm_dynbuf_init(&tmp, strlen(path) + 8);
    if (!replace && lstat(path, &st) == 0) {
        err = bm_errf(em, BM_EEXIST, "%s '%s': file already exists", what,
                      path);
        goto out;
    }
    err = bm_dynbuf_printf(&tmp, "%s.tmp", path);
    if (err != BM_OK) {
        err = bm_errf(em, err, "%s '%s': out of memory", what, path);
        goto out;
    }
    fd = open((const char *)tmp.ptr,
              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              (mode_t)mode);
    if (fd < 0) {
        e = errno;
        err = bm_errf(em, bm_file_errno(e), "%s '%s': cannot create '%s': %s",
                      what, path, (const char *)tmp.ptr, strerror(e));
        goto out;
    }
    created = true;
    /* A stale .tmp may have had another mode; the umask may be wider. */
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, len) != BM_OK ||
        fsync(fd) != 0) {
        e = errno;
        err = bm_errf(em, bm_file_errno(e), "%s '%s': cannot write '%s': %s",
                      what, path, (const char *)tmp.ptr, strerror(e));
        goto out;
    }
    e = close(fd) != 0 ? errno : 0;
    fd = -1;
    if (e != 0) {
        err = bm_errf(em, BM_EIO, "%s '%s': cannot close '%s': %s", what,
                      path, (const char *)tmp.ptr, strerror(e));
        goto out;
    }
    if (replace) {
        if (rename((const char *)tmp.ptr, path) != 0) {
            e = errno;
            err = bm_errf(em, bm_file_errno(e), "%s '%s': cannot rename: %s",
                          what, path, strerror(e));
            goto out;
        }
        created = false;
    } else if (link((const char *)tmp.ptr, path) != 0) {
        /* link() fails with EEXIST if path appeared meanwhile: never
         * replace a file that someone else just wrote. */
        e = errno;
        err = bm_errf(em, bm_file_errno(e), "%s '%s': cannot create: %s",
                      what, path, strerror(e));
        goto out;
    }
    err = bm_file_sync_parent(path, what, em);
out:
    if (fd >= 0) {
        close(fd);
    }
    if (created) {
        (void)unlink((const char *)tmp.ptr);
    }
    bm_dynbuf_release(&tmp);
    return err;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : errno;
}

enum bm_err bm_file_remove_tree(const char *path)
{
    struct stat st;
    int rc;

    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? BM_OK : bm_file_errno(errno);
    }
    rc = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0) {
        return BM_OK;
    }
    return bm_file_errno(rc > 0 ? rc : errno);
}
