/*
 * hostile_forge: the bad blocks of the hostile-input scenarios
 * (tests/reliability/scenarios/hostile_*.sh), made with the chain's real
 * genesis and, where the attack needs it, its real proposer key.
 *
 *   hostile_forge --genesis FILE [--signer FILE --passphrase-file FILE]
 *                 --kind KIND --from H [--count N] [--size BYTES]
 *                 (--da URL --ns NAME --data-ns NAME | --p2p)
 *
 * Kinds (each makes, per height H .. H+N-1, a header and/or a data item):
 *   wrong_proposer  header and data proposed and signed by another key
 *   bad_signature   the proposer's header and data, a signature bit flipped
 *   wrong_chain     the proposer's header and data for another chain ID
 *                   (what a header replayed from another chain of the same
 *                   proposer looks like)
 *   fork            another block at H signed by the proposer (at an
 *                   applied height: a fork)
 *   truncated       a fork header cut in half
 *   garbage         random bytes (--size, default random 1..512)
 *   oversize        random bytes of --size (default 1,900,000)
 *
 * --da: every item is posted to the DA server, headers as DAHeaderEnvelope
 * in the header namespace, data as SignedData in the data namespace, one
 * blob.Submit per item; one line per item on stdout:
 *   da KIND HEIGHT header|data HASH DA_HEIGHT
 * --p2p: the gossip encodings (P2PSignedHeader / P2PData), one line each:
 *   header|data KIND HEIGHT HASH HEX
 * HASH is the forged header's Header.Hash() in hex ("-" for data and
 * junk): no node may ever hold a block with that hash.
 *
 * Exit status 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "blockv2/da.h"
#include "blockv2/genesis.h"
#include "blockv2/keys.h"
#include "blockv2/types.h"
#include "blockv2/validate.h"
#include "node/passphrase.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/hex.h"

#define DEFAULT_OVERSIZE 1900000u
#define MAX_SIZE (64u << 20)
#define MAX_COUNT 10000u

enum kind {
    K_WRONG_PROPOSER,
    K_BAD_SIGNATURE,
    K_WRONG_CHAIN,
    K_FORK,
    K_TRUNCATED,
    K_GARBAGE,
    K_OVERSIZE,
    K_COUNT,
};

static const char *const kind_names[K_COUNT] = {
    "wrong_proposer", "bad_signature", "wrong_chain", "fork",
    "truncated",      "garbage",       "oversize",
};

struct opts {
    const char *genesis;
    const char *signer;
    const char *passphrase_file;
    const char *da;
    const char *ns;
    const char *data_ns;
    bool p2p;
    enum kind kind;
    uint64_t from;
    uint64_t count;
    size_t size;
};

struct forge {
    struct opts o;
    struct bm_genesis g;
    struct bm_privkey proposer; /* valid if has_proposer */
    bool has_proposer;
    struct bm_privkey other;    /* a key that is not the proposer */
    struct bm_da_client *da;
    struct bm_da_namespaces ns;
};

static int die(const char *what, int err, const struct bm_errmsg *em)
{
    fprintf(stderr, "hostile_forge: %s: %s (%s)\n", what,
            em != NULL ? bm_errmsg_str(em, err) : bm_strerror(err),
            bm_err_name(err));
    return 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: hostile_forge --genesis FILE [--signer FILE "
            "--passphrase-file FILE]\n"
            "         --kind KIND --from H [--count N] [--size BYTES]\n"
            "         (--da URL --ns NAME --data-ns NAME | --p2p)\n"
            "kinds: wrong_proposer bad_signature wrong_chain fork truncated "
            "garbage oversize\n");
    return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;

    if (s == NULL || *s == '\0' || *s == '-') {
        return false;
    }
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    const char *kind = NULL;
    uint64_t v;

    o->count = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--p2p") == 0) {
            o->p2p = true;
            continue;
        }
        if (val == NULL) {
            return usage();
        }
        i++;
        if (strcmp(a, "--genesis") == 0) {
            o->genesis = val;
        } else if (strcmp(a, "--signer") == 0) {
            o->signer = val;
        } else if (strcmp(a, "--passphrase-file") == 0) {
            o->passphrase_file = val;
        } else if (strcmp(a, "--da") == 0) {
            o->da = val;
        } else if (strcmp(a, "--ns") == 0) {
            o->ns = val;
        } else if (strcmp(a, "--data-ns") == 0) {
            o->data_ns = val;
        } else if (strcmp(a, "--kind") == 0) {
            kind = val;
        } else if (strcmp(a, "--from") == 0 && parse_u64(val, &v)) {
            o->from = v;
        } else if (strcmp(a, "--count") == 0 && parse_u64(val, &v) &&
                   v >= 1 && v <= MAX_COUNT) {
            o->count = v;
        } else if (strcmp(a, "--size") == 0 && parse_u64(val, &v) &&
                   v >= 1 && v <= MAX_SIZE) {
            o->size = (size_t)v;
        } else {
            return usage();
        }
    }
    o->kind = K_COUNT;
    for (int k = 0; kind != NULL && k < K_COUNT; k++) {
        if (strcmp(kind, kind_names[k]) == 0) {
            o->kind = (enum kind)k;
        }
    }
    if (o->genesis == NULL || o->kind == K_COUNT || o->from == 0 ||
        (o->da == NULL) == !o->p2p || (o->da != NULL && o->ns == NULL)) {
        return usage();
    }
    return 0;
}

/* ------------------------------------------------------------ blocks */

static int set_random(struct bm_buf *b, size_t n)
{
    uint8_t tmp[BM_HASH_SIZE];
    int err;

    randombytes_buf(tmp, sizeof(tmp));
    err = bm_buf_set(b, tmp, n < sizeof(tmp) ? n : sizeof(tmp));
    return err;
}

/*
 * A block at height h of chain `chain`, proposed and signed by key: 3 txs
 * unique to this run, time now, random parent and app hashes. Fills *sd
 * and sh (zeroed storage).
 */
static int make_block(const struct forge *f, uint64_t h, const char *chain,
                      const struct bm_privkey *key,
                      struct bm_signed_header *sh, struct bm_signed_data *sd)
{
    struct bm_header *hd = &sh->header;
    uint64_t now = bm_validate_now_ns();
    struct bm_hash dh;
    int err = BM_OK;

    for (unsigned i = 0; err == BM_OK && i < 3; i++) {
        char tx[96];
        uint32_t r = randombytes_random();
        int n = snprintf(tx, sizeof(tx), "hostile-%s-%" PRIu64 "-%u-%08x=x",
                         kind_names[f->o.kind], h, i, r);

        err = bm_data_add_tx(&sd->data, (const uint8_t *)tx, (size_t)n);
    }
    sd->data.has_metadata = true;
    sd->data.metadata.height = h;
    sd->data.metadata.time = now;
    if (err == BM_OK) {
        err = bm_str_set(&sd->data.metadata.chain_id, chain);
    }
    if (err == BM_OK) {
        err = set_random(&sd->data.metadata.last_data_hash, BM_HASH_SIZE);
    }
    hd->version.block = 11;
    hd->height = h;
    hd->time = now;
    if (err == BM_OK) {
        err = set_random(&hd->last_header_hash, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = bm_data_da_commitment(&sd->data, &dh);
    }
    if (err == BM_OK) {
        err = bm_buf_set(&hd->data_hash, dh.b, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = set_random(&hd->app_hash, BM_HASH_SIZE);
    }
    if (err == BM_OK) {
        err = bm_signer_from_privkey(&sh->signer, key);
    }
    if (err == BM_OK) {
        err = bm_buf_copy(&hd->proposer_address, &sh->signer.address);
    }
    if (err == BM_OK) {
        err = bm_str_set(&hd->chain_id, chain);
    }
    if (err == BM_OK) {
        err = bm_signed_header_sign(sh, key);
    }
    if (err == BM_OK) {
        err = bm_signer_from_privkey(&sd->signer, key);
    }
    if (err == BM_OK) {
        err = bm_signed_data_sign(sd, key);
    }
    return err;
}

/* Header bytes (envelope on DA, P2PSignedHeader on P2P) into *out. */
static int encode_header(const struct forge *f,
                         const struct bm_signed_header *sh,
                         const struct bm_privkey *key, struct bm_buf *out)
{
    int err;

    if (f->o.p2p) {
        struct bm_p2p_signed_header p = {.sh = *sh,
                                         .has_da_height_hint = true};

        return bm_p2p_signed_header_encode(&p, out);
    }
    {
        struct bm_da_header_envelope e = {.sh = *sh};

        err = bm_da_header_envelope_sign(&e, key);
        if (err == BM_OK) {
            err = bm_da_header_envelope_encode(&e, out);
        }
        bm_buf_release(&e.envelope_signature);
    }
    return err;
}

/* Data bytes (SignedData on DA, P2PData on P2P) into *out. */
static int encode_data(const struct forge *f, const struct bm_signed_data *sd,
                       struct bm_buf *out)
{
    if (f->o.p2p) {
        struct bm_p2p_data p = {.data = sd->data, .has_da_height_hint = true};

        return bm_p2p_data_encode(&p, out);
    }
    return bm_signed_data_encode(sd, out);
}

/* ------------------------------------------------------------ output */

static int emit(struct forge *f, uint64_t h, bool header, const char *hash,
                const struct bm_buf *b)
{
    const char *which = header ? "header" : "data";
    const char *kind = kind_names[f->o.kind];
    struct bm_errmsg em = {{0}};
    int err;

    if (f->o.p2p) {
        char *hex = bm_xmalloc(2 * b->len + 1);

        bm_hex_encode(hex, b->ptr, b->len);
        printf("%s %s %" PRIu64 " %s %s\n", which, kind, h, hash, hex);
        bm_free(hex);
        return BM_OK;
    }
    {
        struct bm_da_blob blob = {0};
        uint64_t at = 0;

        err = bm_da_blob_init_v0(&blob, header ? &f->ns.header : &f->ns.data,
                                 b->ptr, b->len);
        if (err == BM_OK) {
            err = bm_da_client_submit(f->da, &blob, 1, NULL, 30000, &at, &em);
        }
        bm_da_blob_release(&blob);
        if (err != BM_OK) {
            fprintf(stderr, "hostile_forge: submit %s %s at %" PRIu64
                            " (%zu bytes): %s (%s)\n",
                    kind, which, h, b->len, bm_errmsg_str(&em, err),
                    bm_err_name(err));
            return err;
        }
        printf("da %s %" PRIu64 " %s %s %" PRIu64 "\n", kind, h, which, hash,
               at);
    }
    return BM_OK;
}

static int emit_random(struct forge *f, uint64_t h, size_t size)
{
    struct bm_buf b = {0};
    int err;

    b.ptr = bm_xmalloc(size);
    b.len = size;
    randombytes_buf(b.ptr, size);
    err = emit(f, h, true, "-", &b);
    if (err == BM_OK) {
        randombytes_buf(b.ptr, size);
        err = emit(f, h, false, "-", &b);
    }
    bm_buf_release(&b);
    return err;
}

/* ------------------------------------------------------------ kinds */

static int forge_one(struct forge *f, uint64_t h)
{
    struct bm_signed_header sh = {0};
    struct bm_signed_data sd = {0};
    struct bm_buf hb = {0}, db = {0};
    const struct bm_privkey *key = &f->proposer;
    const char *chain = f->g.chain_id;
    char other_chain[256];
    char hash_hex[2 * BM_HASH_SIZE + 1];
    struct bm_hash hash;
    int err;

    switch (f->o.kind) {
    case K_GARBAGE:
        return emit_random(f, h, f->o.size != 0
                                     ? f->o.size
                                     : 1 + randombytes_uniform(512));
    case K_OVERSIZE:
        return emit_random(f, h, f->o.size != 0 ? f->o.size
                                                : DEFAULT_OVERSIZE);
    case K_WRONG_PROPOSER:
        key = &f->other;
        break;
    case K_WRONG_CHAIN:
        snprintf(other_chain, sizeof(other_chain), "%.200s-other", chain);
        chain = other_chain;
        break;
    default:
        break;
    }
    if (key == &f->proposer && !f->has_proposer) {
        fprintf(stderr, "hostile_forge: kind %s needs --signer and "
                        "--passphrase-file\n", kind_names[f->o.kind]);
        return BM_EINVAL;
    }
    err = make_block(f, h, chain, key, &sh, &sd);
    if (err == BM_OK && f->o.kind == K_BAD_SIGNATURE) {
        sh.signature.ptr[7] ^= 0x10;
        sd.signature.ptr[7] ^= 0x10;
    }
    if (err == BM_OK) {
        err = bm_header_hash(&sh.header, &hash);
    }
    if (err == BM_OK) {
        bm_hex_encode(hash_hex, hash.b, BM_HASH_SIZE);
        err = encode_header(f, &sh, key, &hb);
    }
    if (err == BM_OK) {
        err = encode_data(f, &sd, &db);
    }
    if (err == BM_OK && f->o.kind == K_TRUNCATED) {
        hb.len /= 2;
        db.len /= 2;
    }
    if (err == BM_OK) {
        err = emit(f, h, true, hash_hex, &hb);
    }
    if (err == BM_OK) {
        err = emit(f, h, false, "-", &db);
    }
    bm_buf_release(&hb);
    bm_buf_release(&db);
    bm_signed_header_release(&sh);
    bm_signed_data_release(&sd);
    return err;
}

static int load_proposer(struct forge *f)
{
    struct bm_errmsg em = {{0}};
    uint8_t pass[BM_PASSPHRASE_MAX];
    size_t len = 0;
    int err;

    err = bm_passphrase_read(f->o.passphrase_file, false, pass, sizeof(pass),
                             &len, &em);
    if (err != BM_OK) {
        return die("passphrase", err, &em);
    }
    err = bm_signer_file_load(f->o.signer, pass, len, &f->proposer, &em);
    sodium_memzero(pass, sizeof(pass));
    if (err != BM_OK) {
        return die("signer", err, &em);
    }
    f->has_proposer = true;
    return 0;
}

int main(int argc, char **argv)
{
    struct forge f = {0};
    struct bm_errmsg em = {{0}};
    uint8_t seed[32];
    int rc, err;

    rc = parse_args(argc, argv, &f.o);
    if (rc != 0) {
        return rc;
    }
    if (bm_crypto_init() != BM_OK) {
        fprintf(stderr, "hostile_forge: libsodium init failed\n");
        return 1;
    }
    err = bm_genesis_load(&f.g, f.o.genesis, &em);
    if (err != BM_OK) {
        return die("genesis", err, &em);
    }
    randombytes_buf(seed, sizeof(seed));
    bm_privkey_from_seed(&f.other, seed);
    if (f.o.signer != NULL) {
        rc = load_proposer(&f);
    }
    if (rc == 0 && f.o.da != NULL) {
        struct bm_da_client_config cfg = {.url = f.o.da,
                                          .max_blob_size = MAX_SIZE};

        err = bm_da_namespaces_from_config(&f.ns, f.o.ns, f.o.data_ns, &em);
        if (err == BM_OK) {
            err = bm_da_client_new(&f.da, &cfg, &em);
        }
        if (err != BM_OK) {
            rc = die("da", err, &em);
        }
    }
    for (uint64_t i = 0; rc == 0 && i < f.o.count; i++) {
        if (forge_one(&f, f.o.from + i) != BM_OK) {
            rc = 1;
        }
    }
    fflush(stdout);
    bm_da_client_free(f.da);
    bm_privkey_wipe(&f.proposer);
    bm_privkey_wipe(&f.other);
    bm_genesis_release(&f.g);
    return rc;
}
