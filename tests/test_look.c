/* SPDX-License-Identifier: MIT */
/* Looks (issue 10, DESIGN §8: looking never changes anything):
 * shmkit_queue_stat, shmkit_heap_stat and a SHMKIT_RDONLY map read through
 * read-only mappings and leave every byte as it was; they agree with the
 * handle-based calls; a read-only map refuses writes, reads consistently
 * while another process writes, and a System V object is read through a
 * process that has it attached, never by attaching (its last-user pid and
 * times stay), and only as far as its header when it is not the kind asked
 * for (a read allocates a page the segment has not). */
/* TIMEOUT: 120 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

/* The bytes of a posix: object's file. */
static unsigned char *snapshot(const char *uri, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "/dev/shm/%s", uri + strlen("posix:/"));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	off_t n = lseek(fd, 0, SEEK_END);
	unsigned char *b = malloc((size_t)n);
	CHECK(b && pread(fd, b, (size_t)n, 0) == n);
	close(fd);
	*len = (size_t)n;
	return b;
}

static void check_same(const char *uri, const unsigned char *before, size_t len)
{
	size_t n;
	unsigned char *now = snapshot(uri, &n);
	CHECK(n == len);
	for (size_t i = 0; i < len && i < n; i++)
		if (now[i] != before[i]) {
			fprintf(stderr, "%s: byte %zu changed by a look\n", uri, i);
			CHECK(!"a look changed a byte");
			break;
		}
	free(now);
}

static void test_queue_look(void)
{
	const char *uri = test_uri("posix", "q");
	struct shmkit_queue_opts o = { .capacity = 8, .max_msg = 32 };
	struct shmkit_queue *q;
	struct shmkit_queue_stats a, b;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	for (int i = 0; i < 3; i++)
		CHECK_OK(shmkit_queue_send(q, "msg", 3, 0));
	CHECK_OK(shmkit_queue_stats(q, &a));
	size_t len;
	unsigned char *before = snapshot(uri, &len);
	CHECK_OK(shmkit_queue_stat(uri, &b));
	check_same(uri, before, len);
	CHECK(b.depth == 3 && b.sent == 3 && b.capacity == a.capacity && b.max_msg == a.max_msg);
	CHECK_RET(shmkit_queue_stat(test_uri("posix", "none"), &b), -ENOENT);
	CHECK_RET(shmkit_queue_stat(NULL, &b), -EINVAL);
	free(before);
	shmkit_queue_close(q);
}

static int count_pair(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	int *n = arg;
	(void)k;
	(void)v;
	(void)klen;
	(void)vlen;
	++*n;
	return 0;
}

static void fill_map(struct shmkit_map *m, int n)
{
	char k[32], v[128];
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		/* every third value is long: it lives in a chain entry, not the bucket */
		int vl = snprintf(v, sizeof(v), "value-%d%s", i,
				  i % 3 ? "" : "-long-enough-to-leave-the-bucket-for-a-chain-entry");
		CHECK_OK(shmkit_map_put(m, k, strlen(k), v, (size_t)vl));
	}
}

static void test_map_look(void)
{
	const char *uri = test_uri("posix", "m");
	struct shmkit_map *w, *r;
	CHECK_OK(shmkit_map_create(&w, uri, 256 << 10, 0600));
	fill_map(w, 200);
	size_t len;
	unsigned char *before = snapshot(uri, &len);
	CHECK_OK(shmkit_map_open_flags(&r, uri, SHMKIT_RDONLY));
	char buf[128];
	CHECK_RET(shmkit_map_get(r, "key-7", 5, buf, sizeof(buf)), 7);
	CHECK(memcmp(buf, "value-7", 7) == 0);
	CHECK(shmkit_map_get(r, "key-9", 5, buf, sizeof(buf)) > 20);
	CHECK_RET(shmkit_map_get(r, "nokey", 5, buf, sizeof(buf)), -ENOENT);
	CHECK_RET(shmkit_map_len(r, "key-7", 5), 7);
	CHECK_RET(shmkit_map_count(r), 200);
	int n = 0;
	CHECK_OK(shmkit_map_iter(r, count_pair, &n));
	CHECK(n == 200);
	CHECK_RET(shmkit_map_put(r, "x", 1, "y", 1), -EPERM);
	CHECK_RET(shmkit_map_del(r, "key-7", 5), -EPERM);
	CHECK_RET(shmkit_map_check(r), -EPERM);
	CHECK_RET(shmkit_map_flush(r), -EPERM);
	CHECK(shmkit_map_heap(r) == NULL);
	struct shmkit_map *bad;
	CHECK_RET(shmkit_map_open_flags(&bad, uri, SHMKIT_CREATE), -EINVAL);
	CHECK(bad == NULL);
	check_same(uri, before, len);
	CHECK_OK(shmkit_map_close(r));
	check_same(uri, before, len);

	/* heap stats by URI equal the locked ones, for a map and for a heap */
	struct shmkit_heap_stats hs, hl;
	CHECK_OK(shmkit_heap_stat(uri, &hs));
	CHECK_OK(shmkit_heap_stats(shmkit_map_heap(w), &hl));
	CHECK(hs.used_bytes == hl.used_bytes && hs.n_used == hl.n_used &&
	      hs.free_bytes == hl.free_bytes && hs.largest_free == hl.largest_free);
	free(before);
	shmkit_map_close(w);

	const char *huri = test_uri("posix", "h");
	struct shmkit_heap *h;
	shmkit_off off;
	CHECK_OK(shmkit_heap_create(&h, huri, 64 << 10, 0600));
	for (int i = 0; i < 10; i++)
		CHECK_OK(shmkit_heap_alloc(h, 100 + (size_t)i * 10, &off));
	CHECK_OK(shmkit_heap_free(h, off));
	CHECK_OK(shmkit_heap_stats(h, &hl)); /* flushes this thread's cache: all on record */
	before = snapshot(huri, &len);
	CHECK_OK(shmkit_heap_stat(huri, &hs));
	check_same(huri, before, len);
	CHECK(hs.n_used == hl.n_used && hs.used_bytes == hl.used_bytes && hs.n_used == 9);
	const char *quri = test_uri("posix", "hq");
	struct shmkit_queue_opts qo = { .capacity = 2, .max_msg = 8 };
	struct shmkit_queue *q;
	CHECK_OK(shmkit_queue_create(&q, quri, &qo));
	CHECK_RET(shmkit_heap_stat(quri, &hs), -EBADMSG);
	CHECK(strstr(shmkit_last_error_detail(), "queue") != NULL);
	shmkit_queue_close(q);
	free(before);
	shmkit_heap_close(h);
}

/* A writer process churns keys while a look reads: a key nobody writes is
 * always found whole, and the walk always sees it. */
static void test_map_look_under_writer(void)
{
	const char *uri = test_uri("posix", "mw");
	struct shmkit_map *w, *r;
	CHECK_OK(shmkit_map_create(&w, uri, 512 << 10, 0600));
	CHECK_OK(shmkit_map_put(w, "stable", 6, "steady-value", 12));
	shmkit_map_close(w);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shmkit_map *m;
		char k[32];
		if (shmkit_map_open(&m, uri) < 0)
			_exit(3);
		for (unsigned i = 0;; i++) {
			snprintf(k, sizeof(k), "churn-%u", i % 500);
			if (i & 1)
				shmkit_map_del(m, k, strlen(k));
			else
				shmkit_map_put(m, k, strlen(k), "a-value-long-enough-for-a-chain-entry", 37);
		}
	}
	CHECK_OK(shmkit_map_open_flags(&r, uri, SHMKIT_RDONLY));
	char buf[64];
	for (int i = 0; i < 2000; i++) {
		ssize_t n = shmkit_map_get(r, "stable", 6, buf, sizeof(buf));
		CHECK(n == 12 && memcmp(buf, "steady-value", 12) == 0);
		if (i % 100 == 0) {
			int seen = 0;
			CHECK_OK(shmkit_map_iter(r, count_pair, &seen));
			CHECK(seen >= 1);
		}
	}
	shmkit_map_close(r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int shmid_of(struct shmkit_queue *q)
{
	struct shmkit_stat *st = calloc(1, sizeof(*st));
	CHECK(st && shmkit_seg_stat(shmkit_queue_seg(q), st) == 0);
	int id = st->sysv_id;
	free(st);
	return id;
}

/* SysV: -ENODATA when nobody has it attached (and nothing the kernel keeps
 * changes); read through a holder when one has. */
static void test_sysv_look(void)
{
	const char *uri = test_uri("sysv", "sq");
	struct shmkit_queue_opts o = { .capacity = 4, .max_msg = 16 };
	struct shmkit_queue *q;
	struct shmkit_queue_stats st;
	int rc = shmkit_queue_create(&q, uri, &o);
	if (rc == -ENOSYS || rc == -EPERM)
		test_skip("no System V shared memory here (%s)", shmkit_strerror(rc));
	CHECK_OK(rc);
	CHECK_OK(shmkit_queue_send(q, "x", 1, 0));
	int shmid = shmid_of(q);
	shmkit_queue_close(q);
	struct shmid_ds before, after;
	CHECK(shmctl(shmid, IPC_STAT, &before) == 0 && before.shm_nattch == 0);
	sleep(1); /* an attach now would move the times */
	CHECK_RET(shmkit_queue_stat(uri, &st), -ENODATA);
	CHECK(strstr(shmkit_last_error_detail(), "attached") != NULL);
	CHECK(shmctl(shmid, IPC_STAT, &after) == 0);
	CHECK(after.shm_lpid == before.shm_lpid && after.shm_atime == before.shm_atime &&
	      after.shm_dtime == before.shm_dtime && after.shm_nattch == 0);

	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shmkit_queue *h;
		if (shmkit_queue_open(&h, uri) < 0)
			_exit(3);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(shmctl(shmid, IPC_STAT, &before) == 0 && before.shm_nattch == 1);
	CHECK_OK(shmkit_queue_stat(uri, &st));
	CHECK(st.depth == 1 && st.sent == 1);
	CHECK(shmctl(shmid, IPC_STAT, &after) == 0);
	CHECK(after.shm_lpid == before.shm_lpid && after.shm_atime == before.shm_atime &&
	      after.shm_nattch == 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

/* The resident bytes of SysV segment shmid (/proc/sysvipc/shm's rss). */
static long long sysv_rss(int shmid)
{
	char line[512];
	long long rss = -1;
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f)) {
		int id;
		long long v[13];
		if (sscanf(line, "%*d %d %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
			   &id, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
			   &v[9], &v[10], &v[11], &v[12]) == 14 &&
		    id == shmid)
			rss = v[12];
	}
	if (f)
		fclose(f);
	return rss;
}

/* SysV: a look at a segment that is not the kind asked for allocates none of
 * its untouched pages (reading one through a process allocates it): it
 * reads the header, and stops there. */
static void test_sysv_look_other_kind(void)
{
	const char *uri = test_uri("sysv", "sraw");
	struct shmkit_seg *seg;
	struct shmkit_queue_stats st;
	int rc = shmkit_seg_open(&seg, uri, 8 << 20, SHMKIT_CREATE | SHMKIT_EXCL, 0600);
	if (rc == -ENOSYS || rc == -EPERM)
		test_skip("no System V shared memory here (%s)", shmkit_strerror(rc));
	CHECK_OK(rc);
	struct shmkit_stat *sst = calloc(1, sizeof(*sst));
	CHECK(sst && shmkit_seg_stat(seg, sst) == 0);
	int shmid = sst->sysv_id;
	free(sst);
	long long before = sysv_rss(shmid);
	CHECK(before >= 0 && before < (4 << 20)); /* most of it untouched */
	CHECK_RET(shmkit_queue_stat(uri, &st), -EBADMSG);
	long long grew = sysv_rss(shmid) - before;
	if (grew > 4096)
		fprintf(stderr, "a look at an 8 MiB segment with no header allocated %lld bytes\n",
			grew);
	CHECK(grew <= 4096); /* its header page at most */
	shmkit_seg_close(seg);
	CHECK_OK(shmkit_remove(uri));
}

/* SysV: a look at an object of the kind asked for allocates none of the
 * pages the segment has not (helper h38d): it maps the segment's own file
 * through /proc/PID/map_files of a process that has it attached (root:
 * CAP_SYS_ADMIN), holes covered by zero pages. It copied the segment
 * whole through that process, which faulted every page in: heap stats of
 * a 64 MiB heap with one block made all 64 MiB resident. */
static void test_sysv_look_sparse(void)
{
	const char *uri = test_uri("sysv", "sheap");
	struct shmkit_heap *h;
	struct shmkit_heap_stats hs;
	if (!test_is_root())
		return; /* a copy then: documented to make it resident */
	CHECK_OK(shmkit_heap_create(&h, uri, 64 << 20, 0600));
	shmkit_off off;
	CHECK_OK(shmkit_heap_alloc(h, 100, &off));
	struct shmkit_stat *sst = calloc(1, sizeof(*sst));
	CHECK(sst && shmkit_seg_stat(shmkit_heap_seg(h), sst) == 0);
	int shmid = sst->sysv_id;
	free(sst);
	long long before = sysv_rss(shmid);
	CHECK(before >= 0 && before < (1 << 20)); /* a fresh heap touches a few pages */
	CHECK_OK(shmkit_heap_stat(uri, &hs));
	CHECK(hs.n_used >= 1 && hs.arena_bytes > (60u << 20));
	long long grew = sysv_rss(shmid) - before;
	if (grew > 65536)
		fprintf(stderr, "heap stats of a 64 MiB heap allocated %lld bytes of it\n", grew);
	CHECK(grew <= 65536);
	shmkit_heap_close(h);
	CHECK_OK(shmkit_remove(uri));
}

int main(void)
{
	test_queue_look();
	test_map_look();
	test_map_look_under_writer();
	test_sysv_look();
	test_sysv_look_other_kind();
	test_sysv_look_sparse();
	return test_done(); /* it returned 0: a failed CHECK printed and passed */
}
