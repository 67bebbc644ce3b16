/* SPDX-License-Identifier: MIT */
/* A call that opens, creates, attaches or registers something and fails
 * leaves nothing behind and says why: for every such public call, under
 * every failure this test can cause (a bad URI or size, the wrong kind, a
 * corrupt or foreign segment, another user's segment, a full /dev/shm, a
 * full file system, SysV limits, RLIMIT_NOFILE and RLIMIT_AS at every
 * step of the call, and each libc call the library makes failed in turn
 * by the stand-ins below), and for the pollable descriptors (queue_fd,
 * queue_send_fd, sub_fd) and the sync inits, after the failed call
 *  - no descriptor and no mapping of the process is left over,
 *  - no segment, file or SysV id is left over,
 *  - the out pointer is NULL,
 *  - the return is the negative errno DESIGN.md gives, and
 *  - shmkit_last_error_detail() is not empty, not an earlier call's, and
 *    names what the user can act on (advice[]: a limit, an owner).
 * Root only: every case runs in a private mount and IPC namespace with a
 * small tmpfs on /dev/shm, so the counts are this test's alone. */
/* TIMEOUT: 240 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/timerfd.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define SHM_TMPFS_SIZE "size=1M"
#define SMALL ((size_t)64 * 1024)
#define TOO_BIG ((size_t)2 * 1024 * 1024) /* more than the tmpfs holds */

/* The directory file: segments are made in (a 256 KiB tmpfs of its own). */
static char file_dir[64];

/* ---- what a process holds and what exists ---- */

struct traces {
	int fds, maps; /* this process's */
	int shm, sysv, files; /* in the namespace */
};

static int count_entries(const char *path)
{
	int n = 0;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = 0, c;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void take_traces(struct traces *t)
{
	t->fds = count_entries("/proc/self/fd") - 1; /* opendir's own */
	/* ASan's allocator maps regions as it goes: the normal build judges maps */
#if defined(__SANITIZE_ADDRESS__)
	t->maps = 0;
#else
	t->maps = count_lines("/proc/self/maps");
#endif
	t->shm = count_entries("/dev/shm");
	t->sysv = count_lines("/proc/sysvipc/shm") - 1; /* the heading */
	t->files = count_entries(file_dir);
}

/* ---- one failure of one call the library makes ----
 * The library is linked in statically, so these definitions stand in for
 * libc's in its calls. Armed with n, the n-th call (from 0) of any of them
 * fails once with its usual errno; the rest go through. Under ASan,
 * whose allocator cannot be stood in for, memory allocation is not failed. */

static long inject_left = -1; /* calls to let through; -1: disarmed */
static const char *injected;  /* which call failed */

static int inject_now(const char *name)
{
	if (inject_left < 0 || inject_left-- > 0)
		return 0;
	injected = name;
	return 1;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))
/* Where off_t is 64 bits only by _FILE_OFFSET_BITS (i386), the headers
 * rename these calls, and the definitions below, to their ...64 symbols:
 * the real one is found under that name (the plain one takes a 32-bit
 * off_t, and fcntl a struct flock of 32-bit offsets: OFD locks -EINVAL). */
#if __SIZEOF_LONG__ == 4
#define REAL_LFS(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name "64"))
#else
#define REAL_LFS(name) REAL(name)
#endif
#define FAIL_WITH(name, err, value)                                                     \
	do {                                                                            \
		if (inject_now(#name)) {                                                \
			errno = (err);                                                  \
			return (value);                                                 \
		}                                                                       \
	} while (0)

#if !defined(__SANITIZE_ADDRESS__)
extern void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t), *__libc_realloc(void *, size_t);
void *malloc(size_t n)
{
	FAIL_WITH(malloc, ENOMEM, NULL);
	return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
	FAIL_WITH(calloc, ENOMEM, NULL);
	return __libc_calloc(n, m);
}
void *aligned_alloc(size_t align, size_t n)
{
	FAIL_WITH(aligned_alloc, ENOMEM, NULL);
	extern void *__libc_memalign(size_t, size_t);
	return __libc_memalign(align, n);
}
void *realloc(void *p, size_t n)
{
	FAIL_WITH(realloc, ENOMEM, NULL);
	return __libc_realloc(p, n);
}
#define INJECTS_MALLOC 1
#else
#define INJECTS_MALLOC 0
#endif

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	FAIL_WITH(mmap, ENOMEM, MAP_FAILED);
	return REAL_LFS(mmap)(addr, len, prot, flags, fd, off);
}
int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_arg(ap, mode_t);
	va_end(ap);
	FAIL_WITH(open, EMFILE, -1);
	return REAL_LFS(open)(path, flags, mode);
}
int openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_arg(ap, mode_t);
	va_end(ap);
	FAIL_WITH(openat, EMFILE, -1);
	return REAL_LFS(openat)(dir, path, flags, mode);
}
int shm_open(const char *name, int flags, mode_t mode)
{
	FAIL_WITH(shm_open, EMFILE, -1);
	return REAL(shm_open)(name, flags, mode);
}
int memfd_create(const char *name, unsigned flags)
{
	FAIL_WITH(memfd_create, EMFILE, -1);
	return REAL(memfd_create)(name, flags);
}
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) /* the others fail only on misuse */
		FAIL_WITH(fcntl, EMFILE, -1);
	return REAL_LFS(fcntl)(fd, cmd, arg);
}
int ftruncate(int fd, off_t len)
{
	FAIL_WITH(ftruncate, ENOSPC, -1);
	return REAL_LFS(ftruncate)(fd, len);
}
int posix_fallocate(int fd, off_t off, off_t len)
{
	if (inject_now("posix_fallocate"))
		return ENOSPC;
	return REAL_LFS(posix_fallocate)(fd, off, len);
}
int fallocate(int fd, int mode, off_t off, off_t len)
{
	FAIL_WITH(fallocate, ENOSPC, -1);
	return REAL_LFS(fallocate)(fd, mode, off, len);
}
int shmget(key_t key, size_t size, int flags)
{
	if (flags & IPC_CREAT) /* an open of an existing one has no room to lack */
		FAIL_WITH(shmget, ENOSPC, -1);
	return REAL(shmget)(key, size, flags);
}
void *shmat(int id, const void *addr, int flags)
{
	FAIL_WITH(shmat, ENOMEM, (void *)-1);
	return REAL(shmat)(id, addr, flags);
}
FILE *fopen(const char *path, const char *how)
{
	FAIL_WITH(fopen, EMFILE, NULL);
	return REAL_LFS(fopen)(path, how);
}
DIR *opendir(const char *path)
{
	FAIL_WITH(opendir, EMFILE, NULL);
	return REAL(opendir)(path);
}
int socket(int domain, int type, int protocol)
{
	FAIL_WITH(socket, EMFILE, -1);
	return REAL(socket)(domain, type, protocol);
}
int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	FAIL_WITH(bind, ENOMEM, -1);
	return REAL(bind)(fd, addr, len);
}
int epoll_create1(int flags)
{
	FAIL_WITH(epoll_create1, EMFILE, -1);
	return REAL(epoll_create1)(flags);
}
int timerfd_create(int clock, int flags)
{
	FAIL_WITH(timerfd_create, EMFILE, -1);
	return REAL(timerfd_create)(clock, flags);
}

/* ---- the calls: each makes *out from uri or fails ---- */

enum op {
	OP_SEG_OPEN,
	OP_SEG_CREATE,
	OP_QUEUE_CREATE,
	OP_QUEUE_OPEN,
	OP_PUB_CREATE,
	OP_TOPIC_CREATE,
	OP_PUB_OPEN,
	OP_SUB_OPEN,
	OP_HEAP_CREATE,
	OP_HEAP_OPEN,
	OP_MAP_CREATE,
	OP_MAP_OPEN,
	OP_MAP_LOOK,
	OP_RAW_CREATE,
	OP_RAW_OPEN,
	OP_SEG_RECV,
	N_OPS
};

static const char *const op_names[N_OPS] = {
    "seg_open", "seg_open(CREATE|EXCL)", "queue_create", "queue_open", "pub_create",
    "topic_create", "pub_open", "sub_open", "heap_create", "heap_open", "map_create",
    "map_open", "map_open_flags(RDONLY)", "raw_create", "raw_open", "seg_recv"};

static const void *const sentinel = &sentinel;

/* A connected socket whose peer sent uri's segment (OP_SEG_RECV). */
static int socket_with_segment(const char *uri)
{
	int sv[2];
	struct shmkit_seg *seg;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (uri && shmkit_seg_open(&seg, uri, 0, 0, 0) == 0) {
		shmkit_seg_send(sv[1], seg);
		shmkit_seg_close(seg);
	}
	close(sv[1]);
	return sv[0];
}

/* An earlier call's detail, which a failure must not leave in place. */
#define STALE_URI "bogus:an-earlier-call"

static void leave_stale_detail(void)
{
	struct shmkit_seg *seg;
	long armed = inject_left; /* not counted: the call judged is the next one */
	inject_left = -1;
	CHECK(shmkit_seg_open(&seg, STALE_URI, 0, 0, 0) < 0);
	CHECK(strstr(shmkit_last_error_detail(), STALE_URI) != NULL);
	inject_left = armed;
}

static int call_op(enum op op, const char *uri, size_t size, void **out)
{
	struct shmkit_queue_opts qo = {.capacity = 8, .max_msg = size / 16};
	struct shmkit_topic_opts to = {.slot_size = size / 16, .slots = 8};
	leave_stale_detail();
	*out = (void *)sentinel;
	switch (op) {
	case OP_SEG_OPEN:
		return shmkit_seg_open((struct shmkit_seg **)out, uri, size, 0, 0);
	case OP_SEG_CREATE:
		return shmkit_seg_open((struct shmkit_seg **)out, uri, size,
				       SHMKIT_CREATE | SHMKIT_EXCL, 0);
	case OP_QUEUE_CREATE:
		return shmkit_queue_create((struct shmkit_queue **)out, uri, &qo);
	case OP_QUEUE_OPEN:
		return shmkit_queue_open((struct shmkit_queue **)out, uri);
	case OP_PUB_CREATE:
		return shmkit_pub_create((struct shmkit_pub **)out, uri, &to);
	case OP_TOPIC_CREATE:
		*out = NULL; /* no out pointer */
		return shmkit_topic_create(uri, &to);
	case OP_PUB_OPEN:
		return shmkit_pub_open((struct shmkit_pub **)out, uri);
	case OP_SUB_OPEN:
		return shmkit_sub_open((struct shmkit_sub **)out, uri);
	case OP_HEAP_CREATE:
		return shmkit_heap_create((struct shmkit_heap **)out, uri, size, 0);
	case OP_HEAP_OPEN:
		return shmkit_heap_open((struct shmkit_heap **)out, uri);
	case OP_MAP_CREATE:
		return shmkit_map_create((struct shmkit_map **)out, uri, size, 0);
	case OP_MAP_OPEN:
		return shmkit_map_open((struct shmkit_map **)out, uri);
	case OP_MAP_LOOK:
		return shmkit_map_open_flags((struct shmkit_map **)out, uri, SHMKIT_RDONLY);
	case OP_RAW_CREATE:
		return shmkit_raw_create((struct shmkit_raw **)out, uri, size, 0);
	case OP_RAW_OPEN:
		return shmkit_raw_open((struct shmkit_raw **)out, uri);
	case OP_SEG_RECV: {
		int sock = socket_with_segment(size ? uri : NULL);
		if (sock < 0) {
			*out = NULL;
			return sock;
		}
		int rc = shmkit_seg_recv(sock, (struct shmkit_seg **)out, 0);
		close(sock);
		return rc;
	}
	default:
		return -ENOSYS;
	}
}

/* Closes what a call that should have failed made, and removes it. */
static void undo_op(enum op op, const char *uri, void *h)
{
	switch (op) {
	case OP_SEG_OPEN:
	case OP_SEG_CREATE:
	case OP_SEG_RECV:
		shmkit_seg_close(h);
		break;
	case OP_QUEUE_CREATE:
	case OP_QUEUE_OPEN:
		shmkit_queue_close(h);
		break;
	case OP_PUB_CREATE:
	case OP_PUB_OPEN:
		shmkit_pub_close(h);
		break;
	case OP_SUB_OPEN:
		shmkit_sub_close(h);
		break;
	case OP_HEAP_CREATE:
	case OP_HEAP_OPEN:
		shmkit_heap_close(h);
		break;
	case OP_MAP_CREATE:
	case OP_MAP_OPEN:
	case OP_MAP_LOOK:
		shmkit_map_close(h);
		break;
	case OP_RAW_CREATE:
	case OP_RAW_OPEN:
		shmkit_raw_close(h);
		break;
	default:
		break;
	}
	if (op == OP_SEG_CREATE || op == OP_QUEUE_CREATE || op == OP_PUB_CREATE ||
	    op == OP_TOPIC_CREATE || op == OP_HEAP_CREATE || op == OP_MAP_CREATE ||
	    op == OP_RAW_CREATE)
		shmkit_remove(uri);
}

/* ---- one failed call, judged ---- */

/* What a failure's detail must name, beyond its errno's text: where the
 * limit hit is set, whose the object refused is. */
static const struct {
	int err;
	const char *says;
} advice[] = {
    {-EMFILE, "RLIMIT_NOFILE"},
    {-EACCES, "uid"},
    {-EEXIST, "already exists"},
};

static const char *advice_missing(int rc, const char *detail)
{
	for (size_t i = 0; i < sizeof(advice) / sizeof(advice[0]); i++)
		if (advice[i].err == rc && !strstr(detail, advice[i].says))
			return advice[i].says;
	return NULL;
}

/* 1 if the failed call left what the traces count as it was. */
static int nothing_left(const char *what, const struct traces *before, const struct traces *after,
			int judge_process)
{
	int ok = 1;
#define SAME(field, show)                                                                  \
	if (before->field != after->field && (show)) {                                      \
		fprintf(stderr, "  %s: %s %d -> %d\n", what, #field, before->field,        \
			after->field);                                                      \
		ok = 0;                                                                     \
	}
	SAME(fds, judge_process)
	SAME(maps, judge_process)
	SAME(shm, 1)
	SAME(sysv, 1)
	SAME(files, 1)
#undef SAME
	return ok;
}

/* Judges one failed call (rc, detail) made since `before` was taken: 0 if
 * it failed as wanted (want 0: any negative errno) and left nothing, 1
 * with a line saying what not. */
static int judge_one(const char *label, const char *call, const struct traces *before, int rc,
		     void *h, int want)
{
	struct traces after;
	char detail[512];
	int bad = 0;
	snprintf(detail, sizeof(detail), "%s", shmkit_last_error_detail());
	take_traces(&after);
	bad |= !nothing_left(label, before, &after, 1);
	if (h != NULL) {
		fprintf(stderr, "  %s: %s: out pointer not NULL after the failure\n", label,
			call);
		bad = 1;
	}
	if (rc >= 0 || (want && rc != want)) {
		fprintf(stderr, "  %s: %s returned %d (%s), want %d (%s)\n", label, call,
			rc, shmkit_strerror(rc), want, shmkit_strerror(want));
		bad = 1;
	}
	if (detail[0] == '\0' || strstr(detail, STALE_URI)) {
		fprintf(stderr, "  %s: %s: %d (%s) with %s\n", label, call, rc,
			shmkit_strerror(rc), detail[0] ? "an earlier call's detail" : "no detail");
		bad = 1;
	}
	const char *missing = advice_missing(rc, detail);
	if (missing) {
		fprintf(stderr, "  %s: %s: %d (%s): the detail does not name '%s': %s\n", label,
			call, rc, shmkit_strerror(rc), missing, detail);
		bad = 1;
	}
	printf("%-40s %-22s %4d %s: %s\n", label, call, rc, shmkit_strerror(rc), detail);
	return bad;
}

/* Runs op twice, the first to warm up what the library makes once per
 * process (which the second must not add to), and judges both. */
static int judge_failure(const char *label, enum op op, const char *uri, size_t size, int want)
{
	struct traces t0, t1;
	void *h;
	take_traces(&t0);
	int rc = call_op(op, uri, size, &h);
	if (rc >= 0) {
		fprintf(stderr, "  %s: %s succeeded\n", label, op_names[op]);
		undo_op(op, uri, h);
		return 1;
	}
	take_traces(&t1);
	if (!nothing_left(label, &t0, &t1, 0))
		return 1;
	rc = call_op(op, uri, size, &h);
	if (rc >= 0) {
		fprintf(stderr, "  %s: %s failed, then succeeded\n", label, op_names[op]);
		undo_op(op, uri, h);
		return 1;
	}
	return judge_one(label, op_names[op], &t1, rc, h, want);
}

/* ---- the objects the cases fail on ---- */

struct fixture {
	const char *plain, *random, *queue, *mpmc, *topic, *heap, *map, *raw, *sysv, *empty;
	const char *bad_magic, *bad_version, *bad_kind, *missing, *missing_sysv, *fresh,
		*fresh_sysv, *file_new, *file_missing_dir;
};

static struct fixture fx;

static void write_header_word(const char *uri, size_t offset, uint32_t value)
{
	struct shmkit_seg *seg;
	CHECK_OK(shmkit_seg_open(&seg, uri, 0, 0, 0));
	memcpy((char *)shmkit_seg_addr(seg) + offset, &value, sizeof(value));
	shmkit_seg_close(seg);
}

static const char *make_queue(const char *tag, int multi)
{
	const char *uri = test_uri("posix", tag);
	struct shmkit_queue_opts qo = {.capacity = 8, .max_msg = SMALL / 16,
				       .multi_producer = multi, .multi_consumer = multi};
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_create(&q, uri, &qo));
	shmkit_queue_close(q);
	return uri;
}

static void make_fixture(struct fixture *f)
{
	struct shmkit_seg *seg;
	struct shmkit_topic_opts to = {.slot_size = 256, .slots = 8};
	struct shmkit_heap *h;
	struct shmkit_map *m;
	struct shmkit_raw *r;
	static char file_new[128], file_missing_dir[128];

	f->plain = test_uri("posix", "plain");
	CHECK_OK(shmkit_seg_open(&seg, f->plain, SMALL, SHMKIT_CREATE | SHMKIT_EXCL, 0));
	shmkit_seg_close(seg);
	f->random = test_uri("posix", "random");
	CHECK_OK(shmkit_seg_open(&seg, f->random, SMALL, SHMKIT_CREATE | SHMKIT_EXCL, 0));
	for (size_t i = 0; i < SMALL; i++)
		((unsigned char *)shmkit_seg_addr(seg))[i] = (unsigned char)(i * 131 + 7);
	shmkit_seg_close(seg);
	f->empty = test_uri("posix", "empty");
	char path[256];
	snprintf(path, sizeof(path), "/dev/shm%s", f->empty + strlen("posix:"));
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	f->sysv = test_uri("sysv", "sysv");
	CHECK_OK(shmkit_seg_open(&seg, f->sysv, SMALL, SHMKIT_CREATE | SHMKIT_EXCL, 0));
	shmkit_seg_close(seg);
	f->queue = make_queue("queue", 0);
	f->mpmc = make_queue("mpmc", 1);
	f->topic = test_uri("posix", "topic");
	CHECK_OK(shmkit_topic_create(f->topic, &to));
	f->heap = test_uri("posix", "heap");
	CHECK_OK(shmkit_heap_create(&h, f->heap, SMALL, 0));
	shmkit_heap_close(h);
	f->map = test_uri("posix", "map");
	CHECK_OK(shmkit_map_create(&m, f->map, SMALL, 0));
	shmkit_map_close(m);
	f->raw = test_uri("posix", "raw");
	CHECK_OK(shmkit_raw_create(&r, f->raw, SMALL, 0));
	shmkit_raw_close(r);
	f->bad_magic = make_queue("bad-magic", 0);
	write_header_word(f->bad_magic, 0, 0x12345678);
	f->bad_version = make_queue("bad-version", 0);
	write_header_word(f->bad_version, 12, SHMKIT_LAYOUT_VERSION + 1);
	f->bad_kind = make_queue("bad-kind", 0);
	write_header_word(f->bad_kind, 16, 99);
	f->missing = test_uri("posix", "missing");
	f->missing_sysv = test_uri("sysv", "missing");
	f->fresh = test_uri("posix", "fresh");
	f->fresh_sysv = test_uri("sysv", "fresh");
	snprintf(file_new, sizeof(file_new), "file:%s/new", file_dir);
	f->file_new = file_new;
	snprintf(file_missing_dir, sizeof(file_missing_dir), "file:%s/no/such", file_dir);
	f->file_missing_dir = file_missing_dir;
}

/* ---- the cases ---- */

struct failure_case {
	const char *label;
	enum op op;
	const char *const *uri;
	size_t size;
	int want; /* 0: any negative errno */
};

static const char *const bogus = "bogus:/x", *const slash = "posix:/a/b",
		  *const fd_closed = "fd:999", *const memfd = "memfd:failure-paths",
		  *const anon = "anon:";
static char long_name[300];
static const char *const long_uri = long_name;

#define EACH_OPEN(label, uri, want)                                                    \
	{label, OP_QUEUE_OPEN, uri, 0, want}, {label, OP_PUB_OPEN, uri, 0, want},        \
	    {label, OP_SUB_OPEN, uri, 0, want}, {label, OP_HEAP_OPEN, uri, 0, want},     \
	    {label, OP_MAP_OPEN, uri, 0, want}, {label, OP_MAP_LOOK, uri, 0, want},      \
	    {label, OP_RAW_OPEN, uri, 0, want}
#define EACH_CREATE(label, uri, size, want)                                            \
	{label, OP_SEG_CREATE, uri, size, want}, {label, OP_QUEUE_CREATE, uri, size, want}, \
	    {label, OP_PUB_CREATE, uri, size, want}, {label, OP_TOPIC_CREATE, uri, size, want}, \
	    {label, OP_HEAP_CREATE, uri, size, want}, {label, OP_MAP_CREATE, uri, size, want}, \
	    {label, OP_RAW_CREATE, uri, size, want}

/* Refused for what the arguments or the segment are. */
static const struct failure_case refused[] = {
    {"unknown scheme", OP_SEG_CREATE, &bogus, SMALL, -EINVAL},
    {"posix: name with a second /", OP_SEG_CREATE, &slash, SMALL, -EINVAL},
    {"posix: name too long", OP_SEG_CREATE, &long_uri, SMALL, -ENAMETOOLONG},
    {"no such posix: segment", OP_SEG_OPEN, &fx.missing, 0, -ENOENT},
    {"no such sysv: segment", OP_SEG_OPEN, &fx.missing_sysv, 0, -ENOENT},
    {"posix: smaller than asked", OP_SEG_OPEN, &fx.plain, 2 * SMALL, -EINVAL},
    {"sysv: smaller than asked", OP_SEG_OPEN, &fx.sysv, 2 * SMALL, -EINVAL},
    {"posix: exists (EXCL)", OP_SEG_CREATE, &fx.plain, SMALL, -EEXIST},
    {"sysv: exists (EXCL)", OP_SEG_CREATE, &fx.sysv, SMALL, -EEXIST},
    {"file: in a missing directory", OP_SEG_CREATE, &fx.file_missing_dir, SMALL, -ENOENT},
    {"fd: not open", OP_SEG_OPEN, &fd_closed, 0, -EBADF},
    {"create with size 0", OP_SEG_CREATE, &fx.fresh, 0, -EINVAL},
    {"memfd: with size 0", OP_SEG_CREATE, &memfd, 0, -EINVAL},
    {"queue exists", OP_QUEUE_CREATE, &fx.queue, SMALL, -EEXIST},
    {"topic exists", OP_PUB_CREATE, &fx.topic, SMALL, -EEXIST},
    {"topic exists", OP_TOPIC_CREATE, &fx.topic, SMALL, -EEXIST},
    {"heap exists", OP_HEAP_CREATE, &fx.heap, SMALL, -EEXIST},
    {"map exists", OP_MAP_CREATE, &fx.map, SMALL, -EEXIST},
    {"raw exists", OP_RAW_CREATE, &fx.raw, SMALL, -EEXIST},
    EACH_OPEN("missing", &fx.missing, -ENOENT),
    {"a heap", OP_QUEUE_OPEN, &fx.heap, 0, -EBADMSG},
    {"a queue", OP_PUB_OPEN, &fx.queue, 0, -EBADMSG},
    {"a queue", OP_SUB_OPEN, &fx.queue, 0, -EBADMSG},
    {"a queue", OP_HEAP_OPEN, &fx.queue, 0, -EBADMSG},
    {"a queue", OP_MAP_OPEN, &fx.queue, 0, -EBADMSG},
    {"a heap", OP_MAP_OPEN, &fx.heap, 0, -EBADMSG},
    {"a heap", OP_MAP_LOOK, &fx.heap, 0, -EBADMSG},
    {"a queue", OP_RAW_OPEN, &fx.queue, 0, -EBADMSG},
    EACH_OPEN("foreign: zeros", &fx.plain, 0),
    EACH_OPEN("foreign: bytes", &fx.random, -EBADMSG),
    EACH_OPEN("empty file", &fx.empty, 0),
    {"header: bad magic", OP_QUEUE_OPEN, &fx.bad_magic, 0, -EBADMSG},
    {"header: other version", OP_QUEUE_OPEN, &fx.bad_version, 0, -EPROTO},
    {"header: unknown kind", OP_QUEUE_OPEN, &fx.bad_kind, 0, -EBADMSG},
    {"nothing sent", OP_SEG_RECV, &memfd, 0, 0},
    {"posix: sent (not sealed)", OP_SEG_RECV, &fx.plain, SMALL, -EBADMSG},
};

/* No room: /dev/shm, the file system, SysV's shmall. */
static const struct failure_case no_room[] = {
    EACH_CREATE("/dev/shm full", &fx.fresh, TOO_BIG, -ENOSPC),
    {"file system full", OP_SEG_CREATE, &fx.file_new, TOO_BIG, -ENOSPC},
    {"file system full", OP_QUEUE_CREATE, &fx.file_new, TOO_BIG, -ENOSPC},
    {"sysv: over shmall", OP_SEG_CREATE, &fx.fresh_sysv, TOO_BIG, -ENOSPC},
    {"sysv: over shmall", OP_QUEUE_CREATE, &fx.fresh_sysv, TOO_BIG, -ENOSPC},
};

/* Another user's (root's 0600) objects, and a directory not ours. */
static const struct failure_case not_ours[] = {
    {"another user's", OP_SEG_OPEN, &fx.plain, 0, -EACCES},
    {"another user's", OP_SEG_OPEN, &fx.sysv, 0, -EACCES},
    {"another user's queue", OP_QUEUE_OPEN, &fx.queue, 0, -EACCES},
    {"another user's topic", OP_PUB_OPEN, &fx.topic, 0, -EACCES},
    {"another user's topic", OP_SUB_OPEN, &fx.topic, 0, -EACCES},
    {"another user's heap", OP_HEAP_OPEN, &fx.heap, 0, -EACCES},
    {"another user's map", OP_MAP_OPEN, &fx.map, 0, -EACCES},
    {"another user's map", OP_MAP_LOOK, &fx.map, 0, -EACCES},
    {"another user's raw", OP_RAW_OPEN, &fx.raw, 0, -EACCES},
    {"another user's directory", OP_SEG_CREATE, &fx.file_new, SMALL, -EACCES},
    {"another user's directory", OP_QUEUE_CREATE, &fx.file_new, SMALL, -EACCES},
};

/* Made or opened under every limit on the way to success. */
static const struct failure_case stepped[] = {
    {"", OP_SEG_CREATE, &fx.fresh, SMALL, 0},
    {"", OP_SEG_CREATE, &fx.fresh_sysv, SMALL, 0},
    {"", OP_SEG_CREATE, &fx.file_new, SMALL, 0},
    {"", OP_SEG_CREATE, &memfd, SMALL, 0},
    {"", OP_SEG_CREATE, &anon, SMALL, 0},
    {"", OP_QUEUE_CREATE, &fx.fresh, SMALL, 0},
    {"", OP_QUEUE_CREATE, &fx.fresh_sysv, SMALL, 0},
    {"", OP_QUEUE_CREATE, &fx.file_new, SMALL, 0},
    {"", OP_QUEUE_CREATE, &memfd, SMALL, 0},
    {"", OP_PUB_CREATE, &fx.fresh, SMALL, 0},
    {"", OP_TOPIC_CREATE, &fx.fresh, SMALL, 0},
    {"", OP_HEAP_CREATE, &fx.fresh, SMALL, 0},
    {"", OP_MAP_CREATE, &fx.fresh, SMALL, 0},
    {"", OP_RAW_CREATE, &fx.fresh, SMALL, 0},
    {"", OP_SEG_OPEN, &fx.plain, 0, 0},
    {"", OP_SEG_OPEN, &fx.sysv, 0, 0},
    {"", OP_QUEUE_OPEN, &fx.queue, 0, 0},
    {"", OP_PUB_OPEN, &fx.topic, 0, 0},
    {"", OP_SUB_OPEN, &fx.topic, 0, 0},
    {"", OP_HEAP_OPEN, &fx.heap, 0, 0},
    {"", OP_MAP_OPEN, &fx.map, 0, 0},
    {"", OP_MAP_LOOK, &fx.map, 0, 0},
    {"", OP_RAW_OPEN, &fx.raw, 0, 0},
};

#define N(table) (sizeof(table) / sizeof((table)[0]))

static int judge_table(const struct failure_case *cases, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += judge_failure(cases[i].label, cases[i].op, *cases[i].uri, cases[i].size,
				     cases[i].want);
	return bad;
}

/* Refusals whose detail must name what was found, beyond advice[]. */
static const struct {
	struct failure_case c;
	const char *says;
} explained[] = {
    /* sized, all zero: another program's, or a creator killed before it
     * wrote the header; create must not say "open it" (that fails too) */
    {{"foreign: zeros", OP_QUEUE_CREATE, &fx.plain, SMALL, -EEXIST}, "no shmkit header"},
    {{"a queue", OP_HEAP_CREATE, &fx.queue, SMALL, -EEXIST}, "not a heap"},
};

static int judge_explained(void)
{
	int bad = 0;
	for (size_t i = 0; i < N(explained); i++) {
		const struct failure_case *c = &explained[i].c;
		bad += judge_failure(c->label, c->op, *c->uri, c->size, c->want);
		if (!strstr(shmkit_last_error_detail(), explained[i].says)) {
			fprintf(stderr, "  %s: %s: the detail does not name '%s': %s\n", c->label,
				op_names[c->op], explained[i].says, shmkit_last_error_detail());
			bad++;
		}
	}
	return bad;
}

static int as_nobody(void *arg)
{
	(void)arg;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ||
	    prctl(PR_SET_DUMPABLE, 1) < 0) /* else /proc/self/fd is root's */
		return 100;
	return judge_table(not_ours, N(not_ours));
}

/* Raises `resource` from the process's use now one step at a time until
 * each stepped call succeeds, judging every failure on the way. */
static int step_limit(int resource, rlim_t start, rlim_t step, rlim_t last)
{
	int bad = 0;
	struct rlimit unlimited;
	getrlimit(resource, &unlimited);
	for (size_t i = 0; i < N(stepped); i++) {
		const struct failure_case *c = &stepped[i];
		char label[64];
		for (rlim_t lim = start; lim <= last; lim += step) {
			struct rlimit rl = {lim, unlimited.rlim_max};
			void *h;
			CHECK(setrlimit(resource, &rl) == 0);
			int rc = call_op(c->op, *c->uri, c->size, &h);
			if (rc >= 0) {
				setrlimit(resource, &unlimited);
				undo_op(c->op, *c->uri, h);
				break;
			}
			snprintf(label, sizeof(label), "%s %llu",
				 resource == RLIMIT_NOFILE ? "RLIMIT_NOFILE" : "RLIMIT_AS",
				 (unsigned long long)lim);
			bad += judge_failure(label, c->op, *c->uri, c->size, 0);
			setrlimit(resource, &unlimited);
		}
	}
	return bad;
}

/* Fails each call the library makes on the way in turn, once: every
 * failure must leave nothing and say why; a call the library gets past
 * (a fallback) may succeed. */
static int inject_steps(void *arg)
{
	(void)arg;
	int bad = 0;
	for (size_t i = 0; i < N(stepped); i++) {
		const struct failure_case *c = &stepped[i];
		void *h;
		if (call_op(c->op, *c->uri, c->size, &h) < 0) { /* warms up; must work */
			fprintf(stderr, "  %s %s: fails without injection\n", op_names[c->op], *c->uri);
			bad++;
			continue;
		}
		undo_op(c->op, *c->uri, h);
		for (long n = 0;; n++) {
			struct traces t;
			char label[64];
			take_traces(&t);
			injected = NULL;
			inject_left = n;
			int rc = call_op(c->op, *c->uri, c->size, &h);
			inject_left = -1;
			if (!injected) { /* made fewer than n + 1 calls: all failed once */
				if (rc >= 0)
					undo_op(c->op, *c->uri, h);
				break;
			}
			if (rc >= 0) {
				undo_op(c->op, *c->uri, h);
				continue;
			}
			snprintf(label, sizeof(label), "%s #%ld failed", injected, n);
			bad += judge_one(label, op_names[c->op], &t, rc, h, 0);
		}
	}
	return bad;
}

/* ---- the pollable descriptors: made on a handle, kept by it ---- */

enum fd_call { FD_QUEUE, FD_QUEUE_SEND, FD_SUB };

struct fd_case {
	const char *name;
	enum fd_call call;
	const char *const *uri;
};

/* SPSC hands out the listener's socket, MPMC an epoll set around it. */
static const struct fd_case fd_cases[] = {
    {"queue_fd (SPSC)", FD_QUEUE, &fx.queue},
    {"queue_fd (MPMC)", FD_QUEUE, &fx.mpmc},
    {"queue_send_fd (MPMC)", FD_QUEUE_SEND, &fx.mpmc},
    {"sub_fd", FD_SUB, &fx.topic},
};

static void *fd_handle_open(const struct fd_case *c)
{
	void *h = NULL;
	if (c->call == FD_SUB)
		CHECK_OK(shmkit_sub_open((struct shmkit_sub **)&h, *c->uri));
	else
		CHECK_OK(shmkit_queue_open((struct shmkit_queue **)&h, *c->uri));
	return h;
}

static void fd_handle_close(const struct fd_case *c, void *h)
{
	if (c->call == FD_SUB)
		shmkit_sub_close(h);
	else
		shmkit_queue_close(h);
}

static int fd_call(const struct fd_case *c, void *h)
{
	leave_stale_detail();
	switch (c->call) {
	case FD_QUEUE:
		return shmkit_queue_fd(h);
	case FD_QUEUE_SEND:
		return shmkit_queue_send_fd(h);
	default:
		return shmkit_sub_fd(h);
	}
}

/* One failure of c's call, made by fail() (a limit, an injection) on a
 * fresh handle and undone by unfail(): 0 if the call succeeded, 1 with
 * *bad set if it failed (judged: the failure leaves the handle as it was,
 * and closing the handle leaves nothing). */
static int fd_try(const struct fd_case *c, void (*fail)(long), void (*unfail)(void), long step,
		  const char *label, int *bad)
{
	struct traces opened, called, closed;
	take_traces(&opened);
	void *h = fd_handle_open(c);
	take_traces(&called);
	fail(step);
	int rc = fd_call(c, h);
	unfail();
	if (rc < 0)
		*bad += judge_one(label, c->name, &called, rc, NULL, 0);
	fd_handle_close(c, h);
	take_traces(&closed);
	*bad += !nothing_left(label, &opened, &closed, 1);
	return rc < 0;
}

static struct rlimit nofile_unlimited;

static void nofile_limit(long lim)
{
	struct rlimit rl = {(rlim_t)lim, nofile_unlimited.rlim_max};
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static void nofile_restore(void)
{
	CHECK(setrlimit(RLIMIT_NOFILE, &nofile_unlimited) == 0);
}

static void inject_arm(long n)
{
	injected = NULL;
	inject_left = n;
}

static void inject_disarm(void)
{
	inject_left = -1;
}

/* Each descriptor under RLIMIT_NOFILE from the lowest free descriptor up,
 * and with each call the library makes on the way failed in turn. */
static int fd_steps(void *arg)
{
	(void)arg;
	int bad = 0;
	char label[64];
	getrlimit(RLIMIT_NOFILE, &nofile_unlimited);
	for (size_t i = 0; i < N(fd_cases); i++) {
		const struct fd_case *c = &fd_cases[i];
		int lowest_free = fcntl(0, F_DUPFD_CLOEXEC, 0);
		close(lowest_free);
		for (long lim = lowest_free; lim < lowest_free + 16; lim++) {
			snprintf(label, sizeof(label), "RLIMIT_NOFILE %ld", lim);
			if (!fd_try(c, nofile_limit, nofile_restore, lim, label, &bad))
				break;
		}
		for (long n = 0; n < 64; n++) {
			snprintf(label, sizeof(label), "injected #%ld", n);
			int failed = fd_try(c, inject_arm, inject_disarm, n, label, &bad);
			if (!failed && !injected)
				break; /* made fewer than n + 1 calls: all failed once */
		}
	}
	return bad;
}

/* ---- the sync inits: on memory the caller placed ---- */

static int sync_init_fails(void *arg)
{
	(void)arg;
	_Alignas(16) unsigned char buf[256];
	void *off = buf + 2; /* aligned for no struct (i386 takes a 4-aligned mutex) */
	struct traces t;
	int bad = 0;
	take_traces(&t);
#define JUDGE_INIT(label, name, call)                                                      \
	do {                                                                               \
		leave_stale_detail();                                                      \
		bad += judge_one(label, name, &t, call, NULL, -EINVAL);                    \
	} while (0)
	JUDGE_INIT("NULL", "mutex_init", shmkit_mutex_init(NULL));
	JUDGE_INIT("misaligned", "mutex_init", shmkit_mutex_init(off));
	JUDGE_INIT("NULL", "sem_init", shmkit_sem_init(NULL, 0));
	JUDGE_INIT("misaligned", "sem_init", shmkit_sem_init(off, 0));
	JUDGE_INIT("value 2^31", "sem_init", shmkit_sem_init((void *)buf, 1u << 31));
	JUDGE_INIT("NULL", "event_init", shmkit_event_init(NULL));
	JUDGE_INIT("misaligned", "event_init", shmkit_event_init(off));
#undef JUDGE_INIT
	return bad;
}

static int nofile_steps(void *arg)
{
	(void)arg;
	int lowest_free = fcntl(0, F_DUPFD_CLOEXEC, 0); /* what the next open gets */
	close(lowest_free);
	return step_limit(RLIMIT_NOFILE, (rlim_t)lowest_free, 1, (rlim_t)lowest_free + 16);
}

#if !defined(__SANITIZE_ADDRESS__) /* ASan maps terabytes of shadow: no RLIMIT_AS steps */
static long vm_size(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

static int as_steps(void *arg)
{
	(void)arg;
	rlim_t now = (rlim_t)vm_size();
	return step_limit(RLIMIT_AS, now, 16 * 1024, now + 16 * 1024 * 1024);
}
#endif

/* Everything in a mount and IPC namespace of its own. */
static int in_namespace(void *arg)
{
	(void)arg;
	int bad = 0;
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, SHM_TMPFS_SIZE) < 0 ||
	    mount("tmpfs", file_dir, "tmpfs", 0, "size=256k,mode=0755") < 0)
		return 77;
	FILE *shmall = fopen("/proc/sys/kernel/shmall", "we"); /* this namespace's */
	CHECK(shmall && fprintf(shmall, "%zu\n", (size_t)1024 * 1024 / 4096) > 0);
	if (shmall)
		fclose(shmall);
	memset(long_name, 'n', sizeof(long_name) - 1);
	memcpy(long_name, "posix:/", 7);
	make_fixture(&fx);
	bad += judge_table(refused, N(refused));
	bad += judge_table(no_room, N(no_room));
	bad += judge_explained();
	bad += test_wait(test_fork(as_nobody, NULL));
	bad += test_wait(test_fork(nofile_steps, NULL));
	bad += test_wait(test_fork(inject_steps, NULL));
	bad += test_wait(test_fork(fd_steps, NULL));
	bad += test_wait(test_fork(sync_init_fails, NULL));
#if !defined(__SANITIZE_ADDRESS__)
	bad += test_wait(test_fork(as_steps, NULL));
#endif
	return bad;
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, NULL);
	if (!test_is_root())
		test_skip("needs root (a private mount and IPC namespace, another user)");
	snprintf(file_dir, sizeof(file_dir), "/tmp/shmkit-test-%d-files", (int)getpid());
	CHECK(mkdir(file_dir, 0755) == 0);
	int rc = test_wait(test_fork(in_namespace, NULL));
	rmdir(file_dir);
	if (rc == 77)
		test_skip("no private mount and IPC namespace here");
	CHECK_RET(rc, 0);
	return test_done();
}
