/* SPDX-License-Identifier: MIT */
/* What the bridge watches of its ZeroMQ link, beside the protocol on it.
 * ZeroMQ connects, retries and drops connections in its own thread and says
 * nothing: a host that does not exist, a peer that never answers, CURVE keys
 * that do not match and a second receiver would all look like a bridge that
 * carries nothing. Its socket monitor reports those events; this file turns
 * them into one log line each (docs/BRIDGE.md, "What the link shows"). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bridge_internal.h"

#define LINK_CHECK_NS 100000000 /* look at the monitor at most this often (a system call) */
#define RETRY_SAY_NS 1000000000 /* connecting for this long: say that nothing answers */

#define EV_HANDSHAKE_FAILED                                                                        \
	(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |              \
	 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

static int zerr(void)
{
	int e = zmq_errno();
	return e ? -e : -EIO;
}

/* The host of a TCP endpoint "tcp://[SOURCE;]HOST:PORT" into buf ("" if
 * none can be read: ZeroMQ then says what is wrong). */
static void tcp_host(const char *endpoint, char *buf, size_t cap)
{
	const char *h = endpoint + strlen("tcp://"), *semi = strrchr(h, ';'), *end;

	buf[0] = '\0';
	if (semi)
		h = semi + 1; /* past the source address */
	if (*h == '[') {
		h++;
		end = strchr(h, ']');
	} else
		end = strrchr(h, ':');
	if (end && (size_t)(end - h) < cap) {
		memcpy(buf, h, (size_t)(end - h));
		buf[end - h] = '\0';
	}
}

int br_link_resolve(struct shmkit_bridge *b, const char *endpoint)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
	char host[256];

	if (strncmp(endpoint, "tcp://", 6) != 0)
		return 0;
	tcp_host(endpoint, host, sizeof host);
	if (!host[0])
		return 0;
	int e = getaddrinfo(host, NULL, &hints, &ai);
	if (!e) {
		freeaddrinfo(ai);
		return 0;
	}
	/* a name that does not exist stays so: ZeroMQ would retry it for ever,
	 * silently. A resolver that cannot answer now may answer later. */
	bool lasting = e == EAI_NONAME || e == EAI_FAIL
#ifdef EAI_NODATA
		       || e == EAI_NODATA
#endif
#ifdef EAI_ADDRFAMILY
		       || e == EAI_ADDRFAMILY
#endif
	    ;
	br_log(b, "cannot resolve %s (%s): %s", host, endpoint,
	       lasting ? gai_strerror(e) : "the resolver does not answer now: trying on");
	return lasting ? -EHOSTUNREACH : 0;
}

int br_link_watch(struct shmkit_bridge *b, const char *endpoint, bool bind)
{
	char addr[64];
	int events = EV_HANDSHAKE_FAILED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED;

	if (!bind)
		events |= ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED;
	else if (b->dir == SHMKIT_BRIDGE_OUT) /* a queue's receivers, a topic's subscribers */
		events |= ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED;
	b->binds = bind;
	snprintf(addr, sizeof addr, "inproc://shmkit-bridge-monitor-%p", (void *)b);
	if (!(b->endpoint = strdup(endpoint)))
		return -ENOMEM;
	if (zmq_socket_monitor(b->sock, addr, events) < 0 ||
	    !(b->mon = zmq_socket(b->ctx, ZMQ_PAIR)) || zmq_connect(b->mon, addr) < 0)
		return zerr();
	return 0;
}

/* A bound queue sender's connections, by descriptor: a DEALER deals its
 * messages among all of them, so with two receivers the stream would be
 * split between two queues. While there is more than one it sends nothing
 * (queue_out.c); when one is left, a new handshake finds where it stands.
 * Past the table, connections are only counted (peers_extra), and a
 * disconnection matches a tracked descriptor or else one of those: each
 * counts down once, so strangers that come and go (more of them than the
 * table holds) cannot leave the count raised, which held the sender for
 * good. */
static unsigned peer_count(const struct shmkit_bridge *b)
{
	return b->peers + b->peers_extra;
}

static void peer_came(struct shmkit_bridge *b, uint32_t fd)
{
	if (b->peers < BR_PEERS_MAX)
		b->peer_fd[b->peers++] = fd;
	else
		b->peers_extra++;
	if (b->kind == SHMKIT_KIND_QUEUE && peer_count(b) == 2 && !b->crowded) {
		b->crowded = true;
		br_log(b,
		       "a second receiving bridge connected to %s: a queue goes to one receiver; "
		       "sending nothing until only one is connected (stop the others)",
		       b->endpoint);
	}
}

static void peer_gone(struct shmkit_bridge *b, uint32_t fd)
{
	unsigned i = 0;

	while (i < b->peers && b->peer_fd[i] != fd)
		i++;
	if (i < b->peers)
		b->peer_fd[i] = b->peer_fd[--b->peers];
	else if (b->peers_extra)
		b->peers_extra--;
	if (peer_count(b) <= 1 && b->crowded) {
		b->crowded = false;
		b->synced = false; /* ask the one left where it stands */
		br_log(b, "one receiving bridge connected to %s again: sending", b->endpoint);
	}
}

bool br_link_has_peer(const struct shmkit_bridge *b)
{
	return b->binds ? peer_count(b) > 0 : b->link_up;
}

static const char *handshake_why(unsigned ev)
{
	if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
		return "authentication refused";
	if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
		return "the peer broke the ZeroMQ protocol, or its CURVE keys do not match this "
		       "side's (encrypted on one side only, or the wrong server key)";
	/* most often, on a bad network, nothing is misconfigured: the link
	 * dropped or the peer was killed mid-handshake, and it comes again */
	return "the connection closed during it (the link or the peer went away, CURVE on one "
	       "side only, not a ZeroMQ peer, or a bridge of the other kind: a queue's bridge and "
	       "a topic's do not speak to each other)";
}

/* One monitor event; *down when a connecting socket's link went down. */
static void link_event(struct shmkit_bridge *b, unsigned ev, uint32_t value, bool *down)
{
	switch (ev) {
	case ZMQ_EVENT_CONNECTED:
		b->retry_since = 0;
		b->retry_said = false;
		break;
	case ZMQ_EVENT_CONNECT_RETRIED: /* two started together: a retry or two is no news */
		if (!b->retry_since)
			b->retry_since = br_now_ns();
		else if (!b->retry_said && br_now_ns() - b->retry_since >= RETRY_SAY_NS) {
			br_log(b, "nothing answers at %s yet: trying again", b->endpoint);
			b->retry_said = true;
		}
		break;
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		b->handshake_said = false;
		b->link_up = true;
		break;
	case ZMQ_EVENT_ACCEPTED:
		peer_came(b, value);
		break;
	case ZMQ_EVENT_DISCONNECTED:
		if (b->binds)
			peer_gone(b, value);
		else
			*down = true;
		break;
	default: /* a failed handshake: once until one succeeds */
		if (!b->handshake_said)
			br_log(b, "a ZeroMQ handshake with a peer at %s failed: %s", b->endpoint,
			       handshake_why(ev));
		b->handshake_said = true;
	}
}

/* Every LINK_CHECK_NS at most: the monitor's events. A connecting socket
 * whose peer sent a frame past ZMQ_MAXMSGSIZE (or broke the protocol
 * otherwise) is disconnected by ZeroMQ 4.3 and never connected again:
 * after a disconnection, connect again. What ZeroMQ still held for the old
 * connection is dropped: the queue protocol resends, a topic loses it. */
int br_link_check(struct shmkit_bridge *b)
{
	int64_t now = br_now_ns();
	zmq_msg_t ev;
	bool down = false;

	if (!b->mon || now - b->link_checked < LINK_CHECK_NS)
		return 0;
	b->link_checked = now;
	zmq_msg_init(&ev);
	while (zmq_msg_recv(&ev, b->mon, ZMQ_DONTWAIT) >= 0) {
		const unsigned char *p = zmq_msg_data(&ev);
		if (zmq_msg_size(&ev) >= 6 && zmq_msg_more(&ev))
			link_event(b, (unsigned)(p[0] | p[1] << 8), br_get32(p + 2), &down);
		while (zmq_msg_more(&ev))
			zmq_msg_recv(&ev, b->mon, 0); /* the endpoint frame */
	}
	zmq_msg_close(&ev);
	if (!down)
		return 0;
	if (b->link_up)
		br_log(b,
		       "the link to %s went down (the peer left, or sent a frame longer than "
		       "this side takes): connecting again",
		       b->endpoint);
	else if (!b->handshake_said) {
		/* closed before a handshake succeeded: a peer refusing this
		 * socket's type (a bridge of the other kind) sends no other event */
		br_log(b, "a ZeroMQ handshake with a peer at %s failed: %s", b->endpoint,
		       handshake_why(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL));
		b->handshake_said = true;
	}
	b->link_up = false;
	zmq_disconnect(b->sock, b->endpoint);
	return zmq_connect(b->sock, b->endpoint) < 0 ? zerr() : 0;
}

SHMKIT_BRIDGE_API int shmkit_bridge_endpoint(const struct shmkit_bridge *b, char *buf, size_t cap)
{
	size_t n = cap;

	if (!b || !buf || cap == 0)
		return -EINVAL;
	if (zmq_getsockopt(b->sock, ZMQ_LAST_ENDPOINT, buf, &n) < 0)
		return zmq_errno() == EINVAL ? -ENAMETOOLONG : zerr(); /* EINVAL: buf too short */
	if (buf[0])
		return 0;
	/* ZeroMQ names only what was bound: a connecting side's is its argument */
	return (size_t)snprintf(buf, cap, "%s", b->endpoint) >= cap ? -ENAMETOOLONG : 0;
}
