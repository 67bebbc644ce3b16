/* shmkit_stat / shmkit_seg_stat: what a segment is, who maps it.
 *
 * One function, stat_seg_level(), fills every segment-level field from the
 * backend and /proc; the public calls use it and are the place where
 * higher layers (the managed-header peek) add their own fields. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"
#include "managed.h"

static enum shmkit_lifetime lifetime_of(enum shmkit_backend b)
{
	switch (b) {
	case SHMKIT_POSIX:
	case SHMKIT_SYSV:
		return SHMKIT_LIFE_KERNEL;
	case SHMKIT_FILE:
		return SHMKIT_LIFE_FILESYSTEM;
	case SHMKIT_MEMFD:
	case SHMKIT_ANON:
		break;
	}
	return SHMKIT_LIFE_PROCESS;
}

/* Defaults for fields a backend may not know. */
void shmkit__stat_init(struct shmkit_stat *st, enum shmkit_backend b)
{
	memset(st, 0, sizeof(*st));
	st->backend = b;
	st->lifetime = lifetime_of(b);
	st->attach_count = -1;
	st->sysv_key = -1;
	st->sysv_id = -1;
	st->creator_alive = -1;
}

/* ---- /proc: who maps or holds an object ---- */

void shmkit__stat_self_mapping(struct shmkit_stat *st, const void *addr)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start;
		unsigned maj, min;
		unsigned long long ino;
		if (sscanf(line, "%lx-%*x %*s %*x %x:%x %llu", &start, &maj, &min, &ino) == 4 &&
		    start == (unsigned long)(uintptr_t)addr) {
			st->dev = (uint64_t)makedev(maj, min);
			st->inode = ino;
			break;
		}
	}
	fclose(f);
}

static void read_comm(pid_t pid, char comm[16])
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	comm[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, comm, 15);
	close(fd);
	if (n < 0)
		n = 0;
	comm[n] = '\0';
	char *nl = strchr(comm, '\n');
	if (nl)
		*nl = '\0';
}

/* Does pid map (maps) or hold (fd/) the object? Unreadable entries: no. */
static int pid_uses(pid_t pid, dev_t dev, ino_t ino, int shmid)
{
	char path[64], line[4096];
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (f) {
		while (!found && fgets(line, sizeof(line), f)) {
			unsigned maj, min;
			unsigned long long i;
			char name[64] = "";
			char perms[8];
			if (sscanf(line, "%*x-%*x %7s %*x %x:%x %llu %63s", perms, &maj, &min, &i,
				   name) < 4 || perms[3] != 's')
				continue;
			if (shmid >= 0)
				found = strncmp(name, "/SYSV", 5) == 0 && i == (unsigned long long)shmid;
			else
				found = makedev(maj, min) == dev && i == (unsigned long long)ino;
		}
		fclose(f);
	}
	if (found || shmid >= 0)
		return found;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		struct stat sb;
		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, 0) == 0)
			found = sb.st_dev == dev && sb.st_ino == ino;
	}
	closedir(d);
	return found;
}

static void add_mapper(struct shmkit_stat *st, pid_t pid)
{
	if (st->n_mappers < SHMKIT_STAT_MAPPERS) {
		struct shmkit_mapper *m = &st->mappers[st->n_mappers];
		m->pid = pid;
		read_comm(pid, m->comm);
	}
	st->n_mappers++;
}

void shmkit__stat_mappers(struct shmkit_stat *st, dev_t dev, ino_t ino, int shmid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	st->n_mappers = 0;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (pid_uses((pid_t)pid, dev, ino, shmid))
			add_mapper(st, (pid_t)pid);
	}
	closedir(d);
}

/* ---- the public calls ---- */

/* Every segment-level field: backend facts, then the processes using it. */
static int stat_seg_level(const struct shmkit__uri *u, const struct shmkit_seg *seg,
			  struct shmkit_stat *st)
{
	const struct shmkit__backend *ops = seg ? seg->ops : shmkit__backend_of(u->backend);
	enum shmkit_backend b = seg ? seg->backend : u->backend;

	shmkit__stat_init(st, b);
	if (seg)
		snprintf(st->uri, sizeof(st->uri), "%s", seg->uri);
	else
		shmkit__uri_format(u, st->uri, sizeof(st->uri));
	int rc = ops->stat(u, seg, st);
	if (rc < 0)
		return rc;
	if (b == SHMKIT_SYSV) {
		shmkit__stat_mappers(st, 0, 0, st->sysv_id);
	} else if (st->inode != 0) {
		shmkit__stat_mappers(st, (dev_t)st->dev, (ino_t)st->inode, -1);
		st->attach_count = st->n_mappers;
	}
	/* Last, after the mappers were counted: the peek maps it too. */
	shmkit__stat_managed(seg, st);
	return 0;
}

int shmkit_stat(const char *uri, struct shmkit_stat *st)
{
	struct shmkit__uri u;

	shmkit__detail_clear();
	if (!st)
		return shmkit__fail(-EINVAL, "st is NULL");
	int rc = shmkit__uri_parse(uri, &u);
	if (rc < 0)
		return rc;
	if (u.is_fd) {
		struct shmkit_seg *seg;
		rc = shmkit__seg_from_fd(&seg, u.fd, 0, SHMKIT_RDONLY, 0);
		if (rc < 0)
			return rc;
		rc = stat_seg_level(&u, seg, st);
		shmkit_seg_close(seg);
		return rc;
	}
	return stat_seg_level(&u, NULL, st);
}

int shmkit_seg_stat(const struct shmkit_seg *seg, struct shmkit_stat *st)
{
	shmkit__detail_clear();
	if (!seg || !st)
		return shmkit__fail(-EINVAL, "seg or st is NULL");
	struct shmkit__uri u;
	if (shmkit__uri_parse(seg->uri, &u) < 0)
		memset(&u, 0, sizeof(u));
	shmkit__detail_clear();
	return stat_seg_level(&u, seg, st);
}
