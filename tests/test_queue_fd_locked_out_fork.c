/* SPDX-License-Identifier: MIT */
/* A child forked with an MPMC handle shares its parent's descriptor (one
 * epoll set). 64 holders fill the peer table; the parent's handle, armed
 * (its entry given back after an empty poll), waits on its descriptor. A
 * poll of the child, locked out, must not turn the listener off in the
 * shared set (queue.c "locked out"): once the child exits, nothing would
 * turn it back on, and the parent's descriptor would never turn readable
 * although a message waits. Real processes (fork, kill -9). */
/* TIMEOUT: 60 */
#include "test.h"

#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000ll
#define HOLDERS 64

static int started[2];
static const char *g_uri;
static struct shmkit_queue *g_q;

/* A holder: registers (a poll of the empty queue) and sleeps holding its entry. */
static int hold(void *arg)
{
	struct shmkit_queue *h;
	int r = shmkit_queue_open(&h, g_uri);
	(void)arg;
	if (r == 0) {
		int m;
		r = (int)shmkit_queue_recv(h, &m, sizeof(m), 0);
		if (r == -EAGAIN)
			r = 0;
	}
	if (write(started[1], &r, sizeof(r)) != sizeof(r))
		return 1;
	pause();
	return 0;
}

/* The child: one poll on the inherited handle, locked out; then exits. */
static int child_poll(void *arg)
{
	int m;
	(void)arg;
	ssize_t r = shmkit_queue_recv(g_q, &m, sizeof(m), 0);
	return r == -EAGAIN ? 0 : 1;
}

/* A sender that takes the entry a killed holder gave back. */
static int sender(void *arg)
{
	struct shmkit_queue *h;
	int m = 42;
	(void)arg;
	if (shmkit_queue_open(&h, g_uri) != 0)
		return 1;
	return shmkit_queue_send(h, &m, sizeof(m), 5 * SEC) == 0 ? 0 : 2;
}

int main(void)
{
	const char *uri = g_uri = test_uri("posix", "h35f-lockfork");
	struct shmkit_queue_opts o = { .capacity = 256, .max_msg = 8, .multi_producer = 1,
				       .multi_consumer = 1 };
	pid_t pid[HOLDERS];
	int m, st;

	CHECK_OK(shmkit_queue_create(&g_q, uri, &o));
	/* the parent registers, arms its descriptor and gives its entry back */
	int fd = shmkit_queue_fd(g_q);
	CHECK(fd >= 0);
	CHECK_RET(shmkit_queue_recv(g_q, &m, sizeof(m), 0), -EAGAIN);
	CHECK_OK(pipe(started));
	for (int i = 0; i < HOLDERS; i++)
		pid[i] = test_fork(hold, NULL);
	for (int i = 0; i < HOLDERS; i++) {
		int r = -1;
		CHECK(read(started[0], &r, sizeof(r)) == sizeof(r));
		CHECK_RET(r, 0);
	}
	/* the child, a 65th registrant, is locked out, and exits */
	pid_t c = test_fork(child_poll, NULL);
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* a holder dies, a sender takes its entry and sends one message */
	kill(pid[0], SIGKILL);
	waitpid(pid[0], NULL, 0);
	pid_t s = test_fork(sender, NULL);
	CHECK(waitpid(s, &st, 0) == s && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	struct pollfd p = {.fd = fd, .events = POLLIN};
	int pr = poll(&p, 1, 2000);
	printf("parent's descriptor after the message: poll -> %d (want 1)\n", pr);
	CHECK(pr == 1);
	ssize_t r = shmkit_queue_recv(g_q, &m, sizeof(m), 0);
	printf("recv(timeout 0) -> %zd, m = %d\n", r, m);
	CHECK(r == sizeof(m) && m == 42);

	for (int i = 1; i < HOLDERS; i++)
		kill(pid[i], SIGKILL);
	for (int i = 1; i < HOLDERS; i++)
		waitpid(pid[i], NULL, 0);
	shmkit_queue_close(g_q);
	return test_done();
}
