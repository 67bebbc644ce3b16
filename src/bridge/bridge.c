/* SPDX-License-Identifier: MIT */
/* libshmkit-bridge: open a local queue or topic and a ZeroMQ socket, and
 * run the carrier that matches (queue_out.c, queue_in.c, topic.c). The wire
 * protocol is docs/BRIDGE.md. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bridge_internal.h"

#define SLICE_NS 10000000 /* a run checks its stop flag at least this often */
#define LINGER_MS 0       /* close drops what ZeroMQ still buffers: the protocol resends */
#define HEARTBEAT_MS 1000 /* ZMTP heartbeats notice a dead peer */
#define HEARTBEAT_TIMEOUT_MS 3000
#define KEEPALIVE_S 1 /* TCP keepalive: idle, interval; 3 probes */
#define HANDSHAKE_MS 5000 /* a connection that does not speak ZMTP by then is closed */
#define PEER_PIPE_BYTES (4 << 20) /* what a queue receiver lets one connection queue */

int64_t br_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void br_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t br_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void br_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t br_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void br_hdr_put(unsigned char h[BR_HDR], enum br_type t, uint64_t seq)
{
	memset(h, 0, BR_HDR);
	h[0] = BR_MAGIC0;
	h[1] = BR_MAGIC1;
	h[2] = BR_MAGIC2;
	h[3] = BR_VERSION;
	h[4] = (unsigned char)t;
	br_put64(h + 8, seq);
}

int br_hdr_get(const unsigned char *h, size_t n, enum br_type *t, uint64_t *seq)
{
	if (n != BR_HDR || h[0] != BR_MAGIC0 || h[1] != BR_MAGIC1 || h[2] != BR_MAGIC2 ||
	    h[3] != BR_VERSION)
		return -EBADMSG;
	*t = (enum br_type)h[4];
	*seq = br_get64(h + 8);
	return 0;
}

const char *br_in_parse(const unsigned char *hdr, size_t hdrlen, const unsigned char *body,
			size_t bodylen, bool has_body, struct br_in_msg *m)
{
	if (hdrlen != BR_HDR)
		return "header frame not 16 bytes";
	if (br_hdr_get(hdr, hdrlen, &m->t, &m->seq) < 0)
		return "no SKB magic or not version 1";
	m->flags = hdr[5];
	m->records = 0;
	m->longest = 0;
	switch (m->t) {
	case BR_HELLO:
		return has_body && bodylen >= BR_HELLO_BODY ? NULL : "HELLO without its 24-byte body";
	case BR_PING:
		return NULL;
	case BR_DATA:
		if (!has_body)
			return "DATA without a body frame";
		m->records = 1;
		m->longest = bodylen;
		return NULL;
	case BR_BATCH:
		break;
	default:
		return "a type a receiver does not take";
	}
	if (!has_body)
		return "BATCH without a body frame";
	for (size_t off = 0; off < bodylen; m->records++) {
		size_t len;
		if (bodylen - off < 4 || (len = br_get32(body + off)) > bodylen - off - 4)
			return "BATCH record length past the end of the frame";
		if (len > m->longest)
			m->longest = len;
		off += 4 + len;
	}
	return m->records ? NULL : "BATCH without a record";
}

const unsigned char *br_batch_next(const unsigned char *body, bool batch, size_t bodylen,
				   size_t *off, size_t *len)
{
	if (!batch) {
		*len = bodylen;
		*off = bodylen;
		return body;
	}
	*len = br_get32(body + *off);
	*off += 4 + *len;
	return body + *off - *len;
}

void br_batch_put(unsigned char *p, const struct iovec *iov, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		br_put32(p, (uint32_t)iov[i].iov_len);
		memcpy(p + 4, iov[i].iov_base, iov[i].iov_len);
		p += 4 + iov[i].iov_len;
	}
}

const char *br_peer_name(const unsigned char *id, size_t n, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o + 3 < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%02x", id[i]);
	return n ? buf : "(none)";
}

/* Whether a line of this kind may be written now (see br_logk). */
static bool log_room(struct shmkit_bridge *b, const void *key)
{
	int64_t now = br_now_ns();
	unsigned i;

	if (now - b->log_window >= 1000000000) {
		b->log_window = now;
		b->log_lines = 0;
		memset(b->log_keys, 0, sizeof b->log_keys);
	}
	for (i = 0; i < BR_LOG_KEYS && b->log_keys[i] && b->log_keys[i] != key; i++)
		;
	if (b->log_lines >= BR_LOG_PER_S || i == BR_LOG_KEYS ||
	    (b->log_keys[i] && b->log_per_key[i] >= BR_LOG_PER_KEY))
		return false;
	if (!b->log_keys[i]) {
		b->log_keys[i] = key;
		b->log_per_key[i] = 0;
	}
	b->log_per_key[i]++;
	b->log_lines++;
	return true;
}

void br_logk(struct shmkit_bridge *b, const void *key, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = 0;

	if (!b->log)
		return;
	if (!log_room(b, key ? key : fmt)) {
		b->log_quiet++; /* a flood: the count says how big */
		return;
	}
	if (b->log_quiet)
		n = snprintf(line, sizeof line, "(%llu lines left out) ",
			     (unsigned long long)b->log_quiet);
	b->log_quiet = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	b->log(b->log_arg, line);
}

/* FNV-1a, 64 bits, from a given start. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

int br_object_id(struct shmkit_seg *seg, unsigned char id[16])
{
	struct shmkit_stat st;
	int r = shmkit_seg_stat(seg, &st);

	if (r < 0)
		return r;
	uint64_t f[4] = { st.dev, st.inode, (uint64_t)st.sysv_id,
			  (uint64_t)st.managed_creator_pid };
	uint64_t a = fnv(0xcbf29ce484222325ull, st.uri, strnlen(st.uri, sizeof st.uri));
	uint64_t b2 = fnv(0x84222325cbf29ce4ull, st.uri, strnlen(st.uri, sizeof st.uri));
	a = fnv(a, f, sizeof f);
	b2 = fnv(b2, f, sizeof f);
	br_put64(id, a);
	br_put64(id + 8, b2);
	return 0;
}

static int zerr(void)
{
	int e = zmq_errno();
	/* ZeroMQ's own number for a transport this socket type cannot use
	 * (udp://), which no strerror knows: said as the errno it means */
	if (e == ENOCOMPATPROTO)
		return -EPROTONOSUPPORT;
	return e ? -e : -EIO;
}

/* The endpoint's host part is a star, as in tcp://STAR:5555. */
static bool wildcard_host(const char *endpoint)
{
	const char *p = strstr(endpoint, "://");
	return p && p[3] == '*';
}

static bool one_of(const char *s, size_t len, const char *const *names)
{
	for (; *names; names++)
		if (strlen(*names) == len && memcmp(s, *names, len) == 0)
			return true;
	return false;
}

/* The port of "HOST:PORT" (a ws: endpoint may go on with "/path"): "*"
 * binds any free port; else digits, 1-65535. */
static const char *port_error(const char *addr, bool binds)
{
	const char *end = strchr(addr, '/'), *colon = NULL;

	if (!end)
		end = addr + strlen(addr);
	for (const char *p = addr; p < end; p++)
		if (*p == ':')
			colon = p; /* the last one: "[::1]:5555" */
	if (!colon || colon == addr)
		return "want HOST:PORT (HOST * binds every address)";
	const char *port = colon + 1;
	if (end - port == 1 && *port == '*')
		return binds ? NULL : "port * (any free port) only binds: connect needs a number";
	unsigned long v = 0;
	for (const char *p = port; p < end; p++) {
		if (*p < '0' || *p > '9' || p - port >= 5)
			return "the port must be a number 1-65535 (or * when binding)";
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return port == end || v == 0 || v > 65535 ? "the port must be a number 1-65535 (or * when binding)"
						 : NULL;
}

SHMKIT_BRIDGE_API const char *shmkit_bridge_endpoint_error(const char *endpoint, int how)
{
	static const char *const known[] = { "tcp", "ipc", "inproc", "pgm", "epgm", "tipc",
					     "vmci", "udp", "ws", "wss", NULL };
	static const char *const ported[] = { "tcp", "udp", "ws", "wss", NULL };
	const char *sep = endpoint ? strstr(endpoint, "://") : NULL;

	if (!endpoint || !*endpoint)
		return "empty (want tcp://HOST:PORT, ipc://PATH, ...)";
	if (isspace((unsigned char)endpoint[0]))
		return "it starts with a blank (a quoting slip?)";
	if (!sep)
		return "no transport (want tcp://HOST:PORT, ipc://PATH, ...)";
	if (!one_of(endpoint, (size_t)(sep - endpoint), known))
		return "a transport ZeroMQ does not have (tcp, ipc, inproc, pgm, epgm, tipc, vmci, "
		       "udp, ws, wss)";
	if (!sep[3])
		return "no address after ://";
	if (!one_of(endpoint, (size_t)(sep - endpoint), ported))
		return NULL;
	/* ZeroMQ refuses both with a bare EINVAL, said as the local object's */
	if (strpbrk(sep + 3, " \t\r\n"))
		return "a blank in HOST:PORT (a quoting slip?)";
	if (strncmp(endpoint, "ws", 2) != 0 && strchr(sep + 3, '/'))
		return "nothing may follow the port (a /path is for ws:// and wss:// only)";
	bool binds = how == SHMKIT_BRIDGE_BIND || (how == SHMKIT_BRIDGE_AUTO && sep[3] == '*');
	return port_error(sep + 3, binds);
}

static int set_curve(void *sock, const struct shmkit_bridge_opts *o)
{
	if (!o->curve_secret && !o->curve_public && !o->curve_server_key)
		return 0;
	if (!zmq_has("curve"))
		return -EOPNOTSUPP;
	if (!o->curve_secret || !o->curve_public || strlen(o->curve_secret) != 40 ||
	    strlen(o->curve_public) != 40 ||
	    (o->curve_server_key && strlen(o->curve_server_key) != 40))
		return -EINVAL;
	int server = o->curve_server_key == NULL;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &server, sizeof server) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, o->curve_secret, 40) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, o->curve_public, 40) < 0)
		return zerr();
	if (!server && zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, o->curve_server_key, 40) < 0)
		return zerr();
	return 0;
}

static int socket_type(int kind, int dir)
{
	if (kind == SHMKIT_KIND_TOPIC)
		return dir == SHMKIT_BRIDGE_OUT ? ZMQ_XPUB : ZMQ_SUB;
	return dir == SHMKIT_BRIDGE_OUT ? ZMQ_DEALER : ZMQ_ROUTER;
}

/* The longest frame a peer may send this side: queue IN, a DATA of the
 * queue's max_msg or a BATCH (at most BR_BATCH_FRAME_MAX); queue OUT, replies;
 * topic IN, a message of the local topic's slot size (longer ones are
 * dropped and counted, up to BR_TOPIC_FRAME_MIN); topic OUT, subscriptions. */
static int64_t frame_max(const struct shmkit_bridge *b)
{
	size_t m = b->max_msg;

	if (b->kind == SHMKIT_KIND_TOPIC)
		return b->dir == SHMKIT_BRIDGE_OUT ? BR_SUBSCRIPTION_MAX
						   : (int64_t)(m > BR_TOPIC_FRAME_MIN ? m : BR_TOPIC_FRAME_MIN);
	if (b->dir == SHMKIT_BRIDGE_OUT)
		return BR_REPLY_MAX;
	return (int64_t)(m > BR_BATCH_FRAME_MAX ? m : BR_BATCH_FRAME_MAX);
}

/* A queue receiver's ZMQ_RCVHWM: room for PEER_PIPE_BYTES of the longest
 * frames it takes (4 to ZeroMQ's default 1000). While it holds a message it
 * reads nothing, and at the default every connection, a stranger's too,
 * could queue 1000 frames of 65 KiB (63 MiB) in this process. The sender's
 * BATCH frames carry up to 256 messages each, so this is still more than
 * its window. (It caps a connection, not their number: docs/BRIDGE.md,
 * "Limits".) */
static int peer_pipe_hwm(int64_t frame)
{
	int64_t n = PEER_PIPE_BYTES / frame;

	return n < 4 ? 4 : n > 1000 ? 1000 : (int)n;
}

/* ipc://PATH's path, or NULL for any other endpoint or a name not in the
 * file system (abstract, ZeroMQ's own temporary name). */
static const char *ipc_path(const char *endpoint)
{
	const char *path = endpoint + strlen("ipc://");

	if (strncmp(endpoint, "ipc://", 6) != 0 || path[0] == '@' || strcmp(path, "*") == 0)
		return NULL;
	return path;
}

/* Binding ipc://PATH makes ZeroMQ unlink whatever PATH holds first: a
 * regular file named by mistake (the --state record, a document) would be
 * lost, and a live bridge's socket taken over. Refuse both: -EEXIST when
 * PATH is not a socket, -EADDRINUSE when something accepts a connection on
 * it. A socket nobody listens on (left by a bridge that is gone) is fine.
 * (A file made at PATH between this check and the bind is not covered.) */
static int ipc_bind_check(const char *endpoint)
{
	const char *path = ipc_path(endpoint);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (!path)
		return 0; /* not a path: abstract or ZeroMQ's own temporary name */
	if (lstat(path, &st) < 0)
		return 0; /* nothing there (or unreachable: ZeroMQ says why) */
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0 ? -EADDRINUSE : 0;
}

/* ZeroMQ leaves a bound ipc socket's file behind when the socket closes.
 * Remember which file the bind made, so close removes that one only. The
 * file gets the local object's permission bits: whoever may connect reads
 * or feeds the object, so the umask (000: anyone) must not decide it. */
static void note_ipc_file(struct shmkit_bridge *b, const char *endpoint)
{
	const char *path = ipc_path(endpoint);
	struct stat st;

	if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		b->ipc_file = true;
		b->ipc_dev = st.st_dev;
		b->ipc_ino = st.st_ino;
		(void)chmod(path, b->obj_mode);
	}
}

/* ZeroMQ aborts the process (an assertion) when a descriptor it needs for
 * its context or socket cannot be made: refuse first, -EMFILE, when fewer
 * than `need` are left under RLIMIT_NOFILE. */
static int fd_headroom(int need)
{
	int fds[64], n = 0, r = 0;

	while (n < need && n < 64) {
		fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			r = errno == EMFILE || errno == ENFILE ? -EMFILE : 0;
			break;
		}
		n++;
	}
	while (n > 0)
		close(fds[--n]);
	return r;
}

/* After the socket is closed: the file it bound, unless another process's
 * bind has replaced it since (then the inode differs). */
static void remove_ipc_file(struct shmkit_bridge *b)
{
	const char *path = b->endpoint ? ipc_path(b->endpoint) : NULL;
	struct stat st;

	if (b->ipc_file && path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == b->ipc_dev && st.st_ino == b->ipc_ino)
		unlink(path);
}

/* Descriptors a bridge's ZeroMQ context and socket take (its I/O and
 * reaper threads' pollers and signalers, the socket's, a monitor, a first
 * connection), with room to spare. */
#define ZMQ_FDS 24

/* A sending side (it reads all the time: acknowledgements, subscriptions)
 * notices a dead peer by ZMTP heartbeats. */
static int notice_dead_peer_by_zmtp(void *sock)
{
	int hb = HEARTBEAT_MS, hbt = HEARTBEAT_TIMEOUT_MS;

	if (zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb) < 0 ||
	    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt) < 0)
		return zerr();
	return 0;
}

/* A receiving side stops reading while its local object is full, and
 * libzmq 4.3 aborts the process ("Assertion failed: !_io_error",
 * zeromq/libzmq#3937, #4364) when a ZMTP heartbeat times out on a
 * connection whose input its high-water mark stopped: any peer that fills
 * its connection could kill the bridge. It notices a dead peer by TCP
 * instead, in the kernel: keepalive probes while idle, and a bound on
 * unacknowledged data (ZMQ_TCP_MAXRT: TCP_USER_TIMEOUT) while not. */
static int notice_dead_peer_by_tcp(void *sock)
{
	int on = 1, ka = KEEPALIVE_S, probes = 3, maxrt = HEARTBEAT_TIMEOUT_MS;

	if (zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE, &on, sizeof on) < 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_IDLE, &ka, sizeof ka) < 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_INTVL, &ka, sizeof ka) < 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_CNT, &probes, sizeof probes) < 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_MAXRT, &maxrt, sizeof maxrt) < 0)
		return zerr();
	return 0;
}

static int open_socket(struct shmkit_bridge *b, const char *endpoint,
		       const struct shmkit_bridge_opts *o)
{
	int linger = LINGER_MS, one = 1, r;
	int hs = HANDSHAKE_MS;

	if ((r = fd_headroom(ZMQ_FDS)) < 0)
		return r;
	b->ctx = zmq_ctx_new();
	if (!b->ctx)
		return zerr();
	b->sock = zmq_socket(b->ctx, socket_type(b->kind, b->dir));
	if (!b->sock)
		return zerr();
	if (zmq_setsockopt(b->sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
	    zmq_setsockopt(b->sock, ZMQ_HANDSHAKE_IVL, &hs, sizeof hs) < 0)
		return zerr();
	if ((r = b->dir == SHMKIT_BRIDGE_IN ? notice_dead_peer_by_tcp(b->sock)
					    : notice_dead_peer_by_zmtp(b->sock)) < 0)
		return r;
	/* A peer's frame longer than any this side takes drops its connection
	 * in ZeroMQ before the frame is allocated: no peer makes us hold more
	 * than ZeroMQ's high-water mark of such frames (docs/BRIDGE.md). */
	int64_t most = frame_max(b);
	if (zmq_setsockopt(b->sock, ZMQ_MAXMSGSIZE, &most, sizeof most) < 0)
		return zerr();
	int hwm = peer_pipe_hwm(most);
	if (b->kind == SHMKIT_KIND_QUEUE && b->dir == SHMKIT_BRIDGE_IN &&
	    zmq_setsockopt(b->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0)
		return zerr();
	if (b->kind == SHMKIT_KIND_TOPIC && b->dir == SHMKIT_BRIDGE_OUT &&
	    zmq_setsockopt(b->sock, ZMQ_XPUB_NODROP, &one, sizeof one) < 0)
		return zerr(); /* a full link is then a counted drop, not a silent one */
	if (b->kind == SHMKIT_KIND_TOPIC && b->dir == SHMKIT_BRIDGE_IN &&
	    zmq_setsockopt(b->sock, ZMQ_SUBSCRIBE, "", 0) < 0)
		return zerr();
	if (b->kind == SHMKIT_KIND_QUEUE && b->dir == SHMKIT_BRIDGE_OUT) {
		/* a routing id that outlives reconnections: the receiver knows the
		 * stream's sender by it (one sender per receiver) */
		unsigned char id[20] = { 'S', 'K', 'B', 'S' };
		memcpy(id + 4, b->stream, 16);
		if (zmq_setsockopt(b->sock, ZMQ_ROUTING_ID, id, sizeof id) < 0)
			return zerr();
	}
	if (b->kind == SHMKIT_KIND_QUEUE && b->dir == SHMKIT_BRIDGE_IN &&
	    zmq_setsockopt(b->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one) < 0)
		return zerr(); /* a restarted sender's new connection takes its id over */
	if ((r = set_curve(b->sock, o)) < 0)
		return r;
	bool bind = o->how == SHMKIT_BRIDGE_BIND ||
		    (o->how == SHMKIT_BRIDGE_AUTO && wildcard_host(endpoint));
	if (bind && (r = ipc_bind_check(endpoint)) < 0)
		return r;
	if ((r = br_link_watch(b, endpoint, bind)) < 0 ||
	    (!bind && (r = br_link_resolve(b, endpoint)) < 0))
		return r;
	if ((bind ? zmq_bind(b->sock, endpoint) : zmq_connect(b->sock, endpoint)) < 0)
		return zerr();
	if (bind)
		note_ipc_file(b, endpoint);
	return 0;
}

/* What the object at uri is. shmkit_stat only looks, and never attaches a
 * System V segment to read its header (-ENODATA: nobody has it attached);
 * the bridge is a user of the object, as send and recv are, and attaches it
 * anyway, so it may read the header through its own read-only attach. */
static int local_stat(const char *uri, struct shmkit_stat *st)
{
	struct shmkit_seg *seg;
	int r = shmkit_stat(uri, st);

	if (r < 0 || st->managed || st->header_status != -ENODATA)
		return r;
	if ((r = shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0)) < 0)
		return r;
	r = shmkit_seg_stat(seg, st);
	shmkit_seg_close(seg);
	return r;
}

static int open_local(struct shmkit_bridge *b, const char *uri, const struct shmkit_bridge_opts *o)
{
	struct shmkit_stat st;
	int r = local_stat(uri, &st);

	if (r < 0)
		return r;
	/* a header left unread says why (another user's object: -EACCES; no
	 * descriptor left: -EMFILE): that, not "no queue or topic there" */
	if (!st.managed && st.header_status < 0 && st.header_status != -ENODATA)
		return st.header_status;
	if (!st.managed || (st.kind != SHMKIT_KIND_QUEUE && st.kind != SHMKIT_KIND_TOPIC))
		return -EBADMSG; /* not a queue or a topic */
	b->kind = (int)st.kind;
	b->obj_mode = st.mode & 0666;
	if (b->kind == SHMKIT_KIND_TOPIC && b->dir == SHMKIT_BRIDGE_IN) {
		struct shmkit_topic_info ti;
		if ((r = shmkit_topic_stat(uri, &ti, NULL, 0)) < 0)
			return r;
		b->max_msg = ti.slot_size;
		return shmkit_pub_open(&b->pub, uri);
	}
	if (b->kind == SHMKIT_KIND_TOPIC) {
		zmq_msg_init(&b->pending);
		if ((r = shmkit_sub_open(&b->sub, uri)) < 0)
			return r;
		b->local_fd = shmkit_sub_fd(b->sub); /* < 0: wait in slices instead */
		return 0;
	}
	if ((r = shmkit_queue_open(&b->q, uri)) < 0)
		return r;
	struct shmkit_queue_stats qs;
	if ((r = shmkit_queue_stats(b->q, &qs)) < 0)
		return r;
	/* Exactly-once counts messages by the queue's own positions, which are
	 * exact only in the SPSC protocol (docs/BRIDGE.md, "Record"). */
	if (qs.multi_producer || qs.multi_consumer)
		return -EOPNOTSUPP;
	b->max_msg = qs.max_msg;
	if (b->dir == SHMKIT_BRIDGE_OUT) {
		b->local_fd = shmkit_queue_fd(b->q); /* < 0: wait in slices instead */
		if ((r = br_object_id(shmkit_queue_seg(b->q), b->stream)) < 0)
			return r;
	}
	b->window = o->window ? o->window : 1024;
	if (b->dir == SHMKIT_BRIDGE_IN) {
		/* named by the canonical URI: `orders`, `/orders` and
		 * `posix:/orders` are one queue, and a restart under another
		 * spelling found no record, started the stream again at the
		 * sender's position and committed again what it had not yet
		 * acknowledged (duplicates) */
		if (!o->state)
			return br_record_default_path(b, st.uri, &b->state_path);
		if (!(b->state_path = strdup(o->state)))
			return -ENOMEM;
	}
	return 0;
}

SHMKIT_BRIDGE_API int shmkit_bridge_open(struct shmkit_bridge **out, int dir, const char *uri,
				  const char *endpoint, const struct shmkit_bridge_opts *o)
{
	static const struct shmkit_bridge_opts defaults;
	struct shmkit_bridge *b;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL; /* so a failed open may be closed, as shmkit(3) CLOSING has it */
	if (!uri || !endpoint || (dir != SHMKIT_BRIDGE_OUT && dir != SHMKIT_BRIDGE_IN))
		return -EINVAL;
	if (!o)
		o = &defaults;
	/* reserved[] is where a later option goes: a library that does not know
	 * it refuses rather than ignores it (shmkit(3), STRUCTS THAT GROW) */
	if (o->reserved[0] || o->reserved[1])
		return -EINVAL;
	if (o->how < SHMKIT_BRIDGE_AUTO || o->how > SHMKIT_BRIDGE_CONNECT ||
	    shmkit_bridge_endpoint_error(endpoint, o->how))
		return -EINVAL;
	if (!(b = calloc(1, sizeof *b)))
		return -ENOMEM;
	b->dir = dir;
	b->local_fd = -1;
	b->log = o->log;
	b->log_arg = o->log_arg;
	b->timeo_ms[0] = b->timeo_ms[1] = -1;
	if ((r = open_local(b, uri, o)) < 0 || (r = open_socket(b, endpoint, o)) < 0)
		goto fail;
	b->st.kind = b->kind;
	b->st.dir = dir;
	if (b->kind == SHMKIT_KIND_QUEUE)
		r = dir == SHMKIT_BRIDGE_OUT ? br_queue_out_start(b) : br_queue_in_start(b);
	if (r < 0)
		goto fail;
	*out = b;
	return 0;
fail:
	shmkit_bridge_close(b);
	return r;
}

static int step(struct shmkit_bridge *b, int64_t slice_ns)
{
	int r = br_link_check(b);

	if (r < 0)
		return r;
	if (b->kind == SHMKIT_KIND_TOPIC)
		return b->dir == SHMKIT_BRIDGE_OUT ? br_topic_out_step(b, slice_ns)
						   : br_topic_in_step(b, slice_ns);
	return b->dir == SHMKIT_BRIDGE_OUT ? br_queue_out_step(b, slice_ns)
					   : br_queue_in_step(b, slice_ns);
}

SHMKIT_BRIDGE_API int shmkit_bridge_run(struct shmkit_bridge *b, int64_t timeout_ns)
{
	if (!b || timeout_ns < -1)
		return -EINVAL;
	int64_t end = timeout_ns < 0 ? INT64_MAX : br_now_ns() + timeout_ns;

	for (;;) {
		/* relaxed: a flag set by stop(), perhaps from a signal handler */
		if (atomic_load_explicit(&b->stop, memory_order_relaxed)) {
			atomic_store_explicit(&b->stop, 0, memory_order_relaxed);
			return 0;
		}
		int64_t left = end - br_now_ns();
		int64_t slice = left < SLICE_NS ? (left > 0 ? left : 0) : SLICE_NS;
		int r = step(b, slice);
		if (r < 0 && r != -EINTR)
			return r;
		if (left <= 0)
			return 0;
	}
}

SHMKIT_BRIDGE_API void shmkit_bridge_stop(struct shmkit_bridge *b)
{
	if (b) /* relaxed: polled by run() at least every SLICE_NS */
		atomic_store_explicit(&b->stop, 1, memory_order_relaxed);
}

SHMKIT_BRIDGE_API int shmkit_bridge_stats(const struct shmkit_bridge *b, struct shmkit_bridge_stats *st)
{
	if (!b || !st)
		return -EINVAL;
	*st = b->st;
	if (b->sub) /* what the local ring overwrote before we read it */
		st->dropped += shmkit_sub_dropped(b->sub);
	return 0;
}

SHMKIT_BRIDGE_API int shmkit_bridge_close(struct shmkit_bridge *b)
{
	if (!b)
		return 0;
	if (b->holding)
		zmq_msg_close(&b->held.body);
	if (b->kind == SHMKIT_KIND_TOPIC && b->dir == SHMKIT_BRIDGE_OUT)
		zmq_msg_close(&b->pending);
	if (b->mon)
		zmq_close(b->mon);
	if (b->sock)
		zmq_close(b->sock);
	/* A signal (a second SIGTERM, any handler's) interrupts the wait for
	 * ZeroMQ's threads (EINTR) and leaves the context, its two threads and
	 * their descriptors behind for good: terminate again until it is done
	 * (ZeroMQ restarts it; the sockets linger 0, so it ends). */
	while (b->ctx && zmq_ctx_term(b->ctx) < 0 && zmq_errno() == EINTR)
		;
	remove_ipc_file(b);
	shmkit_queue_close(b->q);
	shmkit_sub_close(b->sub);
	shmkit_pub_close(b->pub);
	free(b->state_path);
	free(b->endpoint);
	free(b);
	return 0;
}

SHMKIT_BRIDGE_API int shmkit_bridge_keypair(char public_key[41], char secret_key[41])
{
	if (!public_key || !secret_key)
		return -EINVAL;
	if (!zmq_has("curve"))
		return -EOPNOTSUPP;
	return zmq_curve_keypair(public_key, secret_key) < 0 ? zerr() : 0;
}

SHMKIT_BRIDGE_API int shmkit_bridge_has_curve(void)
{
	return zmq_has("curve") ? 1 : 0;
}

int br_set_timeout(struct shmkit_bridge *b, int opt, int64_t slice_ns)
{
	int ms = slice_ns <= 0 ? 0 : (int)((slice_ns + 999999) / 1000000);
	int *cur = &b->timeo_ms[opt == ZMQ_RCVTIMEO];

	if (ms == *cur)
		return 0;
	if (zmq_setsockopt(b->sock, opt, &ms, sizeof ms) < 0)
		return zerr();
	*cur = ms;
	return 0;
}

int br_wait_both(struct shmkit_bridge *b, int fd, int64_t slice_ns)
{
	zmq_pollitem_t it[2] = { { .socket = b->sock, .events = ZMQ_POLLIN },
				 { .fd = fd, .events = ZMQ_POLLIN } };
	long ms = slice_ns <= 0 ? 0 : (long)((slice_ns + 999999) / 1000000);
	int r = zmq_poll(it, fd >= 0 ? 2 : 1, ms);

	if (r < 0)
		return zmq_errno() == EINTR ? 0 : zerr();
	return (it[0].revents & ZMQ_POLLIN) != 0;
}
