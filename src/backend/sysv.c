/* SPDX-License-Identifier: MIT */
/* sysv: shmget/shmat. Kernel lifetime; IPC_RMID destroys the segment after
 * its last detach (stat shows "marked for removal" meanwhile). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "../internal.h"
#include "../proc.h"
#include "backend.h"

/* A /proc/sys/kernel limit: 0 and *v set, or -1 when it cannot be read (no
 * /proc): then no limit is named as the cause. */
static int read_limit_known(const char *name, unsigned long long *v)
{
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	FILE *f = fopen(path, "re");
	int ret = -1;
	if (f) {
		char *end;
		if (fgets(buf, sizeof(buf), f)) {
			errno = 0;
			*v = strtoull(buf, &end, 10);
			if (errno == 0 && end != buf)
				ret = 0;
		}
		fclose(f);
	}
	return ret;
}

static unsigned long long read_limit(const char *name)
{
	unsigned long long v = 0;
	return read_limit_known(name, &v) == 0 ? v : 0;
}

static long count_segments(void)
{
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	char line[512];
	long n = -1; /* the header line */
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

/* Turns a failed shmget of key into the error and a detail naming the kernel
 * limit hit. key is the one shmget was given: for an ftok URI, u->key is
 * still unresolved (-1) and would name a segment nobody asked about. */
static int get_error(const struct shmkit__uri *u, key_t key, size_t size, int creating)
{
	int err = errno;
	char how[64 + SHMKIT_URI_MAX] = "";

	if (u->sysv_how == SHMKIT__SYSV_FTOK)
		snprintf(how, sizeof(how), " = ftok(%s, %d)", u->name, u->proj);
	unsigned long long shmmax = read_limit("shmmax");

	if (err == EINVAL && creating && shmmax && size > shmmax)
		return shmkit__fail(-EINVAL, "size %zu exceeds kernel.shmmax (%llu)", size, shmmax);
	if (err == EINVAL)
		return shmkit__fail(-EINVAL, "sysv key 0x%08x%s: existing segment smaller than %zu "
				    "bytes", (unsigned)key, how, size);
	/* shmmni 0 is a setting too (no SysV segments at all, as some
	 * containers are configured), not "unknown": every id is in use then */
	unsigned long long mni, all;
	int mni_known = read_limit_known("shmmni", &mni) == 0;
	if (err == ENOSPC && mni_known && (unsigned long long)count_segments() >= mni)
		return shmkit__fail(-ENOSPC, "all kernel.shmmni (%llu) SysV segment ids are in use",
				    mni);
	if (err == ENOSPC && read_limit_known("shmall", &all) == 0 && mni_known)
		return shmkit__fail(-ENOSPC, "kernel.shmall (%llu pages) would be exceeded by %zu bytes",
				    all, size);
	if (err == ENOSPC)
		return shmkit__fail(-ENOSPC, "no room for a SysV segment of %zu bytes (kernel.shmmni "
				    "or kernel.shmall; /proc/sys/kernel cannot be read to say which)",
				    size);
	if (err == ENOMEM && creating) {
		char note[192];
		return shmkit__fail(-ENOMEM, "shmget of %zu bytes: out of memory%s", size,
				    shmkit__commit_note(note, sizeof(note)));
	}
	if (err == EEXIST)
		return shmkit__fail(-EEXIST, "sysv key 0x%08x%s already exists", (unsigned)key, how);
	if (err == ENOENT)
		return shmkit__fail(-ENOENT, "no sysv segment with key 0x%08x%s", (unsigned)key, how);
	return shmkit__fail(err > 0 ? -err : -EIO, "shmget: %s", strerror(err));
}

static int resolve_key(const struct shmkit__uri *u, key_t *key)
{
	if (u->sysv_how != SHMKIT__SYSV_FTOK) {
		*key = u->key;
		return 0;
	}
	*key = ftok(u->name, u->proj);
	if (*key == -1)
		return shmkit__fail(shmkit__neg_errno(), "ftok %s: %s", u->name, strerror(errno));
	return 0;
}

/* Finds or makes the shmid; *created tells whether this call made it. */
static int get_id(const struct shmkit__uri *u, key_t key, size_t size, int flags, unsigned mode,
		  int *created)
{
	*created = 0;
	if (u->sysv_how == SHMKIT__SYSV_ID) {
		if (flags & SHMKIT_CREATE)
			return shmkit__fail(-EINVAL, "sysv:id= names an existing segment; cannot create");
		return u->shmid;
	}
	/* Open-or-create with size 0 only opens (DESIGN §4: 0 opens an
	 * existing segment whole); sysv:private always makes a new one. */
	int creating = (flags & SHMKIT_CREATE) && size > 0;
	if (u->sysv_how == SHMKIT__SYSV_PRIVATE || creating) {
		if (size == 0)
			return shmkit__fail(-EINVAL, "creating a sysv segment needs its size");
		int huge = (u->huge || (flags & SHMKIT_HUGE)) ? SHM_HUGETLB : 0;
		int id = shmget(key, size, IPC_CREAT | IPC_EXCL | huge | (int)(mode & 0777));
		if (id >= 0) {
			*created = 1;
			return id;
		}
		if (huge && (errno == ENOMEM || errno == EPERM))
			return shmkit__huge_error(shmkit__neg_errno(), size, "shmget(SHM_HUGETLB)");
		if (errno != EEXIST || (flags & SHMKIT_EXCL))
			return get_error(u, key, size, 1);
	}
	/* Open: no permission bits here, shmat checks access. */
	int id = shmget(key, 0, 0);
	if (id < 0 && errno == ENOENT && (flags & SHMKIT_CREATE))
		return shmkit__fail(-EINVAL, "no sysv segment with key 0x%08x, and size 0 gives "
					     "none to create it with", (unsigned)key);
	return id >= 0 ? id : get_error(u, key, size, 0);
}

/* The segment's size. IPC_STAT's shm_segsz is a size_t, cut to 32 bits for
 * an i386 process (a 4 GiB + 4 KiB segment reads as 4 KiB, 1 PiB as 0), and
 * shmat maps the whole real size: /proc/sysvipc/shm prints the kernel's own. */
static uint64_t segment_size(int id, const struct shmid_ds *ds)
{
	struct shmkit__sysv_row row;

	if (SIZE_MAX < UINT64_MAX && shmkit__sysv_row(id, &row) == 0)
		return row.size;
	return ds->shm_segsz;
}

/* IPC_STAT (it needs read permission) or a read-write shmat refused: whose
 * the segment is and its mode, from /proc/sysvipc/shm, which anyone may
 * read. readable: IPC_STAT passed, so a read-only attach works. */
static int access_error(const char *uri, int id, int readable)
{
	char doing[SHMKIT_URI_MAX + 32];
	struct shmkit__sysv_row row;

	snprintf(doing, sizeof(doing), "open %s (id %d)", uri, id);
	if (shmkit__sysv_row(id, &row) < 0)
		return shmkit__fail(-EACCES, "%s: Permission denied", doing);
	return shmkit__access_fail(doing, row.uid, row.perms, readable, "shmctl IPC_SET");
}

/* shmat at the kernel's choice or at ?addr= (SHM_RND with &rnd); NULL and
 * *rc on error (-EEXIST when something is mapped there). */
static void *attach(const struct shmkit__uri *u, int id, int flags, size_t len, int *rc)
{
	int shmflg = (flags & SHMKIT_RDONLY) ? SHM_RDONLY : 0;

	if (u->addr_rnd)
		shmflg |= SHM_RND;
	void *p = shmat(id, (void *)u->addr, shmflg);
	if (p != (void *)-1)
		return p;
	if (u->addr) {
		*rc = shmkit__addr_error(u->addr, len, shmkit__neg_errno());
	} else if (errno == ENOMEM) { /* too large to attach here, or out of memory */
		char uri[SHMKIT_URI_MAX];
		shmkit__uri_format(u, uri, sizeof(uri));
		*rc = shmkit__map_enomem(uri, len);
	} else if (errno == EACCES) { /* after IPC_STAT: it may be read, not written */
		char uri[SHMKIT_URI_MAX];
		shmkit__uri_format(u, uri, sizeof(uri));
		*rc = access_error(uri, id, !(flags & SHMKIT_RDONLY));
	} else
		*rc = shmkit__fail(shmkit__neg_errno(), "shmat of sysv id %d: %s", id,
				   strerror(errno));
	return NULL;
}

static int sysv_open(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		     unsigned mode)
{
	key_t key;
	int created;
	struct shmid_ds ds;

	int rc = resolve_key(u, &key);
	if (rc < 0)
		return rc;
	int id = get_id(u, key, size, flags, mode, &created);
	if (id < 0)
		return id;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		/* EINVAL: no segment has this id (sysv:id=N names none, or one
		 * removed since); EIDRM: removed meanwhile. -ENOENT, as stat and
		 * remove say: it was -EINVAL, a "bad argument or URI". */
		if (errno == EINVAL || errno == EIDRM)
			rc = shmkit__fail(-ENOENT, "no sysv segment with id %d", id);
		else if (errno == EACCES)
			rc = access_error(seg->uri, id, 0);
		else
			rc = shmkit__fail(shmkit__neg_errno(), "IPC_STAT of sysv id %d: %s", id,
					  strerror(errno));
		goto fail;
	}
	uint64_t have = segment_size(id, &ds);
	if (have > SSIZE_MAX) { /* shmat maps it whole: never here */
		rc = shmkit__map_enomem(seg->uri, have);
		goto fail;
	}
	if (!created) {
		ssize_t len = shmkit__open_size(size, have, "sysv segment", seg->uri);
		if (len < 0) {
			rc = (int)len;
			goto fail;
		}
		size = (size_t)len;
	}
	void *p = attach(u, id, flags, (size_t)have, &rc);
	if (!p)
		goto fail;
	seg->pages = shmkit__mapped_pages(p);
	if ((u->huge || (flags & SHMKIT_HUGE)) && seg->pages != SHMKIT_PAGES_HUGETLB) {
		shmdt(p);
		rc = shmkit__fail(-EOPNOTSUPP, "sysv id %d exists with base pages, not huge ones", id);
		goto fail;
	}
	if (flags & SHMKIT_POPULATE) {
		/* Touch every page (read, so RDONLY works too) to fault it in now. */
		long page = sysconf(_SC_PAGESIZE);
		for (size_t off = 0; off < size; off += (size_t)page)
			(void)*(volatile char *)((char *)p + off);
	}
	seg->addr = p;
	seg->size = size;
	seg->map_len = (size_t)have;
	seg->shmid = id;
	seg->key = ds.shm_perm.__key;
	if (u->sysv_how == SHMKIT__SYSV_PRIVATE || u->sysv_how == SHMKIT__SYSV_ID)
		snprintf(seg->uri, sizeof(seg->uri), "sysv:id=%d", id);
	return 0;
fail:
	if (created)
		shmctl(id, IPC_RMID, NULL);
	return rc;
}

static int sysv_close(struct shmkit_seg *seg)
{
	int rc = 0;
	if (seg->addr && shmdt(seg->addr) < 0)
		rc = shmkit__neg_errno();
	seg->addr = NULL;
	return rc;
}

static int lookup_id(const struct shmkit__uri *u)
{
	key_t key;
	if (u->sysv_how == SHMKIT__SYSV_ID)
		return u->shmid;
	if (u->sysv_how == SHMKIT__SYSV_PRIVATE)
		return shmkit__fail(-EINVAL, "sysv:private names no existing segment; use sysv:id=N");
	int rc = resolve_key(u, &key);
	if (rc < 0)
		return rc;
	int id = shmget(key, 0, 0);
	return id >= 0 ? id : get_error(u, key, 0, 0);
}

static int sysv_remove(const struct shmkit__uri *u)
{
	int id = lookup_id(u);
	if (id < 0)
		return id;
	if (shmctl(id, IPC_RMID, NULL) < 0) {
		/* EINVAL: no segment has this id (sysv:id=N names one that is gone);
		 * the command is valid, so that is the only way to get it */
		if (errno == EIDRM || errno == EINVAL)
			return shmkit__fail(-ENOENT, "no sysv segment with id %d", id);
		int err = errno;
		return shmkit__fail(err > 0 ? -err : -EIO, "IPC_RMID of sysv id %d: %s", id,
				    strerror(err));
	}
	return 0;
}

void shmkit__sysv_fill_stat(struct shmkit_stat *st, int id, const struct shmid_ds *ds)
{
	long page = sysconf(_SC_PAGESIZE);
	st->size = segment_size(id, ds);
	st->real_size = (st->size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	st->mode = ds->shm_perm.mode & 0777;
	st->marked_for_removal = (ds->shm_perm.mode & SHM_DEST) != 0;
	st->uid = ds->shm_perm.uid;
	st->gid = ds->shm_perm.gid;
	st->creator_pid = ds->shm_cpid;
	st->last_pid = ds->shm_lpid;
	st->attach_count = (int64_t)ds->shm_nattch;
	st->sysv_key = (int64_t)(unsigned)ds->shm_perm.__key;
	st->sysv_id = id;
	st->atime = ds->shm_atime;
	st->dtime = ds->shm_dtime;
	st->ctime = ds->shm_ctime;
	st->mtime = ds->shm_ctime;
}

static int sysv_stat(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		     struct shmkit_stat *st)
{
	struct shmid_ds ds;
	int id = seg ? seg->shmid : lookup_id(u);
	if (id < 0)
		return id;
	/* SHM_STAT_ANY would need the index; IPC_STAT needs read permission. */
	if (shmctl(id, IPC_STAT, &ds) == 0) {
		shmkit__sysv_fill_stat(st, id, &ds);
	} else {
		int err = (errno == EIDRM || errno == EINVAL) ? ENOENT : errno;
		/* ipcs and shmkit ls show another user's 0600 segment to anyone:
		 * /proc/sysvipc/shm has the same facts without the read check. */
		struct shmkit__sysv_row row;
		if (err != EACCES || shmkit__sysv_row(id, &row) < 0)
			return shmkit__fail(err > 0 ? -err : -EIO, "IPC_STAT of sysv id %d: %s", id,
					    strerror(err));
		shmkit__sysv_row_stat(st, &row);
	}
	/* Huge pages leave no trace in IPC_STAT: look at a mapping. Without the
	 * caller's own, never attach one just to look (shmat/shmdt rewrite the
	 * last-user pid and times that gc --foreign reads: DESIGN §8); the stat
	 * layer asks a process that has it attached (src/stat.c). */
	if (seg)
		shmkit__stat_pages(seg, st);
	if (seg && seg->key != -1 && seg->key != IPC_PRIVATE)
		st->sysv_key = (int64_t)(unsigned)seg->key; /* after IPC_RMID the kernel shows 0 */
	if (st->sysv_key > 0)
		snprintf(st->uri, sizeof(st->uri), "sysv:0x%08x", (unsigned)st->sysv_key);
	else
		snprintf(st->uri, sizeof(st->uri), "sysv:id=%d", id);
	return 0;
}

const struct shmkit__backend shmkit__backend_sysv = {
	.id = SHMKIT_SYSV,
	.open = sysv_open,
	.close = sysv_close,
	.remove = sysv_remove,
	.stat = sysv_stat,
	.flush = NULL,
};
