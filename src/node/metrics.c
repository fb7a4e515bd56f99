/* Prometheus metrics, see metrics.h and docs/OPERATIONS.md "Metrics". */
#include "node/metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "actors/env.h"
#include "blockv2/ha.h"
#include "node/ha_forward.h"
#include "blockv2/limiter.h"
#include "blockv2/store.h"
#include "node/listen.h"
#include "node/rpc.h"
#include "p2p/chainsync.h"
#include "p2p/host.h"
#include "util/alloc.h"
#include "util/errmsg.h"
#include "util/log.h"

/* ------------------------------------------------------------ renderer */

struct page {
    struct bm_dynbuf d;
    enum bm_err err;
    const char *chain_id;
};

static void put(struct page *p, const char *s, size_t n)
{
    if (p->err == BM_OK) {
        p->err = bm_dynbuf_append(&p->d, s, n);
    }
}

static void puts_(struct page *p, const char *s)
{
    put(p, s, strlen(s));
}

static void printf_(struct page *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void printf_(struct page *p, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        if (p->err == BM_OK) {
            p->err = BM_EINVAL; /* only our own short formats come here */
        }
        return;
    }
    put(p, buf, (size_t)n);
}

/* Label value escaping of the text format: \ " and newline. */
static void label_value(struct page *p, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '\\') {
            puts_(p, "\\\\");
        } else if (*s == '"') {
            puts_(p, "\\\"");
        } else if (*s == '\n') {
            puts_(p, "\\n");
        } else {
            put(p, s, 1);
        }
    }
}

/* HELP text escaping: \ and newline. */
static void help_text(struct page *p, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            puts_(p, "\\\\");
        } else if (*s == '\n') {
            puts_(p, "\\n");
        } else {
            put(p, s, 1);
        }
    }
}

static void family(struct page *p, const char *prefix, const char *name,
                   const char *type, const char *help)
{
    printf_(p, "# HELP %s%s ", prefix, name);
    help_text(p, help);
    printf_(p, "\n# TYPE %s%s %s\n", prefix, name, type);
}

/* One sample: prefix+name+suffix{chain_id="...",k1="v1",k2="v2"} value.
 * k1/k2 may be NULL. */
static void sample(struct page *p, const char *prefix, const char *name,
                   const char *suffix, const char *k1, const char *v1,
                   const char *k2, const char *v2, const char *value)
{
    printf_(p, "%s%s%s{chain_id=\"", prefix, name, suffix);
    label_value(p, p->chain_id);
    puts_(p, "\"");
    if (k1 != NULL) {
        printf_(p, ",%s=\"", k1);
        label_value(p, v1);
        puts_(p, "\"");
    }
    if (k2 != NULL) {
        printf_(p, ",%s=\"", k2);
        label_value(p, v2);
        puts_(p, "\"");
    }
    printf_(p, "} %s\n", value);
}

static void sample_u64(struct page *p, const char *prefix, const char *name,
                       const char *k1, const char *v1, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    sample(p, prefix, name, "", k1, v1, NULL, NULL, buf);
}

/* A family with one unlabelled sample. */
static void single(struct page *p, const char *prefix, const char *name,
                   const char *type, const char *help, uint64_t v)
{
    family(p, prefix, name, type, help);
    sample_u64(p, prefix, name, NULL, NULL, v);
}

bool bm_metrics_ns_valid(const char *ns)
{
    size_t n = ns ? strlen(ns) : 0;

    if (n == 0 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = ns[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || c == ':';

        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
            return false;
        }
    }
    return true;
}

static void evnode_metrics(struct page *p, const char *pre,
                           const struct bm_metrics_snapshot *in)
{
    const struct bm_manager_metrics *m = &in->m;
    /* ev-node's submitter failure reasons; blockv2 counts three classes. */
    static const char *const reasons[] = {
        "already_rejected", "insufficient_fee", "timeout",
        "already_in_mempool", "not_included_in_block", "too_big",
        "context_canceled", "unknown",
    };

    single(p, pre, "height", "gauge", "Height of the chain.", m->height);
    single(p, pre, "num_txs", "gauge",
           "Number of transactions in the latest block.", m->last_block_txs);
    single(p, pre, "total_txs", "gauge", "Total number of transactions.",
           m->total_txs);
    single(p, pre, "block_size_bytes", "gauge",
           "Size of the latest block in bytes.", m->last_block_bytes);
    single(p, pre, "latest_block_height", "gauge",
           "The latest block height.", m->height);
    single(p, pre, "da_inclusion_height", "gauge",
           "Height up to which all blocks are included in DA.",
           m->da_included_height);
    single(p, pre, "pending_headers_count", "gauge",
           "Number of headers pending DA submission.", in->pending_headers);
    single(p, pre, "pending_data_count", "gauge",
           "Number of data blobs pending DA submission.", in->pending_data);

    family(p, pre, "blocks_synchronized_total", "counter",
           "Blocks synchronized by source.");
    sample_u64(p, pre, "blocks_synchronized_total", "source", "da",
               m->blocks_synced_da);
    sample_u64(p, pre, "blocks_synchronized_total", "source", "p2p",
               m->blocks_synced_p2p);

    family(p, pre, "da_submitter_failures_total", "counter",
           "DA submission failures by reason.");
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        uint64_t v = 0;

        if (strcmp(reasons[i], "too_big") == 0) {
            v = m->da_submit_too_big;
        } else if (strcmp(reasons[i], "already_in_mempool") == 0) {
            v = m->da_submit_mempool;
        } else if (strcmp(reasons[i], "unknown") == 0) {
            v = m->da_submit_other;
        }
        sample_u64(p, pre, "da_submitter_failures_total", "reason",
                   reasons[i], v);
    }
    single(p, pre, "da_submission_successes_total", "counter",
           "Successful DA submit calls.", m->da_submissions);
    single(p, pre, "da_submission_failures_total", "counter",
           "Failed DA submit calls (any reason).", m->da_submit_failures);
    single(p, pre, "da_retrieval_failures_total", "counter",
           "Failed DA retrieval calls.", m->da_retrieve_errors);
}

static void blockv2_counters(struct page *p,
                             const struct bm_manager_metrics *m)
{
    const char *pre = "blockv2_";

    single(p, pre, "blocks_produced_total", "counter",
           "Blocks produced by this aggregator.", m->blocks_produced);
    single(p, pre, "headers_submitted_total", "counter",
           "Headers submitted to DA.", m->headers_submitted);
    single(p, pre, "data_submitted_total", "counter",
           "Data blobs submitted to DA.", m->data_submitted);
    single(p, pre, "da_heights_scanned_total", "counter",
           "DA heights retrieved by the full node.", m->da_heights_scanned);
    single(p, pre, "reaper_txs_total", "counter",
           "Transactions handed to the sequencer by the reaper.",
           m->reaper_txs);
    single(p, pre, "skipped_backpressure_total", "counter",
           "Block ticks skipped because too many blocks are not yet on DA.",
           m->skipped_backpressure);
    single(p, pre, "exec_failures_total", "counter",
           "Executor call failures.", m->exec_failures);
    single(p, pre, "p2p_blocks_rejected_total", "counter",
           "Blocks from P2P that failed validation before apply (dropped).",
           m->p2p_blocks_rejected);
    single(p, pre, "p2p_items_skipped_total", "counter",
           "Items of the P2P stores StoreSync skipped (signature, proposer, "
           "height).",
           m->p2p_items_skipped);
    single(p, pre, "da_conflicts_total", "counter",
           "DA headers or data at an applied height that are not the "
           "applied block's.",
           m->da_conflicts);
    family(p, pre, "da_blobs_rejected_total", "counter",
           "Blobs in the chain's DA namespaces the retriever refused, by "
           "reason.");
    for (int i = 0; i < BM_DA_REJ_COUNT; i++) {
        sample_u64(p, pre, "da_blobs_rejected_total", "reason",
                   bm_da_reject_name((enum bm_da_reject)i),
                   m->da_rejected[i]);
    }
    single(p, pre, "da_blocks_rejected_total", "counter",
           "Blocks from DA that failed validation before apply (dropped).",
           m->da_blocks_rejected);
}

/* The RPC server: connections and refused requests by reason. */
static void rpc_metrics(struct page *p, const struct bm_rpc_stats *in)
{
    const char *pre = "blockv2_rpc_";
    struct bm_rpc_stats zero;

    if (in == NULL) {
        memset(&zero, 0, sizeof(zero));
        in = &zero;
    }
    single(p, pre, "connections", "gauge", "RPC connections open now.",
           in->connections);
    single(p, pre, "max_connections", "gauge",
           "RPC connection limit (from the open-files limit).",
           in->max_connections);
    single(p, pre, "connections_total", "counter",
           "RPC connections accepted.", in->connections_total);
    single(p, pre, "requests_total", "counter", "RPC replies sent.",
           in->requests);
    single(p, pre, "timeouts_total", "counter",
           "RPC requests cut by the idle timeout.", in->timeouts);
    family(p, pre, "rejected_total", "counter",
           "RPC requests refused, by reason.");
    for (int i = 0; i < BM_RPC_REJ_COUNT; i++) {
        sample_u64(p, pre, "rejected_total", "reason",
                   bm_rpc_reject_name((enum bm_rpc_reject)i),
                   in->rejected[i]);
    }
}

/* The actor label: the actor's name, made unique if two share it. */
static void actor_label(const struct bm_metrics_snapshot *in, size_t i,
                        char *out, size_t len)
{
    const struct bm_actor_stats *a = &in->actors[i];

    for (size_t j = 0; j < i; j++) {
        if (strncmp(in->actors[j].name, a->name, sizeof(a->name)) == 0) {
            snprintf(out, len, "%.*s#%" PRIu32, (int)sizeof(a->name),
                     a->name, a->id.slot);
            return;
        }
    }
    snprintf(out, len, "%.*s", (int)sizeof(a->name), a->name);
}

/* Upper bound of histogram bucket i in seconds (actor.h: bucket 0 is
 * < 128 ns, bucket i >= 1 is [2^(i+6), 2^(i+7)) ns). */
static double bucket_le(unsigned i)
{
    return (double)(1ull << (i + 7)) / 1e9;
}

/* Representative value of bucket i (for the approximate _sum). */
static double bucket_mid(unsigned i)
{
    if (i == 0) {
        return 64e-9;
    }
    if (i == BM_ACTOR_HIST_BUCKETS - 1) {
        return (double)(1ull << (i + 6)) / 1e9;
    }
    return 1.5 * (double)(1ull << (i + 6)) / 1e9;
}

static void actor_metrics(struct page *p, const struct bm_metrics_snapshot *in)
{
    const char *pre = "blockv2_actor_";
    char label[BM_ACTOR_NAME_MAX + 16];
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } fams[] = {
        {"mailbox_depth", "gauge", "Messages queued in the user lane now."},
        {"mailbox_capacity", "gauge", "Capacity of the user lane."},
        {"mailbox_high_watermark", "gauge", "Largest queue depth seen."},
        {"handled_total", "counter", "Messages handled."},
        {"rejected_total", "counter",
         "Messages rejected at send (mailbox full) or by validation."},
        {"dropped_total", "counter",
         "Messages dropped (drop-oldest overflow, discarded at stop)."},
        {"restarts_total", "counter", "Restarts by the supervisor."},
        {"failures_total", "counter", "Handler failures."},
    };

    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family(p, pre, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < in->n_actors; i++) {
            const struct bm_actor_stats *a = &in->actors[i];

            actor_label(in, i, label, sizeof(label));
            switch (f) {
            case 0:
                sample_u64(p, pre, fams[f].name, "actor", label, a->depth);
                break;
            case 1:
                sample_u64(p, pre, fams[f].name, "actor", label,
                           a->capacity);
                break;
            case 2:
                sample_u64(p, pre, fams[f].name, "actor", label,
                           a->high_watermark);
                break;
            case 3:
                sample_u64(p, pre, fams[f].name, "actor", label, a->handled);
                break;
            case 4: {
                char v[24];

                snprintf(v, sizeof(v), "%" PRIu64, a->rejected_full);
                sample(p, pre, fams[f].name, "", "actor", label, "reason",
                       "full", v);
                snprintf(v, sizeof(v), "%" PRIu64, a->rejected_invalid);
                sample(p, pre, fams[f].name, "", "actor", label, "reason",
                       "invalid", v);
                break;
            }
            case 5:
                sample_u64(p, pre, fams[f].name, "actor", label, a->dropped);
                break;
            case 6:
                sample_u64(p, pre, fams[f].name, "actor", label,
                           a->restarts);
                break;
            default:
                sample_u64(p, pre, fams[f].name, "actor", label,
                           a->failures);
                break;
            }
        }
    }

    family(p, pre, "handler_seconds", "histogram",
           "Handler run time (sampled: the first message of each turn and "
           "every 8th after it; _sum is estimated from bucket midpoints).");
    for (size_t i = 0; i < in->n_actors; i++) {
        const struct bm_actor_stats *a = &in->actors[i];
        uint64_t cum = 0;
        double sum = 0;
        char le[32];
        char v[40];

        actor_label(in, i, label, sizeof(label));
        for (unsigned b = 0; b < BM_ACTOR_HIST_BUCKETS; b++) {
            cum += a->handler_ns_hist[b];
            sum += (double)a->handler_ns_hist[b] * bucket_mid(b);
            if (b == BM_ACTOR_HIST_BUCKETS - 1) {
                continue; /* open-ended: only in +Inf */
            }
            snprintf(le, sizeof(le), "%.10g", bucket_le(b));
            snprintf(v, sizeof(v), "%" PRIu64, cum);
            sample(p, pre, "handler_seconds", "_bucket", "actor", label, "le",
                   le, v);
        }
        snprintf(v, sizeof(v), "%" PRIu64, cum);
        sample(p, pre, "handler_seconds", "_bucket", "actor", label, "le",
               "+Inf", v);
        snprintf(v, sizeof(v), "%.10g", sum);
        sample(p, pre, "handler_seconds", "_sum", "actor", label, NULL, NULL,
               v);
        snprintf(v, sizeof(v), "%" PRIu64, cum);
        sample(p, pre, "handler_seconds", "_count", "actor", label, NULL,
               NULL, v);
    }
}

static void breaker_limiter_metrics(struct page *p,
                                    const struct bm_metrics_snapshot *in)
{
    const char *pre = "blockv2_";
    char v[40];

    family(p, pre, "breaker_state", "gauge",
           "Circuit breaker state: 0 closed, 1 open, 2 half-open, -1 "
           "unknown.");
    for (size_t i = 0; i < in->n_breakers; i++) {
        snprintf(v, sizeof(v), "%d", in->breakers[i].state);
        sample(p, pre, "breaker_state", "", "breaker", in->breakers[i].name,
               NULL, NULL, v);
    }
    family(p, pre, "limiter_tokens", "gauge",
           "Tokens available now (negative while reservations are owed).");
    for (size_t i = 0; i < in->n_limiters; i++) {
        snprintf(v, sizeof(v), "%.6g", in->limiters[i].tokens);
        sample(p, pre, "limiter_tokens", "", "limiter", in->limiters[i].name,
               NULL, NULL, v);
    }
    family(p, pre, "limiter_allowed_total", "counter",
           "Calls that got their tokens.");
    for (size_t i = 0; i < in->n_limiters; i++) {
        sample_u64(p, pre, "limiter_allowed_total", "limiter",
                   in->limiters[i].name, in->limiters[i].allowed);
    }
    family(p, pre, "limiter_limited_total", "counter",
           "Calls refused by the limiter.");
    for (size_t i = 0; i < in->n_limiters; i++) {
        sample_u64(p, pre, "limiter_limited_total", "limiter",
                   in->limiters[i].name, in->limiters[i].limited);
    }
}

/* A counter family with one sample per value of one label. */
static void labelled(struct page *p, const char *prefix, const char *name,
                     const char *help, const char *label,
                     const char *const *names, const uint64_t *v, size_t n)
{
    family(p, prefix, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        sample_u64(p, prefix, name, label, names[i], v[i]);
    }
}

/* ev-node's p2p families (<ns>_p2p_*), then blockv2_p2p_* for the host. */
static void p2p_metrics(struct page *p, const char *ns,
                        const struct bm_metrics_snapshot *in)
{
    static const struct bm_p2p_stats zero;
    const struct bm_p2p_stats *st = in->p2p != NULL ? in->p2p : &zero;
    const char *pre = "blockv2_p2p_";
    /* ev-node's per-peer families, in this order: bytes in, out, pending */
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } per_peer[] = {
        {"peer_receive_bytes_total", "counter",
         "Number of bytes received from a given peer (its open "
         "connections)."},
        {"peer_send_bytes_total", "counter",
         "Number of bytes sent to a given peer (its open connections)."},
        {"peer_pending_send_bytes", "gauge",
         "Pending bytes to be sent to a given peer."},
    };
    static const char *const dir_names[] = {"inbound", "outbound"};
    static const char *const reset_names[] = {"sent", "received"};
    const char *hs_names[BM_P2P_HS_COUNT];
    const char *dc_names[BM_P2P_DC_COUNT];
    const char *sr_names[BM_P2P_SR_COUNT];
    const uint64_t conns[2] = {st->conns_inbound, st->conns_outbound};
    const uint64_t streams[2] = {st->streams_inbound, st->streams_outbound};
    const uint64_t resets[2] = {st->stream_resets_sent,
                                st->stream_resets_received};
    char evp[80];
    char id[BM_PEER_ID_STR_SIZE];

    snprintf(evp, sizeof(evp), "%s_p2p_", ns);
    single(p, evp, "peers", "gauge", "Number of peers.", st->peers);
    for (size_t f = 0; f < sizeof(per_peer) / sizeof(per_peer[0]); f++) {
        family(p, evp, per_peer[f].name, per_peer[f].type, per_peer[f].help);
        for (size_t i = 0; i < in->n_peers; i++) {
            const struct bm_p2p_peer_info *pi = &in->peers[i];

            bm_peer_id_format(&pi->peer, id);
            sample_u64(p, evp, per_peer[f].name, "peer_id", id,
                       f == 0   ? pi->bytes_in
                       : f == 1 ? pi->bytes_out
                                : pi->pending_send);
        }
    }

    single(p, pre, "connections", "gauge",
           "P2P connections open now (any state).", st->connections);
    labelled(p, pre, "connections_total", "P2P connections accepted or "
             "dialled.", "direction", dir_names, conns, 2);
    single(p, pre, "bytes_received_total", "counter",
           "TCP bytes received by the P2P host.", st->bytes_in);
    single(p, pre, "bytes_sent_total", "counter",
           "TCP bytes sent by the P2P host.", st->bytes_out);
    for (int i = 0; i < BM_P2P_HS_COUNT; i++) {
        hs_names[i] = bm_p2p_handshake_name((enum bm_p2p_handshake)i);
    }
    labelled(p, pre, "handshakes_total", "Connection upgrades (multistream, "
             "Noise, yamux) by outcome.", "outcome", hs_names,
             st->handshakes, BM_P2P_HS_COUNT);
    for (int i = 0; i < BM_P2P_DC_COUNT; i++) {
        dc_names[i] = bm_p2p_disconnect_name((enum bm_p2p_disconnect)i);
    }
    labelled(p, pre, "disconnects_total", "Open connections that ended, by "
             "reason.", "reason", dc_names, st->disconnects,
             BM_P2P_DC_COUNT);
    single(p, pre, "streams", "gauge", "Negotiated streams open now.",
           st->streams_open);
    labelled(p, pre, "streams_total", "Streams negotiated, by direction.",
             "direction", dir_names, streams, 2);
    for (int i = 0; i < BM_P2P_SR_COUNT; i++) {
        sr_names[i] =
            bm_p2p_stream_refusal_name((enum bm_p2p_stream_refusal)i);
    }
    labelled(p, pre, "streams_refused_total", "Inbound streams refused or "
             "reset before a handler, by reason.", "reason", sr_names,
             st->streams_refused, BM_P2P_SR_COUNT);
    labelled(p, pre, "stream_resets_total", "Stream resets, by direction.",
             "direction", reset_names, resets, 2);
    single(p, pre, "dials_total", "counter",
           "Dial attempts, redials of configured peers included.",
           st->dials);
    single(p, pre, "dial_failures_total", "counter",
           "Dials that did not end in an open connection.",
           st->dial_failures);
    single(p, pre, "redials_total", "counter",
           "Dials of configured peers (p2p.peers) after the first: retries "
           "after a failure or a lost connection.",
           st->redials);
    single(p, pre, "redial_resets_total", "counter",
           "Waiting redials of configured peers cut back to 1 s by a "
           "connection to or from another peer.",
           st->redial_resets);
    single(p, pre, "commands_rejected_total", "counter",
           "Sends and commands refused because the host's queue was full.",
           st->commands_rejected);
    single(p, pre, "actor_tell_failures_total", "counter",
           "Stream events an actor's mailbox refused (the stream was "
           "reset).",
           st->actor_tell_failures);
}

/* A sample with two labels besides chain_id. */
static void sample2_u64(struct page *p, const char *pre, const char *name,
                        const char *k1, const char *v1, const char *k2,
                        const char *v2, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    sample(p, pre, name, "", k1, v1, k2, v2, buf);
}

#define SYNC_PRE "blockv2_p2p_"

static const char *const sync_nets[BM_CS_NNETS] = {"header", "data"};

/* A counter of one struct, by its offset: the value in each network's
 * struct at base + i * stride + off. */
static uint64_t at_off(const void *base, size_t stride, int i, size_t off)
{
    uint64_t v;

    memcpy(&v, (const char *)base + (size_t)i * stride + off, sizeof(v));
    return v;
}

/* A family with one sample per network (label `label` = header, data). */
static void net_family(struct page *p, const char *name, const char *type,
                       const char *help, const char *label, const void *base,
                       size_t stride, size_t off)
{
    family(p, SYNC_PRE, name, type, help);
    for (int i = 0; i < BM_CS_NNETS; i++) {
        sample_u64(p, SYNC_PRE, name, label, sync_nets[i],
                   at_off(base, stride, i, off));
    }
}

/* A second label's values and where each value's counter is. */
struct sync_col {
    const char *value;
    size_t off;
};

static void net_cols(struct page *p, const char *name, const char *help,
                     const char *label, const char *label2, const void *base,
                     size_t stride, const struct sync_col *cols, size_t n)
{
    family(p, SYNC_PRE, name, "counter", help);
    for (int i = 0; i < BM_CS_NNETS; i++) {
        for (size_t k = 0; k < n; k++) {
            sample2_u64(p, SYNC_PRE, name, label, sync_nets[i], label2,
                        cols[k].value, at_off(base, stride, i, cols[k].off));
        }
    }
}

/* The verdicts of the topic validators: rejected or ignored, by reason. */
static void verdicts(struct page *p, const struct bm_chainsync_stats *st,
                     bool rejected)
{
    const char *name =
        rejected ? "gossip_rejected_total" : "gossip_ignored_total";

    family(p, SYNC_PRE, name, "counter",
           rejected ? "Messages the topic validator rejected, by reason."
                    : "Messages ignored (not forwarded, not counted against "
                      "the sender) or accepted and not kept, by reason.");
    for (int i = 0; i < BM_CS_NNETS; i++) {
        int lo = rejected ? BM_CS_DECODE : BM_CS_OLD;
        int hi = rejected ? BM_CS_FORK : BM_CS_REASON_COUNT - 1;

        for (int r = lo; r <= hi; r++) {
            sample2_u64(p, SYNC_PRE, name, "topic", sync_nets[i], "reason",
                        bm_chainsync_reason_name((enum bm_chainsync_reason)r),
                        rejected ? st->net[i].rejected[r]
                                 : st->net[i].ignored[r]);
        }
    }
}

/* Chain sync over P2P: gossip topics, FloodSub, the exchange. */
static void sync_metrics(struct page *p, const struct bm_metrics_snapshot *in)
{
    static const struct bm_chainsync_stats zero;
    const struct bm_chainsync_stats *st = in->sync != NULL ? in->sync : &zero;
    const struct bm_floodsub_stats *fs = &st->floodsub;
    const void *nb = st->net;
    const void *xb = st->exchange;
    size_t ns = sizeof(st->net[0]), xs = sizeof(st->exchange[0]);
#define N_OFF(f) offsetof(struct bm_chainsync_net_stats, f)
#define X_OFF(f) offsetof(struct bm_headerex_stats, f)
    static const struct sync_col publish_fail[] = {
        {"too_big", N_OFF(publish_too_big)},
        {"other", N_OFF(publish_other)},
    };
    static const struct sync_col served[] = {
        {"head", X_OFF(served_heads)},
        {"range", X_OFF(served_ranges)},
        {"partial_range", X_OFF(served_partial)},
        {"hash", X_OFF(served_hashes)},
        {"not_found", X_OFF(served_not_found)},
    };
    static const struct sync_col requests[] = {
        {"ok", X_OFF(requests_ok)},
        {"not_found", X_OFF(requests_not_found)},
        {"timeout", X_OFF(requests_timeout)},
        {"failed", X_OFF(requests_failed)},
    };
    static const struct sync_col ranges[] = {
        {"started", N_OFF(ranges_started)},
        {"failed", N_OFF(ranges_failed)},
    };
    struct sync_col resets[BM_HEADEREX_RST_COUNT];

    for (int r = 0; r < BM_HEADEREX_RST_COUNT; r++) {
        resets[r].value = bm_headerex_reset_name((enum bm_headerex_reset)r);
        resets[r].off = X_OFF(served_resets) + (size_t)r * sizeof(uint64_t);
    }
    net_family(p, "sync_height", "gauge",
               "Best verified height the P2P header / data store has seen.",
               "store", nb, ns, N_OFF(height));
    net_family(p, "gossip_published_total", "counter",
               "Blocks of this node published on a topic.", "topic", nb, ns,
               N_OFF(published));
    net_cols(p, "gossip_publish_failures_total",
             "Publications FloodSub refused (too_big: over the gossip "
             "limit).",
             "topic", "reason", nb, ns, publish_fail, 2);
    net_family(p, "gossip_validated_total", "counter",
               "Messages the topic validator checked.", "topic", nb, ns,
               N_OFF(validated));
    net_family(p, "gossip_accepted_total", "counter",
               "Messages the topic validator accepted.", "topic", nb, ns,
               N_OFF(accepted));
    verdicts(p, st, true);
    verdicts(p, st, false);
    family(p, SYNC_PRE, "floodsub_messages_total", "counter",
           "FloodSub messages: received entries, delivered (accepted), "
           "forwarded copies, sent copies of ours.");
    sample_u64(p, SYNC_PRE, "floodsub_messages_total", "event", "received",
               fs->received);
    sample_u64(p, SYNC_PRE, "floodsub_messages_total", "event", "delivered",
               fs->delivered);
    sample_u64(p, SYNC_PRE, "floodsub_messages_total", "event", "forwarded",
               fs->forwarded);
    sample_u64(p, SYNC_PRE, "floodsub_messages_total", "event", "sent",
               fs->sent);
    family(p, SYNC_PRE, "floodsub_dropped_total", "counter",
           "Received FloodSub messages not delivered, by reason.");
    for (int r = 0; r < BM_FLOODSUB_DROP_COUNT; r++) {
        sample_u64(p, SYNC_PRE, "floodsub_dropped_total", "reason",
                   bm_floodsub_drop_name((enum bm_floodsub_drop)r),
                   fs->dropped[r]);
    }
    family(p, SYNC_PRE, "floodsub_rpcs_total", "counter",
           "FloodSub RPC frames: decoded, refused from their length prefix, "
           "undecodable.");
    sample_u64(p, SYNC_PRE, "floodsub_rpcs_total", "result", "ok",
               fs->rpcs_received);
    sample_u64(p, SYNC_PRE, "floodsub_rpcs_total", "result", "too_big",
               fs->rpc_too_big);
    sample_u64(p, SYNC_PRE, "floodsub_rpcs_total", "result", "invalid",
               fs->rpc_invalid);
    single(p, SYNC_PRE, "floodsub_send_dropped_total", "counter",
           "Copies not written to a peer (its queue full, stream closed).",
           fs->send_dropped);
    single(p, SYNC_PRE, "floodsub_peers_disconnected_total", "counter",
           "Peers disconnected after repeated rejected messages.",
           fs->peers_disconnected);
    single(p, SYNC_PRE, "floodsub_peers", "gauge",
           "Peers with a FloodSub stream now.", fs->peers);
    net_cols(p, "exchange_served_total", "Exchange requests answered, by kind.",
             "network", "kind", xb, xs, served,
             sizeof(served) / sizeof(served[0]));
    net_family(p, "exchange_served_items_total", "counter",
               "Items (OK replies) served.", "network", xb, xs,
               X_OFF(served_items));
    net_family(p, "exchange_served_timeouts_total", "counter",
               "Served requests whose read or write deadline passed.",
               "network", xb, xs, X_OFF(served_timeouts));
    net_cols(p, "exchange_served_resets_total",
             "Request streams the server reset, by reason.", "network",
             "reason", xb, xs, resets, BM_HEADEREX_RST_COUNT);
    net_cols(p, "exchange_requests_total",
             "Requests this node sent, by outcome.", "network", "outcome", xb,
             xs, requests, sizeof(requests) / sizeof(requests[0]));
    net_family(p, "exchange_bad_replies_total", "counter",
               "Replies with a bad status or an item that failed "
               "verification.",
               "network", xb, xs, X_OFF(bad_replies));
    net_family(p, "exchange_peers_blocked_total", "counter",
               "Peers disconnected for bad replies (go-header's blockPeer).",
               "network", xb, xs, X_OFF(peers_blocked));
    net_family(p, "sync_items_fetched_total", "counter",
               "Verified items fetched by the exchange and kept.", "network",
               nb, ns, N_OFF(items_fetched));
    net_family(p, "sync_items_dropped_total", "counter",
               "Fetched items not kept (window full, data not fitting its "
               "header).",
               "network", nb, ns, N_OFF(items_dropped));
    net_cols(p, "sync_ranges_total",
             "Gap-fill ranges started and failed (retried after 1 s).",
             "network", "result", nb, ns, ranges, 2);
    single(p, SYNC_PRE, "sync_heads_asked_total", "counter",
           "Head requests to peers (at each new peer, when gossip is "
           "silent).",
           st->net[BM_CS_HEADERS].heads_asked);
#undef N_OFF
#undef X_OFF
}

/* blockv2_ha_*: the election (docs/HA.md). */
static void ha_metrics(struct page *p, const struct bm_ha_status *st)
{
    const char *pre = "blockv2_ha_";

    if (st == NULL) {
        return;
    }
    single(p, pre, "is_leader", "gauge",
           "1 while this candidate is the leader", st->role == BM_HA_LEADER);
    single(p, pre, "leader_changes_total", "counter",
           "times this candidate became or stopped being the leader",
           st->leader_changes);
    single(p, pre, "fencing_rejections_total", "counter",
           "guarded block writes etcd refused (leadership lost)",
           st->fencing_rejections);
    single(p, pre, "etcd_errors_total", "counter",
           "etcd calls that failed (transport, deadline, etcd error)",
           st->etcd_errors);
    single(p, pre, "replicated_blocks_total", "counter",
           "blocks this candidate replicated to etcd", st->replicated_blocks);
    single(p, pre, "rolled_back_blocks_total", "counter",
           "unreplicated blocks rolled back: the cluster accepted others",
           st->rolled_back_blocks);
    single(p, pre, "replicated_height", "gauge",
           "height of the replicated block as this candidate last saw it",
           st->replicated_height);
}

/* blockv2_ha_forward_*: acknowledged txs forwarded to the leader. */
static void ha_fwd_metrics(struct page *p, const struct bm_ha_fwd_stats *st)
{
    const char *pre = "blockv2_ha_forward_";

    if (st == NULL) {
        return;
    }
    single(p, pre, "batches_total", "counter",
           "batches of acknowledged txs the leader answered", st->batches);
    single(p, pre, "txs_total", "counter",
           "acknowledged txs the leader took (202) and left this queue",
           st->txs);
    single(p, pre, "duplicates_total", "counter",
           "forwarded txs the leader already had (409) and left this queue",
           st->duplicates);
    single(p, pre, "failures_total", "counter",
           "forwarding attempts the leader did not take (kept, retried)",
           st->failures);
    single(p, pre, "pending_txs", "gauge",
           "txs in this follower's queue waiting to be forwarded",
           st->pending);
}

enum bm_err bm_metrics_render(const struct bm_metrics_snapshot *in,
                              struct bm_buf *out)
{
    struct page p;
    char pre[80];
    const char *ns = in->ns != NULL && in->ns[0] != '\0'
                         ? in->ns
                         : BM_METRICS_DEFAULT_NAMESPACE;

    bm_buf_release(out);
    if (!bm_metrics_ns_valid(ns)) {
        return BM_EINVAL;
    }
    memset(&p, 0, sizeof(p));
    bm_dynbuf_init(&p.d, BM_METRICS_MAX_PAGE);
    p.chain_id = in->chain_id ? in->chain_id : "";
    snprintf(pre, sizeof(pre), "%s_sequencer_", ns);
    evnode_metrics(&p, pre, in);
    blockv2_counters(&p, &in->m);
    actor_metrics(&p, in);
    breaker_limiter_metrics(&p, in);
    p2p_metrics(&p, ns, in);
    sync_metrics(&p, in);
    ha_metrics(&p, in->ha);
    ha_fwd_metrics(&p, in->ha_fwd);
    rpc_metrics(&p, in->rpc);
    if (p.err != BM_OK) {
        bm_dynbuf_release(&p.d);
        return p.err;
    }
    bm_dynbuf_detach(&p.d, out);
    return BM_OK;
}

/* ------------------------------------------------------------ collector */

enum bm_err bm_metrics_collect(const struct bm_metrics_config *cfg,
                               struct bm_buf *out)
{
    struct bm_metrics_snapshot snap;
    struct bm_metrics_breaker br[2];
    struct bm_metrics_limiter *lim = NULL;
    struct bm_actor_stats *actors = NULL;
    struct bm_p2p_stats p2p;
    struct bm_p2p_peer_info *peers = NULL;
    struct bm_chainsync_stats *sync = NULL;
    struct bm_ha_status ha;
    struct bm_ha_fwd_stats fwd;
    struct bm_rpc_stats rpc;
    size_t n_actors = 0, n_peers = 0;
    enum bm_err err;

    memset(&snap, 0, sizeof(snap));
    if (cfg->rpc != NULL) {
        bm_rpc_server_stats(cfg->rpc, &rpc);
        snap.rpc = &rpc;
    }
    if (cfg->sync != NULL) {
        sync = bm_xcalloc(1, sizeof(*sync));
        bm_chainsync_stats(cfg->sync, sync);
        snap.sync = sync;
    }
    if (cfg->ha != NULL) {
        bm_ha_status(cfg->ha, &ha);
        snap.ha = &ha;
    }
    if (cfg->ha_fwd != NULL) {
        bm_ha_fwd_stats(cfg->ha_fwd, &fwd);
        snap.ha_fwd = &fwd;
    }
    if (cfg->p2p != NULL) {
        bm_p2p_host_stats(cfg->p2p, &p2p);
        snap.p2p = &p2p;
        if (bm_p2p_host_peers(cfg->p2p, &peers, &n_peers) == BM_OK) {
            snap.peers = peers;
            snap.n_peers = n_peers;
        }
    }
    snap.ns = cfg->ns;
    snap.chain_id = cfg->chain_id;
    if (cfg->manager != NULL) {
        struct bm_actor_system *sys = bm_manager_actor_system(cfg->manager);

        bm_manager_metrics(cfg->manager, &snap.m);
        snap.pending_headers = bm_manager_pending_headers(cfg->manager);
        snap.pending_data = bm_manager_pending_data(cfg->manager);
        if (sys != NULL && bm_actor_snapshot(sys, &actors, &n_actors) ==
                               BM_OK) {
            snap.actors = actors;
            snap.n_actors = n_actors;
        }
        br[0].name = "da";
        br[0].state = bm_manager_breaker_state(cfg->manager, "da");
        br[1].name = "exec";
        br[1].state = bm_manager_breaker_state(cfg->manager, "exec");
        snap.breakers = br;
        snap.n_breakers = 2;
    } else if (cfg->store != NULL) {
        (void)bm_store_height(cfg->store, &snap.m.height, NULL);
        (void)bm_meta_get_u64(cfg->store, BM_META_DA_INCLUDED,
                              &snap.m.da_included_height, NULL);
    }
    /* The manager's limiters, then the node's own. */
    lim = bm_xcalloc(cfg->n_limiters + 2, sizeof(*lim));
    for (size_t i = 0; cfg->manager != NULL && i < 2; i++) {
        static const char *const names[] = {"tx", "reaper"};
        struct bm_limiter_stats ls;

        if (bm_manager_limiter_stats(cfg->manager, names[i], &ls)) {
            lim[snap.n_limiters].name = names[i];
            lim[snap.n_limiters].tokens = ls.tokens;
            lim[snap.n_limiters].allowed = ls.allowed;
            lim[snap.n_limiters].limited = ls.limited;
            snap.n_limiters++;
        }
    }
    for (size_t i = 0; i < cfg->n_limiters; i++) {
        struct bm_limiter_stats ls;

        bm_limiter_stats(cfg->limiters[i], &ls);
        lim[snap.n_limiters].name = bm_limiter_name(cfg->limiters[i]);
        lim[snap.n_limiters].tokens = ls.tokens;
        lim[snap.n_limiters].allowed = ls.allowed;
        lim[snap.n_limiters].limited = ls.limited;
        snap.n_limiters++;
    }
    snap.limiters = lim;
    err = bm_metrics_render(&snap, out);
    bm_free(lim);
    bm_free(actors);
    bm_free(peers);
    bm_free(sync);
    return err;
}

/* ------------------------------------------------------------ listener */

struct bm_metrics_server {
    struct MHD_Daemon *mhd;
    struct bm_metrics_config cfg;
    uint16_t port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *type, const void *p, size_t n)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(n, (void *)(uintptr_t)p,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    static int marker;
    struct bm_metrics_server *s = cls;
    struct bm_buf page = {0};
    enum MHD_Result ret;
    enum bm_err err;

    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* ignore any body */
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0) {
        return reply(c, 404, "text/plain; charset=utf-8", "not found\n", 10);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply(c, 405, "text/plain; charset=utf-8",
                     "method not allowed\n", 19);
    }
    err = bm_metrics_collect(&s->cfg, &page);
    if (err != BM_OK) {
        bm_log_warn("metrics", "cannot render metrics err=%s",
                    bm_err_name(err));
        return reply(c, 500, "text/plain; charset=utf-8", "error\n", 6);
    }
    ret = reply(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                page.ptr, page.len);
    bm_buf_release(&page);
    return ret;
}

enum bm_err bm_metrics_server_start(struct bm_metrics_server **out,
                                    const struct bm_metrics_config *cfg,
                                    struct bm_errmsg *em)
{
    struct bm_metrics_server *s;
    int fd = -1;
    enum bm_err err;

    *out = NULL;
    if (cfg->manager == NULL && cfg->store == NULL) {
        return bm_errf(em, BM_EINVAL, "metrics: manager or store: required");
    }
    if (cfg->ns != NULL && cfg->ns[0] != '\0' &&
        !bm_metrics_ns_valid(cfg->ns)) {
        return bm_errf(em, BM_EINVAL, "instrumentation.namespace: got '%.64s',"
                       " want [a-zA-Z_:][a-zA-Z0-9_:]*", cfg->ns);
    }
    s = bm_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    err = bm_listen_tcp(cfg->addr, "instrumentation.prometheus_listen_addr",
                        &fd, &s->port, em);
    if (err) {
        bm_free(s);
        return err;
    }
    /* poll(), not select(): the node may hold more descriptors than
     * FD_SETSIZE (thousands of RPC connections), and select() refuses
     * every connection past it. */
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL,
        0,
        NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections != 0 ? cfg->max_connections
                                  : BM_METRICS_DEFAULT_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (s->mhd == NULL) {
        close(fd);
        bm_free(s);
        return bm_errf(em, BM_ESYS, "metrics: cannot start the HTTP server");
    }
    bm_log_info("metrics", "listening addr=%s port=%u max_connections=%u",
                cfg->addr, (unsigned)s->port,
                cfg->max_connections != 0
                    ? cfg->max_connections
                    : BM_METRICS_DEFAULT_MAX_CONNECTIONS);
    *out = s;
    return BM_OK;
}

uint16_t bm_metrics_server_port(const struct bm_metrics_server *s)
{
    return s->port;
}

void bm_metrics_server_stop(struct bm_metrics_server *s)
{
    if (s == NULL) {
        return;
    }
    MHD_stop_daemon(s->mhd);
    bm_free(s);
}
