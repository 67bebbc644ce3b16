/* SPDX-License-Identifier: MIT */
/* Removing a name without removing what a racing remove-and-create put
 * under it. A remover judges a file (gc: orphaned; create: an abandoned
 * empty one; rm: the one it found) and then unlinks a name: between the two
 * another process may have removed that file and made a new object under
 * the same name, which a plain unlink would take with its data. So every
 * shmkit remover holds the file's name lock, an exclusive flock(2) of the
 * file itself, from its last look at the name to the unlink: a second
 * remover waits for it, then finds the name gone or naming another file.
 * flock, not a byte-range lock: it needs no write permission, and the
 * roles' open-file-description locks on byte ranges never conflict with it.
 * Only programs that do not take it (a plain rm(1)) can still race. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

/* How long a remover that was named the file waits for the lock: other
 * removers hold it for a few system calls; a foreign flock of the file
 * holding it longer does not stop the removal the user asked for. */
#define NAME_LOCK_WAIT_MS 2000

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Takes the name lock of the file open (O_PATH) as pfd into *lfd: 1 held,
 * 0 not held but go on (no way to take it: no read permission, no /proc;
 * or waited for enough), -EBUSY when held by another and we may not wait. */
static int name_lock(int pfd, int wait, int *lfd)
{
	*lfd = shmkit__reopen_path_fd(pfd, O_RDONLY | O_NONBLOCK);
	if (*lfd < 0)
		return 0;
	for (int ms = 0;; ms++) {
		if (flock(*lfd, LOCK_EX | LOCK_NB) == 0)
			return 1;
		if (errno != EWOULDBLOCK)
			return 0;
		if (!wait)
			return -EBUSY;
		if (ms >= NAME_LOCK_WAIT_MS)
			return 0;
		usleep(1000);
	}
}

int shmkit__unlink_same(const char *path, const struct stat *expect, int flags)
{
	struct stat sb, now;
	int lfd = -1, r;
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	r = 0;
	if (!S_ISREG(sb.st_mode) || (expect && !same_file(&sb, expect)))
		goto out;
	r = name_lock(pfd, flags & SHMKIT__UNLINK_WAIT, &lfd);
	if (r < 0)
		goto out;
	SHMKIT__TEST_POINT("unlink.locked");
	/* under the lock: the name still names the file judged (and that
	 * file is still empty, if asked) */
	r = 0;
	if (lstat(path, &now) < 0 || !same_file(&now, &sb))
		goto out;
	if ((flags & SHMKIT__UNLINK_EMPTY) && (fstat(pfd, &now) < 0 || now.st_size != 0))
		goto out;
	r = unlink(path) == 0 ? 1 : -errno;
out:
	if (lfd >= 0)
		close(lfd); /* the lock goes with it */
	close(pfd);
	return r;
}
