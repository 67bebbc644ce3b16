/* SPDX-License-Identifier: MIT */
/* What a managed object still holds, for gc (DESIGN §8): undelivered queue
 * messages, unread topic messages, heap allocations, map keys, raw bytes.
 * Read-only and untrusted: every word is read once and bounds-checked; what
 * cannot be read sensibly counts as "holds something" (gc keeps it). The
 * layouts are the ones in src/layout.h (docs/LAYOUT.md). */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "managed.h"
#include "queue_internal.h"

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
	struct shmkit__queue_geometry g;
	if (body_size < SHMKIT__QUEUE_SLOTS_OFF || shmkit__queue_read_geometry(sh, body_size, &g) < 0)
		return -EBADMSG; /* what an open refuses is no queue to judge empty */
	uint64_t n = g.cap, head = load64(&sh->head), tail = load64(&sh->tail);
	int spsc = g.flags == 0;
	/* SPSC: head and tail are the consumer's and the producer's own
	 * positions, tail - head <= n; anything else is a scribble, and a head
	 * scribbled past the messages would make them look consumed. */
	if (spsc && tail - head > n)
		return -EBADMSG;
	/* SPSC: a slot committed for a position in [head, head + n) is a
	 * message nobody has taken yet (consumed slots keep an older position).
	 * MPMC: a slot COMMITTED or CLAIMED (a consumer's, which comes back if
	 * that consumer dies) holds one, wherever the head hint points: a
	 * consumed slot is FREE again. */
	uint64_t pending = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t m = queue_marker(body, g.markers_off, g.stride, i);
		unsigned tag = m & 0xffu;
		if (spsc ? (uint32_t)((m >> 32) - (uint32_t)head) < n
			 : tag == SHMKIT__QTAG_COMMITTED ||
				   (tag & ~SHMKIT__QTAG_PEER_MASK) == SHMKIT__QTAG_CLAIMED)
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
	if (n > SHMKIT__TOPIC_MAX_SUBS || subs_off > body_size || subs_off % 8 ||
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

/* Whether the heap's bitmap marks any live allocation: 1, 0, or -EBADMSG
 * when the words that place it do not fit the segment. */
static int heap_bitmap_marks(const unsigned char *base, size_t size,
			     const struct shmkit__heap_shared *hs)
{
	uint64_t off = hs->bitmap_off, a0 = hs->arena_off, a1 = hs->arena_end;
	if (a0 > a1 || a1 > size || off > size)
		return -EBADMSG;
	uint64_t bytes = ((a1 - a0) / 16 + 7) / 8; /* one bit per 16 arena bytes */
	if (bytes > size - off)
		return -EBADMSG;
	for (uint64_t i = 0; i < bytes; i++)
		if (base[off + i])
			return 1;
	return 0;
}

/* Whether any bucket of the map holds a pair (inline or chained). */
static int map_buckets_hold(const unsigned char *base, size_t size,
			    const struct shmkit__map_shared *ms)
{
	uint64_t nb = ms->nbuckets, off = ms->buckets_off;
	const size_t bsz = sizeof(struct shmkit__map_bucket);
	if (nb == 0 || (nb & (nb - 1)) || off % 64 || off > size || nb > (size - off) / bsz)
		return -EBADMSG;
	const struct shmkit__map_bucket *b = (const void *)(base + off);
	for (uint64_t i = 0; i < nb; i++)
		if (load64(&b[i].chain) != 0 || b[i].klen != SHMKIT__MAP_NONE)
			return 1;
	return 0;
}

/* A heap or map holds nothing only if its counter and its own structure
 * agree (the bitmap: no live allocation; the buckets: no pair): a zeroed
 * counter alone said "empty" and gc removed what it held. */
static int heap_holds(const unsigned char *base, size_t size, int is_map, char *why, size_t cap)
{
	const struct shmkit__heap_shared *hs = (const void *)(base + SHMKIT__HEADER_SIZE);
	if (size < SHMKIT__HEADER_SIZE + sizeof(*hs) || hs->magic != SHMKIT__HEAP_MAGIC)
		return -EBADMSG;
	if (!is_map) {
		uint64_t used = hs->n_used;
		int marks = heap_bitmap_marks(base, size, hs);
		if (marks < 0 || (used == 0) != (marks == 0))
			return -EBADMSG;
		if (!used)
			return 0;
		snprintf(why, cap, "holds %llu allocation%s", (unsigned long long)used,
			 used == 1 ? "" : "s");
		return 1;
	}
	uint64_t root = hs->root; /* from the segment base */
	if (root < SHMKIT__HEADER_SIZE || root > size || root % 8 ||
	    size - root < sizeof(struct shmkit__map_shared))
		return -EBADMSG;
	const struct shmkit__map_shared *ms = (const void *)(base + root);
	if (ms->magic != SHMKIT__MAP_MAGIC)
		return -EBADMSG;
	uint64_t count = load64(&ms->count);
	int pairs = map_buckets_hold(base, size, ms);
	if (pairs < 0 || (count == 0) != (pairs == 0))
		return -EBADMSG;
	if (!count)
		return 0;
	snprintf(why, cap, "holds %llu key%s", (unsigned long long)count, count == 1 ? "" : "s");
	return 1;
}

/* Where the next stretch that may hold data is, from `from`: [*from, *to),
 * false past the last. With a descriptor the holes (zeros) are skipped, so
 * a sparse terabyte is a few seeks, not a terabyte of zero pages read. */
static bool next_data(int fd, size_t size, size_t *from, size_t *to)
{
	*to = size;
	if (fd < 0)
		return *from < size;
	off_t d = lseek(fd, (off_t)*from, SEEK_DATA);
	if (d < 0)
		return errno != ENXIO && *from < size; /* ENXIO: only a hole is left */
	if ((uint64_t)d >= size)
		return false;
	off_t h = lseek(fd, d, SEEK_HOLE);
	*from = (size_t)d;
	if (h > d && (uint64_t)h < size)
		*to = (size_t)h;
	return true;
}

static int raw_holds(const unsigned char *base, size_t size, int fd, char *why, size_t cap)
{
	size_t from = SHMKIT__HEADER_SIZE, to;
	while (next_data(fd, size, &from, &to)) {
		for (size_t i = from; i < to; i++)
			if (base[i]) {
				snprintf(why, cap, "holds data (byte %zu of its data is not zero)",
					 i - SHMKIT__HEADER_SIZE);
				return 1;
			}
		from = to;
	}
	return 0;
}

int shmkit__obj_holds(const void *base, size_t size, int fd, char *why, size_t cap)
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
		r = raw_holds(b, size, fd, why, cap);
		break;
	default:
		r = -EBADMSG;
	}
	if (r < 0)
		snprintf(why, cap, "cannot be read (corrupt?): it may hold data");
	return r;
}
