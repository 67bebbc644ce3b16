/* SPDX-License-Identifier: MIT */
/* shmkit_list: every segment this process may see.
 *
 *  1. One pass over /proc/PID/{maps,fd} collects every shared mapping and
 *     every memfd or /dev/shm descriptor, with the processes using it.
 *  2. SysV segments come from /proc/sysvipc/shm, POSIX ones from /dev/shm;
 *     each takes its users from step 1 (SysV by shmid, others by dev+inode).
 *  3. What step 1 found that is neither is reported on its own: memfds,
 *     deleted tmpfs files, anonymous shared regions, and files someone maps
 *     shared and writable.
 * Processes whose /proc entries we may not read are skipped silently.
 * Named segments that could hold a shmkit header (SysV, POSIX, file) go
 * through the caller's filler first (src/seg_stat.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"
#include "proc.h"
#include "seg_stat.h"

/* One object seen in /proc. */
struct found {
	int shmid;              /* SysV (maps "/SYSV..." inode), else -1 */
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];    /* as /proc shows it, " (deleted)" included */
	uint64_t map_len;       /* longest mapping of it seen */
	int have_stat;
	struct stat sb;
	int claimed;            /* reported as a SysV or POSIX segment already */
	int writable;           /* someone maps it shared and writable */
	pid_t last_pid;
	int n_users;
	struct shmkit_mapper users[SHMKIT_STAT_MAPPERS];
	struct shmkit__seen_at head; /* a shared mapping of its offset 0 (pid 0: none seen) */
};

struct scan {
	struct found *v;
	size_t n, cap;
};

static struct found *find(struct scan *s, int shmid, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < s->n; i++) {
		struct found *f = &s->v[i];
		if (shmid >= 0 ? f->shmid == shmid : (f->shmid < 0 && f->dev == dev && f->ino == ino))
			return f;
	}
	return NULL;
}

static struct found *find_or_add(struct scan *s, int shmid, dev_t dev, ino_t ino, const char *path)
{
	struct found *f = find(s, shmid, dev, ino);
	if (f)
		return f;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		struct found *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	f = &s->v[s->n++];
	memset(f, 0, sizeof(*f));
	f->shmid = shmid;
	f->dev = dev;
	f->ino = ino;
	snprintf(f->path, sizeof(f->path), "%s", path);
	return f;
}

static void add_user(struct found *f, pid_t pid, const char *comm)
{
	if (f->last_pid == pid)
		return; /* pids are scanned one at a time: this catches repeats */
	f->last_pid = pid;
	if (f->n_users < SHMKIT_STAT_MAPPERS) {
		f->users[f->n_users].pid = pid;
		snprintf(f->users[f->n_users].comm, sizeof(f->users[0].comm), "%s", comm);
	}
	f->n_users++;
}

struct scan_pid {
	struct scan *s;
	pid_t pid;
	char comm[16];
	int other_ipc; /* in another IPC namespace: its shmids name other segments */
};

static int scan_map_line(const struct shmkit__map_line *l, void *arg)
{
	struct scan_pid *c = arg;
	if (l->perms[3] != 's' || (l->shmid >= 0 && c->other_ipc))
		return 0;
	struct found *f = find_or_add(c->s, l->shmid, l->dev, (ino_t)l->ino, l->name);
	if (!f)
		return 0;
	if (l->end - l->start > f->map_len)
		f->map_len = l->end - l->start;
	f->writable |= l->perms[1] == 'w';
	if (l->shmid < 0 && l->offset == 0 && l->end - l->start > f->head.len) {
		f->head.pid = c->pid;
		f->head.addr = l->start;
		f->head.len = l->end - l->start;
	}
	if (!f->have_stat && l->shmid < 0) {
		/* map_files/ shows the object itself (root or same user, kernel >= 4.3). */
		char mf[96];
		snprintf(mf, sizeof(mf), "/proc/%d/map_files/%lx-%lx", (int)c->pid, l->start,
			 l->end);
		f->have_stat = stat(mf, &f->sb) == 0 && (uint64_t)f->sb.st_ino == l->ino;
	}
	add_user(f, c->pid, c->comm);
	return 0;
}

/* Descriptors worth reporting: memfds and /dev/shm files (mapped or not). */
static int scan_fd(const char *fd, const char *link, const struct stat *sb, void *arg)
{
	struct scan_pid *c = arg;
	(void)fd;
	if (strncmp(link, "/memfd:", 7) != 0 && strncmp(link, "/dev/shm/", 9) != 0)
		return 0;
	if (!sb || !S_ISREG(sb->st_mode))
		return 0;
	struct found *f = find_or_add(c->s, -1, sb->st_dev, sb->st_ino, link);
	if (!f)
		return 0;
	f->sb = *sb;
	f->have_stat = 1;
	add_user(f, c->pid, c->comm);
	return 0;
}

/* Out of descriptors or memory ourselves: the listing would silently miss
 * segments and users, so it fails instead (a process we may not read is
 * only skipped). */
static int own_limit(int r)
{
	return r == -EMFILE || r == -ENFILE || r == -ENOMEM;
}

static int scan_one(pid_t pid, void *arg)
{
	uint64_t mine = shmkit__proc_ns(0, "ipc"), theirs = shmkit__proc_ns(pid, "ipc");
	struct scan_pid c = {arg, pid, "", mine && theirs && mine != theirs};
	shmkit__proc_comm(pid, c.comm, sizeof(c.comm));
	int r = shmkit__proc_each_map(pid, scan_map_line, &c);
	if (!own_limit(r))
		r = shmkit__proc_each_fd(pid, scan_fd, &c);
	return own_limit(r) ? r : 0;
}

static int scan_proc(struct scan *s)
{
	return shmkit__proc_each_pid(scan_one, s);
}

static void take_users(struct shmkit_stat *st, struct found *f)
{
	if (!f)
		return;
	f->claimed = 1;
	st->n_mappers = f->n_users;
	int n = f->n_users < SHMKIT_STAT_MAPPERS ? f->n_users : SHMKIT_STAT_MAPPERS;
	memcpy(st->mappers, f->users, (size_t)n * sizeof(st->mappers[0]));
}

/* ---- SysV ---- */

/* What one listing calls: the user's fn, and the filler before it. */
struct list_cb {
	int (*fn)(const struct shmkit_stat *, void *);
	void *arg;
	shmkit__stat_filler fill;
};

struct sysv_ctx {
	struct scan *s;
	const struct list_cb *cb;
	int *count;
	struct shmkit_stat *st;
};

static void fill_sysv(struct shmkit_stat *st, const struct shmkit__sysv_row *r)
{
	shmkit__stat_init(st, SHMKIT_SYSV);
	shmkit__sysv_row_stat(st, r);
	if ((unsigned)r->key != 0)
		snprintf(st->uri, sizeof(st->uri), "sysv:0x%08x", (unsigned)r->key);
	else
		snprintf(st->uri, sizeof(st->uri), "sysv:id=%d", r->shmid);
}

static int list_sysv_one(const struct shmkit__sysv_row *r, void *arg)
{
	struct sysv_ctx *c = arg;
	fill_sysv(c->st, r);
	take_users(c->st, find(c->s, r->shmid, 0, 0));
	/* the filler reads SysV only through the mappers: never attaches */
	if (c->cb->fill)
		c->cb->fill(NULL, c->st, NULL);
	++*c->count;
	return c->cb->fn(c->st, c->cb->arg);
}

static int list_sysv(struct scan *s, const struct list_cb *cb, int *count)
{
	struct shmkit_stat *st = malloc(sizeof(*st));
	if (!st)
		return shmkit__no_memory("a segment's status");
	struct sysv_ctx c = {s, cb, count, st};
	int rc = shmkit__sysv_each(list_sysv_one, &c);
	free(st);
	return rc == -ENOENT ? 0 : rc;
}

/* ---- POSIX ---- */

static int list_posix(struct scan *s, const struct list_cb *cb, int *count)
{
	DIR *d = opendir("/dev/shm");
	int err = d ? 0 : shmkit__neg_errno();
	struct dirent *e;
	struct shmkit_stat *st = malloc(sizeof(*st));
	int rc = 0;

	if (!d || !st) {
		if (d)
			closedir(d);
		free(st);
		return !st ? -ENOMEM : own_limit(err) ? err : 0;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct stat sb;
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		shmkit__stat_init(st, SHMKIT_POSIX);
		snprintf(st->uri, sizeof(st->uri), "posix:/%s", e->d_name);
		shmkit__stat_from_stat(&sb, st);
		take_users(st, find(s, -1, sb.st_dev, sb.st_ino));
		st->attach_count = st->n_mappers;
		if (cb->fill)
			cb->fill(NULL, st, NULL);
		/* Out of descriptors, every later header would go unread too: the
		 * listing fails. A header that could not be mapped (-ENOMEM: that
		 * mapping did not fit the address space) is that row's own
		 * trouble, shown as not read, as shmkit_stat does. */
		if (st->header_status == -EMFILE || st->header_status == -ENFILE) {
			rc = st->header_status;
			break;
		}
		rc = cb->fn(st, cb->arg);
		++*count;
	}
	closedir(d);
	free(st);
	return rc;
}

/* ---- what only /proc knows about ---- */

static void strip_deleted(char *path, int *deleted)
{
	size_t n = strlen(path);
	const char *tag = " (deleted)";
	size_t t = strlen(tag);
	*deleted = n > t && strcmp(path + n - t, tag) == 0;
	if (*deleted)
		path[n - t] = '\0';
}

static void describe_found(struct found *f, struct shmkit_stat *st)
{
	char path[PATH_MAX];
	int deleted;

	snprintf(path, sizeof(path), "%s", f->path);
	strip_deleted(path, &deleted);
	if (strncmp(path, "/memfd:", 7) == 0) {
		shmkit__stat_init(st, SHMKIT_MEMFD);
		snprintf(st->uri, sizeof(st->uri), "memfd:%s", path + 7);
		deleted = 1;
	} else if (strcmp(path, "/dev/zero") == 0 || path[0] == '\0' ||
		   strcmp(path, "[anon_shmem]") == 0) {
		shmkit__stat_init(st, SHMKIT_ANON);
		snprintf(st->uri, sizeof(st->uri), "anon:");
		deleted = 1;
	} else if (strncmp(path, "/dev/shm/", 9) == 0) {
		shmkit__stat_init(st, SHMKIT_POSIX);
		snprintf(st->uri, sizeof(st->uri), "posix:%s", path + 8);
	} else {
		shmkit__stat_init(st, SHMKIT_FILE);
		snprintf(st->uri, sizeof(st->uri), "file:%s", path);
	}
	st->deleted = deleted;
	if (f->have_stat) {
		shmkit__stat_from_stat(&f->sb, st);
	} else {
		st->size = f->map_len;
		st->real_size = f->map_len;
		st->dev = (uint64_t)f->dev;
		st->inode = (uint64_t)f->ino;
	}
	if (st->backend == SHMKIT_ANON) {
		st->mode = 0600;
		if (f->n_users > 0) {
			char status[64];
			struct stat pst;
			snprintf(status, sizeof(status), "/proc/%d", (int)f->users[0].pid);
			if (stat(status, &pst) == 0) {
				st->uid = pst.st_uid;
				st->gid = pst.st_gid;
			}
		}
	}
	take_users(st, f);
	st->attach_count = st->n_mappers;
}

/* A named file only ever mapped shared read-only (glibc's gconv cache, fonts)
 * is not memory anyone shares for IPC: not reported. */
static int is_readonly_file(const struct found *f)
{
	const char *p = f->path;
	size_t n = strlen(p);
	if (f->writable || strncmp(p, "/memfd:", 7) == 0 || strncmp(p, "/dev/", 5) == 0)
		return 0;
	return !(n > 10 && strcmp(p + n - 10, " (deleted)") == 0);
}

static int list_found(struct scan *s, const struct list_cb *cb, int *count)
{
	struct shmkit_stat *st = malloc(sizeof(*st));
	int rc = 0;
	if (!st)
		return shmkit__no_memory("a segment's status");
	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		struct found *f = &s->v[i];
		if (f->claimed || f->shmid >= 0 || is_readonly_file(f))
			continue;
		describe_found(f, st);
		/* shmkit objects too: a named file's header read by its name, a
		 * memfd's, an anonymous region's or a removed name's through a
		 * process that maps it (managed.c) */
		if (cb->fill)
			cb->fill(NULL, st, f->head.pid ? &f->head : NULL);
		rc = cb->fn(st, cb->arg);
		++*count;
	}
	free(st);
	return rc;
}

int shmkit__list(int (*fn)(const struct shmkit_stat *st, void *arg), void *arg,
		 shmkit__stat_filler fill)
{
	struct scan s = { NULL, 0, 0 };
	struct list_cb cb = { fn, arg, fill };
	int count = 0;

	shmkit__detail_clear();
	if (!fn)
		return shmkit__fail(-EINVAL, "fn is NULL");
	int rc = scan_proc(&s);
	if (rc == -ENOENT) {
		/* a list without its users and without the SysV segments
		 * (/proc/sysvipc) would look complete and be wrong */
		free(s.v);
		return shmkit__fail(rc, "/proc is not mounted here, or shows another pid namespace "
				    "(no /proc/self): cannot see which segments exist and who maps them");
	}
	if (rc < 0) {
		free(s.v);
		return shmkit__fail(rc, "reading /proc to see who maps what: %s (RLIMIT_NOFILE?)",
				    strerror(-rc));
	}
	rc = list_sysv(&s, &cb, &count);
	if (rc == 0)
		rc = list_posix(&s, &cb, &count);
	if (rc == 0)
		rc = list_found(&s, &cb, &count);
	free(s.v);
	return rc != 0 ? rc : count;
}
