/* The subscribers' side of a topic: joining the table, reading in order
 * (copy or zero-copy), detecting overwrite on lossy topics, waiting for the
 * publisher, and noticing when it is gone.
 *
 * Any number of subscribers per topic, each with its own handle; a handle is
 * used by one thread at a time. recv and peek block up to their timeout. */
#include <stdlib.h>
#include <string.h>

#include "topic.h"

#define NO_GEN UINT64_MAX

struct shmkit_sub {
	struct shmkit__topic t;
	struct shmkit__topic_sub_shared *e; /* our table entry */
	uint32_t index;
	uint64_t state; /* our entry's ACTIVE state word */
	uint64_t pos;	/* next message index */
	uint64_t dropped;
	uint64_t absent_gen; /* pub_state generation with no publisher when we joined */
	int peeked;
	uint64_t peek_seq;
	size_t peek_len;
	int64_t next_live_check;
	uint64_t dead_pub_state; /* pub_state word whose publisher we found dead */
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

/* Frees entries of subscribers that are provably dead; how many. */
static int reap_dead_entries(struct shmkit__topic *t)
{
	int n = 0;

	for (uint32_t i = 0; i < t->g.max_subs; i++) {
		uint64_t st = atomic_load_explicit(&t->subs[i].state, memory_order_acquire);
		uint32_t kind = shmkit__state_kind(st);
		if (kind != SHMKIT__SUB_ACTIVE && kind != SHMKIT__SUB_CLAIMING)
			continue;
		if (shmkit__topic_ident_alive(&t->subs[i].ident) == 0)
			n += shmkit__topic_reap(t, i, st);
	}
	return n;
}

/* Fills the claimed entry and makes it ACTIVE at the current head. 1 if a
 * reaper freed the entry under us (claim again). */
static int activate_entry(struct shmkit_sub *s)
{
	struct shmkit__topic_shared *sh = s->t.sh;
	struct shmkit__topic_sub_shared *e = &s->t.subs[s->index];

	memcpy(&e->ident, shmkit__ident_self(), sizeof(e->ident));
	SHMKIT__TEST_POINT("topic.claimed");
	atomic_store_explicit(&e->dropped, 0, memory_order_relaxed);
	atomic_store_explicit(&e->sleeping, 0, memory_order_relaxed);
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

static int sub_join(struct shmkit_sub *s)
{
	for (int attempt = 0; attempt < 64; attempt++) {
		int rc = claim_free_entry(s);
		if (rc == -ENOSPC) {
			if (reap_dead_entries(&s->t) == 0)
				return -ENOSPC;
			continue;
		}
		rc = activate_entry(s);
		if (rc <= 0)
			return rc;
	}
	return -EAGAIN;
}

int shmkit_sub_open(struct shmkit_sub **out, const char *uri)
{
	struct shmkit_sub *s;
	int rc;

	if (!out || !uri)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
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
	s->absent_gen =
	    kind == SHMKIT__PUB_NONE || kind == SHMKIT__PUB_CLOSED ? shmkit__state_gen(ps) : NO_GEN;
	*out = s;
	return 0;
}

/* Wakes a reliable publisher that sleeps waiting for room. */
static void wake_publisher_if_waiting(struct shmkit__topic *t)
{
	/* seq_cst: pairs with the publisher's fence between setting
	 * pub_waiting and re-scanning: it sees our pos or we see it waiting. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&t->sh->pub_waiting, memory_order_relaxed)) {
		/* release: our pos before the bump; pairs with the publisher's
		 * acquire load of space_futex before it re-scans. */
		atomic_fetch_add_explicit(&t->sh->space_futex, 1, memory_order_release);
		shmkit__topic_futex_wake(&t->sh->space_futex);
	}
}

int shmkit_sub_close(struct shmkit_sub *s)
{
	if (!s)
		return -EINVAL;
	uint64_t st = s->state;
	uint64_t freed = shmkit__state_make(shmkit__state_gen(st) + 1, SHMKIT__SUB_FREE);
	/* release: our last reads of the ring before the entry is free; pairs
	 * with the publisher's acquire load of the state. */
	if (atomic_compare_exchange_strong_explicit(&s->e->state, &st, freed, memory_order_release,
						    memory_order_relaxed))
		shmkit__topic_count_sub(&s->t, -1);
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

/* 1 while the table entry is still ours. It stops being ours only if
 * somebody took us for dead (or scribbled on it): then we read on without
 * an entry and never write into one another subscriber may own. */
static int entry_is_ours(const struct shmkit_sub *s)
{
	return atomic_load_explicit(&s->e->state, memory_order_relaxed) == s->state;
}

static void publish_pos(struct shmkit_sub *s)
{
	if (!entry_is_ours(s))
		return;
	if (s->t.g.reliable) {
		/* release: our reads of the slot before the publisher reuses it;
		 * pairs with its acquire load of pos in scan_min. */
		atomic_store_explicit(&s->e->pos, s->pos, memory_order_release);
		wake_publisher_if_waiting(&s->t);
	} else {
		/* Lossy: the publisher never reads it; it is for `shmkit stat`. */
		atomic_store_explicit(&s->e->pos, s->pos, memory_order_relaxed);
	}
}

static void consume(struct shmkit_sub *s)
{
	s->pos++;
	publish_pos(s);
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

/* 1 if the publisher that was there since we joined closed or died, 0 if
 * we may keep waiting. A close is seen at once; a death (which takes a read
 * of /proc) is looked for at most once a slice. */
static int publisher_gone(struct shmkit_sub *s, int64_t now)
{
	struct shmkit__topic_shared *sh = s->t.sh;
	/* acquire: pairs with the claimer's release store: pub_ident first. */
	uint64_t ps = atomic_load_explicit(&sh->pub_state, memory_order_acquire);

	switch (shmkit__state_kind(ps)) {
	case SHMKIT__PUB_CLOSED:
		return shmkit__state_gen(ps) != s->absent_gen;
	case SHMKIT__PUB_ACTIVE:
		if (ps == s->dead_pub_state)
			return 1; /* found dead before; nobody took over since */
		if (now < s->next_live_check)
			return 0;
		s->next_live_check = now + SHMKIT__TOPIC_SLICE_NS;
		if (shmkit__topic_ident_alive(&sh->pub_ident) != 0)
			return 0;
		/* Dead, unless a new publisher took over while we looked. */
		if (atomic_load_explicit(&sh->pub_state, memory_order_acquire) != ps)
			return 0;
		s->dead_pub_state = ps;
		return 1;
	default:
		return 0;
	}
}

/* Sleeps until the publisher moves (or a slice passes). `seq` is what the
 * slot for our position held when we last looked. */
static void sleep_for_data(struct shmkit_sub *s, struct shmkit__topic_slot *slot, uint64_t seq,
			   int64_t left)
{
	struct shmkit__topic_shared *sh = s->t.sh;
	int64_t slice = left < 0 || left > SHMKIT__TOPIC_SLICE_NS ? SHMKIT__TOPIC_SLICE_NS : left;
	/* acquire: pairs with the publisher's release bump of data_futex: if we
	 * read a bumped value, the message that caused it is visible below. */
	uint32_t seen = atomic_load_explicit(&sh->data_futex, memory_order_acquire);

	/* Count ourselves before flagging, uncount after clearing: a reaper
	 * that finds the flag set always finds a count to give back. */
	int mine = entry_is_ours(s);
	atomic_fetch_add_explicit(&sh->sub_sleepers, 1, memory_order_relaxed);
	if (mine)
		atomic_store_explicit(&s->e->sleeping, 1, memory_order_relaxed);
	/* seq_cst: pairs with the publisher's fence between completing a slot
	 * and reading sub_sleepers: it sees us or we see its message. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&slot->seq, memory_order_relaxed) == seq && slice > 0)
		shmkit__topic_futex_wait(&sh->data_futex, seen, slice);
	/* A reaper that freed our entry meanwhile gave our count back already. */
	if (!mine || atomic_exchange_explicit(&s->e->sleeping, 0, memory_order_relaxed))
		atomic_fetch_sub_explicit(&sh->sub_sleepers, 1, memory_order_relaxed);
}

/* Waits until the slot for our position holds our message complete; returns
 * it in *slot_out with its seq and validated length. Lapped (lossy) messages
 * are skipped and counted. -EPIPE once the publisher is gone and everything
 * it published has been read. */
static int next_message(struct shmkit_sub *s, int64_t timeout_ns,
			struct shmkit__topic_slot **slot_out, uint64_t *seq_out, size_t *len_out)
{
	int64_t deadline = timeout_ns > 0 ? shmkit__deadline(timeout_ns) : timeout_ns;
	int64_t wait_start = 0;
	int gone = 0, crowded = 0;

	for (;;) {
		uint64_t want = 2 * s->pos + 2;
		struct shmkit__topic_slot *slot = shmkit__topic_slot(&s->t, s->pos);
		/* acquire: pairs with the publisher's release store of the
		 * completed seq: the bytes and len are there. */
		uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);

		if (seq == want) {
			uint64_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
			if (len <= s->t.g.slot_size) {
				*slot_out = slot;
				*seq_out = seq;
				*len_out = (size_t)len;
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
		/* Nothing for us yet: spin a little, then look for the
		 * publisher's end, then sleep. */
		if (gone)
			return -EPIPE; /* looked again after seeing it gone: drained */
		int64_t now = shmkit__now_ns();
		if (timeout_ns != 0) {
			if (wait_start == 0) {
				wait_start = now;
				crowded = shmkit__topic_crowded(&s->t);
			}
			switch (shmkit__topic_phase(wait_start, now, crowded)) {
			case SHMKIT__PHASE_SPIN:
				shmkit__topic_spin_on(&slot->seq, seq);
				continue;
			case SHMKIT__PHASE_YIELD:
				sched_yield();
				continue;
			case SHMKIT__PHASE_SLEEP:
				break;
			}
		}
		if (publisher_gone(s, now)) {
			gone = 1;
			continue;
		}
		if (timeout_ns == 0)
			return -EAGAIN;
		int64_t left = shmkit__topic_left(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		sleep_for_data(s, slot, seq, left);
	}
}

/* 1 if the slot still holds the message we started reading. */
static int still_intact(struct shmkit__topic_slot *slot, uint64_t seq)
{
	/* acquire fence: our reads of the bytes before the re-check; pairs with
	 * the publisher's release fence after it marks the slot odd. */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&slot->seq, memory_order_relaxed) == seq;
}

ssize_t shmkit_sub_recv(struct shmkit_sub *s, void *buf, size_t cap, int64_t timeout_ns)
{
	struct shmkit__topic_slot *slot;
	uint64_t seq;
	size_t len;

	if (!s || (!buf && cap))
		return -EINVAL;
	s->peeked = 0;
	for (;;) {
		int rc = next_message(s, timeout_ns, &slot, &seq, &len);
		if (rc < 0)
			return rc;
		if (len > cap) {
			if (still_intact(slot, seq))
				return -EMSGSIZE;
			continue;
		}
		if (len)
			memcpy(buf, shmkit__topic_slot_data(slot), len);
		if (still_intact(slot, seq)) {
			consume(s);
			return (ssize_t)len;
		}
		/* Overwritten while we copied: lost, and counted as such. */
		count_dropped(s, 1);
		consume(s);
	}
}

ssize_t shmkit_sub_peek(struct shmkit_sub *s, const void **msg, int64_t timeout_ns)
{
	struct shmkit__topic_slot *slot;
	uint64_t seq;
	size_t len;

	if (!s || !msg)
		return -EINVAL;
	if (s->peeked) {
		*msg = shmkit__topic_slot_data(shmkit__topic_slot(&s->t, s->pos));
		return (ssize_t)s->peek_len;
	}
	int rc = next_message(s, timeout_ns, &slot, &seq, &len);
	if (rc < 0)
		return rc;
	s->peeked = 1;
	s->peek_seq = seq;
	s->peek_len = len;
	*msg = shmkit__topic_slot_data(slot);
	return (ssize_t)len;
}

int shmkit_sub_release(struct shmkit_sub *s)
{
	if (!s || !s->peeked)
		return -EINVAL;
	s->peeked = 0;
	int intact = still_intact(shmkit__topic_slot(&s->t, s->pos), s->peek_seq);
	if (!intact)
		count_dropped(s, 1);
	consume(s);
	return intact ? 0 : -ESTALE;
}
