/* SPDX-License-Identifier: MIT */
/* Topics: geometry, create/open/validate, liveness and futex helpers, and the
 * read-only description used by `shmkit stat`. The publisher's side is in
 * topic_pub.c, the subscribers' in topic_sub.c. */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "sync/listener.h"
#include "topic.h"

#define ROUND_UP(x, a) (((x) + (a)-1) / (a) * (a))

/* Largest slot and ring we accept: keeps every product below 2^62. */
#define MAX_SLOT_SIZE ((uint64_t)1 << 32)
#define MAX_SLOTS ((uint64_t)1 << 24)
#define MAX_BODY ((uint64_t)1 << 46)

int shmkit__topic_geom_from_opts(struct shmkit__topic_geom *g, const struct shmkit_topic_opts *o)
{
	if (!o)
		return -EINVAL;
	uint64_t slot_size = o->slot_size; /* compared as 64 bits: size_t is 32 on i386 */
	if (slot_size == 0 || o->slots == 0 || slot_size > MAX_SLOT_SIZE || o->slots > MAX_SLOTS ||
	    o->max_subs > SHMKIT__TOPIC_MAX_SUBS)
		return -EINVAL;
	if (shmkit__reserved_zero(o->reserved, sizeof(o->reserved), "topic options") < 0)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->slot_size = o->slot_size;
	g->slots = o->slots;
	g->slot_mask = (o->slots & (o->slots - 1)) == 0 ? o->slots - 1 : 0;
	g->slot_stride = shmkit__slot_stride(SHMKIT__TOPIC_SLOT_HDR + (uint64_t)o->slot_size);
	g->max_subs = o->max_subs ? o->max_subs : SHMKIT_TOPIC_DEFAULT_SUBS;
	g->reliable = o->reliable ? 1 : 0;
	g->subs_off = sizeof(struct shmkit__topic_shared);
	g->ring_off = ROUND_UP(
	    g->subs_off + (uint64_t)g->max_subs * sizeof(struct shmkit__topic_sub_shared), 4096);
	g->body_size = g->ring_off + g->slots * g->slot_stride;
	if (g->body_size > MAX_BODY || g->body_size > SIZE_MAX)
		return -EINVAL;
	return 0;
}

/* Recomputes the geometry from the shared copy and insists it is exactly what
 * a creator with those options would have written: anything else is corrupt. */
static int geom_validate(struct shmkit__topic_geom *g, const struct shmkit__topic_shared *sh,
			 size_t body_size)
{
	/* Each field read once into a local: another process may be rewriting them. */
	uint64_t magic = sh->magic, slot_size = sh->slot_size, slots = sh->slots;
	uint64_t stride = sh->slot_stride, subs_off = sh->subs_off, ring_off = sh->ring_off;
	uint64_t size = sh->body_size;
	uint32_t max_subs = sh->max_subs, reliable = sh->reliable;

	if (magic != SHMKIT__TOPIC_MAGIC || max_subs == 0 || reliable > 1 ||
	    slot_size > MAX_SLOT_SIZE || slots > MAX_SLOTS)
		return -EBADMSG;
	struct shmkit_topic_opts o = {
	    .slot_size = (size_t)slot_size,
	    .slots = (size_t)slots,
	    .reliable = (int)reliable,
	    .max_subs = max_subs,
	};
	if (shmkit__topic_geom_from_opts(g, &o) < 0)
		return -EBADMSG;
	if (stride != g->slot_stride &&
	    stride == shmkit__slot_stride_lines(SHMKIT__TOPIC_SLOT_HDR + slot_size)) {
		/* made before slots shared lines: the same topic, longer slots */
		g->slot_stride = stride;
		g->body_size = g->ring_off + slots * stride;
		if (g->body_size > MAX_BODY || g->body_size > SIZE_MAX)
			return -EBADMSG;
	}
	if (g->slot_stride != stride || g->subs_off != subs_off || g->ring_off != ring_off ||
	    g->body_size != size || g->body_size > body_size)
		return -EBADMSG;
	return 0;
}

static int topic_init_body(void *body, size_t body_size, void *arg)
{
	const struct shmkit__topic_geom *g = arg;
	struct shmkit__topic_shared *sh = body;

	if (body_size < g->body_size)
		return -EINVAL;
	/* The body may be a re-initialisation after a creator died: start clean. */
	memset(body, 0, (size_t)g->ring_off);
	for (uint64_t i = 0; i < g->slots; i++) {
		struct shmkit__topic_slot *slot =
		    (void *)((unsigned char *)body + g->ring_off + i * g->slot_stride);
		atomic_store_explicit(&slot->seq, 0, memory_order_relaxed);
		atomic_store_explicit(&slot->len, 0, memory_order_relaxed);
	}
	sh->magic = SHMKIT__TOPIC_MAGIC;
	sh->slot_size = g->slot_size;
	sh->slots = g->slots;
	sh->slot_stride = g->slot_stride;
	sh->subs_off = g->subs_off;
	sh->ring_off = g->ring_off;
	sh->max_subs = g->max_subs;
	sh->reliable = g->reliable;
	sh->body_size = g->body_size;
	shmkit__ec_init_shared(&sh->data_ec);
	shmkit__ec_init_shared(&sh->space_ec);
	/* Published by the managed layer's release store of READY. */
	return 0;
}

/* The local views; -EBADMSG if an eventcount's mode is not one we know.
 * The subscribers' descriptor listeners sit in their table entries. */
/* lis_table.judge: a subscriber of another pid namespace, by its attach
 * slot's lock. */
static int topic_judge(const void *obj, const struct shmkit__ident *id)
{
	return shmkit__obj_ident_alive(obj, id);
}

static int topic_bind(struct shmkit__topic *t)
{
	unsigned char *body = t->obj.body;
	t->sh = (struct shmkit__topic_shared *)body;
	t->subs = (struct shmkit__topic_sub_shared *)(body + t->g.subs_off);
	t->ring = body + t->g.ring_off;
	struct shmkit__lis_table lis = {
		.base = (unsigned char *)&t->subs[0].listener,
		.stride = sizeof(t->subs[0]),
		.ident_off = (ptrdiff_t)offsetof(struct shmkit__topic_sub_shared, ident) -
			     (ptrdiff_t)offsetof(struct shmkit__topic_sub_shared, listener),
		.n = t->g.max_subs,
		.end = &t->sh->lis_end,
		.judge = topic_judge,
		.judge_ctx = &t->obj,
	};
	if (shmkit__ec_bind(&t->data_ec, &t->sh->data_ec, 0, &lis) < 0 ||
	    shmkit__ec_bind(&t->space_ec, &t->sh->space_ec, 0, NULL) < 0)
		return -EBADMSG;
	return 0;
}

/* Say which bound a create's options break: "Invalid argument" alone left a
 * user guessing (a queue's create says it). Not in geom_from_opts: that
 * also checks a shared copy, which is corrupt (-EBADMSG), not a bad call. */
static int create_opts_check(const struct shmkit_topic_opts *o)
{
	if (!o)
		return -EINVAL;
	/* 0 wraps to the top: one compare, and no always-false one where
	 * size_t has 32 bits (i386: -Werror=type-limits) */
	if ((uint64_t)o->slot_size - 1 >= MAX_SLOT_SIZE)
		return shmkit__fail(-EINVAL, "slot_size %zu is not 1 to %llu bytes", o->slot_size,
				    (unsigned long long)MAX_SLOT_SIZE);
	if (o->slots == 0 || (uint64_t)o->slots > MAX_SLOTS)
		return shmkit__fail(-EINVAL, "slots %zu is not 1 to %llu", o->slots,
				    (unsigned long long)MAX_SLOTS);
	if (o->max_subs > SHMKIT__TOPIC_MAX_SUBS)
		return shmkit__fail(-EINVAL, "max_subs %u is more than %u", o->max_subs,
				    SHMKIT__TOPIC_MAX_SUBS);
	return 0;
}

/* Options each in range that shmkit__topic_geom_from_opts refused all the
 * same: the ring too large (`--slots 16M --slot-size 4G`), or reserved
 * bytes set (their own detail is said). */
static int topic_opts_refused(const struct shmkit_topic_opts *o)
{
	if (shmkit__reserved_zero(o->reserved, sizeof(o->reserved), "topic options") < 0)
		return -EINVAL;
	return shmkit__fail(-EINVAL,
			    "%zu slots of %zu bytes, %u subscribers: the ring must be at most %llu TiB",
			    o->slots, o->slot_size,
			    o->max_subs ? o->max_subs : SHMKIT_TOPIC_DEFAULT_SUBS,
			    (unsigned long long)(MAX_BODY >> 40));
}

int shmkit__topic_create_check(const struct shmkit_topic_opts *o)
{
	struct shmkit__topic_geom g;
	int rc;

	shmkit__detail_clear();
	if ((rc = create_opts_check(o)) < 0)
		return rc;
	return shmkit__topic_geom_from_opts(&g, o) < 0 ? topic_opts_refused(o) : 0;
}

int shmkit__topic_create(struct shmkit__topic *t, const char *uri,
			 const struct shmkit_topic_opts *o)
{
	int rc;

	memset(t, 0, sizeof(*t));
	rc = create_opts_check(o);
	if (rc < 0)
		return rc;
	rc = shmkit__topic_geom_from_opts(&t->g, o);
	if (rc < 0)
		return topic_opts_refused(o);
	rc = shmkit__obj_create(&t->obj, uri, SHMKIT_KIND_TOPIC, (size_t)t->g.body_size,
				o->mode ? o->mode : 0600, topic_init_body, &t->g);
	if (rc < 0)
		return rc;
	rc = topic_bind(t);
	if (rc < 0)
		shmkit__obj_close(&t->obj);
	return rc;
}

int shmkit__topic_open(struct shmkit__topic *t, const char *uri, int flags)
{
	int rc;

	memset(t, 0, sizeof(*t));
	/* A look never waits for a creator still initializing it (-EAGAIN). */
	rc = (flags & SHMKIT_LOOK) ? shmkit__obj_look(&t->obj, uri, SHMKIT_KIND_TOPIC)
				   : shmkit__obj_open(&t->obj, uri, SHMKIT_KIND_TOPIC, flags);
	if (rc < 0)
		return rc;
	if (t->obj.body_size < sizeof(struct shmkit__topic_shared)) {
		rc = -EBADMSG;
	} else {
		rc = geom_validate(&t->g, t->obj.body, t->obj.body_size);
	}
	if (rc == 0)
		rc = topic_bind(t);
	if (rc < 0) {
		shmkit__obj_close(&t->obj);
		return rc;
	}
	return 0;
}

void shmkit__topic_close(struct shmkit__topic *t)
{
	shmkit__obj_close(&t->obj);
	t->sh = NULL;
	t->subs = NULL;
	t->ring = NULL;
}

/* A seqlock read: true if *word was `want` before and after the copy of
 * *src into *id, so that the copy is whole and the one its writer stored
 * `want` after. Writers store another value, then a release fence, then
 * the bytes, then `want` with release (pub_take, pub_name_active). */
static bool ident_copy(const _Atomic uint64_t *word, uint64_t want,
		       const struct shmkit__ident *src, struct shmkit__ident *id)
{
	/* acquire: pairs with the writer's release store of `want` after its bytes */
	if (atomic_load_explicit(word, memory_order_acquire) != want)
		return false;
	memcpy(id, src, sizeof(*id));
	/* acquire fence: the copy before the re-check; pairs with the next
	 * writer's release fence after its first store, before its bytes */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(word, memory_order_relaxed) == want;
}

bool shmkit__topic_pub_ident(const struct shmkit__topic *t, uint64_t ps, struct shmkit__ident *id)
{
	const struct shmkit__topic_shared *sh = t->sh;
	uint64_t claim = shmkit__state_make(shmkit__state_gen(ps), SHMKIT__PUB_CLAIMING);
	bool active = shmkit__state_kind(ps) == SHMKIT__PUB_ACTIVE;

	/* act_ident first: only the claim whose CAS to ACTIVE succeeded
	 * writes there. pub_ident only if the claim of ps wrote it last: a
	 * claimer stopped while it wrote (past its last look in pub_take),
	 * its claim taken over, writes its identity there when it goes on
	 * (its CAS to ACTIVE then fails), and judged by it the live
	 * publisher was dead once that claimer exited (-EPIPE while it
	 * published; taken over: two publishers) */
	if (active && ident_copy(&sh->act_state, ps, &sh->act_ident, id))
		return true;
	if (ident_copy(&sh->ident_state, claim, &sh->pub_ident, id))
		return true;
	/* 0: no claimer since the topic was made stored ident_state, so an
	 * older library's publisher wrote pub_ident (judged by it, as it was) */
	if (active && ident_copy(&sh->ident_state, 0, &sh->pub_ident, id))
		return true;
	if (active) {
		/* seq_cst: pairs with the RMW in pub_wake_listeners(): either
		 * we see act_state naming the publisher now, or it sees the
		 * listener armed before and wakes it (whose subscriber then
		 * looks again) */
		atomic_thread_fence(memory_order_seq_cst);
		if (ident_copy(&sh->act_state, ps, &sh->act_ident, id))
			return true;
	}
	memcpy(id, &sh->pub_ident, sizeof(*id));
	return false;
}

bool shmkit__topic_pub_earlier_image(const struct shmkit__topic *t, uint64_t ps,
				     const struct shmkit__ident *id, uint32_t *image_out)
{
	const struct shmkit__topic_shared *sh = t->sh;
	struct shmkit__ident named;

	if (shmkit__state_kind(ps) != SHMKIT__PUB_ACTIVE)
		return false;
	/* the seqlock of ident_copy(), the token with the identity */
	if (atomic_load_explicit(&sh->act_state, memory_order_acquire) != ps)
		return false;
	memcpy(&named, &sh->act_ident, sizeof(named));
	uint32_t image = sh->act_image;
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&sh->act_state, memory_order_relaxed) != ps)
		return false;
	*image_out = image;
	return memcmp(&named, id, sizeof(named)) == 0 &&
	       shmkit__ident_earlier_image(&named, image, UINT32_MAX);
}

int shmkit__topic_ident_alive(const struct shmkit__topic *t, const struct shmkit__ident *shared_id)
{
	struct shmkit__ident id;

	memcpy(&id, shared_id, sizeof(id));
	if (id.pid == 0 || id.pid > INT_MAX)
		return 0;
	/* The object's attach table knows more than /proc about processes in
	 * other pid namespaces (their kernel locks). */
	return shmkit__obj_ident_alive(&t->obj, &id);
}

/* Takes listener l, judged as `judged`, for the reap that follows (FREE
 * with REAPING, a new generation): a claim that comes later is refused
 * (shmkit_sub_fd says -EBADMSG), and one that came since makes the CAS
 * fail (not gone: looked at again next time). A reaper that judged the
 * listener before a claim freed the entry under the descriptor the claim
 * then handed out (round 27). A waker's move of the same registration
 * (ARMED to IDLE|PENDING, PENDING down: the generation kept) changes
 * nothing judged: try again. acq_rel: against the claimer's CAS. */
static int take_for_reap(struct shmkit__listener_shared *l, uint32_t judged)
{
	uint32_t ls = judged;

	/* bounded: a word moved on every try is a scribbler's */
	for (int tries = 0; tries < 8; tries++) {
		uint32_t reaping = shmkit__lis_make((ls >> 4) + 1, 0, SHMKIT__LIS_FREE) |
				   SHMKIT__LIS_REAPING;
		if (atomic_compare_exchange_strong_explicit(&l->state, &ls, reaping,
							    memory_order_acq_rel,
							    memory_order_relaxed))
			return 1;
		if (ls >> 4 != judged >> 4 || shmkit__lis_kind(ls) == SHMKIT__LIS_CLAIMING ||
		    shmkit__lis_kind(ls) == SHMKIT__LIS_FREE)
			return 0;
	}
	return 0;
}

/* Whether subscriber e (state st, identity id) is this process's from an
 * image it replaced by execve(2) (shmkit__ident_earlier_image), and the
 * attach table proves that image gone (shmkit__obj_earlier_image_gone: a
 * second copy of the library, or a child forked before the exec, may
 * still read through it). */
static bool sub_earlier_image(const struct shmkit__topic *t, struct shmkit__topic_sub_shared *e,
			      uint64_t st, const struct shmkit__ident *id)
{
	uint32_t image = __atomic_load_n(&e->image, __ATOMIC_RELAXED);
	/* acquire fence: the token before the re-check; a new claim of the
	 * entry moves its state (a seqlock read, as ident_copy's) */
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&e->state, memory_order_relaxed) != st)
		return false;
	return shmkit__ident_earlier_image(id, image, UINT32_MAX) &&
	       shmkit__obj_earlier_image_gone(&t->obj, image);
}

int shmkit__topic_sub_gone(const struct shmkit__topic *t, struct shmkit__topic_sub_shared *e,
			   uint64_t st, const struct shmkit__ident *id)
{
	SHMKIT__TEST_POINT("topic.sub.gone");
	/* relaxed: a stale word only keeps the entry for the next look */
	if (atomic_load_explicit(&e->left_state, memory_order_relaxed) != st &&
	    !sub_earlier_image(t, e, st, id) && shmkit__topic_ident_alive(t, id) != 0)
		return 0;
	/* acquire: pairs with a joiner's release of its activation's word,
	 * which it stores after its claim of the entry: a word of the entry's
	 * next subscriber makes the look at the entry below see it moved */
	uint32_t ls = atomic_load_explicit(&e->listener.state, memory_order_acquire);
	uint32_t kind = shmkit__lis_kind(ls);
	/* The entry judged may have been reaped and taken by a new subscriber
	 * since our caller read st (and the identity): the listener is then
	 * that subscriber's, and taken below it would stay REAPING (our reap's
	 * CAS fails), its descriptor never readable again. Its generation only
	 * grows: seen here still, the listener we read was the judged one's */
	if (atomic_load_explicit(&e->state, memory_order_acquire) != st)
		return 0;
	SHMKIT__TEST_POINT("topic.sub.judged");
	/* a bind test, two system calls: only for an entry found gone
	 * otherwise. A descriptor being made (CLAIMING) by a process we
	 * cannot name (killed there, or about to register) is taken over
	 * below, so that its register fails (-EAGAIN) rather than succeed in
	 * the entry we free */
	if ((kind == SHMKIT__LIS_IDLE || kind == SHMKIT__LIS_ARMED) &&
	    shmkit__lis_held(&e->listener, id))
		return 0;
	return take_for_reap(&e->listener, ls);
}

int shmkit__topic_may_spin(const struct shmkit__topic *t)
{
	/* relaxed: a cache of a constant; threads that race both store it */
	static _Atomic long cached_cpus;
	long cpus = atomic_load_explicit(&cached_cpus, memory_order_relaxed);

	if (cpus == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cpus = n > 0 ? n : 1;
		atomic_store_explicit(&cached_cpus, cpus, memory_order_relaxed);
	}
	/* relaxed: a hint read once per wait */
	uint32_t subs = atomic_load_explicit(&t->sh->n_subs, memory_order_relaxed);
	return (long)subs + 1 <= cpus;
}

void shmkit__topic_policy(const struct shmkit__topic *t, struct shmkit__wait_policy *pol)
{
	int64_t spin = shmkit__copy_ns(t->g.slot_size); /* large messages: src/copy.h */
	pol->spin_ns = !shmkit__topic_may_spin(t) ? 0 : spin > SHMKIT__SPIN_NS ? spin : SHMKIT__SPIN_NS;
	pol->yields = SHMKIT__YIELDS;
	pol->slice_ns = SHMKIT__LIVENESS_NS;
	pol->before_sleep = NULL;
}

void shmkit__topic_count_sub(struct shmkit__topic *t, int delta)
{
	_Atomic uint32_t *n = &t->sh->n_subs;
	uint32_t v = atomic_load_explicit(n, memory_order_relaxed);

	/* Relaxed: a hint only. */
	while (!(delta < 0 && v == 0) &&
	       !atomic_compare_exchange_weak_explicit(n, &v, v + (uint32_t)delta,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

int shmkit__topic_reap(struct shmkit__topic *t, uint32_t i, uint64_t state)
{
	struct shmkit__topic_sub_shared *e = &t->subs[i];
	uint64_t freed = shmkit__state_make(shmkit__state_gen(state) + 1, SHMKIT__SUB_FREE);

	/* acq_rel: our read of its identity happened before; a joiner that
	 * claims it next sees FREE only after that. */
	if (!atomic_compare_exchange_strong_explicit(&e->state, &state, freed, memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	if (shmkit__state_kind(state) == SHMKIT__SUB_ACTIVE) /* a claim was not counted in */
		shmkit__topic_count_sub(t, -1);
	return 1;
}

/* ---- description for `shmkit stat` ---- */

static int pub_state_public(uint32_t kind)
{
	switch (kind) {
	case SHMKIT__PUB_ACTIVE:
	case SHMKIT__PUB_CLAIMING:
		return SHMKIT_TOPIC_PUB_ACTIVE;
	case SHMKIT__PUB_CLOSED:
		return SHMKIT_TOPIC_PUB_CLOSED;
	default:
		return SHMKIT_TOPIC_PUB_NONE;
	}
}

int shmkit_topic_stat(const char *uri, struct shmkit_topic_info *info,
		      struct shmkit_topic_sub_info *subs, size_t cap)
{
	shmkit__detail_clear();
	struct shmkit__topic t;
	int rc;

	if (!uri || !info || (cap && !subs))
		return -EINVAL;
	rc = shmkit__topic_open(&t, uri, SHMKIT_RDONLY | SHMKIT_LOOK);
	if (rc < 0)
		return rc;
	memset(info, 0, sizeof(*info));
	info->slot_size = (size_t)t.g.slot_size;
	info->slots = (size_t)t.g.slots;
	info->reliable = (int)t.g.reliable;
	info->max_subs = t.g.max_subs;
	/* Relaxed counters: a snapshot for people, not a synchronisation. */
	info->published = atomic_load_explicit(&t.sh->head, memory_order_relaxed);
	info->bytes_published = atomic_load_explicit(&t.sh->bytes_published, memory_order_relaxed);
	/* acquire: pairs with the claimer's release CAS to ACTIVE
	 * (pub_take): the claim's ident_state and pub_ident, stored before
	 * it, are what shmkit__topic_pub_ident() reads (relaxed, it could
	 * see an older claim's word and say "not yet named", pid 0) */
	uint64_t ps = atomic_load_explicit(&t.sh->pub_state, memory_order_acquire);
	info->pub_state = pub_state_public(shmkit__state_kind(ps));
	info->pub_alive = -ENOENT; /* no publisher attached */
	if (shmkit__state_kind(ps) == SHMKIT__PUB_ACTIVE) {
		struct shmkit__ident id;
		info->pub_alive = -EAGAIN; /* being named, or never will be */
		if (shmkit__topic_pub_ident(&t, ps, &id)) {
			info->pub_pid = (pid_t)id.pid;
			info->pub_alive = shmkit__topic_ident_alive(&t, &id);
		}
	}
	for (uint32_t i = 0; i < t.g.max_subs; i++) {
		struct shmkit__topic_sub_shared *e = &t.subs[i];
		uint64_t st = atomic_load_explicit(&e->state, memory_order_relaxed);
		if (shmkit__state_kind(st) != SHMKIT__SUB_ACTIVE)
			continue;
		if (info->n_subs < cap) {
			struct shmkit_topic_sub_info *si = &subs[info->n_subs];
			memset(si, 0, sizeof(*si));
			si->pid = (pid_t)e->ident.pid;
			si->alive = shmkit__topic_ident_alive(&t, &e->ident);
			si->position = atomic_load_explicit(&e->pos, memory_order_relaxed);
			si->dropped = atomic_load_explicit(&e->dropped, memory_order_relaxed);
			si->bytes_received =
			    atomic_load_explicit(&e->bytes_received, memory_order_relaxed);
			uint32_t ls = atomic_load_explicit(&e->listener.state, memory_order_relaxed);
			si->sleeping =
			    atomic_load_explicit(&e->sleeping, memory_order_relaxed) != 0 ||
			    shmkit__lis_waiting(ls);
		}
		info->n_subs++;
	}
	shmkit__topic_close(&t);
	return 0;
}
