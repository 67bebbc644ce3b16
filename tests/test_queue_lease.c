/* SPDX-License-Identifier: MIT */
/* The MPMC producers' lease (src/sync/lease.h, src/queue_mpmc.c "leases"):
 * a queue with one live producer lets it claim slots by plain stores; a
 * second producer revokes that before its first claim, and the first takes
 * the lease back once it is alone again. Real processes: producers and consumers that join and leave
 * a running stream (every message exactly once, in order per producer), a
 * holder stopped or kill -9'd inside its plain-store window, a holder that
 * forks, and queues made without the lease flag. */
/* TIMEOUT: 120 */
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "queue_internal.h"
#include "sync/lease.h"

#define MS 1000000ll
#define SEC 1000000000ll
#define STOP 0xffffffffu
#define JOINERS 12u
#define PER_JOINER 3000u
#define PER_STREAM 120000u

static struct shmkit_queue *make(const char *uri, size_t cap)
{
	struct shmkit_queue_opts o = {
	    .capacity = cap, .max_msg = 8, .multi_producer = 1, .multi_consumer = 1};
	struct shmkit_queue *q = NULL;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	return q;
}

static uint32_t holder(const struct shmkit__lease_shared *l)
{
	return shmkit__lease_holder(atomic_load(&l->word));
}

/* One process: the lease follows who is the only producer. */
static void test_taken_and_revoked(void)
{
	const char *uri = test_uri("posix", "lease-take");
	struct shmkit_queue *q = make(uri, 64), *p2;
	uint32_t v = 0, w;

	CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 0));
	CHECK(q->lease_mine != 0);
	CHECK_RET(holder(&q->sh->p_lease), (uint32_t)q->peer + 1);
	CHECK_RET(shmkit_queue_recv(q, &w, sizeof(w), 0), sizeof(w));

	/* a second producer revokes it; neither holds it while both are open */
	CHECK_OK(shmkit_queue_open(&p2, uri));
	v = 1;
	CHECK_OK(shmkit_queue_send(p2, &v, sizeof(v), 0));
	CHECK_RET(holder(&q->sh->p_lease), 0);
	CHECK(p2->lease_mine == 0);
	v = 2;
	CHECK_OK(shmkit_queue_send(q, &v, sizeof(v), 0));
	CHECK(q->lease_mine == 0); /* it saw the revocation */
	for (uint32_t i = 1; i <= 2; i++) {
		CHECK_RET(shmkit_queue_recv(q, &w, sizeof(w), 0), sizeof(w));
		CHECK_RET(w, i);
	}
	/* alone again: taken back within LEASE_RETRY claims */
	CHECK_OK(shmkit_queue_close(p2));
	for (uint32_t i = 0; i < 20000 && q->lease_mine == 0; i++) {
		CHECK_OK(shmkit_queue_send(q, &i, sizeof(i), 0));
		CHECK_RET(shmkit_queue_recv(q, &w, sizeof(w), 0), sizeof(w));
		if (w != i)
			break;
	}
	CHECK(q->lease_mine != 0);
	CHECK_RET(holder(&q->sh->p_lease), (uint32_t)q->peer + 1);
	/* closing gives it back */
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_queue_open(&q, uri));
	CHECK_RET(holder(&q->sh->p_lease), 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A queue without the lease flag (made by a library before leases) never
 * takes one; a lease flag on an SPSC queue is corrupt. */
static void test_flag(void)
{
	const char *uri = test_uri("posix", "lease-flag");
	struct shmkit_queue *q = make(uri, 8), *q2;
	uint32_t v = 7;

	atomic_thread_fence(memory_order_seq_cst);
	q->sh->flags &= ~SHMKIT__QUEUE_F_LEASE;
	CHECK_OK(shmkit_queue_open(&q2, uri));
	CHECK_OK(shmkit_queue_send(q2, &v, sizeof(v), 0));
	CHECK(q2->lease_mine == 0);
	CHECK_RET(holder(&q->sh->p_lease), 0);
	CHECK_RET(shmkit_queue_recv(q2, &v, sizeof(v), 0), sizeof(v));
	CHECK_OK(shmkit_queue_close(q2));
	q->sh->flags = SHMKIT__QUEUE_F_LEASE; /* lease, neither side multi */
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	q->sh->flags = SHMKIT__QUEUE_F_MP | SHMKIT__QUEUE_F_MC | SHMKIT__QUEUE_F_LEASE;
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

struct tally {
	_Atomic uint64_t got[JOINERS + 2];
	_Atomic uint64_t bad;
	_Atomic uint32_t leased_streams; /* the stream producer held the lease at some point */
};

/* Sends `count` messages {id, i}; notes whether it ever held the lease. */
static int produce(const char *uri, uint32_t id, uint32_t count, struct tally *t)
{
	struct shmkit_queue *q;
	uint32_t m[2] = {id, 0};
	bool leased = false;

	if (shmkit_queue_open(&q, uri) != 0)
		return 2;
	for (m[1] = 0; m[1] < count; m[1]++) {
		if (shmkit_queue_send(q, m, sizeof(m), 60 * SEC) != 0)
			return 3;
		leased |= q->lease_mine != 0;
	}
	if (leased && id == 0)
		atomic_fetch_add(&t->leased_streams, 1);
	shmkit_queue_close(q);
	return 0;
}

/* Receives until STOP; checks order per producer. */
static int consume(const char *uri, struct tally *t)
{
	struct shmkit_queue *q;
	uint32_t m[2], next[JOINERS + 2] = {0};

	if (shmkit_queue_open(&q, uri) != 0)
		return 2;
	for (;;) {
		if (shmkit_queue_recv(q, m, sizeof(m), 60 * SEC) != sizeof(m))
			return 4;
		if (m[0] == STOP)
			break;
		if (m[0] >= JOINERS + 2 || m[1] < next[m[0]])
			atomic_fetch_add(&t->bad, 1);
		else {
			next[m[0]] = m[1] + 1;
			atomic_fetch_add(&t->got[m[0]], 1);
		}
	}
	shmkit_queue_close(q);
	return 0;
}

static const char *run_uri;
static struct tally *run_tally;

static int stream_main(void *arg)
{
	(void)arg;
	return produce(run_uri, 0, PER_STREAM, run_tally);
}

static int consumer_main(void *arg)
{
	(void)arg;
	return consume(run_uri, run_tally);
}

static int joiner_main(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	usleep(id * 3000u);
	return produce(run_uri, id, PER_JOINER, run_tally);
}

/* A producer streams while others join and leave one after another, and a
 * second consumer joins and leaves: the leases move back and forth under
 * load; every message arrives once, in order per producer. */
static void test_join_leave_under_load(void)
{
	const char *uri = test_uri("posix", "lease-load");
	struct shmkit_queue *q = make(uri, 64);
	struct tally *t =
	    mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(t != MAP_FAILED);
	memset(t, 0, sizeof(*t));
	run_uri = uri;
	run_tally = t;

	pid_t cons = test_fork(consumer_main, NULL);
	pid_t stream = test_fork(stream_main, NULL);
	pid_t cons2 = -1;
	for (uint32_t j = 1; j <= JOINERS; j++) {
		pid_t p = test_fork(joiner_main, (void *)(uintptr_t)j);
		if (j == JOINERS / 2)
			cons2 = test_fork(consumer_main, NULL);
		CHECK_RET(test_wait(p), 0);
	}
	CHECK_RET(test_wait(stream), 0);
	uint32_t stop[2] = {STOP, 0};
	CHECK_OK(shmkit_queue_send(q, stop, sizeof(stop), 60 * SEC));
	CHECK_OK(shmkit_queue_send(q, stop, sizeof(stop), 60 * SEC));
	CHECK_RET(test_wait(cons), 0);
	CHECK_RET(test_wait(cons2), 0);
	CHECK_RET(atomic_load(&t->bad), 0);
	CHECK_RET(atomic_load(&t->got[0]), PER_STREAM);
	for (uint32_t j = 1; j <= JOINERS; j++)
		CHECK_RET(atomic_load(&t->got[j]), PER_JOINER);
	if (!test_under_valgrind()) /* memcheck has no membarrier: no lease */
		CHECK_RET(atomic_load(&t->leased_streams), 1);
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK_RET(st.depth, 0);
	CHECK_RET(st.skipped, 0);
	CHECK_RET(st.abandoned, 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
	munmap(t, sizeof(*t));
}

/* The holder times its stream both ways (queue_mpmc.c "Plain or CAS
 * claims, by trial") and switches between them mid-stream: every message
 * still arrives once, in order; SHMKIT_LEASE_CLAIMS forces either way. */
#define TRIAL_STREAM 100000u

static int trial_consumer(void *arg)
{
	struct shmkit_queue *q;
	uint32_t m[2];

	if (shmkit_queue_open(&q, (const char *)arg) != 0)
		return 2;
	for (uint32_t i = 0; i < TRIAL_STREAM; i++)
		if (shmkit_queue_recv(q, m, sizeof(m), 60 * SEC) != sizeof(m) || m[1] != i)
			return 3;
	shmkit_queue_close(q);
	return 0;
}

static void claims_stream(const char *mode)
{
	const char *uri = test_uri("posix", "lease-trial");
	if (mode)
		setenv("SHMKIT_LEASE_CLAIMS", mode, 1);
	else
		unsetenv("SHMKIT_LEASE_CLAIMS");
	struct shmkit_queue *q = make(uri, 64);
	pid_t cons = test_fork(trial_consumer, (void *)uri);
	uint32_t m[2] = {0, 0};
	bool held = true;
	for (m[1] = 0; m[1] < TRIAL_STREAM; m[1]++) {
		CHECK_OK(shmkit_queue_send(q, m, sizeof(m), 60 * SEC));
		held &= q->lease_mine != 0;
	}
	CHECK_RET(test_wait(cons), 0);
	const struct shmkit__claim_trial *ct = &q->claim_trial;
	if (!test_under_valgrind()) { /* memcheck has no membarrier: no lease */
		CHECK(held);
		CHECK(ct->claims >= TRIAL_STREAM); /* and the attempts on a full ring */
		if (!mode) { /* one trial (8 halves of 2048 claims, after 4 trials' worth), all four runs timed */
			CHECK_RET(ct->decisions, 1u);
			CHECK(ct->ns[0] > 0 && ct->ns[1] > 0 && ct->ns[2] > 0 && ct->ns[3] > 0);
		} else {
			CHECK_RET(ct->decisions, 0u);
			CHECK_RET(ct->cas, strcmp(mode, "cas") == 0);
		}
	}
	/* a second producer still revokes the lease, whichever claims it makes */
	struct shmkit_queue *p2;
	CHECK_OK(shmkit_queue_open(&p2, uri));
	CHECK_OK(shmkit_queue_send(p2, m, sizeof(m), 0));
	CHECK_OK(shmkit_queue_send(q, m, sizeof(m), 0));
	CHECK(q->lease_mine == 0 && p2->lease_mine == 0);
	CHECK_RET(holder(&q->sh->p_lease), 0);
	CHECK_OK(shmkit_queue_close(p2));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
	unsetenv("SHMKIT_LEASE_CLAIMS");
}

static void test_claims_by_trial(void)
{
	claims_stream(NULL);
	claims_stream("cas");
	claims_stream("plain");
}

/* argv: uri value: sends one message (stopped inside the lease window). */
static int role_send1(int argc, char **argv)
{
	struct shmkit_queue *q;
	uint32_t v = argc > 1 ? (uint32_t)atoi(argv[1]) : 0;
	if (shmkit_queue_open(&q, argv[0]) != 0)
		return 2;
	if (shmkit_queue_send(q, &v, sizeof(v), 10 * SEC) != 0)
		return 3;
	shmkit_queue_close(q);
	return 0;
}

/* argv: uri count: sends count messages (stopped inside every window). */
static int role_send_n(int argc, char **argv)
{
	struct shmkit_queue *q;
	uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 1;
	if (shmkit_queue_open(&q, argv[0]) != 0)
		return 2;
	for (uint32_t v = 0; v < n; v++)
		if (shmkit_queue_send(q, &v, sizeof(v), 10 * SEC) != 0)
			return 3;
	return 0;
}

/* A revocation that times out leaves the word REVOKING; once the would-be
 * producer has gone, the old holder (now on CAS) settles it and takes the
 * lease again on a later try: the pause point then stops it in a window. */
static void test_revoking_left_behind(void)
{
	const char *uri = test_uri("posix", "lease-left");
	struct shmkit_queue *q = make(uri, 8), *p2;
	const char *args[] = {uri, "1000000", NULL};
	uint32_t v = 0, next = 0, bad = 0, first;
	char state = '?';
	uint64_t start;

	pid_t holder_pid = test_spawn_paused("queue.lease.window", "send_n", args);
	if (holder_pid <= 0) {
		shmkit_queue_close(q);
		return;
	}
	first = atomic_load(&q->sh->p_lease.word);
	CHECK_OK(shmkit_queue_open(&p2, uri));
	CHECK_RET(shmkit_queue_send(p2, &v, sizeof(v), 20 * MS), -ETIMEDOUT);
	CHECK(atomic_load(&q->sh->p_lease.word) & SHMKIT__LEASE_REVOKING);
	CHECK_OK(shmkit_queue_close(p2));
	kill(holder_pid, SIGCONT);
	for (int idle = 0; idle < 100 && state != 'T';) {
		if (shmkit_queue_recv(q, &v, sizeof(v), 50 * MS) == sizeof(v)) {
			bad += v != next;
			next++;
		} else {
			idle++;
		}
		if (shmkit__proc_stat(holder_pid, &state, &start) < 0)
			break;
	}
	CHECK_RET(state, 'T'); /* stopped in a window again: the lease is back */
	uint32_t now = atomic_load(&q->sh->p_lease.word);
	CHECK_RET(shmkit__lease_holder(now), shmkit__lease_holder(first));
	CHECK(!(now & SHMKIT__LEASE_REVOKING) && now != first);
	CHECK(next > 1000); /* it went on by CAS for a while (the retry counts claim attempts) */
	CHECK_RET(test_kill_stopped(holder_pid), 128 + SIGKILL);
	while (shmkit_queue_recv(q, &v, sizeof(v), 0) == sizeof(v)) {
		bad += v != next;
		next++;
	}
	CHECK_RET(bad, 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A holder stopped inside its window holds up a joining producer (until
 * the joiner's timeout), not the consumer; once it goes on, or is kill -9'd
 * there, the joiner proceeds and nothing is lost or doubled. */
static void test_holder_in_window(bool kill_it)
{
	const char *uri = test_uri("posix", kill_it ? "lease-kill" : "lease-stop");
	struct shmkit_queue *q = make(uri, 8), *p2;
	const char *args[] = {uri, "41", NULL};
	uint32_t v, got[2];
	int n = 0;

	pid_t holder_pid = test_spawn_paused("queue.lease.window", "send1", args);
	if (holder_pid <= 0) {
		shmkit_queue_close(q);
		return;
	}
	CHECK(holder(&q->sh->p_lease) != 0);
	CHECK_RET(atomic_load(&q->sh->p_lease.busy), 1);
	CHECK_OK(shmkit_queue_open(&p2, uri));
	v = 42;
	CHECK_RET(shmkit_queue_send(p2, &v, sizeof(v), 0), -EAGAIN);
	CHECK_RET(shmkit_queue_send(p2, &v, sizeof(v), 50 * MS), -ETIMEDOUT);
	if (kill_it)
		CHECK_RET(test_kill_stopped(holder_pid), 128 + SIGKILL);
	else
		kill(holder_pid, SIGCONT);
	CHECK_OK(shmkit_queue_send(p2, &v, sizeof(v), 10 * SEC));
	if (!kill_it)
		CHECK_RET(test_wait(holder_pid), 0);
	while (n < 2 && shmkit_queue_recv(q, &got[n], sizeof(got[n]), 200 * MS) == sizeof(v))
		n++;
	CHECK_RET(n, kill_it ? 1 : 2);
	if (kill_it)
		CHECK_RET(got[0], 42);
	else
		CHECK(got[0] + got[1] == 83 && got[0] != got[1]);
	CHECK_RET(shmkit_queue_recv(q, &v, sizeof(v), 0), -EAGAIN);
	/* the old holder lost it; the joiner takes it once alone */
	uint32_t h = holder(&q->sh->p_lease);
	CHECK(h == 0 || h == (uint32_t)p2->peer + 1);
	if (kill_it)
		CHECK(p2->lease_mine != 0);
	CHECK_OK(shmkit_queue_close(p2));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

static struct shmkit_queue *fork_q;

static int forked_sender(void *arg)
{
	(void)arg;
	uint32_t m[2] = {1, 0};
	for (; m[1] < 20000; m[1]++)
		if (shmkit_queue_send(fork_q, m, sizeof(m), 60 * SEC) != 0)
			return 3;
	return 0;
}

/* Receives what is there (waiting up to `timeout` for the first), checking
 * order per producer. */
static void drain(struct shmkit_queue *c, uint32_t next[2], uint32_t *bad, uint32_t *got,
		  int64_t timeout)
{
	uint32_t r[2];

	while (shmkit_queue_recv(c, r, sizeof(r), timeout) == sizeof(r)) {
		if (r[0] > 1 || r[1] != next[r[0]])
			(*bad)++;
		else
			next[r[0]]++;
		(*got)++;
		timeout = 0;
	}
}

/* A holder forks: the child's first send registers it anew and revokes its
 * parent's lease; both stream at once, nothing lost or doubled. */
static void test_holder_forks(void)
{
	const char *uri = test_uri("posix", "lease-fork");
	struct shmkit_queue *q = make(uri, 64), *c;
	uint32_t m[2] = {0, 0}, next[2] = {0, 0}, bad = 0, got = 0;
	int r;

	CHECK_OK(shmkit_queue_open(&c, uri));
	CHECK_OK(shmkit_queue_send(q, m, sizeof(m), 0));
	CHECK(q->lease_mine != 0);
	fork_q = q;
	pid_t kid = test_fork(forked_sender, NULL);
	for (m[1] = 1; m[1] < 20000; m[1]++) {
		while ((r = shmkit_queue_send(q, m, sizeof(m), 0)) == -EAGAIN)
			drain(c, next, &bad, &got, 0);
		CHECK_RET(r, 0);
	}
	while (got < 40000) {
		uint32_t before = got;
		drain(c, next, &bad, &got, 10 * SEC);
		if (got == before)
			break;
	}
	CHECK_RET(test_wait(kid), 0);
	CHECK_RET(bad, 0);
	CHECK_RET(got, 40000);
	CHECK_OK(shmkit_queue_close(c));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A producer process whose main thread has exited: its other thread sends
 * by CAS while /proc shows the leader as a zombie. A second producer must
 * count it as live and leave the lease alone. */
static const char *zl_uri;
static int zl_ready[2], zl_gate[2];
/* the test's handle: static, so the fork()ed kid, whose main thread (and
 * the frame that held it) exits, still reaches it (valgrind: not lost) */
static struct shmkit_queue *zl_q;

static void *zl_worker(void *arg)
{
	struct shmkit_queue *q;
	uint32_t v = 1;
	char c = 0;
	(void)arg;
	if (shmkit_queue_open(&q, zl_uri) != 0 || shmkit_queue_send(q, &v, sizeof(v), 10 * SEC) != 0)
		_exit(2);
	if (write(zl_ready[1], &c, 1) != 1)
		_exit(3);
	while (read(zl_gate[0], &c, 1) < 0 && errno == EINTR)
		;
	v = 2;
	_exit(shmkit_queue_send(q, &v, sizeof(v), 10 * SEC) == 0 ? 0 : 4);
}

static int zl_main(void *arg)
{
	pthread_t t;
	(void)arg;
	close(zl_gate[1]);
	if (pthread_create(&t, NULL, zl_worker, NULL) != 0)
		return 1;
	pthread_exit(NULL);
}

static void test_zombie_leader_producer(void)
{
	zl_uri = test_uri("posix", "lease-zleader");
	struct shmkit_queue *q = zl_q = make(zl_uri, 16), *p2;
	uint32_t v = 3, got = 0, sum = 0;
	char c, state = '?';
	uint64_t start;

	CHECK_OK(pipe(zl_ready));
	CHECK_OK(pipe(zl_gate));
	pid_t kid = test_fork(zl_main, NULL);
	close(zl_gate[0]);
	CHECK_RET(read(zl_ready[0], &c, 1), 1);
	for (int i = 0; i < 2000 && state != 'Z'; i++) {
		CHECK_OK(shmkit__proc_stat(kid, &state, &start));
		usleep(1000);
	}
	CHECK_RET(state, 'Z');
	/* the kid's thread took the lease; our first send revokes it and must
	 * not take it while that thread may still claim by CAS */
	CHECK_OK(shmkit_queue_open(&p2, zl_uri));
	CHECK_OK(shmkit_queue_send(p2, &v, sizeof(v), 10 * SEC));
	CHECK(p2->lease_mine == 0);
	CHECK_RET(holder(&q->sh->p_lease), 0);
	close(zl_gate[1]);
	CHECK_RET(test_wait(kid), 0);
	while (shmkit_queue_recv(q, &v, sizeof(v), 0) == sizeof(v)) {
		got++;
		sum += v;
	}
	CHECK_RET(got, 3);
	CHECK_RET(sum, 6);
	close(zl_ready[0]);
	close(zl_ready[1]);
	CHECK_OK(shmkit_queue_close(p2));
	CHECK_OK(shmkit_queue_close(zl_q));
	zl_q = NULL;
	CHECK_OK(shmkit_remove(zl_uri));
}

/* A holder kill -9'd inside its window, and its peer entry then reused by
 * a live consumer (every other entry taken): a new producer must not wait
 * on that consumer for the dead holder's window. */
static void test_dead_holder_entry_reused(void)
{
	const char *uri = test_uri("posix", "lease-reuse");
	struct shmkit_queue *q = make(uri, 8), *h[SHMKIT__QUEUE_PEERS], *p;
	const char *args[] = {uri, "41", NULL};
	uint32_t v = 42;
	unsigned k, n = 0;

	pid_t holder_pid = test_spawn_paused("queue.lease.window", "send1", args);
	if (holder_pid <= 0) {
		shmkit_queue_close(q);
		return;
	}
	uint32_t dead = holder(&q->sh->p_lease);
	CHECK(dead != 0);
	CHECK_RET(test_kill_stopped(holder_pid), 128 + SIGKILL);
	/* consumers take every entry: the first registration takes the dead
	 * holder's (a registration clears every dead entry first) */
	unsigned reused = SHMKIT__QUEUE_PEERS;
	for (; n < SHMKIT__QUEUE_PEERS; n++) {
		CHECK_OK(shmkit_queue_open(&h[n], uri));
		CHECK_RET(shmkit_queue_recv(h[n], &v, sizeof(v), 0), -EAGAIN);
		if ((uint32_t)h[n]->peer + 1 == dead)
			reused = n;
	}
	CHECK_RET(reused, 0);
	unsigned closed = n - 1, other = 1; /* a live consumer stays in the dead's entry */
	CHECK_OK(shmkit_queue_close(h[closed]));
	CHECK_OK(shmkit_queue_open(&p, uri));
	v = 42;
	CHECK_OK(shmkit_queue_send(p, &v, sizeof(v), 2 * SEC));
	CHECK(p->lease_mine != 0);
	CHECK_RET(shmkit_queue_recv(h[other], &v, sizeof(v), 0), sizeof(v)); /* q: the table is full */
	CHECK_RET(v, 42);
	CHECK_RET(shmkit_queue_recv(h[other], &v, sizeof(v), 0), -EAGAIN);
	for (k = 0; k < n; k++)
		if (k != closed)
			CHECK_OK(shmkit_queue_close(h[k]));
	CHECK_OK(shmkit_queue_close(p));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A joiner held up by a holder stopped in its window, then by a full queue:
 * the two waits share the one timeout (they took up to twice it). */
static const char *budget_uri;

static int budget_joiner(void *arg)
{
	struct shmkit_queue *q;
	uint32_t v = 99;
	(void)arg;
	if (shmkit_queue_open(&q, budget_uri) != 0)
		return 2;
	int64_t start = test_now_ns();
	int r = shmkit_queue_send(q, &v, sizeof(v), 2 * SEC);
	int64_t took = test_now_ns() - start;
	shmkit_queue_close(q);
	if (r != -ETIMEDOUT)
		return 3;
	return took < 2 * SEC - 50 * MS ? 4 : took > 2750 * MS ? 5 : 0;
}

static void test_join_within_timeout(void)
{
	const char *uri = test_uri("posix", "lease-budget");
	struct shmkit_queue *q = make(uri, 8);
	const char *fill[] = {uri, "7", NULL}, *last[] = {uri, "8", NULL};
	uint32_t v;
	int n = 0;

	budget_uri = uri;
	CHECK_RET(test_wait(test_spawn_self("send_n", fill)), 0); /* 7 of 8 slots */
	pid_t holder_pid = test_spawn_paused("queue.lease.window", "send1", last);
	if (holder_pid <= 0) {
		shmkit_queue_close(q);
		return;
	}
	pid_t joiner = test_fork(budget_joiner, NULL);
	usleep(1500 * 1000); /* the joiner waits for the lease for 1.5 s of its 2 */
	kill(holder_pid, SIGCONT); /* the holder fills the 8th slot, then leaves */
	CHECK_RET(test_wait(holder_pid), 0);
	CHECK_RET(test_wait(joiner), 0); /* -ETIMEDOUT after 2 s, not 1.5 + 2 */
	while (shmkit_queue_recv(q, &v, sizeof(v), 0) == sizeof(v))
		n++;
	CHECK_RET(n, 8);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
	    {"send1", role_send1},
	    {"send_n", role_send_n},
	    {NULL, NULL},
	};
	test_child_dispatch(argc, argv, roles);
	test_taken_and_revoked();
	test_flag();
	test_join_leave_under_load();
	test_claims_by_trial();
	test_holder_in_window(false);
	test_holder_in_window(true);
	test_holder_forks();
	test_revoking_left_behind();
	test_zombie_leader_producer();
	test_dead_holder_entry_reused();
	test_join_within_timeout();
	return test_done();
}
