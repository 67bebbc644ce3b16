/* SPDX-License-Identifier: MIT */
/* One queue over every backend, between real processes: posix, sysv and file
 * opened by name in an exec'd process, memfd passed to an exec'd process with
 * shmkit_seg_send/recv and opened as fd:N, anon shared with a forked child.
 * A backend the segment layer does not offer yet is reported and skipped. */
/* TIMEOUT: 60 */
#include "test.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEC 1000000000ll
#define COUNT 20000

static int pump(struct shmkit_queue *q, int send_side)
{
	char buf[64];
	for (int i = 0; i < COUNT; i++) {
		if (send_side) {
			int n = snprintf(buf, sizeof(buf), "message %d", i);
			if (shmkit_queue_send(q, buf, (size_t)n, 10 * SEC) < 0)
				return 3;
		} else {
			char want[64];
			int n = snprintf(want, sizeof(want), "message %d", i);
			if (shmkit_queue_recv(q, buf, sizeof(buf), 10 * SEC) != n ||
			    memcmp(buf, want, (size_t)n) != 0)
				return 4;
		}
	}
	return 0;
}

/* argv: uri -> open by name and produce */
static int role_producer(int argc, char **argv)
{
	struct shmkit_queue *q;
	if (argc < 1 || shmkit_queue_open(&q, argv[0]) < 0)
		return 2;
	int r = pump(q, 1);
	shmkit_queue_close(q);
	return r;
}

/* argv: socket fd -> receive the segment, open it as fd:N, produce */
static int role_fd_producer(int argc, char **argv)
{
	struct shmkit_seg *seg;
	struct shmkit_queue *q;
	char uri[32];
	if (argc < 1 || shmkit_seg_recv(atoi(argv[0]), &seg, 0) < 0)
		return 2;
	snprintf(uri, sizeof(uri), "fd:%d", shmkit_seg_fd(seg));
	if (shmkit_queue_open(&q, uri) < 0)
		return 5;
	shmkit_seg_close(seg); /* the queue holds its own mapping */
	int r = pump(q, 1);
	shmkit_queue_close(q);
	return r;
}

static int make(struct shmkit_queue **q, const char *uri, int multi)
{
	struct shmkit_queue_opts o = { .capacity = 64, .max_msg = 64, .multi_producer = multi,
				       .multi_consumer = multi };
	return shmkit_queue_create(q, uri, &o);
}

static int skipped_backend(const char *scheme, int r)
{
	if (r == -ENOSYS || r == -EOPNOTSUPP) {
		printf("%s: backend not available here (%s), skipped\n", scheme, shmkit_strerror(r));
		return 1;
	}
	return 0;
}

static void by_name(const char *scheme, int multi)
{
	const char *uri = test_uri(scheme, "q");
	struct shmkit_queue *q;
	int r = make(&q, uri, multi);
	if (skipped_backend(scheme, r))
		return;
	CHECK_OK(r);
	if (r < 0)
		return;
	const char *args[] = { uri, NULL };
	pid_t pid = test_spawn_self("producer", args);
	CHECK_RET(pump(q, 0), 0);
	CHECK_RET(test_wait(pid), 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
	printf("%s (%s): %d messages across exec\n", scheme, multi ? "mpmc" : "spsc", COUNT);
}

static void memfd_passed(int multi)
{
	const char *uri = test_uri("memfd", "q");
	struct shmkit_queue *q;
	int sv[2];
	int r = make(&q, uri, multi);
	if (skipped_backend("memfd", r))
		return;
	CHECK_OK(r);
	if (r < 0)
		return;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	char fdarg[16];
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	const char *args[] = { fdarg, NULL };
	pid_t pid = test_spawn_self("fd_producer", args);
	close(sv[1]);
	r = shmkit_seg_send(sv[0], shmkit_queue_seg(q));
	if (skipped_backend("memfd passing", r)) {
		kill(pid, SIGKILL);
		test_wait(pid);
	} else {
		CHECK_OK(r);
		CHECK_RET(pump(q, 0), 0);
		CHECK_RET(test_wait(pid), 0);
		printf("memfd (%s): %d messages to an exec'd process via fd passing\n",
		       multi ? "mpmc" : "spsc", COUNT);
	}
	close(sv[0]);
	CHECK_OK(shmkit_queue_close(q));
}

static void anon_forked(int multi)
{
	struct shmkit_queue *q;
	CHECK_OK(make(&q, "anon:", multi));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(pump(q, 1)); /* the inherited handle works in the child */
	CHECK_RET(pump(q, 0), 0);
	CHECK_RET(test_wait(pid), 0);
	CHECK_OK(shmkit_queue_close(q));
	printf("anon (%s): %d messages across fork\n", multi ? "mpmc" : "spsc", COUNT);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "producer", role_producer },
		{ "fd_producer", role_fd_producer },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	for (int multi = 0; multi <= 1; multi++) {
		by_name("posix", multi);
		by_name("sysv", multi);
		by_name("file", multi);
		memfd_passed(multi);
		anon_forked(multi);
	}
	return test_done();
}
