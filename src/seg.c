/* Segments: the front end. Parses the URI, dispatches to one backend
 * (src/backend/), and holds the helpers the fd-based backends share. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"

/* ---- the thread's last error detail ---- */

static _Thread_local char detail_buf[512];

const char *shmkit_last_error_detail(void)
{
	return detail_buf;
}

void shmkit__detail_clear(void)
{
	detail_buf[0] = '\0';
}

void shmkit__detail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail_buf, sizeof(detail_buf), fmt, ap);
	va_end(ap);
}

int shmkit__fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail_buf, sizeof(detail_buf), fmt, ap);
	va_end(ap);
	return err;
}

/* ---- helpers for fd-based backends ---- */

struct shmkit_seg *shmkit__seg_alloc(void)
{
	struct shmkit_seg *seg = calloc(1, sizeof(*seg));
	if (seg) {
		seg->fd = -1;
		seg->shmid = -1;
		seg->key = -1;
	}
	return seg;
}

int shmkit__map_fd(struct shmkit_seg *seg, int fd, size_t len, int flags, int map_private)
{
	int prot = (flags & SHMKIT_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
	int mflags = map_private ? MAP_PRIVATE : MAP_SHARED;

	if (flags & SHMKIT_POPULATE)
		mflags |= MAP_POPULATE;
	return shmkit__map(seg, fd, len, prot, mflags); /* huge pages, ?addr= */
}

int shmkit__reserve_fd(int fd, size_t size)
{
	if (size > (size_t)INT64_MAX)
		return shmkit__fail(-EINVAL, "size %zu is too large", size);
	/* posix_fallocate returns the error number itself, not -1/errno. */
	int err = posix_fallocate(fd, 0, (off_t)size);
	if (err == ENOSPC)
		return shmkit__fail(-ENOSPC, "no space to reserve %zu bytes (filesystem full)", size);
	if (err == EFBIG)
		return shmkit__fail(-EFBIG, "size %zu exceeds the filesystem's file size limit", size);
	if (err && err != EOPNOTSUPP && err != EINVAL)
		return shmkit__fail(-err, "reserving %zu bytes: %s", size, strerror(err));
	/* Where fallocate is unsupported the size is at least set. */
	if (ftruncate(fd, (off_t)size) < 0)
		return shmkit__fail(shmkit__neg_errno(), "ftruncate to %zu: %s", size, strerror(errno));
	return 0;
}

ssize_t shmkit__open_size(size_t want, off_t have, const char *what)
{
	if (have <= 0)
		return shmkit__fail(-EAGAIN, "%s exists but is empty (its creator has not sized it yet)",
				    what);
	if (want == 0)
		return (ssize_t)have;
	if ((uint64_t)want > (uint64_t)have)
		return shmkit__fail(-EINVAL, "%s holds %lld bytes, fewer than the %zu asked", what,
				    (long long)have, want);
	return (ssize_t)want;
}

int shmkit__close_fd_seg(struct shmkit_seg *seg)
{
	int rc = 0;
	if (seg->addr && munmap(seg->addr, seg->map_len) < 0)
		rc = shmkit__neg_errno();
	if (seg->fd >= 0 && close(seg->fd) < 0 && rc == 0)
		rc = shmkit__neg_errno();
	seg->addr = NULL;
	seg->fd = -1;
	return rc;
}

void shmkit__stat_from_stat(const struct stat *sb, struct shmkit_stat *st)
{
	st->size = (uint64_t)sb->st_size;
	st->real_size = (uint64_t)sb->st_blocks * 512;
	st->mode = sb->st_mode & 07777;
	st->uid = sb->st_uid;
	st->gid = sb->st_gid;
	st->atime = sb->st_atime;
	st->mtime = sb->st_mtime;
	st->ctime = sb->st_ctime;
	/* hugetlbfs, and tmpfs where it gives this file huge pages, say so here. */
	st->page_size = (uint64_t)sb->st_blksize;
	st->dev = (uint64_t)sb->st_dev;
	st->inode = (uint64_t)sb->st_ino;
}

void shmkit__stat_from_fd(int fd, struct shmkit_stat *st)
{
	struct stat sb;
	if (fstat(fd, &sb) == 0)
		shmkit__stat_from_stat(&sb, st);
}

/* ---- the public front end ---- */

static const struct shmkit__backend *backend_of(enum shmkit_backend b)
{
	switch (b) {
	case SHMKIT_POSIX:
		return &shmkit__backend_posix;
	case SHMKIT_SYSV:
		return &shmkit__backend_sysv;
	case SHMKIT_FILE:
		return &shmkit__backend_file;
	case SHMKIT_MEMFD:
		return &shmkit__backend_memfd;
	case SHMKIT_ANON:
		return &shmkit__backend_anon;
	}
	return NULL;
}

static int check_open_args(size_t size, int flags)
{
	if (flags & ~(SHMKIT_CREATE | SHMKIT_EXCL | SHMKIT_RDONLY | SHMKIT_POPULATE | SHMKIT_HUGE))
		return shmkit__fail(-EINVAL, "unknown flags 0x%x", (unsigned)flags);
	if ((flags & SHMKIT_EXCL) && !(flags & SHMKIT_CREATE))
		return shmkit__fail(-EINVAL, "SHMKIT_EXCL without SHMKIT_CREATE");
	if ((flags & SHMKIT_CREATE) && size == 0)
		return shmkit__fail(-EINVAL, "size 0: creating a segment needs its size");
	return 0;
}

int shmkit_seg_open(struct shmkit_seg **out, const char *uri, size_t size, int flags,
		    unsigned mode)
{
	struct shmkit__uri u;
	int rc;

	shmkit__detail_clear();
	if (!out)
		return shmkit__fail(-EINVAL, "out is NULL");
	*out = NULL;
	rc = check_open_args(size, flags);
	if (rc < 0)
		return rc;
	rc = shmkit__uri_parse(uri, &u);
	if (rc < 0)
		return rc;
	if (mode == 0)
		mode = 0600;
	/* Permission bits only: setuid/setgid/sticky on a shared segment mean
	 * nothing good (DESIGN §8), and higher bits are not a mode at all. */
	if (mode & ~0777u)
		return shmkit__fail(-EINVAL,
				    "mode 0%o: only permission bits (0777) are allowed", mode);
	if (u.is_fd) {
		if (flags & SHMKIT_CREATE)
			return shmkit__fail(-EINVAL, "fd: maps an existing descriptor; cannot create");
		return shmkit__seg_from_fd(out, u.fd, size, flags, 0);
	}
	struct shmkit_seg *seg = shmkit__seg_alloc();
	if (!seg)
		return -ENOMEM;
	seg->ops = backend_of(u.backend);
	seg->backend = u.backend;
	seg->flags = flags;
	shmkit__uri_format(&u, seg->uri, sizeof(seg->uri));
	rc = seg->ops->open(seg, &u, size, flags, mode);
	if (rc < 0) {
		free(seg);
		return rc;
	}
	*out = seg;
	return 0;
}

void *shmkit_seg_addr(const struct shmkit_seg *seg)
{
	return seg ? seg->addr : NULL;
}

size_t shmkit_seg_size(const struct shmkit_seg *seg)
{
	return seg ? seg->size : 0;
}

int shmkit_seg_fd(const struct shmkit_seg *seg)
{
	return seg && seg->fd >= 0 ? seg->fd : -EBADF;
}

const char *shmkit_seg_uri(const struct shmkit_seg *seg)
{
	return seg ? seg->uri : "";
}

enum shmkit_backend shmkit_seg_backend(const struct shmkit_seg *seg)
{
	return seg ? seg->backend : SHMKIT_POSIX;
}

int shmkit_seg_flush(struct shmkit_seg *seg)
{
	if (!seg)
		return -EINVAL;
	shmkit__detail_clear();
	return seg->ops->flush ? seg->ops->flush(seg) : 0;
}

int shmkit_seg_close(struct shmkit_seg *seg)
{
	if (!seg)
		return 0;
	int rc = seg->ops->close(seg);
	free(seg);
	return rc;
}

int shmkit_remove(const char *uri)
{
	struct shmkit__uri u;

	shmkit__detail_clear();
	int rc = shmkit__uri_parse(uri, &u);
	if (rc < 0)
		return rc;
	if (u.is_fd)
		return shmkit__fail(-EINVAL, "fd: names a descriptor, not something to remove");
	return backend_of(u.backend)->remove(&u);
}

/* Used by src/stat.c. */
const struct shmkit__backend *shmkit__backend_of(enum shmkit_backend b)
{
	return backend_of(b);
}
