/*
 * Listening TCP sockets for the node's HTTP servers (the RPC server,
 * src/node/rpc.c, and the Prometheus endpoint, src/node/metrics.c), bound
 * from a config address string.
 */
#ifndef BM_NODE_LISTEN_H
#define BM_NODE_LISTEN_H

#include <stdint.h>

#include "blockv2/err.h"

struct bm_errmsg;

/*
 * The listen backlog asked for: the kernel caps it at net.core.somaxconn
 * (4096 by default since Linux 5.4). Connections the server has not
 * accepted yet wait there; beyond it the kernel drops SYNs and final ACKs,
 * and a client waits for a retransmission (1 s, then doubling) or loses
 * the connection. 64 was too small for a burst of clients.
 */
#define BM_LISTEN_BACKLOG 65535

/* Longest address string accepted ("host:port"), with NUL. */
#define BM_LISTEN_ADDR_MAX 300u

/*
 * Parses addr (borrowed, untrusted: "host:port", ":port" = all
 * interfaces, "[v6]:port", an optional "tcp://" or "http://" prefix; port
 * 0 = ephemeral), binds a listening TCP socket (SO_REUSEADDR, close on
 * exec, backlog BM_LISTEN_BACKLOG) and returns its fd in *fd (owned by
 * the caller) and the bound port in *port. `what` (borrowed) names the
 * setting in messages (e.g. "rpc.address"). Errors: BM_EINVAL (syntax, port, name resolution),
 * BM_ESYS (socket, bind, listen). May block (name resolution).
 */
enum bm_err bm_listen_tcp(const char *addr, const char *what, int *fd,
                          uint16_t *port, struct bm_errmsg *em);

#endif /* BM_NODE_LISTEN_H */
