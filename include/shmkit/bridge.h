/* SPDX-License-Identifier: MIT */
/* shmkit — carry a queue or a topic to another host over ZeroMQ. A separate
 * library, libshmkit-bridge (link -lshmkit-bridge -lshmkit -lzmq), so the core
 * library keeps depending on libc alone. See shmkit_bridge(3) and
 * docs/BRIDGE.md (the wire protocol). Not included by <shmkit.h>. */
#ifndef SHMKIT_BRIDGE_H
#define SHMKIT_BRIDGE_H

#include <shmkit/common.h>

/* libshmkit-bridge's own export macro: its symbols are not libshmkit's ABI
 * (src/libshmkit.map) but libshmkit-bridge's (src/bridge/libshmkit-bridge.map). */
#if defined(SHMKIT_BRIDGE_BUILDING)
#define SHMKIT_BRIDGE_API __attribute__((visibility("default")))
#else
#define SHMKIT_BRIDGE_API
#endif

SHMKIT_BEGIN_DECLS

struct shmkit_bridge;

/* Direction: OUT carries the local object's messages to the endpoint, IN
 * puts the messages arriving from the endpoint into the local object. */
enum { SHMKIT_BRIDGE_OUT = 1, SHMKIT_BRIDGE_IN = 2 };

/* How the endpoint is used. AUTO binds when the endpoint's host is the wildcard
 * star (as ZeroMQ writes it: tcp, colon, two slashes, star, colon, port) and
 * connects to anything else. */
enum { SHMKIT_BRIDGE_AUTO = 0, SHMKIT_BRIDGE_BIND = 1, SHMKIT_BRIDGE_CONNECT = 2 };

struct shmkit_bridge_opts {
	int how;                 /* SHMKIT_BRIDGE_AUTO / _BIND / _CONNECT */
	const char *state;       /* queue IN: the record file (docs/BRIDGE.md); NULL = default */
	unsigned window;         /* queue OUT: messages in flight before an ack; 0 = 1024 */
	/* CURVE (encryption and authentication), Z85 keys of 40 characters.
	 * With curve_secret + curve_public and no curve_server_key this side is
	 * the CURVE server; with curve_server_key too it is the client. NULL:
	 * plain TCP. -EOPNOTSUPP when the ZeroMQ build has no CURVE. */
	const char *curve_public;
	const char *curve_secret;
	const char *curve_server_key;
	/* Called from the thread in shmkit_bridge_open/_run with one line (no
	 * newline) each time a peer's message is refused, ignored or dropped,
	 * for a record file that cannot be used, and for what the link does
	 * that would otherwise look like nothing carried: a host that does not
	 * resolve, nothing answering yet, a failed handshake (CURVE keys), a
	 * lost link, a second receiver of a bound queue sender (it then sends
	 * nothing until one is left). What and why. At most 40 lines a second,
	 * 2 of each kind (the next then says how many were left out). NULL: silent. */
	void (*log)(void *log_arg, const char *line);
	void *log_arg;
	void *reserved[2];       /* NULL */
};

struct shmkit_bridge_stats {
	int kind;                /* SHMKIT_KIND_QUEUE or SHMKIT_KIND_TOPIC */
	int dir;                 /* SHMKIT_BRIDGE_OUT / _IN */
	uint64_t messages;       /* carried: sent and acknowledged (queue OUT), committed
				  * (queue IN), sent (topic OUT), published (topic IN) */
	uint64_t bytes;          /* their payload bytes */
	uint64_t dropped;        /* topics: lost here (OUT: overwritten in the local ring before
				  * the bridge read them; IN: too big for the local topic) */
	uint64_t resent;         /* queue OUT: data messages sent again */
	uint64_t duplicates;     /* queue IN: data messages already committed, ignored */
	uint64_t resyncs;        /* queue: handshakes after a restart, a timeout or a gap */
	uint64_t gaps;           /* queue IN: messages the sender had consumed that never
				  * arrived (another consumer took them; never in normal use) */
	uint64_t next_seq;       /* queue: next sequence number expected / to be acknowledged */
	uint64_t refused;        /* queue IN: handshakes of a second sender refused */
	uint64_t rejected;       /* messages from peers ignored: malformed, out of protocol, from
				  * a peer that is not the stream's sender, too long */
	uint64_t reserved[2];
};

/* Why endpoint cannot work when used as `how` says (SHMKIT_BRIDGE_AUTO,
 * _BIND, _CONNECT), or NULL if it looks right: no transport, one ZeroMQ does
 * not know, a blank before it or in a TCP HOST:PORT, a path after a TCP
 * port, a TCP port that is not 1-65535 (or * when binding). A connect to
 * a port out of range is otherwise accepted and retried for ever. Only the
 * shape: a host that does not resolve or a port in use shows at open. */
SHMKIT_BRIDGE_API const char *shmkit_bridge_endpoint_error(const char *endpoint, int how);
/* Opens the local object at uri (a queue or a topic; the kind is read from
 * it) and the ZeroMQ socket for endpoint. Does not wait for a peer; a TCP
 * host to connect to is resolved here (as long as the resolver takes):
 * -EHOSTUNREACH if the name does not exist (ZeroMQ would retry it for ever),
 * -EADDRINUSE if a port to bind is taken. -EINVAL, touching nothing, if
 * shmkit_bridge_endpoint_error finds fault. */
SHMKIT_BRIDGE_API int shmkit_bridge_open(struct shmkit_bridge **b, int dir, const char *uri,
				  const char *endpoint, const struct shmkit_bridge_opts *o);
/* The endpoint as the socket uses it, into buf (cap bytes with the NUL):
 * a bound one as ZeroMQ resolved it, with the port a `*` chose (as in
 * tcp://0.0.0.0:41234); a connecting one as given. 0, or -ENAMETOOLONG. */
SHMKIT_BRIDGE_API int shmkit_bridge_endpoint(const struct shmkit_bridge *b, char *buf, size_t cap);
/* Carries messages until timeout_ns passes (0 = one pass without waiting,
 * SHMKIT_FOREVER = until shmkit_bridge_stop or an error). Returns 0 when the
 * time ran out or it was stopped, else a negative errno. */
SHMKIT_BRIDGE_API int shmkit_bridge_run(struct shmkit_bridge *b, int64_t timeout_ns);
/* Makes a running shmkit_bridge_run return soon (within ~10 ms).
 * Async-signal-safe: call it from a signal handler. */
SHMKIT_BRIDGE_API void shmkit_bridge_stop(struct shmkit_bridge *b);
SHMKIT_BRIDGE_API int shmkit_bridge_stats(const struct shmkit_bridge *b, struct shmkit_bridge_stats *st);
/* Closes the socket (pending unacknowledged messages stay in the local queue) and the object. */
SHMKIT_BRIDGE_API int shmkit_bridge_close(struct shmkit_bridge *b);

/* A new CURVE key pair, 40 Z85 characters each plus the NUL. */
SHMKIT_BRIDGE_API int shmkit_bridge_keypair(char public_key[41], char secret_key[41]);
/* 1 if this ZeroMQ build offers CURVE, else 0. */
SHMKIT_BRIDGE_API int shmkit_bridge_has_curve(void);

SHMKIT_END_DECLS

#endif
