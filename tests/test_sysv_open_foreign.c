/* SPDX-License-Identifier: MIT */
/* Opening an object (queue, topic, map, heap, raw) on another program's SysV
 * segment (helper h38d): the open fails and leaves the segment's bytes as
 * they were. Where another process has the segment attached its header is
 * read through that process, so a foreign segment of random bytes or of
 * zeros is refused without an attach (it attached and stayed attached for a
 * second on zeros); smaller than a header, at once. Where nobody has it
 * attached, nothing reads it but an attach: the open attaches, refuses it,
 * and changes none of its bytes (its last user is the opener then: a known
 * limit, shmkit_raw(3)). A shmkit object opens wherever its last user is. */
/* TIMEOUT: 60 */
#include "test.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "layout.h"
#include "proc.h"

#define SIZE (SHMKIT__HEADER_SIZE + 65536)

struct foreign {
	key_t key;
	size_t size;
	int zeros; /* else a pattern, as another program's data */
};

static key_t key_of(const char *uri)
{
	return (key_t)strtoul(uri + strlen("sysv:"), NULL, 16);
}

/* The foreign program's creator: makes the segment, fills it, exits. */
static int foreign_create(void *arg)
{
	const struct foreign *f = arg;
	int id = shmget(f->key, f->size, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		return 2;
	unsigned char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return 3;
	for (size_t i = 0; i < f->size && !f->zeros; i++)
		p[i] = (unsigned char)(i * 7 + 1);
	shmdt(p);
	return 0;
}

/* Every object open of the library on uri: 0 when each failed with want. */
static int open_each(void *arg)
{
	const char *uri = ((const char *const *)arg)[0];
	int want = -(int)strtol(((const char *const *)arg)[1], NULL, 10);
	struct shmkit_queue *q;
	struct shmkit_sub *s;
	struct shmkit_pub *p;
	struct shmkit_map *m;
	struct shmkit_heap *h;
	struct shmkit_raw *r;
	int got[] = {shmkit_queue_open(&q, uri), shmkit_sub_open(&s, uri), shmkit_pub_open(&p, uri),
		     shmkit_map_open(&m, uri),	 shmkit_heap_open(&h, uri), shmkit_raw_open(&r, uri)};
	int bad = 0;
	for (size_t i = 0; i < sizeof(got) / sizeof(got[0]); i++) {
		if (got[i] != want) {
			fprintf(stderr, "%s: open %zu gave %d, not %d (%s)\n", uri, i, got[i], want,
				shmkit_last_error_detail());
			bad = 1;
		}
	}
	return bad;
}

static void opens_fail(const char *uri, int err)
{
	char errs[16];
	snprintf(errs, sizeof(errs), "%d", -err);
	const char *args[] = {uri, errs};
	CHECK_RET(test_wait(test_fork(open_each, (void *)args)), 0);
}

static int make_foreign(const char *uri, int zeros)
{
	struct foreign f = {key_of(uri), SIZE, zeros};
	CHECK_RET(test_wait(test_fork(foreign_create, &f)), 0);
	int id = shmget(f.key, 0, 0);
	CHECK(id >= 0);
	return id;
}

static void check_last_user(int id, pid_t pid, int64_t atime)
{
	struct shmkit__sysv_row row;
	CHECK_RET(shmkit__sysv_row(id, &row), 0);
	if (row.lpid != pid || row.atime != atime)
		fprintf(stderr, "sysv id %d: last pid %d (atime %lld), not %d (%lld): attached\n",
			id, row.lpid, (long long)row.atime, (int)pid, (long long)atime);
	CHECK(row.lpid == pid && row.atime == atime);
}

/* A process that attaches SysV segment id, detaches, and lives on (until
 * killed): not an ancestor of the openers, which this process forks. */
static pid_t last_user_lives(int id)
{
	int ready[2];
	CHECK_OK(pipe(ready));
	pid_t pid = fork();
	if (pid == 0) {
		void *p = shmat(id, NULL, SHM_RDONLY);
		char c = p != (void *)-1 && shmdt(p) == 0;
		if (write(ready[1], &c, 1) == 1)
			pause();
		_exit(1);
	}
	char done = 0;
	CHECK(read(ready[0], &done, 1) == 1 && done);
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static void end(pid_t pid)
{
	kill(pid, SIGKILL);
	test_wait(pid);
}

/* Are SysV segment id's bytes still what foreign_create wrote? */
static int unchanged(int id, int zeros)
{
	const unsigned char *p = shmat(id, NULL, SHM_RDONLY);
	if (p == (void *)-1)
		return 0;
	size_t i = 0;
	while (i < SIZE && p[i] == (zeros ? 0 : (unsigned char)(i * 7 + 1)))
		i++;
	shmdt(p);
	return i == SIZE;
}

/* Nobody has it attached; another process, alive, used it last. */
static void test_foreign_detached(const char *tag, int zeros)
{
	const char *uri = test_uri("sysv", tag);
	int id = make_foreign(uri, zeros);
	pid_t last = last_user_lives(id);
	opens_fail(uri, -EBADMSG);
	CHECK(unchanged(id, zeros));
	struct shmkit__sysv_row row;
	CHECK_RET(shmkit__sysv_row(id, &row), 0);
	CHECK(row.nattch == 0);
	end(last);
	shmctl(id, IPC_RMID, NULL);
}

/* Another process has it attached (the foreign program at work; not this
 * process, whose attachments a forked opener would inherit and drop at its
 * exit): the header is read through it, and the open refused unattached. */
static void test_foreign_attached(const char *tag, int zeros)
{
	const char *uri = test_uri("sysv", tag);
	int id = make_foreign(uri, zeros);
	int ready[2];
	CHECK_OK(pipe(ready));
	pid_t holder = fork();
	if (holder == 0) {
		char c = shmat(id, NULL, SHM_RDONLY) != (void *)-1;
		if (write(ready[1], &c, 1) == 1)
			pause();
		_exit(1);
	}
	char attached = 0;
	CHECK(read(ready[0], &attached, 1) == 1 && attached);
	close(ready[0]);
	close(ready[1]);
	struct shmkit__sysv_row row;
	CHECK_RET(shmkit__sysv_row(id, &row), 0);
	opens_fail(uri, -EBADMSG);
	check_last_user(id, holder, row.atime);
	end(holder);
	shmctl(id, IPC_RMID, NULL);
}

/* Smaller than a header: refused without attaching, at once. */
static void test_foreign_small(void)
{
	const char *uri = test_uri("sysv", "small");
	struct foreign f = {key_of(uri), 100, 0};
	CHECK_RET(test_wait(test_fork(foreign_create, &f)), 0);
	int id = shmget(f.key, 0, 0);
	CHECK(id >= 0);
	struct shmkit__sysv_row row;
	CHECK_RET(shmkit__sysv_row(id, &row), 0);
	opens_fail(uri, -EBADMSG);
	check_last_user(id, row.lpid, row.atime);
	shmctl(id, IPC_RMID, NULL);
}

static int queue_opens(void *arg)
{
	struct shmkit_queue *q;
	int r = shmkit_queue_open(&q, arg);
	if (r == 0)
		shmkit_queue_close(q);
	return r == 0 ? 0 : 1;
}

/* A queue opens wherever its last user is: attached by someone, used last by
 * the opener, its parent, a live unrelated process (which opened and closed
 * it: refusing that would refuse ordinary use), or a process gone. */
static void test_object_opens(void)
{
	const char *uri = test_uri("sysv", "queue");
	struct shmkit_queue_opts o = {.capacity = 4, .max_msg = 64};
	struct shmkit_queue *q, *again;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_RET(test_wait(test_fork(queue_opens, (void *)uri)), 0); /* attached: us */
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_queue_open(&again, uri)); /* its last user is this process */
	CHECK_OK(shmkit_queue_close(again));
	CHECK_RET(test_wait(test_fork(queue_opens, (void *)uri)), 0); /* last user: our parent */
	int id = shmget(key_of(uri), 0, 0);
	pid_t last = last_user_lives(id);
	CHECK_RET(test_wait(test_fork(queue_opens, (void *)uri)), 0); /* a live sibling */
	end(last);
	CHECK_RET(test_wait(test_fork(queue_opens, (void *)uri)), 0); /* last user gone */
	CHECK_OK(shmkit_remove(uri));
}

int main(void)
{
	test_foreign_detached("detached-pattern", 0);
	test_foreign_detached("detached-zeros", 1);
	test_foreign_attached("attached-pattern", 0);
	test_foreign_attached("attached-zeros", 1);
	test_foreign_small();
	test_object_opens();
	return test_done();
}
