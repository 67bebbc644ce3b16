/* SPDX-License-Identifier: MIT */
/* shmkit_peek: copy bytes out of a segment named by URI, only looking.
 * A System V segment is read through a process that has it attached
 * (process_vm_readv), never attached: shmat and shmdt rewrite its last-user
 * pid and times, which gc --foreign's proof reads. Everything else is read
 * through a read-only mapping of a read-only descriptor. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shmkit/seg.h>

#include "internal.h"
#include "proc.h"
#include "seg_stat.h"

/* len bytes at off of a file's descriptor: 0, or -ENODATA when the file is
 * shorter now than when it was opened. */
static int pread_all(int fd, uint64_t off, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t got = pread(fd, p, len, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return shmkit__fail(shmkit__neg_errno(), "reading the segment: %s",
					    strerror(errno));
		if (got == 0)
			return shmkit__fail(-ENODATA, "the segment shrank while it was read (another "
						      "process truncated it): %llu bytes left unread",
					    (unsigned long long)len);
		p += got;
		off += (uint64_t)got;
		len -= (size_t)got;
	}
	return 0;
}

int shmkit__look_for_pread(const char *uri, struct shmkit_seg **seg, uint64_t *size)
{
	struct stat sb;
	int r = shmkit_seg_open(seg, uri, 0, SHMKIT_LOOK, 0);

	if (r == 0) {
		*size = shmkit_seg_size(*seg);
		return 0;
	}
	if (r != -EFBIG && r != -ENOMEM)
		return r;
	char why[256];
	snprintf(why, sizeof(why), "%s", shmkit_last_error_detail());
	if (shmkit_seg_open(seg, uri, 1, SHMKIT_LOOK, 0) < 0)
		return shmkit__fail(r, "%s", why);
	if (shmkit_seg_fd(*seg) < 0 || fstat(shmkit_seg_fd(*seg), &sb) < 0) {
		shmkit_seg_close(*seg);
		*seg = NULL;
		return shmkit__fail(r, "%s", why);
	}
	shmkit__detail_clear();
	*size = (uint64_t)sb.st_size;
	return 0;
}

/* A file (posix:, file:) is read with pread from its descriptor: a peer that
 * truncates it meanwhile makes a short read, where a copy out of the mapping
 * would die of SIGBUS. Only what has no descriptor (anon:) is copied from
 * the mapping, which nobody else can shrink. */
static int peek_mapped(const char *uri, uint64_t off, void *buf, size_t len)
{
	struct shmkit_seg *seg;
	uint64_t size;
	int r = shmkit__look_for_pread(uri, &seg, &size);

	if (r < 0)
		return r;
	if (off > size || len > size - off)
		r = shmkit__fail(-EINVAL, "range past the end of the segment (%llu bytes)",
				 (unsigned long long)size);
	else if (len && shmkit_seg_fd(seg) >= 0) /* buf may be NULL when len is 0 */
		r = pread_all(shmkit_seg_fd(seg), off, buf, len);
	else if (len)
		memcpy(buf, (const char *)shmkit_seg_addr(seg) + off, len);
	shmkit_seg_close(seg);
	return r;
}

static int peek_sysv(const char *uri, uint64_t off, void *buf, size_t len)
{
	char why[256];
	struct shmkit_stat *st = malloc(sizeof(*st));
	if (!st)
		return shmkit__no_memory("a segment's status");
	int r = shmkit__stat_uri(uri, st, NULL); /* the segment's facts: size, id */
	if (r == 0 && (off > st->size || len > st->size - off))
		r = shmkit__fail(-EINVAL, "range past the end of the segment (%llu bytes)",
				 (unsigned long long)st->size);
	if (r == 0 && shmkit__sysv_peek(st->sysv_id, off, buf, len, NULL) < 0)
		r = shmkit__fail(-ENODATA, "not read: %s",
				 shmkit__sysv_unread_why(st, why, sizeof(why)));
	free(st);
	return r;
}

ssize_t shmkit_peek(const char *uri, uint64_t offset, void *buf, size_t len)
{
	shmkit__detail_clear();
	if (!uri || (!buf && len) || len > SSIZE_MAX)
		return shmkit__fail(-EINVAL, "uri or buf is NULL, or len too large");
	int r = strncmp(uri, "sysv:", 5) == 0 ? peek_sysv(uri, offset, buf, len)
					      : peek_mapped(uri, offset, buf, len);
	return r < 0 ? r : (ssize_t)len;
}
