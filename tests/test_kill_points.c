/* SPDX-License-Identifier: MIT */
/* kill -9 at the pause points the other crash tests never kill at: the
 * paths a process takes once it is warmed up (its second send, receive,
 * allocation), which the first call of a fresh process does not reach:
 *  - MPMC send and receive fast paths (queue.mpmc.reserved and
 *    queue.mpmc.claimed in shmkit__mp_send / shmkit__mc_recv): the slot a
 *    dead producer reserved is skipped, the message a dead consumer claimed
 *    is handed back; every other message arrives once, in order;
 *  - an MPMC producer that waited for room killed in its reservation
 *    (queue.mpmc.reserved in mp_try_reserve): as above;
 *  - batches killed between two messages (queue.batch.sent, SPSC and MPMC):
 *    the messages committed arrive, the rest never, nothing torn; a batch
 *    receive killed after copying a long message (queue.batch.received):
 *    nothing of the batch is consumed;
 *  - a receiver killed with its descriptor half armed (lis.arm.armed):
 *    producers go on, a new receiver's descriptor is readable and gets all;
 *  - the heap cache's pop from a filled magazine (heap.cache.alloc in
 *    heap.c), and a free by a process whose magazine is made by that very
 *    free or must first flush a full class (heap.cache.free in
 *    heap_cache.c): the block is the caller's or still live, the rest of the
 *    dead process's cache comes back, the heap checks clean;
 *  - a publisher killed while it finishes its dead predecessor's publish
 *    (topic.pub.recover): the next one finishes it; every subscriber sees
 *    each message once, in order;
 *  - a joiner killed while it judges a dead subscriber's entry for reaping
 *    (topic.sub.gone, topic.sub.judged): the next joiner reaps it, and a
 *    reliable publisher is not held back by it; nor by a subscriber killed
 *    as it makes its descriptor (topic.sub.fd).
 * Each child stops itself with SIGSTOP at the point (SHMKIT_TEST_PAUSE);
 * where a point is passed on an earlier call too, the parent lets it go on
 * until it stops there again. */
/* TIMEOUT: 120 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "test.h"

#define SEC 1000000000ll

/* Stop the child at the `nth` passage of `point` (1 = the first). */
static pid_t spawn_paused_nth(const char *point, int nth, const char *role,
			      const char *const args[])
{
	pid_t pid = test_spawn_paused(point, role, args);
	for (int i = 1; i < nth; i++) {
		kill(pid, SIGCONT);
		CHECK_RET(test_wait_stopped(pid, 10 * SEC), 0);
	}
	return pid;
}

/* ---- queues ---- */

static struct shmkit_queue *open_q(const char *uri)
{
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, uri) < 0)
		_exit(2);
	return q;
}

#define MAX_MSG 200

/* A queue of 16 messages of up to max_msg bytes (up to 64: the receive has
 * a fast path). */
static struct shmkit_queue *create_queue(const char *uri, int multi, size_t max_msg)
{
	struct shmkit_queue_opts o = {
	    .capacity = 16, .max_msg = max_msg, .multi_producer = multi, .multi_consumer = multi};
	struct shmkit_queue *q = NULL;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	return q;
}

static void send_n(struct shmkit_queue *q, const char *tag, int first, int n)
{
	char buf[MAX_MSG];
	for (int i = first; i < first + n; i++) {
		int len = snprintf(buf, sizeof(buf), "%s %d", tag, i);
		CHECK_OK(shmkit_queue_send(q, buf, (size_t)len, SEC));
	}
}

/* Receive the messages "tag first" .. "tag first+n-1", in order. */
static void expect_n(struct shmkit_queue *q, const char *tag, int first, int n)
{
	char buf[MAX_MSG], want[MAX_MSG];
	for (int i = first; i < first + n; i++) {
		int len = snprintf(want, sizeof(want), "%s %d", tag, i);
		ssize_t got = shmkit_queue_recv(q, buf, sizeof(buf), SEC);
		CHECK_RET(got, len);
		if (got == len && memcmp(buf, want, (size_t)len) != 0)
			fprintf(stderr, "got %.*s, want %s\n", (int)got, buf, want);
	}
}

static void expect_empty(struct shmkit_queue *q)
{
	char buf[MAX_MSG];
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), -EAGAIN);
}

/* argv: uri: send "dead 0", "dead 1" (the second takes the fast path). */
static int role_send2(int argc, char **argv)
{
	(void)argc;
	struct shmkit_queue *q = open_q(argv[0]);
	send_n(q, "dead", 0, 2);
	return 0;
}

/* A tag of LONG bytes: its messages take no fast path (over 64 bytes). */
#define LONG 100
static const char *long_tag(void)
{
	static char tag[LONG + 1];
	memset(tag, 'x', LONG);
	return tag;
}

/* argv: uri: send "dead 0" into a full queue (it waits for room). */
static int role_send_waits(int argc, char **argv)
{
	(void)argc;
	struct shmkit_queue *q = open_q(argv[0]);
	send_n(q, "dead", 0, 1);
	return 0;
}

/* argv: uri: receive two messages (the second takes the fast path). */
static int role_recv2(int argc, char **argv)
{
	char buf[MAX_MSG];
	(void)argc;
	struct shmkit_queue *q = open_q(argv[0]);
	for (int i = 0; i < 2; i++)
		if (shmkit_queue_recv(q, buf, sizeof(buf), 10 * SEC) < 0)
			return 3;
	return 0;
}

/* A producer killed in its fast path between the reservation and the
 * commit: its first message arrives, the reserved slot is skipped once its
 * death is seen, and a live producer's messages behind it arrive in order. */
static void test_mpmc_fast_send_killed(void)
{
	const char *uri = test_uri("posix", "h37c-kp-fast-send");
	struct shmkit_queue *q = create_queue(uri, 1, MAX_MSG);
	struct shmkit_queue_stats st;
	const char *args[] = {uri, NULL};

	printf("kill -9 at queue.mpmc.reserved in a producer's second send\n");
	CHECK_RET(test_kill_stopped(spawn_paused_nth("queue.mpmc.reserved", 2, "send2", args)),
		  128 + SIGKILL);
	send_n(q, "live", 0, 5);
	expect_n(q, "dead", 0, 1);
	expect_n(q, "live", 0, 5);
	expect_empty(q);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.skipped == 1 && st.sent == 6 && st.received == 6 && st.depth == 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A producer that waited for room killed in its reservation (the attempt
 * loop, mp_try_reserve): the full queue's messages arrive, its slot is
 * skipped, a live producer's messages behind it arrive in order. */
static void test_mpmc_waiting_send_killed(void)
{
	const char *uri = test_uri("posix", "h37c-kp-wait-send");
	struct shmkit_queue *q = create_queue(uri, 1, MAX_MSG);
	struct shmkit_queue_stats st;
	const char *args[] = {uri, NULL};

	printf("kill -9 at queue.mpmc.reserved in a producer that waited for room\n");
	send_n(q, "full", 0, 16);
	setenv("SHMKIT_TEST_PAUSE", "queue.mpmc.reserved", 1);
	pid_t pid = test_spawn_self("send-waits", args);
	unsetenv("SHMKIT_TEST_PAUSE");
	usleep(100000); /* it waits for room */
	expect_n(q, "full", 0, 1);
	CHECK_RET(test_wait_stopped(pid, 10 * SEC), 0);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	expect_n(q, "full", 1, 15);
	send_n(q, "live", 0, 5);
	expect_n(q, "live", 0, 5);
	expect_empty(q);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.skipped == 1 && st.sent == 21 && st.received == 21 && st.depth == 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A consumer killed in its fast path between its claim and its consume: the
 * message it held is handed back and received once, in its place. */
static void test_mpmc_fast_recv_killed(void)
{
	const char *uri = test_uri("posix", "h37c-kp-fast-recv");
	struct shmkit_queue *q = create_queue(uri, 1, 32);
	struct shmkit_queue_stats st;
	const char *args[] = {uri, NULL};

	printf("kill -9 at queue.mpmc.claimed in a consumer's second receive\n");
	send_n(q, "m", 0, 6);
	CHECK_RET(test_kill_stopped(spawn_paused_nth("queue.mpmc.claimed", 2, "recv2", args)),
		  128 + SIGKILL);
	struct shmkit_queue *q2 = open_q(uri); /* a fresh consumer process's view */
	expect_n(q2, "m", 1, 5);
	expect_empty(q2);
	CHECK_OK(shmkit_queue_stats(q2, &st));
	CHECK(st.abandoned == 1 && st.sent == 6 && st.received == 6 && st.depth == 0);
	CHECK_OK(shmkit_queue_close(q2));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A consumer killed holding a message (queue.mpmc.claimed), then one killed
 * as it takes over the dead one's entry (queue.peer.looked): a fresh
 * consumer receives every message once, in order, the held one handed
 * back. */
static void test_entry_taker_killed(void)
{
	const char *uri = test_uri("posix", "h37c-kp-entry-taker");
	struct shmkit_queue *q = create_queue(uri, 1, 32);
	struct shmkit_queue_stats st;
	const char *args[] = {uri, NULL};

	printf("kill -9 at queue.peer.looked, taking a dead consumer's entry\n");
	send_n(q, "m", 0, 6);
	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.mpmc.claimed", "recv2", args)),
		  128 + SIGKILL);
	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.peer.looked", "recv2", args)),
		  128 + SIGKILL);
	struct shmkit_queue *c = open_q(uri);
	expect_n(c, "m", 0, 6);
	expect_empty(c);
	CHECK_OK(shmkit_queue_stats(c, &st));
	CHECK(st.abandoned == 1 && st.received == 6 && st.depth == 0);
	CHECK_OK(shmkit_queue_close(c));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* argv: uri: send "batch 0" .. "batch 7" in one shmkit_queue_send_many. */
static int role_send_many(int argc, char **argv)
{
	char bufs[8][32];
	struct iovec v[8];
	(void)argc;
	struct shmkit_queue *q = open_q(argv[0]);
	for (int i = 0; i < 8; i++)
		v[i] = (struct iovec){bufs[i], (size_t)snprintf(bufs[i], 32, "batch %d", i)};
	return shmkit_queue_send_many(q, v, 8, 10 * SEC) == 8 ? 0 : 3;
}

/* A batch killed after its third message is published: those three arrive,
 * nothing else of it, and the queue goes on (a new producer, SPSC too). */
static void test_batch_killed(int multi)
{
	const char *uri = test_uri("posix", multi ? "h37c-kp-batch-mpmc" : "h37c-kp-batch-spsc");
	struct shmkit_queue *q = create_queue(uri, multi, MAX_MSG);
	struct shmkit_queue_stats st;
	const char *args[] = {uri, NULL};

	printf("kill -9 at queue.batch.sent after 3 of 8 (%s)\n", multi ? "MPMC" : "SPSC");
	CHECK_RET(test_kill_stopped(spawn_paused_nth("queue.batch.sent", 3, "send-many", args)),
		  128 + SIGKILL);
	expect_n(q, "batch", 0, 3);
	expect_empty(q);
	struct shmkit_queue *p = open_q(uri); /* the next producer (SPSC: the role is free) */
	send_n(p, "next", 0, 3);
	expect_n(q, "next", 0, 3);
	expect_empty(q);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.skipped == 0 && st.sent == 6 && st.received == 6);
	CHECK_OK(shmkit_queue_close(p));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* argv: uri: one receive of up to 8 messages. */
static int role_recv_many(int argc, char **argv)
{
	char bufs[4][MAX_MSG];
	struct iovec v[4];
	(void)argc;
	struct shmkit_queue *q = open_q(argv[0]);
	for (int i = 0; i < 4; i++)
		v[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
	return shmkit_queue_recv_many(q, v, 4, 10 * SEC) > 0 ? 0 : 3;
}

/* A batch receive killed after it copied a long message, before it
 * consumed the batch: the next consumer receives all of it, in order. */
static void test_recv_many_killed(void)
{
	const char *uri = test_uri("posix", "h37c-kp-recv-many");
	struct shmkit_queue *q = create_queue(uri, 0, MAX_MSG);
	const char *args[] = {uri, NULL};

	printf("kill -9 at queue.batch.received after a long message (SPSC)\n");
	send_n(q, "short", 0, 1);
	send_n(q, long_tag(), 0, 2);
	send_n(q, "short", 1, 1);
	CHECK_RET(test_kill_stopped(spawn_paused_nth("queue.batch.received", 2, "recv-many", args)),
		  128 + SIGKILL);
	struct shmkit_queue *c = open_q(uri); /* the next consumer (the role is free) */
	expect_n(c, "short", 0, 1);
	expect_n(c, long_tag(), 0, 2);
	expect_n(c, "short", 1, 1);
	expect_empty(c);
	CHECK_OK(shmkit_queue_close(c));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

static int readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* argv: uri: take the queue's descriptor and arm it (a receive that finds
 * nothing); stopped inside the arm. */
static int role_arm(int argc, char **argv)
{
	char buf[MAX_MSG];
	(void)argc;
	struct shmkit_queue *q = open_q(argv[0]);
	if (shmkit_queue_fd(q) < 0)
		return 3;
	return shmkit_queue_recv(q, buf, sizeof(buf), 0) == -EAGAIN ? 0 : 4;
}

/* A receiver killed with its descriptor armed, before it raised the wake
 * bit: producers fill the queue and go on; a new receiver's descriptor is
 * readable and it gets every message, in order; nobody is counted
 * waiting once it has drained the queue and armed. */
static void test_armed_receiver_killed(int multi)
{
	const char *uri = test_uri("posix", multi ? "h37c-kp-armed-mpmc" : "h37c-kp-armed-spsc");
	struct shmkit_queue *q = create_queue(uri, multi, MAX_MSG), *c;
	struct shmkit_queue_stats st;
	const char *args[] = {uri, NULL};
	char buf[MAX_MSG];

	printf("kill -9 at lis.arm.armed (%s)\n", multi ? "MPMC" : "SPSC");
	CHECK_RET(test_kill_stopped(test_spawn_paused("lis.arm.armed", "arm", args)),
		  128 + SIGKILL);
	send_n(q, "m", 0, 16);
	CHECK_RET(shmkit_queue_send(q, "full", 4, 0), -EAGAIN);
	CHECK_OK(shmkit_queue_open(&c, uri));
	int fd = shmkit_queue_fd(c);
	CHECK(fd >= 0);
	CHECK(readable(fd, 5000));
	expect_n(c, "m", 0, 16);
	CHECK_RET(shmkit_queue_recv(c, buf, sizeof(buf), 0), -EAGAIN); /* arms */
	CHECK(!readable(fd, 0));
	send_n(q, "n", 0, 1);
	CHECK(readable(fd, 5000));
	expect_n(c, "n", 0, 1);
	CHECK_OK(shmkit_queue_close(c));
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.recv_waiters == 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* ---- the heap cache ---- */

#define HEAP_SIZE (1 << 20)
#define BLOCK 64

static void heap_stats(struct shmkit_heap *h, struct shmkit_heap_stats *st)
{
	CHECK_OK(shmkit_heap_stats(h, st));
}

/* argv: uri: two allocations (the second pops the magazine the first
 * filled), each published in the named block "slots" as it returns. */
static int role_alloc2(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off root;
	(void)argc;
	CHECK_OK(shmkit_heap_open(&h, argv[0]));
	CHECK_OK(shmkit_heap_named(h, "slots", 2 * sizeof(shmkit_off), 0, &root));
	shmkit_off *slots = shmkit_heap_ptr(h, root);
	for (int i = 0; i < 2; i++)
		CHECK_OK(shmkit_heap_alloc(h, BLOCK, &slots[i]));
	return test_done();
}

/* argv: uri n: free the first n blocks named in "slots" (blocks another
 * process allocated: this process has no magazine before the first). */
static int role_free_n(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off root;
	(void)argc;
	CHECK_OK(shmkit_heap_open(&h, argv[0]));
	CHECK_OK(shmkit_heap_named(h, "slots", 0, 0, &root));
	shmkit_off *slots = shmkit_heap_ptr(h, root);
	for (int i = 0; i < atoi(argv[1]); i++)
		CHECK_OK(shmkit_heap_free(h, slots[i]));
	return test_done();
}

/* A heap with a named block "slots" of n offsets, all 0. */
static struct shmkit_heap *heap_with_slots(const char *uri, int n, shmkit_off **slots)
{
	struct shmkit_heap *h;
	shmkit_off root;
	CHECK_OK(shmkit_heap_create(&h, uri, HEAP_SIZE, 0600));
	CHECK_OK(
	    shmkit_heap_named(h, "slots", (size_t)n * sizeof(shmkit_off), SHMKIT_CREATE, &root));
	*slots = shmkit_heap_ptr(h, root);
	return h;
}

/* Killed popping its filled magazine: the first block is the dead
 * process's (a leak, as any allocation not yet linked), the second too (its
 * tag says used: the pop's one store was done), and the rest of what the
 * refill cached comes back with the next check. */
static void test_heap_pop_killed(void)
{
	const char *uri = test_uri("posix", "h37c-kp-heap-pop");
	struct shmkit_heap_stats before, after;
	shmkit_off *slots;
	struct shmkit_heap *h = heap_with_slots(uri, 2, &slots);
	const char *args[] = {uri, NULL};

	printf("kill -9 at heap.cache.alloc in the second allocation (magazine pop)\n");
	heap_stats(h, &before);
	CHECK_RET(test_kill_stopped(spawn_paused_nth("heap.cache.alloc", 2, "alloc2", args)),
		  128 + SIGKILL);
	CHECK(slots[0] != 0 && slots[1] == 0);
	CHECK_OK(shmkit_heap_check(h));
	heap_stats(h, &after);
	CHECK(after.n_used == before.n_used + 2);
	CHECK(shmkit_heap_ptr(h, slots[0]) != NULL);
	CHECK_OK(shmkit_heap_free(h, slots[0]));
	CHECK_OK(shmkit_heap_check(h));
	CHECK_OK(shmkit_heap_close(h));
	CHECK_OK(shmkit_remove(uri));
}

/* Killed freeing a block in a free that first made its magazine (n = 1),
 * or first flushed a full class (n = cap + 1): the block is still live and
 * the parent frees it; what the dead process cached comes back. */
static void test_heap_free_killed(int n)
{
	const char *uri = test_uri("posix", "h37c-kp-heap-free");
	struct shmkit_heap_stats before, after;
	shmkit_off *slots;
	struct shmkit_heap *h = heap_with_slots(uri, n, &slots);
	char count[16];
	const char *args[] = {uri, count, NULL};

	printf("kill -9 at heap.cache.free in free %d of another process's blocks\n", n);
	heap_stats(h, &before);
	for (int i = 0; i < n; i++)
		CHECK_OK(shmkit_heap_alloc(h, BLOCK, &slots[i]));
	snprintf(count, sizeof(count), "%d", n);
	CHECK_RET(test_kill_stopped(spawn_paused_nth("heap.cache.free", n, "free-n", args)),
		  128 + SIGKILL);
	CHECK_OK(shmkit_heap_check(h)); /* returns the dead process's cache */
	CHECK(shmkit_heap_ptr(h, slots[n - 1]) != NULL);
	CHECK_OK(shmkit_heap_free(h, slots[n - 1]));
	CHECK_OK(shmkit_heap_close(h)); /* flushes our own cache */
	CHECK_OK(shmkit_heap_open(&h, uri));
	CHECK_OK(shmkit_heap_check(h));
	heap_stats(h, &after);
	CHECK(after.n_used == before.n_used);
	CHECK(after.free_bytes == before.free_bytes);
	CHECK_OK(shmkit_heap_close(h));
	CHECK_OK(shmkit_remove(uri));
}

/* ---- topics ---- */

/* argv: uri: open the publisher (finishing a dead one's publish) and send
 * "next". */
static int role_pub_next(int argc, char **argv)
{
	struct shmkit_pub *p;
	(void)argc;
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	CHECK_OK(shmkit_pub_send(p, "next", 4, 10 * SEC));
	CHECK_OK(shmkit_pub_close(p));
	return test_done();
}

/* argv: uri: publish "a 0", "a 1", "a 2" (stopped in the third). */
static int role_pub3(int argc, char **argv)
{
	struct shmkit_pub *p;
	char buf[16];
	(void)argc;
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	for (int i = 0; i < 3; i++)
		CHECK_OK(shmkit_pub_send(p, buf, (size_t)snprintf(buf, sizeof(buf), "a %d", i),
					 10 * SEC));
	return test_done();
}

static void expect_sub(struct shmkit_sub *s, const char *want)
{
	char buf[16];
	ssize_t n = shmkit_sub_recv(s, buf, sizeof(buf), 2 * SEC);
	CHECK_RET(n, (ssize_t)strlen(want));
	if (n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) != 0)
		fprintf(stderr, "got %.*s, want %s\n", (int)n, buf, want);
}

/* A publisher killed with its third message written but head not moved
 * (topic.published_slot), then the next one killed while it finishes that
 * publish (topic.pub.recover): the third one finishes it and publishes its
 * own. The subscriber gets a 0, a 1, a 2, next: each once, in order. */
static void test_pub_recover_killed(int reliable)
{
	const char *uri = test_uri("posix", reliable ? "h37c-kp-recover-rel" : "h37c-kp-recover");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 8, .reliable = reliable};
	struct shmkit_sub *s;
	const char *args[] = {uri, NULL};
	char buf[16];

	printf("kill -9 at topic.published_slot, then at topic.pub.recover (%s)\n",
	       reliable ? "reliable" : "lossy");
	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK_RET(test_kill_stopped(spawn_paused_nth("topic.published_slot", 3, "pub3", args)),
		  128 + SIGKILL);
	CHECK_RET(test_kill_stopped(test_spawn_paused("topic.pub.recover", "pub-next", args)),
		  128 + SIGKILL);
	CHECK_RET(test_wait(test_spawn_self("pub-next", args)), 0);
	expect_sub(s, "a 0");
	expect_sub(s, "a 1");
	expect_sub(s, "a 2");
	expect_sub(s, "next");
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EPIPE); /* the last one closed */
	CHECK(shmkit_sub_dropped(s) == 0);
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_remove(uri));
}

/* argv: uri: subscribe, then stop (the parent kills it: a dead entry). */
static int role_sub_stop(int argc, char **argv)
{
	struct shmkit_sub *s;
	(void)argc;
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	raise(SIGSTOP);
	return test_done();
}

static void test_reaper_killed(const char *point)
{
	const char *uri = test_uri("posix", "h37c-kp-reaper");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1, .max_subs = 1};
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	const char *args[] = {uri, NULL};
	char buf[16];

	printf("kill -9 a joiner at %s, judging a dead subscriber of a full table\n", point);
	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_pub_open(&p, uri));
	pid_t dead = test_spawn_self("sub-stop", args);
	CHECK_RET(test_wait_stopped(dead, 10 * SEC), 0);
	CHECK_RET(test_kill_stopped(dead), 128 + SIGKILL);
	CHECK_RET(test_kill_stopped(test_spawn_paused(point, "sub-stop", args)), 128 + SIGKILL);
	CHECK_OK(shmkit_sub_open(&s, uri));
	for (int i = 0; i < 10; i++) {
		int n = snprintf(buf, sizeof(buf), "r %d", i);
		CHECK_OK(shmkit_pub_send(p, buf, (size_t)n, 2 * SEC));
		expect_sub(s, buf);
	}
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* argv: uri: subscribe and make the descriptor (stopped before). */
static int role_sub_fd(int argc, char **argv)
{
	struct shmkit_sub *s;
	(void)argc;
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	CHECK(shmkit_sub_fd(s) >= 0);
	return test_done();
}

/* A reliable publisher with a subscriber killed as it makes its descriptor
 * sends more than the ring holds, and a live subscriber gets it all. */
static void test_sub_fd_killed(void)
{
	const char *uri = test_uri("posix", "h37c-kp-sub-fd");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .reliable = 1};
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	const char *args[] = {uri, NULL};
	char buf[16];

	printf("kill -9 at topic.sub.fd: a reliable publisher goes on\n");
	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK_RET(test_kill_stopped(test_spawn_paused("topic.sub.fd", "sub-fd", args)),
		  128 + SIGKILL);
	for (int i = 0; i < 10; i++) {
		int n = snprintf(buf, sizeof(buf), "f %d", i);
		CHECK_OK(shmkit_pub_send(p, buf, (size_t)n, 2 * SEC));
		expect_sub(s, buf);
	}
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
	    {"send2", role_send2},
	    {"recv2", role_recv2},
	    {"send-many", role_send_many},
	    {"alloc2", role_alloc2},
	    {"free-n", role_free_n},
	    {"pub3", role_pub3},
	    {"pub-next", role_pub_next},
	    {"send-waits", role_send_waits},
	    {"recv-many", role_recv_many},
	    {"arm", role_arm},
	    {"sub-stop", role_sub_stop},
	    {"sub-fd", role_sub_fd},
	    {NULL, NULL},
	};
	test_child_dispatch(argc, argv, roles);
	test_mpmc_fast_send_killed();
	test_mpmc_waiting_send_killed();
	test_mpmc_fast_recv_killed();
	test_entry_taker_killed();
	test_recv_many_killed();
	test_armed_receiver_killed(0);
	test_armed_receiver_killed(1);
	test_batch_killed(0);
	test_batch_killed(1);
	test_heap_pop_killed();
	test_heap_free_killed(1);
	test_heap_free_killed(4); /* a class of 80-byte blocks holds 3 (1 MiB / 4096 / 80) */
	test_pub_recover_killed(0);
	test_pub_recover_killed(1);
	test_reaper_killed("topic.sub.gone");
	test_reaper_killed("topic.sub.judged");
	test_sub_fd_killed();
	return test_done();
}
