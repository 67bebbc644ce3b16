/* SPDX-License-Identifier: MIT */
/* Topics: one ZeroMQ message per shmkit message, bytes unchanged, so any
 * ZeroMQ SUB subscribed to "" receives them. OUT reads the ring as a
 * subscriber and sends on an XPUB with XPUB_NODROP and DONTWAIT: when the
 * link is full, or no remote subscriber is subscribed (a PUB would discard
 * what it is given then, and nobody would know), it holds that one message
 * and reads nothing until the link takes it, so it behaves as any slow
 * subscriber of the local topic: on a lossy topic the ring overwrites and
 * its subscriber entry counts the loss (shown by shmkit top too), on a
 * reliable one the publisher waits. (Reading on and dropping at the link
 * instead would lose as much, burn the CPU the link's I/O thread needs, and
 * be seen by the bridge alone.) IN publishes what arrives (a message longer
 * than the local slot is a counted drop). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "bridge_internal.h"

#define BATCH 256

/* Send m (flags: ZMQ_DONTWAIT, or 0 to wait up to ZMQ_SNDTIMEO): 1 sent,
 * 0 held (the link is full, or a signal came while waiting). */
static int send_or_hold(struct shmkit_bridge *b, zmq_msg_t *m, int flags)
{
	size_t n = zmq_msg_size(m);

	if (zmq_msg_send(m, b->sock, flags) < 0) {
		if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
			zmq_msg_close(m);
			return -zmq_errno();
		}
		if (m != &b->pending)
			zmq_msg_move(&b->pending, m);
		b->has_pending = true;
		return 0;
	}
	if (m == &b->pending)
		b->has_pending = false;
	b->st.messages++;
	b->st.bytes += (uint64_t)n;
	return 1;
}

/* A held message: wait up to slice_ns for the link to take it. Not with
 * zmq_poll: an XPUB always reports POLLOUT (only a send checks its pipes'
 * room), so a poll loop would spin and take the CPU the link's I/O thread
 * needs. A blocking send with a timeout sleeps until that thread reports
 * room in the pipe, as ZeroMQ's own (X)PUB with XPUB_NODROP does. */
static int send_pending(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r = br_set_timeout(b, ZMQ_SNDTIMEO, slice_ns);

	return r < 0 ? r : send_or_hold(b, &b->pending, 0);
}

/* Send one message read in place: 1 sent or lost while read (overwritten),
 * 0 none waiting or held (the link is full). */
static int forward_one(struct shmkit_bridge *b, int64_t wait_ns)
{
	const void *p;
	zmq_msg_t m;
	ssize_t n = shmkit_sub_peek(b->sub, &p, wait_ns);

	if (n == -EAGAIN || n == -ETIMEDOUT)
		return 0;
	b->pub_gone = n == -EPIPE;
	if (n == -EPIPE) { /* the publisher closed or died: wait for the next one */
		struct timespec ts = { 0, wait_ns > 1000000 ? 1000000 : wait_ns };
		nanosleep(&ts, NULL);
		return 0;
	}
	if (n < 0)
		return (int)n;
	if (zmq_msg_init_size(&m, (size_t)n) < 0) {
		shmkit_sub_release(b->sub);
		return -ENOMEM;
	}
	memcpy(zmq_msg_data(&m), p, (size_t)n);
	/* -ESTALE: overwritten while we copied; the topic counted it as dropped */
	if (shmkit_sub_release(b->sub) < 0) {
		zmq_msg_close(&m);
		return 1;
	}
	return send_or_hold(b, &m, ZMQ_DONTWAIT);
}

/* Wait up to slice_ns for the local topic's descriptor (armed by the
 * forward_one that found nothing). Only it: what the XPUB hands the program
 * (subscriptions) is read at the next step, and its other commands (room in
 * a pipe) wait for the next send, so a zmq_poll would only add system calls
 * per message. */
static int wait_local(int fd, int64_t slice_ns)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ms = slice_ns <= 0 ? 0 : (int)((slice_ns + 999999) / 1000000);

	return poll(&p, 1, ms) < 0 && errno != EINTR ? -errno : 0;
}

/* The subscriptions the XPUB passes up, read without waiting: a prefix's
 * first subscriber "\x01PREFIX". Unsubscriptions ("\x00PREFIX") are not
 * counted: ZeroMQ passes up one from a peer that never subscribed too, and
 * which peer sent a frame it does not say, so one forged frame would have
 * stopped the bridge for every real subscriber. Whether anyone listens is
 * told by the monitor instead (br_link_has_peer). At most SUBS_PER_STEP a
 * step: a peer flooding subscriptions cannot keep the bridge from its
 * messages. */
#define SUBS_PER_STEP 1024

static int read_subscriptions(struct shmkit_bridge *b)
{
	for (int i = 0; i < SUBS_PER_STEP; i++) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, b->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			int e = zmq_errno();
			return e == EAGAIN || e == EINTR ? 0 : -e;
		}
		const unsigned char *d = zmq_msg_data(&m);
		if (zmq_msg_size(&m) >= 1 && d[0] == 1)
			b->subscribed = true;
		zmq_msg_close(&m);
	}
	return 0;
}

/* No remote subscriber: wait up to slice_ns for one to subscribe. */
static int wait_subscriber(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r = br_wait_both(b, -1, slice_ns);

	return r < 0 ? r : read_subscriptions(b);
}

/* Someone listens: a peer is connected, and some peer has subscribed. (A
 * peer that connects again subscribes again, which ZeroMQ passes up only
 * when no connection held that subscription: so "ever" and not "now"; the
 * moment between a new connection and its subscription is not held.) */
static bool listened_to(const struct shmkit_bridge *b)
{
	return b->subscribed && br_link_has_peer(b);
}

int br_topic_out_step(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r = read_subscriptions(b);

	if (r < 0)
		return r;
	if (!listened_to(b))
		return wait_subscriber(b, slice_ns);
	if (b->has_pending && (r = send_pending(b, slice_ns)) <= 0)
		return r;
	/* with a descriptor, wait on it; without one (or while the publisher is
	 * gone and the descriptor stays readable), the first read waits in the
	 * topic */
	bool fd_wait = b->local_fd >= 0 && !b->pub_gone;
	for (int i = 0; i < BATCH && (r = forward_one(b, i || fd_wait ? 0 : slice_ns)) > 0; i++)
		;
	if (r == 0 && b->has_pending)
		return 0; /* the next step waits for the link */
	if (r == 0 && fd_wait)
		r = wait_local(b->local_fd, slice_ns);
	return r < 0 ? r : 0;
}

/* A multipart message: not one a bridge sends (one frame per message), and
 * its parts are not messages of their own. Read to its end and dropped
 * whole (rejected), never published part by part. */
static void multipart(struct shmkit_bridge *b, zmq_msg_t *m)
{
	size_t parts = 1;

	do {
		zmq_msg_close(m);
		zmq_msg_init(m);
		zmq_msg_recv(m, b->sock, 0); /* atomic: the rest has arrived */
		parts++;
	} while (zmq_msg_more(m));
	zmq_msg_close(m);
	b->st.rejected++;
	br_log(b, "a message of %zu frames (a topic message is one frame): dropped", parts);
}

/* Receive and publish up to BATCH messages, each receive waiting up to
 * slice_ns (ZMQ_RCVTIMEO) as a plain SUB's blocking receive does: one
 * wait in ZeroMQ per idle spell, no zmq_poll and no failing non-blocking
 * receive per message. */
int br_topic_in_step(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r = br_set_timeout(b, ZMQ_RCVTIMEO, slice_ns);

	for (int i = 0; r >= 0 && i < BATCH; i++) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, b->sock, 0) < 0) {
			zmq_msg_close(&m);
			int e = zmq_errno();
			return e == EAGAIN || e == EINTR ? 0 : -e;
		}
		size_t n = zmq_msg_size(&m);
		if (zmq_msg_more(&m)) {
			multipart(b, &m);
			continue;
		}
		/* a reliable local topic may wait for its slowest subscriber: the
		 * SUB socket then fills and the sending side counts the drops */
		do
			r = shmkit_pub_send(b->pub, zmq_msg_data(&m), n, 100000000);
		while (r == -ETIMEDOUT && !atomic_load_explicit(&b->stop, memory_order_relaxed));
		zmq_msg_close(&m);
		if (r == -EMSGSIZE || r == -EINVAL) {
			br_log(b, "a message of %zu bytes, longer than the topic's slots (%zu): "
				  "dropped", n, b->max_msg);
			b->st.dropped++;
			r = 0;
			continue;
		}
		if (r < 0)
			return r;
		b->st.messages++;
		b->st.bytes += n;
	}
	return r < 0 ? r : 0;
}
