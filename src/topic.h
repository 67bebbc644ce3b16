/* SPDX-License-Identifier: MIT */
/* Private to the topic sources (topic.c, topic_pub.c, topic_sub.c): the
 * process-local view of a topic and the helpers both sides use. */
#ifndef SHMKIT_TOPIC_INTERNAL_H
#define SHMKIT_TOPIC_INTERNAL_H

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include <shmkit/pubsub.h>

#include "internal.h"
#include "layout.h"
#include "managed.h"
#include "sync/ec.h"

/* Geometry copied out of the segment once and validated: the hot paths use
 * only these, never the shared copies. */
struct shmkit__topic_geom {
	uint64_t slot_size;
	uint64_t slots;
	uint64_t slot_mask; /* slots - 1 when slots is a power of two, else 0 */
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
	struct shmkit__ec data_ec;  /* subscribers wait on it; its listeners are theirs */
	struct shmkit__ec space_ec; /* a reliable publisher waits on it for room */
};

_Static_assert(SHMKIT__LIVENESS_NS == (int64_t)SHMKIT_TOPIC_LIVENESS_MS * 1000000,
	       "the core's liveness slice is the documented topic bound");

static inline struct shmkit__topic_slot *shmkit__topic_slot(const struct shmkit__topic *t,
							    uint64_t index)
{
	/* a mask, not a 64-bit division, on each side of every message when
	 * the ring's length allows */
	uint64_t i = t->g.slot_mask ? index & t->g.slot_mask : index % t->g.slots;
	return (struct shmkit__topic_slot *)(t->ring + i * t->g.slot_stride);
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

/* 0 if the topic's processes (subscribers and publisher) outnumber the
 * CPUs: then a waiter yields from the start instead of spinning on a CPU
 * another participant needs. A hint read once per wait. */
int shmkit__topic_may_spin(const struct shmkit__topic *t);

/* The wait policy of a topic's waiters: the core's spin budget, or none
 * when the topic's processes outnumber the CPUs (then spinning takes the
 * CPU a peer needs; yield at once). */
void shmkit__topic_policy(const struct shmkit__topic *t, struct shmkit__wait_policy *pol);

/* Counts a subscriber in or out of n_subs (never below zero). */
void shmkit__topic_count_sub(struct shmkit__topic *t, int delta);

/* Fills the geometry for create options; -EINVAL for impossible ones. */
int shmkit__topic_geom_from_opts(struct shmkit__topic_geom *g, const struct shmkit_topic_opts *o);
/* Whether a create with these arguments could succeed anywhere: 0 when
 * each is in the library's range, else the negative errno, with its detail,
 * that the create returns for them (before it touches any URI). The CLI
 * calls it first: an argument no create takes is a usage error there. */
int shmkit__topic_create_check(const struct shmkit_topic_opts *o);
/* Creates the managed segment and initialises the body. */
int shmkit__topic_create(struct shmkit__topic *t, const char *uri,
			 const struct shmkit_topic_opts *o);
/* Opens and validates an existing topic. */
int shmkit__topic_open(struct shmkit__topic *t, const char *uri, int flags);
void shmkit__topic_close(struct shmkit__topic *t);

/* The identity of the publisher that pub_state word ps (ACTIVE or
 * CLAIMING) names, copied out (untrusted bytes) into *id; the one rule for
 * everyone who judges the publisher (claimers, subscribers, their
 * descriptors' pidfd, shmkit stat). True if the copy is that publisher's:
 * act_ident if ps is ACTIVE and act_state is ps, else pub_ident if
 * ident_state is ps's CLAIMING word (a publisher killed before it wrote
 * act_ident), or 0 (an older library's). False if it cannot be told: a
 * claim still writing (or killed before it wrote), or an ACTIVE publisher
 * between its CAS and act_ident whose pub_ident a claimer it took over from
 * wrote over; *id then holds pub_ident's bytes, which name nobody, for a
 * look that only compares them. Such a publisher is never judged dead. */
bool shmkit__topic_pub_ident(const struct shmkit__topic *t, uint64_t ps, struct shmkit__ident *id);
/* True if the publisher of ACTIVE word ps, whose identity is id, is this
 * process with another image's token (shmkit__ident_earlier_image()),
 * which goes to *image: an earlier image's claim only if the attach table
 * proves that image gone (shmkit__obj_earlier_image_gone()). */
bool shmkit__topic_pub_earlier_image(const struct shmkit__topic *t, uint64_t ps,
				     const struct shmkit__ident *id, uint32_t *image);

/* Liveness of a shared identity, copied out first (the bytes are untrusted). */
int shmkit__topic_ident_alive(const struct shmkit__topic *t, const struct shmkit__ident *shared_id);

/* Whether subscriber entry e, in state st with identity id (copied out),
 * is gone for good and may be freed: its process is provably dead, or it
 * closed its handle while a child forked with it held the descriptor
 * (left_state); and in either case no process still holds the socket of
 * its descriptor (that child may poll on). Found gone, its listener is
 * taken for the reap (FREE with REAPING, by CAS from the word judged):
 * a descriptor being made (CLAIMING) then fails to register, and none is
 * made after, instead of succeeding in the entry reaped under it; a claim
 * since the look makes it 0. */
int shmkit__topic_sub_gone(const struct shmkit__topic *t, struct shmkit__topic_sub_shared *e,
			   uint64_t st, const struct shmkit__ident *id);

/* Frees subscriber entry i if its state word is still `state` (it was found
 * dead). 1 if freed, 0 if it changed meanwhile. */
int shmkit__topic_reap(struct shmkit__topic *t, uint32_t i, uint64_t state);

#endif
