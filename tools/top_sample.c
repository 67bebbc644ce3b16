/* SPDX-License-Identifier: MIT */
/* shmkit top: read each object's counters from a copy of its segment's
 * first bytes (pread from a read-only descriptor: a peer that truncates the
 * file makes a short read, where a mapping would die of SIGBUS), checked
 * like any untrusted shared memory. Only posix: and file: segments are read:
 * attaching a SysV segment would change its last-user pid and times, which
 * gc's proofs read (DESIGN §8), so SysV objects show their kind and size
 * with no counters. Layout: docs/LAYOUT.md. */
#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "layout.h"
#include "managed.h"
#include "sync/listener.h"
#include "top_sample.h"

#define LD(p) atomic_load_explicit(&(p), memory_order_relaxed) /* a snapshot: relaxed */

/* Whether someone sleeps on an eventcount's futex (bit 0 of its word). Its
 * bit 1 only says a descriptor may be armed and stays set after that
 * listener is gone (a bridge that exited showed 'sleepers 1' for good):
 * descriptors are counted from their own entries (listener_armed). */
static uint64_t ec_sleepers(struct shmkit__ec_shared *ec)
{
	return LD(ec->word) & 1u;
}

/* 1 if a descriptor listener's owner waits on it (in poll/epoll): ARMED,
 * or IDLE|PENDING, its token not arrived (docs/LAYOUT.md). */
static uint64_t listener_armed(struct shmkit__listener_shared *l)
{
	return shmkit__lis_waiting(LD(l->state)) != 0;
}

static void read_queue(struct top_obj *o, const unsigned char *body, size_t n)
{
	const struct shmkit__queue_shared *q = (const void *)body;

	/* a queue has no magic of its own: a body another program zeroed (cut
	 * to its header page and grown back) or scribbled shows no counters,
	 * not a queue of capacity 0 (docs/LAYOUT.md: a power of two, 1..2^30) */
	uint32_t cap = n < sizeof *q ? 0 : q->capacity, max_msg = n < sizeof *q ? 0 : q->max_msg;
	if (cap == 0 || cap > (1u << 30) || (cap & (cap - 1)) || max_msg == 0 || max_msg > (1u << 30))
		return;
	uint64_t tail = LD(((struct shmkit__queue_shared *)q)->tail);
	uint64_t head = LD(((struct shmkit__queue_shared *)q)->head);
	uint64_t skipped = LD(((struct shmkit__queue_shared *)q)->skipped);
	o->capacity = cap;
	o->depth = tail - head <= o->capacity ? tail - head : 0;
	o->msgs_in = tail;
	o->msgs_out = head;
	o->bytes_in = LD(((struct shmkit__queue_shared *)q)->bytes_sent);
	o->bytes_out = LD(((struct shmkit__queue_shared *)q)->bytes_received);
	/* MPMC handles count in their peer entries (docs/LAYOUT.md); SPSC's are 0 */
	for (unsigned k = 0; k < SHMKIT__QUEUE_PEERS; k++) {
		o->bytes_in += LD(((struct shmkit__queue_shared *)q)->peers[k].bytes_sent);
		o->bytes_out += LD(((struct shmkit__queue_shared *)q)->peers[k].bytes_received);
	}
	o->drops = skipped; /* a dead consumer's message is handed back, not dropped */
	o->sleepers = ec_sleepers(&((struct shmkit__queue_shared *)q)->data_ec) +
		      ec_sleepers(&((struct shmkit__queue_shared *)q)->space_ec);
	for (unsigned k = 0; k < SHMKIT__QUEUE_LISTENERS; k++)
		o->sleepers += listener_armed(&((struct shmkit__queue_shared *)q)->listeners[k].l);
	o->readable = 1;
}

/* len bytes at off of the segment's file into buf: 0, or -1 (shorter now). */
static int read_at(int fd, uint64_t off, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t got = pread(fd, p, len, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		off += (uint64_t)got;
		len -= (size_t)got;
	}
	return 0;
}

/* Whether subscriber entry e, ACTIVE in word st, names a process provably
 * gone (killed before it closed, not yet reaped by a publisher). Its
 * identity is copied and kept only if the word did not move meanwhile; a
 * process in another pid namespace, or one /proc cannot judge, counts as
 * present. e is in our copy; its word is read again from the file (offset
 * e_off), as the copy read it before the identity. */
static bool sub_dead(const struct shmkit__topic_sub_shared *e, uint64_t st, int fd,
		     uint64_t e_off)
{
	struct shmkit__ident id;
	uint64_t now;

	memcpy(&id, (const void *)&e->ident, sizeof id); /* from the copy: after st */
	if (read_at(fd, e_off + offsetof(struct shmkit__topic_sub_shared, state), &now,
		    sizeof now) < 0 || now != st)
		return false;
	return id.pid != 0 && id.pid <= INT32_MAX && shmkit__ident_alive(&id) == 0;
}

static void read_topic(struct top_obj *o, const unsigned char *body, size_t n, int fd)
{
	struct shmkit__topic_shared *t = (void *)body;

	if (n < sizeof *t || t->magic != SHMKIT__TOPIC_MAGIC)
		return;
	uint64_t subs_off = t->subs_off, max = t->max_subs;
	/* unaligned: a scribble, read through a struct pointer it would be UB */
	if (max > SHMKIT__TOPIC_MAX_SUBS || subs_off > n || subs_off % 8 ||
	    max * sizeof(struct shmkit__topic_sub_shared) > n - subs_off)
		return;
	uint64_t head = LD(t->head), min_pos = head;
	struct shmkit__topic_sub_shared *subs = (void *)(body + subs_off);
	o->capacity = t->slots;
	o->msgs_in = head;
	o->msgs_out = 0;
	o->bytes_in = LD(t->bytes_published);
	o->bytes_out = 0;
	o->sub_state = calloc(max ? max : 1, sizeof *o->sub_state);
	o->sub_pos = calloc(max ? max : 1, sizeof *o->sub_pos);
	o->sub_bytes = calloc(max ? max : 1, sizeof *o->sub_bytes);
	if (!o->sub_state || !o->sub_pos || !o->sub_bytes)
		return;
	o->n_entries = (uint32_t)max;
	o->drops = 0;
	o->subscribers = o->dead_subscribers = 0;
	for (uint64_t i = 0; i < max; i++) {
		uint64_t st = LD(subs[i].state);
		if ((st & 0xff) != SHMKIT__SUB_ACTIVE)
			continue;
		uint64_t pos = LD(subs[i].pos);
		o->sub_state[i] = st;
		o->sub_pos[i] = pos;
		o->sub_bytes[i] = LD(subs[i].bytes_received);
		if (sub_dead(&subs[i], st, fd, SHMKIT__HEADER_SIZE + subs_off + i * sizeof *subs))
			o->dead_subscribers++; /* still holds its place in the ring */
		else
			o->subscribers++;
		o->msgs_out += pos;
		o->bytes_out += o->sub_bytes[i];
		o->drops += LD(subs[i].dropped);
		if (pos < min_pos) /* the slowest subscriber: how much the ring holds */
			min_pos = pos;
	}
	o->depth = head - min_pos <= o->capacity ? head - min_pos : o->capacity;
	o->sleepers = ec_sleepers(&t->data_ec) + ec_sleepers(&t->space_ec);
	for (uint64_t i = 0; i < max; i++)
		if ((LD(subs[i].state) & 0xff) == SHMKIT__SUB_ACTIVE)
			o->sleepers += listener_armed(&subs[i].listener);
	o->readable = 1;
}

static void read_heap(struct top_obj *o, const unsigned char *body, size_t n, int map, int fd)
{
	const struct shmkit__heap_shared *h = (const void *)body;

	if (n < sizeof *h || h->magic != SHMKIT__HEAP_MAGIC)
		return;
	o->used = h->used_bytes;
	o->capacity = h->used_bytes + h->free_bytes;
	o->depth = h->n_used;
	uint64_t root = h->root, magic, count;
	/* the map's header may lie anywhere in the segment: read from the file */
	if (map && root >= SHMKIT__HEADER_SIZE && root % 8 == 0 && root <= INT64_MAX - 4096 &&
	    read_at(fd, root + offsetof(struct shmkit__map_shared, magic), &magic, 8) == 0 &&
	    magic == SHMKIT__MAP_MAGIC &&
	    read_at(fd, root + offsetof(struct shmkit__map_shared, count), &count, 8) == 0)
		o->keys = count;
	o->readable = 1;
}

/* The most of a body top reads: a topic's header and its largest
 * subscriber table (a queue's control block and a heap's header are less). */
#define TOP_BODY_MAX                          \
	(sizeof(struct shmkit__topic_shared) + \
	 SHMKIT__TOPIC_MAX_SUBS * sizeof(struct shmkit__topic_sub_shared))
_Static_assert(TOP_BODY_MAX >= sizeof(struct shmkit__queue_shared) &&
		       TOP_BODY_MAX >= sizeof(struct shmkit__heap_shared),
	       "top reads every kind's counters from its first TOP_BODY_MAX body bytes");

static void read_copy(struct top_obj *o, const unsigned char *base, size_t size, int fd)
{
	const struct shmkit__header *h = (const void *)base;

	if (size <= SHMKIT__HEADER_SIZE || h->magic != SHMKIT__MAGIC || h->kind != o->kind)
		return;
	const unsigned char *body = base + SHMKIT__HEADER_SIZE;
	size_t n = size - SHMKIT__HEADER_SIZE;
	if (o->kind == SHMKIT_KIND_QUEUE)
		read_queue(o, body, n);
	else if (o->kind == SHMKIT_KIND_TOPIC)
		read_topic(o, body, n, fd);
	else if (o->kind == SHMKIT_KIND_HEAP || o->kind == SHMKIT_KIND_MAP)
		read_heap(o, body, n, o->kind == SHMKIT_KIND_MAP, fd);
}

static void read_counters(struct top_obj *o, const struct shmkit_stat *st)
{
	struct shmkit_seg *seg;

	if (st->backend != SHMKIT_POSIX && st->backend != SHMKIT_FILE)
		return;
	/* the header page is all the mapping top needs: the rest is a copy */
	if (shmkit_seg_open(&seg, st->uri, SHMKIT__HEADER_SIZE, SHMKIT_LOOK, 0) < 0)
		return;
	int fd = shmkit_seg_fd(seg);
	size_t size = st->size < SHMKIT__HEADER_SIZE + TOP_BODY_MAX
			      ? (size_t)st->size
			      : SHMKIT__HEADER_SIZE + TOP_BODY_MAX;
	/* 8-byte aligned, as the structs read through it need */
	uint64_t *copy = fd >= 0 ? malloc(size + 8) : NULL;
	if (copy && read_at(fd, 0, copy, size) == 0)
		read_copy(o, (const unsigned char *)copy, size, fd);
	free(copy);
	shmkit_seg_close(seg);
}

static bool wanted(const struct top_sample *s, const struct shmkit_stat *st)
{
	for (int i = 0; i < s->n_prefixes; i++)
		if (cli_stat_has_prefix(st, s->prefixes[i]))
			return true;
	return s->n_prefixes == 0;
}

static int add(const struct shmkit_stat *st, void *arg)
{
	struct top_sample *s = arg;

	if (!wanted(s, st))
		return 0;
	if (st->header_status == -EACCES || st->header_status == -EPERM)
		s->unreadable++; /* said, so an empty view is not mistaken for no objects */
	/* A SysV segment is read only through a process that has it attached
	 * (never by attaching it), a memfd, anonymous region or removed name
	 * through one that maps it: with none, it may be a shmkit object top
	 * cannot see (ls shows KIND ?). Counted and said, as above. */
	if (!st->managed && st->header_status == -ENODATA) {
		s->unreadable++;
		s->unattached += st->backend == SHMKIT_SYSV;
	}
	/* A queue, topic, heap or map whose header was read and refused (its
	 * size no longer matches it, corrupt, another layout version): no
	 * counters to show, but counted and said, so that an object ls lists
	 * does not vanish from the view without a word */
	if (st->managed && st->header_status < 0 && st->header_status != -EACCES &&
	    st->header_status != -EPERM && st->kind >= SHMKIT_KIND_QUEUE &&
	    st->kind <= SHMKIT_KIND_MAP)
		s->invalid++;
	if (!st->managed || st->header_status != 0 ||
	    st->kind < SHMKIT_KIND_QUEUE || st->kind > SHMKIT_KIND_MAP)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		struct top_obj *p = realloc(s->objs, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		s->objs = p;
		s->cap = cap;
	}
	struct top_obj *o = &s->objs[s->n++];
	memset(o, 0, sizeof *o);
	snprintf(o->uri, sizeof o->uri, "%s", st->uri);
	o->kind = st->kind;
	o->size = st->size;
	o->creator_alive = st->creator_alive;
	o->depth = o->capacity = o->msgs_in = o->msgs_out = o->drops = TOP_NA;
	o->bytes_in = o->bytes_out = TOP_NA;
	o->subscribers = o->dead_subscribers = o->sleepers = o->used = o->keys = TOP_NA;
	read_counters(o, st);
	return 0;
}

static void drop_objs(struct top_sample *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->objs[i].sub_state);
		free(s->objs[i].sub_pos);
		free(s->objs[i].sub_bytes);
	}
	s->n = 0;
}

int top_sample_take(struct top_sample *s)
{
	drop_objs(s);
	s->unreadable = 0;
	s->unattached = 0;
	s->invalid = 0;
	s->span_ns = 0;
	int r = shmkit_list(add, s);
	s->when_ns = cli_now_ns();
	return r < 0 ? r : 0;
}

void top_sample_free(struct top_sample *s)
{
	drop_objs(s);
	free(s->objs);
	memset(s, 0, sizeof *s);
}

static uint64_t delta(uint64_t now, uint64_t before)
{
	return now == TOP_NA || before == TOP_NA || now < before ? 0 : now - before;
}

/* Messages (bytes: 1) read between two samples by the subscribers present
 * in both (same entry, same state word: same generation). */
static uint64_t topic_read(const struct top_obj *now, const struct top_obj *before, int bytes)
{
	uint64_t sum = 0;

	if (!now->sub_state || !before->sub_state || now->n_entries != before->n_entries)
		return 0;
	for (uint32_t i = 0; i < now->n_entries; i++)
		if (now->sub_state[i] && now->sub_state[i] == before->sub_state[i])
			sum += bytes ? delta(now->sub_bytes[i], before->sub_bytes[i])
				     : delta(now->sub_pos[i], before->sub_pos[i]);
	return sum;
}

static int by_rate(const void *a, const void *b)
{
	const struct top_obj *x = a, *y = b;
	double rx = x->in_rate + x->out_rate, ry = y->in_rate + y->out_rate;

	if (rx != ry)
		return rx > ry ? -1 : 1;
	return strcmp(x->uri, y->uri);
}

void top_rates(struct top_sample *now, const struct top_sample *before)
{
	double secs = (double)(now->when_ns - before->when_ns) / 1e9;

	now->span_ns = now->when_ns - before->when_ns;

	for (size_t i = 0; i < now->n; i++) {
		struct top_obj *o = &now->objs[i];
		for (size_t j = 0; j < before->n; j++) {
			const struct top_obj *b = &before->objs[j];
			if (strcmp(o->uri, b->uri) != 0 || b->kind != o->kind)
				continue;
			int topic = o->kind == SHMKIT_KIND_TOPIC;
			o->in_delta = delta(o->msgs_in, b->msgs_in);
			o->out_delta = topic ? topic_read(o, b, 0) : delta(o->msgs_out, b->msgs_out);
			o->bytes_in_delta = delta(o->bytes_in, b->bytes_in);
			o->bytes_out_delta = topic ? topic_read(o, b, 1) : delta(o->bytes_out, b->bytes_out);
			if (secs > 0) {
				o->in_rate = (double)o->in_delta / secs;
				o->out_rate = (double)o->out_delta / secs;
				o->bytes_in_rate = (double)o->bytes_in_delta / secs;
				o->bytes_out_rate = (double)o->bytes_out_delta / secs;
			}
			break;
		}
	}
	if (now->n > 1) /* objs is NULL while nothing was ever seen: no qsort(NULL, 0) */
		qsort(now->objs, now->n, sizeof *now->objs, by_rate);
}
