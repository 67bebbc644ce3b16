/* SPDX-License-Identifier: MIT */
/* Pollable descriptors for the wake-up core: a listener is a Unix datagram
 * socket bound to an abstract address its owner's identity names
 * ("shmkit/<pid>/<start_time>/<key>"), registered in a shared table entry
 * (struct shmkit__listener_shared). Never installed.
 *
 * Invariant: an entry that is not ARMED has a token (one datagram) queued on
 * its socket or one on the way, so the descriptor is readable. The owner
 * arms only after a receive found nothing: it drains the token, marks the
 * entry ARMED, sets the eventcount's FD bit (seq_cst; advancing seq if the
 * bit was up already) and re-checks. A waker that sees the FD bit takes
 * each ARMED entry of its side to IDLE|PENDING by CAS, sends one datagram
 * and takes PENDING down: one system call per wake-up, none when nobody is
 * armed. The FD bit comes down only after that scan, and only if the word
 * did not move meanwhile (no listener armed behind the scan) and every
 * token went out: a waker killed at any point leaves the bit up, and the
 * next one finishes its work. A listener killed while armed costs the next
 * waker one refused sendto (ECONNREFUSED) and a look at /proc, then nothing.
 * A waker that cannot deliver (another network namespace, a sandbox, no
 * socket) leaves the entry PENDING for one that can. Why a socket and not an
 * eventfd, a FIFO or a pipe: docs/ARCHITECTURE.md "Pollable descriptors". */
#ifndef SHMKIT_SYNC_LISTENER_H
#define SHMKIT_SYNC_LISTENER_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "layout.h"
#include "sync/ec.h"

enum {
	SHMKIT__LIS_FREE = 0,
	SHMKIT__LIS_IDLE = 1,	  /* registered; a token is queued or on the way */
	SHMKIT__LIS_ARMED = 2,	  /* registered; no token: wakers must send one */
	SHMKIT__LIS_CLAIMING = 3, /* a table entry being filled by its claimer */
};

/* With kind IDLE: a waker took the entry from ARMED and may not have sent
 * its token yet (or was killed before it did, or could not). Every waker
 * that sees it sends one (a spare token costs a spurious readiness) and
 * takes the bit down. */
#define SHMKIT__LIS_PENDING 8u

/* With kind FREE (a topic subscriber's listener): a reaper took the
 * listener before freeing the entry; no descriptor is made for it (a claim
 * refuses it) until a joiner's activation resets it. */
#define SHMKIT__LIS_REAPING 8u

static inline uint32_t shmkit__lis_kind(uint32_t st)
{
	return st & 3u;
}
static inline uint32_t shmkit__lis_side(uint32_t st)
{
	return st >> 2 & 1u;
}
/* Its owner waits on the descriptor: ARMED, or IDLE|PENDING (a waker took
 * it and its token has not arrived, or never will: the next waker sends). */
static inline int shmkit__lis_waiting(uint32_t st)
{
	return shmkit__lis_kind(st) == SHMKIT__LIS_ARMED ||
	       (shmkit__lis_kind(st) == SHMKIT__LIS_IDLE && (st & SHMKIT__LIS_PENDING));
}
static inline uint32_t shmkit__lis_make(uint32_t gen, uint32_t side, uint32_t kind)
{
	return gen << 4 | (side & 3u) << 2 | kind;
}

/* The owner's local half. fd < 0: no descriptor. */
struct shmkit__lis {
	int fd;
	struct shmkit__listener_shared *sh;
	uint32_t reg; /* our registration: state with kind IDLE */
	uint32_t key;
	int spare;    /* we sent ourselves a token that may be a second one */
	/* our own address, for the tokens we send ourselves */
	struct sockaddr_un addr;
	socklen_t addr_len;
};

/* Makes the socket, names the entry `sh` (kind FREE or CLAIMING, ours) and
 * registers it IDLE for `side`, readable at once (spurious readiness is
 * allowed). Close-on-exec, non-blocking. `claimed`: the CLAIMING word we
 * hold the entry by (registered by one CAS from it of state and key
 * together: -EAGAIN if the claim was taken over, its taker's key left), or 0 for an entry nobody else claims. `named`: the identity
 * the table entry holds, whose pid and start time (with the key) name the
 * socket, as wakers and shmkit__lis_held build it: the caller's own, or a
 * topic subscriber's whose handle a child forked with it now uses. */
int shmkit__lis_open(struct shmkit__lis *l, struct shmkit__listener_shared *sh, uint32_t side,
		     uint32_t claimed, const struct shmkit__ident *named);

/* Whether the socket of entry sh, registered by `owner` (an identity copied
 * out of the segment), is still open in some process: an owner that died
 * may have forked a child that goes on waiting on its descriptor, so its
 * entry is not free to take back. */
int shmkit__lis_held(const struct shmkit__listener_shared *sh, const struct shmkit__ident *owner);

/* Closes the socket and unregisters (entry FREE, next generation), unless
 * another process (forked with the handle) still holds the socket: then 1,
 * the entry left registered for it. */
int shmkit__lis_close(struct shmkit__lis *l);

/* After a receive found nothing: 0 if already armed (a stray datagram that
 * made the descriptor readable meanwhile is drained), 1 if it armed now
 * (the caller must look once more and call shmkit__lis_found if that finds
 * something), negative errno if the entry is no longer ours. */
int shmkit__lis_arm(struct shmkit__lis *l, const struct shmkit__ec *ec);

/* The look after arming found something: make the descriptor readable
 * again (there may be more), unless a waker already did; also when a waker
 * took the entry (IDLE|PENDING) but may die before its token. */
void shmkit__lis_found(struct shmkit__lis *l);

/* As shmkit__lis_found, for a state that lasts (a topic's -EPIPE): also
 * when the listener is IDLE (a waker may have taken it there, its token
 * still on the way), a token of our own. Not for data: there a spare token
 * costs the owner an empty look per race, which a descriptor ping-pong
 * pays (wake suite, "queue fd arm" 1.05-1.08x when tried). */
void shmkit__lis_found_final(struct shmkit__lis *l);

/* Entries of ec's table a waker must look at (lis_table.end). */
uint32_t shmkit__lis_scan_end(const struct shmkit__lis_table *t);

/* Owner side, before its first arm: entry `index` of a table with an `end`
 * bound lies below it from now on (the bound only grows). */
void shmkit__lis_raise_end(_Atomic uint32_t *end, uint32_t index);

/* Waker side: signals every ARMED listener of ec's side, and sends again
 * to every PENDING one. SHMKIT__LIS_ALL_SENT if every token went out, else
 * (their entries stay PENDING: the caller leaves the FD bit up for the next
 * waker) SHMKIT__LIS_UNREACHED when each one left is a listener this
 * process cannot reach for now (noted: trying again sends it nothing), or
 * SHMKIT__LIS_LATER when one may take a token on a later try. */
#define SHMKIT__LIS_LATER 0
#define SHMKIT__LIS_ALL_SENT 1
#define SHMKIT__LIS_UNREACHED 2
int shmkit__lis_signal_armed(const struct shmkit__ec *ec);

/* Armed listeners of ec's side, for statistics. */
uint32_t shmkit__lis_count_armed(const struct shmkit__ec *ec);

#endif
