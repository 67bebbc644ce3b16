/* SPDX-License-Identifier: MIT */
/* shmkit — bounded message queue in shared memory (SPSC and MPMC), copy and
 * zero-copy, with blocking waits. See shmkit_queue(3). */
#ifndef SHMKIT_QUEUE_H
#define SHMKIT_QUEUE_H

#include <shmkit/common.h>
/* SHMKIT_PERSIST for shmkit_queue_opts.mode; shmkit_remove (<shmkit/seg.h>) */
#include <shmkit/managed.h>

#include <sys/uio.h>

SHMKIT_BEGIN_DECLS

struct shmkit_queue;
struct shmkit_seg;

struct shmkit_queue_opts {
	size_t capacity;    /* number of messages the queue holds */
	size_t max_msg;     /* largest message in bytes */
	int multi_producer;
	int multi_consumer;
	unsigned mode;      /* permission bits; 0 = 0600 */
	uint64_t reserved[6]; /* zero: room for options added later (shmkit(3), STRUCTS THAT GROW) */
};

SHMKIT_API int shmkit_queue_create(struct shmkit_queue **q, const char *uri,
				   const struct shmkit_queue_opts *o);
SHMKIT_API int shmkit_queue_open(struct shmkit_queue **q, const char *uri);
SHMKIT_API int shmkit_queue_send(struct shmkit_queue *q, const void *msg, size_t len, int64_t timeout_ns);
SHMKIT_API ssize_t shmkit_queue_recv(struct shmkit_queue *q, void *buf, size_t cap, int64_t timeout_ns);
/* Batches (DESIGN §9): send as many of msgs[0..n) as fit (waiting up to
 * timeout_ns for the first), or receive up to n messages (each iov_len set
 * to its length), publishing the shared index and waking once per batch.
 * Return how many (>= 1) or a negative errno; a message that does not fit
 * (max_msg, or its buffer) ends the batch before it. */
SHMKIT_API ssize_t shmkit_queue_send_many(struct shmkit_queue *q, const struct iovec *msgs, size_t n,
					  int64_t timeout_ns);
SHMKIT_API ssize_t shmkit_queue_recv_many(struct shmkit_queue *q, struct iovec *bufs, size_t n,
					  int64_t timeout_ns);
SHMKIT_API int shmkit_queue_reserve(struct shmkit_queue *q, size_t len, void **slot, int64_t timeout_ns);
SHMKIT_API int shmkit_queue_commit(struct shmkit_queue *q, void *slot, size_t len);
SHMKIT_API ssize_t shmkit_queue_peek(struct shmkit_queue *q, const void **msg, int64_t timeout_ns);
SHMKIT_API int shmkit_queue_consume(struct shmkit_queue *q);
/* Zero-copy look ahead, single-consumer, single-producer queues only: points
 * *msg at the i-th waiting message (0 = the next one) and returns its length,
 * without claiming or consuming anything and without waiting. -EAGAIN if
 * fewer than i + 1 messages wait, -EOPNOTSUPP on a multi-producer or
 * multi-consumer queue. The bytes stay in place until this consumer consumes
 * past them (peek + consume, or recv). */
SHMKIT_API ssize_t shmkit_queue_peek_at(struct shmkit_queue *q, size_t i, const void **msg);
SHMKIT_API int shmkit_queue_close(struct shmkit_queue *q);

/* A snapshot of a queue's state and counters (shmkit_queue_stats). */
struct shmkit_queue_stats {
	uint64_t capacity;   /* messages the queue holds (a power of two) */
	uint64_t max_msg;    /* largest message in bytes */
	uint64_t depth;      /* messages waiting (approximate while others run) */
	uint64_t sent;       /* messages committed since creation */
	uint64_t received;   /* messages consumed since creation */
	uint64_t skipped;    /* reservations of producers that died before commit */
	uint64_t abandoned;  /* messages held by consumers that died, handed back to be
			      * received again (MPMC) */
	uint32_t waiters;    /* recv_waiters + send_waiters */
	uint32_t recv_waiters; /* 1 if receivers sleep on the futex, + armed receive descriptors */
	uint32_t send_waiters; /* the same for senders */
	int multi_producer;
	int multi_consumer;
	uint64_t bytes_sent;     /* payload bytes committed since creation (for monitoring: a */
	uint64_t bytes_received; /* peer killed mid-operation may leave one message uncounted) */
	uint64_t reserved[6]; /* zeroed by shmkit: room for fields added later (shmkit(3), STRUCTS THAT GROW) */
};

/* Fill *st from the queue's shared counters. Never blocks. */
SHMKIT_API int shmkit_queue_stats(struct shmkit_queue *q, struct shmkit_queue_stats *st);
/* The same snapshot of the queue at uri, taken without opening it: a look
 * (read-only mapping; no attach slot, no role, nothing written or repaired,
 * so looking changes no byte). System V is read through a process that has
 * it attached, never attached to look: -ENODATA when there is none.
 * -EBADMSG if uri is not a queue, -EAGAIN while its creator initializes it. */
SHMKIT_API int shmkit_queue_stat(const char *uri, struct shmkit_queue_stats *st);

/* How long this handle spins before sleeping on a futex when it must wait:
 * 0 = sleep at once, SHMKIT_FOREVER = never sleep (busy-poll), default 20 us
 * (longer for a large max_msg: the time writing one takes, shmkit_queue(3)). */
SHMKIT_API int shmkit_queue_set_spin(struct shmkit_queue *q, int64_t spin_ns);

/* A descriptor for poll/select/epoll (level-triggered), owned by the handle
 * (closed by shmkit_queue_close, close-on-exec): readable while a receive
 * with timeout 0 would not return -EAGAIN (a spurious readiness is possible;
 * the receive then says -EAGAIN and the readiness clears). Made on the first
 * call, the same one after. -ENOSPC: the queue's 16 descriptors are taken. */
SHMKIT_API int shmkit_queue_fd(struct shmkit_queue *q);
/* The producer's counterpart: readable while a send with timeout 0 would
 * not return -EAGAIN (room for a message). */
SHMKIT_API int shmkit_queue_send_fd(struct shmkit_queue *q);

/* The queue's segment (to pass it with shmkit_seg_send(), or for shmkit_seg_stat()). */
SHMKIT_API struct shmkit_seg *shmkit_queue_seg(struct shmkit_queue *q);

SHMKIT_END_DECLS

#endif
