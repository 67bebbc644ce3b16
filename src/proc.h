/* SPDX-License-Identifier: MIT */
/* Everything shmkit reads from /proc, in one place: the process walk, one
 * process's shared mappings and descriptors, its identity (state, start
 * time, namespaces), and the kernel's SysV table. stat, list, gc and the
 * liveness checks all read through here, so what "uses a segment" and what
 * a SysV cpid/lpid of 0 means are decided once. Never installed. */
#ifndef SHMKIT_PROC_H
#define SHMKIT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads up to cap-1 bytes of a small /proc file into buf, NUL-terminated.
 * Returns the length or a negative errno. */
ssize_t shmkit__proc_read_file(const char *path, char *buf, size_t cap);

/* ---- processes ---- */

/* Calls fn for every process in /proc (ascending pid order is not promised).
 * A non-zero return from fn stops the walk and is returned; -ENOENT when
 * /proc cannot be read at all. */
int shmkit__proc_each_pid(int (*fn)(pid_t pid, void *arg), void *arg);

/* /proc/PID/stat state letter and start time: 0, -ENOENT (no such process)
 * or a negative errno. pid 0 reads /proc/self. */
int shmkit__proc_stat(pid_t pid, char *state, uint64_t *start_time);
/* The same for the calling thread (/proc/thread-self/stat): a thread's own
 * start time, where /proc/self shows its process's (the first thread's). */
int shmkit__proc_thread_stat(char *state, uint64_t *start_time);

/* The "Threads:" count of /proc/PID/status: >= 1, -ENOENT (no such
 * process) or a negative errno. A thread group whose leader has exited
 * (pthread_exit) shows the leader as a zombie while its other threads run:
 * only this count tells the two apart. */
int shmkit__proc_threads(pid_t pid);

/* The process's name (comm), "" when it cannot be read. */
void shmkit__proc_comm(pid_t pid, char *comm, size_t cap);

/* Inode of /proc/PID/ns/NAME ("pid", "ipc"): which namespace the process is
 * in; pid 0 = this process. 0 when it cannot be read. */
uint64_t shmkit__proc_ns(pid_t pid, const char *name);
/* Is pid in our network namespace: 1 yes, 0 no, -1 cannot tell. By the
 * ns/net links, or where pid's is closed to us (another user's process:
 * it needs ptrace rights) by the inodes of /proc/{self,PID}/net/unix,
 * which each network namespace has its own of and anyone may stat. */
int shmkit__proc_same_net(pid_t pid);

/* 1 when /proc is the one of the pid namespace this process lives in (its
 * numbers are our getpid() numbers), 0 when it is another namespace's or
 * cannot be told. */
int shmkit__proc_is_ours(void);

/* ---- one process's mappings and descriptors ---- */

struct shmkit__map_line {
	unsigned long start, end;
	char perms[8];  /* "rw-s" */
	uint64_t offset; /* of start in the file (or SysV segment) */
	dev_t dev;
	uint64_t ino;   /* for SysV mappings: the shmid */
	int shmid;      /* name is "/SYSV...": the shmid, else -1 */
	const char *name; /* path as /proc shows it, "" for none; valid during fn */
};
/* Calls fn for each line of /proc/PID/maps. 0, fn's non-zero return,
 * -ENOENT (process gone) or -EACCES (may not be read). */
int shmkit__proc_each_map(pid_t pid, int (*fn)(const struct shmkit__map_line *l, void *arg),
			  void *arg);

/* Calls fn for each descriptor of /proc/PID/fd with its number (the entry's
 * name), its link text and what it refers to (fstat; sb is NULL if that
 * failed). Same returns. */
struct stat;
int shmkit__proc_each_fd(pid_t pid,
			 int (*fn)(const char *fd, const char *link, const struct stat *sb,
				   void *arg),
			 void *arg);

/* KernelPageSize of pid's mapping that starts at addr (/proc/PID/smaps),
 * 0 unknown. */
uint64_t shmkit__proc_page_size(pid_t pid, unsigned long addr);

/* ---- who uses an object ---- */

/* An object as /proc names it: a file (dev + inode) or a SysV shmid. */
struct shmkit__obj_ref {
	dev_t dev;
	uint64_t ino;
	int shmid; /* >= 0: SysV (dev/ino unused), else -1 */
	/* For shmkit__proc_users: a process that cannot be inspected counts
	 * only if its uid could open an object of this owner and mode. */
	uid_t owner;
	unsigned mode;
	/* Descriptors opened O_PATH do not count: they can neither read,
	 * write nor map it (a take-over's look at an empty file, abandoned.c;
	 * and every open-or-create waiting for its creator holds one). */
	int skip_path_fds;
};
/* Does pid map it (any mapping) or hold a descriptor to it? 1, 0, -ENOENT
 * (gone) or -EACCES (cannot be inspected). SysV ids are per IPC namespace: a
 * process in another one never matches. *addr (may be NULL) gets the start
 * of its mapping, 0 for a descriptor only. */
int shmkit__proc_pid_uses(pid_t pid, const struct shmkit__obj_ref *ref, unsigned long *addr);

/* The users of an object: calls fn for each live process that maps or holds
 * it (skipping this one when skip_self); counts the ones that cannot be
 * inspected. */
struct shmkit__users {
	int n_users;
	int n_uninspected; /* -1: /proc unreadable, nothing can be said */
	pid_t uninspected; /* one of them, for messages */
};
/* Returns 0 (or fn's non-zero stop value), or -EMFILE/-ENFILE/-ENOMEM when
 * our own limits stopped the walk (the process it stopped at counts as
 * uninspected, so u never understates who might use the object). */
int shmkit__proc_users(const struct shmkit__obj_ref *ref, int skip_self,
		       int (*fn)(pid_t pid, void *arg), void *arg, struct shmkit__users *u);

/* ---- SysV ---- */

/* One row of /proc/sysvipc/shm. cpid/lpid are as the kernel translates them
 * into our pid namespace: 0 means "in a namespace we cannot see" — except
 * an lpid of 0 with atime 0: nobody ever attached. */
struct shmkit__sysv_row {
	int64_t key;
	int shmid;
	unsigned perms;    /* mode bits incl. SHM_DEST (01000) */
	uint64_t size;
	int cpid, lpid;
	uint64_t nattch;
	unsigned uid, gid;
	int64_t atime, dtime, ctime;
};
/* Calls fn per segment; 0, fn's non-zero return, or -ENOENT (no table). */
int shmkit__sysv_each(int (*fn)(const struct shmkit__sysv_row *r, void *arg), void *arg);
/* The current row of one shmid: 0 or -ENOENT. */
int shmkit__sysv_row(int shmid, struct shmkit__sysv_row *out);
struct shmkit_stat;
/* Fills st's SysV fields (size, mode, owner, pids, attach count, key, id,
 * times) from a row: what IPC_STAT gives, for anyone who may read /proc. */
void shmkit__sysv_row_stat(struct shmkit_stat *st, const struct shmkit__sysv_row *r);

/* Liveness of the creator / last user of a row: 1 alive, 0 provably gone
 * (or, for lpid, nobody ever attached), -EXDEV in another pid namespace
 * (shown as pid 0), other negative errno when it cannot be told. */
int shmkit__sysv_cpid_alive(const struct shmkit__sysv_row *r);
int shmkit__sysv_lpid_alive(const struct shmkit__sysv_row *r);

/* Copies len bytes of another process's memory (process_vm_readv; needs the
 * right to ptrace it): 0, or a negative errno (-EFAULT: short read). */
int shmkit__proc_read_mem(pid_t pid, unsigned long addr, void *buf, size_t len);

/* Copies len bytes at offset off of SysV segment shmid as a live process
 * that has it attached sees them: this process's own mapping first (read
 * even where process_vm_readv is refused), then others' (process_vm_readv):
 * reading changes nothing the kernel keeps, unlike shmat, which rewrites
 * the last-user pid and times.
 * The caller keeps off + len within the segment. 0 and *via (the process
 * read through), -ENOENT when no process we may read has it attached. */
int shmkit__sysv_peek(int shmid, uint64_t off, void *buf, size_t len, pid_t *via);
/* The same through one process: 0, or -ENOENT when pid does not have it
 * attached or may not be read. */
int shmkit__sysv_peek_pid(pid_t pid, int shmid, uint64_t off, void *buf, size_t len);
/* len bytes at addr of pid's memory (this process's too, where reading
 * others' is refused): 0, or a negative errno. */
int shmkit__proc_peek_at(pid_t pid, unsigned long addr, void *buf, size_t len);
/* Whether pid maps file dev:ino at [start, end) now, by its map_files
 * entry: 1 yes, 0 no (another file, or no such mapping), or a negative
 * errno where that entry may not be read (it needs CAP_CHECKPOINT_RESTORE
 * or CAP_SYS_ADMIN). */
int shmkit__proc_maps_file(pid_t pid, unsigned long start, unsigned long end, uint64_t dev,
			   uint64_t ino);
/* The same for a file (tmpfs, memfd, a shared anonymous region) named by
 * its device and inode, as pid maps it: for one whose name is gone or was
 * never there, which no open by name can reach. */
int shmkit__file_peek_pid(pid_t pid, uint64_t dev, uint64_t ino, uint64_t off, void *buf,
			  size_t len);
/* Whether reading another process's memory is refused here whatever its
 * owner (process_vm_readv fails even on ourselves: a seccomp filter, a
 * kernel without it): its negative errno, or 0 when it is not. */
int shmkit__sysv_read_refused(void);
/* Why SysV segment st was not read (header_status -ENODATA), true to the
 * cause: nobody has it attached, reading is refused here, or only processes
 * we may not read have it attached. Written into buf; returns buf. */
const char *shmkit__sysv_unread_why(const struct shmkit_stat *st, char *buf, size_t cap);
/* A look at a posix: or file: uri to read with pread (src/peek.c): the
 * whole file mapped, as SHMKIT_LOOK does, or where that cannot be (more
 * holes than a look covers, more bytes than the address space has room
 * for: -EFBIG, -ENOMEM) a look at its first byte, whose descriptor serves,
 * since pread allocates no hole. *size: the bytes it has. 0, or the first
 * open's error and detail. */
struct shmkit_seg;
int shmkit__look_for_pread(const char *uri, struct shmkit_seg **seg, uint64_t *size);

#endif
