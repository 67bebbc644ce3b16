/* SPDX-License-Identifier: MIT */
/* posix: shm_open on tmpfs (/dev/shm). Kernel lifetime: until shm_unlink. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

#define SHM_DIR "/dev/shm"

static int open_tmpfs(const char *name, int oflag, mode_t mode)
{
	return shm_open(name, oflag, mode);
}

static const struct shmkit__path_ops posix_ops = {
	.scheme = "posix",
	.what = "segment",
	.open = open_tmpfs,
	.unlink = shm_unlink,
	/* another user's name in the sticky /dev/shm: as shm_unlink says it */
	.eperm_as_eacces = 1,
};

/* glibc's sem_open("/x") makes /dev/shm/sem.x: "sem." names are the
 * semaphores' namespace. A segment made there could be taken for a
 * semaphore (and one sem_open'ed for a segment), and gc, which leaves every
 * sem.* file alone as a semaphore, would never reclaim it: so none is made.
 * Opening one that exists is still allowed (to look at it, or rm it). */
static int refuse_sem_name(const struct shmkit__uri *u, int flags)
{
	if (!(flags & SHMKIT_CREATE) || strncmp(u->name, "/sem.", 5) != 0)
		return 0;
	return shmkit__fail(-EINVAL,
			    "posix:%s: names beginning with \"sem.\" belong to POSIX semaphores "
			    "(sem_open(\"/x\") is /dev/shm/sem.x); shmkit creates no segment there",
			    u->name);
}

static int posix_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		      unsigned mode)
{
	int acc = (flags & SHMKIT_RDONLY) ? O_RDONLY : O_RDWR;
	int rc = refuse_sem_name(u, flags);
	if (rc < 0)
		return rc;

	return shmkit__path_open(&posix_ops, seg, u, size, flags, mode, acc);
}

static int posix_remove(const struct shmkit__uri *u)
{
	char path[sizeof(SHM_DIR) + sizeof(u->name)];

	snprintf(path, sizeof(path), SHM_DIR "%s", u->name);
	return shmkit__path_remove(&posix_ops, path, u->name);
}

static int posix_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		      struct shmkit_stat *st)
{
	char path[sizeof(SHM_DIR) + sizeof(u->name)];

	snprintf(path, sizeof(path), SHM_DIR "%s", u->name);
	return shmkit__path_stat(&posix_ops, path, u->name, seg, st);
}

const struct shmkit__backend shmkit__backend_posix = {
	.id = SHMKIT_POSIX,
	.open = posix_open,
	.close = shmkit__close_fd_seg,
	.remove = posix_remove,
	.stat = posix_stat,
	.flush = NULL,
};
