/* SPDX-License-Identifier: MIT */
/* /proc, read in one place (see proc.h). Everything here only reads: no
 * attach, no open of the objects themselves, nothing that changes what a
 * later look (or gc's proofs) would see. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "managed.h"
#include "proc.h"

ssize_t shmkit__proc_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return shmkit__neg_errno();
	ssize_t n;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	int err = n < 0 ? shmkit__neg_errno() : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	return n;
}

/* /proc/PID/what; ours (pid 0): the process's stat, status and comm, and
 * the rest (maps, fd, ns) from /proc/thread-self (shmkit__proc_self_dir). */
static void proc_path(char *buf, size_t cap, pid_t pid, const char *what)
{
	bool process_wide = strcmp(what, "stat") == 0 || strcmp(what, "status") == 0 ||
			    strcmp(what, "comm") == 0;

	if (pid == 0)
		snprintf(buf, cap, "%s/%s", process_wide ? "/proc/self" : shmkit__proc_self_dir(),
			 what);
	else
		snprintf(buf, cap, "/proc/%d/%s", (int)pid, what);
}

static int open_errno(void)
{
	if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
		return -errno; /* our own limits: not the process's business */
	return errno == ENOENT || errno == ESRCH ? -ENOENT : -EACCES;
}

/* ---- processes ---- */

int shmkit__proc_each_pid(int (*fn)(pid_t pid, void *arg), void *arg)
{
	/* A /proc that does not show this process shows nobody's users
	 * truthfully: an empty directory (proc not mounted: a chroot, a mount
	 * namespace that unmounted it) or another pid namespace's proc. Its
	 * walk would find no one, which reads as "nobody maps it". */
	if (access("/proc/self/stat", F_OK) != 0 && errno != EMFILE && errno != ENFILE)
		return -ENOENT;
	DIR *d = opendir("/proc");
	if (!d)
		return -ENOENT;
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end == '\0' && pid > 0 && pid <= INT_MAX)
			r = fn((pid_t)pid, arg);
	}
	closedir(d);
	return r;
}

/* comm (field 2) may hold spaces and parentheses, so fields are counted
 * from the LAST ')'. */
static int stat_at(const char *path, char *state, uint64_t *start_time)
{
	char buf[1024];
	ssize_t n = shmkit__proc_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ESRCH ? -ENOENT : (int)n;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EIO;
	p += 2; /* field 3: state */
	*state = *p;
	/* Skip fields 3..21 (19 spaces) to reach field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EIO;
	*start_time = v;
	return 0;
}

int shmkit__proc_stat(pid_t pid, char *state, uint64_t *start_time)
{
	char path[64];
	proc_path(path, sizeof(path), pid, "stat");
	return stat_at(path, state, start_time);
}

int shmkit__proc_thread_stat(char *state, uint64_t *start_time)
{
	return stat_at("/proc/thread-self/stat", state, start_time);
}

/* The value of the "key" line of /proc/PID/status (key with its colon)
 * into out: 0, -ENOENT (no such process), -ENODATA (no such line; kernels
 * add lines over time) or a negative errno. Read line by line: a long
 * Groups line (hundreds of supplementary groups) pushes what follows past
 * any fixed buffer. */
static int status_line(pid_t pid, const char *key, char *out, size_t cap)
{
	char path[64];
	proc_path(path, sizeof(path), pid, "status");
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ESRCH ? -ENOENT : shmkit__neg_errno();
	char *line = NULL;
	size_t len = 0, klen = strlen(key);
	int r = -ENODATA;
	errno = 0;
	while (getline(&line, &len, f) >= 0) {
		if (strncmp(line, key, klen) == 0) {
			snprintf(out, cap, "%s", line + klen);
			r = 0;
			break;
		}
	}
	if (r == -ENODATA && ferror(f))
		r = errno == ESRCH ? -ENOENT : (errno ? -errno : -EIO);
	free(line);
	fclose(f);
	return r;
}

int shmkit__proc_threads(pid_t pid)
{
	char val[64];
	int r = status_line(pid, "Threads:", val, sizeof(val));
	if (r < 0)
		return r == -ENODATA ? -EIO : r;
	char *end;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || end == val || v < 1 || v > INT_MAX)
		return -EIO;
	return (int)v;
}

void shmkit__proc_comm(pid_t pid, char *comm, size_t cap)
{
	char path[64];
	proc_path(path, sizeof(path), pid, "comm");
	if (cap == 0)
		return;
	comm[0] = '\0';
	if (shmkit__proc_read_file(path, comm, cap) > 0)
		comm[strcspn(comm, "\n")] = '\0';
}

uint64_t shmkit__proc_ns(pid_t pid, const char *name)
{
	char path[64], what[32];
	struct stat sb;
	snprintf(what, sizeof(what), "ns/%s", name);
	proc_path(path, sizeof(path), pid, what);
	return stat(path, &sb) == 0 ? (uint64_t)sb.st_ino : 0;
}

static uint64_t proc_net_unix_ino(pid_t pid)
{
	char path[64];
	struct stat sb;
	proc_path(path, sizeof(path), pid, "net/unix");
	return stat(path, &sb) == 0 ? (uint64_t)sb.st_ino : 0;
}

int shmkit__proc_same_net(pid_t pid)
{
	uint64_t mine = shmkit__proc_ns(0, "net"), theirs = shmkit__proc_ns(pid, "net");
	if (mine && theirs)
		return mine == theirs;
	/* The ns/net link needs ptrace rights over pid (another user's
	 * process); each network namespace has its own /proc/net entries,
	 * with inode numbers of their own, which anyone may stat */
	mine = proc_net_unix_ino(0);
	theirs = proc_net_unix_ino(pid);
	if (mine && theirs)
		return mine == theirs;
	return -1;
}

/* /proc/self/status lists our pid in every namespace from the one /proc
 * was mounted for down to our own: one number when they are the same
 * (no NSpid line before Linux 4.1: cannot be told). */
int shmkit__proc_is_ours(void)
{
	char val[256];
	if (status_line(0, "NSpid:", val, sizeof(val)) < 0)
		return 0;
	size_t numbers = 0;
	for (const char *p = val; *p; p++)
		numbers += *p >= '0' && *p <= '9' && (p == val || p[-1] == '\t' || p[-1] == ' ');
	return numbers == 1;
}

/* ---- one process's mappings and descriptors ---- */

/* The kernel's own shmem and hugetlbfs mounts, where every SysV segment
 * lives, are where memfds live too: their devices are learned from memfds
 * made and closed at once (no segment made, nothing left). A "/SYSV" line
 * on any other device is a file someone named so — a user namespace may
 * mount a tmpfs and map a file named /SYSV<key> whose inode number is a
 * shmid — not a SysV segment, and its bytes are not that segment's. */
#define SYSV_DEVS 8
static struct {
	int learned; /* 1 devs valid, -1 no memfd could be made: trust names */
	dev_t devs[SYSV_DEVS];
} sysv_mounts;
static pthread_once_t sysv_once = PTHREAD_ONCE_INIT;

static void learn_sysv_devs(void)
{
	/* default huge pages, then each size SHM_HUGE_* may ask for on x86 and
	 * arm64 (64 KiB, 2 MiB, 32 MiB, 512 MiB, 1 GiB, 16 GiB): log2 << 26 */
	static const unsigned flags[SYSV_DEVS] = {
	    0,
	    MFD_HUGETLB,
	    MFD_HUGETLB | (16u << 26),
	    MFD_HUGETLB | (21u << 26),
	    MFD_HUGETLB | (25u << 26),
	    MFD_HUGETLB | (29u << 26),
	    MFD_HUGETLB | (30u << 26),
	    MFD_HUGETLB | (34u << 26),
	};
	int any = 0;

	for (int i = 0; i < SYSV_DEVS; i++) {
		struct stat sb;
		int fd = memfd_create("shmkit-probe", MFD_CLOEXEC | flags[i]);
		sysv_mounts.devs[i] = (dev_t)-1;
		if (fd >= 0 && fstat(fd, &sb) == 0) {
			sysv_mounts.devs[i] = sb.st_dev;
			any = 1;
		}
		if (fd >= 0)
			close(fd);
	}
	sysv_mounts.learned = any ? 1 : -1;
}

static int sysv_dev(dev_t dev)
{
	pthread_once(&sysv_once, learn_sysv_devs);
	if (sysv_mounts.learned < 0)
		return 1;
	for (int i = 0; i < SYSV_DEVS; i++)
		if (sysv_mounts.devs[i] == dev)
			return 1;
	return 0;
}

/* A process whose main thread called pthread_exit() while others run has
 * a zombie leader, and /proc/PID/maps and fd/ show nothing. Its live
 * threads share its memory and descriptors: the path to `what` through
 * one of them, /proc/PID/task/TID/what (0), or -1 (not such a process). */
static int live_task_path(char *buf, size_t cap, pid_t pid, const char *what)
{
	char dir[48], state;
	uint64_t start;

	if (pid <= 0 || shmkit__proc_stat(pid, &state, &start) < 0 || state != 'Z')
		return -1;
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int r = -1;
	while (r < 0 && (e = readdir(d)) != NULL) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);
		if (*end || tid <= 0 || tid > INT_MAX || tid == pid)
			continue;
		snprintf(buf, cap, "%s/%ld/%s", dir, tid, what);
		r = 0;
	}
	closedir(d);
	return r;
}

/* fn for each line of the maps file at path, *lines counting them. */
static int each_map_at(const char *path, int (*fn)(const struct shmkit__map_line *l, void *arg),
		       void *arg, unsigned *lines)
{
	char line[PATH_MAX + 128];
	FILE *f = fopen(path, "re");
	if (!f)
		return open_errno();
	int r = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		++*lines;
		struct shmkit__map_line l;
		unsigned maj, min;
		unsigned long long ino, offset;
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %7s %llx %x:%x %llu %n", &l.start, &l.end, l.perms, &offset,
			   &maj, &min, &ino, &name_at) < 7)
			continue;
		l.offset = offset;
		char *name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		l.dev = makedev(maj, min);
		l.ino = ino;
		l.name = name;
		l.shmid = strncmp(name, "/SYSV", 5) == 0 && ino <= INT_MAX && sysv_dev(l.dev)
				  ? (int)ino
				  : -1;
		r = fn(&l, arg);
	}
	fclose(f);
	return r;
}

int shmkit__proc_each_map(pid_t pid, int (*fn)(const struct shmkit__map_line *l, void *arg),
			  void *arg)
{
	char path[96];
	unsigned lines = 0;

	proc_path(path, sizeof(path), pid, "maps");
	int r = each_map_at(path, fn, arg, &lines);
	/* none: a kernel thread, or a process whose leader is a zombie */
	if (r == 0 && lines == 0 && live_task_path(path, sizeof(path), pid, "maps") == 0)
		r = each_map_at(path, fn, arg, &lines);
	return r;
}

int shmkit__proc_each_fd(pid_t pid,
			 int (*fn)(const char *fd, const char *link, const struct stat *sb,
				   void *arg),
			 void *arg)
{
	char path[96], link[PATH_MAX];
	proc_path(path, sizeof(path), pid, "fd");
	DIR *d = opendir(path);
	if (!d && live_task_path(path, sizeof(path), pid, "fd") == 0)
		d = opendir(path);
	if (!d)
		return open_errno();
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		struct stat sb;
		int ok = fstatat(dirfd(d), e->d_name, &sb, 0) == 0;
		r = fn(e->d_name, link, ok ? &sb : NULL, arg);
	}
	closedir(d);
	return r;
}

/* ---- who uses an object ---- */

struct uses_ctx {
	const struct shmkit__obj_ref *ref;
	unsigned long addr;
	pid_t pid;
};

static int map_matches(const struct shmkit__map_line *l, void *arg)
{
	struct uses_ctx *c = arg;
	int hit = c->ref->shmid >= 0 ? l->shmid == c->ref->shmid
				     : l->shmid < 0 && l->dev == c->ref->dev && l->ino == c->ref->ino;
	if (hit)
		c->addr = l->start;
	return hit;
}

/* Is pid's descriptor fd an O_PATH one? Its /proc link's mode bits are
 * the file's open mode (r: FMODE_READ, w: FMODE_WRITE): none for O_PATH. */
static int path_fd(pid_t pid, const char *fd)
{
	char what[300], path[400];
	struct stat lsb;

	snprintf(what, sizeof(what), "fd/%s", fd);
	proc_path(path, sizeof(path), pid, what);
	return lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode) && (lsb.st_mode & 0777) == 0;
}

/* A descriptor of the object; with skip_path_fds, an O_PATH one does not
 * count (a take-over's own look at the file, or another opener's) */
static int fd_matches(const char *fd, const char *link, const struct stat *sb, void *arg)
{
	const struct uses_ctx *c = arg;
	(void)link;
	return sb && sb->st_dev == c->ref->dev && (uint64_t)sb->st_ino == c->ref->ino &&
	       !(c->ref->skip_path_fds && path_fd(c->pid, fd));
}

int shmkit__proc_pid_uses(pid_t pid, const struct shmkit__obj_ref *ref, unsigned long *addr)
{
	struct uses_ctx c = {ref, 0, pid};
	if (ref->shmid >= 0) {
		/* shmids are per IPC namespace: the same number elsewhere is another segment. */
		uint64_t mine = shmkit__proc_ns(0, "ipc"), theirs = shmkit__proc_ns(pid, "ipc");
		if (mine && theirs && mine != theirs)
			return 0;
	}
	int r = shmkit__proc_each_map(pid, map_matches, &c);
	if (r == 0 && ref->shmid < 0) /* SysV has no descriptors */
		r = shmkit__proc_each_fd(pid, fd_matches, &c);
	if (r == 1 && addr)
		*addr = c.addr;
	return r;
}

struct users_ctx {
	const struct shmkit__obj_ref *ref;
	pid_t self;
	int (*fn)(pid_t pid, void *arg);
	void *arg;
	struct shmkit__users *u;
};

/* Could a process running as pid's uid have opened the object?
 * Conservative: any group or other permission says yes. */
static int could_access(pid_t pid, const struct shmkit__obj_ref *ref)
{
	char path[32];
	struct stat sb;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &sb) < 0)
		return errno != ENOENT;
	return sb.st_uid == 0 || sb.st_uid == ref->owner || (ref->mode & 0066) != 0;
}

static int users_one(pid_t pid, void *arg)
{
	struct users_ctx *c = arg;
	if (pid == c->self)
		return 0;
	int r = shmkit__proc_pid_uses(pid, c->ref, NULL);
	if (r == 1) {
		c->u->n_users++;
		return c->fn ? c->fn(pid, c->arg) : 0;
	}
	int own_limit = r == -EMFILE || r == -ENFILE || r == -ENOMEM;
	if ((r == -EACCES && could_access(pid, c->ref)) || own_limit) {
		if (!c->u->n_uninspected)
			c->u->uninspected = pid;
		c->u->n_uninspected++;
	}
	/* Out of descriptors or memory ourselves: stop; this process counts as
	 * uninspected (so gc keeps the object) and the caller hears why. */
	return own_limit ? r : 0;
}

int shmkit__proc_users(const struct shmkit__obj_ref *ref, int skip_self,
		       int (*fn)(pid_t pid, void *arg), void *arg, struct shmkit__users *u)
{
	struct users_ctx c = {ref, skip_self ? getpid() : 0, fn, arg, u};
	memset(u, 0, sizeof(*u));
	int r = shmkit__proc_each_pid(users_one, &c);
	if (r == -ENOENT)
		u->n_uninspected = -1;
	return r;
}

/* ---- SysV ---- */

static int parse_row(const char *line, struct shmkit__sysv_row *r)
{
	long long key, atime, dtime, ctime;
	unsigned long long size, nattch;
	/* key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime ... */
	if (sscanf(line, "%lld %d %o %llu %d %d %llu %u %u %*u %*u %lld %lld %lld", &key, &r->shmid,
		   &r->perms, &size, &r->cpid, &r->lpid, &nattch, &r->uid, &r->gid, &atime, &dtime,
		   &ctime) != 12)
		return -1;
	r->key = key;
	r->size = size;
	r->nattch = nattch;
	r->atime = atime;
	r->dtime = dtime;
	r->ctime = ctime;
	return 0;
}

int shmkit__sysv_each(int (*fn)(const struct shmkit__sysv_row *r, void *arg), void *arg)
{
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	if (!f)
		return -ENOENT;
	char line[512];
	int r = 0;
	if (!fgets(line, sizeof(line), f)) { /* the column titles */
		fclose(f);
		return 0;
	}
	while (r == 0 && fgets(line, sizeof(line), f)) {
		struct shmkit__sysv_row row;
		if (parse_row(line, &row) == 0)
			r = fn(&row, arg);
	}
	fclose(f);
	return r;
}

struct row_ctx {
	int shmid;
	struct shmkit__sysv_row *out;
};

static int row_match(const struct shmkit__sysv_row *r, void *arg)
{
	struct row_ctx *c = arg;
	if (r->shmid != c->shmid)
		return 0;
	*c->out = *r;
	return 1;
}

int shmkit__sysv_row(int shmid, struct shmkit__sysv_row *out)
{
	struct row_ctx c = {shmid, out};
	return shmkit__sysv_each(row_match, &c) == 1 ? 0 : -ENOENT;
}

void shmkit__sysv_row_stat(struct shmkit_stat *st, const struct shmkit__sysv_row *r)
{
	long page = sysconf(_SC_PAGESIZE);
	st->size = r->size;
	st->real_size = (r->size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	st->mode = r->perms & 0777;
	st->marked_for_removal = (r->perms & 01000) != 0;
	st->uid = r->uid;
	st->gid = r->gid;
	st->creator_pid = r->cpid;
	st->last_pid = r->lpid;
	st->attach_count = (int64_t)r->nattch;
	st->sysv_key = (int64_t)(unsigned)r->key;
	st->sysv_id = r->shmid;
	st->atime = r->atime;
	st->dtime = r->dtime;
	st->ctime = r->ctime;
	st->mtime = r->ctime;
}

static int sysv_pid_alive(int pid)
{
	if (pid == 0)
		return -EXDEV; /* the kernel shows 0 for a pid outside our namespace */
	return shmkit__pid_alive(pid);
}

int shmkit__sysv_cpid_alive(const struct shmkit__sysv_row *r)
{
	return sysv_pid_alive(r->cpid);
}

int shmkit__sysv_lpid_alive(const struct shmkit__sysv_row *r)
{
	if (r->lpid == 0 && r->atime == 0)
		return 0; /* never attached: there is no last user */
	return sysv_pid_alive(r->lpid);
}

int shmkit__proc_read_mem(pid_t pid, unsigned long addr, void *buf, size_t len)
{
	struct iovec local = {buf, len};
	struct iovec remote = {(void *)addr, len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return shmkit__neg_errno();
	return (size_t)n == len ? 0 : -EFAULT;
}

struct peek_ctx {
	int shmid;
	uint64_t off;
	void *buf;
	size_t len;
	pid_t via;
};

/* Where pid maps byte off of a SysV segment, and how many bytes from there
 * that one mapping holds: a mapping may start past the segment's first
 * page (munmap of its head) or end before its last. */
struct cover_ctx {
	int shmid;    /* the SysV segment; -1: the file dev:ino below */
	dev_t dev;
	uint64_t ino;
	uint64_t off;
	unsigned long addr;
	uint64_t avail;
};

static int map_covers(const struct shmkit__map_line *l, void *arg)
{
	struct cover_ctx *c = arg;
	uint64_t len = l->end - l->start;
	/* a file's mapping must be shared: a private one (copy-on-write) that
	 * its process wrote holds that process's copy, not the file's bytes */
	int same = c->shmid >= 0 ? l->shmid == c->shmid
				 : l->shmid < 0 && l->perms[3] == 's' && l->dev == c->dev &&
					   l->ino == c->ino;
	if (!same || c->off < l->offset || c->off - l->offset >= len)
		return 0;
	c->addr = l->start + (unsigned long)(c->off - l->offset);
	c->avail = len - (c->off - l->offset);
	return 1;
}

/* Bytes of our own memory: process_vm_readv on ourselves, or where that
 * call is refused (a seccomp filter such as systemd's
 * SystemCallFilter=@system-service or a container's default profile, a
 * kernel without it; or our main thread exited, a zombie with no memory)
 * pread of /proc/thread-self/mem. Both fail, never fault, when
 * the range is no longer mapped (another thread unmapped it); neither
 * attaches anything, so the segment's last-user pid and times stay. */
static int read_own_mem(unsigned long addr, void *buf, size_t len)
{
	int r = shmkit__proc_read_mem(getpid(), addr, buf, len);
	if (r == 0 || r == -EFAULT)
		return r;
	char path[48];
	snprintf(path, sizeof(path), "%s/mem", shmkit__proc_self_dir());
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return r; /* process_vm_readv's error */
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)addr);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			break;
		}
		buf = (char *)buf + n;
		addr += (unsigned long)n;
		len -= (size_t)n;
	}
	close(fd);
	return len ? -EFAULT : 0;
}

int shmkit__sysv_read_refused(void)
{
	volatile unsigned char probe = 1;
	unsigned char copy;
	int r = shmkit__proc_read_mem(getpid(), (unsigned long)&probe, &copy, 1);
	return r == -EPERM || r == -ENOSYS || r == -EACCES ? r : 0;
}

/* pid 0: this process (its own mapping, read as above). `what` names the
 * segment (its shmid, or dev and ino) and the offset to start at. */
static int peek_mapped(pid_t pid, struct cover_ctx what, void *buf, size_t len)
{
	if (what.shmid >= 0) {
		/* shmids are per IPC namespace: the same number elsewhere is another segment */
		uint64_t mine = shmkit__proc_ns(0, "ipc");
		uint64_t theirs = pid ? shmkit__proc_ns(pid, "ipc") : 0;
		if (mine && theirs && mine != theirs)
			return -ENOENT;
	}
	for (uint64_t off = what.off; len > 0;) {
		struct cover_ctx c = what;
		c.off = off;
		if (shmkit__proc_each_map(pid, map_covers, &c) != 1)
			return -ENOENT;
		size_t n = c.avail < len ? (size_t)c.avail : len;
		/* fails when not ours to read (ptrace rules, a refused system
		 * call), or it just detached */
		if ((pid ? shmkit__proc_read_mem(pid, c.addr, buf, n) : read_own_mem(c.addr, buf, n)) <
		    0)
			return -ENOENT;
		buf = (char *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

int shmkit__proc_peek_at(pid_t pid, unsigned long addr, void *buf, size_t len)
{
	return pid == getpid() ? read_own_mem(addr, buf, len)
			       : shmkit__proc_read_mem(pid, addr, buf, len);
}

int shmkit__proc_maps_file(pid_t pid, unsigned long start, unsigned long end, uint64_t dev,
			   uint64_t ino)
{
	char path[80];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
	if (stat(path, &sb) != 0)
		return errno == ENOENT ? 0 : -errno; /* no such mapping now */
	return (uint64_t)sb.st_dev == dev && (uint64_t)sb.st_ino == ino;
}

static int peek_pid(pid_t pid, int shmid, uint64_t off, void *buf, size_t len)
{
	return peek_mapped(pid, (struct cover_ctx){.shmid = shmid, .off = off}, buf, len);
}

int shmkit__sysv_peek_pid(pid_t pid, int shmid, uint64_t off, void *buf, size_t len)
{
	return peek_pid(pid == getpid() ? 0 : pid, shmid, off, buf, len);
}

int shmkit__file_peek_pid(pid_t pid, uint64_t dev, uint64_t ino, uint64_t off, void *buf,
			  size_t len)
{
	struct cover_ctx what = {.shmid = -1, .dev = (dev_t)dev, .ino = ino, .off = off};
	return peek_mapped(pid == getpid() ? 0 : pid, what, buf, len);
}

static int peek_one(pid_t pid, void *arg)
{
	struct peek_ctx *c = arg;
	if (pid == getpid() || peek_pid(pid, c->shmid, c->off, c->buf, c->len) < 0)
		return 0;
	c->via = pid;
	return 1;
}

int shmkit__sysv_peek(int shmid, uint64_t off, void *buf, size_t len, pid_t *via)
{
	struct peek_ctx c = {shmid, off, buf, len, 0};
	/* this process first, from its own mapping: a publisher or subscriber
	 * looking at its own topic (even where reading others is refused) */
	if (peek_pid(0, shmid, off, buf, len) == 0)
		c.via = getpid();
	else if (shmkit__proc_each_pid(peek_one, &c) != 1)
		return -ENOENT;
	if (via)
		*via = c.via;
	return 0;
}

const char *shmkit__sysv_unread_why(const struct shmkit_stat *st, char *buf, size_t cap)
{
	static const char attaching[] = "attaching to look would rewrite its last-user pid and "
					"times, which gc --foreign relies on";
	int refused = st->attach_count == 0 ? 0 : shmkit__sysv_read_refused();
	if (st->attach_count == 0)
		snprintf(buf, cap, "nobody has it attached, and %s", attaching);
	else if (refused)
		snprintf(buf, cap,
			 "reading the memory of a process that has it attached is refused here "
			 "(process_vm_readv: %s), and %s",
			 shmkit_strerror(refused), attaching);
	else if (st->attach_count > 0)
		snprintf(buf, cap,
			 "attached %lld time%s, but by no process we may read (another user's, or "
			 "not visible here), and %s",
			 (long long)st->attach_count, st->attach_count == 1 ? "" : "s", attaching);
	else
		snprintf(buf, cap, "no process we may read has it attached, and %s", attaching);
	return buf;
}

uint64_t shmkit__proc_page_size(pid_t pid, unsigned long addr)
{
	char path[64], line[512];
	proc_path(path, sizeof(path), pid, "smaps");
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	int in = 0;
	unsigned long v;
	uint64_t kb = 0;
	while (fgets(line, sizeof(line), f)) {
		char *dash = strchr(line, '-'), *sp = strchr(line, ' ');
		if (dash && sp && dash < sp && sscanf(line, "%lx-", &v) == 1)
			in = v == addr; /* a mapping's first line */
		else if (in && sscanf(line, "KernelPageSize: %lu kB", &v) == 1) {
			kb = v;
			break;
		}
	}
	fclose(f);
	return kb * 1024;
}
