/* SPDX-License-Identifier: MIT */
/* Harness: shmkit_seg_recv against hostile SCM_RIGHTS messages. The input
 * is a small program for the sender: which socket type, what bytes (a shmkit
 * header with chosen fields, or anything), which descriptors (sealed or
 * unsealed memfds of chosen sizes, pipes, sockets, /dev/null, a directory,
 * an eventfd), how many per control message and how many messages, and
 * credentials mixed in. The receiver must return (never block: the sender
 * always ends what it sends), map only what a descriptor really holds (every
 * byte of a received segment is read: a short one would SIGBUS), and leak no
 * descriptor whatever happens. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 8

struct reader {
	const uint8_t *p;
	size_t left;
};

static unsigned take(struct reader *r)
{
	if (r->left == 0)
		return 0;
	r->left--;
	return *r->p++;
}

static uint64_t take64(struct reader *r)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)take(r) << (8 * i);
	return v;
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A memfd of `size` bytes, sealed against resizing when seal_shrink. */
static int make_memfd(size_t size, int seal_shrink)
{
	int fd = memfd_create("shmkit-fuzz-pass", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    (seal_shrink && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One descriptor of the kind the input picks; -1 for none. */
static int make_fd(struct reader *r)
{
	unsigned kind = take(r) % 9;
	size_t size = (size_t)(take(r) | take(r) << 8) + 1; /* 1 .. 64 KiB */
	int p[2];

	switch (kind) {
	case 0:
	case 1:
		return make_memfd(size, 1);
	case 2:
		return make_memfd(size, 0);
	case 3:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		close(p[1]);
		return p[0];
	case 4:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case 5:
		return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	case 6:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
			return -1;
		close(p[1]);
		return p[0];
	case 7:
		return eventfd(0, EFD_CLOEXEC);
	default: /* sealed and empty */
		return make_memfd(0, 1);
	}
}

/* The 16 bytes a shmkit sender writes, with fields the input chooses. */
static size_t make_payload(struct reader *r, uint8_t *buf, size_t cap)
{
	unsigned how = take(r) % 4;
	if (how == 0) { /* a well-formed header announcing a chosen size */
		uint32_t magic = 0x4b4d4853u, version = 1;
		uint64_t size = take64(r);
		memcpy(buf, &magic, 4);
		memcpy(buf + 4, &version, 4);
		memcpy(buf + 8, &size, 8);
		return 16;
	}
	if (how == 1) { /* a well-formed header announcing a small size */
		uint32_t magic = 0x4b4d4853u, version = 1;
		uint64_t size = (uint64_t)(take(r) | take(r) << 8);
		memcpy(buf, &magic, 4);
		memcpy(buf + 4, &version, 4);
		memcpy(buf + 8, &size, 8);
		return 16;
	}
	size_t n = take(r) % cap; /* anything, of any length */
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)take(r);
	return n;
}

/* Sends one message: payload plus fds in one or two SCM_RIGHTS messages,
 * maybe with SCM_CREDENTIALS too. Closes our copies of the fds. */
static void send_one(struct reader *r, int sock)
{
	uint8_t payload[40];
	int fds[MAX_FDS];
	size_t nfd = take(r) % (MAX_FDS + 1), made = 0;
	for (size_t i = 0; i < nfd; i++) {
		int fd = make_fd(r);
		if (fd >= 0)
			fds[made++] = fd;
	}
	size_t plen = make_payload(r, payload, sizeof(payload));
	unsigned ctl_how = take(r);
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS) * 2 + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { payload, plen };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t used = 0;
	if (made > 0) {
		/* one control message, or two that split the descriptors */
		size_t first = (ctl_how & 1) && made > 1 ? made / 2 : made;
		struct cmsghdr *c = (struct cmsghdr *)ctl.buf;
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * first);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * first);
		used = CMSG_SPACE(sizeof(int) * first);
		if (first < made) {
			c = (struct cmsghdr *)(ctl.buf + used);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * (made - first));
			memcpy(CMSG_DATA(c), fds + first, sizeof(int) * (made - first));
			used += CMSG_SPACE(sizeof(int) * (made - first));
		}
	}
	if (ctl_how & 2) {
		struct cmsghdr *c = (struct cmsghdr *)(ctl.buf + used);
		struct ucred cred = { getpid(), getuid(), getgid() };
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(cred));
		memcpy(CMSG_DATA(c), &cred, sizeof(cred));
		used += CMSG_SPACE(sizeof(cred));
	}
	msg.msg_control = used ? ctl.buf : NULL;
	msg.msg_controllen = used;
	if (plen > 0 || used > 0)
		(void)sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (size_t i = 0; i < made; i++)
		close(fds[i]);
}

static void check_received(struct shmkit_seg *seg)
{
	/* Every byte must be backed: a mapping past a descriptor's end would
	 * SIGBUS here. */
	fuzz_touch(shmkit_seg_addr(seg), shmkit_seg_size(seg));
	FUZZ_T(shmkit_seg_close(seg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	struct reader r = { data, size };
	int sv[2];

	int before = open_fds();
	int type = types[take(&r) % 3];
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	unsigned opts = take(&r);
	if (opts & 1) {
		int one = 1;
		setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	}
	/* A backstop only: the sender always ends its stream (below) or
	 * sends a datagram, so the receiver never has to wait for this. */
	struct timeval tv = { 2, 0 };
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t msgs = take(&r) % 3 + 1;
	for (size_t i = 0; i < msgs; i++)
		send_one(&r, sv[0]);
	if (type == SOCK_DGRAM)
		(void)send(sv[0], "", 0, MSG_NOSIGNAL | MSG_DONTWAIT); /* datagrams have no EOF */
	else
		shutdown(sv[0], SHUT_WR);
	int flags = (opts >> 1) & 7; /* RDONLY, POPULATE, and an unknown bit */
	for (size_t i = 0; i < msgs + 1; i++) {
		struct shmkit_seg *seg = NULL;
		int rc = FUZZ_T(shmkit_seg_recv(sv[1], &seg, flags));
		if (rc == 0)
			check_received(seg);
		else if (seg != NULL)
			fuzz_fail("seg_recv failed (%d) but handed out a segment", rc);
		if (rc == -EPIPE || rc == -EAGAIN || rc == -EINVAL)
			break;
	}
	close(sv[0]);
	close(sv[1]);
	int after = open_fds();
	if (after != before)
		fuzz_fail("%d descriptors before, %d after: shmkit_seg_recv leaked", before, after);
	return 0;
}
