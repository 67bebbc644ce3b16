/* shmkit_gc: remove what is provably orphaned, and say why for everything.
 *
 * Candidates are the kernel-persistent segments: POSIX (/dev/shm) and SysV
 * (/proc/sysvipc/shm). A shmkit object is removed only when its creator and
 * every attacher are provably dead (identity = pid + start time + boot id)
 * AND no live process maps it or holds a descriptor to it (/proc/PID/maps,
 * /proc/PID/fd; for SysV also the kernel's attach count). Segments without a
 * shmkit header belong to other programs: kept, except with SHMKIT_GC_FOREIGN
 * a SysV segment with no attaches whose creator and last user are both gone.
 * Whatever cannot be decided (permission denied, corrupt header, a process
 * whose maps cannot be read) is skipped and said. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "managed.h"

struct gc_ctx {
	const char *prefix; /* only URIs starting with it; NULL = all */
	unsigned flags;
	int (*cb)(const struct shmkit_gc_entry *e, void *arg);
	void *arg;
	int removed;
};

/* ---- who uses an object: one walk over /proc ---- */

/* What identifies an object in /proc: dev+ino of a file, or a SysV shmid. */
struct object_ref {
	dev_t dev;
	ino_t ino;
	int shmid; /* -1 for files */
	uid_t owner;
	unsigned mode;
};

/* Does this maps line name the object? */
static int maps_line_matches(const char *line, const struct object_ref *ref)
{
	unsigned maj, min;
	unsigned long long ino;
	char name[64] = "";
	if (sscanf(line, "%*x-%*x %*s %*x %x:%x %llu %63s", &maj, &min, &ino, name) < 3)
		return 0;
	if (ref->shmid >= 0)
		return strncmp(name, "/SYSV", 5) == 0 && ino == (unsigned long long)ref->shmid;
	return makedev(maj, min) == ref->dev && ino == (unsigned long long)ref->ino;
}

/* 1 uses it, 0 does not, -EACCES cannot be inspected, -ENOENT gone. */
static int pid_uses_object(pid_t pid, const struct object_ref *ref)
{
	char path[64], line[4096];
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -EACCES;
	while (!found && fgets(line, sizeof(line), f))
		found = maps_line_matches(line, ref);
	fclose(f);
	if (found || ref->shmid >= 0)
		return found; /* SysV has no descriptors */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ENOENT : -EACCES;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		struct stat sb;
		if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &sb, 0) == 0)
			found = sb.st_dev == ref->dev && sb.st_ino == ref->ino;
	}
	closedir(d);
	return found;
}

/* Could a process running as uid have opened an object with this owner and
 * mode? Conservative: any group or other permission says yes. */
static int uid_could_access(uid_t uid, const struct object_ref *ref)
{
	return uid == 0 || uid == ref->owner || (ref->mode & 0066) != 0;
}

struct use_report {
	pid_t user;	   /* a process that maps or holds it, 0 if none */
	int n_uninspected; /* processes that might, whose /proc we cannot read */
	pid_t uninspected; /* one of them */
};

static void find_users(const struct object_ref *ref, struct use_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	DIR *d = opendir("/proc");
	if (!d) {
		rep->n_uninspected = -1; /* no /proc: nothing can be proven */
		return;
	}
	struct dirent *e;
	pid_t self = getpid();
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == self)
			continue;
		int r = pid_uses_object((pid_t)pid, ref);
		if (r == 1) {
			rep->user = (pid_t)pid;
			break;
		}
		struct stat sb;
		if (r == -EACCES && fstatat(dirfd(d), e->d_name, &sb, 0) == 0 &&
		    uid_could_access(sb.st_uid, ref)) {
			if (!rep->n_uninspected)
				rep->uninspected = (pid_t)pid;
			rep->n_uninspected++;
		}
	}
	closedir(d);
}

/* ---- reporting ---- */

static int report(struct gc_ctx *c, const char *uri, enum shmkit_gc_verdict v, int managed,
		  uint32_t kind, int error, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int report(struct gc_ctx *c, const char *uri, enum shmkit_gc_verdict v, int managed,
		  uint32_t kind, int error, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (v == SHMKIT_GC_REMOVED || v == SHMKIT_GC_WOULD_REMOVE)
		c->removed++;
	struct shmkit_gc_entry e = {
	    .uri = uri,
	    .verdict = v,
	    .managed = managed,
	    .kind = kind,
	    .reason = reason,
	    .error = error,
	};
	return c->cb ? c->cb(&e, c->arg) : 0;
}

static const char *alive_word(int a)
{
	return a == 1 ? "alive" : a == 0 ? "dead" : "unknown";
}

/* ---- managed objects ---- */

/* Decides on a managed header. Returns 1 if provably orphaned as far as
 * the header can tell (why in `why`), 0 kept, -1 skipped (why in `why`). */
static int header_verdict(const void *hdr, size_t size, char *why, size_t cap)
{
	struct shmkit__liveness lv;
	int r = shmkit__header_liveness(hdr, size, &lv);
	if (r < 0) {
		snprintf(why, cap, "shmkit header unreadable (%s%s%s): cannot prove it orphaned",
			 shmkit_strerror(r), *shmkit_last_error_detail() ? ": " : "",
			 shmkit_last_error_detail());
		return -1;
	}
	if (lv.creator_alive == 1) {
		snprintf(why, cap, "creator pid %d is alive", (int)lv.creator_pid);
		return 0;
	}
	if (lv.creator_alive < 0) {
		snprintf(why, cap, "cannot tell whether creator pid %d is alive (%s)",
			 (int)lv.creator_pid, shmkit_strerror(lv.creator_alive));
		return -1;
	}
	if (lv.n_alive) {
		snprintf(why, cap, "attached pid %d is alive (%d attached alive)",
			 (int)lv.first_alive, lv.n_alive);
		return 0;
	}
	if (lv.n_unknown) {
		snprintf(why, cap, "cannot tell whether attached pid %d is alive",
			 (int)lv.first_alive);
		return -1;
	}
	snprintf(why, cap, "creator pid %d dead, %d attacher%s dead", (int)lv.creator_pid,
		 lv.n_dead, lv.n_dead == 1 ? "" : "s");
	return 1;
}

/* ---- the kernel's word on open files: a write lease ----
 * The kernel grants a write lease on a file only when no other open file
 * refers to it (read or write; every mapping holds one). Processes whose
 * /proc we may not read (more privileged ones) are covered by it. The probe
 * runs in a child: a lease break signals the holder with SIGIO, which would
 * end the caller. */

/* Does this kernel count read-only opens for leases (CONFIG_IMA)? Child only. */
static int lease_counts_readers(void)
{
	int w = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w < 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", w);
	int r1 = open(path, O_RDONLY | O_CLOEXEC);
	close(w);
	if (r1 < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r1);
	int r2 = open(path, O_RDONLY | O_CLOEXEC);
	int counted = r2 >= 0 && fcntl(r2, F_SETLEASE, F_WRLCK) < 0 && errno == EAGAIN;
	if (r2 >= 0)
		close(r2);
	close(r1);
	return counted;
}

/* 1 nobody else has the file open or mapped, 0 somebody has, negative errno
 * when the kernel cannot be asked (no lease rights, readers not counted). */
static int lease_probe(const char *path)
{
	pid_t pid = fork();
	if (pid < 0)
		return shmkit__neg_errno();
	if (pid == 0) {
		if (!lease_counts_readers())
			_exit(3);
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			_exit(errno == EWOULDBLOCK ? 1 : 4); /* another lease holder: in use */
		if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
			fcntl(fd, F_SETLEASE, F_UNLCK);
			_exit(0);
		}
		_exit(errno == EAGAIN ? 1 : 5);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return shmkit__neg_errno();
	if (WIFSIGNALED(status))
		return 0; /* SIGIO: someone opened it during the probe */
	switch (WEXITSTATUS(status)) {
	case 0:
		return 1;
	case 1:
		return 0;
	case 3:
		return -ENOTSUP;
	default:
		return -EACCES;
	}
}

static void comm_of(pid_t pid, char *comm, size_t cap)
{
	char path[64];
	snprintf(comm, cap, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fgets(comm, (int)cap, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
}

/* Final check before removal: who maps or holds it. 1 free (proof in
 * `why`), 0 kept, -1 skipped. `path` (POSIX) enables the lease probe;
 * kernel_counted (SysV: nattch was 0) makes uninspectable processes moot. */
static int users_verdict(const struct object_ref *ref, const char *path, int kernel_counted,
			 char *why, size_t cap)
{
	struct use_report rep;
	find_users(ref, &rep);
	if (rep.user) {
		char comm[32];
		comm_of(rep.user, comm, sizeof(comm));
		snprintf(why, cap, "mapped or held open by live pid %d (%s)", (int)rep.user, comm);
		return 0;
	}
	if (kernel_counted) {
		snprintf(why, cap, "no attaches (kernel count)");
		return 1;
	}
	int lease = path ? lease_probe(path) : -ENOTSUP;
	if (lease == 0) {
		snprintf(why, cap,
			 "a process that cannot be inspected has it open or mapped "
			 "(the kernel refused a write lease)");
		return 0;
	}
	if (lease == 1) {
		snprintf(why, cap,
			 "no live process maps or holds it (/proc%s, and the kernel "
			 "granted a write lease)",
			 rep.n_uninspected ? " where readable" : "");
		return 1;
	}
	if (rep.n_uninspected < 0) {
		snprintf(why, cap, "/proc is not readable: cannot see who maps it");
		return -1;
	}
	if (rep.n_uninspected) {
		snprintf(why, cap,
			 "%d process%s (e.g. pid %d) may map it but cannot be inspected "
			 "(permission denied), and the kernel cannot be asked (%s)",
			 rep.n_uninspected, rep.n_uninspected == 1 ? "" : "es",
			 (int)rep.uninspected, shmkit_strerror(lease));
		return -1;
	}
	snprintf(why, cap, "no live process maps or holds it (/proc)");
	return 1;
}

/* ---- POSIX ---- */

/* Looks at /dev/shm/name: 2 not a segment (ignore), 3 foreign, else the
 * header_verdict() (1 orphaned as far as the header says, 0 kept, -1
 * skipped), or a negative errno when it cannot be looked at. */
static int posix_peek(int dirfd_shm, const char *name, struct stat *sb, uint32_t *kind, char *why,
		      size_t cap)
{
	int fd = openat(dirfd_shm, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == EPERM ? -EACCES : shmkit__neg_errno(); /* -1 means "skipped" */
	if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode)) {
		close(fd);
		return 2;
	}
	if ((uint64_t)sb->st_size < SHMKIT__HEADER_SIZE) {
		close(fd);
		return 3;
	}
	void *hdr = mmap(NULL, SHMKIT__HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	int err = hdr == MAP_FAILED ? shmkit__neg_errno() : 0;
	close(fd);
	if (err)
		return err;
	const struct shmkit__header *h = hdr;
	uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	uint64_t init =
	    atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire);
	int r = 3;
	if (magic == SHMKIT__MAGIC || (magic == 0 && SHMKIT__WORD_PID(init) != 0)) {
		*kind = h->kind;
		/* The peek reads only the first 4096 bytes; the size is the file's. */
		r = header_verdict(hdr, (size_t)sb->st_size, why, cap);
	}
	munmap(hdr, SHMKIT__HEADER_SIZE);
	return r;
}

static int matches(const struct gc_ctx *c, const char *uri)
{
	return !c->prefix || strncmp(uri, c->prefix, strlen(c->prefix)) == 0;
}

static int gc_posix_one(struct gc_ctx *c, int dirfd_shm, const char *name)
{
	char uri[300], why[400], why2[300];
	struct stat sb;
	uint32_t kind = 0;
	snprintf(uri, sizeof(uri), "posix:/%s", name);
	if (!matches(c, uri))
		return 0;

	int hv = posix_peek(dirfd_shm, name, &sb, &kind, why, sizeof(why));
	if (hv < -1)
		return report(c, uri, SHMKIT_GC_SKIPPED, 0, 0, hv, "cannot look inside (%s)",
			      shmkit_strerror(hv));
	if (hv == 2)
		return 0;
	if (hv == 3)
		return report(
		    c, uri, SHMKIT_GC_KEPT, 0, 0, 0,
		    "no shmkit header: another program's POSIX segment, never removed by gc");
	if (hv <= 0)
		return report(c, uri, hv == 0 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 1, kind, 0,
			      "%s", why);
	struct object_ref ref = {sb.st_dev, sb.st_ino, -1, sb.st_uid, sb.st_mode & 07777};
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	int uv = users_verdict(&ref, path, 0, why2, sizeof(why2));
	if (uv <= 0)
		return report(c, uri, uv == 0 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 1, kind, 0,
			      "%s; but %s", why, why2);
	if (c->flags & SHMKIT_GC_DRY_RUN)
		return report(c, uri, SHMKIT_GC_WOULD_REMOVE, 1, kind, 0, "%s; %s", why, why2);
	/* Look once more right before unlinking: an opener may have just come. */
	struct stat sb2;
	char why3[400];
	if (posix_peek(dirfd_shm, name, &sb2, &kind, why3, sizeof(why3)) != 1 ||
	    sb2.st_ino != sb.st_ino || sb2.st_dev != sb.st_dev)
		return report(c, uri, SHMKIT_GC_KEPT, 1, kind, 0, "%s; but it changed meanwhile",
			      why);
	int r = shmkit_remove(uri);
	if (r < 0)
		return report(c, uri, SHMKIT_GC_SKIPPED, 1, kind, r, "%s, but removal failed: %s",
			      why, shmkit_strerror(r));
	return report(c, uri, SHMKIT_GC_REMOVED, 1, kind, 0, "%s; %s", why, why2);
}

static int gc_posix(struct gc_ctx *c)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return 0; /* no /dev/shm: nothing of this kind */
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, "sem.", 4) == 0)
			continue; /* POSIX named semaphores live here too: not segments */
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		r = gc_posix_one(c, dirfd(d), e->d_name);
	}
	closedir(d);
	return r;
}

/* ---- SysV ---- */

struct sysv_row {
	long long key;
	int shmid;
	unsigned mode;
	unsigned long long size;
	int cpid, lpid;
	unsigned long long nattch;
	unsigned uid;
};

/* Reads the current kernel view of shmid: 0 or a negative errno. */
static int sysv_stat(int shmid, struct shmid_ds *ds)
{
	return shmctl(shmid, IPC_STAT, ds) < 0 ? shmkit__neg_errno() : 0;
}

static int gc_sysv_foreign(struct gc_ctx *c, const char *uri, const struct sysv_row *row)
{
	if (!(c->flags & SHMKIT_GC_FOREIGN))
		return report(c, uri, SHMKIT_GC_KEPT, 0, 0, 0,
			      "no shmkit header: another program's SysV segment (kernel-persistent "
			      "by design; only with --foreign)");
	int ca = row->cpid > 0 ? shmkit__pid_alive(row->cpid) : 0;
	int la = row->lpid > 0 ? shmkit__pid_alive(row->lpid) : 0;
	if (ca != 0 || la != 0)
		return report(
		    c, uri, ca < 0 || la < 0 ? SHMKIT_GC_SKIPPED : SHMKIT_GC_KEPT, 0, 0, 0,
		    "foreign, no attaches, but creator pid %d is %s and last pid %d is %s",
		    row->cpid, alive_word(ca), row->lpid, alive_word(la));
	if (c->flags & SHMKIT_GC_DRY_RUN)
		return report(c, uri, SHMKIT_GC_WOULD_REMOVE, 0, 0, 0,
			      "foreign, no attaches, creator pid %d and last pid %d dead",
			      row->cpid, row->lpid);
	/* Removed by id: the kernel destroys it now, as nattch is 0. */
	int r = shmctl(row->shmid, IPC_RMID, NULL) < 0 ? shmkit__neg_errno() : 0;
	if (r < 0)
		return report(c, uri, SHMKIT_GC_SKIPPED, 0, 0, r, "removal failed: %s",
			      shmkit_strerror(r));
	return report(c, uri, SHMKIT_GC_REMOVED, 0, 0, 0,
		      "foreign, no attaches, creator pid %d and last pid %d dead", row->cpid,
		      row->lpid);
}

static int gc_sysv_one(struct gc_ctx *c, const struct sysv_row *row)
{
	char uri[64], key_uri[64];
	snprintf(uri, sizeof(uri), "sysv:id=%d", row->shmid);
	snprintf(key_uri, sizeof(key_uri), "sysv:0x%08x", (unsigned)row->key);
	if (!matches(c, uri) && !(row->key != 0 && matches(c, key_uri)))
		return 0;

	if (row->mode & SHM_DEST)
		return 0; /* already removed; goes with its last detach */
	if (row->nattch > 0)
		return report(c, uri, SHMKIT_GC_KEPT, 0, 0, 0,
			      "attached %llu time%s (kernel nattch)", row->nattch,
			      row->nattch == 1 ? "" : "s");
	if (row->size < SHMKIT__HEADER_SIZE)
		return gc_sysv_foreign(c, uri, row);
	/* Peek read-only. This updates the segment's lpid to us: every
	 * decision below uses the values read before. */
	void *hdr = shmat(row->shmid, NULL, SHM_RDONLY);
	if (hdr == (void *)-1) {
		int err = shmkit__neg_errno();
		return report(c, uri, SHMKIT_GC_SKIPPED, 0, 0, err, "cannot attach to look (%s)",
			      shmkit_strerror(err));
	}
	const struct shmkit__header *h = hdr;
	uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	uint64_t init =
	    atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire);
	if (magic != SHMKIT__MAGIC && !(magic == 0 && SHMKIT__WORD_PID(init) != 0)) {
		shmdt(hdr);
		return gc_sysv_foreign(c, uri, row);
	}
	uint32_t kind = h->kind;
	char why[400], why2[300];
	int hv = header_verdict(hdr, (size_t)row->size, why, sizeof(why));
	shmdt(hdr);
	if (hv <= 0)
		return report(c, uri, hv == 0 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 1, kind, 0,
			      "%s", why);
	struct object_ref ref = {0, 0, row->shmid, row->uid, row->mode & 0777};
	int uv = users_verdict(&ref, NULL, 1, why2, sizeof(why2));
	if (uv <= 0)
		return report(c, uri, uv == 0 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 1, kind, 0,
			      "%s; but %s", why, why2);
	/* Last look at the kernel's count: someone may have attached meanwhile. */
	struct shmid_ds ds;
	int r = sysv_stat(row->shmid, &ds);
	if (r < 0 || ds.shm_nattch != 0)
		return report(c, uri, SHMKIT_GC_KEPT, 1, kind, 0,
			      "%s; but it was attached meanwhile", why);
	if (c->flags & SHMKIT_GC_DRY_RUN)
		return report(c, uri, SHMKIT_GC_WOULD_REMOVE, 1, kind, 0, "%s, no attaches", why);
	r = shmctl(row->shmid, IPC_RMID, NULL) < 0 ? shmkit__neg_errno() : 0;
	if (r < 0)
		return report(c, uri, SHMKIT_GC_SKIPPED, 1, kind, r, "%s, but removal failed: %s",
			      why, shmkit_strerror(r));
	return report(c, uri, SHMKIT_GC_REMOVED, 1, kind, 0, "%s, no attaches", why);
}

static int gc_sysv(struct gc_ctx *c)
{
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	if (!f)
		return 0;
	char line[512];
	int r = 0;
	if (!fgets(line, sizeof(line), f)) { /* the column titles */
		fclose(f);
		return 0;
	}
	while (r == 0 && fgets(line, sizeof(line), f)) {
		struct sysv_row row;
		/* key shmid perms size cpid lpid nattch uid ... */
		if (sscanf(line, "%lld %d %o %llu %d %d %llu %u", &row.key, &row.shmid, &row.mode,
			   &row.size, &row.cpid, &row.lpid, &row.nattch, &row.uid) != 8)
			continue;
		r = gc_sysv_one(c, &row);
	}
	fclose(f);
	return r;
}

int shmkit_gc_prefix(unsigned flags, const char *uri_prefix,
		     int (*cb)(const struct shmkit_gc_entry *e, void *arg), void *arg)
{
	struct gc_ctx c = {uri_prefix, flags, cb, arg, 0};
	if (flags & ~(unsigned)(SHMKIT_GC_DRY_RUN | SHMKIT_GC_FOREIGN))
		return -EINVAL;
	int r = gc_posix(&c);
	if (r == 0)
		r = gc_sysv(&c);
	return r != 0 ? r : c.removed;
}

int shmkit_gc(unsigned flags, int (*cb)(const struct shmkit_gc_entry *e, void *arg), void *arg)
{
	return shmkit_gc_prefix(flags, NULL, cb, arg);
}

const char *shmkit_gc_verdict_name(enum shmkit_gc_verdict v)
{
	switch (v) {
	case SHMKIT_GC_REMOVED:
		return "removed";
	case SHMKIT_GC_KEPT:
		return "kept";
	case SHMKIT_GC_WOULD_REMOVE:
		return "would remove";
	case SHMKIT_GC_SKIPPED:
		return "skipped";
	}
	return "unknown";
}
