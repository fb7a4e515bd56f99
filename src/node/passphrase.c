/* The signer passphrase, see passphrase.h. */
#include "node/passphrase.h"

#include <sodium.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "blockv2/buf.h"
#include "blockv2/keys.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/file.h"

static enum bm_err prompt(const char *what, uint8_t *buf, size_t cap,
                          size_t *len, struct bm_errmsg *em)
{
    struct termios old, quiet;
    bool restore = false;
    size_t n = 0;
    enum bm_err err = BM_OK;

    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    for (;;) {
        char c;
        ssize_t k = read(STDIN_FILENO, &c, 1);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0 || c == '\n') {
            break;
        }
        if (n == cap) {
            err = bm_errf(em, BM_ETOOBIG, "passphrase: above %zu bytes",
                          cap);
            break;
        }
        buf[n++] = (uint8_t)c;
    }
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    }
    if (n > 0 && buf[n - 1] == '\r') {
        n--;
    }
    *len = n;
    return err;
}

enum bm_err bm_passphrase_read(const char *file, bool confirm, uint8_t *buf,
                               size_t cap, size_t *len, struct bm_errmsg *em)
{
    enum bm_err err;

    *len = 0;
    if (cap > BM_PASSPHRASE_MAX) {
        cap = BM_PASSPHRASE_MAX;
    }
    if (file != NULL && file[0] != '\0') {
        struct bm_buf text = {NULL, 0};
        size_t n;
        err = bm_file_read(file, BM_PASSPHRASE_MAX + 2, "passphrase file",
                           &text, em);
        if (err != BM_OK) {
            return err;
        }
        n = text.len;
        if (n > 0 && text.ptr[n - 1] == '\n') {
            n--;
            if (n > 0 && text.ptr[n - 1] == '\r') {
                n--;
            }
        }
        if (n > cap) {
            err = bm_errf(em, BM_ETOOBIG,
                          "passphrase file '%s': above %zu bytes", file, cap);
        } else if (n == 0) {
            err = bm_errf(em, BM_EINVAL, "passphrase file '%s' is empty",
                          file);
        } else {
            memcpy(buf, text.ptr, n);
            *len = n;
        }
        if (text.ptr != NULL) {
            sodium_memzero(text.ptr, text.len);
        }
        bm_buf_release(&text);
        return err;
    }
    if (!isatty(STDIN_FILENO)) {
        return bm_errf(em, BM_ENOTFOUND,
                       "a signer passphrase is needed: pass "
                       "--evnode.signer.passphrase_file FILE (or run in a "
                       "terminal to be asked)");
    }
    err = prompt("Enter signer passphrase", buf, cap, len, em);
    if (err == BM_OK && *len == 0) {
        err = bm_errf(em, BM_EINVAL, "the passphrase is empty");
    }
    if (err == BM_OK && confirm) {
        uint8_t *again = bm_xmalloc(cap);
        size_t n2 = 0;
        err = prompt("Repeat signer passphrase", again, cap, &n2, em);
        if (err == BM_OK &&
            (n2 != *len || sodium_memcmp(again, buf, n2) != 0)) {
            err = bm_errf(em, BM_EINVAL, "the passphrases differ");
        }
        sodium_memzero(again, cap);
        bm_free(again);
    }
    if (err != BM_OK) {
        sodium_memzero(buf, cap);
        *len = 0;
    }
    return err;
}
