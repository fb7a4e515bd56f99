/*
 * The signer passphrase, from a file (--evnode.signer.passphrase_file) or
 * typed at the terminal with echo off. The caller owns the buffer and
 * wipes it (sodium_memzero) when done.
 */
#ifndef BM_NODE_PASSPHRASE_H
#define BM_NODE_PASSPHRASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

struct bm_errmsg;

/*
 * The passphrase: the contents of file (borrowed; one trailing "\n" or
 * "\r\n" stripped) when file is neither NULL nor "", else a prompt on the
 * terminal (stdin a tty) with echo off, asked twice when confirm. The
 * result goes into buf[0..cap) with *len (cap is clamped to
 * BM_PASSPHRASE_MAX); buf is wiped on error. Errors: BM_EINVAL (empty
 * passphrase, or the two entries differ), BM_ETOOBIG (above cap),
 * BM_ENOTFOUND (the file is missing, or no file and no terminal: the
 * message says to pass --evnode.signer.passphrase_file), BM_EPERM,
 * BM_EIO. Blocks (file or terminal).
 */
enum bm_err bm_passphrase_read(const char *file, bool confirm, uint8_t *buf,
                               size_t cap, size_t *len, struct bm_errmsg *em);

#endif /* BM_NODE_PASSPHRASE_H */
