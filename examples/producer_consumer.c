/* SPDX-License-Identifier: MIT */
/* producer_consumer: a producer and a consumer process talking through a
 * shmkit queue, and the same messages through a pipe, with the rate of each.
 *
 *   producer_consumer [URI] [COUNT]      (default anon: shared over fork, 1000000)
 *
 * With a named URI (posix:/name, file:/path, sysv:0x1234) any two programs can
 * play the two parts: shmkit_queue_open() the same name in the other one. */
#include <shmkit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

struct msg {
	unsigned long seq;
	char text[MSG - sizeof(unsigned long)];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The consumer: receive count messages, check they come in order. */
static int consume(struct shmkit_queue *q, unsigned long count)
{
	struct msg m;
	for (unsigned long i = 0; i < count; i++) {
		ssize_t n = shmkit_queue_recv(q, &m, sizeof(m), SHMKIT_FOREVER);
		if (n != (ssize_t)sizeof(m) || m.seq != i) {
			fprintf(stderr, "consumer: message %lu: %s\n", i,
				n < 0 ? shmkit_strerror((int)n) : "out of order");
			return 1;
		}
	}
	return 0;
}

static double run_queue(const char *uri, unsigned long count)
{
	struct shmkit_queue_opts o = { .capacity = 1024, .max_msg = MSG };
	struct shmkit_queue *q;
	int err = shmkit_queue_create(&q, uri, &o);
	if (err < 0) {
		fprintf(stderr, "producer_consumer: create %s: %s\n", uri, shmkit_strerror(err));
		return -1;
	}
	double t0 = now();
	pid_t pid = fork();
	if (pid == 0)
		_exit(consume(q, count)); /* the child uses the inherited handle */
	struct msg m = { 0 };
	strcpy(m.text, "hello through shared memory");
	for (unsigned long i = 0; i < count && err == 0; i++) {
		m.seq = i;
		err = shmkit_queue_send(q, &m, sizeof(m), SHMKIT_FOREVER);
	}
	int status;
	waitpid(pid, &status, 0);
	double dt = now() - t0;
	shmkit_queue_close(q);
	if (strncmp(uri, "anon:", 5) != 0)
		shmkit_remove(uri);
	return err == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? dt : -1;
}

static double run_pipe(unsigned long count)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	double t0 = now();
	pid_t pid = fork();
	if (pid == 0) {
		struct msg m;
		close(fds[1]);
		for (unsigned long i = 0; i < count; i++) {
			size_t got = 0;
			while (got < sizeof(m)) {
				ssize_t n = read(fds[0], (char *)&m + got, sizeof(m) - got);
				if (n <= 0)
					_exit(1);
				got += (size_t)n;
			}
			if (m.seq != i)
				_exit(1);
		}
		_exit(0);
	}
	close(fds[0]);
	struct msg m = { 0 };
	for (unsigned long i = 0; i < count; i++) {
		m.seq = i;
		if (write(fds[1], &m, sizeof(m)) != (ssize_t)sizeof(m))
			break;
	}
	close(fds[1]);
	int status;
	waitpid(pid, &status, 0);
	double dt = now() - t0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? dt : -1;
}

int main(int argc, char **argv)
{
	const char *uri = argc > 1 ? argv[1] : "anon:";
	unsigned long count = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;

	double tq = run_queue(uri, count);
	if (tq < 0)
		return 1;
	double tp = run_pipe(count);
	if (tp < 0)
		return 1;
	printf("%lu messages of %d bytes, producer -> consumer process:\n", count, MSG);
	printf("  shmkit queue (%s): %8.3f s  %12.0f msg/s\n", uri, tq, (double)count / tq);
	printf("  pipe:%*s%8.3f s  %12.0f msg/s\n", (int)(strlen(uri) + 11), "", tp,
	       (double)count / tp);
	printf("  the queue is %.1fx the pipe's rate\n", tp / tq);
	return 0;
}
