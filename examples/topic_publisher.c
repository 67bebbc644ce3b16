/* SPDX-License-Identifier: MIT */
/* A broadcast topic, publisher half: one publisher, any number of
 * subscribers, each of which gets every message.
 *
 * Creates a reliable topic (it never runs ahead of its slowest live
 * subscriber), waits for SUBS subscribers to join, publishes COUNT messages
 * written in place (zero-copy), closes -- subscribers then read what is left
 * and see the end (-EPIPE) -- and removes the topic:
 *
 *     ./topic_subscriber & ./topic_publisher
 *
 * Arguments: [URI [COUNT [SUBS]]], default posix:/shmkit-ticks, 5 and 1. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <shmkit.h>

/* Waits up to 10 s for `want` subscribers: they see only what comes after they join. */
static int wait_for_subscribers(const char *uri, unsigned want)
{
	struct shmkit_topic_info info;

	for (int i = 0; i < 1000; i++) {
		if (shmkit_topic_stat(uri, &info, NULL, 0) == 0 && info.n_subs >= want)
			return 0;
		usleep(10000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *uri = argc > 1 ? argv[1] : "posix:/shmkit-ticks";
	int count = argc > 2 ? atoi(argv[2]) : 5;
	unsigned subs = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 16, .reliable = 1};
	struct shmkit_pub *p;
	int ret;

	ret = shmkit_pub_create(&p, uri, &o);
	if (ret < 0) {
		fprintf(stderr, "topic_publisher: %s: %s\n", uri, shmkit_strerror(ret));
		return 1;
	}
	if (wait_for_subscribers(uri, subs) < 0)
		fprintf(stderr, "topic_publisher: not all %u subscribers came; publishing anyway\n",
			subs);
	for (int i = 1; i <= count && ret >= 0; i++) {
		void *slot;
		/* Zero-copy: write straight into the ring, then publish. */
		ret = shmkit_pub_loan(p, o.slot_size, &slot, SHMKIT_FOREVER);
		if (ret == 0) {
			int n = snprintf(slot, o.slot_size, "tick %d of %d", i, count);
			ret = shmkit_pub_publish(p, slot, (size_t)n);
		}
	}
	if (ret < 0)
		fprintf(stderr, "topic_publisher: %s: %s\n", uri, shmkit_strerror(ret));
	else
		printf("published %llu messages\n", (unsigned long long)shmkit_pub_published(p));
	shmkit_pub_close(p);
	/* Subscribers keep their mapping; new ones can no longer find the name. */
	shmkit_remove(uri);
	return ret < 0;
}
