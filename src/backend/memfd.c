/* SPDX-License-Identifier: MIT */
/* memfd: memfd_create, sized, reserved, then sealed so it can neither shrink
 * nor grow: whoever gets the descriptor (fork, SCM_RIGHTS) may map it whole
 * without fear of SIGBUS. Process lifetime: gone with its last fd/mapping. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

#define SHMKIT__MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static int memfd_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		      unsigned mode)
{
	if (size == 0)
		return shmkit__fail(-EINVAL, "memfd: needs a size (a name opens nothing: "
					     "pass the descriptor and open fd:N)");
	int huge = u->huge || (flags & SHMKIT_HUGE);
	/* ?huge: MFD_HUGETLB; the object is whole huge pages (hugetlbfs sizes). */
	size_t obj = huge ? shmkit__round_huge(size) : size;
	int fd = memfd_create(u->name, MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0));
	if (fd < 0 && huge && errno == EINVAL)
		return shmkit__fail(-EOPNOTSUPP, "memfd_create(MFD_HUGETLB): this kernel has no "
						 "hugetlb memfds");
	if (fd < 0)
		return shmkit__fail(shmkit__neg_errno(), "memfd_create: %s%s", strerror(errno),
				    shmkit__fd_limit_hint(errno));
	seg->pages = huge ? SHMKIT_PAGES_HUGETLB : SHMKIT_PAGES_BASE;
	seg->want_addr = u->addr;
	/* Others reach a memfd through /proc/PID/fd too: give it the mode asked. */
	int rc = fchmod(fd, mode) < 0 ? shmkit__neg_errno() : 0;
	if (rc == 0)
		rc = shmkit__reserve_fd(fd, obj);
	if (rc == -ENOSPC && huge) /* hugetlbfs: no free reserved page */
		rc = shmkit__huge_error(rc, obj, "memfd:?huge");
	if (rc == 0 && fcntl(fd, F_ADD_SEALS, SHMKIT__MEMFD_SEALS) < 0)
		rc = shmkit__fail(shmkit__neg_errno(), "sealing the memfd: %s", strerror(errno));
	if (rc == 0)
		rc = shmkit__map_fd(seg, fd, size, flags, 0);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	seg->fd = fd;
	seg->size = size;
	return 0;
}

static int memfd_remove(const struct shmkit__uri *u)
{
	(void)u;
	return shmkit__fail(-EINVAL, "memfd: has no name to remove; it goes with its last descriptor");
}

static int memfd_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		      struct shmkit_stat *st)
{
	struct stat sb;
	(void)u;
	if (!seg)
		return shmkit__fail(-EINVAL, "memfd: has no name to look up; stat the open segment");
	if (fstat(seg->fd, &sb) < 0)
		return shmkit__neg_errno();
	shmkit__stat_from_stat(&sb, st);
	shmkit__stat_pages(seg, st);
	return 0;
}

const struct shmkit__backend shmkit__backend_memfd = {
	.id = SHMKIT_MEMFD,
	.open = memfd_open,
	.close = shmkit__close_fd_seg,
	.remove = memfd_remove,
	.stat = memfd_stat,
	.flush = NULL,
};
