/* SPDX-License-Identifier: MIT */
/* Queue, receiving side: commit DATA/BATCH messages whose sequence number
 * is the next one expected into the local queue (a batch at a time),
 * acknowledge cumulatively, ignore duplicates, ask once for a resend after a
 * gap. The next number expected is base_seq + (messages committed -
 * base_pos), from the record (record.c) and the queue's own count, so it is
 * exact after any kill. Back-pressure: with the queue full, the one ZeroMQ
 * message in hand waits and nothing more is read from the socket, so
 * ZeroMQ's bounded pipes fill and the sender's window stops it. One sender:
 * a HELLO of another stream while the record's stream's sender is live is
 * refused. docs/BRIDGE.md. */
#include <errno.h>
#include <string.h>

#include <zmq.h>

#include "bridge_internal.h"

#define RECV_BATCH 256
#define RESYNC_EVERY_NS 100000000 /* at most one RESYNC per 100 ms */
#define ACK_EVERY 256             /* ACK at least every this many messages */
#define ACK_DELAY_NS 1000000      /* to a sender that asks for ACKs: ACK what was
				   * committed once nothing came for this long */
#define LIVE_NS 5000000000LL      /* a sender heard from this recently is live
				   * (it sends HELLO, DATA or PING at least every 2 s) */

static uint64_t committed(struct shmkit_bridge *b)
{
	struct shmkit_queue_stats qs;

	shmkit_queue_stats(b->q, &qs);
	return qs.sent;
}

int br_queue_in_start(struct shmkit_bridge *b)
{
	int r = br_object_id(shmkit_queue_seg(b->q), b->in_queue_id);

	if (r < 0 || (r = br_record_load(b)) < 0)
		return r;
	uint64_t c = committed(b);
	if (b->have_record && c < b->base_pos)
		b->have_record = false; /* cannot be the same queue: start afresh */
	b->st.next_seq = b->have_record ? b->base_seq + (c - b->base_pos) : 0;
	/* the record's sender gets LIVE_NS to come back before another is let in */
	b->stream_seen = b->have_record ? br_now_ns() : 0;
	return 0;
}

static int reply(struct shmkit_bridge *b, const void *id, size_t idlen, enum br_type t,
		 uint64_t seq, const void *body, size_t n)
{
	unsigned char h[BR_HDR];

	br_hdr_put(h, t, seq);
	if (zmq_send(b->sock, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(b->sock, h, BR_HDR, ZMQ_DONTWAIT | (body ? ZMQ_SNDMORE : 0)) < 0 ||
	    (body && zmq_send(b->sock, body, n, ZMQ_DONTWAIT) < 0)) {
		int e = zmq_errno();
		/* a full or vanished peer: it resends and asks again */
		return e == EAGAIN || e == EHOSTUNREACH ? 0 : -e;
	}
	return 0;
}

static bool from_stream_peer(const struct shmkit_bridge *b, const struct br_frames *f)
{
	return f->idlen == b->stream_peer_len && memcmp(f->id, b->stream_peer, f->idlen) == 0;
}

/* HELLO: 1 welcome the sender, 2 refuse it (another stream's sender is
 * live), 0 ignore it, or a negative errno. */
static int hello(struct shmkit_bridge *b, const struct br_frames *f, uint64_t seq)
{
	const unsigned char *body = zmq_msg_data((zmq_msg_t *)&f->body);
	int r;

	uint64_t c = committed(b);
	bool same = b->have_record && memcmp(body, b->in_stream, 16) == 0;
	if (!same && b->stream_seen && br_now_ns() - b->stream_seen < LIVE_NS &&
	    !from_stream_peer(b, f)) {
		b->st.refused++;
		return 2;
	}
	if (!same) {
		memcpy(b->in_stream, body, 16); /* a new stream starts at its first seq */
		b->base_seq = seq;
		b->base_pos = c;
		if ((r = br_record_store(b)) < 0)
			return r;
	} else if (seq > b->base_seq + (c - b->base_pos)) {
		/* the sender consumed messages we never committed: count, go on */
		b->st.gaps += seq - (b->base_seq + (c - b->base_pos));
		b->base_seq = seq;
		b->base_pos = c;
		if ((r = br_record_store(b)) < 0)
			return r;
	}
	memcpy(b->stream_peer, f->id, f->idlen);
	b->stream_peer_len = f->idlen;
	b->acks_asked = (br_get32(body + 20) & BR_HELLO_ASKS_ACKS) != 0;
	b->stream_seen = br_now_ns();
	b->st.next_seq = b->base_seq + (c - b->base_pos);
	b->peer_synced = true;
	b->st.resyncs++;
	b->last_nack = UINT64_MAX;
	return 1;
}

/* The record at byte off of f's body: its bytes, its length, and where the
 * next one starts (br_in_parse made sure a BATCH's records are in bounds). */
static size_t record_at(const struct br_frames *f, size_t off, void **m, size_t *len)
{
	*m = (void *)br_batch_next(zmq_msg_data((zmq_msg_t *)&f->body), f->batch,
				   zmq_msg_size((zmq_msg_t *)&f->body), &off, len);
	return off;
}

/* Commit f's records from f->off on, as far as they are the next expected:
 * 1 all handled, 0 the queue is full (f keeps its place), or a negative
 * errno. Up to BR_BATCH_MSGS go in at once (one publication, one wake-up). */
static int take(struct shmkit_bridge *b, struct br_frames *f, int64_t wait_ns, bool *ack)
{
	while (f->left > 0) {
		void *m;
		size_t len, k = 0, off = f->off;
		if (f->seq < b->st.next_seq) { /* already committed: a duplicate */
			f->off = record_at(f, f->off, &m, &len);
			f->seq++;
			f->left--;
			b->st.duplicates++;
			*ack = true;
			b->ack_due = true; /* a resend: the sender waits for where we stand */
			continue;
		}
		if (f->seq > b->st.next_seq) { /* out of order: drop the rest, ask once */
			if (b->last_nack == b->st.next_seq)
				return 1;
			b->last_nack = b->st.next_seq;
			int r = reply(b, f->id, f->idlen, BR_NACK, b->st.next_seq, NULL, 0);
			return r < 0 ? r : 1;
		}
		for (; k < f->left && k < BR_BATCH_MSGS; k++) {
			off = record_at(f, off, &m, &len);
			b->iov[k] = (struct iovec){ m, len };
		}
		ssize_t r = shmkit_queue_send_many(b->q, b->iov, k, wait_ns);
		if (r == -EAGAIN || r == -ETIMEDOUT)
			return 0;
		if (r < 0)
			return (int)r;
		for (ssize_t i = 0; i < r; i++) {
			b->st.bytes += b->iov[i].iov_len;
			f->off = record_at(f, f->off, &m, &len);
		}
		f->seq += (uint64_t)r;
		f->left -= (size_t)r;
		b->st.next_seq += (uint64_t)r;
		b->st.messages += (uint64_t)r;
		b->since_ack += (uint64_t)r;
		*ack = true;
		wait_ns = 0;
		if ((size_t)r < k)
			return 0;
	}
	return 1;
}

/* The peer's message is ignored: count it and say why. 0. */
static int reject(struct shmkit_bridge *b, const struct br_frames *f, const char *why)
{
	char name[2 * sizeof f->id + 1];

	b->st.rejected++;
	br_logk(b, why, "peer %s: %s: ignored", br_peer_name(f->id, f->idlen, name, sizeof name), why);
	return 0;
}

/* DATA or BATCH from a peer that is not the stream's welcomed sender (no
 * HELLO since this process started, or another peer): never committed, or
 * anyone who can connect could put messages in the stream's place. It is
 * asked to say HELLO (at most every RESYNC_EVERY_NS). 0 or a negative errno. */
static int not_sender(struct shmkit_bridge *b, const struct br_frames *f)
{
	int64_t now = br_now_ns();

	reject(b, f, b->peer_synced ? "DATA from a peer that is not the stream's sender"
				    : "DATA before any HELLO");
	if (now - b->last_progress < RESYNC_EVERY_NS)
		return 0;
	b->last_progress = now;
	return reply(b, f->id, f->idlen, BR_RESYNC, 0, NULL, 0);
}

/* The stream's sender sent a message longer than the local queue takes:
 * committing it is impossible and skipping it would lose it, so the sender
 * is told (REFUSED, reason TOO_LONG: it stops, nothing consumed) and this
 * side goes on for the next. 0 or a negative errno. */
static int too_long(struct shmkit_bridge *b, const struct br_frames *f, size_t len)
{
	unsigned char why[8];
	char name[2 * sizeof f->id + 1];

	b->st.rejected++;
	br_log(b, "peer %s: message %llu is %zu bytes, longer than this queue takes (%zu): "
		  "refused; the sender keeps it",
	       br_peer_name(f->id, f->idlen, name, sizeof name), (unsigned long long)f->seq, len,
	       b->max_msg);
	br_put32(why, BR_REFUSED_TOO_LONG);
	br_put32(why + 4, (uint32_t)b->max_msg);
	return reply(b, f->id, f->idlen, BR_REFUSED, 0, why, sizeof why);
}

static int more(void *sock)
{
	int m = 0;
	size_t sz = sizeof m;
	zmq_getsockopt(sock, ZMQ_RCVMORE, &m, &sz);
	return m;
}

/* 1 a message was read, 0 none came within wait_ns (0: none waiting). A
 * blocking receive (ZMQ_RCVTIMEO) costs fewer system calls than a zmq_poll
 * and then a receive. Extra frames are skipped. */
static int read_frames(struct shmkit_bridge *b, struct br_frames *f, int64_t wait_ns)
{
	int n = wait_ns > 0 ? br_set_timeout(b, ZMQ_RCVTIMEO, wait_ns) : 0;

	if (n < 0)
		return n;
	n = zmq_recv(b->sock, f->id, sizeof f->id, wait_ns > 0 ? 0 : ZMQ_DONTWAIT);
	if (n < 0)
		return zmq_errno() == EAGAIN || zmq_errno() == EINTR ? 0 : -zmq_errno();
	f->idlen = n > (int)sizeof f->id ? sizeof f->id : (size_t)n;
	f->hdrlen = more(b->sock) ? zmq_recv(b->sock, f->hdr, sizeof f->hdr, 0) : -1;
	f->has_body = false;
	if (f->hdrlen >= 0 && more(b->sock)) {
		zmq_msg_init(&f->body);
		zmq_msg_recv(&f->body, b->sock, 0);
		f->has_body = true;
	}
	f->extra = 0;
	while (more(b->sock)) {
		unsigned char skip[1];
		zmq_recv(b->sock, skip, sizeof skip, 0);
		f->extra++;
	}
	return 1;
}

static int ack_now(struct shmkit_bridge *b)
{
	b->since_ack = 0;
	b->ack_due = false;
	return reply(b, b->peer_id, b->peer_id_len, BR_ACK, b->st.next_seq, NULL, 0);
}

/* HELLO: welcome or refuse the sender. 0 or a negative errno. */
static int greet(struct shmkit_bridge *b, struct br_frames *f)
{
	unsigned char body[BR_WELCOME_BODY], why[4];
	int r = hello(b, f, f->seq);

	if (r == 1) { /* flags, then this queue's max_msg: a sender checks its messages */
		br_put32(body, BR_WELCOME_BATCHES);
		br_put32(body + 4, (uint32_t)(b->max_msg > UINT32_MAX ? UINT32_MAX : b->max_msg));
		return reply(b, f->id, f->idlen, BR_WELCOME, b->st.next_seq, body, sizeof body);
	}
	if (r == 2) { /* said, as every refusal is (shmkit(1)): the count alone hid it */
		char name[2 * sizeof f->id + 1];
		br_logk(b, "refused", "peer %s: HELLO of another stream while this stream's sender "
				      "is live: refused (one sender per receiving bridge)",
			br_peer_name(f->id, f->idlen, name, sizeof name));
		br_put32(why, BR_REFUSED_STREAM);
		return reply(b, f->id, f->idlen, BR_REFUSED, 0, why, sizeof why);
	}
	return r;
}

/* One message read: handle it (docs/BRIDGE.md, "Malformed messages").
 * 0 go on, 1 it is held (the queue is full), or a negative errno. */
static int handle(struct shmkit_bridge *b, struct br_frames *f, bool *ack)
{
	char name[2 * sizeof f->id + 1];
	struct br_in_msg m;
	const unsigned char *body = f->has_body ? zmq_msg_data(&f->body) : NULL;
	size_t n = f->has_body ? zmq_msg_size(&f->body) : 0;
	const char *why = f->hdrlen < 0 ? "no header frame"
					: br_in_parse(f->hdr, (size_t)f->hdrlen, body, n, f->has_body, &m);
	int r;

	if (why)
		return reject(b, f, why);
	if (f->extra)
		br_log(b, "peer %s: %zu frames past the body ignored (a newer peer may add them)",
		       br_peer_name(f->id, f->idlen, name, sizeof name), f->extra);
	f->seq = m.seq;
	if (from_stream_peer(b, f))
		b->stream_seen = br_now_ns();
	if (m.t == BR_HELLO)
		return greet(b, f);
	if (m.t == BR_PING)
		return 0;
	if (!b->peer_synced || !from_stream_peer(b, f))
		return not_sender(b, f);
	if (m.longest > b->max_msg)
		return too_long(b, f, m.longest);
	f->batch = m.t == BR_BATCH;
	f->off = 0;
	f->left = m.records;
	memcpy(b->peer_id, f->id, f->idlen);
	b->peer_id_len = f->idlen;
	if (m.flags & BR_HDR_ACK_NOW)
		b->ack_due = true;
	if ((r = take(b, f, 0, ack)) == 0)
		return 1;
	return r < 0 ? r : 0;
}

/* Read and handle up to RECV_BATCH messages, the first waiting up to
 * wait_ns; stops early when a message must wait for room (it is then held
 * in b->held). How many were read, or a negative errno. */
static int read_batch(struct shmkit_bridge *b, bool *ack, int64_t wait_ns)
{
	struct br_frames *f = &b->held;
	int i;

	for (i = 0; i < RECV_BATCH; i++) {
		int r = read_frames(b, f, i ? 0 : wait_ns);
		if (r <= 0)
			return r < 0 ? r : i;
		r = handle(b, f, ack);
		if (r == 1) {
			b->holding = true; /* full: keep it, read nothing more */
			return i + 1;
		}
		if (f->has_body)
			zmq_msg_close(&f->body);
		if (r < 0)
			return r;
		if (b->since_ack >= ACK_EVERY && (r = ack_now(b)) < 0)
			return r;
	}
	return i;
}

int br_queue_in_step(struct shmkit_bridge *b, int64_t slice_ns)
{
	bool ack = false;
	int64_t wait_ns = slice_ns;
	int r;

	if (b->holding) { /* a message waits for room: the sender waits meanwhile */
		b->stream_seen = br_now_ns();
		r = take(b, &b->held, slice_ns, &ack);
		if (r < 0)
			return r;
		if (r == 0)
			return ack ? ack_now(b) : 0;
		zmq_msg_close(&b->held.body);
		b->holding = false;
		wait_ns = 0;
	}
	/* A sender that asks for ACKs (HELLO) gets one when it asks, every
	 * ACK_EVERY messages, when the queue is full, and once nothing came for
	 * ACK_DELAY_NS: not one per pass, each of which would wake both I/O
	 * threads and the sender (at low rates, three wake-ups per message). */
	bool lazy = b->acks_asked && !b->holding;
	if (lazy && b->since_ack && wait_ns > ACK_DELAY_NS)
		wait_ns = ACK_DELAY_NS;
	int n = read_batch(b, &ack, wait_ns);
	if (n < 0)
		return n;
	if (lazy && !b->holding && !b->ack_due && !(n == 0 && wait_ns > 0 && b->since_ack))
		return 0;
	return ack || b->since_ack ? ack_now(b) : 0;
}
