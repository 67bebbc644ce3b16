/* SPDX-License-Identifier: MIT */
/* Queue, receiving side: commit DATA whose sequence number is the next one
 * expected into the local queue, acknowledge cumulatively, ignore
 * duplicates, ask once for a resend after a gap. The next number expected
 * is base_seq + (messages committed - base_pos), from the record (record.c)
 * and the queue's own count, so it is exact after any kill. Back-pressure:
 * with the queue full, the one message in hand waits and nothing more is
 * read from the socket, so ZeroMQ's bounded pipes fill and the sender's
 * window stops it. docs/BRIDGE.md. */
#include <errno.h>
#include <string.h>

#include <zmq.h>

#include "bridge_internal.h"

#define RECV_BATCH 256
#define RESYNC_EVERY_NS 100000000 /* at most one RESYNC per 100 ms */

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
	return 0;
}

static int reply(struct shmkit_bridge *b, const void *id, size_t idlen, enum br_type t,
		 uint64_t seq)
{
	unsigned char h[BR_HDR];

	br_hdr_put(h, t, seq);
	if (zmq_send(b->sock, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(b->sock, h, BR_HDR, ZMQ_DONTWAIT) < 0) {
		int e = zmq_errno();
		/* a full or vanished peer: it resends and asks again */
		return e == EAGAIN || e == EHOSTUNREACH ? 0 : -e;
	}
	return 0;
}

static int hello(struct shmkit_bridge *b, uint64_t seq, const unsigned char *body, size_t n)
{
	int r;

	if (n < BR_HELLO_BODY)
		return 0;
	uint64_t c = committed(b);
	if (!b->have_record || memcmp(body, b->in_stream, 16) != 0) {
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
	b->st.next_seq = b->base_seq + (c - b->base_pos);
	b->peer_synced = true;
	b->st.resyncs++;
	b->last_nack = UINT64_MAX;
	return 1;
}

/* Commit one message: 1 done, 0 the queue is full (try again later). */
static int commit(struct shmkit_bridge *b, zmq_msg_t *m, int64_t wait_ns)
{
	size_t len = zmq_msg_size(m);
	void *slot;
	int r = shmkit_queue_reserve(b->q, len, &slot, wait_ns);

	if (r == -EAGAIN || r == -ETIMEDOUT)
		return 0;
	if (r < 0)
		return r;
	memcpy(slot, zmq_msg_data(m), len);
	if ((r = shmkit_queue_commit(b->q, slot, len)) < 0)
		return r;
	b->st.next_seq++;
	b->st.messages++;
	b->st.bytes += len;
	return 1;
}

static int more(void *sock)
{
	int m = 0;
	size_t sz = sizeof m;
	zmq_getsockopt(sock, ZMQ_RCVMORE, &m, &sz);
	return m;
}

/* 1 a message was read, 0 none waiting. Extra frames are skipped. */
static int read_frames(struct shmkit_bridge *b, struct br_frames *f)
{
	int n = zmq_recv(b->sock, f->id, sizeof f->id, ZMQ_DONTWAIT);

	if (n < 0)
		return zmq_errno() == EAGAIN ? 0 : -zmq_errno();
	f->idlen = n > (int)sizeof f->id ? sizeof f->id : (size_t)n;
	f->hdrlen = more(b->sock) ? zmq_recv(b->sock, f->hdr, sizeof f->hdr, 0) : -1;
	f->has_body = false;
	if (f->hdrlen >= 0 && more(b->sock)) {
		zmq_msg_init(&f->body);
		zmq_msg_recv(&f->body, b->sock, 0);
		f->has_body = true;
	}
	while (more(b->sock)) {
		unsigned char skip[1];
		zmq_recv(b->sock, skip, sizeof skip, 0);
	}
	return 1;
}

static int data(struct shmkit_bridge *b, struct br_frames *f, uint64_t seq, bool *ack)
{
	if (!b->peer_synced) {
		int64_t now = br_now_ns();
		if (now - b->last_progress < RESYNC_EVERY_NS)
			return 0;
		b->last_progress = now;
		return reply(b, f->id, f->idlen, BR_RESYNC, 0);
	}
	if (seq < b->st.next_seq) {
		b->st.duplicates++;
		*ack = true;
		return 0;
	}
	if (seq > b->st.next_seq) {
		if (b->last_nack == b->st.next_seq)
			return 0;
		b->last_nack = b->st.next_seq;
		return reply(b, f->id, f->idlen, BR_NACK, b->st.next_seq);
	}
	if (zmq_msg_size(&f->body) > b->max_msg)
		return -EMSGSIZE; /* the queues disagree: stop rather than lose it */
	*ack = true;
	return 2; /* commit it */
}

/* Read and handle up to RECV_BATCH messages; stops early when a DATA must
 * wait for room (it is then held in b->held). */
static int read_batch(struct shmkit_bridge *b, bool *ack)
{
	struct br_frames *f = &b->held;

	for (int i = 0; i < RECV_BATCH; i++) {
		int r = read_frames(b, f);
		if (r <= 0)
			return r;
		enum br_type t;
		uint64_t seq;
		r = 0;
		if (f->hdrlen < 0 || br_hdr_get(f->hdr, (size_t)f->hdrlen, &t, &seq) < 0)
			; /* not a bridge message: ignore it */
		else if (t == BR_HELLO && f->has_body) {
			r = hello(b, seq, zmq_msg_data(&f->body), zmq_msg_size(&f->body));
			if (r > 0)
				r = reply(b, f->id, f->idlen, BR_WELCOME, b->st.next_seq);
		} else if (t == BR_DATA && f->has_body) {
			if ((r = data(b, f, seq, ack)) == 2 && (r = commit(b, &f->body, 0)) == 0) {
				b->holding = true; /* full: keep it, read nothing more */
				return 0;
			}
		}
		if (f->has_body)
			zmq_msg_close(&f->body);
		if (r < 0)
			return r;
		memcpy(b->peer_id, f->id, f->idlen);
		b->peer_id_len = f->idlen;
	}
	return 0;
}

int br_queue_in_step(struct shmkit_bridge *b, int64_t slice_ns)
{
	bool ack = false;
	int r;

	if (b->holding) { /* a message waits for room: the sender waits meanwhile */
		if ((r = commit(b, &b->held.body, slice_ns)) <= 0)
			return r;
		zmq_msg_close(&b->held.body);
		b->holding = false;
		memcpy(b->peer_id, b->held.id, b->held.idlen);
		b->peer_id_len = b->held.idlen;
		ack = true;
	} else if ((r = br_wait_socket(b, slice_ns)) <= 0) {
		return r;
	}
	if ((r = read_batch(b, &ack)) < 0)
		return r;
	if (ack)
		return reply(b, b->peer_id, b->peer_id_len, BR_ACK, b->st.next_seq);
	return 0;
}
