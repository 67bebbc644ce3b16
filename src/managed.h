/* SPDX-License-Identifier: MIT */
/* Internal API of managed segments: the header every shmkit object starts
 * with (src/layout.h, docs/LAYOUT.md), its init protocol and attach table,
 * and process identities that survive pid reuse. Used by queue, pubsub,
 * heap and map; implemented in src/managed.c and src/ident.c. */
#ifndef SHMKIT_MANAGED_INTERNAL_H
#define SHMKIT_MANAGED_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <shmkit/managed.h>
#include <shmkit/seg.h>

#include "layout.h"

/* A process's handle on one managed object. */
struct shmkit__obj {
	struct shmkit_seg *seg;
	void *base;          /* segment base: the header is here */
	void *body;          /* base + SHMKIT__HEADER_SIZE */
	size_t body_size;    /* bytes of object body (validated against the segment) */
	int attach_slot;     /* our entry in the attach table, -1 if none */
	uint64_t attach_word; /* the slot word we stored, to release only our own claim */
	uint64_t role_word[SHMKIT__ROLES]; /* role entries this handle holds (0 = none) */
	void *copy;          /* a look at SysV: the copy base points into (else NULL) */
};

/* Fills the object body; called by the creator before READY is published.
 * Returns 0 or a negative errno (the create then fails and removes the segment). */
typedef int (*shmkit__obj_init_fn)(void *body, size_t body_size, void *arg);

/* Creates a managed object of `kind` with a `body_size`-byte body at `uri`
 * (exclusive). If the URI names an existing object of this kind whose creator
 * died before publishing READY, the call takes it over and re-initializes it.
 * Registers the caller in the attach table. */
int shmkit__obj_create(struct shmkit__obj *o, const char *uri, uint32_t kind, size_t body_size,
		       unsigned mode, shmkit__obj_init_fn init, void *arg);

/* Opens an existing object of `kind`. Validates magic, fingerprint, version,
 * kind and sizes before anything else: -EBADMSG foreign/corrupt, -EPROTO other
 * layout version. Waits (bounded, about 1 s) while the creator is still
 * initializing; -EOWNERDEAD if the creator died before READY. Registers the
 * caller in the attach table (a full table is not an error: attach_slot -1). */
int shmkit__obj_open(struct shmkit__obj *o, const char *uri, uint32_t kind, int flags);

/* Does the header at base (of a segment of size bytes) belong to a shmkit
 * object: its magic, or a creator's half-built header (magic still 0)? A
 * zero where the magic goes and a word where init goes alone are not one:
 * another program's data may have both. Reads only. */
int shmkit__header_claimed(const void *base, size_t size);

/* A `kind` for opens only: a heap or a map (a map is a heap whose root is
 * the map: shmkit_heap_open checks and counts either). */
#define SHMKIT__KIND_HEAP_OR_MAP 0x80000000u

/* With SHMKIT_RDONLY in flags: a read-only mapping and no attach slot; for
 * System V a look (shmkit__obj_look: read through a process that has it
 * attached, never attached). */

/* shmkit__obj_open with an explicit bound on the waits (relative ns; 0 = do
 * not wait: -EAGAIN where it would). Expiry while the creator is alive and
 * still initializing: -ETIMEDOUT. */
int shmkit__obj_open_timeout(struct shmkit__obj *o, const char *uri, uint32_t kind, int flags,
			     int64_t timeout_ns);

/* A look at an existing object of `kind` (0: any) for callers that only
 * read (stat, the CLI's looking commands): no attach slot, no role, no
 * repair, no wait, nothing written. posix/file/memfd/fd: a PROT_READ mapping
 * of an O_RDONLY descriptor. SysV: a private copy read through a process
 * that has the segment attached (never shmat, which rewrites the last-user
 * pid and times gc --foreign's proof reads): -ENODATA when no process we
 * may read has it. Validates as shmkit__obj_open; -EAGAIN while the creator
 * is still initializing, -EOWNERDEAD if it died doing so. o->seg is NULL for
 * a SysV copy. Close with shmkit__obj_close. */
int shmkit__obj_look(struct shmkit__obj *o, const char *uri, uint32_t kind);

/* Claims a role (enum shmkit__role_id) for this handle: 0 (also when it
 * already holds it), -EBUSY while another live process (or another handle)
 * holds it, or one whose life cannot be judged (another pid namespace
 * without a kernel lock to ask). A dead holder's role is taken over. Roles
 * are given back by shmkit__obj_close. */
int shmkit__role_claim(struct shmkit__obj *o, unsigned role);

/* shmkit__ident_alive() for a process using this object: one in another pid
 * namespace (which /proc cannot judge) is judged by the kernel lock on its
 * attach slot when it holds one; else the same answers. */
int shmkit__obj_ident_alive(const struct shmkit__obj *o, const struct shmkit__ident *id);
/* 1 if o's attach table proves that the image of this process whose
 * token is `image` is gone: an attach slot names this process with that
 * token (its low 16 bits) and no description holds its lock, and no slot
 * of this process with a token other than this image's holds a lock or has
 * none to ask (another copy of the library, or a child forked before the
 * exec going on with the earlier image's handles). For claims that record
 * an image token but no lock of their own (a topic's publisher). */
int shmkit__obj_earlier_image_gone(const struct shmkit__obj *o, uint32_t image);

/* Leaves the attach table and unmaps. Never removes the segment. */
int shmkit__obj_close(struct shmkit__obj *o);

/* How long shmkit__obj_open waits for a creator that is still initializing. */
#define SHMKIT__OPEN_WAIT_NS 1000000000ll

/* The header of an object (o->base). */
static inline struct shmkit__header *shmkit__obj_header(const struct shmkit__obj *o)
{
	return (struct shmkit__header *)o->base;
}

/* Read-only look at a segment's first bytes (never writes, never waits):
 * fills st->managed, kind, layout_version, creator_alive, managed_creator_pid
 * and header_status. A segment without a header gets managed = 0. */
void shmkit__header_peek(const void *base, size_t size, struct shmkit_stat *st);

/* The managed layer's part of shmkit_stat/shmkit_seg_stat/shmkit_list (a
 * filler, src/seg_stat.h), after the segment-level fields are filled: peeks
 * through seg when given, else opens st->uri read-only, or for SysV reads
 * through a process that has it attached (st->mappers first). Never fails:
 * an unreadable or corrupt header is reported in st->header_status. */
struct shmkit__seen_at;
void shmkit__stat_managed(const struct shmkit_seg *seg, struct shmkit_stat *st,
			  const struct shmkit__seen_at *at);

/* Liveness of everyone recorded in a header (creator and attach table), for gc.
 * Counts are of processes provably alive, provably dead, and undecidable. */
struct shmkit__liveness {
	int creator_alive;       /* 1, 0, or negative errno */
	pid_t creator_pid;
	int n_alive, n_dead, n_unknown;
	pid_t first_alive;       /* an attacher that is alive or unknown, for messages */
	char creator_str[80];    /* "pid N" as shmkit__ident_pid_str() says it */
	int first_alive_elsewhere; /* 1: /proc's first_alive is another process, or none: a pid of
				    * another pid namespace; 2: /proc hides it (hidepid), it is here */
};
/* Returns 0, or -EBADMSG/-EPROTO if the header is not a valid shmkit header.
 * fd (-1 if none) lets the kernel's locks prove attachers dead or alive. */
int shmkit__header_liveness(const void *base, size_t size, int fd, struct shmkit__liveness *lv);

/* What the managed object at base (size bytes, header validated) still
 * holds (src/contents.c): 1 something (why says what: undelivered or unread
 * messages, allocations, keys, bytes), 0 nothing, -EBADMSG unreadable (why
 * says so; gc counts it as holding). Read-only; fd (or -1) is the segment's
 * file, whose holes a raw object's scan skips. */
int shmkit__obj_holds(const void *base, size_t size, int fd, char *why, size_t cap);

/* Fills `out` with the attach table (up to cap entries); returns how many
 * entries are in use (may exceed cap), or -EBADMSG/-EPROTO. */
int shmkit__header_attachers(const void *base, size_t size, int fd, struct shmkit_attacher *out,
			     int cap);


/* The running kernel's boot id (16 bytes). */
int shmkit__boot_id(uint8_t out[16]);
/* Bare-pid liveness (kill(pid, 0)): 1 exists, 0 ESRCH, negative errno. Only for
 * places where no start time was recorded (SysV cpid/lpid, a claim in flight). */
int shmkit__pid_alive(pid_t pid);

/* This process's identity (cached; refreshed after fork). */
const struct shmkit__ident *shmkit__ident_self(void);

/* 1 if the identified process is alive, 0 if provably dead (no such pid, or the
 * pid now belongs to a process with another start time, or another boot),
 * negative errno if it cannot be told. Reads /proc: slow path only. */
int shmkit__ident_alive(const struct shmkit__ident *id);
/* For an identity ident_alive() judged dead (0): 1 if no live process
 * could have earned that verdict through another view of /proc (a pid
 * namespace whose /proc is not mounted, a time namespace's shifted start
 * times), 0 if only a kernel-kept lock can tell. */
int shmkit__ident_dead_proven(const struct shmkit__ident *id);
/* "pid N" for messages; for a process of another pid namespace, our pid
 * for it where /proc shows it ("pid H (N in its own pid namespace)"), else
 * "pid N of another pid namespace". Walks /proc: for error paths only. */
const char *shmkit__ident_pid_str(const struct shmkit__ident *id, char *buf, size_t cap);
/* 1 if the identity was recorded in this boot (or ours cannot be read). */
int shmkit__ident_same_boot(const struct shmkit__ident *id);
/* This process image's token (never 0, nor 0 in its low 16 bits): what a
 * claim records beside its identity, so that the process can tell its own
 * claims from those of an image it replaced by execve(2). */
uint32_t shmkit__image_token(void);
/* 1 if id names this very process and `image` (the token its claimer
 * recorded, of which `mask` was kept) is another image's: a claim made
 * before an execve, which nothing can use or release any more. 0 otherwise,
 * and when no token was recorded (0: an older library's claim). */
int shmkit__ident_earlier_image(const struct shmkit__ident *id, uint32_t image, uint32_t mask);

#endif
