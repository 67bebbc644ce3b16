/* SPDX-License-Identifier: MIT */
/* A broadcast topic, subscriber half (see topic_publisher.c).
 *
 * Waits for the topic to appear, joins it, and prints every message published
 * from then on until the publisher closes the topic (-EPIPE) -- or dies: a
 * dead publisher is noticed within 10 ms. Start as many as you like:
 *
 *     ./topic_subscriber & ./topic_subscriber & ./topic_publisher
 *
 * Argument: [URI], default posix:/shmkit-ticks. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <shmkit.h>

int main(int argc, char **argv)
{
	const char *uri = argc > 1 ? argv[1] : "posix:/shmkit-ticks";
	struct shmkit_sub *s;
	char buf[64];
	ssize_t n;
	int ret, received = 0;

	/* The publisher may not have made the topic yet: try for 10 s. */
	for (int i = 0; (ret = shmkit_sub_open(&s, uri)) == -ENOENT && i < 1000; i++)
		usleep(10000);
	if (ret < 0) {
		fprintf(stderr, "topic_subscriber: %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}
	while ((n = shmkit_sub_recv(s, buf, sizeof(buf), 10 * 1000000000ll)) >= 0) {
		printf("[%d] %.*s\n", (int)getpid(), (int)n, buf);
		fflush(stdout);
		received++;
	}
	if (n != -EPIPE)
		fprintf(stderr, "topic_subscriber: %s: %s\n", uri, shmkit_strerror((int)n));
	printf("[%d] the publisher is gone: %d received, %llu dropped\n", (int)getpid(), received,
	       (unsigned long long)shmkit_sub_dropped(s));
	shmkit_sub_close(s);
	return n == -EPIPE ? 0 : 1;
}
