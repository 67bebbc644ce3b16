/* memfd: shmget/shmat. (Lands next.) */
#include "../internal.h"
#include "backend.h"

static int memfd_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		     unsigned mode)
{
	(void)seg, (void)u, (void)size, (void)flags, (void)mode;
	return shmkit__fail(-ENOSYS, "memfd: not built yet");
}

static int memfd_close(struct shmkit_seg *seg)
{
	(void)seg;
	return 0;
}

static int memfd_remove(const struct shmkit__uri *u)
{
	(void)u;
	return -ENOSYS;
}

static int memfd_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		     struct shmkit_stat *st)
{
	(void)u, (void)seg, (void)st;
	return -ENOSYS;
}

const struct shmkit__backend shmkit__backend_memfd = {
	.id = SHMKIT_MEMFD,
	.open = memfd_open,
	.close = memfd_close,
	.remove = memfd_remove,
	.stat = memfd_stat,
};
