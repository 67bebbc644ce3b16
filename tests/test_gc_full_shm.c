/* SPDX-License-Identifier: MIT */
/* gc on a /dev/shm with no free inode: its lease probe first makes an
 * O_TMPFILE there to learn whether the kernel counts readers, and a failure
 * to make it read as "readers not counted": gc said the kernel cannot be
 * asked "(Operation not supported)", when /dev/shm was full. It now says
 * the error it met. Root only: a small tmpfs on /dev/shm in a private mount
 * namespace, in a child. Where every process can be inspected (no
 * uninspectable process makes the kernel's word needed) the reason never
 * names the probe, and the check holds trivially. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include "test.h"

/* argv: uri -> creates an owned raw object and exits without closing. */
static int role_owned_creator(int argc, char **argv)
{
	struct shmkit_raw *r;
	return argc >= 1 && shmkit_raw_create(&r, argv[0], 4096, 0600) == 0 ? 0 : 1;
}

static const struct test_role roles[] = {
    {"owned_creator", role_owned_creator},
    {NULL, NULL},
};

struct said {
	const char *uri;
	char reason[512];
};

static int record(const struct shmkit_gc_entry *e, void *arg)
{
	struct said *s = arg;
	if (strcmp(e->uri, s->uri) == 0)
		snprintf(s->reason, sizeof(s->reason), "%s", e->reason);
	return 0;
}

/* Fills /dev/shm's inodes with empty files: how many it made. */
static int fill_inodes(void)
{
	char path[64];
	int n = 0;
	for (;; n++) {
		snprintf(path, sizeof(path), "/dev/shm/fill%d", n);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			return n;
		close(fd);
	}
}

static int child_full_inodes(void *arg)
{
	struct said s = {arg, ""};
	const char *args[] = {s.uri, NULL};

	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1M,nr_inodes=4") < 0)
		return 77;
	CHECK_RET(test_wait(test_spawn_self("owned_creator", args)), 0);
	CHECK(fill_inodes() > 0);
	CHECK(shmkit_gc_prefix(SHMKIT_GC_DRY_RUN, s.uri, record, &s) >= 0);
	fprintf(stderr, "  gc said: %s\n", s.reason);
	CHECK(s.reason[0] != '\0');
	CHECK(strstr(s.reason, "Operation not supported") == NULL);
	return 0; /* the tmpfs goes with the namespace */
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	unsetenv("SHMKIT_PERSIST"); /* the orphan must be owned, as by default */
	if (!test_is_root())
		test_skip("needs root (a tmpfs on /dev/shm in a private mount namespace)");
	int r = test_wait(test_fork(child_full_inodes, (void *)test_uri("posix", "gc-noinode")));
	if (r == 77)
		test_skip("cannot mount a tmpfs on /dev/shm in a private mount namespace");
	CHECK_RET(r, 0);
	return test_done();
}
