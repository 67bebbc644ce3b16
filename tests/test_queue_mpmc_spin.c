/* SPDX-License-Identifier: MIT */
/* MPMC adaptive spinning (src/queue_mpmc.c): the learning rule step by step,
 * the caller's 0 and SHMKIT_FOREVER left as set, and 2 producers + 2
 * consumers forked onto ONE CPU: every message arrives exactly once and in
 * order per producer, and every handle has stopped spinning by the end (on
 * one CPU no wait can be served while its waiter spins, so a handle that
 * kept spinning would be burning the time its peer needs). */
/* TIMEOUT: 120 */
#include "test.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue_internal.h"

#define PER_PRODUCER 20000u
#define STOP 0xffffffffu

struct msg {
	uint32_t producer;
	uint32_t seq;
};

struct shared {
	_Atomic uint64_t got[2];
	_Atomic uint64_t bad;
	_Atomic int64_t final_spin[4];
};

static void test_rule(void)
{
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 8, .multi_producer = 1,
				       .multi_consumer = 1 };
	struct shmkit_queue *q;

	CHECK_OK(shmkit_queue_create(&q, "anon:", &o));
	CHECK_RET(shmkit__mpmc_spin(q), SHMKIT__SPIN_NS);
	/* waits that needed more than their spin halve it, down to none */
	for (int i = 0; i < 6; i++) {
		shmkit__mpmc_spin_learn(q, shmkit__mpmc_spin(q), 1000000);
		CHECK_RET(shmkit__mpmc_spin(q), SHMKIT__SPIN_NS >> (i + 1));
	}
	shmkit__mpmc_spin_learn(q, shmkit__mpmc_spin(q), 1000000);
	CHECK_RET(shmkit__mpmc_spin(q), 0);
	shmkit__mpmc_spin_learn(q, 0, 1000000);
	CHECK_RET(shmkit__mpmc_spin(q), 0);
	/* a wait served within its spin (plus a yield's worth) doubles it back */
	shmkit__mpmc_spin_learn(q, 0, 500);
	CHECK_RET(shmkit__mpmc_spin(q), SHMKIT__SPIN_NS >> 6);
	for (int i = 0; i < 10; i++)
		shmkit__mpmc_spin_learn(q, shmkit__mpmc_spin(q), 100);
	CHECK_RET(shmkit__mpmc_spin(q), SHMKIT__SPIN_NS);
	/* the caller's "never" and "for ever" are not learned over */
	CHECK_OK(shmkit_queue_set_spin(q, 0));
	shmkit__mpmc_spin_learn(q, 0, 100);
	CHECK_RET(shmkit__mpmc_spin(q), 0);
	CHECK_OK(shmkit_queue_set_spin(q, SHMKIT_FOREVER));
	shmkit__mpmc_spin_learn(q, -1, 1000000000);
	CHECK_RET(shmkit__mpmc_spin(q), SHMKIT_FOREVER);
	CHECK_OK(shmkit_queue_close(q));
}

static int first_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

static void child(const char *uri, int k, struct shared *sh)
{
	struct shmkit_queue *q;
	if (shmkit_queue_open(&q, uri) != 0)
		_exit(2);
	if (k < 2) {
		for (uint32_t i = 0; i < PER_PRODUCER; i++) {
			struct msg m = { (uint32_t)k, i };
			if (shmkit_queue_send(q, &m, sizeof(m), 60LL * 1000000000) != 0)
				_exit(3);
		}
	} else {
		uint32_t next[2] = { 0, 0 };
		for (;;) {
			struct msg m;
			if (shmkit_queue_recv(q, &m, sizeof(m), 60LL * 1000000000) != sizeof(m))
				_exit(4);
			if (m.producer == STOP)
				break;
			/* in order per producer: this consumer's share only rises */
			if (m.producer > 1 || m.seq < next[m.producer])
				atomic_fetch_add(&sh->bad, 1);
			else
				next[m.producer] = m.seq + 1;
			atomic_fetch_add(&sh->got[m.producer & 1], 1);
		}
	}
	atomic_store(&sh->final_spin[k], shmkit__mpmc_spin(q));
	shmkit_queue_close(q);
	_exit(0);
}

static void test_one_cpu(void)
{
	struct shmkit_queue_opts o = { .capacity = 64, .max_msg = sizeof(struct msg),
				       .multi_producer = 1, .multi_consumer = 1 };
	const char *uri = test_uri("posix", "mpmcspin");
	struct shmkit_queue *q;
	int cpu = first_cpu();
	pid_t kids[4];

	CHECK(cpu >= 0);
	/* everyone on one CPU, this process too (its stop messages must not be
	 * the one thing served from another CPU while a consumer spins) */
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	fflush(NULL);
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		CHECK(kids[k] >= 0);
		if (kids[k] == 0)
			child(uri, k, sh);
	}
	for (int k = 0; k < 2; k++) {
		int st;
		CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	struct msg stop = { STOP, 0 };
	CHECK_OK(shmkit_queue_send(q, &stop, sizeof(stop), SHMKIT_FOREVER));
	CHECK_OK(shmkit_queue_send(q, &stop, sizeof(stop), SHMKIT_FOREVER));
	for (int k = 2; k < 4; k++) {
		int st;
		CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK(atomic_load(&sh->got[0]) == PER_PRODUCER && atomic_load(&sh->got[1]) == PER_PRODUCER);
	CHECK(atomic_load(&sh->bad) == 0);
	for (int k = 0; k < 4; k++) {
		if (atomic_load(&sh->final_spin[k]) != 0)
			fprintf(stderr, "handle %d still spins %lld ns\n", k,
				(long long)atomic_load(&sh->final_spin[k]));
		CHECK(atomic_load(&sh->final_spin[k]) == 0);
	}
	CHECK_OK(shmkit_queue_close(q));
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	test_rule();
	test_one_cpu();
	return test_done();
}
