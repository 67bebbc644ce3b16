/* SPDX-License-Identifier: MIT */
/* An object create on a SysV key another program holds (helper h37a): the
 * create fails -EEXIST and leaves the segment as it was: not attached either
 * while nobody has it attached and its last user may be alive. Its look for
 * a half-built object to take over attached it, which made the create its
 * last user: once the create exited, gc --foreign took the live program's
 * segment for abandoned and removed it. A half-built object whose creator was
 * killed is still taken over: by another process when its last user is the
 * dead creator, by the opener that found the creator dead itself. */
/* TIMEOUT: 60 */
#include "test.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "layout.h"
#include "managed.h"
#include "proc.h"

#define BODY 8192

struct foreign {
	key_t key;
	size_t size;
};

static key_t key_of(const char *uri)
{
	return (key_t)strtoul(uri + strlen("sysv:"), NULL, 16);
}

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(i * 7 + 1);
}

/* The foreign program's creator: makes the segment, fills it, exits. */
static int foreign_create(void *arg)
{
	const struct foreign *f = arg;
	int id = shmget(f->key, f->size, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		return 2;
	unsigned char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return 3;
	for (size_t i = 0; i < f->size; i++)
		p[i] = pattern_byte(i);
	shmdt(p);
	return 0;
}

/* 0 created (or took over), 1 -EEXIST, 2 another error. */
static int create_raw(void *arg)
{
	struct shmkit__obj o;
	int r = shmkit__obj_create(&o, arg, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL);
	return r == 0 ? 0 : r == -EEXIST ? 1 : 2;
}

/* argv: uri -> creates a raw object (the parent stops it half-way). */
static int role_creator(int argc, char **argv)
{
	return argc < 1 ? 2 : create_raw(argv[0]);
}

struct refused_create {
	const char *uri;
	const char *why; /* in the detail of the -EEXIST */
};

/* 1 -EEXIST saying why, 0 created, 2 another error, 3 no reason given. */
static int create_refused(void *arg)
{
	const struct refused_create *c = arg;
	int r = create_raw((void *)c->uri);
	if (r == 1 && !strstr(shmkit_last_error_detail(), c->why)) {
		fprintf(stderr, "-EEXIST without \"%s\": %s\n", c->why, shmkit_last_error_detail());
		return 3;
	}
	return r;
}

static const struct test_role roles[] = {
    {"creator", role_creator},
    {NULL, NULL},
};

/* The foreign segment's creator exited; this process, alive, used it last
 * (attached and detached it). A create in another process fails -EEXIST,
 * and this process is still its last user. */
static void test_foreign_last_user_alive(const char *tag, size_t size, const char *why)
{
	const char *uri = test_uri("sysv", tag);
	struct foreign f = {key_of(uri), size};
	CHECK_RET(test_wait(test_fork(foreign_create, &f)), 0);
	int id = shmget(f.key, 0, 0);
	CHECK(id >= 0);
	unsigned char *p = shmat(id, NULL, SHM_RDONLY);
	CHECK(p != (void *)-1);
	for (size_t i = 0; i < size; i++)
		CHECK(p[i] == pattern_byte(i));
	shmdt(p);
	struct shmkit__sysv_row row;
	CHECK_RET(shmkit__sysv_row(id, &row), 0);
	CHECK(row.lpid == getpid() && row.nattch == 0);

	struct refused_create c = {uri, why};
	CHECK_RET(test_wait(test_fork(create_refused, &c)), 1);
	CHECK_RET(shmkit__sysv_row(id, &row), 0);
	if (row.lpid != getpid())
		fprintf(stderr, "%s (%zu bytes): create attached it: last pid %d, not %d\n", uri,
			size, row.lpid, (int)getpid());
	CHECK(row.lpid == getpid());
	shmctl(id, IPC_RMID, NULL);
}

/* A half-built object: its creator stopped after the header said
 * INITIALIZING, then killed. */
static void make_half_built(const char *uri)
{
	const char *args[] = {uri, NULL};
	CHECK_RET(test_kill_stopped(test_spawn_paused("managed.init", "creator", args)),
		  128 + SIGKILL);
}

static void test_half_built_taken_over(void)
{
	const char *uri = test_uri("sysv", "halfbuilt");
	struct shmkit__obj o;

	make_half_built(uri);
	/* its last user is its dead creator: another process takes it over */
	CHECK_RET(test_wait(test_fork(create_raw, (void *)uri)), 0);
	CHECK_OK(shmkit_remove(uri));

	make_half_built(uri);
	/* the opener that found the creator dead is its last user: it takes
	 * it over itself */
	CHECK_RET(shmkit__obj_open(&o, uri, SHMKIT_KIND_RAW, 0), -EOWNERDEAD);
	CHECK_RET(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL), 0);
	CHECK_OK(shmkit__obj_close(&o));
	CHECK_OK(shmkit_remove(uri));

	make_half_built(uri);
	/* an opener that found the creator dead and lives on (a consumer that
	 * retries its open) is its last user: from the kernel's record it is
	 * any live program's process, so another process's create (the creator
	 * restarted) does not attach to look, and says why (a known limit,
	 * shmkit_raw(3): the consumer's exit, or shmkit rm, lets it create) */
	CHECK_RET(shmkit__obj_open(&o, uri, SHMKIT_KIND_RAW, 0), -EOWNERDEAD);
	struct refused_create c = {uri, "may be alive"};
	CHECK_RET(test_wait(test_fork(create_refused, &c)), 1);
	CHECK_OK(shmkit_remove(uri));
}

/* A complete object, last used by this process, alive: another process's
 * create does not look inside, and its -EEXIST still says to open it (it
 * said only "remove it to create it anew", which destroys a live queue). */
static void test_complete_refused_says_open(void)
{
	const char *uri = test_uri("sysv", "complete");
	struct shmkit__obj o;
	CHECK_OK(shmkit__obj_create(&o, uri, SHMKIT_KIND_RAW, BODY, 0600, NULL, NULL));
	CHECK_OK(shmkit__obj_close(&o));
	struct refused_create c = {uri, "open it"};
	CHECK_RET(test_wait(test_fork(create_refused, &c)), 1);
	CHECK_OK(shmkit_remove(uri));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	test_foreign_last_user_alive("other-size", 4096, "no half-built one to take over");
	test_foreign_last_user_alive("same-size", SHMKIT__HEADER_SIZE + BODY,
				     "take it for abandoned");
	test_half_built_taken_over();
	test_complete_refused_says_open();
	return test_done();
}
