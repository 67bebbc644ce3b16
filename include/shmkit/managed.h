/* SPDX-License-Identifier: MIT */
/* shmkit — managed segments: the self-describing header every shmkit object
 * starts with, liveness of the processes using it, and garbage collection.
 * See shmkit_gc(3) and docs/LAYOUT.md. */
#ifndef SHMKIT_MANAGED_H
#define SHMKIT_MANAGED_H

#include <shmkit/common.h>
/* a managed object is a segment: shmkit_remove, shmkit_stat, SHMKIT_CREATE ... */
#include <shmkit/seg.h>

SHMKIT_BEGIN_DECLS

/* The layout version of the shmkit header and objects this build reads and
 * writes (docs/LAYOUT.md). Another version opens with -EPROTO. */
#define SHMKIT_LAYOUT_VERSION 2u

/* OR into the `mode` of any managed create (shmkit_queue_opts.mode,
 * shmkit_topic_opts.mode, shmkit_heap_create, shmkit_map_create,
 * shmkit_raw_create): the object is persistent — it lives until removed,
 * like a file, and shmkit_gc never removes it. Without it (and without
 * SHMKIT_PERSIST=1 in the environment) an object is owned by its creator
 * and attachers. See shmkit_gc(3). */
#define SHMKIT_PERSIST 0x1000000u

enum shmkit_kind {
	SHMKIT_KIND_NONE = 0,
	SHMKIT_KIND_RAW = 1,   /* user data after a shmkit header */
	SHMKIT_KIND_QUEUE = 2,
	SHMKIT_KIND_TOPIC = 3,
	SHMKIT_KIND_HEAP = 4,
	SHMKIT_KIND_MAP = 5,
};

/* Name of a kind ("queue", "topic", ...); "unknown" for others. */
SHMKIT_API const char *shmkit_kind_name(uint32_t kind);

/* ---- raw: a plain byte area after a shmkit header ----
 * For users who want their own layout but the header's guarantees: exclusive,
 * crash-safe creation, version and size checks on open, liveness for gc.
 * shmkit_raw_create() zero-fills `size` bytes of data; mode 0 means 0600.
 * shmkit_raw_open() waits (about 1 s) for a creator still initializing. */
struct shmkit_raw;
SHMKIT_API int shmkit_raw_create(struct shmkit_raw **r, const char *uri, size_t size,
				 unsigned mode);
SHMKIT_API int shmkit_raw_open(struct shmkit_raw **r, const char *uri);
SHMKIT_API void *shmkit_raw_data(const struct shmkit_raw *r);
SHMKIT_API size_t shmkit_raw_size(const struct shmkit_raw *r);
SHMKIT_API int shmkit_raw_close(struct shmkit_raw *r);

/* ---- who uses a managed segment ---- */
struct shmkit_attacher {
	pid_t pid;
	int alive;    /* 1 alive, 0 provably dead, negative errno: cannot tell */
	int claiming; /* 1 if the entry was still being written */
	uint64_t reserved[2]; /* zeroed by shmkit: room for fields added later (shmkit(3), STRUCTS THAT GROW) */
};
/* Reads the attach table of the managed segment at `uri` (read-only, no
 * waiting): fills up to cap entries and returns how many entries are in use
 * (may exceed cap), or a negative errno (-EBADMSG/-EPROTO: no valid header). */
SHMKIT_API int shmkit_managed_attachers(const char *uri, struct shmkit_attacher *out, int cap);

/* ---- garbage collection ---- */
enum {
	SHMKIT_GC_DRY_RUN = 1, /* decide and report, remove nothing */
	/* also SysV segments without a shmkit header (nattch 0, creator and last user dead) */
	SHMKIT_GC_FOREIGN = 2,
	/* also owned objects that still hold undelivered messages or data
	 * (never persistent ones, never ones in use) */
	SHMKIT_GC_FORCE = 4,
};
enum shmkit_gc_verdict {
	SHMKIT_GC_REMOVED = 0,      /* removed: proven orphaned */
	SHMKIT_GC_KEPT = 1,         /* in use, or not ours to remove */
	SHMKIT_GC_WOULD_REMOVE = 2, /* dry run: would have been removed */
	SHMKIT_GC_SKIPPED = 3,      /* could not decide (permission, corrupt header): left alone */
};
struct shmkit_gc_entry {
	const char *uri;
	enum shmkit_gc_verdict verdict;
	int managed;         /* 1 if it has a shmkit header */
	uint32_t kind;       /* enum shmkit_kind when managed */
	const char *reason;  /* one line: the proof, or why not */
	int error;           /* negative errno when removal failed or inspection was refused, else 0 */
};
/* Looks at every POSIX and SysV segment and removes the shmkit objects whose
 * creator and every attacher are provably dead and that no live process maps
 * or holds open. Calls cb (may be NULL) once per segment looked at; a
 * non-zero return from cb stops the walk and is returned. Returns the number
 * removed (or that would be, with SHMKIT_GC_DRY_RUN), or a negative errno. */
SHMKIT_API int shmkit_gc(unsigned flags, int (*cb)(const struct shmkit_gc_entry *e, void *arg),
			 void *arg);
/* shmkit_gc limited to segments whose URI starts with uri_prefix (SysV
 * segments match by "sysv:id=N", that one id, or by key, "sysv:0x0000abcd",
 * the key's digits a prefix too): a service
 * cleaning up only its own objects at start. NULL prefix = every segment. */
SHMKIT_API int shmkit_gc_prefix(unsigned flags, const char *uri_prefix,
				int (*cb)(const struct shmkit_gc_entry *e, void *arg), void *arg);
SHMKIT_API const char *shmkit_gc_verdict_name(enum shmkit_gc_verdict v);

SHMKIT_END_DECLS

#endif
