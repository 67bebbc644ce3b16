/* SPDX-License-Identifier: MIT */
/* The subscribers' side of a topic: joining the table, reading in order
 * (copy or zero-copy), detecting overwrite on lossy topics, waiting for the
 * publisher, and noticing when it is gone.
 *
 * Any number of subscribers per topic, each with its own handle; a handle is
 * used by one thread at a time. recv and peek block up to their timeout. */
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copy.h"
#include "sync/listener.h"
#include "topic.h"

#define NO_GEN UINT64_MAX

struct shmkit_sub {
	struct shmkit__topic t;
	struct shmkit__topic_sub_shared *e; /* our table entry */
	uint32_t index;
	uint64_t state; /* our entry's ACTIVE state word */
	uint64_t pos;	/* next message index */
	uint64_t dropped;
	uint64_t bytes; /* payload bytes consumed; our entry's bytes_received follows it */
	uint64_t absent_gen; /* pub_state generation with no publisher when we joined */
	uint64_t dead_at_join; /* pub_state word whose publisher was dead when we joined */
	int peeked;
	uint64_t peek_seq;
	size_t peek_len;
	int64_t next_live_check;
	uint64_t dead_pub_state; /* pub_state word whose publisher we found dead */
	uint64_t epipe_state;	 /* pub_state word whose -EPIPE made our descriptor readable */
	struct shmkit__lis lis;	 /* shmkit_sub_fd()'s listener; fd < 0 until asked */
	int ep;			 /* shmkit_sub_fd(): epoll set of lis.fd and pub_pidfd */
	int pub_pidfd;		 /* the publisher's pidfd, readable once it exits */
	uint64_t pidfd_state;	 /* the pub_state word pub_pidfd was opened for */
};

/* ---- joining and leaving ---- */

static int claim_free_entry(struct shmkit_sub *s)
{
	struct shmkit__topic *t = &s->t;

	for (uint32_t i = 0; i < t->g.max_subs; i++) {
		uint64_t st = atomic_load_explicit(&t->subs[i].state, memory_order_relaxed);
		if (shmkit__state_kind(st) != SHMKIT__SUB_FREE)
			continue;
		uint64_t mine = shmkit__state_make(shmkit__state_gen(st) + 1, SHMKIT__SUB_CLAIMING);
		/* acquire: pairs with the release that freed it (leaver or reaper). */
		if (atomic_compare_exchange_strong_explicit(
			&t->subs[i].state, &st, mine, memory_order_acquire, memory_order_relaxed)) {
			s->index = i;
			s->state = mine;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Claims whose identity may still be the entry's last subscriber's (the
 * claimer had not stored ident_state: killed, or stalled, before it wrote
 * its own), which says nothing of the claimer: freed only when nothing else
 * was, if they look the same SHMKIT__CLAIM_STABLE_NS later (a live claimer
 * would have to stall that long in a few instructions, and would then write
 * its identity over the next joiner's). */
#define UNSURE_MAX 8
struct unsure_claims {
	unsigned n;
	uint32_t index[UNSURE_MAX];
	uint64_t st[UNSURE_MAX];
	struct shmkit__ident id[UNSURE_MAX];
};

/* Entry i's state and identity, copied consistently: its kind, 0 if it
 * moved; *unsure for a claim whose identity is not yet the claimer's. */
static uint32_t look_entry(struct shmkit__topic *t, uint32_t i, uint64_t *st,
			   struct shmkit__ident *id, bool *unsure)
{
	struct shmkit__topic_sub_shared *e = &t->subs[i];
	/* acquire: pairs with the release store of ident_state in activate_entry() */
	uint64_t own = atomic_load_explicit(&e->ident_state, memory_order_acquire);
	*st = atomic_load_explicit(&e->state, memory_order_acquire);
	memcpy(id, &e->ident, sizeof(*id));
	/* acquire: the copy belongs to *st if it is still there */
	if (atomic_load_explicit(&e->state, memory_order_acquire) != *st)
		return 0;
	uint32_t kind = shmkit__state_kind(*st);
	*unsure = kind == SHMKIT__SUB_CLAIMING && own != *st;
	return kind;
}

static int reap_unsure_claims(struct shmkit__topic *t, const struct unsure_claims *u)
{
	int n = 0;

	shmkit__sleep_ns(SHMKIT__CLAIM_STABLE_NS);
	for (unsigned k = 0; k < u->n; k++) {
		uint64_t st;
		struct shmkit__ident id;
		bool unsure;
		if (look_entry(t, u->index[k], &st, &id, &unsure) && st == u->st[k] &&
		    memcmp(&id, &u->id[k], sizeof(id)) == 0)
			n += shmkit__topic_reap(t, u->index[k], st);
	}
	return n;
}

/* Frees entries of subscribers (and joiners) that are provably dead; how
 * many. */
static int reap_dead_entries(struct shmkit__topic *t)
{
	struct unsure_claims u = {.n = 0};
	int n = 0;

	for (uint32_t i = 0; i < t->g.max_subs; i++) {
		uint64_t st;
		struct shmkit__ident id;
		bool unsure;
		uint32_t kind = look_entry(t, i, &st, &id, &unsure);
		if (kind != SHMKIT__SUB_ACTIVE && kind != SHMKIT__SUB_CLAIMING)
			continue;
		if (unsure) {
			if (u.n < UNSURE_MAX) {
				u.index[u.n] = i;
				u.st[u.n] = st;
				u.id[u.n++] = id;
			}
		} else if (shmkit__topic_sub_gone(t, &t->subs[i], st, &id)) {
			n += shmkit__topic_reap(t, i, st);
		}
	}
	return n || !u.n ? n : reap_unsure_claims(t, &u);
}

/* Fills the claimed entry and makes it ACTIVE at the current head. 1 if a
 * reaper freed the entry under us (claim again). */
static int activate_entry(struct shmkit_sub *s)
{
	struct shmkit__topic_shared *sh = s->t.sh;
	struct shmkit__topic_sub_shared *e = &s->t.subs[s->index];

	SHMKIT__TEST_POINT("topic.sub.claimed");
	memcpy(&e->ident, shmkit__ident_self(), sizeof(e->ident));
	__atomic_store_n(&e->image, shmkit__image_token(), __ATOMIC_RELAXED);
	/* release: pairs with the acquire load in look_entry(): our identity
	 * is written, and no write of it is left to come */
	atomic_store_explicit(&e->ident_state, s->state, memory_order_release);
	SHMKIT__TEST_POINT("topic.claimed");
	atomic_store_explicit(&e->dropped, 0, memory_order_relaxed);
	atomic_store_explicit(&e->bytes_received, 0, memory_order_relaxed);
	atomic_store_explicit(&e->sleeping, 0, memory_order_relaxed);
	/* No descriptor yet; a dead predecessor's listener is forgotten (a new
	 * generation, so its late wakers' CAS fails). */
	uint32_t ls = atomic_load_explicit(&e->listener.state, memory_order_relaxed);
	/* release: after our claim of the entry, for a process forked with
	 * its last subscriber's handle about to claim the listener
	 * (claim_listener, shmkit_sub_fd) */
	atomic_store_explicit(&e->listener.state, shmkit__lis_make((ls >> 4) + 1, 0, SHMKIT__LIS_FREE),
			      memory_order_release);
	/* acquire: pairs with the publisher's release store of head. */
	uint64_t h1 = atomic_load_explicit(&sh->head, memory_order_acquire);
	atomic_store_explicit(&e->pos, h1, memory_order_relaxed);
	uint64_t claimed = s->state;
	uint64_t active = shmkit__state_make(shmkit__state_gen(claimed), SHMKIT__SUB_ACTIVE);
	/* release: identity and pos before ACTIVE; pairs with the publisher's
	 * acquire load of the state in its scan. */
	if (!atomic_compare_exchange_strong_explicit(&e->state, &claimed, active,
						     memory_order_release, memory_order_relaxed))
		return 1;
	/* seq_cst: pairs with the publisher's fence between storing head and
	 * scanning the table: either it sees us ACTIVE (and our pos <= h2) or
	 * we read a head that includes everything it may overwrite. */
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t h2 = atomic_load_explicit(&sh->head, memory_order_acquire);
	if (h2 < h1) { /* head went backwards: corrupt; give the entry back */
		shmkit__topic_reap(&s->t, s->index, active);
		shmkit__topic_count_sub(&s->t, 1); /* reap counted us out */
		return -EBADMSG;
	}
	/* release: pairs with the publisher's acquire load of pos. */
	atomic_store_explicit(&e->pos, h2, memory_order_release);
	s->e = e;
	s->state = active;
	s->pos = h2;
	shmkit__topic_count_sub(&s->t, 1);
	return 0;
}

/* Frees the entries an earlier image of this process left (before an
 * execve): nothing can read through them any more, and on a reliable
 * topic the publisher would wait for them as long as we live. Only we can
 * tell them from live subscribers (shmkit__topic_sub_gone). */
static void reap_earlier_images(struct shmkit__topic *t)
{
	uint32_t me = shmkit__ident_self()->pid, token = shmkit__image_token();
	/* relaxed: a hint, to stop after the last active entry (joiners fill
	 * the table from the front); one missed is freed at the next open */
	uint32_t left = atomic_load_explicit(&t->sh->n_subs, memory_order_relaxed);

	for (uint32_t i = 0; i < t->g.max_subs && left > 0; i++) {
		uint64_t st;
		struct shmkit__ident id;
		bool unsure;
		uint32_t kind = look_entry(t, i, &st, &id, &unsure);
		left -= kind == SHMKIT__SUB_ACTIVE;
		/* a cheap look first: ours, by another image; sub_gone decides */
		uint32_t image = __atomic_load_n(&t->subs[i].image, __ATOMIC_RELAXED);
		if ((kind == SHMKIT__SUB_ACTIVE || kind == SHMKIT__SUB_CLAIMING) && !unsure &&
		    id.pid == me && image != 0 && image != token &&
		    shmkit__topic_sub_gone(t, &t->subs[i], st, &id))
			shmkit__topic_reap(t, i, st);
	}
}

static int sub_join(struct shmkit_sub *s)
{
	reap_earlier_images(&s->t);
	for (int attempt = 0; attempt < 64; attempt++) {
		int rc = claim_free_entry(s);
		if (rc == -ENOSPC) {
			if (reap_dead_entries(&s->t) == 0)
				return shmkit__fail(-ENOSPC,
						    "every subscriber entry of this topic (max_subs "
						    "%u, --max-subs at create) is held by a live "
						    "subscriber: one must close first",
						    (unsigned)s->t.g.max_subs);
			continue;
		}
		rc = activate_entry(s);
		if (rc <= 0)
			return rc;
	}
	return -EAGAIN;
}

/* Whether the active publisher of pub_state word ps is known dead. At open:
 * a subscriber that joins a topic whose publisher died before is in the
 * place of one that joins after a close, and waits for the next publisher
 * the same way; -EPIPE at once would end `shmkit sub` before any publisher
 * came (while one joining after a close waited). */
static bool publisher_dead(const struct shmkit_sub *s, uint64_t ps)
{
	struct shmkit__ident id;

	/* one that cannot be told (not yet named) is not dead */
	return shmkit__topic_pub_ident(&s->t, ps, &id) && shmkit__topic_ident_alive(&s->t, &id) == 0;
}

int shmkit_sub_open(struct shmkit_sub **out, const char *uri)
{
	shmkit__detail_clear();
	struct shmkit_sub *s;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!uri)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return shmkit__no_memory("a subscriber handle");
	rc = shmkit__topic_open(&s->t, uri, 0);
	if (rc < 0) {
		free(s);
		return rc;
	}
	rc = sub_join(s);
	if (rc < 0) {
		shmkit__topic_close(&s->t);
		free(s);
		return rc;
	}
	/* acquire: pairs with the claimer's release store of pub_state. */
	uint64_t ps = atomic_load_explicit(&s->t.sh->pub_state, memory_order_acquire);
	uint32_t kind = shmkit__state_kind(ps);
	s->dead_pub_state = NO_GEN;
	s->epipe_state = NO_GEN;
	s->absent_gen =
	    kind == SHMKIT__PUB_NONE || kind == SHMKIT__PUB_CLOSED ? shmkit__state_gen(ps) : NO_GEN;
	s->dead_at_join = kind == SHMKIT__PUB_ACTIVE && publisher_dead(s, ps) ? ps : NO_GEN;
	s->lis.fd = -1;
	s->ep = -1;
	s->pub_pidfd = -1;
	*out = s;
	return 0;
}

/* Wakes a reliable publisher that sleeps waiting for room, after our pos
 * store (release) made room: no system call unless it sleeps. */
static __attribute__((noinline)) void wake_publisher_if_waiting(struct shmkit__topic *t)
{
	shmkit__ec_wake(&t->space_ec);
}

/* 1 while the table entry is still ours. It stops being ours only if
 * somebody took us for dead (or scribbled on it): then we read on without
 * an entry and never write into one another subscriber may own. */
static int entry_is_ours(const struct shmkit_sub *s)
{
	return atomic_load_explicit(&s->e->state, memory_order_relaxed) == s->state;
}

/* Does some process (a child forked with the handle, which made or
 * inherited the descriptor) hold our entry's listener socket? */
static int listener_held(const struct shmkit_sub *s)
{
	struct shmkit__ident id;
	uint32_t kind = shmkit__lis_kind(
	    atomic_load_explicit(&s->e->listener.state, memory_order_relaxed));

	memcpy(&id, &s->e->ident, sizeof(id));
	if (kind == SHMKIT__LIS_CLAIMING)
		return 1; /* one being made (shmkit_sub_fd): its maker's now */
	return (kind == SHMKIT__LIS_IDLE || kind == SHMKIT__LIS_ARMED) &&
	       shmkit__lis_held(&s->e->listener, &id);
}

/* Is this process the entry's subscriber, not a child forked with its
 * handle? Without an identity to compare, taken to be (the entry freed, as
 * before). */
static int is_subscriber(const struct shmkit_sub *s)
{
	const struct shmkit__ident *me = shmkit__ident_self();
	struct shmkit__ident id;

	memcpy(&id, &s->e->ident, sizeof(id)); /* untrusted: a copy */
	return !me || (id.pid == me->pid && id.start_time == me->start_time);
}

/* Does the close of a copy forked with the handle (not its subscriber's)
 * end the subscription? Only that of a descriptor's holder once the
 * subscriber no longer reads: it closed its handle (left_state) or died.
 * While it reads on, the first of the two to close only closes its copy
 * (pubsub(3), shared by fork), descriptor or not: a child that made its own
 * descriptor and closed first freed the entry of its live parent. */
static int copy_close_ends(const struct shmkit_sub *s, int had_fd)
{
	struct shmkit__ident id;

	if (!had_fd)
		return 0;
	/* relaxed: a word the subscriber stored before it let go */
	if (atomic_load_explicit(&s->e->left_state, memory_order_relaxed) == s->state)
		return 1;
	memcpy(&id, &s->e->ident, sizeof(id)); /* untrusted: a copy */
	return shmkit__topic_ident_alive(&s->t, &id) == 0;
}

int shmkit_sub_close(struct shmkit_sub *s)
{
	if (!s)
		return 0; /* like free(NULL): shmkit(3), CONVENTIONS */
	/* A child forked with the handle closes only its copy while the
	 * subscriber reads on: the subscription is the subscriber's (its
	 * close or death ends it, or the last descriptor's holder's close
	 * after that; pubsub(3), shared by fork) */
	int had_fd = s->lis.fd >= 0, subscriber = is_subscriber(s);
	/* before the entry (and its listener) is freed */
	shmkit__lis_close(&s->lis);
	/* after our socket is closed: a subscriber closing meanwhile either
	 * saw it held and left the entry (left_state, read here) or saw it
	 * not held and ended the subscription itself */
	int ends = subscriber || copy_close_ends(s, had_fd);
	/* A copy whose close ends nothing marks nothing either: left_state
	 * says the subscriber left, and would let a reaper free the entry of
	 * a subscriber that lives on, its listener being made (CLAIMING) or
	 * no longer held */
	int shared = ends && entry_is_ours(s) && listener_held(s);
	if (s->pub_pidfd >= 0)
		close(s->pub_pidfd);
	if (s->ep >= 0)
		close(s->ep);
	uint64_t st = s->state;
	uint64_t freed = shmkit__state_make(shmkit__state_gen(st) + 1, SHMKIT__SUB_FREE);
	if (shared) {
		/* A process forked with the handle holds the descriptor and goes
		 * on with the subscription: its close (or its death) frees the
		 * entry (shmkit__topic_sub_gone). relaxed: read by reapers that
		 * also bind-test the socket */
		atomic_store_explicit(&s->e->left_state, st, memory_order_relaxed);
	} else if (ends && atomic_compare_exchange_strong_explicit(&s->e->state, &st, freed,
								   memory_order_release,
								   memory_order_relaxed)) {
		/* release: our last reads of the ring before the entry is free;
		 * pairs with the publisher's acquire load of the state */
		shmkit__topic_count_sub(&s->t, -1);
	}
	if (s->t.g.reliable)
		wake_publisher_if_waiting(&s->t);
	shmkit__topic_close(&s->t);
	free(s);
	return 0;
}

uint64_t shmkit_sub_dropped(const struct shmkit_sub *s)
{
	return s ? s->dropped : 0;
}

uint64_t shmkit_sub_position(const struct shmkit_sub *s)
{
	return s ? s->pos : 0;
}

/* ---- moving along the ring ---- */

/* Stores our position (and byte count) in our entry; 1 if a reliable
 * publisher may be waiting for the room that made (the caller wakes it). */
static inline int store_pos(struct shmkit_sub *s)
{
	if (!entry_is_ours(s))
		return 0;
	/* For `shmkit top` (relaxed: statistics), on our entry's second line:
	 * only we write it, wakers read it only on their slow path. */
	atomic_store_explicit(&s->e->bytes_received, s->bytes, memory_order_relaxed);
	if (s->t.g.reliable) {
		/* release: our reads of the slot before the publisher reuses it;
		 * pairs with its acquire load of pos in scan_min. */
		atomic_store_explicit(&s->e->pos, s->pos, memory_order_release);
		return 1;
	}
	/* Lossy: the publisher never reads it; it is for `shmkit stat`. */
	atomic_store_explicit(&s->e->pos, s->pos, memory_order_relaxed);
	return 0;
}

static void publish_pos(struct shmkit_sub *s)
{
	if (store_pos(s))
		wake_publisher_if_waiting(&s->t);
}

static inline void consume(struct shmkit_sub *s)
{
	s->pos++;
	publish_pos(s);
}

/* Consumes a message delivered intact: its bytes count (publish_pos). */
static inline void consume_delivered(struct shmkit_sub *s, size_t len)
{
	s->bytes += len;
	consume(s);
}

static void count_dropped(struct shmkit_sub *s, uint64_t n)
{
	s->dropped += n;
	if (entry_is_ours(s))
		atomic_store_explicit(&s->e->dropped, s->dropped, memory_order_relaxed);
}

/* The slot for our position holds a newer message (seq): we were lapped.
 * Skip to the oldest message that may still be intact, counting the rest. */
static int skip_overwritten(struct shmkit_sub *s, uint64_t seq)
{
	uint64_t slots = s->t.g.slots;
	/* acquire: pairs with the publisher's release store of head. */
	uint64_t h = atomic_load_explicit(&s->t.sh->head, memory_order_acquire);

	/* The publisher marks a slot for message i only while head == i, so a
	 * slot naming a message past head is corrupt (this also bounds the loop
	 * of skips: our position never passes head). */
	if ((seq - 1) / 2 > h || s->pos >= h)
		return -EBADMSG;
	uint64_t oldest = h + 1 > slots ? h + 1 - slots : 0;
	uint64_t next = oldest > s->pos + 1 ? oldest : s->pos + 1;
	count_dropped(s, next - s->pos);
	s->pos = next;
	publish_pos(s);
	return 0;
}

/* Our slot said "not yet" (seq below `want`): true if head says our message
 * was published all the same, so the slot is corrupt. Without this a
 * scribbled seq reads as "nothing more", and -EPIPE would end the
 * subscription before messages head counts as published. Looked at on the
 * slow path only: head shares pub_state's line, read there anyway. */
static bool behind_head(struct shmkit_sub *s, struct shmkit__topic_slot *slot, uint64_t want)
{
	/* acquire: pairs with the publisher's release store of head, made
	 * after its store of the completed seq: re-read below, seq then
	 * names our message (or a later one, lapped) if head passed it. */
	uint64_t h = atomic_load_explicit(&s->t.sh->head, memory_order_acquire);

	if (s->pos >= h)
		return false;
	return atomic_load_explicit(&slot->seq, memory_order_relaxed) < want;
}

/* 1 if the publisher that was there since we joined closed or died, 0 if
 * we may keep waiting. A close is seen at once; a death (which takes a read
 * of /proc) is looked for at most once a SHMKIT_TOPIC_LIVENESS_MS. */
static int publisher_gone(struct shmkit_sub *s)
{
	struct shmkit__topic_shared *sh = s->t.sh;
	/* acquire: pairs with the claimer's release store: pub_ident first. */
	uint64_t ps = atomic_load_explicit(&sh->pub_state, memory_order_acquire);

	switch (shmkit__state_kind(ps)) {
	case SHMKIT__PUB_CLOSED:
		return shmkit__state_gen(ps) != s->absent_gen;
	case SHMKIT__PUB_ACTIVE: {
		if (ps == s->dead_at_join)
			return 0; /* dead before we joined: no publisher, as a closed one */
		if (ps == s->dead_pub_state)
			return 1; /* found dead before; nobody took over since */
		int64_t now = shmkit__now_ns();
		if (now < s->next_live_check)
			return 0;
		s->next_live_check = now + SHMKIT__LIVENESS_NS;
		struct shmkit__ident id;
		/* one that cannot be told (being named) is not gone */
		if (!shmkit__topic_pub_ident(&s->t, ps, &id) ||
		    shmkit__topic_ident_alive(&s->t, &id) != 0)
			return 0;
		/* Dead, unless a new publisher took over while we looked. */
		if (atomic_load_explicit(&sh->pub_state, memory_order_acquire) != ps)
			return 0;
		s->dead_pub_state = ps;
		return 1;
	}
	default:
		return 0;
	}
}

/* One look for the next message, as the wake-up core's predicate: 0 with
 * the slot, its seq and validated length filled in; -EAGAIN if nothing yet;
 * -EPIPE once the publisher is gone and everything it published was read
 * (looked for only when `slow`). Lapped (lossy) messages are skipped and
 * counted. */
struct sub_wait {
	struct shmkit_sub *s;
	struct shmkit__topic_slot *slot;
	uint64_t seq;
	size_t len;
};

static int try_next(void *arg, int slow)
{
	struct sub_wait *w = arg;
	struct shmkit_sub *s = w->s;
	int gone = 0;

	for (;;) {
		uint64_t want = 2 * s->pos + 2;
		struct shmkit__topic_slot *slot = shmkit__topic_slot(&s->t, s->pos);
		/* acquire: pairs with the publisher's release store of the
		 * completed seq: the bytes and len are there. */
		uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);

		if (seq == want) {
			uint64_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
			if (len <= s->t.g.slot_size) {
				w->slot = slot;
				w->seq = seq;
				w->len = (size_t)len;
				return 0;
			}
			/* acquire fence: len read before the re-check. */
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&slot->seq, memory_order_relaxed) == seq)
				return -EBADMSG;
			continue; /* overwritten while we read len: lapped */
		}
		if (seq > want) {
			int rc = skip_overwritten(s, seq);
			if (rc < 0)
				return rc;
			continue;
		}
		if (slow && behind_head(s, slot, want))
			return -EBADMSG;
		if (gone)
			return -EPIPE; /* looked again after seeing it gone: drained */
		if (!slow || !publisher_gone(s))
			return -EAGAIN;
		gone = 1;
	}
}

/* A killed publisher wakes nobody, so the descriptor also watches it: a
 * pidfd of the active publisher sits in the epoll set beside the listener
 * and turns readable when it exits. Opened once per publisher (pub_state
 * word), checked against the identity's start time so a reused pid is never
 * watched. 1 if the publisher has exited (the caller then looks for -EPIPE
 * at once, without waiting for the liveness slice), else 0. */
static int publisher_exited(struct shmkit_sub *s)
{
	/* acquire: pairs with the claimer's release store: pub_ident first */
	uint64_t ps = atomic_load_explicit(&s->t.sh->pub_state, memory_order_acquire);

	if (shmkit__state_kind(ps) != SHMKIT__PUB_ACTIVE)
		return 0; /* none, or closed (closing wakes every listener) */
	if (ps != s->pidfd_state) {
		struct shmkit__ident id;
		struct epoll_event ev = { .events = EPOLLIN };
		if (s->pub_pidfd >= 0) {
			/* explicitly: a close alone leaves the set only once no
			 * process forked with the handle holds a copy, and an
			 * exited publisher's pidfd stays readable (as the queue's
			 * unwatch_holder) */
			epoll_ctl(s->ep, EPOLL_CTL_DEL, s->pub_pidfd, NULL);
			close(s->pub_pidfd);
		}
		s->pub_pidfd = -1;
		/* untrusted: a copy. One that cannot be told (not yet
		 * named) is looked for again: pidfd_state stays behind, and
		 * poll_empty() looks once more after it arms */
		if (!shmkit__topic_pub_ident(&s->t, ps, &id))
			return 0;
		s->pidfd_state = ps;
		if (id.pid == 0 || id.pid > INT_MAX)
			return 0;
		int fd = (int)syscall(SYS_pidfd_open, (pid_t)id.pid, 0); /* close-on-exec */
		if (fd < 0)
			return errno == ESRCH;
		fd = shmkit__fd_above_stdio(fd);
		if (shmkit__ident_alive(&id) != 1 || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			return shmkit__ident_alive(&id) == 0;
		}
		s->pub_pidfd = fd;
	}
	struct pollfd p = { .fd = s->pub_pidfd, .events = POLLIN };
	return s->pub_pidfd >= 0 && poll(&p, 1, 0) == 1;
}

/* -EPIPE lasts: our descriptor must stay readable from now on, once per
 * publisher gone. A closing publisher's wake may have taken our listener
 * to IDLE with its token still on the way (its sendto follows its CAS),
 * and a receive that sees the publisher gone need not arm first: a token
 * of our own (shmkit__lis_found_final; a spare one is drained by the next
 * arm). A publisher preempted or exiting in that window left -EPIPE
 * unreadable for a moment (test_pollfd, in one CI run). */
static void epipe_readable(struct shmkit_sub *s)
{
	/* relaxed: which publisher's end this is; the receive read it with acquire */
	uint64_t ps = atomic_load_explicit(&s->t.sh->pub_state, memory_order_relaxed);

	if (s->ep < 0 || ps == s->epipe_state || !entry_is_ours(s))
		return;
	s->epipe_state = ps;
	shmkit__lis_found_final(&s->lis);
}

/* A poll found nothing: arm our descriptor, if we have one, and look once
 * more (a message that came in between would not make it readable). */
static int poll_empty(struct sub_wait *w)
{
	struct shmkit_sub *s = w->s;

	if (s->ep < 0 || !entry_is_ours(s))
		return -EAGAIN;
	if (publisher_exited(s)) {
		s->next_live_check = 0; /* look at its liveness now, not in a slice */
		int rc = try_next(w, 1);
		if (rc != -EAGAIN)
			return rc;
	}
	if (shmkit__lis_arm(&s->lis, &s->t.data_ec) != 1)
		return -EAGAIN;
	/* A publisher not yet named at our first look (or none yet) wakes
	 * every descriptor once named (pub_wake_listeners); armed now, we
	 * either get that wake or see its name here (relaxed:
	 * publisher_exited() reads it again) */
	if (atomic_load_explicit(&s->t.sh->pub_state, memory_order_relaxed) != s->pidfd_state &&
	    publisher_exited(s))
		s->next_live_check = 0;
	int rc = try_next(w, 1);
	if (rc != -EAGAIN && rc != -EPIPE) /* -EPIPE: next_message() */
		shmkit__lis_found(&s->lis);
	return rc;
}

static int wait_data(struct sub_wait *w, int64_t timeout_ns)
{
	struct shmkit_sub *s = w->s;
	struct shmkit__wait_policy pol;
	int mine = entry_is_ours(s);

	shmkit__topic_policy(&s->t, &pol);
	if (mine) /* for `shmkit stat` only: nothing decides on it */
		atomic_store_explicit(&s->e->sleeping, 1, memory_order_relaxed);
	int rc = shmkit__ec_wait(&s->t.data_ec, &pol, shmkit__deadline(timeout_ns), try_next, w);
	if (mine)
		atomic_store_explicit(&s->e->sleeping, 0, memory_order_relaxed);
	return rc;
}

/* Before the waiting machinery (the policy, clock reads, the predicate
 * through a pointer, the `sleeping` flag: ~100 ns, at every message a
 * subscriber at its publisher's heels waits for) look again a few times: in
 * a stream the publisher completes the next message within a line transfer
 * or two. Only the slot's seq is read until it moves. As the SPSC queue's
 * consumer (SP_SPINS). */
#define SUB_SPINS 64

static __attribute__((noinline)) int spin_next(struct sub_wait *w)
{
	struct shmkit_sub *s = w->s;
	struct shmkit__topic_slot *slot = shmkit__topic_slot(&s->t, s->pos);
	/* relaxed: only watches for a change; try_next reads it with acquire */
	uint64_t seen = atomic_load_explicit(&slot->seq, memory_order_relaxed);

	for (unsigned i = 0; i < SUB_SPINS; i++) {
		shmkit__spin_pause();
		uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed);
		if (seq == seen)
			continue;
		int rc = try_next(w, 0);
		if (rc != -EAGAIN)
			return rc;
		/* a lapped (lossy) subscriber skipped ahead: watch its new slot */
		slot = shmkit__topic_slot(&s->t, s->pos);
		seen = atomic_load_explicit(&slot->seq, memory_order_relaxed);
	}
	return -EAGAIN;
}

/* Waits until the slot for our position holds our message complete; fills
 * w's slot, seq and validated length. */
static int next_message(struct sub_wait *w, int64_t timeout_ns)
{
	int rc = try_next(w, timeout_ns == 0);

	if (rc == -EAGAIN && timeout_ns != 0 && shmkit__topic_may_spin(&w->s->t))
		rc = spin_next(w);
	if (rc == -EAGAIN)
		rc = timeout_ns == 0 ? poll_empty(w) : wait_data(w, timeout_ns);
	if (rc == -EPIPE)
		epipe_readable(w->s);
	return rc;
}

/* 1 if the slot still holds the message we started reading. */
static inline int still_intact(struct shmkit__topic_slot *slot, uint64_t seq)
{
	/* acquire fence: our reads of the bytes before the re-check; pairs with
	 * the publisher's release fence after it marks the slot odd. */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&slot->seq, memory_order_relaxed) == seq;
}

/* Everything recv_ready leaves: waiting, a lapped or too long message, a
 * corrupt one. */
static __attribute__((noinline)) ssize_t sub_recv_rest(struct shmkit_sub *s, void *buf, size_t cap,
						       int64_t timeout_ns)
{
	/* w's outputs start zeroed: set by every successful next_message */
	struct sub_wait w = { .s = s };
	for (;;) {
		int rc = next_message(&w, timeout_ns);
		if (rc < 0)
			return rc;
		if (w.len > cap) {
			if (still_intact(w.slot, w.seq))
				return -EMSGSIZE;
			continue;
		}
		if (w.len)
			shmkit__copy(buf, shmkit__topic_slot_data(w.slot), w.len);
		if (still_intact(w.slot, w.seq)) {
			consume_delivered(s, w.len);
			return (ssize_t)w.len;
		}
		/* Overwritten while we copied: lost, and counted as such. */
		count_dropped(s, 1);
		consume(s);
	}
}

/* The common case of a receive, inline: the next message is there, intact,
 * fits and is up to 64 bytes (no call to copy it). -EAGAIN for anything
 * else (the general loop decides). With the wake check inline too
 * (shmkit__ec_quiet), shmkit_sub_recv is then a leaf function, as the SPSC
 * queue's receive (callgrind, a 64-byte receive: 52 instructions with an
 * out-of-line position publish and its frame, 42 now). */
static inline ssize_t recv_ready(struct shmkit_sub *s, void *buf, size_t cap)
{
	struct shmkit__topic_slot *slot = shmkit__topic_slot(&s->t, s->pos);
	uint64_t seq = 2 * s->pos + 2;

	/* acquire: pairs with the publisher's release store of the completed
	 * seq: the bytes and len are there. */
	if (atomic_load_explicit(&slot->seq, memory_order_acquire) != seq)
		return -EAGAIN;
	uint64_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
	if (len > cap || len > s->t.g.slot_size || len > SHMKIT__COPY_SMALL)
		return -EAGAIN;
	shmkit__copy_small(buf, shmkit__topic_slot_data(slot), (size_t)len);
	if (!still_intact(slot, seq))
		return -EAGAIN; /* lapped while we copied: the loop counts it */
	s->bytes += len;
	s->pos++;
	/* the common case makes no call: the wake check inline (quiet) */
	if (SHMKIT__UNLIKELY(store_pos(s) && !shmkit__ec_quiet(&s->t.space_ec)))
		wake_publisher_if_waiting(&s->t);
	return (ssize_t)len;
}

ssize_t shmkit_sub_recv(struct shmkit_sub *s, void *buf, size_t cap, int64_t timeout_ns)
{
	if (!s || (!buf && cap))
		return -EINVAL;
	/* a peeked message is held until release: a recv now would deliver it
	 * again and drop the hold under a pointer still in use (as a queue) */
	if (SHMKIT__UNLIKELY(s->peeked))
		return -EBUSY;
	ssize_t n = recv_ready(s, buf, cap);
	if (SHMKIT__LIKELY(n >= 0))
		return n;
	return sub_recv_rest(s, buf, cap, timeout_ns);
}

ssize_t shmkit_sub_peek(struct shmkit_sub *s, const void **msg, int64_t timeout_ns)
{
	if (!s || !msg)
		return -EINVAL;
	if (s->peeked) {
		*msg = shmkit__topic_slot_data(shmkit__topic_slot(&s->t, s->pos));
		return (ssize_t)s->peek_len;
	}
	struct sub_wait w = { .s = s };
	int rc = next_message(&w, timeout_ns);
	if (rc < 0)
		return rc;
	s->peeked = 1;
	s->peek_seq = w.seq;
	s->peek_len = w.len;
	*msg = shmkit__topic_slot_data(w.slot);
	return (ssize_t)w.len;
}

int shmkit_sub_release(struct shmkit_sub *s)
{
	if (!s || !s->peeked)
		return -EINVAL;
	s->peeked = 0;
	int intact = still_intact(shmkit__topic_slot(&s->t, s->pos), s->peek_seq);
	if (intact) {
		consume_delivered(s, s->peek_len);
	} else {
		count_dropped(s, 1);
		consume(s);
	}
	return intact ? 0 : -ESTALE;
}

/* Takes the entry's listener (CLAIMING, a new generation) before our
 * socket is bound: a close of the handle's other copy (a process forked
 * with it) that comes meanwhile sees a descriptor being made and leaves the
 * subscription to it (listener_held); it saw none, and ended it under the
 * descriptor we then registered in a freed entry. Whatever the listener
 * was (one descriptor per subscription: pubsub(3), shared by fork), ours
 * from now on; a reaper that frees the entry meanwhile makes our register
 * fail (-EAGAIN). */
static uint32_t claim_listener(struct shmkit_sub *s)
{
	struct shmkit__listener_shared *l = &s->e->listener;
	uint32_t mine;

	for (;;) {
		/* acquire: a joiner's listener word (its activation's release,
		 * or its own claim's) comes after its claim of the entry, so
		 * the look at the entry below then sees it is not ours */
		uint32_t st = atomic_load_explicit(&l->state, memory_order_acquire);
		/* The entry may have been freed and taken by a new subscriber
		 * since shmkit_sub_fd looked: its listener is not ours to
		 * take (we would overwrite its registration, and name our
		 * socket after it) */
		if (!entry_is_ours(s))
			return 0;
		/* a reaper's, about to free the entry (shmkit__topic_sub_gone):
		 * no descriptor for it */
		if (st == (shmkit__lis_make(st >> 4, 0, SHMKIT__LIS_FREE) | SHMKIT__LIS_REAPING))
			return 0;
		mine = shmkit__lis_make((st >> 4) + 1, 0, SHMKIT__LIS_CLAIMING);
		/* acq_rel: after the last owner's key, before ours; fails if
		 * a joiner's activation stored over the word we judged */
		if (atomic_compare_exchange_strong_explicit(&l->state, &st, mine,
							    memory_order_acq_rel,
							    memory_order_relaxed))
			return mine;
	}
}

static int sub_fd(struct shmkit_sub *s);

int shmkit_sub_fd(struct shmkit_sub *s)
{
	if (!s)
		return -EINVAL;
	shmkit__detail_clear();
	return shmkit__pollfd_error(sub_fd(s), "topic");
}

static int sub_fd(struct shmkit_sub *s)
{
	if (s->ep >= 0)
		return s->ep;
	if (!entry_is_ours(s))
		return -EBADMSG;
	SHMKIT__TEST_POINT("topic.sub.fd");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	ep = shmkit__fd_above_stdio(ep);
	/* before the listener exists (and long before its first arm) */
	shmkit__lis_raise_end(&s->t.sh->lis_end, s->index);
	/* named as the entry's subscriber: a child forked with the handle
	 * makes the descriptor in its name (pubsub(3), shared by fork) */
	uint32_t mine = claim_listener(s);
	if (!mine) {
		close(ep);
		return -EBADMSG;
	}
	/* after the claim: a joiner's identity written since makes its
	 * activation store over our claim, and our register fail */
	struct shmkit__ident named;
	memcpy(&named, &s->e->ident, sizeof(named));
	int rc = shmkit__lis_open(&s->lis, &s->e->listener, 0, mine, &named);
	/* no descriptor for an entry that is not ours (a reaper takes the
	 * listener before it frees the entry, so our claim or register fails
	 * first; this look is for anything else that freed it) */
	if (rc == 0 && !entry_is_ours(s))
		rc = -EBADMSG;
	struct epoll_event ev = { .events = EPOLLIN };
	if (rc == 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s->lis.fd, &ev) < 0)
		rc = -errno;
	if (rc < 0) {
		shmkit__lis_close(&s->lis);
		/* a claim not registered: give it back, unless taken over */
		atomic_compare_exchange_strong_explicit(
		    &s->e->listener.state, &mine, shmkit__lis_make((mine >> 4) + 1, 0, SHMKIT__LIS_FREE),
		    memory_order_release, memory_order_relaxed);
		close(ep);
		return rc;
	}
	s->ep = ep;
	return ep;
}
