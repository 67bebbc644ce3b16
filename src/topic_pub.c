/* SPDX-License-Identifier: MIT */
/* The publisher's side of a topic: claim/take over, loan/publish, waiting for
 * room on reliable topics, and waking sleeping subscribers.
 *
 * One publisher per topic (the claim in pub_state enforces it); a handle is
 * used by one thread at a time. Nothing here blocks except pub_loan/pub_send
 * on a reliable topic whose slowest live subscriber is a ring behind. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copy.h"
#include "topic.h"

struct shmkit_pub {
	struct shmkit__topic t;
	uint64_t head;	     /* next message index; the shared head follows it */
	uint64_t cached_min; /* reliable: lowest live position at the last scan */
	uint64_t gen;	     /* our generation in pub_state */
	uint64_t bytes;	     /* payload bytes published; the shared counter follows it */
	int loaned;	     /* a slot is out between loan and publish */
	int64_t next_reap;   /* reliable: when to check the laggards' liveness next */
	struct shmkit__copy_pick copy_pick; /* how large messages are copied in */
	/* the process that became the publisher (pub_take): a copy forked
	 * with the handle is another. Ours, not the shared pub_ident, which a
	 * claimer stopped while it wrote its identity (past its last look in
	 * pub_take), and taken over, writes over ours when it goes on (and a
	 * scribbler may) */
	pid_t pid;
	uint64_t start_time;
};
/* A claim lasts microseconds. One by a live process is waited for this
 * long before -EBUSY; one whose identity may still be the last publisher's
 * (its claimer killed, or stalled, before it wrote its own) is taken over
 * if it looks the same after this long. */
#define CLAIM_WAIT_NS 1000000000

/* A dead publisher may have completed slot `head` without moving head on:
 * finish that publish so the message is not written twice. */
static uint64_t recover_head(struct shmkit__topic *t)
{
	/* acquire: pairs with the old publisher's release store of head. */
	uint64_t h = atomic_load_explicit(&t->sh->head, memory_order_acquire);
	SHMKIT__TEST_POINT("topic.pub.recover");
	struct shmkit__topic_slot *slot = shmkit__topic_slot(t, h);

	if (atomic_load_explicit(&slot->seq, memory_order_relaxed) == 2 * h + 2) {
		/* A CAS, not a store: a claimer whose claim was taken over
		 * (stopped, then gone on) may get here after the new publisher
		 * published slot h and more; a store of h + 1 moved head back
		 * (a joiner then read old messages, the next publisher wrote
		 * at indices subscribers had passed). head only grows, so a
		 * CAS from h moves it only if nobody did (then where it is:
		 * another claimer's h + 1). release: pairs with subscribers'
		 * acquire loads of head. */
		uint64_t seen = h;
		if (!atomic_compare_exchange_strong_explicit(&t->sh->head, &seen, h + 1,
							     memory_order_release,
							     memory_order_acquire))
			return seen;
		h++;
	}
	return h;
}

/* The publisher named in pub_state word st: 1 alive (or cannot tell:
 * *unknown; id->pid 0 if not even who it is), 0 provably dead, 2 a claim
 * whose identity is not its own yet (the last publisher's, or being
 * written), -EAGAIN if st moved while we copied the identity. */
static int holder_alive(struct shmkit_pub *p, uint64_t st, struct shmkit__ident *id,
			bool *unknown)
{
	bool known = shmkit__topic_pub_ident(&p->t, st, id);

	/* acquire: the copy belongs to st if st is still there */
	if (atomic_load_explicit(&p->t.sh->pub_state, memory_order_acquire) != st)
		return -EAGAIN;
	if (!known && shmkit__state_kind(st) == SHMKIT__PUB_CLAIMING)
		return 2;
	if (!known) { /* never two publishers: it may live */
		id->pid = 0;
		*unknown = true;
		return 1;
	}
	/* ours, from before an execve: nothing publishes. The token alone is
	 * no proof (another copy of the library in this process): its attach
	 * slot must show that image gone. */
	uint32_t image = 0;
	if (shmkit__topic_pub_earlier_image(&p->t, st, id, &image) &&
	    shmkit__obj_earlier_image_gone(&p->t.obj, image))
		return 0;
	int alive = shmkit__topic_ident_alive(&p->t, id);
	*unknown = alive < 0;
	return alive != 0;
}

/* An unsure claim (holder_alive() 2) is abandoned once it has looked the
 * same, word and identity, for CLAIM_WAIT_NS. */
struct claim_sight {
	uint64_t st;
	struct shmkit__ident id;
	int64_t since;
};

static bool claim_abandoned(struct claim_sight *seen, uint64_t st, const struct shmkit__ident *id)
{
	int64_t now = shmkit__now_ns();

	if (seen->st != st || memcmp(&seen->id, id, sizeof(*id)) != 0) {
		seen->st = st;
		seen->id = *id;
		seen->since = now;
		return false;
	}
	return now - seen->since >= CLAIM_WAIT_NS;
}

/* Names us in act_ident as the publisher of ACTIVE word `active`, ours:
 * only the claimer whose CAS to ACTIVE succeeded writes there, so a
 * claimer that lost its claim (stopped, taken over, then gone on) cannot
 * write over it, as it can over pub_ident (shmkit__topic_pub_ident). 0
 * first: no reader takes a copy half written for the last publisher's
 * (ident_copy). */
static void pub_name_active(struct shmkit__topic_shared *sh, uint64_t active)
{
	atomic_store_explicit(&sh->act_state, 0, memory_order_relaxed);
	/* release fence: the 0 before any byte; pairs with the readers' fence */
	atomic_thread_fence(memory_order_release);
	memcpy(&sh->act_ident, shmkit__ident_self(), sizeof(sh->act_ident));
	sh->act_image = shmkit__image_token();
	/* release: the bytes before the word */
	atomic_store_explicit(&sh->act_state, active, memory_order_release);
}

/* Now that act_ident names us, wake every descriptor to look again, once:
 * one armed before (no publisher yet, a closed or dead one, or ours not
 * yet named: a claimer whose claim we took over may have written its
 * identity over ours in pub_ident, shmkit__topic_pub_ident) watches no
 * pidfd of ours, and our death before a message would leave it unreadable
 * for good. A spurious readiness each (allowed, DESIGN 9), once per
 * publisher. wake_all's seq_cst RMW pairs with the subscriber's arm and
 * the fence in shmkit__topic_pub_ident(): either its look after arming
 * sees act_state naming us, or the wake reaches it. */
static void pub_wake_listeners(struct shmkit_pub *p)
{
	shmkit__ec_wake_all(&p->t.data_ec);
}

/* Claim as `mine` (CLAIMING), then become ACTIVE; false if the claim was
 * taken over before that. */
static bool pub_take(struct shmkit_pub *p, uint64_t mine)
{
	struct shmkit__topic_shared *sh = p->t.sh;

	SHMKIT__TEST_POINT("topic.pub.claimed");
	const struct shmkit__ident *me = shmkit__ident_self();
	p->pid = (pid_t)me->pid;
	p->start_time = me->start_time;
	/* Still ours? A claim stalled a second (stopped here, or in
	 * ident_self() reading /proc) is taken over, and its taker writes
	 * pub_ident and ident_state: ours below would land on them. Taken
	 * over, we write nothing. What this leaves: a stall of over a second
	 * between here and our last store (docs/LAYOUT.md). acquire: none of
	 * our stores below goes before this load (a taker's word is its CAS
	 * in pub_claim()) */
	if (atomic_load_explicit(&sh->pub_state, memory_order_acquire) != mine)
		return false;
	SHMKIT__TEST_POINT("topic.pub.naming");
	/* pub_ident is a seqlock keyed by ident_state (ident_copy): first
	 * our generation with no kind, neither a CLAIMING word nor the 0 of
	 * a topic no claimer of ours wrote; release fence: that before any
	 * byte, pairs with the readers' acquire fence */
	uint64_t writing = shmkit__state_make(shmkit__state_gen(mine), SHMKIT__PUB_NONE);
	atomic_store_explicit(&sh->ident_state, writing, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(&sh->pub_ident, me, sizeof(sh->pub_ident));
	/* release: the bytes before the word; pairs with the acquire load in ident_copy() */
	atomic_store_explicit(&sh->ident_state, mine, memory_order_release);
	SHMKIT__TEST_POINT("topic.pub.claiming");
	p->head = recover_head(&p->t);
	/* a predecessor's count goes on (statistics: relaxed) */
	p->bytes = atomic_load_explicit(&sh->bytes_published, memory_order_relaxed);
	p->cached_min = 0;
	p->gen = shmkit__state_gen(mine);
	/* release: pairs with the acquire loads of pub_state by subscribers
	 * and claimers: our identity and head before ACTIVE. A CAS: a claimer
	 * stopped long enough may have been taken over. */
	uint64_t active = shmkit__state_make(p->gen, SHMKIT__PUB_ACTIVE);
	if (!atomic_compare_exchange_strong_explicit(&sh->pub_state, &mine, active,
						     memory_order_release, memory_order_relaxed))
		return false;
	SHMKIT__TEST_POINT("topic.pub.active");
	pub_name_active(sh, active);
	pub_wake_listeners(p);
	return true;
}

/* Makes this process the topic's publisher: -EBUSY while a live one holds
 * it or a live claimer is claiming it. */
static int pub_claim(struct shmkit_pub *p)
{
	struct shmkit__topic_shared *sh = p->t.sh;
	int64_t give_up = shmkit__now_ns() + 2 * CLAIM_WAIT_NS;
	struct claim_sight seen = {.st = 0};

	for (;;) {
		/* acquire: pairs with the claimer's release CAS to ACTIVE: its
		 * ident_state and pub_ident, or later ones, are what we read */
		uint64_t st = atomic_load_explicit(&sh->pub_state, memory_order_acquire);
		uint32_t kind = shmkit__state_kind(st);
		struct shmkit__ident id;
		bool unknown = false;
		int alive = 0;

		if (kind > SHMKIT__PUB_CLAIMING)
			return -EBADMSG;
		if (kind == SHMKIT__PUB_ACTIVE || kind == SHMKIT__PUB_CLAIMING)
			alive = holder_alive(p, st, &id, &unknown);
		if (alive < 0)
			continue;
		if (alive == 1 && kind == SHMKIT__PUB_ACTIVE && id.pid == 0)
			return shmkit__fail(-EBUSY, "it has an active publisher not yet named "
						    "(shmkit rm if it died), and only one "
						    "is allowed");
		if (alive == 1 && kind == SHMKIT__PUB_ACTIVE) {
			char who[80];
			return shmkit__fail(-EBUSY, "%s is already its publisher%s, and "
						    "only one is allowed",
					    shmkit__ident_pid_str(&id, who, sizeof(who)),
					    unknown ? " (whether it lives cannot be told)" : "");
		}
		if (alive == 1 || (alive == 2 && !claim_abandoned(&seen, st, &id))) {
			if (shmkit__now_ns() >= give_up && alive == 1)
				return shmkit__fail(-EBUSY, "pid %u is claiming its publisher role",
						    id.pid);
			if (shmkit__now_ns() >= give_up)
				return shmkit__fail(-EBUSY, "another process keeps claiming its "
							    "publisher role");
			shmkit__sleep_ns(1000000);
			continue;
		}
		uint64_t mine = shmkit__state_make(shmkit__state_gen(st) + 1, SHMKIT__PUB_CLAIMING);
		/* acquire: orders us after the last publisher's stores */
		if (atomic_compare_exchange_strong_explicit(&sh->pub_state, &st, mine,
							    memory_order_acquire, memory_order_relaxed) &&
		    pub_take(p, mine))
			return 0;
	}
}

static int pub_finish_open(struct shmkit_pub **out, struct shmkit_pub *p)
{
	int rc = pub_claim(p);

	shmkit__copy_pick_init(&p->copy_pick, p->t.g.slots);
	if (rc < 0) {
		shmkit__topic_close(&p->t);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int shmkit_pub_create(struct shmkit_pub **out, const char *uri, const struct shmkit_topic_opts *o)
{
	shmkit__detail_clear();
	struct shmkit_pub *p;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!uri || !o)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return shmkit__no_memory("a publisher handle");
	rc = shmkit__topic_create(&p->t, uri, o);
	if (rc < 0) {
		free(p);
		return rc;
	}
	return pub_finish_open(out, p);
}

int shmkit_pub_open(struct shmkit_pub **out, const char *uri)
{
	shmkit__detail_clear();
	struct shmkit_pub *p;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!uri)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return shmkit__no_memory("a publisher handle");
	rc = shmkit__topic_open(&p->t, uri, 0);
	if (rc < 0) {
		free(p);
		return rc;
	}
	return pub_finish_open(out, p);
}

int shmkit_topic_create(const char *uri, const struct shmkit_topic_opts *o)
{
	shmkit__detail_clear();
	struct shmkit__topic t;
	int rc;

	if (!uri || !o)
		return -EINVAL;
	rc = shmkit__topic_create(&t, uri, o);
	if (rc < 0)
		return rc;
	shmkit__topic_close(&t);
	return 0;
}

uint64_t shmkit_pub_published(const struct shmkit_pub *p)
{
	return p ? p->head : 0;
}

/* Subscriber e (state st) gone for good (shmkit__topic_sub_gone). */
static int topic_sub_gone(const struct shmkit__topic *t, struct shmkit__topic_sub_shared *e,
			  uint64_t st)
{
	struct shmkit__ident id;

	memcpy(&id, &e->ident, sizeof(id)); /* untrusted: a copy */
	return shmkit__topic_sub_gone(t, e, st, &id);
}

/* Reliable topics: the lowest position among live subscribers (or `head` if
 * none) into cached_min. With `reap`, subscribers that hold message `head`
 * back and are provably dead are removed instead (slow: reads /proc). */
static int scan_min(struct shmkit_pub *p, uint64_t head, int reap)
{
	struct shmkit__topic *t = &p->t;
	uint64_t min = head;

	/* seq_cst: pairs with a joiner's fence between storing ACTIVE and
	 * reading head: either we see it here or it sees our head. */
	atomic_thread_fence(memory_order_seq_cst);
	for (uint32_t i = 0; i < t->g.max_subs; i++) {
		struct shmkit__topic_sub_shared *e = &t->subs[i];
		/* acquire: pairs with the joiner's release of ACTIVE (pos set before). */
		uint64_t st = atomic_load_explicit(&e->state, memory_order_acquire);
		if (shmkit__state_kind(st) != SHMKIT__SUB_ACTIVE)
			continue;
		/* acquire: pairs with the subscriber's release store of pos after it
		 * finished reading the slot we are about to reuse. */
		uint64_t pos = atomic_load_explicit(&e->pos, memory_order_acquire);
		if (pos > head)
			return -EBADMSG;
		if (reap && head - pos >= t->g.slots && topic_sub_gone(t, e, st) &&
		    shmkit__topic_reap(t, i, st))
			continue;
		if (pos < min)
			min = pos;
	}
	p->cached_min = min;
	return 0;
}

static int has_room(const struct shmkit_pub *p, uint64_t head)
{
	return head - p->cached_min < p->t.g.slots;
}

/* What a reliable publisher waits for: room for message `head`. In the
 * slow phases the subscribers holding it back are checked for liveness at
 * most every SHMKIT_TOPIC_LIVENESS_MS, so a dead one stops holding it back
 * within that bound. */
struct room_wait {
	struct shmkit_pub *p;
	uint64_t head;
};

static int room_pred(void *arg, int slow)
{
	struct room_wait *w = arg;
	int rc = scan_min(w->p, w->head, 0);

	if (rc < 0 || has_room(w->p, w->head))
		return rc;
	int64_t now = slow ? shmkit__now_ns() : 0;
	if (slow && now >= w->p->next_reap) {
		w->p->next_reap = now + SHMKIT__LIVENESS_NS;
		rc = scan_min(w->p, w->head, 1);
		if (rc < 0 || has_room(w->p, w->head))
			return rc;
	}
	return -EAGAIN;
}

/* A full ring had room again for message `head`, but less than PUB_ROOM
 * slots of it. A publisher that resumes at every freed slot scans the
 * subscribers about once per message, and each scan is a full fence and a
 * pull of the line each subscriber stores its position into per message
 * (a 64-byte stream on a 2-vCPU Xeon: 5.1e7 msg/s, against 6.3-7.1e7 when
 * waiting for 32-256 slots; docs/PERF.md "A full topic"). So, while it may
 * spin, it waits for a little more room, looking every PUB_ROOM_PAUSES
 * pauses for messages up to 64 bytes (a larger one frees its slot after a
 * copy many transfers long, where a late look loses time), no longer than
 * the send's deadline and the topic's spin time allow. It never fails for
 * want of more room; -EAGAIN if a scan finds none (wait again). */
#define PUB_ROOM 128u
#define PUB_ROOM_PAUSES 32u
#define PUB_ROOM_LOOKS 64u

/* Free slots for message `head` by the last scan; 0 if none (a subscriber
 * that joined at an older head, or a position written back by anyone). */
static uint64_t room_left(const struct shmkit_pub *p, uint64_t head)
{
	uint64_t used = head - p->cached_min;
	return used < p->t.g.slots ? p->t.g.slots - used : 0;
}

static int spin_for_room(struct shmkit_pub *p, uint64_t head, int64_t deadline,
			 const struct shmkit__wait_policy *pol)
{
	uint64_t want = p->t.g.slots / 4 < PUB_ROOM ? p->t.g.slots / 4 : PUB_ROOM;

	if (room_left(p, head) >= want || pol->spin_ns == 0)
		return 0;
	unsigned pauses = p->t.g.slot_size <= SHMKIT__COPY_SMALL ? PUB_ROOM_PAUSES : 1;
	int64_t now = shmkit__now_ns();
	int64_t until = pol->spin_ns < 0 || deadline - now < pol->spin_ns ? deadline : now + pol->spin_ns;
	for (unsigned i = 0; i < PUB_ROOM_LOOKS && room_left(p, head) < want; i++) {
		for (unsigned k = 0; k < pauses; k++)
			shmkit__spin_pause();
		int rc = scan_min(p, head, 0);
		if (rc < 0)
			return rc;
		if (!has_room(p, head))
			return -EAGAIN;
		if (shmkit__now_ns() >= until)
			break;
	}
	return 0;
}

/* Reliable topics: waits until writing message `head` overwrites nothing a
 * live subscriber still needs (with timeout 0, looks once). */
static int wait_room(struct shmkit_pub *p, uint64_t head, int64_t timeout_ns)
{
	struct room_wait w = { p, head };
	struct shmkit__wait_policy pol;
	int rc = room_pred(&w, 1);

	if (timeout_ns == 0)
		return rc;
	int64_t deadline = shmkit__deadline(timeout_ns);
	shmkit__topic_policy(&p->t, &pol);
	for (;;) {
		if (rc == -EAGAIN)
			rc = shmkit__ec_wait(&p->t.space_ec, &pol, deadline, room_pred, &w);
		if (rc != 0)
			return rc;
		rc = spin_for_room(p, head, deadline, &pol);
		if (rc != -EAGAIN)
			return rc;
	}
}

/* Marks the slot for message p->head as being written (room is known) and
 * returns it. */
static inline struct shmkit__topic_slot *mark_writing(struct shmkit_pub *p)
{
	uint64_t h = p->head;
	struct shmkit__topic_slot *slot = shmkit__topic_slot(&p->t, h);
	/* release: head == h before the odd seq; pairs with a lapped reader's
	 * acquire load of seq before it reads head (skip_overwritten). */
	atomic_store_explicit(&slot->seq, 2 * h + 1, memory_order_release);
	/* release fence: the odd seq before any byte of the new message; pairs
	 * with the reader's acquire fence before it re-checks seq. */
	atomic_thread_fence(memory_order_release);
	SHMKIT__TEST_POINT("topic.loaned");
	return slot;
}

/* mark_writing() after waiting for room on a reliable topic; NULL with
 * *rc on failure. */
static inline struct shmkit__topic_slot *begin_write(struct shmkit_pub *p, int64_t timeout_ns, int *rc)
{
	if (p->t.g.reliable && !has_room(p, p->head)) {
		*rc = wait_room(p, p->head, timeout_ns);
		if (*rc < 0)
			return NULL;
	}
	return mark_writing(p);
}

/* Completes message p->head in `slot` (its bytes are written); the caller
 * then wakes whoever waits for it (wake_subscribers). */
static inline void complete_write(struct shmkit_pub *p, struct shmkit__topic_slot *slot, size_t len)
{
	uint64_t h = p->head;

	atomic_store_explicit(&slot->len, len, memory_order_relaxed);
	/* Statistics for `shmkit top`, on the line head is on (no extra line
	 * moves); before the completed seq, so a publish a successor finishes
	 * (recover_head) is already counted. */
	p->bytes += len;
	atomic_store_explicit(&p->t.sh->bytes_published, p->bytes, memory_order_relaxed);
	/* release: the bytes and len before the completed seq; pairs with the
	 * subscriber's acquire load of seq. */
	atomic_store_explicit(&slot->seq, 2 * h + 2, memory_order_release);
	SHMKIT__TEST_POINT("topic.published_slot");
	/* release: pairs with the acquire loads of head by joiners and lapped
	 * subscribers: every slot below it is complete. */
	atomic_store_explicit(&p->t.sh->head, h + 1, memory_order_release);
	p->head = h + 1;
}

/* After a completed message: no system call unless a subscriber sleeps or
 * has its descriptor armed; the core's barrier orders the seq store before
 * its check. */
static __attribute__((noinline)) void wake_subscribers(struct shmkit_pub *p)
{
	shmkit__ec_wake(&p->t.data_ec);
}

static inline void finish_write(struct shmkit_pub *p, struct shmkit__topic_slot *slot, size_t len)
{
	complete_write(p, slot, len);
	wake_subscribers(p);
}

int shmkit_pub_loan(struct shmkit_pub *p, size_t len, void **buf, int64_t timeout_ns)
{
	int rc = 0;

	if (!p || !buf || p->loaned)
		return -EINVAL;
	if (len > p->t.g.slot_size)
		return -EMSGSIZE;
	struct shmkit__topic_slot *slot = begin_write(p, timeout_ns, &rc);
	if (!slot)
		return rc;
	*buf = shmkit__topic_slot_data(slot);
	p->loaned = 1;
	return 0;
}

int shmkit_pub_publish(struct shmkit_pub *p, void *buf, size_t len)
{
	if (!p || !p->loaned)
		return -EINVAL;
	struct shmkit__topic_slot *slot = shmkit__topic_slot(&p->t, p->head);
	if (buf != shmkit__topic_slot_data(slot))
		return -EINVAL;
	if (len > p->t.g.slot_size)
		return -EMSGSIZE;
	p->loaned = 0;
	finish_write(p, slot, len);
	return 0;
}

/* A loan and a publish in one: the slot is found once. Everything the fast
 * path below leaves: bad arguments, a loan outstanding, a message over 64
 * bytes, a reliable ring with no room known (waiting). */
static __attribute__((noinline)) int pub_send_rest(struct shmkit_pub *p, const void *msg,
						   size_t len, int64_t timeout_ns)
{
	int rc = 0;

	if (!p || (!msg && len) || p->loaned)
		return -EINVAL;
	if (len > p->t.g.slot_size)
		return -EMSGSIZE;
	struct shmkit__topic_slot *slot = begin_write(p, timeout_ns, &rc);
	if (!slot)
		return rc;
	if (len)
		shmkit__copy_in(&p->copy_pick, shmkit__topic_slot_data(slot), msg, len);
	finish_write(p, slot, len);
	return 0;
}

/* The wake-up a quiet check could not rule out, after a send. */
static __attribute__((noinline)) int pub_send_wake(struct shmkit_pub *p)
{
	wake_subscribers(p);
	return 0;
}

/* The common send is a leaf function, as the SPSC queue's: a small message,
 * room known, nobody asleep or armed. Every other case leaves by a tail
 * call (callgrind, a 64-byte send: 52 instructions with the out-of-line
 * completion and the frame of the calls it did not make, 39 now). */
int shmkit_pub_send(struct shmkit_pub *p, const void *msg, size_t len, int64_t timeout_ns)
{
	if (SHMKIT__UNLIKELY(!p || !msg || p->loaned || len > SHMKIT__COPY_SMALL ||
			     len > p->t.g.slot_size ||
			     (p->t.g.reliable && !has_room(p, p->head))))
		return pub_send_rest(p, msg, len, timeout_ns);
	struct shmkit__topic_slot *slot = mark_writing(p);
	shmkit__copy_small(shmkit__topic_slot_data(slot), msg, len);
	complete_write(p, slot, len);
	if (SHMKIT__UNLIKELY(!shmkit__ec_quiet(&p->t.data_ec)))
		return pub_send_wake(p);
	return 0;
}

/* Is this process the topic's publisher, not a child forked with the
 * handle? Asked of the identity we took the topic in (pub_take), not of
 * the shared pub_ident: a claimer stopped while it wrote its identity,
 * whose claim we took over, writes over ours when it goes on (its CAS then
 * fails: -EBUSY), and our close marked nothing while it lived (no -EPIPE,
 * no new publisher). */
static int is_publisher(const struct shmkit_pub *p)
{
	const struct shmkit__ident *me = shmkit__ident_self();

	return !me || ((pid_t)me->pid == p->pid && me->start_time == p->start_time);
}

int shmkit_pub_close(struct shmkit_pub *p)
{
	if (!p)
		return 0; /* like free(NULL): shmkit(3), CONVENTIONS */
	struct shmkit__topic_shared *sh = p->t.sh;
	uint64_t mine = shmkit__state_make(p->gen, SHMKIT__PUB_ACTIVE);
	/* A copy forked with the handle only closes itself (pubsub(3), shared
	 * by fork): its close ended its live parent's publication, subscribers
	 * got -EPIPE while it published on and a second publisher could claim
	 * the topic beside it (a Python child's exit closes every handle). A
	 * publisher that dies is seen dead by its identity, as ever. */
	if (is_publisher(p)) {
		/* release: pairs with the subscribers' acquire load of pub_state:
		 * every message we published is visible once they see CLOSED. */
		atomic_compare_exchange_strong_explicit(
			&sh->pub_state, &mine, shmkit__state_make(p->gen, SHMKIT__PUB_CLOSED),
			memory_order_release, memory_order_relaxed);
		/* Rare: wake every sleeper and descriptor, bits or not, to see CLOSED. */
		shmkit__ec_wake_all(&p->t.data_ec);
	}
	shmkit__topic_close(&p->t);
	free(p);
	return 0;
}
