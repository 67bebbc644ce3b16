/* SPDX-License-Identifier: MIT */
/* Descriptor and mapping limits surface as clean errors, never as a crash,
 * a hang, or a silently short answer:
 *  - RLIMIT_NOFILE = 10: creating segments until the limit gives -EMFILE
 *    with a detail, the handles made before keep working, closing one lets
 *    the next create succeed, nothing leaks;
 *  - shmkit_seg_recv in a process with no free descriptor: -EMFILE, and the
 *    sender's segment is intact;
 *  - `prlimit --nofile=4 shmkit ls` / `shmkit stat` (too few descriptors to
 *    read /proc): exit 1 with "Too many open files", not exit 0 with users
 *    and kinds silently missing; gc under the same limit skips, removes
 *    nothing;
 *  - the mapping limit (vm.max_map_count): reached by this process's own
 *    mappings rather than by lowering the machine-wide sysctl, which other
 *    programs on a shared machine would feel too (the kernel checks the
 *    same count against the same limit): creating or opening a segment then
 *    fails with -ENOMEM and a detail; after unmapping, it works. */
/* TIMEOUT: 120 */
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static int nofile_child(void *arg)
{
	(void)arg;
	struct rlimit rl = { 10, 10 };
	struct shmkit_queue *q[16];
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	char buf[16];
	int n = 0, r = 0;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 2;
	int before = count_fds();
	while (n < 16 && (r = shmkit_queue_create(&q[n], "memfd:lim", &o)) == 0)
		n++;
	if (r != -EMFILE || n == 0 || n == 16) {
		fprintf(stderr, "made %d, then %d (%s)\n", n, r, shmkit_strerror(r));
		return 3;
	}
	if (shmkit_last_error_detail()[0] == '\0')
		return 4;
	printf("RLIMIT_NOFILE 10: %d memfd queues, then -EMFILE (%s)\n", n, shmkit_last_error_detail());
	for (int i = 0; i < n; i++)
		if (shmkit_queue_send(q[i], "ok", 2, 0) != 0 || shmkit_queue_recv(q[i], buf, 16, 0) != 2)
			return 5;
	shmkit_queue_close(q[--n]);
	if (shmkit_queue_create(&q[n], "memfd:lim", &o) != 0)
		return 6;
	n++;
	while (n > 0)
		shmkit_queue_close(q[--n]);
	return count_fds() == before ? 0 : 7;
}

/* The receiver has no descriptor left: the kernel cannot hand it the fd. */
static int recv_full_child(void *arg)
{
	int sock = *(int *)arg;
	struct shmkit_seg *seg = NULL;
	struct rlimit rl = { 64, 64 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 2;
	while (dup(0) >= 0) /* take every descriptor the limit allows */
		;
	int fds = count_fds(); /* the count needs one too: there is one free now */
	int spare = dup(0);
	int r = shmkit_seg_recv(sock, &seg, 0);
	printf("recv with no descriptor free: %s (%s)\n", shmkit_strerror(r),
	       shmkit_last_error_detail());
	if (r != -EMFILE || seg != NULL)
		return 3;
	close(spare);
	return count_fds() == fds ? 0 : 4;
}

static void test_recv_no_fd(void)
{
	int sv[2];
	struct shmkit_seg *seg;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_RET(shmkit_seg_open(&seg, "memfd:lim-pass", 8192, SHMKIT_CREATE, 0), 0);
	memcpy(shmkit_seg_addr(seg), "intact", 7);
	pid_t c = test_fork(recv_full_child, &sv[1]);
	CHECK_RET(shmkit_seg_send(sv[0], seg), 0);
	CHECK(test_wait(c) == 0);
	CHECK(memcmp(shmkit_seg_addr(seg), "intact", 7) == 0);
	shmkit_seg_close(seg);
	close(sv[0]);
	close(sv[1]);
}

/* Runs the shmkit tool with only 4 descriptors allowed, after closing any
 * descriptor above 2 that the test runner let us inherit (each would take
 * one of the 4). */
#define LOW_NOFILE "bash -c 'for f in $(ls /proc/$$/fd); do [ $f -gt 2 ] && eval \"exec $f>&-\"; done; " \
		   "exec prlimit --nofile=4 \"$@\"' low-nofile " SHMKIT_TOOL_PATH

static void test_cli_low_nofile(void)
{
	char out[8192];
	const char *uri = test_uri("posix", "lim-cli");
	struct shmkit_queue *q;
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	if (test_sh("command -v prlimit >/dev/null") != 0) {
		printf("prlimit missing: CLI part skipped\n");
		return;
	}
	CHECK_RET(shmkit_queue_create(&q, uri, &o), 0); /* we map it: one user */
	int rc = test_sh_capture(out, sizeof(out), LOW_NOFILE " ls 2>&1");
	printf("ls at nofile 4: exit %d: %.200s\n", rc, out);
	CHECK(rc == 1 && strstr(out, "Too many open files"));
	rc = test_sh_capture(out, sizeof(out), LOW_NOFILE " stat %s 2>&1", uri);
	CHECK(rc == 1 && strstr(out, "Too many open files"));
	rc = test_sh_capture(out, sizeof(out), LOW_NOFILE " gc --prefix %s 2>&1", uri);
	printf("gc at nofile 4: exit %d: %.200s\n", rc, out);
	struct shmkit_stat st;
	CHECK_RET(shmkit_stat(uri, &st), 0); /* not removed */
	/* with enough descriptors: the full answer, with us as the user */
	rc = test_sh_capture(out, sizeof(out), "%s stat %s 2>&1", SHMKIT_TOOL_PATH, uri);
	CHECK(rc == 0);
	shmkit_queue_close(q);
	shmkit_remove(uri);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Fills the address space with one-page mappings (alternating protections,
 * so the kernel cannot merge them) until mmap says ENOMEM. */
static int map_child(void *arg)
{
	const char *uri = arg;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0, cap = 1 << 20;
	void **maps = malloc(cap * sizeof(*maps));
	if (!maps)
		return 2;
	for (;;) {
		void *p = mmap(NULL, page, (n & 1) ? PROT_READ : PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			break;
		maps[n++] = p;
		if (n == cap)
			return 3;
	}
	/* Every mapping the limit allows is taken. */
	struct shmkit_seg *seg;
	int r = shmkit_seg_open(&seg, uri, 8192, SHMKIT_CREATE, 0);
	int r2 = r;
	if (r != -ENOMEM)
		fprintf(stderr, "create at the mapping limit: %d (%s)\n", r, shmkit_strerror(r));
	const char *why = shmkit_last_error_detail();
	int has_detail = why[0] != '\0';
	for (size_t i = 0; i < 16 && n > 0; i++)
		munmap(maps[--n], page);
	r = shmkit_seg_open(&seg, uri, 8192, SHMKIT_CREATE, 0);
	printf("mapping limit after %zu mappings: create %s (%s); after unmapping 16: %d\n", n + 16,
	       shmkit_strerror(r2), has_detail ? "with a detail" : "no detail", r);
	if (r2 != -ENOMEM || !has_detail || r != 0)
		return 4;
	shmkit_seg_close(seg);
	return 0;
}
#endif

int main(void)
{
	/* valgrind keeps descriptors and mappings of its own inside the
	 * process, so limits counted from this process's side mean other
	 * numbers there; the CLI case runs the tool outside it. */
	if (test_under_valgrind()) {
		printf("descriptor and mapping limits: not under valgrind\n");
		test_cli_low_nofile();
		return test_done();
	}
	CHECK(test_wait(test_fork(nofile_child, NULL)) == 0);
	test_recv_no_fd();
	test_cli_low_nofile();
#if defined(__SANITIZE_ADDRESS__)
	printf("mapping limit: not in the ASan build (its allocator needs new mappings)\n");
#else
	const char *uri = test_uri("posix", "lim-maps");
	CHECK(test_wait(test_fork(map_child, (void *)uri)) == 0);
	shmkit_remove(uri);
#endif
	return test_done();
}
