/*
 * blockv2 error codes.
 *
 * One negative, append-only enum for the whole project. Every fallible
 * function returns `enum bm_err` (BM_OK == 0 on success) or, where it
 * returns a count, a value >= 0 on success and a negative bm_err on failure,
 * so a count and an error share one int64_t.
 *
 * The table below is the single source of truth: bm_err_name() and
 * bm_strerror() are generated from it. Values are explicit and never reused;
 * append new codes inside the block of their subsystem (gaps are reserved).
 */
#ifndef BM_BLOCKV2_ERR_H
#define BM_BLOCKV2_ERR_H

#include <stddef.h>

/* X(NAME, value, "description") */
#define BM_ERR_MAP(X)                                                          \
    /* generic: 0 .. -29 */                                                    \
    X(OK, 0, "success")                                                        \
    X(ENOMEM, -1, "out of memory")                                             \
    X(EINVAL, -2, "invalid argument")                                          \
    X(ENOTFOUND, -3, "not found")                                              \
    X(ECORRUPT, -4, "corrupt data")                                            \
    X(ECLOSED, -5, "object is closed")                                         \
    X(ETIMEDOUT, -6, "timed out")                                              \
    X(EPROTO, -7, "protocol error")                                            \
    X(ETOOBIG, -8, "size above the allowed maximum")                           \
    X(EFULL, -9, "queue or mailbox is full")                                   \
    X(EEXIST, -10, "already exists")                                           \
    X(EIO, -11, "input/output error")                                          \
    X(ESTATE, -12, "operation not allowed in the current state")              \
    X(EBUSY, -13, "resource busy")                                             \
    X(EAGAIN, -14, "try again")                                                \
    X(EOVERFLOW, -15, "arithmetic overflow")                                   \
    X(ECANCELED, -16, "operation canceled")                                    \
    X(EUNSUPPORTED, -17, "not supported")                                      \
    X(ECRYPTO, -18, "cryptographic operation failed")                          \
    X(EAUTH, -19, "authentication failed")                                     \
    X(ESYS, -20, "system call failed")                                         \
    X(ELOCKED, -21, "locked by another process")                               \
    X(EPARSE, -22, "cannot parse input")                                       \
    X(EPERM, -23, "permission denied")                                         \
    X(EEMPTY, -24, "empty")                                                    \
    X(ECONNECT, -25, "cannot connect")                                         \
    /* wire decoding: -30 .. -39 */                                            \
    X(EDECODE, -30, "malformed encoding")                                      \
    X(ETRUNCATED, -31, "input truncated")                                      \
    X(EWIRETYPE, -32, "wrong protobuf wire type")                              \
    X(EVARINT, -33, "malformed or overlong varint")                            \
    X(EMISSING, -34, "required field missing")                                 \
    X(EBADKEY, -35, "malformed public or private key")                         \
    /* actor runtime: -40 .. -59 */                                            \
    X(ESTOPPED, -40, "actor is stopped")                                       \
    X(ERESTARTING, -41, "actor is restarting")                                 \
    X(EBADMSG, -42, "message failed validation")                               \
    X(ECIRCUIT_OPEN, -43, "circuit breaker is open")                           \
    X(ERATE_LIMITED, -44, "rate limit exceeded")                               \
    X(ESHUTDOWN, -45, "system is shutting down")                               \
    X(EFATAL, -46, "fatal actor failure")                                      \
    X(EESCALATED, -47, "supervisor gave up: restart intensity exceeded")       \
    X(EDEADLINE, -48, "request deadline passed")                               \
    X(ENOACTOR, -49, "no such actor")                                          \
    /* validation (spec section 3): -60 .. -99 */                              \
    X(ENO_PROPOSER, -60, "header has no proposer address")                     \
    X(ENO_SIGNATURE, -61, "signature is empty")                                \
    X(EPROPOSER_MISMATCH, -62, "proposer address differs from signer address") \
    X(EADDRESS_MISMATCH, -63, "signer address is not SHA-256 of its key")      \
    X(ENO_PUBKEY, -64, "signer has no public key")                             \
    X(EBAD_SIGNATURE, -65, "signature does not verify")                        \
    X(ETIME_ZERO, -66, "time is zero")                                         \
    X(ETIME_FUTURE, -67, "time is too far in the future")                      \
    X(EHEIGHT_ZERO, -68, "height is zero")                                     \
    X(ECHAIN_ID_MISMATCH, -69, "chain id differs")                             \
    X(EHEIGHT_MISMATCH, -70, "height is not the expected next height")         \
    X(ETIME_NOT_MONOTONIC, -71, "time goes backwards")                         \
    X(ELAST_HEADER_HASH, -72, "last header hash does not link")                \
    X(EAPP_HASH_MISMATCH, -73, "app hash differs from state")                  \
    X(EDATA_HASH_MISMATCH, -74, "data hash differs from data commitment")      \
    X(EDATA_CHAIN_ID, -75, "data chain id differs from header")                \
    X(EDATA_HEIGHT, -76, "data height differs from header")                    \
    X(EDATA_TIME, -77, "data time differs from header")                        \
    X(ENO_METADATA, -78, "data has no metadata")                               \
    X(ECHAIN_ID_EMPTY, -79, "chain id is empty")                               \
    X(ELAST_DATA_HASH, -80, "last data hash does not link")                    \
    X(ENOT_PROPOSER, -81, "not the expected proposer")                         \
    X(EHEIGHT_ORDER, -82, "untrusted height not above trusted height")         \
    X(EEMPTY_BLOCK, -83, "empty-block rule violated")                          \
    X(EENVELOPE_SIGNATURE, -84, "DA envelope signature does not verify")       \
    X(EFORK, -85, "conflicts with the block applied at that height")          \
    /* store: -100 .. -119 */                                                  \
    X(EMAP_FULL, -100, "database map is full")                                 \
    X(EREADONLY, -101, "database is read-only")                                \
    X(ENOHOME, -102, "node home does not exist")                               \
    /* DA (spec section 5.1 status codes): -120 .. -139 */                     \
    X(EDA_NOT_FOUND, -120, "DA: blob not found")                               \
    X(EDA_FUTURE_HEIGHT, -121, "DA: height is from the future")                \
    X(EDA_TOO_BIG, -122, "DA: blob size over limit")                           \
    X(EDA_IN_MEMPOOL, -123, "DA: tx already in mempool")                       \
    X(EDA_NOT_INCLUDED, -124, "DA: tx not included")                           \
    X(EDA_DEADLINE, -125, "DA: context deadline exceeded")                     \
    X(EDA_ERROR, -126, "DA: error")                                            \
    /* keys, config, genesis: -140 .. -159 */                                  \
    X(EPASSPHRASE, -140, "wrong passphrase")                                   \
    X(ECONFIG, -141, "invalid configuration")                                  \
    X(EGENESIS, -142, "invalid genesis")                                       \
    /* execution and sequencing: -160 .. -179 */                               \
    X(EEXEC, -160, "execution failed")                                         \
    X(EQUEUE_FULL, -161, "sequencer queue is full")                            \
    X(EBADTX, -162, "malformed transaction")                                   \
    X(EEXEC_AHEAD, -163, "executor is ahead of the store")                     \
    X(EEXEC_INVALID, -164, "execution client rejected the block")             \
    X(EEXEC_CHAIN, -165, "execution client is on another chain")              \
    X(ERPC, -166, "JSON-RPC error response")                                  \
    /* p2p: -180 .. -199 (-180 .. -189 protocol layers, -190 .. host) */       \
    X(EPEER_MISMATCH, -180, "remote proved another peer ID than expected")     \
    X(ENOPROTO, -181, "peer supports none of the proposed protocols")          \
    X(ENOMUXER, -182, "no common stream muxer")                               \
    /* high availability (etcd): -200 .. -219 */                               \
    X(EETCD, -200, "etcd: error")                                              \
    X(ENOT_LEADER, -201, "not the leader: fencing token rejected")            \
    X(ELEASE_EXPIRED, -202, "etcd lease expired")

enum bm_err {
#define BM_ERR_ENUM_(name, val, desc) BM_##name = (val),
    BM_ERR_MAP(BM_ERR_ENUM_)
#undef BM_ERR_ENUM_
};

/* Returns a static description ("out of memory"); never NULL. */
const char *bm_strerror(int err);

/* Returns the static symbolic name ("BM_ENOMEM"); never NULL. */
const char *bm_err_name(int err);

#endif /* BM_BLOCKV2_ERR_H */
