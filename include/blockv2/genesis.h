/*
 * genesis.json (spec section 9.1, docs/KEYS.md), current ev-node format:
 *
 *   {"chain_id": string, "start_time": RFC 3339 time,
 *    "initial_height": number, "proposer_address": base64,
 *    "da_start_height": number (default 0),
 *    "da_epoch_forced_inclusion": number >= 1 (default 50)}
 *
 * Numbers are exact unsigned 64-bit integers (floats, exponents,
 * negatives, strings and values above 2^64-1 are refused). start_time
 * accepts RFC 3339 with optional fractional seconds (digits past the 9th
 * are truncated, as Go does) and "Z" or a +hh:mm / -hh:mm offset; it is
 * written as Go writes a UTC time.Time ("2006-01-02T15:04:05.999999999Z",
 * trailing fraction zeros dropped). Times must lie in
 * 1970-01-01T00:00:00Z .. 2554-07-21T23:34:33.709551615Z (Unix
 * nanoseconds in a uint64). Unknown fields are ignored.
 *
 * Errors name the file and the field ("genesis 'g.json': initial_height:
 * must be at least 1, got 0"): BM_EPARSE (not a JSON object), BM_EGENESIS
 * (a field is missing, has the wrong type, or is invalid), BM_ETOOBIG
 * (file above BM_GENESIS_FILE_MAX), BM_ENOTFOUND, BM_EPERM, BM_EIO,
 * BM_EEXIST, BM_ENOMEM.
 *
 * struct bm_genesis is a value type that owns its buffers: zero-initialise,
 * release with bm_genesis_release. Functions are reentrant; the file
 * functions block (disk I/O, fsync).
 */
#ifndef BM_BLOCKV2_GENESIS_H
#define BM_BLOCKV2_GENESIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockv2/buf.h"
#include "blockv2/err.h"

struct bm_errmsg;

#define BM_GENESIS_FILE_NAME "genesis.json"
#define BM_GENESIS_FILE_MAX (1u << 20)       /* bytes */
#define BM_GENESIS_CHAIN_ID_MAX 1024u        /* bytes (= BM_MAX_CHAIN_ID) */
#define BM_GENESIS_PROPOSER_MAX 1024u        /* bytes (= BM_MAX_HASH_FIELD) */
#define BM_GENESIS_DEFAULT_DA_EPOCH 50u

struct bm_genesis {
    char *chain_id;                    /* owned, non-empty UTF-8, no NUL */
    uint64_t start_time_ns;            /* Unix nanoseconds, non-zero */
    uint64_t initial_height;           /* >= 1 */
    struct bm_buf proposer_address;    /* owned, non-empty (32 bytes:
                                          SHA-256 of the proposer key) */
    uint64_t da_start_height;          /* default 0 */
    uint64_t da_epoch_forced_inclusion; /* >= 1, default 50 */
};

/* Frees the contents and zeroes *g. NULL-safe. */
void bm_genesis_release(struct bm_genesis *g);

/* Deep copy; *dst is released first. BM_ENOMEM leaves *dst zeroed. */
enum bm_err bm_genesis_copy(struct bm_genesis *dst,
                            const struct bm_genesis *src);

/*
 * Checks the rules of ev-node's Genesis.Validate plus ours: chain_id
 * non-empty, at most BM_GENESIS_CHAIN_ID_MAX bytes, valid UTF-8;
 * initial_height >= 1; start_time_ns != 0; proposer_address non-empty and
 * at most BM_GENESIS_PROPOSER_MAX bytes; da_epoch_forced_inclusion >= 1.
 * name (may be NULL) is used in the message. BM_OK or BM_EGENESIS.
 */
enum bm_err bm_genesis_validate(const struct bm_genesis *g, const char *name,
                                struct bm_errmsg *em);

/*
 * Parses and validates genesis JSON p[0..n) (borrowed) into *out
 * (released first; returns owned). Absent da_start_height is 0, absent
 * da_epoch_forced_inclusion is 50. On failure *out is left zeroed.
 */
enum bm_err bm_genesis_parse(struct bm_genesis *out, const uint8_t *p,
                             size_t n, const char *name,
                             struct bm_errmsg *em);

/*
 * JSON text as Go's json.MarshalIndent(genesis, "", "  ") writes it (field
 * order as above, Go string escaping). Validates first (BM_EGENESIS).
 * *out released first; returns owned. BM_ENOMEM.
 */
enum bm_err bm_genesis_encode(const struct bm_genesis *g, struct bm_buf *out,
                              struct bm_errmsg *em);

/* Reads, parses and validates the file at path (borrowed). Blocks. */
enum bm_err bm_genesis_load(struct bm_genesis *out, const char *path,
                            struct bm_errmsg *em);

/* Validates and writes g atomically (mode 0644). BM_EEXIST if the file
 * exists and !overwrite (ev-node's init keeps an existing genesis).
 * Blocks. */
enum bm_err bm_genesis_save(const struct bm_genesis *g, const char *path,
                            bool overwrite, struct bm_errmsg *em);

/* ---- RFC 3339 times (used by genesis; reusable) ---- */

/* Longest output of bm_genesis_time_format, with NUL. */
#define BM_RFC3339_SIZE 40

/*
 * Parses s[0..len) (borrowed) as RFC 3339 ("YYYY-MM-DDTHH:MM:SS[.frac]"
 * followed by "Z" or "+hh:mm"/"-hh:mm"; upper-case T and Z as Go requires)
 * into Unix nanoseconds. BM_EPARSE on bad syntax or out-of-range fields
 * (month 13, Feb 30, hour 24, second 60), BM_EOVERFLOW if the instant is
 * before 1970 or after 2554-07-21T23:34:33.709551615Z. Go's zero time
 * (0001-01-01T00:00:00Z) is BM_EOVERFLOW too.
 */
enum bm_err bm_genesis_time_parse(const char *s, size_t len, uint64_t *ns);

/* Formats Unix nanoseconds as Go's RFC3339Nano in UTC into out. */
void bm_genesis_time_format(uint64_t ns, char out[BM_RFC3339_SIZE]);

#endif /* BM_BLOCKV2_GENESIS_H */
