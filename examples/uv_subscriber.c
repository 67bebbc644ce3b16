/* SPDX-License-Identifier: MIT */
/* uv_subscriber: a shmkit topic in a libuv event loop (built when libuv is
 * installed: Debian's libuv1-dev).
 *
 *   uv_subscriber URI
 *
 * Joins the topic URI (make one with `shmkit topic create URI`), says "ready",
 * and lets libuv poll the subscriber's descriptor (shmkit_sub_fd) beside
 * whatever else the loop serves. Each readiness drains the topic with
 * timeout-0 receives; when the publisher closes the topic the receive says
 * -EPIPE and the program stops the loop and exits. Publish from another
 * terminal with `shmkit pub URI hello world`. */
#include <shmkit.h>

#include <errno.h>
#include <stdio.h>
#include <uv.h>

static struct shmkit_sub *sub;
static long received;

static void on_readable(uv_poll_t *h, int status, int events)
{
	char buf[4096];
	(void)events;
	if (status < 0) {
		fprintf(stderr, "poll: %s\n", uv_strerror(status));
		uv_poll_stop(h);
		return;
	}
	for (;;) {
		ssize_t n = shmkit_sub_recv(sub, buf, sizeof(buf) - 1, 0);
		if (n == -EAGAIN)
			return; /* drained: the descriptor is armed again */
		if (n < 0) {
			if (n == -EPIPE)
				printf("publisher closed after %ld messages\n", received);
			else
				fprintf(stderr, "recv: %s\n", shmkit_strerror((int)n));
			uv_poll_stop(h); /* nothing else keeps the loop alive: it ends */
			return;
		}
		buf[n] = '\0';
		printf("got: %s\n", buf);
		fflush(stdout);
		received++;
	}
}

int main(int argc, char **argv)
{
	uv_poll_t poll;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s URI\n", argv[0]);
		return 2;
	}
	if ((r = shmkit_sub_open(&sub, argv[1])) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], shmkit_strerror(r));
		return 1;
	}
	int fd = shmkit_sub_fd(sub); /* owned by sub: shmkit_sub_close closes it */
	if (fd < 0 || uv_poll_init(uv_default_loop(), &poll, fd) < 0 ||
	    uv_poll_start(&poll, UV_READABLE, on_readable) < 0) {
		fprintf(stderr, "setting up the loop failed\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&poll, NULL);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	uv_loop_close(uv_default_loop());
	shmkit_sub_close(sub);
	return received > 0 ? 0 : 1;
}
