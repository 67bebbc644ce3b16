/* SPDX-License-Identifier: MIT */
/* Queues under random kill -9: producers and consumers are killed at random
 * moments (any instruction: inside a claim, between a reserve and its
 * commit, between a peek and its consume, asleep) and started again, for as
 * long as the producers need to send every message. Consumers peek, record
 * the message in a log beside the queue, then consume, so that what the
 * queue delivers is all the log can miss. (The kills stop after 30 s, as a
 * loaded machine may restart processes no faster than they are killed; a
 * run that moves nothing for 30 s fails.) Checked at the end:
 * - nothing is lost: every sequence number of every producer is in the log;
 * - nothing is corrupt or invented (each message carries a check word);
 * - a duplicate only where a kill explains one (a consumer killed after
 *   logging and before consuming; a producer killed after its commit and
 *   before it noted the send), so at most one per kill;
 * - with one consumer (SPSC) that only peeks, the log is in order;
 * - the queue ends empty, its counters agree (sent == received) and nobody
 *   was left waiting.
 * A mixed run also receives by recv and recv_many, where a kill between the
 * library's return and the log loses a message the process had: there the
 * log may miss at most what the killed receives held. */
/* TIMEOUT: 600 */
#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROD 2
#define MAX_CONS 3
#define MANY 4 /* messages per recv_many in a mixed run */
#define SEC 1000000000LL
#define LOG_CAP (1u << 22)

enum recv_mode { PEEK_ONLY, MIXED };

struct chaos {
	const char *uri;
	uint64_t per_producer;
	enum recv_mode mode;
	_Atomic uint64_t noted[MAX_PROD]; /* messages each producer knows it sent */
	_Atomic int stop;		  /* consumers: leave once the queue is empty */
	_Atomic uint64_t log_len;
	_Atomic uint64_t log[LOG_CAP]; /* producer << 48 | seq; 0: a consumer died mid-entry */
};

struct role {
	struct chaos *c;
	int index;
};

static uint64_t check_word(uint64_t tag)
{
	return ~tag * 0x9e3779b97f4a7c15ull;
}

static int producer(void *arg)
{
	const struct role *r = arg;
	struct chaos *c = r->c;
	struct shmkit_queue *q;
	unsigned seed = (unsigned)getpid();

	if (shmkit_queue_open(&q, c->uri) < 0)
		return 3;
	for (uint64_t s = atomic_load(&c->noted[r->index]); s < c->per_producer;) {
		uint64_t tag = (uint64_t)r->index << 48 | (s + 1);
		uint64_t msg[2] = {tag, check_word(tag)};
		int err;
		if (rand_r(&seed) % 3 == 0) {
			void *slot;
			err = shmkit_queue_reserve(q, sizeof(msg), &slot, SEC);
			if (err == 0) {
				memcpy(slot, msg, sizeof(msg));
				err = shmkit_queue_commit(q, slot, sizeof(msg));
			}
		} else {
			err = shmkit_queue_send(q, msg, sizeof(msg), SEC);
		}
		if (err == -ETIMEDOUT)
			continue;
		if (err < 0) {
			fprintf(stderr, "producer %d: send: %s (%s)\n", r->index, strerror(-err),
				shmkit_last_error_detail());
			return 4;
		}
		atomic_store(&c->noted[r->index], ++s);
	}
	shmkit_queue_close(q);
	return 0;
}

static int log_message(struct chaos *c, const uint64_t *msg, size_t len)
{
	if (len != 2 * sizeof(uint64_t) || msg[1] != check_word(msg[0]))
		return -1;
	uint64_t i = atomic_fetch_add(&c->log_len, 1);
	if (i >= LOG_CAP)
		return -1;
	atomic_store(&c->log[i], msg[0]);
	return 0;
}

/* One receive, as the run's mode and a dice roll choose: 1 when a message
 * was logged, 0 when none came, -1 for a corrupt message, else the error. */
static int receive_some(struct chaos *c, struct shmkit_queue *q, int dice)
{
	const int64_t wait = 20000000; /* 20 ms: then look at c->stop */
	uint64_t msg[MANY][2];
	ssize_t n;

	if (c->mode == PEEK_ONLY || dice == 0) {
		const void *at;
		n = shmkit_queue_peek(q, &at, wait);
		if (n < 0)
			return n == -ETIMEDOUT ? 0 : (int)n;
		memcpy(msg[0], at, sizeof(msg[0]) < (size_t)n ? sizeof(msg[0]) : (size_t)n);
		if (log_message(c, msg[0], (size_t)n) < 0)
			return -1;
		int err = shmkit_queue_consume(q);
		return err < 0 ? err : 1;
	}
	if (dice == 1) {
		n = shmkit_queue_recv(q, msg[0], sizeof(msg[0]), wait);
		if (n < 0)
			return n == -ETIMEDOUT ? 0 : (int)n;
		return log_message(c, msg[0], (size_t)n) < 0 ? -1 : 1;
	}
	struct iovec iov[MANY];
	for (int k = 0; k < MANY; k++)
		iov[k] = (struct iovec){msg[k], sizeof(msg[k])};
	n = shmkit_queue_recv_many(q, iov, MANY, wait);
	if (n < 0)
		return n == -ETIMEDOUT ? 0 : (int)n;
	for (ssize_t k = 0; k < n; k++)
		if (log_message(c, msg[k], iov[k].iov_len) < 0)
			return -1;
	return 1;
}

static int consumer(void *arg)
{
	const struct role *r = arg;
	struct chaos *c = r->c;
	struct shmkit_queue *q;
	unsigned seed = (unsigned)getpid();

	if (shmkit_queue_open(&q, c->uri) < 0)
		return 3;
	for (;;) {
		int got = receive_some(c, q, (int)(rand_r(&seed) % 3));
		if (got < -1)
			fprintf(stderr, "consumer %d: receive: %s (%s)\n", r->index, strerror(-got),
				shmkit_last_error_detail());
		if (got < 0)
			return got == -1 ? 5 : 4;
		if (got == 0 && atomic_load(&c->stop))
			break;
	}
	shmkit_queue_close(q);
	return 0;
}

struct run {
	int producers, consumers;
	unsigned producer_kills, consumer_kills;
	uint64_t calm_after; /* progress() when killing stopped (0: it never did) */
};

static pid_t start(struct chaos *c, int (*fn)(void *), int index)
{
	static struct role roles[2][MAX_CONS];
	struct role *r = &roles[fn == producer][index];
	*r = (struct role){c, index};
	return test_fork(fn, r);
}

static void kill_and_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, NULL, 0) == pid);
}

/* Messages sent and logged so far: it grows while the run makes progress. */
static uint64_t progress(struct chaos *c)
{
	uint64_t p = atomic_load(&c->log_len);
	for (int i = 0; i < MAX_PROD; i++)
		p += atomic_load(&c->noted[i]);
	return p;
}

/* Kills at random intervals up to max_gap_us until every producer has
 * finished on its own. On a loaded machine a process restarted may need
 * longer to get going than the next kill leaves it: killing stops after
 * KILL_S seconds and the run finishes in peace. What fails is a stall, a
 * run that moves no message for STALL_S seconds. 0, or -1 if a side failed
 * or stalled. */
#define KILL_S 30
#define STALL_S 30
static int churn(struct chaos *c, struct run *run, pid_t *prod, pid_t *cons, unsigned max_gap_us)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int64_t now = test_now_ns(), stop_killing = now + KILL_S * SEC, moved = now;
	uint64_t last = progress(c);

	for (;;) {
		usleep(rand_r(&seed) % (max_gap_us + 1));
		int running = 0;
		for (int i = 0; i < run->producers; i++) {
			int status;
			if (prod[i] > 0 && waitpid(prod[i], &status, WNOHANG) == prod[i]) {
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
					fprintf(stderr, "producer %d ended with status %#x\n", i, status);
					return -1;
				}
				prod[i] = 0;
			}
			running += prod[i] > 0;
		}
		for (int i = 0; i < run->consumers; i++) {
			int status;
			if (waitpid(cons[i], &status, WNOHANG) == cons[i]) {
				fprintf(stderr, "consumer %d ended with status %#x\n", i, status);
				return -1; /* a consumer gave up on an error */
			}
		}
		if (running == 0)
			return 0;
		now = test_now_ns();
		if (progress(c) != last) {
			last = progress(c);
			moved = now;
		} else if (now - moved > STALL_S * SEC) {
			fprintf(stderr, "stalled: no message moved for %d s (sent %llu + %llu, "
					"logged %llu)\n", STALL_S,
				(unsigned long long)atomic_load(&c->noted[0]),
				(unsigned long long)atomic_load(&c->noted[1]),
				(unsigned long long)atomic_load(&c->log_len));
			return -1;
		}
		if (now > stop_killing) {
			if (!run->calm_after)
				run->calm_after = progress(c);
			usleep(10000);
			continue;
		}
		unsigned dice = rand_r(&seed) % 10;
		if (dice < 7) {
			int i = (int)(rand_r(&seed) % (unsigned)run->consumers);
			kill_and_reap(cons[i]);
			run->consumer_kills++;
			cons[i] = start(c, consumer, i);
		} else {
			int i = (int)(rand_r(&seed) % (unsigned)run->producers);
			if (prod[i] > 0) {
				kill_and_reap(prod[i]);
				run->producer_kills++;
				prod[i] = start(c, producer, i);
			}
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The log's entries (zeros left out), in log order. */
static uint64_t *log_entries(struct chaos *c, size_t *n)
{
	uint64_t len = atomic_load(&c->log_len);
	uint64_t *v = malloc(sizeof(*v) * (len ? len : 1));
	CHECK(v != NULL && len <= LOG_CAP);
	*n = 0;
	for (uint64_t i = 0; v && i < len && i < LOG_CAP; i++) {
		uint64_t tag = atomic_load(&c->log[i]);
		if (tag)
			v[(*n)++] = tag;
	}
	return v;
}

/* With one producer and one consumer each entry repeats the one before (a
 * kill) or follows it; the last is the test's own. */
static void check_in_order(const uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (v[i] >> 48 == MAX_PROD) {
			continue; /* the run's last message, from the test itself */
		} else if (v[i] != v[i - 1] && v[i] != v[i - 1] + 1) {
			fprintf(stderr, "out of order at %zu: %#llx after %#llx\n", i,
				(unsigned long long)v[i], (unsigned long long)v[i - 1]);
			CHECK(!"SPSC log in order");
			return;
		}
}

static void check_log(struct chaos *c, const struct run *run)
{
	size_t n;
	uint64_t *v = log_entries(c, &n);
	if (!v)
		return;
	if (run->producers == 1 && run->consumers == 1 && c->mode == PEEK_ONLY)
		check_in_order(v, n);
	qsort(v, n, sizeof(*v), cmp_u64);
	uint64_t missing = 0, dups = 0;
	for (size_t i = 1; i < n; i++)
		dups += v[i] == v[i - 1];
	for (int p = 0; p < run->producers; p++)
		for (uint64_t s = 1; s <= c->per_producer; s++) {
			uint64_t tag = (uint64_t)p << 48 | s;
			if (!bsearch(&tag, v, n, sizeof(*v), cmp_u64) && missing++ < 5 &&
			    c->mode == PEEK_ONLY)
				fprintf(stderr, "missing: producer %d message %llu\n", p,
					(unsigned long long)s);
		}
	uint64_t kills = run->producer_kills + run->consumer_kills;
	printf("  %zu logged, %llu duplicates, %llu missing; %u producer and %u consumer kills\n",
	       n, (unsigned long long)dups, (unsigned long long)missing, run->producer_kills,
	       run->consumer_kills);
	if (run->calm_after)
		printf("  (killing stopped after %d s, %llu sends and logs in: the rest ran in peace)\n",
		       KILL_S, (unsigned long long)run->calm_after);
	CHECK(dups <= kills);
	if (c->mode == PEEK_ONLY)
		CHECK(missing == 0);
	else
		CHECK(missing <= (uint64_t)MANY * run->consumer_kills);
	CHECK(n + missing >= (uint64_t)run->producers * c->per_producer);
	free(v);
}

static const char *only; /* argv[1]: run this case alone */

static void chaos_run(const char *tag, int multi, size_t capacity, enum recv_mode mode,
		      uint64_t per_producer, unsigned max_gap_us)
{
	struct run run = {.producers = multi ? MAX_PROD : 1, .consumers = multi ? MAX_CONS : 1};
	if (only && strcmp(only, tag) != 0)
		return;
	struct chaos *c =
	    mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(c != MAP_FAILED);
	if (c == MAP_FAILED)
		return;
	c->uri = test_uri("posix", tag);
	c->per_producer = per_producer;
	c->mode = mode;
	struct shmkit_queue_opts o = {
	    .capacity = capacity, .max_msg = 16, .multi_producer = multi, .multi_consumer = multi};
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_create(&q, c->uri, &o));
	printf("%s: capacity %zu, %d x %d, %s\n", tag, capacity, run.producers, run.consumers,
	       mode == PEEK_ONLY ? "peek + consume" : "peek, recv and recv_many");

	pid_t prod[MAX_PROD], cons[MAX_CONS];
	for (int i = 0; i < run.consumers; i++)
		cons[i] = start(c, consumer, i);
	for (int i = 0; i < run.producers; i++)
		prod[i] = start(c, producer, i);
	int churned = churn(c, &run, prod, cons, max_gap_us);
	CHECK_RET(churned, 0);
	for (int i = 0; churned < 0 && i < run.producers; i++)
		if (prod[i] > 0)
			kill_and_reap(prod[i]); /* before a send of ours finds the role taken */

	/* one more message, from us: a consumer killed asleep after the last
	 * producer's send left its SLEEP bit up, and this send's wake takes it
	 * down; the bits the others set are theirs to take down when their
	 * waits time out below */
	uint64_t mark = (uint64_t)MAX_PROD << 48 | 1, last[2] = {mark, check_word(mark)};
	CHECK_OK(shmkit_queue_send(q, last, sizeof(last), 10 * SEC));
	struct shmkit_queue_stats st;
	int64_t give_up = test_now_ns() + 20 * SEC;
	while (shmkit_queue_stats(q, &st) == 0 && st.depth > 0 && test_now_ns() < give_up)
		usleep(10000);
	atomic_store(&c->stop, 1);
	for (int i = 0; i < run.consumers; i++)
		CHECK_RET(test_wait(cons[i]), 0);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.depth == 0);
	CHECK(st.sent == st.received);
	CHECK(st.skipped <= run.producer_kills);
	CHECK(st.abandoned <= run.consumer_kills);
	CHECK(st.recv_waiters == 0 && st.send_waiters == 0);
	check_log(c, &run);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(c->uri));
	munmap(c, sizeof(*c));
}

int main(int argc, char **argv)
{
	only = argc > 1 ? argv[1] : NULL;
	/* valgrind runs each process ~50x slower: fewer messages, kills further apart */
	uint64_t n = test_under_valgrind() ? 2000 : 1000000;
	unsigned gap = test_under_valgrind() ? 100000 : 1000;

	chaos_run("mpmc-tiny", 1, 4, PEEK_ONLY, n, gap);
	chaos_run("mpmc", 1, 64, PEEK_ONLY, n, gap);
	chaos_run("mpmc-mixed", 1, 16, MIXED, n, gap);
	chaos_run("spsc-tiny", 0, 4, PEEK_ONLY, n, gap);
	chaos_run("spsc-mixed", 0, 64, MIXED, n, gap);
	return test_done();
}
