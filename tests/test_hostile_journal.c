/* SPDX-License-Identifier: MIT */
/* The heap's object journal (docs/LAYOUT.md "Heap": oj.a, oj.b) lives in the
 * segment, where any process that can write it may rewrite it. A named
 * create and a map put let the allocator store the new block's offset
 * there (so a crash never loses it) and then read it back to fill the
 * block: a hostile process that rewrote it in between steered the writer's
 * memset (named) or the whole entry, key and value (map put) to any
 * address, outside the segment or into another object the process had
 * mapped. The writer is stopped right after the allocator's store (pause
 * point heap.alloc.3), the journal word rewritten, and the writer let go:
 * it must finish its own block, never write where the word points. */
/* TIMEOUT: 60 */
#include "test.h"

#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"

/* Points nowhere mapped (non-canonical on x86-64, past any segment). */
#define WILD_OFF (UINT64_C(1) << 62)
#define LONG_VALUE "a value too long for its bucket, so it goes to a chain entry: " \
		   "the put allocates one heap block for it"

static int role_named(int argc, char **argv)
{
	struct shmkit_heap *h;
	shmkit_off off;

	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_heap_open(&h, argv[0]));
	CHECK_OK(shmkit_heap_named(h, "config", 256, SHMKIT_CREATE, &off));
	unsigned char *p = shmkit_heap_ptr(h, off);
	CHECK(p != NULL);
	for (int i = 0; p && i < 256; i++)
		CHECK(p[i] == 0); /* created zeroed: the memset hit its own block */
	CHECK_OK(shmkit_heap_close(h));
	return test_done();
}

static int role_put(int argc, char **argv)
{
	struct shmkit_map *m;
	char buf[256];

	if (argc < 1)
		return 2;
	CHECK_OK(shmkit_map_open(&m, argv[0]));
	CHECK_OK(shmkit_map_put(m, "k", 1, LONG_VALUE, strlen(LONG_VALUE)));
	CHECK_RET(shmkit_map_get(m, "k", 1, buf, sizeof(buf)), strlen(LONG_VALUE));
	CHECK_OK(shmkit_map_close(m));
	return test_done();
}

static const struct test_role roles[] = {
	{ "named", role_named },
	{ "put", role_put },
	{ NULL, NULL },
};

/* Lets the stopped writer go after `word` (an oj field at segment offset
 * `at`) was rewritten to WILD_OFF; its exit status. */
static int rewrite_and_continue(struct shmkit_seg *seg, size_t at, pid_t writer)
{
	_Atomic uint64_t *word = (_Atomic uint64_t *)((char *)shmkit_seg_addr(seg) + at);
	CHECK(*word != 0); /* the allocator stored the new block here */
	*word = WILD_OFF;
	kill(writer, SIGCONT);
	return test_wait(writer);
}

static void test_named(void)
{
	const char *uri = test_uri("posix", "oj-named");
	struct shmkit_heap *h;
	shmkit_off off;

	CHECK_OK(shmkit_heap_create(&h, uri, 64 << 10, 0600));
	const char *args[] = { uri, NULL };
	pid_t writer = test_spawn_paused("heap.alloc.3", "named", args);
	CHECK_RET(rewrite_and_continue(shmkit_heap_seg(h),
				       SHMKIT__HEADER_SIZE + offsetof(struct shmkit__heap_shared, oj.a),
				       writer),
		  0);
	CHECK_OK(shmkit_heap_named(h, "config", 0, 0, &off));
	CHECK(shmkit_heap_check(h) >= 0);
	CHECK_OK(shmkit_heap_close(h));
}

static void test_map_put(void)
{
	const char *uri = test_uri("posix", "oj-put");
	struct shmkit_map *m;
	char buf[256];

	CHECK_OK(shmkit_map_create(&m, uri, 64 << 10, 0600));
	const char *args[] = { uri, NULL };
	pid_t writer = test_spawn_paused("heap.alloc.3", "put", args);
	CHECK_RET(rewrite_and_continue(shmkit_heap_seg(shmkit_map_heap(m)),
				       SHMKIT__HEADER_SIZE + offsetof(struct shmkit__heap_shared, oj.b),
				       writer),
		  0);
	CHECK_RET(shmkit_map_get(m, "k", 1, buf, sizeof(buf)), strlen(LONG_VALUE));
	CHECK(memcmp(buf, LONG_VALUE, strlen(LONG_VALUE)) == 0);
	CHECK_RET(shmkit_map_check(m), 0);
	CHECK_OK(shmkit_map_close(m));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_named();
	test_map_put();
	return test_done();
}
