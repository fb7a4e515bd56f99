/*
 * Whole-file reads with a size cap and atomic whole-file writes, shared by
 * every non-LMDB file the node keeps (signer and node keys, genesis,
 * evnode.yaml, the passphrase file).
 *
 * An atomic write never leaves a half-written file under the final name:
 * the bytes go to "<path>.tmp" (created with the requested mode), which is
 * fsync'ed, then renamed over path (or hard-linked to it when the caller
 * must not replace an existing file), and finally the directory holding
 * path is fsync'ed so that the rename itself survives a power loss.
 *
 * Messages have the form "<what> '<path>': <problem>"; `what` names the
 * file for people ("config", "signer file").
 *
 * Functions are reentrant and block (file I/O, fsync).
 */
#ifndef BM_UTIL_FILE_H
#define BM_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_errmsg;

/* Maps an errno value of a file operation to enum bm_err: ENOENT/ENOTDIR
 * -> BM_ENOTFOUND, EACCES/EPERM/EROFS -> BM_EPERM, EEXIST -> BM_EEXIST,
 * ENOMEM -> BM_ENOMEM, anything else -> BM_EIO. Pure. */
enum bm_err bm_file_errno(int e);

/*
 * Reads the file at path (borrowed, untrusted contents) into *out
 * (released first; returns owned bytes). A regular file, a FIFO or a
 * character device is read to its end; more than max bytes is refused
 * with BM_ETOOBIG, which never allocates more than max + 1 bytes whatever
 * the file claims. Every buffer freed on the way is wiped first (the file
 * may hold a secret); the caller wipes *out when it does. Errors:
 * BM_ENOTFOUND (no such file), BM_EPERM, BM_EINVAL (a directory or
 * another kind of file), BM_ETOOBIG, BM_ENOMEM, BM_EIO; em names `what`
 * and path. Blocks.
 */
enum bm_err bm_file_read(const char *path, size_t max, const char *what,
                         struct bm_buf *out, struct bm_errmsg *em);

enum bm_file_write_flags {
    BM_FILE_REPLACE = 0,        /* rename over an existing path */
    BM_FILE_NOREPLACE = 1 << 0, /* BM_EEXIST if path exists, never replace
                                   a file that appears meanwhile */
};

/*
 * Writes data[0..len) (borrowed) to path (borrowed) atomically, with file
 * mode `mode` (applied with fchmod, so the umask does not widen or narrow
 * it): <path>.tmp is created, written, fsync'ed and renamed over path
 * (BM_FILE_REPLACE) or hard-linked to path (BM_FILE_NOREPLACE), then the
 * parent directory is fsync'ed. On any failure before the rename, path is
 * untouched and <path>.tmp removed; if only the directory fsync fails
 * (BM_EIO), path already holds the new contents but may not survive a
 * power loss. File systems that cannot fsync a directory (EINVAL) are
 * accepted. Errors: BM_EEXIST (NOREPLACE and path exists), BM_ENOTFOUND
 * (no parent directory), BM_EPERM, BM_EIO, BM_ENOMEM; em names `what` and
 * path. Blocks (write, two fsyncs).
 */
enum bm_err bm_file_write_atomic(const char *path, const uint8_t *data,
                                 size_t len, unsigned mode,
                                 enum bm_file_write_flags flags,
                                 const char *what, struct bm_errmsg *em);

/*
 * fsyncs the directory that holds path (borrowed), so that a rename or a
 * new name there survives a power loss. File systems that cannot fsync a
 * directory (EINVAL) are accepted. Errors: BM_EIO (BM_ENOMEM); em names
 * `what` and path. Blocks.
 */
enum bm_err bm_file_sync_parent(const char *path, const char *what,
                                struct bm_errmsg *em);

/*
 * Removes path and everything below it, depth first, without following
 * symbolic links. A path that does not exist is BM_OK. On an error
 * (bm_file_errno of the first failure) part of the tree may be gone.
 * Blocks (one unlink or rmdir per entry).
 */
enum bm_err bm_file_remove_tree(const char *path);

#endif /* BM_UTIL_FILE_H */
