/* SPDX-License-Identifier: MIT */
/* libshmkit-bridge internals: the handle, the wire format (docs/BRIDGE.md),
 * and the four carriers (queue out/in, topic out/in). */
#ifndef SHMKIT_BRIDGE_INTERNAL_H
#define SHMKIT_BRIDGE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <shmkit.h>
#include <zmq.h>
#include <shmkit/bridge.h>

/* ---- wire (queues only; topics carry the bare message bytes) ---- */
#define BR_MAGIC0 'S'
#define BR_MAGIC1 'K'
#define BR_MAGIC2 'B'
#define BR_VERSION 1
#define BR_HDR 16        /* header frame bytes */
#define BR_HELLO_BODY 24 /* stream id 16, max_msg u32, reserved u32 */

enum br_type {
	BR_HELLO = 'H',   /* out -> in: seq = the sender's next unconsumed message */
	BR_WELCOME = 'W', /* in -> out: seq = next sequence expected */
	BR_DATA = 'D',    /* out -> in: seq, then one frame with the message bytes */
	BR_ACK = 'A',     /* in -> out: every seq below this one is committed */
	BR_NACK = 'N',    /* in -> out: dropped an out-of-order message; resend from seq */
	BR_RESYNC = 'R',  /* in -> out: data before any hello: say hello */
	BR_BATCH = 'B',   /* out -> in: seq of the first, then one frame of records
			   * (u32 length, bytes) for seq, seq + 1, ... (WELCOME_BATCHES) */
	BR_PING = 'P',    /* out -> in: seq = acked; "still here" while idle */
	BR_REFUSED = 'X', /* in -> out: this receiver carries another sender's stream */
};

/* HELLO body, u32 at offset 20: flags. */
#define BR_HELLO_ASKS_ACKS 1u /* the sender marks the DATA/BATCH it needs an ACK for
			       * (BR_HDR_ACK_NOW); the receiver may hold back other ACKs */
/* Header byte 5 of a DATA or BATCH: flags. */
#define BR_HDR_ACK_NOW 1u     /* ACK once this is committed: half the window is in flight */

/* WELCOME's optional body: u32 flags. */
#define BR_WELCOME_BATCHES 1u /* the receiver accepts BATCH */
#define BR_BATCH_MSGS 256      /* at most this many messages per BATCH sent */
#define BR_BATCH_BYTES 65536   /* ... and at most this many bytes, lengths included */
/* The longest BATCH frame a receiver takes: BR_BATCH_BYTES of messages plus
 * their u32 lengths, so a peer that reads "64 KiB" as the messages' bytes
 * alone is not dropped (ZMQ_MAXMSGSIZE) and resent to for ever. */
#define BR_BATCH_FRAME_MAX (BR_BATCH_BYTES + 4 * BR_BATCH_MSGS)
#define BR_ZEROCOPY_MIN 8192   /* a message this long goes alone, read in place (DATA) */

/* WELCOME's body, u32 at offset 4 (optional): the receiving queue's max_msg. */
#define BR_WELCOME_BODY 8
/* REFUSED's optional body: u32 reason. */
#define BR_REFUSED_STREAM 1   /* another sender's stream is live here */
#define BR_REFUSED_TOO_LONG 2 /* a message longer than the receiving queue takes */
/* Longest frame a queue OUT side reads (replies are a header and a few
 * bytes; a longer frame drops the connection, in ZeroMQ, before it is
 * allocated), and the least a topic IN side reads. */
#define BR_REPLY_MAX 4096
#define BR_TOPIC_FRAME_MIN 65536
/* The topic OUT side (PUB) reads only subscriptions: longer is hostile. */
#define BR_SUBSCRIPTION_MAX 4096

void br_hdr_put(unsigned char h[BR_HDR], enum br_type t, uint64_t seq);
/* 0 and the fields if h is a well-formed header of n bytes, else -EBADMSG. */
int br_hdr_get(const unsigned char *h, size_t n, enum br_type *t, uint64_t *seq);

/* What a receiver (queue IN) makes of one message from a peer: its header
 * and, if has_body, its first body frame (docs/BRIDGE.md, "Malformed
 * messages"). Pure: the fuzz harness (tests/fuzz/fuzz_bridge.c) calls it. */
struct br_in_msg {
	enum br_type t;
	uint64_t seq;
	unsigned flags;  /* header byte 5 */
	size_t records;  /* DATA: 1; BATCH: how many records its body holds */
	size_t longest;  /* the longest record's length */
};
/* 0 and m filled, or a static reason why the message is ignored. */
const char *br_in_parse(const unsigned char *hdr, size_t hdrlen, const unsigned char *body,
			size_t bodylen, bool has_body, struct br_in_msg *m);
/* Record i of a body br_in_parse accepted, from byte *off: its bytes and
 * length; *off moves past it. */
const unsigned char *br_batch_next(const unsigned char *body, bool batch, size_t bodylen,
				   size_t *off, size_t *len);

/* A BATCH body of k messages: each a u32 length, then its bytes (4 + len
 * bytes each, back to back, at p). */
void br_batch_put(unsigned char *p, const struct iovec *iov, size_t k);

/* A record file's 64 bytes (record.c), parsed: 0, or -EBADMSG and a static
 * reason. Pure, for the fuzz harness too. */
int br_record_parse(const unsigned char *r, size_t n, unsigned char stream[16],
		    unsigned char queue_id[16], uint64_t *base_seq, uint64_t *base_pos,
		    const char **why);
void br_put64(unsigned char *p, uint64_t v);
uint64_t br_get64(const unsigned char *p);
void br_put32(unsigned char *p, uint32_t v);
uint32_t br_get32(const unsigned char *p);

/* One whole ZeroMQ message as the ROUTER hands it: identity, header, body. */
struct br_frames {
	unsigned char id[256];
	size_t idlen;
	unsigned char hdr[BR_HDR + 1];
	int hdrlen;
	zmq_msg_t body; /* valid while has_body */
	bool has_body;
	bool batch;     /* body is BATCH records, else one DATA message */
	size_t off;     /* next record in body not yet handled */
	uint64_t seq;   /* its sequence number */
	size_t left;    /* records from off on */
	size_t extra;   /* frames past the body, skipped */
};

#define BR_LOG_PER_S 40
#define BR_PEERS_MAX 16 /* a bound queue sender's connections tracked by descriptor */
#define BR_LOG_PER_KEY 2
#define BR_LOG_KEYS 16

/* ---- the handle ---- */
struct shmkit_bridge {
	int kind; /* SHMKIT_KIND_QUEUE / _TOPIC */
	int dir;
	void *ctx;
	void *sock;
	void *mon;           /* the socket's monitor (PAIR): link events (link.c) */
	char *endpoint;      /* what the socket binds or connects to (again) */
	int64_t link_checked; /* monotonic ns */
	bool binds;
	unsigned obj_mode;   /* the local object's permission bits (an ipc socket gets them) */
	bool ipc_file;       /* bound ipc://PATH: the socket file made, by identity */
	dev_t ipc_dev;
	ino_t ipc_ino;
	bool link_up;        /* a handshake succeeded since the last connect */
	int64_t retry_since; /* monotonic ns of the first retry since the last connection */
	bool retry_said;     /* "nothing answers" logged since then */
	bool handshake_said; /* a failed handshake logged since the last success */
	bool crowded;        /* a bound queue sender with two receivers or more: sends nothing */
	unsigned peers;      /* ... its connections: tracked by descriptor */
	uint32_t peer_fd[BR_PEERS_MAX];
	unsigned peers_extra; /* ... and past the table, counted only */
	struct shmkit_queue *q;
	struct shmkit_sub *sub;
	struct shmkit_pub *pub;
	size_t max_msg;
	int local_fd;        /* readable while the local queue/topic has a message; -1 none */
	bool pub_gone;       /* topic out: the local publisher closed (its fd stays readable) */
	zmq_msg_t pending;   /* topic out: a message the link had no room for
			      * (initialized, empty unless has_pending) */
	bool has_pending;
	bool subscribed;     /* topic out: the XPUB has passed up a subscription */
	void (*log)(void *arg, const char *line); /* opts: what peers sent that was refused */
	void *log_arg;
	int64_t log_window;  /* monotonic ns: start of this second's lines */
	unsigned log_lines;  /* lines this second */
	const void *log_keys[BR_LOG_KEYS]; /* the kinds of line written this second */
	unsigned log_per_key[BR_LOG_KEYS];
	uint64_t log_quiet;  /* lines left out since the last one written */
	int timeo_ms[2];     /* the socket's ZMQ_SNDTIMEO, ZMQ_RCVTIMEO as last set (-1: ZeroMQ's default) */
	_Atomic int stop;
	struct shmkit_bridge_stats st;
	/* queue out */
	unsigned window;
	uint64_t acked;      /* == the local queue's consumed count: next seq to be acked */
	uint64_t next_send;  /* next seq to put on the wire */
	uint64_t sent_end;   /* one past the highest seq this process put on the wire */
	uint64_t peer_max;   /* the receiving queue's max_msg (its WELCOME); 0 unknown */
	bool synced;         /* a WELCOME arrived since the last (re)start of the handshake */
	bool batches;        /* that WELCOME said BATCH is understood */
	uint64_t ask_ack_at; /* in flight from which a DATA/BATCH carries BR_HDR_ACK_NOW */
	int64_t last_sent;   /* monotonic ns of the last message sent (PING when idle) */
	int64_t last_hello;  /* monotonic ns */
	int64_t last_progress;
	unsigned char stream[16];
	/* queue in */
	char *state_path;
	unsigned char in_stream[16]; /* stream of the record */
	unsigned char in_queue_id[16];
	bool have_record;
	bool peer_synced;    /* a HELLO arrived since this process started */
	uint64_t base_seq, base_pos;
	uint64_t last_nack;
	unsigned char peer_id[256];
	size_t peer_id_len;
	unsigned char stream_peer[256]; /* routing id of the stream's sender */
	size_t stream_peer_len;
	int64_t stream_seen;   /* monotonic ns it was last heard from; 0 never */
	uint64_t since_ack;    /* messages committed since the last ACK */
	bool acks_asked;       /* the stream's sender marks what it needs acked (HELLO) */
	bool ack_due;          /* ACK at the end of this pass */
	struct br_frames held; /* a DATA/BATCH that waits for room in the queue */
	bool holding;
	struct iovec iov[BR_BATCH_MSGS]; /* messages of one BATCH, sent or committed */
};

int64_t br_now_ns(void);
/* One line to the opts' log (if any), at most BR_LOG_PER_KEY per second of
 * each kind (key: a static string; NULL: fmt itself) and BR_LOG_PER_S in
 * all, so a flood of one kind hides no other; the next line written then
 * says how many were left out. */
void br_logk(struct shmkit_bridge *b, const void *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define br_log(b, ...) br_logk(b, NULL, __VA_ARGS__)
/* A routing id as printable text (hex), for log lines. */
const char *br_peer_name(const unsigned char *id, size_t n, char *buf, size_t cap);
/* Incarnation id of the segment under a handle's object: uri, inode, ids. */
int br_object_id(struct shmkit_seg *seg, unsigned char id[16]);

/* The link (link.c). Resolve a TCP endpoint's host before connecting:
 * -EHOSTUNREACH (and a log line) for a name that does not exist. */
int br_link_resolve(struct shmkit_bridge *b, const char *endpoint);
/* Start the socket's monitor: the events br_link_check reads. */
int br_link_watch(struct shmkit_bridge *b, const char *endpoint, bool bind);
/* Read the monitor (at most every 100 ms): log what the link did, count a
 * bound queue sender's receivers, connect again after a disconnection. */
int br_link_check(struct shmkit_bridge *b);
/* Whether a peer is connected (as the monitor last told): a bound socket's
 * connections, or a connecting one's link up. */
bool br_link_has_peer(const struct shmkit_bridge *b);

/* One pass: do what can be done without waiting for up to slice_ns.
 * Returns 0 or a negative errno that ends the run. */
int br_queue_out_step(struct shmkit_bridge *b, int64_t slice_ns);
int br_queue_out_start(struct shmkit_bridge *b);
int br_queue_in_step(struct shmkit_bridge *b, int64_t slice_ns);
int br_queue_in_start(struct shmkit_bridge *b);
int br_topic_out_step(struct shmkit_bridge *b, int64_t slice_ns);
int br_topic_in_step(struct shmkit_bridge *b, int64_t slice_ns);

/* queue in: the persistent record (record.c) */
int br_record_load(struct shmkit_bridge *b);
int br_record_store(struct shmkit_bridge *b);
/* Default record path for a queue URI (*path malloc'd), under $XDG_STATE_HOME
 * or ~/.local/state, its directories made; 0, or a negative errno, logged
 * (no HOME, a directory that cannot be made). */
int br_record_default_path(struct shmkit_bridge *b, const char *uri, char **path);

/* Set the socket's ZMQ_SNDTIMEO or ZMQ_RCVTIMEO to slice_ns (rounded up to
 * ms; 0: do not wait), unless it already is. 0 or a negative errno. */
int br_set_timeout(struct shmkit_bridge *b, int opt, int64_t slice_ns);
/* Wait until the socket is readable, or fd (a local object's descriptor,
 * DESIGN §9) is, or slice_ns passes: 1 the socket is readable, 0 not, <0 error. */
int br_wait_both(struct shmkit_bridge *b, int fd, int64_t slice_ns);

#endif
