/* SPDX-License-Identifier: MIT */
/* Queue, sending side: number the local queue's messages by its consumer
 * position, send up to `window` of them read in place (shmkit_queue_peek_at),
 * several per ZeroMQ message (BATCH) when the receiver said it reads them,
 * and consume each only once the receiver has acknowledged that it committed
 * it. A restart, a timeout or a resync starts again with HELLO; the receiver
 * answers where it stands. docs/BRIDGE.md. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include <zmq.h>

#include "bridge_internal.h"

#define HELLO_EVERY_NS 500000000 /* HELLO again while no WELCOME came */
#define STALL_NS 2000000000      /* data in flight and no ack for this long: resync */
#define PING_EVERY_NS 1000000000 /* idle and synced: PING so the receiver knows we live */
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

/* The header frame, then body (if any) as the one more frame. A multipart
 * message is atomic: once the header went, the body cannot see EAGAIN. */
static int send_msg(struct shmkit_bridge *b, enum br_type t, uint64_t seq, unsigned flags,
		    zmq_msg_t *body)
{
	unsigned char h[BR_HDR];

	br_hdr_put(h, t, seq);
	h[5] = (unsigned char)flags;
	if (zmq_send(b->sock, h, BR_HDR, ZMQ_DONTWAIT | (body ? ZMQ_SNDMORE : 0)) < 0) {
		if (body)
			zmq_msg_close(body);
		return -zmq_errno();
	}
	b->last_sent = br_now_ns();
	if (body && zmq_msg_send(body, b->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(body);
		return -zmq_errno();
	}
	return 0;
}

static int send_hello(struct shmkit_bridge *b)
{
	zmq_msg_t body;

	if (zmq_msg_init_size(&body, BR_HELLO_BODY) < 0)
		return -ENOMEM;
	unsigned char *p = zmq_msg_data(&body);
	memset(p, 0, BR_HELLO_BODY);
	memcpy(p, b->stream, 16);
	br_put32(p + 16, (uint32_t)b->max_msg);
	/* without a descriptor this side cannot wait for the queue while
	 * messages are in flight: it needs every ACK at once */
	br_put32(p + 20, b->local_fd >= 0 ? BR_HELLO_ASKS_ACKS : 0);
	b->synced = false;
	b->last_hello = br_now_ns();
	int r = send_msg(b, BR_HELLO, b->acked, 0, &body);
	return r == -EAGAIN ? 0 : r;
}

int br_queue_out_start(struct shmkit_bridge *b)
{
	struct shmkit_queue_stats qs;

	shmkit_queue_stats(b->q, &qs);
	/* the receiver may hold ACKs back until asked: ask when half of what
	 * can be in flight (the window, or the queue's capacity) is */
	uint64_t limit = qs.capacity < b->window ? qs.capacity : b->window;
	b->ask_ack_at = limit / 2 ? limit / 2 : 1;
	b->acked = b->next_send = b->sent_end = consumed(b);
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
	if (seq - b->acked > waiting(b)) {
		br_log(b, "the receiver says it committed up to %llu, past the %llu messages this "
			  "queue holds from %llu: a receiver of another queue or a hostile peer; "
			  "stopping, nothing consumed",
		       (unsigned long long)seq, (unsigned long long)waiting(b),
		       (unsigned long long)b->acked);
		return -EPROTO;
	}
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
	if (b->sent_end < b->acked)
		b->sent_end = b->acked;
	b->st.next_seq = b->acked;
	b->last_progress = br_now_ns();
	return 0;
}

/* An ACK, NACK or (synced) WELCOME for messages this process never sent:
 * consuming them would lose them. Ignored; a HELLO asks where the receiver
 * really stands (after our restart it may be ahead; its WELCOME is then
 * checked against the queue's depth). */
static int never_sent(struct shmkit_bridge *b, char what, uint64_t seq)
{
	b->st.rejected++;
	br_log(b, "%c %llu names messages never sent (sent up to %llu): ignored; asking the "
		  "receiver where it stands",
	       what, (unsigned long long)seq, (unsigned long long)b->sent_end);
	return send_hello(b);
}

/* The first message in flight longer than max, or sent_end if none is: a
 * REFUSED (TOO_LONG) does not say which (its seq is 0), and `acked` is
 * only where the window starts (the log named it, though it fit). */
static uint64_t too_long_at(struct shmkit_bridge *b, uint32_t max)
{
	for (uint64_t s = b->acked; s < b->sent_end; s++) {
		const void *m;
		ssize_t len = shmkit_queue_peek_at(b->q, (size_t)(s - b->acked), &m);
		if (len < 0)
			break;
		if ((size_t)len > max)
			return s;
	}
	return b->sent_end;
}

/* REFUSED: the receiver will not take this stream. Nothing of ours was
 * committed there for this refusal, and nothing was consumed here. */
static int refused(struct shmkit_bridge *b, const uint32_t body[2], int n)
{
	if (n >= 1 && body[0] == BR_REFUSED_TOO_LONG) {
		uint64_t at = n >= 2 ? too_long_at(b, body[1]) : b->sent_end;
		if (at < b->sent_end)
			br_log(b, "the receiving queue takes messages of at most %lu bytes and "
				  "message %llu is longer: stopping, nothing consumed",
			       (unsigned long)body[1], (unsigned long long)at);
		else
			br_log(b, "the receiving queue refused a message as too long: stopping, "
				  "nothing consumed");
		return -EMSGSIZE;
	}
	return -EADDRINUSE; /* it carries another sender's stream */
}

/* One reply: its type, seq and the first two u32 of its body (n of them). */
static int handle(struct shmkit_bridge *b, enum br_type t, uint64_t seq, const uint32_t body[2],
		  int n)
{
	int r;

	/* Two receivers connected (link.c): a reply may be either's, and an
	 * ACK from the wrong one would consume what the other never committed.
	 * The handshake after one is left says where that one stands. */
	if (b->crowded)
		return 0;
	if ((t == BR_ACK || t == BR_NACK || (t == BR_WELCOME && b->synced)) && seq > b->sent_end)
		return never_sent(b, (char)t, seq);
	switch (t) {
	case BR_WELCOME:
		if ((r = acknowledge(b, seq)) < 0)
			return r;
		if (seq < b->acked)
			return 0; /* an answer to an older HELLO */
		b->next_send = b->acked; /* whatever was in flight before is resent */
		b->synced = true;
		b->batches = n >= 1 && (body[0] & BR_WELCOME_BATCHES) != 0;
		b->peer_max = n >= 2 ? body[1] : 0;
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
	case BR_REFUSED:
		return refused(b, body, n);
	default:
		b->st.rejected++; /* a newer receiver's type: ignored (docs/BRIDGE.md) */
		br_log(b, "a reply of a type this sender does not know (0x%02x): ignored", (unsigned)t);
		return 0;
	}
}

/* One reply, waiting up to wait_ns for it (0: not at all; a blocking
 * receive costs fewer system calls than a zmq_poll and then a receive): its
 * header, and the first 4 bytes of a body frame as flags. 1 handled, 0 none. */
static int receive_one(struct shmkit_bridge *b, int64_t wait_ns)
{
	zmq_msg_t f;
	enum br_type t;
	uint64_t seq;
	uint32_t body[2] = { 0, 0 };
	int words = 0;
	int r = wait_ns > 0 ? br_set_timeout(b, ZMQ_RCVTIMEO, wait_ns) : 0;

	if (r < 0)
		return r;
	zmq_msg_init(&f);
	if (zmq_msg_recv(&f, b->sock, wait_ns > 0 ? 0 : ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&f);
		return zmq_errno() == EAGAIN || zmq_errno() == EINTR ? 0 : -zmq_errno();
	}
	bool ok = br_hdr_get(zmq_msg_data(&f), zmq_msg_size(&f), &t, &seq) == 0;
	for (int part = 1; zmq_msg_more(&f); part++) { /* skip what a newer peer adds */
		zmq_msg_close(&f);
		zmq_msg_init(&f);
		zmq_msg_recv(&f, b->sock, 0);
		for (; part == 1 && words < 2 && zmq_msg_size(&f) >= 4 * (size_t)words + 4; words++)
			body[words] = br_get32((unsigned char *)zmq_msg_data(&f) + 4 * words);
	}
	zmq_msg_close(&f);
	if (!ok) {
		b->st.rejected++;
		br_log(b, "a reply that is not a bridge header (no SKB magic, not version 1, or not "
			  "16 bytes): ignored");
		return 1;
	}
	r = handle(b, t, seq, body, words);
	return r < 0 ? r : 1;
}

static int receive(struct shmkit_bridge *b)
{
	for (int i = 0; i < RECV_BATCH; i++) {
		int r = receive_one(b, 0);
		if (r <= 0)
			return r;
	}
	return 0;
}

/* Messages from window position `first` on, read in place: how many go in
 * the next ZeroMQ message (0: none waiting). A message of BR_ZEROCOPY_MIN
 * bytes or more, or any message to a receiver without BATCH, goes alone. */
static ssize_t gather(struct shmkit_bridge *b, uint64_t first, uint64_t room, size_t *bytes)
{
	size_t k = 0;
	uint64_t depth = waiting(b);

	/* only what the queue is known to hold: a look past it would arm the
	 * descriptor (system calls) before the send instead of after it */
	if (room > (depth > first ? depth - first : 0))
		room = depth > first ? depth - first : 0;
	*bytes = 0;
	while (k < room && k < BR_BATCH_MSGS) {
		const void *m;
		ssize_t n = shmkit_queue_peek_at(b->q, (size_t)(first + k), &m);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return n;
		if (b->peer_max && (size_t)n > b->peer_max) {
			if (k)
				break; /* what fits goes first */
			br_log(b, "message %llu is %zd bytes; the receiving queue takes at most %llu: "
				  "stopping, nothing consumed",
			       (unsigned long long)(b->next_send + k), n,
			       (unsigned long long)b->peer_max);
			return -EMSGSIZE;
		}
		bool big = (size_t)n >= BR_ZEROCOPY_MIN;
		if (k > 0 && (big || *bytes + 4 + (size_t)n > BR_BATCH_BYTES))
			break;
		b->iov[k++] = (struct iovec){ (void *)m, (size_t)n };
		*bytes += 4 + (size_t)n;
		if (big || !b->batches)
			break;
	}
	return (ssize_t)k;
}

/* k gathered messages as one DATA (k == 1) or one BATCH, marked for an ACK
 * now when they take the messages in flight to ask_ack_at or more. */
static int send_gathered(struct shmkit_bridge *b, size_t k, size_t bytes)
{
	zmq_msg_t body;
	unsigned f = b->next_send + k - b->acked >= b->ask_ack_at ? BR_HDR_ACK_NOW : 0;

	if (k == 1 && b->iov[0].iov_len >= BR_ZEROCOPY_MIN) {
		/* in place: the bytes stay until an ack for them lets us consume
		 * them, and an ack means the receiver has them, so ZeroMQ is done
		 * reading them (a resent copy still queued is a duplicate there) */
		if (zmq_msg_init_data(&body, b->iov[0].iov_base, b->iov[0].iov_len, NULL, NULL) < 0)
			return -ENOMEM;
		return send_msg(b, BR_DATA, b->next_send, f, &body);
	}
	if (k == 1) {
		if (zmq_msg_init_size(&body, b->iov[0].iov_len) < 0)
			return -ENOMEM;
		memcpy(zmq_msg_data(&body), b->iov[0].iov_base, b->iov[0].iov_len);
		return send_msg(b, BR_DATA, b->next_send, f, &body);
	}
	if (zmq_msg_init_size(&body, bytes) < 0)
		return -ENOMEM;
	br_batch_put(zmq_msg_data(&body), b->iov, k);
	return send_msg(b, BR_BATCH, b->next_send, f, &body);
}

/* Put what the window allows on the wire: 0 when all the queue holds went
 * (or no handshake yet), 1 when the window or the link (ZeroMQ's high-water
 * mark) is full, or a negative errno. */
static int send_data(struct shmkit_bridge *b)
{
	while (b->synced && b->next_send - b->acked < b->window) {
		size_t bytes;
		uint64_t first = b->next_send - b->acked;
		ssize_t k = gather(b, first, b->window - first, &bytes);
		if (k <= 0)
			return k < 0 ? (int)k : 0;
		int r = send_gathered(b, (size_t)k, bytes);
		if (r == -EAGAIN)
			return 1; /* the link is full */
		if (r < 0)
			return r;
		if (b->next_send == b->acked)
			b->last_progress = br_now_ns();
		b->next_send += (uint64_t)k;
		if (b->sent_end < b->next_send)
			b->sent_end = b->next_send;
	}
	return b->synced;
}

/* All the queue holds went: wait for its next message or the socket. The
 * queue's descriptor is readable when a message waits; a look that finds
 * nothing arms it (DESIGN §9): with nothing in flight a receive's look (it
 * also sees a dead producer's slot), else one past the messages in flight
 * (shmkit_queue_peek_at). Without a descriptor, sleep on the queue itself
 * (a futex) or, messages in flight, for the next reply, at most 1 ms. */
static int wait_local(struct shmkit_bridge *b, int64_t slice_ns)
{
	const void *m;
	uint64_t first = b->next_send - b->acked;
	int64_t ms = slice_ns > 1000000 ? 1000000 : slice_ns;
	ssize_t n;

	if (b->local_fd >= 0) {
		n = first ? shmkit_queue_peek_at(b->q, (size_t)first, &m) : shmkit_queue_peek(b->q, &m, 0);
		if (n != -EAGAIN)
			return n < 0 ? (int)n : 0;
		int r = br_wait_both(b, b->local_fd, slice_ns);
		return r < 0 ? r : 0;
	}
	if (first) {
		int r = receive_one(b, ms);
		return r < 0 ? r : 0;
	}
	n = shmkit_queue_peek(b->q, &m, ms);
	return n < 0 && n != -ETIMEDOUT && n != -EAGAIN ? (int)n : 0;
}

/* Wait for the next reply, at most 1 ms: room in the link comes as no reply. */
static int wait_reply(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r = receive_one(b, slice_ns > 1000000 ? 1000000 : slice_ns);
	return r < 0 ? r : 0;
}

int br_queue_out_step(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r;

	if ((r = receive(b)) < 0)
		return r;
	if (b->crowded) /* two receivers connected (link.c): send nothing */
		return wait_reply(b, slice_ns);
	int64_t now = br_now_ns();
	if (!b->synced && now - b->last_hello > HELLO_EVERY_NS)
		return send_hello(b);
	if (b->synced && b->next_send > b->acked && now - b->last_progress > STALL_NS) {
		b->st.resyncs++; /* lost on a broken link: ask where the receiver stands */
		return send_hello(b);
	}
	int full = send_data(b);
	if (full < 0)
		return full;
	if (b->synced && b->next_send == b->acked && now - b->last_sent > PING_EVERY_NS &&
	    (r = send_msg(b, BR_PING, b->acked, 0, NULL)) < 0 && r != -EAGAIN)
		return r;
	if (b->synced && !full && slice_ns > 0)
		return wait_local(b, slice_ns);
	return wait_reply(b, slice_ns); /* the window or the link is full, or no handshake yet */
}
