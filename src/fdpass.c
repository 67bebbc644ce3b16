/* SPDX-License-Identifier: MIT */
/* Descriptor passing (SCM_RIGHTS). A descriptor from elsewhere is untrusted:
 * it is mapped through src/backend/fd.c in strict mode, which checks it is a
 * file, sealed against shrinking (memfd), and holds the bytes promised, so the
 * mapping can never SIGBUS. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"

#define FDPASS_MAGIC 0x4b4d4853u /* "SHMK" */
#define FDPASS_VERSION 1u

/* What travels with the descriptor. */
struct fdpass_msg {
	uint32_t magic;
	uint32_t version;
	uint64_t size; /* bytes the sender uses */
};

int shmkit_seg_send(int unix_sock, const struct shmkit_seg *seg)
{
	struct fdpass_msg m = { FDPASS_MAGIC, FDPASS_VERSION, 0 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;

	shmkit__detail_clear();
	if (!seg)
		return shmkit__fail(-EINVAL, "seg is NULL");
	if (seg->fd < 0)
		return shmkit__fail(-EBADF, "%s has no descriptor to pass (sysv:, anon:)", seg->uri);
	m.size = seg->size;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(&ctl, 0, sizeof(ctl));
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &seg->fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(unix_sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return shmkit__fail(shmkit__neg_errno(), "sendmsg: %s", strerror(errno));
	if ((size_t)n != sizeof(m))
		return shmkit__fail(-EPIPE, "sendmsg sent %zd of %zu bytes", n, sizeof(m));
	return 0;
}

/* Takes every descriptor out of the control data; returns the only one, or
 * -1 when there is not exactly one (all closed then). *taken: how many came. */
static int take_one_fd(struct msghdr *msg, int *taken)
{
	int fd = -1, count = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (count++ == 0)
				fd = got;
			else
				close(got);
		}
	}
	if (count != 1 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	*taken = count;
	return fd;
}

int shmkit_seg_recv(int unix_sock, struct shmkit_seg **out, int flags)
{
	struct fdpass_msg m;
	union {
		/* room for credentials too (a socket with SO_PASSCRED gets them
		 * first), so a truncation always means a descriptor was lost */
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;

	shmkit__detail_clear();
	if (!out)
		return shmkit__fail(-EINVAL, "out is NULL");
	*out = NULL;
	if (flags & ~(SHMKIT_RDONLY | SHMKIT_POPULATE))
		return shmkit__fail(-EINVAL, "recv takes only SHMKIT_RDONLY and SHMKIT_POPULATE");
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	ssize_t n;
	do
		n = recvmsg(unix_sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return shmkit__fail(shmkit__neg_errno(), "recvmsg: %s", strerror(errno));
	int nfds;
	int fd = take_one_fd(&msg, &nfds);
	if (n == 0 && fd < 0)
		return shmkit__fail(-EPIPE, "the sender closed the socket");
	int rc = 0;
	/* The kernel truncates the control data, installing nothing, when it
	 * cannot give us a descriptor (RLIMIT_NOFILE reached, or refused). */
	if ((msg.msg_flags & MSG_CTRUNC) && nfds == 0)
		rc = shmkit__fail(-EMFILE, "the descriptor sent could not be received: "
					   "this process has no descriptor free (RLIMIT_NOFILE)");
	else if ((size_t)n != sizeof(m) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    m.magic != FDPASS_MAGIC || m.version != FDPASS_VERSION)
		rc = shmkit__fail(-EBADMSG, "not a shmkit segment message");
	else if (fd < 0)
		rc = shmkit__fail(-EBADMSG, "message carried no (or more than one) descriptor");
	else if (m.size == 0 || m.size > (uint64_t)SIZE_MAX)
		rc = shmkit__fail(-EBADMSG, "message announces a size of %llu bytes",
				  (unsigned long long)m.size);
	if (rc == 0)
		rc = shmkit__seg_from_fd(out, fd, (size_t)m.size, flags, 1);
	if (fd >= 0)
		close(fd); /* the segment holds its own dup */
	return rc;
}
