/* SPDX-License-Identifier: MIT */
/* The wake-up core's barrier mode (src/sync/barrier.h): the creator records
 * it (SHMKIT_WAKE_BARRIER forces it), a corrupt one is refused at open, and
 * an object switched from MEMBARRIER to FENCE while two processes ping-pong
 * through it with sleeping waits loses no wake-up. */
/* TIMEOUT: 120 */
#include "test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "layout.h"

#define SEC 1000000000ll
#define ROUNDS 20000

static struct shmkit__queue_shared *body(struct shmkit_queue *q)
{
	return (void *)((char *)shmkit_seg_addr(shmkit_queue_seg(q)) + 4096);
}

static const char *create(const char *tag, const char *mode)
{
	const char *uri = test_uri("posix", tag);
	struct shmkit_queue_opts o = {.capacity = 4, .max_msg = 8};
	struct shmkit_queue *q;
	setenv("SHMKIT_WAKE_BARRIER", mode, 1);
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	unsetenv("SHMKIT_WAKE_BARRIER");
	CHECK_OK(shmkit_queue_close(q));
	return uri;
}

static void test_recorded(void)
{
	struct shmkit_queue *q;
	const char *uri = create("fence", "fence");
	CHECK_OK(shmkit_queue_open(&q, uri));
	CHECK(atomic_load(&body(q)->data_ec.mode) == 0);
	CHECK(atomic_load(&body(q)->space_ec.mode) == 0);
	atomic_store(&body(q)->data_ec.mode, 7); /* scribbled */
	struct shmkit_queue *q2;
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	CHECK_OK(shmkit_queue_close(q));
	uri = create("membarrier", "membarrier");
	CHECK_OK(shmkit_queue_open(&q, uri));
	uint32_t m = atomic_load(&body(q)->data_ec.mode);
	printf("membarrier requested: mode %u (0 if the kernel refuses registration)\n", m);
	CHECK(m <= 1);
	CHECK_OK(shmkit_queue_close(q));
}

/* argv: uri_ping uri_pong: echoes ROUNDS messages, sleeping at once. */
static int role_echo(int argc, char **argv)
{
	struct shmkit_queue *in, *out;
	uint64_t v;
	if (argc < 2)
		return 2;
	CHECK_OK(shmkit_queue_open(&in, argv[0]));
	CHECK_OK(shmkit_queue_open(&out, argv[1]));
	shmkit_queue_set_spin(in, 0);
	shmkit_queue_set_spin(out, 0);
	for (int i = 0; i < ROUNDS; i++) {
		CHECK_RET(shmkit_queue_recv(in, &v, sizeof(v), 30 * SEC), sizeof(v));
		CHECK_OK(shmkit_queue_send(out, &v, sizeof(v), 30 * SEC));
	}
	CHECK_OK(shmkit_queue_close(in));
	CHECK_OK(shmkit_queue_close(out));
	return test_done();
}

static const struct test_role roles[] = {{"echo", role_echo}, {NULL, NULL}};

static void test_switch_under_load(void)
{
	const char *ping = create("ping", "membarrier"), *pong = create("pong", "membarrier");
	struct shmkit_queue *out, *in;
	uint64_t v;
	CHECK_OK(shmkit_queue_open(&out, ping));
	CHECK_OK(shmkit_queue_open(&in, pong));
	shmkit_queue_set_spin(out, 0);
	shmkit_queue_set_spin(in, 0);
	const char *args[] = {ping, pong, NULL};
	pid_t c = test_spawn_self("echo", args);
	int64_t t0 = test_now_ns();
	for (uint64_t i = 0; i < ROUNDS; i++) {
		if (i == ROUNDS / 2) { /* what a sleeper's switch does, mid-stream */
			atomic_store(&body(out)->data_ec.mode, 0);
			atomic_store(&body(in)->data_ec.mode, 0);
		}
		CHECK_OK(shmkit_queue_send(out, &i, sizeof(i), 30 * SEC));
		CHECK_RET(shmkit_queue_recv(in, &v, sizeof(v), 30 * SEC), sizeof(v));
		if (v != i) {
			CHECK(v == i);
			break;
		}
	}
	printf("%d sleeping round trips across a mode switch: %lld ms\n", ROUNDS,
	       (long long)((test_now_ns() - t0) / 1000000));
	CHECK_RET(test_wait(c), 0);
	CHECK_OK(shmkit_queue_close(out));
	CHECK_OK(shmkit_queue_close(in));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_recorded();
	test_switch_under_load();
	return test_done();
}
