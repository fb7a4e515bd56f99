/*
 * Counters for the benchmarks (syscount.h): libc's and libsodium's calls
 * wrapped in the benchmark executable, which the dynamic linker binds
 * before the shared libraries' own definitions (liblmdb's open, pwrite,
 * fdatasync... resolve to these). Each wrapper counts, then calls the
 * next definition (dlsym(RTLD_NEXT)). Verifications are counted by
 * verifycount.c, which an executable linking this file links too.
 *
 * A "flush" is what makes data durable: fsync, fdatasync, msync with
 * MS_SYNC, and every write to a descriptor opened with O_DSYNC or O_SYNC
 * (LMDB writes its meta page that way: one device flush each).
 *
 * Both names of the large-file calls are wrapped (open/open64,
 * pwrite/pwrite64): the library is built with _FILE_OFFSET_BITS=64, which
 * makes its calls open64, while liblmdb calls open. So this file is built
 * without it, and without _FORTIFY_SOURCE (fcntl.h's open would be an
 * inline wrapper this file could not define).
 */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#include "syscount.h"
#include "verifycount.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#define SC_MAX_FD 65536

static _Atomic uint64_t n_flush;
static _Atomic unsigned char dsync_fd[SC_MAX_FD];

static void *next_fn(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);

    if (f == NULL) {
        abort();
    }
    return f;
}

#define NEXT(type, name, var)                                                  \
    static _Atomic(type) var;                                                  \
    type fn_ = atomic_load_explicit(&var, memory_order_relaxed);               \
    if (fn_ == NULL) {                                                         \
        fn_ = (type)next_fn(name);                                             \
        atomic_store_explicit(&var, fn_, memory_order_relaxed);                \
    }

typedef int (*open_fn)(const char *, int, ...);
typedef int (*close_fn)(int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef int (*sync_fn)(int);
typedef int (*msync_fn)(void *, size_t, int);

static void mark(int fd, int flags)
{
    if (fd >= 0 && fd < SC_MAX_FD) {
        atomic_store_explicit(&dsync_fd[fd], (flags & O_DSYNC) != 0,
                              memory_order_relaxed);
    }
}

static void count_write(int fd)
{
    if (fd >= 0 && fd < SC_MAX_FD &&
        atomic_load_explicit(&dsync_fd[fd], memory_order_relaxed)) {
        atomic_fetch_add_explicit(&n_flush, 1, memory_order_relaxed);
    }
}

static bool has_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* The mode argument of open/open64, present only with these flags. */
#define OPEN_MODE(flags, mode)                                                 \
    do {                                                                       \
        if (has_mode(flags)) {                                                 \
            va_list ap;                                                        \
                                                                               \
            va_start(ap, flags);                                               \
            (mode) = va_arg(ap, unsigned);                                     \
            va_end(ap);                                                        \
        }                                                                      \
    } while (0)

/* Calls the real open or open64 (fn) and notes the fd's O_DSYNC. */
static int open_real(open_fn fn, const char *path, int flags, unsigned mode)
{
    int fd = fn(path, flags, mode);

    mark(fd, flags);
    return fd;
}

int open(const char *path, int flags, ...)
{
    unsigned mode = 0;

    OPEN_MODE(flags, mode);
    NEXT(open_fn, "open", real_open)
    return open_real(fn_, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    unsigned mode = 0;

    OPEN_MODE(flags, mode);
    NEXT(open_fn, "open64", real_open64)
    return open_real(fn_, path, flags, mode);
}

int close(int fd)
{
    NEXT(close_fn, "close", real_close)
    mark(fd, 0);
    return fn_(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    NEXT(write_fn, "write", real_write)
    count_write(fd);
    return fn_(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    NEXT(pwrite_fn, "pwrite", real_pwrite)
    count_write(fd);
    return fn_(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    NEXT(pwrite64_fn, "pwrite64", real_pwrite64)
    count_write(fd);
    return fn_(fd, buf, n, off);
}

int fsync(int fd)
{
    NEXT(sync_fn, "fsync", real_fsync)
    atomic_fetch_add_explicit(&n_flush, 1, memory_order_relaxed);
    return fn_(fd);
}

int fdatasync(int fd)
{
    NEXT(sync_fn, "fdatasync", real_fdatasync)
    atomic_fetch_add_explicit(&n_flush, 1, memory_order_relaxed);
    return fn_(fd);
}

int msync(void *addr, size_t len, int flags)
{
    NEXT(msync_fn, "msync", real_msync)
    if (flags & MS_SYNC) {
        atomic_fetch_add_explicit(&n_flush, 1, memory_order_relaxed);
    }
    return fn_(addr, len, flags);
}

void sc_read(struct sc_counts *out)
{
    struct vc_counts v;

    vc_read(&v);
    out->verifies = v.verifies;
    out->repeats = v.repeats;
    out->flushes = atomic_load_explicit(&n_flush, memory_order_relaxed);
}
