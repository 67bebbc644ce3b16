/* SPDX-License-Identifier: MIT */
/* Pollable descriptors (shmkit_queue_fd, shmkit_sub_fd) whose wakers cannot
 * all reach them, between real processes:
 *  - a sender whose sendto(2) a sandbox refuses (seccomp EPERM), or that
 *    lives in another network namespace (abstract socket names are per
 *    namespace: its sendto is refused with ECONNREFUSED although the
 *    listener lives), sends first: a capable sender's message afterwards
 *    must still make the descriptor readable (the first one used to take
 *    the entry to IDLE with no token: unreadable for good);
 *  - such a sender pays no sendto per message while the consumer waits
 *    (one, then one per second at most);
 *  - a sender that cannot make a socket (socket(AF_UNIX) refused, or at its
 *    RLIMIT_NOFILE) leaves the entry to the next capable sender;
 *  - a consumer of another pid namespace killed while armed is still
 *    dropped (its attach slot's lock proves it dead): no FD bit left up;
 *  - a consumer that may not call membarrier(2), of an object made in
 *    MEMBARRIER mode: its armed descriptor is readable only when there is
 *    something to receive (it used to stay readable for ever: 100 % CPU in
 *    an idle event loop), and it still wakes on a message.
 * The sandbox is a raw seccomp BPF filter (no libseccomp needed). */
/* TIMEOUT: 120 */
#include "test.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "seccomp_deny.h"

#define MS 1000000ll
#define SEC 1000000000ll

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, timeout_ms);
	return r == 1 && (p.revents & POLLIN);
}

/* ---- child roles (exec'd) ---- */

/* How a sender is handicapped before it opens the object. 0: it is not;
 * 77: it cannot be here (the test skips that case). */
static int handicap(const char *how)
{
	if (strcmp(how, "normal") == 0)
		return 0;
	if (strcmp(how, "nosendto") == 0)
		return test_seccomp_deny_arg0(SYS_sendto, EPERM, -1) < 0 ? 77 : 0;
	if (strcmp(how, "nosocket") == 0)
		return test_seccomp_deny_arg0(SYS_socket, EAFNOSUPPORT, AF_UNIX) < 0 ? 77 : 0;
	if (strcmp(how, "netns") == 0)
		return unshare(CLONE_NEWNET) < 0 ? 77 : 0;
	return 2;
}

/* argv: uri how count: sends count u64s (timeout 0: the queue has room). */
static int role_send(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int h = handicap(argv[1]);
	if (h)
		return h;
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	uint64_t n = strtoull(argv[2], NULL, 0);
	for (uint64_t i = 0; i < n; i++)
		CHECK_OK(shmkit_queue_send(q, &i, sizeof(i), 0));
	CHECK_OK(shmkit_queue_close(q));
	return test_done();
}

/* argv: uri: sends one message with no descriptor left to make a socket
 * (RLIMIT_NOFILE at its lowest free one), then one more. */
static int role_send_emfile(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	int lowest = dup(0);
	CHECK(lowest >= 0);
	close(lowest);
	struct rlimit rl = {(rlim_t)lowest, (rlim_t)lowest};
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	uint64_t v = 7;
	CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 0));
	CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 0));
	CHECK_OK(shmkit_queue_close(q));
	return test_done();
}

/* argv: uri how: publishes one u64 on the topic and closes. */
static int role_publish(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int h = handicap(argv[1]);
	if (h)
		return h;
	struct shmkit_pub *p;
	uint64_t v = 42;
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	CHECK_OK(shmkit_pub_send(p, &v, sizeof(v), SEC));
	CHECK_OK(shmkit_pub_close(p));
	return test_done();
}

/* argv: uri kind(queue|topic): a consumer that may not call membarrier(2).
 * Arms its descriptor; it must stay unreadable for 300 ms with nothing
 * sent; says "armed" on stdout, then must wake on the message that
 * follows. */
static int role_mb_consumer(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (test_seccomp_deny_arg0(SYS_membarrier, EPERM, -1) < 0)
		return 77;
	int topic = strcmp(argv[1], "topic") == 0;
	struct shmkit_queue *q = NULL;
	struct shmkit_sub *s = NULL;
	uint64_t v;
	int fd;
	if (topic) {
		CHECK_OK(shmkit_sub_open(&s, argv[0]));
		fd = shmkit_sub_fd(s);
	} else {
		CHECK_OK(shmkit_queue_open(&q, argv[0]));
		fd = shmkit_queue_fd(q);
	}
	CHECK(fd >= 0);
	/* count the readiness/-EAGAIN pairs an event loop would spin on */
	int spins = 0;
	int64_t end = test_now_ns() + 300 * MS;
	while (test_now_ns() < end) {
		ssize_t r = topic ? shmkit_sub_recv(s, &v, sizeof(v), 0)
				  : shmkit_queue_recv(q, &v, sizeof(v), 0);
		CHECK_RET(r, -EAGAIN);
		if (!readable(fd, (int)((end - test_now_ns()) / MS) + 1))
			break;
		spins++;
	}
	printf("armed %d\n", spins);
	fflush(stdout);
	fprintf(stderr, "membarrier refused: %d spurious readiness in 300 ms idle\n", spins);
	CHECK(spins <= 2); /* a publisher's activation may wake it once */
	int got = 0;
	end = test_now_ns() + 10 * SEC;
	while (!got && test_now_ns() < end) {
		if (!readable(fd, 10000))
			break;
		ssize_t r = topic ? shmkit_sub_recv(s, &v, sizeof(v), 0)
				  : shmkit_queue_recv(q, &v, sizeof(v), 0);
		got = r == (ssize_t)sizeof(v);
	}
	CHECK(got);
	/* the blocking path in that process waits as well */
	if (!topic)
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 50 * MS), -ETIMEDOUT);
	if (topic)
		CHECK_OK(shmkit_sub_close(s));
	else
		CHECK_OK(shmkit_queue_close(q));
	return test_done();
}

/* argv: uri: in a new pid namespace (root), a child opens the queue, arms
 * its descriptor and waits; we print its pid (ours for it) and wait for it. */
static int role_pidns_armed(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	if (unshare(CLONE_NEWPID) < 0)
		return 77;
	pid_t c = fork();
	if (c < 0)
		return 77;
	if (c == 0) {
		struct shmkit_queue *q;
		uint64_t v;
		CHECK_OK(shmkit_queue_open(&q, argv[0]));
		CHECK(shmkit_queue_fd(q) >= 0);
		CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
		printf("armed\n");
		fflush(stdout);
		pause();
		_exit(5);
	}
	printf("pid %d\n", (int)c);
	fflush(stdout);
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* argv: uri: as uid 1001, arms a descriptor, then execs sleep (its socket
 * closes on exec, its entry stays ARMED, its owner alive) */
static int role_exec_armed(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	if (setgid(1001) < 0 || setuid(1001) < 0)
		return 77;
	struct shmkit_queue *q;
	uint64_t v;
	CHECK_OK(shmkit_queue_open(&q, argv[0]));
	CHECK(shmkit_queue_fd(q) >= 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	printf("armed\n");
	fflush(stdout);
	execl("/bin/sleep", "sleep", "10", (char *)NULL);
	return 3;
}

/* argv: uri: in a network namespace of its own, subscribes to the topic
 * and arms its descriptor (no publisher out there can reach it); says
 * "armed" and waits to be killed */
static int role_netns_sub_armed(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	if (unshare(CLONE_NEWNET) < 0)
		return 77;
	struct shmkit_sub *s;
	uint64_t v;
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	CHECK(shmkit_sub_fd(s) >= 0);
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN);
	printf("armed\n");
	fflush(stdout);
	pause();
	return 0;
}

static const struct test_role roles[] = {
    {"netns_sub_armed", role_netns_sub_armed},
    {"exec_armed", role_exec_armed},
    {"send", role_send},
    {"send_emfile", role_send_emfile},
    {"publish", role_publish},
    {"mb_consumer", role_mb_consumer},
    {"pidns_armed", role_pidns_armed},
    {NULL, NULL},
};

/* ---- tests ---- */

static const char *make_queue(const char *tag, int multi)
{
	const char *uri = test_uri("posix", tag);
	struct shmkit_queue_opts o = {.capacity = 512, .max_msg = 16, .multi_producer = multi};
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_close(q));
	return uri;
}

/* Runs a sender role; returns its exit code (77: handicap not possible). */
static int run_sender(const char *uri, const char *how, const char *count)
{
	const char *args[] = {uri, how, count, NULL};
	return test_wait(test_spawn_self("send", args));
}

/* The consumer arms, a handicapped sender sends one message (the descriptor
 * cannot turn readable: nothing reached it), then a capable one: readable,
 * both messages there. */
static void test_queue_after(const char *how, int multi)
{
	char tag[32];
	snprintf(tag, sizeof(tag), "q-%s-%d", how, multi);
	const char *uri = make_queue(tag, multi);
	struct shmkit_queue *q;
	uint64_t v;
	CHECK_OK(shmkit_queue_open(&q, uri));
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	CHECK(!readable(fd, 0));
	int rc = run_sender(uri, how, "1");
	if (rc == 77) {
		printf("%s: skipped (cannot set that up here)\n", tag);
		CHECK_OK(shmkit_queue_close(q));
		return;
	}
	CHECK_RET(rc, 0);
	if (strcmp(how, "nosocket") != 0 && strcmp(how, "emfile") != 0)
		CHECK(!readable(fd, 100)); /* nothing could reach it */
	CHECK_RET(run_sender(uri, "normal", "1"), 0);
	int ok = readable(fd, 5000);
	printf("%s: a capable sender after one that could not reach the descriptor: %s\n", tag,
	       ok ? "readable" : "NOT readable");
	CHECK(ok);
	int got = 0;
	while (shmkit_queue_recv(q, &v, sizeof(v), 0) == (ssize_t)sizeof(v))
		got++;
	CHECK(got == 2);
	CHECK(!readable(fd, 0));
	CHECK_OK(shmkit_queue_close(q));
}

/* A producer at RLIMIT_NOFILE (its wake-up socket cannot be made): the next
 * capable sender wakes the consumer. */
static void test_queue_emfile(void)
{
	const char *uri = make_queue("q-emfile", 0);
	struct shmkit_queue *q;
	uint64_t v;
	CHECK_OK(shmkit_queue_open(&q, uri));
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	const char *args[] = {uri, NULL};
	CHECK_RET(test_wait(test_spawn_self("send_emfile", args)), 0);
	CHECK_RET(run_sender(uri, "normal", "1"), 0);
	int ok = readable(fd, 5000);
	printf("q-emfile: a capable sender after one at RLIMIT_NOFILE: %s\n",
	       ok ? "readable" : "NOT readable");
	CHECK(ok);
	int got = 0;
	while (shmkit_queue_recv(q, &v, sizeof(v), 0) == (ssize_t)sizeof(v))
		got++;
	CHECK(got == 3);
	CHECK_OK(shmkit_queue_close(q));
}

/* A topic subscriber in poll; a publisher that cannot reach it publishes
 * first, then a capable one. */
static void test_topic_after(const char *how)
{
	char tag[32];
	snprintf(tag, sizeof(tag), "t-%s", how);
	const char *uri = test_uri("posix", tag);
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 16};
	struct shmkit_sub *s;
	uint64_t v;
	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	int fd = shmkit_sub_fd(s);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN);
	const char *args[] = {uri, how, NULL};
	int rc = test_wait(test_spawn_self("publish", args));
	if (rc == 77) {
		printf("%s: skipped (cannot set that up here)\n", tag);
		CHECK_OK(shmkit_sub_close(s));
		return;
	}
	CHECK_RET(rc, 0);
	CHECK(!readable(fd, 100));
	const char *args2[] = {uri, "normal", NULL};
	CHECK_RET(test_wait(test_spawn_self("publish", args2)), 0);
	int ok = readable(fd, 5000);
	printf("%s: a capable publisher after one that could not reach the descriptor: %s\n", tag,
	       ok ? "readable" : "NOT readable");
	CHECK(ok);
	int got = 0;
	for (int i = 0; i < 10; i++) {
		ssize_t r = shmkit_sub_recv(s, &v, sizeof(v), 0);
		if (r == (ssize_t)sizeof(v))
			got++;
		else if (r == -EAGAIN || r == -EPIPE)
			break;
	}
	CHECK(got == 2);
	CHECK_OK(shmkit_sub_close(s));
}

static int strace_ok(void)
{
	char out[64];
	return test_sh_capture(out, sizeof(out), "strace -o /dev/null true 2>&1") == 0;
}

/* A sender that cannot reach an armed consumer sends 300 messages: it tries
 * once (a refused sendto), not once per message. */
static void test_unreachable_cost(const char *how)
{
	if (!strace_ok()) {
		printf("cost %s: skipped (strace cannot run here)\n", how);
		return;
	}
	char tag[32], trace[128], exe[4096], out[64];
	snprintf(tag, sizeof(tag), "cost-%s", how);
	snprintf(trace, sizeof(trace), "/tmp/shmkit-test-%d-unreach-strace", (int)getpid());
	const char *uri = make_queue(tag, 0);
	struct shmkit_queue *q;
	uint64_t v;
	CHECK_OK(shmkit_queue_open(&q, uri));
	int fd = shmkit_queue_fd(q);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(len > 0);
	exe[len > 0 ? len : 0] = '\0';
	int rc = test_sh("ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=sendto -o %s "
			 "%s --role send %s %s 300",
			 trace, exe, uri, how);
	if (rc == 77) {
		printf("%s: skipped (cannot set that up here)\n", tag);
		CHECK_OK(shmkit_queue_close(q));
		unlink(trace);
		return;
	}
	CHECK_RET(rc, 0);
	CHECK(test_sh_capture(out, sizeof(out), "grep -c 'sendto(' %s", trace) >= 0);
	int calls = atoi(out);
	printf("%s: 300 messages to an armed consumer it cannot reach: %d sendto\n", tag, calls);
	CHECK(calls >= 1 && calls <= 3); /* once a second at most: a slow machine */
	CHECK_RET(run_sender(uri, "normal", "1"), 0);
	CHECK(readable(fd, 5000));
	int got = 0;
	while (shmkit_queue_recv(q, &v, sizeof(v), 0) == (ssize_t)sizeof(v))
		got++;
	CHECK(got == 301);
	CHECK_OK(shmkit_queue_close(q));
	unlink(trace);
}

/* A consumer that may not call membarrier(2) of an object its creator made
 * in MEMBARRIER mode. */
static void test_mb_refused(int topic)
{
	const char *uri = test_uri("posix", topic ? "mb-t" : "mb-q");
	setenv("SHMKIT_WAKE_BARRIER", "membarrier", 1);
	struct shmkit_queue *p = NULL;
	struct shmkit_pub *pub = NULL;
	struct shmkit__ec_shared *ec;
	struct shmkit_seg *raw;
	if (topic) {
		struct shmkit_topic_opts o = {.slot_size = 16, .slots = 16};
		CHECK_OK(shmkit_pub_create(&pub, uri, &o));
	} else {
		struct shmkit_queue_opts o = {.capacity = 64, .max_msg = 16};
		CHECK_OK(shmkit_queue_create(&p, uri, &o));
	}
	unsetenv("SHMKIT_WAKE_BARRIER");
	CHECK_OK(shmkit_seg_open(&raw, uri, 0, 0, 0));
	char *body = (char *)shmkit_seg_addr(raw) + 4096;
	ec = topic ? &((struct shmkit__topic_shared *)(void *)body)->data_ec
		   : &((struct shmkit__queue_shared *)(void *)body)->data_ec;
	if (atomic_load(&ec->mode) != 1) {
		printf("membarrier refused (%s): skipped (membarrier(2) unavailable here)\n",
		       topic ? "topic" : "queue");
		goto out;
	}
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t c = fork();
	if (c == 0) {
		dup2(pfd[1], 1);
		char exe[4096];
		ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = '\0';
		execl(exe, exe, "--role", "mb_consumer", uri, topic ? "topic" : "queue",
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char line[64] = "";
	ssize_t n = read(pfd[0], line, sizeof(line) - 1);
	close(pfd[0]);
	if (n > 0 && strncmp(line, "armed", 5) == 0) {
		uint64_t v = 9;
		if (topic)
			CHECK_OK(shmkit_pub_send(pub, &v, sizeof(v), SEC));
		else
			CHECK_OK(shmkit_queue_send(p, &v, sizeof(v), SEC));
	}
	int rc = test_wait(c);
	if (rc == 77)
		printf("membarrier refused: skipped (no seccomp here)\n");
	else {
		CHECK_RET(rc, 0);
		/* the consumer switched the object: every waker fences now */
		CHECK(atomic_load(&ec->mode) == 0);
	}
out:
	CHECK_OK(shmkit_seg_close(raw));
	if (topic)
		CHECK_OK(shmkit_pub_close(pub));
	else
		CHECK_OK(shmkit_queue_close(p));
}

/* Runs this test binary again as `role` with the argument uri, its
 * standard output a pipe read through *out: its pid. */
static pid_t spawn_piped(const char *role, const char *uri, FILE **out)
{
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t c = fork();
	if (c == 0) {
		dup2(pfd[1], 1);
		char exe[4096];
		ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = '\0';
		execl(exe, exe, "--role", role, uri, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	*out = fdopen(pfd[0], "r");
	CHECK(*out != NULL);
	return c;
}

/* Spawns a role whose first line on stdout says "armed": its pid, or -1
 * (77 from the role: skipped) once it said nothing and ended. */
static pid_t spawn_armed(const char *role, const char *uri)
{
	FILE *in;
	char line[64];
	pid_t c = spawn_piped(role, uri, &in);
	int armed = fgets(line, sizeof(line), in) && strncmp(line, "armed", 5) == 0;
	fclose(in);
	if (armed)
		return c;
	int rc = test_wait(c);
	CHECK(rc == 77);
	return -1;
}

/* A consumer of another pid namespace (a container's) killed while armed:
 * its listener refuses the next waker's token, and /proc cannot say it is
 * dead (its pid is its namespace's); the kernel lock on its attach slot
 * does, so the FD bit comes down and later sends make no system call. */
static void test_pidns_killed(void)
{
	if (!test_is_root()) {
		printf("pidns killed: skipped (needs root)\n");
		return;
	}
	const char *uri = make_queue("pidns", 0);
	struct shmkit_queue *q;
	struct shmkit_seg *raw;
	CHECK_OK(shmkit_queue_open(&q, uri));
	CHECK_OK(shmkit_seg_open(&raw, uri, 0, 0, 0));
	struct shmkit__queue_shared *sh =
	    (void *)((char *)shmkit_seg_addr(raw) + 4096);
	FILE *in;
	pid_t c = spawn_piped("pidns_armed", uri, &in);
	char line[64];
	int armed = 0, gc = 0;
	while ((!armed || !gc) && fgets(line, sizeof(line), in)) {
		if (strncmp(line, "armed", 5) == 0)
			armed = 1;
		else if (strncmp(line, "pid ", 4) == 0)
			gc = atoi(line + 4);
	}
	fclose(in);
	if (!armed || gc <= 0) {
		int rc = test_wait(c);
		if (rc == 77)
			printf("pidns killed: skipped (no pid namespace here)\n");
		else
			CHECK(armed && gc > 0);
		goto out;
	}
	CHECK(atomic_load(&sh->data_ec.word) & 2); /* its FD bit */
	kill(gc, SIGKILL);
	CHECK_RET(test_wait(c), 0);
	uint64_t v = 1;
	for (int i = 0; i < 100; i++)
		CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 0));
	unsigned w = atomic_load(&sh->data_ec.word);
	printf("pidns killed: FD bit after 100 sends: %s\n", w & 2 ? "still up" : "down");
	CHECK((w & 3) == 0);
out:
	CHECK_OK(shmkit_seg_close(raw));
	CHECK_OK(shmkit_queue_close(q));
}

/* A consumer of another user armed, then exec'd (its socket closed, it
 * lives on): a sender of a third user, whose refused token cannot read the
 * owner's ns/net link (ptrace rights), still drops the entry (by
 * /proc/PID/net): the FD bit comes down, not every send on the slow path
 * for good. */
static void test_exec_other_user(void)
{
	if (!test_is_root()) {
		printf("exec other user: skipped (needs root)\n");
		return;
	}
	const char *uri = test_uri("posix", "exec-user");
	struct shmkit_queue_opts o = {.capacity = 512, .max_msg = 16, .mode = 0666};
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_close(q));
	pid_t c = spawn_armed("exec_armed", uri);
	if (c < 0) {
		printf("exec other user: skipped\n");
		return;
	}
	usleep(100000); /* its exec done */
	pid_t s = fork();
	if (s == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(77);
		struct shmkit_seg *raw;
		CHECK_OK(shmkit_queue_open(&q, uri));
		CHECK_OK(shmkit_seg_open(&raw, uri, 0, 0, 0));
		struct shmkit__queue_shared *sh = (void *)((char *)shmkit_seg_addr(raw) + 4096);
		uint64_t v = 1;
		for (int i = 0; i < 100; i++)
			CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 0));
		unsigned w = atomic_load(&sh->data_ec.word);
		printf("exec other user: FD bit after 100 sends: %s\n", w & 2 ? "still up" : "down");
		CHECK((w & 3) == 0);
		CHECK_OK(shmkit_seg_close(raw));
		CHECK_OK(shmkit_queue_close(q));
		_exit(test_done());
	}
	int rc = test_wait(s);
	if (rc == 77)
		printf("exec other user: skipped (no setuid)\n");
	else
		CHECK_RET(rc, 0);
	kill(c, SIGKILL);
	test_wait(c);
}

/* A publisher whose wakes find armed only a subscriber it cannot reach
 * (another network namespace) stops scanning for it (ec.c, "unheard"), but
 * a subscriber of ours that arms afterwards is woken by its next
 * publication: arming moves the word the skip compares. */
static void test_unheard_then_new_listener(void)
{
	if (!test_is_root()) {
		printf("unheard then new: skipped (needs root)\n");
		return;
	}
	const char *uri = test_uri("posix", "unheard");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 64};
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	uint64_t v = 1;
	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	pid_t far = spawn_armed("netns_sub_armed", uri);
	if (far < 0) {
		printf("unheard then new: skipped (no network namespace here)\n");
		CHECK_OK(shmkit_pub_close(p));
		return;
	}
	for (int i = 0; i < 20; i++) /* the first is refused; the rest skip */
		CHECK_OK(shmkit_pub_send(p, &v, sizeof(v), 0));
	CHECK_OK(shmkit_sub_open(&s, uri));
	int fd = shmkit_sub_fd(s);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), -EAGAIN);
	for (int i = 0; i < 3; i++) /* the same publisher, the same handle */
		CHECK_OK(shmkit_pub_send(p, &v, sizeof(v), 0));
	int ok = readable(fd, 2000);
	printf("unheard then new: a subscriber armed after the skips: %s\n",
	       ok ? "readable" : "NOT readable");
	CHECK(ok);
	CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), (ssize_t)sizeof(v));
	kill(far, SIGKILL);
	test_wait(far);
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	for (int multi = 0; multi <= 1; multi++) {
		test_queue_after("nosendto", multi);
		test_queue_after("netns", multi);
		test_queue_after("nosocket", multi);
	}
	test_queue_emfile();
	test_topic_after("nosendto");
	test_topic_after("netns");
	test_unreachable_cost("nosendto");
	test_unreachable_cost("netns");
	test_pidns_killed();
	test_exec_other_user();
	test_unheard_then_new_listener();
	test_mb_refused(0);
	test_mb_refused(1);
	return test_done();
}
