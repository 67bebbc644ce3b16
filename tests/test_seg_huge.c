/* SPDX-License-Identifier: MIT */
/* Huge pages (?huge / SHMKIT_HUGE, DESIGN §9 "Segment options"):
 *  - with no reserved page free, every hugetlb backend fails -ENOMEM with a
 *    detail naming vm.nr_hugepages, and tmpfs without THP -EOPNOTSUPP naming
 *    the mount and shmem_enabled: never a segment on base pages;
 *  - as root, with pages reserved for the test (vm.nr_hugepages raised under
 *    a lock and restored at exit, also on SIGTERM from a timeout): sysv:,
 *    anon:, memfd: and file: on a private hugetlbfs mount give huge pages
 *    that stat reports, data crosses processes, a base-page segment opened
 *    with ?huge is refused, and running out of pages is -ENOMEM with nothing
 *    left behind; posix: over a private tmpfs mounted huge=advise gets
 *    transparent huge pages.
 * TIMEOUT: 120 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "test.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
/* Every test run that changes vm.nr_hugepages holds this lock meanwhile. */
#define HUGEPAGES_LOCK "/tmp/shmkit-test-hugepages.lock"
#define HP (2u << 20)

static long saved_nr = -1;

static long read_nr(void)
{
	char buf[32] = "";
	int fd = open(NR_HUGEPAGES, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static int write_nr(long v)
{
	char buf[32];
	int fd = open(NR_HUGEPAGES, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int len = snprintf(buf, sizeof(buf), "%ld\n", v);
	int ok = write(fd, buf, (size_t)len) == len;
	close(fd);
	return ok ? 0 : -1;
}

static void restore_nr(void)
{
	if (saved_nr >= 0)
		write_nr(saved_nr);
	saved_nr = -1;
}

static void on_signal(int sig)
{
	restore_nr();
	test_cleanup_run();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reserves `n` more huge pages than the machine had; 0 when all came. */
static int reserve_pages(long n)
{
	int lock = open(HUGEPAGES_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) /* kept until exit */
		return -1;
	saved_nr = read_nr();
	if (saved_nr < 0)
		return -1;
	atexit(restore_nr);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (write_nr(saved_nr + n) < 0)
		return -1;
	return read_nr() == saved_nr + n ? 0 : -1;
}

static int free_pages(void)
{
	char out[64] = "";
	test_sh_capture(out, sizeof(out), "awk '/HugePages_Free/ {print $2}' /proc/meminfo");
	return atoi(out);
}

/* With no page to take: every hugetlb backend says so, nothing is left. */
static void check_no_pages(void)
{
	const char *uris[] = { test_uri("sysv", "none"), test_uri("memfd", "none"), "anon:" };
	char uri[256];
	struct shmkit_seg *seg;

	if (free_pages() > 0) {
		printf("note: huge pages are free here; the no-page errors are checked later\n");
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(uri, sizeof(uri), "%s?huge", uris[i]);
		CHECK_RET(shmkit_seg_open(&seg, uri, 3 * HP, SHMKIT_CREATE, 0600), -ENOMEM);
		CHECK(strstr(shmkit_last_error_detail(), "vm.nr_hugepages") != NULL);
		/* The flag is the same as the option. */
		CHECK_RET(shmkit_seg_open(&seg, uris[i], 3 * HP, SHMKIT_CREATE | SHMKIT_HUGE, 0600),
			  -ENOMEM);
	}
	CHECK_RET(shmkit_seg_open(&seg, uris[0], 0, 0, 0), -ENOENT); /* nothing half-made */
}

/* tmpfs without THP (the normal /dev/shm here): -EOPNOTSUPP naming why. */
static void check_posix_no_thp(void)
{
	char uri[256];
	struct shmkit_seg *seg;
	const char *base = test_uri("posix", "nothp");
	struct statfs sf;

	if (statfs("/dev/shm", &sf) < 0 || sf.f_bsize > 4096) {
		printf("note: /dev/shm may give huge pages here; not checking its refusal\n");
		return;
	}
	snprintf(uri, sizeof(uri), "%s?huge", base);
	int rc = shmkit_seg_open(&seg, uri, HP, SHMKIT_CREATE, 0600);
	if (rc == 0) { /* mounted huge=advise: then it must be THP */
		struct shmkit_stat st;
		CHECK_OK(shmkit_seg_stat(seg, &st));
		CHECK(st.pages == SHMKIT_PAGES_THP);
		shmkit_seg_close(seg);
		return;
	}
	CHECK_RET(rc, -EOPNOTSUPP);
	CHECK(strstr(shmkit_last_error_detail(), "huge=") != NULL);
	CHECK(strstr(shmkit_last_error_detail(), "shmem_enabled") != NULL);
	CHECK_RET(shmkit_seg_open(&seg, base, 0, 0, 0), -ENOENT); /* unlinked again */
}

static void check_options(void)
{
	struct shmkit_seg *seg;
	CHECK_RET(shmkit_seg_open(&seg, "anon:?hug", HP, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, "anon:?", HP, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, "anon:?private", HP, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, "fd:3?huge", 0, 0, 0), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, "anon:", HP, 1 << 20, 0600), -EINVAL); /* unknown flag */
}

/* A huge segment: huge-page backed per stat, and shared with a child. */
static void check_huge(const char *uri, int flags)
{
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	CHECK_OK(shmkit_seg_open(&seg, uri, 3 * HP + 100, SHMKIT_CREATE | flags, 0600));
	if (!seg)
		return;
	CHECK(((uintptr_t)shmkit_seg_addr(seg) & (HP - 1)) == 0);
	CHECK(shmkit_seg_size(seg) == 3 * HP + 100);
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.pages == SHMKIT_PAGES_HUGETLB);
	CHECK(st.page_size == HP);
	char *p = shmkit_seg_addr(seg);
	memset(p, 0x5a, 3 * HP + 100);
	pid_t pid = fork();
	if (pid == 0)
		_exit(p[3 * HP + 99] == 0x5a && p[0] == 0x5a ? 0 : 1);
	CHECK(test_wait(pid) == 0);
	CHECK_OK(shmkit_seg_close(seg));
	if (strncmp(uri, "sysv:", 5) == 0)
		CHECK_OK(shmkit_remove(uri)); /* give its pages back for the next case */
}

/* An existing base-page segment opened with ?huge is refused; stat by URI
 * says which pages back each kind. stat never attaches a SysV segment to
 * look (DESIGN §8: that rewrites its last-user pid): it reads the pages
 * from a process that has it attached, here this one. */
static void check_sysv_existing(void)
{
	const char *base = test_uri("sysv", "exist"), *huge = test_uri("sysv", "exhuge");
	char uri[256];
	struct shmkit_seg *seg, *held_base, *held_huge;
	struct shmkit_stat st;

	CHECK_OK(shmkit_seg_open(&held_base, base, HP, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	snprintf(uri, sizeof(uri), "%s?huge", base);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -EOPNOTSUPP);
	CHECK_OK(shmkit_stat(base, &st));
	CHECK(st.pages == SHMKIT_PAGES_BASE);

	snprintf(uri, sizeof(uri), "%s?huge", huge);
	CHECK_OK(shmkit_seg_open(&seg, uri, HP, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_seg_open(&held_huge, uri, 0, 0, 0)); /* open existing with ?huge */
	CHECK_OK(shmkit_stat(huge, &st));
	CHECK(st.pages == SHMKIT_PAGES_HUGETLB && st.page_size == HP);
	/* The CLI says so too. */
	CHECK(test_sh("'%s' stat '%s' | grep -q '^pages: *huge (hugetlb), 2048 kB'",
		      SHMKIT_TOOL_PATH, huge) == 0);
	CHECK(test_sh("'%s' stat '%s' | grep -q '^pages: *base'", SHMKIT_TOOL_PATH, base) == 0);
	CHECK_OK(shmkit_seg_close(held_huge));
	CHECK_OK(shmkit_seg_close(held_base));
	/* Nobody has it attached: unknown, and the look changed nothing. */
	CHECK_OK(shmkit_stat(huge, &st));
	CHECK(st.pages == 0);
	CHECK_OK(shmkit_remove(huge));
}

/* More than is reserved: -ENOMEM naming the setting, nothing left behind. */
static void check_exhausted(void)
{
	const char *uri = test_uri("sysv", "toobig");
	char huge[256];
	struct shmkit_seg *seg;
	size_t too_many = (size_t)(free_pages() + 1) * HP;

	snprintf(huge, sizeof(huge), "%s?huge", uri);
	CHECK_RET(shmkit_seg_open(&seg, huge, too_many, SHMKIT_CREATE, 0600), -ENOMEM);
	CHECK(strstr(shmkit_last_error_detail(), "vm.nr_hugepages") != NULL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), -ENOENT);
	CHECK_RET(shmkit_seg_open(&seg, "anon:?huge", too_many, SHMKIT_CREATE, 0600), -ENOMEM);
	snprintf(huge, sizeof(huge), "%s?huge", test_uri("memfd", "toobig"));
	CHECK_RET(shmkit_seg_open(&seg, huge, too_many, SHMKIT_CREATE, 0600), -ENOMEM);
}

static int private_mount(const char *dir, const char *type, const char *opts)
{
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	return mount("none", dir, type, 0, opts);
}

/* file: on a hugetlbfs mount: huge with or without ?huge; removable. */
static int child_hugetlbfs(void *arg)
{
	const char *dir = arg;
	char a[512], b[512];
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	if (private_mount(dir, "hugetlbfs", NULL) < 0)
		return 77;
	snprintf(a, sizeof(a), "file:%s/a?huge", dir);
	check_huge(a, 0);
	snprintf(b, sizeof(b), "file:%s/b", dir);
	check_huge(b, 0); /* the filesystem decides */
	CHECK_OK(shmkit_stat(b, &st));
	CHECK(st.pages == SHMKIT_PAGES_HUGETLB && st.page_size == HP);
	CHECK(test_sh("'%s' stat '%s' | grep -q '^pages: *huge (hugetlb)'", SHMKIT_TOOL_PATH, b) == 0);
	CHECK_OK(shmkit_seg_open(&seg, b, 100, 0, 0)); /* reopen a part of it */
	CHECK_OK(shmkit_seg_close(seg));
	snprintf(a, sizeof(a), "file:%s/a", dir);
	CHECK_OK(shmkit_remove(a));
	CHECK_OK(shmkit_remove(b));
	return 0;
}

/* posix: over a tmpfs mounted huge=advise: transparent huge pages. */
static int child_thp(void *arg)
{
	(void)arg;
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	if (private_mount("/dev/shm", "tmpfs", "huge=advise,size=64m") < 0)
		return 77;
	CHECK_OK(shmkit_seg_open(&seg, "posix:/shmkit-thp?huge", 4 * HP, SHMKIT_CREATE, 0600));
	if (!seg)
		return 1;
	CHECK_OK(shmkit_seg_stat(seg, &st));
	CHECK(st.pages == SHMKIT_PAGES_THP && st.page_size == HP);
	memset(shmkit_seg_addr(seg), 1, 4 * HP);
	/* A tmpfs that gives every file huge pages: ls marks the segment. */
	CHECK(mount("none", "/dev/shm", "tmpfs", 0, "huge=always,size=64m") == 0);
	struct shmkit_seg *al;
	CHECK_OK(shmkit_seg_open(&al, "posix:/shmkit-thp-always", HP, SHMKIT_CREATE, 0600));
	/* ls of it: memfd segments are the machine's, and one another test
	 * truncates meanwhile stops a whole-machine ls by SIGBUS */
	CHECK(test_sh("'%s' ls posix:/shmkit-thp-always | grep -q '^posix:/shmkit-thp-always *posix\\*'",
		      SHMKIT_TOOL_PATH) == 0);
	CHECK(test_sh("'%s' stat posix:/shmkit-thp-always | grep -q '^pages: *huge (transparent)'",
		      SHMKIT_TOOL_PATH) == 0);
	shmkit_seg_close(al);
	CHECK(umount("/dev/shm") == 0);
	char out[64] = "";
	test_sh_capture(out, sizeof(out), "awk '/ShmemHugePages/ {print $2}' /proc/meminfo");
	printf("ShmemHugePages with the THP segment mapped: %s kB\n", out);
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove("posix:/shmkit-thp"));
	/* A tmpfs mounted huge=never refuses, naming the mount. */
	CHECK(mount("none", "/dev/shm", "tmpfs", 0, "huge=never,size=8m") == 0);
	CHECK_RET(shmkit_seg_open(&seg, "posix:/shmkit-thp?huge", HP, SHMKIT_CREATE, 0600),
		  -EOPNOTSUPP);
	CHECK(strstr(shmkit_last_error_detail(), "/dev/shm") != NULL);
	return 0;
}

static void run_child(int (*fn)(void *), void *arg, const char *what)
{
	int rc = test_wait(test_fork(fn, arg));
	if (rc == 77)
		printf("note: cannot mount %s here; not checked\n", what);
	else
		CHECK(rc == 0);
}

int main(void)
{
	/* valgrind 3.19 maps neither SHM_HUGETLB nor MAP_HUGETLB memory */
	if (test_under_valgrind())
		test_skip("huge pages: not under valgrind");
	check_options();
	check_no_pages();
	check_posix_no_thp();
	if (!test_is_root())
		test_skip("reserving huge pages (vm.nr_hugepages) needs root");
	if (reserve_pages(16) < 0) {
		restore_nr();
		test_skip("cannot reserve huge pages here (vm.nr_hugepages)");
	}
	char uri[256];
	snprintf(uri, sizeof(uri), "%s?huge", test_uri("sysv", "huge"));
	check_huge(uri, 0);
	check_huge("anon:?huge", 0);
	check_huge("anon:", SHMKIT_HUGE);
	snprintf(uri, sizeof(uri), "%s?huge", test_uri("memfd", "huge"));
	check_huge(uri, 0);
	check_huge(test_uri("sysv", "flag"), SHMKIT_HUGE);
	check_sysv_existing();
	check_exhausted();

	char dir[] = "/tmp/shmkit-test-huge-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	run_child(child_hugetlbfs, dir, "hugetlbfs");
	rmdir(dir);
	run_child(child_thp, NULL, "a tmpfs with huge=advise");
	restore_nr();
	return test_done();
}
