/* SPDX-License-Identifier: MIT */
/* shmkit_gc: remove what is provably orphaned, and say why for everything.
 *
 * Candidates are the kernel-persistent segments: POSIX (/dev/shm) and SysV
 * (/proc/sysvipc/shm). A shmkit object is removed only when it is owned (not
 * created persistent), its creator and every attacher are provably dead
 * (identity = pid + start time + boot id + pid namespace, or the kernel's
 * per-holder lock), it holds nothing undelivered (or SHMKIT_GC_FORCE), AND
 * no live process maps it or holds a descriptor to it (/proc, and the
 * kernel's lease or attach count). Segments without a shmkit header belong
 * to other programs: kept, except with SHMKIT_GC_FOREIGN a SysV segment with
 * no attaches whose creator and last user are both gone.
 *
 * Looking changes nothing: SysV segments are never attached to be looked at
 * (shmat/shmdt rewrite the last-user pid and times that the foreign proof
 * reads). A removing run attaches one nobody has attached only where its
 * creator and last user are both provably gone: only then could its verdict
 * be "remove", and reading the header is the only way to tell a persistent
 * shmkit object, one holding data, or a foreign segment apart (nothing else
 * reads SysV memory without an attacher to read through). The attach makes
 * gc its last user, dead once gc exits, so no verdict changes (its attach
 * and detach times do). Whatever cannot be decided is skipped and said. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"
#include "managed.h"
#include "holders.h"
#include "proc.h"

struct gc_ctx {
	const char *prefix; /* only URIs starting with it; NULL = all */
	unsigned flags;
	int (*cb)(const struct shmkit_gc_entry *e, void *arg);
	void *arg;
	int removed;
};

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
	return a == 1 ? "alive" : a == 0 ? "dead" : a == -EXDEV ? "in another pid namespace" : "unknown";
}

/* ---- managed objects ---- */

/* Decides on a managed object mapped at hdr (size bytes; fd its file, or
 * -1): persistence, then the liveness of everyone in its header, then what
 * it holds. Returns 1 if removable as far as the object can tell (why in
 * `why`), 0 kept, -1 skipped. */
static int object_verdict(const struct gc_ctx *c, const void *hdr, size_t size, int fd, char *why,
			  size_t cap)
{
	const struct shmkit__header *h = hdr;
	struct shmkit__liveness lv;
	int r = shmkit__header_liveness(hdr, size, fd, &lv);
	if (r < 0) {
		snprintf(why, cap, "shmkit header unreadable (%s%s%s): cannot prove it orphaned",
			 shmkit_strerror(r), *shmkit_last_error_detail() ? ": " : "",
			 shmkit_last_error_detail());
		return -1;
	}
	if (h->flags & SHMKIT__HDR_PERSIST) {
		snprintf(why, cap, "persistent: lives until removed (shmkit rm); gc never removes it");
		return 0;
	}
	if (lv.creator_alive == 1) {
		snprintf(why, cap, "creator %s is alive", lv.creator_str);
		return 0;
	}
	if (lv.creator_alive < 0) {
		/* -EIO: kill(2) finds the pid, /proc shows no entry for it */
		snprintf(why, cap, "cannot tell whether creator pid %d is alive (%s)",
			 (int)lv.creator_pid,
			 lv.creator_alive == -EXDEV ? "it is in another pid namespace"
			 : lv.creator_alive == -EIO
				 ? "a process has that pid, but /proc hides it (hidepid): "
				   "a reused pid cannot be told from the creator"
			 : lv.creator_alive == -ENODATA
				 ? "it was recorded where /proc was not mounted: no start time "
				   "or boot id to tell it from a reused pid; shmkit rm removes it"
			 : lv.creator_alive == -ENOENT
				 ? "/proc is not mounted here"
				 : shmkit_strerror(lv.creator_alive));
		return -1;
	}
	if (lv.n_alive) {
		snprintf(why, cap, "attached pid %d%s is alive (%d attached alive)",
			 (int)lv.first_alive,
			 lv.first_alive_elsewhere == 2
				 ? " (its lock is held; it cannot be inspected: /proc hides it)"
			 : lv.first_alive_elsewhere ? " (of another pid namespace: its lock is held)"
						    : "",
			 lv.n_alive);
		return 0;
	}
	if (lv.n_unknown) {
		snprintf(why, cap,
			 "cannot tell whether attached pid %d is alive (another pid namespace, "
			 "or /proc unreadable)",
			 (int)lv.first_alive);
		return -1;
	}
	int n = snprintf(why, cap, "owned, creator pid %d dead, %d attacher%s dead",
			 (int)lv.creator_pid, lv.n_dead, lv.n_dead == 1 ? "" : "s");
	if (n < 0 || (size_t)n >= cap)
		return 1;
	/* Never ready: its creator died filling it, and no opener ever used
	 * it (opens wait for READY), so it holds nothing, whatever its
	 * half-written body says (a queue's read as "corrupt?" and was kept) */
	uint64_t w = atomic_load_explicit(&h->init, memory_order_acquire);
	if (SHMKIT__WORD_STATE(w) != SHMKIT__STATE_READY) {
		snprintf(why + n, cap - (size_t)n, "; never ready (its creator died building it)");
		return 1;
	}
	char held[200];
	/* Only a header as long as the object is worth asking about its body. */
	if (size > SHMKIT__HEADER_SIZE && shmkit__obj_holds(hdr, size, fd, held, sizeof(held)) != 0) {
		if (!(c->flags & SHMKIT_GC_FORCE)) {
			snprintf(why + n, cap - (size_t)n, "; but it %s (--force removes it anyway)",
				 held);
			return 0;
		}
		snprintf(why + n, cap - (size_t)n, "; it %s, removed as forced", held);
	}
	return 1;
}

/* ---- POSIX ---- */

/* Looks at /dev/shm/name (read-only mapping of the whole file; the
 * descriptor stays open meanwhile so the kernel's holder locks can be
 * asked): 2 not a segment (ignore), 3 foreign, 4 no header yet (empty, or
 * zero where the magic goes, no creator recorded: foreign, or a creator
 * that has not written its header yet), else object_verdict() (1
 * removable as far as the object says, 0 kept, -1 skipped), or a negative
 * errno when it cannot be looked at. */
static int posix_peek(const struct gc_ctx *c, int dirfd_shm, const char *name, struct stat *sb,
		      uint32_t *kind, char *why, size_t cap)
{
	/* O_NOATIME: looking leaves the access time alone (others' files: EPERM) */
	int fd = openat(dirfd_shm, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd_shm, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == EPERM ? -EACCES : shmkit__neg_errno(); /* -1 means "skipped" */
	char uri[300];
	snprintf(uri, sizeof(uri), "posix:/%s", name);
	int r = 3;
	if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode))
		r = 2;
	else if (sb->st_size == 0)
		r = 4;
	else if ((uint64_t)sb->st_size > SSIZE_MAX) /* an i386 process: say so, not "foreign" */
		r = shmkit__map_enomem(uri, (uint64_t)sb->st_size);
	else if ((uint64_t)sb->st_size >= SHMKIT__HEADER_SIZE) {
		size_t size = (size_t)sb->st_size;
		void *base = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED) {
			r = shmkit__neg_errno();
			if (r == -ENOMEM) /* say so when it is too large to map here */
				r = shmkit__map_enomem(uri, size);
		} else if ((r = shmkit__cover_holes(base, size, fd)) < 0) {
			munmap(base, size); /* a look that would fill its holes is no look */
		} else {
			r = __atomic_load_n(&((const struct shmkit__header *)base)->magic,
					    __ATOMIC_ACQUIRE) == 0
				? 4
				: 3;
			if (shmkit__header_claimed(base, size)) {
				*kind = ((const struct shmkit__header *)base)->kind;
				r = object_verdict(c, base, size, fd, why, cap);
			}
			munmap(base, size);
		}
	}
	close(fd);
	return r;
}

static int matches(const struct gc_ctx *c, const char *uri)
{
	return !c->prefix || strncmp(uri, c->prefix, strlen(c->prefix)) == 0;
}

/* A SysV row against the prefix, however the key is spelt: gc names it
 * sysv:0x0006f588 (as ls does), but sysv:0x6f588, sysv:0x6F588, a decimal
 * key or an ftok path name the same key, and sysv:id=N its id. */
static int sysv_matches(const struct gc_ctx *c, const struct shmkit__sysv_row *row)
{
	char id_uri[64], padded[64], bare[64];
	struct shmkit__uri u;
	if (!c->prefix)
		return 1;
	size_t n = strlen(c->prefix);
	snprintf(id_uri, sizeof(id_uri), "sysv:id=%d", row->shmid);
	snprintf(padded, sizeof(padded), "sysv:0x%08x", (unsigned)row->key);
	snprintf(bare, sizeof(bare), "sysv:0x%x", (unsigned)row->key);
	/* sysv:id=N names one id (gc prints it so): ids are not digits to
	 * extend, and 75370 must not take 753703 with it */
	if (strncmp(c->prefix, "sysv:id=", 8) == 0 && c->prefix[8] &&
	    strspn(c->prefix + 8, "0123456789") == n - 8)
		return strcmp(id_uri, c->prefix) == 0;
	/* sysv: then decimal digits spells one key (sysv:0, IPC_PRIVATE, none),
	 * not every key whose hex digits start with them */
	if (n > 5 && strncmp(c->prefix, "sysv:", 5) == 0 &&
	    strspn(c->prefix + 5, "0123456789") == n - 5)
		return row->key != 0 && shmkit__uri_parse(c->prefix, &u) == 0 &&
		       u.sysv_how == SHMKIT__SYSV_KEY && (unsigned)u.key == (unsigned)row->key;
	if (strncmp(id_uri, c->prefix, n) == 0)
		return 1;
	if (row->key != 0 &&
	    (strncasecmp(padded, c->prefix, n) == 0 || strncasecmp(bare, c->prefix, n) == 0))
		return 1;
	if (shmkit__uri_parse(c->prefix, &u) < 0 || u.backend != SHMKIT_SYSV)
		return 0;
	if (u.sysv_how == SHMKIT__SYSV_ID)
		return u.shmid == row->shmid;
	return (u.sysv_how == SHMKIT__SYSV_KEY || u.sysv_how == SHMKIT__SYSV_FTOK) && row->key != 0 &&
	       (unsigned)u.key == (unsigned)row->key;
}

/* Whether posix:/name names exactly /dev/shm/name to the library: not a
 * name with a control character (refused: -EINVAL, detail set), nor one
 * holding a '?' (what follows reads as URI options: another name, or
 * refused). gc removes only what the library can name, so that each URI
 * it reports addresses the object: asked before a dry run promises a
 * removal, so both runs say the same (only removable objects are asked:
 * what is kept anyway is kept whatever its name). */
static int posix_nameable(const char *uri, char *why, size_t cap)
{
	struct shmkit__uri u;
	char back[SHMKIT_URI_MAX];
	int r = shmkit__uri_parse(uri, &u);
	if (r == 0) {
		shmkit__uri_format(&u, back, sizeof(back));
		if (strcmp(back, uri) != 0)
			r = shmkit__fail(-EINVAL, "what follows its '?' reads as URI "
						  "options");
	}
	if (r < 0)
		snprintf(why, cap,
			 "the library cannot name it (%s), so gc can neither open nor remove it; "
			 "remove it with rm(1) if it is garbage",
			 *shmkit_last_error_detail() ? shmkit_last_error_detail() : shmkit_strerror(r));
	return r;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Has /dev/shm/name gone since gc listed it (a concurrent gc or rm removed
 * it)? Then gc says nothing of it: a failed look (no such file; a lease
 * probe that found nothing to open) is about no object, and "kept" or
 * "skipped" would be untrue. */
static int gone(int dirfd_shm, const char *name)
{
	struct stat sb;
	return fstatat(dirfd_shm, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

/* Does /dev/shm/name still name the file pinned (held, so its inode
 * number is no other file's)? */
static int still_named(int dirfd_shm, const char *name, const struct stat *pinned)
{
	struct stat sb;
	return fstatat(dirfd_shm, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && same_file(&sb, pinned);
}

/* The file judged is no longer under its name: nothing to say if the name
 * is gone, else the object there now is not the one judged, and kept. */
static int changed(struct gc_ctx *c, int dirfd_shm, const char *name, const char *uri,
		   uint32_t kind, const char *why)
{
	if (gone(dirfd_shm, name))
		return 0;
	return report(c, uri, SHMKIT_GC_KEPT, 1, kind, 0, "%s; but it changed meanwhile", why);
}

/* gc of /dev/shm/name, whose file is held as pfd (O_PATH, stat pinned;
 * -1 if it could not be) from before the first look to the unlink. */
static int gc_posix_pinned(struct gc_ctx *c, int dirfd_shm, const char *name, const char *uri,
			   int pfd, const struct stat *pinned)
{
	char why[512], why2[300];
	struct stat sb;
	uint32_t kind = 0;

	shmkit__detail_clear(); /* what posix_peek says, not an earlier segment's */
	int hv = posix_peek(c, dirfd_shm, name, &sb, &kind, why, sizeof(why));
	if (hv == -ENOENT)
		return 0; /* gone since listed */
	if (hv < -1)
		return report(c, uri, SHMKIT_GC_SKIPPED, 0, 0, hv, "cannot look inside (%s)",
			      *shmkit_last_error_detail() ? shmkit_last_error_detail()
							  : shmkit_strerror(hv));
	if (hv == 2)
		return 0;
	if (hv == 3)
		return report(
		    c, uri, SHMKIT_GC_KEPT, 0, 0, 0,
		    "no shmkit header: another program's POSIX segment, never removed by gc");
	if (hv == 4)
		return report(c, uri, SHMKIT_GC_KEPT, 0, 0, 0,
			      "no shmkit header (yet?): %s, no creator recorded: another program's "
			      "POSIX segment, or a creator that has not written its header yet; "
			      "never removed by gc",
			      sb.st_size == 0 ? "empty" : "all zero where the header starts");
	if (hv <= 0)
		return report(c, uri, hv == 0 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 1, kind, 0,
			      "%s", why);
	if (pfd < 0 || !same_file(&sb, pinned))
		return changed(c, dirfd_shm, name, uri, kind, why);
	SHMKIT__TEST_POINT("gc.posix.peeked");
	/* O_PATH descriptors do not count (as for a take-over, abandoned.c):
	 * they neither read, write nor map it, and are what a concurrent gc
	 * pins the file it judges with; counted, two gcs at once each kept
	 * orphans as "held" by the other. The lease probe never counted them. */
	struct shmkit__obj_ref ref = {sb.st_dev, (uint64_t)sb.st_ino, -1, sb.st_uid,
				      sb.st_mode & 0777, 1};
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	int uv = shmkit__holders_verdict(&ref, path, 0, why2, sizeof(why2));
	if (uv < 0 && !still_named(dirfd_shm, name, pinned))
		return changed(c, dirfd_shm, name, uri, kind, why);
	if (uv <= 0)
		return report(c, uri, uv == 0 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 1, kind, 0,
			      "%s; but %s", why, why2);
	char why_name[400];
	int nr = posix_nameable(uri, why_name, sizeof(why_name));
	if (nr < 0)
		return report(c, uri, SHMKIT_GC_SKIPPED, 1, kind, nr, "%s; but %s", why, why_name);
	if (c->flags & SHMKIT_GC_DRY_RUN)
		return report(c, uri, SHMKIT_GC_WOULD_REMOVE, 1, kind, 0, "%s; %s", why, why2);
	/* Look once more right before unlinking: an opener may have just come. */
	struct stat sb2;
	char why3[512];
	if (posix_peek(c, dirfd_shm, name, &sb2, &kind, why3, sizeof(why3)) != 1 ||
	    !same_file(&sb2, pinned))
		return changed(c, dirfd_shm, name, uri, kind, why);
	SHMKIT__TEST_POINT("gc.posix.judged");
	/* the file judged (pfd keeps its inode, so no other file has its
	 * number), under its name lock: never one a racing remove and create
	 * put under the name since (backend/unlink.c) */
	int r = shmkit__unlink_pinned(path, pfd, 0);
	if (r == 0 || r == -ENOENT)
		return changed(c, dirfd_shm, name, uri, kind, why);
	if (r < 0)
		return report(c, uri, SHMKIT_GC_SKIPPED, 1, kind, r, "%s, but removal failed: %s",
			      why, r == -EBUSY ? "another remover holds it" : shmkit_strerror(r));
	return report(c, uri, SHMKIT_GC_REMOVED, 1, kind, 0, "%s; %s", why, why2);
}

/* The file is held from before gc's first look until its unlink: it
 * compared the name's dev+ino with those of its first look, taken before
 * the slow walk of /proc, and once that file is gone its inode number may
 * be a new file's (ext4 reuses one at once), so a remove-and-create under
 * the name meanwhile lost the new object. */
static int gc_posix_one(struct gc_ctx *c, int dirfd_shm, const char *name)
{
	char uri[300];
	struct stat pinned;

	snprintf(uri, sizeof(uri), "posix:/%s", name);
	if (!matches(c, uri))
		return 0;
	SHMKIT__TEST_POINT("gc.posix.listed");
	int pfd = openat(dirfd_shm, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0 && errno == ENOENT)
		return 0; /* removed since listed */
	if (pfd >= 0 && fstat(pfd, &pinned) < 0) {
		close(pfd);
		pfd = -1; /* the look says why, or "changed meanwhile" */
	}
	int r = gc_posix_pinned(c, dirfd_shm, name, uri, pfd, &pinned);
	if (pfd >= 0)
		close(pfd);
	return r;
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

/* An error of shmat or shmctl on an id that says the segment is gone:
 * removed since gc listed it (a concurrent gc or rm), not a failure. */
static int sysv_gone(int err)
{
	return err == -EINVAL || err == -EIDRM;
}

static int gc_sysv_foreign(struct gc_ctx *c, const char *uri, const struct shmkit__sysv_row *row)
{
	if (!(c->flags & SHMKIT_GC_FOREIGN))
		return report(c, uri, SHMKIT_GC_KEPT, 0, 0, 0,
			      "no shmkit header: another program's SysV segment (kernel-persistent "
			      "by design; only with --foreign)");
	int ca = shmkit__sysv_cpid_alive(row);
	int la = shmkit__sysv_lpid_alive(row);
	if (ca != 0 || la != 0)
		return report(
		    c, uri, ca < 0 || la < 0 ? SHMKIT_GC_SKIPPED : SHMKIT_GC_KEPT, 0, 0, 0,
		    "foreign, no attaches, but creator pid %d is %s and last pid %d is %s",
		    row->cpid, alive_word(ca), row->lpid, alive_word(la));
	if (c->flags & SHMKIT_GC_DRY_RUN)
		return report(c, uri, SHMKIT_GC_WOULD_REMOVE, 0, 0, 0,
			      "foreign, no attaches, creator pid %d and last pid %d dead",
			      row->cpid, row->lpid);
	SHMKIT__TEST_POINT("gc.sysv.foreign");
	/* Last look at the kernel's record: a program that attached since the
	 * proof was read (and maybe detached: then it is the last user, alive)
	 * owns it. Only gc's own look (gc_sysv_one) may have moved it. */
	struct shmkit__sysv_row now;
	if (shmkit__sysv_row(row->shmid, &now) < 0)
		return 0; /* removed meanwhile */
	if (now.nattch != 0 || (now.lpid != row->lpid && now.lpid != getpid()))
		return report(c, uri, SHMKIT_GC_KEPT, 0, 0, 0,
			      "foreign, no attaches, creator pid %d and last pid %d dead; but pid "
			      "%d used it meanwhile",
			      row->cpid, row->lpid, now.lpid);
	/* Removed by id: the kernel destroys it now, as nattch is 0. */
	int r = shmctl(row->shmid, IPC_RMID, NULL) < 0 ? shmkit__neg_errno() : 0;
	if (sysv_gone(r))
		return 0;
	if (r < 0)
		return report(c, uri, SHMKIT_GC_SKIPPED, 0, 0, r, "removal failed: %s",
			      shmkit_strerror(r));
	return report(c, uri, SHMKIT_GC_REMOVED, 0, 0, 0,
		      "foreign, no attaches, creator pid %d and last pid %d dead", row->cpid,
		      row->lpid);
}

/* Attached somewhere: kept on the kernel's count. The kind is read through
 * a process that has it attached (nothing the kernel keeps changes). */
static int gc_sysv_attached(struct gc_ctx *c, const char *uri, const struct shmkit__sysv_row *row)
{
	unsigned char hdr[SHMKIT__HEADER_SIZE];
	int managed = row->size >= sizeof(hdr) &&
		      shmkit__sysv_peek(row->shmid, 0, hdr, sizeof(hdr), NULL) == 0 &&
		      shmkit__header_claimed(hdr, (size_t)row->size);
	uint32_t kind = managed ? ((const struct shmkit__header *)hdr)->kind : 0;
	return report(c, uri, SHMKIT_GC_KEPT, managed, kind, 0,
		      "attached %llu time%s (kernel nattch)", (unsigned long long)row->nattch,
		      row->nattch == 1 ? "" : "s");
}

/* Nobody has it attached and its creator may live: whatever its header
 * says (owned with a live creator, persistent, foreign), gc would keep it,
 * so it is not attached to be read. */
static int gc_sysv_creator_lives(struct gc_ctx *c, const char *uri,
				 const struct shmkit__sysv_row *row, int ca)
{
	return report(c, uri, ca == 1 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 0, 0, 0,
		      "not read: its creator pid %d is %s, so it would be kept whatever it holds "
		      "(gc attaches a segment nobody has attached only when its creator and "
		      "last user are both gone)", row->cpid, alive_word(ca));
}

/* Nobody has it attached, and to look inside gc would have to attach it. */
static int gc_sysv_unread(struct gc_ctx *c, const char *uri, const struct shmkit__sysv_row *row,
			  int la)
{
	if (la == 0) /* only a dry run stops here */
		return report(c, uri, SHMKIT_GC_SKIPPED, 0, 0, 0,
			      "not read in a dry run: nobody has it attached, and looking would "
			      "mean attaching, which rewrites its last-user pid and times (a "
			      "removing run looks when its creator and last user are gone)");
	return report(c, uri, la == 1 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 0, 0, 0,
		      "not read: nobody has it attached, and attaching would replace its last "
		      "pid %d (%s), which gc --foreign relies on",
		      row->lpid, alive_word(la));
}

static int gc_sysv_managed(struct gc_ctx *c, const char *uri, const struct shmkit__sysv_row *row,
			   uint32_t kind, int ov, const char *why)
{
	if (ov <= 0)
		return report(c, uri, ov == 0 ? SHMKIT_GC_KEPT : SHMKIT_GC_SKIPPED, 1, kind, 0,
			      "%s", why);
	SHMKIT__TEST_POINT("gc.sysv.judged");
	/* Last look at the kernel's count: someone may have attached meanwhile. */
	struct shmkit__sysv_row now;
	if (shmkit__sysv_row(row->shmid, &now) < 0)
		return 0; /* removed meanwhile (another gc, an rm): nothing to say */
	if (now.nattch != 0)
		return report(c, uri, SHMKIT_GC_KEPT, 1, kind, 0,
			      "%s; but it was attached meanwhile", why);
	int r = shmctl(row->shmid, IPC_RMID, NULL) < 0 ? shmkit__neg_errno() : 0;
	if (sysv_gone(r))
		return 0;
	if (r < 0)
		return report(c, uri, SHMKIT_GC_SKIPPED, 1, kind, r, "%s, but removal failed: %s",
			      why, shmkit_strerror(r));
	return report(c, uri, SHMKIT_GC_REMOVED, 1, kind, 0, "%s, no attaches", why);
}

static int gc_sysv_one(const struct shmkit__sysv_row *row, void *arg)
{
	struct gc_ctx *c = arg;
	char uri[64];
	snprintf(uri, sizeof(uri), "sysv:id=%d", row->shmid);
	if (!sysv_matches(c, row))
		return 0;

	if (row->perms & SHM_DEST)
		return 0; /* already removed; goes with its last detach */
	if (row->nattch > 0)
		return gc_sysv_attached(c, uri, row);
	if (row->size < SHMKIT__HEADER_SIZE)
		return gc_sysv_foreign(c, uri, row);
	/* Attaching makes us its last user. That changes no verdict only when
	 * the last user is already gone (or there never was one). */
	int la = shmkit__sysv_lpid_alive(row);
	if (la != 0 || (c->flags & SHMKIT_GC_DRY_RUN))
		return gc_sysv_unread(c, uri, row, la);
	int ca = shmkit__sysv_cpid_alive(row);
	if (ca != 0)
		return gc_sysv_creator_lives(c, uri, row, ca);
	SHMKIT__TEST_POINT("gc.sysv.unread");
	void *base = shmat(row->shmid, NULL, SHM_RDONLY);
	if (base == (void *)-1) {
		int err = shmkit__neg_errno();
		if (sysv_gone(err))
			return 0;
		return report(c, uri, SHMKIT_GC_SKIPPED, 0, 0, err, "cannot attach to look (%s)",
			      shmkit_strerror(err));
	}
	int managed = shmkit__header_claimed(base, (size_t)row->size);
	uint32_t kind = managed ? ((const struct shmkit__header *)base)->kind : 0;
	char why[512];
	int ov = managed ? object_verdict(c, base, (size_t)row->size, -1, why, sizeof(why)) : 0;
	shmdt(base);
	if (!managed)
		return gc_sysv_foreign(c, uri, row); /* decided on the values read before */
	return gc_sysv_managed(c, uri, row, kind, ov, why);
}

static int gc_sysv(struct gc_ctx *c)
{
	int r = shmkit__sysv_each(gc_sysv_one, c);
	return r == -ENOENT ? 0 : r;
}

int shmkit_gc_prefix(unsigned flags, const char *uri_prefix,
		     int (*cb)(const struct shmkit_gc_entry *e, void *arg), void *arg)
{
	shmkit__detail_clear();
	char spelt[SHMKIT_URI_MAX];
	struct gc_ctx c = {shmkit__uri_prefix_spelling(uri_prefix, spelt, sizeof(spelt)), flags, cb, arg, 0};
	if (flags & ~(unsigned)(SHMKIT_GC_DRY_RUN | SHMKIT_GC_FOREIGN | SHMKIT_GC_FORCE))
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
