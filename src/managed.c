/* SPDX-License-Identifier: MIT */
/* Managed segments: the header every shmkit object starts with, its
 * exclusive, crash-safe init protocol, and the attach table.
 *
 * Init protocol (docs/LAYOUT.md has the bytes):
 *   creator:  seg created O_EXCL (zero-filled)
 *             -> creator identity, creator_gen (release)
 *             -> fixed fields, init = (pid, INITIALIZING, gen)
 *             -> magic (release)                         [A]
 *             -> body filled by the init callback
 *             -> init = (pid, READY, gen) (release)      [B]
 *   opener:   magic (acquire, pairs with [A]) -> fixed fields validated
 *             -> init (acquire, pairs with [B]) == READY -> body usable.
 * A creator that dies before [B] leaves INITIALIZING and an identity that
 * is provably dead: openers report -EOWNERDEAD, and a create() on the same
 * URI takes the creator role over with one CAS on `init` (generation bumped,
 * so two re-initializers cannot both win) and starts the body again. One
 * killed before its file had a size leaves an empty file naming nobody:
 * create() takes it over once nobody holds it (abandoned.c). */
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abandoned.h"
#include "backend/backend.h"
#include "internal.h"
#include "managed.h"
#include "proc.h"
#include "seg_stat.h"

/* ---- small helpers ---- */

static void sleep_briefly(void)
{
	struct timespec ts = {0, 1000000}; /* 1 ms: creators finish in microseconds */
	nanosleep(&ts, NULL);
}

/* 1 if the deadline (absolute ns, SHMKIT__NO_DEADLINE = none) has passed. */
static int expired(int64_t deadline)
{
	return shmkit__now_ns() >= deadline;
}

static uint64_t load_magic(const struct shmkit__header *h)
{
	/* Pairs with the release store of magic in publish_fixed_fields(): a
	 * non-zero magic means the fixed fields before it are written. */
	return __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
}

/* ---- liveness of the creator and of attach slots ---- */

/* Liveness of the creator named by init word `w`: its full identity when
 * the creator finished writing it (creator_gen == gen of w), else the bare
 * pid (a claimant killed between its CAS and its identity write). */
static int creator_alive(const struct shmkit__header *h, uint64_t w)
{
	uint32_t pid = SHMKIT__WORD_PID(w), gen = SHMKIT__WORD_GEN(w);
	struct shmkit__ident id;

	if (pid == 0 || pid > (uint32_t)INT32_MAX)
		return -EINVAL;
	/* Pairs with the release store of creator_gen in write_creator(): when
	 * it equals gen, creator holds the identity of that claimant. */
	uint32_t g1 =
	    atomic_load_explicit(&((struct shmkit__header *)h)->creator_gen, memory_order_acquire);
	memcpy(&id, (const void *)&h->creator, sizeof(id));
	atomic_thread_fence(memory_order_acquire);
	uint32_t g2 =
	    atomic_load_explicit(&((struct shmkit__header *)h)->creator_gen, memory_order_relaxed);
	if (g1 == gen && g2 == gen && id.pid == pid)
		return shmkit__ident_alive(&id);
	return shmkit__pid_alive((pid_t)pid);
}

/* 1 while init still holds w. The creator named by w may have finished,
 * marked the object READY and exited between a read of init and the look at
 * /proc: a dead creator means a dead object only if init did not move. */
static int init_still(const struct shmkit__header *h, uint64_t w)
{
	return atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire) == w;
}

/* creator_alive() for a verdict on the object: 1 also when it moved on. */
static int creator_alive_still(const struct shmkit__header *h, uint64_t w)
{
	int a = creator_alive(h, w);
	return a == 0 && !init_still(h, w) ? 1 : a;
}

/* ---- kernel-kept proof of life: open-file-description locks ----
 * A holder (attach slot, role) takes a write lock on one byte of the
 * segment's file: the byte at the start of its entry. The kernel drops it
 * when the holder's open file description goes (close, exit, kill -9), in
 * whatever pid namespace the holder lives; advisory locks do not touch the
 * bytes. Backends without a descriptor (SysV, anon) fall back to identities. */

static int lock_byte(int fd, uint64_t off, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	return fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : -1;
}

/* The SHMKIT__AI_* flags of the lock a new holder takes on its entry at
 * off: a write lock on its first byte free of others' locks. A write lock:
 * the kernel lets only a descriptor open for writing take one, and a probe
 * for read locks meets nothing else, so a stranger who may only read the
 * file cannot keep a dead holder alive (holders took read locks, and
 * anyone's read lock on the byte looked like theirs). A later byte than
 * the first (SHMKIT__AI_BYTE) when a dead holder's open file description
 * outlived it with its lock on the first. Every byte locked (a stranger's
 * read lock over the file): a read lock on the first, marked CONTENDED (an
 * identity that proves the holder dead wins over any lock, while one that
 * cannot judge it, another pid namespace, still has the lock to go by).
 * A descriptor not open for writing: a read lock, as before. */
static uint32_t holder_lock(int fd, uint64_t off)
{
	if (fd < 0)
		return 0;
	uint32_t contended = 0;
	for (uint32_t k = 0; k <= SHMKIT__AI_BYTE_MASK >> SHMKIT__AI_BYTE_SHIFT; k++) {
		if (lock_byte(fd, off + k, F_WRLCK) == 0) /* LOCKED: what older readers ask */
			return SHMKIT__AI_LOCKED | SHMKIT__AI_WRLOCKED | k << SHMKIT__AI_BYTE_SHIFT;
		if (errno != EAGAIN && errno != EACCES)
			break; /* not open for writing, or no locks here */
		contended = SHMKIT__AI_CONTENDED;
	}
	return lock_byte(fd, off, F_RDLCK) == 0 ? SHMKIT__AI_LOCKED | contended : 0;
}

/* The byte of its entry at off that a holder with these flags locked. */
static uint64_t lock_off(uint64_t off, uint32_t flags)
{
	return off + ((flags & SHMKIT__AI_WRLOCKED) ? SHMKIT__AI_BYTE(flags) : 0);
}

/* 1 another open file description holds a lock on the byte that a holder
 * with these flags takes (a write lock; any lock for one that took a read
 * lock), 0 none does, negative errno when the kernel cannot be asked. */
static int byte_locked(int fd, uint64_t off, uint32_t flags)
{
	/* a read-lock probe conflicts with write locks only */
	short probe = (flags & SHMKIT__AI_WRLOCKED) ? F_RDLCK : F_WRLCK;
	struct flock fl = {.l_type = probe, .l_whence = SEEK_SET,
			   .l_start = (off_t)lock_off(off, flags), .l_len = 1};
	if (fd < 0)
		return -EBADF;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return shmkit__neg_errno();
	return fl.l_type != F_UNLCK;
}

/* A description of our own making on fd's file, to ask the kernel about
 * locks: the one we were handed (fd:N) may be the very description that
 * holds the lock in question (another copy of the library given the same
 * descriptor, or one inherited across an execve, kept by a child forked
 * before it), and F_OFD_GETLK does not report a description's own locks.
 * -1 if it cannot be had (no /proc): nothing is proven then. */
static int fresh_description(int fd)
{
	char path[48];
	if (fd < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/fd/%d", shmkit__proc_self_dir(), fd);
	return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

/* byte_locked() asked through a fresh description: whether any open file
 * description at all, ours included, holds the lock; negative if unknown. */
static int byte_locked_anywhere(int fd, uint64_t off, uint32_t flags)
{
	int probe = fresh_description(fd);
	if (probe < 0)
		return -EBADF;
	int l = byte_locked(probe, off, flags);
	close(probe);
	return l;
}

/* Whether a holder naming this process, whose entry starts at byte `off`,
 * is an earlier image's claim (shmkit__ident_earlier_image): its token
 * says so, and no description at all holds its lock, since the exec closed
 * those that did. The token alone is no proof: two copies of the library
 * in one process draw two tokens, and a child forked before the exec may
 * go on with the earlier image's handle. So a holder with no lock (SysV,
 * anon:, or every byte it may lock was locked) is never taken for an
 * earlier image's, and the lock is asked through a description none of
 * them can hold (fresh_description). */
static bool earlier_image(int fd, uint64_t off, uint32_t flags, const struct shmkit__ident *id,
			  uint32_t image, uint32_t mask)
{
	if (!shmkit__ident_earlier_image(id, image, mask))
		return false;
	return (flags & SHMKIT__AI_LOCKED) && byte_locked_anywhere(fd, off, flags) == 0;
}

/* A live process named by a locked entry holds this object, unless no
 * description at all holds the entry's lock and /proc shows it neither
 * maps nor holds this file: a copy of a live object's file (cp of a
 * queue) carries the original's entries, live processes that never opened
 * the copy, which kept its consumer role taken, and itself from gc, for
 * as long as they lived. A holder in another pid namespace, or one /proc
 * cannot show, is taken at its word. */
static int live_holder_holds(int fd, uint64_t off, uint32_t flags, const struct shmkit__ident *id)
{
	struct stat sb;

	/* first through our description (one call): a holder with its own
	 * shows its lock there, the common case */
	if (!(flags & SHMKIT__AI_LOCKED) || fd < 0 || byte_locked(fd, off, flags) != 0 ||
	    byte_locked_anywhere(fd, off, flags) != 0)
		return 1;
	uint32_t my_ns = shmkit__ident_self() ? shmkit__ident_self()->pidns : 0;
	if (id->pidns == 0 || id->pidns != my_ns || fstat(fd, &sb) < 0)
		return 1;
	struct shmkit__obj_ref ref = {.dev = sb.st_dev, .ino = (uint64_t)sb.st_ino, .shmid = -1};
	return shmkit__proc_pid_uses((pid_t)id->pid, &ref, NULL) == 0 ? 0 : 1;
}

/* Liveness of a holder whose entry starts at byte `off`: its lock when it
 * took one and we have the file to ask, else its identity. */
static int holder_alive(int fd, uint64_t off, uint32_t flags, const struct shmkit__ident *id)
{
	int a = shmkit__ident_alive(id);
	if (a == 1)
		return live_holder_holds(fd, off, flags, id);
	if (!(flags & SHMKIT__AI_LOCKED)) {
		/* No file to lock (SysV, anon), or no namespace recorded (a
		 * library before locks): identity, as ever. A holder that had a
		 * file but found every byte it may lock locked (outlived write
		 * locks) took none: only proof of death counts, since "dead" may
		 * be a live holder seen through another time namespace or another
		 * pid namespace's /proc. */
		if (fd < 0 || a != 0 || id->pidns == 0)
			return a;
		return shmkit__ident_dead_proven(id) ? 0 : -EAGAIN;
	}
	/* Proven dead: a lock on its byte is someone else's (a stranger's read
	 * lock on a CONTENDED byte), or its open file description outlived it:
	 * a child it forked, a descriptor it passed, or its mapping kept by
	 * another process's hold on its address space (/proc readers) while
	 * it is already reaped. Another boot is no proof where a lock can say
	 * (no lock outlives a reboot, and a boot id file can be bind-mounted
	 * over in a mount namespace). */
	if (a == 0 && shmkit__ident_same_boot(id) && shmkit__ident_dead_proven(id))
		return 0;
	/* Dead by a view of /proc that may not be the holder's, in another pid
	 * namespace, or undecidable: the lock says. Alive by identity wins over
	 * "unlocked", because a holder sharing our open file description (fork,
	 * SCM_RIGHTS) hides its lock from us. */
	int l = byte_locked(fd, off, flags);
	return l >= 0 ? l : a;
}

static uint64_t slot_off(unsigned i)
{
	return SHMKIT__ATTACH_OFFSET + (uint64_t)i * sizeof(struct shmkit__attach_slot);
}

/* Liveness of the process in attach slot i whose word was read as `w`. */
static int slot_alive(const struct shmkit__header *h, unsigned i, uint64_t w, int fd)
{
	const struct shmkit__attach_slot *s = &h->attach[i];
	uint32_t pid = SHMKIT__WORD_PID(w);
	struct shmkit__ident id = {.pid = pid};

	if (pid == 0 || pid > (uint32_t)INT32_MAX)
		return 0; /* no process can have this pid: nobody is there */
	if (SHMKIT__WORD_STATE(w) != SHMKIT__SLOT_USED)
		return shmkit__pid_alive((pid_t)pid); /* claim in flight: pid only */
	id.start_time = s->start_time;
	memcpy(id.boot_id, s->boot_id, sizeof(id.boot_id));
	id.pidns = h->attach_info[i].pidns;
	uint32_t flags = h->attach_info[i].flags;
	/* Re-read the word: if it moved, the identity we copied may be torn. */
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&((struct shmkit__attach_slot *)s)->word, memory_order_relaxed) !=
	    w)
		return 1; /* in flux: someone live just changed it */
	if (earlier_image(fd, slot_off(i), flags, &id, flags >> SHMKIT__AI_IMAGE_SHIFT,
			  SHMKIT__AI_IMAGE_MASK))
		return 0; /* ours, from before an execve: nothing holds it */
	return holder_alive(fd, slot_off(i), flags, &id);
}

/* ---- header validation (read-only) ---- */

/* What validate_header() read, each field once. */
struct header_view {
	uint64_t magic;
	uint32_t fingerprint, version, kind, header_size;
	uint64_t total_size, body_size;
	uint64_t init;
};

/* Magic of zero: the creator has not published the header yet. */
#define HEADER_UNPUBLISHED 1

static int kind_wanted(uint32_t kind, uint32_t want)
{
	if (want == SHMKIT__KIND_HEAP_OR_MAP)
		return kind == SHMKIT_KIND_HEAP || kind == SHMKIT_KIND_MAP;
	return kind == want;
}

/* Is a header whose magic is still 0, with init, a creator's half-built one?
 * A creator writes the fixed fields, then init naming it (INITIALIZING,
 * release), then the magic. Without them, a word where init goes is another
 * program's data that has a zero where the magic goes (a zero counter, then
 * any 32-bit number at offset 40 read as a dead creator's pid): taking that
 * for a half-built object let gc remove, and create zero-fill, it. */
static int creator_fields_written(const struct shmkit__header *h, size_t seg_size, uint64_t init)
{
	return SHMKIT__WORD_PID(init) != 0 &&
	       SHMKIT__WORD_STATE(init) == SHMKIT__STATE_INITIALIZING &&
	       h->fingerprint == SHMKIT__FINGERPRINT && h->layout_version == SHMKIT__LAYOUT_VERSION &&
	       h->header_size == SHMKIT__HEADER_SIZE && h->total_size == seg_size &&
	       h->body_size == seg_size - SHMKIT__HEADER_SIZE &&
	       h->attach_slots == SHMKIT__ATTACH_SLOTS && h->attach_offset == SHMKIT__ATTACH_OFFSET;
}

/* validate_header() of a header whose magic is 0: HEADER_UNPUBLISHED for
 * zeroes where init goes (nobody named yet) or a creator's half-built
 * header, else -EBADMSG. */
static int validate_unpublished(const struct shmkit__header *h, size_t seg_size)
{
	/* Pairs with the release store of init in create_fresh(): a creator
	 * named there wrote the fixed fields before it. */
	uint64_t init = atomic_load_explicit(&((struct shmkit__header *)h)->init,
					     memory_order_acquire);
	if (SHMKIT__WORD_PID(init) == 0 || creator_fields_written(h, seg_size, init))
		return HEADER_UNPUBLISHED;
	shmkit__detail("no shmkit header: magic is zero, and what follows is not a half-built "
		       "header (another program's data)");
	return -EBADMSG;
}

int shmkit__header_claimed(const void *base, size_t size)
{
	const struct shmkit__header *h = base;
	if (size < SHMKIT__HEADER_SIZE)
		return 0;
	uint64_t magic = load_magic(h);
	uint64_t init = atomic_load_explicit(&((struct shmkit__header *)h)->init,
					     memory_order_acquire);
	return magic == SHMKIT__MAGIC || (magic == 0 && creator_fields_written(h, size, init));
}

/* Validates the header of a segment of seg_size bytes, reading each field
 * once into v, in the order: size, magic, fingerprint, version, kind, sizes.
 * want_kind 0 accepts any kind. Returns 0, HEADER_UNPUBLISHED, -EBADMSG or
 * -EPROTO (with a detail string). Never writes. */

static int validate_header(const struct shmkit__header *h, size_t seg_size, uint32_t want_kind,
			   struct header_view *v)
{
	memset(v, 0, sizeof(*v));
	if (seg_size < SHMKIT__HEADER_SIZE) {
		shmkit__detail("segment is %zu bytes, smaller than a shmkit header (%u)", seg_size,
			       SHMKIT__HEADER_SIZE);
		return -EBADMSG;
	}
	v->magic = load_magic(h);
	if (v->magic == 0)
		return validate_unpublished(h, seg_size);
	if (v->magic != SHMKIT__MAGIC) {
		shmkit__detail("no shmkit header (magic 0x%016llx)", (unsigned long long)v->magic);
		return -EBADMSG;
	}
	v->fingerprint = h->fingerprint;
	if (v->fingerprint != SHMKIT__FINGERPRINT) {
		shmkit__detail("made on another platform (fingerprint 0x%08x, this build 0x%08x)",
			       v->fingerprint, SHMKIT__FINGERPRINT);
		return -EBADMSG;
	}
	v->version = h->layout_version;
	if (v->version != SHMKIT__LAYOUT_VERSION) {
		shmkit__detail("layout version %u, this build reads version %u", v->version,
			       SHMKIT__LAYOUT_VERSION);
		return -EPROTO;
	}
	v->kind = h->kind;
	if (want_kind && !kind_wanted(v->kind, want_kind)) {
		const char *name = shmkit_kind_name(v->kind);
		const char *want = want_kind == SHMKIT__KIND_HEAP_OR_MAP
					   ? "heap"
					   : shmkit_kind_name(want_kind);
		if (strcmp(name, "unknown") == 0) /* a stray or hostile kind word */
			shmkit__detail("is of unknown kind %u, not a %s", v->kind, want);
		else
			shmkit__detail("is a %s (kind %u), not a %s", name, v->kind, want);
		return -EBADMSG;
	}
	v->header_size = h->header_size;
	v->total_size = h->total_size;
	v->body_size = h->body_size;
	if (v->header_size != SHMKIT__HEADER_SIZE || v->total_size != seg_size ||
	    v->body_size != v->total_size - SHMKIT__HEADER_SIZE) {
		shmkit__detail("header says %llu bytes (header %u, body %llu), segment has %zu",
			       (unsigned long long)v->total_size, v->header_size,
			       (unsigned long long)v->body_size, seg_size);
		return -EBADMSG;
	}
	if (h->attach_slots != SHMKIT__ATTACH_SLOTS || h->attach_offset != SHMKIT__ATTACH_OFFSET) {
		shmkit__detail("attach table %u slots at %u, expected %u at %u", h->attach_slots,
			       h->attach_offset, SHMKIT__ATTACH_SLOTS, SHMKIT__ATTACH_OFFSET);
		return -EBADMSG;
	}
	/* Pairs with the release stores of init in create (READY, [B]). */
	v->init = atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire);
	uint32_t state = SHMKIT__WORD_STATE(v->init);
	if (state != SHMKIT__STATE_INITIALIZING && state != SHMKIT__STATE_READY) {
		shmkit__detail("invalid state %u in the header", state);
		return -EBADMSG;
	}
	return 0;
}

/* ---- attach table ---- */

static int try_claim(struct shmkit__header *h, unsigned i, uint64_t w, int fd,
		     const struct shmkit__ident *self, uint64_t *claimed)
{
	struct shmkit__attach_slot *s = &h->attach[i];
	uint32_t gen = SHMKIT__WORD_GEN(w) + 1;
	uint64_t mine = SHMKIT__WORD(self->pid, SHMKIT__SLOT_CLAIMING, gen);

	/* The CAS decides between racing claimers; the losers move on. */
	if (!atomic_compare_exchange_strong_explicit(&s->word, &w, mine, memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	s->start_time = self->start_time;
	memcpy(s->boot_id, self->boot_id, sizeof(s->boot_id));
	h->attach_info[i].pidns = self->pidns;
	h->attach_info[i].flags = holder_lock(fd, slot_off(i)) |
				  (shmkit__image_token() & SHMKIT__AI_IMAGE_MASK) << SHMKIT__AI_IMAGE_SHIFT;
	*claimed = SHMKIT__WORD(self->pid, SHMKIT__SLOT_USED, gen);
	/* Pairs with the acquire load in readers (slot_alive callers): the
	 * identity above is complete once the slot reads USED. */
	atomic_store_explicit(&s->word, *claimed, memory_order_release);
	return 1;
}

/* Claims a free slot, else one whose process is provably dead. Returns the
 * slot index, or -ENOSPC when every slot holds a live (or undecidable) process. */
static int attach_claim(struct shmkit__header *h, int fd, uint64_t *claimed)
{
	const struct shmkit__ident *self = shmkit__ident_self();

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
			struct shmkit__attach_slot *s = &h->attach[i];
			/* Pairs with the release store in try_claim(). */
			uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
			uint32_t st = SHMKIT__WORD_STATE(w);
			int usable;
			if (pass == 0)
				usable = st == SHMKIT__SLOT_FREE && SHMKIT__WORD_PID(w) == 0;
			else if (st == SHMKIT__SLOT_USED || st == SHMKIT__SLOT_CLAIMING)
				usable = slot_alive(h, i, w, fd) == 0; /* reclaim the dead */
			else
				usable = 1; /* a garbage slot word: nobody can be there */
			if (usable && try_claim(h, i, w, fd, self, claimed))
				return (int)i;
		}
	}
	return -ENOSPC;
}

static void attach_release(struct shmkit__obj *o, uint64_t claimed)
{
	if (o->attach_slot < 0 || o->attach_slot >= (int)SHMKIT__ATTACH_SLOTS)
		return;
	struct shmkit__attach_slot *s = &shmkit__obj_header(o)->attach[o->attach_slot];
	uint64_t free_w = SHMKIT__WORD(0, SHMKIT__SLOT_FREE, SHMKIT__WORD_GEN(claimed));
	/* Only if it is still ours: after fork the child shares o but not the slot. */
	if (SHMKIT__WORD_PID(claimed) == (uint32_t)getpid()) {
		uint32_t flags = shmkit__obj_header(o)->attach_info[o->attach_slot].flags;
		lock_byte(shmkit_seg_fd(o->seg), lock_off(slot_off((unsigned)o->attach_slot), flags),
			  F_UNLCK);
		atomic_compare_exchange_strong_explicit(&s->word, &claimed, free_w,
							memory_order_release, memory_order_relaxed);
	}
	o->attach_slot = -1;
}

/* A process in another pid namespace (liveness a = -EXDEV): if it has an
 * attach slot here and took the kernel lock on it, the lock answers, asked
 * through a description of our own: fd may be the very description that
 * holds it (a handle inherited by a child forked into a new pid namespace),
 * whose own lock F_OFD_GETLK does not report: the live parent read as dead
 * there, and the child returned its cached heap blocks. */
static int alive_by_slot_lock(const struct shmkit__header *h, int fd,
			      const struct shmkit__ident *id, int a)
{
	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
		/* Pairs with the release store in try_claim(): info and identity first. */
		uint64_t w = atomic_load_explicit(&((struct shmkit__header *)h)->attach[i].word,
						  memory_order_acquire);
		if (SHMKIT__WORD_STATE(w) != SHMKIT__SLOT_USED || SHMKIT__WORD_PID(w) != id->pid ||
		    h->attach_info[i].pidns != id->pidns ||
		    h->attach[i].start_time != id->start_time ||
		    !(h->attach_info[i].flags & SHMKIT__AI_LOCKED))
			continue;
		int l = byte_locked_anywhere(fd, slot_off(i), h->attach_info[i].flags);
		return l >= 0 ? l : a;
	}
	return a;
}

int shmkit__obj_earlier_image_gone(const struct shmkit__obj *o, uint32_t image)
{
	const struct shmkit__header *h = shmkit__obj_header(o);
	const struct shmkit__ident *me = shmkit__ident_self();
	uint32_t mine = shmkit__image_token() & SHMKIT__AI_IMAGE_MASK;
	uint32_t theirs = image & SHMKIT__AI_IMAGE_MASK;
	int fd = shmkit_seg_fd(o->seg), gone = 0;
	if (theirs == 0 || theirs == mine)
		return 0;
	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
		/* Pairs with the release store in try_claim(): info and identity first. */
		uint64_t w = atomic_load_explicit(&((struct shmkit__header *)h)->attach[i].word,
						  memory_order_acquire);
		uint32_t flags = h->attach_info[i].flags;
		uint32_t token = flags >> SHMKIT__AI_IMAGE_SHIFT & SHMKIT__AI_IMAGE_MASK;
		uint64_t start = h->attach[i].start_time;
		uint32_t pidns = h->attach_info[i].pidns;
		/* Re-read the word: if it moved, what we copied may be torn (a
		 * slot being released or reclaimed: nobody live of ours). */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&((struct shmkit__header *)h)->attach[i].word,
					 memory_order_relaxed) != w)
			continue;
		if (SHMKIT__WORD_STATE(w) != SHMKIT__SLOT_USED || SHMKIT__WORD_PID(w) != me->pid ||
		    start != me->start_time || pidns != me->pidns || token == mine)
			continue;
		/* a slot of this process that is not this image's: another copy
		 * of the library, or an earlier image. Without a lock, or with
		 * one some description holds, it may be alive. */
		if (!(flags & SHMKIT__AI_LOCKED) || byte_locked_anywhere(fd, slot_off(i), flags) != 0)
			return 0;
		gone |= token == theirs;
	}
	return gone;
}

int shmkit__obj_ident_alive(const struct shmkit__obj *o, const struct shmkit__ident *id)
{
	int a = shmkit__ident_alive(id);
	if (a != -EXDEV)
		return a;
	return alive_by_slot_lock(shmkit__obj_header(o), shmkit_seg_fd(o->seg), id, a);
}

/* ---- roles: one holder at a time ---- */

static uint64_t role_off(unsigned role)
{
	return offsetof(struct shmkit__header, roles) + (uint64_t)role * sizeof(struct shmkit__role);
}

static int role_alive(const struct shmkit__role *r, uint64_t w, int fd, unsigned role)
{
	uint32_t pid = SHMKIT__WORD_PID(w);
	if (pid == 0 || pid > (uint32_t)INT32_MAX)
		return 0;
	if (SHMKIT__WORD_STATE(w) != SHMKIT__SLOT_USED)
		return shmkit__pid_alive((pid_t)pid); /* claim in flight: pid only */
	struct shmkit__ident id;
	memcpy(&id, &r->id, sizeof(id));
	uint32_t flags = r->flags, image = r->image;
	/* Re-read the word: if it moved, what we copied may be torn. */
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&((struct shmkit__role *)r)->word, memory_order_relaxed) != w)
		return 1;
	if (earlier_image(fd, role_off(role), flags, &id, image, UINT32_MAX))
		return 0; /* ours, from before an execve: nothing holds it */
	return holder_alive(fd, role_off(role), flags, &id);
}

int shmkit__role_claim(struct shmkit__obj *o, unsigned role)
{
	if (role >= SHMKIT__ROLES)
		return -EINVAL;
	if (o->role_word[role])
		return 0;
	struct shmkit__role *r = &shmkit__obj_header(o)->roles[role];
	const struct shmkit__ident *self = shmkit__ident_self();
	int fd = shmkit_seg_fd(o->seg);
	for (int tries = 0; tries < 64; tries++) {
		/* Pairs with the release store below: id and flags are complete. */
		uint64_t w = atomic_load_explicit(&r->word, memory_order_acquire);
		uint32_t st = SHMKIT__WORD_STATE(w);
		if ((st == SHMKIT__SLOT_USED || st == SHMKIT__SLOT_CLAIMING) &&
		    role_alive(r, w, fd, role) != 0) {
			/* alive, or cannot tell: never steal */
			struct shmkit__ident holder;
			char who[80];
			memcpy(&holder, &r->id, sizeof(holder));
			if (holder.pid == SHMKIT__WORD_PID(w))
				shmkit__ident_pid_str(&holder, who, sizeof(who));
			else
				snprintf(who, sizeof(who), "pid %u", SHMKIT__WORD_PID(w));
			shmkit__detail("%s is already its %s, and only one is allowed", who,
				       role == SHMKIT__ROLE_PRODUCER ? "producer" : "consumer");
			return -EBUSY;
		}
		uint32_t gen = SHMKIT__WORD_GEN(w) + 1;
		uint64_t mine = SHMKIT__WORD(self->pid, SHMKIT__SLOT_CLAIMING, gen);
		/* One winner among racing claimants. */
		if (!atomic_compare_exchange_strong_explicit(&r->word, &w, mine, memory_order_acq_rel,
							     memory_order_relaxed))
			continue;
		memcpy(&r->id, self, sizeof(r->id));
		r->image = shmkit__image_token();
		r->flags = holder_lock(fd, role_off(role));
		uint64_t held = SHMKIT__WORD(self->pid, SHMKIT__SLOT_USED, gen);
		/* Pairs with the acquire loads of claimants: id before USED. */
		atomic_store_explicit(&r->word, held, memory_order_release);
		o->role_word[role] = held;
		return 0;
	}
	/* said, as the busy holder above is: callers print the detail of -EBUSY */
	return shmkit__fail(-EBUSY, "the %s role changed hands on each of 64 tries",
			    role == SHMKIT__ROLE_PRODUCER ? "producer" : "consumer");
}

static void roles_release(struct shmkit__obj *o)
{
	for (unsigned i = 0; i < SHMKIT__ROLES; i++) {
		uint64_t held = o->role_word[i];
		o->role_word[i] = 0;
		/* Only our own claim: a forked child shares o but not the role. */
		if (!held || SHMKIT__WORD_PID(held) != (uint32_t)getpid())
			continue;
		struct shmkit__role *r = &shmkit__obj_header(o)->roles[i];
		lock_byte(shmkit_seg_fd(o->seg), lock_off(role_off(i), r->flags), F_UNLCK);
		uint64_t free_w = SHMKIT__WORD(0, SHMKIT__SLOT_FREE, SHMKIT__WORD_GEN(held));
		atomic_compare_exchange_strong_explicit(&r->word, &held, free_w,
							memory_order_release, memory_order_relaxed);
	}
}

/* ---- open ---- */

static void obj_fill(struct shmkit__obj *o, struct shmkit_seg *seg)
{
	o->seg = seg;
	o->base = shmkit_seg_addr(seg);
	o->body = (char *)o->base + SHMKIT__HEADER_SIZE;
	o->body_size = shmkit_seg_size(seg) - SHMKIT__HEADER_SIZE;
	o->attach_slot = -1;
	o->attach_word = 0;
}

static void obj_attach(struct shmkit__obj *o, int rdonly)
{
	if (rdonly)
		return;
	int slot = attach_claim(shmkit__obj_header(o), shmkit_seg_fd(o->seg), &o->attach_word);
	o->attach_slot = slot >= 0 ? slot : -1; /* a full table is not an error */
}

/* One look at a mapped header: 0 ready, 1 keep waiting, 2 nothing there
 * yet (zeroes), or an error. */
static int header_step(const struct shmkit__header *h, size_t size, uint32_t kind)
{
	struct header_view v;
	int r = validate_header(h, size, kind, &v);
	if (r < 0)
		return r;
	uint64_t w = v.init;
	if (r == HEADER_UNPUBLISHED) {
		/* The creator writes init before magic: a pid there names it. */
		w = atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire);
		if (SHMKIT__WORD_PID(w) == 0) {
			shmkit__detail("no shmkit header: magic is zero, no creator recorded "
				       "(another program's segment, or a creator that has not "
				       "written its header yet)");
			return 2; /* maybe a creator in its first microseconds, maybe foreign */
		}
	} else if (SHMKIT__WORD_STATE(w) == SHMKIT__STATE_READY) {
		return 0;
	}
	SHMKIT__TEST_POINT("managed.open.liveness");
	int alive = creator_alive_still(h, w);
	if (alive == 0) {
		shmkit__detail("creator pid %u died before the object was ready",
			       SHMKIT__WORD_PID(w));
		return -EOWNERDEAD;
	}
	shmkit__detail("creator pid %u is still initializing it", SHMKIT__WORD_PID(w));
	return 1;
}

static int open_step(struct shmkit_seg *seg, uint32_t kind)
{
	return header_step(shmkit_seg_addr(seg), shmkit_seg_size(seg), kind);
}

/* open_step for an object opened to be used. One with holes (a hole punched
 * in it; or a sparse file that is no object) is judged through a look, so
 * reading its header allocates nothing, and an object is then reserved
 * whole: -ENOSPC on a full tmpfs now, never SIGBUS later. */
static int use_step(struct shmkit_seg *seg, const char *uri, uint32_t kind)
{
	struct shmkit_seg *view;
	int r = shmkit__seg_has_holes(seg);

	if (r <= 0)
		return r < 0 ? r : open_step(seg, kind);
	r = shmkit_seg_open(&view, uri, 0, SHMKIT_LOOK, 0);
	if (r < 0)
		return r;
	r = open_step(view, kind);
	shmkit_seg_close(view);
	return r == 0 ? shmkit__seg_reserve(seg) : r;
}

/* A file:...?private view is copy-on-write: an object made, sent to, taken
 * from or changed there is seen by no other process and never reaches the
 * file, so the call would succeed and lose it. Looking (read-only) is fine. */
static int refuse_private(const char *uri)
{
	struct shmkit__uri *u = malloc(sizeof(*u)); /* PATH_MAX inside: not on the stack */
	int priv;

	if (!u)
		return shmkit__no_memory("a parsed URI");
	priv = shmkit__uri_parse(uri, u) == 0 && u->map_private;
	free(u);
	if (priv)
		return shmkit__fail(-EINVAL, "?private is a copy-on-write view: a shmkit object "
					     "there is seen by no other process and never written "
					     "back (only read-only looks may use it)");
	return 0;
}

/* An open that found the segment smaller than a header and waited: the
 * detail says when it is an empty file nobody holds (a creator killed before
 * it sized it, or a file another program left empty), which a create takes
 * over. */
static int too_small(const char *uri)
{
	char path[PATH_MAX];
	struct stat seen;

	if (shmkit__abandoned_creation(uri, path, sizeof(path), &seen))
		return shmkit__fail(-EBADMSG, "empty, and nobody holds it (a creator killed before "
					      "it sized it?): creating it again takes the name over");
	return shmkit__fail(-EBADMSG, "segment is smaller than a shmkit header");
}

/* Would attaching the System V segment of row fool gc --foreign? The attach
 * makes this process its last user, which gc --foreign reads: harmless while
 * another process has it attached (its detach comes after ours), when its
 * last user is gone (or there never was one), or is this process already.
 * Else, once this process exits, another program's segment that its live
 * last user detached and keeps would look abandoned. */
static int attach_fools_gc(const struct shmkit__sysv_row *row)
{
	return row->nattch == 0 && shmkit__sysv_lpid_alive(row) != 0 && row->lpid != getpid();
}

/* header_step() on the header of SysV segment id read through a process
 * that has it attached, without attaching: zeroes with no creator named are
 * looked at again until the bound (a creator that has not written its header
 * yet). 0 to attach: an object of this kind, one still being built, or no
 * process to read through (one has it attached: its detach follows ours). */
static int sysv_header_step(int id, size_t size, uint32_t kind)
{
	int64_t nobody_deadline = shmkit__deadline(SHMKIT__OPEN_WAIT_NS);
	struct shmkit__header hdr; /* SHMKIT__HEADER_SIZE bytes */
	int r = 0;

	while (shmkit__sysv_peek(id, 0, &hdr, sizeof(hdr), NULL) == 0 &&
	       (r = header_step(&hdr, size, kind)) == 2) {
		if (expired(nobody_deadline))
			return -EBADMSG;
		sleep_briefly();
	}
	return r < 0 ? r : 0;
}

/* Before an open to use attaches the System V segment at uri. Only its
 * header tells a shmkit object from another program's segment: read through
 * a process that has it attached where there is one (no attach: an object
 * of another kind, or no object, is refused as it is); with nobody attached
 * it cannot be read but by attaching, which makes this process its last
 * user (a known limit for gc --foreign: shmkit_raw(3); refusing instead
 * would refuse a queue that a live process opened and closed). 0 to attach;
 * not SysV, or no segment (the open says so): 0. */
static int sysv_before_attach(const char *uri, uint32_t kind)
{
	if (strncmp(uri, "sysv:", 5) != 0)
		return 0;
	struct shmkit_stat *st = malloc(sizeof(*st)); /* a URI and the mappers: over 4 KiB */
	if (!st)
		return shmkit__no_memory("a segment's status");
	struct shmkit__sysv_row row;
	int r = shmkit__stat_uri(uri, st, NULL);
	int id = (int)st->sysv_id;
	uint64_t size = st->size;
	free(st);
	if (r < 0 || shmkit__sysv_row(id, &row) < 0 || size > SIZE_MAX)
		return 0;
	if (size < SHMKIT__HEADER_SIZE) /* a SysV segment never grows */
		return shmkit__fail(-EBADMSG, "segment is smaller than a shmkit header");
	if (row.nattch > 0)
		return sysv_header_step(id, (size_t)size, kind);
	return 0;
}

int shmkit__obj_open_timeout(struct shmkit__obj *o, const char *uri, uint32_t kind, int flags,
			     int64_t timeout_ns)
{
	/* A read-only open of System V is a look: shmat would rewrite the
	 * segment's last-user pid and times, which gc --foreign reads. */
	if ((flags & SHMKIT_RDONLY) && uri && strncmp(uri, "sysv:", 5) == 0)
		return shmkit__obj_look(o, uri, kind);
	int64_t deadline = shmkit__deadline(timeout_ns);
	/* Waits that no live creator accounts for (unsized segment, zero magic
	 * with nobody named) last at most this long, even with SHMKIT_FOREVER:
	 * a creator sizes and names itself within microseconds. */
	int64_t nobody_deadline = shmkit__deadline(SHMKIT__OPEN_WAIT_NS);
	if (deadline < nobody_deadline)
		nobody_deadline = deadline;
	int rdonly = (flags & SHMKIT_RDONLY) != 0;

	memset(o, 0, sizeof(*o));
	o->attach_slot = -1;
	if (!rdonly && uri) {
		int r = refuse_private(uri);
		if (r == 0)
			r = sysv_before_attach(uri, kind);
		if (r < 0)
			return r;
	}
	for (;;) {
		struct shmkit_seg *seg;
		int r = shmkit_seg_open(&seg, uri, 0, flags & (SHMKIT_RDONLY | SHMKIT_LOOK), 0);
		if (r < 0 && r != -EAGAIN)
			return r;
		if (r == -EAGAIN || shmkit_seg_size(seg) < SHMKIT__HEADER_SIZE) {
			/* A racing creator may not have sized it yet (the seg layer
			 * says -EAGAIN for an empty one): reopen to see. */
			if (r == 0)
				shmkit_seg_close(seg);
			if (timeout_ns == 0 || expired(nobody_deadline))
				return too_small(uri);
			sleep_briefly();
			continue;
		}
		for (;;) {
			r = rdonly ? open_step(seg, kind) : use_step(seg, uri, kind);
			if (r == 0) {
				obj_fill(o, seg);
				obj_attach(o, rdonly);
				return 0;
			}
			if (r < 0)
				break;
			if (timeout_ns == 0 || expired(r == 2 ? nobody_deadline : deadline)) {
				r = r == 2 ? -EBADMSG : (timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT);
				break;
			}
			sleep_briefly();
		}
		shmkit_seg_close(seg);
		return r;
	}
}

int shmkit__obj_open(struct shmkit__obj *o, const char *uri, uint32_t kind, int flags)
{
	return shmkit__obj_open_timeout(o, uri, kind, flags, SHMKIT__OPEN_WAIT_NS);
}

/* ---- looking: read-only, no registration, no repair ---- */

/* Bytes [0, len) of SysV segment st into buf, read through a process that has
 * it attached; -ENODATA, with the reason, where none may be read. */
static int peek_sysv(const struct shmkit_stat *st, void *buf, size_t len)
{
	char why[256];

	if (shmkit__sysv_peek(st->sysv_id, 0, buf, len, NULL) == 0)
		return 0;
	return shmkit__fail(-ENODATA, "not read: %s",
			    shmkit__sysv_unread_why(st, why, sizeof(why)));
}

struct sysv_vma {
	int shmid;
	unsigned long start, end;
};

static int find_sysv_vma(const struct shmkit__map_line *l, void *arg)
{
	struct sysv_vma *v = arg;
	if (l->shmid != v->shmid)
		return 0;
	v->start = l->start;
	v->end = l->end;
	return 1;
}

/* The SysV segment of st, opened through /proc/PID/map_files of a process
 * that has it attached: the segment's own shmem file. Opening or mapping it
 * is no attach (nothing the kernel keeps for SysV changes), and holes read
 * as zeros there. -1 where there is none: map_files needs CAP_SYS_ADMIN. */
static int open_sysv_file(const struct shmkit_stat *st)
{
	int listed = st->n_mappers < SHMKIT_STAT_MAPPERS ? st->n_mappers : SHMKIT_STAT_MAPPERS;
	uint64_t my_ipc = shmkit__proc_ns(0, "ipc");

	for (int i = 0; i < listed; i++) {
		pid_t pid = st->mappers[i].pid;
		struct sysv_vma v = {(int)st->sysv_id, 0, 0};
		uint64_t their_ipc = shmkit__proc_ns(pid, "ipc");
		char path[96];
		struct stat sb;
		/* shmids are per IPC namespace: the same number elsewhere is another segment */
		if ((my_ipc && their_ipc && my_ipc != their_ipc) ||
		    shmkit__proc_each_map(pid, find_sysv_vma, &v) != 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", (int)pid, v.start, v.end);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			continue;
		/* the SysV file's inode number is its shmid; huge pages (hugetlbfs,
		 * its block size) are copied: a mapping of them is no plain look */
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (int64_t)sb.st_ino == st->sysv_id &&
		    (uint64_t)sb.st_size == st->size && sb.st_blksize == sysconf(_SC_PAGESIZE))
			return fd;
		close(fd);
	}
	return -1;
}

/* A look at the SysV segment of st mapped read-only from its own file, with
 * its holes covered by zero pages: it allocates none of the pages the
 * segment has not, however large (a copy read through a process faults in
 * every page it reads). 0, or -1 to copy instead. */
static int map_sysv(struct shmkit__obj *o, const struct shmkit_stat *st)
{
	struct shmkit_seg *seg;
	int fd = open_sysv_file(st);
	if (fd < 0)
		return -1;
	int r = shmkit__seg_from_fd(&seg, fd, 0, SHMKIT_LOOK | SHMKIT_RDONLY, 0);
	close(fd); /* the segment holds its own duplicate */
	if (r == 0 && shmkit__cover_holes(shmkit_seg_addr(seg), shmkit_seg_size(seg),
					  shmkit_seg_fd(seg)) < 0) {
		shmkit_seg_close(seg);
		r = -1;
	}
	if (r < 0)
		return -1;
	obj_fill(o, seg);
	return 0;
}

/* SysV: the segment mapped from its own file (map_sysv), else a copy read
 * through a process that has it attached. The header is judged first (read
 * through such a process) and the rest looked at only for an object of the
 * kind asked for: reading a page the segment has not allocated yet
 * allocates it (for the process read through), so a copy of another
 * program's segment, or of an object of another kind, would cost the
 * machine its whole size; the mapping costs it nothing. */
static int look_sysv(struct shmkit__obj *o, const char *uri, uint32_t kind)
{
	struct shmkit_stat *st = calloc(1, sizeof(*st));
	if (!st)
		return shmkit__no_memory("a segment's status");
	int r = shmkit_stat(uri, st);
	size_t size = r == 0 ? (size_t)st->size : 0;
	if (r == 0 && (st->sysv_id < 0 || size < SHMKIT__HEADER_SIZE || size != st->size))
		r = shmkit__fail(-EBADMSG, "segment is %zu bytes, smaller than a shmkit header",
				 size);
	if (r == 0 && !(o->copy = malloc(size)))
		r = shmkit__no_memory("a copy of the segment");
	if (r == 0 && (r = peek_sysv(st, o->copy, SHMKIT__HEADER_SIZE)) == 0) {
		r = header_step(o->copy, size, kind);
		if (r == 1 || r == 2)
			r = r == 1 ? -EAGAIN : -EBADMSG; /* a look never waits */
	}
	if (r == 0 && map_sysv(o, st) == 0) {
		free(st);
		free(o->copy);
		o->copy = NULL;
		return 0;
	}
	if (r == 0)
		r = peek_sysv(st, o->copy, size);
	free(st);
	if (r < 0) {
		free(o->copy);
		o->copy = NULL;
		return r;
	}
	o->base = o->copy;
	o->body = (char *)o->copy + SHMKIT__HEADER_SIZE;
	o->body_size = size - SHMKIT__HEADER_SIZE;
	return 0;
}

int shmkit__obj_look(struct shmkit__obj *o, const char *uri, uint32_t kind)
{
	memset(o, 0, sizeof(*o));
	o->attach_slot = -1;
	if (!uri)
		return -EINVAL;
	int r;
	if (strncmp(uri, "sysv:", 5) == 0) {
		r = look_sysv(o, uri, kind);
	} else {
		struct shmkit_seg *seg;
		r = shmkit_seg_open(&seg, uri, 0, SHMKIT_LOOK, 0);
		if (r == -EAGAIN)
			r = shmkit__fail(-EBADMSG, "segment is empty: no shmkit header");
		if (r == 0)
			obj_fill(o, seg);
	}
	if (r < 0)
		return r;
	r = header_step(o->base, o->body_size + SHMKIT__HEADER_SIZE, kind);
	if (r == 1 || r == 2)
		r = r == 1 ? -EAGAIN : -EBADMSG; /* a look never waits */
	if (r < 0)
		shmkit__obj_close(o);
	return r;
}

/* ---- create ---- */

/* Records the calling process as the creator of generation gen. */
static void write_creator(struct shmkit__header *h, uint32_t gen)
{
	h->creator = *shmkit__ident_self();
	/* Pairs with the acquire load in creator_alive(): creator is complete
	 * for claimant `gen` once creator_gen reads gen. */
	atomic_store_explicit(&h->creator_gen, gen, memory_order_release);
}

static void write_fixed_fields(struct shmkit__header *h, uint32_t kind, size_t total,
			       uint32_t hdr_flags)
{
	h->fingerprint = SHMKIT__FINGERPRINT;
	h->layout_version = SHMKIT__LAYOUT_VERSION;
	h->kind = kind;
	h->header_size = SHMKIT__HEADER_SIZE;
	h->total_size = total;
	h->body_size = total - SHMKIT__HEADER_SIZE;
	h->flags = hdr_flags;
	h->created_realtime = (uint64_t)time(NULL);
	h->attach_slots = SHMKIT__ATTACH_SLOTS;
	h->attach_offset = SHMKIT__ATTACH_OFFSET;
}

static void publish_magic(struct shmkit__header *h)
{
	/* [A] Pairs with the acquire load in load_magic(): openers that see the
	 * magic see every fixed field and the INITIALIZING init word. */
	__atomic_store_n(&h->magic, SHMKIT__MAGIC, __ATOMIC_RELEASE);
}

/* Runs the body's init and publishes READY. On failure the caller removes. */
static int finish_init(struct shmkit__header *h, uint32_t gen, size_t body_size,
		       shmkit__obj_init_fn init, void *arg)
{
	SHMKIT__TEST_POINT("managed.init");
	if (init) {
		int r = init((char *)h + SHMKIT__HEADER_SIZE, body_size, arg);
		if (r < 0)
			return r;
	}
	/* [B] Pairs with the acquire load of init in validate_header(): an
	 * opener that reads READY sees the whole body the init callback wrote. */
	atomic_store_explicit(&h->init, SHMKIT__WORD(getpid(), SHMKIT__STATE_READY, gen),
			      memory_order_release);
	return 0;
}

/* Removes a segment we created whose init failed. Named backends only.
 * shmkit_remove clears the thread's error detail: keep the init's reason
 * (why the object did not fit, say) for the caller. */
static void remove_failed(struct shmkit_seg *seg)
{
	enum shmkit_backend b = shmkit_seg_backend(seg);
	const char *uri = shmkit_seg_uri(seg);
	char why[512];

	strncpy(why, shmkit_last_error_detail(), sizeof(why) - 1);
	why[sizeof(why) - 1] = 0;
	if ((b == SHMKIT_POSIX || b == SHMKIT_SYSV || b == SHMKIT_FILE) && uri)
		shmkit_remove(uri);
	shmkit__detail("%s", why);
}

static int create_fresh(struct shmkit__obj *o, struct shmkit_seg *seg, uint32_t kind,
			uint32_t hdr_flags, shmkit__obj_init_fn init, void *arg)
{
	struct shmkit__header *h = shmkit_seg_addr(seg);
	size_t total = shmkit_seg_size(seg);
	const uint32_t gen = 1;

	write_creator(h, gen);
	write_fixed_fields(h, kind, total, hdr_flags);
	/* Pairs with the acquire load in validate_unpublished(): whoever sees
	 * the creator named sees the fixed fields (publish_magic()'s release
	 * orders it before the magic). */
	atomic_store_explicit(&h->init, SHMKIT__WORD(getpid(), SHMKIT__STATE_INITIALIZING, gen),
			      memory_order_release);
	publish_magic(h);
	int r = finish_init(h, gen, total - SHMKIT__HEADER_SIZE, init, arg);
	if (r < 0) {
		remove_failed(seg);
		shmkit_seg_close(seg);
		return r;
	}
	obj_fill(o, seg);
	obj_attach(o, 0);
	return 0;
}

/* Looks at an existing segment for create(): 0 and *w when it is a
 * half-built object of this kind and size whose creator is provably dead;
 * 1 to look again shortly; -EEXIST when it is not ours to take over. */
static int takeover_check(const struct shmkit__header *h, size_t seg_size, uint32_t kind,
			  size_t total, uint64_t *w)
{
	struct header_view v;
	int r = validate_header(h, seg_size, kind, &v);
	if (r < 0 || seg_size != total)
		return -EEXIST;
	if (r == HEADER_UNPUBLISHED) {
		v.init =
		    atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire);
		if (SHMKIT__WORD_PID(v.init) == 0 ||
		    SHMKIT__WORD_STATE(v.init) != SHMKIT__STATE_INITIALIZING)
			return 1; /* a creator in its first microseconds (or foreign) */
	}
	if (SHMKIT__WORD_STATE(v.init) != SHMKIT__STATE_INITIALIZING)
		return -EEXIST; /* READY: a complete object */
	int alive = creator_alive(h, v.init);
	if (alive != 0)
		return alive == 1 ? 1 : -EEXIST; /* cannot prove it dead: leave it */
	*w = v.init;
	return 0;
}

/* May create() attach the System V segment that holds uri, to see whether it
 * is a half-built object to take over? 0 yes; -EEXIST when it is not one
 * (another size) or when looking would fool gc --foreign: an attach makes
 * create its last user, so while nobody has it attached and its last user
 * may be alive (another program's, which detached and keeps its id), gc
 * --foreign would take it for abandoned once create exits. A half-built
 * object's last user is its dead creator, a dead opener, or this process
 * (an open that found its creator dead, then this create). -EAGAIN: it went
 * meanwhile. Other backends: 0 (a look maps a file: nothing gc reads). */
static int sysv_takeover_look(const char *uri, size_t total)
{
	if (strncmp(uri, "sysv:", 5) != 0)
		return 0;
	struct shmkit_stat *st = malloc(sizeof(*st)); /* a URI and the mappers: over 4 KiB */
	if (!st)
		return -ENOMEM;
	int r = shmkit__stat_uri(uri, st, NULL);
	if (r == 0 && st->size != total) {
		shmkit__detail("its %llu bytes are not this object's %zu: no half-built one to "
			       "take over",
			       (unsigned long long)st->size, total);
		r = -EEXIST;
	} else if (r == 0 && st->attach_count == 0) {
		struct shmkit__sysv_row row;
		if (shmkit__sysv_row((int)st->sysv_id, &row) < 0) {
			r = -EAGAIN; /* removed meanwhile */
		} else if (attach_fools_gc(&row)) {
			shmkit__detail(
			    "not attached to look: nobody has it attached and its last "
			    "user (pid %d) may be alive; an attach would make this create "
			    "its last user, and gc --foreign would take it for abandoned",
			    row.lpid);
			r = -EEXIST;
		}
	}
	free(st);
	return r == -ENOENT ? -EAGAIN : r;
}

/* create() found the URI taken: take over a half-built object whose creator
 * died, else -EEXIST. Bounded by SHMKIT__OPEN_WAIT_NS. */
static int create_takeover(struct shmkit__obj *o, const char *uri, uint32_t kind, size_t total,
			   uint32_t hdr_flags, shmkit__obj_init_fn init, void *arg)
{
	int64_t deadline = shmkit__deadline(SHMKIT__OPEN_WAIT_NS);
	struct shmkit_seg *seg;
	int r = sysv_takeover_look(uri, total);
	if (r < 0)
		return r;
	/* -EAGAIN: exists but empty, a racing creator has not sized it yet. */
	while ((r = shmkit_seg_open(&seg, uri, 0, 0, 0)) == -EAGAIN && !expired(deadline))
		sleep_briefly();
	if (r == -EAGAIN) /* still empty: its creator may have died there */
		return shmkit__remove_abandoned(uri, -1) ? -EAGAIN : -EEXIST;
	if (r < 0)
		return r == -ENOENT ? -EAGAIN : r;
	struct shmkit__header *h = shmkit_seg_addr(seg);
	size_t seg_size = shmkit_seg_size(seg);
	uint64_t w = 0;

	while ((r = takeover_check(h, seg_size, kind, total, &w)) == 1) {
		if (expired(deadline)) {
			r = -EEXIST;
			break;
		}
		sleep_briefly();
	}
	/* what is there, for exists_fail to say: another kind, no header and
	 * no creator named (a creator killed before it wrote one, or another
	 * program's segment), a creator still at work */
	if (r == -EEXIST)
		(void)header_step(h, seg_size, kind);
	if (r == 0) {
		uint32_t gen = (SHMKIT__WORD_GEN(w) + 1) & 0xffffffu;
		uint64_t mine = SHMKIT__WORD(getpid(), SHMKIT__STATE_INITIALIZING, gen);
		/* One winner among racing re-initializers: the CAS on init. */
		if (!atomic_compare_exchange_strong_explicit(
			&h->init, &w, mine, memory_order_acq_rel, memory_order_relaxed)) {
			shmkit_seg_close(seg);
			return -EAGAIN; /* someone else took it: caller looks again */
		}
		write_creator(h, gen);
		write_fixed_fields(h, kind, total, hdr_flags);
		publish_magic(h);
		/* The body starts as a fresh segment's: all zero. */
		memset((char *)h + SHMKIT__HEADER_SIZE, 0, total - SHMKIT__HEADER_SIZE);
		r = finish_init(h, gen, total - SHMKIT__HEADER_SIZE, init, arg);
		if (r == 0) {
			obj_fill(o, seg);
			obj_attach(o, 0);
			return 0;
		}
		remove_failed(seg);
	}
	shmkit_seg_close(seg);
	return r;
}

/* create() found uri taken by something it may not take over: says so, with
 * what the look at it found where it found something wrong (another kind,
 * no header), or why it did not look (a SysV segment); a complete object
 * found says nothing more. Opening it stays the first advice: a SysV
 * segment not looked at, or one of another size, may be a complete object
 * of this kind that a live program uses, which removing would destroy. */
static int exists_fail(const char *uri)
{
	char why[256];
	snprintf(why, sizeof(why), "%s", shmkit_last_error_detail());
	return shmkit__fail(-EEXIST, "%s already exists%s%s%s: open it, or remove it to create it "
				     "anew",
			    uri, why[0] ? " (" : "", why, why[0] ? ")" : "");
}

/* SHMKIT_PERSIST in the mode, or SHMKIT_PERSIST=1 (any value but "" and
 * "0") in the environment: the object outlives its processes, like a file. */
static int persist_wanted(unsigned mode)
{
	const char *env = getenv("SHMKIT_PERSIST");
	return (mode & SHMKIT_PERSIST) || (env && *env && strcmp(env, "0") != 0);
}

int shmkit__obj_create(struct shmkit__obj *o, const char *uri, uint32_t kind, size_t body_size,
		       unsigned mode, shmkit__obj_init_fn init, void *arg)
{
	memset(o, 0, sizeof(*o));
	o->attach_slot = -1;
	if (!uri || kind == 0 || body_size > SIZE_MAX - SHMKIT__HEADER_SIZE)
		return -EINVAL;
	if (mode & ~(0777u | SHMKIT_PERSIST))
	{
		shmkit__detail("mode 0%o: only permission bits (0777) and SHMKIT_PERSIST",
			       mode & ~SHMKIT_PERSIST);
		return -EINVAL;
	}
	int refused = refuse_private(uri);
	if (refused < 0)
		return refused;
	uint32_t hdr_flags = persist_wanted(mode) ? SHMKIT__HDR_PERSIST : 0;
	mode &= 0777u;
	size_t total = SHMKIT__HEADER_SIZE + body_size;
	/* Our identity (three reads of /proc the first time) is looked up now,
	 * not between the sizing of a new segment and the init word that names
	 * its creator: a creator killed in between leaves a sized segment that
	 * is all zero, which nobody may take over (a plain segment looks the
	 * same), and that was the widest window of a create. */
	(void)shmkit__ident_self();

	/* Bounded: each round either creates, takes over, or sees a change. */
	for (int round = 0; round < 8; round++) {
		struct shmkit_seg *seg;
		int r = shmkit_seg_open(&seg, uri, total, SHMKIT_CREATE | SHMKIT_EXCL,
					mode ? mode : 0600);
		if (r == 0)
			return create_fresh(o, seg, kind, hdr_flags, init, arg);
		if (r != -EEXIST)
			return r;
		r = create_takeover(o, uri, kind, total, hdr_flags, init, arg);
		if (r != -EAGAIN)
			return r == -EEXIST ? exists_fail(uri) : r;
	}
	return exists_fail(uri);
}

int shmkit__obj_close(struct shmkit__obj *o)
{
	if (o && o->copy) { /* a look at a SysV copy: nothing shared to give back */
		free(o->copy);
		memset(o, 0, sizeof(*o));
		return 0;
	}
	if (!o || !o->seg)
		return -EINVAL;
	roles_release(o);
	attach_release(o, o->attach_word);
	int r = shmkit_seg_close(o->seg);
	o->seg = NULL;
	o->base = o->body = NULL;
	return r;
}

/* ---- read-only inspection (stat, gc) ---- */

const char *shmkit_kind_name(uint32_t kind)
{
	switch (kind) {
	case SHMKIT_KIND_NONE:
		return "none";
	case SHMKIT_KIND_RAW:
		return "raw";
	case SHMKIT_KIND_QUEUE:
		return "queue";
	case SHMKIT_KIND_TOPIC:
		return "topic";
	case SHMKIT_KIND_HEAP:
		return "heap";
	case SHMKIT_KIND_MAP:
		return "map";
	default:
		return "unknown";
	}
}

void shmkit__header_peek(const void *base, size_t size, struct shmkit_stat *st)
{
	const struct shmkit__header *h = base;
	struct header_view v;

	st->managed = 0;
	st->kind = 0;
	st->layout_version = 0;
	st->creator_alive = -ENOENT; /* no creator recorded */
	st->managed_creator_pid = 0;
	st->header_status = 0;
	st->persistent = 0;
	st->header_detail[0] = '\0';
	if (!base || size < SHMKIT__HEADER_SIZE)
		return;
	int r = validate_header(h, size, 0, &v);
	if (r == HEADER_UNPUBLISHED) {
		uint64_t w =
		    atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire);
		if (SHMKIT__WORD_PID(w) == 0)
			return; /* zeroes: not (yet) a shmkit object */
		st->managed = 1;
		st->managed_creator_pid = (pid_t)SHMKIT__WORD_PID(w);
		int a = creator_alive(h, w);
		st->creator_alive = a;
		st->header_status = a == 0 && init_still(h, w) ? -EOWNERDEAD : -EINPROGRESS;
		return;
	}
	if (v.magic != SHMKIT__MAGIC)
		return; /* foreign: managed stays 0 */
	st->managed = 1;
	st->layout_version = v.version ? v.version : h->layout_version;
	st->kind = v.kind ? v.kind : h->kind;
	st->header_status = r;
	if (r < 0) { /* validate_header said why */
		snprintf(st->header_detail, sizeof(st->header_detail), "%s",
			 shmkit_last_error_detail());
		return;
	}
	st->managed_creator_pid = (pid_t)SHMKIT__WORD_PID(v.init);
	st->persistent = (h->flags & SHMKIT__HDR_PERSIST) != 0;
	int a = creator_alive(h, v.init);
	st->creator_alive = a;
	if (SHMKIT__WORD_STATE(v.init) == SHMKIT__STATE_INITIALIZING)
		st->header_status = a == 0 && init_still(h, v.init) ? -EOWNERDEAD : -EINPROGRESS;
}

/* Reads the header of SysV segment st->sysv_id through a process that has
 * it attached: the mappers the segment layer found first (one maps file
 * each), all of /proc only when some mappers were not listed. */
static int sysv_header(const struct shmkit_stat *st, void *hdr, size_t len)
{
	int listed = st->n_mappers < SHMKIT_STAT_MAPPERS ? st->n_mappers : SHMKIT_STAT_MAPPERS;
	for (int i = 0; i < listed; i++)
		if (shmkit__sysv_peek_pid(st->mappers[i].pid, st->sysv_id, 0, hdr, len) == 0)
			return 0;
	if (st->n_mappers > listed)
		return shmkit__sysv_peek(st->sysv_id, 0, hdr, len, NULL);
	return -ENOENT;
}

/* SysV is never attached to be looked at: shmat and shmdt rewrite the
 * segment's last-user pid and times, which gc --foreign's proof reads. The
 * header is read through a process that has it attached, or not at all
 * (header_status -ENODATA). */
static void stat_managed_sysv(struct shmkit_stat *st)
{
	unsigned char hdr[SHMKIT__HEADER_SIZE];
	if (st->sysv_id < 0 || st->size < sizeof(hdr) || sysv_header(st, hdr, sizeof(hdr)) < 0) {
		st->header_status = -ENODATA;
		return;
	}
	shmkit__header_peek(hdr, (size_t)st->size, st);
}

/* A memfd, a shared anonymous region, or a file whose name was removed
 * while processes still map it (found in /proc only): no open by name
 * reaches it (the name may even be another file's by now), so the header
 * is read, as for SysV, through a process that maps it, by device and
 * inode; or not at all (header_status -ENODATA: "not read", never "no
 * header"). */
static void stat_managed_unnamed(struct shmkit_stat *st, const struct shmkit__seen_at *at)
{
	_Alignas(8) unsigned char hdr[SHMKIT__HEADER_SIZE];
	int listed = st->n_mappers < SHMKIT_STAT_MAPPERS ? st->n_mappers : SHMKIT_STAT_MAPPERS;

	/* where the listing saw it mapped: no maps of that process parsed
	 * again (2000 memfds of one process took ls 1.3 s so, 0.05 s before
	 * their headers were read) */
	SHMKIT__TEST_POINT("look.unnamed.read");
	if (at && at->len >= sizeof(hdr) &&
	    shmkit__proc_peek_at(at->pid, at->addr, hdr, sizeof(hdr)) == 0) {
		shmkit__header_peek(hdr, (size_t)st->size, st);
		/* unless the process mapped something else there since: then
		 * it was another object's header (a queue listed as the heap
		 * mapped at its place in between) */
		int same = shmkit__proc_maps_file(at->pid, at->addr, at->addr + at->len,
						  st->dev, st->inode);
		if (same == 1 || (same < 0 && st->header_status == 0))
			return;
		shmkit__header_peek(NULL, 0, st);
	}

	for (int i = 0; st->inode && i < listed; i++) {
		if (shmkit__file_peek_pid(st->mappers[i].pid, st->dev, st->inode, 0, hdr,
					  sizeof(hdr)) == 0) {
			shmkit__header_peek(hdr, (size_t)st->size, st);
			return;
		}
	}
	st->header_status = -ENODATA;
}

void shmkit__stat_managed(const struct shmkit_seg *seg, struct shmkit_stat *st,
			  const struct shmkit__seen_at *at)
{
	if (seg) {
		shmkit__header_peek(shmkit_seg_addr(seg), shmkit_seg_size(seg), st);
		return;
	}
	shmkit__header_peek(NULL, 0, st);
	/* anything smaller than a header cannot be managed */
	if (st->size < SHMKIT__HEADER_SIZE)
		return;
	if (st->backend == SHMKIT_SYSV) {
		stat_managed_sysv(st);
		return;
	}
	if (st->deleted || st->backend == SHMKIT_MEMFD || st->backend == SHMKIT_ANON) {
		stat_managed_unnamed(st, at);
		return;
	}
	if (st->backend != SHMKIT_POSIX && st->backend != SHMKIT_FILE)
		return;
	/* Only the header page is opened: a look at a large segment must not
	 * need its whole size in address space (ulimit -v), nor fail a listing
	 * over it. It is copied with pread, not read through the mapping: a
	 * process that truncates the file meanwhile (any program resizing its
	 * own segment) makes a short read, where the mapping would kill the
	 * looker (ls, stat, top) with SIGBUS. The header is checked against the
	 * size the segment layer found, as stat_managed_sysv does with its copy. */
	struct shmkit_seg *s;
	int r = shmkit_seg_open(&s, st->uri, SHMKIT__HEADER_SIZE, SHMKIT_LOOK, 0);
	if (r < 0) {
		st->header_status = r; /* unreadable: reported, never fatal */
		return;
	}
	_Alignas(8) unsigned char hdr[SHMKIT__HEADER_SIZE];
	if (pread(shmkit_seg_fd(s), hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr))
		shmkit__header_peek(hdr, (size_t)st->size, st);
	else /* shrunk since it was sized: as an empty segment */
		shmkit__header_peek(NULL, 0, st);
	shmkit_seg_close(s);
}

/* The public stat and list: the segment layer's fields (src/stat.c,
 * src/list.c), then the header's, filled from this layer: the segment
 * layer knows nothing of managed objects. */
int shmkit_stat(const char *uri, struct shmkit_stat *st)
{
	return shmkit__stat_uri(uri, st, shmkit__stat_managed);
}

int shmkit_seg_stat(const struct shmkit_seg *seg, struct shmkit_stat *st)
{
	return shmkit__stat_seg(seg, st, shmkit__stat_managed);
}

int shmkit_list(int (*fn)(const struct shmkit_stat *st, void *arg), void *arg)
{
	return shmkit__list(fn, arg, shmkit__stat_managed);
}

int shmkit__header_attachers(const void *base, size_t size, int fd, struct shmkit_attacher *out,
			     int cap)
{
	const struct shmkit__header *h = base;
	struct header_view v;
	int r = validate_header(h, size, 0, &v);
	if (r == HEADER_UNPUBLISHED)
		return -EBADMSG;
	if (r < 0)
		return r;
	int n = 0;
	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
		const struct shmkit__attach_slot *s = &h->attach[i];
		/* Pairs with the release store in try_claim(). */
		uint64_t w = atomic_load_explicit(&((struct shmkit__attach_slot *)s)->word,
						  memory_order_acquire);
		uint32_t st = SHMKIT__WORD_STATE(w);
		if (st != SHMKIT__SLOT_USED && st != SHMKIT__SLOT_CLAIMING)
			continue;
		if (n < cap) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].pid = (pid_t)SHMKIT__WORD_PID(w);
			out[n].alive = slot_alive(h, i, w, fd);
			out[n].claiming = st == SHMKIT__SLOT_CLAIMING;
		}
		n++;
	}
	return n;
}

/* An attacher judged alive (by its lock) whose pid /proc shows as another
 * process, or none: its number is another pid namespace's (the slot keeps
 * no namespace): 1. But a process of that number that exists here
 * (kill(pid, 0) answers) while its /proc entry is hidden or unreadable
 * (/proc mounted hidepid=1 or 2, another user's process) is one /proc
 * hides from us: 2. 0: /proc shows that very process. For messages only. */
static int pid_elsewhere(const struct shmkit__header *h, pid_t pid)
{
	char state;
	uint64_t start;

	for (unsigned i = 0; i < SHMKIT__ATTACH_SLOTS; i++) {
		uint64_t w = atomic_load_explicit(&((struct shmkit__header *)h)->attach[i].word,
						  memory_order_acquire);
		if (SHMKIT__WORD_STATE(w) != SHMKIT__SLOT_USED || SHMKIT__WORD_PID(w) != (uint32_t)pid)
			continue;
		int r = shmkit__proc_stat(pid, &state, &start);
		if (r == 0)
			return start != h->attach[i].start_time;
		if (r != -ENOENT || kill(pid, 0) == 0 || errno == EPERM)
			return 2;
		return 1;
	}
	return 0;
}

int shmkit__header_liveness(const void *base, size_t size, int fd, struct shmkit__liveness *lv)
{
	const struct shmkit__header *h = base;
	struct shmkit_attacher a[SHMKIT__ATTACH_SLOTS];
	struct header_view v;

	memset(lv, 0, sizeof(*lv));
	int r = validate_header(h, size, 0, &v);
	if (r == HEADER_UNPUBLISHED) {
		v.init =
		    atomic_load_explicit(&((struct shmkit__header *)h)->init, memory_order_acquire);
		if (SHMKIT__WORD_PID(v.init) == 0)
			return -EBADMSG;
	} else if (r < 0) {
		return r;
	}
	lv->creator_pid = (pid_t)SHMKIT__WORD_PID(v.init);
	lv->creator_alive = creator_alive(h, v.init);
	struct shmkit__ident cid;
	memcpy(&cid, (const void *)&h->creator, sizeof(cid));
	if (cid.pid == (uint32_t)lv->creator_pid)
		shmkit__ident_pid_str(&cid, lv->creator_str, sizeof(lv->creator_str));
	else
		snprintf(lv->creator_str, sizeof(lv->creator_str), "pid %d", (int)lv->creator_pid);
	if (lv->creator_alive == -EXDEV) {
		struct shmkit__ident id;
		memcpy(&id, (const void *)&h->creator, sizeof(id));
		lv->creator_alive = alive_by_slot_lock(h, fd, &id, -EXDEV);
	}
	if (r == HEADER_UNPUBLISHED)
		return 0; /* no attach table in use before the magic */
	int n = shmkit__header_attachers(base, size, fd, a, (int)SHMKIT__ARRAY_LEN(a));
	if (n < 0)
		return n;
	for (int i = 0; i < n && i < (int)SHMKIT__ARRAY_LEN(a); i++) {
		if (a[i].alive == 0) {
			lv->n_dead++;
			continue;
		}
		if (a[i].alive == 1)
			lv->n_alive++;
		else
			lv->n_unknown++;
		if (!lv->first_alive) {
			lv->first_alive = a[i].pid;
			lv->first_alive_elsewhere = a[i].alive == 1 ? pid_elsewhere(h, a[i].pid) : 0;
		}
	}
	return 0;
}

/* As stat_managed_sysv: read through a process that has it attached, never
 * by attaching (that would rewrite its last-user pid and times). */
static int attachers_sysv(const char *uri, struct shmkit_attacher *out, int cap)
{
	unsigned char hdr[SHMKIT__HEADER_SIZE];
	struct shmkit_stat *st = calloc(1, sizeof(*st));
	if (!st)
		return shmkit__no_memory("a segment's status");
	int r = shmkit_stat(uri, st);
	if (r == 0 && (st->sysv_id < 0 || shmkit__sysv_peek(st->sysv_id, 0, hdr, sizeof(hdr), NULL) < 0))
		r = -ENODATA;
	if (r == 0)
		r = shmkit__header_attachers(hdr, (size_t)st->size, -1, out, cap);
	free(st);
	return r;
}

int shmkit_managed_attachers(const char *uri, struct shmkit_attacher *out, int cap)
{
	shmkit__detail_clear();
	struct shmkit_seg *seg;
	if (!uri || cap < 0 || (cap > 0 && !out))
		return -EINVAL;
	if (strncmp(uri, "sysv:", 5) == 0)
		return attachers_sysv(uri, out, cap);
	int r = shmkit_seg_open(&seg, uri, 0, SHMKIT_LOOK, 0);
	if (r < 0)
		return r;
	r = shmkit__header_attachers(shmkit_seg_addr(seg), shmkit_seg_size(seg), shmkit_seg_fd(seg),
				     out, cap);
	shmkit_seg_close(seg);
	return r;
}
