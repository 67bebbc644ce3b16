/* SPDX-License-Identifier: MIT */
/* Managed segments: exclusive create, validation before use, the init
 * protocol when the creator is killed half-way, take-over, the attach table,
 * and raw objects shared with exec'd processes. */
/* TIMEOUT: 90 */
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "layout.h"
#include "managed.h"
#include "proc.h"

#define BODY 8192

static uint64_t checksum(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ull;
	return h;
}

static int fill_pattern(void *body, size_t size, void *arg)
{
	unsigned char seed = (unsigned char)(uintptr_t)arg;
	for (size_t i = 0; i < size; i++)
		((unsigned char *)body)[i] = (unsigned char)(seed + i * 7);
	return 0;
}

static int check_pattern(const void *body, size_t size, unsigned char seed)
{
	for (size_t i = 0; i < size; i++)
		if (((const unsigned char *)body)[i] != (unsigned char)(seed + i * 7))
			return 0;
	return 1;
}

/* ---- exec'd roles ---- */

/* argv: uri seed -> creates a raw-like object and exits without closing. */
static int role_creator(int argc, char **argv)
{
	struct shmkit__obj o;
	if (argc < 2)
		return 2;
	int r = shmkit__obj_create(&o, argv[0], SHMKIT_KIND_RAW, BODY, 0600, fill_pattern,
				   (void *)(uintptr_t)atoi(argv[1]));
	return r == 0 ? 0 : 1;
}

/* argv: uri -> opens a raw object, checks the bytes the parent wrote, answers. */
static int role_raw_reader(int argc, char **argv)
{
	struct shmkit_raw *r;
	if (argc < 1)
		return 2;
	if (shmkit_raw_open(&r, argv[0]) != 0)
		return 3;
	unsigned char *d = shmkit_raw_data(r);
	if (shmkit_raw_size(r) != 4000 || memcmp(d, "hello from the parent", 21) != 0)
		return 4;
	memcpy(d + 100, "answer from the child", 21);
	return shmkit_raw_close(r) == 0 ? 0 : 5;
}

/* argv: uri -> opens and holds the object until killed. */
static int role_holder(int argc, char **argv)
{
	struct shmkit__obj o;
	if (argc < 1 || shmkit__obj_open(&o, argv[0], SHMKIT_KIND_RAW, 0) != 0)
		return 3;
	for (;;)
		pause();
}

/* argv: uri seed -> opens the object and checks its body: 0 ok, 4 the open
 * said the creator died, 3 another error, 5 wrong bytes. */
static int role_opener(int argc, char **argv)
{
	struct shmkit__obj o;
	if (argc < 2)
		return 2;
	int r = shmkit__obj_open(&o, argv[0], SHMKIT_KIND_RAW, 0);
	if (r < 0)
		return r == -EOWNERDEAD ? 4 : 3;
	return check_pattern(o.body, BODY, atoi(argv[1])) ? 0 : 5;
}

static const struct test_role roles[] = {
    {"creator", role_creator},
    {"opener", role_opener},
    {"raw_reader", role_raw_reader},
    {"holder", role_holder},
    {NULL, NULL},
};

/* ---- tests ---- */

static void test_create_open_close(const char *scheme)
{
	const char *uri = test_uri(scheme, "basic");
	struct shmkit__obj a, b;

	CHECK_RET(
	    shmkit__obj_create(&a, uri, SHMKIT_KIND_QUEUE, BODY, 0600, fill_pattern, (void *)3), 0);
	CHECK(a.body_size == BODY);
	CHECK(a.attach_slot >= 0);
	CHECK(check_pattern(a.body, BODY, 3));
	const struct shmkit__header *h = a.base;
	CHECK(h->magic == SHMKIT__MAGIC && h->kind == SHMKIT_KIND_QUEUE);
	CHECK(SHMKIT__WORD_STATE(h->init) == SHMKIT__STATE_READY);
	if (strcmp(scheme, "anon") != 0) {
		CHECK_RET(shmkit__obj_create(&b, uri, SHMKIT_KIND_QUEUE, BODY, 0600, NULL, NULL),
			  -EEXIST);
		CHECK_RET(shmkit__obj_open(&b, uri, SHMKIT_KIND_MAP, 0), -EBADMSG);
		CHECK_RET(shmkit__obj_open(&b, uri, SHMKIT_KIND_QUEUE, 0), 0);
		CHECK(b.attach_slot >= 0 && b.attach_slot != a.attach_slot);
		CHECK(check_pattern(b.body, BODY, 3));
		CHECK_OK(shmkit__obj_close(&b));
		CHECK_RET(shmkit__obj_open(&b, uri, SHMKIT_KIND_QUEUE, SHMKIT_RDONLY), 0);
		CHECK(b.attach_slot == -1);
		CHECK_OK(shmkit__obj_close(&b));
	}
	CHECK_OK(shmkit__obj_close(&a));
	if (strcmp(scheme, "anon") != 0)
		CHECK_OK(shmkit_remove(uri));
}

static void test_raw_across_exec(void)
{
	const char *uri = test_uri("posix", "raw");
	struct shmkit_raw *r;

	CHECK_RET(shmkit_raw_create(&r, uri, 4000, 0), 0);
	CHECK(shmkit_raw_size(r) == 4000);
	memcpy(shmkit_raw_data(r), "hello from the parent", 21);
	const char *args[] = {uri, NULL};
	CHECK_RET(test_wait(test_spawn_self("raw_reader", args)), 0);
	CHECK(memcmp((char *)shmkit_raw_data(r) + 100, "answer from the child", 21) == 0);
	CHECK_OK(shmkit_raw_close(r));
	CHECK_OK(shmkit_remove(uri));
}

/* Spawns an exec'd creator that stops at "managed.init" (after the header
 * says INITIALIZING, before the body is filled). */
static pid_t spawn_paused_creator(const char *uri, const char *seed)
{
	const char *args[] = {uri, seed, NULL};
	return test_spawn_paused("managed.init", "creator", args);
}

static int race_create(void *arg)
{
	struct shmkit__obj o;
	int r = shmkit__obj_create(&o, arg, SHMKIT_KIND_RAW, BODY, 0600, fill_pattern, (void *)9);
	if (r == 0)
		return check_pattern(o.body, BODY, 9) ? 0 : 3;
	return r == -EEXIST ? 1 : 2;
}

static void test_creator_killed(void)
{
	const char *uri = test_uri("posix", "killed");
	struct shmkit__obj o;

	pid_t pid = spawn_paused_creator(uri, "5");
	/* Alive but stopped: try -> -EAGAIN, bounded wait -> -ETIMEDOUT, not early. */
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 0), -EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 200000000), -ETIMEDOUT);
	CHECK(test_now_ns() - t0 >= 200000000);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), -EEXIST);

	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	/* Dead creator: reported at once, within the (default 1 s) bound. */
	t0 = test_now_ns();
	CHECK_RET(shmkit__obj_open(&o, uri, SHMKIT_KIND_RAW, 0), -EOWNERDEAD);
	CHECK(test_now_ns() - t0 < 1000000000);
	CHECK(strstr(shmkit_last_error_detail(), "died") != NULL);

	/* Another size is not ours to take over. */
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY * 2, 0600, NULL, NULL),
		  -EEXIST);
	/* Several re-initializers race: exactly one wins, the others see EEXIST. */
	pid_t kids[4];
	for (int i = 0; i < 4; i++)
		kids[i] = test_fork(race_create, (void *)uri);
	int winners = 0;
	for (int i = 0; i < 4; i++) {
		int rc = test_wait(kids[i]);
		CHECK(rc == 0 || rc == 1);
		winners += rc == 0;
	}
	CHECK(winners == 1);
	CHECK_RET(shmkit__obj_open(&o, uri, SHMKIT_KIND_RAW, 0), 0);
	CHECK(check_pattern(o.body, BODY, 9));
	CHECK(shmkit__obj_header(&o)->creator.pid != (uint32_t)pid);
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_OK(shmkit_remove(uri));
}

/* A creator killed after its O_EXCL open and before its file had a size
 * (inside posix_fallocate, the widest window of a create): the empty file
 * named no creator, so every later create said -EEXIST and every open
 * -EBADMSG, for good. Empty and held by nobody, it is taken over; empty and
 * held (a live creator, or a program keeping it open), it is not. */
static int hold_open(void *arg)
{
	int fd = open(arg, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	pause();
	return 0;
}

static void test_creator_killed_sizing(const char *scheme)
{
	const char *uri = test_uri(scheme, "sizing");
	struct shmkit__obj o;
	char path[4096];

	snprintf(path, sizeof(path), "%s%s", strcmp(scheme, "posix") == 0 ? "/dev/shm" : "",
		 strchr(uri, ':') + 1);
	const char *args[] = {uri, "7", NULL};
	CHECK_RET(test_kill_stopped(test_spawn_paused("seg.create.sizing", "creator", args)),
		  128 + SIGKILL);
	struct stat sb;
	CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 0), -EBADMSG);
	CHECK(strstr(shmkit_last_error_detail(), "nobody holds it") != NULL);
	/* held open by a live process: not ours to take */
	pid_t holder = test_fork(hold_open, path);
	usleep(100000);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), -EEXIST);
	kill(holder, SIGKILL);
	test_wait(holder);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, fill_pattern,
				     (void *)7),
		  0);
	CHECK(check_pattern(o.body, BODY, 7));
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_RET(shmkit__obj_open(&o, uri, SHMKIT_KIND_RAW, 0), 0);
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_OK(shmkit_remove(uri));
}

/* An empty file is taken over only if it is ours alone: a second name for
 * it (a hard link), or another user's, is a user's file, never replaced (it
 * was: the link split, the owner and mode lost). */
static void test_empty_not_ours(const char *scheme)
{
	const char *uri = test_uri(scheme, "notours");
	struct shmkit__obj o;
	char path[4096], link2[4200];
	struct stat before, after;

	snprintf(path, sizeof(path), "%s%s", strcmp(scheme, "posix") == 0 ? "/dev/shm" : "",
		 strchr(uri, ':') + 1);
	snprintf(link2, sizeof(link2), "%s.link", path);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0664);
	CHECK(fd >= 0);
	close(fd);
	CHECK(link(path, link2) == 0);
	CHECK(stat(path, &before) == 0);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), -EEXIST);
	CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino && after.st_nlink == 2);
	CHECK(unlink(link2) == 0);
	if (test_is_root()) {
		CHECK(chown(path, 65534, 65534) == 0);
		CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL),
			  -EEXIST);
		CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino &&
		      after.st_uid == 65534 && after.st_mode == before.st_mode);
	}
	CHECK(unlink(path) == 0);
}

/* An opener that read INITIALIZING, then lost the CPU while the creator
 * finished and exited, must not call the object dead (CI saw this: three
 * concurrent shared_list pushes, one failed with -EOWNERDEAD). */
static void test_creator_finished_and_exited(void)
{
	const char *uri = test_uri("posix", "finished");
	const char *args[] = {uri, "6", NULL};

	pid_t creator = spawn_paused_creator(uri, "6");
	pid_t opener = test_spawn_paused("managed.open.liveness", "opener", args);
	kill(creator, SIGCONT);
	CHECK_RET(test_wait(creator), 0);
	kill(opener, SIGCONT);
	CHECK_RET(test_wait(opener), 0);
	CHECK_OK(shmkit_remove(uri));
}

/* The same, with the take-over done by this process (its body must be fresh). */
static void test_takeover_in_process(void)
{
	const char *uri = test_uri("posix", "takeover");
	struct shmkit__obj o;

	pid_t pid = spawn_paused_creator(uri, "5");
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	/* The dead creator wrote nothing into the body; make it look half-written. */
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	memset((char *)shmkit_seg_addr(seg) + SHMKIT__HEADER_SIZE, 0xee, 100);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), 0);
	const unsigned char *body = o.body;
	CHECK(body[0] == 0 && body[99] == 0);
	CHECK(SHMKIT__WORD_GEN(shmkit__obj_header(&o)->init) == 2);
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
}

/* ---- corrupt headers: never a crash, hang, or write ---- */

struct field {
	const char *name;
	size_t off, len;
	int want; /* expected error */
};

static const struct field fields[] = {
    {"magic", 0, 8, -EBADMSG},		{"fingerprint", 8, 4, -EBADMSG},
    {"layout_version", 12, 4, -EPROTO}, {"kind", 16, 4, -EBADMSG},
    {"header_size", 20, 4, -EBADMSG},	{"total_size", 24, 8, -EBADMSG},
    {"body_size", 32, 8, -EBADMSG},	{"init.state", 44, 1, -EBADMSG},
    {"attach_slots", 96, 4, -EBADMSG},	{"attach_offset", 100, 4, -EBADMSG},
};

/* shmkit_stat of a managed segment whose header is refused says what the
 * refusing open said (shmkit stat prints it). */
static void expect_stat_says_why(const char *uri, const char *refused_why)
{
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(uri, &st));
	if (!st.managed || (st.header_status != -EBADMSG && st.header_status != -EPROTO)) {
		CHECK(st.header_detail[0] == '\0');
		return;
	}
	if (!st.header_detail[0] || !strstr(refused_why, st.header_detail)) {
		fprintf(stderr, "stat says '%s', the open said '%s'\n", st.header_detail,
			refused_why);
		CHECK(0);
	}
}

/* Opens (read-write, so a stray write would land) and expects an error and
 * an unchanged segment. */
static void expect_refused(struct shmkit_seg *seg, const char *uri, const char *what, int want)
{
	size_t size = shmkit_seg_size(seg);
	uint64_t before = checksum(shmkit_seg_addr(seg), size);
	struct shmkit__obj o;
	int64_t t0 = test_now_ns();
	int r = shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 50000000);
	if (want ? r != want : r >= 0) {
		fprintf(stderr, "corrupt %s: open returned %d (%s), detail '%s'\n", what, r,
			shmkit_strerror(r), shmkit_last_error_detail());
		CHECK(0);
	}
	char refused_why[512];
	snprintf(refused_why, sizeof(refused_why), "%s", shmkit_last_error_detail());
	if (r == 0)
		shmkit__obj_close(&o);
	CHECK(test_now_ns() - t0 < 2000000000ll);
	expect_stat_says_why(uri, refused_why);
	CHECK(checksum(shmkit_seg_addr(seg), size) == before);
	struct shmkit_stat st;
	memset(&st, 0, sizeof(st));
	shmkit__header_peek(shmkit_seg_addr(seg), size, &st); /* must not crash */
	struct shmkit__liveness lv;
	shmkit__header_liveness(shmkit_seg_addr(seg), size, shmkit_seg_fd(seg), &lv);
	CHECK(checksum(shmkit_seg_addr(seg), size) == before);
}

static void test_corrupt_header(void)
{
	const char *uri = test_uri("posix", "corrupt");
	struct shmkit__obj o;
	struct shmkit_seg *seg;
	unsigned char saved[SHMKIT__HEADER_SIZE];

	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), 0);
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	unsigned char *base = shmkit_seg_addr(seg);
	memcpy(saved, base, sizeof(saved));

	for (size_t i = 0; i < SHMKIT__ARRAY_LEN(fields); i++) {
		const struct field *f = &fields[i];
		for (int variant = 0; variant < 3; variant++) {
			memcpy(base, saved, sizeof(saved));
			if (variant == 0)
				base[f->off] ^= 0x01;
			else if (variant == 1)
				memset(base + f->off, 0xff, f->len);
			else
				base[f->off + f->len - 1] ^= 0x80;
			expect_refused(seg, uri, f->name, f->want);
		}
	}
	/* The version mismatch names both sides. */
	memcpy(base, saved, sizeof(saved));
	base[12] = 7;
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 0), -EPROTO);
	CHECK(strstr(shmkit_last_error_detail(), "version 7") != NULL);
	char ours[32];
	snprintf(ours, sizeof(ours), "version %u", SHMKIT__LAYOUT_VERSION);
	CHECK(strstr(shmkit_last_error_detail(), ours) != NULL);

	/* Random garbage: the whole header, then everything but the magic. */
	srand(12345);
	for (int iter = 0; iter < 200; iter++) {
		for (size_t k = 0; k < sizeof(saved); k++)
			base[k] = (unsigned char)rand();
		if (iter % 2)
			memcpy(base, saved, 8);
		expect_refused(seg, uri, "random", 0);
	}
	memcpy(base, saved, sizeof(saved));
	CHECK_RET(shmkit__obj_open(&o, uri, SHMKIT_KIND_RAW, 0), 0);
	CHECK_OK(shmkit__obj_close(&o));

	/* Garbage only where liveness lives (init word, creator, attach table),
	 * the fixed fields intact: open answers within its bound, never crashes;
	 * gc's and stat's readers survive it too. */
	for (int iter = 0; iter < 100; iter++) {
		memcpy(base, saved, sizeof(saved));
		for (size_t k = 40; k < SHMKIT__ATTACH_OFFSET + 32 * SHMKIT__ATTACH_SLOTS; k++)
			if (k < 96 || k >= SHMKIT__ATTACH_OFFSET)
				base[k] = (unsigned char)rand();
		if (iter % 3 == 0) /* a plausible state, so the liveness paths run */
			base[44] = (unsigned char)(1 + iter % 2);
		int64_t t0 = test_now_ns();
		int r = shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 20000000);
		CHECK(r == 0 || r == -EBADMSG || r == -EOWNERDEAD || r == -ETIMEDOUT);
		CHECK(test_now_ns() - t0 < 2000000000ll);
		if (r == 0)
			CHECK_OK(shmkit__obj_close(&o));
		struct shmkit_stat st;
		struct shmkit__liveness lv;
		struct shmkit_attacher at[64];
		shmkit__header_peek(base, shmkit_seg_size(seg), &st);
		shmkit__header_liveness(base, shmkit_seg_size(seg), shmkit_seg_fd(seg), &lv);
		shmkit__header_attachers(base, shmkit_seg_size(seg), shmkit_seg_fd(seg), at, 64);
	}
	memcpy(base, saved, sizeof(saved));

	/* Truncated: shorter than the header says, and shorter than a header. */
	int fd = shmkit_seg_fd(seg);
	if (fd >= 0) {
		CHECK(ftruncate(fd, SHMKIT__HEADER_SIZE + 100) == 0);
		CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 50000000),
			  -EBADMSG);
		CHECK(ftruncate(fd, 100) == 0);
		CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 50000000),
			  -EBADMSG);
		CHECK(ftruncate(fd, 0) == 0);
		CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_RAW, 0, 50000000),
			  -EBADMSG);
	}
	/* The mapping now extends past the end of the object: unmap, don't touch. */
	CHECK_OK(shmkit_seg_close(seg));
	CHECK_OK(shmkit_remove(uri));
}

/* A file-backed object cut short on disk: refused, never mapped past the end. */
static void test_truncated_file(void)
{
	const char *uri = test_uri("file", "trunc");
	const char *path = uri + strlen("file:");
	struct shmkit__obj o;

	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_MAP, BODY, 0600, fill_pattern, (void *)1),
		  0);
	CHECK_OK(shmkit__obj_close(&o));
	CHECK(truncate(path, SHMKIT__HEADER_SIZE + BODY / 2) == 0);
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_MAP, 0, 50000000), -EBADMSG);
	CHECK(strstr(shmkit_last_error_detail(), "segment has") != NULL);
	CHECK(truncate(path, 1000) == 0);
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_MAP, 0, 50000000), -EBADMSG);
	/* Not a shmkit file at all: refused at once (no creator to wait for). */
	CHECK(truncate(path, 0) == 0 && truncate(path, 3 * SHMKIT__HEADER_SIZE) == 0);
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_MAP, 0, 0), -EBADMSG);
	/* Even "forever" does not wait long for a creator nobody named. */
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit__obj_open_timeout(&o, uri, SHMKIT_KIND_MAP, 0, SHMKIT_FOREVER), -EBADMSG);
	CHECK(test_now_ns() - t0 < 5000000000ll);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_MAP, BODY, 0600, NULL, NULL), -EEXIST);
	CHECK_OK(shmkit_remove(uri));
}

/* ---- identities and the attach table ---- */

static int exit_at_once(void *arg)
{
	(void)arg;
	return 0;
}

/* After fork the cached identity must be the child's own. */
static int ident_after_fork(void *arg)
{
	const struct shmkit__ident *parent = arg;
	const struct shmkit__ident *me = shmkit__ident_self();
	if (me->pid != (uint32_t)getpid() || me->pid == parent->pid)
		return 1;
	return shmkit__ident_alive(me) == 1 && shmkit__ident_alive(parent) == 1 ? 0 : 2;
}

/* A process whose main thread has called pthread_exit(): /proc shows its
 * leader as a zombie while the other thread runs until the pipe closes. */
static int gate[2];

static void *wait_gate(void *arg)
{
	char c;
	(void)arg;
	while (read(gate[0], &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

static int leader_exits(void *arg)
{
	pthread_t t;
	(void)arg;
	close(gate[1]);
	if (pthread_create(&t, NULL, wait_gate, NULL) != 0)
		return 1;
	pthread_exit(NULL);
}

static void test_ident_zombie_leader(void)
{
	struct shmkit__ident id = *shmkit__ident_self();
	char state = '?';
	uint64_t start = 0;

	CHECK_OK(pipe(gate));
	pid_t kid = test_fork(leader_exits, NULL);
	close(gate[0]);
	id.pid = (uint32_t)kid;
	for (int i = 0; i < 2000 && state != 'Z'; i++) {
		CHECK_OK(shmkit__proc_stat(kid, &state, &start));
		usleep(1000);
	}
	CHECK_RET(state, 'Z');
	id.start_time = start;
	CHECK_RET(shmkit__proc_threads(kid), 2);
	CHECK_RET(shmkit__ident_alive(&id), 1); /* its other thread still runs */
	close(gate[1]);
	CHECK_RET(test_wait(kid), 0);
	CHECK_RET(shmkit__ident_alive(&id), 0);
}

static void test_ident(void)
{
	struct shmkit__ident me = *shmkit__ident_self();
	CHECK_RET(test_wait(test_fork(ident_after_fork, &me)), 0);
	test_ident_zombie_leader();
	CHECK(me.pid == (uint32_t)getpid());
	CHECK(me.start_time != 0);
	CHECK_RET(shmkit__ident_alive(&me), 1);

	struct shmkit__ident other = me;
	other.start_time++; /* same pid, another process */
	CHECK_RET(shmkit__ident_alive(&other), 0);
	other = me;
	other.boot_id[3] ^= 1; /* another boot */
	CHECK_RET(shmkit__ident_alive(&other), 0);

	pid_t child = test_fork(exit_at_once, NULL);
	test_wait(child);
	other = me;
	other.pid = (uint32_t)child;
	CHECK_RET(shmkit__ident_alive(&other), 0);

	/* A comm with spaces and parentheses must not confuse the parser. */
	char state;
	uint64_t st;
	CHECK_OK(shmkit__proc_stat(getpid(), &state, &st));
	CHECK(st == me.start_time);
}

static int comm_child(void *arg)
{
	(void)arg;
	char name[16] = "a) b (c) d";
	FILE *f = fopen("/proc/self/comm", "w");
	if (f) {
		fputs(name, f);
		fclose(f);
	}
	const struct shmkit__ident *id = shmkit__ident_self();
	char state;
	uint64_t st;
	if (shmkit__proc_stat(getpid(), &state, &st) < 0 || st != id->start_time || st == 0)
		return 1;
	return shmkit__ident_alive(id) == 1 ? 0 : 2;
}

static void test_attach_table(void)
{
	const char *uri = test_uri("posix", "attach");
	struct shmkit__obj o, p;

	CHECK_RET(test_wait(test_fork(comm_child, NULL)), 0);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), 0);
	struct shmkit__header *h = shmkit__obj_header(&o);
	const struct shmkit__ident *me = shmkit__ident_self();

	/* Every other slot: our live pid, but another start time (pid reuse). */
	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
		if ((int)i == o.attach_slot)
			continue;
		h->attach[i].start_time = me->start_time + 1;
		memcpy(h->attach[i].boot_id, me->boot_id, 16);
		atomic_store(&h->attach[i].word, SHMKIT__WORD(me->pid, SHMKIT__SLOT_USED, 5));
	}
	struct shmkit__liveness lv;
	CHECK_OK(shmkit__header_liveness(o.base, shmkit_seg_size(o.seg), shmkit_seg_fd(o.seg), &lv));
	CHECK(lv.creator_alive == 1 && lv.n_alive == 1 && lv.n_dead == 63);
	struct shmkit_attacher a[64];
	CHECK_RET(shmkit_managed_attachers(uri, a, 64), 64);
	/* A full table of the dead: the opener reclaims one. */
	CHECK_RET(shmkit__obj_open(&p, uri, SHMKIT_KIND_RAW, 0), 0);
	CHECK(p.attach_slot >= 0 && p.attach_slot != o.attach_slot);
	CHECK_OK(shmkit__obj_close(&p));

	/* A full table of the living: open still works, without a slot. */
	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
		if ((int)i == o.attach_slot)
			continue;
		h->attach[i].start_time = me->start_time;
		atomic_store(&h->attach[i].word, SHMKIT__WORD(me->pid, SHMKIT__SLOT_USED, 6));
	}
	CHECK_RET(shmkit__obj_open(&p, uri, SHMKIT_KIND_RAW, 0), 0);
	CHECK(p.attach_slot == -1);
	CHECK_OK(shmkit__obj_close(&p));
	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++)
		if ((int)i != o.attach_slot)
			atomic_store(&h->attach[i].word, 0);

	/* Holders in exec'd processes; kill -9 one: its entry counts dead and
	 * is reclaimed; closing frees the rest. */
	const char *args[] = {uri, NULL};
	pid_t holders[3];
	for (int i = 0; i < 3; i++)
		holders[i] = test_spawn_self("holder", args);
	int64_t end = test_now_ns() + 10ll * 1000000000;
	do {
		CHECK_OK(shmkit__header_liveness(o.base, shmkit_seg_size(o.seg), shmkit_seg_fd(o.seg), &lv));
		usleep(1000);
	} while (lv.n_alive < 4 && test_now_ns() < end);
	CHECK(lv.n_alive == 4 && lv.n_dead == 0);
	kill(holders[0], SIGKILL);
	test_wait(holders[0]);
	CHECK_OK(shmkit__header_liveness(o.base, shmkit_seg_size(o.seg), shmkit_seg_fd(o.seg), &lv));
	CHECK(lv.n_alive == 3 && lv.n_dead == 1);
	for (int i = 1; i < 3; i++) {
		kill(holders[i], SIGKILL);
		test_wait(holders[i]);
	}
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_RET(shmkit_managed_attachers(uri, a, 64), 3);
	for (int i = 0; i < 3; i++)
		CHECK(a[i].alive == 0);
	CHECK_OK(shmkit_remove(uri));
}

/* Many processes open at once: each gets its own slot, and closing frees them. */
static int open_and_report(void *arg)
{
	struct shmkit__obj o;
	if (shmkit__obj_open(&o, arg, SHMKIT_KIND_RAW, 0) != 0 || o.attach_slot < 0)
		return 100;
	int slot = o.attach_slot;
	/* Hold it until the parent saw everyone attached. */
	volatile unsigned char *go = o.body;
	int64_t end = test_now_ns() + 20ll * 1000000000;
	while (!*go && test_now_ns() < end)
		usleep(1000);
	shmkit__obj_close(&o);
	return slot;
}

static void test_attach_race(void)
{
	const char *uri = test_uri("posix", "race");
	struct shmkit__obj o;
	pid_t kids[12];
	int used[SHMKIT__ATTACH_SLOTS] = {0};

	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), 0);
	used[o.attach_slot] = 1;
	for (int i = 0; i < 12; i++)
		kids[i] = test_fork(open_and_report, (void *)uri);
	struct shmkit_attacher a[64];
	int64_t end = test_now_ns() + 20ll * 1000000000;
	while (shmkit_managed_attachers(uri, a, 64) < 13 && test_now_ns() < end)
		usleep(1000);
	CHECK_RET(shmkit_managed_attachers(uri, a, 64), 13);
	*(volatile unsigned char *)o.body = 1;
	for (int i = 0; i < 12; i++) {
		int slot = test_wait(kids[i]);
		CHECK(slot >= 0 && slot < (int)SHMKIT__ATTACH_SLOTS);
		if (slot >= 0 && slot < (int)SHMKIT__ATTACH_SLOTS) {
			CHECK(!used[slot]); /* nobody shared a slot */
			used[slot] = 1;
		}
	}
	CHECK_RET(shmkit_managed_attachers(uri, a, 64), 1); /* only ours is left */
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_RET(shmkit_managed_attachers(uri, a, 64), 0);
	CHECK_OK(shmkit_remove(uri));
}

/* An anon: object made before fork is shared with the child. */
static int anon_child(void *arg)
{
	struct shmkit__obj *o = arg;
	if (!check_pattern(o->body, BODY, 4))
		return 1;
	((unsigned char *)o->body)[0] = 0x42;
	return shmkit__obj_close(o) == 0 ? 0 : 2;
}

static void test_anon_fork(void)
{
	struct shmkit__obj o;
	CHECK_RET(
	    shmkit__obj_create(&o, "anon:", SHMKIT_KIND_RAW, BODY, 0600, fill_pattern, (void *)4),
	    0);
	int slot = o.attach_slot;
	CHECK_RET(test_wait(test_fork(anon_child, &o)), 0);
	CHECK(((unsigned char *)o.body)[0] == 0x42);
	/* The child's close did not release the parent's slot. */
	uint64_t w = atomic_load(&shmkit__obj_header(&o)->attach[slot].word);
	CHECK(SHMKIT__WORD_PID(w) == (uint32_t)getpid());
	CHECK_OK(shmkit__obj_close(&o));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_ident();
	test_create_open_close("posix");
	test_create_open_close("sysv");
	test_create_open_close("file");
	test_create_open_close("anon");
	test_truncated_file();
	test_anon_fork();
	test_raw_across_exec();
	test_creator_killed();
	test_creator_killed_sizing("posix");
	test_creator_killed_sizing("file");
	test_empty_not_ours("posix");
	test_empty_not_ours("file");
	test_takeover_in_process();
	test_creator_finished_and_exited();
	test_corrupt_header();
	test_attach_table();
	test_attach_race();
	return test_done();
}
