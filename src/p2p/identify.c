/* identify message and stream framing; see identify.h. */
#include "p2p/identify.h"

#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "libp2p_identify.pb-c.h"
#include "p2p/varint.h"
#include "util/alloc.h"

/* protobuf-c allocations go through bm_malloc (counted, leak-checked). */
static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return bm_malloc(size);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    bm_free(p);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

void bm_identify_release(struct bm_identify *id)
{
    if (id == NULL) {
        return;
    }
    bm_buf_release(&id->public_key);
    for (size_t i = 0; i < id->n_listen_addrs; i++) {
        bm_buf_release(&id->listen_addrs[i]);
    }
    bm_free(id->listen_addrs);
    for (size_t i = 0; i < id->n_protocols; i++) {
        bm_free(id->protocols[i]);
    }
    bm_free(id->protocols);
    bm_buf_release(&id->observed_addr);
    bm_free(id->protocol_version);
    bm_free(id->agent_version);
    memset(id, 0, sizeof(*id));
}

enum bm_err bm_identify_encode(const struct bm_identify *id,
                               struct bm_buf *out)
{
    Identify__Pb__Identify m = IDENTIFY__PB__IDENTIFY__INIT;
    ProtobufCBinaryData *addrs = NULL;
    size_t len, pre;
    uint8_t hdr[BM_VARINT_MAX_LEN];
    enum bm_err err = BM_OK;

    bm_buf_release(out);
    if (id->public_key.len > 0) {
        m.has_publickey = true;
        m.publickey.data = id->public_key.ptr;
        m.publickey.len = id->public_key.len;
    }
    if (id->n_listen_addrs > 0) {
        addrs = bm_calloc(id->n_listen_addrs, sizeof(*addrs));
        if (addrs == NULL) {
            return BM_ENOMEM;
        }
        for (size_t i = 0; i < id->n_listen_addrs; i++) {
            addrs[i].data = id->listen_addrs[i].ptr;
            addrs[i].len = id->listen_addrs[i].len;
        }
        m.n_listenaddrs = id->n_listen_addrs;
        m.listenaddrs = addrs;
    }
    m.n_protocols = id->n_protocols;
    m.protocols = id->protocols;
    if (id->observed_addr.len > 0) {
        m.has_observedaddr = true;
        m.observedaddr.data = id->observed_addr.ptr;
        m.observedaddr.len = id->observed_addr.len;
    }
    m.protocolversion = id->protocol_version;
    m.agentversion = id->agent_version;
    len = protobuf_c_message_get_packed_size(&m.base);
    if (len > BM_IDENTIFY_SEND_MAX) {
        err = BM_ETOOBIG;
        goto out;
    }
    pre = bm_varint_frame_put_header((uint32_t)len, hdr);
    out->ptr = bm_malloc(pre + len);
    if (out->ptr == NULL) {
        err = BM_ENOMEM;
        goto out;
    }
    memcpy(out->ptr, hdr, pre);
    (void)protobuf_c_message_pack(&m.base, out->ptr + pre);
    out->len = pre + len;
out:
    bm_free(addrs);
    return err;
}

/* Grows *arr (elements of elem bytes, *count used) by n; the new
 * elements are zeroed. */
static enum bm_err grow(void **arr, size_t count, size_t n, size_t elem)
{
    size_t total, bytes;
    uint8_t *na;

    if (!bm_size_add(count, n, &total) || !bm_size_mul(total, elem, &bytes)) {
        return BM_EOVERFLOW;
    }
    na = bm_realloc(*arr, bytes);
    if (na == NULL) {
        return BM_ENOMEM;
    }
    memset(na + count * elem, 0, n * elem);
    *arr = na;
    return BM_OK;
}

/* Appends copies of src[0..n) to a bm_buf array. */
static enum bm_err append_bufs(struct bm_buf **arr, size_t *count,
                               const ProtobufCBinaryData *src, size_t n)
{
    void *a = *arr;
    enum bm_err err = n > 0 ? grow(&a, *count, n, sizeof(**arr)) : BM_OK;

    *arr = a;
    for (size_t i = 0; err == BM_OK && i < n; i++) {
        err = bm_buf_set(&(*arr)[*count], src[i].data, src[i].len);
        (*count)++; /* counted even on failure: released with the rest */
    }
    return err;
}

/* Appends copies of the strings src[0..n) to a string array. */
static enum bm_err append_strs(char ***arr, size_t *count, char *const *src,
                               size_t n)
{
    void *a = *arr;
    enum bm_err err = n > 0 ? grow(&a, *count, n, sizeof(**arr)) : BM_OK;

    *arr = a;
    for (size_t i = 0; err == BM_OK && i < n; i++) {
        (*arr)[*count] = bm_strdup(src[i] != NULL ? src[i] : "");
        err = (*arr)[*count] != NULL ? BM_OK : BM_ENOMEM;
        (*count)++;
    }
    return err;
}

static enum bm_err set_str(char **dst, const char *src)
{
    char *s = bm_strdup(src);

    if (s == NULL) {
        return BM_ENOMEM;
    }
    bm_free(*dst);
    *dst = s;
    return BM_OK;
}

enum bm_err bm_identify_merge(struct bm_identify *acc, const uint8_t *p,
                              size_t n)
{
    Identify__Pb__Identify *m;
    struct bm_identify next;
    enum bm_err err = BM_OK;

    if (n > BM_IDENTIFY_MSG_MAX) {
        return BM_ETOOBIG;
    }
    m = identify__pb__identify__unpack(&pb_allocator, n, p);
    if (m == NULL) {
        /* protobuf-c does not tell a malformed message from a failed
         * allocation; at 8 KiB the former is by far the likelier. */
        return BM_EDECODE;
    }
    /* Build the merged value aside so *acc is untouched on error. */
    memset(&next, 0, sizeof(next));
    if (m->has_publickey) {
        err = bm_buf_set(&next.public_key, m->publickey.data,
                         m->publickey.len);
    } else if (acc->public_key.len > 0) {
        err = bm_buf_copy(&next.public_key, &acc->public_key);
    }
    if (err == BM_OK) {
        for (size_t i = 0; err == BM_OK && i < acc->n_listen_addrs; i++) {
            ProtobufCBinaryData d = {acc->listen_addrs[i].len,
                                     acc->listen_addrs[i].ptr};

            err = append_bufs(&next.listen_addrs, &next.n_listen_addrs, &d,
                              1);
        }
    }
    if (err == BM_OK) {
        err = append_bufs(&next.listen_addrs, &next.n_listen_addrs,
                          m->listenaddrs, m->n_listenaddrs);
    }
    if (err == BM_OK) {
        err = append_strs(&next.protocols, &next.n_protocols, acc->protocols,
                          acc->n_protocols);
    }
    if (err == BM_OK) {
        err = append_strs(&next.protocols, &next.n_protocols, m->protocols,
                          m->n_protocols);
    }
    if (err == BM_OK) {
        if (m->has_observedaddr) {
            err = bm_buf_set(&next.observed_addr, m->observedaddr.data,
                             m->observedaddr.len);
        } else if (acc->observed_addr.len > 0) {
            err = bm_buf_copy(&next.observed_addr, &acc->observed_addr);
        }
    }
    if (err == BM_OK) {
        const char *pv = m->protocolversion != NULL ? m->protocolversion
                                                    : acc->protocol_version;
        const char *av = m->agentversion != NULL ? m->agentversion
                                                 : acc->agent_version;

        if (pv != NULL) {
            err = set_str(&next.protocol_version, pv);
        }
        if (err == BM_OK && av != NULL) {
            err = set_str(&next.agent_version, av);
        }
    }
    protobuf_c_message_free_unpacked(&m->base, &pb_allocator);
    if (err != BM_OK) {
        bm_identify_release(&next);
        return err;
    }
    bm_identify_release(acc);
    *acc = next;
    return BM_OK;
}

bool bm_identify_has_protocol(const struct bm_identify *id,
                              const char *proto)
{
    for (size_t i = 0; i < id->n_protocols; i++) {
        if (strcmp(id->protocols[i], proto) == 0) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ reader */

#define READER_BUF (BM_IDENTIFY_MSG_MAX + BM_VARINT_MAX_LEN)

/* Parses every whole message in q[0..n); returns the bytes used or a
 * negative error. */
static int64_t parse_messages(struct bm_identify_reader *r, const uint8_t *q,
                              size_t n)
{
    size_t off = 0;

    while (off < n) {
        const uint8_t *body;
        size_t len;
        int64_t k = bm_varint_frame_get(q + off, n - off, BM_IDENTIFY_MSG_MAX,
                                        &body, &len);
        enum bm_err err;

        if (k < 0) {
            return k;
        }
        if (k == 0) {
            break;
        }
        if (r->msgs >= BM_IDENTIFY_MSGS_MAX) {
            return BM_EPROTO;
        }
        err = bm_identify_merge(&r->id, body, len);
        if (err != BM_OK) {
            return err;
        }
        r->msgs++;
        off += (size_t)k;
    }
    return (int64_t)off;
}

enum bm_err bm_identify_reader_feed(struct bm_identify_reader *r,
                                    const uint8_t *p, size_t n)
{
    while (n > 0) {
        int64_t used;
        size_t k;

        if (r->len == 0) {
            /* Fast path: parse straight from the input. */
            used = parse_messages(r, p, n);
            if (used < 0) {
                return (enum bm_err)used;
            }
            p += used;
            n -= (size_t)used;
            if (n == 0) {
                return BM_OK;
            }
        }
        if (r->buf == NULL) {
            r->buf = bm_malloc(READER_BUF);
            if (r->buf == NULL) {
                return BM_ENOMEM;
            }
        }
        /* Buffer what a partial message needs (never more than its cap:
         * the prefix was already checked against it). */
        k = READER_BUF - r->len < n ? READER_BUF - r->len : n;
        memcpy(r->buf + r->len, p, k);
        r->len += k;
        p += k;
        n -= k;
        used = parse_messages(r, r->buf, r->len);
        if (used < 0) {
            return (enum bm_err)used;
        }
        if (used == 0 && r->len == READER_BUF) {
            return BM_ETOOBIG; /* cannot happen: a frame fits the buffer */
        }
        memmove(r->buf, r->buf + used, r->len - (size_t)used);
        r->len -= (size_t)used;
    }
    return BM_OK;
}

enum bm_err bm_identify_reader_finish(struct bm_identify_reader *r,
                                      struct bm_identify *out)
{
    if (r->len > 0) {
        return BM_ETRUNCATED;
    }
    if (r->msgs == 0) {
        return BM_EEMPTY;
    }
    bm_identify_release(out);
    *out = r->id;
    memset(&r->id, 0, sizeof(r->id));
    return BM_OK;
}

void bm_identify_reader_release(struct bm_identify_reader *r)
{
    if (r == NULL) {
        return;
    }
    bm_identify_release(&r->id);
    bm_free(r->buf);
    memset(r, 0, sizeof(*r));
}
