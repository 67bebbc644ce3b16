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
};

static int open_error(const char *name, const char *what)
{
	return shmkit__path_error(&posix_ops, name, what);
}

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
	struct stat sb;

	/* stat and open refuse what is not a regular file (a FIFO, a symbolic
	 * link another program left in /dev/shm): so does remove, as file: does */
	snprintf(path, sizeof(path), SHM_DIR "%s", u->name);
	for (int tries = 0; tries < 3; tries++) {
		int r = shmkit__unlink_same(path, NULL, SHMKIT__UNLINK_WAIT);
		if (r == 1)
			return 0;
		if (r == -EBUSY)
			return shmkit__fail(r, "posix:%s: another shmkit remover holds its name lock "
					       "(a stopped rm or gc?)", u->name);
		if (r < 0) {
			/* EACCES for EPERM (another user's name in the sticky
			 * /dev/shm), as shm_unlink says it */
			errno = r == -EPERM ? EACCES : -r;
			return open_error(u->name, "remove");
		}
		if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
			return shmkit__fail(-EINVAL, "posix:%s is not a regular file; not removing it",
					    u->name);
	}
	return shmkit__fail(-EAGAIN, "posix:%s kept changing while being removed", u->name);
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
