/* SPDX-License-Identifier: MIT */
/* Pollable descriptors (shmkit_queue_fd, shmkit_queue_send_fd, shmkit_sub_fd)
 * between real processes: readiness after a send from another process and
 * cleared after draining; level-triggered epoll, poll and select loops that
 * never block in recv; -EPIPE on a topic; close-on-exec and close; no system
 * call per message without an armed receiver, one per wake-up with one; a
 * receiver killed while armed costs the producer nothing lasting. */
/* TIMEOUT: 240 */
#include "test.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"

#define MS 1000000ll
#define SEC 1000000000ll

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, timeout_ms);
	return r == 1 && (p.revents & POLLIN);
}

/* A receive once the descriptor is readable, looking again after a
 * spurious readiness: a publisher wakes every descriptor once when it
 * becomes active (DESIGN 9 allows it), before its first message. */
static ssize_t sub_recv_readable(struct shmkit_sub *s, int fd, void *buf, size_t cap)
{
	ssize_t rc = -EAGAIN;

	for (int i = 0; i < 100 && rc == -EAGAIN; i++)
		rc = readable(fd, 10000) ? shmkit_sub_recv(s, buf, cap, 0) : -ETIMEDOUT;
	return rc;
}

static struct shmkit_queue *open_q(const char *uri)
{
	struct shmkit_queue *q = NULL;
	CHECK_OK(shmkit_queue_open(&q, uri));
	if (!q)
		exit(3);
	return q;
}

/* ---- child roles (exec'd) ---- */

/* argv: uri count maxpause_us: sends count sequenced u64s, pausing randomly. */
static int role_producer(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	uint64_t n = strtoull(argv[1], NULL, 0);
	unsigned maxpause = (unsigned)atoi(argv[2]);
	srand((unsigned)getpid());
	for (uint64_t i = 0; i < n; i++) {
		CHECK_OK(shmkit_queue_send(q, &i, sizeof(i), SHMKIT_FOREVER));
		if (maxpause && rand() % 64 == 0)
			usleep((useconds_t)(rand() % (int)maxpause));
	}
	CHECK_OK(shmkit_queue_close(q));
	return test_done();
}

/* argv: uri: arms its descriptor, says so on stdout, waits in poll for ever. */
static int role_armed_receiver(int argc, char **argv)
{
	char buf[16];
	if (argc < 1)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	while (shmkit_queue_recv(q, buf, sizeof(buf), 0) >= 0)
		;
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
	printf("armed\n");
	fflush(stdout);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	poll(&p, 1, -1);
	return 5; /* killed before this */
}

/* argv: fdnum: the descriptor must not have survived exec. */
static int role_check_closed(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	int fd = atoi(argv[0]);
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	return test_done();
}

/* argv: uri count: publishes count sequenced u64s (reliable), then closes. */
static int role_publisher(int argc, char **argv)
{
	struct shmkit_pub *p;
	if (argc < 2)
		return 2;
	uint64_t n = strtoull(argv[1], NULL, 0);
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	for (uint64_t i = 0; i < n; i++) {
		CHECK_OK(shmkit_pub_send(p, &i, sizeof(i), SHMKIT_FOREVER));
		if (i % 97 == 0)
			usleep(100);
	}
	CHECK_OK(shmkit_pub_close(p));
	return test_done();
}

/* argv: uri count: publishes count messages, then waits to be killed. */
static int role_publisher_dies(int argc, char **argv)
{
	struct shmkit_pub *p;
	if (argc < 2)
		return 2;
	uint64_t n = strtoull(argv[1], NULL, 0);
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	for (uint64_t i = 0; i < n; i++)
		CHECK_OK(shmkit_pub_send(p, &i, sizeof(i), SHMKIT_FOREVER));
	printf("published\n");
	fflush(stdout);
	pause();
	return 5;
}

/* argv: uri: sends one message (spawned paused inside its wake-up). */
static int role_send_one(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	CHECK_OK(shmkit_queue_send(q, "k", 1, SEC));
	return test_done();
}

/* argv: uri: the owner of a descriptor that reads one message per
 * readiness (spawned paused at lis.arm.armed, inside each of its arms). Exit
 * 7: a message waited while the descriptor stayed unreadable. */
static int role_owner_polls(int argc, char **argv)
{
	char buf[16];
	if (argc < 1)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN); /* arm 1 */
	CHECK(readable(fd, 10000));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK(readable(fd, 10000));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK(readable(fd, 10000)); /* the token is still queued */
	/* arm 2; its look once more finds a message */
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	if (readable(fd, 3000))
		return test_done();
	if (shmkit_queue_recv(q, buf, sizeof(buf), 0) == 1) {
		fprintf(stderr, "owner_polls: a message waited, descriptor unreadable\n");
		return 7;
	}
	return 8;
}

/* argv: uri -> opens the (MPMC) queue and asks for its descriptor. */
static int role_queue_fd(int argc, char **argv)
{
	struct shmkit_queue *q;
	if (argc < 1 || shmkit_queue_open(&q, argv[0]) < 0)
		return 2;
	return shmkit_queue_fd(q) >= 0 ? 0 : 3;
}

static const struct test_role roles[] = {
	{ "publisher_dies", role_publisher_dies },
    {"producer", role_producer},
    {"armed_receiver", role_armed_receiver},
    {"check_closed", role_check_closed},
    {"publisher", role_publisher},
    {"queue_fd", role_queue_fd},
    {"send_one", role_send_one},
    {"owner_polls", role_owner_polls},
    {NULL, NULL},
};

static const char *make_queue(const char *tag, size_t cap)
{
	const char *uri = test_uri("posix", tag);
	struct shmkit_queue_opts o = {.capacity = cap, .max_msg = 16};
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_close(q));
	return uri;
}

static pid_t spawn_producer(const char *uri, uint64_t n, int maxpause_us)
{
	char count[32], pause[32];
	snprintf(count, sizeof(count), "%llu", (unsigned long long)n);
	snprintf(pause, sizeof(pause), "%d", maxpause_us);
	const char *args[] = {uri, count, pause, NULL};
	return test_spawn_self("producer", args);
}

/* ---- tests ---- */

/* Readiness appears after a send from another process, clears after
 * draining; the descriptor is the handle's, close-on-exec. */
static void test_ready_and_clear(void)
{
	const char *uri = make_queue("ready", 8);
	struct shmkit_queue *q = open_q(uri);
	uint64_t v;
	int fd = shmkit_queue_fd(q);

	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_fd(q), fd); /* the same one each time */
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0)); /* drained and armed: not readable */
	for (int round = 0; round < 3; round++) {
		pid_t c = spawn_producer(uri, 1, 0);
		CHECK(readable(fd, 10000)); /* within 10 s (loaded machine) */
		CHECK_RET(test_wait(c), 0);
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
		CHECK(v == 0);
		CHECK(readable(fd, 0) || 1); /* may stay readable until -EAGAIN */
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
		CHECK(!readable(fd, 0));
	}
	/* recv with a timeout drains too; a second -EAGAIN is free */
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0));
	/* not inherited by exec */
	char num[16];
	snprintf(num, sizeof(num), "%d", fd);
	const char *args[] = {num, NULL};
	CHECK_RET(test_wait(test_spawn_self("check_closed", args)), 0);
	/* closed by close */
	CHECK_OK(shmkit_queue_close(q));
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	CHECK_RET(shmkit_queue_fd(NULL), -EINVAL);
}

/* A level-triggered epoll loop takes one message per readiness (never
 * blocking in recv) and must still get all n, in order. */
static void test_epoll_loop(uint64_t n)
{
	const char *uri = make_queue("epoll", 64);
	struct shmkit_queue *q = open_q(uri);
	int fd = shmkit_queue_fd(q);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN}, out;
	uint64_t next = 0, v;
	int64_t end = test_now_ns() + 120 * SEC;

	CHECK(fd >= 0 && ep >= 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	pid_t c = spawn_producer(uri, n, 300);
	while (next < n && test_now_ns() < end) {
		int r = epoll_wait(ep, &out, 1, 10000);
		if (r != 1) {
			CHECK(r == 1); /* ten seconds without readiness: lost */
			break;
		}
		ssize_t got = shmkit_queue_recv(q, &v, sizeof(v), 0);
		if (got == -EAGAIN)
			continue; /* spurious: allowed */
		CHECK_RET(got, sizeof(v));
		if (v != next) {
			CHECK(v == next);
			break;
		}
		next++;
	}
	CHECK(next == n);
	CHECK_RET(test_wait(c), 0);
	close(ep);
	CHECK_OK(shmkit_queue_close(q));
}

/* The same with poll() and with select(), draining until -EAGAIN. */
static void test_poll_select(int use_select, uint64_t n)
{
	const char *uri = make_queue(use_select ? "select" : "poll", 32);
	struct shmkit_queue *q = open_q(uri);
	int fd = shmkit_queue_fd(q);
	uint64_t next = 0, v;
	int64_t end = test_now_ns() + 120 * SEC;

	CHECK(fd >= 0 && fd < FD_SETSIZE);
	pid_t c = spawn_producer(uri, n, 200);
	while (next < n && test_now_ns() < end) {
		int ok;
		if (use_select) {
			fd_set rs;
			FD_ZERO(&rs);
			FD_SET(fd, &rs);
			struct timeval tv = {10, 0};
			ok = select(fd + 1, &rs, NULL, NULL, &tv) == 1 && FD_ISSET(fd, &rs);
		} else {
			ok = readable(fd, 10000);
		}
		if (!ok) {
			CHECK(ok);
			break;
		}
		ssize_t got;
		while ((got = shmkit_queue_recv(q, &v, sizeof(v), 0)) == sizeof(v)) {
			if (v != next)
				break;
			next++;
		}
		if (got != -EAGAIN) {
			CHECK_RET(got, -EAGAIN);
			break;
		}
	}
	CHECK(next == n);
	CHECK_RET(test_wait(c), 0);
	CHECK_OK(shmkit_queue_close(q));
}

/* Producer side: readable while a send with timeout 0 would succeed. */
static void test_send_fd(void)
{
	const char *uri = make_queue("sendfd", 2);
	struct shmkit_queue *p = open_q(uri), *c = open_q(uri);
	uint64_t v = 7;
	int fd = shmkit_queue_send_fd(p);

	CHECK(fd >= 0);
	CHECK(fd != shmkit_queue_fd(c));
	while (shmkit_queue_send(p, &v, sizeof(v), 0) == 0)
		;
	CHECK(!readable(fd, 0)); /* full: armed */
	CHECK_RET(shmkit_queue_recv(c, &v, sizeof(v), 0), sizeof(v));
	CHECK(readable(fd, 0)); /* the receive woke it */
	CHECK_OK(shmkit_queue_send(p, &v, sizeof(v), 0));
	CHECK_OK(shmkit_queue_close(p));
	CHECK_OK(shmkit_queue_close(c));
}

/* A new topic at uri made with o, and a subscriber of it: its descriptor. */
static int subscribed_fd(const char *uri, const struct shmkit_topic_opts *o, struct shmkit_sub **s)
{
	CHECK_OK(shmkit_topic_create(uri, o));
	CHECK_OK(shmkit_sub_open(s, uri));
	int fd = shmkit_sub_fd(*s);
	CHECK(fd >= 0);
	return fd;
}

/* A topic's descriptor: messages from another process, then -EPIPE (and
 * readiness) once the publisher closed. */
static void test_topic_fd(void)
{
	const char *uri = test_uri("posix", "topicfd");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 16, .reliable = 1};
	struct shmkit_sub *s;
	uint64_t v, next = 0, n = 2000;
	int64_t end = test_now_ns() + 60 * SEC;

	int fd = subscribed_fd(uri, &o, &s);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0));
	char count[16];
	snprintf(count, sizeof(count), "%llu", (unsigned long long)n);
	const char *args[] = {uri, count, NULL};
	pid_t c = test_spawn_self("publisher", args);
	ssize_t got = 0;
	while (test_now_ns() < end) {
		if (!readable(fd, 10000)) {
			CHECK(!"topic descriptor never became readable");
			break;
		}
		while ((got = shmkit_sub_recv(s, &v, sizeof(v), 0)) == sizeof(v)) {
			CHECK(v == next);
			next++;
		}
		if (got != -EAGAIN)
			break;
	}
	CHECK_RET(got, -EPIPE);
	CHECK(next == n);
	CHECK(readable(fd, 0)); /* -EPIPE waits: stays readable */
	CHECK_RET(test_wait(c), 0);
	/* a new publisher: the first receive that finds nothing clears the
	 * readiness -EPIPE left (its own token and the closing publisher's) */
	struct shmkit_pub *p;
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0));
	CHECK_OK(shmkit_pub_send(p, &n, sizeof(n), SEC));
	CHECK(readable(fd, 5000));
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), (ssize_t)sizeof(v));
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_sub_close(s));
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
}

/* The role publisher_dies on uri: it publishes count messages, says so,
 * and waits to be killed. Returns its pid once it has published. */
static pid_t spawn_publisher_dies(const char *uri, const char *count)
{
	char line[32];
	int pfd[2];

	CHECK(pipe(pfd) == 0);
	pid_t c = fork();
	if (c == 0) {
		dup2(pfd[1], 1);
		char exe[4096];
		ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = '\0';
		execl(exe, exe, "--role", "publisher_dies", uri, count, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], line, sizeof(line) - 1);
	CHECK(n > 0 && strncmp(line, "published", 9) == 0);
	close(pfd[0]);
	return c;
}

/* Kills publisher c: s's descriptor turns readable (the publisher's pidfd
 * in its epoll set) and the receive says -EPIPE, which stays readable. */
static void kill_publisher_see_epipe(struct shmkit_sub *s, int fd, pid_t c)
{
	uint64_t v;

	kill(c, SIGKILL);
	CHECK_RET(test_wait(c), 128 + SIGKILL);
	if (test_have_pidfd()) {
		CHECK_RET(sub_recv_readable(s, fd, &v, sizeof(v)), -EPIPE);
		CHECK(readable(fd, 0));
	} else {
		/* without pidfd_open (old kernels, valgrind) the documented
		 * fallback: a receive with a timeout sees the death */
		CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 10 * 1000000000LL), -EPIPE);
	}
}

/* A publisher killed (not closed) while the subscriber waits in poll: the
 * descriptor turns readable (the publisher's pidfd in its epoll set) and the
 * receive says -EPIPE once the messages are read. */
static void test_topic_fd_killed_publisher(void)
{
	const char *uri = test_uri("posix", "topickill");
	struct shmkit_topic_opts o = { .slot_size = 16, .slots = 16 };
	struct shmkit_sub *s;
	uint64_t v;

	int fd = subscribed_fd(uri, &o, &s);
	pid_t c = spawn_publisher_dies(uri, "3");
	for (int i = 0; i < 3; i++)
		CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), sizeof(v));
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN); /* armed, pidfd watched */
	CHECK(!readable(fd, 0));
	kill_publisher_see_epipe(s, fd, c);
	CHECK_OK(shmkit_sub_close(s));
}

/* A descriptor armed while the topic has no publisher: one that comes and
 * is killed before it publishes anything still makes it readable, and the
 * receive says -EPIPE (the publisher wakes every descriptor once it is
 * named, whose subscriber then watches its pidfd). Before that wake the
 * descriptor stayed unreadable for good. */
static void test_topic_fd_publisher_after_arm(void)
{
	const char *uri = test_uri("posix", "topiclate");
	struct shmkit_topic_opts o = { .slot_size = 16, .slots = 16 };
	struct shmkit_sub *s;
	uint64_t v;

	int fd = subscribed_fd(uri, &o, &s);
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN); /* armed: no publisher */
	CHECK(!readable(fd, 0));
	pid_t c = spawn_publisher_dies(uri, "0");
	kill_publisher_see_epipe(s, fd, c);
	CHECK_OK(shmkit_sub_close(s));
}

/* The listener's socket behind a descriptor: the descriptor itself, or,
 * since the queue's is an epoll set (listener + the pidfd of a slot's
 * holder), the set's member that has an abstract name (fdinfo's "tfd:"). */
static int listener_socket(int fd, struct sockaddr_un *a, socklen_t *alen)
{
	char path[64], line[256];
	socklen_t cap = *alen;

	if (getsockname(fd, (struct sockaddr *)a, alen) == 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "re");
	int found = -1, tfd;
	while (f && found < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "tfd: %d", &tfd) == 1) {
			*alen = cap;
			if (getsockname(tfd, (struct sockaddr *)a, alen) == 0 && a->sun_path[0] == 0)
				found = tfd;
		}
	if (f)
		fclose(f);
	return found;
}

/* The listener's name is public: a stranger's datagrams make the
 * descriptor readable at most until the next receive that finds nothing
 * (which drains them), never for good (a level-triggered loop would spin);
 * a flood that fills the listener's socket blocks no producer, grows
 * nothing, and a real message still wakes the receiver. */
static void test_stranger_datagrams(void)
{
	const char *uri = make_queue("stranger", 8);
	struct shmkit_queue *q = open_q(uri);
	uint64_t v;
	int fd = shmkit_queue_fd(q);
	struct sockaddr_un a;
	socklen_t alen = sizeof(a);

	CHECK(fd >= 0);
	CHECK(listener_socket(fd, &a, &alen) >= 0 && a.sun_path[0] == 0);
	int st = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CHECK(st >= 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN); /* armed */
	CHECK(!readable(fd, 0));
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5; i++)
			CHECK(sendto(st, "x", 1, 0, (struct sockaddr *)&a, alen) == 1);
		CHECK(readable(fd, 0)); /* spurious readiness: allowed */
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
		CHECK(!readable(fd, 0)); /* ... and gone after one empty receive */
	}
	/* Strangers add to the token an idle listener holds (a message was just
	 * taken): arming reads one token, so at most one more empty receive
	 * sees the descriptor readable, which drains the rest. */
	pid_t c = spawn_producer(uri, 1, 0);
	CHECK(readable(fd, 10000));
	CHECK_RET(test_wait(c), 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
	for (int i = 0; i < 3; i++)
		CHECK(sendto(st, "x", 1, 0, (struct sockaddr *)&a, alen) == 1);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	if (readable(fd, 0))
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0));
	/* a flood: the socket's queue fills (bounded by the kernel) */
	int sent = 0;
	while (sent < 100000 && sendto(st, "x", 1, MSG_DONTWAIT, (struct sockaddr *)&a, alen) == 1)
		sent++;
	CHECK(sent < 100000 && errno == EAGAIN);
	printf("a stranger queued %d datagrams before the listener's socket was full\n", sent);
	/* a producer's wake-up to the full socket neither blocks nor fails */
	int64_t t0 = test_now_ns();
	c = spawn_producer(uri, 1, 0);
	CHECK_RET(test_wait(c), 0);
	CHECK(test_now_ns() - t0 < 30 * SEC);
	CHECK(readable(fd, 0));
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
	for (int i = 0; i < 100 && shmkit_queue_recv(q, &v, sizeof(v), 0) == -EAGAIN &&
			readable(fd, 0);
	     i++)
		;
	CHECK(!readable(fd, 0)); /* drained within a few empty receives */
	/* and the next real message still wakes it */
	c = spawn_producer(uri, 1, 0);
	CHECK(readable(fd, 10000));
	CHECK_RET(test_wait(c), 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), sizeof(v));
	close(st);
	CHECK_OK(shmkit_queue_close(q));
}

/* A wake-up token stays charged to the sending socket until its listener
 * reads it. More armed listeners than one socket's send buffer holds tokens
 * (about 270 with the default buffer) are all woken by one publish. */
static void test_many_listeners(void)
{
	enum { N = 400 };
	const char *uri = test_uri("posix", "manylis");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 16, .max_subs = N};
	struct shmkit_pub *p;
	static struct shmkit_sub *subs[N];
	static int fds[N];
	struct rlimit rl;
	uint64_t v = 7;

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 4 * N + 64) {
		rl.rlim_cur = rl.rlim_max < 4 * N + 64 ? rl.rlim_max : 4 * N + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < 4 * N + 64) {
			printf("many listeners skipped: only %llu descriptors\n",
			       (unsigned long long)rl.rlim_cur);
			return;
		}
	}
	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	for (int i = 0; i < N; i++) {
		CHECK_OK(shmkit_sub_open(&subs[i], uri));
		fds[i] = shmkit_sub_fd(subs[i]);
		CHECK(fds[i] >= 0);
		CHECK_RET(shmkit_sub_recv(subs[i], &v, sizeof(v), 0), -EAGAIN); /* armed */
	}
	CHECK_OK(shmkit_pub_send(p, &v, sizeof(v), 0));
	int woken = 0;
	for (int i = 0; i < N; i++)
		woken += readable(fds[i], i == 0 ? 10000 : 1000);
	printf("%d of %d armed listeners woken by one publish\n", woken, N);
	CHECK(woken == N);
	for (int i = 0; i < N; i++) {
		CHECK_RET(shmkit_sub_recv(subs[i], &v, sizeof(v), 0), sizeof(v));
		CHECK_OK(shmkit_sub_close(subs[i]));
	}
	CHECK_OK(shmkit_pub_close(p));
}

/* Wakers scan the subscriber table only up to the highest entry that ever
 * had a descriptor: descriptors made in entries 9 then 4, above entries
 * without, are all woken; a table of 4096 entries works the same. */
static void test_sparse_listeners(void)
{
	const char *uri = test_uri("posix", "sparselis");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 16, .max_subs = 4096};
	struct shmkit_pub *p;
	struct shmkit_sub *subs[10];
	uint64_t v = 1;

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	for (int i = 0; i < 10; i++)
		CHECK_OK(shmkit_sub_open(&subs[i], uri));
	int fd9 = shmkit_sub_fd(subs[9]), fd4 = shmkit_sub_fd(subs[4]);
	CHECK(fd9 >= 0 && fd4 >= 0);
	for (int round = 0; round < 3; round++) {
		CHECK_RET(shmkit_sub_recv(subs[9], &v, sizeof(v), 0), -EAGAIN);
		CHECK_RET(shmkit_sub_recv(subs[4], &v, sizeof(v), 0), -EAGAIN);
		CHECK(!readable(fd9, 0) && !readable(fd4, 0));
		CHECK_OK(shmkit_pub_send(p, &v, sizeof(v), 0));
		CHECK(readable(fd9, 10000) && readable(fd4, 10000));
		for (int i = 0; i < 10; i++)
			CHECK_RET(shmkit_sub_recv(subs[i], &v, sizeof(v), 0), sizeof(v));
	}
	for (int i = 0; i < 10; i++)
		CHECK_OK(shmkit_sub_close(subs[i]));
	CHECK_OK(shmkit_pub_close(p));
}

/* strace -f counts of the producer's wake-up system calls. */
static int strace_ok(void)
{
	char out[64];
	return test_sh_capture(out, sizeof(out), "strace -o /dev/null true 2>&1") == 0;
}

static int count_calls(const char *trace, const char *name)
{
	char out[64];
	if (test_sh_capture(out, sizeof(out), "grep -c '%s(' %s", name, trace) < 0)
		return -1;
	return atoi(out);
}

/* Runs the producer role under strace -f (futex, sendto, membarrier). */
static void traced_producer(const char *uri, uint64_t n, int pause, const char *trace)
{
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(len > 0);
	exe[len > 0 ? len : 0] = '\0';
	/* LeakSanitizer cannot run under a tracer: leaks are checked elsewhere */
	CHECK(test_sh("ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=futex,sendto,membarrier "
		      "-o %s %s --role producer %s %llu %d",
		      trace, exe, uri, (unsigned long long)n, pause) == 0);
}

static void test_syscall_counts(void)
{
	if (!strace_ok()) {
		printf("syscall counts skipped: strace cannot run here\n");
		return;
	}
	char trace[128];
	snprintf(trace, sizeof(trace), "/tmp/shmkit-test-%d-pollfd-strace", (int)getpid());

	/* No sleeper, no armed descriptor: the consumer polls with timeout 0
	 * (and owns a descriptor it never arms: it never sees -EAGAIN...) */
	const char *uri = make_queue("quiet", 1 << 16);
	traced_producer(uri, 20000, 0, trace);
	int quiet = count_calls(trace, "sendto") + count_calls(trace, "futex");
	printf("20000 messages, nobody waiting: %d wake-up system calls\n", quiet);
	CHECK(quiet == 0);

	/* A receiver asleep in poll on its descriptor: one sendto per wake-up. */
	uri = make_queue("sleeper", 1 << 16);
	struct shmkit_queue *q = open_q(uri);
	int fd = shmkit_queue_fd(q);
	uint64_t v, got = 0;
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	pid_t c = fork();
	if (c == 0) {
		traced_producer(uri, 200, 2000, trace);
		_exit(test_done());
	}
	int64_t end = test_now_ns() + 60 * SEC;
	while (got < 200 && test_now_ns() < end) {
		if (!readable(fd, 10000))
			break;
		while (shmkit_queue_recv(q, &v, sizeof(v), 0) == sizeof(v))
			got++;
	}
	CHECK(got == 200);
	CHECK_RET(test_wait(c), 0);
	int woke = count_calls(trace, "sendto");
	printf("200 messages to a receiver in poll: %d sendto, %d futex\n", woke,
	       count_calls(trace, "futex"));
	CHECK(woke >= 1 && woke <= 200);
	CHECK_OK(shmkit_queue_close(q));
	unlink(trace);
}

/* A receiver killed while armed (inside poll): the producer is not slowed
 * or blocked; the FD bit it left is cleared by the next send, which pays
 * one refused sendto; later sends pay nothing. */
static void test_killed_receiver(void)
{
	const char *uri = make_queue("killed", 1 << 12);
	char line[32];
	struct shmkit_queue *q = open_q(uri);
	uint64_t v = 1;

	struct shmkit_seg *raw;
	CHECK_OK(shmkit_seg_open(&raw, uri, 0, 0, 0));
	struct shmkit__queue_shared *sh = (void *)((char *)shmkit_seg_addr(raw) + 4096);
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t c = fork();
	if (c == 0) {
		dup2(pfd[1], 1);
		char exe[4096];
		ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = '\0';
		execl(exe, exe, "--role", "armed_receiver", uri, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], line, sizeof(line) - 1);
	CHECK(n > 0 && strncmp(line, "armed", 5) == 0);
	close(pfd[0]);
	CHECK(atomic_load(&sh->data_ec.word) & 2); /* its FD bit */
	kill(c, SIGKILL);
	CHECK_RET(test_wait(c), 128 + SIGKILL);
	int64_t t0 = test_now_ns();
	for (int i = 0; i < 1000; i++)
		CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 0));
	int64_t took = test_now_ns() - t0;
	CHECK((atomic_load(&sh->data_ec.word) & 3) == 0);
	printf("1000 sends after the armed receiver died: %lld us\n", (long long)(took / 1000));
	CHECK(took < 5 * SEC); /* not blocked */
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.recv_waiters == 0);
	CHECK_OK(shmkit_seg_close(raw));
	CHECK_OK(shmkit_queue_close(q));
}

/* The queue's 16 descriptor entries: a 17th handle gets -ENOSPC; an entry
 * whose owner died is taken back, and so is one whose claimer was killed
 * before it wrote its identity (the entry still naming its last owner, here
 * alive), once nothing else is left and it has not moved for 100 ms. */
static void test_listener_table(void)
{
	const char *uri = test_uri("posix", "listab");
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 16, .multi_producer = 1,
				      .multi_consumer = 1};
	struct shmkit_queue *h[SHMKIT__QUEUE_LISTENERS + 1];
	CHECK_OK(shmkit_queue_create(&h[0], uri, &o));
	for (unsigned i = 1; i <= SHMKIT__QUEUE_LISTENERS; i++)
		CHECK_OK(shmkit_queue_open(&h[i], uri));
	for (unsigned i = 0; i < SHMKIT__QUEUE_LISTENERS; i++)
		CHECK(shmkit_queue_fd(h[i]) >= 0);
	CHECK_RET(shmkit_queue_fd(h[SHMKIT__QUEUE_LISTENERS]), -ENOSPC);
	CHECK(strstr(shmkit_last_error_detail(), "16 descriptor entries are held") != NULL);
	const char *args[] = {uri, NULL};
	/* an owner that died holding its entry */
	CHECK_OK(shmkit_queue_close(h[0]));
	CHECK_RET(test_wait(test_spawn_self("queue_fd", args)), 0);
	CHECK(shmkit_queue_fd(h[SHMKIT__QUEUE_LISTENERS]) >= 0);
	/* a claimer killed before its identity */
	CHECK_OK(shmkit_queue_close(h[1]));
	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.listener.claimed", "queue_fd", args)),
		  128 + SIGKILL);
	CHECK_OK(shmkit_queue_open(&h[0], uri));
	CHECK(shmkit_queue_fd(h[0]) >= 0);
	CHECK_OK(shmkit_queue_open(&h[1], uri));
	CHECK_RET(shmkit_queue_fd(h[1]), -ENOSPC);
	for (unsigned i = 0; i <= SHMKIT__QUEUE_LISTENERS; i++)
		CHECK_OK(shmkit_queue_close(h[i]));
	CHECK_OK(shmkit_remove(uri));
}

/* A producer killed inside its wake-up of an armed descriptor (after it
 * took the entry from ARMED, before its datagram; or after it moved the
 * word, before it looked at the entries) costs the consumer nothing beyond
 * the next message: that one's producer finishes the work (the descriptor
 * stayed unreadable for good, as the entry read IDLE or the FD bit down). */
/* A new SPSC or MPMC queue whose consumer handle *q has its descriptor
 * armed (a receive found nothing); returns the descriptor. */
static int armed_queue(const char *uri, int multi, struct shmkit_queue **q)
{
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 16, .multi_producer = multi,
				      .multi_consumer = multi};
	char buf[16];

	CHECK_OK(shmkit_queue_create(q, uri, &o));
	int fd = shmkit_queue_fd(*q);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_recv(*q, buf, sizeof(buf), 0), -EAGAIN);
	return fd;
}

/* A producer killed -9 inside its wake-up of an armed descriptor, at
 * `point`: before it moved the word (ec.wake.bumped), before it took the
 * entry (lis.signal.loaded), with the entry taken and no datagram sent
 * (lis.signal.taken), or with it sent and PENDING not yet down
 * (lis.signal.sent): the next producer's message still makes the
 * descriptor readable. */
static void test_waker_killed(int multi, const char *point)
{
	const char *uri = test_uri("posix", multi ? "wk-m" : "wk-s");
	struct shmkit_queue *q, *p;
	char buf[16];
	int fd = armed_queue(uri, multi, &q);
	const char *args[] = {uri, NULL};
	CHECK_RET(test_kill_stopped(test_spawn_paused(point, "send_one", args)), 128 + SIGKILL);
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.recv_waiters == 1); /* still waiting: PENDING counts (it counted 0) */
	CHECK_OK(shmkit_queue_open(&p, uri));
	CHECK_OK(shmkit_queue_send(p, "n", 1, SEC));
	CHECK(readable(fd, 5000));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_queue_close(p));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A consumer killed -9 making its descriptor, its socket bound and not yet
 * registered (lis.open.bound): a new consumer's descriptor works, and
 * producers count no waiter once it has read the queue empty. */
static void test_fd_maker_killed(void)
{
	const char *uri = test_uri("posix", "h37c-fd-maker");
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 16, .multi_producer = 1,
				      .multi_consumer = 1};
	struct shmkit_queue *q, *c;
	struct shmkit_queue_stats st;
	const char *args[] = {uri, NULL};
	char buf[16];

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_RET(test_kill_stopped(test_spawn_paused("lis.open.bound", "queue_fd", args)),
		  128 + SIGKILL);
	CHECK_OK(shmkit_queue_open(&c, uri));
	int fd = shmkit_queue_fd(c);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_recv(c, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_OK(shmkit_queue_send(q, "n", 1, SEC));
	CHECK(readable(fd, 5000));
	CHECK_RET(shmkit_queue_recv(c, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_queue_close(c));
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.recv_waiters == 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* Two wakers at once (an MPMC queue's producers), one killed inside its
 * wake-up:
 * - W1 moved the word and took the entry ARMED -> IDLE|PENDING, and died
 *   before its datagram; W2, which had loaded ARMED, found its CAS failed
 *   and skipped the entry, then took the FD bit down: no token, no bit;
 * - W1 sent its token and stalled before taking PENDING down; the owner
 *   drained it and armed again (same generation); W3 took the entry and
 *   died before its datagram; W1's late CAS then took W3's PENDING down
 *   (ABA): IDLE with no token, skipped by every later waker.
 * Both left the descriptor unreadable for good. */
static void cont_to_next_stop(pid_t pid)
{
	kill(pid, SIGCONT);
	CHECK_RET(test_wait_stopped(pid, 10 * SEC), 0);
}

static void test_two_wakers(void)
{
	const char *uri = test_uri("posix", "two-wakers");
	struct shmkit_queue *q, *p;
	char buf[16];
	int fd = armed_queue(uri, 1, &q);
	const char *args[] = {uri, NULL};

	pid_t w1 = test_spawn_paused("ec.wake.bumped,lis.signal.taken", "send_one", args);
	pid_t w2 = test_spawn_paused("lis.signal.loaded", "send_one", args);
	cont_to_next_stop(w1); /* the entry taken, no datagram yet */
	CHECK_RET(test_kill_stopped(w1), 128 + SIGKILL);
	kill(w2, SIGCONT);
	CHECK_RET(test_wait(w2), 0);
	CHECK(readable(fd, 5000));
	while (shmkit_queue_recv(q, buf, sizeof(buf), 0) > 0)
		;
	CHECK(!readable(fd, 0)); /* armed again */

	w1 = test_spawn_paused("lis.signal.sent", "send_one", args);
	CHECK(readable(fd, 5000));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN); /* armed again */
	CHECK_RET(test_kill_stopped(test_spawn_paused("lis.signal.taken", "send_one", args)),
		  128 + SIGKILL);
	kill(w1, SIGCONT);
	CHECK_RET(test_wait(w1), 0);
	CHECK_OK(shmkit_queue_open(&p, uri));
	CHECK_OK(shmkit_queue_send(p, "n", 1, SEC));
	CHECK(readable(fd, 5000));
	CHECK_OK(shmkit_queue_close(p));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A receive that returns a message leaves the descriptor readable
 * (shmkit_queue(3)), also when its look after arming found it while a
 * waker that had just taken the entry (IDLE|PENDING) lay dead:
 * - O armed (gen 1); W_B moved the word and loaded ARMED(1), stopped;
 * - W_A took the entry, sent, took PENDING down and the FD bit: unchanged word;
 * - O read both messages, then armed gen 2 (stopped before its FD bit);
 * - W_B's CAS failed, it looked again and took ARMED(2): killed before its send;
 * - two messages published while the FD bit was down: no wake-up (O looks);
 * - O set the bit, looked, found one message: lis_found's CAS failed
 *   (IDLE|PENDING), no token. The other message waits, unreadable. */
static void test_found_pending(void)
{
	const char *uri = test_uri("posix", "found-pending");
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 16, .multi_producer = 1,
				      .multi_consumer = 1};
	struct shmkit_queue *q;
	const char *args[] = {uri, NULL};

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	pid_t own = test_spawn_paused("lis.arm.armed", "owner_polls", args);
	kill(own, SIGCONT);
	usleep(200000); /* O sets the FD bit, looks, and polls */
	pid_t wb = test_spawn_paused("lis.signal.loaded,lis.signal.taken", "send_one", args);
	CHECK_RET(test_wait(test_spawn_self("send_one", args)), 0); /* W_A */
	CHECK_RET(test_wait_stopped(own, 10 * SEC), 0); /* O in arm 2 */
	cont_to_next_stop(wb); /* its CAS failed: loaded again (ARMED(2)) */
	cont_to_next_stop(wb); /* taken: IDLE|PENDING of gen 2 */
	CHECK_RET(test_kill_stopped(wb), 128 + SIGKILL);
	CHECK_RET(test_wait(test_spawn_self("send_one", args)), 0);
	CHECK_RET(test_wait(test_spawn_self("send_one", args)), 0);
	kill(own, SIGCONT);
	CHECK_RET(test_wait(own), 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* After fork, the process that goes on with the handle keeps its
 * descriptor: the other one closing its copy of the handle does not
 * unregister it (it did, and the child's descriptor was never readable). */
static int child_polls(void *arg)
{
	struct shmkit_queue **q = arg;
	char buf[16];
	int fd = shmkit_queue_fd(*q);
	CHECK(readable(fd, 5000));
	CHECK_RET(shmkit_queue_recv(*q, buf, sizeof(buf), 0), 5);
	return test_done();
}

static void test_fork_close(int multi)
{
	const char *uri = test_uri("posix", multi ? "forkc-m" : "forkc-s");
	struct shmkit_queue *q, *p;

	armed_queue(uri, multi, &q);
	CHECK_OK(shmkit_queue_open(&p, uri));
	pid_t child = test_fork(child_polls, &q);
	CHECK_OK(shmkit_queue_close(q)); /* the parent's copy only */
	usleep(100000);
	CHECK_OK(shmkit_queue_send(p, "hello", 5, SEC));
	CHECK_RET(test_wait(child), 0);
	CHECK_OK(shmkit_queue_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* An owner that forked and died: its child goes on polling the descriptor,
 * so the entry is not taken back for a new handle when the table is full
 * (it was, and the child's descriptor was never readable again). The test
 * process is a subreaper, so it reaps the child once its parent died. */
struct fork_owner {
	const char *uri;
	int pipe_w;
};

static int fork_and_die(void *arg)
{
	struct fork_owner *f = arg;
	struct shmkit_queue *q;
	char buf[16];

	CHECK_OK(shmkit_queue_open(&q, f->uri));
	CHECK(shmkit_queue_fd(q) >= 0);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	pid_t child = test_fork(child_polls, &q);
	CHECK(write(f->pipe_w, &child, sizeof(child)) == (ssize_t)sizeof(child));
	return test_done(); /* dies holding its entry: no close */
}

static void test_fork_owner_died(void)
{
	const char *uri = test_uri("posix", "fork-died");
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 16, .multi_producer = 1,
				      .multi_consumer = 1};
	struct shmkit_queue *p, *h[SHMKIT__QUEUE_LISTENERS];
	int fds[2];
	pid_t child;

	CHECK_OK(shmkit_queue_create(&p, uri, &o));
	CHECK(pipe(fds) == 0);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	struct fork_owner f = {uri, fds[1]};
	CHECK_RET(test_wait(test_fork(fork_and_die, &f)), 0);
	CHECK(read(fds[0], &child, sizeof(child)) == (ssize_t)sizeof(child));
	for (unsigned i = 0; i < SHMKIT__QUEUE_LISTENERS; i++)
		CHECK_OK(shmkit_queue_open(&h[i], uri));
	for (unsigned i = 0; i + 1 < SHMKIT__QUEUE_LISTENERS; i++)
		CHECK(shmkit_queue_fd(h[i]) >= 0);
	/* the dead owner's entry is its child's now */
	CHECK_RET(shmkit_queue_fd(h[SHMKIT__QUEUE_LISTENERS - 1]), -ENOSPC);
	CHECK_OK(shmkit_queue_send(p, "hello", 5, SEC));
	CHECK_RET(test_wait(child), 0);
	/* the child exited: nobody holds the socket, the entry is free to take */
	CHECK(shmkit_queue_fd(h[SHMKIT__QUEUE_LISTENERS - 1]) >= 0);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
	close(fds[0]);
	close(fds[1]);
	for (unsigned i = 0; i < SHMKIT__QUEUE_LISTENERS; i++)
		CHECK_OK(shmkit_queue_close(h[i]));
	CHECK_OK(shmkit_queue_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* The same for a subscription: the child forked with it polls on after its
 * parent closed its copy, or died holding it (the entry was freed, or taken
 * back by a joiner finding the table full, and the child's descriptor was
 * never readable again); the last holder's close frees the entry. */
static int child_sub_polls(void *arg)
{
	struct shmkit_sub **s = arg;
	char buf[16];
	int fd = shmkit_sub_fd(*s);
	CHECK_RET(sub_recv_readable(*s, fd, buf, sizeof(buf)), 5);
	CHECK_OK(shmkit_sub_close(*s));
	return test_done();
}

static unsigned topic_subs(const char *uri)
{
	struct shmkit_topic_info info;
	CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
	return info.n_subs;
}

static void test_topic_fork_close(void)
{
	const char *uri = test_uri("posix", "tfork-close");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	char buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK(shmkit_sub_fd(s) >= 0);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	pid_t child = test_fork(child_sub_polls, &s);
	CHECK_OK(shmkit_sub_close(s)); /* the parent's copy only */
	CHECK(topic_subs(uri) == 1);
	usleep(100000);
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK_RET(test_wait(child), 0);
	CHECK(topic_subs(uri) == 0); /* the last holder's close freed it */
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* A child forked with a subscription that has no descriptor closes its
 * copy (it does not read: the parent does). The subscription is the
 * subscriber's: the child's close ended it (entry freed), so a reliable
 * publisher stopped waiting for the parent, which lost messages, and the
 * parent's shmkit_sub_fd said -EBADMSG. */
static int child_closes_sub(void *arg)
{
	struct shmkit_sub **s = arg;
	CHECK_OK(shmkit_sub_close(*s));
	return test_done();
}

static void test_topic_fork_child_closes(void)
{
	const char *uri = test_uri("posix", "h26a-tfork-cclose");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	char buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_RET(test_wait(test_fork(child_closes_sub, &s)), 0);
	CHECK(topic_subs(uri) == 1); /* still the parent's */
	for (int i = 0; i < 4; i++)
		CHECK_OK(shmkit_pub_send(p, "hello", 5, 0));
	CHECK_RET(shmkit_pub_send(p, "hello", 5, 0), -EAGAIN); /* waits for the parent */
	CHECK(shmkit_sub_fd(s) >= 0);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 5);
	CHECK_OK(shmkit_sub_close(s));
	CHECK(topic_subs(uri) == 0);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* The child makes the descriptor itself, after the fork: in the
 * subscriber's name (it was made in the child's, which no waker and no
 * reaper knew), and the parent's close (it had none) leaves the entry to
 * it. */
struct armed_child {
	struct shmkit_sub *s;
	int pipe_w;
};

static int child_arms_sub(void *arg)
{
	struct armed_child *a = arg;
	char buf[16];
	int fd = shmkit_sub_fd(a->s);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_sub_recv(a->s, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	CHECK(write(a->pipe_w, "a", 1) == 1);
	CHECK_RET(sub_recv_readable(a->s, fd, buf, sizeof(buf)), 5);
	CHECK_OK(shmkit_sub_close(a->s));
	return test_done();
}

static void test_topic_fork_fd_in_child(void)
{
	const char *uri = test_uri("posix", "tfork-child");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1};
	struct shmkit_pub *p;
	struct armed_child a;
	int fds[2];
	char c;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&a.s, uri));
	CHECK(pipe(fds) == 0);
	a.pipe_w = fds[1];
	pid_t child = test_fork(child_arms_sub, &a);
	CHECK(read(fds[0], &c, 1) == 1);
	CHECK_OK(shmkit_sub_close(a.s)); /* the parent's copy only */
	CHECK(topic_subs(uri) == 1);
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK_RET(test_wait(child), 0);
	CHECK(topic_subs(uri) == 0);
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* The parent's close (it has no descriptor) while its child is making one
 * for the inherited subscription, its socket bound but its entry not yet
 * registered: the parent saw no listener and ended the subscription, and
 * the child's descriptor, made for an entry no longer its, was never
 * signalled (messages waited behind an unreadable descriptor). */
extern int shmkit__test_armed;

static int child_fd_paused(void *arg)
{
	struct armed_child *a = arg;
	char buf[16];

	setenv("SHMKIT_TEST_PAUSE", "lis.open.bound", 1);
	shmkit__test_armed = -1; /* read the pause point again, here */
	int fd = shmkit_sub_fd(a->s);
	unsetenv("SHMKIT_TEST_PAUSE");
	CHECK(fd >= 0);
	while (fd >= 0 && shmkit_sub_recv(a->s, buf, sizeof(buf), 0) >= 0)
		; /* to -EAGAIN: armed */
	CHECK(write(a->pipe_w, "a", 1) == 1);
	CHECK_RET(sub_recv_readable(a->s, fd, buf, sizeof(buf)), 5); /* the publisher's open may wake it first */
	CHECK_OK(shmkit_sub_close(a->s));
	return test_done();
}

static void test_topic_fork_close_racing_fd(void)
{
	const char *uri = test_uri("posix", "h26a-tfork-race");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4};
	struct shmkit_pub *p;
	struct armed_child a;
	int fds[2];
	char c;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&a.s, uri));
	CHECK(pipe(fds) == 0);
	a.pipe_w = fds[1];
	pid_t child = test_fork(child_fd_paused, &a);
	CHECK_OK(test_wait_stopped(child, 10ll * 1000000000));
	CHECK_OK(shmkit_sub_close(a.s)); /* the parent's copy only */
	kill(child, SIGCONT);
	CHECK(read(fds[0], &c, 1) == 1);
	CHECK(topic_subs(uri) == 1);
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK_RET(test_wait(child), 0);
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* The parent's close left the subscription to its child, which was making
 * its descriptor (listener CLAIMING); a joiner finding the table full took
 * the entry for gone (left, listener not IDLE or ARMED) and reaped it, and
 * the child's register from CLAIMING, which the reap did not touch, then
 * succeeded: shmkit_sub_fd returned a descriptor for an entry that was the
 * joiner's (the joiner's activation then overwrote the child's listener:
 * the child's subscription gone, no reliable publisher waiting for it). */
struct fd_report {
	struct shmkit_sub *s;
	const char *uri;
	int pipe_w;
};

static int child_fd_reports(void *arg)
{
	struct fd_report *a = arg;

	setenv("SHMKIT_TEST_PAUSE", "lis.open.bound", 1);
	shmkit__test_armed = -1;
	int fd = shmkit_sub_fd(a->s);
	unsetenv("SHMKIT_TEST_PAUSE");
	char r = fd >= 0 ? 'y' : 'n';
	CHECK(write(a->pipe_w, &r, 1) == 1);
	CHECK_OK(shmkit_sub_close(a->s));
	return test_done();
}

static int joiner_reports(void *arg)
{
	struct fd_report *a = arg;
	struct shmkit_sub *j = NULL;

	setenv("SHMKIT_TEST_PAUSE", "topic.sub.claimed", 1);
	shmkit__test_armed = -1;
	int rc = shmkit_sub_open(&j, a->uri);
	unsetenv("SHMKIT_TEST_PAUSE");
	char r = rc == 0 ? 'y' : 'n';
	CHECK(write(a->pipe_w, &r, 1) == 1);
	if (rc == 0)
		CHECK_OK(shmkit_sub_close(j));
	return test_done();
}

static void test_topic_fork_fd_reaped(void)
{
	const char *uri = test_uri("posix", "h26e-tfork-reaped");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1, .max_subs = 1};
	struct fd_report a;
	int fds[2];
	char got_fd = 0, joined = 0;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&a.s, uri));
	a.uri = uri;
	CHECK(pipe(fds) == 0);
	a.pipe_w = fds[1];
	pid_t child = test_fork(child_fd_reports, &a);
	CHECK_OK(test_wait_stopped(child, 10ll * 1000000000));
	CHECK_OK(shmkit_sub_close(a.s)); /* left to the child's descriptor */
	pid_t joiner = test_fork(joiner_reports, &a);
	CHECK_OK(test_wait_stopped(joiner, 10ll * 1000000000));
	kill(child, SIGCONT);
	CHECK(read(fds[0], &got_fd, 1) == 1);
	kill(joiner, SIGCONT);
	CHECK(read(fds[0], &joined, 1) == 1);
	/* one of them has the subscription, not both */
	CHECK(!(got_fd == 'y' && joined == 'y'));
	CHECK_RET(test_wait(child), 0);
	CHECK_RET(test_wait(joiner), 0);
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* A child forked with a subscription (no descriptor) asks for one and
 * stops past its look at the entry (topic.sub.fd); its parent closes (the
 * entry freed), a new subscriber takes the entry and makes its descriptor.
 * The child's claim took that subscriber's listener over, whatever it was,
 * and registered its own socket in it: the new subscriber was never woken. */
static int child_fd_late(void *arg)
{
	struct fd_report *a = arg;

	setenv("SHMKIT_TEST_PAUSE", "topic.sub.fd", 1);
	shmkit__test_armed = -1;
	int fd = shmkit_sub_fd(a->s);
	unsetenv("SHMKIT_TEST_PAUSE");
	char r = fd >= 0 ? 'y' : 'n';
	CHECK(write(a->pipe_w, &r, 1) == 1);
	CHECK_OK(shmkit_sub_close(a->s));
	return test_done();
}

static void test_topic_fork_fd_late(void)
{
	const char *uri = test_uri("posix", "h26e-tfork-late");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .max_subs = 1};
	struct fd_report a;
	struct shmkit_sub *j;
	struct shmkit_pub *p;
	int fds[2];
	char got_fd = 0, buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&a.s, uri));
	a.uri = uri;
	CHECK(pipe(fds) == 0);
	a.pipe_w = fds[1];
	pid_t child = test_fork(child_fd_late, &a);
	CHECK_OK(test_wait_stopped(child, 10ll * 1000000000));
	CHECK_OK(shmkit_sub_close(a.s)); /* no descriptor: ends it */
	CHECK_OK(shmkit_sub_open(&j, uri));
	int jfd = shmkit_sub_fd(j);
	CHECK(jfd >= 0);
	kill(child, SIGCONT);
	CHECK(read(fds[0], &got_fd, 1) == 1);
	CHECK(got_fd == 'n'); /* not its entry any more */
	CHECK_RET(test_wait(child), 0);
	CHECK_RET(shmkit_sub_recv(j, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK(readable(jfd, 3000));
	CHECK_RET(shmkit_sub_recv(j, buf, sizeof(buf), 0), 5);
	CHECK_OK(shmkit_sub_close(j));
	CHECK_OK(shmkit_pub_close(p));
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* A child forked with a subscription makes a descriptor of its own and
 * closes its handle while its parent, the subscriber, reads on without one:
 * "the first of the two to call shmkit_sub_close() only closes its copy"
 * (pubsub(3)), but the child's close freed the entry (it held a
 * descriptor), so the parent's subscription ended under it. */
static int child_fd_then_closes(void *arg)
{
	struct shmkit_sub *s = arg;

	CHECK(shmkit_sub_fd(s) >= 0);
	CHECK_OK(shmkit_sub_close(s));
	return test_done();
}

static void test_topic_fork_child_fd_closes(void)
{
	const char *uri = test_uri("posix", "h26e-tfork-childfd");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	char buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	pid_t child = test_fork(child_fd_then_closes, s);
	CHECK_RET(test_wait(child), 0);
	CHECK(topic_subs(uri) == 1); /* the parent's subscription goes on */
	CHECK(shmkit_sub_fd(s) >= 0);
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 5);
	CHECK_OK(shmkit_sub_close(s));
	CHECK(topic_subs(uri) == 0);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* A child making a descriptor (stopped at lis.open.bound, its claim
 * taken) whose parent closed and whose entry a joiner then reaped, took and
 * made a descriptor for: resumed, the child wrote its socket's key over the
 * joiner's before its register failed, so the joiner's wakers sent to a
 * name nobody holds and its descriptor never became readable. */
static void test_topic_fork_fd_key(void)
{
	const char *uri = test_uri("posix", "h26e-tfork-key");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .max_subs = 1};
	struct fd_report a;
	struct shmkit_sub *j;
	struct shmkit_pub *p;
	int fds[2];
	char got_fd = 0, buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&a.s, uri));
	a.uri = uri;
	CHECK(pipe(fds) == 0);
	a.pipe_w = fds[1];
	pid_t child = test_fork(child_fd_reports, &a);
	CHECK_OK(test_wait_stopped(child, 10ll * 1000000000));
	CHECK_OK(shmkit_sub_close(a.s)); /* left to the child's descriptor */
	CHECK_OK(shmkit_sub_open(&j, uri)); /* reaps it (the table is full) */
	int jfd = shmkit_sub_fd(j);
	CHECK(jfd >= 0);
	kill(child, SIGCONT);
	CHECK(read(fds[0], &got_fd, 1) == 1);
	CHECK(got_fd == 'n'); /* its claim was taken over */
	CHECK_RET(test_wait(child), 0);
	CHECK_RET(shmkit_sub_recv(j, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK(readable(jfd, 3000));
	CHECK_RET(shmkit_sub_recv(j, buf, sizeof(buf), 0), 5);
	CHECK_OK(shmkit_sub_close(j));
	CHECK_OK(shmkit_pub_close(p));
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* A child forked with a subscription asks for its descriptor and stops
 * past lis_open's look at its claim, before it writes its key into the
 * entry (lis.open.looked); its parent makes the subscription's descriptor
 * meanwhile (its claim takes the child's over: one descriptor per
 * subscription). The child then wrote its key over its parent's before its
 * register failed: the parent's wakers sent to the child's name, closed,
 * and its descriptor was never readable. */
static int child_fd_looked(void *arg)
{
	struct fd_report *a = arg;

	setenv("SHMKIT_TEST_PAUSE", "lis.open.looked", 1);
	shmkit__test_armed = -1;
	int fd = shmkit_sub_fd(a->s);
	unsetenv("SHMKIT_TEST_PAUSE");
	char r = fd >= 0 ? 'y' : 'n';
	CHECK(write(a->pipe_w, &r, 1) == 1);
	CHECK_OK(shmkit_sub_close(a->s)); /* its copy only */
	return test_done();
}

static void test_topic_fork_fd_looked(void)
{
	const char *uri = test_uri("posix", "h27a-tfork-looked");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .max_subs = 1};
	struct fd_report a;
	struct shmkit_pub *p;
	int fds[2];
	char got_fd = 0, buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&a.s, uri));
	a.uri = uri;
	CHECK(pipe(fds) == 0);
	a.pipe_w = fds[1];
	pid_t child = test_fork(child_fd_looked, &a);
	CHECK_OK(test_wait_stopped(child, 10ll * 1000000000));
	int pfd = shmkit_sub_fd(a.s); /* takes the child's claim over */
	CHECK(pfd >= 0);
	kill(child, SIGCONT);
	CHECK(read(fds[0], &got_fd, 1) == 1);
	CHECK(got_fd == 'n');
	CHECK_RET(test_wait(child), 0);
	CHECK_RET(shmkit_sub_recv(a.s, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK(readable(pfd, 3000));
	CHECK_RET(shmkit_sub_recv(a.s, buf, sizeof(buf), 0), 5);
	CHECK_OK(shmkit_sub_close(a.s));
	CHECK_OK(shmkit_pub_close(p));
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* A subscriber dies; the child it forked with the handle asks for the
 * subscription's descriptor while a joiner finding the table full is
 * reaping the entry, past its look at the listener (FREE, nobody's:
 * topic.sub.judged). The child's claim and register then succeeded (the
 * entry still ACTIVE), and the joiner's reap freed the entry under the
 * descriptor it had just handed out: both had the subscription (a reliable
 * publisher waited for the joiner only). */
struct judged_race {
	const char *uri;
	int go_r, rep_w, done_r;
};

static int child_fd_on_go(void *arg)
{
	struct judged_race *a = arg;
	struct shmkit_sub *s;
	char c;

	CHECK_OK(shmkit_sub_open(&s, a->uri));
	pid_t child = fork();
	if (child == 0) {
		if (read(a->go_r, &c, 1) != 1)
			_exit(1);
		char r = shmkit_sub_fd(s) >= 0 ? 'y' : 'n';
		if (write(a->rep_w, &r, 1) != 1 || read(a->done_r, &c, 1) != 1)
			_exit(1);
		shmkit_sub_close(s);
		_exit(write(a->rep_w, "x", 1) == 1 ? 0 : 1);
	}
	CHECK(child > 0);
	return test_done(); /* dies holding its entry: no close */
}

static int joiner_judged(void *arg)
{
	struct judged_race *a = arg;
	struct shmkit_sub *j = NULL;

	setenv("SHMKIT_TEST_PAUSE", "topic.sub.judged", 1);
	shmkit__test_armed = -1;
	int rc = shmkit_sub_open(&j, a->uri);
	unsetenv("SHMKIT_TEST_PAUSE");
	char r = rc == 0 ? 'y' : 'n';
	CHECK(write(a->rep_w, &r, 1) == 1);
	if (rc == 0)
		CHECK_OK(shmkit_sub_close(j));
	return test_done();
}

static void test_topic_fork_fd_judged(void)
{
	const char *uri = test_uri("posix", "h27a-tfork-judged");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1, .max_subs = 1};
	struct judged_race a = {.uri = uri};
	int go[2], rep[2], done[2];
	char got_fd = 0, joined = 0, c;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK(pipe(go) == 0 && pipe(rep) == 0 && pipe(done) == 0);
	a.go_r = go[0];
	a.rep_w = rep[1];
	a.done_r = done[0];
	CHECK_RET(test_wait(test_fork(child_fd_on_go, &a)), 0); /* the subscriber, dead */
	pid_t joiner = test_fork(joiner_judged, &a);
	CHECK_OK(test_wait_stopped(joiner, 10ll * 1000000000));
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(read(rep[0], &got_fd, 1) == 1);
	kill(joiner, SIGCONT);
	CHECK(read(rep[0], &joined, 1) == 1);
	/* one of them has the subscription, not both */
	CHECK(!(got_fd == 'y' && joined == 'y'));
	CHECK_RET(test_wait(joiner), 0);
	CHECK(write(done[1], "d", 1) == 1);
	CHECK(read(rep[0], &c, 1) == 1 && c == 'x');
	close(go[0]);
	close(go[1]);
	close(rep[0]);
	close(rep[1]);
	close(done[0]);
	close(done[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* A reaper (a joiner finding the table full) that looked at a dead
 * subscriber's entry, stalled before it judged the listener; meanwhile
 * another joiner reaped the entry, took it and armed its own descriptor.
 * The stalled reaper then took the new subscriber's listener (FREE|REAPING)
 * though its reap of the old entry failed: the live subscriber's
 * descriptor never turned readable again. */
struct stale_reaper {
	const char *uri;
	int rep_w;
};

static int dead_subscriber(void *arg)
{
	struct stale_reaper *a = arg;
	struct shmkit_sub *s;

	CHECK_OK(shmkit_sub_open(&s, a->uri));
	return test_done(); /* dies holding its entry: no close */
}

static int joiner_stale(void *arg)
{
	struct stale_reaper *a = arg;
	struct shmkit_sub *j = NULL;

	setenv("SHMKIT_TEST_PAUSE", "topic.sub.gone", 1);
	shmkit__test_armed = -1;
	int rc = shmkit_sub_open(&j, a->uri);
	unsetenv("SHMKIT_TEST_PAUSE");
	char r = rc == 0 ? 'y' : 'n';
	CHECK(write(a->rep_w, &r, 1) == 1);
	if (rc == 0)
		CHECK_OK(shmkit_sub_close(j));
	return test_done();
}

static void test_topic_stale_reaper(void)
{
	const char *uri = test_uri("posix", "h27f-stale-reaper");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1, .max_subs = 1};
	struct stale_reaper a = {.uri = uri};
	struct shmkit_sub *s = NULL;
	struct shmkit_pub *p = NULL;
	int rep[2];
	char joined = 0;
	uint64_t v = 7;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK(pipe(rep) == 0);
	a.rep_w = rep[1];
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_RET(test_wait(test_fork(dead_subscriber, &a)), 0);
	pid_t stale = test_fork(joiner_stale, &a);
	CHECK_OK(test_wait_stopped(stale, 10ll * 1000000000));
	/* we reap the dead entry, take it, and arm our descriptor */
	CHECK_OK(shmkit_sub_open(&s, uri));
	int fd = shmkit_sub_fd(s);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0));
	kill(stale, SIGCONT);
	CHECK(read(rep[0], &joined, 1) == 1);
	CHECK(joined == 'n'); /* the entry is ours */
	CHECK_RET(test_wait(stale), 0);
	CHECK_OK(shmkit_pub_send(p, &v, sizeof(v), SEC));
	CHECK(readable(fd, 3000));
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), (ssize_t)sizeof(v));
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	close(rep[0]);
	close(rep[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* A child forked with a subscription that has no descriptor closes its
 * copy, which ends nothing, while its parent, the subscriber, is making its
 * descriptor (listener CLAIMING): the close took the listener for held and
 * marked the entry left (left_state), so the next reaper (a joiner finding
 * the table full) freed the entry of a subscriber alive and reading. */
struct claiming_sub {
	const char *uri;
	int go_r, done_w;
};

static int subscriber_claiming(void *arg)
{
	struct claiming_sub *a = arg;
	struct shmkit_sub *s;
	char c;
	int status;

	CHECK_OK(shmkit_sub_open(&s, a->uri));
	pid_t copy = fork();
	if (copy == 0) {
		if (read(a->go_r, &c, 1) != 1)
			_exit(1);
		shmkit_sub_close(s); /* its copy only */
		_exit(write(a->done_w, "c", 1) == 1 ? 0 : 1);
	}
	CHECK(copy > 0);
	setenv("SHMKIT_TEST_PAUSE", "lis.open.bound", 1);
	shmkit__test_armed = -1;
	int fd = shmkit_sub_fd(s);
	unsetenv("SHMKIT_TEST_PAUSE");
	CHECK(fd >= 0);
	CHECK(waitpid(copy, &status, 0) == copy && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(shmkit_sub_close(s));
	return test_done();
}

static void test_topic_fork_copy_closes_while_claiming(void)
{
	const char *uri = test_uri("posix", "h26e-tfork-claiming");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1, .max_subs = 1};
	struct claiming_sub a = {.uri = uri};
	struct shmkit_sub *j = NULL;
	int go[2], done[2];
	char c;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK(pipe(go) == 0 && pipe(done) == 0);
	a.go_r = go[0];
	a.done_w = done[1];
	pid_t sub = test_fork(subscriber_claiming, &a);
	CHECK_OK(test_wait_stopped(sub, 10ll * 1000000000));
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(read(done[0], &c, 1) == 1);
	/* the subscriber lives: its entry is not free */
	int rc = shmkit_sub_open(&j, uri);
	CHECK_RET(rc, -ENOSPC);
	if (rc == 0)
		CHECK_OK(shmkit_sub_close(j));
	kill(sub, SIGCONT);
	CHECK_RET(test_wait(sub), 0);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* An owner that closed its handle while a process forked with it held the
 * socket left its entry to that process: taken back once that one exits,
 * though the owner lives on (it was kept until the owner died). */
static __attribute__((noreturn)) int hold_until_killed(void *arg)
{
	(void)arg;
	for (;;)
		pause();
}

static void test_queue_left_entry(void)
{
	const char *uri = test_uri("posix", "left-entry");
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 16, .multi_producer = 1,
				      .multi_consumer = 1};
	struct shmkit_queue *q, *h[SHMKIT__QUEUE_LISTENERS];

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK(shmkit_queue_fd(q) >= 0);
	pid_t holder = test_fork(hold_until_killed, NULL);
	CHECK_OK(shmkit_queue_close(q)); /* the child holds the socket */
	for (unsigned i = 0; i < SHMKIT__QUEUE_LISTENERS; i++)
		CHECK_OK(shmkit_queue_open(&h[i], uri));
	for (unsigned i = 0; i + 1 < SHMKIT__QUEUE_LISTENERS; i++)
		CHECK(shmkit_queue_fd(h[i]) >= 0);
	CHECK_RET(shmkit_queue_fd(h[SHMKIT__QUEUE_LISTENERS - 1]), -ENOSPC);
	kill(holder, SIGKILL);
	test_wait(holder);
	CHECK(shmkit_queue_fd(h[SHMKIT__QUEUE_LISTENERS - 1]) >= 0);
	for (unsigned i = 0; i < SHMKIT__QUEUE_LISTENERS; i++)
		CHECK_OK(shmkit_queue_close(h[i]));
	CHECK_OK(shmkit_remove(uri));
}

/* The descriptor's set watches the active publisher's pidfd. After a fork
 * both processes hold that pidfd; the reader, moving to a new publisher,
 * closed its copy, which left the set only once every copy was closed: the
 * old publisher's pidfd, readable since it exited, kept the descriptor
 * readable for good while receives said -EAGAIN (an event loop spun). */
struct pub_child {
	const char *uri;
	int ready_w, go_r;
};

static int child_publishes_then_closes(void *arg)
{
	struct pub_child *c = arg;
	struct shmkit_pub *p;
	char b;

	CHECK_OK(shmkit_pub_open(&p, c->uri));
	CHECK(write(c->ready_w, "r", 1) == 1);
	CHECK(read(c->go_r, &b, 1) == 1);
	CHECK_OK(shmkit_pub_close(p));
	return test_done();
}

static void test_topic_fork_pidfd(void)
{
	const char *uri = test_uri("posix", "h26a-tfork-pidfd");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	int ready[2], go[2];
	char b, buf[16];

	if (!test_have_pidfd())
		return;
	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK(pipe(ready) == 0 && pipe(go) == 0);
	struct pub_child c = {uri, ready[1], go[0]};
	pid_t first = test_fork(child_publishes_then_closes, &c);
	CHECK(read(ready[0], &b, 1) == 1);
	CHECK_OK(shmkit_sub_open(&s, uri));
	int fd = shmkit_sub_fd(s);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN); /* watches first */
	pid_t holder = test_fork(hold_until_killed, NULL);       /* holds copies only */
	CHECK(write(go[1], "g", 1) == 1);
	CHECK_RET(test_wait(first), 0);
	CHECK_RET(sub_recv_readable(s, fd, buf, sizeof(buf)), -EPIPE);
	CHECK_OK(shmkit_pub_open(&p, uri)); /* a new publisher, alive */
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN);
	CHECK(!readable(fd, 300));
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK_RET(sub_recv_readable(s, fd, buf, sizeof(buf)), 5);
	kill(holder, SIGKILL);
	test_wait(holder);
	for (int i = 0; i < 2; i++) {
		close(ready[i]);
		close(go[i]);
	}
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* A child making descriptors for inherited subscriptions names them after
 * the subscriber, its parent: with keys from its copy of the parent's
 * counter it took the names the parent's next descriptors needed (16
 * failed binds: -EADDRINUSE), and could make a dead entry look held. */
#define KEY_SUBS 20
struct key_child {
	struct shmkit_sub **subs;
	int pipe_w;
};

static __attribute__((noreturn)) int child_makes_fds(void *arg)
{
	struct key_child *k = arg;
	int ok = 1;
	for (int i = 0; i < KEY_SUBS; i++)
		ok &= shmkit_sub_fd(k->subs[i]) >= 0;
	CHECK(write(k->pipe_w, ok ? "y" : "n", 1) == 1);
	for (;;)
		pause();
}

static void test_topic_fork_keys(void)
{
	const char *uri = test_uri("posix", "tfork-keys");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .max_subs = 2 * KEY_SUBS};
	struct shmkit_sub *inherited[KEY_SUBS], *own[KEY_SUBS];
	int fds[2];
	char c = 0;

	CHECK_OK(shmkit_topic_create(uri, &o));
	for (int i = 0; i < KEY_SUBS; i++)
		CHECK_OK(shmkit_sub_open(&inherited[i], uri));
	CHECK(pipe(fds) == 0);
	struct key_child k = {inherited, fds[1]};
	pid_t child = test_fork(child_makes_fds, &k);
	CHECK(read(fds[0], &c, 1) == 1 && c == 'y');
	for (int i = 0; i < KEY_SUBS; i++) {
		CHECK_OK(shmkit_sub_open(&own[i], uri));
		CHECK(shmkit_sub_fd(own[i]) >= 0);
	}
	kill(child, SIGKILL);
	test_wait(child);
	for (int i = 0; i < KEY_SUBS; i++) {
		CHECK_OK(shmkit_sub_close(own[i]));
		CHECK_OK(shmkit_sub_close(inherited[i]));
	}
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_remove(uri));
}

static int sub_fork_and_die(void *arg)
{
	struct fork_owner *f = arg;
	struct shmkit_sub *s;
	char buf[16];

	CHECK_OK(shmkit_sub_open(&s, f->uri));
	CHECK(shmkit_sub_fd(s) >= 0);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	pid_t child = test_fork(child_sub_polls, &s);
	CHECK(write(f->pipe_w, &child, sizeof(child)) == (ssize_t)sizeof(child));
	return test_done(); /* dies holding its entry: no close */
}

static void test_topic_fork_owner_died(void)
{
	const char *uri = test_uri("posix", "tfork-died");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .max_subs = 1};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	int fds[2];
	pid_t child;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK(pipe(fds) == 0);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	struct fork_owner f = {uri, fds[1]};
	CHECK_RET(test_wait(test_fork(sub_fork_and_die, &f)), 0);
	CHECK(read(fds[0], &child, sizeof(child)) == (ssize_t)sizeof(child));
	/* the table's one entry: its subscriber is dead, its child is not */
	CHECK_RET(shmkit_sub_open(&s, uri), -ENOSPC);
	CHECK_OK(shmkit_pub_send(p, "hello", 5, SEC));
	CHECK_RET(test_wait(child), 0);
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
	close(fds[0]);
	close(fds[1]);
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* Tokens stay charged to the waker's sending socket until their listeners
 * read them: one publisher waking more listeners than a few sockets hold
 * (4096 + 1000 subscribers that do not read) still wakes every one, and a
 * last, healthy one (its token was dropped, its entry left IDLE: never
 * readable again). */
#define FULL_SUBS 4096
#define MORE_SUBS 1000
static int publish_everywhere(void *arg)
{
	const char *const *uris = arg;
	for (int k = 0; k < 3; k++) {
		struct shmkit_pub *p;
		CHECK_OK(shmkit_pub_open(&p, uris[k]));
		CHECK_OK(shmkit_pub_send(p, "x", 1, 0));
		CHECK_OK(shmkit_pub_close(p));
	}
	return test_done();
}

static void test_sender_sockets(void)
{
	struct rlimit rl;
	const rlim_t need = FULL_SUBS + MORE_SUBS + 64;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_max < need) {
		printf("sender sockets: skipped (RLIMIT_NOFILE hard limit %llu)\n",
		       (unsigned long long)rl.rlim_max);
		return;
	}
	struct rlimit was = rl;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = need;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
	const char *uris[3] = {test_uri("posix", "tok-a"), test_uri("posix", "tok-b"),
			       test_uri("posix", "tok-c")};
	const unsigned counts[3] = {FULL_SUBS, MORE_SUBS, 1};
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .max_subs = FULL_SUBS};
	static struct shmkit_sub *subs[FULL_SUBS + MORE_SUBS + 1];
	static struct pollfd pfd[FULL_SUBS + MORE_SUBS + 1];
	char buf[16];
	unsigned n = 0;
	for (int k = 0; k < 3; k++) {
		CHECK_OK(shmkit_topic_create(uris[k], &o));
		for (unsigned i = 0; i < counts[k]; i++, n++) {
			CHECK_OK(shmkit_sub_open(&subs[n], uris[k]));
			pfd[n] = (struct pollfd){.fd = shmkit_sub_fd(subs[n]), .events = POLLIN};
			CHECK(pfd[n].fd >= 0);
			CHECK_RET(shmkit_sub_recv(subs[n], buf, sizeof(buf), 0), -EAGAIN);
		}
	}
	CHECK_RET(test_wait(test_fork(publish_everywhere, uris)), 0);
	unsigned ready = 0;
	int64_t give_up = test_now_ns() + 10 * SEC;
	while (ready < n && test_now_ns() < give_up) {
		CHECK(poll(pfd, n, 100) >= 0);
		ready = 0;
		for (unsigned i = 0; i < n; i++)
			ready += (pfd[i].revents & POLLIN) != 0;
	}
	printf("sender sockets: %u of %u descriptors readable\n", ready, n);
	CHECK(ready == n);
	CHECK(pfd[n - 1].revents & POLLIN); /* the healthy one */
	for (unsigned i = 0; i < n; i++)
		CHECK_OK(shmkit_sub_close(subs[i]));
	for (int k = 0; k < 3; k++)
		CHECK_OK(shmkit_remove(uris[k]));
	CHECK(setrlimit(RLIMIT_NOFILE, &was) == 0);
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_ready_and_clear();
	for (int multi = 0; multi <= 1; multi++) {
		test_waker_killed(multi, "lis.signal.taken");
		test_waker_killed(multi, "ec.wake.bumped");
		test_waker_killed(multi, "lis.signal.loaded");
		test_waker_killed(multi, "lis.signal.sent");
		test_fork_close(multi);
	}
	test_fd_maker_killed();
	test_two_wakers();
	test_found_pending();
	test_fork_owner_died();
	test_topic_fork_close();
	test_topic_fork_child_closes();
	test_topic_fork_pidfd();
	test_topic_fork_close_racing_fd();
	test_topic_fork_fd_reaped();
	test_topic_fork_copy_closes_while_claiming();
	test_topic_fork_fd_key();
	test_topic_fork_fd_looked();
	test_topic_fork_fd_judged();
	test_topic_stale_reaper();
	test_topic_fork_child_fd_closes();
	test_topic_fork_fd_late();
	test_topic_fork_owner_died();
	test_topic_fork_fd_in_child();
	test_queue_left_entry();
	test_topic_fork_keys();
	test_sender_sockets();
	test_send_fd();
	test_topic_fd();
	test_topic_fd_killed_publisher();
	test_topic_fd_publisher_after_arm();
	test_epoll_loop(100000);
	test_poll_select(0, 20000);
	test_poll_select(1, 20000);
	test_killed_receiver();
	test_stranger_datagrams();
	test_many_listeners();
	test_sparse_listeners();
	test_listener_table();
	test_syscall_counts();
	return test_done();
}
