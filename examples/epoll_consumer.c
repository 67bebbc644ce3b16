/* SPDX-License-Identifier: MIT */
/* epoll_consumer: a shmkit queue beside a timer in one epoll loop, the way a
 * real program waits on sockets, timers and signals in one place.
 *
 *   epoll_consumer URI COUNT [TICK_MS]
 *
 * Opens the queue URI (make one with `shmkit queue create URI --capacity 16 --max-msg 256`), puts its
 * descriptor (shmkit_queue_fd) and a timerfd in one epoll set, prints each
 * message as it comes (`got: ...`) and a heartbeat tick on every timer expiry,
 * and exits after COUNT messages. Feed it from another terminal with
 * `shmkit send URI hello world`. The loop never blocks in recv: on readiness
 * it receives with timeout 0 until -EAGAIN, which is what re-arms the
 * descriptor (level-triggered: a message left behind keeps it readable). */
#include <shmkit.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

static int add(int ep, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Everything waiting now; returns how many, or a negative errno. */
static long drain(struct shmkit_queue *q)
{
	char buf[4096];
	long n = 0;
	for (;;) {
		ssize_t len = shmkit_queue_recv(q, buf, sizeof(buf) - 1, 0);
		if (len == -EAGAIN)
			return n; /* empty: the descriptor is armed again */
		if (len < 0)
			return len;
		buf[len] = '\0';
		printf("got: %s\n", buf);
		n++;
	}
}

int main(int argc, char **argv)
{
	struct shmkit_queue *q;
	long want, got = 0, ticks = 0;
	int r;

	if (argc < 3 || (want = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s URI COUNT [TICK_MS]\n", argv[0]);
		return 2;
	}
	long tick_ms = argc > 3 ? atol(argv[3]) : 1000;
	if ((r = shmkit_queue_open(&q, argv[1])) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], shmkit_strerror(r));
		return 1;
	}
	int qfd = shmkit_queue_fd(q); /* owned by q: shmkit_queue_close closes it */
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct itimerspec its = {.it_interval = {tick_ms / 1000, tick_ms % 1000 * 1000000}};
	its.it_value = its.it_interval;
	if (qfd < 0 || tfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0 ||
	    add(ep, qfd) < 0 || add(ep, tfd) < 0) {
		fprintf(stderr, "setting up the loop failed: %s\n",
			shmkit_strerror(qfd < 0 ? qfd : -errno));
		return 1;
	}
	printf("waiting for %ld messages on %s\n", want, argv[1]);
	fflush(stdout);
	while (got < want) {
		struct epoll_event ev[2];
		int n = epoll_wait(ep, ev, 2, -1);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == tfd) {
				uint64_t expired;
				if (read(tfd, &expired, sizeof(expired)) == sizeof(expired))
					ticks += (long)expired;
				printf("tick %ld\n", ticks);
			} else {
				long m = drain(q);
				if (m < 0) {
					fprintf(stderr, "recv: %s\n", shmkit_strerror((int)m));
					return 1;
				}
				got += m;
			}
		}
		fflush(stdout);
	}
	printf("received %ld messages, %ld ticks\n", got, ticks);
	close(ep);
	close(tfd);
	shmkit_queue_close(q);
	return 0;
}
