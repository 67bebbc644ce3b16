/* SPDX-License-Identifier: MIT */
/* memfd: created sealed; shared over fork (fd:N) and passed over a Unix
 * socket to an exec'd process; fd:N maps a descriptor we hold without
 * taking it; the receiver refuses unsealed, too-small, garbage messages
 * with -EBADMSG and never leaks a descriptor. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define SIZE 8192

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* exec'd: receive a segment on fd argv[0], check it, answer with our own. */
static int role_peer(int argc, char **argv)
{
	struct shmkit_seg *seg, *mine;
	if (argc < 1)
		return 2;
	int sock = atoi(argv[0]);
	CHECK_OK(shmkit_seg_recv(sock, &seg, 0));
	CHECK(shmkit_seg_size(seg) == SIZE);
	CHECK(shmkit_seg_backend(seg) == SHMKIT_MEMFD);
	CHECK(strncmp(shmkit_seg_uri(seg), "memfd:shmkit-test-", 18) == 0);
	CHECK(strcmp(shmkit_seg_addr(seg), "from parent") == 0);
	strcpy((char *)shmkit_seg_addr(seg) + 100, "seen by exec'd peer");
	CHECK_OK(shmkit_seg_open(&mine, "memfd:peer", 4096, SHMKIT_CREATE, 0));
	strcpy(shmkit_seg_addr(mine), "from peer");
	CHECK_OK(shmkit_seg_send(sock, mine));
	CHECK_OK(shmkit_seg_close(mine));
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

static int child_uses_fd(void *arg)
{
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, arg, 0, 0, 0));
	strcpy((char *)shmkit_seg_addr(seg) + 200, "fork via fd:N");
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

static void raw_send(int sock, int fd, uint64_t size, uint32_t magic)
{
	struct {
		uint32_t magic, version;
		uint64_t size;
	} m = { magic, 1, size };
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(&ctl, 0, sizeof(ctl));
	if (fd >= 0) {
		int fds[2] = { fd, fd };
		int nfd = size == 12345 ? 2 : 1; /* 12345: send two descriptors */
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfd * sizeof(int));
	}
	CHECK(sendmsg(sock, &msg, 0) == (ssize_t)sizeof(m));
}

static void check_create_and_fd(void)
{
	const char *uri = test_uri("memfd", "made");
	struct shmkit_seg *seg, *via;
	struct shmkit_stat st;
	char fduri[32];

	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_CREATE, 0), -EINVAL);
	CHECK_OK(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_POPULATE, 0));
	int fd = shmkit_seg_fd(seg);
	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	CHECK(ftruncate(fd, 10) < 0 && errno == EPERM);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	strcpy(shmkit_seg_addr(seg), "from parent");
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.backend == SHMKIT_MEMFD && st.lifetime == SHMKIT_LIFE_PROCESS);
	CHECK(st.size == SIZE && st.mode == 0600);
	CHECK(st.n_mappers >= 1 && st.mappers[0].pid == getpid());
	CHECK_RET(shmkit_remove(uri), -EINVAL);
	CHECK_RET(shmkit_stat(uri, &st), -EINVAL);

	/* fd:N: a forked child maps the descriptor it inherited. */
	snprintf(fduri, sizeof(fduri), "fd:%d", fd);
	CHECK(test_wait(test_fork(child_uses_fd, fduri)) == 0);
	CHECK(strcmp((char *)shmkit_seg_addr(seg) + 200, "fork via fd:N") == 0);
	/* ...and here: closing that segment leaves our descriptor open. */
	CHECK_OK(shmkit_seg_open(&via, fduri, 0, 0, 0));
	CHECK(shmkit_seg_size(via) == SIZE && shmkit_seg_fd(via) != fd);
	CHECK(shmkit_seg_backend(via) == SHMKIT_MEMFD);
	CHECK(strcmp(shmkit_seg_addr(via), "from parent") == 0);
	CHECK_OK(shmkit_seg_close(via));
	CHECK(fcntl(fd, F_GETFD) >= 0);
	CHECK_OK(shmkit_seg_open(&via, fduri, 100, SHMKIT_RDONLY, 0));
	CHECK(shmkit_seg_size(via) == 100);
	CHECK_OK(shmkit_seg_close(via));
	CHECK_RET(shmkit_seg_open(&via, fduri, SIZE + 1, 0, 0), -EBADMSG);
	CHECK_RET(shmkit_seg_open(&via, fduri, SIZE, SHMKIT_CREATE, 0), -EINVAL);
	CHECK_OK(shmkit_stat(fduri, &st));
	CHECK(st.size == SIZE && st.backend == SHMKIT_MEMFD);
	CHECK(fcntl(fd, F_GETFD) >= 0);
	CHECK_OK(shmkit_seg_close(seg));
}

static void check_fd_kinds(void)
{
	struct shmkit_seg *seg;
	char fduri[32];
	int before = count_fds();

	/* An unsealed memfd could shrink under us: refused. */
	int raw = memfd_create("unsealed", MFD_CLOEXEC);
	CHECK(raw >= 0 && ftruncate(raw, 4096) == 0);
	snprintf(fduri, sizeof(fduri), "fd:%d", raw);
	CHECK_RET(shmkit_seg_open(&seg, fduri, 0, 0, 0), -EBADMSG);
	close(raw);
	/* A regular file is fine (file:-like). */
	const char *furi = test_uri("file", "fdfile");
	CHECK_OK(shmkit_seg_open(&seg, furi, 4096, SHMKIT_CREATE, 0600));
	strcpy(shmkit_seg_addr(seg), "file by fd");
	CHECK_OK(shmkit_seg_close(seg));
	int ffd = open(furi + 5, O_RDWR | O_CLOEXEC);
	CHECK(ffd >= 0);
	snprintf(fduri, sizeof(fduri), "fd:%d", ffd);
	CHECK_OK(shmkit_seg_open(&seg, fduri, 0, 0, 0));
	CHECK(shmkit_seg_backend(seg) == SHMKIT_FILE && shmkit_seg_size(seg) == 4096);
	CHECK(strcmp(shmkit_seg_addr(seg), "file by fd") == 0);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_RET(shmkit_seg_open(&seg, fduri, 8192, 0, 0), -EINVAL);
	close(ffd);
	CHECK_OK(shmkit_remove(furi));
	/* A pipe is not memory; a closed descriptor is not there. */
	int p[2];
	CHECK(pipe(p) == 0);
	snprintf(fduri, sizeof(fduri), "fd:%d", p[0]);
	CHECK_RET(shmkit_seg_open(&seg, fduri, 0, 0, 0), -EINVAL);
	close(p[0]);
	close(p[1]);
	CHECK_RET(shmkit_seg_open(&seg, "fd:999999", 0, 0, 0), -EBADF);
	CHECK(count_fds() == before);
}

static void check_pass(void)
{
	struct shmkit_seg *seg, *back;
	int sv[2];
	char arg[16];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_OK(shmkit_seg_open(&seg, test_uri("memfd", "pass"), SIZE, SHMKIT_CREATE, 0));
	strcpy(shmkit_seg_addr(seg), "from parent");
	snprintf(arg, sizeof(arg), "%d", sv[1]);
	const char *args[] = { arg, NULL };
	pid_t peer = test_spawn_self("peer", args);
	CHECK_OK(shmkit_seg_send(sv[0], seg));
	CHECK_OK(shmkit_seg_recv(sv[0], &back, 0));
	CHECK(test_wait(peer) == 0);
	CHECK(strcmp((char *)shmkit_seg_addr(seg) + 100, "seen by exec'd peer") == 0);
	CHECK(shmkit_seg_size(back) == 4096);
	CHECK(strcmp(shmkit_seg_addr(back), "from peer") == 0);
	CHECK(strcmp(shmkit_seg_uri(back), "memfd:peer") == 0);
	CHECK_OK(shmkit_seg_close(back));

	/* No descriptor to pass. */
	struct shmkit_seg *anon;
	CHECK_OK(shmkit_seg_open(&anon, "anon:", 4096, SHMKIT_CREATE, 0));
	CHECK_RET(shmkit_seg_send(sv[0], anon), -EBADF);
	CHECK_OK(shmkit_seg_close(anon));
	CHECK_OK(shmkit_seg_close(seg));
	close(sv[0]);
	close(sv[1]);
}

static void check_bad_messages(void)
{
	struct shmkit_seg *seg;
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	int before = count_fds();

	/* Unsealed memfd. */
	int raw = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(raw >= 0 && ftruncate(raw, 8192) == 0);
	raw_send(sv[0], raw, 4096, 0x4b4d4853u);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EBADMSG);
	CHECK(seg == NULL);
	/* Sealed but smaller than announced. */
	CHECK(fcntl(raw, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
	raw_send(sv[0], raw, 8193, 0x4b4d4853u);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EBADMSG);
	/* The same, announced right: accepted (sealing GROW is not required). */
	raw_send(sv[0], raw, 8192, 0x4b4d4853u);
	CHECK_OK(shmkit_seg_recv(sv[1], &seg, SHMKIT_RDONLY));
	CHECK_OK(shmkit_seg_close(seg));
	/* Size 0, wrong magic, no descriptor, two descriptors. */
	raw_send(sv[0], raw, 0, 0x4b4d4853u);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EBADMSG);
	raw_send(sv[0], raw, 4096, 0xdeadbeefu);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EBADMSG);
	raw_send(sv[0], -1, 4096, 0x4b4d4853u);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EBADMSG);
	raw_send(sv[0], raw, 12345, 0x4b4d4853u);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EBADMSG);
	/* A tmpfs file from /dev/shm cannot be sealed: refused too. */
	const char *puri = test_uri("posix", "notsealed");
	struct shmkit_seg *ps;
	CHECK_OK(shmkit_seg_open(&ps, puri, 4096, SHMKIT_CREATE, 0600));
	CHECK_OK(shmkit_seg_send(sv[0], ps));
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EBADMSG);
	CHECK_OK(shmkit_seg_close(ps));
	CHECK_OK(shmkit_remove(puri));
	close(raw);
	CHECK(count_fds() == before);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0x100), -EINVAL);
	close(sv[0]);
	close(sv[1]);

	/* The other side closed a stream: -EPIPE. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	close(sv[0]);
	CHECK_RET(shmkit_seg_recv(sv[1], &seg, 0), -EPIPE);
	close(sv[1]);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "peer", role_peer }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);

	check_create_and_fd();
	check_fd_kinds();
	check_pass();
	check_bad_messages();
	return test_done();
}
