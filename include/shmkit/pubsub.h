/* shmkit — one-to-many broadcast topic: one publisher, many subscribers,
 * zero-copy, lossy or reliable. See shmkit_pubsub(3). */
#ifndef SHMKIT_PUBSUB_H
#define SHMKIT_PUBSUB_H

#include <shmkit/common.h>

SHMKIT_BEGIN_DECLS

struct shmkit_pub;
struct shmkit_sub;

struct shmkit_topic_opts {
	size_t slot_size;   /* largest message in bytes */
	size_t slots;       /* ring length in messages */
	int reliable;       /* 1: publisher waits for the slowest live subscriber */
	unsigned mode;      /* permission bits; 0 = 0600 */
};

SHMKIT_API int shmkit_pub_create(struct shmkit_pub **p, const char *uri, const struct shmkit_topic_opts *o);
SHMKIT_API int shmkit_pub_loan(struct shmkit_pub *p, size_t len, void **buf, int64_t timeout_ns);
SHMKIT_API int shmkit_pub_publish(struct shmkit_pub *p, void *buf, size_t len);
SHMKIT_API int shmkit_pub_send(struct shmkit_pub *p, const void *msg, size_t len, int64_t timeout_ns);
SHMKIT_API int shmkit_sub_open(struct shmkit_sub **s, const char *uri);
SHMKIT_API ssize_t shmkit_sub_recv(struct shmkit_sub *s, void *buf, size_t cap, int64_t timeout_ns);
SHMKIT_API uint64_t shmkit_sub_dropped(const struct shmkit_sub *s);
SHMKIT_API int shmkit_pub_close(struct shmkit_pub *p);
SHMKIT_API int shmkit_sub_close(struct shmkit_sub *s);

SHMKIT_END_DECLS

#endif
