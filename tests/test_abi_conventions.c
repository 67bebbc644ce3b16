/* SPDX-License-Identifier: MIT */
/* The public structs' sizes are frozen (they grow only into their reserved
 * room), option structs refuse reserved bytes they do not know, output
 * structs come back with reserved bytes zeroed, and the API-wide conventions
 * hold: close(NULL) is 0 for every handle, "cannot tell if alive" is a
 * negative errno, and shmkit_seg_backend(NULL) names no backend. shmkit(3). */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* Sizes per data model. A field added to a struct must take its room from
 * the struct's reserved[] so these stay put; change a number here only
 * together with the soname (an incompatible ABI). */
struct frozen {
	const char *name;
	size_t size, lp64, ilp32;
};
#define FROZEN(t, a, b) { #t, sizeof(struct t), a, b }

static void test_sizes(void)
{
	const struct frozen f[] = {
		FROZEN(shmkit_queue_opts, 80, 68),
		FROZEN(shmkit_topic_opts, 80, 68),
		FROZEN(shmkit_stat, 4824, 4808),
		FROZEN(shmkit_queue_stats, 144, 140),
		FROZEN(shmkit_heap_stats, 1656, 1656),
		FROZEN(shmkit_topic_info, 112, 104),
		FROZEN(shmkit_topic_sub_info, 64, 60),
		FROZEN(shmkit_attacher, 32, 28),
		FROZEN(shmkit_mutex, 64, 64),
		FROZEN(shmkit_sem, 16, 16),
		FROZEN(shmkit_event, 16, 16),
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		size_t want = sizeof(void *) == 8 ? f[i].lp64 : f[i].ilp32;
		if (f[i].size != want) {
			fprintf(stderr, "struct %s is %zu bytes, frozen at %zu: a new field must "
				"take its room from reserved[] (shmkit(3), STRUCTS THAT GROW)\n",
				f[i].name, f[i].size, want);
			CHECK(0);
		}
	}
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Options with reserved bytes set come from a newer program: refused. */
static void test_reserved_options(void)
{
	const char *qu = test_uri("posix", "abi-q");
	const char *tu = test_uri("posix", "abi-t");
	struct shmkit_queue_opts qo = { .capacity = 4, .max_msg = 16 };
	struct shmkit_topic_opts to = { .slot_size = 16, .slots = 4 };
	struct shmkit_queue *q = NULL;
	struct shmkit_pub *p = NULL;

	qo.reserved[5] = 1;
	CHECK_RET(shmkit_queue_create(&q, qu, &qo), -EINVAL);
	CHECK(strstr(shmkit_last_error_detail(), "reserved") != NULL);
	to.reserved[0] = 1;
	CHECK_RET(shmkit_topic_create(tu, &to), -EINVAL);
	CHECK_RET(shmkit_pub_create(&p, tu, &to), -EINVAL);
	CHECK(q == NULL && p == NULL);
	struct shmkit_stat st;
	CHECK_RET(shmkit_stat(qu, &st), -ENOENT); /* nothing was made */
	CHECK_RET(shmkit_stat(tu, &st), -ENOENT);
}

/* Output structs: every byte shmkit does not fill yet comes back zero. */
static void test_reserved_outputs(void)
{
	const char *qu = test_uri("posix", "abi-qo");
	const char *tu = test_uri("posix", "abi-to");
	const char *hu = test_uri("posix", "abi-h");
	struct shmkit_queue_opts qo = { .capacity = 4, .max_msg = 16 };
	struct shmkit_topic_opts to = { .slot_size = 16, .slots = 4 };
	struct shmkit_queue *q;
	struct shmkit_sub *s;
	struct shmkit_heap *h;

	CHECK_OK(shmkit_queue_create(&q, qu, &qo));
	struct shmkit_queue_stats qs;
	memset(&qs, 0xa5, sizeof(qs));
	CHECK_OK(shmkit_queue_stats(q, &qs));
	CHECK(all_zero(qs.reserved, sizeof(qs.reserved)));
	struct shmkit_stat st;
	memset(&st, 0xa5, sizeof(st));
	CHECK_OK(shmkit_stat(qu, &st));
	CHECK(all_zero(st.reserved, sizeof(st.reserved)));
	struct shmkit_attacher a[2];
	memset(a, 0xa5, sizeof(a));
	CHECK(shmkit_managed_attachers(qu, a, 2) >= 1);
	CHECK(all_zero(a[0].reserved, sizeof(a[0].reserved)));
	CHECK_OK(shmkit_queue_close(q));

	CHECK_OK(shmkit_topic_create(tu, &to));
	CHECK_OK(shmkit_sub_open(&s, tu));
	struct shmkit_topic_info ti;
	struct shmkit_topic_sub_info si[2];
	memset(&ti, 0xa5, sizeof(ti));
	memset(si, 0xa5, sizeof(si));
	CHECK_OK(shmkit_topic_stat(tu, &ti, si, 2));
	CHECK(ti.n_subs == 1);
	CHECK(all_zero(ti.reserved, sizeof(ti.reserved)));
	CHECK(all_zero(si[0].reserved, sizeof(si[0].reserved)));
	/* no publisher: "cannot tell" is a negative errno (-ENOENT: none) */
	CHECK_RET(ti.pub_alive, -ENOENT);
	CHECK(si[0].alive == 1 && si[0].pid == getpid());
	CHECK_OK(shmkit_sub_close(s));

	CHECK_OK(shmkit_heap_create(&h, hu, 64 * 1024, 0));
	struct shmkit_heap_stats hs;
	memset(&hs, 0xa5, sizeof(hs));
	CHECK_OK(shmkit_heap_stats(h, &hs));
	CHECK(all_zero(hs.reserved, sizeof(hs.reserved)));
	CHECK_OK(shmkit_heap_close(h));
}

/* Liveness fields: 1, 0, or a negative errno; never a bare -1 that means
 * "unknown" in one place and -EPERM in another. */
static void test_alive_convention(void)
{
	const char *u = test_uri("posix", "abi-plain");
	struct shmkit_seg *seg;
	struct shmkit_stat st;

	CHECK_OK(shmkit_seg_open(&seg, u, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0));
	CHECK_OK(shmkit_stat(u, &st));
	CHECK(st.managed == 0);
	CHECK_RET(st.creator_alive, -ENOENT); /* no creator recorded */
	CHECK_OK(shmkit_seg_close(seg));
}

static void test_null_conventions(void)
{
	CHECK_RET(shmkit_seg_close(NULL), 0);
	CHECK_RET(shmkit_raw_close(NULL), 0);
	CHECK_RET(shmkit_queue_close(NULL), 0);
	CHECK_RET(shmkit_pub_close(NULL), 0);
	CHECK_RET(shmkit_sub_close(NULL), 0);
	CHECK_RET(shmkit_heap_close(NULL), 0);
	CHECK_RET(shmkit_map_close(NULL), 0);
	CHECK(shmkit_seg_backend(NULL) == SHMKIT_BACKEND_NONE);
	CHECK(shmkit_seg_backend(NULL) != SHMKIT_POSIX);
	/* the contract's numbering (DESIGN §4), which other languages copy */
	CHECK(SHMKIT_POSIX == 0 && SHMKIT_SYSV == 1 && SHMKIT_FILE == 2 && SHMKIT_MEMFD == 3 &&
	      SHMKIT_ANON == 4);
	CHECK((int)SHMKIT_BACKEND_NONE == -1);
	CHECK(shmkit_seg_addr(NULL) == NULL && shmkit_seg_size(NULL) == 0);
	CHECK(strcmp(shmkit_seg_uri(NULL), "") == 0);
	CHECK_RET(shmkit_seg_fd(NULL), -EBADF);
}

/* A failed open or create leaves its handle NULL (every one, not only the
 * segment's and the queue's), so the one cleanup path of CLOSING in
 * shmkit(3) may close it whatever the caller had in the variable. */
static void test_failed_open_out(void)
{
	const char *none = test_uri("posix", "abi-none");
	void *junk = (void *)0x5;
	struct shmkit_queue_opts qo = { .capacity = 0, .max_msg = 16 };
	struct shmkit_topic_opts to = { .slot_size = 16, .slots = 0 };
	struct shmkit_seg *seg = junk;
	struct shmkit_queue *q = junk, *q2 = junk;
	struct shmkit_pub *p = junk, *p2 = junk;
	struct shmkit_sub *s = junk;
	struct shmkit_heap *h = junk, *h2 = junk;
	struct shmkit_map *m = junk, *m2 = junk, *m3 = junk;
	struct shmkit_raw *r = junk, *r2 = junk;

	CHECK_RET(shmkit_seg_open(&seg, none, 0, 0, 0), -ENOENT);
	CHECK_RET(shmkit_queue_open(&q, none), -ENOENT);
	CHECK_RET(shmkit_queue_create(&q2, none, &qo), -EINVAL);
	CHECK_RET(shmkit_pub_open(&p, none), -ENOENT);
	CHECK_RET(shmkit_pub_create(&p2, none, &to), -EINVAL);
	CHECK_RET(shmkit_sub_open(&s, none), -ENOENT);
	CHECK_RET(shmkit_heap_open(&h, none), -ENOENT);
	CHECK_RET(shmkit_heap_create(&h2, none, 0, 0), -EINVAL);
	CHECK_RET(shmkit_map_open(&m, none), -ENOENT);
	CHECK_RET(shmkit_map_open_flags(&m2, none, SHMKIT_RDONLY), -ENOENT);
	CHECK_RET(shmkit_map_create(&m3, none, 0, 0), -EINVAL);
	CHECK_RET(shmkit_raw_open(&r, none), -ENOENT);
	CHECK_RET(shmkit_raw_create(&r2, none, 0, 0), -EINVAL);
	CHECK(seg == NULL && q == NULL && q2 == NULL);
	CHECK(p == NULL && p2 == NULL && s == NULL);
	CHECK(h == NULL && h2 == NULL && m == NULL && m2 == NULL && m3 == NULL);
	CHECK(r == NULL && r2 == NULL);
	/* and the cleanup path closes them all */
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_heap_close(h));
	CHECK_OK(shmkit_map_close(m2));
	CHECK_OK(shmkit_raw_close(r));
}

/* The same when the call is refused for a NULL URI or options, before it
 * looks at anything: 12 of 17 such paths returned -EINVAL and left the
 * caller's variable as it was, so the CLOSING cleanup path closed garbage. */
static void test_bad_args_out(void)
{
	const char *none = test_uri("posix", "abi-none");
	void *junk = (void *)0x5;
	struct shmkit_queue_opts qo = { .capacity = 4, .max_msg = 16 };
	struct shmkit_topic_opts to = { .slot_size = 16, .slots = 4 };
	struct shmkit_queue *q1 = junk, *q2 = junk, *q3 = junk;
	struct shmkit_pub *p1 = junk, *p2 = junk, *p3 = junk;
	struct shmkit_sub *s = junk;
	struct shmkit_heap *h1 = junk, *h2 = junk;
	struct shmkit_map *m1 = junk, *m2 = junk, *m3 = junk;
	struct shmkit_raw *r1 = junk, *r2 = junk;
	struct shmkit_seg *seg = junk;

	CHECK_RET(shmkit_seg_open(&seg, NULL, 4096, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_queue_create(&q1, NULL, &qo), -EINVAL);
	CHECK_RET(shmkit_queue_create(&q2, none, NULL), -EINVAL);
	CHECK_RET(shmkit_queue_open(&q3, NULL), -EINVAL);
	CHECK_RET(shmkit_pub_create(&p1, NULL, &to), -EINVAL);
	CHECK_RET(shmkit_pub_create(&p2, none, NULL), -EINVAL);
	CHECK_RET(shmkit_pub_open(&p3, NULL), -EINVAL);
	CHECK_RET(shmkit_sub_open(&s, NULL), -EINVAL);
	CHECK_RET(shmkit_heap_create(&h1, NULL, 1 << 16, 0600), -EINVAL);
	CHECK_RET(shmkit_heap_open(&h2, NULL), -EINVAL);
	CHECK_RET(shmkit_map_create(&m1, NULL, 1 << 16, 0600), -EINVAL);
	CHECK_RET(shmkit_map_open(&m2, NULL), -EINVAL);
	CHECK_RET(shmkit_map_open_flags(&m3, NULL, 0), -EINVAL);
	CHECK_RET(shmkit_raw_create(&r1, NULL, 16, 0600), -EINVAL);
	CHECK_RET(shmkit_raw_open(&r2, NULL), -EINVAL);
	CHECK(seg == NULL);
	CHECK(q1 == NULL && q2 == NULL && q3 == NULL);
	CHECK(p1 == NULL && p2 == NULL && p3 == NULL && s == NULL);
	CHECK(h1 == NULL && h2 == NULL);
	CHECK(m1 == NULL && m2 == NULL && m3 == NULL);
	CHECK(r1 == NULL && r2 == NULL);
	CHECK_OK(shmkit_queue_close(q1));
	CHECK_OK(shmkit_pub_close(p1));
	CHECK_OK(shmkit_sub_close(s));
	CHECK_OK(shmkit_heap_close(h1));
	CHECK_OK(shmkit_map_close(m1));
	CHECK_OK(shmkit_raw_close(r1));
}

int main(void)
{
	test_sizes();
	test_reserved_options();
	test_reserved_outputs();
	test_alive_convention();
	test_null_conventions();
	test_failed_open_out();
	test_bad_args_out();
	return test_done();
}
