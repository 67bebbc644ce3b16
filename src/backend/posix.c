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

static int open_error(const char *name, const char *what)
{
	int err = errno;
	if (err == ELOOP)
		return shmkit__fail(-ELOOP, "posix:%s is a symbolic link; refusing to follow it", name);
	return shmkit__fail(err > 0 ? -err : -EIO, "%s posix:%s: %s", what, name, strerror(err));
}

/* Opens an existing segment and maps `size` bytes of it (0 = all). */
static int map_existing(struct shmkit_seg *seg, const struct shmkit__uri *u, int fd, size_t size,
			int flags)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return shmkit__neg_errno();
	if (!S_ISREG(sb.st_mode))
		return shmkit__fail(-EINVAL, "posix:%s is not a regular file", u->name);
	ssize_t len = shmkit__open_size(size, sb.st_size, "segment");
	if (len < 0)
		return (int)len;
	int rc = shmkit__map_fd(seg, fd, (size_t)len, flags, 0);
	if (rc < 0)
		return rc;
	seg->size = (size_t)len;
	seg->fd = fd;
	return 0;
}

/* Sizes, reserves and maps a segment this call just created; on error it is unlinked. */
static int finish_create(struct shmkit_seg *seg, const struct shmkit__uri *u, int fd, size_t size,
			 int flags, unsigned mode)
{
	/* shm_open honours the umask; the mode asked for is applied exactly. */
	int rc = fchmod(fd, mode) < 0 ? shmkit__neg_errno() : 0;
	if (rc == 0)
		rc = shmkit__reserve_fd(fd, size);
	if (rc == 0)
		rc = shmkit__map_fd(seg, fd, size, flags, 0);
	if (rc < 0) {
		shm_unlink(u->name);
		close(fd);
		return rc;
	}
	seg->size = size;
	seg->fd = fd;
	return 0;
}

static int posix_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		      unsigned mode)
{
	int acc = (flags & SHMKIT_RDONLY) ? O_RDONLY : O_RDWR;

	/* Creating: try exclusively first so we know whether we made it (and so
	 * must size it, or unlink it on error); without EXCL fall back to opening. */
	int waited_ms = 0;

	for (int tries = 0; tries < 100; tries++) {
		int fd;
		if (flags & SHMKIT_CREATE) {
			fd = shm_open(u->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
			if (fd >= 0)
				return finish_create(seg, u, fd, size, flags, mode);
			if (errno != EEXIST)
				return open_error(u->name, "create");
			if (flags & SHMKIT_EXCL)
				return shmkit__fail(-EEXIST, "posix:%s already exists", u->name);
		}
		fd = shm_open(u->name, acc | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) {
			if (errno == ENOENT && (flags & SHMKIT_CREATE))
				continue; /* removed between our two calls: create again */
			return open_error(u->name, "open");
		}
		int rc = map_existing(seg, u, fd, size, flags);
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
	return shmkit__fail(-EAGAIN, "posix:%s keeps appearing and disappearing", u->name);
}

static int posix_remove(const struct shmkit__uri *u)
{
	if (shm_unlink(u->name) < 0)
		return open_error(u->name, "remove");
	return 0;
}

static int posix_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		      struct shmkit_stat *st)
{
	struct stat sb;

	if (seg) {
		if (fstat(seg->fd, &sb) < 0)
			return shmkit__neg_errno();
	} else {
		char path[sizeof(SHM_DIR) + sizeof(u->name)];
		snprintf(path, sizeof(path), SHM_DIR "%s", u->name);
		if (lstat(path, &sb) < 0)
			return open_error(u->name, "stat");
		if (!S_ISREG(sb.st_mode))
			return shmkit__fail(-EINVAL, "posix:%s is not a regular file", u->name);
	}
	shmkit__stat_from_stat(&sb, st);
	return 0;
}

const struct shmkit__backend shmkit__backend_posix = {
	.id = SHMKIT_POSIX,
	.open = posix_open,
	.close = shmkit__close_fd_seg,
	.remove = posix_remove,
	.stat = posix_stat,
	.flush = NULL,
};
