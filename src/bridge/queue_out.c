/* SPDX-License-Identifier: MIT */
/* Queue, sending side: number the local queue's messages by its consumer
 * position, send up to `window` of them read in place (shmkit_queue_peek_at),
 * and consume each only once the receiver has acknowledged that it committed
 * it. A restart, a timeout or a resync starts again with HELLO; the receiver
 * answers where it stands. docs/BRIDGE.md. */
#include <errno.h>
#include <string.h>

#include <zmq.h>

#include "bridge_internal.h"

#define HELLO_EVERY_NS 500000000 /* HELLO again while no WELCOME came */
#define STALL_NS 2000000000      /* data in flight and no ack for this long: resync */
#define RECV_BATCH 256

static uint64_t consumed(struct shmkit_bridge *b)
{
	struct shmkit_queue_stats qs;

	shmkit_queue_stats(b->q, &qs);
	return qs.received;
}

static uint64_t waiting(struct shmkit_bridge *b)
{
	struct shmkit_queue_stats qs;

	shmkit_queue_stats(b->q, &qs);
	return qs.depth;
}

static int send_hdr(struct shmkit_bridge *b, enum br_type t, uint64_t seq, const void *body,
		    size_t n, int flags)
{
	unsigned char h[BR_HDR];

	br_hdr_put(h, t, seq);
	if (zmq_send(b->sock, h, BR_HDR, flags | (body ? ZMQ_SNDMORE : 0)) < 0)
		return -zmq_errno();
	if (body && zmq_send(b->sock, body, n, flags) < 0)
		return -zmq_errno(); /* cannot happen after the first part went (atomic multipart) */
	return 0;
}

static int send_hello(struct shmkit_bridge *b)
{
	unsigned char body[BR_HELLO_BODY] = { 0 };

	memcpy(body, b->stream, 16);
	br_put64(body + 16, b->max_msg); /* u32 max_msg, u32 reserved (0) */
	b->synced = false;
	b->last_hello = br_now_ns();
	int r = send_hdr(b, BR_HELLO, b->acked, body, sizeof body, ZMQ_DONTWAIT);
	return r == -EAGAIN ? 0 : r;
}

int br_queue_out_start(struct shmkit_bridge *b)
{
	int r = br_object_id(shmkit_queue_seg(b->q), b->stream);

	if (r < 0)
		return r;
	b->acked = b->next_send = consumed(b);
	b->st.next_seq = b->acked;
	return send_hello(b);
}

/* The receiver has committed every message below seq: consume ours. */
static int acknowledge(struct shmkit_bridge *b, uint64_t seq)
{
	const void *m;

	if (seq <= b->acked)
		return 0;
	/* The receiver may stand past what this process sent (after our
	 * restart, or acks from before a resync) but never past what the queue
	 * holds: check before consuming anything. */
	if (seq - b->acked > waiting(b))
		return -EPROTO;
	while (b->acked < seq) {
		ssize_t n = shmkit_queue_peek(b->q, &m, 0);
		if (n < 0)
			return (int)n;
		shmkit_queue_consume(b->q);
		b->acked++;
		b->st.messages++;
		b->st.bytes += (uint64_t)n;
	}
	if (b->next_send < b->acked)
		b->next_send = b->acked;
	b->st.next_seq = b->acked;
	b->last_progress = br_now_ns();
	return 0;
}

static int handle(struct shmkit_bridge *b, enum br_type t, uint64_t seq)
{
	int r;

	switch (t) {
	case BR_WELCOME:
		if ((r = acknowledge(b, seq)) < 0)
			return r;
		if (seq < b->acked)
			return 0; /* an answer to an older HELLO */
		b->next_send = b->acked; /* whatever was in flight before is resent */
		b->synced = true;
		b->last_progress = br_now_ns();
		return 0;
	case BR_ACK:
		return b->synced ? acknowledge(b, seq) : 0;
	case BR_NACK:
		if (!b->synced)
			return 0;
		if ((r = acknowledge(b, seq)) < 0)
			return r;
		if (seq >= b->acked && seq < b->next_send) {
			b->st.resent += b->next_send - seq;
			b->next_send = seq;
		}
		return 0;
	case BR_RESYNC:
		b->st.resyncs++;
		return send_hello(b);
	default:
		return 0; /* unknown types are ignored (docs/BRIDGE.md: forward compatible) */
	}
}

static int receive(struct shmkit_bridge *b)
{
	unsigned char h[BR_HDR + 1];
	enum br_type t;
	uint64_t seq;
	int more, r;
	size_t sz = sizeof more;

	for (int i = 0; i < RECV_BATCH; i++) {
		int n = zmq_recv(b->sock, h, sizeof h, ZMQ_DONTWAIT);
		if (n < 0)
			return zmq_errno() == EAGAIN ? 0 : -zmq_errno();
		bool ok = br_hdr_get(h, (size_t)n, &t, &seq) == 0;
		zmq_getsockopt(b->sock, ZMQ_RCVMORE, &more, &sz);
		while (more) { /* no reply carries a body: skip what a newer peer adds */
			zmq_recv(b->sock, h, sizeof h, 0);
			zmq_getsockopt(b->sock, ZMQ_RCVMORE, &more, &sz);
		}
		if (ok && (r = handle(b, t, seq)) < 0)
			return r;
	}
	return 0;
}

/* Put what the window allows on the wire: 1 if something went, 0 if not. */
static int send_data(struct shmkit_bridge *b)
{
	int sent = 0;

	while (b->synced && b->next_send - b->acked < b->window) {
		const void *m;
		ssize_t n = shmkit_queue_peek_at(b->q, (size_t)(b->next_send - b->acked), &m);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		int r = send_hdr(b, BR_DATA, b->next_send, m, (size_t)n, ZMQ_DONTWAIT);
		if (r == -EAGAIN)
			break; /* ZeroMQ's high-water mark: the link is full */
		if (r < 0)
			return r;
		if (b->next_send == b->acked)
			b->last_progress = br_now_ns();
		b->next_send++;
		sent = 1;
	}
	return sent;
}

int br_queue_out_step(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r;

	if ((r = receive(b)) < 0)
		return r;
	int64_t now = br_now_ns();
	if (!b->synced && now - b->last_hello > HELLO_EVERY_NS)
		return send_hello(b);
	if (b->synced && b->next_send > b->acked && now - b->last_progress > STALL_NS) {
		b->st.resyncs++; /* lost on a broken link: ask where the receiver stands */
		return send_hello(b);
	}
	if ((r = send_data(b)) != 0)
		return r < 0 ? r : 0;
	if (b->synced && b->next_send == b->acked && b->local_fd >= 0) {
		/* nothing in flight: the queue's descriptor is readable when a
		 * message waits; a receive that finds nothing arms it (DESIGN §9),
		 * so look once without waiting, then wait on it and the socket */
		const void *m;
		ssize_t n = shmkit_queue_peek(b->q, &m, 0);
		if (n != -EAGAIN)
			return n < 0 ? (int)n : 0;
		r = br_wait_both(b, b->local_fd, slice_ns);
		return r < 0 ? r : 0;
	}
	if (b->synced && b->next_send == b->acked && slice_ns > 0) {
		/* no descriptor: sleep on the local queue (a futex), then look at
		 * the socket again */
		const void *m;
		int64_t wait = slice_ns > 1000000 ? 1000000 : slice_ns;
		ssize_t n = shmkit_queue_peek(b->q, &m, wait);
		return n < 0 && n != -ETIMEDOUT && n != -EAGAIN ? (int)n : 0;
	}
	r = br_wait_socket(b, slice_ns > 1000000 ? 1000000 : slice_ns);
	return r < 0 ? r : 0;
}
