/* SPDX-License-Identifier: MIT */
/* A copy of a live object's file (cp of /dev/shm/NAME, as a user backs one
 * up) carries the original's attach entries and roles: live processes
 * that never opened the copy. They must not count as its holders: the
 * copy's consumer role is free to take, and its attach entries read as not
 * alive. Before, a live consumer of the original kept the copy's consumer
 * role taken (-EBUSY "pid N is already its consumer") for as long as it
 * lived. The original's role stays its consumer's. Real processes (fork,
 * kill -9). */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *g_uri;
static int ready[2];

/* The original's consumer: claims the role, then waits in recv. */
static int consume(void *arg)
{
	struct shmkit_queue *q;
	char buf[16];
	(void)arg;
	int r = shmkit_queue_open(&q, g_uri);
	if (r == 0)
		r = shmkit_queue_recv(q, buf, sizeof(buf), 0) == -EAGAIN ? 0 : -1;
	if (write(ready[1], &r, sizeof(r)) != sizeof(r))
		return 1;
	shmkit_queue_recv(q, buf, sizeof(buf), SHMKIT_FOREVER);
	return 0;
}

/* cp SRC DST, as coreutils does it: read and write, a new file. */
static void copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(in >= 0 && out >= 0);
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, (size_t)n) == n);
	close(in);
	close(out);
}

int main(void)
{
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *q, *c, *second;
	const char *copy = test_uri("posix", "copy-dst");
	char src[256], dst[256], buf[16];

	g_uri = test_uri("posix", "copy-src");
	CHECK_OK(shmkit_queue_create(&q, g_uri, &o));
	CHECK_OK(pipe(ready));
	pid_t consumer = test_fork(consume, NULL);
	int r = -1;
	CHECK(read(ready[0], &r, sizeof(r)) == sizeof(r));
	CHECK_RET(r, 0);

	snprintf(src, sizeof(src), "/dev/shm%s", g_uri + strlen("posix:"));
	snprintf(dst, sizeof(dst), "/dev/shm%s", copy + strlen("posix:"));
	copy_file(src, dst);

	/* the original: its live consumer still holds the role */
	CHECK_OK(shmkit_queue_open(&second, g_uri));
	CHECK_RET(shmkit_queue_recv(second, buf, sizeof(buf), 0), -EBUSY);
	shmkit_queue_close(second);

	/* the copy: nobody's; a consumer takes it, messages go through */
	CHECK_OK(shmkit_queue_open(&c, copy));
	r = (int)shmkit_queue_recv(c, buf, sizeof(buf), 0);
	if (r != -EAGAIN)
		fprintf(stderr, "copy's recv: %d (%s)\n", r, shmkit_last_error_detail());
	CHECK_RET(r, -EAGAIN);
	CHECK_OK(shmkit_queue_send(c, "c1", 2, 0));
	CHECK_RET(shmkit_queue_recv(c, buf, sizeof(buf), 0), 2);
	CHECK(memcmp(buf, "c1", 2) == 0);

	/* and its entries name no live holder but the ones of this process */
	struct shmkit_attacher at[8];
	int n = shmkit_managed_attachers(copy, at, 8), seen = 0;
	CHECK(n >= 1);
	for (int i = 0; i < n && i < 8; i++) {
		if (at[i].pid != consumer)
			continue;
		seen++;
		CHECK(at[i].alive == 0);
	}
	CHECK(seen == 1); /* the copied entry is there, and not alive */
	shmkit_queue_close(c);

	kill(consumer, SIGKILL);
	waitpid(consumer, NULL, 0);
	shmkit_queue_close(q);
	return test_done();
}
