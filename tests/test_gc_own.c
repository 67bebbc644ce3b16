/* SPDX-License-Identifier: MIT */
/* DESIGN §8 with real processes: looking never changes (stat, ls and gc
 * never attach a foreign SysV segment, so its last-user pid survives and gc
 * --foreign keeps a segment whose last user lives); gc never removes
 * persistent objects nor, without SHMKIT_GC_FORCE, owned ones that still hold
 * messages or data; modes are permission bits only. Every gc run is limited
 * to this run's own prefix: other tests' objects share the machine. */
/* TIMEOUT: 120 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc_seen.h"
#include "internal.h"
#include "layout.h"
#include "managed.h"

static char posix_prefix[64], sysv_prefix[64];

/* `shmkit gc ARGS` into out, asked again as gc_one() does. */
static int __attribute__((format(printf, 3, 4)))
gc_cli(char *out, size_t cap, const char *fmt, ...)
{
	char args[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	for (int tries = 1;; tries++) {
		int rc = test_sh_capture(out, cap, "%s gc %s", SHMKIT_TOOL_PATH, args);
		if (tries == GC_TRIES || !gc_transient_holder(out))
			return rc;
		usleep(100000);
	}
}

static int exists(const char *uri)
{
	struct shmkit_stat st;
	return shmkit_stat(uri, &st) == 0;
}

/* ---- exec'd roles ---- */

/* argv: uri persist|owned data|empty -> a raw object, held until killed. */
static int role_raw(int argc, char **argv)
{
	struct shmkit_raw *r;
	unsigned mode = strcmp(argv[1], "persist") == 0 ? 0600 | SHMKIT_PERSIST : 0600;
	if (argc < 3 || shmkit_raw_create(&r, argv[0], 8192, mode) != 0)
		return 3;
	if (strcmp(argv[2], "data") == 0)
		memset(shmkit_raw_data(r), 0x5a, 100);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

/* argv: uri -> an owned SPSC queue with 3 messages nobody received; exits. */
static int role_queue(int argc, char **argv)
{
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 64};
	struct shmkit_queue *q;
	if (argc < 1 || shmkit_queue_create(&q, argv[0], &o) != 0)
		return 3;
	for (int i = 0; i < 3; i++)
		if (shmkit_queue_send(q, "job", 3, 0) != 0)
			return 4;
	return shmkit_queue_close(q) == 0 ? 0 : 5;
}

/* argv: uri -> an owned MPMC queue of 3 messages: receives one, dies
 * holding the second (peeked). */
static int role_queue_held(int argc, char **argv)
{
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 64, .multi_consumer = 1};
	struct shmkit_queue *q;
	const void *msg;
	char buf[64];
	if (argc < 1 || shmkit_queue_create(&q, argv[0], &o) != 0)
		return 3;
	for (int i = 0; i < 3; i++)
		if (shmkit_queue_send(q, "job", 3, 0) != 0)
			return 4;
	if (shmkit_queue_recv(q, buf, sizeof(buf), 0) != 3 || shmkit_queue_peek(q, &msg, 0) != 3)
		return 5;
	raise(SIGKILL);
	return 6;
}

/* argv: uri -> an owned map holding one key; exits. */
static int role_map(int argc, char **argv)
{
	struct shmkit_map *m;
	if (argc < 1 || shmkit_map_create(&m, argv[0], 64 * 1024, 0) != 0)
		return 3;
	if (shmkit_map_put(m, "k", 1, "v", 1) != 0)
		return 4;
	return shmkit_map_close(m) == 0 ? 0 : 5;
}

/* argv: uri -> an owned heap holding one allocation; exits. */
static int role_heap(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off off;
	if (argc < 1 || shmkit_heap_create(&h, argv[0], 64 * 1024, 0) != 0)
		return 3;
	if (shmkit_heap_alloc(h, 100, &off) != 0)
		return 4;
	return shmkit_heap_close(h) == 0 ? 0 : 5;
}

/* argv: uri -> joins the topic as a subscriber and never reads. */
static int role_sub(int argc, char **argv)
{
	struct shmkit_sub *s;
	if (argc < 1 || shmkit_sub_open(&s, argv[0]) != 0)
		return 3;
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

static const struct test_role roles[] = {
    {"raw", role_raw},   {"queue", role_queue}, {"map", role_map},
    {"heap", role_heap}, {"sub", role_sub},     {"queue_held", role_queue_held},
    {NULL, NULL},
};

/* Spawns a role with its stdout on a pipe and waits for its "ready". */
static pid_t spawn_ready(const char *role, const char *const args[])
{
	int p[2];
	CHECK_OK(pipe(p));
	fflush(stdout);
	int saved = dup(1);
	dup2(p[1], 1);
	pid_t pid = test_spawn_self(role, args);
	dup2(saved, 1);
	close(saved);
	close(p[1]);
	char buf[16] = "";
	CHECK(read(p[0], buf, sizeof(buf) - 1) > 0 && strncmp(buf, "ready", 5) == 0);
	close(p[0]);
	return pid;
}

static void kill_wait(pid_t pid)
{
	kill(pid, SIGKILL);
	test_wait(pid);
}

/* ---- defect 1: looking never changes a foreign SysV segment ---- */

struct foreign_sysv {
	key_t key;
	int pipe_w; /* the attacher says "done" here, then lives on */
};

static int make_foreign_sysv(void *arg)
{
	const struct foreign_sysv *f = arg;
	/* what `ipcmk -M 8192` does: create, never attach */
	return shmget(f->key, 8192, IPC_CREAT | IPC_EXCL | 0600) >= 0 ? 0 : 1;
}

static int attach_detach_live(void *arg)
{
	const struct foreign_sysv *f = arg;
	int id = shmget(f->key, 0, 0);
	void *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (p == (void *)-1 || shmdt(p) != 0)
		return 1;
	if (write(f->pipe_w, "done", 4) != 4)
		return 2;
	for (;;)
		pause();
}

struct sysv_times {
	pid_t lpid;
	time_t atime, dtime;
	unsigned long nattch;
};

static struct sysv_times sysv_times_of(int id)
{
	struct shmid_ds ds;
	struct sysv_times t = {0};
	CHECK_OK(shmctl(id, IPC_STAT, &ds));
	t.lpid = ds.shm_lpid;
	t.atime = ds.shm_atime;
	t.dtime = ds.shm_dtime;
	t.nattch = ds.shm_nattch;
	return t;
}

static int same_times(struct sysv_times a, struct sysv_times b)
{
	return a.lpid == b.lpid && a.atime == b.atime && a.dtime == b.dtime && a.nattch == b.nattch;
}

static int count_one(const struct shmkit_stat *st, void *arg)
{
	(void)st;
	++*(int *)arg;
	return 0;
}

static void test_looking_never_changes(void)
{
	const char *suri = test_uri("sysv", "looked-at");
	struct foreign_sysv f = {(key_t)strtoul(suri + 5, NULL, 0), -1};
	struct seen s;
	char out[8192];
	int p[2];

	CHECK_RET(test_wait(test_fork(make_foreign_sysv, &f)), 0);
	CHECK_OK(pipe(p));
	f.pipe_w = p[1];
	pid_t live = test_fork(attach_detach_live, &f);
	char buf[8];
	CHECK(read(p[0], buf, 4) == 4);
	close(p[0]);
	close(p[1]);
	int id = shmget(f.key, 0, 0);
	CHECK(id >= 0);
	char id_uri[64];
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", id);
	struct sysv_times before = sysv_times_of(id);
	CHECK(before.lpid == live && before.nattch == 0);
	sleep(1); /* an attach now would move the times visibly */

	/* stat (library and CLI), ls, gc --dry-run, gc: none attaches. */
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(id_uri, &st));
	CHECK(st.managed == 0 && st.header_status == -ENODATA);
	int n = 0;
	CHECK(shmkit_list(count_one, &n) > 0);
	CHECK_RET(test_sh_capture(out, sizeof(out), "%s stat %s", SHMKIT_TOOL_PATH, id_uri), 0);
	printf("%s", out);
	CHECK(strstr(out, "not read") != NULL);
	/* every SysV segment, not the machine's: a POSIX or memfd one another
	 * test truncates meanwhile stops a whole-machine ls by SIGBUS (a
	 * documented limit of looks); a SysV segment cannot shrink */
	CHECK_RET(test_sh_capture(out, sizeof(out), "%s ls sysv: >/dev/null", SHMKIT_TOOL_PATH), 0);
	CHECK_RET(gc_one(sysv_prefix, SHMKIT_GC_FOREIGN | SHMKIT_GC_DRY_RUN, id_uri, suri, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, "alive"));
	CHECK_RET(gc_cli(out, sizeof(out), "--foreign --dry-run --prefix %s", id_uri), 0);
	printf("%s", out);
	CHECK(strstr(out, "kept") != NULL && strstr(out, "would remove") == NULL);
	CHECK(same_times(before, sysv_times_of(id)));

	/* The real run keeps it too: its last user is alive. */
	CHECK_RET(gc_one(sysv_prefix, SHMKIT_GC_FOREIGN, id_uri, suri, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT);
	CHECK(same_times(before, sysv_times_of(id)));
	CHECK(exists(id_uri));

	/* Its last user gone: now --foreign may remove it. */
	kill_wait(live);
	CHECK_RET(gc_one(sysv_prefix, SHMKIT_GC_FOREIGN, id_uri, suri, &s), 1);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_REMOVED);
	CHECK(!exists(id_uri));
}

/* A managed SysV object attached by a live process: stat reads its header
 * through that process (process_vm_readv), not by attaching. */
static void test_sysv_stat_through_user(void)
{
	const char *suri = test_uri("sysv", "managed-look");
	const char *args[] = {suri, "owned", "empty", NULL};
	pid_t holder = spawn_ready("raw", args);
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(suri, &st));
	struct sysv_times before = sysv_times_of(st.sysv_id);
	sleep(1);
	CHECK_OK(shmkit_stat(suri, &st));
	CHECK(st.managed == 1 && st.kind == SHMKIT_KIND_RAW && st.header_status == 0);
	CHECK(st.creator_alive == 1);
	CHECK(same_times(before, sysv_times_of(st.sysv_id)));
	kill_wait(holder);
	CHECK_OK(shmkit_remove(suri));
}

/* argv-less fork roles for the removing-gc case: A creates an owned SysV
 * raw object, detaches and lives on; B attaches, detaches and dies. */
static int create_detach_live(void *arg)
{
	const struct foreign_sysv *f = arg;
	struct shmkit_raw *r;
	char uri[64];
	snprintf(uri, sizeof(uri), "sysv:0x%x", (unsigned)f->key);
	if (shmkit_raw_create(&r, uri, 8192, 0600) != 0 || shmkit_raw_close(r) != 0)
		return 1;
	if (write(f->pipe_w, "done", 4) != 4)
		return 2;
	for (;;)
		pause();
}

static int attach_detach_exit(void *arg)
{
	const struct foreign_sysv *f = arg;
	int id = shmget(f->key, 0, 0);
	void *p = id < 0 ? (void *)-1 : shmat(id, NULL, SHM_RDONLY);
	return p == (void *)-1 || shmdt(p) != 0;
}

/* A removing gc attaches a SysV segment nobody has attached only when its
 * creator and last user are both gone: with a live creator it is kept
 * unread (it would be kept whatever its header says), and its last-user
 * pid and times stay; once the creator dies gc reads it and removes it. */
static void test_removing_gc_attaches_only_when_needed(void)
{
	const char *suri = test_uri("sysv", "creator-lives");
	struct foreign_sysv f = {(key_t)strtoul(suri + 5, NULL, 0), -1};
	struct seen s;
	int p[2];
	CHECK_OK(pipe(p));
	f.pipe_w = p[1];
	pid_t creator = test_fork(create_detach_live, &f);
	char buf[8];
	CHECK(read(p[0], buf, 4) == 4);
	close(p[0]);
	close(p[1]);
	CHECK_RET(test_wait(test_fork(attach_detach_exit, &f)), 0);
	int id = shmget(f.key, 0, 0);
	CHECK(id >= 0);
	char id_uri[64];
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", id);
	struct sysv_times before = sysv_times_of(id);
	CHECK(before.nattch == 0 && before.lpid != creator);
	sleep(1); /* an attach now would move the times visibly */
	CHECK_RET(gc_one(suri, 0, id_uri, suri, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, "creator pid"));
	CHECK(same_times(before, sysv_times_of(id)));
	kill_wait(creator);
	CHECK_RET(gc_one(suri, 0, id_uri, suri, &s), 1);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_REMOVED);
}

/* gc --prefix names a SysV key however it is spelt: listed names are
 * zero-padded (sysv:0x00e7abcd), a user types sysv:0xe7abcd (or upper case,
 * or sysv:id=N) and means the same segment. ls filters the same way. */
static void test_sysv_prefix_spellings(void)
{
	unsigned key = 0x00e70000u | ((unsigned)getpid() & 0xffffu);
	char uri[64], spelt[4][64], out[8192];
	struct seen s;
	snprintf(uri, sizeof(uri), "sysv:0x%x", key);
	test_cleanup_add(uri);
	CHECK_RET(test_sh_capture(out, sizeof(out), "%s create %s 4K", SHMKIT_TOOL_PATH, uri), 0);
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(uri, &st));
	char id_uri[64];
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", st.sysv_id);
	snprintf(spelt[0], sizeof(spelt[0]), "sysv:0x%x", key);
	snprintf(spelt[1], sizeof(spelt[1]), "sysv:0x%08X", key);
	snprintf(spelt[2], sizeof(spelt[2]), "sysv:0x%x", key >> 8); /* a prefix of its digits */
	snprintf(spelt[3], sizeof(spelt[3]), "%s", id_uri);
	for (int i = 0; i < 4; i++) {
		printf("prefix %s\n", spelt[i]);
		CHECK_RET(gc_one(spelt[i], SHMKIT_GC_DRY_RUN, id_uri, NULL, &s), 0);
		CHECK(s.found == 1);
		CHECK_RET(test_sh_capture(out, sizeof(out), "%s gc --dry-run --prefix %s",
					  SHMKIT_TOOL_PATH, spelt[i]),
			  0);
		CHECK(strstr(out, id_uri) != NULL);
		CHECK_RET(test_sh_capture(out, sizeof(out), "%s ls -n -o URI %s", SHMKIT_TOOL_PATH,
					  spelt[i]),
			  0);
		CHECK(strstr(out, "sysv:0x00e7") != NULL);
	}
	CHECK_OK(shmkit_remove(uri));
}

/* ---- defect 2: ownership and what gc keeps ---- */

static void test_persistent_kept(void)
{
	const char *uri = test_uri("posix", "persist");
	const char *env_uri = test_uri("posix", "persist-env");
	const char *args[] = {uri, "persist", "empty", NULL};
	const char *env_args[] = {env_uri, "owned", "empty", NULL};
	struct seen s;

	pid_t a = spawn_ready("raw", args);
	setenv("SHMKIT_PERSIST", "1", 1);
	pid_t b = spawn_ready("raw", env_args);
	unsetenv("SHMKIT_PERSIST");
	kill_wait(a);
	kill_wait(b);
	for (int force = 0; force <= 1; force++) {
		unsigned fl = force ? SHMKIT_GC_FORCE : 0;
		CHECK_RET(gc_one(posix_prefix, fl, uri, NULL, &s), 0);
		CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, "persistent"));
		CHECK_RET(gc_one(posix_prefix, fl, env_uri, NULL, &s), 0);
		CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, "persistent"));
	}
	CHECK(exists(uri) && exists(env_uri));
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(uri, &st));
	CHECK(st.managed == 1 && st.persistent == 1);
}

/* An owned object holding something: kept and said why; --force removes. */
static void check_kept_until_forced(const char *uri, const char *why)
{
	struct seen s;
	CHECK_RET(gc_one(posix_prefix, SHMKIT_GC_DRY_RUN, uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, why));
	CHECK_RET(gc_one(posix_prefix, 0, uri, NULL, &s), 0);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_KEPT && strstr(s.reason, why));
	CHECK(exists(uri));
	CHECK_RET(gc_one(posix_prefix, SHMKIT_GC_FORCE, uri, NULL, &s), 1);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_REMOVED && strstr(s.reason, "forced"));
	CHECK(!exists(uri));
}

static void run_role(const char *role, const char *uri)
{
	const char *args[] = {uri, NULL};
	CHECK_RET(test_wait(test_spawn_self(role, args)), 0);
}

static void test_data_kept(void)
{
	const char *q = test_uri("posix", "undelivered");
	run_role("queue", q);
	check_kept_until_forced(q, "3 undelivered messages");

	/* a message held by a consumer that died is delivered again: it counts */
	const char *qh = test_uri("posix", "undelivered-held");
	const char *held_args[] = {qh, NULL};
	CHECK_RET(test_wait(test_spawn_self("queue_held", held_args)), 128 + SIGKILL);
	check_kept_until_forced(qh, "2 undelivered messages");

	const char *m = test_uri("posix", "map-data");
	run_role("map", m);
	check_kept_until_forced(m, "1 key");

	const char *h = test_uri("posix", "heap-data");
	run_role("heap", h);
	check_kept_until_forced(h, "1 allocation");

	const char *r = test_uri("posix", "raw-data");
	const char *args[] = {r, "owned", "data", NULL};
	kill_wait(spawn_ready("raw", args));
	check_kept_until_forced(r, "holds data");
}

/* ---- scribbled objects: what gc cannot read it keeps ---- */

/* Writes len bytes at off of the file behind posix:/NAME. */
static void scribble(const char *uri, off_t off, const void *v, size_t len)
{
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/%s", uri + strlen("posix:/"));
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, v, len, off) == (ssize_t)len);
	close(fd);
}

static uint64_t read_u64(const char *uri, off_t off)
{
	char path[300];
	uint64_t v = 0;
	snprintf(path, sizeof(path), "/dev/shm/%s", uri + strlen("posix:/"));
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, &v, sizeof(v), off) == (ssize_t)sizeof(v));
	close(fd);
	return v;
}

/* Kept, as unreadable, by a dry run and a real one; --force still removes. */
static void check_kept_unreadable(const char *uri)
{
	check_kept_until_forced(uri, "cannot be read");
}

/* Each object holds something, then one word that says how much (or how to
 * read the rest) is scribbled: gc counted the scribble as "empty" and
 * removed an MPMC queue whose flags read 0 (its slots read as SPSC ones), a
 * map whose count read 0 (its keys still listed) and an SPSC queue whose
 * head was past its messages. */
static void test_scribbled_kept(void)
{
	const off_t body = SHMKIT__HEADER_SIZE;
	uint32_t zero32 = 0;
	uint64_t zero64 = 0, far = 1ull << 40;

	const char *qm = test_uri("posix", "scribbled-mpmc");
	const char *margs[] = {qm, NULL};
	CHECK_RET(test_wait(test_spawn_self("queue_held", margs)), 128 + SIGKILL);
	scribble(qm, body + offsetof(struct shmkit__queue_shared, flags), &zero32, 4);
	check_kept_unreadable(qm);

	const char *qs = test_uri("posix", "scribbled-head");
	run_role("queue", qs);
	scribble(qs, body + offsetof(struct shmkit__queue_shared, head), &far, 8);
	check_kept_unreadable(qs);

	const char *m = test_uri("posix", "scribbled-map");
	run_role("map", m);
	uint64_t root = read_u64(m, body + offsetof(struct shmkit__heap_shared, root));
	scribble(m, (off_t)root + offsetof(struct shmkit__map_shared, count), &zero64, 8);
	check_kept_unreadable(m);

	const char *h = test_uri("posix", "scribbled-heap");
	run_role("heap", h);
	scribble(h, body + offsetof(struct shmkit__heap_shared, n_used), &zero64, 8);
	check_kept_unreadable(h);
}

/* An owned raw object grown into a sparse gigabyte (header made to agree):
 * gc reads what it holds without allocating its holes (it filled /dev/shm
 * and died of SIGBUS), and finds it empty. */
static void test_sparse_raw_looked_at(void)
{
	const char *r = test_uri("posix", "sparse-raw");
	const char *args[] = {r, "owned", "empty", NULL};
	kill_wait(spawn_ready("raw", args));
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/%s", r + strlen("posix:/"));
	uint64_t total = 1ull << 30, body = total - SHMKIT__HEADER_SIZE;
	CHECK_OK(truncate(path, (off_t)total));
	scribble(r, offsetof(struct shmkit__header, total_size), &total, 8);
	scribble(r, offsetof(struct shmkit__header, body_size), &body, 8);
	struct stat before, after;
	CHECK_OK(stat(path, &before));
	struct seen s;
	CHECK_RET(gc_one(posix_prefix, SHMKIT_GC_DRY_RUN, r, NULL, &s), 1);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_WOULD_REMOVE);
	CHECK_OK(stat(path, &after));
	CHECK(after.st_blocks == before.st_blocks);
	CHECK_RET(gc_one(posix_prefix, 0, r, NULL, &s), 1);
	CHECK(!exists(r));
}

/* A topic whose subscriber (killed) had not read everything, its creator
 * gone too. */
static int make_topic_with_unread(void *arg)
{
	const char *t = arg;
	struct shmkit_topic_opts to = {.slot_size = 64, .slots = 8};
	struct shmkit_pub *pub;
	if (shmkit_pub_create(&pub, t, &to) != 0)
		return 3;
	const char *sargs[] = {t, NULL};
	pid_t sub = spawn_ready("sub", sargs);
	if (shmkit_pub_send(pub, "a", 1, 0) != 0 || shmkit_pub_send(pub, "b", 1, 0) != 0)
		return 4;
	kill_wait(sub);
	return shmkit_pub_close(pub) == 0 ? 0 : 5;
}

static void test_topic_unread_kept(void)
{
	const char *t = test_uri("posix", "topic-unread2");
	CHECK_RET(test_wait(test_fork(make_topic_with_unread, (void *)t)), 0);
	check_kept_until_forced(t, "2 messages unread by subscriber");
}

/* An owned queue whose messages were all received goes (nothing held). */
static void test_owned_empty_removed(void)
{
	const char *q = test_uri("posix", "drained");
	run_role("queue", q);
	struct shmkit_queue *h;
	char buf[16];
	CHECK_OK(shmkit_queue_open(&h, q));
	for (int i = 0; i < 3; i++)
		CHECK_RET(shmkit_queue_recv(h, buf, sizeof(buf), 0), 3);
	CHECK_OK(shmkit_queue_close(h));
	struct seen s;
	CHECK_RET(gc_one(posix_prefix, 0, q, NULL, &s), 1);
	CHECK(s.found == 1 && s.verdict == SHMKIT_GC_REMOVED && strstr(s.reason, "owned"));
}

/* The CLI: objects made from the shell are persistent by default; --owned
 * ones holding messages are kept until --force. */
static void test_cli_ownership(void)
{
	const char *q = test_uri("posix", "cli-persist");
	const char *o = test_uri("posix", "cli-owned");
	char out[4096];
	CHECK_RET(test_sh("%s queue create %s --capacity 8 --max-msg 64 && %s send %s one two three",
			  SHMKIT_TOOL_PATH, q, SHMKIT_TOOL_PATH, q),
		  0);
	CHECK_RET(test_sh("%s queue create %s --capacity 8 --max-msg 64 --owned && %s send %s one",
			  SHMKIT_TOOL_PATH, o, SHMKIT_TOOL_PATH, o),
		  0);
	CHECK_RET(gc_cli(out, sizeof(out), "--prefix %s --force", q), 0);
	printf("%s", out);
	CHECK(strstr(out, "persistent") != NULL && exists(q));
	CHECK_RET(test_sh("%s stat %s | grep -q '^ownership: *persistent'", SHMKIT_TOOL_PATH, q), 0);
	CHECK_RET(test_sh("%s stat %s | grep -q '^ownership: *owned'", SHMKIT_TOOL_PATH, o), 0);
	CHECK_RET(gc_cli(out, sizeof(out), "--prefix %s", o), 0);
	printf("%s", out);
	CHECK(strstr(out, "1 undelivered message") != NULL && exists(o));
	CHECK_RET(gc_cli(out, sizeof(out), "--prefix %s --force", o), 0);
	printf("%s", out);
	CHECK(strstr(out, "1 removed") != NULL && !exists(o));
	for (const char *const *v = (const char *const[]){"map", "heap", NULL}; *v; v++) {
		const char *u = test_uri("posix", *v);
		CHECK_RET(test_sh("%s %s %s create 64K", SHMKIT_TOOL_PATH, *v, u), 0);
		CHECK_RET(gc_cli(out, sizeof(out), "--prefix %s --force", u), 0);
		CHECK(strstr(out, "persistent") != NULL && exists(u));
	}
	/* Counting what a queue holds survives wrap-around, in both protocols;
	 * a map whose keys were all deleted holds nothing. */
	for (int multi = 0; multi <= 1; multi++) {
		const char *w = test_uri("posix", multi ? "wrap-mpmc" : "wrap-spsc");
		CHECK_RET(test_sh("%s queue create %s --capacity 4 --max-msg 16 --owned %s && "
				  "for i in 1 2 3 4 5 6 7 8 9 10; do %s send %s x$i && "
				  "%s recv %s >/dev/null || exit 1; done",
				  SHMKIT_TOOL_PATH, w, multi ? "--multi" : "", SHMKIT_TOOL_PATH, w,
				  SHMKIT_TOOL_PATH, w),
			  0);
		CHECK_RET(gc_cli(out, sizeof(out), "--dry-run --prefix %s", w), 0);
		CHECK(strstr(out, "would remove") != NULL);
		CHECK_RET(test_sh("%s send %s a b", SHMKIT_TOOL_PATH, w), 0);
		CHECK_RET(gc_cli(out, sizeof(out), "--prefix %s", w), 0);
		CHECK(strstr(out, "holds 2 undelivered messages") != NULL && exists(w));
	}
	const char *km = test_uri("posix", "emptied-map");
	CHECK_RET(test_sh("%s map %s create 64K --owned && %s map %s put k v && %s map %s del k",
			  SHMKIT_TOOL_PATH, km, SHMKIT_TOOL_PATH, km, SHMKIT_TOOL_PATH, km),
		  0);
	CHECK_RET(gc_cli(out, sizeof(out), "--prefix %s", km), 0);
	CHECK(strstr(out, "1 removed") != NULL && !exists(km));

	const char *t = test_uri("posix", "cli-topic");
	CHECK_RET(test_sh("%s topic create %s --owned", SHMKIT_TOOL_PATH, t), 0);
	CHECK_RET(gc_cli(out, sizeof(out), "--prefix %s", t), 0);
	CHECK(strstr(out, "1 removed") != NULL && !exists(t));
}

/* ---- defect 5: modes are permission bits only ---- */

static void test_modes(void)
{
	const char *uri = test_uri("posix", "mode");
	struct shmkit_seg *seg;
	struct shmkit_raw *r;
	struct shmkit_queue *q;
	struct shmkit_queue_opts qo = {.capacity = 4, .max_msg = 8, .mode = 04600};
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 07777), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 01600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 0600 | SHMKIT_PERSIST), -EINVAL);
	CHECK_RET(shmkit_raw_create(&r, uri, 4096, 02600), -EINVAL);
	CHECK_RET(shmkit_queue_create(&q, uri, &qo), -EINVAL);
	CHECK(!exists(uri));
	CHECK(test_sh("%s create %s 4K --mode 7777 2>/dev/null", SHMKIT_TOOL_PATH, uri) != 0);
	CHECK(!exists(uri));
	CHECK_OK(shmkit_raw_create(&r, uri, 4096, 0640 | SHMKIT_PERSIST));
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(uri, &st));
	CHECK(st.mode == 0640);
	CHECK_OK(shmkit_raw_close(r));
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	snprintf(posix_prefix, sizeof(posix_prefix), "posix:/shmkit-test-%d-", (int)getpid());
	snprintf(sysv_prefix, sizeof(sysv_prefix), "sysv:0x5b%04x", (unsigned)getpid() & 0xffffu);
	test_looking_never_changes();
	test_sysv_stat_through_user();
	test_sysv_prefix_spellings();
	test_removing_gc_attaches_only_when_needed();
	test_persistent_kept();
	test_data_kept();
	test_topic_unread_kept();
	test_owned_empty_removed();
	test_scribbled_kept();
	test_sparse_raw_looked_at();
	test_cli_ownership();
	test_modes();
	return test_done();
}
