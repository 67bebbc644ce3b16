/* SPDX-License-Identifier: MIT */
/* shmkit — segments: one API over System V, POSIX, memfd, file-backed and
 * anonymous shared memory, selected by URI. See shmkit_seg(3).
 *
 *   posix:/name  /name  name          shm_open on /dev/shm (kernel lifetime)
 *   sysv:0x1234  sysv:/path?proj=0x66  sysv:private  sysv:id=N
 *   file:/abs/path  file:/abs/path?private (copy-on-write view)
 *   memfd:name                         sealed memfd (pass it: send/recv, fd:N)
 *   anon:                              MAP_SHARED|MAP_ANONYMOUS (fork)
 *   fd:N                               a descriptor this process holds (dup'd)
 *
 * All int functions return >= 0 or a negative errno; shmkit_last_error_detail()
 * says why in words. Thread-safe; a struct shmkit_seg is used by one thread
 * at a time (or only read concurrently). */
#ifndef SHMKIT_SEG_H
#define SHMKIT_SEG_H

#include <shmkit/common.h>

SHMKIT_BEGIN_DECLS

/* SHMKIT_HUGE: back the segment with huge pages (same as "?huge" in the URI);
 * -EOPNOTSUPP or -ENOMEM with a detail where the kernel cannot, never a
 * silent fallback to base pages. See shmkit_seg(3). */
/* SHMKIT_LOOK: a read-only open for looking at what is there (implies
 * SHMKIT_RDONLY; SHMKIT_POPULATE, ?populate and ?addr= do not apply). Holes of a
 * sparse tmpfs segment (posix:, file: on a tmpfs) read as zeros
 * from private pages, so looking allocates nothing in it and cannot fault
 * with SIGBUS when it is full; what is written into a hole after the open
 * is not seen. -EFBIG for a sparse segment with more than 4096 holes. */
enum {
	SHMKIT_CREATE = 1,
	SHMKIT_EXCL = 2,
	SHMKIT_RDONLY = 4,
	SHMKIT_POPULATE = 8,
	SHMKIT_HUGE = 16,
	SHMKIT_LOOK = 32
};
/* The values DESIGN.md gives (SHMKIT_POSIX 0 ... SHMKIT_ANON 4), which
 * bindings in other languages copy. SHMKIT_BACKEND_NONE: no segment
 * (shmkit_seg_backend(NULL)); never a real one. */
enum shmkit_backend {
	SHMKIT_BACKEND_NONE = -1,
	SHMKIT_POSIX = 0,
	SHMKIT_SYSV,
	SHMKIT_FILE,
	SHMKIT_MEMFD,
	SHMKIT_ANON,
};
enum shmkit_lifetime { SHMKIT_LIFE_PROCESS, SHMKIT_LIFE_KERNEL, SHMKIT_LIFE_FILESYSTEM };

/* Longest URI shmkit accepts or reports, including the terminating NUL. */
#define SHMKIT_URI_MAX 4200
/* How many mapping processes a struct shmkit_stat lists by name. */
#define SHMKIT_STAT_MAPPERS 16

struct shmkit_seg;

struct shmkit_mapper {
	pid_t pid;
	char comm[16];
};

struct shmkit_stat {
	char uri[SHMKIT_URI_MAX];       /* canonical URI (sysv: "sysv:0x1234" or "sysv:id=N") */
	enum shmkit_backend backend;
	enum shmkit_lifetime lifetime;
	uint64_t size;                  /* bytes usable (file/tmpfs size, SysV segsz) */
	uint64_t real_size;             /* bytes the kernel holds for it (page-rounded) */
	unsigned mode;                  /* permission bits */
	uid_t uid;
	gid_t gid;
	pid_t creator_pid;              /* SysV shm_cpid; 0 where unknown */
	pid_t last_pid;                 /* SysV shm_lpid; 0 where unknown */
	int64_t attach_count;           /* SysV nattch, else processes seen mapping it; -1 unknown */
	int marked_for_removal;         /* SysV IPC_RMID done while still attached */
	int64_t sysv_key;               /* SysV key (ftok-derived where asked); -1 elsewhere */
	int sysv_id;                    /* SysV shmid; -1 elsewhere */
	int64_t atime, dtime, ctime;    /* SysV attach/detach/change times; file times elsewhere (s) */
	int64_t mtime;
	uint64_t dev, inode;            /* st_dev/st_ino of the backing file (0 for SysV, anon: 0) */
	int deleted;                    /* found in /proc only: its name is gone (memfd, unlinked) */
	/* Processes seen mapping it (from /proc, where the caller may look). */
	int n_mappers;                  /* how many were seen (may exceed SHMKIT_STAT_MAPPERS) */
	struct shmkit_mapper mappers[SHMKIT_STAT_MAPPERS];
	/* shmkit-managed segments (filled by shmkit_stat/shmkit_seg_stat when a header is found) */
	int managed;                    /* 1 if the segment starts with a shmkit header */
	uint32_t kind;                  /* enum shmkit_kind (see shmkit/managed.h) */
	uint32_t layout_version;
	int creator_alive;              /* 1 alive, 0 dead, negative errno: cannot tell */
	pid_t managed_creator_pid;
	int header_status;              /* 0 valid, else -EBADMSG / -EPROTO / ...; -ENODATA: a
	                                 * SysV segment nobody has attached, not read (looking
	                                 * would mean attaching: that rewrites its last pid),
	                                 * or a memfd, anon or removed name no process we may
	                                 * read maps (no name reaches it);
	                                 * with managed 0, the error that kept it unread
	                                 * (-EACCES: another user's segment) */
	/* Pages backing it: bytes per page (0 unknown) and how huge pages come:
	 * SHMKIT_PAGES_HUGETLB (reserved pages: SHM_HUGETLB, hugetlbfs, MFD_/MAP_HUGETLB),
	 * SHMKIT_PAGES_THP (transparent huge pages on tmpfs), SHMKIT_PAGES_BASE, or 0 unknown. */
	uint64_t page_size;
	int pages;
	int persistent;                 /* managed: 1 created persistent (SHMKIT_PERSIST): gc never removes it */
	int reserved1;                  /* zeroed */
	/* managed, header_status -EBADMSG or -EPROTO: what in the header is wrong
	 * ("made on another platform (fingerprint ...)", "header says N bytes
	 * ..."), as the open that refuses it says; "" otherwise. */
	char header_detail[112];
	uint64_t reserved[1]; /* zeroed by shmkit: room for fields added later (shmkit(3), STRUCTS THAT GROW) */
};

enum { SHMKIT_PAGES_BASE = 1, SHMKIT_PAGES_HUGETLB = 2, SHMKIT_PAGES_THP = 3 };

/* Opens (or with SHMKIT_CREATE creates; +SHMKIT_EXCL: only creates) and maps.
 * size: required to create; 0 opens an existing segment whole; never more
 * than an existing segment holds (-EINVAL). mode 0 = 0600, applied exactly.
 * Memory is reserved at create: a full tmpfs is -ENOSPC now, never SIGBUS. */
SHMKIT_API int shmkit_seg_open(struct shmkit_seg **out, const char *uri, size_t size, int flags,
			       unsigned mode);
SHMKIT_API void *shmkit_seg_addr(const struct shmkit_seg *seg);
SHMKIT_API size_t shmkit_seg_size(const struct shmkit_seg *seg);
/* The segment's own descriptor (do not close it); -EBADF for sysv:/anon:. */
SHMKIT_API int shmkit_seg_fd(const struct shmkit_seg *seg);
SHMKIT_API const char *shmkit_seg_uri(const struct shmkit_seg *seg);
SHMKIT_API enum shmkit_backend shmkit_seg_backend(const struct shmkit_seg *seg);
SHMKIT_API int shmkit_seg_stat(const struct shmkit_seg *seg, struct shmkit_stat *st);
/* file: msync(MS_SYNC) + fdatasync; 0 elsewhere. */
SHMKIT_API int shmkit_seg_flush(struct shmkit_seg *seg);
/* Unmaps/detaches and frees the handle; never removes the segment. */
SHMKIT_API int shmkit_seg_close(struct shmkit_seg *seg);
/* shm_unlink / IPC_RMID / unlink; mappers keep their mapping. */
SHMKIT_API int shmkit_remove(const char *uri);
SHMKIT_API int shmkit_stat(const char *uri, struct shmkit_stat *st);
/* Copies len bytes at offset of the segment at uri into buf, only looking:
 * nothing it reads changes. A System V segment is read through a process
 * that has it attached (process_vm_readv: needs the right to trace it),
 * never attached (that rewrites its last-user pid and times): -ENODATA when
 * no such process can be read. Others through a read-only mapping. Returns
 * len, or a negative errno (-EINVAL: the range passes the end). */
SHMKIT_API ssize_t shmkit_peek(const char *uri, uint64_t offset, void *buf, size_t len);
/* Calls fn for every visible segment (SysV, /dev/shm, and memfd/deleted/anon/
 * file mappings found in /proc). fn returning non-zero stops the walk and is
 * returned; else returns how many segments were reported. */
SHMKIT_API int shmkit_list(int (*fn)(const struct shmkit_stat *st, void *arg), void *arg);
/* Passes the segment's descriptor and size over a Unix socket (SCM_RIGHTS). */
SHMKIT_API int shmkit_seg_send(int unix_sock, const struct shmkit_seg *seg);
/* Receives and maps one (flags: SHMKIT_RDONLY, SHMKIT_POPULATE). A descriptor
 * not sealed against shrinking, or smaller than announced: -EBADMSG, closed. */
SHMKIT_API int shmkit_seg_recv(int unix_sock, struct shmkit_seg **out, int flags);
/* shmkit_last_error_detail(): <shmkit/common.h>, which every header includes. */

SHMKIT_END_DECLS

#endif
