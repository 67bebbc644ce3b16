/* SPDX-License-Identifier: MIT */
/* Two programs forced onto one SysV key. A foreign program (plain shmget and
 * shmat, no shmkit) owns the key first: shmkit's create fails -EEXIST, every
 * open of it (queue, topic, heap, map, raw) fails -EBADMSG with a detail,
 * stat reports it unmanaged, and its bytes are exactly as the foreign
 * program left them. Then the other way round: shmkit owns the key, the
 * foreign program attaches it and writes its own data over the start; the
 * shmkit users' calls fail -EBADMSG (or keep working) but never crash, and
 * new opens refuse it. */
/* TIMEOUT: 60 */
#include "test.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#define FOREIGN_SIZE 65536

static uint64_t hash(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* The foreign program: its own layout, a pattern with no zero magic. */
static int foreign_create(void *arg)
{
	key_t key = *(key_t *)arg;
	int id = shmget(key, FOREIGN_SIZE, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		return 2;
	unsigned char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return 3;
	for (size_t i = 0; i < FOREIGN_SIZE; i++)
		p[i] = (unsigned char)(i * 7 + 1);
	shmdt(p);
	return 0;
}

static void test_foreign_first(key_t key, const char *uri)
{
	CHECK(test_wait(test_fork(foreign_create, &key)) == 0);
	int id = shmget(key, 0, 0);
	CHECK(id >= 0);
	unsigned char *p = shmat(id, NULL, SHM_RDONLY);
	CHECK(p != (void *)-1);
	uint64_t before = hash(p, FOREIGN_SIZE);

	struct shmkit_queue *q;
	struct shmkit_queue_opts qo = { .capacity = 4, .max_msg = 16 };
	CHECK_RET(shmkit_queue_create(&q, uri, &qo), -EEXIST);
	CHECK_RET(shmkit_queue_open(&q, uri), -EBADMSG);
	printf("queue open on the foreign key: %s\n", shmkit_last_error_detail());
	struct shmkit_sub *s;
	CHECK_RET(shmkit_sub_open(&s, uri), -EBADMSG);
	struct shmkit_heap *h;
	CHECK_RET(shmkit_heap_open(&h, uri), -EBADMSG);
	struct shmkit_map *m;
	CHECK_RET(shmkit_map_open(&m, uri), -EBADMSG);
	struct shmkit_raw *r;
	CHECK_RET(shmkit_raw_open(&r, uri), -EBADMSG);
	struct shmkit_stat st;
	CHECK_RET(shmkit_stat(uri, &st), 0);
	CHECK(st.managed == 0 && st.size == FOREIGN_SIZE);
	char out[4096];
	CHECK(test_sh_capture(out, sizeof(out), "%s stat %s 2>&1", SHMKIT_TOOL_PATH, uri) == 0);
	CHECK(test_sh("%s gc --prefix %s >/dev/null 2>&1", SHMKIT_TOOL_PATH, uri) == 0);
	CHECK(shmget(key, 0, 0) == id); /* still there: not shmkit's to remove */
	CHECK(hash(p, FOREIGN_SIZE) == before);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

/* The foreign program attaches shmkit's segment by key and writes its data. */
static int foreign_scribble(void *arg)
{
	key_t key = *(key_t *)arg;
	int id = shmget(key, 0, 0);
	if (id < 0)
		return 2;
	unsigned char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return 3;
	struct shmid_ds ds;
	shmctl(id, IPC_STAT, &ds);
	for (size_t i = 0; i < ds.shm_segsz; i++)
		p[i] = (unsigned char)(i * 13 + 5);
	shmdt(p);
	return 0;
}

static void test_shmkit_first(key_t key, const char *uri)
{
	struct shmkit_queue *q, *q2;
	struct shmkit_queue_opts qo = { .capacity = 8, .max_msg = 32 };
	char buf[32];
	CHECK_RET(shmkit_queue_create(&q, uri, &qo), 0);
	CHECK_RET(shmkit_queue_send(q, "mine", 4, 0), 0);
	CHECK(test_wait(test_fork(foreign_scribble, &key)) == 0);
	/* Whatever the old handle says, it says it without crashing. */
	ssize_t n = shmkit_queue_recv(q, buf, sizeof(buf), 0);
	int s = shmkit_queue_send(q, "more", 4, 0);
	printf("after the foreign writer: recv %zd, send %d\n", n, s);
	CHECK(n <= (ssize_t)sizeof(buf));
	CHECK_RET(shmkit_queue_open(&q2, uri), -EBADMSG);
	struct shmkit_stat st;
	CHECK_RET(shmkit_stat(uri, &st), 0);
	/* read through this process, which has it attached: no shmkit header now */
	CHECK(st.header_status != 0 || st.managed == 0);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

int main(void)
{
	key_t key = (key_t)(0x5c000000u | ((unsigned)getpid() & 0xffffffu));
	char uri[64];
	snprintf(uri, sizeof(uri), "sysv:0x%08x", (unsigned)key);
	test_cleanup_add(uri);
	test_foreign_first(key, uri);
	test_shmkit_first(key, uri);
	return test_done();
}
