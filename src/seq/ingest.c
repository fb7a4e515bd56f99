/* Durable tx ingest (group commit), see include/blockv2/ingest.h. */
#include "blockv2/ingest.h"

#include <pthread.h>
#include <string.h>

#include "blockv2/executor.h"
#include "blockv2/sequencer.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/errmsg.h"
#include "util/log.h"

#define MOD "ingest"
#define DEFAULT_GROUP_TXS 65536u

struct bm_ingest {
    struct bm_seq *seq; /* borrowed */
    char *chain_id;
    size_t id_len;
    size_t max_group;
    void (*committed)(void *arg, size_t queued);
    void *committed_arg;
    void (*completed)(void *arg);
    void *completed_arg;

    pthread_mutex_t mu;
    struct bm_cond cv;
    struct bm_ingest_req *head; /* queued requests, FIFO */
    struct bm_ingest_req *tail;
    bool closing;
    bool joined;
    pthread_t writer;
    struct bm_ingest_stats st;
    uint64_t fail_streak; /* writer thread only: failed groups in a row */

    /* Writer-thread scratch, grown as needed: one group's txs, hashes and
     * statuses laid end to end. */
    struct bm_buf *txs;
    struct bm_hash *hashes;
    enum bm_err *status;
    size_t cap;
};

/* Makes the scratch arrays hold n entries. */
static enum bm_err scratch_reserve(struct bm_ingest *g, size_t n)
{
    struct bm_buf *t;
    struct bm_hash *h;
    enum bm_err *s;
    size_t ncap = g->cap ? g->cap : 256;

    if (n <= g->cap) {
        return BM_OK;
    }
    while (ncap < n) {
        ncap *= 2;
    }
    t = bm_realloc(g->txs, ncap * sizeof(*t));
    if (t == NULL) {
        return BM_ENOMEM;
    }
    g->txs = t;
    h = bm_realloc(g->hashes, ncap * sizeof(*h));
    if (h == NULL) {
        return BM_ENOMEM;
    }
    g->hashes = h;
    s = bm_realloc(g->status, ncap * sizeof(*s));
    if (s == NULL) {
        return BM_ENOMEM;
    }
    g->status = s;
    g->cap = ncap;
    return BM_OK;
}

/* Completes a written group's requests (their statuses are set), then
 * calls the completed hook. Writer thread only; no lock held. */
static void complete_group(struct bm_ingest *g, struct bm_ingest_req *list)
{
    while (list != NULL) {
        struct bm_ingest_req *r = list;

        list = r->next; /* r belongs to its caller once done runs */
        r->next = NULL;
        r->done(r);
    }
    if (g->completed != NULL) {
        g->completed(g->completed_arg);
    }
}

/* The txs of list answered BM_OK get err instead (their write is not
 * known durable); returns how many. */
static size_t fail_queued(struct bm_ingest_req *list, enum bm_err err)
{
    size_t k = 0;

    for (struct bm_ingest_req *r = list; r != NULL; r = r->next) {
        for (size_t i = 0; i < r->n; i++) {
            if (r->status[i] == BM_OK) {
                r->status[i] = err;
                k++;
            }
        }
    }
    return k;
}

/* Flushes the queue so that a written group is durable; on failure its
 * queued txs get BM_EIO. Writer thread only; no lock held. */
static void sync_group(struct bm_ingest *g, struct bm_ingest_req *list)
{
    struct bm_errmsg em = {{0}};
    enum bm_err err = bm_seq_sync(g->seq, &em);

    if (err != BM_OK) {
        size_t k = fail_queued(list, BM_EIO);

        bm_log_warn(MOD, "sync failed txs=%zu err=%s msg='%s'", k,
                    bm_err_name(err), bm_errmsg_str(&em, err));
        pthread_mutex_lock(&g->mu);
        g->st.queued -= k;
        pthread_mutex_unlock(&g->mu);
    }
}

/*
 * Writes one group (a list of requests, n txs in all) in one transaction
 * whose last flush is deferred (bm_seq_submit_each_deferred) and sets
 * every request's statuses. Returns the write's ticket: 0 when nothing
 * was written (the group can be answered at once), else the group is
 * answered once bm_seq_durable(ticket). Writer thread only; no lock
 * held.
 */
static uint64_t write_group(struct bm_ingest *g, struct bm_ingest_req *list,
                            size_t n)
{
    struct bm_errmsg em = {{0}};
    enum bm_err err;
    size_t at = 0;
    size_t queued = 0;
    size_t n_req = 0;
    uint64_t ticket = 0;
    uint64_t t0;
    uint64_t dt;

    err = scratch_reserve(g, n);
    if (err == BM_OK) {
        for (struct bm_ingest_req *r = list; r != NULL; r = r->next) {
            for (size_t i = 0; i < r->n; i++) {
                g->txs[at + i] = r->txs[i];
                if (r->hashes != NULL) {
                    g->hashes[at + i] = r->hashes[i];
                } else {
                    bm_exec_tx_hash(r->txs[i].ptr, r->txs[i].len,
                                    &g->hashes[at + i]);
                }
            }
            at += r->n;
        }
    }
    t0 = bm_clock_now_ns();
    if (err == BM_OK) {
        err = bm_seq_submit_each_deferred(g->seq,
                                          (const uint8_t *)g->chain_id,
                                          g->id_len, g->txs, g->hashes, n,
                                          g->status, &ticket, &em);
    }
    dt = bm_clock_now_ns() - t0;
    /* Logged once per failure streak (a broken disk fails every group). */
    if (err != BM_OK && g->fail_streak++ == 0) {
        bm_log_warn(MOD, "group commit failed txs=%zu err=%s msg='%s'", n,
                    bm_err_name(err), bm_errmsg_str(&em, err));
    } else if (err == BM_OK && g->fail_streak > 0) {
        bm_log_info(MOD, "group commit recovered failed_groups=%llu",
                    (unsigned long long)g->fail_streak);
        g->fail_streak = 0;
    }
    /* Results first, and the counters, so that a caller woken by done
     * sees them; then the completions. */
    at = 0;
    for (struct bm_ingest_req *r = list; r != NULL; r = r->next) {
        for (size_t i = 0; i < r->n; i++) {
            r->status[i] = err != BM_OK ? err : g->status[at + i];
            queued += r->status[i] == BM_OK;
        }
        at += r->n;
        n_req++;
    }
    pthread_mutex_lock(&g->mu);
    g->st.commits++;
    g->st.requests += n_req;
    g->st.txs += n;
    g->st.queued += queued;
    g->st.commit_ns += dt;
    if (n > g->st.max_group) {
        g->st.max_group = n;
    }
    pthread_mutex_unlock(&g->mu);
    if (queued > 0 && g->committed != NULL) {
        g->committed(g->committed_arg, queued);
    }
    return err == BM_OK && queued > 0 ? ticket : 0;
}

/*
 * The writer: each group is written with its last flush deferred; it is
 * answered once durable, i.e. after the next group's write (whose commit
 * flushes it too: under load one flush per group instead of two) or, when
 * no request waits, after a flush of its own (bm_seq_sync). The latency
 * of a group is the same two flushes as before; the throughput per flush
 * doubles.
 */
static void *writer_main(void *arg)
{
    struct bm_ingest *g = arg;
    struct bm_ingest_req *pending = NULL; /* written, not known durable */
    uint64_t pending_ticket = 0;

    pthread_mutex_lock(&g->mu);
    for (;;) {
        struct bm_ingest_req *list;
        struct bm_ingest_req *last;
        size_t n;
        uint64_t ticket;

        while (g->head == NULL && !g->closing && pending == NULL) {
            bm_cond_wait(&g->cv, &g->mu);
        }
        if (g->head == NULL && pending != NULL) {
            /* Nothing to share the flush with: flush now. */
            pthread_mutex_unlock(&g->mu);
            sync_group(g, pending);
            complete_group(g, pending);
            pending = NULL;
            pthread_mutex_lock(&g->mu);
            continue;
        }
        if (g->head == NULL) {
            break; /* closing and drained */
        }
        /* Everything that arrived while the last commit ran, up to the
         * group cap (one request at least). */
        list = last = g->head;
        n = list->n;
        while (last->next != NULL && n + last->next->n <= g->max_group) {
            last = last->next;
            n += last->n;
        }
        g->head = last->next;
        if (g->head == NULL) {
            g->tail = NULL;
        }
        last->next = NULL;
        pthread_mutex_unlock(&g->mu);
        ticket = write_group(g, list, n);
        if (pending != NULL) {
            /* This write's commit flushed the previous one, unless it
             * failed before that: then flush explicitly. */
            if (!bm_seq_durable(g->seq, pending_ticket)) {
                sync_group(g, pending);
            }
            complete_group(g, pending);
            pending = NULL;
        }
        if (ticket == 0) {
            complete_group(g, list); /* nothing written: answered now */
        } else {
            pending = list;
            pending_ticket = ticket;
        }
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

enum bm_err bm_ingest_new(struct bm_ingest **out, struct bm_seq *seq,
                          const char *chain_id,
                          const struct bm_ingest_options *opts,
                          struct bm_errmsg *em)
{
    struct bm_ingest *g;

    *out = NULL;
    if (seq == NULL || chain_id == NULL || chain_id[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "ingest: sequencer or chain id "
                       "missing");
    }
    g = bm_calloc(1, sizeof(*g));
    if (g == NULL) {
        return BM_ENOMEM;
    }
    g->seq = seq;
    g->chain_id = bm_strdup(chain_id);
    if (g->chain_id == NULL) {
        bm_free(g);
        return BM_ENOMEM;
    }
    g->id_len = strlen(chain_id);
    g->max_group = opts != NULL && opts->max_group_txs != 0
                       ? opts->max_group_txs
                       : DEFAULT_GROUP_TXS;
    if (opts != NULL) {
        g->committed = opts->committed;
        g->committed_arg = opts->committed_arg;
        g->completed = opts->completed;
        g->completed_arg = opts->completed_arg;
    }
    pthread_mutex_init(&g->mu, NULL);
    bm_cond_init(&g->cv);
    if (pthread_create(&g->writer, NULL, writer_main, g) != 0) {
        bm_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        bm_free(g->chain_id);
        bm_free(g);
        return bm_errf(em, BM_ESYS, "ingest: cannot start the writer "
                       "thread");
    }
    (void)pthread_setname_np(g->writer, "bm-ingest");
    *out = g;
    return BM_OK;
}

enum bm_err bm_ingest_submit(struct bm_ingest *g, struct bm_ingest_req *req)
{
    if (req == NULL || req->n == 0 || req->n > BM_MAX_TXS ||
        req->txs == NULL || req->status == NULL || req->done == NULL) {
        return BM_EINVAL;
    }
    req->next = NULL;
    pthread_mutex_lock(&g->mu);
    if (g->closing) {
        pthread_mutex_unlock(&g->mu);
        return BM_ECLOSED;
    }
    if (g->tail != NULL) {
        g->tail->next = req;
    } else {
        g->head = req;
    }
    g->tail = req;
    bm_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return BM_OK;
}

void bm_ingest_close(struct bm_ingest *g)
{
    bool join;

    if (g == NULL) {
        return;
    }
    pthread_mutex_lock(&g->mu);
    g->closing = true;
    join = !g->joined;
    g->joined = true;
    bm_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (join) {
        pthread_join(g->writer, NULL);
    }
}

void bm_ingest_free(struct bm_ingest *g)
{
    if (g == NULL) {
        return;
    }
    bm_ingest_close(g);
    bm_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    bm_free(g->txs);
    bm_free(g->hashes);
    bm_free(g->status);
    bm_free(g->chain_id);
    bm_free(g);
}

void bm_ingest_stats(struct bm_ingest *g, struct bm_ingest_stats *out)
{
    pthread_mutex_lock(&g->mu);
    *out = g->st;
    pthread_mutex_unlock(&g->mu);
}
