/* SPDX-License-Identifier: MIT */
/* A process started with its standard descriptors closed: every descriptor
 * the library keeps (a segment's on each fd backend, a queue's and a
 * subscriber's pollable descriptor, a publisher watch) lands above 2, so
 * the program's own prints fail (EBADF) instead of going into a segment.
 * The child has no stderr: it reports the first failed step as its exit
 * status, and the parent checks the segments it made are untouched. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static const char *seg_uri[2]; /* posix:, file: */
static const char *queue_uri, *topic_uri;
static int memfd = -1;

static int closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static int stdio_still_closed(void)
{
	return closed(0) && closed(1) && closed(2);
}

/* The steps, in order; the return value names the one that failed. */
static int child(void *arg)
{
	struct shmkit_seg *seg[4];
	struct shmkit_queue *q;
	struct shmkit_pub *pub;
	struct shmkit_sub *sub;
	char fd_uri[32];
	(void)arg;

	close(0);
	close(1);
	close(2);
	for (int i = 0; i < 2; i++)
		if (shmkit_seg_open(&seg[i], seg_uri[i], 4096, SHMKIT_CREATE, 0600) < 0 ||
		    shmkit_seg_fd(seg[i]) <= 2)
			return 10 + i;
	if (shmkit_seg_open(&seg[2], "memfd:stdio", 4096, SHMKIT_CREATE, 0600) < 0 ||
	    shmkit_seg_fd(seg[2]) <= 2)
		return 12;
	snprintf(fd_uri, sizeof(fd_uri), "fd:%d", memfd);
	if (shmkit_seg_open(&seg[3], fd_uri, 0, 0, 0) < 0 || shmkit_seg_fd(seg[3]) <= 2)
		return 13;
	struct shmkit_queue_opts qo = {.capacity = 8, .max_msg = 16};
	if (shmkit_queue_create(&q, queue_uri, &qo) < 0 || shmkit_queue_fd(q) <= 2)
		return 20;
	struct shmkit_topic_opts to = {.slot_size = 16, .slots = 8};
	if (shmkit_pub_create(&pub, topic_uri, &to) < 0 || shmkit_sub_open(&sub, topic_uri) < 0 ||
	    shmkit_sub_fd(sub) <= 2)
		return 30;
	if (!stdio_still_closed())
		return 40;
	/* what a program with a closed stdout does: it must reach nothing */
	printf("stdout text that must not land in a segment\n");
	fflush(stdout);
	if (shmkit_queue_send(q, "kept", 4, 0) < 0)
		return 41;
	shmkit_sub_close(sub);
	shmkit_pub_close(pub);
	shmkit_queue_close(q);
	for (int i = 0; i < 4; i++)
		shmkit_seg_close(seg[i]);
	return 0;
}

int main(void)
{
	seg_uri[0] = test_uri("posix", "stdio-seg");
	seg_uri[1] = test_uri("file", "stdio-file");
	queue_uri = test_uri("posix", "stdio-queue");
	topic_uri = test_uri("posix", "stdio-topic");
	struct shmkit_seg *shared; /* a sealed memfd the child maps by fd:N */
	CHECK_OK(shmkit_seg_open(&shared, "memfd:stdio-fd", 4096, SHMKIT_CREATE, 0600));
	memfd = shmkit_seg_fd(shared);

	int st = 0;
	pid_t pid = test_fork(child, NULL);
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "child failed at step %d (status 0x%x)\n",
			WIFEXITED(st) ? WEXITSTATUS(st) : -1, st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* the queue the child printed beside holds its one message, intact */
	struct shmkit_queue *q;
	char buf[16];
	CHECK_OK(shmkit_queue_open(&q, queue_uri));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 4);
	CHECK(memcmp(buf, "kept", 4) == 0);
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
	shmkit_queue_close(q);
	shmkit_seg_close(shared);
	return test_done();
}
