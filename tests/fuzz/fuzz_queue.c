/* SPDX-License-Identifier: MIT */
/* Harness: a queue opened from a mutated segment image, then a bounded round
 * of operations that never wait (timeout 0). Whatever the image holds, every
 * call returns (an error is fine), stays inside the segment, and never
 * copies more than the caller's buffer holds. The descriptors a consumer and
 * a producer wait on (shmkit_queue_fd, shmkit_queue_send_fd) are asked for
 * too: they take and give back entries in the image's listener table. */
#include "fuzz.h"

#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static void check_recv(struct shmkit_queue *q, size_t cap)
{
	/* Exactly cap bytes on the heap: a longer copy is an ASan report. */
	char *buf = malloc(cap ? cap : 1);
	if (!buf)
		return;
	ssize_t n = FUZZ_T(shmkit_queue_recv(q, buf, cap, 0));
	if (n > (ssize_t)cap)
		fuzz_fail("queue_recv returned %zd for a %zu-byte buffer", n, cap);
	free(buf);
}

static void peek_and_consume(struct shmkit_queue *q, struct shmkit_seg *seg)
{
	const void *msg = NULL;
	ssize_t n = FUZZ_T(shmkit_queue_peek(q, &msg, 0));
	if (n >= 0) {
		fuzz_in_segment(seg, msg, (size_t)n, "queue_peek");
		FUZZ_T(shmkit_queue_consume(q));
	}
	for (size_t i = 0; i < 3; i++) {
		n = FUZZ_T(shmkit_queue_peek_at(q, i, &msg));
		if (n >= 0)
			fuzz_in_segment(seg, msg, (size_t)n, "queue_peek_at");
	}
}

/* Batches: every length returned fits the buffer it was received into. */
static void many_round(struct shmkit_queue *q, size_t max_msg)
{
	static const char a[] = "one", b[] = "two two";
	struct iovec out[2] = { { (void *)a, sizeof(a) }, { (void *)b, sizeof(b) } };
	char b0[8], b1[64];
	struct iovec in[2] = { { b0, sizeof(b0) }, { b1, max_msg < sizeof(b1) ? max_msg : sizeof(b1) } };
	FUZZ_T(shmkit_queue_send_many(q, out, 2, 0));
	ssize_t n = FUZZ_T(shmkit_queue_recv_many(q, in, 2, 0));
	if (n > 2)
		fuzz_fail("queue_recv_many returned %zd for 2 buffers", n);
	for (ssize_t i = 0; i < n; i++)
		if (in[i].iov_len > (i ? sizeof(b1) : sizeof(b0)))
			fuzz_fail("queue_recv_many: message %zd is %zu bytes in its buffer", i,
				  in[i].iov_len);
}

/* The descriptors: each is the handle's own, closed by queue_close. */
static void fd_round(struct shmkit_queue *q)
{
	int a = FUZZ_T(shmkit_queue_fd(q));
	int b = FUZZ_T(shmkit_queue_fd(q));
	if (a >= 0 && b != a)
		fuzz_fail("queue_fd gave %d, then %d", a, b);
	FUZZ_T(shmkit_queue_send_fd(q));
}

static void send_some(struct shmkit_queue *q, struct shmkit_seg *seg, size_t max_msg)
{
	static const char msg[] = "fuzzed queue";
	FUZZ_T(shmkit_queue_send(q, msg, sizeof(msg), 0));
	FUZZ_T(shmkit_queue_send(q, msg, 0, 0));
	void *slot = NULL;
	size_t len = max_msg < 64 ? max_msg : 64;
	if (FUZZ_T(shmkit_queue_reserve(q, len, &slot, 0)) == 0) {
		fuzz_in_segment(seg, slot, len, "queue_reserve");
		memset(slot, 0x5a, len);
		FUZZ_T(shmkit_queue_commit(q, slot, len));
	}
	/* Larger than the queue says it holds: refused, nothing written. */
	FUZZ_T(shmkit_queue_reserve(q, max_msg + 1, &slot, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uri[32];
	struct shmkit_queue *q = NULL;
	struct shmkit_queue_stats st;

	int fd = fuzz_image(data, size, uri, sizeof(uri));
	if (fd < 0)
		return 0;
	if (fuzz_image_waits(data, size, uri)) {
		close(fd);
		return 0;
	}
	/* the look `shmkit queue URI stat` makes: a read-only mapping */
	FUZZ_T(shmkit_queue_stat(uri, &st));
	if (FUZZ_T(shmkit_queue_open(&q, uri)) == 0) {
		struct shmkit_seg *seg = shmkit_queue_seg(q);
		size_t max_msg = 64;
		if (FUZZ_T(shmkit_queue_stats(q, &st)) == 0 && st.max_msg < (1u << 20))
			max_msg = (size_t)st.max_msg;
		FUZZ_T(shmkit_queue_set_spin(q, 0));
		peek_and_consume(q, seg);
		check_recv(q, 8);
		check_recv(q, max_msg);
		fd_round(q);
		send_some(q, seg, max_msg);
		many_round(q, max_msg);
		check_recv(q, max_msg);
		check_recv(q, max_msg);
		peek_and_consume(q, seg);
		FUZZ_T(shmkit_queue_stats(q, &st));
		FUZZ_T(shmkit_queue_close(q));
	}
	close(fd);
	return 0;
}
