/* SPDX-License-Identifier: MIT */
/* sysv: keys, ftok, private, id=N across forked and exec'd processes; stat
 * from IPC_STAT (creator, last pid, nattch, rounded size, ftok key); marked
 * for removal while attached; RDONLY; EXCL/missing; limits named in errors
 * (in a private IPC namespace as root). */
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "test.h"

#define SIZE 5000

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

static int child_writes_rdonly(void *arg)
{
	struct shmkit_seg *seg;
	signal(SIGSEGV, SIG_DFL);
	CHECK_OK(shmkit_seg_open(&seg, arg, 0, SHMKIT_RDONLY, 0));
	*(volatile char *)shmkit_seg_addr(seg) = 'X';
	return 0;
}

static void check_key(void)
{
	const char *uri = test_uri("sysv", "key");
	struct shmkit_seg *seg, *again;
	struct shmkit_stat st;

	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
	/* open-or-create with size 0 and nothing there: no size to make it by */
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_CREATE, 0), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
	CHECK_OK(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0));
	CHECK(shmkit_seg_size(seg) == SIZE);
	CHECK(shmkit_seg_fd(seg) == -EBADF);
	char *p = shmkit_seg_addr(seg);
	strcpy(p, "hello, world");

	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.backend == SHMKIT_SYSV && st.lifetime == SHMKIT_LIFE_KERNEL);
	CHECK(st.size == SIZE && st.real_size == 8192);
	CHECK(st.mode == 0600 && st.uid == geteuid());
	CHECK(st.creator_pid == getpid() && st.attach_count == 1 && !st.marked_for_removal);
	CHECK(st.sysv_id >= 0 && st.sysv_key == (int64_t)strtoul(uri + 5, NULL, 0));
	CHECK(strcmp(st.uri, uri) == 0);
	CHECK(st.n_mappers == 1 && st.mappers[0].pid == getpid());
	CHECK(st.atime > 0 && st.ctime > 0);

	CHECK_RET(shmkit_seg_open(&again, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EEXIST);
	CHECK(strcmp(p, "hello, world") == 0);
	CHECK_RET(shmkit_seg_open(&again, uri, SIZE + 1, 0, 0), -EINVAL);
	CHECK_OK(shmkit_seg_open(&again, uri, 100, SHMKIT_CREATE, 0600));
	CHECK(shmkit_seg_size(again) == 100);
	CHECK(strcmp(shmkit_seg_addr(again), "hello, world") == 0);
	CHECK_OK(shmkit_seg_close(again));
	/* open-or-create with size 0 opens it whole (DESIGN §4); it was -EINVAL */
	CHECK_OK(shmkit_seg_open(&again, uri, 0, SHMKIT_CREATE, 0600));
	CHECK(shmkit_seg_size(again) == SIZE);
	CHECK(strcmp(shmkit_seg_addr(again), "hello, world") == 0);
	CHECK_OK(shmkit_seg_close(again));

	pid_t child = test_fork(child_writes, (void *)uri);
	CHECK(test_wait(child) == 0);
	CHECK(strcmp(p + 200, "fork") == 0);
	const char *args[] = { uri, "hello, world", NULL };
	CHECK(test_wait(test_spawn_self("reader", args)) == 0);
	CHECK(strcmp(p + 100, "exec") == 0);
	CHECK(test_wait(test_fork(child_writes_rdonly, (void *)uri)) == 128 + SIGSEGV);
	CHECK(p[0] == 'h');
	CHECK_OK(shmkit_stat(uri, &st));
	CHECK(st.last_pid != getpid() && st.last_pid > 0 && st.attach_count == 1);

	/* Removed while attached: marked, invisible by key, alive until detached. */
	CHECK_OK(shmkit_remove(uri));
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.marked_for_removal == 1);
	CHECK(st.sysv_key == (int64_t)strtoul(uri + 5, NULL, 0));
	int id = st.sysv_id;
	char byid[64];
	snprintf(byid, sizeof(byid), "sysv:id=%d", id);
	CHECK_OK(shmkit_stat(byid, &st));
	CHECK(st.marked_for_removal == 1 && st.attach_count == 1);
	CHECK_RET(shmkit_stat(uri, &st), -ENOENT);
	CHECK_RET(shmkit_seg_open(&again, uri, 0, 0, 0), -ENOENT);
	CHECK(strcmp(p, "hello, world") == 0);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_RET(shmkit_stat(byid, &st), -ENOENT);
	/* Opening the id that is gone is -ENOENT too, as stat and remove say
	 * (it was -EINVAL, the kernel's IPC_STAT errno: "bad argument"). Found
	 * by a conformance program written from DESIGN.md. */
	CHECK_RET(shmkit_seg_open(&again, byid, 0, 0, 0), -ENOENT);
	CHECK_RET(shmkit_seg_open(&again, byid, 0, SHMKIT_RDONLY, 0), -ENOENT);
	CHECK_RET(shmkit_remove(uri), -ENOENT);
}

static void check_ftok(void)
{
	const char *furi = test_uri("file", "ftok");
	const char *path = furi + 5;
	char uri[512];
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fclose(f);
	key_t key = ftok(path, 0x66);
	CHECK(key != -1);
	snprintf(uri, sizeof(uri), "sysv:0x%08x", (unsigned)key);
	test_cleanup_add(uri);
	snprintf(uri, sizeof(uri), "sysv:%s?proj=0x66", path);
	CHECK_OK(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE | SHMKIT_EXCL, 0640));
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.sysv_key == (int64_t)(unsigned)key && st.mode == 0640);
	CHECK_OK(shmkit_stat(uri, &st));
	CHECK(st.sysv_key == (int64_t)(unsigned)key);
	char want[64];
	snprintf(want, sizeof(want), "sysv:0x%08x", (unsigned)key);
	CHECK(strcmp(st.uri, want) == 0);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
	CHECK_RET(shmkit_stat(want, &st), -ENOENT);
	CHECK_OK(shmkit_remove(furi));
	/* ftok of a missing path: -ENOENT, nothing made. */
	CHECK_RET(shmkit_seg_open(&seg, uri, SIZE, SHMKIT_CREATE, 0600), -ENOENT);
}

static void check_private(void)
{
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	CHECK_OK(shmkit_seg_open(&seg, "sysv:private", SIZE, SHMKIT_CREATE, 0600));
	const char *uri = shmkit_seg_uri(seg);
	CHECK(strncmp(uri, "sysv:id=", 8) == 0);
	test_cleanup_add(uri);
	strcpy(shmkit_seg_addr(seg), "private");
	const char *args[] = { uri, "private", NULL };
	CHECK(test_wait(test_spawn_self("reader", args)) == 0);
	CHECK(strcmp((char *)shmkit_seg_addr(seg) + 100, "exec") == 0);
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.sysv_key == 0 && strcmp(st.uri, uri) == 0);
	CHECK_RET(shmkit_remove("sysv:private"), -EINVAL);
	struct shmkit_seg *other;
	CHECK_RET(shmkit_seg_open(&other, uri, SIZE, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_OK(shmkit_remove(uri));
	CHECK_OK(shmkit_seg_close(seg));
}

/* A process that attached the segment and then unmapped its first and last
 * page, and made the third read-only (two mappings): shmkit_peek reads the
 * segment's own offsets through what it still maps, across both mappings,
 * and refuses what nobody maps (it read the first mapping's bytes as offset
 * 0, and past the mapping into whatever followed). */
struct partial {
	const char *uri;
	int ready[2], done[2];
};

static int child_maps_middle(void *arg)
{
	struct partial *p = arg;
	struct shmkit_seg *seg;
	long page = sysconf(_SC_PAGESIZE);
	char c = 1;

	close(p->ready[0]);
	close(p->done[1]);
	CHECK_OK(shmkit_seg_open(&seg, p->uri, 0, 0, 0));
	char *a = shmkit_seg_addr(seg);
	for (int i = 0; i < 4; i++)
		snprintf(a + i * page, 16, "PAGE%d", i);
	CHECK(munmap(a, (size_t)page) == 0);
	CHECK(munmap(a + 3 * page, (size_t)page) == 0);
	CHECK(mprotect(a + 2 * page, (size_t)page, PROT_READ) == 0);
	CHECK(write(p->ready[1], &c, 1) == 1);
	CHECK(read(p->done[0], &c, 1) == 0); /* until the parent closes its end */
	return 0; /* no close: shmdt wants the attach address, unmapped here */
}

static void check_peek_partial(void)
{
	struct partial p = {.uri = test_uri("sysv", "peek-part")};
	struct shmkit_seg *seg;
	long page = sysconf(_SC_PAGESIZE);
	char buf[64], c;

	CHECK_OK(shmkit_seg_open(&seg, p.uri, 4 * (size_t)page, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_seg_close(seg)); /* read through the child alone */
	CHECK(pipe(p.ready) == 0 && pipe(p.done) == 0);
	pid_t pid = test_fork(child_maps_middle, &p);
	close(p.ready[1]);
	close(p.done[0]);
	CHECK(read(p.ready[0], &c, 1) == 1);
	CHECK_RET(shmkit_peek(p.uri, (uint64_t)page, buf, 6), 6);
	CHECK(memcmp(buf, "PAGE1", 6) == 0);
	char *two = malloc(2 * (size_t)page);
	CHECK(two != NULL);
	if (two) {
		CHECK_RET(shmkit_peek(p.uri, (uint64_t)page, two, 2 * (size_t)page),
			  2 * (ssize_t)page);
		CHECK(memcmp(two, "PAGE1", 6) == 0 && memcmp(two + page, "PAGE2", 6) == 0);
		free(two);
	}
	CHECK_RET(shmkit_peek(p.uri, 0, buf, 6), -ENODATA);
	CHECK_RET(shmkit_peek(p.uri, 3 * (uint64_t)page, buf, 6), -ENODATA);
	CHECK_RET(shmkit_peek(p.uri, 3 * (uint64_t)page - 3, buf, 6), -ENODATA);
	close(p.done[1]);
	close(p.ready[0]);
	CHECK_RET(test_wait(pid), 0);
	CHECK_OK(shmkit_remove(p.uri));
}

/* Limits, in a throwaway IPC namespace so the host's settings stay as they are. */
static int child_limits(void *arg)
{
	struct shmkit_seg *a, *b, *c;
	(void)arg;
	if (unshare(CLONE_NEWIPC) < 0)
		return 77;
	FILE *f = fopen("/proc/sys/kernel/shmmni", "w");
	if (!f || fputs("2\n", f) < 0 || fclose(f) != 0)
		return 77;
	f = fopen("/proc/sys/kernel/shmmax", "w");
	if (!f || fputs("1048576\n", f) < 0 || fclose(f) != 0)
		return 77;
	CHECK_RET(shmkit_seg_open(&a, "sysv:0x1234", 2 << 20, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK(strstr(shmkit_last_error_detail(), "shmmax") != NULL);
	CHECK_OK(shmkit_seg_open(&a, "sysv:private", 4096, SHMKIT_CREATE, 0600));
	CHECK_OK(shmkit_seg_open(&b, "sysv:private", 4096, SHMKIT_CREATE, 0600));
	CHECK_RET(shmkit_seg_open(&c, "sysv:0x1234", 4096, SHMKIT_CREATE, 0600), -ENOSPC);
	CHECK(strstr(shmkit_last_error_detail(), "shmmni") != NULL);
	CHECK_OK(shmkit_seg_close(a));
	CHECK_OK(shmkit_seg_close(b));
	/* shmmni 0 (SysV turned off, as some containers are): the ids are the
	 * cause, not shmall (which is unlimited here) */
	f = fopen("/proc/sys/kernel/shmmni", "w");
	if (!f || fputs("0\n", f) < 0 || fclose(f) != 0)
		return 77;
	CHECK_RET(shmkit_seg_open(&c, "sysv:0x1234", 4096, SHMKIT_CREATE, 0600), -ENOSPC);
	CHECK(strstr(shmkit_last_error_detail(), "kernel.shmmni (0)") != NULL);
	CHECK(strstr(shmkit_last_error_detail(), "shmall") == NULL);
	return 0; /* the namespace, and both segments, go with us */
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "reader", role_reader }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);

	check_key();
	check_ftok();
	check_private();
	check_peek_partial();

	/* Beyond shmmax in this namespace: the size_t that no kernel allows
	 * (on i386 SIZE_MAX is 4 GiB - 1, under shmmax: no memory instead). */
	struct shmkit_seg *seg;
	const char *uri = test_uri("sysv", "huge");
	if (sizeof(size_t) == 8) {
		CHECK_RET(shmkit_seg_open(&seg, uri, (size_t)-1, SHMKIT_CREATE, 0600), -EINVAL);
		CHECK(strstr(shmkit_last_error_detail(), "shmmax") != NULL);
	} else {
		CHECK(shmkit_seg_open(&seg, uri, (size_t)-1, SHMKIT_CREATE, 0600) < 0);
	}
	struct shmkit_stat st;
	CHECK_RET(shmkit_stat(uri, &st), -ENOENT);

	if (test_is_root()) {
		int rc = test_wait(test_fork(child_limits, NULL));
		if (rc == 77)
			printf("note: no private IPC namespace here; shmmni/shmmax limits not tried\n");
		else
			CHECK(rc == 0);
	}

	char out[256];
	test_sh_capture(out, sizeof(out), "awk '$5 == %d' /proc/sysvipc/shm | wc -l", (int)getpid());
	if (atoi(out) != 0)
		test_sh("cat /proc/sysvipc/shm");
	CHECK(atoi(out) == 0);
	return test_done();
}
