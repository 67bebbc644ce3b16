/* SPDX-License-Identifier: MIT */
/* The helpers every descriptor-based backend shares (map, reserve, size,
 * close, stat), and fd:N: mapping a descriptor this process already holds,
 * which shmkit_seg_recv() (src/fdpass.c) uses too, in strict mode, for one
 * received from another process. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

struct shmkit_seg *shmkit__seg_alloc(void)
{
	struct shmkit_seg *seg = calloc(1, sizeof(*seg));
	if (seg) {
		seg->fd = -1;
		seg->empty_fd = -1;
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

/* 1 if fd is a tmpfs file with pages not allocated, 0 if not, or a
 * negative errno. */
static int sparse_on_tmpfs(int fd)
{
	struct statfs sf;
	struct stat sb;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (fstatfs(fd, &sf) < 0 || fstat(fd, &sb) < 0)
		return shmkit__fail(shmkit__neg_errno(), "looking at the segment: %s", strerror(errno));
	/* a hole elsewhere (ext4, xfs, ...) reads as zeros without allocating */
	return (unsigned long)sf.f_type == (unsigned long)TMPFS_MAGIC &&
	       (uint64_t)sb.st_blocks * 512 < ((uint64_t)sb.st_size + page - 1) / page * page;
}

int shmkit__seg_has_holes(const struct shmkit_seg *seg)
{
	/* fd:N shares its offset with the caller's descriptor: never seeked */
	if (seg->fd < 0 || (seg->backend != SHMKIT_POSIX && seg->backend != SHMKIT_FILE) ||
	    strncmp(seg->uri, "fd:", 3) == 0)
		return 0;
	return sparse_on_tmpfs(seg->fd);
}

int shmkit__seg_reserve(const struct shmkit_seg *seg)
{
	if (fallocate(seg->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)seg->size) == 0)
		return 0;
	if (errno == ENOSPC)
		return shmkit__fail(-ENOSPC, "pages of the object are missing (a hole punched "
					     "in it?) and its filesystem has no room for them: "
					     "using it would fault with SIGBUS");
	return shmkit__fail(shmkit__neg_errno(), "reserving the object's pages: %s",
			    strerror(errno));
}

static int seek_failed(void)
{
	return shmkit__fail(shmkit__neg_errno(), "finding the holes of a sparse segment: %s",
			    strerror(errno));
}

/* Reading a hole of a tmpfs file through a mapping (shared or private)
 * allocates a page in the file, charged to the filesystem: a look would
 * change what a sparse segment holds (`df`, st_blocks), and on a full
 * tmpfs the fault is SIGBUS. */
int shmkit__cover_holes(void *base, size_t len, int fd)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t end = (len + page - 1) / page * page;
	int covered = 0;
	int sparse = sparse_on_tmpfs(fd);

	if (sparse <= 0)
		return sparse; /* every page is there: nothing a read can allocate */
	/* SEEK_HOLE also stops at pages reserved (fallocate) but never written:
	 * covering those too only hides zeros. */
	for (off_t pos = 0; (uint64_t)pos < end;) {
		off_t hole = lseek(fd, pos, SEEK_HOLE);
		if (hole < 0 && errno != ENXIO)
			return seek_failed();
		if (hole < 0 || (uint64_t)hole >= end)
			break; /* ENXIO: pos is past the end of the file */
		off_t data = lseek(fd, hole, SEEK_DATA);
		if (data < 0 && errno != ENXIO)
			return seek_failed(); /* never cover what may be data */
		size_t from = ((size_t)hole + page - 1) / page * page;
		size_t to = data < 0 || (uint64_t)data >= end ? end : (size_t)data / page * page;
		if (from < to) {
			if (++covered > SHMKIT__LOOK_HOLES_MAX)
				return shmkit__fail(-EFBIG, "a sparse segment with more than %d holes: "
							    "reading it through a mapping would "
							    "allocate its missing pages (SIGBUS on "
							    "a full tmpfs); read it with pread(2)",
						    SHMKIT__LOOK_HOLES_MAX);
			/* private zero pages over the hole: reads see zeros, the file gets nothing */
			if (mmap((char *)base + from, to - from, PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				return shmkit__fail(shmkit__neg_errno(), "covering a hole: %s",
						    strerror(errno));
		}
		if (data < 0)
			break;
		pos = data;
	}
	return 0;
}

int shmkit__efbig(size_t size)
{
	struct rlimit rl;

	/* RLIMIT_FSIZE gives EFBIG too (with SIGXFSZ ignored): name the limit the
	 * caller can change, not the filesystem, when it is the one exceeded */
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)size > (uint64_t)rl.rlim_cur)
		return shmkit__fail(-EFBIG, "size %zu exceeds this process's file size limit "
				    "(ulimit -f) of %llu bytes", size, (unsigned long long)rl.rlim_cur);
	return shmkit__fail(-EFBIG, "size %zu exceeds the filesystem's file size limit", size);
}

int shmkit__fsize_check(size_t size)
{
	struct rlimit rl;

	/* Past RLIMIT_FSIZE the kernel sends SIGXFSZ before it fails the call,
	 * and by default that signal kills the process half-way through a
	 * create (a posix: or file: name left behind, empty). Asked first, the
	 * limit is an -EFBIG like any other, whatever the signal's disposition. */
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)size > (uint64_t)rl.rlim_cur)
		return shmkit__efbig(size);
	return 0;
}

int shmkit__reserve_fd(int fd, size_t size)
{
	if (size > (size_t)INT64_MAX)
		return shmkit__fail(-EINVAL, "size %zu is too large", size);
	int rc = shmkit__fsize_check(size);
	if (rc < 0)
		return rc;
	/* posix_fallocate returns the error number itself, not -1/errno. */
	int err = posix_fallocate(fd, 0, (off_t)size);
	if (err == ENOSPC)
		return shmkit__fail(-ENOSPC, "no space to reserve %zu bytes (filesystem full)", size);
	if (err == EFBIG)
		return shmkit__efbig(size);
	if (err && err != EOPNOTSUPP && err != EINVAL)
		return shmkit__fail(-err, "reserving %zu bytes: %s", size, strerror(err));
	/* Where fallocate is unsupported the size is at least set. */
	if (ftruncate(fd, (off_t)size) < 0)
		return errno == EFBIG ? shmkit__efbig(size)
				      : shmkit__fail(shmkit__neg_errno(), "ftruncate to %zu: %s", size,
						     strerror(errno));
	return 0;
}

ssize_t shmkit__open_size(size_t want, uint64_t have, const char *what, const char *name)
{
	if (have == 0)
		return shmkit__fail(-EAGAIN, "%s exists but is empty (its creator has not sized it yet)",
				    what);
	if (want == 0 && have > SSIZE_MAX) /* not a size here: the cast would cut it */
		return shmkit__map_enomem(name, have);
	if (want == 0)
		return (ssize_t)have;
	if ((uint64_t)want > have)
		return shmkit__fail(-EINVAL, "%s holds %" PRIu64 " bytes, fewer than the %zu asked",
				    what, have, want);
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

/* ---- fd:N ---- */

/* "memfd:NAME" for a memfd (from /proc/self/fd), else "". */
static void memfd_name(int fd, char *out, size_t cap)
{
	char path[64], link[PATH_MAX];
	snprintf(path, sizeof(path), "%s/fd/%d", shmkit__proc_self_dir(), fd);
	out[0] = '\0';
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return;
	link[n] = '\0';
	if (strncmp(link, "/memfd:", 7) != 0)
		return;
	char *del = strstr(link, " (deleted)");
	if (del)
		*del = '\0';
	snprintf(out, cap, "memfd:%s", link + 7);
}

/* A memfd (or any descriptor when strict) must be sealed against shrinking. */
static int check_seals(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return shmkit__fail(-EBADMSG, "descriptor is not sealed against shrinking "
					      "(only sealed memfds are accepted)");
	return 0;
}

static ssize_t checked_size(int fd, size_t want, int sealed_only)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return shmkit__fail(shmkit__neg_errno(), "fstat of descriptor: %s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return shmkit__fail(sealed_only ? -EBADMSG : -EINVAL,
				    "descriptor is not a regular or memory file");
	if (sealed_only && (sb.st_size <= 0 || (uint64_t)want > (uint64_t)sb.st_size))
		return shmkit__fail(-EBADMSG, "descriptor holds %lld bytes, fewer than the %zu promised",
				    (long long)sb.st_size, want);
	return shmkit__open_size(want, (uint64_t)sb.st_size, "descriptor", "descriptor");
}

int shmkit__seg_from_fd(struct shmkit_seg **out, int fd, size_t size, int flags, int strict)
{
	char name[SHMKIT_URI_MAX];
	int rc;

	*out = NULL;
	memfd_name(fd, name, sizeof(name));
	int is_memfd = name[0] != '\0';
	if (strict || is_memfd) {
		rc = check_seals(fd);
		if (rc < 0)
			return rc;
	}
	ssize_t len = checked_size(fd, size, strict || is_memfd);
	if (len < 0)
		return (int)len;
	struct shmkit_seg *seg = shmkit__seg_alloc();
	if (!seg)
		return shmkit__no_memory("a segment handle");
	/* Our own descriptor: closing the segment never closes the caller's;
	 * above 0-2, as every descriptor we keep (shmkit__fd_above_stdio). */
	seg->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (seg->fd < 0) {
		rc = shmkit__fail(shmkit__neg_errno(), "dup of descriptor %d: %s", fd, strerror(errno));
		free(seg);
		return rc;
	}
	seg->backend = is_memfd ? SHMKIT_MEMFD : SHMKIT_FILE;
	seg->ops = is_memfd ? &shmkit__backend_memfd : &shmkit__backend_file;
	seg->flags = flags;
	seg->size = (size_t)len;
	if (strict && is_memfd)
		snprintf(seg->uri, sizeof(seg->uri), "%s", name);
	else
		snprintf(seg->uri, sizeof(seg->uri), "fd:%d", fd);
	rc = shmkit__map_fd(seg, seg->fd, (size_t)len, flags, 0);
	if (rc < 0) {
		close(seg->fd);
		free(seg);
		return rc;
	}
	*out = seg;
	return 0;
}
