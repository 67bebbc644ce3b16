/* SPDX-License-Identifier: MIT */
/* shmkit_gc: removes only what is provably orphaned (kill -9), keeps what a
 * live process maps or is attached to, never touches other programs'
 * segments without --foreign, and --dry-run removes nothing. Limited with a
 * prefix to this run's own segments, as other tests run in parallel. */
/* TIMEOUT: 90 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc_seen.h"
#include "internal.h"
#include "layout.h"
#include "managed.h"

static char posix_prefix[64], sysv_prefix[64];

static int exists(const char *uri)
{
	struct shmkit_stat st;
	return shmkit_stat(uri, &st) == 0;
}

/* ---- exec'd roles ---- */

/* argv: uri -> creates a raw object and holds it until killed. */
static int role_create_hold(int argc, char **argv)
{
	struct shmkit_raw *r;
	if (argc < 1 || shmkit_raw_create(&r, argv[0], 10000, 0) != 0)
		return 3;
	/* No data written: an owned object that holds nothing is gc's to remove
	 * once its users are gone (test_gc_own covers objects holding data). */
	for (;;)
		pause();
}

/* argv: uri -> creates a queue (the test stops it before it is ready). */
static int role_create_queue(int argc, char **argv)
{
	struct shmkit_queue_opts o = {.capacity = 4, .max_msg = 8};
	struct shmkit_queue *q;
	return argc >= 1 && shmkit_queue_create(&q, argv[0], &o) == 0 ? 0 : 3;
}

/* argv: uri -> creates a topic (the test stops it before it is ready). */
static int role_create_topic(int argc, char **argv)
{
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 4, .max_subs = 2};
	return argc >= 1 && shmkit_topic_create(argv[0], &o) == 0 ? 0 : 3;
}

/* argv: uri -> maps it with the plain segment API (no attach entry). */
static int role_map_hold(int argc, char **argv)
{
	struct shmkit_seg *seg;
	if (argc < 1 || shmkit_seg_open(&seg, argv[0], 0, SHMKIT_RDONLY, 0) != 0)
		return 3;
	for (;;)
		pause();
}

/* argv: uri -> opens it as a raw object (attach entry) and holds it. */
static int role_attach_hold(int argc, char **argv)
{
	struct shmkit_raw *r;
	if (argc < 1 || shmkit_raw_open(&r, argv[0]) != 0)
		return 3;
	for (;;)
		pause();
}

static const struct test_role roles[] = {
    {"create_hold", role_create_hold},
    {"create_queue", role_create_queue},
    {"create_topic", role_create_topic},
    {"map_hold", role_map_hold},
    {"attach_hold", role_attach_hold},
    {NULL, NULL},
};

static pid_t spawn(const char *role, const char *uri)
{
	const char *args[] = {uri, NULL};
	return test_spawn_self(role, args);
}

static void kill_wait(pid_t pid)
{
	kill(pid, SIGKILL);
	test_wait(pid);
}

/* Waits until uri is a ready raw object with `want` live users besides
 * the creator recorded or mapping (checked through the attach table). */
static void wait_ready(const char *uri)
{
	struct shmkit_raw *r = NULL;
	int64_t end = test_now_ns() + 10ll * 1000000000;
	int err;
	while ((err = shmkit_raw_open(&r, uri)) != 0 && test_now_ns() < end)
		usleep(2000);
	CHECK_RET(err, 0);
	if (r)
		shmkit_raw_close(r);
}

static void wait_mapped_by(const char *uri, pid_t pid)
{
	int64_t end = test_now_ns() + 10ll * 1000000000;
	for (;;) {
		struct shmkit_stat st;
		int found = 0;
		if (shmkit_stat(uri, &st) == 0)
			for (int i = 0; i < st.n_mappers && i < SHMKIT_STAT_MAPPERS; i++)
				found |= st.mappers[i].pid == pid;
		if (found || test_now_ns() > end)
			break;
		usleep(2000);
	}
}

/* ---- tests ---- */

static void test_orphan_removed(const char *scheme)
{
	const char *uri = test_uri(scheme, "orphan");
	const char *prefix = strcmp(scheme, "sysv") == 0 ? sysv_prefix : posix_prefix;
	struct seen s;

	pid_t creator = spawn("create_hold", uri);
	wait_ready(uri);
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(uri, &st));
	char id_uri[64];
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", st.sysv_id);

	/* Alive: kept, and says who. */
	CHECK(gc_one(prefix, 0, uri, id_uri, &s) >= 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK(exists(uri));

	kill_wait(creator);
	if (strcmp(scheme, "sysv") == 0) {
		/* A dry run never attaches SysV to look: it says so. */
		CHECK_RET(gc_one(prefix, SHMKIT_GC_DRY_RUN, uri, id_uri, &s), 0);
		CHECK(s.found == 1 && s.verdict == SHMKIT_GC_SKIPPED);
		CHECK(strstr(s.reason, "not read in a dry run") != NULL);
	} else {
		CHECK_RET(gc_one(prefix, SHMKIT_GC_DRY_RUN, uri, id_uri, &s), 1);
		CHECK(s.found == 1 && s.verdict == SHMKIT_GC_WOULD_REMOVE);
		CHECK(strstr(s.reason, "dead") != NULL);
	}
	CHECK(exists(uri)); /* a dry run removes nothing */
	CHECK_RET(gc_one(prefix, 0, uri, id_uri, &s), 1);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_REMOVED);
	CHECK(!exists(uri));
}

static void test_in_use_kept(void)
{
	const char *uri = test_uri("posix", "inuse");
	struct seen s;

	pid_t creator = spawn("create_hold", uri);
	wait_ready(uri);
	pid_t mapper = spawn("map_hold", uri);
	wait_mapped_by(uri, mapper);
	pid_t attacher = spawn("attach_hold", uri);
	/* The attacher shows up in the attach table once its open returns. */
	int64_t end = test_now_ns() + 10ll * 1000000000;
	struct shmkit_attacher a[8];
	while (shmkit_managed_attachers(uri, a, 8) < 2 && test_now_ns() < end)
		usleep(2000);
	kill_wait(creator);

	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK(strstr(s.reason, "attached pid") != NULL);
	kill_wait(attacher);

	/* Creator and attacher dead, but a live process maps it: kept. */
	CHECK_RET(gc_once(posix_prefix, 0, uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK(strstr(s.reason, "mapped or held open") != NULL);
	CHECK(exists(uri));

	kill_wait(mapper);
	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 1);
	CHECK(s.verdict == SHMKIT_GC_REMOVED && !exists(uri));
}

/* The CLI's reader and writer (recv/send, sub/pub; the writer given one
 * message) wait for a live creator still initializing uri within their
 * --timeout, not the open's fixed second, and then say who they waited for.
 * The --timeout is twice that second, so a lower bound tells them
 * apart: an upper one ("0.2 s, under 0.9") counted the tool's own start and
 * exit too, 0.2-0.7 s for the ASan build on a busy machine, and failed there
 * (1 of 3 runs of its suite under load). */
static void cli_waits_for_creator(const char *uri, const char *reader, const char *writer)
{
	const char *cmds[] = {reader, writer};
	char out[1024];

	for (int i = 0; i < 2; i++) {
		const char *msg = i ? " x" : "";
		int64_t t0 = test_now_ns();
		CHECK_RET(test_sh_capture(out, sizeof(out), "'%s' %s '%s'%s --timeout 2 2>&1",
					  SHMKIT_TOOL_PATH, cmds[i], uri, msg),
			  1);
		int64_t took = test_now_ns() - t0;
		CHECK(took >= 2000000000LL && took < 7000000000LL); /* its --timeout, then it ends */
		CHECK(strstr(out, "timed out waiting for it to be ready: creator pid ") != NULL);
		CHECK(strstr(out, "is still initializing it") != NULL);
		CHECK_RET(test_sh_capture(out, sizeof(out), "'%s' %s '%s'%s --timeout 0 2>&1",
					  SHMKIT_TOOL_PATH, cmds[i], uri, msg),
			  1);
		CHECK(strstr(out, "not ready (--timeout 0 does not wait): creator pid ") != NULL);
	}
}

/* The creator killed half-way through create: the half-built object goes too. */
static void test_half_built_removed(void)
{
	const char *uri = test_uri("posix", "half");
	struct seen s;
	const char *args[] = {uri, NULL};

	pid_t pid = test_spawn_paused("managed.init", "create_hold", args);
	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 0);
	CHECK(s.verdict == SHMKIT_GC_KEPT); /* stopped, not dead */
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 1);
	CHECK(s.verdict == SHMKIT_GC_REMOVED && !exists(uri));

	/* A queue left so: the CLI says what it is, not the reason of a lock
	 * to repair ("previous owner died; lock held, state must be repaired") */
	const char *quri = test_uri("posix", "half-queue");
	char out[1024];
	args[0] = quri;
	pid = test_spawn_paused("managed.init", "create_queue", args);
	cli_waits_for_creator(quri, "recv", "send");
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_RET(test_sh_capture(out, sizeof(out), "'%s' recv '%s' --timeout 0 2>&1",
				  SHMKIT_TOOL_PATH, quri),
		  1);
	CHECK(strstr(out, "died before the object was ready: it was never finished") != NULL);
	CHECK(strstr(out, "repaired") == NULL);
	CHECK_RET(gc_one(posix_prefix, 0, quri, NULL, &s), 1);

	const char *turi = test_uri("posix", "half-topic");
	args[0] = turi;
	pid = test_spawn_paused("managed.init", "create_topic", args);
	cli_waits_for_creator(turi, "sub", "pub");
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_RET(gc_one(posix_prefix, 0, turi, NULL, &s), 1);
}

/* Whatever cannot be proven is skipped and said: an attacher whose identity
 * cannot be judged, a corrupt header, a segment gc may not open. */
static int gc_as_nobody(void *arg)
{
	struct seen s;
	if (setgid(65534) != 0 || setuid(65534) != 0)
		return 10;
	if (gc_one(posix_prefix, 0, arg, NULL, &s) != 0)
		return 11;
	if (s.found != 1 || s.verdict != SHMKIT_GC_SKIPPED)
		return 12;
	return strstr(s.reason, "Permission denied") ? 0 : 13;
}

static void test_unprovable_skipped(void)
{
	const char *uri = test_uri("posix", "unprovable");
	struct seen s;

	pid_t creator = spawn("create_hold", uri);
	wait_ready(uri);
	kill_wait(creator);
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	struct shmkit__header *h = shmkit_seg_addr(seg);
	struct shmkit__attach_slot saved = h->attach[10];
	/* An attacher recorded without a start time: alive or dead, nobody can tell. */
	h->attach[10].start_time = 0;
	atomic_store(&h->attach[10].word, SHMKIT__WORD(getpid(), SHMKIT__SLOT_USED, 3));
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_SKIPPED);
	CHECK(strstr(s.reason, "cannot tell") != NULL);

	/* A corrupt header. */
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	h = shmkit_seg_addr(seg);
	memcpy((void *)&h->attach[10], &saved, sizeof(saved));
	h->total_size ^= 1;
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_SKIPPED);
	CHECK(strstr(s.reason, "unreadable") != NULL);
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	h = shmkit_seg_addr(seg);
	h->total_size ^= 1;
	CHECK_OK(shmkit_seg_close(seg));

	/* Permission denied: a user who may not open it skips it. */
	if (test_is_root())
		CHECK_RET(test_wait(test_fork(gc_as_nobody, (void *)uri)), 0);
	CHECK(exists(uri));
	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 1);
	CHECK(s.verdict == SHMKIT_GC_REMOVED);
}

/* ---- other programs' segments ---- */

struct foreign {
	const char *posix_name; /* without "posix:" */
	key_t key;
};

/* A program that knows nothing of shmkit: raw shm_open and shmget. */
static int make_foreign(void *arg)
{
	const struct foreign *f = arg;
	int fd = shm_open(f->posix_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 8192) < 0)
		return 1;
	void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 2;
	memset(p, 0x33, 8192);
	munmap(p, 8192);
	close(fd);
	int id = shmget(f->key, 8192, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		return 3;
	p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return 4;
	memset(p, 0x44, 8192);
	shmdt(p);
	return 0;
}

static uint64_t sum_bytes(const char *uri)
{
	struct shmkit_seg *seg;
	if (shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0) != 0)
		return 0;
	uint64_t h = 1469598103934665603ull;
	const unsigned char *p = shmkit_seg_addr(seg);
	for (size_t i = 0; i < shmkit_seg_size(seg); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	shmkit_seg_close(seg);
	return h;
}

static void test_foreign(void)
{
	const char *puri = test_uri("posix", "foreign");
	const char *suri = test_uri("sysv", "foreign");
	struct foreign f = {puri + strlen("posix:"), (key_t)strtoul(suri + 5, NULL, 0)};
	struct seen s;

	CHECK_RET(test_wait(test_fork(make_foreign, &f)), 0);
	uint64_t psum = sum_bytes(puri), ssum = sum_bytes(suri);
	CHECK(psum != 0 && ssum != 0);

	/* Without --foreign: both kept, untouched. */
	CHECK_RET(gc_one(posix_prefix, 0, puri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(suri, &st));
	char id_uri[64];
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", st.sysv_id);
	CHECK_RET(gc_one(sysv_prefix, 0, id_uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK(strstr(s.reason, "foreign") != NULL);
	CHECK(sum_bytes(puri) == psum && sum_bytes(suri) == ssum); /* untouched */

	/* Attached by a live process: kept even with --foreign. */
	struct shmkit_seg *held;
	CHECK_OK(shmkit_seg_open(&held, suri, 0, SHMKIT_RDONLY, 0));
	CHECK_RET(gc_one(sysv_prefix, SHMKIT_GC_FOREIGN, id_uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK_OK(shmkit_seg_close(held));
	/* Our attach made us the last pid, and we are alive: still kept. */
	CHECK_RET(gc_one(sysv_prefix, SHMKIT_GC_FOREIGN, id_uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK(strstr(s.reason, "last pid") != NULL);
}

static int attach_detach(void *arg)
{
	struct shmkit_seg *seg;
	return shmkit_seg_open(&seg, arg, 0, SHMKIT_RDONLY, 0) == 0 && shmkit_seg_close(seg) == 0
		   ? 0
		   : 1;
}

static void test_foreign_removed(void)
{
	const char *puri = test_uri("posix", "foreign2");
	const char *suri = test_uri("sysv", "foreign2");
	struct foreign f = {puri + strlen("posix:"), (key_t)strtoul(suri + 5, NULL, 0)};
	struct seen s;

	CHECK_RET(test_wait(test_fork(make_foreign, &f)), 0);
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(suri, &st)); /* never attaches SysV: changes nothing */
	char id_uri[64];
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", st.sysv_id);
	uint64_t psum = sum_bytes(puri);
	/* The last user is a child that has exited: creator and last pid dead. */
	CHECK_RET(test_wait(test_fork(attach_detach, (void *)suri)), 0);

	/* A dry run does not attach to look inside: it says so, changes nothing. */
	CHECK_RET(gc_one(sysv_prefix, SHMKIT_GC_FOREIGN | SHMKIT_GC_DRY_RUN, id_uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_SKIPPED);
	CHECK(strstr(s.reason, "not read in a dry run") != NULL);
	CHECK(exists(suri));
	CHECK_RET(gc_one(sysv_prefix, SHMKIT_GC_FOREIGN, id_uri, NULL, &s), 1);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_REMOVED);
	CHECK(!exists(suri));
	/* POSIX segments of other programs: never, even with --foreign. */
	CHECK_RET(gc_one(posix_prefix, SHMKIT_GC_FOREIGN, puri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK(exists(puri) && sum_bytes(puri) == psum);
}

static void test_cli(void)
{
	const char *uri = test_uri("posix", "cli");
	char out[16384];

	pid_t creator = spawn("create_hold", uri);
	wait_ready(uri);
	kill_wait(creator);
	/* as gc_one(): another test's `shmkit ls` may hold it open that instant */
	for (int tries = 0; tries < 50; tries++) {
		CHECK_RET(test_sh_capture(out, sizeof(out), "%s gc --dry-run --prefix %s",
					  SHMKIT_TOOL_PATH, uri),
			  0);
		if (!strstr(out, "held open by live pid"))
			break;
		usleep(100000);
	}
	printf("%s", out);
	CHECK(strstr(out, "would remove") && strstr(out, uri) && strstr(out, "creator pid"));
	CHECK(exists(uri));
	CHECK_RET(
	    test_sh("%s gc --dry-run --json --prefix %s | python3 -c 'import json, sys; "
		    "d = json.load(sys.stdin); s = d[\"segments\"]; "
		    "assert d[\"dry_run\"] and d[\"would_remove\"] == 1 and len(s) == 1; "
		    "assert s[0][\"verdict\"] == \"would remove\" and s[0][\"kind\"] == \"raw\"'",
		    SHMKIT_TOOL_PATH, uri),
	    0);
	CHECK_RET(test_sh_capture(out, sizeof(out), "%s stat %s", SHMKIT_TOOL_PATH, uri), 0);
	printf("%s", out);
	CHECK(strstr(out, "raw") && strstr(out, "dead"));
	CHECK_RET(test_sh_capture(out, sizeof(out), "%s gc --prefix %s", SHMKIT_TOOL_PATH, uri), 0);
	printf("%s", out);
	CHECK(strstr(out, "removed") && strstr(out, "1 removed"));
	CHECK(!exists(uri));
}

/* A prefix sysv:DIGITS is one key in decimal, as in a URI: sysv:0 (the
 * private key) names none, where it was a string prefix of every
 * sysv:0x... key (gc --foreign --prefix sysv:0 removed every orphaned
 * foreign segment); the decimal spelling of a key finds it in gc and ls. */
static void test_decimal_key_prefix(void)
{
	const char *uri = test_uri("sysv", "decimal");
	struct shmkit_seg *seg;
	struct shmkit_stat st;
	struct seen s;
	char dec[32], id_uri[64], out[4096];

	CHECK_OK(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	CHECK_OK(shmkit_stat(uri, &st));
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", st.sysv_id);
	snprintf(dec, sizeof(dec), "sysv:%u", (unsigned)st.sysv_key);
	CHECK(gc_one("sysv:0", SHMKIT_GC_DRY_RUN | SHMKIT_GC_FOREIGN, st.uri, id_uri, &s) >= 0);
	CHECK(s.found == 0);
	CHECK(gc_one(dec, SHMKIT_GC_DRY_RUN | SHMKIT_GC_FOREIGN, st.uri, id_uri, &s) >= 0);
	CHECK(s.found == 1 && s.total == 1);
	CHECK_RET(test_sh_capture(out, sizeof(out), "%s ls --noheadings -o URI %s", SHMKIT_TOOL_PATH,
				  dec), 0);
	CHECK(strncmp(out, st.uri, strlen(st.uri)) == 0 && out[strlen(st.uri)] == '\n' &&
	      out[strlen(st.uri) + 1] == '\0');
	CHECK_RET(test_sh("%s gc --dry-run --foreign --prefix sysv:0 2>/dev/null", SHMKIT_TOOL_PATH), 2);
	CHECK_RET(test_sh("%s ls sysv:0 2>/dev/null", SHMKIT_TOOL_PATH), 2);
	CHECK(exists(uri));
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
}

/* An orphan the caller maps itself: kept, and said so (the reason was "a
 * process that cannot be inspected has it open", the lease probe's). */
static void test_caller_maps_it(void)
{
	const char *uri = test_uri("posix", "mine");
	struct shmkit_seg *seg;
	struct seen s;

	pid_t creator = spawn("create_hold", uri);
	wait_ready(uri);
	kill_wait(creator);
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, SHMKIT_RDONLY, 0));
	CHECK_RET(gc_one(uri, 0, uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, "this process"));
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_RET(gc_one(uri, 0, uri, NULL, &s), 1);
	CHECK(!exists(uri));
}

/* A POSIX prefix spelt as URIs are (/name, posix:name, name) finds the
 * object, as create and remove take those spellings (they matched nothing). */
static void test_posix_prefix_spellings(void)
{
	const char *uri = test_uri("posix", "spelt");
	const char *name = uri + strlen("posix:/");
	char spelt[3][300];
	struct seen s;

	pid_t creator = spawn("create_hold", uri);
	wait_ready(uri);
	kill_wait(creator);
	snprintf(spelt[0], sizeof(spelt[0]), "/%s", name);
	snprintf(spelt[1], sizeof(spelt[1]), "posix:%s", name);
	snprintf(spelt[2], sizeof(spelt[2]), "%s", name);
	for (int i = 0; i < 3; i++) {
		CHECK_RET(gc_one(spelt[i], SHMKIT_GC_DRY_RUN, uri, NULL, &s), 1);
		CHECK(s.found == 1 && s.total == 1 && s.verdict == SHMKIT_GC_WOULD_REMOVE);
	}
	CHECK_RET(gc_one(spelt[2], 0, uri, NULL, &s), 1);
	CHECK(!exists(uri));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	snprintf(posix_prefix, sizeof(posix_prefix), "posix:/shmkit-test-%d-", (int)getpid());
	snprintf(sysv_prefix, sizeof(sysv_prefix), "sysv:0x5b%04x", (unsigned)getpid() & 0xffffu);
	test_orphan_removed("posix");
	test_orphan_removed("sysv");
	test_in_use_kept();
	test_half_built_removed();
	test_unprovable_skipped();
	test_foreign();
	test_foreign_removed();
	test_cli();
	test_decimal_key_prefix();
	test_posix_prefix_spellings();
	test_caller_maps_it();
	return test_done();
}
