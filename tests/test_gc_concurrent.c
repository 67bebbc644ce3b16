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
 * changes. */
/* TIMEOUT: 120 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

/* argv: uri, log path -> gc limited to uri, each entry a line of the log;
 * exits with how many it removed. */
static int role_gc(int argc, char **argv)
{
	if (argc < 2)
		return 100;
	FILE *f = fopen(argv[1], "w");
	if (!f)
		return 101;
	int n = shmkit_gc_prefix(0, argv[0], log_entry, f);
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

/* A gc (role_gc) limited to uri, stopped at a pause point, its log in a
 * file named after that point (two gcs at once stop at different ones). */
struct stopped_gc {
	pid_t pid;
	char log[256];
};

static void gc_stop_at(struct stopped_gc *g, const char *uri, const char *point)
{
	snprintf(g->log, sizeof(g->log), "/tmp/shmkit-test-%d-%s.log", (int)getpid(), point);
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

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	unsetenv("SHMKIT_PERSIST"); /* the orphan must be owned, as by default */
	test_removed_at("posix", "gc.posix.listed");
	test_removed_at("posix", "gc.posix.peeked");
	test_removed_at("posix", "gc.posix.judged");
	test_removed_at("sysv", "gc.sysv.unread");
	test_removed_at("sysv", "gc.sysv.judged");
	test_two_gcs();
	test_replaced_held();
	return test_done();
}
