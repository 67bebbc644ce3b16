/* SPDX-License-Identifier: MIT */
/* What posix: and file: share: a named regular file (on tmpfs through
 * shm_open, or anywhere through open) that is created exclusively, sized and
 * reserved, or opened and mapped whole. Only the open/unlink calls, the scheme
 * name and a few open flags differ (struct shmkit__path_ops). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

/* The file a name is: posix: names are files in /dev/shm (glibc's shm_open). */
static void file_of(const struct shmkit__path_ops *ops, const char *name, char *path, size_t cap)
{
	snprintf(path, cap, "%s%s", strcmp(ops->scheme, "posix") == 0 ? "/dev/shm" : "", name);
}

/* EACCES: whose the file is and what its mode grants (an open), or whose
 * the directory a create makes it in is; what it was where it cannot be
 * looked at either. */
static int access_error(const struct shmkit__path_ops *ops, const char *name, const char *what)
{
	char path[PATH_MAX + 16], doing[PATH_MAX + 32];
	struct stat sb;

	file_of(ops, name, path, sizeof(path));
	snprintf(doing, sizeof(doing), "%s %s:%s", what, ops->scheme, name);
	if (strcmp(what, "create") == 0) {
		char *slash = strrchr(path, '/');
		if (slash)
			*(slash == path ? slash + 1 : slash) = '\0';
		if (stat(path, &sb) == 0)
			return shmkit__fail(-EACCES, "%s: Permission denied: this process (uid %u) "
						     "may not create files in %s (owner uid %u, "
						     "mode 0%03o)",
					    doing, (unsigned)geteuid(), path, (unsigned)sb.st_uid,
					    (unsigned)sb.st_mode & 0777u);
	} else if (stat(path, &sb) == 0) {
		int readable = faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) == 0;
		return shmkit__access_fail(doing, (unsigned)sb.st_uid, (unsigned)sb.st_mode, readable,
					   "chmod");
	}
	return shmkit__fail(-EACCES, "%s: Permission denied", doing);
}

int shmkit__path_error(const struct shmkit__path_ops *ops, const char *name, const char *what)
{
	int err = errno;
	if (err == ELOOP)
		return shmkit__fail(-ELOOP, "%s:%s is a symbolic link; refusing to follow it",
				    ops->scheme, name);
	/* a create that finds no directory to create in: name the directory
	 * (a container or chroot without /dev/shm, a file: path's missing
	 * parent), not only "No such file or directory" */
	if ((err == ENOENT || err == ENOSPC) && strcmp(what, "create") == 0) {
		char dir[PATH_MAX];
		int posix = strcmp(ops->scheme, "posix") == 0;
		const char *slash = posix ? NULL : strrchr(name, '/');
		if (posix)
			snprintf(dir, sizeof(dir), "/dev/shm");
		else if (slash && slash != name)
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		else
			snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
		struct stat sb;
		if (err == ENOENT && stat(dir, &sb) != 0 && errno == ENOENT)
			return shmkit__fail(-ENOENT, "directory %s does not exist%s", dir,
					    posix ? ": no tmpfs is mounted for POSIX shared memory "
						    "here (mount -t tmpfs tmpfs /dev/shm)"
						  : "");
		/* the name itself found no room: out of inodes (a tmpfs's
		 * nr_inodes), which "No space left" with bytes free hides */
		struct statvfs sv;
		if (err == ENOSPC && statvfs(dir, &sv) == 0 && sv.f_files > 0 && sv.f_favail == 0)
			return shmkit__fail(-ENOSPC, "no free inode on the filesystem of %s (all %llu "
					    "in use%s)", dir, (unsigned long long)sv.f_files,
					    posix ? ": a tmpfs's nr_inodes" : "");
	}
	if (err == EACCES)
		return access_error(ops, name, what);
	return shmkit__fail(err > 0 ? -err : -EIO, "%s %s:%s: %s%s", what, ops->scheme, name,
			    strerror(err), shmkit__fd_limit_hint(err));
}

/* Which pages back the object (?huge, or a hugetlbfs file): seg->pages, or
 * -EOPNOTSUPP with the reason. */
static int set_pages(const struct shmkit__path_ops *ops, struct shmkit_seg *seg,
		     const struct shmkit__uri *u, int fd, int flags)
{
	char what[64 + sizeof(u->name)];

	snprintf(what, sizeof(what), "%s:%s", ops->scheme, u->name);
	int pages = shmkit__fd_pages(fd, u->huge || (flags & SHMKIT_HUGE), what);
	if (pages < 0)
		return pages;
	seg->pages = pages;
	seg->want_addr = u->addr;
	return 0;
}

/* Reserves the memory of a new object: whole huge pages on hugetlbfs (no
 * free page: -ENOMEM); on a THP tmpfs only its size, the pages are faulted
 * in huge through the advised mapping (shmkit__thp_reserve). */
static int reserve(struct shmkit_seg *seg, int fd, size_t size, int flags)
{
	if (seg->pages == SHMKIT_PAGES_HUGETLB) {
		size_t obj = shmkit__round_huge(size);
		int rc = shmkit__reserve_fd(fd, obj);
		return rc == -ENOSPC ? shmkit__huge_error(rc, obj, "hugetlbfs file") : rc;
	}
	if (seg->pages == SHMKIT_PAGES_THP && !(flags & SHMKIT_RDONLY)) {
		int rc = shmkit__fsize_check(size);
		if (rc < 0)
			return rc;
		return ftruncate(fd, (off_t)size) < 0
			       ? (errno == EFBIG ? shmkit__efbig(size) : shmkit__neg_errno())
			       : 0;
	}
	return shmkit__reserve_fd(fd, size);
}

/* Maps `size` bytes (0 = all) of an existing object opened as fd. */
static int map_existing(const struct shmkit__path_ops *ops, struct shmkit_seg *seg,
			const struct shmkit__uri *u, int fd, size_t size, int flags)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return shmkit__neg_errno();
	if (!S_ISREG(sb.st_mode))
		return shmkit__fail(-EINVAL, "%s:%s is not a regular file", ops->scheme, u->name);
	/* a regular file: blocking again, as the caller's own reads expect */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return shmkit__neg_errno();
	ssize_t len = shmkit__open_size(size, (uint64_t)sb.st_size, ops->what, seg->uri);
	if (len < 0)
		return (int)len;
	int rc = set_pages(ops, seg, u, fd, flags);
	if (rc == 0)
		rc = shmkit__map_fd(seg, fd, (size_t)len, flags, u->map_private);
	/* the descriptor is this open's own: seeking its holes moves no one's offset */
	if (rc == 0 && (flags & SHMKIT_LOOK) &&
	    (rc = shmkit__cover_holes(seg->addr, (size_t)len, fd)) < 0) {
		munmap(seg->addr, seg->map_len);
		seg->addr = NULL;
	}
	if (rc < 0)
		return rc;
	seg->size = (size_t)len;
	seg->fd = fd;
	return 0;
}

/* Sizes, reserves and maps an object this call just created; on error it is
 * unlinked, so no call leaves a half-made segment behind. */
static int finish_create(const struct shmkit__path_ops *ops, struct shmkit_seg *seg,
			 const struct shmkit__uri *u, int fd, size_t size, int flags, unsigned mode)
{
	/* open and shm_open honour the umask; the mode asked for is applied exactly. */
	int rc = fchmod(fd, mode) < 0 ? shmkit__neg_errno() : 0;
	SHMKIT__TEST_POINT("seg.create.sizing");
	if (rc == 0)
		rc = set_pages(ops, seg, u, fd, flags);
	if (rc == 0)
		rc = reserve(seg, fd, size, flags);
	if (rc == 0)
		rc = shmkit__map_fd(seg, fd, size, flags, u->map_private);
	if (rc == 0 && seg->pages == SHMKIT_PAGES_THP && !(flags & SHMKIT_RDONLY))
		rc = shmkit__thp_reserve(seg);
	if (rc < 0) {
		if (seg->addr)
			munmap(seg->addr, seg->map_len);
		seg->addr = NULL;
		ops->unlink(u->name);
		close(fd);
		return rc;
	}
	seg->size = size;
	seg->fd = fd;
	return 0;
}

int shmkit__reopen_path_fd(int pfd, int oflag)
{
	char self[48];

	snprintf(self, sizeof(self), "%s/fd/%d", shmkit__proc_self_dir(), pfd);
	return open(self, oflag | O_CLOEXEC | O_NOCTTY);
}

/* An existing object opened with oflag, only if it is a regular file. It
 * is looked at through an O_PATH descriptor first, which opens nothing: a
 * FIFO planted under the name, opened, would release a writer blocked in
 * its own open, and our close then kill it with SIGPIPE (a device's open
 * has effects of its own). The file looked at is then reopened through
 * /proc/self/fd, not by its name again. Without /proc, a plain open
 * (O_NONBLOCK: a FIFO must not hang it; map_existing refuses what is not a
 * regular file). -1 with errno; -2: not a regular file; -3 (only when
 * `empty` is not NULL): an empty file, not opened, its O_PATH descriptor
 * left in *empty. */
static int open_regular(const struct shmkit__path_ops *ops, const char *name, int oflag,
			int *empty)
{
	struct stat sb;
	int pfd = ops->open(name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);

	if (pfd < 0)
		return -1;
	if (fstat(pfd, &sb) < 0) {
		int err = errno;
		close(pfd);
		errno = err;
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(pfd);
		errno = ELOOP; /* a link: what the open said, not following it */
		return S_ISLNK(sb.st_mode) ? -1 : -2;
	}
	if (empty && sb.st_size == 0) {
		*empty = pfd;
		return -3;
	}
	int fd = shmkit__reopen_path_fd(pfd, oflag & ~O_NOFOLLOW);
	if (fd < 0 && errno == EPERM && (oflag & O_NOATIME))
		fd = shmkit__reopen_path_fd(pfd, oflag & ~(O_NOFOLLOW | O_NOATIME));
	int err = errno;
	close(pfd);
	if (fd < 0 && err == ENOENT) /* no /proc */
		return ops->open(name, (oflag & ~O_NOATIME) | O_NONBLOCK, 0);
	errno = err;
	return fd;
}

/* An open-or-create found the file empty again (open as seen, O_PATH):
 * keeps the file it waits on in *empty, and gives the wait for a creator
 * anew (a few times) when that is another file: a new creator's, made
 * after another open-or-create took the last one over. */
static void wait_on(int seen, int *empty, int *waited_ms, int *renewed)
{
	struct stat a, b;

	if (*empty >= 0 && fstat(*empty, &a) == 0 && fstat(seen, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		close(seen); /* the same file: *empty holds its inode */
		return;
	}
	if (*empty >= 0) {
		close(*empty);
		if ((*renewed)++ < 4)
			*waited_ms = 0;
	}
	*empty = seen;
}

/* A look opens O_NONBLOCK: a blocking open of a file that another process
 * holds a write lease on (a file server caching it) waits until the holder
 * lets go, and the kernel's lease-break-time (45 s) for one that does not.
 * The open has told the holder either way; a look gives it a moment to let
 * go. 1 to try again, else 0 with the failure in *rc. */
static int look_lease_wait(const struct shmkit__path_ops *ops, const char *name, int *waited_ms,
			   int *rc)
{
	if ((*waited_ms)++ < SHMKIT__LOOK_LEASE_WAIT_MS) {
		usleep(1000);
		return 1;
	}
	*rc = shmkit__fail(-EBUSY, /* not -EAGAIN: an open says that of an empty file */
			   "%s:%s: another process holds a lease on it and did not let go within "
			   "%d ms; a look waits no longer (an open would wait the kernel's "
			   "lease-break-time)",
			   ops->scheme, name, SHMKIT__LOOK_LEASE_WAIT_MS);
	return 0;
}

static int open_or_create(const struct shmkit__path_ops *ops, struct shmkit_seg *seg,
			  const struct shmkit__uri *u, size_t size, int flags, unsigned mode,
			  int acc, int *empty)
{
	int waited_ms = 0, renewed = 0, lease_ms = 0;
	/* Open-or-create with size 0 only opens (DESIGN §4: 0 opens an
	 * existing segment whole); it still waits for a racing creator. */
	int creating = (flags & SHMKIT_CREATE) && size > 0;

	for (int tries = 0; tries < 100; tries++) {
		int fd;
		/* Creating: try exclusively first so we know whether we made it (and so
		 * must size it, or unlink it on error); without EXCL fall back to opening. */
		if (creating) {
			fd = ops->open(u->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				       mode);
			if (fd >= 0)
				return finish_create(ops, seg, u, fd, size, flags, mode);
			if (errno != EEXIST)
				return shmkit__path_error(ops, u->name, "create");
			if (flags & SHMKIT_EXCL)
				return shmkit__fail(-EEXIST, "%s:%s already exists", ops->scheme,
						    u->name);
		}
		/* A look leaves the access time as it was too (it may drive a
		 * cleaner's age test); O_NOATIME needs the file's owner (or
		 * CAP_FOWNER), so others' files fall back to a plain open. It
		 * waits for no lease holder either (look_lease_wait). */
		int look = (flags & SHMKIT_LOOK) ? O_NOATIME | O_NONBLOCK : 0;
		int seen = -1;
		/* Creating, an empty file is waited on by looks only (O_PATH),
		 * once opened (the open says what it says: -EACCES), never
		 * again: a take-over's judge counts an open descriptor as a
		 * holder, and two open-or-creates waiting on the same abandoned
		 * file made each other's judge find it held. */
		fd = open_regular(ops, u->name,
				  acc | look | O_NOFOLLOW | O_CLOEXEC | ops->open_flags,
				  (flags & SHMKIT_CREATE) && waited_ms > 0 ? &seen : NULL);
		if (fd == -3) {
			wait_on(seen, empty, &waited_ms, &renewed);
			if (waited_ms++ < SHMKIT__CREATE_WAIT_MS) {
				usleep(1000);
				tries--;
				continue;
			}
			return (int)shmkit__open_size(size, 0, ops->what, NULL);
		}
		if (fd == -2)
			return shmkit__fail(-EINVAL, "%s:%s is not a regular file", ops->scheme,
					    u->name);
		if (fd < 0 && errno == EWOULDBLOCK && (flags & SHMKIT_LOOK)) {
			int rc;
			if (look_lease_wait(ops, u->name, &lease_ms, &rc)) {
				tries--;
				continue;
			}
			return rc;
		}
		if (fd < 0) {
			if (errno == ENOENT && creating)
				continue; /* removed between our two calls: create again */
			if (errno == ENOENT && (flags & SHMKIT_CREATE))
				return shmkit__fail(-EINVAL, "%s:%s does not exist, and size 0 "
							     "gives none to create it with",
						    ops->scheme, u->name);
			return shmkit__path_error(ops, u->name, "open");
		}
		int rc = map_existing(ops, seg, u, fd, size, flags);
		if (rc < 0)
			close(fd);
		if (rc == -EAGAIN && (flags & SHMKIT_CREATE) && waited_ms++ < SHMKIT__CREATE_WAIT_MS) {
			/* Open-or-create raced a creator that has not sized it yet. */
			usleep(1000);
			tries--;
			continue;
		}
		return rc;
	}
	return shmkit__fail(-EAGAIN, "%s:%s keeps appearing and disappearing", ops->scheme,
			    u->name);
}

int shmkit__path_open(const struct shmkit__path_ops *ops, struct shmkit_seg *seg,
		      const struct shmkit__uri *u, size_t size, int flags, unsigned mode, int acc)
{
	int empty = -1;
	int rc = open_or_create(ops, seg, u, size, flags, mode, acc, &empty);

	if (rc == -EAGAIN && empty >= 0)
		seg->empty_fd = empty; /* for the take-over (seg.c) */
	else if (empty >= 0)
		close(empty);
	return rc;
}

int shmkit__path_remove(const struct shmkit__path_ops *ops, const char *path, const char *name)
{
	struct stat sb;
	int r = shmkit__unlink_same(path, NULL, SHMKIT__UNLINK_WAIT);

	if (r == 1)
		return 0;
	if (r == -EBUSY)
		return shmkit__fail(r, "%s:%s: another shmkit remover holds its name lock "
				       "(a stopped rm or gc?)", ops->scheme, name);
	if (r < 0) {
		errno = r == -EPERM && ops->eperm_as_eacces ? EACCES : -r;
		return shmkit__path_error(ops, name, "remove");
	}
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return shmkit__fail(-EINVAL, "%s:%s is not a regular file; not removing it",
				    ops->scheme, name);
	/* The file we looked at left the name while we waited for its lock
	 * (another remover took it): what the name holds now was made after
	 * our look, and is not ours to remove (a second look would take a new
	 * object, data and all). */
	return shmkit__fail(-ENOENT, "%s:%s was removed meanwhile (by another remover); "
				     "anything under the name now is newer and was left",
			    ops->scheme, name);
}

int shmkit__path_stat(const struct shmkit__path_ops *ops, const char *path, const char *name,
		      const struct shmkit_seg *seg, struct shmkit_stat *st)
{
	struct stat sb;

	if (seg) {
		if (fstat(seg->fd, &sb) < 0)
			return shmkit__neg_errno();
	} else {
		if (lstat(path, &sb) < 0)
			return shmkit__path_error(ops, name, "stat");
		if (!S_ISREG(sb.st_mode))
			return shmkit__fail(-EINVAL, "%s:%s is not a regular file", ops->scheme, name);
	}
	shmkit__stat_from_stat(&sb, st);
	if (seg && seg->pages)
		shmkit__stat_pages(seg, st);
	else
		shmkit__stat_fs_pages(seg ? seg->fd : -1, path, st);
	return 0;
}
