/* shmkit_list: every segment this process may see.
 *
 *  1. One pass over /proc/PID/{maps,fd} collects every shared mapping and
 *     every memfd or /dev/shm descriptor, with the processes using it.
 *  2. SysV segments come from /proc/sysvipc/shm, POSIX ones from /dev/shm;
 *     each takes its users from step 1 (SysV by shmid, others by dev+inode).
 *  3. What step 1 found that is neither is reported on its own: memfds,
 *     deleted tmpfs files, anonymous shared regions, and files someone maps
 *     shared and writable.
 * Processes whose /proc entries we may not read are skipped silently. */
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
#include "managed.h"

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

static void scan_maps(struct scan *s, pid_t pid, const char *comm)
{
	char path[64], line[PATH_MAX + 128];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *fp = fopen(path, "re");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long start, end;
		unsigned maj, min;
		unsigned long long ino;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*x %x:%x %llu %n", &start, &end, perms, &maj, &min, &ino,
			   &name_at) < 6 || perms[3] != 's')
			continue;
		char *name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		int shmid = strncmp(name, "/SYSV", 5) == 0 ? (int)ino : -1;
		struct found *f = find_or_add(s, shmid, makedev(maj, min), (ino_t)ino, name);
		if (!f)
			continue;
		if (end - start > f->map_len)
			f->map_len = end - start;
		f->writable |= perms[1] == 'w';
		if (!f->have_stat && shmid < 0) {
			/* map_files/ shows the object itself (root or same user, kernel >= 4.3). */
			char mf[96];
			snprintf(mf, sizeof(mf), "/proc/%d/map_files/%lx-%lx", (int)pid, start, end);
			f->have_stat = stat(mf, &f->sb) == 0 && f->sb.st_ino == (ino_t)ino;
		}
		add_user(f, pid, comm);
	}
	fclose(fp);
}

/* Descriptors worth reporting: memfds and /dev/shm files (mapped or not). */
static void scan_fds(struct scan *s, pid_t pid, const char *comm)
{
	char path[64], link[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "/memfd:", 7) != 0 && strncmp(link, "/dev/shm/", 9) != 0)
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), e->d_name, &sb, 0) < 0 || !S_ISREG(sb.st_mode))
			continue;
		struct found *f = find_or_add(s, -1, sb.st_dev, sb.st_ino, link);
		if (!f)
			continue;
		f->sb = sb;
		f->have_stat = 1;
		add_user(f, pid, comm);
	}
	closedir(d);
}

static void read_comm(pid_t pid, char comm[16])
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	comm[0] = '\0';
	FILE *fp = fopen(path, "re");
	if (!fp)
		return;
	if (fgets(comm, 16, fp))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(fp);
}

static void scan_proc(struct scan *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end, comm[16];
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		read_comm((pid_t)pid, comm);
		scan_maps(s, (pid_t)pid, comm);
		scan_fds(s, (pid_t)pid, comm);
	}
	closedir(d);
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

static int list_sysv(struct scan *s, int (*fn)(const struct shmkit_stat *, void *), void *arg,
		     int *count)
{
	FILE *fp = fopen("/proc/sysvipc/shm", "re");
	char line[512];
	struct shmkit_stat *st = malloc(sizeof(*st));
	int rc = 0;

	if (!fp || !st) {
		if (fp)
			fclose(fp);
		free(st);
		return st ? 0 : -ENOMEM;
	}
	if (!fgets(line, sizeof(line), fp)) /* header */
		goto out;
	while (rc == 0 && fgets(line, sizeof(line), fp)) {
		long long key, atime, dtime, ctime;
		int id, cpid, lpid;
		unsigned perms, uid, gid;
		unsigned long long size, nattch;
		if (sscanf(line, "%lld %d %o %llu %d %d %llu %u %u %*u %*u %lld %lld %lld", &key, &id,
			   &perms, &size, &cpid, &lpid, &nattch, &uid, &gid, &atime, &dtime,
			   &ctime) != 12)
			continue;
		shmkit__stat_init(st, SHMKIT_SYSV);
		long page = sysconf(_SC_PAGESIZE);
		st->size = size;
		st->real_size = (size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
		st->mode = perms & 0777;
		st->marked_for_removal = (perms & 01000) != 0;
		st->uid = uid;
		st->gid = gid;
		st->creator_pid = cpid;
		st->last_pid = lpid;
		st->attach_count = (int64_t)nattch;
		st->sysv_key = (int64_t)(unsigned)key;
		st->sysv_id = id;
		st->atime = atime;
		st->dtime = dtime;
		st->ctime = ctime;
		st->mtime = ctime;
		if ((unsigned)key != 0)
			snprintf(st->uri, sizeof(st->uri), "sysv:0x%08x", (unsigned)key);
		else
			snprintf(st->uri, sizeof(st->uri), "sysv:id=%d", id);
		take_users(st, find(s, id, 0, 0));
		rc = fn(st, arg);
		++*count;
	}
out:
	fclose(fp);
	free(st);
	return rc;
}

/* ---- POSIX ---- */

static int list_posix(struct scan *s, int (*fn)(const struct shmkit_stat *, void *), void *arg,
		      int *count)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	struct shmkit_stat *st = malloc(sizeof(*st));
	int rc = 0;

	if (!d || !st) {
		if (d)
			closedir(d);
		free(st);
		return st ? 0 : -ENOMEM;
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
		shmkit__stat_managed(NULL, st); /* shmkit objects: kind, version, creator */
		rc = fn(st, arg);
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

static int list_found(struct scan *s, int (*fn)(const struct shmkit_stat *, void *), void *arg,
		      int *count)
{
	struct shmkit_stat *st = malloc(sizeof(*st));
	int rc = 0;
	if (!st)
		return -ENOMEM;
	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		struct found *f = &s->v[i];
		if (f->claimed || f->shmid >= 0 || is_readonly_file(f))
			continue;
		describe_found(f, st);
		/* file: objects too; SysV is never attached just to list it (that
		 * would overwrite its last-user pid, which gc --foreign relies on) */
		if (st->backend == SHMKIT_FILE)
			shmkit__stat_managed(NULL, st);
		rc = fn(st, arg);
		++*count;
	}
	free(st);
	return rc;
}

int shmkit_list(int (*fn)(const struct shmkit_stat *st, void *arg), void *arg)
{
	struct scan s = { NULL, 0, 0 };
	int count = 0;

	shmkit__detail_clear();
	if (!fn)
		return shmkit__fail(-EINVAL, "fn is NULL");
	scan_proc(&s);
	int rc = list_sysv(&s, fn, arg, &count);
	if (rc == 0)
		rc = list_posix(&s, fn, arg, &count);
	if (rc == 0)
		rc = list_found(&s, fn, arg, &count);
	free(s.v);
	return rc != 0 ? rc : count;
}
