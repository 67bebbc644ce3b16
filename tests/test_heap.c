/* SPDX-License-Identifier: MIT */
/* The heap: randomized alloc/free against a model with a full check after
 * every step; named objects and a linked list shared with an exec'd process
 * (another mapping address); kill -9 inside alloc/free/named at every pause
 * point; several processes allocating at once; corruption fuzz. */
/* TIMEOUT: 120 */
#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEAP_SIZE (1u << 20)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)(seed * 31 + i);
}

static int filled(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != (unsigned char)(seed * 31 + i))
			return 0;
	return 1;
}

/* ---- randomized against a model ---- */

#define MAXLIVE 256
struct live {
	shmkit_off off;
	size_t size;
};

static void test_random_model(void)
{
	const char *uri = test_uri("posix", "heap-model");
	struct shmkit_heap *h;
	struct live model[MAXLIVE];
	int n = 0;

	CHECK_RET(shmkit_heap_create(&h, uri, HEAP_SIZE, 0600), 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	for (int step = 0; step < 4000; step++) {
		uint64_t r = rnd();
		if (n < MAXLIVE && (n == 0 || r % 100 < 55)) {
			size_t size = r >> 8 & 1 ? (r >> 16) % 200 : (r >> 16) % 9000;
			if ((r >> 40) % 50 == 0)
				size = (r >> 16) % 200000;
			shmkit_off off = 0;
			int ret = shmkit_heap_alloc(h, size, &off);
			CHECK(ret == 0 || ret == -ENOSPC);
			if (ret == 0) {
				void *p = shmkit_heap_ptr(h, off);
				CHECK(p != NULL);
				CHECK(off % 16 == 0);
				CHECK(shmkit_heap_size(h, off) >= (ssize_t)size);
				for (int i = 0; i < n; i++) /* no overlap with any live block */
					CHECK(off + size <= model[i].off || model[i].off + model[i].size <= off ||
					      size == 0 || model[i].size == 0);
				fill(p, size, off);
				model[n].off = off;
				model[n++].size = size;
			}
		} else {
			int i = (int)((r >> 8) % (uint64_t)n);
			CHECK(filled(shmkit_heap_ptr(h, model[i].off), model[i].size, model[i].off));
			CHECK_RET(shmkit_heap_free(h, model[i].off), 0);
			CHECK(shmkit_heap_ptr(h, model[i].off) == NULL);
			CHECK_RET(shmkit_heap_free(h, model[i].off), -EINVAL); /* double free */
			model[i] = model[--n];
		}
		/* offsets that are not allocation starts */
		CHECK(shmkit_heap_ptr(h, 0) == NULL);
		CHECK(shmkit_heap_ptr(h, rnd() % (2ull * HEAP_SIZE)) == NULL || n > 0);
		if (n > 0) {
			CHECK(shmkit_heap_ptr(h, model[0].off + 16) == NULL);
			CHECK(shmkit_heap_ptr(h, model[0].off + 1) == NULL);
		}
		CHECK_RET(shmkit_heap_check(h), 0);
	}
	struct shmkit_heap_stats st;
	CHECK_RET(shmkit_heap_stats(h, &st), 0);
	CHECK(st.n_used == (uint64_t)n);
	CHECK(st.used_bytes + st.free_bytes == st.arena_bytes);
	for (int i = 0; i < n; i++) {
		CHECK(filled(shmkit_heap_ptr(h, model[i].off), model[i].size, model[i].off));
		CHECK_RET(shmkit_heap_free(h, model[i].off), 0);
	}
	CHECK_RET(shmkit_heap_stats(h, &st), 0);
	CHECK(st.n_used == 0 && st.n_free == 1);
	CHECK(st.largest_free + 16 == st.arena_bytes);
	/* full: -ENOSPC, nothing lost, still usable */
	shmkit_off big;
	CHECK_RET(shmkit_heap_alloc(h, HEAP_SIZE, &big), -ENOSPC);
	CHECK_RET(shmkit_heap_alloc(h, st.largest_free, &big), 0);
	shmkit_off one;
	CHECK_RET(shmkit_heap_alloc(h, 1, &one), -ENOSPC);
	CHECK_RET(shmkit_heap_free(h, big), 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	CHECK_RET(shmkit_heap_close(h), 0);
}

/* ---- named objects + a list shared with another process ---- */

struct node {
	shmkit_off next;
	uint64_t value;
};

struct list_root {
	shmkit_off head;
	uint64_t count;
};

static int role_list_append(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off roff;

	if (argc < 2)
		return 2;
	/* shift this process's mappings so the segment lands elsewhere */
	void *pad = mmap(NULL, (size_t)(getpid() % 64 + 1) << 16, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	(void)pad;
	CHECK_RET(shmkit_heap_open(&h, argv[0]), 0);
	unsigned long parent_base = strtoul(argv[1], NULL, 0);
	CHECK_RET(shmkit_heap_named(h, "root", 0, 0, &roff), 0);
	struct list_root *root = shmkit_heap_ptr(h, roff);
	CHECK(root != NULL);
	CHECK((unsigned long)(uintptr_t)root - roff != parent_base); /* really another address */
	/* walk what the parent built, then append 100 .. 199 at the head */
	uint64_t seen = 0, sum = 0;
	for (shmkit_off cur = root->head; cur != 0; cur = ((struct node *)shmkit_heap_ptr(h, cur))->next) {
		CHECK(shmkit_heap_ptr(h, cur) != NULL);
		sum += ((struct node *)shmkit_heap_ptr(h, cur))->value;
		seen++;
	}
	CHECK(seen == 100 && sum == 99 * 100 / 2);
	for (uint64_t v = 100; v < 200; v++) {
		shmkit_off off;
		CHECK_RET(shmkit_heap_alloc(h, sizeof(struct node), &off), 0);
		struct node *nd = shmkit_heap_ptr(h, off);
		nd->value = v;
		nd->next = root->head;
		root->head = off;
		root->count++;
	}
	shmkit_heap_close(h);
	return 0;
}

static void test_named_shared_list(void)
{
	const char *uri = test_uri("posix", "heap-list");
	struct shmkit_heap *h;
	shmkit_off roff, again;

	CHECK_RET(shmkit_heap_create(&h, uri, HEAP_SIZE, 0600), 0);
	CHECK_RET(shmkit_heap_named(h, "root", 0, 0, &roff), -ENOENT);
	CHECK_RET(shmkit_heap_named(h, "root", sizeof(struct list_root), SHMKIT_CREATE | SHMKIT_EXCL, &roff), 0);
	CHECK_RET(shmkit_heap_named(h, "root", 64, SHMKIT_CREATE | SHMKIT_EXCL, &again), -EEXIST);
	CHECK_RET(shmkit_heap_named(h, "root", sizeof(struct list_root), SHMKIT_CREATE, &again), 0);
	CHECK(again == roff);
	/* found, but smaller than asked: its caller would write past its end
	 * (it returned the block, silently) */
	again = 0;
	CHECK_RET(shmkit_heap_named(h, "root", 4096, SHMKIT_CREATE, &again), -EMSGSIZE);
	CHECK(again == 0);
	CHECK(strstr(shmkit_last_error_detail(), "fewer than the 4096 asked") != NULL);
	CHECK_RET(shmkit_heap_named(h, "root", 4096, 0, &again), 0); /* a look-up: any size */
	CHECK(again == roff);
	/* SHMKIT_EXCL without SHMKIT_CREATE is -EINVAL, as for shmkit_seg_open:
	 * it was a plain look-up, so a caller asking for an exclusive create
	 * that forgot SHMKIT_CREATE got 0 and someone else's block. Found by a
	 * conformance program written from DESIGN.md. */
	CHECK_RET(shmkit_heap_named(h, "root", 64, SHMKIT_EXCL, &again), -EINVAL);
	CHECK_RET(shmkit_heap_named(h, "none", 64, SHMKIT_EXCL, &again), -EINVAL);
	CHECK_RET(shmkit_heap_named(h, "", 1, SHMKIT_CREATE, &again), -EINVAL);
	char longname[100];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_RET(shmkit_heap_named(h, longname, 1, SHMKIT_CREATE, &again), -ENAMETOOLONG);
	struct list_root *root = shmkit_heap_ptr(h, roff);
	CHECK(root != NULL && root->head == 0 && root->count == 0); /* zeroed */
	for (uint64_t v = 0; v < 100; v++) {
		shmkit_off off;
		CHECK_RET(shmkit_heap_alloc(h, sizeof(struct node), &off), 0);
		struct node *nd = shmkit_heap_ptr(h, off);
		nd->value = v;
		nd->next = root->head;
		root->head = off;
		root->count++;
	}
	char base[32];
	snprintf(base, sizeof(base), "0x%lx", (unsigned long)(uintptr_t)((char *)root - roff));
	const char *args[] = { uri, base, NULL };
	CHECK_RET(test_wait(test_spawn_self("list-append", args)), 0);
	uint64_t seen = 0, sum = 0;
	for (shmkit_off cur = root->head; cur != 0 && seen < 1000; seen++) {
		struct node *nd = shmkit_heap_ptr(h, cur);
		CHECK(nd != NULL);
		if (nd == NULL)
			break;
		sum += nd->value;
		cur = nd->next;
	}
	CHECK(seen == 200 && root->count == 200 && sum == 199 * 200 / 2);
	/* a freed named block counts as missing and its entry is reused */
	CHECK_RET(shmkit_heap_named(h, "tmp", 10, SHMKIT_CREATE, &again), 0);
	CHECK_RET(shmkit_heap_free(h, again), 0);
	CHECK_RET(shmkit_heap_named(h, "tmp", 0, 0, &again), -ENOENT);
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_heap_close(h);
}

/* ---- kill -9 inside alloc / free / named ---- */

#define NX 10
struct crash_root {
	shmkit_off x[NX];
};

static int role_crash_op(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off roff, off;

	if (argc < 2)
		return 2;
	CHECK_RET(shmkit_heap_open(&h, argv[0]), 0);
	CHECK_RET(shmkit_heap_named(h, "crash", 0, 0, &roff), 0);
	struct crash_root *root = shmkit_heap_ptr(h, roff);
	if (strcmp(argv[1], "free") == 0)
		CHECK_RET(shmkit_heap_free(h, root->x[3]), 0);
	else if (strcmp(argv[1], "alloc") == 0)
		CHECK_RET(shmkit_heap_alloc(h, 1000, &off), 0);
	else
		CHECK_RET(shmkit_heap_named(h, "thing", 100, SHMKIT_CREATE, &off), 0);
	shmkit_heap_close(h);
	return 0;
}

static void crash_at(const char *point, const char *op)
{
	const char *uri = test_uri("posix", "heap-crash");
	struct shmkit_heap *h;
	shmkit_off roff, off;

	CHECK_RET(shmkit_heap_create(&h, uri, HEAP_SIZE, 0600), 0);
	CHECK_RET(shmkit_heap_named(h, "crash", sizeof(struct crash_root), SHMKIT_CREATE, &roff), 0);
	struct crash_root *root = shmkit_heap_ptr(h, roff);
	for (int i = 0; i < NX; i++) {
		CHECK_RET(shmkit_heap_alloc(h, 100, &root->x[i]), 0);
		fill(shmkit_heap_ptr(h, root->x[i]), 100, (uint64_t)i);
	}
	/* x[3] gets free neighbours on both sides, so a free of it merges twice */
	CHECK_RET(shmkit_heap_free(h, root->x[2]), 0);
	CHECK_RET(shmkit_heap_free(h, root->x[4]), 0);
	struct shmkit_heap_stats before, after;
	CHECK_RET(shmkit_heap_stats(h, &before), 0);

	const char *args[] = { uri, op, NULL };
	pid_t pid = test_spawn_paused(point, "crash-op", args);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);

	/* the next user inherits the lock from the dead holder and repairs */
	CHECK_RET(shmkit_heap_check(h), 0);
	CHECK_RET(shmkit_heap_stats(h, &after), 0);
	for (int i = 0; i < NX; i++) {
		int gone = i == 2 || i == 4 || (i == 3 && strcmp(op, "free") == 0);
		CHECK((shmkit_heap_ptr(h, root->x[i]) == NULL) == gone);
		if (!gone)
			CHECK(filled(shmkit_heap_ptr(h, root->x[i]), 100, (uint64_t)i));
	}
	if (strcmp(op, "free") == 0) {
		CHECK(after.n_used == before.n_used - 1); /* rolled forward */
	} else {
		CHECK(after.n_used == before.n_used); /* rolled back: nobody got the block */
		CHECK(after.free_bytes == before.free_bytes);
	}
	CHECK_RET(shmkit_heap_named(h, "thing", 0, 0, &off), -ENOENT);
	/* still fully usable, and no block is handed out twice */
	shmkit_off a, b;
	CHECK_RET(shmkit_heap_alloc(h, 1000, &a), 0);
	CHECK_RET(shmkit_heap_alloc(h, 1000, &b), 0);
	CHECK(a != b && (a + 1000 <= b || b + 1000 <= a));
	for (int i = 0; i < NX; i++)
		CHECK(a != root->x[i] || i == 2 || i == 3 || i == 4);
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_heap_close(h);
	shmkit_remove(uri);
}

static void test_crash_points(void)
{
	static const char *const points[][2] = {
		{ "heap.alloc.1", "alloc" }, { "heap.alloc.2", "alloc" }, { "heap.alloc.3", "alloc" },
		{ "heap.free.1", "free" },   { "heap.free.2", "free" },   { "heap.free.3", "free" },
		{ "heap.alloc.3", "named" }, { "heap.named.1", "named" },
	};
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		printf("kill -9 at %s during %s\n", points[i][0], points[i][1]);
		crash_at(points[i][0], points[i][1]);
	}
}

/* ---- a freed named block takes its name with it ---- */

/* Child: looks "gone" up and frees it, to stop at a pause point inside. */
static int role_free_named(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off off;
	(void)argc;
	CHECK_RET(shmkit_heap_open(&h, argv[0]), 0);
	CHECK_RET(shmkit_heap_named(h, "gone", 0, 0, &off), 0);
	CHECK_RET(shmkit_heap_free(h, off), 0);
	shmkit_heap_close(h);
	return 0;
}

/* The name must not come back with the next block allocated at its offset:
 * found by tests/torture (the name of a freed block named whatever the
 * magazine or the free list handed out there next, and EXCL said -EEXIST). */
static void named_gone(struct shmkit_heap *h, shmkit_off was)
{
	shmkit_off off, other[4];
	CHECK_RET(shmkit_heap_named(h, "gone", 0, 0, &off), -ENOENT);
	int reused = 0;
	for (int i = 0; i < 4; i++) {
		CHECK_RET(shmkit_heap_alloc(h, 100, &other[i]), 0);
		reused |= other[i] == was;
	}
	CHECK(reused); /* the case that matters: its offset is someone's again */
	CHECK_RET(shmkit_heap_named(h, "gone", 0, 0, &off), -ENOENT);
	CHECK_RET(shmkit_heap_named(h, "gone", 100, SHMKIT_CREATE | SHMKIT_EXCL, &off), 0);
	for (int i = 0; i < 4; i++)
		CHECK(off != other[i]);
	CHECK_RET(shmkit_heap_free(h, off), 0);
	for (int i = 0; i < 4; i++)
		CHECK_RET(shmkit_heap_free(h, other[i]), 0);
	CHECK_RET(shmkit_heap_check(h), 0);
}

/* Child: frees the block at offset argv[1] without any look-up first (its
 * offset came from elsewhere, e.g. a list in the heap), then checks its name
 * is gone even once the offset is handed out again. */
static int role_free_off(int argc, char **argv)
{
	struct shmkit_heap *h;
	if (argc < 2)
		return 2;
	shmkit_off off = (shmkit_off)strtoull(argv[1], NULL, 0);
	CHECK_RET(shmkit_heap_open(&h, argv[0]), 0);
	CHECK_RET(shmkit_heap_free(h, off), 0);
	named_gone(h, off);
	shmkit_heap_close(h);
	return 0;
}

static void test_named_freed(void)
{
	const char *uri = test_uri("posix", "heap-named-freed");
	struct shmkit_heap *h;
	shmkit_off off;

	CHECK_RET(shmkit_heap_create(&h, uri, HEAP_SIZE, 0600), 0);
	/* freed by this process (its block cache) */
	CHECK_RET(shmkit_heap_named(h, "gone", 100, SHMKIT_CREATE, &off), 0);
	CHECK_RET(shmkit_heap_free(h, off), 0);
	named_gone(h, off);
	/* freed by another process, and by one killed inside that free: before
	 * the name is gone it stays (the free never happened), after it the
	 * free is finished by the next locker */
	static const char *const points[] = { NULL, "heap.named.free", "heap.free.1",
					      "heap.free.3" };
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		CHECK_RET(shmkit_heap_named(h, "gone", 100, SHMKIT_CREATE, &off), 0);
		struct shmkit_heap_stats before, after;
		CHECK_RET(shmkit_heap_stats(h, &before), 0);
		const char *args[] = { uri, NULL };
		if (points[i] == NULL) {
			CHECK_RET(test_wait(test_spawn_self("free-named", args)), 0);
		} else {
			printf("kill -9 at %s freeing a named block\n", points[i]);
			CHECK_RET(test_kill_stopped(test_spawn_paused(points[i], "free-named", args)),
				  128 + SIGKILL);
		}
		CHECK_RET(shmkit_heap_check(h), 0);
		CHECK_RET(shmkit_heap_stats(h, &after), 0);
		CHECK(after.n_used == before.n_used - 1);
		CHECK(shmkit_heap_ptr(h, off) == NULL);
		named_gone(h, off);
	}
	shmkit_heap_close(h);
	shmkit_remove(uri);
}

/* A heap made before named_bits existed (those 32 bytes 0) whose named block
 * is freed by a process that never called shmkit_heap_named: the block must
 * not go into its cache with its name left behind (the name came back with
 * the next allocation at that offset, as before 91fd316). */
static void test_named_freed_older_heap(void)
{
	const char *uri = test_uri("posix", "heap-named-old");
	struct shmkit_heap *h;
	shmkit_off off;
	char arg[32];

	CHECK_RET(shmkit_heap_create(&h, uri, HEAP_SIZE, 0600), 0);
	CHECK_RET(shmkit_heap_named(h, "gone", 100, SHMKIT_CREATE, &off), 0);
	/* as an older build left it: the heap header follows the 4096-byte
	 * managed header, named_bits at its byte 728 (docs/LAYOUT.md) */
	unsigned char *base = (unsigned char *)shmkit_heap_ptr(h, off) - off;
	memset(base + 4096 + 728, 0, 32);
	snprintf(arg, sizeof(arg), "%llu", (unsigned long long)off);
	const char *args[] = { uri, arg, NULL };
	CHECK_RET(test_wait(test_spawn_self("free-off", args)), 0);
	CHECK_RET(shmkit_heap_named(h, "gone", 0, 0, &off), -ENOENT);
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_heap_close(h);
	shmkit_remove(uri);
}

/* stats only looks: a live holder stopped inside the lock costs it a bounded
 * wait and -EBUSY, never a hang (shmkit stat used to hang on it) */
static void test_stats_with_stopped_holder(void)
{
	const char *uri = test_uri("posix", "heap-stopped");
	struct shmkit_heap *h;
	struct shmkit_heap_stats st;
	shmkit_off roff;

	CHECK_RET(shmkit_heap_create(&h, uri, HEAP_SIZE, 0600), 0);
	CHECK_RET(shmkit_heap_named(h, "crash", sizeof(struct crash_root), SHMKIT_CREATE, &roff), 0);
	const char *args[] = { uri, "alloc", NULL };
	pid_t pid = test_spawn_paused("heap.alloc.1", "crash-op", args);
	int64_t t0 = test_now_ns();
	CHECK_RET(shmkit_heap_stats(h, &st), -EBUSY);
	int64_t waited = test_now_ns() - t0;
	CHECK(waited >= 900000000 && waited < 30000000000);
	CHECK_RET(test_kill_stopped(pid), 128 + SIGKILL);
	CHECK_RET(shmkit_heap_stats(h, &st), 0); /* the dead holder's lock is taken over */
	CHECK_RET(shmkit_heap_check(h), 0);
	shmkit_heap_close(h);
	shmkit_remove(uri);
}

/* ---- several processes at once ---- */

static const char *conc_uri;

static int conc_child(void *arg)
{
	struct shmkit_heap *h;
	struct live mine[64];
	int n = 0;

	rng_state ^= (uint64_t)(uintptr_t)arg * 0x100000001b3ull + (uint64_t)getpid();
	CHECK_RET(shmkit_heap_open(&h, conc_uri), 0);
	for (int step = 0; step < 3000; step++) {
		uint64_t r = rnd();
		if (n < 64 && (n == 0 || r % 2)) {
			size_t size = (r >> 8) % 700;
			if (shmkit_heap_alloc(h, size, &mine[n].off) == 0) {
				fill(shmkit_heap_ptr(h, mine[n].off), size, mine[n].off ^ (uint64_t)getpid());
				mine[n++].size = size;
			}
		} else {
			int i = (int)((r >> 8) % (uint64_t)n);
			CHECK(filled(shmkit_heap_ptr(h, mine[i].off), mine[i].size, mine[i].off ^ (uint64_t)getpid()));
			CHECK_RET(shmkit_heap_free(h, mine[i].off), 0);
			mine[i] = mine[--n];
		}
	}
	while (n > 0) {
		n--;
		CHECK(filled(shmkit_heap_ptr(h, mine[n].off), mine[n].size, mine[n].off ^ (uint64_t)getpid()));
		CHECK_RET(shmkit_heap_free(h, mine[n].off), 0);
	}
	shmkit_heap_close(h);
	return 0;
}

static void test_concurrent(void)
{
	struct shmkit_heap *h;
	pid_t pids[3];

	conc_uri = test_uri("posix", "heap-conc");
	CHECK_RET(shmkit_heap_create(&h, conc_uri, HEAP_SIZE, 0600), 0);
	for (int i = 0; i < 3; i++)
		pids[i] = test_fork(conc_child, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < 3; i++)
		CHECK_RET(test_wait(pids[i]), 0);
	struct shmkit_heap_stats st;
	CHECK_RET(shmkit_heap_check(h), 0);
	CHECK_RET(shmkit_heap_stats(h, &st), 0);
	CHECK(st.n_used == 0 && st.n_free == 1);
	shmkit_heap_close(h);
}

/* ---- kill -9 at random moments, among live users ---- */

static const char *chaos_uri;
static _Atomic int *chaos_stop; /* shared: survivors drain and exit once set */

/* Allocates, fills, verifies and frees: forever (n 0, a victim), or until
 * chaos_stop (n 1, a survivor). */
static int chaos_child(void *arg)
{
	long n = (long)(intptr_t)arg;
	struct shmkit_heap *h;
	struct live mine[32];
	int have = 0;
	uint64_t tag = (uint64_t)getpid() << 20;

	rng_state ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	CHECK_RET(shmkit_heap_open(&h, chaos_uri), 0);
	for (long i = 0; n == 0 || !atomic_load(chaos_stop); i++) {
		uint64_t r = rnd();
		if (have < 32 && (have == 0 || r % 2)) {
			size_t size = (r >> 8) % 600;
			int ret = shmkit_heap_alloc(h, size, &mine[have].off);
			CHECK(ret == 0 || ret == -ENOSPC);
			if (ret == 0) {
				fill(shmkit_heap_ptr(h, mine[have].off), size, mine[have].off ^ tag);
				mine[have++].size = size;
			}
		} else {
			int k = (int)((r >> 8) % (uint64_t)have);
			/* nobody else was ever handed this block: our bytes are intact */
			CHECK(filled(shmkit_heap_ptr(h, mine[k].off), mine[k].size, mine[k].off ^ tag));
			CHECK_RET(shmkit_heap_free(h, mine[k].off), 0);
			mine[k] = mine[--have];
		}
	}
	while (have > 0) {
		have--;
		CHECK(filled(shmkit_heap_ptr(h, mine[have].off), mine[have].size, mine[have].off ^ tag));
		CHECK_RET(shmkit_heap_free(h, mine[have].off), 0);
	}
	shmkit_heap_close(h);
	return 0;
}

static void test_random_kills(void)
{
	struct shmkit_heap *h;
	pid_t survivors[2];

	chaos_uri = test_uri("posix", "heap-chaos");
	chaos_stop = mmap(NULL, sizeof(*chaos_stop), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(chaos_stop != MAP_FAILED);
	CHECK_RET(shmkit_heap_create(&h, chaos_uri, 4 << 20, 0600), 0);
	for (int i = 0; i < 2; i++)
		survivors[i] = test_fork(chaos_child, (void *)(intptr_t)1);
	for (int round = 0; round < 25; round++) {
		pid_t victim = test_fork(chaos_child, (void *)(intptr_t)0);
		usleep((useconds_t)(1000 + rnd() % 15000));
		kill(victim, SIGKILL);
		CHECK_RET(test_wait(victim), 128 + SIGKILL);
	}
	atomic_store(chaos_stop, 1);
	for (int i = 0; i < 2; i++)
		CHECK_RET(test_wait(survivors[i]), 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	struct shmkit_heap_stats st;
	CHECK_RET(shmkit_heap_stats(h, &st), 0);
	printf("after 25 random kills: %llu blocks leaked by the dead (expected), heap consistent\n",
	       (unsigned long long)st.n_used);
	shmkit_heap_close(h);
	munmap(chaos_stop, sizeof(*chaos_stop));
}

/* ---- corruption fuzz ---- */

static void test_corruption_fuzz(void)
{
	const char *uri = test_uri("posix", "heap-fuzz");
	struct shmkit_heap *h;
	shmkit_off offs[64];
	size_t size = 256 * 1024;

	CHECK_RET(shmkit_heap_create(&h, uri, size, 0600), 0);
	for (int i = 0; i < 64; i++)
		CHECK_RET(shmkit_heap_alloc(h, (size_t)(rnd() % 300), &offs[i]), 0);
	for (int i = 0; i < 64; i += 3)
		CHECK_RET(shmkit_heap_free(h, offs[i]), 0);
	shmkit_off named;
	CHECK_RET(shmkit_heap_named(h, "n", 8, SHMKIT_CREATE, &named), 0);
	unsigned char *base = (unsigned char *)shmkit_heap_ptr(h, named) - named;
	/* the heap header sits right after the 4096-byte managed header; its
	 * lock (bytes 64..127) is left alone: scribbling a mutex is another test */
	const size_t hdr = 4096;
	unsigned char *snap = malloc(size);
	memcpy(snap, base, size);
	int bad = 0, fine = 0;
	for (int round = 0; round < 1500; round++) {
		int nscrib = 1 + (int)(rnd() % 3);
		for (int k = 0; k < nscrib; k++) {
			uint64_t r = rnd(), pos;
			switch (r % 4) {
			case 0: /* a heap header field (not the lock) */
				pos = hdr + (r >> 8) % 2816;
				if (pos >= hdr + 64 && pos < hdr + 128)
					pos -= 64;
				break;
			case 1: /* near an allocation: its header or a neighbour's links */
				pos = offs[(r >> 8) % 64] - 16 + (r >> 16) % 48;
				break;
			default: /* anywhere past the header */
				pos = hdr + 2816 + (r >> 8) % (size - hdr - 2816 - 8);
			}
			pos &= ~(uint64_t)7;
			uint64_t val;
			switch ((r >> 40) % 4) {
			case 0: val = rnd(); break;
			case 1: val = offs[(r >> 44) % 64] - 16; break; /* another block: cycles */
			case 2: val = 0; break;
			default: { uint64_t cur; memcpy(&cur, base + pos, 8); val = cur ^ (1ull << (r >> 50) % 64); }
			}
			memcpy(base + pos, &val, 8);
		}
		shmkit_off o = 0;
		int ret = shmkit_heap_check(h);
		CHECK(ret == 0 || ret == 1 || ret == -EBADMSG);
		ret = shmkit_heap_alloc(h, (size_t)(rnd() % 2000), &o);
		CHECK(ret == 0 || ret == -ENOSPC || ret == -EBADMSG);
		ret = shmkit_heap_free(h, offs[rnd() % 64]);
		CHECK(ret == 0 || ret == -EINVAL || ret == -EBADMSG);
		ret = shmkit_heap_named(h, "m", 16, SHMKIT_CREATE, &o);
		CHECK(ret == 0 || ret == -ENOSPC || ret == -EBADMSG);
		struct shmkit_heap_stats st;
		ret = shmkit_heap_stats(h, &st);
		CHECK(ret == 0 || ret == -EBADMSG);
		(void)shmkit_heap_ptr(h, rnd() % (2 * size));
		if (ret == -EBADMSG)
			bad++;
		else
			fine++;
		memcpy(base, snap, size); /* restore (nobody holds the lock) */
	}
	printf("fuzz: %d rounds corrupt, %d survived or repaired\n", bad, fine);
	CHECK(bad > 0);
	CHECK_RET(shmkit_heap_check(h), 0);
	free(snap);
	shmkit_heap_close(h);
}

static void test_bad_args(void)
{
	struct shmkit_heap *h;
	CHECK_RET(shmkit_heap_create(&h, test_uri("posix", "heap-tiny"), 4096, 0600), -EINVAL);
	CHECK_RET(shmkit_heap_open(&h, test_uri("posix", "heap-none")), -ENOENT);
}

/* A heap whose body another program zeroed (truncate to the header page and
 * back, dd over it): the open fails -EBADMSG and its detail speaks of the
 * heap, not of the map the open also tried ("is a heap (kind 4), not a
 * map" told the user their heap was the wrong kind). */
static void test_corrupt_body_detail(void)
{
	const char *uri = test_uri("posix", "heap-zeroed");
	struct shmkit_heap *h;
	struct shmkit_seg *seg;

	CHECK_RET(shmkit_heap_create(&h, uri, 64 * 1024, 0600), 0);
	CHECK_RET(shmkit_heap_close(h), 0);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), 0);
	memset((unsigned char *)shmkit_seg_addr(seg) + 4096, 0, 8); /* the heap's magic */
	CHECK_RET(shmkit_seg_close(seg), 0);
	CHECK_RET(shmkit_heap_open(&h, uri), -EBADMSG);
	const char *d = shmkit_last_error_detail();
	if (strstr(d, "not a map") != NULL)
		fprintf(stderr, "detail: %s\n", d);
	CHECK(strstr(d, "not a map") == NULL);

	/* a map is a heap to shmkit_heap_open: a corrupt one is corrupt, not
	 * "is a map (kind 5), not a heap" */
	uri = test_uri("posix", "heap-zeroed-map");
	struct shmkit_map *m;
	CHECK_RET(shmkit_map_create(&m, uri, 64 * 1024, 0600), 0);
	CHECK_RET(shmkit_map_close(m), 0);
	CHECK_RET(shmkit_heap_open(&h, uri), 0); /* a sound map opens as a heap */
	CHECK_RET(shmkit_heap_close(h), 0);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, 0, 0), 0);
	memset((unsigned char *)shmkit_seg_addr(seg) + 4096, 0, 8);
	CHECK_RET(shmkit_seg_close(seg), 0);
	CHECK_RET(shmkit_heap_open(&h, uri), -EBADMSG);
	d = shmkit_last_error_detail();
	if (strstr(d, "not a heap") != NULL)
		fprintf(stderr, "detail: %s\n", d);
	CHECK(strstr(d, "not a heap") == NULL);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = {
		{ "list-append", role_list_append },
		{ "crash-op", role_crash_op },
		{ "free-named", role_free_named },
		{ "free-off", role_free_off },
		{ NULL, NULL },
	};
	test_child_dispatch(argc, argv, roles);
	test_bad_args();
	test_corrupt_body_detail();
	test_random_model();
	test_named_shared_list();
	test_crash_points();
	test_named_freed();
	test_named_freed_older_heap();
	test_stats_with_stopped_holder();
	test_concurrent();
	test_random_kills();
	test_corruption_fuzz();
	return test_done();
}
