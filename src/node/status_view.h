/*
 * The human-readable summary of a node's GET /status that `blockv2
 * status` prints by default (`--json` prints the JSON itself):
 *
 *   chain         evnode-test (aggregator)
 *   height        1234, last block 812ms ago (2026-11-24T09:00:00.123Z)
 *   DA            included 1230, lag 4 blocks (pending 4 headers, 4 data)
 *   app hash      0a1b...
 *   last header   3e4f...
 *   peers         0
 *   breakers      da closed, exec closed
 *   actors        12, none with queued messages, drops or restarts
 *
 * and, when some actor has a non-zero mailbox depth, dropped count or
 * restart count, one line per such actor (the others are left out).
 *
 * The JSON comes from the network and is untrusted: it is size-capped,
 * parsed with a depth limit, each field is type-checked (a wrong type is
 * an error naming the field; a missing field prints "?"), and strings are
 * shown at most BM_STATUS_VIEW_STR_MAX bytes with every byte outside
 * printable ASCII replaced by '?' (no terminal escapes get through).
 */
#ifndef BM_NODE_STATUS_VIEW_H
#define BM_NODE_STATUS_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_errmsg;

/* Largest /status body accepted, and longest string shown. */
#define BM_STATUS_VIEW_MAX (1u << 20)
#define BM_STATUS_VIEW_STR_MAX 80u
/* Most actor rows printed (the rest are counted in one line). */
#define BM_STATUS_VIEW_ACTORS_MAX 64u

/*
 * Renders json[0..len) (borrowed, untrusted, not NUL-terminated) as the
 * summary into *out (released first; returns owned text, NUL-terminated,
 * len without the NUL). now_unix_ns is the wall clock used for the last
 * block's age. Errors (message in em): BM_ETOOBIG (above
 * BM_STATUS_VIEW_MAX), BM_EPARSE (not one JSON object), BM_EINVAL (a
 * field of the wrong type, named), BM_ENOMEM. Pure; never blocks.
 */
enum bm_err bm_status_view_render(const uint8_t *json, size_t len,
                                  uint64_t now_unix_ns, struct bm_buf *out,
                                  struct bm_errmsg *em);

#endif /* BM_NODE_STATUS_VIEW_H */
