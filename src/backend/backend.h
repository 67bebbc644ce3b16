/* SPDX-License-Identifier: MIT */
/* The one internal interface every segment backend implements, the parsed
 * form of a segment URI, and the process-local segment handle. */
#ifndef SHMKIT_BACKEND_H
#define SHMKIT_BACKEND_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shmkit/seg.h>

/* How long an open-or-create (CREATE without EXCL) waits for a racing
 * creator to size the segment it just made, before giving -EAGAIN. */
#define SHMKIT__CREATE_WAIT_MS 1000
/* How long a look waits for another process's lease on the file to go (a
 * holder told by the open lets go in moments; one that does not would hold
 * a blocking open for the kernel's lease-break-time, 45 s by default). */
#define SHMKIT__LOOK_LEASE_WAIT_MS 100

/* How a sysv: URI names its segment. */
enum shmkit__sysv_how { SHMKIT__SYSV_KEY, SHMKIT__SYSV_FTOK, SHMKIT__SYSV_PRIVATE, SHMKIT__SYSV_ID };

/* A URI after parsing and validation (src/uri.c). */
struct shmkit__uri {
	enum shmkit_backend backend;
	int is_fd;                  /* "fd:N": map a descriptor this process holds */
	int fd;                     /* fd:N */
	int map_private;            /* file:...?private: MAP_PRIVATE copy-on-write view */
	int huge;                   /* ?huge: huge pages or an error */
	int populate;               /* ?populate: SHMKIT_POPULATE for this mapping */
	uintptr_t addr;             /* ?addr=: attach here (0: the kernel chooses) */
	int addr_rnd;               /* sysv ?addr=...&rnd: SHM_RND */
	enum shmkit__sysv_how sysv_how;
	key_t key;                  /* sysv: key (ftok-derived for SHMKIT__SYSV_FTOK) */
	int proj;                   /* sysv ftok project id */
	int shmid;                  /* sysv:id=N */
	char name[PATH_MAX];        /* posix "/name"; file and ftok path; memfd name */
};

/* The process-local handle (never in shared memory). */
struct shmkit_seg {
	const struct shmkit__backend *ops;
	enum shmkit_backend backend;
	void *addr;                 /* mapping base */
	size_t size;                /* bytes usable: the size asked for, or the existing size */
	size_t map_len;             /* bytes mapped (munmap length) */
	int fd;                     /* -1 where the backend keeps none */
	int shmid;                  /* sysv, else -1 */
	key_t key;                  /* sysv key, else -1 */
	int flags;                  /* SHMKIT_* the segment was opened with */
	int pages;                  /* SHMKIT_PAGES_*: how it is backed; 0 not known */
	uintptr_t want_addr;        /* ?addr=: where to map it (0: anywhere) */
	char uri[SHMKIT_URI_MAX];   /* canonical URI */
	/* posix:, file: an open-or-create that gave up waiting for a creator
	 * to size the file (-EAGAIN): that file, open O_PATH (for the
	 * take-over to judge that very file), else -1 */
	int empty_fd;
};

struct shmkit__backend {
	enum shmkit_backend id;
	/* Opens or creates per flags and fills seg (addr, size, map_len, fd...).
	 * On error leaves nothing behind: no mapping, no fd, no half-made segment. */
	int (*open)(struct shmkit_seg *seg, const struct shmkit__uri *u, size_t size, int flags,
		    unsigned mode);
	/* Unmaps/detaches and closes what open took. Never removes. */
	int (*close)(struct shmkit_seg *seg);
	/* Removes the named segment (unlink / IPC_RMID). */
	int (*remove)(const struct shmkit__uri *u);
	/* Fills the seg-level fields of st for u, or for seg when it is not NULL. */
	int (*stat)(const struct shmkit__uri *u, const struct shmkit_seg *seg,
		    struct shmkit_stat *st);
	/* Makes the mapping's data durable (file:), 0 elsewhere. */
	int (*flush)(struct shmkit_seg *seg);
};

extern const struct shmkit__backend shmkit__backend_posix;
extern const struct shmkit__backend shmkit__backend_sysv;
extern const struct shmkit__backend shmkit__backend_file;
extern const struct shmkit__backend shmkit__backend_memfd;
extern const struct shmkit__backend shmkit__backend_anon;

/* src/uri.c: parses and validates; 0, -EINVAL or -ENAMETOOLONG (detail set). */
int shmkit__uri_parse(const char *uri, struct shmkit__uri *u);
/* Canonical text of a parsed URI into buf (SHMKIT_URI_MAX). */
void shmkit__uri_format(const struct shmkit__uri *u, char *buf, size_t cap);
/* A URI prefix as the calls that list spell their URIs: a POSIX name with
 * only its slash (/app-), without it (posix:app-) or bare (app-) is
 * posix:/app-, as every call taking a URI reads it; a word that starts a
 * scheme's name ("sysv", "po") stays a prefix of that scheme. Returns buf,
 * or p itself when it needs no change (or does not fit). */
const char *shmkit__uri_prefix_spelling(const char *p, char *buf, size_t cap);

/* src/backend/fd.c: helpers shared by the descriptor-based backends. */
/* Maps len bytes of fd for seg per flags (RDONLY, POPULATE; map_private). */
int shmkit__map_fd(struct shmkit_seg *seg, int fd, size_t len, int flags, int map_private);
/* A look (SHMKIT_LOOK) at a sparse tmpfs file: maps private zero pages over
 * each hole of the len bytes mapped at base from fd, so reading them
 * allocates nothing there (nor faults with SIGBUS when it is full). 0, or
 * -EFBIG past SHMKIT__LOOK_HOLES_MAX holes (detail set). */
#define SHMKIT__LOOK_HOLES_MAX 4096
int shmkit__cover_holes(void *base, size_t len, int fd);
/* 1 if seg (posix:, or file: by path) is a tmpfs file with pages not
 * allocated, 0 if not, or a negative errno. A segment shmkit created has
 * none (reserved at create). */
int shmkit__seg_has_holes(const struct shmkit_seg *seg);
/* Allocates every page of seg (opened for writing): 0, or -ENOSPC (detail set). */
int shmkit__seg_reserve(const struct shmkit_seg *seg);
/* Reserves size bytes of a freshly created fd (posix_fallocate, then size it),
 * so a full filesystem is -ENOSPC now, never SIGBUS later. */
int shmkit__reserve_fd(int fd, size_t size);
/* -EFBIG with the detail naming the limit size exceeds: the process's
 * RLIMIT_FSIZE (ulimit -f) when it is below size, else the filesystem's. */
int shmkit__efbig(size_t size);
/* -EFBIG (shmkit__efbig) when size is past RLIMIT_FSIZE, asked before any
 * call that would grow a file there (the kernel's SIGXFSZ kills by default),
 * else 0. */
int shmkit__fsize_check(size_t size);
/* "; vm.overcommit_memory = 2: the commit limit is ..." in buf when strict
 * overcommit is on (what an ENOMEM for memory charged whole at create then
 * means), else "". Returns buf. */
const char *shmkit__commit_note(char *buf, size_t cap);
/* The size an open of an existing object of `have` bytes yields for an asked `want`
 * (0 = whole): the size, or -EINVAL (asked beyond its end), -EAGAIN (empty),
 * -ENOMEM (whole, and more than a ssize_t holds: an i386 process; named by
 * `name` as shmkit__map_enomem does). */
ssize_t shmkit__open_size(size_t want, uint64_t have, const char *what, const char *name);
/* Unmaps and closes an fd-based segment. */
int shmkit__close_fd_seg(struct shmkit_seg *seg);
/* Fills st from a struct stat (size, mode, owner, times, inode). */
struct stat;
void shmkit__stat_from_stat(const struct stat *sb, struct shmkit_stat *st);

/* src/backend/path.c: the open protocol posix: and file: share. */
struct shmkit__path_ops {
	const char *scheme;   /* "posix" or "file", for messages */
	const char *what;     /* what an open-size error calls it */
	int (*open)(const char *name, int oflag, mode_t mode);
	int (*unlink)(const char *name);
	int open_flags;       /* extra flags when opening an existing object */
	int eperm_as_eacces;  /* a refused remove says EACCES for EPERM */
};
/* Exclusive create (sized, reserved, mode applied exactly) or open-and-map of
 * an existing object; `acc` is O_RDONLY or O_RDWR for the open. */
int shmkit__path_open(const struct shmkit__path_ops *ops, struct shmkit_seg *seg,
		      const struct shmkit__uri *u, size_t size, int flags, unsigned mode, int acc);
/* Removes the object at path (named `name` in messages): only a regular
 * file (stat and open refuse anything else: a FIFO, a symbolic link left
 * under the name), only the one looked at, under its name lock
 * (shmkit__unlink_same). */
int shmkit__path_remove(const struct shmkit__path_ops *ops, const char *path, const char *name);
/* stat of the object: fstat of seg's fd when open, else lstat of `path` (which
 * must be a regular file, never followed through a link). */
int shmkit__path_stat(const struct shmkit__path_ops *ops, const char *path, const char *name,
		      const struct shmkit_seg *seg, struct shmkit_stat *st);
/* Reopens a file open as O_PATH descriptor pfd (the file looked at, not
 * whatever its name names by now) with oflag, through /proc/self/fd; -1
 * with errno (ENOENT: no /proc). */
int shmkit__reopen_path_fd(int pfd, int oflag);
/* The error for a failed open/stat/remove of `name` (errno), with the detail set. */
int shmkit__path_error(const struct shmkit__path_ops *ops, const char *name, const char *what);

/* src/backend/unlink.c: removing a name, never what a racing
 * remove-and-create put under it since it was judged. */
#define SHMKIT__UNLINK_WAIT 1  /* the caller was named the file: wait for the lock */
#define SHMKIT__UNLINK_EMPTY 2 /* only if the file is still empty */
/* Unlinks path if it names a regular file, and the one `expect` describes
 * (dev, ino) if not NULL, holding the file's name lock from the last look to
 * the unlink: 1 unlinked, 0 the name names something else now (or is not a
 * regular file), -EBUSY another remover holds the lock (without WAIT), or a
 * negative errno (-ENOENT: nothing there). */
int shmkit__unlink_same(const char *path, const struct stat *expect, int flags);
/* The same for the file open as pfd (O_PATH), which the caller judged and
 * has held open since: its inode number cannot have gone to a new file
 * under the name meanwhile (ext4 gives a freed one out again at once), as
 * a dev and ino compared after the judge let go of it could. With EMPTY,
 * under the lock the file is still empty, has one link and is the
 * caller's (a take-over's tests, made again). */
int shmkit__unlink_pinned(const char *path, int pfd, int flags);
/* If another remover holds the name lock of the file open as pfd (O_PATH),
 * waits until it lets go: 1 if one held it, 0 if none did, -EBUSY if it
 * still does after NAME_LOCK_WAIT_MS (stopped?). */
int shmkit__remover_wait(int pfd);

/* src/backend/pages.c: huge pages and chosen addresses (DESIGN §9). */
/* The huge page size (Hugepagesize), and len rounded up to whole ones. */
size_t shmkit__huge_page_size(void);
size_t shmkit__round_huge(size_t len);
/* The error for a failed huge-page allocation of len bytes (err: -ENOMEM,
 * -ENOSPC, -EPERM), with a detail naming vm.nr_hugepages and what is free. */
int shmkit__huge_error(int err, size_t len, const char *what);
/* The pages an object opened as fd gets: SHMKIT_PAGES_HUGETLB on hugetlbfs,
 * SHMKIT_PAGES_THP on a tmpfs that allows it when want_huge, else BASE; or
 * -EOPNOTSUPP (detail: why) when want_huge and neither applies. */
int shmkit__fd_pages(int fd, int want_huge, const char *what);
/* mmap for seg per seg->pages (hugetlb rounding and MAP_HUGETLB for fd -1,
 * MADV_HUGEPAGE for THP) and seg->want_addr (MAP_FIXED_NOREPLACE: -EEXIST if
 * taken). Sets seg->addr and seg->map_len. */
int shmkit__map(struct shmkit_seg *seg, int fd, size_t len, int prot, int mflags);
/* -ENOMEM for an mmap of len bytes of uri that failed with it, with a
 * detail naming the object and saying whether it is too large to map here. */
int shmkit__map_enomem(const char *uri, uint64_t len);
/* Reserves a THP mapping's memory by faulting it in (-ENOSPC if tmpfs is full). */
int shmkit__thp_reserve(struct shmkit_seg *seg);
/* -EEXIST (something mapped in [addr, addr+len)) or err, with the detail. */
int shmkit__addr_error(uintptr_t addr, size_t len, int err);
/* SHMKIT_PAGES_* of this process's mapping at addr (from smaps), 0 unknown. */
int shmkit__mapped_pages(const void *addr);
/* Fills st->pages/page_size for an open segment, or from the filesystem of
 * fd (or path when fd < 0) for hugetlbfs and non-tmpfs files. */
void shmkit__stat_pages(const struct shmkit_seg *seg, struct shmkit_stat *st);
void shmkit__stat_fs_pages(int fd, const char *path, struct shmkit_stat *st);

/* src/backend/fd.c: maps a descriptor this process holds (fd:N and seg_recv). It
 * dups fd, so the caller's descriptor stays its own. A memfd must be sealed
 * against shrinking and hold `size` bytes (-EBADMSG otherwise). */
int shmkit__seg_from_fd(struct shmkit_seg **out, int fd, size_t size, int flags, int strict);

/* src/backend/fd.c: allocates a handle (fd/shmid -1). */
struct shmkit_seg *shmkit__seg_alloc(void);

/* The backend behind a scheme; NULL for SHMKIT_BACKEND_NONE or a bad value. */
static inline const struct shmkit__backend *shmkit__backend_of(enum shmkit_backend b)
{
	switch (b) {
	case SHMKIT_POSIX:
		return &shmkit__backend_posix;
	case SHMKIT_SYSV:
		return &shmkit__backend_sysv;
	case SHMKIT_FILE:
		return &shmkit__backend_file;
	case SHMKIT_MEMFD:
		return &shmkit__backend_memfd;
	case SHMKIT_ANON:
		return &shmkit__backend_anon;
	case SHMKIT_BACKEND_NONE:
		break;
	}
	return NULL;
}

/* src/backend/sysv.c: fills st from IPC_STAT data (also used by list). */
struct shmid_ds;
void shmkit__sysv_fill_stat(struct shmkit_stat *st, int id, const struct shmid_ds *ds);
/* src/stat.c: zeroes st and sets the defaults for unknown fields. */
void shmkit__stat_init(struct shmkit_stat *st, enum shmkit_backend b);
/* src/stat.c: scans /proc for processes that map or hold the object
 * (dev/ino, or SysV shmid when shmid >= 0) and fills n_mappers/mappers.
 * 0, or -EMFILE/-ENFILE/-ENOMEM when our own limits cut the scan short. */
int shmkit__stat_mappers(struct shmkit_stat *st, dev_t dev, ino_t ino, int shmid);
/* src/stat.c: sets st->dev/inode from this process's mapping at addr
 * (/proc/self/maps), for regions with no descriptor (anon:). */
void shmkit__stat_self_mapping(struct shmkit_stat *st, const void *addr);

#endif
