/* SPDX-License-Identifier: MIT */
/* Pollable descriptors: the listener's socket, arming, and the wakers'
 * signal (listener.h). */
#include <errno.h>
#include <linux/sockios.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "managed.h"
#include "proc.h"
#include "sync/listener.h"

/* Keys this process gave its listeners: with pid and start time, a name no
 * other listener on the machine has (and no non-shmkit socket). */
static _Atomic uint32_t next_key;

/* The unbound datagram sockets wakers send from (descriptor + 1; 0: not
 * made yet). One is used at a time; the next only when its send buffer is
 * full: a token stays charged to the sending socket until its listener reads
 * it, so listeners that were signalled but have not drained yet (at most one
 * token each from us) fill it, about 270 tokens with the default buffer.
 * One process may wake many topics of 4096 subscribers each, so sockets are
 * added as they fill, up to SENDERS (some 70 000 tokens). Never closed: a
 * thread may be sending on one while another moves on. */
#define SENDERS 256
static _Atomic int senders[SENDERS];
static _Atomic unsigned cur_sender;

/* Writes v in decimal at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* "\0shmkit/<pid>/<start>/<key>" (formatted by hand: every wake-up builds
 * one, and snprintf costs more than the rest of the waker's work). */
static socklen_t lis_addr(struct sockaddr_un *a, uint32_t pid, uint64_t start, uint32_t key)
{
	static const char prefix[] = "shmkit/";

	a->sun_family = AF_UNIX;
	/* sun_path[0] = 0: the abstract namespace, nothing on any filesystem */
	char *p = a->sun_path;
	*p++ = 0;
	memcpy(p, prefix, sizeof(prefix) - 1);
	p += sizeof(prefix) - 1;
	p = put_u64(p, pid);
	*p++ = '/';
	p = put_u64(p, start);
	*p++ = '/';
	p = put_u64(p, key);
	/* at most 1 + 7 + 10 + 1 + 20 + 1 + 10 = 50 bytes of the 108 */
	return (socklen_t)(p - (char *)a);
}

/* Sending socket i, made on first use; -1 if none can be made. */
static int sender(unsigned i)
{
	int s = atomic_load_explicit(&senders[i], memory_order_acquire) - 1;
	if (s >= 0)
		return s;
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	s = shmkit__fd_above_stdio(s);
	int none = 0;
	/* acq_rel: one socket per slot even if threads race here */
	if (!atomic_compare_exchange_strong_explicit(&senders[i], &none, s + 1,
						     memory_order_acq_rel, memory_order_acquire)) {
		close(s); /* never shared: safe to close */
		return none - 1;
	}
	return s;
}

static int send_token(int from, const struct sockaddr_un *to, socklen_t len)
{
	char t = 1;
	return (int)sendto(from, &t, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to,
			   len);
}

/* 1 if socket s cannot queue another token (its send buffer is full). */
static int sender_full(int s)
{
	int queued = 0, size = 0;
	socklen_t sl = sizeof(size);

	if (ioctl(s, SIOCOUTQ, &queued) < 0 || getsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, &sl) < 0)
		return 1; /* cannot tell: try the next socket, it costs one call */
	return queued + 4096 > size;
}

/* What a waker's send came to (wake_token). */
enum {
	TOKEN_SENT = 0,	      /* sent, or not needed (its socket holds tokens) */
	TOKEN_LATER = -1,     /* not now: no socket, all full, kernel short */
	TOKEN_REFUSED = -2,   /* ECONNREFUSED: no such name in our network namespace */
	TOKEN_FORBIDDEN = -3, /* any other error: a sandbox (seccomp, LSM) refuses us */
};

/* A waker's token to a listener. TOKEN_LATER leaves the entry PENDING for
 * the next waker; so do the other two unless the listener is provably gone
 * (shmkit__lis_signal_armed): a listener alive in another network namespace
 * (abstract names are per namespace) is refused like a dead one, and a
 * sender a sandbox forbids sendto may be the only one that cannot.
 * EAGAIN with our buffer not full means its socket already holds tokens
 * (at most max_dgram_qlen, so memory stays bounded), so it is readable.
 * Never blocks. */
static int wake_token(const struct sockaddr_un *to, socklen_t len)
{
	unsigned i = atomic_load_explicit(&cur_sender, memory_order_relaxed) % SENDERS;

	for (unsigned tries = 0; tries < SENDERS; tries++) {
		int s = sender(i);
		if (s < 0)
			return TOKEN_LATER;
		if (send_token(s, to, len) >= 0)
			return TOKEN_SENT;
		if (errno == ENOBUFS || errno == ENOMEM)
			return TOKEN_LATER; /* the kernel is short now: the next waker tries */
		if (errno == ECONNREFUSED)
			return TOKEN_REFUSED;
		if (errno != EAGAIN)
			return TOKEN_FORBIDDEN;
		if (!sender_full(s))
			return TOKEN_SENT;
		/* relaxed: any thread that moves on picks some socket; all are valid */
		unsigned next = (i + 1) % SENDERS;
		atomic_compare_exchange_strong_explicit(&cur_sender, &i, next, memory_order_relaxed,
							memory_order_relaxed);
		i = next;
	}
	return TOKEN_LATER;
}

/* Listener names this process could not send to although the listener may
 * live (another network namespace, or a sandbox refusing us): for
 * UNREACHABLE_NS after a refusal we send them nothing and leave their entry
 * PENDING (the FD bit up) for a waker that can, so a producer that cannot
 * reach an armed consumer pays no system call per message, only a look
 * here, and tries again once per UNREACHABLE_NS. Direct-mapped by a hash of
 * the name; racing threads may lose or mix a note, which costs at worst
 * one more refused send, or one wake-up left to other wakers (or to us
 * after UNREACHABLE_NS). */
#define UNREACHABLE 8
#define UNREACHABLE_NS 1000000000ll
static struct {
	_Atomic uint64_t tag; /* name_tag(); 0: none */
	_Atomic int64_t until;
} unreachable[UNREACHABLE];
static _Atomic int unreachable_noted; /* 0: nothing ever noted, no look */

static uint64_t name_tag(uint32_t pid, uint64_t start, uint32_t key)
{
	uint64_t h = ((uint64_t)pid << 32 | key) * 0x9E3779B97F4A7C15ull;
	h ^= start * 0xC2B2AE3D27D4EB4Full;
	return (h ^ h >> 29) | 1u;
}

static int unreachable_now(uint64_t tag)
{
	if (!atomic_load_explicit(&unreachable_noted, memory_order_relaxed))
		return 0;
	unsigned slot = (unsigned)(tag >> 61) % UNREACHABLE;
	return atomic_load_explicit(&unreachable[slot].tag, memory_order_relaxed) == tag &&
	       shmkit__now_ns() < atomic_load_explicit(&unreachable[slot].until,
						       memory_order_relaxed);
}

static void note_unreachable(uint64_t tag)
{
	unsigned slot = (unsigned)(tag >> 61) % UNREACHABLE;
	atomic_store_explicit(&unreachable[slot].until, shmkit__now_ns() + UNREACHABLE_NS,
			      memory_order_relaxed);
	atomic_store_explicit(&unreachable[slot].tag, tag, memory_order_relaxed);
	atomic_store_explicit(&unreachable_noted, 1, memory_order_relaxed);
}

/* A send to the listener of `owner` (an identity in the segment, named
 * pid/start when we built the name) was refused (ECONNREFUSED): 1 if its
 * listener is gone for good, so its entry may go IDLE with no token: its
 * owner is provably dead (of another pid namespace: by t->judge), or lives
 * in our network namespace (where the refusal means the name is bound
 * nowhere: its socket is closed). 0 if it
 * may live elsewhere (another network namespace, or we cannot tell): only
 * a waker in its namespace can wake it. Reads /proc: error path only. */
static int listener_gone(const struct shmkit__lis_table *t, const struct shmkit__ident *owner,
			 uint32_t pid, uint64_t start)
{
	struct shmkit__ident id;

	memcpy(&id, owner, sizeof(id)); /* untrusted: read once */
	if (id.pid != pid || id.start_time != start)
		return 0; /* moved since: someone else's entry now */
	int alive = shmkit__ident_alive(&id);
	if (alive == 0)
		return shmkit__ident_dead_proven(&id);
	/* another pid namespace: its attach slot's lock may tell (a
	 * container's consumer killed while armed would otherwise keep the
	 * FD bit up, every wake check on the slow path, for good) */
	if (alive == -EXDEV && t->judge)
		return t->judge(t->judge_ctx, &id) == 0;
	if (alive != 1)
		return 0;
	/* by /proc/PID/net where its ns link is closed to us (another
	 * user's owner, e.g. one that exec'd: its socket closed, its entry
	 * left ARMED), else it would stay PENDING, the FD bit up, for good */
	return shmkit__proc_same_net((pid_t)pid) == 1;
}

static void self_token(struct shmkit__lis *l)
{
	/* our own socket holds at most this one token of its own */
	(void)send_token(l->fd, &l->addr, l->addr_len);
}

/* A key for a socket named after `named`. In its own name a process counts
 * (bit 31 clear). In another's (a child forked with a subscriber's handle)
 * it draws a random key with bit 31 set: its copy of the counter is its
 * parent's, whose next keys, or a sibling's, it would bind (their entries
 * would then look held by us, and a bind of theirs fail). */
static uint32_t new_key(const struct shmkit__ident *named)
{
	const struct shmkit__ident *me = shmkit__ident_self();
	uint32_t k;

	/* counted from this image's token: an earlier image of this process
	 * (before an execve) counted from another, and a socket of ours bound
	 * to one of its names made its dead entry look held (never freed) */
	if (!me || (named->pid == me->pid && named->start_time == me->start_time))
		return (atomic_fetch_add_explicit(&next_key, 1, memory_order_relaxed) +
			shmkit__image_token()) &
		       0x7fffffffu;
	if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k = (uint32_t)ts.tv_nsec * 2654435761u ^ (uint32_t)getpid();
	}
	return k | 0x80000000u;
}

/* The state word and the key side by side (struct shmkit__listener_shared,
 * 8 bytes at an 8-byte offset in every table), as one 64-bit word. */
static uint64_t state_key(uint32_t state, uint32_t key)
{
	const struct {
		uint32_t state, key;
	} w = {state, key};
	uint64_t v;

	memcpy(&v, &w, sizeof(v));
	return v;
}

/* Registers a claimed entry: state and key written together, by one CAS,
 * only while the state is still our claim. A key stored apart (after a look
 * at the state, before the state's CAS) could land after a taker's: a
 * process that took the claim over (a reaper, a new subscriber, the
 * subscription's other copy making its descriptor) and wrote its own key
 * then had its wake-ups sent to our name, which nobody held once our CAS
 * failed (its descriptor never readable). release: the owner identity the
 * caller wrote before the entry is registered; pairs with the wakers'
 * acquire load of state (a waker reads the key after it). */
static int register_claimed(struct shmkit__listener_shared *sh, uint32_t claimed, uint32_t reg,
			    uint32_t key)
{
	_Static_assert(sizeof(*sh) == sizeof(uint64_t) && offsetof(struct shmkit__listener_shared, key) == 4,
		       "state and key make one 64-bit word");
	_Atomic uint64_t *both = (_Atomic uint64_t *)(void *)sh;
	uint64_t state_half = state_key(UINT32_MAX, 0), want = state_key(claimed, 0);
	uint64_t cur = atomic_load_explicit(both, memory_order_relaxed);

	/* bounded: a key moved on every try is a scribbler's */
	for (int tries = 0; tries < 8; tries++) {
		/* the state half only: the key half is whatever the last owner
		 * left */
		if ((cur & state_half) != want)
			return 0;
		if (atomic_compare_exchange_strong_explicit(both, &cur, state_key(reg, key),
							    memory_order_release,
							    memory_order_relaxed))
			return 1;
	}
	return 0;
}

int shmkit__lis_open(struct shmkit__lis *l, struct shmkit__listener_shared *sh, uint32_t side,
		     uint32_t claimed, const struct shmkit__ident *named)
{
	int fd, r = -EADDRINUSE;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return shmkit__neg_errno();
	fd = shmkit__fd_above_stdio(fd);
	for (int tries = 0; tries < 16 && r == -EADDRINUSE; tries++) {
		l->key = new_key(named);
		l->addr_len = lis_addr(&l->addr, named->pid, named->start_time, l->key);
		r = bind(fd, (struct sockaddr *)&l->addr, l->addr_len) == 0 ? 0
									  : shmkit__neg_errno();
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	SHMKIT__TEST_POINT("lis.open.bound");
	l->fd = fd;
	l->spare = 0;
	l->sh = sh;
	uint32_t st = claimed ? claimed : atomic_load_explicit(&sh->state, memory_order_relaxed);
	l->reg = shmkit__lis_make((st >> 4) + 1, side, SHMKIT__LIS_IDLE);
	self_token(l); /* IDLE means "a token is queued": keep the invariant */
	if (!claimed) {
		sh->key = l->key;
		/* release: key (and the owner identity the caller wrote) before
		 * the entry is registered; pairs with the wakers' acquire load
		 * of state */
		atomic_store_explicit(&sh->state, l->reg, memory_order_release);
		return 0;
	}
	SHMKIT__TEST_POINT("lis.open.looked");
	if (register_claimed(sh, claimed, l->reg, l->key))
		return 0;
	/* A claim taken over meanwhile (a reaper, or a new subscriber's
	 * activation, then maybe its own descriptor): the entry, and the key
	 * in it, are someone else's */
	close(fd);
	l->fd = -1;
	return -EAGAIN;
}

/* Is this name still bound: does some process hold the socket? Asked by
 * binding it: the name is free once the last holder closes. 0 if we cannot
 * tell (no socket to ask with). */
static int name_held(const struct sockaddr_un *a, socklen_t len)
{
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	int held = bind(s, (const struct sockaddr *)a, len) < 0 && errno == EADDRINUSE;
	close(s);
	return held;
}

/* Does another process hold our socket (a child forked with the handle,
 * which shares its side and may go on waiting on the descriptor)? */
static int name_held_elsewhere(const struct shmkit__lis *l)
{
	return name_held(&l->addr, l->addr_len);
}

int shmkit__lis_held(const struct shmkit__listener_shared *sh, const struct shmkit__ident *owner)
{
	struct sockaddr_un a;
	/* read once: untrusted, and a wrong name only makes us keep an entry */
	uint32_t key = sh->key;
	return name_held(&a, lis_addr(&a, owner->pid, owner->start_time, key));
}

int shmkit__lis_close(struct shmkit__lis *l)
{
	if (l->fd < 0)
		return 0;
	close(l->fd);
	l->fd = -1;
	if (name_held_elsewhere(l))
		return 1; /* its holder's entry now; freed when the last closes */
	uint32_t st = atomic_load_explicit(&l->sh->state, memory_order_relaxed);
	/* still ours (any kind, PENDING or not): free it, next generation; a
	 * waker moving it meanwhile (to IDLE|PENDING, or PENDING down) is no
	 * reason to leave it taken */
	while ((st | 3u | SHMKIT__LIS_PENDING) == (l->reg | 3u | SHMKIT__LIS_PENDING) &&
	       !atomic_compare_exchange_weak_explicit(
		   &l->sh->state, &st, shmkit__lis_make((st >> 4) + 1, 0, SHMKIT__LIS_FREE),
		   memory_order_release, memory_order_relaxed))
		;
	return 0;
}

/* Reads every queued token, in one system call: for an armed listener found
 * readable (strangers' tokens, the name being public, or a late waker's). */
static void drain(int fd)
{
	char buf[16][1];
	struct iovec iov[16];
	struct mmsghdr m[16];

	for (int i = 0; i < 16; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	(void)recvmmsg(fd, m, 16, MSG_DONTWAIT, NULL);
}

/* Reads the one token IDLE promises (one recv: a recvmmsg that also looks
 * for a second costs 0.4-0.7 us more per wake-up, measured). A second token
 * (a stranger's, or a late waker's) leaves the descriptor readable: the next
 * receive that finds nothing drains everything (the armed path below). */
static void drain_one(int fd)
{
	char t;
	(void)recv(fd, &t, sizeof(t), MSG_DONTWAIT);
}

int shmkit__lis_arm(struct shmkit__lis *l, const struct shmkit__ec *ec)
{
	uint32_t armed = (l->reg & ~3u) | SHMKIT__LIS_ARMED;
	uint32_t st = atomic_load_explicit(&l->sh->state, memory_order_relaxed);

	if (st == armed) {
		/* No waker sent a token since we armed, but a late one (its CAS
		 * came before our arm, its sendto after our drain) or a
		 * stranger's may have arrived: left queued it would make a
		 * level-triggered loop spin until the next message. */
		drain(l->fd);
		/* A waker that took us to IDLE meanwhile may have had its token
		 * among those we drained: IDLE must keep one (the invariant).
		 * Our drain (a system call) ordered its CAS before this load. */
		if (atomic_load_explicit(&l->sh->state, memory_order_relaxed) != armed)
			self_token(l);
		return 0;
	}
	if ((st & ~SHMKIT__LIS_PENDING) != l->reg)
		return -EBADMSG; /* not ours any more (scribbled, or taken for dead) */
	/* IDLE: its token is queued (PENDING: or on the way, or never coming
	 * from a waker killed before it sent; then the next waker sends). After
	 * a lasting state's token (found_final) there may be two: read all, so
	 * that this -EAGAIN clears the readiness, as a spurious one must */
	if (l->spare)
		drain(l->fd);
	else
		drain_one(l->fd);
	l->spare = 0;
	/* Each arm is a new generation: a waker's CAS on a word it read
	 * before (its PENDING taken down late) then fails instead of undoing
	 * a later waker's PENDING (ABA) */
	uint32_t next = shmkit__lis_make((l->reg >> 4) + 1, shmkit__lis_side(l->reg),
					 SHMKIT__LIS_IDLE);
	armed = (next & ~3u) | SHMKIT__LIS_ARMED;
	/* relaxed: the seq_cst CAS below orders it before the FD bit. A
	 * waker may take PENDING down meanwhile: try again from IDLE */
	while (!atomic_compare_exchange_weak_explicit(&l->sh->state, &st, armed,
						      memory_order_relaxed, memory_order_relaxed))
		if ((st & ~SHMKIT__LIS_PENDING) != l->reg)
			return -EBADMSG;
	l->reg = next;
	SHMKIT__TEST_POINT("lis.arm.armed");
	uint32_t w = atomic_load_explicit(ec->word, memory_order_relaxed);
	/* Dekker: pairs with the waker's barrier before it reads the word (as
	 * the SLEEP bit in ec.c); seq_cst also orders ARMED before the bit.
	 * The word always moves: a bit already up advances seq instead, so a
	 * waker whose scan passed our entry before we armed sees the word
	 * moved and leaves the bit up (ec.c, fd_done) */
	while (!atomic_compare_exchange_weak_explicit(
	    ec->word, &w, w & SHMKIT__EC_FD ? w + SHMKIT__EC_ONE : w | SHMKIT__EC_FD,
	    memory_order_seq_cst, memory_order_relaxed))
		;
	if (!shmkit__barrier_sleeper(ec->mode)) {
		/* Cannot make wakers see the bit in time: stay readable, so the
		 * owner polls instead of waiting on a wake that may not come.
		 * Not reached since a refused membarrier switches the object
		 * to FENCE (barrier.h); kept for safety. */
		shmkit__lis_found(l);
		return 0;
	}
	return 1;
}

void shmkit__lis_found(struct shmkit__lis *l)
{
	uint32_t armed = (l->reg & ~3u) | SHMKIT__LIS_ARMED;
	/* relaxed: only we and wakers change it; whoever wins sends the token */
	if (atomic_compare_exchange_strong_explicit(&l->sh->state, &armed, l->reg,
						    memory_order_relaxed, memory_order_relaxed))
		self_token(l);
	else if (armed == (l->reg | SHMKIT__LIS_PENDING)) {
		/* A waker took us and its token may never come (killed before
		 * its send, or the send failed): the next waker would send it,
		 * but what we did not take is here already. A second token is a
		 * spurious readiness, drained by the next arm */
		self_token(l);
		l->spare = 1;
	}
}

void shmkit__lis_found_final(struct shmkit__lis *l)
{
	uint32_t armed = (l->reg & ~3u) | SHMKIT__LIS_ARMED;
	/* relaxed: as in shmkit__lis_found() */
	if (atomic_compare_exchange_strong_explicit(&l->sh->state, &armed, l->reg,
						    memory_order_relaxed, memory_order_relaxed) ||
	    (armed & ~SHMKIT__LIS_PENDING) == l->reg) {
		self_token(l);
		l->spare = 1;
	}
}

uint32_t shmkit__lis_scan_end(const struct shmkit__lis_table *t)
{
	if (!t->end)
		return t->n;
	/* relaxed: ordered after the waker's acquire of the word (FD bit),
	 * which the owner set after raising it; untrusted: clamped */
	uint32_t e = atomic_load_explicit(t->end, memory_order_relaxed);
	return e < t->n ? e : t->n;
}

void shmkit__lis_raise_end(_Atomic uint32_t *end, uint32_t index)
{
	uint32_t e = atomic_load_explicit(end, memory_order_relaxed);

	/* seq_cst: before our listener is registered and armed (and a
	 * system call or two later); a waker's acquire of the FD bit, ours or
	 * another listener's set later, orders its read of the bound after */
	while (e <= index && !atomic_compare_exchange_weak_explicit(end, &e, index + 1,
								     memory_order_seq_cst,
								     memory_order_relaxed))
		;
}

static struct shmkit__listener_shared *entry(const struct shmkit__lis_table *t, uint32_t i)
{
	return (struct shmkit__listener_shared *)(t->base + (size_t)i * t->stride);
}

/* Whether a waker must send entry e (state st, just loaded) a token: it
 * took it from ARMED to IDLE|PENDING, or found it PENDING (another waker's
 * token may never come: one more). *pending: the state to take PENDING down
 * from once sent. A CAS that fails looks again at what it found: another
 * waker's PENDING is ours to serve too (skipped, the FD bit came down over
 * it while that waker lay dead). */
static int take_entry(struct shmkit__listener_shared *e, uint32_t side, uint32_t st,
		      uint32_t *pending)
{
	for (int tries = 0; tries < 4; tries++) {
		if (shmkit__lis_side(st) != side)
			return 0;
		if (shmkit__lis_kind(st) == SHMKIT__LIS_IDLE && (st & SHMKIT__LIS_PENDING)) {
			*pending = st;
			return 1;
		}
		if (shmkit__lis_kind(st) != SHMKIT__LIS_ARMED)
			return 0; /* IDLE: its token is queued; FREE, CLAIMING: none */
		*pending = (st & ~3u) | SHMKIT__LIS_PENDING | SHMKIT__LIS_IDLE;
		SHMKIT__TEST_POINT("lis.signal.loaded");
		/* acq_rel; acquire on failure too: the identity read next */
		if (atomic_compare_exchange_strong_explicit(&e->state, &st, *pending,
							    memory_order_acq_rel,
							    memory_order_acquire))
			return 1;
	}
	return 1; /* still moving: a spare token costs a spurious readiness */
}

int shmkit__lis_signal_armed(const struct shmkit__ec *ec)
{
	const struct shmkit__lis_table *t = &ec->lis;
	uint32_t n = shmkit__lis_scan_end(t);
	int all_sent = 1, later = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct shmkit__listener_shared *e = entry(t, i);
		/* acquire: pairs with the owner's release of its registration:
		 * the key and identity are complete */
		uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
		uint32_t pending;
		if (!take_entry(e, ec->side, st, &pending))
			continue;
		SHMKIT__TEST_POINT("lis.signal.taken");
		const struct shmkit__ident *owner =
		    (const struct shmkit__ident *)((unsigned char *)e + t->ident_off);
		/* read once: a name built from scribbled bytes reaches at most
		 * another shmkit listener, which then sees a spurious readiness */
		uint32_t pid = owner->pid, key = e->key;
		uint64_t start = owner->start_time;
		uint64_t tag = name_tag(pid, start, key);
		if (unreachable_now(tag)) {
			all_sent = 0; /* stays PENDING: a waker that can reach it sends */
			continue;
		}
		struct sockaddr_un a;
		int r = wake_token(&a, lis_addr(&a, pid, start, key));
		if (r == TOKEN_REFUSED && listener_gone(t, owner, pid, start))
			r = TOKEN_SENT; /* IDLE with no token: nobody listens any more */
		if (r != TOKEN_SENT) {
			/* Stays PENDING: the next waker tries. One that cannot
			 * reach it (another network namespace, a sandbox) must
			 * not end its wait for good by taking PENDING down */
			if (r != TOKEN_LATER)
				note_unreachable(tag);
			else
				later = 1;
			all_sent = 0;
			continue;
		}
		SHMKIT__TEST_POINT("lis.signal.sent");
		/* release: after our send; fails if the owner armed again */
		atomic_compare_exchange_strong_explicit(&e->state, &pending,
							pending & ~SHMKIT__LIS_PENDING,
							memory_order_release, memory_order_relaxed);
	}
	if (all_sent)
		return SHMKIT__LIS_ALL_SENT;
	return later ? SHMKIT__LIS_LATER : SHMKIT__LIS_UNREACHED;
}

uint32_t shmkit__lis_count_armed(const struct shmkit__ec *ec)
{
	uint32_t n = 0, end = shmkit__lis_scan_end(&ec->lis);

	for (uint32_t i = 0; i < end; i++) {
		uint32_t st =
		    atomic_load_explicit(&entry(&ec->lis, i)->state, memory_order_relaxed);
		n += shmkit__lis_waiting(st) && shmkit__lis_side(st) == ec->side;
	}
	return n;
}
