/* SPDX-License-Identifier: MIT */
/* The segment layer's stat: what a segment is, who maps it.
 *
 * One function, stat_seg_level(), fills every segment-level field from the
 * backend and /proc, then calls the caller's filler (src/seg_stat.h): the
 * managed layer adds its header's fields from above, and defines the public
 * shmkit_stat and shmkit_seg_stat on these (src/managed.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"
#include "proc.h"
#include "seg_stat.h"

static enum shmkit_lifetime lifetime_of(enum shmkit_backend b)
{
	switch (b) {
	case SHMKIT_POSIX:
	case SHMKIT_SYSV:
		return SHMKIT_LIFE_KERNEL;
	case SHMKIT_FILE:
		return SHMKIT_LIFE_FILESYSTEM;
	case SHMKIT_MEMFD:
	case SHMKIT_BACKEND_NONE:
	case SHMKIT_ANON:
		break;
	}
	return SHMKIT_LIFE_PROCESS;
}

/* Defaults for fields a backend may not know. */
void shmkit__stat_init(struct shmkit_stat *st, enum shmkit_backend b)
{
	memset(st, 0, sizeof(*st));
	st->backend = b;
	st->lifetime = lifetime_of(b);
	st->attach_count = -1;
	st->sysv_key = -1;
	st->sysv_id = -1;
	st->creator_alive = -ENOENT; /* no managed creator recorded */
}

/* ---- /proc: who maps or holds an object ---- */

struct self_map {
	struct shmkit_stat *st;
	uintptr_t addr;
};

static int self_map_line(const struct shmkit__map_line *l, void *arg)
{
	struct self_map *c = arg;
	if (l->start != c->addr)
		return 0;
	c->st->dev = (uint64_t)l->dev;
	c->st->inode = l->ino;
	return 1;
}

void shmkit__stat_self_mapping(struct shmkit_stat *st, const void *addr)
{
	struct self_map c = {st, (uintptr_t)addr};
	shmkit__proc_each_map(0, self_map_line, &c);
}

static int add_mapper(pid_t pid, void *arg)
{
	struct shmkit_stat *st = arg;
	if (st->n_mappers < SHMKIT_STAT_MAPPERS) {
		struct shmkit_mapper *m = &st->mappers[st->n_mappers];
		m->pid = pid;
		shmkit__proc_comm(pid, m->comm, sizeof(m->comm));
	}
	st->n_mappers++;
	return 0;
}

int shmkit__stat_mappers(struct shmkit_stat *st, dev_t dev, ino_t ino, int shmid)
{
	struct shmkit__obj_ref ref = {dev, (uint64_t)ino, shmid, 0, 0, 0};
	struct shmkit__users u;
	st->n_mappers = 0;
	int r = shmkit__proc_users(&ref, 0, add_mapper, st, &u);
	/* Out of descriptors or memory ourselves: the count would be short. */
	if (r == -EMFILE || r == -ENFILE || r == -ENOMEM)
		return shmkit__fail(r, "reading /proc to see who maps it: %s (RLIMIT_NOFILE?)",
				    strerror(-r));
	/* No /proc that shows us: who maps it is unknown, not "nobody" */
	return r == -ENOENT ? 1 : 0;
}

/* The page size of a SysV segment, as a process that has it attached maps
 * it (never by attaching it ourselves). Unknown when nobody does. */
static void sysv_pages_via_user(struct shmkit_stat *st)
{
	for (int i = 0; i < st->n_mappers && i < SHMKIT_STAT_MAPPERS; i++) {
		struct shmkit__obj_ref ref = {.shmid = st->sysv_id};
		unsigned long addr = 0;
		pid_t pid = st->mappers[i].pid;
		if (shmkit__proc_pid_uses(pid, &ref, &addr) != 1 || !addr)
			continue;
		uint64_t ps = shmkit__proc_page_size(pid, addr);
		if (!ps)
			continue;
		uint64_t base = (uint64_t)sysconf(_SC_PAGESIZE);
		st->pages = ps > base ? SHMKIT_PAGES_HUGETLB : SHMKIT_PAGES_BASE;
		st->page_size = ps;
		return;
	}
}

/* ---- the public calls ---- */

/* Every segment-level field: backend facts, then the processes using it;
 * then what the caller's filler adds. */
static int stat_seg_level(const struct shmkit__uri *u, const struct shmkit_seg *seg,
			  struct shmkit_stat *st, shmkit__stat_filler fill)
{
	const struct shmkit__backend *ops = seg ? seg->ops : shmkit__backend_of(u->backend);
	enum shmkit_backend b = seg ? seg->backend : u->backend;

	shmkit__stat_init(st, b);
	if (seg)
		snprintf(st->uri, sizeof(st->uri), "%s", seg->uri);
	else
		shmkit__uri_format(u, st->uri, sizeof(st->uri));
	int rc = ops->stat(u, seg, st);
	if (rc < 0)
		return rc;
	if (b == SHMKIT_SYSV) {
		if ((rc = shmkit__stat_mappers(st, 0, 0, st->sysv_id)) < 0)
			return rc;
		if (!seg && !st->pages)
			sysv_pages_via_user(st);
	} else if (st->inode != 0) {
		if ((rc = shmkit__stat_mappers(st, (dev_t)st->dev, (ino_t)st->inode, -1)) < 0)
			return rc;
		st->attach_count = rc == 1 ? -1 : st->n_mappers;
	}
	/* Last, after the mappers were counted: a filler may map it too. */
	if (fill)
		fill(seg, st, NULL);
	return 0;
}

int shmkit__stat_uri(const char *uri, struct shmkit_stat *st, shmkit__stat_filler fill)
{
	struct shmkit__uri u;

	shmkit__detail_clear();
	if (!st)
		return shmkit__fail(-EINVAL, "st is NULL");
	int rc = shmkit__uri_parse(uri, &u);
	if (rc < 0)
		return rc;
	if (u.is_fd) {
		struct shmkit_seg *seg;
		rc = shmkit__seg_from_fd(&seg, u.fd, 0, SHMKIT_RDONLY, 0);
		if (rc < 0)
			return rc;
		rc = stat_seg_level(&u, seg, st, fill);
		shmkit_seg_close(seg);
		return rc;
	}
	return stat_seg_level(&u, NULL, st, fill);
}

int shmkit__stat_seg(const struct shmkit_seg *seg, struct shmkit_stat *st,
		     shmkit__stat_filler fill)
{
	shmkit__detail_clear();
	if (!seg || !st)
		return shmkit__fail(-EINVAL, "seg or st is NULL");
	struct shmkit__uri u;
	if (shmkit__uri_parse(seg->uri, &u) < 0)
		memset(&u, 0, sizeof(u));
	shmkit__detail_clear();
	return stat_seg_level(&u, seg, st, fill);
}
