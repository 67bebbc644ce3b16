/* sysv: shmget/shmat. (Lands next.) */
#include "../internal.h"
#include "backend.h"

static int sysv_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		     unsigned mode)
{
	(void)seg, (void)u, (void)size, (void)flags, (void)mode;
	return shmkit__fail(-ENOSYS, "sysv: not built yet");
}

static int sysv_close(struct shmkit_seg *seg)
{
	(void)seg;
	return 0;
}

static int sysv_remove(const struct shmkit__uri *u)
{
	(void)u;
	return -ENOSYS;
}

static int sysv_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		     struct shmkit_stat *st)
{
	(void)u, (void)seg, (void)st;
	return -ENOSYS;
}

const struct shmkit__backend shmkit__backend_sysv = {
	.id = SHMKIT_SYSV,
	.open = sysv_open,
	.close = sysv_close,
	.remove = sysv_remove,
	.stat = sysv_stat,
};
