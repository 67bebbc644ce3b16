/* SPDX-License-Identifier: MIT */
/* Removing a name without removing what a racing remove-and-create put
 * under it. A remover judges a file (gc: orphaned; create: an abandoned
 * empty one; rm: the one it found) and then unlinks a name: between the two
 * another process may have removed that file and made a new object under
 * the same name, which a plain unlink would take with its data. So every
 * shmkit remover holds the file's name lock, an open-file-description write
 * lock on one byte past any header or role byte (NAME_LOCK_BYTE), from its
 * last look at the name to the unlink: a second remover waits for it, then
 * finds the name gone or naming another file. Not flock(2): a program's own
 * flock of its segment file must not hold up a remove; nor does its record
 * lock over the whole file (only a lock of exactly that byte is a
 * remover's). A remover that may not open the file for writing, or finds
 * no locks on the filesystem, removes without the lock, as before; only
 * programs that do not take it (a plain rm(1)) can race. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

/* Below 2^31: off_t may be 32 bits (i386 builds without large-file
 * offsets); past any shmkit header and the roles' bytes. */
#define NAME_LOCK_BYTE 0x7ffffff0

/* How long a remover that was named the file waits for another remover's
 * lock (held for a few system calls, unless that one is stopped): then
 * -EBUSY, never a removal without it. */
#define NAME_LOCK_WAIT_MS 10000

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static struct flock name_lock_range(void)
{
	return (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = NAME_LOCK_BYTE,
			      .l_len = 1};
}

/* Is the lock in the way another remover's name lock, not a program's own
 * record lock over the file (lockf, fcntl), which must not hold a remove
 * up? A remover's is a write lock: a read lock on that byte is anyone's
 * who may read the file (another user's, with mode 0644), and must not make
 * rm wait and fail. */
static int remover_holds(int lfd)
{
	struct flock fl = name_lock_range();
	return fcntl(lfd, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_WRLCK &&
	       fl.l_start == NAME_LOCK_BYTE && fl.l_len == 1;
}

/* Takes the name lock of the file open (O_PATH) as pfd into *lfd: 1 held,
 * 0 not held but go on (no way to take it: no write permission, no /proc,
 * no locks on this filesystem; or a program's own record lock covers the
 * byte), -EBUSY when another remover holds it (at once, or after
 * NAME_LOCK_WAIT_MS with `wait`; *lfd closed). */
static int name_lock(int pfd, int wait, int *lfd)
{
	struct flock fl = name_lock_range();
	int64_t deadline = shmkit__now_ns() + NAME_LOCK_WAIT_MS * 1000000ll;

	for (;;) {
		*lfd = shmkit__reopen_path_fd(pfd, O_RDWR | O_NONBLOCK);
		/* a write lease on it (a take-over's holder probe, holders.c)
		 * being broken by this open: a moment, not "no way to take it" */
		if (*lfd >= 0 || errno != EWOULDBLOCK)
			break;
		if (!wait || shmkit__now_ns() > deadline)
			return -EBUSY;
		usleep(1000);
	}
	if (*lfd < 0)
		return 0;
	for (;;) {
		if (fcntl(*lfd, F_OFD_SETLK, &fl) == 0)
			return 1;
		if (errno != EAGAIN && errno != EACCES)
			return 0;
		if (!remover_holds(*lfd))
			return 0;
		if (!wait || shmkit__now_ns() > deadline)
			break;
		usleep(1000);
	}
	close(*lfd); /* the caller returns at once: it would leak */
	*lfd = -1;
	return -EBUSY;
}

int shmkit__remover_wait(int pfd)
{
	int64_t deadline = shmkit__now_ns() + NAME_LOCK_WAIT_MS * 1000000ll;
	int held, waited = 0;
	/* read-only: F_OFD_GETLK asks no more */
	int fd = shmkit__reopen_path_fd(pfd, O_RDONLY | O_NONBLOCK);

	if (fd < 0)
		return 0;
	while ((held = remover_holds(fd)) && shmkit__now_ns() < deadline) {
		waited = 1;
		usleep(1000);
	}
	close(fd);
	return held ? -EBUSY : waited;
}

int shmkit__unlink_pinned(const char *path, int pfd, int flags)
{
	struct stat sb, now;
	int lfd = -1, r;

	if (fstat(pfd, &sb) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return 0;
	r = name_lock(pfd, flags & SHMKIT__UNLINK_WAIT, &lfd);
	if (r < 0)
		return r;
	SHMKIT__TEST_POINT("unlink.locked");
	/* under the lock: the name still names the file (pfd keeps its inode,
	 * so its number is no other file's); an empty one taken over is still
	 * as judged, empty and ours alone (its link count and owner were last
	 * looked at before the slow walk of /proc) */
	r = 0;
	if (lstat(path, &now) < 0 || !same_file(&now, &sb))
		goto out;
	if ((flags & SHMKIT__UNLINK_EMPTY) &&
	    (fstat(pfd, &now) < 0 || now.st_size != 0 || now.st_nlink != 1 ||
	     now.st_uid != geteuid()))
		goto out;
	r = unlink(path) == 0 ? 1 : -errno;
out:
	if (lfd >= 0)
		close(lfd); /* the lock goes with it */
	return r;
}

int shmkit__unlink_same(const char *path, const struct stat *expect, int flags)
{
	struct stat sb;
	int r = 0;
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &sb) < 0)
		r = -errno;
	else if (S_ISREG(sb.st_mode) && (!expect || same_file(&sb, expect)))
		r = shmkit__unlink_pinned(path, pfd, flags);
	close(pfd);
	return r;
}
