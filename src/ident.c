/* SPDX-License-Identifier: MIT */
/* Process identities that survive pid reuse: pid + start time (clock ticks
 * since boot, /proc/PID/stat field 22) + boot id. A pid alone is never taken
 * as proof of life: the kernel recycles pids, and a segment outlives reboots
 * when it is file-backed. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "managed.h"
#include "proc.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The boot id as 16 bytes (the kernel prints it as a UUID). */
int shmkit__boot_id(uint8_t out[16])
{
	static uint8_t cached[16];
	static atomic_int state; /* 0 unknown, 1 cached (release below) */
	char buf[64];

	/* Pairs with the release store below: cached[] is complete when state is 1. */
	if (atomic_load_explicit(&state, memory_order_acquire) == 1) {
		memcpy(out, cached, 16);
		return 0;
	}
	ssize_t n = shmkit__proc_read_file("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	uint8_t id[16];
	int nib = 0;
	for (const char *p = buf; *p && nib < 32; p++) {
		if (*p == '-')
			continue;
		int v = hexval((unsigned char)*p);
		if (v < 0)
			break;
		if (nib % 2 == 0)
			id[nib / 2] = (uint8_t)(v << 4);
		else
			id[nib / 2] |= (uint8_t)v;
		nib++;
	}
	if (nib != 32)
		return -EIO;
	memcpy(out, id, 16);
	/* Several threads may fill it at once with the same bytes; harmless. */
	memcpy(cached, id, 16);
	/* Pairs with the acquire load above. */
	atomic_store_explicit(&state, 1, memory_order_release);
	return 0;
}

static struct shmkit__ident self_ident;
static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;

/* A forked child starts with no identity. Keyed by pid alone, the cache
 * of a process that never asked (a parent's, copied by fork) would be
 * taken as its own by a grandchild that gets the parent's pid back (pid
 * reuse): a live holder recorded with another's start time, which
 * ident_dead_proven() takes for proof of its death. So the pid the cache
 * describes lives in a page the kernel zeroes in every child
 * (MADV_WIPEONFORK, Linux 4.14): _Fork() and raw clone(2), which run no
 * atfork handlers, are covered too. Without it, a static that an atfork
 * hook clears. Not pthread_once (its completion makes a futex call); a
 * race maps a page too many and gives it back, or hooks once anyway. */
static atomic_int self_pid_static;
static _Atomic(atomic_int *) self_pid_at;
static atomic_int self_hooked;

static void self_forget(void)
{
	atomic_store_explicit(&self_pid_static, 0, memory_order_relaxed);
	/* the only thread now: a parent's thread may have held it at fork */
	pthread_mutex_init(&self_lock, NULL);
}

static atomic_int *wiped_cell(void)
{
#ifdef MADV_WIPEONFORK
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, page, MADV_WIPEONFORK) == 0)
		return p;
	munmap(p, page);
#endif
	return NULL;
}

/* Where the pid self_ident describes is kept (0 = none yet). */
static atomic_int *self_pid_cell(void)
{
	atomic_int *cell = atomic_load_explicit(&self_pid_at, memory_order_acquire);
	if (cell)
		return cell;
	if (!atomic_exchange(&self_hooked, 1))
		pthread_atfork(NULL, NULL, self_forget);
	atomic_int *mine = wiped_cell(), *none = NULL;
	if (!mine)
		mine = &self_pid_static;
	if (atomic_compare_exchange_strong(&self_pid_at, &none, mine))
		return mine;
	if (mine != &self_pid_static)
		munmap(mine, (size_t)sysconf(_SC_PAGESIZE));
	return none;
}

const struct shmkit__ident *shmkit__ident_self(void)
{
	pid_t pid = getpid();
	atomic_int *self_pid = self_pid_cell();

	/* Pairs with the release store below: self_ident is complete for this pid. */
	if (atomic_load_explicit(self_pid, memory_order_acquire) == pid)
		return &self_ident;
	pthread_mutex_lock(&self_lock);
	if (atomic_load_explicit(self_pid, memory_order_relaxed) != pid) {
		/* A fresh identity (first call, or a child after fork). Without
		 * /proc the fields stay 0: ident_alive() then says "unknown". */
		struct shmkit__ident id = {.pid = (uint32_t)pid};
		char st;
		/* /proc/self: right even when /proc belongs to another pid namespace. */
		if (shmkit__proc_stat(0, &st, &id.start_time) < 0)
			id.start_time = 0;
		id.pidns = (uint32_t)shmkit__proc_ns(0, "pid");
		if (shmkit__boot_id(id.boot_id) < 0)
			memset(id.boot_id, 0, sizeof(id.boot_id));
		self_ident = id;
		/* Pairs with the acquire load above. */
		atomic_store_explicit(self_pid, pid, memory_order_release);
	}
	pthread_mutex_unlock(&self_lock);
	return &self_ident;
}

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int shmkit__pid_alive(pid_t pid)
{
	if (pid <= 0)
		return -EINVAL;
	if (kill(pid, 0) == 0 || errno == EPERM)
		return 1;
	return errno == ESRCH ? 0 : shmkit__neg_errno();
}

/* The stat line describes the thread group's leader only. A leader that
 * called pthread_exit() stays a zombie while its other threads run and
 * touch shared memory, so a zombie is dead only when it is the group's last
 * thread (the count includes the unreaped leader itself). */
static int zombie_alive(pid_t pid)
{
	int threads = shmkit__proc_threads(pid);
	if (threads == -ENOENT)
		return 0;
	if (threads < 0)
		return threads;
	return threads > 1;
}

int shmkit__ident_alive(const struct shmkit__ident *id)
{
	uint32_t pid = id->pid;
	uint64_t want_start = id->start_time;
	uint8_t boot[16];

	if (pid == 0 || pid > (uint32_t)INT32_MAX)
		return -EINVAL;
	if (is_zero(id->boot_id, sizeof(id->boot_id)) || want_start == 0)
		return -ENODATA; /* recorded without /proc: cannot tell */
	int err = shmkit__boot_id(boot);
	if (err < 0)
		return err;
	if (memcmp(boot, id->boot_id, sizeof(boot)) != 0)
		return 0; /* recorded in another boot: that process is gone */
	/* A pid from another pid namespace names some other process here (or
	 * none): /proc cannot judge it, so it is never declared dead. */
	uint32_t my_ns = shmkit__ident_self()->pidns;
	if (id->pidns != 0 && my_ns != 0 && id->pidns != my_ns)
		return -EXDEV;

	char state;
	uint64_t start;
	err = shmkit__proc_stat((pid_t)pid, &state, &start);
	if (err == -ENOENT) {
		/* No /proc entry: dead, if /proc itself is there to ask. */
		int k = shmkit__pid_alive((pid_t)pid);
		return k == 0 ? 0 : (k == 1 ? -EIO : k);
	}
	if (err < 0)
		return err;
	if (start != want_start)
		return 0; /* the pid was reused by another process */
	if (state == 'Z' || state == 'X' || state == 'x')
		return zombie_alive((pid_t)pid);
	return 1;
}

/* The process that has `pid` now runs in our time namespace: the start
 * time /proc shows us is then the one it recorded for itself (a time
 * namespace shows start times moved by its boottime offset). Without time
 * namespaces in the kernel the links are missing: not told. */
static int same_time_ns(pid_t pid)
{
	uint64_t mine = shmkit__proc_ns(0, "time");
	return mine != 0 && shmkit__proc_ns(pid, "time") == mine;
}

int shmkit__ident_same_boot(const struct shmkit__ident *id)
{
	uint8_t boot[16];
	return shmkit__boot_id(boot) < 0 || memcmp(boot, id->boot_id, sizeof(boot)) == 0;
}

/* ident_alive() says dead (0) for four reasons: another boot, no process
 * with the pid, the very process a zombie, or the pid's process started at
 * another time. Each is proof only where our view is the holder's: the
 * same pid namespace (kill(2) then answers for its pid), a /proc mounted
 * for that namespace, and for a start time that differs, the same time
 * namespace. A holder that joined another time namespace after recording
 * its identity (setns(2), CAP_SYS_ADMIN) is misjudged here; nothing
 * recorded tells it apart. */
int shmkit__ident_dead_proven(const struct shmkit__ident *id)
{
	pid_t pid = (pid_t)id->pid;

	if (id->pid == 0 || id->pid > (uint32_t)INT32_MAX)
		return 0;
	if (!shmkit__ident_same_boot(id))
		return 1;
	uint32_t my_ns = shmkit__ident_self()->pidns;
	if (id->pidns == 0 || id->pidns != my_ns)
		return 0;
	int alive = shmkit__pid_alive(pid);
	if (alive <= 0)
		return alive == 0;
	if (!shmkit__proc_is_ours())
		return 0;
	char state;
	uint64_t start;
	if (shmkit__proc_stat(pid, &state, &start) < 0)
		return 0;
	if (start == id->start_time)
		return state == 'Z' || state == 'X' || state == 'x' ? zombie_alive(pid) == 0 : 0;
	return same_time_ns(pid);
}

/* ---- naming a process in messages ----
 * A pid recorded in another pid namespace (a container sharing the
 * segment) is that namespace's number: "pid 1" read here names init. */

struct ns_search {
	const struct shmkit__ident *id;
	pid_t found;
};

/* Is pid, in our view, the process id names: in id's pid namespace, with
 * id's pid there (the last NSpid of its status) and id's start time? */
static int is_ident(pid_t pid, void *arg)
{
	struct ns_search *q = arg;
	char path[64], buf[2048], state;
	uint64_t start;

	if (shmkit__proc_ns(pid, "pid") != q->id->pidns)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	ssize_t n = shmkit__proc_read_file(path, buf, sizeof(buf));
	const char *line = n > 0 ? strstr(buf, "\nNSpid:") : NULL;
	if (!line)
		return 0;
	const char *end = strchr(line + 1, '\n'), *last = NULL;
	for (const char *p = line + 8; p < (end ? end : buf + n); p++)
		if (*p >= '0' && *p <= '9' && (p[-1] == ' ' || p[-1] == '\t'))
			last = p;
	if (!last || strtoul(last, NULL, 10) != q->id->pid)
		return 0;
	if (shmkit__proc_stat(pid, &state, &start) < 0 || start != q->id->start_time)
		return 0;
	q->found = pid;
	return 1;
}

const char *shmkit__ident_pid_str(const struct shmkit__ident *id, char *buf, size_t cap)
{
	uint32_t my_ns = shmkit__ident_self()->pidns;
	struct ns_search q = {id, 0};

	if (id->pidns == 0 || my_ns == 0 || id->pidns == my_ns) {
		snprintf(buf, cap, "pid %u", id->pid);
		return buf;
	}
	if (shmkit__proc_is_ours())
		shmkit__proc_each_pid(is_ident, &q);
	if (q.found)
		snprintf(buf, cap, "pid %d (%u in its own pid namespace)", (int)q.found, id->pid);
	else
		snprintf(buf, cap, "pid %u of another pid namespace", id->pid);
	return buf;
}

/* ---- earlier images of this process ----
 * execve(2) keeps a process's pid and start time, so a claim an earlier
 * image of it made (a role, an attach slot, a topic's publisher) still
 * names a live process. But exec dropped every handle, and with them the
 * open file descriptions whose locks said "alive": nothing can use or
 * release that claim any more, and the new image would be refused its own
 * role for good. So each image draws a token and records it beside its
 * identity; an entry that names this process with another token is an
 * earlier image's, and dead. Only the process itself can judge its images:
 * to others the entry names a live process, which it is until it reclaims
 * the entry. The token is drawn, not taken from AT_RANDOM: those bytes are
 * the stack canary and the pointer guard, which shared memory must not
 * show. A fork shares its parent's token, but not its pid. */

static uint32_t draw_token(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		/* no entropy yet (early boot): the clock and where we were loaded */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint32_t)ts.tv_nsec ^ (uint32_t)((uintptr_t)&v >> 4) ^ (uint32_t)getpid() << 16;
	}
	/* never 0 (an entry an older library wrote), in the low half too
	 * (an attach slot keeps 16 bits) */
	return v & 0xffffu ? v : v | 1u;
}

uint32_t shmkit__image_token(void)
{
	static _Atomic uint32_t token;
	uint32_t t = atomic_load_explicit(&token, memory_order_relaxed);
	if (t)
		return t;
	uint32_t none = 0, mine = draw_token();
	/* one token per image, whichever thread draws first */
	if (atomic_compare_exchange_strong_explicit(&token, &none, mine, memory_order_relaxed,
						    memory_order_relaxed))
		return mine;
	return none;
}

int shmkit__ident_earlier_image(const struct shmkit__ident *id, uint32_t image, uint32_t mask)
{
	const struct shmkit__ident *me = shmkit__ident_self();
	/* no token recorded, or an identity that cannot be told apart from
	 * another process's (no /proc when it was taken) */
	if ((image & mask) == 0 || me->start_time == 0 || me->pidns == 0)
		return 0;
	return id->pid == me->pid && id->pidns == me->pidns && id->start_time == me->start_time &&
	       memcmp(id->boot_id, me->boot_id, sizeof(me->boot_id)) == 0 &&
	       (image & mask) != (shmkit__image_token() & mask);
}
