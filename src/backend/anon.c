/* SPDX-License-Identifier: MIT */
/* anon: mmap(MAP_SHARED|MAP_ANONYMOUS): shared with children forked after
 * it; gone when the last process unmaps it. Nothing to name or remove. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

static int anon_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		     unsigned mode)
{
	(void)mode;
	if (size == 0)
		return shmkit__fail(-EINVAL, "anon: needs a size (there is nothing to open)");
	int prot = (flags & SHMKIT_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
	int mflags = MAP_SHARED | MAP_ANONYMOUS | ((flags & SHMKIT_POPULATE) ? MAP_POPULATE : 0);
	/* ?huge: MAP_HUGETLB (reserved pages); the mapping is whole huge pages. */
	seg->pages = (u->huge || (flags & SHMKIT_HUGE)) ? SHMKIT_PAGES_HUGETLB : SHMKIT_PAGES_BASE;
	seg->want_addr = u->addr;
	int rc = shmkit__map(seg, -1, size, prot, mflags);
	if (rc < 0)
		return rc;
	seg->size = size;
	return 0;
}

static int anon_remove(const struct shmkit__uri *u)
{
	(void)u;
	return shmkit__fail(-EINVAL, "anon: has no name to remove; it goes with its last mapping");
}

static int anon_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		     struct shmkit_stat *st)
{
	(void)u;
	if (!seg)
		return shmkit__fail(-EINVAL, "anon: has no name to look up; stat the open segment");
	st->size = seg->size;
	st->real_size = seg->map_len;
	st->mode = 0600;
	st->uid = getuid();
	st->gid = getgid();
	shmkit__stat_self_mapping(st, seg->addr);
	shmkit__stat_pages(seg, st);
	return 0;
}

const struct shmkit__backend shmkit__backend_anon = {
	.id = SHMKIT_ANON,
	.open = anon_open,
	.close = shmkit__close_fd_seg,
	.remove = anon_remove,
	.stat = anon_stat,
	.flush = NULL,
};
