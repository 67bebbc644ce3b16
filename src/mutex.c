/* SPDX-License-Identifier: MIT */
/* Robust, process-shared mutex on a futex word of our own, linked into the
 * kernel's robust-futex list of the locking thread.
 *
 * Why not a pthread_mutex_t: its bytes are glibc's private layout (40 bytes on
 * x86-64, 24 on i386, __kind at another offset), so a segment written by one
 * ABI could not be locked by the other, and reading its fields ties the
 * frozen shared layout to glibc internals. The word here is the kernel's
 * robust-futex ABI (futex(2), "robust futexes"), the same on every arch:
 *
 *   0                    free
 *   tid                  held by thread tid
 *   | FUTEX_WAITERS      someone sleeps (or may sleep) on the word: unlock wakes
 *   | FUTEX_OWNER_DIED   the kernel found the holder dead (tid cleared)
 *
 * Holder death: the kernel keeps one robust list per thread (set_robust_list
 * takes one head per thread, and glibc registers its own at thread start). We
 * ask the kernel for that head (get_robust_list(0): no glibc internals read)
 * and link each mutex we hold into the same list, the way glibc links its
 * robust mutexes, so a holder killed at any instant has its word marked
 * FUTEX_OWNER_DIED and one waiter woken by the kernel. Sharing a list with
 * glibc means sharing its entry format: the entry sits at the head's
 * futex_offset from the word (checked on every thread), and on LP64 glibc keeps
 * a prev pointer just before next (glibc's __PTHREAD_MUTEX_HAVE_PREV, in every
 * glibc since robust mutexes came in 2.4). A thread whose head is missing or
 * has another futex_offset (another libc) locks without the list; the slice
 * check below still recovers a dead holder's lock, by tid and, where the
 * tid was reused, by the holder's stamp. See
 * docs/LAYOUT.md and shmkit_mutex(3); tests/test_sync_mutex_abi.c checks the
 * assumptions on the running system. */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "futex.h"
#include "internal.h"
#include "proc.h"
#include "sync_internal.h"

static inline struct shmkit__mutex_shared *mutex_shared(struct shmkit_mutex *m)
{
	return (struct shmkit__mutex_shared *)(void *)m;
}

/* ---- this thread's robust list ---- */

/* The list entry of a held mutex, in this process's ABI: `next` at
 * SHMKIT__MUTEX_NEXT_OFF from the word (glibc's futex_offset, negated), and
 * on LP64 a `prev` right before it. Both hold addresses in the holder's
 * process only; no other process follows them (another may rewrite them:
 * see "links that hold up" below). */
static inline void **entry_next(struct shmkit__mutex_shared *s)
{
	return (void **)(void *)((char *)&s->word + SHMKIT__MUTEX_NEXT_OFF);
}

/* What a thread keeps about its locks, in one thread-local block (one
 * address computation per call in a shared library). */
#define HELD_MAX 32
struct thread_locks {
	uint32_t tid;	/* gettid(), cached; 0 until asked */
	uint32_t start; /* low 32 bits of this thread's start time; 0 unknown */
	int start_looked;
	int looked; /* head below is known */
	struct robust_list_head *head;
	unsigned n_held;
	void **held[HELD_MAX];	   /* the `next` field of each entry we linked (below) */
	void *held_next[HELD_MAX]; /* the value we last wrote into it */
};
static _Thread_local struct thread_locks me;

/* &me, computed once per call: the compiler would otherwise ask for the
 * thread-local block again (__tls_get_addr in a shared library) at fields
 * read after a call. */
static inline struct thread_locks *this_thread(void)
{
	struct thread_locks *t = &me;
	__asm__("" : "+r"(t));
	return t;
}

/* NULL when this thread cannot use the kernel list (see the top). Read once
 * per thread: the head lives as long as the thread, and fork keeps it. */
static struct robust_list_head *robust_head(struct thread_locks *t)
{
	if (SHMKIT__LIKELY(t->looked))
		return t->head;
	t->looked = 1;
	struct robust_list_head *h = NULL;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, 0, &h, &len) == 0 && h && len == sizeof(*h) &&
	    h->futex_offset == -(long)SHMKIT__MUTEX_NEXT_OFF)
		t->head = h;
	return t->head;
}

/* ---- the calling thread ---- */

/* The calling thread's id, cached: gettid() is a system call, and the lock
 * word needs it on every lock. A forked child is another thread with the same
 * memory, so fork clears the cache (pthread_atfork). */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_tid(void)
{
	me.tid = 0;
	me.start_looked = 0; /* the child is a thread of its own: its start too */
	me.start = 0;
	me.n_held = 0; /* the child's C library starts its robust list empty */
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_tid);
}

static inline uint32_t my_tid(struct thread_locks *t)
{
	if (SHMKIT__UNLIKELY(t->tid == 0)) {
		pthread_once(&atfork_once, register_atfork);
		t->tid = (uint32_t)gettid();
	}
	return t->tid;
}

/* ---- the holder's stamp ----
 *
 * A holder on the kernel list has its death marked by the kernel. One off the
 * list (more than HELD_MAX held, or no compatible list) is found dead only by
 * the waiters' slice check, and a bare tid cannot tell the holder from a
 * later thread that got the same tid (a restarted worker that maps the
 * segment). So such a holder stamps the word: `stamp`, the 32 bits after the
 * word, holds the low 32 bits of its thread's start time (clock ticks since
 * boot, /proc/thread-self/stat field 22), and the word and the stamp are
 * read and rewritten as one 64-bit value by every ownership change of this
 * build: a take (CAS, its own stamp: its start off the list, 0 on it), an
 * unlock and a give-back (exchange/store to 0), a mark (CAS to owner-died
 * with stamp 0). Only the waiters bit is set on the word alone (and by the
 * kernel's death marking, which touches list holders only, whose stamp is 0).
 *
 * Invariant: while a thread of this build holds the word, the pair reads
 * {its tid (| bits), its stamp}: its take wrote both at once, and until it
 * unlocks nothing else changes the tid or the stamp (a mark would, but a mark
 * is a CAS from a value read earlier, see below). A stamp is never written
 * without the tid of the thread whose start it is.
 *
 * Judgment (holder_gone, stamp_says_gone): word tid T, stamp st != 0. If
 * thread T exists now with a start whose low bits differ from st, then the
 * thread that took the word (tid T, start st) is not thread T: T is a later
 * thread with a reused tid, and the taker, which cannot outlive its tid, is
 * dead. A live holder is never judged so: its pair shows its own start, which
 * /proc shows for T as long as it lives, provided /proc is our pid
 * namespace's (else T is another process's tid there) and T runs in our time
 * namespace (a time namespace shows start times moved by its offset; a holder
 * that setns'd into another one after caching its start is misjudged, as
 * ident.c says for every identity). Equal low bits (two threads with one tid
 * started within the same tick, or 2^32 ticks apart) say "alive": only
 * fail-safe errors. No stamp, T missing or unreadable: the maps check, as
 * before. Not fail-safe, and older than the stamp: a checker that found T
 * missing (the maps check) and stalls before its CAS, while T is reused by
 * a thread started in the same tick as the dead taker that takes the word
 * off the list, finds the pair equal and marks a live holder. Before the
 * stamp, any reuse of T in that window did; now only a same-tick one.
 *
 * Acting on it: the mark is a CAS of the whole pair from the value judged. If
 * a live thread took the word since (with the same tid, and even the same
 * word bits: the ABA a 32-bit CAS would let through), the pair holds that
 * thread's stamp: the CAS fails unless that stamp equals st, which would need
 * the two start times equal in their low 32 bits (the fail-safe collision
 * above, now between the dead taker and a thread created after our look, in
 * the same tick). A live thread on the list stamps 0, so a st != 0 pair is
 * never its.
 *
 * The taker's own tid: a thread whose word names its own tid, with a stamp
 * that is neither 0 nor its own start, did not take it (its takes write its
 * own stamp): an earlier thread with its tid did and died. It takes the word
 * over (-EOWNERDEAD) instead of -EDEADLK, by a CAS of the pair to its own
 * stamp, which fails any checker's pending mark of the old value.
 *
 * Older builds wrote the word alone and never the stamp: a segment of theirs
 * reads stamp 0, "none". A process of an older build sharing a mutex takes
 * the word without touching the stamp; its take then pairs its tid with a
 * stamp another thread wrote (left by an older build's mark of a stamped
 * holder). stamp_tid, the tid a stamping taker stores right after its
 * CAS (a failed try never writes it), is checked besides: that stale stamp
 * is believed only if its writer had the same tid (a reused one). So with
 * an older build sharing the mutex, a stamped holder of this build that dies, is marked by the older build, and
 * whose tid is reused by a thread of the older build that takes the word,
 * is the one case the stamp misjudges; docs/LAYOUT.md says so.
 *
 * i386 keeps 8-byte values 4-aligned in structs: a mutex whose word is not
 * 8-aligned (only i386 processes can share one; mappings are page-aligned, so
 * all of them agree) is never stamped and works as before. */
typedef uint64_t __attribute__((may_alias)) pair_u64;
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the pair puts the word in its low half");
#define PAIR(word, stamp) ((uint64_t)(word) | (uint64_t)(stamp) << 32)
#define PAIR_WORD(p) ((uint32_t)(p))
#define PAIR_STAMP(p) ((uint32_t)((p) >> 32))

static inline pair_u64 *pair_of(struct shmkit__mutex_shared *s)
{
	return (pair_u64 *)(void *)&s->word;
}

static inline int stamped(const struct shmkit__mutex_shared *s)
{
#if UINTPTR_MAX > 0xffffffffu
	(void)s; /* the struct is 8-aligned (mutex_unusable) */
	return 1;
#else
	return ((uintptr_t)&s->word & 7) == 0;
#endif
}

/* The word and its stamp (0 for an unstamped mutex). */
static inline uint64_t load_pair(struct shmkit__mutex_shared *s, int order)
{
	if (stamped(s))
		return __atomic_load_n(pair_of(s), order);
	return atomic_load_explicit(&s->word, memory_order_relaxed);
}

/* CAS of the pair (of the word alone, stamp 0, when unstamped); *expect
 * gets the value seen on failure. */
static inline int cas_pair(struct shmkit__mutex_shared *s, uint64_t *expect, uint64_t want,
			   int order)
{
	if (stamped(s))
		return __atomic_compare_exchange_n(pair_of(s), expect, want, 0, order,
						   __ATOMIC_RELAXED);
	uint32_t v = PAIR_WORD(*expect);
	int ok = atomic_compare_exchange_strong_explicit(&s->word, &v, PAIR_WORD(want), (memory_order)order,
							 memory_order_relaxed);
	*expect = v;
	return ok;
}

/* Frees the word and its stamp; returns the word it held. */
static inline uint32_t clear_pair(struct shmkit__mutex_shared *s)
{
	if (stamped(s))
		return PAIR_WORD(__atomic_exchange_n(pair_of(s), 0, __ATOMIC_RELEASE));
	return atomic_exchange_explicit(&s->word, 0, memory_order_release);
}

/* This thread's start time, low 32 bits; 0 when /proc cannot tell (no stamp
 * then). Read once per thread, off the fast path: only a lock off the list
 * and the check below ask. */
static uint32_t my_start(struct thread_locks *t)
{
	if (SHMKIT__UNLIKELY(!t->start_looked)) {
		char state;
		uint64_t start;
		t->start_looked = 1;
		if (shmkit__proc_thread_stat(&state, &start) == 0)
			t->start = (uint32_t)start;
	}
	return t->start;
}

/* 1 if a word naming this thread, with stamp st, was taken by an earlier
 * thread with the same tid (see above). */
static int earlier_self(struct thread_locks *t, uint32_t st)
{
	if (SHMKIT__LIKELY(st == 0))
		return 0;
	uint32_t mine = my_start(t);
	return mine != 0 && st != mine;
}

/* ---- this thread's robust list: links that hold up ----
 *
 * An entry's links lie in the segment, where any process that may write it
 * can change them while we hold the lock. Unlinking writes through them (the
 * entry after ours gets our prev, the one before gets our next), so links
 * taken on trust would let such a process make us write a value of its
 * choice at an address of its choice in our memory. A link is followed or
 * copied only if it names the head or an entry this thread holds: one of
 * ours, which the thread remembers (HELD_MAX of them: more held at once are
 * locked without the list, as a thread without a head), or, rarely, one of
 * the C library's robust mutexes, recognized by a read that cannot fault
 * showing our tid in its word. When a link is neither, the list is rebuilt
 * from the links that hold up and the entries we remember. */

/* Compiler barrier: the kernel may walk the list at any instruction (our own
 * death), so each store that links or unlinks must be done before the next. */
#define LIST_BARRIER() __asm__ __volatile__("" ::: "memory")

static inline void **link_target(const void *link)
{
	return (void **)((uintptr_t)link & ~(uintptr_t)1); /* bit 0: a PI futex */
}

/* The index of e in held[], or -1. Newest first: locks are mostly
 * released in the reverse order of taking. */
static inline int held_index(const struct thread_locks *t, void **e)
{
	for (unsigned i = t->n_held; i-- > 0;)
		if (t->held[i] == e)
			return (int)i;
	return -1;
}

/* Whether the entry bytes [from, from + len) overlap the object at o. */
static int overlaps(uintptr_t from, size_t len, const void *o, size_t size)
{
	return from < (uintptr_t)o + size && (uintptr_t)o < from + len;
}

/* 1 if e is the entry of a robust mutex this thread holds that is not ours
 * (the C library's): its bytes, read without faulting, show our tid. Never
 * an entry over the list's head or our own record: glibc keeps the thread's
 * tid 16 bytes before its head, where an entry at head + 16 keeps its word,
 * and one bit flipped in a link to the head (the only entry's links) made
 * that; a rebuild then wrote the head's futex_offset, and the kernel marked
 * none of the thread's mutexes at its death. Likewise our tid at the start
 * of `me`. Addresses in uintptr_t: e may be anything. */
static __attribute__((noinline)) int foreign_entry_ours(const struct robust_list_head *h, void **e)
{
	unsigned char entry[SHMKIT__MUTEX_NEXT_OFF + sizeof(void *)];
	uint32_t word;

	if ((uintptr_t)e % _Alignof(void *) != 0 || (uintptr_t)e < sizeof(entry))
		return 0;
	/* the word: futex_offset (checked: -SHMKIT__MUTEX_NEXT_OFF) from next */
	uintptr_t from = (uintptr_t)e - SHMKIT__MUTEX_NEXT_OFF;
	if (overlaps(from, sizeof(entry), h, sizeof(*h)) ||
	    overlaps(from, sizeof(entry), &me, sizeof(me)))
		return 0;
	struct iovec local = {entry, sizeof(entry)};
	struct iovec remote = {(void *)from, sizeof(entry)};
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof(entry))
		return 0;
	memcpy(&word, entry, sizeof(word)); /* the word: at futex_offset from next */
	return (word & FUTEX_TID_MASK) == my_tid(&me);
}

/* 1 if link (a target, PI bit stripped) may be followed and written
 * through: the head, or an entry this thread holds other than `self`. */
static inline int link_holds_up(const struct thread_locks *t, const struct robust_list_head *h,
				void **link, void **self)
{
	if (link == (void **)(void *)&h->list)
		return 1;
	if (link == self)
		return 0;
	return held_index(t, link) >= 0 || foreign_entry_ours(h, link);
}

/* The link after entry e, for a rebuild: its own, or, for an entry of
 * ours whose link does not hold up, the value we last wrote there (glibc may
 * have changed it since, by unlinking the entry after e: then the walk ends
 * there). */
static void *next_link(const struct thread_locks *t, const struct robust_list_head *h, void **e,
		       void **self)
{
	void *raw = *(void *volatile *)e; /* ours (held) or checked: readable */
	void **to = link_target(raw);
	int j = held_index(t, e);

	if (j >= 0 && to != self && !link_holds_up(t, h, to, self))
		raw = t->held_next[j];
	return raw;
}

static void set_next(struct thread_locks *t, void **e, void *raw)
{
	int j = held_index(t, e);

	*e = raw;
	if (j >= 0)
		t->held_next[j] = raw;
}

static int kept_already(void *const *keep, unsigned n, void **e)
{
	for (unsigned i = 0; i < n; i++)
		if (link_target(keep[i]) == e)
			return 1;
	return 0;
}

/* A link did not hold up: relink the list as head -> the entries a walk
 * from the head reaches through links that hold up (next_link) -> the
 * entries we hold that it did not reach -> head, leaving `self` out. None of
 * ours is lost. A foreign entry the walk cannot reach leaves the list: its
 * holder's death goes unmarked, and on i386, where glibc unlinks by walking
 * the list, its pthread_mutex_unlock would not find it (a scribbled link in
 * a list it walks can do as much to glibc without us). */
static __attribute__((noinline)) void list_rebuild(struct thread_locks *t,
						   struct robust_list_head *h, void **self)
{
	void *keep[HELD_MAX + 32]; /* link values, PI bit kept */
	unsigned n = 0;
	void *raw = h->list.next;

	for (unsigned i = 0; i < 2048 && n < HELD_MAX + 32; i++) {
		void **e = link_target(raw);
		if (e == (void **)(void *)&h->list)
			break;
		if (e != self) {
			if (!link_holds_up(t, h, e, self) || kept_already(keep, n, e))
				break;
			keep[n++] = raw;
		}
		raw = next_link(t, h, e, self);
	}
	for (unsigned i = 0; i < t->n_held && n < HELD_MAX + 32; i++)
		if (t->held[i] != self && !kept_already(keep, n, t->held[i]))
			keep[n++] = t->held[i];
	for (unsigned i = 0; i < n; i++) {
		void **e = link_target(keep[i]);
		set_next(t, e, i + 1 < n ? keep[i + 1] : (void *)&h->list);
#if SHMKIT__MUTEX_HAVE_PREV
		e[-1] = i > 0 ? (void *)link_target(keep[i - 1]) : (void *)&h->list;
#endif
	}
	LIST_BARRIER();
	h->list.next = n > 0 ? keep[0] : &h->list;
}

/* Links the entry of s first in the list; 0 if HELD_MAX entries are
 * linked already (s is then locked without the list). */
static int list_add(struct thread_locks *t, struct robust_list_head *h,
		    struct shmkit__mutex_shared *s)
{
	void **next = entry_next(s);
	/* the head's link: written only by this thread (us and its C
	 * library), with links that held up */
	void *first = h->list.next;

	if (t->n_held == HELD_MAX)
		return 0;
	/* linked already: another process freed the word under us and we took
	 * it again; a second link would make the entry its own successor */
	if (held_index(t, next) >= 0)
		return 1;
	*next = first;
#if SHMKIT__MUTEX_HAVE_PREV
	void **prev = next - 1;
	/* glibc's ENQUEUE_MUTEX_BOTH: every link points at a `next` field; the
	 * head's own `prev` slot sits just before it, as in glibc's struct pthread. */
	*prev = &h->list;
	link_target(first)[-1] = next;
#endif
	LIST_BARRIER();
	h->list.next = (struct robust_list *)(void *)next;
	t->held[t->n_held] = next;
	t->held_next[t->n_held++] = first;
	return 1;
}

#if SHMKIT__MUTEX_HAVE_PREV
/* Takes the entry between the two (links that held up) out. */
static inline void unlink_between(struct thread_locks *t, void *after, void *before)
{
	link_target(after)[-1] = before; /* its prev */
	set_next(t, link_target(before), after);
}

/* Neighbours other than the head: ours (remembered), glibc's (checked), or
 * a link that does not hold up (a rebuild). */
static __attribute__((noinline)) void unlink_checked(struct thread_locks *t,
						     struct robust_list_head *h, void **self,
						     void *after, void *before)
{
	if (link_holds_up(t, h, link_target(after), self) &&
	    link_holds_up(t, h, link_target(before), self))
		unlink_between(t, after, before);
	else
		list_rebuild(t, h, self);
}
#endif

/* Takes the entry of s (held[index]) out of our list; its own links are
 * left as they are (list_del clears them). Always inlined: list_del is on
 * every unlock, and unlock_refused (cold) made the compiler keep one out-of-line copy far from the unlock, which
 * cost a map put at 1 M keys 100+ ns (an instruction TLB miss among the
 * data's: bench/compare.sh heapmap, 240 -> 340 ns). */
static inline __attribute__((always_inline)) void
list_unlink(struct thread_locks *t, struct robust_list_head *h, struct shmkit__mutex_shared *s,
	    int index)
{
	void **next = entry_next(s);
	/* each link read once: the value checked is the value written */
	void *after = *(void *volatile *)next;
#if SHMKIT__MUTEX_HAVE_PREV
	void **prev = next - 1;
	void *before = *(void *volatile *)prev;
	void **head = (void **)(void *)&h->list;
	if (SHMKIT__LIKELY(link_target(after) == head && link_target(before) == head)) {
		/* the only entry, the common case: its neighbours are the head */
		head[-1] = before;
		head[0] = after;
	} else {
		unlink_checked(t, h, next, after, before);
	}
#else
	/* singly linked (glibc's i386 list): find the one pointing at us */
	void **runp = (void **)(void *)&h->list;
	for (int i = 0; i < 2048; i++) {
		void **n = link_target(*(void *volatile *)runp);
		if (n == next) {
			if (link_holds_up(t, h, link_target(after), next))
				set_next(t, runp, after);
			else
				list_rebuild(t, h, next);
			break;
		}
		if (n == (void **)(void *)&h->list || !link_holds_up(t, h, n, next)) {
			list_rebuild(t, h, next);
			break;
		}
		runp = n;
	}
#endif
	t->n_held--;
	t->held[index] = t->held[t->n_held];
	t->held_next[index] = t->held_next[t->n_held];
}

static void list_del(struct thread_locks *t, struct robust_list_head *h,
		     struct shmkit__mutex_shared *s, int index)
{
	list_unlink(t, h, s, index);
	LIST_BARRIER();
	void **next = entry_next(s);
	*next = NULL;
#if SHMKIT__MUTEX_HAVE_PREV
	next[-1] = NULL; /* its prev */
#endif
}

/* 0 for an initialized mutex; -EINVAL never initialized, -EBADMSG scribbled. */
static inline int mutex_check(struct shmkit__mutex_shared *s)
{
	int r = shmkit__sync_check(&s->magic, SHMKIT__MUTEX_MAGIC);
	if (SHMKIT__UNLIKELY(r))
		return r;
	uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (SHMKIT__UNLIKELY(st > SHMKIT__MUTEX_NOTRECOVERABLE))
		return -EBADMSG;
	return 0;
}

/* NULL, or off the struct's alignment (shmkit__sync_misaligned): -EINVAL. */
static inline int mutex_unusable(const struct shmkit_mutex *m)
{
	return !m || shmkit__sync_misaligned(m, _Alignof(struct shmkit_mutex));
}

SHMKIT_API int shmkit_mutex_init(struct shmkit_mutex *m)
{
	shmkit__detail_clear();
	if (SHMKIT__UNLIKELY(mutex_unusable(m)))
		return shmkit__sync_init_refused(m, _Alignof(struct shmkit_mutex), "mutex");
	struct shmkit__mutex_shared *s = mutex_shared(m);

	memset(s, 0, sizeof(*s));
	/* Release: pairs with the acquire in shmkit__sync_check(); the mutex
	 * is fully built before anyone who sees the magic uses it. */
	atomic_store_explicit(&s->magic, SHMKIT__MUTEX_MAGIC, memory_order_release);
	return 0;
}

/* A sleeping waiter can miss its wake-up for good: when a holder dies the
 * kernel wakes one waiter, and if that waiter is killed too before it takes
 * the lock, nobody wakes the rest. So blocking waits sleep in bounded slices
 * and retry: a stranded waiter notices within one slice, at the cost of one
 * futex call per slice and only while blocked. */
#define MUTEX_SLICE_NS 50000000 /* 50 ms */

/* Where the mapping holding addr comes from: its device and inode as
 * /proc/PID/maps prints them ("fd:01", 1234). 0, or -1 if not found. */
static int backing_of(const char *maps, uintptr_t addr, unsigned *maj, unsigned *min,
		      unsigned long *ino)
{
	FILE *f = fopen(maps, "re");
	char *line = NULL;
	size_t cap = 0;
	int r = -1;

	if (!f)
		return -1;
	while (r < 0 && getline(&line, &cap, f) > 0) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, maj, min, ino) == 5 &&
		    addr >= lo && addr < hi)
			r = 0;
	}
	free(line);
	fclose(f);
	return r;
}

/* 1 if thread tid's process maps what addr (in our mapping) maps, 0 if it
 * provably does not (no such thread, or none of its mappings is backed by the
 * same object), -1 if that cannot be told (its maps unreadable to us). */
static int tid_maps_object(pid_t tid, const void *addr)
{
	char path[64];
	unsigned maj, min, omaj, omin;
	unsigned long ino, oino;

	snprintf(path, sizeof(path), "%s/maps", shmkit__proc_self_dir());
	if (backing_of(path, (uintptr_t)addr, &maj, &min, &ino) < 0)
		return -1;
	if (ino == 0) {
		/* private memory: only a thread of this process can hold it */
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
		return access(path, F_OK) == 0;
	}
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tid);
	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (r == 0 && getline(&line, &cap, f) > 0)
		r = sscanf(line, "%*s %*s %*s %x:%x %lu", &omaj, &omin, &oino) == 3 && omaj == maj &&
		    omin == min && oino == ino;
	free(line);
	fclose(f);
	return r;
}

/* 1 if lock word v names no holder that could ever release it: the waiters
 * bit alone, or a thread that no longer exists or does not map the mutex (a
 * kernel thread, an unrelated process, a zombie). The kernel marks the word
 * FUTEX_OWNER_DIED only for a holder that had the mutex on its robust list;
 * a word written by anyone else (a scribbled or fuzzed segment, or a holder
 * that could not use the list) would keep every locker waiting forever. A tid is only meaningful in our own pid
 * namespace, which every sharer of a mutex must share (docs/ARCHITECTURE.md);
 * a holder whose mappings we may not read is given the benefit of the doubt. */
/* 1 if stamp st proves the taker of a word naming tid dead: thread tid now
 * has another start (the judgment above). 0 when it cannot tell. */
static int stamp_says_gone(struct shmkit__mutex_shared *s, pid_t tid, uint32_t st)
{
	char state;
	uint64_t start;

	if (st == 0 || __atomic_load_n(&s->stamp_tid, __ATOMIC_RELAXED) != (uint32_t)tid)
		return 0;
	if (shmkit__proc_stat(tid, &state, &start) < 0 || (uint32_t)start == st)
		return 0; /* missing: the maps check says so; equal: alive */
	if (!shmkit__proc_is_ours())
		return 0; /* /proc/tid is not our tid */
	uint64_t mine = shmkit__proc_ns(0, "time");
	return mine != 0 && shmkit__proc_ns(tid, "time") == mine;
}

static int holder_gone(struct shmkit__mutex_shared *s, uint64_t p)
{
	uint32_t v = PAIR_WORD(p);
	pid_t tid = (pid_t)(v & FUTEX_TID_MASK);

	if (tid == 0) /* FUTEX_OWNER_DIED alone: the next try takes it over; */
		return v != 0 && !(v & FUTEX_OWNER_DIED); /* FUTEX_WAITERS alone: nobody unlocks */
	/* a tid beside FUTEX_OWNER_DIED is never written (the kernel clears it,
	 * a takeover stores its own tid alone), so it is judged as any tid */
	return stamp_says_gone(s, tid, PAIR_STAMP(p)) || tid_maps_object(tid, s) == 0;
}

/* Marks the word as the kernel does on the death of its holder, when the
 * holder is gone: the next try then returns -EOWNERDEAD. */
static void mark_gone_holder(struct shmkit__mutex_shared *s)
{
	uint64_t p = load_pair(s, __ATOMIC_RELAXED);

	if (holder_gone(s, p))
		/* Relaxed: nothing is published. The CAS is of the pair judged:
		 * it fails if the word or its stamp moved (see the stamp). */
		cas_pair(s, &p, PAIR(FUTEX_OWNER_DIED | (PAIR_WORD(p) & FUTEX_WAITERS), 0),
			 __ATOMIC_RELAXED);
}

/* One attempt to take the word, with `stamp` (0 on the kernel list). `extra`
 * is FUTEX_WAITERS for a thread that has slept (others may sleep too, so its
 * unlock must wake). Returns 0, or -EOWNERDEAD when taken from a dead holder,
 * -EBUSY when held (*seen: the word), -EDEADLK when the caller holds it. */
static int try_take(struct shmkit__mutex_shared *s, struct thread_locks *t, uint32_t tid,
		    uint32_t stamp, uint32_t extra, uint32_t *seen)
{
	uint64_t p = 0; /* a free word, stamp 0: what an unlock leaves */

	for (;;) {
		uint32_t v = PAIR_WORD(p);
		uint32_t want = tid | extra;
		int died = 0;

		if ((v & FUTEX_TID_MASK) == tid && v) {
			if (!earlier_self(t, PAIR_STAMP(p)))
				return shmkit__fail(-EDEADLK,
						    "the lock word names this thread (tid %u) as "
						    "its holder: it holds the lock already, or "
						    "another process wrote that word",
						    tid);
			/* an earlier thread with our tid took it and died */
			want |= v & FUTEX_WAITERS;
			died = 1;
		} else if (v & FUTEX_TID_MASK || (v && !(v & FUTEX_OWNER_DIED))) {
			*seen = v;
			return -EBUSY;
		} else if (v) { /* FUTEX_OWNER_DIED: keep the waiters bit for the others */
			want |= v & FUTEX_WAITERS;
			died = 1;
		}
		/* Acquire: pairs with the release exchange in unlock, so the
		 * previous holder's writes to the data are visible. */
		if (cas_pair(s, &p, PAIR(want, stamp), __ATOMIC_ACQUIRE)) {
			/* A filter for readers (see the stamp), written by the
			 * holder only: a try that fails must not overwrite the
			 * holder's (its stamp would never be believed). Until it
			 * lands, a reader finds another tid there and judges by
			 * the maps alone, as without a stamp. */
			if (stamp)
				__atomic_store_n(&s->stamp_tid, tid, __ATOMIC_RELAXED);
			if (!died)
				return 0;
			atomic_store_explicit(&s->state, SHMKIT__MUTEX_INCONSISTENT,
					      memory_order_relaxed);
			return -EOWNERDEAD;
		}
	}
}

/* Sleeps on the word while it is `v` with the waiters bit set, one slice or
 * until the deadline. -ETIMEDOUT once the deadline has passed, else 0. */
static int wait_once(struct shmkit__mutex_shared *s, uint32_t v, int64_t deadline)
{
	if (!(v & FUTEX_WAITERS)) {
		/* Relaxed: the futex syscall orders the sleep against the wake. */
		if (!atomic_compare_exchange_strong_explicit(&s->word, &v, v | FUTEX_WAITERS,
							     memory_order_relaxed,
							     memory_order_relaxed))
			return 0; /* it moved: look again */
		v |= FUTEX_WAITERS;
	}
	int64_t until = shmkit__now_ns() + MUTEX_SLICE_NS;
	int last = deadline <= until;
	if (shmkit__futex_wait(&s->word, v, last ? deadline : until) == -ETIMEDOUT) {
		/* Each slice, look at the holder: a gone one would hold forever. */
		mark_gone_holder(s);
		if (last)
			return -ETIMEDOUT;
	}
	return 0;
}

/* After the word is ours: a mutex made unrecoverable meanwhile is given back.
 * Acquire (the word's CAS) pairs with the release exchange in the unlock that
 * stored NOTRECOVERABLE first. */
static int check_recoverable(struct shmkit__mutex_shared *s)
{
	if (SHMKIT__LIKELY(atomic_load_explicit(&s->state, memory_order_relaxed) !=
			   SHMKIT__MUTEX_NOTRECOVERABLE))
		return 0;
	clear_pair(s);
	shmkit__futex_wake(&s->word, INT_MAX);
	return -ENOTRECOVERABLE;
}

static int lock_word(struct shmkit__mutex_shared *s, struct thread_locks *t, uint32_t tid,
		     uint32_t stamp, int64_t timeout_ns)
{
	uint32_t seen = 0, extra = 0;
	int64_t deadline = -1;

	/* The uncontended take, inline: a free word, and we stamp nothing (a
	 * not-recoverable mutex taken here is given back by check_recoverable). */
	if (SHMKIT__LIKELY(!stamp)) {
		uint64_t p = 0;
		if (cas_pair(s, &p, PAIR(tid, 0), __ATOMIC_ACQUIRE))
			return check_recoverable(s);
	}
	for (;;) {
		if (atomic_load_explicit(&s->state, memory_order_relaxed) ==
		    SHMKIT__MUTEX_NOTRECOVERABLE)
			return -ENOTRECOVERABLE;
		int r = try_take(s, t, tid, stamp, extra, &seen);
		if (r != -EBUSY) {
			if (r == -EDEADLK)
				return r;
			int n = check_recoverable(s);
			return n ? n : r;
		}
		if (timeout_ns == 0)
			return -EAGAIN;
		if (deadline < 0)
			deadline = shmkit__deadline(timeout_ns);
		if (wait_once(s, seen, deadline) == -ETIMEDOUT) {
			/* one last try: the slice check may just have marked it */
			r = try_take(s, t, tid, stamp, FUTEX_WAITERS, &seen);
			if (r == -EBUSY)
				return -ETIMEDOUT;
			if (r == -EDEADLK)
				return r;
			int n = check_recoverable(s);
			return n ? n : r;
		}
		extra = FUTEX_WAITERS;
	}
}

SHMKIT_API int shmkit_mutex_lock(struct shmkit_mutex *m, int64_t timeout_ns)
{
	if (SHMKIT__UNLIKELY(mutex_unusable(m)))
		return -EINVAL;
	struct shmkit__mutex_shared *s = mutex_shared(m);
	int r = mutex_check(s);

	if (SHMKIT__UNLIKELY(r))
		return r;
	struct thread_locks *t = this_thread();
	struct robust_list_head *h = robust_head(t);
	uint32_t tid = my_tid(t);
	uint32_t stamp = 0;
	/* Off the kernel list: the stamp tells our death from a reused tid. */
	if (SHMKIT__UNLIKELY(!h || t->n_held == HELD_MAX) && stamped(s))
		stamp = my_start(t);
	/* Pending while the word may be ours but the entry not yet linked: a
	 * death in between still gets the word marked by the kernel. A stamped
	 * lock is never linked, and the kernel never marks it (its marks leave
	 * a stamp 0 behind; the stamp covers that death). */
	if (h && !stamp)
		h->list_op_pending = (struct robust_list *)(void *)entry_next(s);
	LIST_BARRIER();
	r = lock_word(s, t, tid, stamp, timeout_ns);
	if (h && !stamp) {
		if (r == 0 || r == -EOWNERDEAD)
			list_add(t, h, s);
		LIST_BARRIER();
		h->list_op_pending = NULL;
	}
	return r;
}

/* An unlock refused (-EPERM, -EBADMSG, -EINVAL) of a mutex this thread
 * linked: another process rewrote its word, stamp or magic while we held it.
 * Its entry leaves our list all the same (the word is left as it is): kept,
 * it outlived the segment's mapping, and the next lock by this thread (ours,
 * or the C library's robust ones) wrote through it. Its own links are left
 * as they are: a thread that took the freed word since has linked it in its
 * list, which NULLs there would cut short. */
static SHMKIT__COLD int unlock_refused(struct thread_locks *t, struct shmkit__mutex_shared *s,
				       int r)
{
	struct robust_list_head *h = robust_head(t);
	int linked = h ? held_index(t, entry_next(s)) : -1;

	if (linked >= 0)
		list_unlink(t, h, s, linked);
	return r;
}

SHMKIT_API int shmkit_mutex_unlock(struct shmkit_mutex *m)
{
	if (SHMKIT__UNLIKELY(mutex_unusable(m)))
		return -EINVAL;
	struct shmkit__mutex_shared *s = mutex_shared(m);
	struct thread_locks *t = this_thread();
	int r = mutex_check(s);

	if (SHMKIT__UNLIKELY(r))
		return unlock_refused(t, s, r);
	uint32_t tid = my_tid(t);
	uint64_t p = load_pair(s, __ATOMIC_RELAXED);
	/* held by us, not by an earlier thread with our tid */
	if ((PAIR_WORD(p) & FUTEX_TID_MASK) != tid || earlier_self(t, PAIR_STAMP(p)))
		return unlock_refused(t, s, -EPERM);
	/* Unlocked while inconsistent: unusable for everyone (POSIX). */
	int dead = atomic_load_explicit(&s->state, memory_order_relaxed) ==
		   SHMKIT__MUTEX_INCONSISTENT;
	if (dead)
		atomic_store_explicit(&s->state, SHMKIT__MUTEX_NOTRECOVERABLE, memory_order_relaxed);
	struct robust_list_head *h = robust_head(t);
	int linked = h ? held_index(t, entry_next(s)) : -1;
	if (linked >= 0) {
		h->list_op_pending = (struct robust_list *)(void *)entry_next(s);
		LIST_BARRIER();
		list_del(t, h, s, linked);
	}
	/* Release: our writes to the data (and the state above) before the
	 * next holder's acquire CAS. */
	uint32_t old = clear_pair(s);
	if (linked >= 0) {
		LIST_BARRIER();
		h->list_op_pending = NULL;
	}
	if (dead)
		shmkit__futex_wake(&s->word, INT_MAX); /* every waiter must hear it */
	else if (old & FUTEX_WAITERS)
		shmkit__futex_wake(&s->word, 1);
	return 0;
}

SHMKIT_API int shmkit_mutex_consistent(struct shmkit_mutex *m)
{
	if (SHMKIT__UNLIKELY(mutex_unusable(m)))
		return -EINVAL;
	struct shmkit__mutex_shared *s = mutex_shared(m);
	int r = mutex_check(s);

	if (r)
		return r;
	uint64_t p = load_pair(s, __ATOMIC_RELAXED);
	if ((PAIR_WORD(p) & FUTEX_TID_MASK) != my_tid(&me) || earlier_self(&me, PAIR_STAMP(p)) ||
	    atomic_load_explicit(&s->state, memory_order_relaxed) != SHMKIT__MUTEX_INCONSISTENT)
		return -EINVAL;
	atomic_store_explicit(&s->state, SHMKIT__MUTEX_CONSISTENT, memory_order_relaxed);
	return 0;
}

/* ---- who holds it (messages only) ---- */

/* The process (thread group) of thread tid, from /proc/TID/status: 0 if it
 * cannot be read. /proc/TID works for any thread id, listed or not. */
static pid_t process_of(pid_t tid)
{
	char path[64], buf[2048];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (shmkit__proc_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	const char *p = strstr(buf, "\nTgid:");
	return p != NULL ? (pid_t)strtol(p + 6, NULL, 10) : 0;
}

/* ", stopped" words for a /proc state letter: the reason a live holder
 * does not let go, which the user can act on (SIGCONT, the debugger). */
static const char *state_words(char state)
{
	switch (state) {
	case 'T':
		return " (stopped)";
	case 't':
		return " (stopped by a debugger)";
	default:
		return "";
	}
}

void shmkit__mutex_holder_text(struct shmkit_mutex *m, char *buf, size_t cap)
{
	struct shmkit__mutex_shared *s = mutex_shared(m);
	pid_t tid = (pid_t)(atomic_load_explicit(&s->word, memory_order_relaxed) & FUTEX_TID_MASK);
	pid_t pid = tid != 0 ? process_of(tid) : 0;
	char state = '?';
	uint64_t start;

	if (pid <= 0) {
		snprintf(buf, cap, "held by a live process");
		return;
	}
	/* the holding thread's own state: a debugger may stop only it */
	if (shmkit__proc_stat(tid, &state, &start) < 0)
		state = '?';
	snprintf(buf, cap, "held by pid %d%s", (int)pid, state_words(state));
}
