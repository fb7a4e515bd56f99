#include "util/errmsg.h"

#include <stdarg.h>
#include <stdio.h>

int bm_errf(struct bm_errmsg *em, int err, const char *fmt, ...)
{
    va_list ap;

    if (em == NULL) {
        return err;
    }
    va_start(ap, fmt);
    vsnprintf(em->msg, sizeof(em->msg), fmt, ap);
    va_end(ap);
    return err;
}

const char *bm_errmsg_str(const struct bm_errmsg *em, int err)
{
    if (em == NULL || em->msg[0] == '\0') {
        return bm_strerror(err);
    }
    return em->msg;
}
