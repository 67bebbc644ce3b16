/* file: open + mmap(MAP_SHARED) of a regular file; survives reboot.
 * "?private" maps MAP_PRIVATE: a copy-on-write view that never writes back. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

static int open_error(const char *path, const char *what)
{
	int err = errno;
	if (err == ELOOP)
		return shmkit__fail(-ELOOP, "file:%s is a symbolic link; refusing to follow it", path);
	return shmkit__fail(err > 0 ? -err : -EIO, "%s file:%s: %s", what, path, strerror(err));
}

static int map_existing(struct shmkit_seg *seg, const struct shmkit__uri *u, int fd, size_t size,
			int flags)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return shmkit__neg_errno();
	if (!S_ISREG(sb.st_mode))
		return shmkit__fail(-EINVAL, "file:%s is not a regular file", u->name);
	ssize_t len = shmkit__open_size(size, sb.st_size, "file");
	if (len < 0)
		return (int)len;
	int rc = shmkit__map_fd(seg, fd, (size_t)len, flags, u->map_private);
	if (rc < 0)
		return rc;
	seg->size = (size_t)len;
	seg->fd = fd;
	return 0;
}

static int finish_create(struct shmkit_seg *seg, const struct shmkit__uri *u, int fd, size_t size,
			 int flags, unsigned mode)
{
	int rc = fchmod(fd, mode) < 0 ? shmkit__neg_errno() : 0;
	if (rc == 0)
		rc = shmkit__reserve_fd(fd, size);
	if (rc == 0)
		rc = shmkit__map_fd(seg, fd, size, flags, u->map_private);
	if (rc < 0) {
		unlink(u->name);
		close(fd);
		return rc;
	}
	seg->size = size;
	seg->fd = fd;
	return 0;
}

static int file_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		     unsigned mode)
{
	/* A private view never writes back, so reading the file is enough. */
	int acc = (flags & SHMKIT_RDONLY) || u->map_private ? O_RDONLY : O_RDWR;

	int waited_ms = 0;

	for (int tries = 0; tries < 100; tries++) {
		int fd;
		if (flags & SHMKIT_CREATE) {
			fd = open(u->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
			if (fd >= 0)
				return finish_create(seg, u, fd, size, flags, mode);
			if (errno != EEXIST)
				return open_error(u->name, "create");
			if (flags & SHMKIT_EXCL)
				return shmkit__fail(-EEXIST, "file:%s already exists", u->name);
		}
		/* O_NONBLOCK: opening a FIFO or device planted at the path must not hang. */
		fd = open(u->name, acc | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			if (errno == ENOENT && (flags & SHMKIT_CREATE))
				continue;
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
	return shmkit__fail(-EAGAIN, "file:%s keeps appearing and disappearing", u->name);
}

static int file_remove(const struct shmkit__uri *u)
{
	struct stat sb;
	if (lstat(u->name, &sb) < 0)
		return open_error(u->name, "remove");
	if (!S_ISREG(sb.st_mode))
		return shmkit__fail(-EINVAL, "file:%s is not a regular file; not removing it", u->name);
	if (unlink(u->name) < 0)
		return open_error(u->name, "remove");
	return 0;
}

static int file_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		     struct shmkit_stat *st)
{
	struct stat sb;
	if (seg) {
		if (fstat(seg->fd, &sb) < 0)
			return shmkit__neg_errno();
	} else {
		if (lstat(u->name, &sb) < 0)
			return open_error(u->name, "stat");
		if (!S_ISREG(sb.st_mode))
			return shmkit__fail(-EINVAL, "file:%s is not a regular file", u->name);
	}
	shmkit__stat_from_stat(&sb, st);
	return 0;
}

static int file_flush(struct shmkit_seg *seg)
{
	if (seg->flags & SHMKIT_RDONLY)
		return 0;
	if (msync(seg->addr, seg->map_len, MS_SYNC) < 0)
		return shmkit__fail(shmkit__neg_errno(), "msync: %s", strerror(errno));
	if (fdatasync(seg->fd) < 0 && errno != EINVAL && errno != EBADF)
		return shmkit__fail(shmkit__neg_errno(), "fdatasync: %s", strerror(errno));
	return 0;
}

const struct shmkit__backend shmkit__backend_file = {
	.id = SHMKIT_FILE,
	.open = file_open,
	.close = shmkit__close_fd_seg,
	.remove = file_remove,
	.stat = file_stat,
	.flush = file_flush,
};
