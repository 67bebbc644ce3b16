/* SPDX-License-Identifier: MIT */
/* shmkit ls / stat / create / rm / write / read: segments from the shell.
 * Every command names segments by URI (see shmkit(1)) and goes through the
 * public segment API only: what the tool can do, any program can. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"

/* ---- one segment as text or JSON ---- */

static const char *mode_str(unsigned mode, char *buf, size_t cap)
{
	snprintf(buf, cap, "%04o", mode & 07777);
	return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t cap)
{
	struct group gr, *res = NULL;
	char tmp[1024];

	if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, cap, "%s", res->gr_name);
	else
		snprintf(buf, cap, "%u", (unsigned)gid);
	return buf;
}

static const char *time_str(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !localtime_r(&tt, &tm))
		return "-";
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* "2: 1234/writer 1240/reader" — how many attach, and who we saw mapping it. */
static const char *attached_str(const struct shmkit_stat *st, char *buf, size_t cap)
{
	size_t len = 0;
	int shown = st->n_mappers < SHMKIT_STAT_MAPPERS ? st->n_mappers : SHMKIT_STAT_MAPPERS;

	if (st->attach_count >= 0)
		len += (size_t)snprintf(buf, cap, "%" PRId64, st->attach_count);
	else
		len += (size_t)snprintf(buf, cap, "?");
	for (int i = 0; i < shown && len < cap; i++) {
		/* A process names itself: escape what it chose before printing it. */
		char comm[sizeof(st->mappers[i].comm) + 1], safe[4 * sizeof(comm)];
		snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(st->mappers[i].comm),
			 st->mappers[i].comm);
		len += (size_t)snprintf(buf + len, cap - len, "%s%d/%s", i ? " " : ": ",
					(int)st->mappers[i].pid,
					cli_printable(comm, safe, sizeof(safe)));
	}
	if (st->n_mappers > shown && len < cap)
		snprintf(buf + len, cap - len, " +%d more", st->n_mappers - shown);
	return buf;
}

/* How the segment's pages come: "huge (hugetlb)", "huge (transparent)", "base". */
static const char *pages_str(const struct shmkit_stat *st)
{
	if (st->pages == SHMKIT_PAGES_HUGETLB)
		return "huge (hugetlb)";
	if (st->pages == SHMKIT_PAGES_THP)
		return "huge (transparent)";
	return st->page_size > 4096 ? "huge" : "base";
}

static int is_huge(const struct shmkit_stat *st)
{
	return st->pages == SHMKIT_PAGES_HUGETLB || st->pages == SHMKIT_PAGES_THP ||
	       st->page_size > 4096;
}

/* ---- names the library refuses ----
 * shm_open() takes any name without a '/', but the library refuses a POSIX
 * name with a control character (DESIGN §2): another program can still
 * leave one in /dev/shm, and ls lists it (as posix:/ctl\x0ax). What ls
 * shows, stat must describe and rm must remove, so for those names only
 * the CLI does it itself: stat takes what ls lists, rm unlinks a regular
 * file (never a FIFO, a symbolic link or a directory, as the library's
 * remove refuses them). */

/* The name after "posix:/" (or "/") when the library refuses uri only for
 * a control character in it, else NULL. */
static const char *ctl_posix_name(const char *uri)
{
	const char *name = strncmp(uri, "posix:/", 7) == 0 ? uri + 7 : uri[0] == '/' ? uri + 1 : NULL;
	int ctl = 0;

	if (!name || !*name || strchr(name, '/') || strlen(name) > NAME_MAX ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		ctl |= *p < 0x20 || *p == 0x7f;
	return ctl ? name : NULL;
}

/* Why the header was not looked at, or NULL if it was: managed == 0 then
 * only means "no header" when header_status is 0. A SysV segment nobody has
 * attached (that we may read) is left unread on purpose, and so is a
 * memfd, anonymous region or removed name no readable process maps; a
 * POSIX or file segment the caller may not open (another user's, mode
 * 0600) may well be a queue. */
static const char *header_not_read(const struct shmkit_stat *st)
{
	if (st->managed || st->header_status >= 0)
		return NULL;
	if (st->header_status == -ENODATA && st->backend == SHMKIT_SYSV) {
		static char why[256]; /* never attached to be read */
		return shmkit__sysv_unread_why(st, why, sizeof(why));
	}
	if (st->header_status == -ENODATA) /* a memfd, anon: or removed name: read via a mapper */
		return "no name reaches it, and no process whose memory this user may read maps it";
	if (st->header_status == -EINVAL && st->backend == SHMKIT_POSIX && ctl_posix_name(st->uri))
		return "its name has a control character: the library opens no such name; "
		       "another program made it, and shmkit rm removes it";
	return shmkit_strerror(st->header_status);
}

/* The KIND cell: the object's kind, '-' for no shmkit header, '?' when the
 * header was not read (a SysV segment nobody has attached, another user's
 * 0600 segment): that may well be a queue. */
static const char *kind_str(const struct shmkit_stat *st)
{
	return st->managed ? cli_kind_name(st->kind) : header_not_read(st) ? "?" : "-";
}

/* A POSIX or file segment found only in /proc: its name was removed while
 * a process maps it. Its URI names whatever has that name now, or
 * nothing: a segment made again under the name printed the same URI
 * twice, and the stale row's URI given to stat or rm reached the new one. */
static int name_removed(const struct shmkit_stat *st)
{
	return st->deleted && (st->backend == SHMKIT_POSIX || st->backend == SHMKIT_FILE);
}

static const char *lifetime_str(const struct shmkit_stat *st)
{
	return name_removed(st) ? "deleted" : cli_lifetime_name(st->lifetime);
}

/* Whether the header's persist flag was read: not when the header is
 * corrupt or of another layout version (the library then leaves
 * persistent 0), nor before its magic is published (layout_version 0). */
static int persist_known(const struct shmkit_stat *st)
{
	return st->layout_version != 0 && st->header_status != -EBADMSG &&
	       st->header_status != -EPROTO;
}

/* The header's state in words. */
#define UNKNOWN_KIND_OK                                                                    \
	"ok, but of a kind this build does not know: a newer shmkit's object, or a damaged "  \
	"kind word"

static const char *header_status_str(const struct shmkit_stat *st)
{
	static char buf[256];

	switch (st->header_status) {
	case -EPROTO:
		snprintf(buf, sizeof(buf), "layout version %u, this build reads version %u",
			 st->layout_version, SHMKIT_LAYOUT_VERSION);
		return buf;
	case 0: /* a valid header any open would refuse all the same */
		return strcmp(shmkit_kind_name(st->kind), "unknown") == 0 ? UNKNOWN_KIND_OK : "ok";
	case -EINPROGRESS:
		return "initializing (its creator is still filling it)";
	case -EOWNERDEAD:
		return "half-built: its creator died before it was ready";
	case -EBADMSG:
		if (st->header_detail[0]) { /* what the open that refuses it would say */
			snprintf(buf, sizeof(buf), "corrupt or foreign: %s", st->header_detail);
			return buf;
		}
		return shmkit_strerror(st->header_status);
	default:
		return shmkit_strerror(st->header_status);
	}
}

static int is_listed_only(const char *uri)
{
	return strncmp(uri, "memfd:", 6) == 0;
}

/* The file open as O_PATH descriptor pfd, opened read-only to look: with
 * O_NOATIME, as the library's looks open posix: and file: segments, since
 * every read of a memfd (on the kernel's internal tmpfs, no relatime) would
 * set its access time; O_NOATIME needs the file's owner (or CAP_FOWNER), so
 * others' memfds fall back to a plain open. */
static int reopen_to_look(int pfd)
{
	char self[32];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	int fd = open(self, O_RDONLY | O_NOATIME | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == EPERM)
		fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	return fd;
}

/* A descriptor for a listed memfd: reopened read-only through
 * /proc/PID/fd of a process that holds one (matched by device and inode), or
 * -ENOENT when every holder only maps it. */
static int open_listed_fd(const struct shmkit_stat *st)
{
	int shown = st->n_mappers < SHMKIT_STAT_MAPPERS ? st->n_mappers : SHMKIT_STAT_MAPPERS;

	for (int i = 0; i < shown; i++) {
		char dir[64], path[64 + sizeof(((struct dirent *)0)->d_name)];
		struct dirent *d;
		struct stat sb;
		DIR *dp;

		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)st->mappers[i].pid);
		if (!(dp = opendir(dir)))
			continue;
		while ((d = readdir(dp)) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
			if (d->d_name[0] == '.' || stat(path, &sb) != 0 ||
			    (uint64_t)sb.st_dev != st->dev || (uint64_t)sb.st_ino != st->inode)
				continue;
			/* the holder may have put something else there since:
			 * looked at first through O_PATH, which opens nothing (a
			 * FIFO's writer is not released, no tty becomes ours),
			 * then the very file reopened */
			int pfd = open(path, O_PATH | O_CLOEXEC);
			if (pfd < 0)
				continue;
			int fd = -1;
			if (fstat(pfd, &sb) == 0 && S_ISREG(sb.st_mode) &&
			    (uint64_t)sb.st_dev == st->dev && (uint64_t)sb.st_ino == st->inode)
				fd = reopen_to_look(pfd);
			close(pfd);
			if (fd >= 0) {
				closedir(dp);
				return fd;
			}
		}
		closedir(dp);
	}
	return -ENOENT;
}

/* The URI a kind's look at st opens: a memfd, which no name reaches (the
 * library's memfd:NAME makes a new one), as fd:N, N its descriptor reopened
 * through a process that holds it, for the caller to close (*fd); any other
 * segment, or a memfd nobody holds a descriptor for, by its URI (*fd -1). */
static const char *look_uri_of(const struct shmkit_stat *st, char *buf, size_t len, int *fd)
{
	*fd = is_listed_only(st->uri) ? open_listed_fd(st) : -1;
	if (*fd < 0)
		return st->uri;
	snprintf(buf, len, "fd:%d", *fd);
	return buf;
}

/* The attach table of a managed segment; -1 when it cannot be read. */
static int read_attachers(const struct shmkit_stat *st, const char *look,
			  struct shmkit_attacher *a, int cap)
{
	if (!st->managed || (st->header_status < 0 && st->header_status != -EINPROGRESS &&
				     st->header_status != -EOWNERDEAD))
		return -1;
	int n = shmkit_managed_attachers(look, a, cap);
	return n < 0 ? -1 : (n < cap ? n : cap);
}

static const char *pid_str(pid_t pid, char *buf, size_t cap)
{
	if (pid <= 0)
		return "unknown";
	snprintf(buf, cap, "%d", (int)pid);
	return buf;
}

static const char *alive_str(int alive)
{
	return alive > 0    ? "alive"
	       : alive == 0 ? "dead"
	       : alive == -EXDEV ? "unknown (a pid of another pid namespace)"
			    : "unknown";
}

/* One segment as a JSON object. detail: also what opening the object tells
 * (queue counters, heap and map use); `ls` passes 0, because opening attaches
 * to the object and a heap's lock can be held for as long as its holder
 * likes (a stopped process): looking at everything must neither change
 * anything nor hang. */
static void json_stat(struct cli_json *j, const struct shmkit_stat *st, int detail)
{
	char buf[64];
	int shown = st->n_mappers < SHMKIT_STAT_MAPPERS ? st->n_mappers : SHMKIT_STAT_MAPPERS;

	cli_json_object(j, NULL);
	cli_json_str(j, "uri", st->uri);
	cli_json_str(j, "backend", cli_backend_name(st->backend));
	cli_json_str(j, "lifetime", lifetime_str(st));
	cli_json_bool(j, "deleted", st->deleted);
	cli_json_uint(j, "size", st->size);
	cli_json_uint(j, "real_size", st->real_size);
	if (st->page_size) {
		cli_json_uint(j, "page_size", st->page_size);
		cli_json_str(j, "pages", pages_str(st));
	}
	cli_json_str(j, "mode", mode_str(st->mode, buf, sizeof(buf)));
	cli_json_uint(j, "uid", st->uid);
	cli_json_str(j, "user", cli_user_name(st->uid, buf, sizeof(buf)));
	cli_json_uint(j, "gid", st->gid);
	cli_json_str(j, "group", group_name(st->gid, buf, sizeof(buf)));
	if (st->creator_pid > 0) /* null: the backend keeps no such pid */
		cli_json_int(j, "creator_pid", st->creator_pid);
	else
		cli_json_null(j, "creator_pid");
	if (st->last_pid > 0)
		cli_json_int(j, "last_pid", st->last_pid);
	else
		cli_json_null(j, "last_pid");
	if (st->attach_count >= 0)
		cli_json_int(j, "attach_count", st->attach_count);
	else
		cli_json_null(j, "attach_count");
	cli_json_bool(j, "marked_for_removal", st->marked_for_removal);
	if (st->backend == SHMKIT_SYSV && st->sysv_key >= 0) {
		snprintf(buf, sizeof(buf), "0x%08" PRIx64, (uint64_t)st->sysv_key);
		cli_json_str(j, "sysv_key", buf);
	} else {
		cli_json_null(j, "sysv_key");
	}
	if (st->backend == SHMKIT_SYSV && st->sysv_id >= 0)
		cli_json_int(j, "sysv_id", st->sysv_id);
	else
		cli_json_null(j, "sysv_id");
	cli_json_int(j, "atime", st->atime);
	cli_json_int(j, "dtime", st->dtime);
	cli_json_int(j, "ctime", st->ctime);
	cli_json_int(j, "mtime", st->mtime);
	cli_json_int(j, "n_mappers", st->n_mappers);
	cli_json_array(j, "mappers");
	for (int i = 0; i < shown; i++) {
		char comm[sizeof(st->mappers[i].comm) + 1];

		snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(st->mappers[i].comm),
			 st->mappers[i].comm);
		cli_json_object(j, NULL);
		cli_json_int(j, "pid", st->mappers[i].pid);
		cli_json_str(j, "comm", comm);
		cli_json_end(j);
	}
	cli_json_end(j);
	const char *why = header_not_read(st);
	if (why) {
		char status[256];
		snprintf(status, sizeof(status), "not read: %s", why);
		cli_json_null(j, "managed");
		cli_json_str(j, "header_status", status);
	} else
		cli_json_bool(j, "managed", st->managed);
	if (st->managed) {
		cli_json_str(j, "kind", cli_kind_name(st->kind));
		cli_json_uint(j, "kind_id", st->kind);
		cli_json_uint(j, "layout_version", st->layout_version);
		if (persist_known(st))
			cli_json_bool(j, "persistent", st->persistent);
		else
			cli_json_null(j, "persistent");
		if (st->creator_alive >= 0)
			cli_json_bool(j, "creator_alive", st->creator_alive);
		else
			cli_json_null(j, "creator_alive");
		cli_json_int(j, "managed_creator_pid", st->managed_creator_pid);
		cli_json_str(j, "header_status",
			     header_status_str(st));
		/* queue counters, topic state, heap use: looks (System V through a
		 * process that has it attached, never attached: DESIGN §8) */
		detail = detail && st->header_status == 0;
		char fd_uri[32];
		int fd;
		const char *look = look_uri_of(st, fd_uri, sizeof(fd_uri), &fd);
		if (detail && st->kind == SHMKIT_KIND_QUEUE)
			cli_queue_stat_json(j, look);
		struct shmkit_attacher a[64];
		int n = read_attachers(st, look, a, 64);
		if (n < 0) {
			cli_json_null(j, "attached_processes");
		} else {
			cli_json_array(j, "attached_processes");
			for (int i = 0; i < n; i++) {
				cli_json_object(j, NULL);
				cli_json_int(j, "pid", a[i].pid);
				if (a[i].alive >= 0)
					cli_json_bool(j, "alive", a[i].alive);
				else
					cli_json_null(j, "alive");
				cli_json_end(j);
			}
			cli_json_end(j);
		}
		if (st->kind == SHMKIT_KIND_TOPIC && st->header_status == 0)
			cli_topic_json(j, look);
		if (detail && (st->kind == SHMKIT_KIND_HEAP || st->kind == SHMKIT_KIND_MAP))
			cli_heap_json(j, look, st->kind);
		if (fd >= 0)
			close(fd);
	}
	cli_json_end(j);
}

static void print_stat(const struct shmkit_stat *st)
{
	char a[64], b[64], h[16], att[1024];

	char safe_uri[4 * SHMKIT_URI_MAX];
	printf("uri:                %s\n", cli_name(st->uri, safe_uri, sizeof(safe_uri)));
	printf("backend:            %s\n", cli_backend_name(st->backend));
	printf("lifetime:           %s\n", lifetime_str(st));
	printf("size:               %" PRIu64 " (%s)\n", st->size, cli_human_size(st->size, h, sizeof(h)));
	printf("real size:          %" PRIu64 "\n", st->real_size);
	if (st->page_size)
		printf("pages:              %s, %" PRIu64 " kB each\n", pages_str(st),
		       st->page_size / 1024);
	printf("mode:               %s\n", mode_str(st->mode, a, sizeof(a)));
	printf("owner:              %s (uid %u), group %s (gid %u)\n", cli_user_name(st->uid, a, sizeof(a)),
	       (unsigned)st->uid, group_name(st->gid, b, sizeof(b)), (unsigned)st->gid);
	if (st->backend == SHMKIT_SYSV) {
		if (st->sysv_key >= 0)
			printf("sysv key:           0x%08" PRIx64 "\n", (uint64_t)st->sysv_key);
		printf("sysv id:            %d\n", st->sysv_id);
		printf("marked for removal: %s\n", st->marked_for_removal ? "yes" : "no");
	}
	/* 0: the backend keeps no such pid (only SysV does) */
	printf("creator pid:        %s\n", pid_str(st->creator_pid, a, sizeof(a)));
	printf("last pid:           %s\n", pid_str(st->last_pid, b, sizeof(b)));
	printf("attached:           %s\n", attached_str(st, att, sizeof(att)));
	if (st->backend == SHMKIT_SYSV) {
		printf("attach time:        %s\n", time_str(st->atime, a, sizeof(a)));
		printf("detach time:        %s\n", time_str(st->dtime, a, sizeof(a)));
	}
	printf("change time:        %s\n", time_str(st->ctime, a, sizeof(a)));
	printf("modify time:        %s\n", time_str(st->mtime, a, sizeof(a)));
	const char *why = header_not_read(st);
	if (why)
		printf("managed:            not read (%s)\n", why);
	else
		printf("managed:            %s\n", st->managed ? "yes" : "no");
	if (st->managed) {
		printf("kind:               %s (%u)\n", cli_kind_name(st->kind), st->kind);
		printf("layout version:     %u\n", st->layout_version);
		printf("ownership:          %s\n",
		       !persist_known(st) ? "unknown (its header could not be read)"
		       : st->persistent   ? "persistent (gc never removes it)"
					  : "owned (gc may remove it once its users are gone and it is empty)");
		printf("creator:            %d, %s\n", (int)st->managed_creator_pid,
		       alive_str(st->creator_alive));
		printf("header:             %s\n",
		       header_status_str(st));
		/* looks, each says when it could not read (System V nobody has
		 * attached: never attached to look, DESIGN §8) */
		int inside = st->header_status == 0;
		char fd_uri[32];
		int fd;
		const char *look = look_uri_of(st, fd_uri, sizeof(fd_uri), &fd);
		if (st->kind == SHMKIT_KIND_QUEUE && inside)
			cli_queue_stat_text(look);
		struct shmkit_attacher at[64];
		int n = read_attachers(st, look, at, 64);
		printf("attached processes: ");
		if (n < 0)
			printf("unknown\n");
		else if (n == 0)
			printf("none\n");
		for (int i = 0; i < n; i++)
			printf("%s%d %s%s", i ? ", " : "", (int)at[i].pid, alive_str(at[i].alive),
			       i == n - 1 ? "\n" : "");
		if (st->kind == SHMKIT_KIND_TOPIC && inside)
			cli_topic_print(look);
		if ((st->kind == SHMKIT_KIND_HEAP || st->kind == SHMKIT_KIND_MAP) && inside)
			cli_heap_print(look, st->kind);
		if (fd >= 0)
			close(fd);
	}
}

/* ---- ls ---- */

struct stat_list {
	struct shmkit_stat *v;
	size_t n, cap;
};

static int collect(const struct shmkit_stat *st, void *arg)
{
	struct stat_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct shmkit_stat *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *st;
	return 0;
}

/* ---- ls: columns as util-linux lsipc has them ---- */

struct ls_opts {
	int json, noheadings, raw, bytes;
	const char *output, *user, *kind;
	uid_t uid;
};

/* One cell of a column into buf. */
typedef const char *(*cell_fn)(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			       size_t cap);

static const char *c_uri(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	return cli_name(st->uri, buf, cap);
}

static const char *c_backend(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			     size_t cap)
{
	(void)o;
	snprintf(buf, cap, "%s%s", cli_backend_name(st->backend), is_huge(st) ? "*" : "");
	return buf;
}

static const char *c_size(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	if (o->bytes) {
		snprintf(buf, cap, "%" PRIu64, st->size);
		return buf;
	}
	return cli_human_size(st->size, buf, cap);
}

static const char *c_mode(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	return mode_str(st->mode, buf, cap);
}

static const char *c_owner(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			   size_t cap)
{
	(void)o;
	return cli_user_name(st->uid, buf, cap);
}

static const char *c_group(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			   size_t cap)
{
	(void)o;
	return group_name(st->gid, buf, cap);
}

static const char *c_lifetime(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			      size_t cap)
{
	(void)o;
	(void)buf;
	(void)cap;
	return lifetime_str(st);
}

static const char *c_kind(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	(void)buf;
	(void)cap;
	return kind_str(st);
}

static const char *c_attached(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			      size_t cap)
{
	(void)o;
	return attached_str(st, buf, cap);
}

static const char *c_nattch(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			    size_t cap)
{
	(void)o;
	if (st->attach_count < 0)
		return "?";
	snprintf(buf, cap, "%" PRId64, st->attach_count);
	return buf;
}

static const char *c_id(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	if (st->backend != SHMKIT_SYSV || st->sysv_id < 0)
		return "-";
	snprintf(buf, cap, "%d", st->sysv_id);
	return buf;
}

static const char *c_key(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	if (st->backend != SHMKIT_SYSV || st->sysv_key < 0)
		return "-";
	snprintf(buf, cap, "0x%08" PRIx64, (uint64_t)st->sysv_key);
	return buf;
}

static const char *c_cpid(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	return st->creator_pid > 0 ? pid_str(st->creator_pid, buf, cap) : "-";
}

static const char *c_lpid(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	return st->last_pid > 0 ? pid_str(st->last_pid, buf, cap) : "-";
}

/* Times as lsipc prints them by default: ISO date and time, "-" when never. */
static const char *iso_time(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !localtime_r(&tt, &tm))
		return "-";
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	return buf;
}

static const char *c_atime(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			   size_t cap)
{
	(void)o;
	return st->backend == SHMKIT_SYSV ? iso_time(st->atime, buf, cap) : "-";
}

static const char *c_dtime(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			   size_t cap)
{
	(void)o;
	return st->backend == SHMKIT_SYSV ? iso_time(st->dtime, buf, cap) : "-";
}

static const char *c_ctime(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			   size_t cap)
{
	(void)o;
	return iso_time(st->ctime, buf, cap);
}

static const char *c_mtime(const struct shmkit_stat *st, const struct ls_opts *o, char *buf,
			   size_t cap)
{
	(void)o;
	return iso_time(st->mtime, buf, cap);
}

static const char *c_dest(const struct shmkit_stat *st, const struct ls_opts *o, char *buf, size_t cap)
{
	(void)o;
	(void)buf;
	(void)cap;
	return st->marked_for_removal ? "dest" : "-";
}

static const struct ls_column {
	const char *name;
	int right; /* right-aligned (numbers) */
	cell_fn cell;
} ls_columns[] = {
	{ "URI", 0, c_uri }, /* the segment's URI */
	{ "BACKEND", 0, c_backend }, /* posix, sysv, file, memfd, anon (* huge pages) */
	{ "SIZE", 1, c_size }, /* size (bytes with --bytes) */
	{ "MODE", 0, c_mode }, /* permission bits */
	{ "OWNER", 0, c_owner }, /* owner's user name */
	{ "GROUP", 0, c_group }, /* group name */
	{ "LIFETIME", 0, c_lifetime }, /* kernel, filesystem or process; deleted: its name is gone */
	{ "KIND", 0, c_kind }, /* shmkit object kind, - for none */
	{ "NATTCH", 1, c_nattch }, /* attach count (SysV), processes seen mapping it elsewhere */
	{ "ATTACHED", 0, c_attached }, /* attach count: pid/comm of each process seen mapping it */
	{ "ID", 1, c_id }, /* SysV shmid */
	{ "KEY", 0, c_key }, /* SysV key */
	{ "CPID", 1, c_cpid }, /* creator pid (SysV) */
	{ "LPID", 1, c_lpid }, /* last attach/detach pid (SysV) */
	{ "ATIME", 0, c_atime }, /* last attach time (SysV) */
	{ "DTIME", 0, c_dtime }, /* last detach time (SysV) */
	{ "CTIME", 0, c_ctime }, /* last change time */
	{ "MTIME", 0, c_mtime }, /* last modification time */
	{ "DEST", 0, c_dest }, /* dest: marked for removal, goes at the last detach (SysV) */
};
#define N_LS_COLUMNS (sizeof(ls_columns) / sizeof(ls_columns[0]))
#define LS_DEFAULT "URI,BACKEND,SIZE,MODE,OWNER,LIFETIME,KIND,ATTACHED"

/* "-o LIST" (or "+LIST": the default columns and these) into column indexes.
 * A column named twice is a usage error: -o uri,uri printed it twice, and a
 * script that splits the table by column got one more than it named. */
static int parse_columns(const char *list, int *cols, int *n)
{
	char buf[1024];
	int seen[N_LS_COLUMNS] = { 0 }; /* 1: named, -1: one of +LIST's defaults */
	*n = 0;

	if (list && strlen(list) >= sizeof(buf) - sizeof(LS_DEFAULT) - 1) {
		cli_usage_error("ls", "-o: the column list is too long");
		return -1;
	}
	if (list && list[0] == '+') {
		snprintf(buf, sizeof(buf), "%s,%s", LS_DEFAULT, list + 1);
	} else {
		snprintf(buf, sizeof(buf), "%s", list ? list : LS_DEFAULT);
	}
	for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < N_LS_COLUMNS && strcasecmp(ls_columns[i].name, w) != 0)
			i++;
		if (*n == 64) {
			cli_usage_error("ls", "-o takes at most 64 columns");
			return -1;
		}
		if (i == N_LS_COLUMNS) {
			char names[512];
			size_t len = 0;
			for (size_t k = 0; k < N_LS_COLUMNS; k++)
				len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
							k ? "," : "", ls_columns[k].name);
			cli_usage_error("ls", "unknown column '%s' (columns: %s)", w, names);
			return -1;
		}
		if (seen[i]) {
			cli_usage_error("ls", "-o names column %s twice%s", ls_columns[i].name,
					seen[i] < 0 ? " (+LIST adds to the default columns, "
						      LS_DEFAULT ")" : "");
			return -1;
		}
		seen[i] = list && list[0] == '+' && w < buf + strlen(LS_DEFAULT) ? -1 : 1;
		cols[(*n)++] = (int)i;
	}
	if (*n == 0) {
		cli_usage_error("ls", "-o needs at least one column");
		return -1;
	}
	return 0;
}

/* A cell with no spaces: what lsipc --raw does, and what keeps a table's
 * columns splittable at blanks however a process named its segment. */
static const char *no_blanks(const char *s, char *buf, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 5 < cap; s++) {
		if (*s == ' ')
			n += (size_t)snprintf(buf + n, cap - n, "\\x20");
		else
			buf[n++] = *s;
	}
	buf[n] = 0;
	return buf;
}

/* Cell text: the URI column never holds a blank (cli_name escapes it, \x20);
 * --raw escapes blanks in every cell. */
static char *cell_text(const struct shmkit_stat *st, const struct ls_opts *o, int col)
{
	char tmp[4 * SHMKIT_URI_MAX], out[4 * SHMKIT_URI_MAX + 64];
	const char *v = ls_columns[col].cell(st, o, tmp, sizeof(tmp));

	if (o->raw)
		v = no_blanks(v, out, sizeof(out));
	return strdup(v);
}

/* t in a column w wide, aligned right or left, after sep. */
static void print_cell(const char *sep, const char *t, int w, int right)
{
	int pad = w - cli_width(t);

	printf("%s%*s%s%*s", sep, right ? pad : 0, "", t, right ? 0 : pad, "");
}

/* cols: the n columns parse_columns gave. */
static int print_table(const struct stat_list *l, const struct ls_opts *o, const int *cols, int n)
{
	int w[64] = { 0 }, any_huge = 0;
	char **cells;

	cells = calloc(l->n * (size_t)n + 1, sizeof(char *));
	if (!cells)
		return cli_fail("ls", "", -ENOMEM);
	for (int c = 0; c < n; c++)
		w[c] = o->noheadings ? 0 : cli_width(ls_columns[cols[c]].name);
	for (size_t i = 0; i < l->n; i++) {
		any_huge |= is_huge(&l->v[i]);
		for (int c = 0; c < n; c++) {
			char *t = cells[i * (size_t)n + (size_t)c] = cell_text(&l->v[i], o, cols[c]);
			int len = t ? cli_width(t) : 0;
			if (len > w[c])
				w[c] = len;
		}
	}
	for (size_t i = o->noheadings ? 1 : 0; i <= l->n; i++) {
		for (int c = 0; c < n; c++) {
			const char *t = i == 0 ? ls_columns[cols[c]].name : cells[(i - 1) * (size_t)n + (size_t)c];
			t = t ? t : "?";
			if (o->raw)
				printf("%s%s", c ? " " : "", t);
			else if (c == n - 1 && !ls_columns[cols[c]].right)
				printf("%s%s", c ? " " : "", t); /* no trailing blanks */
			else
				print_cell(c ? " " : "", t, w[c], ls_columns[cols[c]].right);
		}
		putchar('\n');
	}
	if (any_huge && !o->raw && !o->noheadings)
		printf("* huge-page backed\n");
	for (size_t i = 0; i < l->n * (size_t)n; i++)
		free(cells[i]);
	free(cells);
	return CLI_OK;
}

/* --user, --kind and URI prefixes: does st pass? */
static int ls_wanted(const struct shmkit_stat *st, const struct ls_opts *o, int n_prefix,
		     char **prefixes)
{
	if (o->user && st->uid != o->uid)
		return 0;
	if (o->kind && strcmp(o->kind, kind_str(st)) != 0 &&
	    !(strcmp(o->kind, "none") == 0 && strcmp(kind_str(st), "-") == 0) &&
	    !(strcmp(o->kind, "unknown") == 0 && strcmp(kind_str(st), "?") == 0))
		return 0;
	for (int i = 0; i < n_prefix; i++)
		if (cli_stat_has_prefix(st, prefixes[i]))
			return 1;
	return n_prefix == 0;
}

/* Is k a kind --kind can match? An unknown word would list nothing and
 * exit 0, as if no such object existed: a typo must be said instead. */
static int known_kind(const char *k)
{
	if (strcmp(k, "none") == 0 || strcmp(k, "unknown") == 0)
		return 1;
	for (uint32_t i = SHMKIT_KIND_RAW; i <= SHMKIT_KIND_MAP; i++)
		if (strcmp(k, cli_kind_name(i)) == 0)
			return 1;
	return 0;
}

/* A user name or number into a uid. */
static int parse_user(const char *s, uid_t *uid)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	uint64_t v;

	if (getpwnam_r(s, &pw, tmp, sizeof(tmp), &res) == 0 && res) {
		*uid = res->pw_uid;
		return 0;
	}
	if (cli_parse_u64(s, &v) == 0 && v <= UINT32_MAX) {
		*uid = (uid_t)v;
		return 0;
	}
	return -EINVAL;
}

static int by_uri(const void *a, const void *b)
{
	const struct shmkit_stat *x = a, *y = b;

	if (x->backend != y->backend)
		return (int)x->backend - (int)y->backend;
	return strcmp(x->uri, y->uri);
}

CLI_COMMAND(cmd_ls)
{
	struct stat_list l = { 0 };
	struct ls_opts o = { 0 };
	int ret, cols[64], n_cols = 0;
	const struct cli_opt opts[] = {
		{ "json", 'J', CLI_FLAG, &o.json, NULL },
		{ "output", 'o', CLI_STRING, &o.output, NULL },
		{ "noheadings", 'n', CLI_FLAG, &o.noheadings, NULL },
		{ "raw", 'r', CLI_FLAG, &o.raw, NULL },
		{ "bytes", 'b', CLI_FLAG, &o.bytes, NULL },
		{ "user", 0, CLI_STRING, &o.user, NULL },
		{ "kind", 0, CLI_STRING, &o.kind, NULL },
		{ 0 },
	};
	int n = cli_parse(argv[0], argc, argv, opts);

	if (n < 0)
		return CLI_USAGE;
	if (o.user && parse_user(o.user, &o.uid) < 0)
		return cli_usage_error(argv[0], "no user '%s'", o.user);
	if (o.kind && !known_kind(o.kind))
		return cli_usage_error(
		    argv[0], "unknown kind '%s' (queue, topic, map, heap, raw, none, unknown)", o.kind);
	if (o.json && (o.output || o.noheadings || o.raw || o.bytes))
		return cli_usage_error(argv[0], "--json takes no column options (-o, -n, -r, -b)");
	if (!o.json && parse_columns(o.output, cols, &n_cols) < 0) /* before any listing */
		return CLI_USAGE;
	if (cli_take_uris(argv[0], argv + 1, n) != CLI_OK ||
	    cli_check_prefixes(argv[0], argv + 1, n) != CLI_OK)
		return CLI_USAGE;
	if (cli_uri_prefixes(argv + 1, n) < 0)
		return cli_fail("ls", "", -ENOMEM);
	ret = shmkit_list(collect, &l);
	if (ret < 0) {
		free(l.v);
		return cli_fail("ls", "", ret);
	}
	size_t kept = 0;
	for (size_t i = 0; i < l.n; i++)
		if (ls_wanted(&l.v[i], &o, n, argv + 1))
			l.v[kept++] = l.v[i];
	l.n = kept;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(l.v[0]), by_uri);
	if (o.json) {
		struct cli_json j;

		cli_json_init(&j, stdout);
		cli_json_object(&j, NULL);
		cli_json_array(&j, "segments");
		for (size_t i = 0; i < l.n; i++)
			json_stat(&j, &l.v[i], 0);
		cli_json_end(&j);
		cli_json_end(&j);
		int w = cli_json_finish(&j);
		ret = w < 0 ? cli_fail_write("ls", "", w) : CLI_OK;
	} else {
		ret = print_table(&l, &o, cols, n_cols);
	}
	free(l.v);
	return ret;
}

/* ---- what ls lists, by the name ls gives it ---- */

struct listed {
	const char *uri;
	struct stat_list l;
};

static int collect_named(const struct shmkit_stat *st, void *arg)
{
	struct listed *x = arg;

	return strcmp(st->uri, x->uri) == 0 ? collect(st, &x->l) : 0;
}

/* memfd:NAME names nothing the kernel can look up by name: find the segments
 * `ls` lists under exactly that URI, as ls finds them (processes' maps and
 * descriptors). 0 with l filled (maybe empty), or a negative errno. */
static int find_listed(const char *uri, struct stat_list *l)
{
	struct listed x = { uri, { 0 } };
	int ret = shmkit_list(collect_named, &x);

	*l = x.l;
	if (ret < 0) {
		free(l->v);
		l->v = NULL;
		l->n = 0;
	}
	return ret < 0 ? ret : 0;
}

/* One listed segment or a failure line: none, or several of that name. */
static int one_listed(const char *what, const char *uri, struct stat_list *l)
{
	int ret = find_listed(uri, l);

	if (ret < 0)
		return cli_fail(what, uri, ret);
	if (l->n == 1)
		return CLI_OK;
	free(l->v);
	if (l->n == 0)
		return cli_fail_msg(what, uri, "%s (no process maps or holds a memfd of that name)",
				    shmkit_strerror(-ENOENT));
	char safe[4 * SHMKIT_URI_MAX + 3];
	return cli_fail_msg(what, uri, "%zu memfds have that name (shmkit ls --json %s shows "
			    "each, with the processes that map it)", l->n,
			    cli_shell_name(uri, safe, sizeof(safe)));
}

const char *cli_look_uri(const char *what, const char *uri, char *buf, size_t len, int *fd)
{
	struct stat_list l;

	*fd = -1;
	if (!is_listed_only(uri))
		return uri;
	if (one_listed(what, uri, &l) != CLI_OK)
		return NULL;
	const char *look = look_uri_of(&l.v[0], buf, len, fd);
	free(l.v);
	if (*fd < 0) {
		cli_fail_msg(what, uri, "no process holds a descriptor for it (only mappings), "
			     "so it cannot be opened");
		return NULL;
	}
	return look;
}

/* ---- stat ---- */

/* A POSIX name the library refuses (ctl_posix_name): what ls lists under
 * exactly that URI into st; CLI_OK, or CLI_FAIL once said (ls lists only
 * regular files: a FIFO or a link of that name is said to be one). */
static int stat_listed(const char *uri, struct shmkit_stat *st)
{
	char path[sizeof("/dev/shm/") + NAME_MAX];
	struct stat_list l;
	struct stat sb;
	int ret = find_listed(uri, &l);

	if (ret < 0)
		return cli_fail_msg("stat", uri, "%s", shmkit_strerror(ret));
	if (l.n > 0)
		*st = l.v[0];
	free(l.v);
	if (l.n > 0)
		return CLI_OK;
	snprintf(path, sizeof(path), "/dev/shm/%s", ctl_posix_name(uri));
	if (lstat(path, &sb) < 0)
		return cli_fail_msg("stat", uri, "%s", shmkit_strerror(-errno));
	return cli_fail_msg("stat", uri, "%s (not a regular file: a %s)", shmkit_strerror(-EINVAL),
			    S_ISFIFO(sb.st_mode) ? "FIFO" : S_ISLNK(sb.st_mode) ? "symbolic link"
			    : S_ISDIR(sb.st_mode) ? "directory" : "special file");
}

CLI_COMMAND(cmd_stat)
{
	struct shmkit_stat *st;
	int json = 0, ret;
	const struct cli_opt opts[] = { { "json", 0, CLI_FLAG, &json, NULL }, { 0 } };
	int n = cli_parse(argv[0], argc, argv, opts);

	if (n < 0)
		return CLI_USAGE;
	if (n != 1)
		return cli_usage_error(argv[0], "expects one URI");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK ||
	    cli_uri_options(argv[0], argv[1], CLI_URI_LOOK) != CLI_OK)
		return CLI_USAGE;
	st = calloc(1, sizeof(*st));
	if (!st)
		return cli_fail("stat", argv[1], -ENOMEM);
	ret = shmkit_stat(argv[1], st);
	if (ret == -EINVAL && is_listed_only(argv[1])) {
		struct stat_list l;
		if ((ret = one_listed("stat", argv[1], &l)) != CLI_OK) {
			free(st);
			return ret;
		}
		*st = l.v[0];
		free(l.v);
	}
	if (ret == -EINVAL && ctl_posix_name(argv[1])) { /* what ls lists under that URI */
		if (stat_listed(argv[1], st) != CLI_OK) {
			free(st);
			return CLI_FAIL;
		}
		ret = 0;
	}
	if (ret < 0) {
		ret = cli_fail("stat", argv[1], ret);
	} else if (json) {
		struct cli_json j;

		cli_json_init(&j, stdout);
		json_stat(&j, st, 1);
		int w = cli_json_finish(&j);
		ret = w < 0 ? cli_fail_write("stat", argv[1], w) : CLI_OK;
	} else {
		print_stat(st);
		ret = CLI_OK;
	}
	free(st);
	return ret;
}

/* ---- create, rm ---- */

CLI_COMMAND(cmd_create)
{
	struct shmkit_seg *seg;
	unsigned mode = 0600;
	uint64_t size;
	const char *uri;
	int ret;
	const struct cli_opt opts[] = { { "mode", 0, CLI_MODE, &mode, NULL }, { 0 } };

	/* the ownership options of the object creates (DESIGN.md §8) mean
	 * nothing here: say so rather than only "bad option" */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--owned") == 0 || strcmp(argv[i], "--persist") == 0)
			return cli_usage_error(argv[0], "%s is for shmkit objects (queue, topic, "
					       "map and heap create); a plain segment made here "
					       "is never removed by gc, like another program's",
					       argv[i]);
	int n = cli_parse(argv[0], argc, argv, opts);

	if (n < 0)
		return CLI_USAGE;
	if (n != 2)
		return cli_usage_error(argv[0], "expects a URI and a SIZE");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	uri = argv[1];
	if (cli_parse_size(argv[2], &size) < 0 || size == 0 || size > SIZE_MAX)
		return cli_usage_error(argv[0], "bad SIZE '%s' (a positive number: 4096, 64K, 1M, 1G)",
				       argv[2]);
	if ((ret = cli_check_lasting("create", uri)) != CLI_OK)
		return ret;
	ret = shmkit_seg_open(&seg, uri, (size_t)size, SHMKIT_CREATE | SHMKIT_EXCL, mode);
	if (ret < 0)
		return cli_fail_create("create", uri, ret);
	/* sysv:private, ftok paths: the key or id they got */
	if (cli_say_made(uri, seg) != CLI_OK) {
		shmkit_seg_close(seg);
		return CLI_FAIL;
	}
	ret = shmkit_seg_close(seg);
	return ret < 0 ? cli_fail("create", uri, ret) : CLI_OK;
}

/* rm of a POSIX name the library refuses (ctl_posix_name): shm_unlink, as
 * the library's remove does it, and, like it, only a regular file. CLI_OK,
 * or CLI_FAIL once said. */
static int rm_ctl_posix(const char *uri)
{
	const char *name = ctl_posix_name(uri);
	char path[sizeof("/dev/shm/") + NAME_MAX];
	struct stat sb;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	if (lstat(path, &sb) < 0 || (S_ISREG(sb.st_mode) && shm_unlink(path + 8) < 0))
		return cli_fail_msg("rm", uri, "%s", shmkit_strerror(-errno));
	if (!S_ISREG(sb.st_mode))
		return cli_fail_msg("rm", uri, "%s (not a regular file; not removing it)",
				    shmkit_strerror(-EINVAL));
	return CLI_OK;
}

CLI_COMMAND(cmd_rm)
{
	const struct cli_opt opts[] = { { 0 } };
	int n = cli_parse(argv[0], argc, argv, opts), status = CLI_OK;

	if (n < 0)
		return CLI_USAGE;
	if (n == 0)
		return cli_usage_error(argv[0], "expects at least one URI");
	if (cli_take_uris(argv[0], argv + 1, n) != CLI_OK)
		return CLI_USAGE;
	for (int i = 1; i <= n; i++) /* every URI checked before any is removed */
		if (cli_uri_options(argv[0], argv[i], CLI_URI_PROJ) != CLI_OK)
			return CLI_USAGE;
	for (int i = 1; i <= n; i++) {
		int ret = shmkit_remove(argv[i]);
		if (ret == -EINVAL && ctl_posix_name(argv[i])) {
			if (rm_ctl_posix(argv[i]) != CLI_OK)
				status = CLI_FAIL;
		} else if (ret < 0) {
			status = cli_fail("rm", argv[i], ret);
		}
	}
	return status;
}

/* ---- write, read ---- */

/* Stdin into a malloc'd buffer, at most room bytes: *len = room + 1 says
 * there was more, so an endless stdin (/dev/zero) is refused, not held. */
static int slurp_stdin(char **out, size_t *len, size_t room)
{
	size_t cap = 4096, n = 0, limit = room < SIZE_MAX ? room + 1 : room;
	char *buf = malloc(cap);

	while (buf) {
		size_t got;

		if (n == cap) {
			char *more = realloc(buf, cap * 2);
			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
		got = fread(buf + n, 1, (cap < limit ? cap : limit) - n, stdin);
		n += got;
		if (got == 0 || n == limit) {
			if (ferror(stdin)) {
				int err = cli_stdin_error();
				free(buf);
				return err;
			}
			*out = buf;
			*len = n;
			return 0;
		}
	}
	free(buf);
	return -ENOMEM;
}

/* A shmkit object (queue, map, ...) is destroyed by raw bytes: its kind, or NULL. */
static const char *managed_kind(const char *uri)
{
	static char kind[32];
	struct shmkit_stat *st = calloc(1, sizeof(*st));
	int managed = st && shmkit_stat(uri, st) == 0 && st->managed;

	if (managed)
		snprintf(kind, sizeof(kind), "%s", cli_kind_name(st->kind));
	free(st);
	return managed ? kind : NULL;
}

/* The kind of the shmkit object whose header starts the mapped bytes, or
 * NULL. managed_kind() cannot tell for a System V object nobody has attached
 * (stat does not attach to look), so write checks the mapping it attached
 * too: docs/LAYOUT.md, the header's magic "SShmKit\x01" at 0, kind at 16. */
static const char *header_kind(const void *base, size_t size)
{
	uint32_t kind;

	if (size < 20 || memcmp(base, "SShmKit\x01", 8) != 0)
		return NULL;
	memcpy(&kind, (const char *)base + 16, sizeof(kind));
	return cli_kind_name(kind);
}

/* header_kind() of an open segment, read with pread where it has a
 * descriptor: a sparse file's first page may be a hole, which a read
 * through the mapping would allocate (SIGBUS on a full tmpfs). */
static const char *seg_header_kind(struct shmkit_seg *seg)
{
	unsigned char head[20];
	size_t size = shmkit_seg_size(seg);
	int fd = shmkit_seg_fd(seg);

	if (fd < 0)
		return header_kind(shmkit_seg_addr(seg), size);
	return size >= sizeof(head) && pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head)
		       ? header_kind(head, size)
		       : NULL;
}

/* Is the open segment a POSIX named semaphore? glibc's sem_open("/x") is the
 * file /dev/shm/sem.x (shmkit creates nothing there, gc leaves it alone):
 * raw bytes over its counter break every program that waits on it. Named
 * posix:/sem.x or file:/dev/shm/sem.x alike: the descriptor's path says. */
static int is_posix_semaphore(struct shmkit_seg *seg)
{
	char link[64], path[PATH_MAX];
	int fd = shmkit_seg_fd(seg);

	if (fd < 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return 0;
	path[n] = 0;
	return strncmp(path, "/dev/shm/sem.", 13) == 0 && !strchr(path + 13, '/');
}

/* Allocates the pages len bytes at off will be written to, where the
 * segment has a file: a hole of a sparse file on a full filesystem is
 * ENOSPC here, not SIGBUS in the copy. */
static int reserve_range(struct shmkit_seg *seg, uint64_t off, size_t len)
{
	int fd = shmkit_seg_fd(seg);

	if (fd < 0 || len == 0 || fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	return errno == EOPNOTSUPP ? 0 : -errno;
}

/* Does uri ask for a copy-on-write view (file:...?private)? Bytes written
 * there never reach the file: write would succeed and save nothing. */
static int is_private_view(const char *uri)
{
	const char *q = strchr(uri, '?');

	while (q) {
		q++;
		size_t n = strcspn(q, "&");
		if (n == strlen("private") && strncmp(q, "private", n) == 0)
			return 1;
		q = strchr(q, '&');
	}
	return 0;
}

/* Could the last user of a SysV segment still be alive? (0: provably not,
 * or nobody ever attached it.) */
static int last_user_may_live(const struct shmkit_stat *st)
{
	if (st->last_pid <= 0)
		return st->atime != 0; /* 0 with a time: a pid namespace we cannot see */
	return kill(st->last_pid, 0) == 0 || errno != ESRCH;
}

/* May write attach the System V segment uri? Its attach makes this command
 * the segment's last user, and once it exits gc --foreign takes the segment
 * for abandoned: refused (like read) while nobody has it attached and its
 * last user may be alive, unless --attach. Other URIs: CLI_OK. */
static int sysv_write_allowed(const char *uri, int attach)
{
	if (attach || strncmp(uri, "sysv:", 5) != 0)
		return CLI_OK;
	struct shmkit_stat *st = malloc(sizeof(*st));
	int ret = st ? shmkit_stat(uri, st) : -ENOMEM;
	if (ret < 0) {
		free(st);
		return cli_fail("write", uri, ret);
	}
	int may_live = st->attach_count == 0 && last_user_may_live(st);
	pid_t lpid = st->last_pid;
	free(st);
	if (may_live)
		return cli_fail_msg("write", uri,
				    "not written: nobody has it attached and its last user (pid %d) "
				    "may be alive; attaching to write would make this command its "
				    "last user, and gc --foreign would then take it for abandoned "
				    "(--attach writes it anyway)", (int)lpid);
	return CLI_OK;
}

CLI_COMMAND(cmd_write)
{
	struct shmkit_seg *seg;
	uint64_t offset = 0;
	const char *uri, *text = NULL;
	char *data = NULL;
	size_t len = 0, size;
	int ret, force = 0, attach = 0;
	const struct cli_opt opts[] = { { "offset", 0, CLI_SIZE, &offset, NULL },
					{ "force", 0, CLI_FLAG, &force, NULL },
					{ "attach", 0, CLI_FLAG, &attach, NULL },
					{ 0 } };
	int n = cli_parse(argv[0], argc, argv, opts);
	const char *kind;

	if (n < 0)
		return CLI_USAGE;
	if (n < 1 || n > 2)
		return cli_usage_error(argv[0], "expects a URI and TEXT (or - for stdin)");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK)
		return CLI_USAGE;
	uri = argv[1];
	if (is_private_view(uri))
		return cli_fail_msg("write", uri,
				    "?private is a copy-on-write view: nothing written "
				    "there reaches the file (write to the URI without ?private)");
	if (!force && (kind = managed_kind(uri)) != NULL)
		return cli_fail_msg("write", uri,
				    "is a shmkit %s: raw bytes would destroy it (use its own "
				    "commands, or --force to write anyway)", kind);
	if ((ret = sysv_write_allowed(uri, attach)) != CLI_OK)
		return ret;
	ret = shmkit_seg_open(&seg, uri, 0, 0, 0);
	if (ret < 0)
		return cli_fail("write", uri, ret);
	size = shmkit_seg_size(seg);
	if (!force && (kind = seg_header_kind(seg)) != NULL) {
		shmkit_seg_close(seg);
		return cli_fail_msg("write", uri,
				    "is a shmkit %s: raw bytes would destroy it (use its own "
				    "commands, or --force to write anyway)",
				    kind);
	}
	if (!force && is_posix_semaphore(seg)) {
		shmkit_seg_close(seg);
		return cli_fail_msg("write", uri,
				    "is a POSIX named semaphore (sem_open's /dev/shm/sem.NAME): raw "
				    "bytes would break it for every program using it (--force to "
				    "write anyway)");
	}
	if (offset > size) { /* before reading stdin: no length to report then */
		shmkit_seg_close(seg);
		return cli_fail_msg("write", uri,
				    "offset %" PRIu64 " is past the end of the %zu "
				    "%s (nothing written)",
				    offset, size, cli_plural(size, "byte", "bytes"));
	}
	if (n == 2 && strcmp(argv[2], "-") != 0) {
		text = argv[2];
		len = strlen(text);
	} else {
		/* one byte more than fits is enough to refuse it */
		ret = slurp_stdin(&data, &len, size - offset);
		if (ret < 0) {
			shmkit_seg_close(seg);
			return ret == -ENOMEM ? cli_fail("write", uri, ret)
					      : cli_fail_stdin("write", uri, ret);
		}
		text = data;
	}
	if (len > size - offset) {
		size_t said = data ? len - 1 : len; /* stdin: read one byte past what fits */
		int one = !data && said == 1;

		ret = cli_fail_msg("write", uri, "%s%zu %s at offset %" PRIu64 " %s not fit in %zu "
				   "%s (nothing written)", data ? "more than " : "", said,
				   cli_plural(said, "byte", "bytes"), offset, one ? "does" : "do", size,
				   cli_plural(size, "byte", "bytes"));
	} else if ((ret = reserve_range(seg, offset, len + (len < size - offset))) < 0) {
		ret = ret == -ENOSPC ? cli_fail_msg("write", uri, "no room on its filesystem for the "
						    "pages these bytes go to (nothing written)")
				     : cli_fail("write", uri, ret);
	} else {
		char *base = (char *)shmkit_seg_addr(seg) + offset;

		memcpy(base, text, len);
		/* end the text with a NUL when it fits, so `read` shows exactly it */
		if (len < size - offset)
			base[len] = 0;
		ret = shmkit_seg_flush(seg);
		ret = ret < 0 ? cli_fail("write", uri, ret) : CLI_OK;
	}
	shmkit_seg_close(seg);
	free(data);
	return ret;
}

static void hexdump(const unsigned char *p, size_t len, uint64_t base)
{
	for (size_t i = 0; i < len; i += 16) {
		size_t n = len - i < 16 ? len - i : 16;

		printf("%08" PRIx64 " ", base + i);
		for (size_t k = 0; k < 16; k++) {
			if (k == 8)
				putchar(' ');
			if (k < n)
				printf(" %02x", p[i + k]);
			else
				printf("   ");
		}
		printf("  |");
		for (size_t k = 0; k < n; k++)
			putchar(p[i + k] >= 0x20 && p[i + k] < 0x7f ? p[i + k] : '.');
		printf("|\n");
	}
}

/* Where `read` fetches bytes, a chunk at a time: a descriptor (pread: a
 * file another process shrinks meanwhile gives a short read, where a
 * mapping would die of SIGBUS), a copy of the range asked for (a SysV
 * segment read through a process that has it attached), or a mapping of our
 * own (a SysV attach, which nobody can shrink). */
struct read_src {
	struct shmkit_seg *seg; /* a look (posix:, file:) or our SysV attach */
	int fd;			/* pread from it; -1: from copy, else seg's mapping */
	unsigned char *copy;	/* the bytes from offset copy_at */
	uint64_t copy_at;
	size_t size;
};

/* A memfd by the name ls lists it under: read with pread() from a holder's
 * descriptor, never mapped (its owner may shrink it: it need not be sealed). */
static int open_listed(const char *uri, struct read_src *r)
{
	char fd_uri[32];
	struct stat sb;

	if (!cli_look_uri("read", uri, fd_uri, sizeof(fd_uri), &r->fd))
		return CLI_FAIL;
	if (fstat(r->fd, &sb) < 0)
		return cli_fail("read", uri, -errno);
	r->size = (size_t)sb.st_size;
	return CLI_OK;
}

/* A System V segment: read through a process that has the bytes at offset
 * attached (nothing changes); else attached, but only where that changes no
 * proof gc relies on (someone else holds it and will detach after us, or its
 * last user is gone), or with --attach; and said on stderr. */
static int sysv_for_read(const char *uri, struct read_src *r, int attach, uint64_t offset,
			 uint64_t len)
{
	struct shmkit_stat *st = malloc(sizeof(*st));
	int ret = st ? shmkit_stat(uri, st) : -ENOMEM;
	if (ret < 0) {
		free(st);
		return cli_fail("read", uri, ret);
	}
	/* more than a size_t holds (an i386 build): the open below says so */
	int too_large = st->size > SIZE_MAX;
	r->size = (size_t)st->size;
	if (!too_large && offset > r->size) {
		free(st);
		return CLI_OK; /* the caller says the range is past the end */
	}
	size_t n = len < r->size - offset ? (size_t)len : r->size - (size_t)offset;
	ssize_t got = too_large			     ? -ENODATA
		      : (r->copy = malloc(n ? n : 1)) ? shmkit_peek(uri, offset, r->copy, n)
						     : -ENOMEM;
	if (got != -ENODATA) {
		free(st);
		r->copy_at = offset;
		return got < 0 ? cli_fail("read", uri, (int)got) : CLI_OK;
	}
	free(r->copy);
	r->copy = NULL;
	int may_live = st->attach_count == 0 && last_user_may_live(st);
	pid_t lpid = st->last_pid;
	free(st);
	if (may_live && !attach)
		return cli_fail_msg("read", uri,
				    "not read: nobody has it attached and its last user (pid %d) may "
				    "be alive; attaching to read would make this command its last "
				    "user, and gc --foreign would then take it for abandoned "
				    "(--attach reads it anyway)", (int)lpid);
	if ((ret = shmkit_seg_open(&r->seg, uri, 0, SHMKIT_RDONLY, 0)) < 0)
		return cli_fail("read", uri, ret);
	char safe[4 * SHMKIT_URI_MAX];
	fprintf(stderr, "shmkit: read %s: attached it read-only to read it (no process that has it "
			"attached could be read through): its attach time and last-user pid now "
			"name this command\n", cli_name(uri, safe, sizeof(safe)));
	r->size = shmkit_seg_size(r->seg);
	return CLI_OK;
}

/* An empty file (the seg layer maps none: -EAGAIN, as for a creator that
 * has not sized it yet) reads as 0 bytes. */
static int empty_file(const char *uri)
{
	struct shmkit_stat *st = malloc(sizeof(*st));
	int empty = st && shmkit_stat(uri, st) == 0 && st->size == 0;

	free(st);
	return empty;
}

/* Opens uri read-only into r, to read len bytes at offset (SysV: the process
 * to read through depends on them); 0 or a reported failure. */
static int open_for_read(const char *uri, struct read_src *r, int attach, uint64_t offset,
			 uint64_t len)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (is_listed_only(uri))
		return open_listed(uri, r);
	if (strncmp(uri, "sysv:", 5) == 0)
		return sysv_for_read(uri, r, attach, offset, len);
	uint64_t size;
	ret = shmkit__look_for_pread(uri, &r->seg, &size);
	if (ret == -EAGAIN && empty_file(uri))
		return CLI_OK; /* nothing to map: 0 bytes to show */
	if (ret < 0)
		return cli_fail("read", uri, ret);
	if (size > SIZE_MAX) { /* a 32-bit tool cannot count it */
		shmkit_seg_close(r->seg);
		r->seg = NULL;
		return cli_fail_msg("read", uri, "%s is %" PRIu64 " bytes: too large to map "
				    "or count in a 32-bit process",
				    uri, size);
	}
	r->size = (size_t)size;
	r->fd = shmkit_seg_fd(r->seg); /* posix: and file: have one */
	return CLI_OK;
}

/* n bytes at off into buf: 0, -ENODATA when the file is shorter now than
 * when it was opened, or another negative errno. */
static int read_chunk(const struct read_src *r, uint64_t off, unsigned char *buf, size_t n)
{
	if (r->copy) {
		memcpy(buf, r->copy + (off - r->copy_at), n);
		return 0;
	}
	if (r->fd < 0) {
		memcpy(buf, (const unsigned char *)shmkit_seg_addr(r->seg) + off, n);
		return 0;
	}
	while (n > 0) {
		ssize_t got = pread(r->fd, buf, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -ENODATA;
		buf += got;
		off += (uint64_t)got;
		n -= (size_t)got;
	}
	return 0;
}

static void close_read(struct read_src *r)
{
	if (r->seg)
		shmkit_seg_close(r->seg);
	else if (r->fd >= 0)
		close(r->fd); /* a holder's descriptor, opened by us */
	free(r->copy);
}

static int read_failed(const char *uri, uint64_t off, int err)
{
	if (err == -ENODATA)
		return cli_fail_msg("read", uri, "stopped at offset %" PRIu64 ": the segment "
				    "shrank while it was read (another process truncated it)", off);
	return cli_fail("read", uri, err);
}

/* Writes len bytes at offset of r to stdout, as --hex, as they are
 * (--length), or as text up to the first NUL. */
static int show_range(const char *uri, const struct read_src *r, uint64_t offset, uint64_t len,
		      int hex, int exact)
{
	static unsigned char buf[1 << 20]; /* a multiple of a hex line's 16 */
	uint64_t done = 0;
	int last = -1;

	while (done < len) {
		size_t n = len - done < sizeof(buf) ? (size_t)(len - done) : sizeof(buf);
		int err = read_chunk(r, offset + done, buf, n);
		if (err < 0)
			return read_failed(uri, offset + done, err);
		if (hex) {
			hexdump(buf, n, offset + done);
		} else if (exact) {
			fwrite(buf, 1, n, stdout);
		} else {
			const unsigned char *nul = memchr(buf, 0, n);
			size_t k = nul ? (size_t)(nul - buf) : n;
			fwrite(buf, 1, k, stdout);
			if (k)
				last = buf[k - 1];
			if (nul)
				break;
		}
		done += n;
		if (ferror(stdout))
			break; /* cli_stdout_flush() says why */
	}
	if (!hex && !exact && last != '\n')
		putchar('\n'); /* text ends with a newline, also when empty */
	return CLI_OK;
}

CLI_COMMAND(cmd_read)
{
	struct read_src src;
	struct {
		int hex, has_length, attach;
		uint64_t offset, length;
	} o = { 0 };
	const char *uri;
	int ret;
	const struct cli_opt opts[] = { { "hex", 0, CLI_FLAG, &o.hex, NULL },
					{ "offset", 0, CLI_SIZE, &o.offset, NULL },
					{ "length", 0, CLI_SIZE, &o.length, &o.has_length },
					{ "attach", 0, CLI_FLAG, &o.attach, NULL },
					{ 0 } };
	int n = cli_parse(argv[0], argc, argv, opts);

	if (n < 0)
		return CLI_USAGE;
	if (n != 1)
		return cli_usage_error(argv[0], "expects one URI");
	if (cli_take_uris(argv[0], argv + 1, 1) != CLI_OK ||
	    cli_uri_options(argv[0], argv[1], CLI_URI_LOOK) != CLI_OK)
		return CLI_USAGE;
	uri = argv[1];
	ret = open_for_read(uri, &src, o.attach, o.offset, o.has_length ? o.length : UINT64_MAX);
	if (ret != CLI_OK)
		return ret;
	if (o.offset > src.size || (o.has_length && o.length > src.size - o.offset)) {
		close_read(&src);
		return cli_fail_msg("read", uri, "range past the end of the segment (%zu %s)",
				    src.size, cli_plural(src.size, "byte", "bytes"));
	}
	ret = show_range(uri, &src, o.offset, o.has_length ? o.length : src.size - o.offset, o.hex,
			 o.has_length);
	close_read(&src);
	if (ret != CLI_OK)
		return ret;
	if ((ret = cli_stdout_flush()) < 0)
		return cli_fail_write("read", uri, ret);
	return CLI_OK;
}
