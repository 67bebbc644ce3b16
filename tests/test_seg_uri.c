/* SPDX-License-Identifier: MIT */
/* Malformed URIs are refused before any system call, with -EINVAL or
 * -ENAMETOOLONG, by open, remove and stat alike; the spellings of a posix
 * name all reach the same segment. */
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

struct bad {
	const char *uri;
	int err;
};

static void check_refused(const char *uri, int err)
{
	struct shmkit_seg *seg = (struct shmkit_seg *)1;
	struct shmkit_stat st;
	int rc = shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600);
	if (rc != err)
		fprintf(stderr, "uri \"%s\": open gave %d, want %d\n", uri ? uri : "(null)", rc, err);
	CHECK(rc == err);
	CHECK(seg == NULL);
	CHECK(shmkit_last_error_detail()[0] != '\0');
	CHECK_RET(shmkit_remove(uri), err);
	CHECK_RET(shmkit_stat(uri, &st), err);
}

static int count_dev_shm_with(const char *needle)
{
	char out[4096];
	test_sh_capture(out, sizeof(out), "ls /dev/shm | grep -c -- '%s'", needle);
	return atoi(out);
}

int main(void)
{
	char longname[NAME_MAX + 16], longpath[PATH_MAX + 64];
	struct bad bad[] = {
		{ "sysv:0xZZ", -EINVAL },       { "posix:/a/b", -EINVAL },
		{ "", -EINVAL },                { NULL, -EINVAL },
		{ "bogus:thing", -EINVAL },     { "http://x", -EINVAL },
		{ ":", -EINVAL },               { "::::", -EINVAL },
		{ "posix:/", -EINVAL },         { "posix:", -EINVAL },
		{ "posix:/.", -EINVAL },        { "posix:/..", -EINVAL },
		{ "/..", -EINVAL },             { "a/b", -EINVAL },
		{ "posix:/a\nb", -EINVAL },     { "posix:/a\x01", -EINVAL },
		{ "posix://a", -EINVAL },       { "sysv:", -EINVAL },
		{ "sysv:0x", -EINVAL },         { "sysv:-1", -EINVAL },
		{ "sysv:0x100000000", -EINVAL }, { "sysv:0", -EINVAL },
		{ "sysv:0x12 ", -EINVAL },      { "sysv:id=", -EINVAL },
		{ "sysv:id=abc", -EINVAL },     { "sysv:id=-3", -EINVAL },
		{ "sysv:/tmp?proj=0", -EINVAL }, { "sysv:/tmp?proj=300", -EINVAL },
		{ "sysv:/tmp?proj=zz", -EINVAL }, { "sysv:/tmp?foo=1", -EINVAL },
		{ "sysv:tmp", -EINVAL },        { "file:", -EINVAL },
		{ "file:relative/path", -EINVAL }, { "file:/tmp/x?shared", -EINVAL },
		{ "file:/tmp/a\nb", -EINVAL },  { "memfd:", -EINVAL },
		{ "memfd:a/b", -EINVAL },       { "anon:x", -EINVAL },
		{ "fd:", -EINVAL },             { "fd:-1", -EINVAL },
		{ "fd:abc", -EINVAL },          { "fd:3x", -EINVAL },
		{ "fd:3?huge", -EINVAL },       { "fd:3?private", -EINVAL },
		{ "fd:3?addr=0x7f0000000000", -EINVAL },
		{ "POSIX:/x", -EINVAL },
		/* an empty option is refused wherever it sits, as "x?" is; an
		 * option given twice would ignore one of its values */
		{ "posix:/shmkit-urit-o?", -EINVAL },
		{ "posix:/shmkit-urit-o?&", -EINVAL },
		{ "posix:/shmkit-urit-o?populate&", -EINVAL },
		{ "posix:/shmkit-urit-o?&populate", -EINVAL },
		{ "posix:/shmkit-urit-o?huge&&populate", -EINVAL },
		{ "sysv:/nonexistent-shmkit-urit?proj=1&proj=2", -EINVAL },
		{ "posix:/shmkit-urit-o?addr=0x7f0000000000&addr=0x7f1000000000", -EINVAL },
	};

	int before = count_dev_shm_with("shmkit-urit");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_refused(bad[i].uri, bad[i].err);

	/* A name one byte over NAME_MAX: -ENAMETOOLONG; exactly NAME_MAX is fine. */
	memset(longname, 'n', sizeof(longname));
	strcpy(longname, "posix:/");
	memset(longname + 7, 'n', NAME_MAX + 1);
	longname[7 + NAME_MAX + 1] = '\0';
	check_refused(longname, -ENAMETOOLONG);
	check_refused(longname + 6, -ENAMETOOLONG); /* bare "/nnn..." */
	/* A file: path over PATH_MAX, and one with an over-long component. */
	strcpy(longpath, "file:/tmp/");
	memset(longpath + 10, 'p', PATH_MAX + 10);
	longpath[10 + PATH_MAX + 10] = '\0';
	check_refused(longpath, -ENAMETOOLONG);
	snprintf(longpath, sizeof(longpath), "file:/tmp/%s", longname + 7);
	check_refused(longpath, -ENAMETOOLONG);
	CHECK(count_dev_shm_with("shmkit-urit") == before);

	/* Bad arguments other than the URI. */
	struct shmkit_seg *seg;
	const char *uri = test_uri("posix", "urit");
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 0, SHMKIT_CREATE | SHMKIT_EXCL, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_EXCL, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, 0x100 | SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE, 010000), -EINVAL);
	CHECK_RET(shmkit_seg_open(NULL, uri, 4096, SHMKIT_CREATE, 0600), -EINVAL);
	CHECK_RET(shmkit_seg_open(&seg, uri, 4096, 0, 0), -ENOENT);
	CHECK(count_dev_shm_with("shmkit-urit") == before);

	/* "posix:/n", "/n" and "n" name the same segment. */
	CHECK_OK(shmkit_seg_open(&seg, uri, 4096, SHMKIT_CREATE | SHMKIT_EXCL, 0600));
	strcpy(shmkit_seg_addr(seg), "same");
	const char *slash = uri + 6;
	const char *bare = uri + 7;
	struct shmkit_seg *a, *b;
	CHECK_OK(shmkit_seg_open(&a, slash, 0, 0, 0));
	CHECK_OK(shmkit_seg_open(&b, bare, 0, 0, 0));
	CHECK(strcmp(shmkit_seg_addr(a), "same") == 0);
	CHECK(strcmp(shmkit_seg_addr(b), "same") == 0);
	CHECK(strcmp(shmkit_seg_uri(b), uri) == 0);
	CHECK(shmkit_seg_backend(b) == SHMKIT_POSIX);
	CHECK_OK(shmkit_seg_close(a));
	CHECK_OK(shmkit_seg_close(b));
	CHECK_OK(shmkit_seg_close(seg));

	/* fd: takes ?populate (its one option), and honours it: every page is
	 * in core after the open, where a plain open of the same memfd leaves
	 * them out */
	enum { FD_PAGES = 16 };
	char fd_uri[64];
	unsigned char in_core[FD_PAGES];
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (int populate = 0; populate <= 1; populate++) {
		int fd = memfd_create("shmkit-urit-fd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		CHECK(fd >= 0 && ftruncate(fd, (off_t)(FD_PAGES * page)) == 0);
		CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0); /* as fd: asks */
		snprintf(fd_uri, sizeof(fd_uri), "fd:%d%s", fd, populate ? "?populate" : "");
		CHECK_OK(shmkit_seg_open(&seg, fd_uri, FD_PAGES * page, 0, 0));
		CHECK(mincore(shmkit_seg_addr(seg), FD_PAGES * page, in_core) == 0);
		int resident = 0;
		for (int i = 0; i < FD_PAGES; i++)
			resident += in_core[i] & 1;
		CHECK(populate ? resident == FD_PAGES : resident < FD_PAGES);
		CHECK_OK(shmkit_seg_close(seg));
		close(fd);
	}

	CHECK_OK(shmkit_remove(bare));
	CHECK_RET(shmkit_remove(uri), -ENOENT);
	return test_done();
}
