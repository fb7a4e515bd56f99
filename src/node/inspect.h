/*
 * The core of `blockv2 inspect`: decode one wire object from untrusted
 * bytes and describe it as one JSON object (docs/VALIDATION.md lists the
 * fields). Used by the CLI (src/node/inspect.c) and by the fuzz target
 * fuzz/targets/fuzz_inspect.c.
 *
 * Thread-safety: reentrant; never blocks (CPU only).
 */
#ifndef BM_NODE_INSPECT_H
#define BM_NODE_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/err.h"

enum bm_inspect_type {
    BM_INSPECT_AUTO = 0,
    BM_INSPECT_HEADER,      /* SignedHeader */
    BM_INSPECT_ENVELOPE,    /* DAHeaderEnvelope */
    BM_INSPECT_SIGNED_DATA, /* SignedData */
    BM_INSPECT_DATA,        /* bare Data */
    BM_INSPECT_P2P_HEADER,  /* P2PSignedHeader */
    BM_INSPECT_P2P_DATA,    /* P2PData */
    BM_INSPECT_STATE,       /* State */
};

/*
 * Parses a --type name ("auto", "header", "envelope", "signed-data",
 * "data", "p2p-header", "p2p-data", "state"). BM_EINVAL if unknown.
 * Borrows name.
 */
enum bm_err bm_inspect_type_parse(const char *name,
                                  enum bm_inspect_type *out);

/* The --type name of t (static string). */
const char *bm_inspect_type_name(enum bm_inspect_type t);

/*
 * Decodes p[0..n) as `type` (BM_INSPECT_AUTO: guess as a DA retriever
 * does: envelope/header, then signed data, then state, then data) and sets
 * *json to a NUL-terminated JSON object (returns owned; free with
 * bm_free). On a decode failure returns the decoder's code and *json is
 * {"error": "..."} naming what failed; on BM_ENOMEM *json may be NULL.
 * Borrows p. Inputs above BM_MAX_MESSAGE_SIZE are refused (BM_ETOOBIG).
 * Calls bm_crypto_init().
 */
enum bm_err bm_inspect_bytes(const uint8_t *p, size_t n,
                             enum bm_inspect_type type, char **json);

#endif /* BM_NODE_INSPECT_H */
