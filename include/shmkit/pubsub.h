/* SPDX-License-Identifier: MIT */
/* shmkit — one-to-many broadcast topic: one publisher, many subscribers,
 * zero-copy, lossy or reliable. See shmkit_pubsub(3). */
#ifndef SHMKIT_PUBSUB_H
#define SHMKIT_PUBSUB_H

#include <shmkit/common.h>
/* SHMKIT_PERSIST for shmkit_topic_opts.mode; shmkit_remove (<shmkit/seg.h>) */
#include <shmkit/managed.h>

SHMKIT_BEGIN_DECLS

struct shmkit_pub;
struct shmkit_sub;

struct shmkit_topic_opts {
	size_t slot_size;   /* largest message in bytes */
	size_t slots;       /* ring length in messages */
	int reliable;       /* 1: publisher waits for the slowest live subscriber */
	unsigned mode;      /* permission bits; 0 = 0600 */
	unsigned max_subs;  /* subscriber table size; 0 = SHMKIT_TOPIC_DEFAULT_SUBS */
	uint64_t reserved[6]; /* zero: room for options added later (shmkit(3), STRUCTS THAT GROW) */
};

/* Subscriber table size when shmkit_topic_opts.max_subs is 0. */
#define SHMKIT_TOPIC_DEFAULT_SUBS 64
/* A subscriber killed while it holds a reliable publisher back stops holding
 * it back within this many milliseconds of the publisher starting to wait
 * (plus the time to read /proc and get scheduled). Likewise a subscriber
 * waiting on a publisher that died sees -EPIPE within this bound. */
#define SHMKIT_TOPIC_LIVENESS_MS 10

SHMKIT_API int shmkit_pub_create(struct shmkit_pub **p, const char *uri, const struct shmkit_topic_opts *o);
SHMKIT_API int shmkit_pub_loan(struct shmkit_pub *p, size_t len, void **buf, int64_t timeout_ns);
SHMKIT_API int shmkit_pub_publish(struct shmkit_pub *p, void *buf, size_t len);
SHMKIT_API int shmkit_pub_send(struct shmkit_pub *p, const void *msg, size_t len, int64_t timeout_ns);
SHMKIT_API int shmkit_sub_open(struct shmkit_sub **s, const char *uri);
SHMKIT_API ssize_t shmkit_sub_recv(struct shmkit_sub *s, void *buf, size_t cap, int64_t timeout_ns);
SHMKIT_API uint64_t shmkit_sub_dropped(const struct shmkit_sub *s);
SHMKIT_API int shmkit_pub_close(struct shmkit_pub *p);
SHMKIT_API int shmkit_sub_close(struct shmkit_sub *s);

/* Creates a topic with no publisher (shmkit_pub_open attaches one later);
 * subscribers may join and wait meanwhile. */
SHMKIT_API int shmkit_topic_create(const char *uri, const struct shmkit_topic_opts *o);
/* Becomes the publisher of an existing topic: -EBUSY while a live publisher
 * holds it; takes over from one that closed it or died. */
SHMKIT_API int shmkit_pub_open(struct shmkit_pub **p, const char *uri);
/* Messages published on this topic so far (the next message's index). */
SHMKIT_API uint64_t shmkit_pub_published(const struct shmkit_pub *p);

/* Zero-copy read: points *msg at the next message inside the ring and returns
 * its length, without consuming it. On a lossy topic the publisher may
 * overwrite the bytes while they are read: shmkit_sub_release() then returns
 * -ESTALE (the message counts as dropped) and whatever was read must be
 * discarded. Calling peek again before release returns the same message. */
SHMKIT_API ssize_t shmkit_sub_peek(struct shmkit_sub *s, const void **msg, int64_t timeout_ns);
/* Consumes the peeked message: 0 if its bytes were intact for the whole
 * read, -ESTALE if it was overwritten meanwhile, -EINVAL if none is peeked. */
SHMKIT_API int shmkit_sub_release(struct shmkit_sub *s);
/* Index of the next message this subscriber will read. */
SHMKIT_API uint64_t shmkit_sub_position(const struct shmkit_sub *s);
/* A descriptor for poll/select/epoll (level-triggered), owned by the handle
 * (closed by shmkit_sub_close, close-on-exec): readable while a receive with
 * timeout 0 would not return -EAGAIN: a message waits, or the publisher
 * closed or died (-EPIPE). A spurious readiness is possible (the receive then says
 * -EAGAIN and the readiness clears). Made on the first call. */
SHMKIT_API int shmkit_sub_fd(struct shmkit_sub *s);

/* What shmkit_topic_stat() reports. */
enum { SHMKIT_TOPIC_PUB_NONE = 0, SHMKIT_TOPIC_PUB_ACTIVE = 1, SHMKIT_TOPIC_PUB_CLOSED = 2 };
struct shmkit_topic_sub_info {
	pid_t pid;
	int alive;            /* SHMKIT_ALIVE_*: 1 alive, 0 dead, negative errno: cannot tell */
	uint64_t position;    /* next message index it will read */
	uint64_t dropped;
	int sleeping;
	uint64_t bytes_received; /* payload bytes it consumed since it joined (lost ones not counted) */
	uint64_t reserved[3]; /* zeroed by shmkit: room for fields added later (shmkit(3), STRUCTS THAT GROW) */
};
struct shmkit_topic_info {
	size_t slot_size;
	size_t slots;
	int reliable;
	unsigned max_subs;
	uint64_t published;
	int pub_state;        /* SHMKIT_TOPIC_PUB_* */
	pid_t pub_pid;
	int pub_alive;        /* 1 alive, 0 dead, negative errno: cannot tell (-ENOENT: no publisher) */
	unsigned n_subs;      /* active entries (may exceed the caller's cap) */
	uint64_t bytes_published; /* payload bytes of every message published since creation */
	uint64_t reserved[7]; /* zeroed by shmkit: room for fields added later (shmkit(3), STRUCTS THAT GROW) */
};
/* Describes the topic at uri and up to cap of its subscribers. */
SHMKIT_API int shmkit_topic_stat(const char *uri, struct shmkit_topic_info *info,
				 struct shmkit_topic_sub_info *subs, size_t cap);

SHMKIT_END_DECLS

#endif
