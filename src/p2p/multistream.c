#include "p2p/multistream.h"

#include "p2p/varint.h"
#include "util/errmsg.h"

#include <string.h>

enum state {
    ST_FAILED = 0, /* zero: an object that was never initialised is failed */
    ST_HEADER,     /* waiting for the peer's /multistream/1.0.0 */
    ST_PROPOSAL,   /* responder: waiting for a proposal */
    ST_ANSWER,     /* initiator: waiting for the echo or "na" */
    ST_DONE,
};

#define HDR_LEN (sizeof(BM_MULTISTREAM_ID) - 1)
#define QUOTE_MAX 64
#define QLEN(n) ((int)((n) < QUOTE_MAX ? (n) : QUOTE_MAX))

int bm_multistream_put_line(const char *token, size_t len, uint8_t *out,
                            size_t cap)
{
    size_t h;

    if (len == 0 || len >= BM_MULTISTREAM_LINE_MAX) {
        return BM_EINVAL;
    }
    h = bm_varint_size(len + 1);
    if (cap < h + len + 1) {
        return BM_ETOOBIG;
    }
    bm_varint_put(len + 1, out);
    memcpy(out + h, token, len);
    out[h + len] = '\n';
    return (int)(h + len + 1);
}

enum bm_err bm_multistream_init(struct bm_multistream *m,
                                enum bm_multistream_role role,
                                const char *const *protos, size_t n)
{
    memset(m, 0, sizeof(*m));
    if (role != BM_MULTISTREAM_INITIATOR &&
        role != BM_MULTISTREAM_INITIATOR_LAZY &&
        role != BM_MULTISTREAM_RESPONDER) {
        return BM_EINVAL;
    }
    if (protos == NULL || n == 0 ||
        n > (role == BM_MULTISTREAM_RESPONDER ? BM_MULTISTREAM_ACCEPT_MAX
                                              : BM_MULTISTREAM_PROTOS_MAX) ||
        (role == BM_MULTISTREAM_INITIATOR_LAZY && n != 1)) {
        return BM_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (protos[i] == NULL) {
            return BM_EINVAL;
        }
        len = strlen(protos[i]);
        if (len == 0 || len > BM_MULTISTREAM_PROTO_MAX ||
            memchr(protos[i], '\n', len) != NULL) {
            return BM_EINVAL;
        }
    }
    m->protos = protos;
    m->n_protos = (uint16_t)n;
    m->role = (uint8_t)role;
    m->state = ST_HEADER;
    return BM_OK;
}

bool bm_multistream_done(const struct bm_multistream *m)
{
    return m->state == ST_DONE;
}

bool bm_multistream_can_send(const struct bm_multistream *m)
{
    return m->state == ST_DONE || (m->role == BM_MULTISTREAM_INITIATOR_LAZY &&
                                   m->proposed && m->state != ST_FAILED);
}

int bm_multistream_selected(const struct bm_multistream *m)
{
    return bm_multistream_can_send(m) ? m->current : -1;
}

static bool is_initiator(const struct bm_multistream *m)
{
    return m->role != BM_MULTISTREAM_RESPONDER;
}

/* Appends a line; the caller checked out_cap >= OUT_MAX, and a whole
 * negotiation never writes more than that. */
static void emit(const char *token, uint8_t *out, size_t cap, size_t *w)
{
    int r = bm_multistream_put_line(token, strlen(token), out + *w, cap - *w);

    if (r > 0) {
        *w += (size_t)r;
    }
}

static int fail(struct bm_multistream *m, int err)
{
    m->state = ST_FAILED;
    return err;
}

static bool token_eq(const uint8_t *t, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(t, s, n) == 0;
}

/* Handles one token; returns 0 to go on, DONE, or an error. */
static int on_token(struct bm_multistream *m, const uint8_t *tok, size_t len,
                    uint8_t *out, size_t cap, size_t *w, struct bm_errmsg *em)
{
    switch (m->state) {
    case ST_HEADER:
        if (!token_eq(tok, len, BM_MULTISTREAM_ID)) {
            return fail(m, bm_errf(em, BM_EPROTO,
                                   "multistream: expected header '%s', got "
                                   "'%.*s'",
                                   BM_MULTISTREAM_ID, QLEN(len),
                                   (const char *)tok));
        }
        m->state = is_initiator(m) ? ST_ANSWER : ST_PROPOSAL;
        return 0;
    case ST_PROPOSAL:
        for (uint16_t i = 0; i < m->n_protos; i++) {
            if (token_eq(tok, len, m->protos[i])) {
                emit(m->protos[i], out, cap, w);
                m->current = i;
                m->state = ST_DONE;
                return BM_MULTISTREAM_DONE;
            }
        }
        if (m->n_na == BM_MULTISTREAM_NA_MAX) {
            return fail(m, bm_errf(em, BM_EPROTO,
                                   "multistream: more than %d unsupported "
                                   "proposals, last '%.*s'",
                                   BM_MULTISTREAM_NA_MAX, QLEN(len),
                                   (const char *)tok));
        }
        emit("na", out, cap, w);
        m->n_na++;
        return 0;
    case ST_ANSWER:
        if (token_eq(tok, len, m->protos[m->current])) {
            m->state = ST_DONE;
            return BM_MULTISTREAM_DONE;
        }
        if (!token_eq(tok, len, "na")) {
            return fail(m, bm_errf(em, BM_EPROTO,
                                   "multistream: proposed '%s', got '%.*s'",
                                   m->protos[m->current], QLEN(len),
                                   (const char *)tok));
        }
        if (m->current + 1 >= m->n_protos) {
            return fail(m, bm_errf(em, BM_ENOPROTO,
                                   "multistream: peer refused '%s'%s",
                                   m->protos[m->current],
                                   m->n_protos > 1 ? " and every other "
                                                     "proposal"
                                                   : ""));
        }
        m->current++;
        emit(m->protos[m->current], out, cap, w);
        return 0;
    default:
        return fail(m, BM_ESTATE);
    }
}

int bm_multistream_feed(struct bm_multistream *m, const uint8_t *in,
                        size_t in_len, size_t *consumed, uint8_t *out,
                        size_t out_cap, size_t *written, struct bm_errmsg *em)
{
    size_t pos = 0, w = 0;
    int r = BM_MULTISTREAM_AGAIN;

    *consumed = 0;
    *written = 0;
    if (m->state == ST_FAILED) {
        return BM_ESTATE;
    }
    if (m->state == ST_DONE) {
        return BM_MULTISTREAM_DONE;
    }
    if (out == NULL || out_cap < BM_MULTISTREAM_OUT_MAX) {
        return fail(m, BM_EINVAL);
    }
    if (!m->sent_header) {
        /* Both roles write the header at once; an initiator puts its first
         * proposal in the same piece (Go's eager and lazy forms). */
        emit(BM_MULTISTREAM_ID, out, out_cap, &w);
        if (is_initiator(m)) {
            emit(m->protos[0], out, out_cap, &w);
            m->proposed = true;
        }
        m->sent_header = true;
    }
    while (r == BM_MULTISTREAM_AGAIN && pos < in_len) {
        const uint8_t *body;
        size_t len;
        int64_t f = bm_varint_frame_get(in + pos, in_len - pos,
                                        BM_MULTISTREAM_LINE_MAX, &body, &len);
        if (f == 0) {
            break;
        }
        if (f == BM_ETOOBIG) {
            r = fail(m, bm_errf(em, BM_ETOOBIG,
                                "multistream: message above %d bytes",
                                BM_MULTISTREAM_LINE_MAX));
            break;
        }
        if (f < 0) {
            r = fail(m,
                     bm_errf(em, BM_EVARINT, "multistream: bad length prefix"));
            break;
        }
        if (len == 0 || body[len - 1] != '\n') {
            r = fail(m, bm_errf(em, BM_EPROTO,
                                "multistream: message without a trailing "
                                "newline"));
            break;
        }
        pos += (size_t)f;
        r = on_token(m, body, len - 1, out, out_cap, &w, em);
    }
    *consumed = pos;
    *written = w;
    return r;
}
