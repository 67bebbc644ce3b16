/* SPDX-License-Identifier: MIT */
/* Topics with real processes: fan-out to 1, 4 and 16 exec'd subscribers
 * (reliable: every index in order; lossy: exact gap accounting), late joiners,
 * a subscriber kill -9'ed mid-read that must not hold a reliable publisher
 * back, a killed publisher (-EPIPE after draining, then take-over), zero-copy
 * reads racing overwrite, a full subscriber table and its reclaim, and
 * corrupt segments. */
/* TIMEOUT: 120 */
#include "test.h"

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "layout.h"

/* Under sanitizers or valgrind: an order of magnitude fewer messages. */
static int scale(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 10;
#else
	return getenv("SHMKIT_UNDER_VALGRIND") ? 10 : 1;
#endif
}

#define SEC 1000000000ll
#define MSG_MAX 256

/* A message: its index, then bytes derived from it, then a checksum. */
static size_t make_msg(unsigned char *buf, uint64_t idx)
{
	size_t len = 16 + idx % (MSG_MAX - 16);
	memcpy(buf, &idx, 8);
	for (size_t i = 16; i < len; i++)
		buf[i] = (unsigned char)(idx * 31 + i);
	uint64_t sum = 0;
	for (size_t i = 16; i < len; i++)
		sum = sum * 131 + buf[i];
	memcpy(buf + 8, &sum, 8);
	return len;
}

/* 1 if buf holds the intact message with that length; its index in *idx. */
static int check_msg(const unsigned char *buf, size_t len, uint64_t *idx)
{
	uint64_t i, sum = 0, want;
	if (len < 16)
		return 0;
	memcpy(&i, buf, 8);
	memcpy(&want, buf + 8, 8);
	if (len != 16 + i % (MSG_MAX - 16))
		return 0;
	for (size_t k = 16; k < len; k++)
		sum = sum * 131 + buf[k];
	*idx = i;
	return sum == want;
}

static unsigned n_subs(const char *uri)
{
	struct shmkit_topic_info info;
	if (shmkit_topic_stat(uri, &info, NULL, 0) < 0)
		return 0;
	return info.n_subs;
}

/* Waits until the topic has `want` subscribers (they have joined). */
static void wait_subs(const char *uri, unsigned want)
{
	int64_t end = test_now_ns() + 10 * SEC;
	while (n_subs(uri) != want && test_now_ns() < end)
		usleep(1000);
	CHECK(n_subs(uri) == want);
}

/* ---- exec'd roles ---- */

/* argv: uri total reliable -> reads until -EPIPE and checks what it got. */
static int role_sub(int argc, char **argv)
{
	struct shmkit_sub *s;
	unsigned char buf[MSG_MAX];
	if (argc < 3)
		return 2;
	uint64_t total = strtoull(argv[1], NULL, 0);
	int reliable = atoi(argv[2]);
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	uint64_t next = 0, received = 0;
	for (;;) {
		uint64_t before = shmkit_sub_dropped(s), idx = 0;
		ssize_t n = shmkit_sub_recv(s, buf, sizeof(buf), 10 * SEC);
		if (n == -EPIPE)
			break;
		CHECK_OK(n);
		if (n < 0)
			break;
		CHECK(check_msg(buf, (size_t)n, &idx));
		if (reliable) {
			CHECK(idx == next);
		} else {
			CHECK(idx >= next);
			/* exactly the skipped indices are counted as dropped */
			CHECK(idx - next == shmkit_sub_dropped(s) - before);
		}
		next = idx + 1;
		received++;
		/* lossy subscribers are slow now and then, so they do lose some */
		if (!reliable && received % 512 == 0)
			usleep(200);
	}
	CHECK(received + shmkit_sub_dropped(s) == total);
	if (!reliable)
		printf("  lossy subscriber: %llu received + %llu dropped\n",
		       (unsigned long long)received, (unsigned long long)shmkit_sub_dropped(s));
	if (reliable)
		CHECK(received == total && shmkit_sub_dropped(s) == 0);
	CHECK_OK(shmkit_sub_close(s));
	return test_done();
}

/* argv: uri -> peeks one message, tells the parent (stdout pipe closed by
 * exit: we just stop ourselves) and waits to be killed while "reading". */
static int role_stuck_reader(int argc, char **argv)
{
	struct shmkit_sub *s;
	const void *msg;
	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	CHECK_OK(shmkit_sub_peek(s, &msg, 10 * SEC));
	raise(SIGSTOP); /* "mid-read": the parent kills us here */
	return 1;
}

/* argv: uri count -> becomes the publisher, sends count messages, then
 * stops itself so the parent can kill it (a publisher that dies). */
static int role_dying_pub(int argc, char **argv)
{
	struct shmkit_pub *p;
	unsigned char buf[MSG_MAX];
	if (argc < 2)
		return 2;
	uint64_t count = strtoull(argv[1], NULL, 0);
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	for (uint64_t i = 0; i < count; i++)
		CHECK_OK(shmkit_pub_send(p, buf, make_msg(buf, i), 10 * SEC));
	raise(SIGSTOP);
	return 1;
}

/* argv: uri seconds -> publishes checksummed messages as fast as it can. */
static int role_flood_pub(int argc, char **argv)
{
	struct shmkit_pub *p;
	if (argc < 2)
		return 2;
	int64_t end = test_now_ns() + (int64_t)(atof(argv[1]) * SEC);
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	for (uint64_t i = 0; test_now_ns() < end; i++) {
		void *buf;
		CHECK_OK(shmkit_pub_loan(p, MSG_MAX, &buf, 0));
		size_t len = make_msg(buf, i); /* written in place, in pieces */
		CHECK_OK(shmkit_pub_publish(p, buf, len));
		if (i % 256 == 255)
			usleep(20); /* now and then a breath, so some reads do finish */
	}
	CHECK_OK(shmkit_pub_close(p));
	return test_done();
}

/* argv: uri -> joins and exits without closing (a subscriber that dies). */
static int role_join_and_die(int argc, char **argv)
{
	struct shmkit_sub *s;
	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	_exit(0);
}

/* argv: uri count -> publishes count small messages, nothing else. */
static int role_quiet_pub(int argc, char **argv)
{
	struct shmkit_pub *p;
	if (argc < 2)
		return 2;
	uint64_t count = strtoull(argv[1], NULL, 0);
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	for (uint64_t i = 0; i < count; i++)
		CHECK_OK(shmkit_pub_send(p, &i, sizeof(i), 0));
	CHECK_OK(shmkit_pub_close(p));
	return test_done();
}

/* argv: uri count -> polls (timeout 0, never sleeps) until it has count
 * messages or the publisher is gone. */
static int role_poll_sub(int argc, char **argv)
{
	struct shmkit_sub *s;
	uint64_t buf, got = 0;
	if (argc < 2)
		return 2;
	uint64_t count = strtoull(argv[1], NULL, 0);
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	int64_t end = test_now_ns() + 30 * SEC;
	while (got < count && test_now_ns() < end) {
		ssize_t n = shmkit_sub_recv(s, &buf, sizeof(buf), 0);
		if (n == -EPIPE)
			break;
		if (n == sizeof(buf))
			got++;
	}
	CHECK(got + shmkit_sub_dropped(s) == count);
	CHECK_OK(shmkit_sub_close(s));
	return test_done();
}

/* argv: uri -> joins and waits (asleep) for a message that never comes. */
static int role_sleeper(int argc, char **argv)
{
	struct shmkit_sub *s;
	char buf[64];
	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_sub_open(&s, argv[0]));
	shmkit_sub_recv(s, buf, sizeof(buf), 60 * SEC);
	return 1;
}

/* argv: uri text -> becomes the publisher and sends text (a pause point
 * set by the parent stops it half-way). */
static int role_pub_once(int argc, char **argv)
{
	struct shmkit_pub *p;
	if (argc < 2)
		return 2;
	CHECK_OK(shmkit_pub_open(&p, argv[0]));
	CHECK_OK(shmkit_pub_send(p, argv[1], strlen(argv[1]), 0));
	return 1; /* never reached when paused and killed */
}

/* argv: uri -> becomes the publisher, then exits without closing. */
static int role_pub_claim(int argc, char **argv)
{
	struct shmkit_pub *p;
	if (argc < 1)
		return 2;
	return shmkit_pub_open(&p, argv[0]) == 0 ? 0 : 3;
}

static const struct test_role roles[] = {
	{ "pub_once", role_pub_once },
    {"sleeper", role_sleeper},
    {"quiet_pub", role_quiet_pub},
    {"poll_sub", role_poll_sub},
    {"sub", role_sub},
    {"stuck_reader", role_stuck_reader},
    {"dying_pub", role_dying_pub},
    {"flood_pub", role_flood_pub},
    {"join_and_die", role_join_and_die},
    {"pub_claim", role_pub_claim},
    {NULL, NULL},
};

/* ---- tests ---- */

static void test_basics(void)
{
	const char *uri = test_uri("posix", "basic");
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 8, .reliable = 1};
	struct shmkit_pub *p;
	struct shmkit_sub *s, *late;
	char buf[64];
	const void *msg;

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	struct shmkit_pub *p2;
	CHECK_RET(shmkit_pub_create(&p2, uri, &o), -EEXIST);
	CHECK(p2 == NULL); /* a failed create leaves NULL (shmkit(3), CONVENTIONS) */
	CHECK_RET(shmkit_pub_open(&p2, uri), -EBUSY);
	CHECK_OK(shmkit_sub_open(&s, uri));
	/* nothing yet */
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 30000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 30000000);
	/* in order, whole */
	CHECK_OK(shmkit_pub_send(p, "hello", 5, 0));
	CHECK_OK(shmkit_pub_send(p, "", 0, 0));
	CHECK_RET(shmkit_pub_send(p, buf, 65, 0), -EMSGSIZE);
	CHECK_RET(shmkit_sub_recv(s, buf, 3, 0), -EMSGSIZE); /* left in place */
	CHECK_RET(shmkit_sub_peek(s, &msg, 0), 5);
	CHECK(memcmp(msg, "hello", 5) == 0);
	/* held until release: a recv now would deliver it twice and drop the
	 * hold under the pointer (it did: release then said -EINVAL) */
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EBUSY);
	CHECK_OK(shmkit_sub_release(s));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 0);
	CHECK_RET(shmkit_sub_release(s), -EINVAL);
	/* zero-copy both ways */
	void *loan;
	CHECK_OK(shmkit_pub_loan(p, 64, &loan, 0));
	memcpy(loan, "zero-copy", 9);
	CHECK_OK(shmkit_pub_publish(p, loan, 9));
	CHECK_RET(shmkit_sub_peek(s, &msg, 0), 9);
	CHECK_RET(shmkit_sub_peek(s, &msg, 0), 9); /* same one again */
	CHECK(memcmp(msg, "zero-copy", 9) == 0);
	CHECK_OK(shmkit_sub_release(s));
	CHECK(shmkit_sub_position(s) == 3);
	/* a late joiner sees only what comes after it joined */
	CHECK_OK(shmkit_sub_open(&late, uri));
	CHECK_RET(shmkit_sub_recv(late, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_OK(shmkit_pub_send(p, "after", 5, 0));
	CHECK_RET(shmkit_sub_recv(late, buf, sizeof(buf), 0), 5);
	CHECK(memcmp(buf, "after", 5) == 0);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 5);
	/* reliable: a full ring waits for the slowest subscriber */
	for (int i = 0; i < 8; i++)
		CHECK_OK(shmkit_pub_send(p, "x", 1, 0));
	CHECK_RET(shmkit_pub_send(p, "x", 1, 0), -EAGAIN);
	t0 = test_now_ns();
	CHECK_RET(shmkit_pub_send(p, "x", 1, 20000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 20000000);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 1);
	CHECK_RET(shmkit_pub_send(p, "x", 1, 0), -EAGAIN); /* `late` still holds it */
	CHECK_RET(shmkit_sub_recv(late, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_pub_send(p, "x", 1, 0));
	/* a subscriber that leaves no longer holds the publisher back */
	CHECK_OK(shmkit_sub_close(late));
	CHECK_RET(shmkit_pub_send(p, "x", 1, 0), -EAGAIN);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_pub_send(p, "x", 1, 0));
	struct shmkit_topic_info info;
	struct shmkit_topic_sub_info si[4];
	CHECK_OK(shmkit_topic_stat(uri, &info, si, 4));
	CHECK(info.n_subs == 1 && info.published == 14 && info.reliable == 1);
	CHECK(info.pub_state == SHMKIT_TOPIC_PUB_ACTIVE && info.pub_alive == 1);
	CHECK(si[0].pid == getpid() && si[0].alive == 1 && si[0].position == 6);
	/* byte counters: 5+0+9+5+8x1+1+1 published; 5+0+9 (a release)+5+1+1 read */
	CHECK(info.bytes_published == 29 && si[0].bytes_received == 21);
	/* the publisher closes: drain, then -EPIPE */
	CHECK_OK(shmkit_pub_close(p));
	int got = 0;
	while (shmkit_sub_recv(s, buf, sizeof(buf), 0) >= 0)
		got++;
	CHECK(got == 8);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EPIPE);
	/* a new publisher takes over; the subscriber goes on */
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "again", 5, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 5);
	CHECK_OK(shmkit_topic_stat(uri, &info, si, 4));
	/* the new publisher's bytes add to its predecessor's */
	CHECK(info.bytes_published == 34 && si[0].bytes_received == 34);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_sub_close(s));
	/* bad arguments */
	struct shmkit_topic_opts bad = {.slot_size = 0, .slots = 8};
	CHECK_RET(shmkit_pub_create(&p, test_uri("posix", "bad"), &bad), -EINVAL);
	CHECK_RET(shmkit_sub_open(&s, test_uri("posix", "missing")), -ENOENT);
}

/* A reliable publisher whose full ring frees only one slot sends at once
 * into it: waiting for a little more room (spin_for_room) is bounded by the
 * spin time, never by the send's timeout, and never fails the send. */
/* A reliable publisher waits for a peeked message: a recv cannot take the
 * hold away while the pointer is in use (it did, and the next send wrote
 * over the peeked bytes). */
static void test_peek_holds_reliable(void)
{
	const char *uri = test_uri("posix", "peek-hold");
	struct shmkit_topic_opts o = { .slot_size = 32, .slots = 2, .reliable = 1 };
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	const void *msg;
	char buf[64];

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK_OK(shmkit_pub_send(p, "A", 1, 0));
	CHECK_OK(shmkit_pub_send(p, "B", 1, 0));
	CHECK_RET(shmkit_sub_peek(s, &msg, 0), 1);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EBUSY);
	CHECK_RET(shmkit_pub_send(p, "C", 1, 0), -EAGAIN); /* the ring is held */
	CHECK(*(const char *)msg == 'A');
	CHECK_OK(shmkit_sub_release(s));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 1);
	CHECK(buf[0] == 'B');
	CHECK_OK(shmkit_pub_send(p, "C", 1, 0));
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

static void test_room_of_one(void)
{
	const char *uri = test_uri("posix", "room1");
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 1024, .reliable = 1};
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	char buf[64];

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	for (uint64_t i = 0; i < 1024; i++)
		CHECK_OK(shmkit_pub_send(p, &i, sizeof(i), 0));
	CHECK_RET(shmkit_pub_send(p, "x", 1, 0), -EAGAIN);
	for (int round = 0; round < 3; round++) {
		uint64_t v = 0;
		CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), (ssize_t)sizeof(v));
		CHECK(v == (uint64_t)round);
		int64_t t0 = test_now_ns();
		uint64_t next = 1024 + (uint64_t)round;
		CHECK_OK(shmkit_pub_send(p, &next, sizeof(next), 2 * SEC));
		CHECK(test_now_ns() - t0 < SEC); /* not the timeout's 2 s */
		CHECK_RET(shmkit_pub_send(p, "x", 1, 0), -EAGAIN);
	}
	for (uint64_t i = 3; i < 1027; i++) {
		uint64_t v = 0;
		CHECK_RET(shmkit_sub_recv(s, &v, sizeof(v), 0), (ssize_t)sizeof(v));
		CHECK(v == i);
	}
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
}

/* A topic made without a publisher: subscribers wait for one, and a
 * publisher that closes then ends them with -EPIPE. */
static void test_no_publisher_yet(void)
{
	const char *uri = test_uri("posix", "nopub");
	struct shmkit_topic_opts o = {.slot_size = 32, .slots = 4};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	char buf[32];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 20000000), -ETIMEDOUT);
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_send(p, "a", 1, 0));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 1);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), -EPIPE);
	CHECK_OK(shmkit_sub_close(s));
}

static void fanout(int reliable, unsigned subs, uint64_t total)
{
	const char *uri = test_uri("posix", reliable ? "fan-rel" : "fan-lossy");
	struct shmkit_topic_opts o = {.slot_size = MSG_MAX, .slots = 64, .reliable = reliable};
	struct shmkit_pub *p;
	unsigned char buf[MSG_MAX];
	pid_t pids[16];
	char tot[32];

	snprintf(tot, sizeof(tot), "%llu", (unsigned long long)total);
	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	for (unsigned i = 0; i < subs; i++) {
		const char *args[] = {uri, tot, reliable ? "1" : "0", NULL};
		pids[i] = test_spawn_self("sub", args);
	}
	wait_subs(uri, subs);
	for (uint64_t i = 0; i < total; i++)
		CHECK_OK(shmkit_pub_send(p, buf, make_msg(buf, i), 10 * SEC));
	CHECK_OK(shmkit_pub_close(p));
	for (unsigned i = 0; i < subs; i++)
		CHECK(test_wait(pids[i]) == 0);
	printf("fanout %s x%u: %llu messages\n", reliable ? "reliable" : "lossy", subs,
	       (unsigned long long)total);
}

/* A reliable publisher held back by a subscriber that is killed while it
 * holds a message (peeked, not released): the publisher goes on. */
static void test_killed_subscriber(void)
{
	const char *uri = test_uri("posix", "killsub");
	struct shmkit_topic_opts o = {.slot_size = 32, .slots = 4, .reliable = 1};
	struct shmkit_pub *p;

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	const char *args[] = {uri, NULL};
	pid_t pid = test_spawn_self("stuck_reader", args);
	wait_subs(uri, 1);
	CHECK_OK(shmkit_pub_send(p, "m0", 2, 0));
	CHECK_OK(test_wait_stopped(pid, 10 * SEC)); /* it holds m0 */
	for (int i = 1; i < 4; i++)
		CHECK_OK(shmkit_pub_send(p, "m", 1, 0));
	/* alive (stopped): it does hold the publisher back */
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_pub_send(p, "m", 1, 50000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 50000000);
	/* killed mid-read (and not yet reaped by us: a zombie is dead too) */
	kill(pid, SIGKILL);
	t0 = test_now_ns();
	CHECK_OK(shmkit_pub_send(p, "m", 1, 2 * SEC));
	printf("publisher went on %.1f ms after the kill\n", (double)(test_now_ns() - t0) / 1e6);
	test_wait(pid);
	for (int i = 0; i < 10; i++)
		CHECK_OK(shmkit_pub_send(p, "m", 1, 0));
	CHECK(n_subs(uri) == 0);
	CHECK_OK(shmkit_pub_close(p));
}

/* A child forked with the publisher's handle that closes its copy: only the
 * copy closes (pubsub(3), a publisher shared by fork). Its close marked the
 * parent's live publication closed: the subscriber got -EPIPE while the
 * parent published on, and a second publisher could claim the topic. */
static void test_forked_publisher_close(void)
{
	const char *uri = test_uri("posix", "forkpub");
	struct shmkit_topic_opts o = {.slot_size = 32, .slots = 4};
	struct shmkit_pub *p, *other = NULL;
	struct shmkit_sub *s;
	char buf[32];

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(shmkit_pub_close(p) == 0 ? 0 : 1);
	CHECK(test_wait(pid) == 0);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN); /* not -EPIPE */
	CHECK_RET(shmkit_pub_open(&other, uri), -EBUSY);
	CHECK_OK(shmkit_pub_send(p, "still", 5, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 5);
	CHECK_OK(shmkit_pub_close(p)); /* the publisher's own close ends it */
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EPIPE);
	if (other)
		shmkit_pub_close(other);
	CHECK_OK(shmkit_sub_close(s));
	shmkit_remove(uri);
}

/* A subscriber killed while asleep on a lossy topic: the sleeper bit it
 * left costs the publisher's next send one wake-up, and no later send any;
 * its table entry goes to the next joiner that needs it. */
static void test_killed_sleeper(void)
{
	const char *uri = test_uri("posix", "sleeper");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 8, .max_subs = 1};
	struct shmkit_topic_sub_info si;
	struct shmkit_topic_info info;
	struct shmkit_pub *p;

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	const char *args[] = {uri, NULL};
	pid_t pid = test_spawn_self("sleeper", args);
	int64_t end = test_now_ns() + 10 * SEC;
	do {
		usleep(2000);
		CHECK_OK(shmkit_topic_stat(uri, &info, &si, 1));
	} while (!(info.n_subs == 1 && si.sleeping) && test_now_ns() < end);
	CHECK(info.n_subs == 1 && si.sleeping);
	/* "waiting" shows from the start of the wait; the futex sleep (its bit)
	 * comes after the spin */
	struct shmkit_seg *raw;
	CHECK_OK(shmkit_seg_open(&raw, uri, 0, 0, 0));
	struct shmkit__topic_shared *sh = (void *)((char *)shmkit_seg_addr(raw) + 4096);
	while (!(atomic_load(&sh->data_ec.word) & 1) && test_now_ns() < end)
		usleep(1000);
	kill(pid, SIGKILL);
	CHECK(test_wait(pid) == 128 + SIGKILL);
	CHECK(atomic_load(&sh->data_ec.word) & 1); /* the dead sleeper's bit */
	CHECK_OK(shmkit_pub_send(p, "x", 1, 0));
	CHECK((atomic_load(&sh->data_ec.word) & 3) == 0); /* cleared by that send */
	for (int i = 0; i < 300; i++)
		CHECK_OK(shmkit_pub_send(p, "x", 1, 0));
	CHECK_OK(shmkit_seg_close(raw));
	struct shmkit_sub *s;
	CHECK_OK(shmkit_sub_open(&s, uri)); /* takes the dead one's entry */
	CHECK_OK(shmkit_topic_stat(uri, &info, &si, 1));
	CHECK(info.n_subs == 1 && si.pid == getpid());
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
}

/* A publisher claim interrupted: one stopped (alive) after writing its
 * identity is never taken over (-EBUSY), and becomes the publisher when it
 * goes on (before, a claim older than 1 s was taken over and the stopped
 * claimer, once continued, stored ACTIVE too: two publishers); one killed
 * there is taken over at once; one killed before it wrote its identity,
 * once the claim has looked the same for a second. One stopped or killed
 * just after it became active, before it wrote act_ident, is judged by its
 * claim's identity: never taken over alive, at once dead. */
static void test_interrupted_publisher_claim(void)
{
	static const struct {
		const char *point;
		int kill;
	} cases[] = {
		{"topic.pub.claiming", 0},
		{"topic.pub.claiming", 1},
		{"topic.pub.claimed", 1},
		{"topic.pub.naming", 1},
		/* active, act_ident not yet written: judged by pub_ident */
		{"topic.pub.active", 0},
		{"topic.pub.active", 1},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *uri = test_uri("posix", "claimpub");
		struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4};
		struct shmkit_pub *p;
		CHECK_OK(shmkit_topic_create(uri, &o));
		const char *args[] = {uri, NULL};
		pid_t pid = test_spawn_paused(cases[c].point, "pub_claim", args);
		if (cases[c].kill) {
			CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
		} else {
			CHECK_RET(shmkit_pub_open(&p, uri), -EBUSY);
			kill(pid, SIGCONT);
			CHECK_RET(test_wait(pid), 0); /* it became the publisher, and died */
		}
		CHECK_OK(shmkit_pub_open(&p, uri));
		CHECK_OK(shmkit_pub_send(p, "m", 1, 0));
		CHECK_OK(shmkit_pub_close(p));
		CHECK_OK(shmkit_remove(uri));
	}
}

/* A claimer stopped after its claim and its last look at it
 * (topic.pub.naming), before it wrote its identity, is taken over once its
 * claim has looked the same for a second; continued, it writes its identity
 * over the new publisher's before its CAS fails (-EBUSY), and lives on.
 * The publisher's close must still end the publication: shmkit_pub_close
 * judged "a copy forked with the handle" by the shared identity, now the
 * stale claimer's, and marked nothing, so the subscriber waited (no
 * -EPIPE) while that process lived. */
extern int shmkit__test_armed;

struct stale_claimer {
	const char *uri;
	const char *point; /* where it stops: topic.pub.naming is past its last look */
	int rep_w, done_r;
};

static int claimer_stale(void *arg)
{
	struct stale_claimer *a = arg;
	struct shmkit_pub *p = NULL;
	char c;

	setenv("SHMKIT_TEST_PAUSE", a->point, 1);
	shmkit__test_armed = -1;
	int rc = shmkit_pub_open(&p, a->uri);
	unsetenv("SHMKIT_TEST_PAUSE");
	char r = rc == -EBUSY ? 'b' : rc == 0 ? 'y' : 'n';
	CHECK(write(a->rep_w, &r, 1) == 1);
	if (rc == 0)
		CHECK_OK(shmkit_pub_close(p));
	CHECK(read(a->done_r, &c, 1) == 1); /* lives on until told */
	return test_done();
}

static void test_close_after_stale_claimer(void)
{
	const char *uri = test_uri("posix", "h27f-stale-claimer");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4};
	struct stale_claimer a = {.uri = uri, .point = "topic.pub.naming"};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	int rep[2], done[2];
	char r = 0, buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK(pipe(rep) == 0 && pipe(done) == 0);
	a.rep_w = rep[1];
	a.done_r = done[0];
	pid_t x = test_fork(claimer_stale, &a);
	CHECK_OK(test_wait_stopped(x, 10 * SEC));
	CHECK_OK(shmkit_pub_open(&p, uri)); /* its claim taken over after 1 s */
	kill(x, SIGCONT);
	CHECK(read(rep[0], &r, 1) == 1);
	CHECK(r == 'b');
	CHECK_OK(shmkit_pub_send(p, "m", 1, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 1);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EPIPE);
	CHECK(write(done[1], "d", 1) == 1);
	CHECK_RET(test_wait(x), 0);
	CHECK_OK(shmkit_sub_close(s));
	close(rep[0]);
	close(rep[1]);
	close(done[0]);
	close(done[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* The same stale claimer, continued after the take-over, then gone (it got
 * -EBUSY and exited): its identity, written over the live publisher's, was
 * the one the topic named. Subscribers judged the publisher by it: -EPIPE
 * (and a readable descriptor) while the publisher lived and published, and
 * shmkit_pub_open() in another process took the topic over from it: two
 * publishers writing the same slots. */
static void test_stale_claimer_gone(void)
{
	const char *uri = test_uri("posix", "h28b-stale-gone");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4};
	struct stale_claimer a = {.uri = uri, .point = "topic.pub.naming"};
	struct shmkit_topic_info info;
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	int rep[2], done[2];
	char r = 0, buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK(shmkit_sub_fd(s) >= 0);
	CHECK(pipe(rep) == 0 && pipe(done) == 0);
	a.rep_w = rep[1];
	a.done_r = done[0];
	pid_t x = test_fork(claimer_stale, &a);
	CHECK_OK(test_wait_stopped(x, 10 * SEC));
	CHECK_OK(shmkit_pub_open(&p, uri)); /* its claim taken over after 1 s */
	kill(x, SIGCONT);
	CHECK(read(rep[0], &r, 1) == 1);
	CHECK(r == 'b');
	CHECK(write(done[1], "d", 1) == 1);
	CHECK_RET(test_wait(x), 0); /* the stale claimer is gone */
	CHECK_OK(shmkit_pub_send(p, "m", 1, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 1);
	/* the publisher lives: nothing to read is not the end */
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 100000000), -ETIMEDOUT);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
	CHECK(info.pub_pid == getpid() && info.pub_alive == 1);
	const char *args[] = {uri, NULL};
	CHECK_RET(test_wait(test_spawn_self("pub_claim", args)), 3); /* -EBUSY */
	CHECK_OK(shmkit_pub_send(p, "n", 1, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 1);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EPIPE);
	CHECK_OK(shmkit_sub_close(s));
	close(rep[0]);
	close(rep[1]);
	close(done[0]);
	close(done[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* A stale claimer (stopped after its claim, taken over, continued) that
 * read head before the new publisher published and finished "a dead
 * predecessor's publish" after: slot `head` was complete by then (the new
 * publisher's message), and it stored head + 1 over the publisher's later
 * head. head went backwards: shmkit stat said fewer published, a joiner
 * started before messages it never should see, and the next publisher
 * took over there, at indices the subscribers had read past: its messages
 * never reached them (neither received nor counted dropped). */
static int claimer_stale_recover(void *arg)
{
	struct stale_claimer *a = arg;
	struct shmkit_pub *p = NULL;

	setenv("SHMKIT_TEST_PAUSE", "topic.pub.naming,topic.pub.recover", 1);
	shmkit__test_armed = -1;
	int rc = shmkit_pub_open(&p, a->uri);
	char r = rc == -EBUSY ? 'b' : rc == 0 ? 'y' : 'n';
	CHECK(write(a->rep_w, &r, 1) == 1);
	if (rc == 0)
		shmkit_pub_close(p);
	return test_done();
}

static void test_stale_claimer_head(void)
{
	const char *uri = test_uri("posix", "h28b-stale-head");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 16};
	struct stale_claimer a = {.uri = uri};
	struct shmkit_topic_info info;
	struct shmkit_sub *s, *late;
	struct shmkit_pub *p;
	int rep[2];
	char r = 0, buf[16];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	CHECK(pipe(rep) == 0);
	a.rep_w = rep[1];
	pid_t x = test_fork(claimer_stale_recover, &a);
	CHECK_OK(test_wait_stopped(x, 10 * SEC)); /* at topic.pub.naming */
	CHECK_OK(shmkit_pub_open(&p, uri));	  /* its claim taken over after 1 s */
	kill(x, SIGCONT);
	CHECK_OK(test_wait_stopped(x, 10 * SEC)); /* at topic.pub.recover: read head 0 */
	for (int i = 0; i < 5; i++)
		CHECK_OK(shmkit_pub_send(p, "m", 1, 0));
	for (int i = 0; i < 5; i++)
		CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 1);
	kill(x, SIGCONT);
	CHECK(read(rep[0], &r, 1) == 1);
	CHECK(r == 'b');
	CHECK_RET(test_wait(x), 0);
	CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
	CHECK(info.published == 5);
	CHECK_OK(shmkit_sub_open(&late, uri));
	CHECK_RET(shmkit_sub_recv(late, buf, sizeof(buf), 0), -EAGAIN); /* nothing from before */
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK(shmkit_pub_published(p) == 5);
	CHECK_OK(shmkit_pub_send(p, "n", 1, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 1);
	CHECK(buf[0] == 'n' && shmkit_sub_dropped(s) == 0);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_sub_close(late));
	CHECK_OK(shmkit_sub_close(s));
	close(rep[0]);
	close(rep[1]);
	CHECK_OK(shmkit_remove(uri));
}

/* The stale claimer again (at topic.pub.naming), continued while the
 * publisher that took its claim over is stopped just after its CAS to
 * ACTIVE, before it named itself in act_ident (topic.pub.active): the
 * claimer wrote its identity over the publisher's pub_ident, got -EBUSY
 * and exited. The publisher was judged by that dead identity: subscribers
 * got -EPIPE (the descriptor watched the claimer's pidfd) and
 * shmkit_pub_open() took the topic over beside the live publisher: two
 * publishers. Now who publishes cannot be told until it names itself, and
 * meanwhile it is never judged dead; named, it wakes the descriptors,
 * which then watch its pidfd. Killed in that window (`kill_unnamed`, a
 * double fault) it stays unnamed: the topic keeps -EBUSY until it is
 * removed and made again (pubsub(3)). */
static int poll_in(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, ms);
}

static pid_t stop_unnamed_publisher(const char *uri, struct stale_claimer *a, int rep_r,
				    int done_w)
{
	const char *args[] = {uri, "0", NULL};
	char r = 0;

	pid_t x = test_fork(claimer_stale, a);
	CHECK_OK(test_wait_stopped(x, 10 * SEC)); /* at a->point */
	/* takes the claim over after 1 s, stops after its CAS to ACTIVE */
	pid_t pub = test_spawn_paused("topic.pub.active", "dying_pub", args);
	kill(x, SIGCONT);
	CHECK(read(rep_r, &r, 1) == 1);
	CHECK(r == 'b');
	CHECK(write(done_w, "d", 1) == 1);
	CHECK_RET(test_wait(x), 0); /* gone (from topic.pub.naming: named in pub_ident) */
	return pub;
}

/* What the tests of a publisher stopped unnamed share: the topic a->uri,
 * its subscriber u->s (and its descriptor in *fd, made first, when fd is
 * not NULL), and the publisher u->pub stopped by stop_unnamed_publisher
 * behind the stale claimer a, which lives on until told through the pipes. */
struct unnamed {
	struct shmkit_sub *s;
	int rep[2], done[2];
	pid_t pub;
};

static void unnamed_begin(struct unnamed *u, const struct shmkit_topic_opts *o,
			  struct stale_claimer *a, int *fd)
{
	CHECK_OK(shmkit_topic_create(a->uri, o));
	CHECK_OK(shmkit_sub_open(&u->s, a->uri));
	if (fd) {
		*fd = shmkit_sub_fd(u->s);
		CHECK(*fd >= 0);
	}
	CHECK(pipe(u->rep) == 0 && pipe(u->done) == 0);
	a->rep_w = u->rep[1];
	a->done_r = u->done[0];
	u->pub = stop_unnamed_publisher(a->uri, a, u->rep[0], u->done[1]);
}

/* ... and how they end: p, the publisher the topic has now, reaches the
 * subscriber; then everything goes. */
static void unnamed_end(struct unnamed *u, const char *uri, struct shmkit_pub *p)
{
	char buf[16];

	CHECK_OK(shmkit_pub_send(p, "m", 1, 0));
	CHECK_RET(shmkit_sub_recv(u->s, buf, sizeof(buf), SEC), 1);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_sub_close(u->s));
	close(u->rep[0]);
	close(u->rep[1]);
	close(u->done[0]);
	close(u->done[1]);
	CHECK_OK(shmkit_remove(uri));
}

static void test_unnamed_publisher(int kill_unnamed)
{
	const char *uri = test_uri("posix", "h30a-unnamed");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4};
	struct stale_claimer a = {.uri = uri, .point = "topic.pub.naming"};
	struct shmkit_topic_info info;
	struct unnamed u;
	struct shmkit_pub *p;
	int fd, rc;
	char buf[16];

	unnamed_begin(&u, &o, &a, &fd);
	if (kill_unnamed)
		CHECK_RET(test_kill_stopped(u.pub), 128 + SIGKILL);
	/* alive or not, it may be: not gone, never taken over */
	CHECK_RET(shmkit_sub_recv(u.s, buf, sizeof(buf), 0), -EAGAIN); /* armed */
	CHECK(poll_in(fd, 100) == 0);
	CHECK_RET(shmkit_sub_recv(u.s, buf, sizeof(buf), 100000000), -ETIMEDOUT);
	CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
	CHECK(info.pub_state == SHMKIT_TOPIC_PUB_ACTIVE && info.pub_pid == 0 &&
	      info.pub_alive < 0);
	rc = shmkit_pub_open(&p, uri);
	CHECK_RET(rc, -EBUSY);
	if (rc == 0)
		shmkit_pub_close(p);
	if (kill_unnamed) { /* the remedy: remove the topic, make it again */
		CHECK_OK(shmkit_sub_close(u.s));
		CHECK_OK(shmkit_remove(uri));
		CHECK_OK(shmkit_pub_create(&p, uri, &o));
		CHECK_OK(shmkit_sub_open(&u.s, uri));
	} else {
		CHECK_RET(shmkit_sub_recv(u.s, buf, sizeof(buf), 0), -EAGAIN); /* armed */
		kill(u.pub, SIGCONT); /* names itself, then stops (dying_pub) */
		CHECK_OK(test_wait_stopped(u.pub, 10 * SEC));
		CHECK(poll_in(fd, 5000) == 1); /* woken to look again */
		CHECK_RET(shmkit_sub_recv(u.s, buf, sizeof(buf), 0), -EAGAIN);
		CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
		CHECK(info.pub_pid == u.pub && info.pub_alive == 1);
		CHECK_RET(shmkit_pub_open(&p, uri), -EBUSY);
		kill(u.pub, SIGKILL);
		CHECK_RET(test_wait(u.pub), 128 + SIGKILL);
		if (test_have_pidfd())
			CHECK(poll_in(fd, 5000) == 1); /* its pidfd */
		CHECK_RET(shmkit_sub_recv(u.s, buf, sizeof(buf), 5 * SEC), -EPIPE);
		CHECK_OK(shmkit_pub_open(&p, uri)); /* dead and named: taken over */
	}
	unnamed_end(&u, uri, p);
}

/* The stale claimer stopped before its last look at its claim
 * (topic.pub.claimed), taken over by a publisher stopped after its CAS to
 * ACTIVE, before act_ident, then continued: it sees its claim gone and
 * writes nothing. Before that look it wrote its identity over the
 * publisher's pub_ident: who published could not be told (pid 0 in stat),
 * and killed there the publisher stayed unnamed for good (-EBUSY, no
 * -EPIPE). Now it is judged by its own claim's identity: named at once,
 * alive never taken over, killed taken over at once. */
static void test_stale_claimer_silent(void)
{
	const char *uri = test_uri("posix", "h30e-silent");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4};
	struct stale_claimer a = {.uri = uri, .point = "topic.pub.claimed"};
	const char *args[] = {uri, NULL};
	struct shmkit_topic_info info;
	struct unnamed u;
	struct shmkit_pub *p = NULL; /* a failed open leaves it */
	char buf[16];

	unnamed_begin(&u, &o, &a, NULL);
	CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
	CHECK(info.pub_state == SHMKIT_TOPIC_PUB_ACTIVE && info.pub_pid == u.pub &&
	      info.pub_alive == 1);
	CHECK_RET(test_wait(test_spawn_self("pub_claim", args)), 3); /* -EBUSY */
	CHECK_RET(shmkit_sub_recv(u.s, buf, sizeof(buf), 0), -EAGAIN);
	CHECK_RET(test_kill_stopped(u.pub), 128 + SIGKILL);
	CHECK_RET(shmkit_sub_recv(u.s, buf, sizeof(buf), 5 * SEC), -EPIPE);
	CHECK_OK(shmkit_pub_open(&p, uri)); /* dead, named by its claim: taken over */
	unnamed_end(&u, uri, p);
}

/* The publisher dies: subscribers drain, then -EPIPE; a new one takes over. */
static void test_killed_publisher(void)
{
	const char *uri = test_uri("posix", "killpub");
	struct shmkit_topic_opts o = {.slot_size = MSG_MAX, .slots = 16};
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	unsigned char buf[MSG_MAX];
	uint64_t idx = 0;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	const char *args[] = {uri, "10", NULL};
	pid_t pid = test_spawn_self("dying_pub", args);
	CHECK_OK(test_wait_stopped(pid, 10 * SEC));
	CHECK_RET(shmkit_pub_open(&p, uri), -EBUSY); /* alive: never stolen */
	kill(pid, SIGKILL);
	CHECK(test_wait(pid) == 128 + SIGKILL);
	for (uint64_t i = 0; i < 10; i++) {
		ssize_t n = shmkit_sub_recv(s, buf, sizeof(buf), 5 * SEC);
		CHECK_OK(n);
		CHECK(n > 0 && check_msg(buf, (size_t)n, &idx) && idx == i);
	}
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 5 * SEC), -EPIPE);
	CHECK(test_now_ns() - t0 < 5 * SEC);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EPIPE);
	CHECK_OK(shmkit_pub_open(&p, uri)); /* take over from the dead one */
	CHECK(shmkit_pub_published(p) == 10);
	CHECK_OK(shmkit_pub_send(p, buf, make_msg(buf, 10), 0));
	CHECK(shmkit_sub_recv(s, buf, sizeof(buf), SEC) > 0);
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_sub_close(s));
}

/* A publisher killed inside publish: at `point` ("topic.loaned": the slot
 * marked but not written; "topic.published_slot": the slot complete but head
 * not moved on). Subscribers get what was completed, exactly once, then
 * -EPIPE; a new publisher goes on without a duplicate or a hole. */
static void killed_mid_publish(const char *point, int completed)
{
	const char *uri = test_uri("posix", "midpub");
	struct shmkit_topic_opts o = { .slot_size = 32, .slots = 4 };
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	char buf[32];

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	const char *args[] = { uri, "first", NULL };
	pid_t pid = test_spawn_paused(point, "pub_once", args);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	if (completed) {
		CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 5);
		CHECK(memcmp(buf, "first", 5) == 0);
	}
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 5 * SEC), -EPIPE);
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK(shmkit_pub_published(p) == (uint64_t)completed);
	CHECK_OK(shmkit_pub_send(p, "second", 6, 0));
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), SEC), 6);
	CHECK(memcmp(buf, "second", 6) == 0);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EAGAIN);
	CHECK(shmkit_sub_dropped(s) == 0);
	/* the finished publish was counted by the killed publisher */
	struct shmkit_topic_info info;
	CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
	CHECK(info.bytes_published == (uint64_t)(completed ? 5 + 6 : 6));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_sub_close(s));
}

/* Zero-copy reads racing a flooding publisher on a tiny lossy ring: every
 * release that says intact had intact bytes; copies are never torn. */
static void test_zero_copy_race(void)
{
	const char *uri = test_uri("posix", "race");
	struct shmkit_topic_opts o = {.slot_size = MSG_MAX, .slots = 4};
	struct shmkit_sub *s;
	unsigned char buf[MSG_MAX];
	uint64_t good = 0, stale = 0, copies = 0, idx = 0, last = 0;
	int first = 1;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	const char *args[] = {uri, scale() > 1 ? "1.5" : "1.0", NULL};
	pid_t pid = test_spawn_self("flood_pub", args);
	for (;;) {
		const void *msg;
		ssize_t n = shmkit_sub_peek(s, &msg, 10 * SEC);
		if (n == -EPIPE)
			break;
		CHECK_OK(n);
		if (n < 0)
			break;
		memcpy(buf, msg, (size_t)n); /* read all of it, racing the writer */
		int ok = check_msg(buf, (size_t)n, &idx);
		if (shmkit_sub_release(s) == 0) {
			CHECK(ok);
			CHECK(first || idx > last);
			first = 0;
			last = idx;
			good++;
		} else {
			stale++;
		}
		/* every other message by copy */
		n = shmkit_sub_recv(s, buf, sizeof(buf), 0);
		if (n >= 0) {
			CHECK(check_msg(buf, (size_t)n, &idx) && idx > last);
			last = idx;
			copies++;
		}
	}
	CHECK(test_wait(pid) == 0);
	printf("zero-copy race: %llu intact, %llu stale, %llu copies, %llu dropped\n",
	       (unsigned long long)good, (unsigned long long)stale, (unsigned long long)copies,
	       (unsigned long long)shmkit_sub_dropped(s));
	CHECK(good > 0);
	CHECK(good + copies + shmkit_sub_dropped(s) == shmkit_sub_position(s));
	CHECK_OK(shmkit_sub_close(s));
}

static unsigned char *map_body(const char *uri, struct shmkit_seg **seg);

static void test_table_full(void)
{
	const char *uri = test_uri("posix", "full");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 4, .max_subs = 3};
	struct shmkit_sub *s[3], *extra;

	CHECK_OK(shmkit_topic_create(uri, &o));
	CHECK_OK(shmkit_sub_open(&s[0], uri));
	CHECK_OK(shmkit_sub_open(&s[1], uri));
	const char *args[] = {uri, NULL};
	CHECK(test_wait(test_spawn_self("join_and_die", args)) == 0);
	CHECK(n_subs(uri) == 3);
	/* the dead one's entry is taken back */
	CHECK_OK(shmkit_sub_open(&s[2], uri));
	CHECK_RET(shmkit_sub_open(&extra, uri), -ENOSPC);
	CHECK_OK(shmkit_sub_close(s[1]));
	CHECK_OK(shmkit_sub_open(&s[1], uri));
	/* a joiner killed half-way through its claim: its entry comes back too */
	CHECK_OK(shmkit_sub_close(s[2]));
	pid_t pid = test_spawn_paused("topic.claimed", "join_and_die", args);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_OK(shmkit_sub_open(&s[2], uri));
	/* the spin hint counts the three live ones (reaping the dead claim,
	 * never counted in, once took one off) */
	struct shmkit_seg *seg;
	CHECK_RET(atomic_load(&((struct shmkit__topic_shared *)map_body(uri, &seg))->n_subs), 3);
	CHECK_OK(shmkit_seg_close(seg));
	/* a joiner killed before it wrote its identity: the entry still names
	 * its last subscriber (us, alive), and is freed when the table is full
	 * and the claim has not moved for 100 ms */
	CHECK_OK(shmkit_sub_close(s[2]));
	pid = test_spawn_paused("topic.sub.claimed", "join_and_die", args);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_OK(shmkit_sub_open(&s[2], uri));
	for (int i = 0; i < 3; i++)
		CHECK_OK(shmkit_sub_close(s[i]));
	CHECK(n_subs(uri) == 0);
}

/* The bytes of the topic body, for corrupting. */
static unsigned char *map_body(const char *uri, struct shmkit_seg **seg)
{
	CHECK_OK(shmkit_seg_open(seg, uri, 0, 0, 0));
	return (unsigned char *)shmkit_seg_addr(*seg) + SHMKIT__HEADER_SIZE;
}

/* The slot stride (LAYOUT.md "Topic"): a multiple of 16, room for the
 * header and the message, no slot on more cache lines than its bytes need,
 * and the shortest such; checked for every slot size up to 300 and two
 * large ones, with the literal values LAYOUT.md gives for 8, 32 and 64. */
static uint64_t stride_of(uint64_t slot_size)
{
	static const char *uri; /* one name, made and removed for each size */

	if (!uri)
		uri = test_uri("posix", "stride");
	struct shmkit_topic_opts o = {.slot_size = (size_t)slot_size, .slots = 2, .max_subs = 1};
	struct shmkit_seg *seg;

	CHECK_OK(shmkit_topic_create(uri, &o));
	uint64_t stride = ((struct shmkit__topic_shared *)map_body(uri, &seg))->slot_stride;
	shmkit_seg_close(seg);
	CHECK_OK(shmkit_remove(uri));
	return stride;
}

static void test_slot_stride(void)
{
	for (uint64_t size = 1; size <= 300; size++)
		CHECK(test_shortest_stride(stride_of(size), SHMKIT__TOPIC_SLOT_HDR + size));
	CHECK(test_shortest_stride(stride_of(1008), SHMKIT__TOPIC_SLOT_HDR + 1008));
	CHECK(test_shortest_stride(stride_of(1024), SHMKIT__TOPIC_SLOT_HDR + 1024));
	CHECK(stride_of(8) == 32);
	CHECK(stride_of(32) == 64);
	CHECK(stride_of(64) == 80);
}

/* Every message intact through a ring whose slots share cache lines, in
 * both kinds, with the subscriber up to `slots` behind. */
static void test_straddling_slots(int reliable)
{
	const char *uri = test_uri("posix", "straddle");
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 8, .reliable = reliable};
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	unsigned char msg[64], got[64];

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	uint64_t sent = 0, recvd = 0;
	for (int round = 0; round < 50; round++) {
		for (int k = 0; k < 1 + round % 8; k++, sent++) {
			for (size_t i = 0; i < sizeof(msg); i++)
				msg[i] = (unsigned char)(sent * 7 + i);
			CHECK_OK(shmkit_pub_send(p, msg, 1 + sent % 64, 0));
		}
		ssize_t n;
		while ((n = shmkit_sub_recv(s, got, sizeof(got), 0)) >= 0) {
			int intact = n == (ssize_t)(1 + recvd % 64);
			for (ssize_t i = 0; intact && i < n; i++)
				intact = got[i] == (unsigned char)(recvd * 7 + (uint64_t)i);
			CHECK(intact);
			recvd++;
		}
		CHECK(n == -EAGAIN);
	}
	CHECK(recvd == sent && shmkit_sub_dropped(s) == 0);
	shmkit_sub_close(s);
	shmkit_pub_close(p);
	CHECK_OK(shmkit_remove(uri));
}

/* A topic made before slots could share lines (stride round_up(16 + size,
 * 64)) still opens and works; any other stride is refused. */
static void test_line_stride_accepted(void)
{
	const char *uri = test_uri("posix", "oldstride");
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 8, .reliable = 1};
	struct shmkit_seg *seg;
	struct shmkit_pub *p;
	struct shmkit_sub *s;
	unsigned char msg[64], got[64];

	/* 8 slots of 80 bytes hold the body of 4 slots of 128 */
	CHECK_OK(shmkit_topic_create(uri, &o));
	unsigned char *body = map_body(uri, &seg);
	struct shmkit__topic_shared *sh = (void *)body;
	sh->slots = 4;
	sh->slot_stride = 96;
	sh->body_size = sh->ring_off + 4 * 96;
	CHECK_RET(shmkit_sub_open(&s, uri), -EBADMSG);
	sh->slot_stride = 128;
	sh->body_size = sh->ring_off + 4 * 128;
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_sub_open(&s, uri));
	for (uint64_t i = 0; i < 10; i++) {
		memset(msg, (int)(0x40 + i), sizeof(msg));
		CHECK_OK(shmkit_pub_send(p, msg, sizeof(msg), 0));
		/* message i in slot i % 4 at the stored stride */
		CHECK(body[sh->ring_off + (i % 4) * 128 + SHMKIT__TOPIC_SLOT_HDR + 63] == 0x40 + i);
		CHECK_RET(shmkit_sub_recv(s, got, sizeof(got), 0), 64);
		CHECK(memcmp(got, msg, sizeof(msg)) == 0);
	}
	shmkit_sub_close(s);
	shmkit_pub_close(p);
	shmkit_seg_close(seg);
	CHECK_OK(shmkit_remove(uri));
}

static void test_corruption(void)
{
	const char *uri = test_uri("posix", "corrupt");
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 4, .reliable = 1};
	struct shmkit_pub *p;
	struct shmkit_sub *s, *s2;
	struct shmkit_seg *seg;
	char buf[64];

	CHECK_OK(shmkit_pub_create(&p, uri, &o));
	CHECK_OK(shmkit_sub_open(&s, uri));
	unsigned char *body = map_body(uri, &seg);
	struct shmkit__topic_shared *sh = (void *)body;
	struct shmkit__topic_sub_shared *subs = (void *)(body + sh->subs_off);
	struct shmkit__topic_slot *slot0 = (void *)(body + sh->ring_off);

	/* geometry: refused at open */
	uint64_t saved = sh->slot_size;
	sh->slot_size = 1ull << 40;
	CHECK_RET(shmkit_sub_open(&s2, uri), -EBADMSG);
	sh->slot_size = 200; /* a stride that does not match */
	CHECK_RET(shmkit_sub_open(&s2, uri), -EBADMSG);
	sh->slot_size = saved;
	saved = sh->ring_off;
	sh->ring_off = 1ull << 50;
	CHECK_RET(shmkit_sub_open(&s2, uri), -EBADMSG);
	sh->ring_off = saved;
	/* a length past the slot */
	CHECK_OK(shmkit_pub_send(p, "ok", 2, 0));
	atomic_store(&slot0->len, 1u << 20);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EBADMSG);
	const void *msg;
	CHECK_RET(shmkit_sub_peek(s, &msg, 0), -EBADMSG);
	atomic_store(&slot0->len, 2);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), 2);
	/* a slot naming a message past head */
	struct shmkit__topic_slot *slot1 = (void *)(body + sh->ring_off + sh->slot_stride);
	atomic_store(&slot1->seq, 1000001);
	CHECK_RET(shmkit_sub_recv(s, buf, sizeof(buf), 0), -EBADMSG);
	atomic_store(&slot1->seq, 0);
	/* a subscriber position past head: the reliable publisher refuses */
	uint64_t pos = atomic_load(&subs[0].pos);
	for (int i = 0; i < 4; i++)
		CHECK_OK(shmkit_pub_send(p, "f", 1, 0));
	atomic_store(&subs[0].pos, 1ull << 60);
	CHECK_RET(shmkit_pub_send(p, "f", 1, 0), -EBADMSG);
	atomic_store(&subs[0].pos, pos);
	/* a publisher state that means nothing */
	CHECK_OK(shmkit_pub_close(p));
	uint64_t st = atomic_load(&sh->pub_state);
	atomic_store(&sh->pub_state, 0xffull);
	CHECK_RET(shmkit_pub_open(&p, uri), -EBADMSG);
	atomic_store(&sh->pub_state, st);
	/* garbage everywhere in the tables: no crash, no hang */
	for (uint32_t i = 0; i < sh->max_subs; i++)
		memset(&subs[i], 0xa5, sizeof(subs[i]));
	for (uint64_t i = 0; i < 4; i++)
		memset(body + sh->ring_off + i * sh->slot_stride, 0x5a, (size_t)sh->slot_stride);
	atomic_store(&sh->head, 3);
	ssize_t n = shmkit_sub_recv(s, buf, sizeof(buf), 10000000);
	CHECK(n == -EBADMSG || n == -ETIMEDOUT || n == -EPIPE);
	CHECK_RET(shmkit_sub_open(&s2, uri), -ENOSPC);
	struct shmkit_topic_info info;
	CHECK_OK(shmkit_topic_stat(uri, &info, NULL, 0));
	shmkit_sub_close(s);
	shmkit_seg_close(seg);
	/* a segment of another kind */
	const char *raw = test_uri("posix", "raw");
	struct shmkit_seg *plain;
	CHECK_OK(shmkit_seg_open(&plain, raw, 65536, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	memset(shmkit_seg_addr(plain), 0x77, 65536);
	CHECK_RET(shmkit_sub_open(&s2, raw), -EBADMSG);
	shmkit_seg_close(plain);
}

/* Publishing makes no system call while no subscriber sleeps: the
 * publisher runs under strace while a subscriber polls without sleeping. */
static void test_no_syscall_publish(void)
{
	const char *uri = test_uri("posix", "quiet");
	struct shmkit_topic_opts o = {.slot_size = 16, .slots = 1024};
	char exe[4096], out[256], trace[128];
	const char *count = scale() > 1 ? "2000" : "20000";

	if (test_sh_capture(out, sizeof(out), "strace -o /dev/null true 2>&1") != 0) {
		printf("no-syscall check skipped: strace cannot run here\n");
		return;
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(trace, sizeof(trace), "/tmp/shmkit-test-%d-strace", (int)getpid());
	CHECK_OK(shmkit_topic_create(uri, &o));
	const char *args[] = {uri, count, NULL};
	pid_t sub = test_spawn_self("poll_sub", args);
	wait_subs(uri, 1);
	/* LeakSanitizer cannot run under a tracer: leaks are checked elsewhere */
	CHECK(test_sh("ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=futex -o %s "
		      "%s --role quiet_pub %s %s",
		      trace, exe, uri, count) == 0);
	CHECK(test_wait(sub) == 0);
	CHECK(test_sh_capture(out, sizeof(out), "grep -c FUTEX_WAKE %s", trace) >= 0);
	printf("futex wake-ups by a publisher of %s messages to a polling subscriber: %s", count,
	       out);
	CHECK(atoi(out) == 0);
	unlink(trace);
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_basics();
	test_peek_holds_reliable();
	test_room_of_one();
	test_no_publisher_yet();
	fanout(1, 1, 40000 / (uint64_t)scale());
	fanout(1, 4, 20000 / (uint64_t)scale());
	fanout(1, 16, 5000 / (uint64_t)scale());
	fanout(0, 1, 40000 / (uint64_t)scale());
	fanout(0, 4, 20000 / (uint64_t)scale());
	fanout(0, 16, 5000 / (uint64_t)scale());
	test_killed_subscriber();
	test_forked_publisher_close();
	test_killed_sleeper();
	test_killed_publisher();
	test_interrupted_publisher_claim();
	test_close_after_stale_claimer();
	test_stale_claimer_gone();
	test_stale_claimer_head();
	test_unnamed_publisher(0);
	test_unnamed_publisher(1);
	test_stale_claimer_silent();
	killed_mid_publish("topic.loaned", 0);
	killed_mid_publish("topic.published_slot", 1);
	test_zero_copy_race();
	test_table_full();
	test_slot_stride();
	test_straddling_slots(1);
	test_straddling_slots(0);
	test_line_stride_accepted();
	test_corruption();
	test_no_syscall_publish();
	return test_done();
}
