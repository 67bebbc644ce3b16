/* SPDX-License-Identifier: MIT */
/* gc while the orphan it looks at goes away: two `shmkit gc` at once, or a
 * gc and an rm. The one that found the file gone reported it "skipped ...
 * the kernel cannot be asked (Permission denied)" (its lease probe mapped
 * the open's ENOENT to -EACCES), or "kept; but it changed meanwhile", or
 * "cannot look inside (No such file or directory)", depending on where it
 * was. It now says nothing of a file that is gone; nor of a SysV segment
 * (it said "cannot attach to look (Invalid argument)", or "kept; but it
 * was attached meanwhile"). And a name that names
 * another file by the time of the lease probe is no longer answered for
 * that other file's holders ("a process that cannot be inspected has it
 * open"). Each gc here is stopped at a pause point while the name
 * changes; or killed there (kill -9): what it judged stays whole, and the
 * next gc removes it. */
/* TIMEOUT: 120 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define SIZE 4096

/* argv: uri -> creates an owned raw object and exits without closing. */
static int role_owned_creator(int argc, char **argv)
{
	struct shmkit_raw *r;
	return argc >= 1 && shmkit_raw_create(&r, argv[0], SIZE, 0600) == 0 ? 0 : 1;
}

static int log_entry(const struct shmkit_gc_entry *e, void *arg)
{
	fprintf(arg, "%s %s: %s\n", shmkit_gc_verdict_name(e->verdict), e->uri, e->reason);
	return 0;
}

/* argv: uri, log path [, "foreign"] -> gc limited to uri (with
 * SHMKIT_GC_FOREIGN), each entry a line of the log; exits with how many it
 * removed. */
static int role_gc(int argc, char **argv)
{
	if (argc < 2)
		return 100;
	FILE *f = fopen(argv[1], "w");
	if (!f)
		return 101;
	int n = shmkit_gc_prefix(argc > 2 ? SHMKIT_GC_FOREIGN : 0, argv[0], log_entry, f);
	fclose(f);
	return n < 0 ? 100 : n;
}

static const struct test_role roles[] = {
    {"owned_creator", role_owned_creator},
    {"gc", role_gc},
    {NULL, NULL},
};

static void make_orphan(const char *uri)
{
	const char *args[] = {uri, NULL};
	CHECK_RET(test_wait(test_spawn_self("owned_creator", args)), 0);
}

/* What the gc whose log is at path said, "" for nothing. */
static void read_log(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(out, 1, cap - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	unlink(path);
	if (n)
		fprintf(stderr, "  gc said: %s", out);
}

/* Where a gc run of this test tagged `tag` writes what it says. */
/* A gc's log: read_log removes it; a test that stops first (a failed
 * check that exits) leaves none behind either. */
static void log_path(char *path, size_t cap, const char *tag)
{
	char uri[320];
	snprintf(path, cap, "/tmp/shmkit-test-%d-%s.log", (int)getpid(), tag);
	snprintf(uri, sizeof(uri), "file:%s", path);
	test_cleanup_add(uri);
}

/* A gc (role_gc) limited to uri, stopped at a pause point, its log in a
 * file named after that point (two gcs at once stop at different ones). */
struct stopped_gc {
	pid_t pid;
	char log[256];
};

static void gc_stop_at(struct stopped_gc *g, const char *uri, const char *point)
{
	log_path(g->log, sizeof(g->log), point);
	const char *args[] = {uri, g->log, NULL};
	g->pid = test_spawn_paused(point, "gc", args);
}

/* Continue it: it must exit having removed `removed` objects; what it said
 * lands in said ("" for nothing). */
static void gc_go_on(struct stopped_gc *g, int removed, char *said, size_t cap)
{
	kill(g->pid, SIGCONT);
	CHECK_RET(test_wait(g->pid), removed);
	read_log(g->log, said, cap);
}

/* A gc stopped at `point` while the orphan is removed (shmkit_remove, as
 * rm or another gc would): it removes nothing and says nothing of it. */
static void test_removed_at(const char *scheme, const char *point)
{
	const char *uri = test_uri(scheme, "gc-gone");
	struct stopped_gc gc;
	char said[2048];

	make_orphan(uri);
	gc_stop_at(&gc, uri, point);
	CHECK_OK(shmkit_remove(uri));
	gc_go_on(&gc, 0, said, sizeof(said));
	CHECK(said[0] == '\0');
}

static int sysv_key_of(const char *uri)
{
	return (int)strtoul(uri + strlen("sysv:"), NULL, 16);
}

/* Another program's segment: made, used and left by a process that exits. */
static int foreign_segment(void *arg)
{
	int id = shmget(sysv_key_of(arg), SIZE, IPC_CREAT | IPC_EXCL | 0600);
	void *p = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
	return p == (void *)-1 || shmdt(p) < 0;
}

/* Attaches and detaches SysV id: its last user. */
static int use_segment(void *arg)
{
	void *p = shmat(*(int *)arg, NULL, SHM_RDONLY);
	return p == (void *)-1 || shmdt(p) < 0;
}

/* gc --foreign judged another program's segment abandoned (creator and last
 * user dead, nothing attached), then stopped before removing it; a process
 * that attached and detached it meanwhile is its last user now (helper
 * h38d): gc keeps it and says so. It removed it on the proof read before. */
static void test_foreign_used_meanwhile(void)
{
	const char *uri = test_uri("sysv", "h38d-foreign");
	struct stopped_gc gc;
	char said[2048];

	CHECK_RET(test_wait(test_fork(foreign_segment, (void *)uri)), 0);
	int id = shmget(sysv_key_of(uri), 0, 0);
	CHECK(id >= 0);
	log_path(gc.log, sizeof(gc.log), "gc.sysv.foreign");
	const char *args[] = {uri, gc.log, "foreign", NULL};
	gc.pid = test_spawn_paused("gc.sysv.foreign", "gc", args);
	CHECK_RET(test_wait(test_fork(use_segment, &id)), 0);
	gc_go_on(&gc, 0, said, sizeof(said));
	CHECK(strstr(said, "used it meanwhile") != NULL);
	CHECK(shmget(sysv_key_of(uri), 0, 0) == id);
	CHECK_OK(shmkit_remove(uri));
}

/* A gc killed -9 at `point`: the orphan is still there, whole, and the next
 * gc removes it (killed at unlink.locked, it held the name's lock, which
 * goes with the process). */
static void test_killed_at(const char *scheme, const char *point)
{
	const char *uri = test_uri(scheme, "h37c-gc-killed");
	struct stopped_gc gc;
	struct shmkit_stat st;
	char said[2048];

	make_orphan(uri);
	gc_stop_at(&gc, uri, point);
	CHECK_RET(test_kill_stopped(gc.pid), 128 + SIGKILL);
	unlink(gc.log);
	CHECK_OK(shmkit_stat(uri, &st));
	/* nobody has a SysV one attached: stat does not attach to look inside */
	CHECK(st.managed || strcmp(scheme, "sysv") == 0);
	log_path(gc.log, sizeof(gc.log), "after-kill");
	const char *args[] = {uri, gc.log, NULL};
	CHECK_RET(test_wait(test_spawn_self("gc", args)), 1);
	read_log(gc.log, said, sizeof(said));
	CHECK_RET(shmkit_stat(uri, &st), -ENOENT);
}

/* Two gc runs at once: the first stopped after all its looks, the second
 * after its first look; the first removes the orphan, then the second
 * goes on. It said "kept; but it changed meanwhile" (as root) or
 * "skipped ... the kernel cannot be asked (Permission denied)". */
static void test_two_gcs(void)
{
	const char *uri = test_uri("posix", "gc-two");
	struct stopped_gc first, second;
	char said[2048];

	make_orphan(uri);
	gc_stop_at(&first, uri, "gc.posix.judged");
	gc_stop_at(&second, uri, "gc.posix.peeked");
	gc_go_on(&first, 1, said, sizeof(said)); /* removed it */
	CHECK(strncmp(said, "removed ", 8) == 0);
	gc_go_on(&second, 0, said, sizeof(said));
	CHECK(said[0] == '\0');
}

/* Two gc runs at once, the first stopped after its first look, holding the
 * file by an O_PATH descriptor (its pin against a remove-and-create under
 * the name): the second judged that pin a holder and kept the orphan,
 * "mapped or held open by live pid N" -- each of two concurrent gcs blamed
 * the other. An O_PATH descriptor can neither read, write nor map it: the
 * second removes it, and the first then says nothing of it. */
static void test_gc_beside_a_pinning_gc(void)
{
	const char *uri = test_uri("posix", "gc-pin");
	char said[2048], path[256];
	struct stopped_gc first;

	make_orphan(uri);
	gc_stop_at(&first, uri, "gc.posix.peeked");
	log_path(path, sizeof(path), "second");
	const char *gc_args[] = {uri, path, NULL};
	CHECK_RET(test_wait(test_spawn_self("gc", gc_args)), 1);
	read_log(path, said, sizeof(said));
	CHECK(strncmp(said, "removed ", 8) == 0);
	gc_go_on(&first, 0, said, sizeof(said));
	CHECK(said[0] == '\0');
}

/* A gc stopped after its first look while the name is given to another
 * file that a live process holds open: the lease probe, by name, asked
 * about that file and gc blamed "a process that cannot be inspected" for
 * the one it judged. It is kept as changed meanwhile. */
static void test_replaced_held(void)
{
	const char *uri = test_uri("posix", "gc-other");
	struct stopped_gc gc;
	char said[2048], file[512];

	make_orphan(uri);
	gc_stop_at(&gc, uri, "gc.posix.peeked");
	snprintf(file, sizeof(file), "/dev/shm%s", strchr(uri, ':') + 1);
	CHECK(unlink(file) == 0);
	int fd = open(file, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600); /* another program's */
	CHECK(fd >= 0);
	gc_go_on(&gc, 0, said, sizeof(said));
	CHECK(strstr(said, "changed meanwhile") != NULL);
	CHECK(strstr(said, "cannot be inspected") == NULL);
	if (fd >= 0)
		close(fd);
	CHECK(unlink(file) == 0);
}

/* A stopped child of parent (its lease probe at a pause point), or -1
 * once parent has exited, or after 10 s. */
static pid_t stopped_child(pid_t parent)
{
	for (int i = 0; i < 1000 && kill(parent, 0) == 0; i++) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			char path[300], buf[512], state = 0;
			int ppid = 0;
			snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
			FILE *f = fopen(path, "r");
			size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
			if (f)
				fclose(f);
			buf[n] = '\0';
			const char *end = strrchr(buf, ')'); /* comm may hold anything */
			if (end && sscanf(end + 1, " %c %d", &state, &ppid) == 2 && state == 'T' &&
			    ppid == parent) {
				pid_t pid = atoi(e->d_name);
				closedir(d);
				return pid;
			}
		}
		if (d)
			closedir(d);
		usleep(10000);
	}
	return -1;
}

/* A gc of uri (its log at path) whose lease probe, a child, is stopped at
 * pause point `point`: the probe's pid, *gc the gc's; or -1 where readers
 * are not counted (the probe stops nowhere: the gc has been reaped). */
static pid_t gc_with_stopped_probe(const char *uri, const char *path, const char *point,
				   pid_t *gc)
{
	const char *args[] = {uri, path, NULL};
	char said[2048];

	setenv("SHMKIT_TEST_PAUSE", point, 1);
	*gc = test_spawn_self("gc", args);
	unsetenv("SHMKIT_TEST_PAUSE");
	pid_t probe = stopped_child(*gc);
	if (probe < 0) {
		test_wait(*gc);
		read_log(path, said, sizeof(said));
		fprintf(stderr, "  no lease probe stopped at %s here: not tested\n", point);
	}
	return probe;
}

/* A gc whose lease probe (a child) was killed by another signal than SIGIO
 * read it as "held": the orphan was kept, blamed on "a process that cannot
 * be inspected". The probe did not answer: the orphan is skipped, and the
 * reason says the probe was killed: before it asked for the lease
 * (holders.probe) or holding it (holders.leased, the lease goes with it). */
static void test_probe_killed(const char *point)
{
	const char *uri = test_uri("posix", "gc-probe");
	char path[256], said[2048];
	log_path(path, sizeof(path), "probe");
	struct shmkit_stat st;
	pid_t gc;

	make_orphan(uri);
	pid_t probe = gc_with_stopped_probe(uri, path, point, &gc);
	if (probe < 0)
		return;
	kill(probe, SIGKILL);
	CHECK_RET(test_wait(gc), 0);
	read_log(path, said, sizeof(said));
	CHECK(strncmp(said, "skipped ", 8) == 0);
	CHECK(strstr(said, "lease probe (a child process) was killed by signal 9") != NULL);
	CHECK_OK(shmkit_stat(uri, &st)); /* still there */
}

/* The same probe stopped with its lease granted while a process opens the
 * file: the open breaks the lease, and the orphan is kept (the probe used
 * to die of the SIGIO that says so; it now reads the break back). */
static void test_probe_sees_opener(void)
{
	const char *uri = test_uri("posix", "gc-opener");
	char path[256], said[2048], file[512];
	log_path(path, sizeof(path), "opener");
	pid_t gc;

	make_orphan(uri);
	snprintf(file, sizeof(file), "/dev/shm%s", strchr(uri, ':') + 1);
	pid_t probe = gc_with_stopped_probe(uri, path, "holders.leased", &gc);
	if (probe < 0)
		return;
	int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(fd < 0 && errno == EWOULDBLOCK); /* the lease holds it off, and breaks */
	kill(probe, SIGCONT);
	CHECK_RET(test_wait(gc), 0);
	read_log(path, said, sizeof(said));
	CHECK(strncmp(said, "kept ", 5) == 0);
	CHECK(strstr(said, "an open broke it") != NULL);
	if (fd >= 0)
		close(fd);
}

/* A lease probe refused because another process had the file open for an
 * instant (another gc's look or probe, a `shmkit ls`): the orphan was kept,
 * "a process that cannot be inspected has it open". The refusal is asked
 * again a moment later: here the first probe meets an open descriptor,
 * closed before the second probe, which is granted the lease. */
static void test_probe_refused_once(void)
{
	const char *uri = test_uri("posix", "gc-brief");
	char path[256], said[2048], file[512];
	log_path(path, sizeof(path), "brief");
	pid_t gc;

	make_orphan(uri);
	snprintf(file, sizeof(file), "/dev/shm%s", strchr(uri, ':') + 1);
	pid_t probe = gc_with_stopped_probe(uri, path, "holders.probe", &gc);
	if (probe < 0) {
		shmkit_remove(uri);
		return;
	}
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	kill(probe, SIGCONT);
	while (kill(probe, 0) == 0) /* until it answered "refused" and was reaped */
		usleep(1000);
	if (fd >= 0)
		close(fd);
	pid_t again = stopped_child(gc);
	CHECK(again > 0);
	if (again > 0)
		kill(again, SIGCONT);
	CHECK_RET(test_wait(gc), 1);
	read_log(path, said, sizeof(said));
	CHECK(strncmp(said, "removed ", 8) == 0);
	shmkit_remove(uri);
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	unsetenv("SHMKIT_PERSIST"); /* the orphan must be owned, as by default */
	test_removed_at("posix", "gc.posix.listed");
	test_removed_at("posix", "gc.posix.peeked");
	test_removed_at("posix", "gc.posix.judged");
	test_removed_at("sysv", "gc.sysv.unread");
	test_removed_at("sysv", "gc.sysv.judged");
	test_killed_at("posix", "gc.posix.listed");
	test_killed_at("posix", "gc.posix.peeked");
	test_killed_at("posix", "gc.posix.judged");
	test_killed_at("posix", "unlink.locked");
	test_killed_at("sysv", "gc.sysv.unread");
	test_killed_at("sysv", "gc.sysv.judged");
	test_foreign_used_meanwhile();
	test_two_gcs();
	test_gc_beside_a_pinning_gc();
	test_replaced_held();
	test_probe_killed("holders.probe");
	test_probe_killed("holders.leased");
	test_probe_sees_opener();
	test_probe_refused_once();
	return test_done();
}
