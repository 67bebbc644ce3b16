/* SPDX-License-Identifier: MIT */
/* Peers that die in the middle of an operation: a producer kill -9'd between
 * reserve and commit (SPSC and MPMC) never delivers a torn message and holds
 * consumers up only until its death is seen; a consumer kill -9'd between
 * peek and consume (MPMC) does not wedge the others, and the message it held
 * is received again, once, by the next consumer. The children pause
 * themselves with SIGSTOP at the chosen point, the parent kills them there. */
/* TIMEOUT: 60 */
#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "layout.h"

#define MS 1000000ll
#define SEC 1000000000ll

static struct shmkit_queue *open_q(const char *uri)
{
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, uri) < 0)
		_exit(2);
	return q;
}

/* A new MPMC queue of `cap` slots for messages up to 32 bytes, holding
 * "msg 0" .. "msg <count - 1>". */
static struct shmkit_queue *create_mpmc(const char *uri, size_t cap, int count)
{
	struct shmkit_queue_opts o = { .capacity = cap, .max_msg = 32, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q = NULL;
	char buf[32];
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	for (int i = 0; q && i < count; i++) {
		int n = snprintf(buf, sizeof(buf), "msg %d", i);
		CHECK_OK(shmkit_queue_send(q, buf, (size_t)n, 0));
	}
	return q;
}

/* argv: uri first count: send `count` messages numbered from `first`, then
 * reserve one more, write half of it, and stop there. */
static int role_stuck_producer(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	int first = atoi(argv[1]), count = atoi(argv[2]);
	char buf[32];
	for (int i = first; i < first + count; i++) {
		int n = snprintf(buf, sizeof(buf), "msg %d", i);
		if (shmkit_queue_send(q, buf, (size_t)n, SHMKIT_FOREVER) < 0)
			return 3;
	}
	void *slot;
	if (shmkit_queue_reserve(q, 32, &slot, SHMKIT_FOREVER) < 0)
		return 4;
	memcpy(slot, "TORN", 4);
	raise(SIGSTOP); /* the parent kills us here */
	return 5;
}

/* argv: uri first count: send messages numbered from `first`. */
static int role_producer(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	int first = atoi(argv[1]), count = atoi(argv[2]);
	char buf[32];
	for (int i = first; i < first + count; i++) {
		int n = snprintf(buf, sizeof(buf), "msg %d", i);
		if (shmkit_queue_send(q, buf, (size_t)n, SHMKIT_FOREVER) < 0)
			return 3;
	}
	shmkit_queue_close(q);
	return 0;
}

/* argv: uri: peek one message and stop holding it. */
static int role_stuck_consumer(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	const void *p;
	if (shmkit_queue_peek(q, &p, SHMKIT_FOREVER) < 0)
		return 3;
	raise(SIGSTOP);
	return 5;
}

static void expect_msg(struct shmkit_queue *q, int i, int64_t timeout)
{
	char buf[32], want[32];
	int n = snprintf(want, sizeof(want), "msg %d", i);
	ssize_t got = shmkit_queue_recv(q, buf, sizeof(buf), timeout);
	CHECK_RET(got, n);
	if (got == n)
		CHECK(memcmp(buf, want, (size_t)n) == 0);
}

static pid_t spawn_stopped(const char *role, const char *const args[])
{
	pid_t pid = test_spawn_self(role, args);
	CHECK_RET(test_wait_stopped(pid, 10 * SEC), 0);
	return pid;
}

static void kill9(pid_t pid)
{
	kill(pid, SIGKILL);
	CHECK_RET(test_wait(pid), 128 + SIGKILL);
}

static void test_dead_producer_spsc(void)
{
	const char *uri = test_uri("posix", "deadprod-spsc");
	struct shmkit_queue_opts o = { .capacity = 8, .max_msg = 32 };
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));

	const char *args[] = { uri, "0", "3", NULL };
	pid_t pid = spawn_stopped("stuck_producer", args);
	for (int i = 0; i < 3; i++)
		expect_msg(q, i, 0);
	CHECK_RET(shmkit_queue_recv(q, (char[32]){ 0 }, 32, 0), -EAGAIN); /* never torn */
	kill9(pid);
	CHECK_RET(shmkit_queue_recv(q, (char[32]){ 0 }, 32, 20 * MS), -ETIMEDOUT);
	/* the next producer takes over the position the dead one reserved */
	const char *args2[] = { uri, "3", "10", NULL };
	pid = test_spawn_self("producer", args2);
	for (int i = 3; i < 13; i++)
		expect_msg(q, i, 10 * SEC);
	CHECK_RET(test_wait(pid), 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

static void test_dead_producer_mpmc(void)
{
	const char *uri = test_uri("posix", "deadprod-mpmc");
	struct shmkit_queue *q = create_mpmc(uri, 8, 0);
	struct shmkit_queue_stats st;

	const char *args[] = { uri, "0", "3", NULL };
	pid_t stuck = spawn_stopped("stuck_producer", args); /* holds position 3 */
	const char *args2[] = { uri, "4", "3", NULL };
	CHECK_RET(test_wait(test_spawn_self("producer", args2)), 0); /* positions 4..6 */
	for (int i = 0; i < 3; i++)
		expect_msg(q, i, 0);
	/* position 3 is reserved by a live (stopped) producer: we wait for it */
	CHECK_RET(shmkit_queue_recv(q, (char[32]){ 0 }, 32, 0), -EAGAIN);
	CHECK_RET(shmkit_queue_recv(q, (char[32]){ 0 }, 32, 50 * MS), -ETIMEDOUT);
	kill9(stuck);
	/* now its death is seen: the slot is skipped, never delivered torn */
	for (int i = 4; i < 7; i++)
		expect_msg(q, i, 10 * SEC);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.skipped == 1);
	CHECK(st.depth == 0);
	CHECK(st.received == 6);
	/* and the queue goes on through every slot, more than one lap */
	const char *args3[] = { uri, "7", "20", NULL };
	pid_t pid = test_spawn_self("producer", args3);
	for (int i = 7; i < 27; i++)
		expect_msg(q, i, 10 * SEC);
	CHECK_RET(test_wait(pid), 0);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

static void test_dead_consumer_mpmc(void)
{
	const char *uri = test_uri("posix", "deadcons-mpmc");
	struct shmkit_queue *q = create_mpmc(uri, 4, 4);
	struct shmkit_queue_stats st;
	const char *args[] = { uri, NULL };
	pid_t stuck = spawn_stopped("stuck_consumer", args); /* holds msg 0 */
	/* the others are not wedged: they receive the next messages */
	expect_msg(q, 1, 0);
	expect_msg(q, 2, 0);
	/* slots are reused in order: position 4 needs slot 0, still held */
	CHECK_RET(shmkit_queue_send(q, "msg 4", 5, 0), -EAGAIN);
	CHECK_RET(shmkit_queue_send(q, "msg 4", 5, 50 * MS), -ETIMEDOUT);
	kill9(stuck);
	expect_msg(q, 3, 0);
	/* a receive stuck on the held slot sees the holder dead: its message
	 * is handed back and received, then the sends go through */
	expect_msg(q, 0, 10 * SEC);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.abandoned == 1 && st.received == 4 && st.depth == 0);
	CHECK_RET(shmkit_queue_send(q, "msg 4", 5, 0), 0);
	CHECK_RET(shmkit_queue_send(q, "msg 5", 5, 0), 0);
	for (int i = 4; i < 6; i++)
		expect_msg(q, i, 0);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.abandoned == 1);
	CHECK(st.depth == 0 && st.sent == 6 && st.received == 6);

	/* a consumer killed asleep on an empty queue blocks nobody, and the
	 * sleeper bit it left costs the next sender one wake-up, no more */
	struct shmkit_seg *raw;
	CHECK_OK(shmkit_seg_open(&raw, uri, 0, 0, 0));
	struct shmkit__queue_shared *sh = (void *)((char *)shmkit_seg_addr(raw) + 4096);
	const char *args2[] = { uri, NULL };
	pid_t idle = test_spawn_self("stuck_consumer", args2);
	int64_t until = test_now_ns() + 10 * SEC;
	while (!(atomic_load(&sh->data_ec.word) & 1) && test_now_ns() < until)
		usleep(1000);
	CHECK(atomic_load(&sh->data_ec.word) & 1); /* it sleeps */
	kill9(idle);
	CHECK_OK(shmkit_queue_send(q, "msg 6", 5, 0));
	CHECK((atomic_load(&sh->data_ec.word) & 1) == 0); /* cleared by that send */
	expect_msg(q, 6, 0);
	CHECK_OK(shmkit_seg_close(raw));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* argv: uri first count: receive messages numbered from `first` in order;
 * 0 if all came, once each, and the queue is then empty. */
static int role_consumer(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	int first = atoi(argv[1]), count = atoi(argv[2]);
	char buf[32], want[32];
	for (int i = first; i < first + count; i++) {
		int n = snprintf(want, sizeof(want), "msg %d", i);
		if (shmkit_queue_recv(q, buf, sizeof(buf), 10 * SEC) != n || memcmp(buf, want, (size_t)n))
			return 3;
	}
	if (shmkit_queue_recv(q, buf, sizeof(buf), 0) != -EAGAIN)
		return 4;
	shmkit_queue_close(q);
	return 0;
}

/* argv: uri: receive one message (the parent stops us inside). */
static int role_recv1(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	char buf[32];
	return shmkit_queue_recv(q, buf, sizeof(buf), 10 * SEC) < 0 ? 3 : 0;
}

/* A consumer killed holding a message (peeked; or between the claim and the
 * move of the head hint): the next consumer process finds
 * its entry dead when it registers and receives that message first, then
 * the rest, each once, in order; nothing is counted lost. */
static void test_consumer_message_handed_back(void)
{
	static const struct {
		const char *point; /* NULL: a peek, then SIGSTOP */
		const char *role;
	} cases[] = {
		{ NULL, "stuck_consumer" },
		{ "queue.mpmc.claimed", "recv1" },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *uri = test_uri("posix", "handback");
		struct shmkit_queue *q = create_mpmc(uri, 8, 6);
		struct shmkit_queue_stats st;
		const char *args[] = { uri, NULL };
		pid_t pid = cases[c].point ? test_spawn_paused(cases[c].point, cases[c].role, args)
					   : spawn_stopped(cases[c].role, args);
		CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
		CHECK_OK(shmkit_queue_stats(q, &st));
		CHECK_RET(st.received, 1); /* claimed by the dead, not yet seen dead */
		const char *args2[] = { uri, "0", "6", NULL };
		CHECK_RET(test_wait(test_spawn_self("consumer", args2)), 0);
		CHECK_OK(shmkit_queue_stats(q, &st));
		CHECK_RET(st.abandoned, 1);
		CHECK(st.depth == 0 && st.sent == 6 && st.received == 6);
		CHECK_OK(shmkit_queue_close(q));
		CHECK_OK(shmkit_remove(uri));
	}
}

/* With one entry held by the caller, 63 more handles must fit. */
static void check_table_whole(const char *uri, struct shmkit_queue **h)
{
	int opened = 0;
	for (; opened < (int)SHMKIT__QUEUE_PEERS - 1; opened++) {
		CHECK_OK(shmkit_queue_open(&h[opened], uri));
		if (shmkit_queue_send(h[opened], "x", 1, 0) < 0) {
			CHECK(!"a peer entry was lost to a killed claimer");
			opened++;
			break;
		}
	}
	for (int i = 0; i < opened; i++)
		CHECK_OK(shmkit_queue_close(h[i]));
}

/* A process killed while it takes over a dead consumer's peer entry
 * (CLAIMING, before it handed back the message the dead held) or while it
 * claims a free entry: the entry is taken over in turn by the next process
 * that registers, the held message comes back once, and the table loses no
 * entry (before, a CLAIMING entry was left for ever: the message never came
 * back and the entry was lost). */
static void test_claimer_killed(void)
{
	const char *uri = test_uri("posix", "claimer");
	struct shmkit_queue *q = create_mpmc(uri, 128, 6), *h[SHMKIT__QUEUE_PEERS];
	struct shmkit_queue_stats st;
	const char *args[] = { uri, NULL };
	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.mpmc.claimed", "recv1", args)),
		  128 + SIGKILL);
	/* the next registrant stops inside its take-over of the dead entry */
	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.peer.claiming", "recv1", args)),
		  128 + SIGKILL);
	const char *args2[] = { uri, "0", "6", NULL };
	CHECK_RET(test_wait(test_spawn_self("consumer", args2)), 0);
	CHECK_OK(shmkit_queue_stats(q, &st));
	CHECK(st.depth == 0 && st.sent == 6 && st.received == 6 && st.abandoned == 1);
	/* killed claiming a free entry (after it wrote its identity) */
	CHECK_RET(test_kill_stopped(test_spawn_paused("queue.peer.claiming", "recv1", args)),
		  128 + SIGKILL);
	check_table_whole(uri, h);
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* Killed right after its CAS, before it wrote its identity: the entry names
 * its last owner (nobody on a new queue; or a live process that closed its
 * handle), so it is taken only when no other is left, after looking the
 * same for 100 ms; the table still holds 64 handles. */
static void test_claimer_killed_before_identity(void)
{
	for (int owned = 0; owned <= 1; owned++) {
		const char *uri = test_uri("posix", "claimer0");
		struct shmkit_queue *q = create_mpmc(uri, 128, 1), *h[SHMKIT__QUEUE_PEERS];
		if (owned) { /* entry 1 last owned by us, alive */
			CHECK_OK(shmkit_queue_open(&h[0], uri));
			CHECK_OK(shmkit_queue_send(h[0], "x", 1, 0));
			CHECK_OK(shmkit_queue_close(h[0]));
		}
		const char *args[] = { uri, NULL };
		CHECK_RET(test_kill_stopped(test_spawn_paused("queue.peer.claimed", "recv1", args)),
			  128 + SIGKILL);
		check_table_whole(uri, h);
		CHECK_OK(shmkit_queue_close(q));
		CHECK_OK(shmkit_remove(uri));
	}
}

/* argv: uri: register (a receive that need not find anything), then stop
 * ourselves for the parent to look at the peer table. */
static int role_register_stop(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	char buf[32];
	int r = shmkit_queue_recv(q, buf, sizeof(buf), 0);
	if (r < 0 && r != -EAGAIN)
		return 3;
	raise(SIGSTOP);
	return 0;
}

/* The peer entry of pid, or -1. */
static int entry_of(struct shmkit__queue_shared *sh, pid_t pid)
{
	for (unsigned k = 0; k < SHMKIT__QUEUE_PEERS; k++) {
		uint32_t st = atomic_load(&sh->peers[k].state);
		if ((st & 0xff) == SHMKIT__QPEER_LIVE && sh->peers[k].id.pid == (uint32_t)pid)
			return (int)k;
	}
	return -1;
}

static struct shmkit__queue_shared *raw_queue(struct shmkit_seg **raw, const char *uri)
{
	CHECK_OK(shmkit_seg_open(raw, uri, 0, 0, 0));
	return (void *)((char *)shmkit_seg_addr(*raw) + 4096);
}

/* A registrant that looked at a dead owner's entry, then lost it to another
 * registrant before its CAS, leaves that one's entry alone and takes
 * another; on a queue made before peer generations (flags without bit 3)
 * the same, by the identity check after the CAS, with state words 0/1/2. */
static void test_entry_changes_hands(void)
{
	for (int old = 0; old <= 1; old++) {
		const char *uri = test_uri("posix", "hands");
		struct shmkit_queue *q = create_mpmc(uri, 16, 0);
		struct shmkit_seg *raw;
		struct shmkit__queue_shared *sh = raw_queue(&raw, uri);
		CHECK(sh->flags & SHMKIT__QUEUE_F_PEERGEN);
		if (old)
			sh->flags &= ~SHMKIT__QUEUE_F_PEERGEN; /* as an older library made it */
		CHECK_OK(shmkit_queue_close(q));
		CHECK_OK(shmkit_queue_open(&q, uri));
		for (int i = 0; i < 4; i++)
			CHECK_OK(shmkit_queue_send(q, "m", 1, 0));
		const char *args[] = { uri, NULL };
		pid_t dead = test_spawn_paused("queue.mpmc.claimed", "recv1", args);
		int k = entry_of(sh, dead);
		CHECK(k >= 0);
		CHECK_RET(test_kill_stopped(dead), 128 + SIGKILL);
		pid_t a = test_spawn_paused("queue.peer.looked", "register_stop", args);
		pid_t b = test_spawn_self("register_stop", args);
		CHECK_OK(test_wait_stopped(b, 10 * SEC));
		CHECK_RET(entry_of(sh, b), k); /* b took the dead entry */
		kill(a, SIGCONT);
		CHECK_OK(test_wait_stopped(a, 10 * SEC));
		int ka = entry_of(sh, a);
		CHECK(ka >= 0 && ka != k);
		CHECK_RET(entry_of(sh, b), k);
		uint32_t st = atomic_load(&sh->peers[k].state);
		CHECK(old ? st == SHMKIT__QPEER_LIVE : st >> 8 >= 2); /* two claims of it */
		CHECK_RET(test_kill_stopped(a), 128 + SIGKILL);
		CHECK_RET(test_kill_stopped(b), 128 + SIGKILL);
		CHECK_OK(shmkit_seg_close(raw));
		CHECK_OK(shmkit_queue_close(q));
		CHECK_OK(shmkit_remove(uri));
	}
}

/* argv: uri: register as an MPMC peer (one send), then die without closing. */
static int role_peer_dies(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	struct shmkit_queue *q = open_q(argv[0]);
	if (shmkit_queue_send(q, "p", 1, SHMKIT_FOREVER) < 0)
		return 3;
	raise(SIGKILL);
	return 4;
}

/* The MPMC peer table has 64 entries: a 65th live handle waits for one
 * (-EAGAIN at once with timeout 0, -ETIMEDOUT no earlier than asked, a
 * detail naming the table and a holder), and entries of processes that
 * died are taken over. */
static void test_peer_table(void)
{
	const char *uri = test_uri("posix", "peers");
	struct shmkit_queue_opts o = { .capacity = 256, .max_msg = 8, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q[66];
	char buf[8];
	CHECK_OK(shmkit_queue_create(&q[0], uri, &o));
	CHECK_OK(shmkit_queue_send(q[0], "x", 1, 0));
	for (int i = 1; i < 64; i++) {
		CHECK_OK(shmkit_queue_open(&q[i], uri));
		CHECK_OK(shmkit_queue_send(q[i], "x", 1, 0));
	}
	CHECK_OK(shmkit_queue_open(&q[64], uri));
	CHECK_RET(shmkit_queue_send(q[64], "x", 1, 0), -EAGAIN);
	const char *detail = shmkit_last_error_detail();
	CHECK(detail && strstr(detail, "all 64 peer entries of this MPMC queue are held by live"));
	char pid[32];
	snprintf(pid, sizeof(pid), "(e.g. pid %d)", (int)getpid());
	CHECK(detail && strstr(detail, pid));
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_queue_send(q[64], "x", 1, 30000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 30000000);
	CHECK_RET(shmkit_queue_recv(q[64], buf, sizeof(buf), 0), -EAGAIN);
	CHECK_OK(shmkit_queue_close(q[63])); /* frees an entry */
	CHECK_OK(shmkit_queue_send(q[64], "x", 1, 0));
	CHECK_OK(shmkit_queue_close(q[62]));
	const char *args[] = { uri, NULL };
	CHECK_RET(test_wait(test_spawn_self("peer_dies", args)), 128 + SIGKILL);
	/* full again, one entry belongs to the dead child: ours to take */
	CHECK_OK(shmkit_queue_open(&q[65], uri));
	CHECK_OK(shmkit_queue_send(q[65], "x", 1, 0));
	int n = 0;
	while (shmkit_queue_recv(q[0], buf, sizeof(buf), 0) == 1)
		n++;
	CHECK(n == 67);
	for (int i = 0; i <= 65; i++)
		if (i != 62 && i != 63)
			CHECK_OK(shmkit_queue_close(q[i]));
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "stuck_producer", role_stuck_producer },
		{ "producer", role_producer },
		{ "stuck_consumer", role_stuck_consumer },
		{ "peer_dies", role_peer_dies },
		{ "consumer", role_consumer },
		{ "recv1", role_recv1 },
		{ "register_stop", role_register_stop },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	test_dead_producer_spsc();
	test_dead_producer_mpmc();
	test_dead_consumer_mpmc();
	test_consumer_message_handed_back();
	test_peer_table();
	test_claimer_killed();
	test_claimer_killed_before_identity();
	test_entry_changes_hands();
	return test_done();
}
