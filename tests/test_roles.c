/* SPDX-License-Identifier: MIT */
/* Roles (DESIGN §8) with real processes: a second live producer on a
 * single-producer queue, or consumer on a single-consumer one, gets -EBUSY;
 * a dead holder's role is taken over; multi-producer/consumer sides take
 * any number; a second publisher on a topic gets -EBUSY too. */
/* TIMEOUT: 90 */
#include "test.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "layout.h"
#include "managed.h"
#include "proc.h"

/* ---- exec'd roles: each says "ready" on stdout, then holds until killed ---- */

static void say_ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

/* argv: uri send|recv -> opens the queue and uses it once on that side,
 * which claims the side's role: 0, or the role's exit code. */
static int take_queue_side(int argc, char **argv)
{
	struct shmkit_queue *q;
	char buf[64];
	if (argc < 2 || shmkit_queue_open(&q, argv[0]) != 0)
		return 3;
	int r = strcmp(argv[1], "send") == 0 ? shmkit_queue_send(q, "held", 4, 0)
					      : (int)shmkit_queue_recv(q, buf, sizeof(buf), 0);
	return r < 0 ? 4 : 0; /* the handle stays open: the role stays ours */
}

/* argv: uri send|recv -> uses the queue once on that side, holds the handle. */
static int role_queue_side(int argc, char **argv)
{
	int r = take_queue_side(argc, argv);
	if (r)
		return r;
	say_ready();
	for (;;)
		pause();
}

/* argv: uri send|recv -> queue_side whose child (forked after the side's
 * first use, holding nothing) keeps its open file description, and with it
 * the lock on its role's byte, past its death, until its standard input
 * ends. Says "child N" first. */
static int role_forking_queue_side(int argc, char **argv)
{
	int r = take_queue_side(argc, argv);
	if (r)
		return r;
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		char c;
		while (read(0, &c, 1) > 0 || errno == EINTR)
			;
		_exit(0); /* the test closed its end of our standard input, or died */
	}
	printf("child %d\n", (int)child);
	say_ready();
	for (;;)
		pause();
}

/* argv: path role -> write locks on every byte a holder of that role may
 * lock (as 32 dead holders' outlived descriptions would hold them), held. */
static int role_byte_locker(int argc, char **argv)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 32};
	int fd = argc >= 2 ? open(argv[0], O_RDWR | O_CLOEXEC) : -1;
	fl.l_start = (off_t)(offsetof(struct shmkit__header, roles) +
			     (size_t)atoi(argv[1]) * sizeof(struct shmkit__role));
	if (fd < 0 || fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return 3;
	say_ready();
	for (;;)
		pause();
}

/* argv: uri -> the topic's publisher, held. */
static int role_publisher(int argc, char **argv)
{
	struct shmkit_pub *p;
	if (argc < 1 || shmkit_pub_open(&p, argv[0]) != 0)
		return 3;
	say_ready();
	for (;;)
		pause();
}

/* argv: path -> a stranger who may only read the file (a backup tool,
 * another user with mode 0644): an open-file-description read lock over
 * all of it, held. */
static int role_stranger(int argc, char **argv)
{
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
	int fd = argc >= 1 ? open(argv[0], O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0 || fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return 3;
	say_ready();
	for (;;)
		pause();
}

/* argv: uri path -> the producer of a queue as a holder of the previous
 * layout in another pid namespace left it: a read lock on the role's byte,
 * SHMKIT__AI_LOCKED alone, an identity this namespace cannot judge. Held. */
static int role_old_holder(int argc, char **argv)
{
	struct shmkit_seg *seg;
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_len = 1};
	if (argc < 2 || shmkit_seg_open(&seg, argv[0], 0, 0, 0) != 0)
		return 3;
	struct shmkit__role *r = &((struct shmkit__header *)shmkit_seg_addr(seg))->roles[0];
	uint64_t w = atomic_load(&r->word);
	int fd = open(argv[1], O_RDWR | O_CLOEXEC);
	fl.l_start = (off_t)((char *)r - (char *)shmkit_seg_addr(seg));
	if (SHMKIT__WORD_STATE(w) != SHMKIT__SLOT_FREE || fd < 0 ||
	    fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return 4;
	memcpy(&r->id, shmkit__ident_self(), sizeof(r->id));
	r->id.pidns ^= 0x5a5a; /* another pid namespace's: -EXDEV here */
	r->flags = SHMKIT__AI_LOCKED;
	atomic_store(&r->word, SHMKIT__WORD((uint32_t)getpid(), SHMKIT__SLOT_USED,
					    SHMKIT__WORD_GEN(w) + 1));
	say_ready();
	for (;;)
		pause();
}

/* argv: uri send|recv -> queue_side in a new time namespace whose boottime
 * is a day ahead, so /proc shows its start time a day later than ours does.
 * Says "skip" without the rights to make one; else forks the holder, which
 * says "pid N" and "ready", and exits (the caller is the subreaper). */
static int role_timens_queue_side(int argc, char **argv)
{
	int fd;
	if (unshare(CLONE_NEWTIME) < 0 ||
	    (fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC)) < 0 ||
	    write(fd, "boottime 86400 0", 16) != 16) {
		printf("skip\n");
		return 0;
	}
	close(fd);
	fflush(stdout);
	pid_t pid = fork(); /* the child lives in the new time namespace */
	if (pid != 0)
		return pid < 0 ? 5 : 0;
	printf("pid %d\n", (int)getpid());
	return role_queue_side(argc, argv);
}

/* Attach slots of uri's header held by this pid: with this image's token
 * (mine) and in all (*all). */
static int own_attach_slots(const char *uri, int *all)
{
	struct shmkit_seg *seg;
	int mine = 0;
	*all = 0;
	if (shmkit_seg_open(&seg, uri, 0, 0, 0) != 0)
		return -1;
	const struct shmkit__header *h = shmkit_seg_addr(seg);
	uint32_t token = shmkit__image_token() & SHMKIT__AI_IMAGE_MASK;
	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
		uint64_t w = atomic_load(&((struct shmkit__header *)h)->attach[i].word);
		if (SHMKIT__WORD_STATE(w) != SHMKIT__SLOT_USED ||
		    SHMKIT__WORD_PID(w) != (uint32_t)getpid())
			continue;
		++*all;
		mine += h->attach_info[i].flags >> SHMKIT__AI_IMAGE_SHIFT == token;
	}
	shmkit_seg_close(seg);
	return mine;
}

/* argv: queue-uri topic-uri -> takes both roles of the queue and the
 * topic's publisher, opens the queue until its attach table is full, then
 * execs "reexec_after" without closing anything: the new image inherits
 * none of those handles, but its pid and start time are the same. */
static int role_reexec_holder(int argc, char **argv)
{
	struct shmkit_queue *q;
	struct shmkit_pub *p;
	struct shmkit_sub *sub, *sub2;
	/* a descriptor on the second topic first: its listener's name is
	 * (pid, start time, this image's first key) */
	if (argc < 3 || shmkit_sub_open(&sub2, argv[2]) != 0 || shmkit_sub_fd(sub2) < 0)
		return 6;
	if (argc < 2 || take_queue_side(2, (char *[]){argv[0], "send"}) != 0 ||
	    take_queue_side(2, (char *[]){argv[0], "recv"}) != 0 ||
	    shmkit_pub_open(&p, argv[1]) != 0 || shmkit_sub_open(&sub, argv[1]) != 0)
		return 3;
	int all = 0;
	while (own_attach_slots(argv[0], &all) >= 0 && all < (int)SHMKIT__ATTACH_SLOTS)
		if (shmkit_queue_open(&q, argv[0]) != 0)
			return 4;
	execl("/proc/self/exe", "test_roles", "--role", "reexec_after", argv[0], argv[1],
	      argv[2], (char *)NULL);
	return 5;
}

/* The image after role_reexec_holder's exec: its earlier image's claims
 * are its own to take again (the subscriber first: its handle of the
 * topic is this image's own, not a second library's), but a second
 * handle of this image is still refused what the first took. 0, or which step failed (the library's
 * detail on stderr). */
static int role_reexec_after(int argc, char **argv)
{
	struct shmkit_queue *q, *q2;
	struct shmkit_pub *p;
	struct shmkit_sub *sub;
	char buf[64];
	int step = 10, all, sent = 0;
	if (argc < 2 || shmkit_queue_open(&q, argv[0]) != 0 || (step++, 0) ||
	    own_attach_slots(argv[0], &all) != 1 || (step++, 0) ||
	    shmkit_queue_send(q, "again", 5, 0) != 0 || (step++, 0) ||
	    shmkit_queue_recv(q, buf, sizeof(buf), 0) != 5 || (step++, 0) ||
	    shmkit_sub_open(&sub, argv[1]) != 0 || (step++, 0) ||
	    shmkit_pub_open(&p, argv[1]) != 0 || (step++, 0) ||
	    shmkit_pub_send(p, "x", 1, 0) != 0 || (step++, 0) ||
	    shmkit_queue_open(&q2, argv[0]) != 0 || (step++, 0) ||
	    shmkit_queue_recv(q2, buf, sizeof(buf), 0) != -EBUSY || (step++, 0) ||
	    shmkit_queue_send(q2, "y", 1, 0) != -EBUSY) {
		fprintf(stderr, "reexec_after: step %d: %s\n", step, shmkit_last_error_detail());
		return step;
	}
	/* The reliable topic's ring holds 8: the earlier image's subscriber,
	 * still at the first message, would stop the ninth send. */
	step++;
	int sr = 0;
	ssize_t rr = 1;
	for (; sent < 20; sent++)
		if ((sr = shmkit_pub_send(p, "m", 1, 0)) != 0 ||
		    (rr = shmkit_sub_recv(sub, buf, sizeof(buf), 0)) != 1)
			break;
	if (sent < 20) {
		fprintf(stderr, "reexec_after: message %d: send %d, recv %zd\n", sent, sr, rr);
		fprintf(stderr, "reexec_after: step %d: %s\n", step, shmkit_last_error_detail());
		return step;
	}
	/* This image's first descriptor (on the first topic) must not be
	 * bound to the name of its earlier image's listener on the second:
	 * that entry looked held, never freed, and the reliable second topic
	 * stopped at its ninth message. */
	step++;
	struct shmkit_sub *sub2;
	struct shmkit_pub *p2;
	if (argc < 3 || shmkit_sub_fd(sub) < 0 || shmkit_sub_open(&sub2, argv[2]) != 0 ||
	    shmkit_pub_open(&p2, argv[2]) != 0) {
		fprintf(stderr, "reexec_after: step %d: %s\n", step, shmkit_last_error_detail());
		return step;
	}
	step++;
	for (sent = 0; sent < 20; sent++)
		if ((sr = shmkit_pub_send(p2, "m", 1, 0)) != 0 ||
		    (rr = shmkit_sub_recv(sub2, buf, sizeof(buf), 0)) != 1)
			break;
	if (sent < 20) {
		fprintf(stderr, "reexec_after: second topic, message %d: send %d, recv %zd\n",
			sent, sr, rr);
		return step;
	}
	return 0;
}

/* argv: uri-or-path how -> (how "fd": opens path as a descriptor the exec
 * keeps, "fd:N") takes the producer role, forks a child that keeps the
 * handle (and with it the claim), then execs "reexec_fork_after". */
static int role_reexec_fork_holder(int argc, char **argv)
{
	struct shmkit_queue *q;
	char uri[64];
	if (argc < 2)
		return 3;
	snprintf(uri, sizeof(uri), "%s", argv[0]);
	if (strcmp(argv[1], "fd") == 0)
		snprintf(uri, sizeof(uri), "fd:%d", open(argv[0], O_RDWR)); /* no O_CLOEXEC */
	if (shmkit_queue_open(&q, uri) != 0 || shmkit_queue_send(q, "a", 1, 0) != 0)
		return 4;
	pid_t child = fork();
	if (child == 0) {
		pause(); /* goes on with the handle: the producer, as far as anyone knows */
		_exit(0);
	}
	char cs[16];
	snprintf(cs, sizeof(cs), "%d", (int)child);
	execl("/proc/self/exe", "test_roles", "--role", "reexec_fork_after", uri, cs, (char *)NULL);
	return 5;
}

/* The image after role_reexec_fork_holder's exec: its earlier image's
 * claim is in a live child's hands, so it is not this image's to take. */
static int role_reexec_fork_after(int argc, char **argv)
{
	struct shmkit_queue *q;
	if (argc < 2 || shmkit_queue_open(&q, argv[0]) != 0)
		return 10;
	int rc = shmkit_queue_send(q, "b", 1, 0);
	kill(atoi(argv[1]), SIGKILL);
	waitpid(atoi(argv[1]), NULL, 0);
	if (rc != -EBUSY) {
		fprintf(stderr, "reexec_fork_after: %s: send %d, not -EBUSY\n", argv[0], rc);
		return 11;
	}
	return 0;
}

static const struct test_role roles[] = {
    {"reexec_holder", role_reexec_holder},
    {"reexec_after", role_reexec_after},
    {"reexec_fork_holder", role_reexec_fork_holder},
    {"reexec_fork_after", role_reexec_fork_after},
    {"timens_queue_side", role_timens_queue_side},
    {"old_holder", role_old_holder},
    {"queue_side", role_queue_side},
    {"forking_queue_side", role_forking_queue_side},
    {"byte_locker", role_byte_locker},
    {"stranger", role_stranger},
    {"publisher", role_publisher},
    {NULL, NULL},
};

static pid_t spawn_ready(const char *role, const char *const args[])
{
	int p[2];
	CHECK_OK(pipe(p));
	fflush(stdout);
	int saved = dup(1);
	dup2(p[1], 1);
	pid_t pid = test_spawn_self(role, args);
	dup2(saved, 1);
	close(saved);
	close(p[1]);
	char buf[16] = "";
	CHECK(read(p[0], buf, sizeof(buf) - 1) > 0 && strncmp(buf, "ready", 5) == 0);
	close(p[0]);
	return pid;
}

static void kill_wait(pid_t pid)
{
	kill(pid, SIGKILL);
	test_wait(pid);
}

/* One side of a queue made with these flags: is a second user refused? */
static void check_side(int mp, int mc, int producer)
{
	const char *uri = test_uri("posix", producer ? "producer" : "consumer");
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 64, .multi_producer = mp,
				      .multi_consumer = mc};
	struct shmkit_queue *q, *q2;
	char buf[64];
	int single = producer ? !mp : !mc;

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	for (int i = 0; i < (producer ? 0 : 6); i++)
		CHECK_OK(shmkit_queue_send(q, "m", 1, 0));
	CHECK_OK(shmkit_queue_close(q)); /* gives the producer role back */
	const char *args[] = {uri, producer ? "send" : "recv", NULL};
	pid_t holder = spawn_ready("queue_side", args);

	CHECK_OK(shmkit_queue_open(&q, uri));
	int r = producer ? shmkit_queue_send(q, "x", 1, 0)
			 : (int)shmkit_queue_recv(q, buf, sizeof(buf), 0);
	if (single) {
		CHECK_RET(r, -EBUSY);
		CHECK(strstr(shmkit_last_error_detail(), "already its") != NULL);
	} else {
		CHECK(r >= 0);
	}
	/* The holder dies: its role is taken over. */
	kill_wait(holder);
	r = producer ? shmkit_queue_send(q, "y", 1, 0)
		     : (int)shmkit_queue_recv(q, buf, sizeof(buf), 0);
	CHECK(r >= 0);
	/* And now this handle holds it: another handle is refused, until close. */
	CHECK_OK(shmkit_queue_open(&q2, uri));
	r = producer ? shmkit_queue_send(q2, "z", 1, 0)
		     : (int)shmkit_queue_recv(q2, buf, sizeof(buf), 0);
	if (single)
		CHECK_RET(r, -EBUSY);
	else
		CHECK(r >= 0);
	CHECK_OK(shmkit_queue_close(q));
	r = producer ? shmkit_queue_send(q2, "z", 1, 0)
		     : (int)shmkit_queue_recv(q2, buf, sizeof(buf), 0);
	CHECK(r >= 0);
	CHECK_OK(shmkit_queue_close(q2));
	CHECK_OK(shmkit_remove(uri));
}

/* A new SPSC queue (8 x 64 B) tagged `tag`, no role held: its URI, and
 * the path of its file in path. */
static const char *fresh_queue(const char *tag, char *path, size_t cap)
{
	const char *uri = test_uri("posix", tag);
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 64};
	struct shmkit_queue *q;
	snprintf(path, cap, "/dev/shm%s", strchr(uri, ':') + 1);
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_close(q)); /* gives the producer role back */
	return uri;
}

/* A stranger's read lock on the file, taken before the producer claimed
 * its role or after it died, kept the dead producer "alive": its role
 * was refused for good (-EBUSY). Holders took a read lock on their entry's
 * byte and were judged by a write-lock probe, which any lock answers; they
 * now take a write lock, judged by a read-lock probe, and one that finds
 * the byte locked already takes none (judged by identity). */
static void check_stranger_read_lock(int stranger_first)
{
	struct shmkit_queue *q;
	char path[512];
	pid_t stranger = 0;
	const char *uri = fresh_queue("stranger", path, sizeof(path));
	const char *sargs[] = {path, NULL}, *hargs[] = {uri, "send", NULL};
	if (stranger_first)
		stranger = spawn_ready("stranger", sargs);
	pid_t holder = spawn_ready("queue_side", hargs);
	kill_wait(holder);
	if (!stranger_first)
		stranger = spawn_ready("stranger", sargs);
	CHECK_OK(shmkit_queue_open(&q, uri));
	CHECK_OK(shmkit_queue_send(q, "y", 1, 0)); /* the dead producer's role */
	CHECK_OK(shmkit_queue_close(q));
	kill_wait(stranger);
	CHECK_OK(shmkit_remove(uri));
}

/* test_spawn_self() with its standard output read until "ready" or
 * "skip" into out (and standard input from in_fd when >= 0). */
static pid_t spawn_read(const char *role, const char *const args[], int in_fd, char *out,
			size_t cap)
{
	int p[2], saved_in = -1;
	size_t n = 0;
	CHECK_OK(pipe(p));
	fflush(stdout);
	int saved = dup(1);
	dup2(p[1], 1);
	if (in_fd >= 0) {
		saved_in = dup(0);
		dup2(in_fd, 0);
	}
	pid_t pid = test_spawn_self(role, args);
	dup2(saved, 1);
	close(saved);
	if (saved_in >= 0) {
		dup2(saved_in, 0);
		close(saved_in);
	}
	close(p[1]);
	out[0] = '\0';
	while (n < cap - 1 && !strstr(out, "ready") && !strstr(out, "skip")) {
		ssize_t r = read(p[0], out + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		out[n] = '\0';
	}
	close(p[0]);
	return pid;
}

/* The `side` of the queue at uri, held by a process in a new time
 * namespace (boottime a day ahead) that we are the subreaper of: its pid,
 * or 0 without the rights to make one (root only: CLONE_NEWTIME). */
static pid_t spawn_timens_holder(const char *uri, const char *side)
{
	const char *args[] = {uri, side, NULL};
	char out[256];
	int holder = 0;
	CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
	pid_t mid = spawn_read("timens_queue_side", args, -1, out, sizeof(out));
	CHECK_RET(test_wait(mid), 0);
	if (strstr(out, "skip")) {
		fprintf(stderr, "SKIP part: a holder in a time namespace (needs root)\n");
		prctl(PR_SET_CHILD_SUBREAPER, 0);
		return 0;
	}
	CHECK(sscanf(out, "pid %d", &holder) == 1 && strstr(out, "ready"));
	return holder;
}

static void kill_timens_holder(pid_t holder)
{
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0); /* ours: we are its subreaper */
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* The flags its holder recorded in the producer's (1) or consumer's (0)
 * role entry of the queue at uri. */
static uint32_t role_flags(const char *uri, int producer)
{
	struct shmkit_seg *seg;
	uint32_t flags = UINT32_MAX;
	if (shmkit_seg_open(&seg, uri, 0, 0, 0) != 0)
		return flags;
	const struct shmkit__header *h = shmkit_seg_addr(seg);
	flags = h->roles[producer ? SHMKIT__ROLE_PRODUCER : SHMKIT__ROLE_CONSUMER].flags;
	shmkit_seg_close(seg);
	return flags;
}

/* One use of a queue's side: >= 0 or the error. */
static int use_side(struct shmkit_queue *q, int producer, const char *msg)
{
	char buf[64];
	return producer ? shmkit_queue_send(q, msg, strlen(msg), 0)
			: (int)shmkit_queue_recv(q, buf, sizeof(buf), 0);
}

/* A holder killed while a child it forked lives: the child holds its open
 * file description, so the lock on the role's byte outlived the holder and
 * its role was refused until the child exited (-EBUSY, "pid N is already
 * its producer"). A /proc reader's hold on a reaped holder's address space
 * keeps its mapping, and so the lock, a moment longer in the same way (the
 * chaos test's restarted producer met it under load). An identity proven
 * dead now wins over the lock, for roles and for attach slots. The next
 * holder finds the outlived write lock and locks the entry's next byte: a
 * live one that identity misjudges (in a time namespace, its pid looks
 * reused) keeps its role by that lock, and a second claimant after it is
 * refused. */
static void check_lock_outlives_holder(int producer)
{
	const char *uri = test_uri("posix", "outlived");
	const char *side = producer ? "send" : "recv";
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 64};
	struct shmkit_queue *q, *q2;
	struct shmkit_attacher at[4];
	char out[128];
	int in[2], child = 0;

	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	for (int i = 0; i < (producer ? 0 : 4); i++)
		CHECK_OK(shmkit_queue_send(q, "m", 1, 0));
	CHECK_OK(shmkit_queue_close(q));
	const char *args[] = {uri, side, NULL};
	CHECK_OK(pipe2(in, O_CLOEXEC)); /* the child's stdin: it ends when we close in[1] */
	pid_t holder = spawn_read("forking_queue_side", args, in[0], out, sizeof(out));
	close(in[0]);
	CHECK(sscanf(out, "child %d", &child) == 1 && child > 0 && strstr(out, "ready"));
	kill_wait(holder);

	pid_t live = spawn_timens_holder(uri, side);
	CHECK_OK(shmkit_queue_open(&q, uri));
	if (live > 0) {
		CHECK_RET(use_side(q, producer, "x"), -EBUSY); /* it lives, with no lock of its own */
		kill_timens_holder(live);
	}
	int r = use_side(q, producer, "y");
	CHECK(r >= 0);
	if (r < 0)
		fprintf(stderr, "  %s: %s\n", shmkit_strerror(r), shmkit_last_error_detail());
	int k = shmkit_managed_attachers(uri, at, 4);
	CHECK(k >= 1);
	for (int i = 0; i < k && i < 4; i++)
		if (at[i].pid == holder)
			CHECK_RET(at[i].alive, 0);
	CHECK_RET(role_flags(uri, producer), SHMKIT__AI_LOCKED | SHMKIT__AI_WRLOCKED |
					       1u << SHMKIT__AI_BYTE_SHIFT);
	CHECK_OK(shmkit_queue_open(&q2, uri)); /* and ours is respected */
	CHECK_RET(use_side(q2, producer, "z"), -EBUSY);
	CHECK_OK(shmkit_queue_close(q2));
	CHECK_OK(shmkit_queue_close(q));
	close(in[1]); /* the child ends */
	CHECK_OK(shmkit_remove(uri));
}

/* Every byte of the role's entry write-locked (outlived descriptions): the
 * next holder takes no lock (flags 0) and is judged by identity alone, where
 * only a proof of death counts. A live one in a time namespace keeps its
 * role; once it is gone (no process with its pid), the role is taken. */
static void check_lockless_holder(void)
{
	struct shmkit_queue *q;
	char path[512];
	const char *uri = fresh_queue("lockless", path, sizeof(path));
	const char *largs[] = {path, "0", NULL};
	pid_t locker = spawn_ready("byte_locker", largs);
	pid_t live = spawn_timens_holder(uri, "send");
	if (live > 0) {
		CHECK_RET(role_flags(uri, 1), 0);
		CHECK_OK(shmkit_queue_open(&q, uri));
		CHECK_RET(use_side(q, 1, "x"), -EBUSY); /* "dead" by its start time: not proof */
		kill_timens_holder(live);
		CHECK_OK(use_side(q, 1, "y")); /* no process has its pid: proof */
		CHECK_OK(shmkit_queue_close(q));
	}
	kill_wait(locker);
	CHECK_OK(shmkit_remove(uri));
}

/* Start time of this process as /proc says it, 0 if it cannot be read. */
static uint64_t own_start_time(void)
{
	char state;
	uint64_t start;
	return shmkit__proc_stat(0, &state, &start) == 0 ? start : 0;
}

/* In M, forked by P after P cached its identity: a child D that gets P's
 * pid back once P is gone (clone3 set_tid stands in for pid wrap-around).
 * 0 if D's identity is its own, 1 if it is P's, 77 if D cannot be made. */
static int grandchild_with_parents_pid(int from_test)
{
	pid_t want;
	if (read(from_test, &want, sizeof(want)) != (ssize_t)sizeof(want))
		return 3;
	usleep(30000); /* start times count clock ticks (10 ms): D's must differ from P's */
	struct clone_args ca = {.exit_signal = SIGCHLD, .set_tid = (uintptr_t)&want,
				.set_tid_size = 1};
	long d = syscall(SYS_clone3, &ca, sizeof(ca));
	if (d == 0)
		_exit(shmkit__ident_self()->start_time == own_start_time() ? 0 : 1);
	if (d < 0)
		return 77; /* not root (CAP_SYS_ADMIN), or the pid was taken meanwhile */
	return test_wait((pid_t)d);
}

/* A process that used shmkit (its identity cached) forks M and exits; M,
 * never asking, forks D, which gets the first one's pid back. D took the
 * cache copied through M for its own (keyed by pid alone): a live holder
 * recorded with another's start time, judged dead by a proof of pid reuse.
 * A forked child now starts with no identity, also when made by _Fork(),
 * which runs no atfork handlers. */
static void check_identity_after_pid_reuse(int raw_fork)
{
	int p[2];
	CHECK_OK(pipe(p));
	CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1)); /* M is ours once P is gone */
	fflush(stdout);
	pid_t first = fork();
	if (first == 0) {
		if (shmkit__ident_self()->start_time != own_start_time())
			_exit(2);
		if ((raw_fork ? _Fork() : fork()) == 0) /* _Fork: no atfork handlers run */
			_exit(grandchild_with_parents_pid(p[0]));
		_exit(0);
	}
	CHECK_RET(test_wait(first), 0);
	CHECK(write(p[1], &first, sizeof(first)) == (ssize_t)sizeof(first));
	int status, rc = -1;
	pid_t m = wait(&status); /* M, reparented to us */
	if (m > 0 && WIFEXITED(status))
		rc = WEXITSTATUS(status);
	if (rc == 77)
		fprintf(stderr, "SKIP part: a pid given back (clone3 set_tid needs root)\n");
	else
		CHECK_RET(rc, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	close(p[0]);
	close(p[1]);
}

/* A new reader still judges a holder of the previous layout (read lock,
 * SHMKIT__AI_LOCKED alone) by any lock on its byte: alive while held, even
 * beside a stranger's read lock; dead once its lock is gone. */
static void check_old_format_holder(void)
{
	struct shmkit_queue *q;
	char path[512];
	const char *uri = fresh_queue("old-holder", path, sizeof(path));
	const char *args[] = {uri, path, NULL};
	pid_t holder = spawn_ready("old_holder", args);
	CHECK_OK(shmkit_queue_open(&q, uri));
	CHECK_RET(shmkit_queue_send(q, "x", 1, 0), -EBUSY); /* its lock says alive */
	kill_wait(holder);
	CHECK_OK(shmkit_queue_send(q, "y", 1, 0)); /* no lock: dead, role taken */
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

/* A live producer beside a stranger's read lock was judged dead when its
 * identity read dead for another reason than death: it took a read lock
 * (CONTENDED, the byte was locked), and a proven-dead identity won over
 * the lock. A holder in a time namespace is one: /proc shows us its start
 * time moved by its boottime offset, so its pid looks reused. A second
 * producer took the live one's SPSC role. Root only (CLONE_NEWTIME). */
static void check_stranger_live_timens_holder(void)
{
	struct shmkit_queue *q;
	char path[512];
	const char *uri = fresh_queue("stranger-timens", path, sizeof(path));
	const char *sargs[] = {path, NULL};
	pid_t stranger = spawn_ready("stranger", sargs);
	pid_t holder = spawn_timens_holder(uri, "send");
	if (holder > 0) {
		CHECK_OK(shmkit_queue_open(&q, uri));
		CHECK_RET(shmkit_queue_send(q, "x", 1, 0), -EBUSY); /* it lives */
		kill_timens_holder(holder);
		CHECK_OK(shmkit_queue_send(q, "y", 1, 0)); /* its pid is gone: dead */
		CHECK_OK(shmkit_queue_close(q));
	}
	kill_wait(stranger);
	CHECK_OK(shmkit_remove(uri));
}

/* Opening and looking claim nothing: stats on a queue whose roles are held. */
static void check_open_claims_nothing(void)
{
	const char *uri = test_uri("posix", "looker");
	struct shmkit_queue_opts o = {.capacity = 8, .max_msg = 64};
	struct shmkit_queue *q, *look;
	struct shmkit_queue_stats st;
	CHECK_OK(shmkit_queue_create(&q, uri, &o));
	CHECK_OK(shmkit_queue_send(q, "a", 1, 0));
	char buf[8];
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_queue_open(&look, uri));
	CHECK_OK(shmkit_queue_stats(look, &st));
	CHECK_OK(shmkit_queue_close(look));
	CHECK_OK(shmkit_queue_send(q, "b", 1, 0)); /* still ours */
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_remove(uri));
}

static void check_second_publisher(void)
{
	const char *uri = test_uri("posix", "topic");
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 8};
	struct shmkit_pub *p;
	char out[1024];
	CHECK_OK(shmkit_topic_create(uri, &o));
	const char *args[] = {uri, NULL};
	pid_t holder = spawn_ready("publisher", args);
	CHECK_RET(shmkit_pub_open(&p, uri), -EBUSY);
	/* The detail names the live publisher, as the queue roles do. */
	char want[64];
	snprintf(want, sizeof(want), "pid %d is already its publisher", (int)holder);
	printf("detail: %s\n", shmkit_last_error_detail());
	CHECK(strstr(shmkit_last_error_detail(), want) != NULL);
	/* The CLI: an error line naming it, exit 1. */
	CHECK_RET(test_sh_capture(out, sizeof(out), "%s pub %s hello 2>&1", SHMKIT_TOOL_PATH, uri),
		  1);
	printf("%s", out);
	CHECK(strncmp(out, "shmkit: ", 8) == 0);
	CHECK(strstr(out, want) != NULL);
	kill_wait(holder);
	CHECK_OK(shmkit_pub_open(&p, uri));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(uri));
}

/* Two `shmkit send` at once into a default (single-producer) queue, five
 * times: never both succeed while lines go missing. Either they did not
 * overlap (both exit 0, every line arrives) or the second is refused with
 * an error line and exit 1 and every line of the first arrives. The reader
 * runs until the senders are done and the queue is empty, then is stopped
 * (SIGTERM: what it took is printed): a fixed 3 s of reading ended before
 * the sender on a loaded machine (i386 build, load average 45: 19968 of
 * 20000 read, the last 32 left in the queue, 2 rounds of 5). */
static void check_cli_concurrent_senders(void)
{
	for (int round = 0; round < 5; round++) {
		const char *uri = test_uri("posix", "two-senders");
		char out[256];
		CHECK_RET(test_sh("%s queue create %s --capacity 256 --max-msg 32 --owned",
				  SHMKIT_TOOL_PATH, uri),
			  0);
		CHECK_RET(
		    test_sh_capture(
			out, sizeof(out),
			"d=$(mktemp -d); cd $d || exit 9; "
			"%s recv %s --count 0 --timeout 120 > got & r=$!; "
			"(seq 1 20000 | %s send %s - 2>errA; echo $? > rcA) & A=$!; "
			"(seq 100001 120000 | %s send %s - 2>errB; echo $? > rcB) & B=$!; "
			"wait $A $B; "
			"for i in $(seq 1200); do %s queue stat %s | grep '^depth: *0$' >/dev/null && break; "
			"sleep 0.05; done; "
			"kill -TERM $r; wait $r; a=$(cat rcA); b=$(cat rcB); n=$(wc -l < got); "
			"u=$(sort -u got | wc -l); echo \"$a $b $n $u\"; cat errA errB >&2; "
			"cd / && rm -rf $d",
			SHMKIT_TOOL_PATH, uri, SHMKIT_TOOL_PATH, uri, SHMKIT_TOOL_PATH, uri,
			SHMKIT_TOOL_PATH, uri),
		    0);
		int a = -1, b = -1, n = -1, u = -1;
		CHECK(sscanf(out, "%d %d %d %d", &a, &b, &n, &u) == 4);
		printf("round %d: sender exits %d %d, %d lines received, %d distinct\n", round, a,
		       b, n, u);
		int ok_senders = (a == 0) + (b == 0);
		CHECK((a == 0 || a == 1) && (b == 0 || b == 1) && ok_senders >= 1);
		CHECK(n == 20000 * ok_senders && u == n);
		CHECK_OK(shmkit_remove(uri));
	}
}

/* A process that execs itself while it holds a queue's roles, a topic's
 * publisher and every attach slot keeps its pid and start time, but none
 * of its handles: the new image was refused its own roles for good
 * (-EBUSY, "pid N is already its consumer") and could not attach. */
static void check_reexec_takes_its_claims_back(void)
{
	char path[128];
	const char *qu = fresh_queue("reexec-q", path, sizeof(path));
	char tu[128];
	snprintf(tu, sizeof(tu), "%s", test_uri("posix", "reexec-t"));
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 8, .reliable = 1};
	CHECK_OK(shmkit_topic_create(tu, &o));
	char tu2[128];
	snprintf(tu2, sizeof(tu2), "%s", test_uri("posix", "reexec-t2"));
	CHECK_OK(shmkit_topic_create(tu2, &o));
	const char *args[] = {qu, tu, tu2, NULL};
	CHECK_RET(test_wait(test_spawn_self("reexec_holder", args)), 0);
	CHECK_OK(shmkit_remove(qu));
	CHECK_OK(shmkit_remove(tu));
	CHECK_OK(shmkit_remove(tu2));
}

/* A second copy of the library in this process (the test is linked with
 * the first): the calls the two-copy checks make through it. */
struct copy_b {
	void *lib;
	int (*queue_open)(struct shmkit_queue **, const char *);
	int (*queue_send)(struct shmkit_queue *, const void *, size_t, int64_t);
	ssize_t (*queue_recv)(struct shmkit_queue *, void *, size_t, int64_t);
	int (*queue_close)(struct shmkit_queue *);
	int (*pub_open)(struct shmkit_pub **, const char *);
	int (*pub_close)(struct shmkit_pub *);
	int (*sub_open)(struct shmkit_sub **, const char *);
	int (*sub_close)(struct shmkit_sub *);
};

/* 0 with b filled, -1 (and a failed check) if the copy cannot be had. */
static int load_copy_b(struct copy_b *b)
{
	b->lib = dlopen(SHMKIT_BINARY_DIR "/libshmkit.so", RTLD_NOW | RTLD_LOCAL);
	CHECK(b->lib != NULL);
	if (!b->lib)
		return -1;
	b->queue_open = dlsym(b->lib, "shmkit_queue_open");
	b->queue_send = dlsym(b->lib, "shmkit_queue_send");
	b->queue_recv = dlsym(b->lib, "shmkit_queue_recv");
	b->queue_close = dlsym(b->lib, "shmkit_queue_close");
	b->pub_open = dlsym(b->lib, "shmkit_pub_open");
	b->pub_close = dlsym(b->lib, "shmkit_pub_close");
	b->sub_open = dlsym(b->lib, "shmkit_sub_open");
	b->sub_close = dlsym(b->lib, "shmkit_sub_close");
	int found = b->queue_open && b->queue_send && b->queue_recv && b->queue_close &&
		    b->pub_open && b->pub_close && b->sub_open && b->sub_close;
	CHECK(found);
	return found ? 0 : -1;
}

/* Two copies of the library in one process (a program linked with one,
 * a plugin or ctypes loading another) draw two image tokens: neither may
 * take the other's live roles, publisher or subscribers for an earlier
 * image's. On SysV no lock can prove the other copy gone, so nothing is
 * taken back there. */
static void check_two_library_copies(const char *scheme)
{
	struct copy_b b;
	if (load_copy_b(&b) < 0)
		return;
	char path[128], buf[8];
	const char *qu;
	if (strcmp(scheme, "posix") == 0) {
		qu = fresh_queue("two-copies-q", path, sizeof(path));
	} else {
		struct shmkit_queue_opts qo = {.capacity = 8, .max_msg = 64};
		struct shmkit_queue *qc;
		qu = test_uri(scheme, "two-copies-q");
		CHECK_OK(shmkit_queue_create(&qc, qu, &qo));
		CHECK_OK(shmkit_queue_close(qc));
	}
	const char *tu = test_uri(scheme, "two-copies-t");
	struct shmkit_topic_opts o = {.slot_size = 64, .slots = 8, .reliable = 1};
	struct shmkit_queue *q, *qb;
	struct shmkit_pub *p, *pb;
	CHECK_OK(shmkit_queue_open(&q, qu));
	CHECK_OK(shmkit_queue_send(q, "a", 1, 0));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_pub_create(&p, tu, &o));
	struct shmkit_sub *sub, *sub_b;
	CHECK_OK(shmkit_sub_open(&sub, tu));
	CHECK_OK(b.sub_open(&sub_b, tu)); /* must not take copy A's subscriber for an earlier image's */
	CHECK_OK(b.sub_close(sub_b));
	CHECK_OK(b.queue_open(&qb, qu));
	CHECK_RET(b.queue_send(qb, "b", 1, 0), -EBUSY);
	CHECK_RET(b.queue_recv(qb, buf, sizeof(buf), 0), -EBUSY);
	CHECK_RET(b.pub_open(&pb, tu), -EBUSY);
	CHECK_OK(b.queue_close(qb));
	CHECK_OK(shmkit_queue_send(q, "c", 1, 0)); /* still ours */
	/* copy A's subscriber still holds the reliable ring back, and gets all */
	for (int i = 0; i < 8; i++)
		CHECK_OK(shmkit_pub_send(p, "d", 1, 0));
	CHECK_RET(shmkit_pub_send(p, "e", 1, 0), -EAGAIN);
	for (int i = 0; i < 8; i++)
		CHECK_RET(shmkit_sub_recv(sub, buf, sizeof(buf), 0), 1);
	CHECK_OK(shmkit_sub_close(sub));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_pub_close(p));
	CHECK_OK(shmkit_remove(qu));
	CHECK_OK(shmkit_remove(tu));
	dlclose(b.lib);
}

/* check_two_library_copies where no lock of the other copy's can be seen:
 * a SysV segment (no file to lock), a segment both copies were handed as
 * one descriptor (fd:N dups it: one open file description, which does not
 * see its own locks), a holder that took no lock (every byte it may lock
 * was write-locked), a publisher with no attach slot (the table was full).
 * Each copy's token differs, and each was taken for an earlier image's:
 * copy B became a second producer, consumer and publisher. */
static void two_copies_case(const struct copy_b *b, const char *qa, const char *qb,
			    const char *ta, const char *tb, const char *what)
{
	struct shmkit_queue *q, *q2;
	struct shmkit_pub *p, *pb;
	char buf[8];
	fprintf(stderr, "two copies: %s\n", what);
	CHECK_OK(shmkit_queue_open(&q, qa));
	CHECK_OK(shmkit_queue_send(q, "a", 1, 0));
	CHECK_RET(shmkit_queue_recv(q, buf, sizeof(buf), 0), 1);
	if (tb)
		CHECK_OK(shmkit_pub_open(&p, ta));
	CHECK_OK(b->queue_open(&q2, qb));
	CHECK_RET(b->queue_send(q2, "b", 1, 0), -EBUSY);
	CHECK_RET(b->queue_recv(q2, buf, sizeof(buf), 0), -EBUSY);
	if (tb) {
		int rc = b->pub_open(&pb, tb);
		CHECK_RET(rc, -EBUSY);
		if (rc == 0)
			b->pub_close(pb);
		CHECK_OK(shmkit_pub_close(p));
	}
	CHECK_OK(b->queue_close(q2));
	CHECK_OK(shmkit_queue_close(q));
}

static void check_two_library_copies_unlocked(void)
{
	struct copy_b b;
	if (load_copy_b(&b) < 0)
		return;
	struct shmkit_queue_opts qo = {.capacity = 8, .max_msg = 64};
	struct shmkit_topic_opts to = {.slot_size = 64, .slots = 8, .max_subs = 128};
	struct shmkit_queue *q;
	char path[128], tpath[128], qf[32], tf[32];

	/* SysV */
	const char *qu = test_uri("sysv", "two-copies-sq"), *tu = test_uri("sysv", "two-copies-st");
	CHECK_OK(shmkit_queue_create(&q, qu, &qo));
	CHECK_OK(shmkit_queue_close(q));
	CHECK_OK(shmkit_topic_create(tu, &to));
	two_copies_case(&b, qu, qu, tu, tu, "sysv");
	CHECK_OK(shmkit_remove(qu));
	CHECK_OK(shmkit_remove(tu));

	/* one descriptor for both copies */
	qu = fresh_queue("two-copies-fq", path, sizeof(path));
	tu = test_uri("posix", "two-copies-ft");
	CHECK_OK(shmkit_topic_create(tu, &to));
	snprintf(tpath, sizeof(tpath), "/dev/shm%s", strchr(tu, ':') + 1);
	int qfd = open(path, O_RDWR | O_CLOEXEC), tfd = open(tpath, O_RDWR | O_CLOEXEC);
	CHECK(qfd >= 0 && tfd >= 0);
	snprintf(qf, sizeof(qf), "fd:%d", qfd);
	snprintf(tf, sizeof(tf), "fd:%d", tfd);
	two_copies_case(&b, qf, qf, tf, tf, "fd:N");
	close(qfd);
	close(tfd);

	/* a holder that found every byte of its role entry locked (flags 0) */
	int lfd = open(path, O_RDWR | O_CLOEXEC);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
			   .l_start = (off_t)offsetof(struct shmkit__header, roles),
			   .l_len = 2 * sizeof(struct shmkit__role)};
	CHECK(lfd >= 0 && fcntl(lfd, F_OFD_SETLK, &fl) == 0);
	two_copies_case(&b, qu, qu, NULL, NULL, "role entries locked by another description");
	close(lfd);
	CHECK_OK(shmkit_remove(qu));

	/* a publisher with no attach slot: 64 subscribers took them all */
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t subs = fork();
	if (subs == 0) {
		struct shmkit_sub *s;
		for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++)
			if (shmkit_sub_open(&s, tu) != 0)
				_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	qu = fresh_queue("two-copies-nq", path, sizeof(path));
	two_copies_case(&b, qu, qu, tu, tu, "publisher without an attach slot");
	kill(subs, SIGKILL);
	waitpid(subs, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	CHECK_OK(shmkit_remove(qu));
	CHECK_OK(shmkit_remove(tu));
	dlclose(b.lib);
}

/* A process forks a child that keeps its handle (and the producer role
 * it claimed), then execs itself: the earlier image's claim lives on in
 * the child. With no lock to see (SysV) or the lock's description handed
 * to the new image (a descriptor kept across the exec), the new image took
 * the role for its earlier image's: two producers. */
static void check_reexec_with_child_keeps_claim(void)
{
	char path[128];
	struct shmkit_queue_opts qo = {.capacity = 8, .max_msg = 64};
	struct shmkit_queue *q;
	const char *su = test_uri("sysv", "reexec-fork-s");
	CHECK_OK(shmkit_queue_create(&q, su, &qo));
	CHECK_OK(shmkit_queue_close(q));
	const char *sargs[] = {su, "uri", NULL};
	CHECK_RET(test_wait(test_spawn_self("reexec_fork_holder", sargs)), 0);
	CHECK_OK(shmkit_remove(su));
	const char *fu = fresh_queue("reexec-fork-f", path, sizeof(path));
	const char *fargs[] = {path, "fd", NULL};
	CHECK_RET(test_wait(test_spawn_self("reexec_fork_holder", fargs)), 0);
	const char *pargs[] = {fu, "uri", NULL};
	CHECK_RET(test_wait(test_spawn_self("reexec_fork_holder", pargs)), 0);
	CHECK_OK(shmkit_remove(fu));
}

int main(int argc, char **argv)
{
	test_child_dispatch(argc, argv, roles);
	for (int producer = 0; producer <= 1; producer++) {
		check_side(0, 0, producer); /* SPSC */
		check_side(1, 1, producer); /* MPMC */
		check_side(1, 0, producer); /* many producers, one consumer */
		check_side(0, 1, producer); /* one producer, many consumers */
	}
	check_stranger_read_lock(0);
	check_stranger_read_lock(1);
	check_old_format_holder();
	check_lock_outlives_holder(1);
	check_lock_outlives_holder(0);
	check_lockless_holder();
	check_identity_after_pid_reuse(0);
	check_identity_after_pid_reuse(1);
	check_stranger_live_timens_holder();
	check_open_claims_nothing();
	check_second_publisher();
	check_cli_concurrent_senders();
	check_reexec_takes_its_claims_back();
	check_two_library_copies("posix");
	check_two_library_copies("sysv");
	check_two_library_copies_unlocked();
	check_reexec_with_child_keeps_claim();
	return test_done();
}
