/* SPDX-License-Identifier: MIT */
/* Segments: the front end. Parses the URI and dispatches to one backend
 * (src/backend/; fd:N to src/backend/fd.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abandoned.h"
#include "backend/backend.h"
#include "internal.h"

/* ---- the public front end ---- */

static int check_open_args(size_t size, int flags)
{
	if (flags & ~(SHMKIT_CREATE | SHMKIT_EXCL | SHMKIT_RDONLY | SHMKIT_POPULATE | SHMKIT_HUGE |
		      SHMKIT_LOOK))
		return shmkit__fail(-EINVAL, "unknown flags 0x%x", (unsigned)flags);
	if ((flags & SHMKIT_LOOK) && (flags & SHMKIT_CREATE))
		return shmkit__fail(-EINVAL, "SHMKIT_LOOK with SHMKIT_CREATE: a look only opens");
	if ((flags & SHMKIT_EXCL) && !(flags & SHMKIT_CREATE))
		return shmkit__fail(-EINVAL, "SHMKIT_EXCL without SHMKIT_CREATE");
	/* Open-or-create with size 0 opens an existing segment whole (DESIGN
	 * §4); the backend says -EINVAL if there is none to open. */
	if ((flags & SHMKIT_EXCL) && size == 0)
		return shmkit__fail(-EINVAL, "size 0: creating a segment needs its size");
	return 0;
}

/* A new handle opened by u's backend into *out; nothing allocated on error
 * but *empty: the empty file an open-or-create waited on (-1: none), for
 * the caller to close. */
static int backend_open(struct shmkit_seg **out, const struct shmkit__uri *u, size_t size,
			int flags, unsigned mode, int *empty)
{
	struct shmkit_seg *seg = shmkit__seg_alloc();
	if (!seg)
		return shmkit__no_memory("a segment handle");
	seg->ops = shmkit__backend_of(u->backend);
	seg->backend = u->backend;
	seg->flags = flags;
	shmkit__uri_format(u, seg->uri, sizeof(seg->uri));
	int rc = seg->ops->open(seg, u, size, flags, mode);
	if (rc < 0) {
		*empty = seg->empty_fd;
		free(seg);
		return rc;
	}
	if (seg->fd >= 0)
		seg->fd = shmkit__fd_above_stdio(seg->fd);
	*out = seg;
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
	if (u.populate) /* ?populate: every object kind's create and open get it */
		flags |= SHMKIT_POPULATE;
	if (flags & SHMKIT_LOOK) { /* prefaulting would allocate what a look must not */
		flags = (flags | SHMKIT_RDONLY) & ~SHMKIT_POPULATE;
		/* and a look maps anywhere: at ?addr= it met the caller's own
		 * mapping of the object there (-EEXIST), so shmkit_topic_stat()
		 * of the URI a subscriber had opened failed (Python's
		 * Subscriber.open reads the slot size that way) */
		u.addr = 0;
		u.addr_rnd = 0;
	}
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
	int empty = -1;
	rc = backend_open(out, &u, size, flags, mode, &empty);
	/* Open or create that found the name still empty after its wait: a
	 * creator killed before it sized the file (inside posix_fallocate)
	 * left it, and nothing in it names anyone to wait for. Without taking
	 * it over (as a managed create does, abandoned.c), every later open or
	 * create got -EAGAIN until someone removed the name by hand. Another
	 * open-or-create taking the same file over at once makes the name
	 * move under ours (-EAGAIN): ours opens again, and finds the object
	 * that one makes (waiting for its sizing, as for any creator). Size 0
	 * creates nothing, so it has no empty file to take over. */
	for (int tries = 0; tries < 4 && rc == -EAGAIN && (flags & SHMKIT_CREATE) &&
			    !(flags & SHMKIT_EXCL) && size > 0;
	     tries++) {
		SHMKIT__TEST_POINT("seg.open.empty");
		int r = shmkit__remove_abandoned(uri, empty);
		if (empty >= 0)
			close(empty);
		empty = -1;
		if (r == 0)
			break;
		shmkit__detail_clear();
		rc = backend_open(out, &u, size, flags, mode, &empty);
	}
	if (empty >= 0)
		close(empty);
	return rc;
}

int shmkit__fd_above_stdio(int fd)
{
	if (fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (moved < 0)
		return fd; /* no descriptor left: keep the low one, still ours */
	close(fd);
	return moved;
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
	return seg ? seg->backend : SHMKIT_BACKEND_NONE;
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
	return shmkit__backend_of(u.backend)->remove(&u);
}
