/* SPDX-License-Identifier: MIT */
/* posix: create/open/write/read across forked and exec'd processes, EXCL,
 * missing, sizes, modes, RDONLY really read-only, a symlink planted in
 * /dev/shm refused with its target untouched, nothing left behind. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define SIZE 8192

/* exec'd helper: open URI whole, check the text at 0, write "exec" at 100. */
static int role_reader(int argc, char **argv)
{
	struct shmkit_seg *seg;
	if (argc < 2)
		return 2;
	CHECK_OK(shmkit_seg_open(&seg, argv[0], 0, 0, 0));
	CHECK(shmkit_seg_size(seg) == SIZE);
	CHECK(strcmp(shmkit_seg_addr(seg), argv[1]) == 0);
	strcpy((char *)shmkit_seg_addr(seg) + 100, "exec");
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

static int child_writes(void *arg)
{
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, arg, 0, 0, 0));
	strcpy((char *)shmkit_seg_addr(seg) + 200, "fork");
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

/* Writes through a read-only mapping: must die of SIGSEGV. */
static int child_writes_rdonly(void *arg)
{
	struct shmkit_seg *seg;
	signal(SIGSEGV, SIG_DFL);
	CHECK_OK(shmkit_seg_open(&seg, arg, 0, SHMKIT_RDONLY, 0));
	*(volatile char *)shmkit_seg_addr(seg) = 'X';
	return 0;
}

static void check_basic(void)
{
	const char *uri = test_uri("posix", "basic");
	struct shmkit_seg *seg, *again;
	struct shmkit_stat st;

	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
	/* open-or-create with size 0 and nothing there: no size to make it by */
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_CREATE, 0), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
	/* shmkit_seg(3): permission bits only, not the 07777 of chmod */
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 01600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 04600), -EINVAL);
	CHECK_OK(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0));
	CHECK(shmkit_seg_size(seg) == SIZE);
	CHECK(shmkit_seg_fd(seg) >= 0);
	CHECK(shmkit_seg_backend(seg) == SHMKIT_POSIX);
	CHECK_RET(shmkit_seg_flush(seg), 0);
	char *p = shmkit_seg_addr(seg);
	CHECK(p[0] == 0 && p[SIZE - 1] == 0);
	strcpy(p, "hello, world");

	/* mode 0 means 0600, exactly, whatever the umask. */
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.mode == 0600);
	CHECK(st.size == SIZE);
	CHECK(st.backend == SHMKIT_POSIX && st.lifetime == SHMKIT_LIFE_KERNEL);
	CHECK(strcmp(st.uri, uri) == 0);
	CHECK(st.uid == geteuid());

	/* Exclusive create of an existing one: -EEXIST, data untouched. */
	CHECK_RET(shmkit_seg_open(&again, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EEXIST);
	CHECK_RET(shmkit_seg_open(&again, uri, 64, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EEXIST);
	CHECK(strcmp(p, "hello, world") == 0);
	/* CREATE without EXCL opens it, untouched, at the size asked. */
	CHECK_OK(shmkit_seg_open(&again, uri, 64, SHMKIT_CREATE, 0600));
	CHECK(shmkit_seg_size(again) == 64);
	CHECK(strcmp(shmkit_seg_addr(again), "hello, world") == 0);
	CHECK_OK(shmkit_seg_close(again));
	/* ... and with size 0 opens it whole (DESIGN §4); it was -EINVAL. */
	CHECK_OK(shmkit_seg_open(&again, uri, 0, SHMKIT_CREATE, 0600));
	CHECK(shmkit_seg_size(again) == SIZE);
	CHECK(strcmp(shmkit_seg_addr(again), "hello, world") == 0);
	CHECK_OK(shmkit_seg_close(again));
	CHECK_RET(shmkit_seg_open(&again, uri, 0, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EINVAL);
	/* Asking more than it holds: -EINVAL, never a SIGBUS later. */
	CHECK_RET(shmkit_seg_open(&again, uri, SIZE + 1, 0, 0), -EINVAL);
	CHECK_RET(shmkit_seg_open(&again, uri, SIZE + 1, SHMKIT_CREATE, 0), -EINVAL);
	CHECK(strcmp(p, "hello, world") == 0);

	/* Another process, forked, then exec'd (mapping at another address). */
	CHECK(test_wait(test_fork(child_writes, (void *)uri)) == 0);
	CHECK(strcmp(p + 200, "fork") == 0);
	const char *args[] = { uri, "hello, world", NULL };
	CHECK(test_wait(test_spawn_self("reader", args)) == 0);
	CHECK(strcmp(p + 100, "exec") == 0);

	/* Read-only is read-only. */
	CHECK(test_wait(test_fork(child_writes_rdonly, (void *)uri)) == 128 + SIGSEGV);
	CHECK(p[0] == 'h');

	/* stat by name agrees; remove; gone. */
	CHECK_OK(shmkit_stat(uri, &st));
	CHECK(st.size == SIZE && st.mode == 0600);
	CHECK(st.n_mappers >= 1 && st.mappers[0].pid > 0);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
	CHECK_RET(shmkit_remove(uri), -ENOENT);
	CHECK_RET(shmkit_stat(uri, &st), -ENOENT);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
}

static void check_mode_and_populate(void)
{
	const char *uri = test_uri("posix", "mode");
	struct shmkit_seg *seg;
	struct shmkit_stat st;
	mode_t old = umask(077);

	CHECK_OK(shmkit_seg_open(&seg, uri, 1 << 20, SHMKIT_CREATE | SHMKIT_POPULATE, 0640));
	umask(old);
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.mode == 0640);
	CHECK(st.real_size >= (1 << 20)); /* reserved at create */
	memset(shmkit_seg_addr(seg), 7, 1 << 20);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
}

/* A symlink planted at /dev/shm/<name> is never followed. */
static void check_symlink(void)
{
	const char *uri = test_uri("posix", "link");
	char link[512], target[256], out[512];
	struct shmkit_seg *seg;

	snprintf(link, sizeof(link), "/dev/shm%s", uri + 6);
	snprintf(target, sizeof(target), "/tmp/shmkit-test-%d-linktarget", (int)getpid());
	snprintf(out, sizeof(out), "file:%s", target);
	test_cleanup_add(out);
	FILE *f = fopen(target, "w");
	CHECK(f != NULL);
	fputs("precious", f);
	fclose(f);
	CHECK(symlink(target, link) == 0);

	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ELOOP);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 0600), -ELOOP);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EEXIST);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0), -ELOOP);

	struct stat sb;
	CHECK(stat(target, &sb) == 0 && sb.st_size == 8 && (sb.st_mode & 0777) != 0);
	f = fopen(target, "r");
	CHECK(f && fgets(out, sizeof(out), f) && strcmp(out, "precious") == 0);
	if (f)
		fclose(f);
	CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode)); /* the link itself is left alone */
	CHECK(unlink(link) == 0);
	CHECK(unlink(target) == 0);
}

/* Open-or-create from several processes at once: all succeed, one segment. */
static int race_fd, race_wr;
static const char *race_uri;

static int child_races(void *arg)
{
	struct shmkit_seg *seg;
	char c;
	int me = (int)(intptr_t)arg;
	close(race_wr);
	if (read(race_fd, &c, 1) != 0) /* start together: EOF when the parent closes */
		return 2;
	CHECK_OK(shmkit_seg_open(&seg, race_uri, 4 << 20, SHMKIT_CREATE, 0600));
	CHECK(shmkit_seg_size(seg) == 4 << 20);
	((char *)shmkit_seg_addr(seg))[(4 << 20) - 1 - me] = (char)('A' + me);
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

static void check_create_race(void)
{
	int go[2];
	pid_t kids[6];
	struct shmkit_seg *seg;

	for (int round = 0; round < 5; round++) {
		race_uri = test_uri("posix", "race");
		CHECK(pipe(go) == 0);
		race_fd = go[0];
		race_wr = go[1];
		for (int i = 0; i < 6; i++)
			kids[i] = test_fork(child_races, (void *)(intptr_t)i);
		close(go[0]);
		close(go[1]);
		for (int i = 0; i < 6; i++)
			CHECK(test_wait(kids[i]) == 0);
		CHECK_OK(shmkit_seg_open(&seg, race_uri, 0, 0, 0));
		CHECK(shmkit_seg_size(seg) == 4 << 20);
		for (int i = 0; i < 6; i++)
			CHECK(((char *)shmkit_seg_addr(seg))[(4 << 20) - 1 - i] == 'A' + i);
		CHECK_OK(shmkit_seg_close(seg));
		CHECK_OK(shmkit_remove(race_uri));
	}
}

/* shmkit_peek: the bytes asked for, a range past the end refused, and a
 * NULL buffer with length 0 (allowed) copies nothing (memcpy(NULL, .., 0)). */
static void check_peek(void)
{
	const char *uri = test_uri("posix", "peek");
	struct shmkit_seg *seg;
	char buf[8];

	CHECK_OK(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	memcpy((char *)shmkit_seg_addr(seg) + 100, "peekme", 6);
	CHECK_RET(shmkit_peek(uri, 100, buf, 6), 6);
	CHECK(memcmp(buf, "peekme", 6) == 0);
	CHECK_RET(shmkit_peek(uri, 4095, buf, 2), -EINVAL);
	CHECK_RET(shmkit_peek(uri, 4096, NULL, 0), 0);
	CHECK_RET(shmkit_peek(uri, 0, NULL, 0), 0);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
}

/* shmkit_peek of a sparse segment with more holes than a look covers (a
 * Python SharedMemory written here and there: h36c): the look refuses to
 * map it (-EFBIG), but peek reads a file with pread, which allocates no
 * hole, so it reads it, zeros in the holes, and charges the file nothing.
 * Before, peek failed with -EFBIG ("read it with pread(2)"). */
static void check_peek_holey(void)
{
	const char *uri = test_uri("posix", "holey");
	char path[300], buf[4];
	struct shmkit_seg *seg;
	struct stat before, after;
	enum { PAGES = 2 * 4200 };

	snprintf(path, sizeof(path), "/dev/shm%s", strchr(uri, '/'));
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK_OK(ftruncate(fd, (off_t)PAGES * 4096));
	for (int i = 1; i < PAGES; i += 2) /* every other page written: 4200 holes */
		CHECK(pwrite(fd, "x", 1, (off_t)i * 4096) == 1);
	CHECK_OK(fstat(fd, &before));
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_LOOK, 0), -EFBIG);
	memset(buf, 'z', sizeof(buf));
	CHECK_RET(shmkit_peek(uri, 4096, buf, 1), 1);
	CHECK(buf[0] == 'x');
	CHECK_RET(shmkit_peek(uri, 0, buf, 2), 2); /* a hole */
	CHECK(buf[0] == 0 && buf[1] == 0);
	CHECK_RET(shmkit_peek(uri, (uint64_t)PAGES * 4096 - 1, buf, 1), 1);
	CHECK_RET(shmkit_peek(uri, (uint64_t)PAGES * 4096, buf, 1), -EINVAL);
	CHECK_OK(fstat(fd, &after));
	CHECK(after.st_blocks == before.st_blocks);
	close(fd);
	CHECK_OK(shmkit_remove(uri));
}

/* glibc's sem_open("/x") is /dev/shm/sem.x, and gc leaves every sem.* file
 * alone: a segment or object created under such a name was never reclaimed.
 * Creating there is -EINVAL with the reason, nothing is made; an existing
 * file there can still be opened. */
static void check_sem_names(void)
{
	char uri[128], path[128];
	struct shmkit_seg *seg;
	struct shmkit_queue *q;
	struct shmkit_heap *h;
	struct stat sb;
	const char *base = test_uri("posix", "semname") + strlen("posix:/");
	snprintf(uri, sizeof(uri), "posix:/sem.%s", base);
	snprintf(path, sizeof(path), "/dev/shm/sem.%s", base);
	test_cleanup_add(uri);

	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK(strstr(shmkit_last_error_detail(), "POSIX semaphores") != NULL);
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EINVAL);
	struct shmkit_queue_opts qo = { .capacity = 4, .max_msg = 16 };
	CHECK_RET(shmkit_queue_create(&q, uri, &qo), -EINVAL);
	CHECK(strstr(shmkit_last_error_detail(), "POSIX semaphores") != NULL);
	CHECK_RET(shmkit_heap_create(&h, uri, 64 << 10, 0600), -EINVAL);
	CHECK(stat(path, &sb) < 0 && errno == ENOENT);
	/* "sem" without the dot, and "sem." later in the name, are ordinary */
	snprintf(uri, sizeof(uri), "posix:/sem%s", base);
	test_cleanup_add(uri);
	CHECK_OK(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));

	/* one another program made is opened (to look at, or to remove) */
	snprintf(uri, sizeof(uri), "posix:/sem.%s", base);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	CHECK(fd >= 0);
	CHECK_OK(ftruncate(fd, SIZE));
	close(fd);
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0));
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "reader", role_reader }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);

	check_basic();
	check_mode_and_populate();
	check_symlink();
	check_create_race();
	check_peek();
	check_peek_holey();
	check_sem_names();

	char out[256];
	test_sh_capture(out, sizeof(out), "ls /dev/shm | grep -c 'shmkit-test-%d-'", (int)getpid());
	CHECK(atoi(out) == 0);
	return test_done();
}
