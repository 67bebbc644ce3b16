/* SPDX-License-Identifier: MIT */
/* A name whose creator died before it sized the file: made (O_EXCL), then
 * killed inside posix_fallocate (which leaves the size 0 when it does not
 * finish: the widest window of a create, milliseconds for a large object).
 * Nothing in it names a creator to prove dead, so the proof is the file: it
 * is empty (nothing to lose; no segment shmkit makes is) and no process maps
 * it or holds it open (holders.c: /proc and the kernel's write lease; a live
 * creator holds its descriptor from the O_EXCL open on), and it is ours
 * alone: made by this user, one link (a user's own empty file, or another
 * user's, or one with a second name, is never replaced). A file sized and
 * still all zero is not taken: a plain segment looks the same. POSIX and
 * file: only (shmget sizes a SysV segment as it makes it). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abandoned.h"
#include "backend/backend.h"
#include "holders.h"
#include "internal.h"

/* The file behind a posix: or file: URI, into path; 0 or -EINVAL. */
static int uri_path(const char *uri, char *path, size_t cap)
{
	struct shmkit__uri *u = malloc(sizeof(*u)); /* PATH_MAX inside */
	int r = -EINVAL;

	if (!u)
		return shmkit__no_memory("a parsed URI");
	if (shmkit__uri_parse(uri, u) == 0 && !u->is_fd) {
		if (u->backend == SHMKIT_POSIX)
			r = (size_t)snprintf(path, cap, "/dev/shm%s", u->name) < cap ? 0 : -EINVAL;
		else if (u->backend == SHMKIT_FILE)
			r = (size_t)snprintf(path, cap, "%s", u->name) < cap ? 0 : -EINVAL;
	}
	free(u);
	return r;
}

int shmkit__abandoned_creation(const char *uri, char *path, size_t cap, struct stat *seen)
{
	char why[512];
	int r = uri_path(uri, path, cap);
	if (r < 0)
		return 0;
	/* O_PATH: opens nothing (a FIFO planted there is not woken) */
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int empty = fstat(fd, seen) == 0 && S_ISREG(seen->st_mode) && seen->st_size == 0 &&
		    seen->st_nlink == 1 && seen->st_uid == geteuid();
	close(fd); /* our own descriptor would count as a holder */
	if (!empty)
		return 0;
	struct shmkit__obj_ref ref = {seen->st_dev, (uint64_t)seen->st_ino, -1, seen->st_uid,
				      (unsigned)seen->st_mode & 0777, 0};
	return shmkit__holders_verdict(&ref, path, 0, why, sizeof(why)) == 1;
}

/* How long a take-over looks again at a file held by no remover before it
 * believes the holder is one to wait for (a creator at work, or a user):
 * a live creator holds its descriptor throughout, while the descriptors
 * of other take-overs of the same file (their holder probe, their name
 * lock being taken) come and go in moments. */
#define HELD_LOOKS 8
#define HELD_MS 250

/* Does path still name the file open as pfd? Its stat into *sb. pfd holds
 * the inode: its number is no new file's. */
static int still_named(const char *path, int pfd, struct stat *sb)
{
	struct stat now;
	return fstat(pfd, sb) == 0 && lstat(path, &now) == 0 && now.st_dev == sb->st_dev &&
	       now.st_ino == sb->st_ino;
}

/* Nobody holds the file open as pfd (1), somebody does (0), cannot tell
 * (-1); O_PATH descriptors (looks: ours, other take-overs', waiting
 * opens') do not count. */
static int unheld(int pfd, const struct stat *sb)
{
	char why[512];
	struct shmkit__obj_ref ref = {sb->st_dev, (uint64_t)sb->st_ino, -1, sb->st_uid,
				      (unsigned)sb->st_mode & 0777, 1};
	return shmkit__holders_verdict_fd(&ref, pfd, why, sizeof(why));
}

/* The take-over of the file open as pfd, judged under path: 1 removed,
 * -EAGAIN the name is another's now (removed, or sized, or another file:
 * open again), 0 it is not abandoned. Other take-overs of the same file
 * at once (open-or-create started twice) must not make it look held: a
 * remover's name lock is waited for (it removes the file: the name
 * moves), and any other holder is looked at again for a moment. */
static int take_over(const char *path, int pfd)
{
	int64_t patience = shmkit__now_ns() + HELD_MS * 1000000ll;
	struct stat sb;

	for (int looks = 0; looks < 64; looks++) {
		if (!still_named(path, pfd, &sb) || sb.st_size != 0)
			return -EAGAIN;
		if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1 || sb.st_uid != geteuid())
			return 0; /* not ours alone */
		int v = unheld(pfd, &sb);
		if (v < 0)
			return 0;
		if (v == 1) {
			SHMKIT__TEST_POINT("abandoned.judged");
			/* not unlinked (0): the name moved, or the file changed
			 * meanwhile; the next look says which */
			int r = shmkit__unlink_pinned(path, pfd,
						      SHMKIT__UNLINK_EMPTY | SHMKIT__UNLINK_WAIT);
			if (r != 0)
				return r == 1;
			continue;
		}
		int w = shmkit__remover_wait(pfd);
		if (w < 0)
			return 0; /* a remover stopped with the lock: as rm says */
		if (w == 1)
			continue;
		if (looks >= HELD_LOOKS && shmkit__now_ns() > patience)
			return 0;
		/* apart from another take-over's looks, by a step of our own */
		usleep(1000 + ((unsigned)getpid() * 7919u + (unsigned)looks * 4099u) % 4000u);
	}
	return 0;
}

int shmkit__remove_abandoned(const char *uri, int waited)
{
	char path[PATH_MAX];

	if (uri_path(uri, path, sizeof(path)) < 0)
		return 0;
	if (waited >= 0)
		return take_over(path, waited);
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? -EAGAIN : 0;
	int r = take_over(path, pfd);
	close(pfd);
	return r;
}
