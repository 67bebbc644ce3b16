/* SPDX-License-Identifier: MIT */
/* ?addr= (DESIGN §9 "Segment options"): every backend maps at the address
 * asked; a second segment there, or any other mapping, is -EEXIST and the
 * mapping already there is untouched; sysv &rnd rounds down (SHM_RND); bad
 * addresses are -EINVAL before any system call. The seeds' use case: a raw
 * pointer stored in the segment works in an exec'd process that attaches at
 * the same address. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

#define LEN (1u << 20)

/* An address range free in this process now (probed, then given back). */
static uintptr_t free_range(size_t len)
{
	void *p = mmap(NULL, len + (2u << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	uintptr_t a = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
	munmap(p, len + (2u << 20));
	return a;
}

static const char *with_addr(const char *uri, uintptr_t a, const char *more)
{
	static char buf[8][512];
	static int n;
	char *b = buf[n++ % 8];
	snprintf(b, sizeof(buf[0]), "%s?addr=0x%lx%s", uri, (unsigned long)a, more);
	return b;
}

static void check_backend(const char *uri, int named)
{
	uintptr_t a = free_range(2 * LEN);
	struct shmkit_seg *seg, *again;

	CHECK_OK(shmkit_seg_open(&seg, with_addr(uri, a, ""), LEN, SHMKIT_CREATE, 0600));
	if (!seg)
		return;
	CHECK((uintptr_t)shmkit_seg_addr(seg) == a);
	strcpy(shmkit_seg_addr(seg), "first");
	/* The same range again (also overlapping its end): taken. */
	if (named) {
		CHECK_RET(shmkit_seg_open(&again, with_addr(uri, a, ""), 0, 0, 0), -EEXIST);
		CHECK(strstr(shmkit_last_error_detail(), "already mapped") != NULL);
		CHECK_RET(shmkit_seg_open(&again, with_addr(uri, a + LEN - 4096, ""), 0, 0, 0),
			  -EEXIST);
		/* Elsewhere is fine, and shows the same bytes. */
		CHECK_OK(shmkit_seg_open(&again, with_addr(uri, a + LEN, ""), 0, 0, 0));
		CHECK((uintptr_t)shmkit_seg_addr(again) == a + LEN);
		CHECK(strcmp(shmkit_seg_addr(again), "first") == 0);
		CHECK_OK(shmkit_seg_close(again));
	} else {
		CHECK_RET(shmkit_seg_open(&again, with_addr(uri, a, ""), LEN, SHMKIT_CREATE, 0600),
			  -EEXIST);
	}
	CHECK(strcmp(shmkit_seg_addr(seg), "first") == 0); /* untouched */
	CHECK_OK(shmkit_seg_close(seg));
}

/* Somebody else's mapping at the address: -EEXIST, its bytes intact. */
static void check_foreign_mapping(void)
{
	char *mine = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct shmkit_seg *seg;
	CHECK(mine != MAP_FAILED);
	strcpy(mine, "not yours");
	const char *uris[] = { "anon:", test_uri("posix", "foreign"), test_uri("sysv", "foreign"),
			       test_uri("memfd", "foreign"), test_uri("file", "foreign") };
	for (size_t i = 0; i < 5; i++) {
		CHECK_RET(shmkit_seg_open(&seg, with_addr(uris[i], (uintptr_t)mine, ""), LEN,
					  SHMKIT_CREATE, 0600),
			  -EEXIST);
		CHECK(strcmp(mine, "not yours") == 0);
	}
	/* Nothing half-made was left by the refused creates. */
	CHECK_RET(shmkit_seg_open(&seg, uris[1], 0, 0, 0), -ENOENT);
	CHECK_RET(shmkit_seg_open(&seg, uris[2], 0, 0, 0), -ENOENT);
	CHECK_RET(shmkit_seg_open(&seg, uris[4], 0, 0, 0), -ENOENT);
	munmap(mine, LEN);
}

static void check_sysv_rnd(void)
{
	const char *uri = test_uri("sysv", "rnd");
	uintptr_t a = free_range(LEN);
	struct shmkit_seg *seg;

	CHECK_OK(shmkit_seg_open(&seg, with_addr(uri, a + 123, "&rnd"), LEN, SHMKIT_CREATE, 0600));
	if (seg) {
		CHECK((uintptr_t)shmkit_seg_addr(seg) == a); /* SHMLBA is the page size here */
		CHECK_OK(shmkit_seg_close(seg));
	}
}

static void check_bad(void)
{
	struct shmkit_seg *seg;
	const char *bad[] = { "anon:?addr=0", "anon:?addr=", "anon:?addr=0x1001", "anon:?addr=-4096",
			      "anon:?addr=0x1000&rnd", "anon:?addr=zz", "anon:?addr=0x1000000000000000000" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_RET(shmkit_seg_open(&seg, bad[i], LEN, SHMKIT_CREATE, 0600), -EINVAL);
	/* Beyond the user address space: the kernel refuses, nothing is mapped. */
	CHECK(shmkit_seg_open(&seg, "anon:?addr=0xfffffffffff00000", LEN, SHMKIT_CREATE, 0600) < 0);
}

/* The child attaches at the address the parent stored and follows a raw
 * pointer the parent wrote into the segment. A freshly exec'd process lays
 * out its libraries elsewhere (ASLR), so the address may be taken in it
 * (-EEXIST, as documented): it says so and the parent tries another (a
 * 32-bit address space is dense enough for that to happen). */
#define ADDR_TAKEN 3
static int role_follow(int argc, char **argv)
{
	struct shmkit_seg *seg;
	if (argc < 1)
		return 2;
	int r = shmkit_seg_open(&seg, argv[0], 0, 0, 0);
	if (r == -EEXIST)
		return ADDR_TAKEN; /* this process has something there: pick another */
	CHECK_OK(r);
	if (r < 0)
		return 1;
	char **ptr = shmkit_seg_addr(seg);
	CHECK(strcmp(*ptr, "reached through a raw pointer") == 0);
	strcpy(*ptr, "child was here");
	CHECK_OK(shmkit_seg_close(seg));
	return 0;
}

static void check_raw_pointer(void)
{
	const char *name = test_uri("posix", "raw");
	int status = ADDR_TAKEN;

	for (int tries = 0; tries < 16 && status == ADDR_TAKEN; tries++) {
		const char *uri = with_addr(name, free_range(LEN), "");
		struct shmkit_seg *seg;
		CHECK_OK(shmkit_seg_open(&seg, uri, LEN, SHMKIT_CREATE, 0600));
		if (!seg)
			return;
		char **ptr = shmkit_seg_addr(seg);
		*ptr = (char *)shmkit_seg_addr(seg) + 64;
		strcpy(*ptr, "reached through a raw pointer");
		const char *args[] = { uri, NULL };
		status = test_wait(test_spawn_self("follow", args));
		if (status == 0)
			CHECK(strcmp(*ptr, "child was here") == 0);
		CHECK_OK(shmkit_seg_close(seg));
		CHECK_OK(shmkit_remove(name));
	}
	CHECK(status == 0);
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "follow", role_follow }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);
	check_bad();
	check_backend("anon:", 0);
	check_backend(test_uri("memfd", "addr"), 0);
	check_backend(test_uri("posix", "addr"), 1);
	check_backend(test_uri("file", "addr"), 1);
	check_backend(test_uri("sysv", "addr"), 1);
	check_foreign_mapping();
	check_sysv_rnd();
	check_raw_pointer();
	return test_done();
}
