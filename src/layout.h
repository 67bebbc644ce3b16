/* SPDX-License-Identifier: MIT */
/* Every struct that lives in shared memory, in one place, with static
 * assertions on sizes and offsets. docs/LAYOUT.md documents the bytes.
 * Shared structs hold no pointers: offsets from the segment base, fixed-width
 * integers and atomics only. Laid out for 64-bit little-endian; the header's
 * fingerprint refuses anything else.
 *
 * Bump SHMKIT__LAYOUT_VERSION whenever any byte here changes meaning. */
#ifndef SHMKIT_LAYOUT_H
#define SHMKIT_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <shmkit/sync.h>

#define SHMKIT__LAYOUT_VERSION 2u
#ifdef SHMKIT_LAYOUT_VERSION
_Static_assert(SHMKIT__LAYOUT_VERSION == SHMKIT_LAYOUT_VERSION, "public layout version");
#endif

/* The distance between ring slots of `need` bytes (header and message) in
 * MPMC queues and topics: the shortest multiple of 16 with which no slot
 * touches more cache lines than ceil(need / 64). Slots start at every
 * multiple of gcd(stride, 64) within a line (rings are page-aligned), so
 * the worst start is 64 - gcd. Neighbours then share a line where that
 * costs no line per message: a 64-byte message with a 16-byte header moves
 * 1.25 lines in a stream, not the 2 of a line-rounded slot, while a 48-byte
 * slot keeps a line of its own (straddling two would cost more than the
 * line it saves). docs/LAYOUT.md; docs/PERF.md "Slots that share cache
 * lines". Rings made before keep line-rounded strides, still accepted. */
static inline uint64_t shmkit__slot_stride(uint64_t need)
{
	uint64_t lines = (need + 63) & ~(uint64_t)63;

	for (uint64_t stride = (need + 15) & ~(uint64_t)15;; stride += 16) {
		uint64_t g = stride & -stride; /* gcd(stride, 64) for multiples of 16 */
		if (64 - (g < 64 ? g : 64) + need <= lines)
			return stride;
	}
}

/* The stride rings had before shmkit__slot_stride: every slot on lines of
 * its own. */
static inline uint64_t shmkit__slot_stride_lines(uint64_t need)
{
	return (need + 63) & ~(uint64_t)63;
}

/* ======================================================================
 * Managed-segment header (offset 0 of every shmkit object)
 * ====================================================================== */

#define SHMKIT__MAGIC 0x0174694b6d685353ull /* "SShmKit\x01" read little-endian */
/* 'L' little-endian, pointer width 8, int width 4: the only platform the
 * format is defined for. Stored as written by the creator. */
#define SHMKIT__FINGERPRINT 0x4c000804u
#define SHMKIT__HEADER_SIZE 4096u /* object body starts here, page aligned */
#define SHMKIT__ATTACH_SLOTS 64u

enum shmkit__state {
	SHMKIT__STATE_EMPTY = 0,        /* fresh zeroed segment: creator not started */
	SHMKIT__STATE_INITIALIZING = 1, /* creator is filling the body */
	SHMKIT__STATE_READY = 2,        /* body complete; published with release */
};

/* A process identity that survives pid reuse: pid + start time (clock ticks
 * since boot, /proc/PID/stat field 22) + boot id, and the pid namespace the
 * pid is valid in (inode of /proc/PID/ns/pid; 0 = not recorded). 32 bytes. */
struct shmkit__ident {
	uint32_t pid;
	uint32_t pidns;
	uint64_t start_time;
	uint8_t boot_id[16];
};
_Static_assert(sizeof(struct shmkit__ident) == 32, "ident size");
_Static_assert(offsetof(struct shmkit__ident, start_time) == 8, "ident.start_time");
_Static_assert(offsetof(struct shmkit__ident, boot_id) == 16, "ident.boot_id");

/* The wake-up core's shared eventcount (src/sync/ec.h): 8 bytes.
 * word = seq << 2 | FD bit (2) | SLEEP bit (1). A sleeper sets SLEEP before
 * its futex sleep, a descriptor listener sets FD when it arms; a waker that
 * sees either clears both while advancing seq, and wakes. */
struct shmkit__ec_shared {
	_Atomic uint32_t word;
	_Atomic uint32_t mode; /* SHMKIT__BARRIER_FENCE (0), _MEMBARRIER (1), _SWITCHING (2): src/sync/barrier.h */
};
_Static_assert(sizeof(struct shmkit__ec_shared) == 8, "ec size");

/* A pollable-descriptor listener (src/sync/listener.c): 8 bytes. Its owner's
 * socket is the abstract Unix address "shmkit/<pid>/<start_time>/<key>",
 * pid and start time taken from the owner identity next to it. */
struct shmkit__listener_shared {
	_Atomic uint32_t state; /* gen << 4 | side << 2 | kind (FREE 0, IDLE 1, ARMED 2) */
	uint32_t key;
};
_Static_assert(sizeof(struct shmkit__listener_shared) == 8, "listener size");

/* The word packing used by the header's init word and by each attach slot:
 * bits 0..31 pid, bits 32..39 a state, bits 40..63 a generation bumped on
 * every claim (so a compare-and-swap on a stale view of a slot fails even if
 * the same pid came back). One 64-bit CAS claims a slot or the creator role. */
#define SHMKIT__WORD(pid, state, gen)                                                     \
	((uint64_t)(uint32_t)(pid) | (uint64_t)((state) & 0xffu) << 32 |                  \
	 (uint64_t)((gen) & 0xffffffu) << 40)
#define SHMKIT__WORD_PID(w) ((uint32_t)(w))
#define SHMKIT__WORD_STATE(w) ((uint32_t)((w) >> 32) & 0xffu)
#define SHMKIT__WORD_GEN(w) ((uint32_t)((w) >> 40))

/* Attach-slot states (SHMKIT__WORD_STATE of a slot word). */
enum shmkit__slot_state {
	SHMKIT__SLOT_FREE = 0,     /* pid 0; gen survives to defeat ABA */
	SHMKIT__SLOT_CLAIMING = 1, /* pid set by CAS; start time/boot id being written */
	SHMKIT__SLOT_USED = 2,     /* identity complete (published with release) */
};

/* One attached process. `word` is claimed by CAS (free or dead -> claiming),
 * then start_time/boot_id are written, then `word` is stored USED with release. */
struct shmkit__attach_slot {
	_Atomic uint64_t word;
	uint64_t start_time;
	uint8_t boot_id[16];
};
_Static_assert(sizeof(struct shmkit__attach_slot) == 32, "attach slot size");
_Static_assert(offsetof(struct shmkit__attach_slot, start_time) == 8, "slot.start_time");
_Static_assert(offsetof(struct shmkit__attach_slot, boot_id) == 16, "slot.boot_id");

/* More about the process in attach slot i, written before the slot word
 * is stored USED (so covered by its release). */
struct shmkit__attach_info {
	uint32_t pidns; /* pid namespace of the slot's pid (0 = not recorded) */
	uint32_t flags; /* SHMKIT__AI_* */
};
_Static_assert(sizeof(struct shmkit__attach_info) == 8, "attach info size");
/* The holder keeps an open-file-description lock (F_OFD_SETLK) on the
 * first byte of its attach slot (or role entry) for as long as it holds it:
 * the kernel drops it when the process dies, in any pid namespace. */
#define SHMKIT__AI_LOCKED 1u
/* With SHMKIT__AI_LOCKED: the lock is a write lock (asked with a read-lock
 * probe, which a stranger's read lock does not answer). Without it (older
 * holders): a read lock, asked with a write-lock probe. */
#define SHMKIT__AI_WRLOCKED 2u
/* With SHMKIT__AI_LOCKED alone: the byte was locked already (a stranger's
 * read lock) when the holder took its read lock, so the lock is asked only
 * when the identity cannot say (another pid namespace); proven dead is dead. */
#define SHMKIT__AI_CONTENDED 4u
/* With SHMKIT__AI_WRLOCKED: which byte of its entry (0..31) the holder's
 * write lock is on. Not 0 when the first byte was write-locked already: a
 * dead holder's open file description outlived it (a child it forked, a
 * descriptor it passed, a /proc reader's hold on its address space).
 * Older readers ignore it and ask byte 0, whose lock keeps them cautious. */
#define SHMKIT__AI_BYTE_SHIFT 8u
#define SHMKIT__AI_BYTE_MASK 0x1f00u
#define SHMKIT__AI_BYTE(flags) (((flags) & SHMKIT__AI_BYTE_MASK) >> SHMKIT__AI_BYTE_SHIFT)
/* The low 16 bits of the claimer's image token (shmkit__image_token()): a
 * process finding its own identity with another token there knows the
 * slot was taken by an image it replaced with execve(2). 0: not recorded. */
#define SHMKIT__AI_IMAGE_SHIFT 16u
#define SHMKIT__AI_IMAGE_MASK 0xffffu

/* Roles a managed object can reserve for one process at a time. */
enum shmkit__role_id {
	SHMKIT__ROLE_PRODUCER = 0, /* single-producer queue: the producer */
	SHMKIT__ROLE_CONSUMER = 1, /* single-consumer queue: the consumer */
	SHMKIT__ROLES = 2,
};

/* A role holder. `word` = SHMKIT__WORD(pid, SHMKIT__SLOT_*, gen), claimed by
 * CAS like an attach slot; id and flags are written before it reads USED. */
struct shmkit__role {
	_Atomic uint64_t word;
	struct shmkit__ident id; /* 8: the holder */
	uint32_t flags;          /* 40: SHMKIT__AI_LOCKED */
	uint32_t image;          /* 44: the holder's image token (0: not recorded) */
	uint32_t reserved[4];    /* 48: zero */
};
_Static_assert(sizeof(struct shmkit__role) == 64, "role size");
_Static_assert(offsetof(struct shmkit__role, id) == 8, "role.id");
_Static_assert(offsetof(struct shmkit__role, image) == 44, "role.image");

/* Header flags (struct shmkit__header.flags). */
#define SHMKIT__HDR_PERSIST 1u /* persistent: gc never removes it (DESIGN §8) */

/* The header at offset 0 of every managed segment: 4096 bytes, the body
 * follows at SHMKIT__HEADER_SIZE. Written by the creator in this order:
 * creator identity, fixed fields, init word (INITIALIZING), magic (release);
 * then the body; then the init word READY (release). See docs/LAYOUT.md. */
struct shmkit__header {
	uint64_t magic;              /*  0: SHMKIT__MAGIC, stored last (release) */
	uint32_t fingerprint;        /*  8: SHMKIT__FINGERPRINT */
	uint32_t layout_version;     /* 12: SHMKIT__LAYOUT_VERSION */
	uint32_t kind;               /* 16: enum shmkit_kind */
	uint32_t header_size;        /* 20: SHMKIT__HEADER_SIZE */
	uint64_t total_size;         /* 24: header + body == the segment's size */
	uint64_t body_size;          /* 32: total_size - header_size */
	_Atomic uint64_t init;       /* 40: SHMKIT__WORD(creator pid, enum shmkit__state, gen) */
	_Atomic uint32_t creator_gen; /* 48: gen of `init` whose creator identity is complete */
	uint32_t flags;              /* 52: SHMKIT__HDR_* */
	uint64_t created_realtime;   /* 56: CLOCK_REALTIME seconds at (re)creation, informative */
	struct shmkit__ident creator; /* 64: who (re)initialized it */
	uint32_t attach_slots;       /* 96: SHMKIT__ATTACH_SLOTS */
	uint32_t attach_offset;      /* 100: SHMKIT__ATTACH_OFFSET */
	uint8_t reserved0[24];       /* 104: zero */
	struct shmkit__attach_slot attach[SHMKIT__ATTACH_SLOTS]; /* 128..2175 */
	struct shmkit__attach_info attach_info[SHMKIT__ATTACH_SLOTS]; /* 2176..2687 */
	struct shmkit__role roles[SHMKIT__ROLES]; /* 2688..2815 */
	uint8_t reserved1[SHMKIT__HEADER_SIZE - 2816]; /* zero */
};
#define SHMKIT__ATTACH_OFFSET 128u
_Static_assert(sizeof(struct shmkit__header) == SHMKIT__HEADER_SIZE, "header size");
_Static_assert(offsetof(struct shmkit__header, magic) == 0, "header.magic");
_Static_assert(offsetof(struct shmkit__header, fingerprint) == 8, "header.fingerprint");
_Static_assert(offsetof(struct shmkit__header, layout_version) == 12, "header.layout_version");
_Static_assert(offsetof(struct shmkit__header, kind) == 16, "header.kind");
_Static_assert(offsetof(struct shmkit__header, header_size) == 20, "header.header_size");
_Static_assert(offsetof(struct shmkit__header, total_size) == 24, "header.total_size");
_Static_assert(offsetof(struct shmkit__header, body_size) == 32, "header.body_size");
_Static_assert(offsetof(struct shmkit__header, init) == 40, "header.init");
_Static_assert(offsetof(struct shmkit__header, creator_gen) == 48, "header.creator_gen");
_Static_assert(offsetof(struct shmkit__header, flags) == 52, "header.flags");
_Static_assert(offsetof(struct shmkit__header, created_realtime) == 56, "header.created_realtime");
_Static_assert(offsetof(struct shmkit__header, creator) == 64, "header.creator");
_Static_assert(offsetof(struct shmkit__header, attach_slots) == 96, "header.attach_slots");
_Static_assert(offsetof(struct shmkit__header, attach_offset) == 100, "header.attach_offset");
_Static_assert(offsetof(struct shmkit__header, reserved0) == 104, "header.reserved0");
_Static_assert(offsetof(struct shmkit__header, attach) == SHMKIT__ATTACH_OFFSET, "header.attach");
_Static_assert(offsetof(struct shmkit__header, attach_info) == 2176, "header.attach_info");
_Static_assert(offsetof(struct shmkit__header, roles) == 2688, "header.roles");
_Static_assert(offsetof(struct shmkit__header, reserved1) == 2816, "header.reserved1");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && alignof(_Atomic uint64_t) == 8, "atomic u64");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32");
/* Shared atomics must be lock-free: a lock inside libatomic is per process. */
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2, "lock-free atomics");

/* ======================================================================
 * Queue (kind SHMKIT_KIND_QUEUE): docs/LAYOUT.md "Queue"
 *
 * Body = struct shmkit__queue_shared, then `capacity` slots of `slot_stride`
 * bytes each, starting at body offset SHMKIT__QUEUE_SLOTS_OFF; a slot's
 * payload starts `slot_hdr` bytes into it. Two slot formats:
 *
 * SPSC: the commit marker is one 64-bit word, position's low 32 bits << 32 |
 * payload length (SHMKIT__QUEUE_SP_MARK), written last by the producer. A
 * slot holds the message of position p if its marker's position is p, the
 * consumed message of p - capacity if it is p - capacity (a fresh slot i
 * starts as "consumed i - capacity, length 0"); anything else is corrupt.
 *   - max_msg <= SHMKIT__QUEUE_SPSC_INLINE_MAX (56): the marker is the first
 *     8 bytes of a 64-byte slot (slot_hdr 8): message and marker in one line.
 *   - larger max_msg: markers form an array of `capacity` words at body offset
 *     `markers_off` (after the slots); a slot is only payload (slot_hdr 0,
 *     stride round_up(max_msg, 64)), so a 64-byte message fills one line.
 *
 * MPMC (either multi flag): a 16-byte header (struct shmkit__queue_slot)
 * then the payload, stride shmkit__slot_stride(16 + max_msg) (queues made
 * before: round_up(16 + max_msg, 64), still accepted); control word `seq` =
 * position << 8 | tag (56-bit positions):
 *   FREE      (tag 0x00)       slot free for the producer at `position`
 *   COMMITTED (tag 0x01)       message for `position` is ready
 *   RESERVED  (tag 0x40 | k)   MPMC: producer with peer entry k is writing it
 *   CLAIMED   (tag 0x80 | k)   MPMC: consumer with peer entry k is reading it
 * ====================================================================== */

#define SHMKIT__QUEUE_PEERS 64u
#define SHMKIT__QUEUE_SLOT_HDR 16u /* MPMC slot header */
#define SHMKIT__QUEUE_SP_HDR 8u    /* SPSC inline slot: the marker */
#define SHMKIT__QUEUE_SPSC_INLINE_MAX 56u
#define SHMKIT__QUEUE_SP_MARK(pos, len) ((uint64_t)(uint32_t)(pos) << 32 | (uint32_t)(len))
#define SHMKIT__QUEUE_MAX_CAPACITY (1u << 30)
#define SHMKIT__QUEUE_MAX_MSG (1u << 30)
#define SHMKIT__QUEUE_F_MP 1u /* created with multi_producer */
#define SHMKIT__QUEUE_F_MC 2u /* created with multi_consumer */
/* MPMC: the producers' biased lease (p_lease) is in use: a library that
 * does not know the lease must not open the queue (it would claim slots by
 * CAS beside a holder's plain stores), and refuses unknown flags. */
#define SHMKIT__QUEUE_F_LEASE 4u
/* MPMC: peer entry state words carry a generation (gen << 8 | kind) and a
 * CLAIMING entry whose identity is dead is taken over: a library that does
 * not know this must not open the queue (it would read such words as
 * neither free nor live, and store LIVE over a take-over). */
#define SHMKIT__QUEUE_F_PEERGEN 8u

#define SHMKIT__QTAG_FREE 0x00u
#define SHMKIT__QTAG_COMMITTED 0x01u
#define SHMKIT__QTAG_RESERVED 0x40u
#define SHMKIT__QTAG_CLAIMED 0x80u
#define SHMKIT__QTAG_PEER_MASK 0x3fu

/* A peer entry's state word: gen << 8 | one of these (gen 0 without
 * SHMKIT__QUEUE_F_PEERGEN). */
enum shmkit__queue_peer_state {
	SHMKIT__QPEER_FREE = 0,
	SHMKIT__QPEER_CLAIMING = 1, /* being registered or cleaned up */
	SHMKIT__QPEER_LIVE = 2,
};
#define SHMKIT__QPEER_SIDE_PRODUCER 1u

/* A biased lease (src/sync/lease.h): word = gen << 9 | REVOKING (0x100) |
 * holder (peer index + 1; 0 = nobody); busy = 1 while the holder is inside
 * a plain-store claim. */
struct shmkit__lease_shared {
	_Atomic uint32_t word;
	_Atomic uint32_t busy;
};

/* One MPMC handle's identity, so a slot tagged with its index can be
 * reclaimed once the process is provably dead. 64 bytes. */
struct shmkit__queue_peer {
	_Atomic uint32_t state;
	/* SHMKIT__QPEER_SIDE_PRODUCER: this entry's handle has sent (set
	 * before its first claim, lease queues only; sync/lease.h) */
	_Atomic uint32_t sides;
	struct shmkit__ident id;
	/* payload bytes this entry's handles committed / consumed (statistics:
	 * each handle adds to its own line; queue_mpmc.c "byte counters") */
	_Atomic uint64_t bytes_sent;
	_Atomic uint64_t bytes_received;
	/* F_PEERGEN: the state word (CLAIMING) of the claim that wrote id,
	 * stored after it: id belongs to the current claim iff it equals state */
	_Atomic uint32_t id_word;
	uint32_t reserved1;
};
_Static_assert(sizeof(struct shmkit__queue_peer) == 64, "queue peer size");
_Static_assert(offsetof(struct shmkit__queue_peer, id_word) == 56, "queue peer.id_word");
_Static_assert(offsetof(struct shmkit__queue_peer, id) == 8, "queue peer.id");
_Static_assert(offsetof(struct shmkit__queue_peer, bytes_sent) == 40, "queue peer.bytes_sent");

/* One pollable descriptor of a queue handle: its owner and listener.
 * side 0 = consumer (readable while a message waits), 1 = producer. */
#define SHMKIT__QUEUE_LISTENERS 16u
struct shmkit__queue_listener {
	struct shmkit__ident owner;
	struct shmkit__listener_shared l;
	_Atomic uint32_t owner_state; /* the CLAIMING l.state that wrote owner */
	/* owner_state, stored by an owner that closed its handle while a
	 * process forked with it still held the socket (claim_listener) */
	_Atomic uint32_t left_claim;
	uint64_t reserved[2];
};
_Static_assert(sizeof(struct shmkit__queue_listener) == 64, "queue listener size");
_Static_assert(offsetof(struct shmkit__queue_listener, l) == 32, "queue listener.l");
_Static_assert(offsetof(struct shmkit__queue_listener, owner_state) == 40,
	       "queue listener.owner_state");
_Static_assert(offsetof(struct shmkit__queue_listener, left_claim) == 44,
	       "queue listener.left_claim");

/* MPMC slot header. */
struct shmkit__queue_slot {
	_Atomic uint64_t seq;  /* position << 8 | tag: the commit marker */
	_Atomic uint32_t len;  /* payload bytes, <= max_msg; written before COMMITTED */
	uint32_t reserved;
	/* payload follows: 16-byte aligned */
};
_Static_assert(sizeof(struct shmkit__queue_slot) == SHMKIT__QUEUE_SLOT_HDR, "queue slot header");

struct shmkit__queue_shared {
	/* line 0: configuration, written once by the creator */
	uint32_t flags;       /* SHMKIT__QUEUE_F_* */
	uint32_t capacity;    /* slots, a power of two */
	uint32_t max_msg;     /* largest payload */
	uint32_t slot_stride; /* bytes per slot: header + max_msg, a multiple of 16 */
	uint64_t slots_off;   /* body offset of slot 0 (== SHMKIT__QUEUE_SLOTS_OFF) */
	uint64_t markers_off; /* SPSC, max_msg > 56: body offset of the marker array; else 0 */
	uint32_t slot_hdr;    /* bytes before the payload in a slot: 16 MPMC, 8 or 0 SPSC */
	uint32_t reserved0a;
	uint64_t reserved0[3];
	/* line 1: written by producers */
	alignas(64) _Atomic uint64_t tail; /* next position to reserve (MPMC: a hint) */
	_Atomic uint64_t bytes_sent;       /* payload bytes committed (monitoring) */
	struct shmkit__lease_shared p_lease; /* F_LEASE: the producers' lease */
	uint64_t reserved1[5];
	/* line 2: written by consumers */
	alignas(64) _Atomic uint64_t head; /* next position to consume (MPMC: a hint) */
	_Atomic uint64_t skipped;          /* reservations of dead producers skipped */
	_Atomic uint64_t abandoned;        /* messages held by consumers that died, handed back */
	_Atomic uint64_t bytes_received;   /* payload bytes consumed (monitoring) */
	uint64_t reserved2[4];
	/* line 3: consumers waiting for data (written when one goes to sleep) */
	alignas(64) struct shmkit__ec_shared data_ec;
	uint64_t reserved3[7];
	/* line 4: producers waiting for space */
	alignas(64) struct shmkit__ec_shared space_ec;
	uint64_t reserved4[7];
	/* lines 5..68: MPMC peer table */
	struct shmkit__queue_peer peers[SHMKIT__QUEUE_PEERS];
	/* lines 69..84: pollable-descriptor listeners (shmkit_queue_fd) */
	struct shmkit__queue_listener listeners[SHMKIT__QUEUE_LISTENERS];
};
#define SHMKIT__QUEUE_SLOTS_OFF 5440u
_Static_assert(sizeof(struct shmkit__queue_shared) ==
		       320 + 64 * SHMKIT__QUEUE_PEERS + 64 * SHMKIT__QUEUE_LISTENERS,
	       "queue size");
_Static_assert(SHMKIT__QUEUE_SLOTS_OFF >= sizeof(struct shmkit__queue_shared), "queue slots off");
_Static_assert(SHMKIT__QUEUE_SLOTS_OFF % 64 == 0, "queue slots aligned");
_Static_assert(offsetof(struct shmkit__queue_shared, tail) == 64, "queue.tail");
_Static_assert(offsetof(struct shmkit__queue_shared, head) == 128, "queue.head");
_Static_assert(offsetof(struct shmkit__queue_shared, markers_off) == 24, "queue.markers_off");
_Static_assert(offsetof(struct shmkit__queue_shared, bytes_sent) == 72, "queue.bytes_sent");
_Static_assert(offsetof(struct shmkit__queue_shared, bytes_received) == 152, "queue.bytes_received");
_Static_assert(offsetof(struct shmkit__queue_shared, p_lease) == 80, "queue.p_lease");
_Static_assert(offsetof(struct shmkit__queue_shared, data_ec) == 192, "queue.data_ec");
_Static_assert(offsetof(struct shmkit__queue_shared, space_ec) == 256, "queue.space_ec");
_Static_assert(offsetof(struct shmkit__queue_shared, peers) == 320, "queue.peers");
_Static_assert(offsetof(struct shmkit__queue_shared, listeners) == 4416, "queue.listeners");

/* ======================================================================
 * Topic (kind SHMKIT_KIND_TOPIC): one publisher, many subscribers.
 * Body = struct shmkit__topic_shared, then max_subs subscriber entries,
 * then `slots` ring slots of slot_stride bytes. docs/LAYOUT.md "Topic".
 * ====================================================================== */

#define SHMKIT__TOPIC_MAGIC 0x31435042555354ull /* "TSUBPC1" little-endian */
#define SHMKIT__TOPIC_SLOT_HDR 16u            /* slot header before the message bytes */
#define SHMKIT__TOPIC_MAX_SUBS 4096u          /* hard cap on the subscriber table */

/* Publisher state word: (generation << 8) | one of these. */
enum shmkit__topic_pub_state {
	SHMKIT__PUB_NONE = 0,     /* no publisher yet (topic made without one) */
	SHMKIT__PUB_ACTIVE = 1,   /* act_ident (or pub_ident) names the publisher (maybe dead) */
	SHMKIT__PUB_CLOSED = 2,   /* the publisher closed the topic */
	SHMKIT__PUB_CLAIMING = 3, /* a publisher is writing its identity */
};

/* Subscriber entry state word: (generation << 8) | one of these. */
enum shmkit__topic_sub_state {
	SHMKIT__SUB_FREE = 0,
	SHMKIT__SUB_CLAIMING = 1, /* a joiner owns it and is filling it */
	SHMKIT__SUB_ACTIVE = 2,
};

struct shmkit__topic_shared {
	/* line 0: geometry, written once by the creator before READY */
	uint64_t magic;
	uint64_t slot_size;   /* largest message */
	uint64_t slots;       /* ring length */
	uint64_t slot_stride; /* SLOT_HDR + slot_size rounded by the stride rule of
			       * docs/LAYOUT.md "Topic" (older topics: round_up(.., 64)) */
	uint64_t subs_off;    /* subscriber table, from the body start */
	uint64_t ring_off;    /* ring, from the body start */
	uint32_t max_subs;
	uint32_t reliable;
	uint64_t body_size;   /* ring_off + slots * slot_stride */
	/* line 1: the publisher's (written per publish; subscribers read it on slow paths) */
	alignas(64) _Atomic uint64_t head;      /* messages published so far = next index */
	_Atomic uint64_t pub_state;             /* enum shmkit__topic_pub_state | gen << 8 */
	struct shmkit__ident pub_ident;         /* its claimer's, if ident_state says so */
	_Atomic uint64_t bytes_published;       /* payload bytes published (statistics only) */
	_Atomic uint64_t ident_state;           /* claim that wrote pub_ident (gen<<8: mid-write) */
	/* line 2: subscribers waiting for data (written only when one goes to sleep) */
	alignas(64) struct shmkit__ec_shared data_ec;
	_Atomic uint32_t n_subs;                 /* active subscribers (a hint for spinning) */
	_Atomic uint32_t lis_end;                /* entries below it may have a descriptor (wakers scan only those) */
	uint32_t reserved2[12];
	/* line 3: the publisher waiting for room (reliable topics) */
	alignas(64) struct shmkit__ec_shared space_ec;
	/* written once per publisher, after its CAS to ACTIVE: no claimer
	 * that lost its claim writes here (pub_ident it may) */
	_Atomic uint64_t act_state;             /* the ACTIVE pub_state whose act_ident this is; 0 while written */
	struct shmkit__ident act_ident;         /* the publisher that state names */
	uint32_t act_image;                     /* its image token (0: not recorded) */
	uint32_t reserved3[3];
};
_Static_assert(sizeof(struct shmkit__topic_shared) == 256, "topic_shared size");
_Static_assert(offsetof(struct shmkit__topic_shared, max_subs) == 48, "topic.max_subs");
_Static_assert(offsetof(struct shmkit__topic_shared, body_size) == 56, "topic.body_size");
_Static_assert(offsetof(struct shmkit__topic_shared, head) == 64, "topic.head");
_Static_assert(offsetof(struct shmkit__topic_shared, pub_state) == 72, "topic.pub_state");
_Static_assert(offsetof(struct shmkit__topic_shared, ident_state) == 120, "topic.ident_state");
_Static_assert(offsetof(struct shmkit__topic_shared, pub_ident) == 80, "topic.pub_ident");
_Static_assert(offsetof(struct shmkit__topic_shared, bytes_published) == 112, "topic.bytes_published");
_Static_assert(offsetof(struct shmkit__topic_shared, data_ec) == 128, "topic.data_ec");
_Static_assert(offsetof(struct shmkit__topic_shared, n_subs) == 136, "topic.n_subs");
_Static_assert(offsetof(struct shmkit__topic_shared, lis_end) == 140, "topic.lis_end");
_Static_assert(offsetof(struct shmkit__topic_shared, act_state) == 200, "topic.act_state");
_Static_assert(offsetof(struct shmkit__topic_shared, act_ident) == 208, "topic.act_ident");
_Static_assert(offsetof(struct shmkit__topic_shared, act_image) == 240, "topic.act_image");
_Static_assert(offsetof(struct shmkit__topic_shared, space_ec) == 192, "topic.space_ec");

/* One subscriber: two cache lines; the first is written by its owner per
 * message, the second only when it creates or arms its descriptor. */
struct shmkit__topic_sub_shared {
	_Atomic uint64_t state;        /* enum shmkit__topic_sub_state | gen << 8 */
	struct shmkit__ident ident;    /* the subscriber process */
	_Atomic uint64_t pos;          /* next message index it will read */
	_Atomic uint64_t dropped;      /* lossy: messages overwritten before it read them */
	_Atomic uint32_t sleeping;     /* 1 while it sleeps on data_ec (for `shmkit stat`) */
	uint32_t image;                /* its image token (0: not recorded) */
	struct shmkit__listener_shared listener; /* shmkit_sub_fd(); FREE without one */
	_Atomic uint64_t bytes_received;         /* payload bytes consumed (statistics only) */
	_Atomic uint64_t ident_state;            /* the CLAIMING state that wrote ident */
	/* the ACTIVE state its subscriber closed at while a process forked
	 * with the handle still held the descriptor (shmkit__topic_sub_gone) */
	_Atomic uint64_t left_state;
	uint64_t reserved2[4];
};
_Static_assert(sizeof(struct shmkit__topic_sub_shared) == 128, "topic_sub size");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, listener) == 64, "topic_sub.listener");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, bytes_received) == 72,
	       "topic_sub.bytes_received");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, ident) == 8, "topic_sub.ident");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, pos) == 40, "topic_sub.pos");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, dropped) == 48, "topic_sub.dropped");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, sleeping) == 56, "topic_sub.sleeping");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, image) == 60, "topic_sub.image");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, ident_state) == 80,
	       "topic_sub.ident_state");
_Static_assert(offsetof(struct shmkit__topic_sub_shared, left_state) == 88,
	       "topic_sub.left_state");

/* A ring slot's header; the message bytes follow at offset 16. seq is a
 * seqlock naming the message: 2*i+1 while message i is being written,
 * 2*i+2 once it is complete, 0 before the first. */
struct shmkit__topic_slot {
	_Atomic uint64_t seq;
	_Atomic uint64_t len;
};
_Static_assert(sizeof(struct shmkit__topic_slot) == SHMKIT__TOPIC_SLOT_HDR, "topic_slot size");
/* ======================================================================
 * Synchronization objects (include/shmkit/sync.h). Each is embedded in a
 * public opaque struct of fixed size (mutex 64 B, sem 16 B, event 16 B,
 * all 8-byte aligned); src/sync.h maps one onto the other.
 * ====================================================================== */

/* "SKM2": the futex-word mutex (src/mutex.c); "SKMX" was the glibc
 * pthread_mutex_t one, which a build of either refuses (-EBADMSG) rather than
 * misreading the other's bytes. */
#define SHMKIT__MUTEX_MAGIC 0x324d4b53u /* "SKM2" little-endian */
#define SHMKIT__SEM_MAGIC 0x4d534b53u   /* "SKSM" */
#define SHMKIT__EVENT_MAGIC 0x56454b53u /* "SKEV" */

/* Robust process-shared mutex (src/mutex.c): a futex word in the kernel's
 * robust-futex format (holder tid | FUTEX_WAITERS | FUTEX_OWNER_DIED; 0 free)
 * and, while held, the holder's entry in its thread's robust list. The entry
 * is where the holder's libc expects it (glibc's futex_offset): next at word
 * + 20 for i386, prev at word + 24 and next at word + 32 for x86-64; these
 * do not overlap, so 32- and 64-bit processes share one mutex. The entry holds
 * addresses in the holder's process; no other process follows them. Every
 * field is fixed-width and at the same offset on every ABI. */
#if UINTPTR_MAX > 0xffffffffu
#define SHMKIT__MUTEX_NEXT_OFF 32 /* from the word to the entry's next */
#define SHMKIT__MUTEX_HAVE_PREV 1 /* glibc's LP64 list is doubly linked */
#else
#define SHMKIT__MUTEX_NEXT_OFF 20
#define SHMKIT__MUTEX_HAVE_PREV 0
#endif
enum { SHMKIT__MUTEX_CONSISTENT = 0, SHMKIT__MUTEX_INCONSISTENT = 1, SHMKIT__MUTEX_NOTRECOVERABLE = 2 };
struct shmkit__mutex_shared {
	_Atomic uint32_t magic; /* 0: SHMKIT__MUTEX_MAGIC once initialized */
	_Atomic uint32_t state; /* 4: SHMKIT__MUTEX_CONSISTENT / INCONSISTENT / NOTRECOVERABLE */
	_Atomic uint32_t word;  /* 8: the futex word */
	/* 12: with word, one 64-bit value that every ownership change rewrites
	 * whole (src/mutex.c, "the holder's stamp"): the low 32 bits of the
	 * start time of the thread that took the word while it is off the
	 * kernel list; 0 none (on the list, unknown, or an older build) */
	uint32_t stamp;
	uint32_t stamp_tid;     /* 16: the tid that stamp's thread had; a filter only */
	uint32_t reserved1;     /* 20: zero */
	uint64_t links[5];      /* 24..63: the holder's robust-list entry (see above) */
};
_Static_assert(sizeof(struct shmkit__mutex_shared) == 64, "mutex size");
_Static_assert(offsetof(struct shmkit__mutex_shared, word) == 8, "mutex.word");
_Static_assert(offsetof(struct shmkit__mutex_shared, stamp) == 12, "mutex.stamp");
_Static_assert(offsetof(struct shmkit__mutex_shared, stamp_tid) == 16, "mutex.stamp_tid");
_Static_assert(offsetof(struct shmkit__mutex_shared, links) == 24, "mutex.links");
_Static_assert(8 + SHMKIT__MUTEX_NEXT_OFF - SHMKIT__MUTEX_HAVE_PREV * sizeof(void *) >= 24 &&
		       8 + SHMKIT__MUTEX_NEXT_OFF + sizeof(void *) <= 64,
	       "the robust-list entry lies inside links[]");

/* Counting semaphore: word = (count << 1) | waiters_bit. */
struct shmkit__sem_shared {
	_Atomic uint32_t word;  /* futex word */
	_Atomic uint32_t magic; /* SHMKIT__SEM_MAGIC once initialized */
	uint64_t reserved;      /* 0 */
};
_Static_assert(sizeof(struct shmkit__sem_shared) == 16, "sem size");
_Static_assert(offsetof(struct shmkit__sem_shared, magic) == 4, "sem.magic");

/* Futex eventcount: word = seq << 2 | FD (0 here) | SLEEP (src/sync/ec.h);
 * seq is 30 bits and wraps. docs/LAYOUT.md, "struct shmkit_event". */
struct shmkit__event_shared {
	_Atomic uint32_t word;  /* eventcount word: seq << 2 | 0 | SLEEP bit (src/sync/ec.h) */
	_Atomic uint32_t magic; /* SHMKIT__EVENT_MAGIC once initialized */
	uint64_t reserved;      /* 0 */
};
_Static_assert(sizeof(struct shmkit__event_shared) == 16, "event size");
_Static_assert(offsetof(struct shmkit__event_shared, magic) == 4, "event.magic");

/* ======================================================================
 * Heap (kind SHMKIT_KIND_HEAP, and the lower half of SHMKIT_KIND_MAP)
 *
 * The body (at SHMKIT__HEADER_SIZE) starts with struct shmkit__heap_shared;
 * then the live-start bitmap; then the arena: a contiguous run of blocks,
 * each starting with struct shmkit__heap_block. Every offset is from the
 * segment base. docs/LAYOUT.md, "Heap".
 * ====================================================================== */

#define SHMKIT__HEAP_MAGIC 0x3170616568746b73ull /* "sktheap1" little-endian */
#define SHMKIT__HEAP_VERSION 1u
#define SHMKIT__HEAP_ALIGN 16u      /* block and payload alignment */
#define SHMKIT__HEAP_MIN_BLOCK 32u  /* header + the two free-list links */
#define SHMKIT__HEAP_BINS 64u       /* 32 exact small classes + 32 power-of-two ranges */
#define SHMKIT__HEAP_SMALL_BINS 32u
#define SHMKIT__HEAP_NAMES 32u
#define SHMKIT__HEAP_NAME_MAX 48u   /* bytes including the NUL */
#define SHMKIT__HEAP_NAMED_BITS 256u /* the named-block filter's bits */

/* Block tags: a 24-bit magic and the state in the low byte. */
#define SHMKIT__BLOCK_MAGIC 0x4b4c4200u /* "\0BLK" */
#define SHMKIT__BLOCK_FREE 0x01u
#define SHMKIT__BLOCK_USED 0x02u
/* Freed into a process's magazine (src/heap_cache.c): still counted used and
 * its live bit still set, but no live allocation; the first 8 payload bytes
 * name the owning cache slot (SHMKIT__CACHE_OWNER). */
#define SHMKIT__BLOCK_CACHED 0x03u

/* Per-process block caches: one slot per heap handle that caches blocks. */
#define SHMKIT__HEAP_CACHES 64u
#define SHMKIT__CACHE_MAGIC 0x43414348u /* "HCAC" little-endian */
#define SHMKIT__CACHE_OWNER(slot, gen) \
	((uint64_t)SHMKIT__CACHE_MAGIC << 32 | (uint64_t)((gen) & 0xffffffu) << 8 | (uint64_t)(slot))
#define SHMKIT__CACHE_SLOT(owner) ((uint32_t)((owner) & 0xffu))
#define SHMKIT__CACHE_GEN(owner) ((uint32_t)((owner) >> 8) & 0xffffffu)
/* Slot word states (SHMKIT__WORD(pid, state, gen)); gen counts claims. */
#define SHMKIT__CACHE_FREE 0u
#define SHMKIT__CACHE_OWNED 1u

struct shmkit__heap_block {
	uint32_t tag;        /* SHMKIT__BLOCK_MAGIC | state */
	uint32_t prev_units; /* previous physical block's size / 16; 0 for the first block */
	uint64_t size;       /* whole block in bytes, header included; multiple of 16, >= 32 */
};
_Static_assert(sizeof(struct shmkit__heap_block) == 16, "heap block header");

/* Only in free blocks, right after the header: the bin's doubly linked list. */
struct shmkit__heap_links {
	uint64_t next; /* next free block in the same bin, 0 = end */
	uint64_t prev; /* previous one, 0 = this is the bin head */
};
_Static_assert(sizeof(struct shmkit__heap_links) == 16, "heap links");

/* Heap journal: the block an alloc/free is working on, recorded before the
 * first mutation and cleared after the last; or a rebuild of the derived
 * state (many stores) in progress. */
enum shmkit__heap_op {
	SHMKIT__HOP_NONE = 0,
	SHMKIT__HOP_ALLOC = 1,   /* rolled back by recovery: the block becomes free */
	SHMKIT__HOP_FREE = 2,    /* rolled forward by recovery: the block becomes free */
	SHMKIT__HOP_REBUILD = 3, /* redone by recovery (block unused) */
};

/* Object journal: operations of the layers above the heap (named objects,
 * the map), each holding the heap lock across several heap calls. */
enum shmkit__obj_op {
	SHMKIT__OOP_NONE = 0,
	SHMKIT__OOP_NAMED = 1,   /* a = block being created; free it unless a name points at it */
	SHMKIT__OOP_MAP_PUT = 2, /* a = bucket, b = new entry, c = replaced entry */
	SHMKIT__OOP_MAP_DEL = 3, /* a = bucket, c = removed entry */
};

struct shmkit__heap_journal {
	uint32_t op;      /* enum shmkit__heap_op */
	uint32_t reserved;
	uint64_t block;   /* offset of the block */
};
_Static_assert(sizeof(struct shmkit__heap_journal) == 16, "heap journal");

struct shmkit__obj_journal {
	uint32_t op;      /* enum shmkit__obj_op */
	uint32_t reserved;
	uint64_t a, b, c; /* operands, see enum shmkit__obj_op */
};
_Static_assert(sizeof(struct shmkit__obj_journal) == 32, "object journal");

struct shmkit__heap_name {
	char name[SHMKIT__HEAP_NAME_MAX]; /* NUL-terminated; "" = free entry */
	uint64_t size;                    /* bytes asked for */
	uint64_t off;                     /* payload offset; stored last (publishes the entry) */
};
_Static_assert(sizeof(struct shmkit__heap_name) == 64, "heap name");

/* A cache slot: written only under the heap lock (claim, release, reclaim
 * of a dead owner's blocks). */
struct shmkit__heap_cache_slot {
	uint64_t word;               /* SHMKIT__WORD(pid, SHMKIT__CACHE_*, gen) */
	uint64_t image;              /* claimant's image token (low 32 bits); 0: older build */
	struct shmkit__ident owner;  /* who holds it: pid + start time + boot */
};
_Static_assert(sizeof(struct shmkit__heap_cache_slot) == 48, "heap cache slot");

struct shmkit__heap_shared {
	uint64_t magic;          /* SHMKIT__HEAP_MAGIC */
	uint32_t version;        /* SHMKIT__HEAP_VERSION */
	uint32_t nbins;          /* SHMKIT__HEAP_BINS */
	uint64_t seg_size;       /* segment bytes this heap was laid out for */
	uint64_t bitmap_off;     /* one bit per 16 bytes of arena: 1 = a live allocation's header */
	uint64_t arena_off;      /* first block */
	uint64_t arena_end;      /* one past the last block */
	uint64_t root;           /* for the layer above (the map's header); 0 = none */
	/* Which boot last used the lock: a 64-bit digest of the boot id (never
	 * 0 or 1), 1 while a process re-initializes the lock after a reboot, 0
	 * unknown. A lock held by a process of another boot is abandoned. */
	_Atomic uint64_t boot_tag;
	struct shmkit_mutex lock; /* robust; guards everything below and the arena */
	struct shmkit__heap_journal hj;
	struct shmkit__obj_journal oj;
	uint64_t nonempty;       /* bit i set iff bins[i] != 0 */
	uint64_t bins[SHMKIT__HEAP_BINS];
	uint64_t used_bytes;     /* sum of used block sizes (headers included) */
	uint64_t free_bytes;     /* sum of free block sizes */
	uint64_t n_used;         /* live allocations */
	uint64_t n_free;         /* free blocks */
	/* Bit (off / 16) % 256 set for the payload offset of every named block
	 * (a filter, false positives allowed): a free that hits a set bit takes
	 * the locked path, which removes the name (src/heap.c, named_free). */
	uint64_t named_bits[SHMKIT__HEAP_NAMED_BITS / 64];
	uint64_t reserved1[1];
	struct shmkit__heap_name names[SHMKIT__HEAP_NAMES];
	struct shmkit__heap_cache_slot caches[SHMKIT__HEAP_CACHES];
};
_Static_assert(offsetof(struct shmkit__heap_shared, boot_tag) == 56, "heap.boot_tag");
_Static_assert(offsetof(struct shmkit__heap_shared, lock) == 64, "heap.lock");
_Static_assert(offsetof(struct shmkit__heap_shared, hj) == 128, "heap.hj");
_Static_assert(offsetof(struct shmkit__heap_shared, oj) == 144, "heap.oj");
_Static_assert(offsetof(struct shmkit__heap_shared, nonempty) == 176, "heap.nonempty");
_Static_assert(offsetof(struct shmkit__heap_shared, bins) == 184, "heap.bins");
_Static_assert(offsetof(struct shmkit__heap_shared, named_bits) == 728, "heap.named_bits");
_Static_assert(offsetof(struct shmkit__heap_shared, names) == 768, "heap.names");
_Static_assert(offsetof(struct shmkit__heap_shared, caches) == 2816, "heap.caches");
_Static_assert(sizeof(struct shmkit__heap_shared) == 5888, "heap shared size");

/* ======================================================================
 * Map (kind SHMKIT_KIND_MAP): a heap whose root is struct shmkit__map_shared.
 * docs/LAYOUT.md, "Map".
 * ====================================================================== */

#define SHMKIT__MAP_MAGIC 0x3170616d74746b73ull /* "skttmap1" little-endian */
#define SHMKIT__MAP_VERSION 2u
#define SHMKIT__MAP_STRIPES 1024u /* seqlock stripes: bucket i uses seq[i % STRIPES] */
#define SHMKIT__MAP_INLINE 40u    /* key + value bytes a bucket holds itself */
#define SHMKIT__MAP_NONE 0xffffffffu /* bucket.klen: no pair in the bucket */

/* One bucket, one cache line: a small pair lives in the bucket itself (a
 * get is one cache miss), anything else in the chain of heap entries. */
struct shmkit__map_bucket {
	_Atomic uint64_t chain; /* first entry of the overflow chain, 0 = none */
	uint64_t hash;          /* the inline pair's hash */
	uint32_t klen;          /* the inline pair's key bytes; SHMKIT__MAP_NONE = none */
	uint32_t vlen;
	uint8_t data[SHMKIT__MAP_INLINE]; /* key bytes, then value bytes */
};
_Static_assert(sizeof(struct shmkit__map_bucket) == 64, "map bucket");
_Static_assert(offsetof(struct shmkit__map_bucket, data) == 24, "map bucket data");

struct shmkit__map_shared {
	uint64_t magic;          /* SHMKIT__MAP_MAGIC */
	uint32_t version;        /* SHMKIT__MAP_VERSION */
	uint32_t saved_state;    /* 1: `saved` is bucket saved_index as it was before this write */
	uint64_t nbuckets;       /* power of two */
	uint64_t buckets_off;    /* 64-aligned: nbuckets x struct shmkit__map_bucket */
	uint64_t seed;           /* hash seed chosen at create */
	_Atomic uint64_t count;  /* live keys */
	uint64_t buckets_block;  /* payload offset of the heap block holding the buckets */
	uint64_t saved_index;
	struct shmkit__map_bucket saved; /* undo copy for in-place bucket writes */
	_Atomic uint64_t seq[SHMKIT__MAP_STRIPES]; /* even = stable, odd = writer publishing */
};
_Static_assert(offsetof(struct shmkit__map_shared, saved_state) == 12, "map.saved_state");
_Static_assert(offsetof(struct shmkit__map_shared, count) == 40, "map.count");
_Static_assert(offsetof(struct shmkit__map_shared, saved) == 64, "map.saved");
_Static_assert(offsetof(struct shmkit__map_shared, seq) == 128, "map.seq");

/* One key/value pair: a heap block's payload. Written whole before it is
 * published by one 8-byte store of its offset. */
struct shmkit__map_entry {
	_Atomic uint64_t next;   /* next entry in the chain, 0 = end */
	uint64_t hash;
	uint32_t klen;
	uint32_t vlen;
	/* key bytes, then value bytes */
};
_Static_assert(sizeof(struct shmkit__map_entry) == 24, "map entry");

#endif
