/* SPDX-License-Identifier: MIT */
/* Pollable descriptors: the listener's socket, arming, and the wakers'
 * signal (listener.h). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "managed.h"
#include "sync/listener.h"

/* Keys this process gave its listeners: with pid and start time, a name no
 * other listener on the machine has (and no non-shmkit socket). */
static _Atomic uint32_t next_key;
/* The unbound datagram socket wakers send from; one per process. */
static _Atomic int send_sock = -1;

static socklen_t lis_addr(struct sockaddr_un *a, uint32_t pid, uint64_t start, uint32_t key)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* sun_path[0] = 0: the abstract namespace, nothing on any filesystem */
	int n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "shmkit/%u/%llu/%u", pid,
			 (unsigned long long)start, key);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int sender(void)
{
	int s = atomic_load_explicit(&send_sock, memory_order_acquire);
	if (s >= 0)
		return s;
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	int none = -1;
	/* acq_rel: one socket per process even if threads race here */
	if (!atomic_compare_exchange_strong_explicit(&send_sock, &none, s, memory_order_acq_rel,
						     memory_order_acquire)) {
		close(s);
		return none;
	}
	return s;
}

static void send_token(int from, const struct sockaddr_un *to, socklen_t len)
{
	char t = 1;
	/* Errors are ignored on purpose: ECONNREFUSED means the listener died
	 * (its entry is IDLE now and stays so: nothing more to pay);
	 * EAGAIN means its socket already holds tokens, so it is readable. */
	(void)sendto(from, &t, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to, len);
}

static void self_token(struct shmkit__lis *l)
{
	const struct shmkit__ident *me = shmkit__ident_self();
	struct sockaddr_un a;

	if (me)
		send_token(l->fd, &a, lis_addr(&a, me->pid, me->start_time, l->key));
}

int shmkit__lis_open(struct shmkit__lis *l, struct shmkit__listener_shared *sh, uint32_t side)
{
	const struct shmkit__ident *me = shmkit__ident_self();
	struct sockaddr_un a;
	int fd, r = -EADDRINUSE;

	if (!me)
		return -ESRCH;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return shmkit__neg_errno();
	for (int tries = 0; tries < 16 && r == -EADDRINUSE; tries++) {
		l->key = atomic_fetch_add_explicit(&next_key, 1, memory_order_relaxed);
		socklen_t len = lis_addr(&a, me->pid, me->start_time, l->key);
		r = bind(fd, (struct sockaddr *)&a, len) == 0 ? 0 : shmkit__neg_errno();
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	l->fd = fd;
	l->sh = sh;
	sh->key = l->key;
	uint32_t st = atomic_load_explicit(&sh->state, memory_order_relaxed);
	l->reg = shmkit__lis_make((st >> 4) + 1, side, SHMKIT__LIS_IDLE);
	self_token(l); /* IDLE means "a token is queued": keep the invariant */
	/* release: key (and the owner identity the caller wrote) before the
	 * entry is registered; pairs with the wakers' acquire load of state */
	atomic_store_explicit(&sh->state, l->reg, memory_order_release);
	return 0;
}

void shmkit__lis_close(struct shmkit__lis *l)
{
	if (l->fd < 0)
		return;
	uint32_t st = atomic_load_explicit(&l->sh->state, memory_order_relaxed);
	if ((st | 3u) == (l->reg | 3u)) /* still ours: free it, next generation */
		atomic_compare_exchange_strong_explicit(
		    &l->sh->state, &st, shmkit__lis_make((st >> 4) + 1, 0, SHMKIT__LIS_FREE),
		    memory_order_release, memory_order_relaxed);
	close(l->fd);
	l->fd = -1;
}

static void drain(int fd)
{
	char buf[16];
	for (int i = 0; i < 64 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0; i++)
		;
}

int shmkit__lis_arm(struct shmkit__lis *l, const struct shmkit__ec *ec)
{
	uint32_t armed = (l->reg & ~3u) | SHMKIT__LIS_ARMED;
	uint32_t st = atomic_load_explicit(&l->sh->state, memory_order_relaxed);

	if (st == armed)
		return 0; /* no token was sent since we armed: nothing to drain */
	if (st != l->reg)
		return -EBADMSG; /* not ours any more (scribbled, or taken for dead) */
	drain(l->fd);
	/* relaxed: the seq_cst CAS below orders it before the FD bit */
	if (!atomic_compare_exchange_strong_explicit(&l->sh->state, &st, armed,
						     memory_order_relaxed, memory_order_relaxed))
		return -EBADMSG;
	uint32_t w = atomic_load_explicit(ec->word, memory_order_relaxed);
	/* Dekker: pairs with the waker's barrier before it reads the word (as
	 * the SLEEP bit in ec.c); seq_cst also orders ARMED before the bit */
	while (!(w & SHMKIT__EC_FD) &&
	       !atomic_compare_exchange_weak_explicit(ec->word, &w, w | SHMKIT__EC_FD,
						      memory_order_seq_cst, memory_order_relaxed))
		;
	if (!shmkit__barrier_sleeper(ec->mode)) {
		/* Cannot make wakers see the bit in time: stay readable, so the
		 * owner polls instead of waiting on a wake that may not come. */
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
}

static struct shmkit__listener_shared *entry(const struct shmkit__lis_table *t, uint32_t i)
{
	return (struct shmkit__listener_shared *)(t->base + (size_t)i * t->stride);
}

void shmkit__lis_signal_armed(const struct shmkit__ec *ec)
{
	const struct shmkit__lis_table *t = &ec->lis;

	for (uint32_t i = 0; i < t->n; i++) {
		struct shmkit__listener_shared *e = entry(t, i);
		/* acquire: pairs with the owner's release of its registration:
		 * the key and identity are complete */
		uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
		if (shmkit__lis_kind(st) != SHMKIT__LIS_ARMED || shmkit__lis_side(st) != ec->side)
			continue;
		if (!atomic_compare_exchange_strong_explicit(
			&e->state, &st, (st & ~3u) | SHMKIT__LIS_IDLE, memory_order_acq_rel,
			memory_order_relaxed))
			continue; /* another waker took it, or the owner found data */
		const struct shmkit__ident *owner =
		    (const struct shmkit__ident *)((unsigned char *)e + t->ident_off);
		/* read once: a name built from scribbled bytes reaches at most
		 * another shmkit listener, which then sees a spurious readiness */
		uint32_t pid = owner->pid, key = e->key;
		uint64_t start = owner->start_time;
		int s = sender();
		struct sockaddr_un a;
		if (s >= 0)
			send_token(s, &a, lis_addr(&a, pid, start, key));
	}
}

uint32_t shmkit__lis_count_armed(const struct shmkit__ec *ec)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < ec->lis.n; i++) {
		uint32_t st =
		    atomic_load_explicit(&entry(&ec->lis, i)->state, memory_order_relaxed);
		n += shmkit__lis_kind(st) == SHMKIT__LIS_ARMED && shmkit__lis_side(st) == ec->side;
	}
	return n;
}
