/* SPDX-License-Identifier: MIT */
/* Another program's segment whose first 8 bytes are 0 (where a shmkit magic
 * goes) and whose 8 bytes at offset 40 (where init goes) read as a dead
 * creator's INITIALIZING word (helper h38d): a zero counter, then two 32-bit
 * numbers. It was taken for a half-built shmkit object: plain gc (without
 * --foreign) removed it, POSIX and System V alike, and a create of its size
 * took it over and zero-filled it. A half-built object's creator wrote the
 * fixed fields (fingerprint, version, sizes) before init: without them the
 * segment is another program's, left whole. */
/* TIMEOUT: 60 */
#include "test.h"

#include <stdint.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "layout.h"
#include "managed.h"

#define BODY 8192
#define SIZE (SHMKIT__HEADER_SIZE + BODY)

static unsigned char data[SIZE];

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK(pid > 0 && test_wait(pid) == 0);
	return pid;
}

/* Another program's data: a zero word, then (dead pid, 1), then a pattern. */
static void make_data(void)
{
	for (size_t i = 0; i < SIZE; i++)
		data[i] = (unsigned char)(i * 7 + 1);
	memset(data, 0, 8);
	uint32_t words[2] = {(uint32_t)dead_pid(), SHMKIT__STATE_INITIALIZING};
	memcpy(data + 40, words, sizeof(words));
	memset(data + 48, 0, 8); /* creator_gen and flags: not persistent */
}

static int verdict_of(const struct shmkit_gc_entry *e, void *arg)
{
	*(int *)arg = e->verdict;
	return 0;
}

/* What gc, a create of its size, an open and stat make of uri. */
static void check_left_whole(const char *uri, const void *(*bytes)(const char *uri))
{
	int verdict = -1;
	CHECK(shmkit_gc_prefix(0, uri, verdict_of, &verdict) == 0);
	CHECK(verdict == SHMKIT_GC_KEPT);
	struct shmkit__obj o;
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), -EEXIST);
	struct shmkit_raw *r;
	CHECK_RET(shmkit_raw_open(&r, uri), -EBADMSG);
	struct shmkit_stat *st = calloc(1, sizeof(*st));
	CHECK(st && shmkit_stat(uri, st) == 0);
	CHECK(st && st->managed == 0);
	free(st);
	CHECK(memcmp(bytes(uri), data, SIZE) == 0);
}

static const void *posix_bytes(const char *uri)
{
	static unsigned char now[SIZE];
	CHECK_RET(shmkit_peek(uri, 0, now, SIZE), SIZE);
	return now;
}

static void test_posix(void)
{
	const char *uri = test_uri("posix", "foreign");
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	memcpy(shmkit_seg_addr(seg), data, SIZE);
	shmkit_seg_close(seg);
	check_left_whole(uri, posix_bytes);
	CHECK_OK(shmkit_remove(uri));
}

static key_t key_of(const char *uri)
{
	return (key_t)strtoul(uri + strlen("sysv:"), NULL, 16);
}

/* The foreign program: makes the segment, fills it, exits (its creator and
 * last user are dead: gc attaches it to look). */
static int sysv_create(void *arg)
{
	int id = shmget(key_of(arg), SIZE, IPC_CREAT | IPC_EXCL | 0600);
	void *p = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
	if (p == (void *)-1)
		return 2;
	memcpy(p, data, SIZE);
	return shmdt(p) < 0;
}

static const void *sysv_bytes(const char *uri)
{
	static unsigned char now[SIZE];
	void *p = shmat(shmget(key_of(uri), 0, 0), NULL, SHM_RDONLY);
	CHECK(p != (void *)-1);
	memcpy(now, p, SIZE);
	shmdt(p);
	return now;
}

static void test_sysv(void)
{
	const char *uri = test_uri("sysv", "foreign");
	CHECK_RET(test_wait(test_fork(sysv_create, (void *)uri)), 0);
	check_left_whole(uri, sysv_bytes);
	CHECK_OK(shmkit_remove(uri));
}

int main(void)
{
	make_data();
	test_posix();
	test_sysv();
	return test_done();
}
