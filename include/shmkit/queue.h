/* shmkit — bounded message queue in shared memory (SPSC and MPMC), copy and
 * zero-copy, with blocking waits. See shmkit_queue(3). */
#ifndef SHMKIT_QUEUE_H
#define SHMKIT_QUEUE_H

#include <shmkit/common.h>

SHMKIT_BEGIN_DECLS

struct shmkit_queue;

struct shmkit_queue_opts {
	size_t capacity;    /* number of messages the queue holds */
	size_t max_msg;     /* largest message in bytes */
	int multi_producer;
	int multi_consumer;
	unsigned mode;      /* permission bits; 0 = 0600 */
};

SHMKIT_API int shmkit_queue_create(struct shmkit_queue **q, const char *uri,
				   const struct shmkit_queue_opts *o);
SHMKIT_API int shmkit_queue_open(struct shmkit_queue **q, const char *uri);
SHMKIT_API int shmkit_queue_send(struct shmkit_queue *q, const void *msg, size_t len, int64_t timeout_ns);
SHMKIT_API ssize_t shmkit_queue_recv(struct shmkit_queue *q, void *buf, size_t cap, int64_t timeout_ns);
SHMKIT_API int shmkit_queue_reserve(struct shmkit_queue *q, size_t len, void **slot, int64_t timeout_ns);
SHMKIT_API int shmkit_queue_commit(struct shmkit_queue *q, void *slot, size_t len);
SHMKIT_API ssize_t shmkit_queue_peek(struct shmkit_queue *q, const void **msg, int64_t timeout_ns);
SHMKIT_API int shmkit_queue_consume(struct shmkit_queue *q);
SHMKIT_API int shmkit_queue_close(struct shmkit_queue *q);

SHMKIT_END_DECLS

#endif
