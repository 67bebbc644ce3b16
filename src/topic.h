/* Private to the topic sources (topic.c, topic_pub.c, topic_sub.c): the
 * process-local view of a topic and the helpers both sides use. */
#ifndef SHMKIT_TOPIC_INTERNAL_H
#define SHMKIT_TOPIC_INTERNAL_H

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include <shmkit/pubsub.h>

#include "futex.h"
#include "internal.h"
#include "layout.h"
#include "managed.h"

/* Geometry copied out of the segment once and validated: the hot paths use
 * only these, never the shared copies. */
struct shmkit__topic_geom {
	uint64_t slot_size;
	uint64_t slots;
	uint64_t slot_stride;
	uint64_t subs_off;
	uint64_t ring_off;
	uint64_t body_size;
	uint32_t max_subs;
	uint32_t reliable;
};

/* A process's mapping of a topic. */
struct shmkit__topic {
	struct shmkit__obj obj;
	struct shmkit__topic_shared *sh;
	struct shmkit__topic_sub_shared *subs;
	unsigned char *ring;
	struct shmkit__topic_geom g;
};

/* A wait first spins (checking every pause) for SPIN_NS, then spins giving
 * the CPU away between checks (sched_yield: lets the other side run on a
 * machine with fewer CPUs than busy processes) until YIELD_NS, then sleeps
 * on a futex in slices of at most SHMKIT_TOPIC_LIVENESS_MS. */
#define SHMKIT__TOPIC_SPIN_NS 5000
#define SHMKIT__TOPIC_YIELD_NS 50000
#define SHMKIT__TOPIC_SLICE_NS ((int64_t)SHMKIT_TOPIC_LIVENESS_MS * 1000000)

static inline struct shmkit__topic_slot *shmkit__topic_slot(const struct shmkit__topic *t,
							    uint64_t index)
{
	return (struct shmkit__topic_slot *)(t->ring + (index % t->g.slots) * t->g.slot_stride);
}

static inline unsigned char *shmkit__topic_slot_data(struct shmkit__topic_slot *slot)
{
	return (unsigned char *)slot + SHMKIT__TOPIC_SLOT_HDR;
}

static inline uint64_t shmkit__state_gen(uint64_t state)
{
	return state >> 8;
}

static inline uint32_t shmkit__state_kind(uint64_t state)
{
	return (uint32_t)(state & 0xff);
}

static inline uint64_t shmkit__state_make(uint64_t gen, uint32_t kind)
{
	return gen << 8 | kind;
}

/* Sleeps on a shared futex word while it holds val, for at most slice_ns. */
static inline void shmkit__topic_futex_wait(_Atomic uint32_t *word, uint32_t val, int64_t slice_ns)
{
	shmkit__futex_wait(word, val, shmkit__now_ns() + slice_ns);
}

/* Wakes every sleeper on word; how many were woken. */
static inline int shmkit__topic_futex_wake(_Atomic uint32_t *word)
{
	return shmkit__futex_wake(word, INT_MAX);
}

enum shmkit__topic_phase { SHMKIT__PHASE_SPIN, SHMKIT__PHASE_YIELD, SHMKIT__PHASE_SLEEP };

/* 1 if the topic's processes (subscribers and publisher) outnumber the CPUs:
 * then a waiter yields from the start instead of spinning on a CPU another
 * participant needs. A hint read once per wait. */
int shmkit__topic_crowded(const struct shmkit__topic *t);

/* Which phase a wait that began at `start` is in. */
static inline enum shmkit__topic_phase shmkit__topic_phase(int64_t start, int64_t now, int crowded)
{
	if (!crowded && now - start < SHMKIT__TOPIC_SPIN_NS)
		return SHMKIT__PHASE_SPIN;
	return now - start < SHMKIT__TOPIC_YIELD_NS ? SHMKIT__PHASE_YIELD : SHMKIT__PHASE_SLEEP;
}

/* Counts a subscriber in or out of n_subs (never below zero). */
void shmkit__topic_count_sub(struct shmkit__topic *t, int delta);

/* Spins a while (at most 256 pauses) as long as *word == val. */
static inline void shmkit__topic_spin_on(_Atomic uint64_t *word, uint64_t val)
{
	for (int i = 0; i < 256 && atomic_load_explicit(word, memory_order_relaxed) == val; i++)
		shmkit__spin_pause();
}

/* Fills the geometry for create options; -EINVAL for impossible ones. */
int shmkit__topic_geom_from_opts(struct shmkit__topic_geom *g, const struct shmkit_topic_opts *o);
/* Creates the managed segment and initialises the body. */
int shmkit__topic_create(struct shmkit__topic *t, const char *uri,
			 const struct shmkit_topic_opts *o);
/* Opens and validates an existing topic. */
int shmkit__topic_open(struct shmkit__topic *t, const char *uri, int flags);
void shmkit__topic_close(struct shmkit__topic *t);

/* Liveness of a shared identity, copied out first (the bytes are untrusted). */
int shmkit__topic_ident_alive(const struct shmkit__ident *shared_id);

/* Frees subscriber entry i if its state word is still `state` (it was found
 * dead); keeps the sleeper count right. 1 if freed, 0 if it changed meanwhile. */
int shmkit__topic_reap(struct shmkit__topic *t, uint32_t i, uint64_t state);

/* The remaining part of a wait: -1 forever, else ns to deadline (>= 0). */
static inline int64_t shmkit__topic_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - shmkit__now_ns();
	return left > 0 ? left : 0;
}

#endif
