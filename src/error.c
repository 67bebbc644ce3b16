/* SPDX-License-Identifier: MIT */
/* Failure reporting: shmkit_strerror, the thread's last error detail that
 * every layer sets on its way out (shmkit__fail), and the version string. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmkit/seg.h>

#include "internal.h"

const char *shmkit_strerror(int err)
{
	if (err < 0)
		err = err == INT_MIN ? INT_MAX : -err; /* -INT_MIN does not fit: unknown */
	switch (err) {
	case 0:
		return "success";
	case EBADMSG:
		return "not a valid shmkit object of this kind, or its header or an index in it is corrupt";
	case EPROTO:
		return "shmkit layout version not readable by this build";
	case EOWNERDEAD:
		return "previous owner died; lock held, state must be repaired and marked consistent";
	case EPIPE:
		return "the other side is gone for good";
	default:
		/* strerror() is thread-safe in glibc for known values; strerrordesc_np never NULL. */
		return strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error";
	}
}

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

int shmkit__no_memory(const char *what)
{
	/* what makes malloc return NULL; a cgroup's memory.max does not (its
	 * OOM killer acts at a page fault) */
	return shmkit__fail(-ENOMEM, "no memory for %s (the process's memory is used up: "
				     "RLIMIT_AS or RLIMIT_DATA, ulimit -v or -d, or the system's "
				     "commit limit under vm.overcommit_memory=2)", what);
}

int shmkit__sync_init_refused(const void *p, size_t align, const char *what)
{
	if (!p)
		return shmkit__fail(-EINVAL, "the %s is NULL", what);
	return shmkit__fail(-EINVAL, "the %s at %p is not %zu-byte aligned: place it at an "
				     "offset that is a multiple of %zu",
			    what, p, align, align);
}

int shmkit__access_fail(const char *what, unsigned owner, unsigned mode, int readable,
			const char *grant)
{
	/* a queue, topic or heap open takes no SHMKIT_RDONLY: say how to write */
	if (readable)
		return shmkit__fail(-EACCES, "%s: Permission denied (owner uid %u, mode 0%03o; "
					     "this process is uid %u): it may read it, not write "
					     "it: a read-only open (SHMKIT_RDONLY) works where the "
					     "call takes one; its owner can grant writing (%s, or the "
					     "mode it is created with)",
				    what, owner, mode & 0777u, (unsigned)geteuid(), grant);
	return shmkit__fail(-EACCES, "%s: Permission denied (owner uid %u, mode 0%03o; this "
				     "process is uid %u): its owner can grant access (%s, or the "
				     "mode it is created with)",
			    what, owner, mode & 0777u, (unsigned)geteuid(), grant);
}

const char *shmkit__fd_limit_hint(int err)
{
	if (err == EMFILE)
		return " (this process's descriptor limit: RLIMIT_NOFILE, ulimit -n)";
	if (err == ENFILE)
		return " (the system's file table is full: fs.file-max)";
	return "";
}

int shmkit__pollfd_error(int r, const char *what)
{
	if (r >= 0 || shmkit_last_error_detail()[0])
		return r;
	if (r == -EMFILE)
		return shmkit__fail(r, "no descriptor free for the %s's pollable descriptor "
				       "(RLIMIT_NOFILE, ulimit -n)", what);
	if (r == -ENFILE)
		return shmkit__fail(r, "no descriptor free for the %s's pollable descriptor "
				       "(the system's file table is full: fs.file-max)", what);
	if (r == -ENOMEM || r == -ENOBUFS)
		return shmkit__fail(r, "no memory for the %s's pollable descriptor", what);
	if (r == -ENOSPC)
		return shmkit__fail(r, "every listener entry of the %s is taken", what);
	return shmkit__fail(r, "making the %s's pollable descriptor: %s", what,
			    shmkit_strerror(r));
}

int shmkit__reserved_zero(const void *p, size_t n, const char *what)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return shmkit__fail(-EINVAL, "%s: reserved bytes are not zero (an option "
						     "this shmkit %s does not know?)",
					    what, SHMKIT_VERSION_STRING);
	return 0;
}

const char *shmkit_version(void)
{
	return SHMKIT_VERSION_STRING;
}
