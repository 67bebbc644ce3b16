/* SPDX-License-Identifier: MIT */
/* Large messages (issue 14):
 *  - the payload copy routines (src/copy.c: ordinary and non-temporal)
 *    against memcpy at odd sizes and alignments on both sides of the
 *    large-copy threshold, bytes around the destination untouched;
 *  - the choice between them: trial runs in order, the faster stream kept,
 *    a near tie or one slow run not deciding, SHMKIT_LARGE_COPY obeyed;
 *  - 1 MiB (and odd large) messages across processes, in order, every byte
 *    checked: a queue (send and reserve/commit against recv and peek/consume)
 *    and a reliable topic (send and loan/publish against recv and peek),
 *    again with every large copy forced through non-temporal stores;
 *  - waits on 1 MiB slots (which spin longer before sleeping): a timeout
 *    still ends the wait, and a sleeping receiver is woken by a late send;
 *  - "?populate": a queue created and opened with it takes (almost) no page
 *    faults on its first lap of 1 MiB slots, one without it takes one per
 *    page; the option on the other backends; a misspelt option is refused.
 * TIMEOUT: 180 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "copy.h"
#include "test.h"

#define MIB (1u << 20)
#define SLOTS 8
#define MSGS 48

/* ---- the copy routine ---- */

static void test_copy_routine(void)
{
	static const size_t sizes[] = { 0, 1, 7, 63, 64, 65, 4095, 4097,
					SHMKIT__COPY_LARGE - 1, SHMKIT__COPY_LARGE,
					SHMKIT__COPY_LARGE + 1, MIB + 13, 3 * MIB + 4093 };
	static const size_t offs[] = { 0, 1, 7, 16, 33, 63 };
	size_t cap = 3 * MIB + 4093 + 128;
	unsigned char *src = malloc(cap), *dst = malloc(cap + 128);
	CHECK(src && dst);
	if (!src || !dst)
		return;
	for (size_t i = 0; i < cap; i++)
		src[i] = (unsigned char)(i * 131 + (i >> 8));
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t a = 0; a < sizeof(offs) / sizeof(offs[0]); a++)
			for (size_t b = 0; b < sizeof(offs) / sizeof(offs[0]); b++) {
				size_t n = sizes[s], so = offs[a], d = 64 + offs[b];
				memset(dst, 0xee, cap + 128);
				for (int way = 0; way < 2; way++) {
					memset(dst, 0xee, cap + 128);
					if (way == 0)
						shmkit__copy(dst + d, src + so, n);
					else
						shmkit__copy_streaming(dst + d, src + so, n);
					CHECK(memcmp(dst + d, src + so, n) == 0);
					for (size_t k = 0; k < d; k++)
						CHECK(dst[k] == 0xee);
					for (size_t k = d + n; k < d + n + 64; k++)
						CHECK(dst[k] == 0xee);
				}
			}
	free(src);
	free(dst);
}

/* ---- the choice between the two ways of copying into a slot ---- */

/* Runs `copies` large copies through p on a clock where a message's cycle
 * costs `cached` or `streaming` ticks by the way it was copied; returns how
 * many went streaming. */
static unsigned feed(struct shmkit__copy_pick *p, uint64_t *clock, unsigned copies,
		     uint64_t cached, uint64_t streaming)
{
	unsigned n = 0;
	for (unsigned i = 0; i < copies; i++) {
		int s = shmkit__copy_pick_next(p);
		n += (unsigned)s;
		*clock += s ? streaming : cached;
		shmkit__copy_pick_note(p, *clock);
	}
	return n;
}

static void test_copy_pick(void)
{
	struct shmkit__copy_pick p;
	uint64_t clock = 1000;
	unsigned run = 64, epoch = run * SHMKIT__COPY_EPOCH_RUNS; /* an 8-slot ring */

	unsetenv("SHMKIT_LARGE_COPY");
	shmkit__copy_pick_init(&p, 8);
	if (p.forced) { /* no streaming stores here (or under a sanitizer) */
		CHECK(feed(&p, &clock, epoch, 40, 30) == 0);
		return;
	}
	/* the first two runs copy cached (the first lap's faults), then the
	 * trial's four runs alternate, starting cached */
	CHECK(feed(&p, &clock, 2 * run, 40, 30) == 0);
	CHECK(feed(&p, &clock, run, 40, 30) == 0);
	CHECK(feed(&p, &clock, run, 40, 30) == run);
	CHECK(feed(&p, &clock, run, 40, 30) == 0);
	CHECK(feed(&p, &clock, run, 40, 30) == run);
	/* streaming paced faster: the rest of the epoch streams */
	CHECK(feed(&p, &clock, epoch - 6 * run, 40, 30) == epoch - 6 * run);
	/* the next epoch's trial finds it slower: back to cached (the two
	 * runs before the trial still stream, and the trial's two) */
	CHECK(feed(&p, &clock, epoch, 40, 60) == 4 * run);
	CHECK(shmkit__copy_pick_next(&p) == 0);
	/* a near tie (streaming 3 % faster) keeps the cached copy; the same
	 * answer twice: the next trial comes after twice as many runs */
	CHECK(feed(&p, &clock, epoch, 100, 97) == 2 * run);
	CHECK(shmkit__copy_pick_next(&p) == 0);
	CHECK(p.epoch_runs == 2 * SHMKIT__COPY_EPOCH_RUNS);
	CHECK(feed(&p, &clock, epoch, 40, 30) == 0);
	/* streaming must win both its runs: one slow cached run (a
	 * preemption) does not stop it, one slow streaming run does */
	CHECK(feed(&p, &clock, 2 * run, 40, 30) == 0);
	CHECK(feed(&p, &clock, run, 4000, 30) == 0);
	CHECK(feed(&p, &clock, run, 40, 30) == run);
	CHECK(feed(&p, &clock, run, 40, 30) == 0);
	CHECK(feed(&p, &clock, run, 40, 30) == run);
	CHECK(shmkit__copy_pick_next(&p) == 1);
	CHECK(feed(&p, &clock, epoch - 6 * run, 40, 30) == epoch - 6 * run);
	CHECK(feed(&p, &clock, 2 * run, 40, 30) == 2 * run);
	CHECK(feed(&p, &clock, run, 40, 30) == 0);
	CHECK(feed(&p, &clock, run, 40, 3000) == run);
	CHECK(feed(&p, &clock, run, 40, 30) == 0);
	CHECK(feed(&p, &clock, run, 40, 30) == run);
	CHECK(shmkit__copy_pick_next(&p) == 0);
	CHECK(p.epoch_runs == SHMKIT__COPY_EPOCH_RUNS); /* a new answer starts over */
	/* the same answer again and again: trials ever further apart, up to
	 * 1024 runs; each step starts just after a trial (6 runs into its epoch) */
	for (int k = 0; k < 8; k++) {
		uint32_t runs = p.epoch_runs;
		CHECK(feed(&p, &clock, (runs - 6) * run, 40, 60) == 0);
		CHECK(feed(&p, &clock, 6 * run, 40, 60) == 2 * run); /* the next trial */
		uint32_t want = runs * 2 > SHMKIT__COPY_EPOCH_RUNS_MAX ? SHMKIT__COPY_EPOCH_RUNS_MAX
								       : runs * 2;
		CHECK(p.epoch_runs == want);
	}
	/* the run follows the ring: eight times its slots, 16 to 256 */
	shmkit__copy_pick_init(&p, 1000);
	CHECK(p.run == 256);
	shmkit__copy_pick_init(&p, 1);
	CHECK(p.run == 16);
	/* the environment decides when it says */
	setenv("SHMKIT_LARGE_COPY", "cached", 1);
	shmkit__copy_pick_init(&p, 8);
	CHECK(feed(&p, &clock, epoch, 40, 1) == 0);
	setenv("SHMKIT_LARGE_COPY", "streaming", 1);
	shmkit__copy_pick_init(&p, 8);
	CHECK(feed(&p, &clock, epoch, 40, 1000) == epoch);
	unsetenv("SHMKIT_LARGE_COPY");
}

/* ---- message i: its number, its length, then a pattern of i ---- */

static size_t len_of(uint32_t i)
{
	static const size_t lens[] = { MIB, MIB - 13, 300001, MIB - 1, SHMKIT__COPY_LARGE, 9 };
	return lens[i % (sizeof(lens) / sizeof(lens[0]))];
}

static void fill(unsigned char *m, uint32_t i)
{
	size_t n = len_of(i);
	uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
	memcpy(m, &i, 4);
	for (size_t k = 4; k < n; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		m[k] = (unsigned char)x;
	}
}

static int intact(const unsigned char *m, size_t n, uint32_t i)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
	uint32_t got;
	if (n != len_of(i))
		return 0;
	memcpy(&got, m, 4);
	if (got != i)
		return 0;
	for (size_t k = 4; k < n; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (m[k] != (unsigned char)x)
			return 0;
	}
	return 1;
}

/* ---- a queue of 1 MiB slots across processes ---- */

static const char *q_uri;

/* arg: the handle inherited from the parent (anon:), or NULL to open q_uri. */
static int queue_producer(void *arg)
{
	struct shmkit_queue *q = arg;
	unsigned char *buf = malloc(MIB);
	if (!buf || (!q && shmkit_queue_open(&q, q_uri) < 0))
		return 1;
	for (uint32_t i = 0; i < MSGS; i++) {
		if (i % 2 == 0) { /* copy */
			fill(buf, i);
			if (shmkit_queue_send(q, buf, len_of(i), 30000000000ll) < 0)
				return 2;
		} else { /* zero-copy: made in the slot */
			void *slot;
			if (shmkit_queue_reserve(q, len_of(i), &slot, 30000000000ll) < 0)
				return 3;
			fill(slot, i);
			if (shmkit_queue_commit(q, slot, len_of(i)) < 0)
				return 4;
		}
	}
	shmkit_queue_close(q);
	free(buf);
	return 0;
}

static void test_queue_large(const char *scheme)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = SLOTS, .max_msg = MIB };
	unsigned char *buf = malloc(MIB);
	q_uri = test_uri(scheme, "large-q");
	CHECK_OK(shmkit_queue_create(&q, q_uri, &o));
	pid_t pid = test_fork(queue_producer, strcmp(scheme, "anon") == 0 ? q : NULL);
	for (uint32_t i = 0; i < MSGS; i++) {
		if (i % 3 == 0) { /* zero-copy read in place */
			const void *m;
			ssize_t n = shmkit_queue_peek(q, &m, 30000000000ll);
			CHECK(n >= 0 && intact(m, (size_t)n, i));
			CHECK_OK(shmkit_queue_consume(q));
		} else {
			ssize_t n = shmkit_queue_recv(q, buf, MIB, 30000000000ll);
			CHECK(n >= 0 && intact(buf, (size_t)n, i));
		}
	}
	CHECK_RET(test_wait(pid), 0);
	CHECK_RET(shmkit_queue_recv(q, buf, MIB, 0), -EAGAIN);
	shmkit_queue_close(q);
	free(buf);
}

/* ---- a reliable topic of 1 MiB slots across processes ---- */

static const char *t_uri;

static int topic_publisher(void *arg)
{
	struct shmkit_pub *p;
	unsigned char *buf = malloc(MIB);
	(void)arg;
	if (!buf || shmkit_pub_open(&p, t_uri) < 0)
		return 1;
	for (uint32_t i = 0; i < MSGS; i++) {
		if (i % 2 == 0) {
			fill(buf, i);
			if (shmkit_pub_send(p, buf, len_of(i), 30000000000ll) < 0)
				return 2;
		} else {
			void *slot;
			if (shmkit_pub_loan(p, len_of(i), &slot, 30000000000ll) < 0)
				return 3;
			fill(slot, i);
			if (shmkit_pub_publish(p, slot, len_of(i)) < 0)
				return 4;
		}
	}
	shmkit_pub_close(p);
	free(buf);
	return 0;
}

static void test_topic_large(void)
{
	struct shmkit_topic_opts o = { .slot_size = MIB, .slots = SLOTS, .reliable = 1 };
	struct shmkit_sub *s;
	t_uri = test_uri("posix", "large-t");
	CHECK_OK(shmkit_topic_create(t_uri, &o));
	CHECK_OK(shmkit_sub_open(&s, t_uri)); /* before the first message */
	pid_t pid = test_fork(topic_publisher, NULL);
	/* after the fork: the child would hold a block it never frees */
	unsigned char *buf = malloc(MIB);
	CHECK(buf != NULL);
	for (uint32_t i = 0; i < MSGS; i++) {
		if (i % 3 == 0) {
			const void *m;
			ssize_t n = shmkit_sub_peek(s, &m, 30000000000ll);
			CHECK(n >= 0 && intact(m, (size_t)n, i));
			CHECK_RET(shmkit_sub_release(s), 0);
		} else {
			ssize_t n = shmkit_sub_recv(s, buf, MIB, 30000000000ll);
			CHECK(n >= 0 && intact(buf, (size_t)n, i));
		}
	}
	CHECK_RET(test_wait(pid), 0);
	CHECK(shmkit_sub_dropped(s) == 0);
	shmkit_sub_close(s);
	free(buf);
}

/* ---- waiting on large slots ---- */

static int late_sender(void *arg)
{
	struct shmkit_queue *q = arg;
	unsigned char *buf = calloc(1, MIB);
	usleep(200000); /* the receiver has long gone to sleep */
	fill(buf, 0);
	int r = buf ? shmkit_queue_send(q, buf, len_of(0), 0) : -ENOMEM;
	free(buf);
	return r < 0;
}

static void test_large_waits(void)
{
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 2, .max_msg = MIB };
	unsigned char *buf = malloc(MIB);
	CHECK_OK(shmkit_queue_create(&q, "anon:", &o));
	CHECK_RET(shmkit_queue_recv(q, buf, MIB, 0), -EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_queue_recv(q, buf, MIB, 30000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 30000000);
	pid_t pid = test_fork(late_sender, q);
	ssize_t n = shmkit_queue_recv(q, buf, MIB, 30000000000ll);
	CHECK(n >= 0 && intact(buf, (size_t)n, 0));
	CHECK_RET(test_wait(pid), 0);
	shmkit_queue_close(q);
	free(buf);
}

/* ---- ?populate ---- */

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Faults this process takes writing every page of one lap of SLOTS 1 MiB
 * reservations into a queue it creates at uri (and opens again, as a peer
 * would: the open must also come mapped). */
static long first_lap_faults(const char *uri)
{
	struct shmkit_queue *q, *peer;
	struct shmkit_queue_opts o = { .capacity = SLOTS, .max_msg = MIB };
	long page = sysconf(_SC_PAGESIZE);
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_open(&peer, uri));
	long before = minflt();
	for (int i = 0; i < SLOTS; i++) {
		void *slot;
		CHECK_OK(shmkit_queue_reserve(peer, MIB, &slot, 0));
		for (size_t off = 0; off < MIB; off += (size_t)page)
			((volatile unsigned char *)slot)[off] = (unsigned char)i;
		CHECK_OK(shmkit_queue_commit(peer, slot, MIB));
	}
	long faults = minflt() - before;
	shmkit_queue_close(peer);
	shmkit_queue_close(q);
	shmkit_remove(uri);
	return faults;
}

static void test_populate(void)
{
	char uri[160];
	long pages = (long)(SLOTS * MIB / (size_t)sysconf(_SC_PAGESIZE));
	long cold = first_lap_faults(test_uri("posix", "large-cold"));
	snprintf(uri, sizeof(uri), "%s?populate", test_uri("posix", "large-pop"));
	long warm = first_lap_faults(uri);
	printf("first lap of %d x 1 MiB: %ld faults without ?populate, %ld with (%ld pages)\n",
	       SLOTS, cold, warm, pages);
	CHECK(cold >= pages / 2); /* one per page written (the test would not see a fix) */
	CHECK(warm < pages / 4);  /* ASan's shadow pages may fault; the slots do not */

	/* every backend takes it (segments: the flag's meaning, nothing more) */
	static const char *const schemes[] = { "posix", "memfd", "anon", "sysv", "file" };
	for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
		struct shmkit_seg *seg;
		snprintf(uri, sizeof(uri), "%s?populate", test_uri(schemes[k], "large-seg"));
		CHECK_OK(shmkit_seg_open(&seg, uri, 2 * MIB, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
		if (!seg)
			continue;
		long before = minflt();
		memset(shmkit_seg_addr(seg), 1, 2 * MIB);
		long f = minflt() - before;
		printf("%s?populate: %ld faults writing 2 MiB\n", schemes[k], f);
		/* file: on a disk file system: the kernel write-protects clean
		 * pages to track dirty ones, so first writes fault anyway */
		if (strcmp(schemes[k], "file") != 0)
			CHECK(f < (long)(2 * MIB / (size_t)sysconf(_SC_PAGESIZE)) / 4);
		shmkit_seg_close(seg);
		shmkit_remove(uri);
	}
	snprintf(uri, sizeof(uri), "%s?populat", test_uri("posix", "large-bad"));
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 2, .max_msg = 64 };
	CHECK_RET(shmkit_queue_create(&q, uri, &o), -EINVAL);
}

int main(void)
{
	test_copy_routine();
	test_copy_pick();
	test_queue_large("posix");
	/* every large send through non-temporal stores (the choice's other way) */
	setenv("SHMKIT_LARGE_COPY", "streaming", 1);
	test_queue_large("posix");
	test_topic_large();
	unsetenv("SHMKIT_LARGE_COPY");
	test_queue_large("anon");
	test_topic_large();
	test_large_waits();
	test_populate();
	return test_done();
}
