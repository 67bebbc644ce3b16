/* SPDX-License-Identifier: MIT */
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

static int open_path(const char *name, int oflag, mode_t mode)
{
	return open(name, oflag, mode);
}

static const struct shmkit__path_ops file_ops = {
	.scheme = "file",
	.what = "file",
	.open = open_path,
	.unlink = unlink,
	/* O_NONBLOCK: opening a FIFO or device planted at the path must not hang. */
	.open_flags = O_NONBLOCK,
};

static int file_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		     unsigned mode)
{
	/* A private view never writes back, so reading the file is enough. */
	int acc = (flags & SHMKIT_RDONLY) || u->map_private ? O_RDONLY : O_RDWR;

	return shmkit__path_open(&file_ops, seg, u, size, flags, mode, acc);
}

static int file_remove(const struct shmkit__uri *u)
{
	return shmkit__path_remove(&file_ops, u->name, u->name);
}

static int file_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		     struct shmkit_stat *st)
{
	return shmkit__path_stat(&file_ops, u->name, u->name, seg, st);
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
