/* Descriptor passing (SCM_RIGHTS) and mapping a descriptor this process
 * already holds (fd:N). A descriptor from elsewhere is untrusted: before
 * mapping it we check it is a file, sealed against shrinking (memfd), and
 * holds the bytes promised, so the mapping can never SIGBUS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* "memfd:NAME" for a memfd (from /proc/self/fd), else "". */
static void memfd_name(int fd, char *out, size_t cap)
{
	char path[64], link[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
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
	return shmkit__open_size(want, sb.st_size, "descriptor");
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
		return -ENOMEM;
	/* Our own descriptor: closing the segment never closes the caller's. */
	seg->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (seg->fd < 0) {
		rc = shmkit__fail(shmkit__neg_errno(), "dup of descriptor %d: %s", fd, strerror(errno));
		free(seg);
		return rc;
	}
	seg->backend = is_memfd ? SHMKIT_MEMFD : SHMKIT_FILE;
	seg->ops = shmkit__backend_of(seg->backend);
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
 * -1 when there is not exactly one (all closed then). */
static int take_one_fd(struct msghdr *msg)
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
	return fd;
}

int shmkit_seg_recv(int unix_sock, struct shmkit_seg **out, int flags)
{
	struct fdpass_msg m;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
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
	int fd = take_one_fd(&msg);
	if (n == 0 && fd < 0)
		return shmkit__fail(-EPIPE, "the sender closed the socket");
	int rc = 0;
	if ((size_t)n != sizeof(m) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
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
