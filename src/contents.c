/* SPDX-License-Identifier: MIT */
/* What a managed object still holds, for gc (DESIGN §8): undelivered queue
 * messages, unread topic messages, heap allocations, map keys, raw bytes.
 * Read-only and untrusted: every word is read once and bounds-checked; what
 * cannot be read sensibly counts as "holds something" (gc keeps it). The
 * layouts are the ones in src/layout.h (docs/LAYOUT.md). */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "managed.h"

static uint64_t load64(const void *p)
{
	/* relaxed: a snapshot of words the object's users may be moving */
	return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

/* Slot i's commit marker (docs/LAYOUT.md "Queue": SPSC markers sit at the
 * start of each slot or in their own array; MPMC's is the slot's first word). */
static uint64_t queue_marker(const unsigned char *body, uint64_t markers_off, uint64_t stride,
			     uint64_t i)
{
	if (markers_off)
		return load64(body + markers_off + i * 8);
	return load64(body + SHMKIT__QUEUE_SLOTS_OFF + i * stride);
}

static int queue_holds(const unsigned char *body, size_t body_size, char *why, size_t cap)
{
	const struct shmkit__queue_shared *sh = (const void *)body;
	if (body_size < SHMKIT__QUEUE_SLOTS_OFF)
		return -EBADMSG;
	uint64_t n = sh->capacity, stride = sh->slot_stride, moff = sh->markers_off;
	uint64_t head = load64(&sh->head);
	int spsc = sh->flags == 0;
	if (n == 0 || (n & (n - 1)) || stride < 16 || n > (1u << 30) ||
	    n * stride > body_size - SHMKIT__QUEUE_SLOTS_OFF ||
	    (moff && (!spsc || moff > body_size || n * 8 > body_size - moff || moff % 8)))
		return -EBADMSG;
	/* A slot committed for a position in [head, head + n) is a message
	 * nobody has taken yet (consumed slots keep an older position, or,
	 * MPMC, become FREE). MPMC also: a message claimed (a consumer's, which
	 * comes back if that consumer dies) or handed back by a dead consumer
	 * (COMMITTED again behind head), at most a lap behind. */
	uint64_t pending = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t m = queue_marker(body, moff, stride, i);
		unsigned tag = m & 0xffu;
		if (spsc ? (uint32_t)((m >> 32) - (uint32_t)head) < n
			 : (tag == SHMKIT__QTAG_COMMITTED ||
			    (tag & ~SHMKIT__QTAG_PEER_MASK) == SHMKIT__QTAG_CLAIMED) &&
				   (m >> 8) - (head - n) < 2 * n)
			pending++;
	}
	if (!pending)
		return 0;
	snprintf(why, cap, "holds %llu undelivered message%s", (unsigned long long)pending,
		 pending == 1 ? "" : "s");
	return 1;
}

static int topic_holds(const unsigned char *body, size_t body_size, char *why, size_t cap)
{
	const struct shmkit__topic_shared *sh = (const void *)body;
	if (body_size < sizeof(*sh) || sh->magic != SHMKIT__TOPIC_MAGIC)
		return -EBADMSG;
	uint64_t subs_off = sh->subs_off, n = sh->max_subs, head = load64(&sh->head);
	if (n > SHMKIT__TOPIC_MAX_SUBS || subs_off > body_size ||
	    n * sizeof(struct shmkit__topic_sub_shared) > body_size - subs_off)
		return -EBADMSG;
	const struct shmkit__topic_sub_shared *subs = (const void *)(body + subs_off);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t st = load64(&subs[i].state), pos = load64(&subs[i].pos);
		/* Registered subscribers, alive or not: each was promised these. */
		if ((st & 0xffu) == SHMKIT__SUB_ACTIVE && pos < head) {
			snprintf(why, cap, "has %llu message%s unread by subscriber %llu",
				 (unsigned long long)(head - pos), head - pos == 1 ? "" : "s",
				 (unsigned long long)i);
			return 1;
		}
	}
	return 0;
}

static int heap_holds(const unsigned char *base, size_t size, int is_map, char *why, size_t cap)
{
	const struct shmkit__heap_shared *hs = (const void *)(base + SHMKIT__HEADER_SIZE);
	if (size < SHMKIT__HEADER_SIZE + sizeof(*hs) || hs->magic != SHMKIT__HEAP_MAGIC)
		return -EBADMSG;
	if (!is_map) {
		uint64_t used = hs->n_used;
		if (!used)
			return 0;
		snprintf(why, cap, "holds %llu allocation%s", (unsigned long long)used,
			 used == 1 ? "" : "s");
		return 1;
	}
	uint64_t root = hs->root; /* from the segment base */
	if (root < SHMKIT__HEADER_SIZE || root > size ||
	    size - root < sizeof(struct shmkit__map_shared))
		return -EBADMSG;
	const struct shmkit__map_shared *ms = (const void *)(base + root);
	if (ms->magic != SHMKIT__MAP_MAGIC)
		return -EBADMSG;
	uint64_t count = load64(&ms->count);
	if (!count)
		return 0;
	snprintf(why, cap, "holds %llu key%s", (unsigned long long)count, count == 1 ? "" : "s");
	return 1;
}

static int raw_holds(const unsigned char *base, size_t size, char *why, size_t cap)
{
	for (size_t i = SHMKIT__HEADER_SIZE; i < size; i++)
		if (base[i]) {
			snprintf(why, cap, "holds data (byte %zu of its data is not zero)",
				 i - SHMKIT__HEADER_SIZE);
			return 1;
		}
	return 0;
}

int shmkit__obj_holds(const void *base, size_t size, char *why, size_t cap)
{
	const struct shmkit__header *h = base;
	const unsigned char *b = base;
	if (size < SHMKIT__HEADER_SIZE)
		return -EBADMSG;
	int r;
	switch (h->kind) {
	case SHMKIT_KIND_QUEUE:
		r = queue_holds(b + SHMKIT__HEADER_SIZE, size - SHMKIT__HEADER_SIZE, why, cap);
		break;
	case SHMKIT_KIND_TOPIC:
		r = topic_holds(b + SHMKIT__HEADER_SIZE, size - SHMKIT__HEADER_SIZE, why, cap);
		break;
	case SHMKIT_KIND_HEAP:
	case SHMKIT_KIND_MAP:
		r = heap_holds(b, size, h->kind == SHMKIT_KIND_MAP, why, cap);
		break;
	case SHMKIT_KIND_RAW:
		r = raw_holds(b, size, why, cap);
		break;
	default:
		r = -EBADMSG;
	}
	if (r < 0)
		snprintf(why, cap, "cannot be read (corrupt?): it may hold data");
	return r;
}
