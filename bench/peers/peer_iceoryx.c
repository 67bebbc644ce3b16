/* SPDX-License-Identifier: MIT */
/* peer_iceoryx: Eclipse iceoryx's C binding as a latency peer for
 * shmkit-bench (see bench/latctl.h for the protocol). A RouDi daemon must be
 * running (bench_roudi_start()).
 *
 *   peer_iceoryx pub CTL_FD EVENT   publish c->total messages of c->size bytes
 *   peer_iceoryx sub CTL_FD EVENT K receive them as subscriber K
 *
 * Zero-copy on both sides: loan, write the send time, publish; take, read it,
 * release. With c->work the publisher also writes every payload byte and the
 * subscriber checks them all (latctl_fill / latctl_check). Waiting is a busy poll (yielding when the machine is oversubscribed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"

#include "../latctl.h"

#define SERVICE "shmkit-bench"
#define INSTANCE "latency"
#define CONNECT_TIMEOUT_NS 10000000000ll

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct latctl *map_ctl(const char *fd_arg)
{
	int fd = atoi(fd_arg);
	struct stat st;
	if (fstat(fd, &st) != 0)
		return NULL;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int fail(struct latctl *c, const char *what)
{
	fprintf(stderr, "peer_iceoryx: %s\n", what);
	atomic_store(&c->failed, 1);
	return 1;
}

static int run_pub(struct latctl *c, const char *event)
{
	char name[64];
	iox_pub_storage_t storage;
	iox_pub_options_t opts;

	snprintf(name, sizeof(name), "shmkit-bench-pub-%d", (int)getpid());
	iox_runtime_init(name);
	iox_pub_options_init(&opts);
	opts.historyCapacity = 0;
	iox_pub_t pub = iox_pub_init(&storage, SERVICE, INSTANCE, event, &opts);
	int64_t end = now_ns() + CONNECT_TIMEOUT_NS;
	while (atomic_load(&c->ready) < c->n_subs) {
		if (now_ns() > end || atomic_load(&c->failed))
			return fail(c, "subscribers did not connect");
		usleep(1000);
	}
	for (uint64_t i = 0; i < c->total; i++) {
		void *chunk;
		if (latctl_wait_acks(c, i) < 0)
			return 1;
		if (iox_pub_loan_chunk(pub, &chunk, (uint32_t)c->size) != AllocationResult_SUCCESS)
			return fail(c, "loan failed");
		uint64_t t = latctl_tsc();
		if (c->work)
			latctl_fill(chunk, c->size, i, t);
		else
			memcpy(chunk, &t, sizeof(t));
		iox_pub_publish_chunk(pub, chunk);
	}
	latctl_wait_acks(c, c->total);
	iox_pub_deinit(pub);
	iox_runtime_shutdown();
	return 0;
}

static int run_sub(struct latctl *c, const char *event, uint32_t k)
{
	char name[64];
	iox_sub_storage_t storage;
	iox_sub_options_t opts;

	snprintf(name, sizeof(name), "shmkit-bench-sub-%d", (int)getpid());
	iox_runtime_init(name);
	iox_sub_options_init(&opts);
	opts.queueCapacity = 16;
	opts.historyRequest = 0;
	iox_sub_t sub = iox_sub_init(&storage, SERVICE, INSTANCE, event, &opts);
	int64_t end = now_ns() + CONNECT_TIMEOUT_NS;
	while (iox_sub_get_subscription_state(sub) != SubscribeState_SUBSCRIBED) {
		if (now_ns() > end || atomic_load(&c->failed))
			return fail(c, "no publisher to subscribe to");
		usleep(1000);
	}
	atomic_fetch_add(&c->ready, 1);
	for (uint64_t i = 0; i < c->total;) {
		const void *chunk;
		if (iox_sub_take_chunk(sub, &chunk) != ChunkReceiveResult_SUCCESS) {
			if (atomic_load_explicit(&c->failed, memory_order_relaxed))
				return 1;
			latctl_pause(c);
			continue;
		}
		uint64_t sent;
		memcpy(&sent, chunk, sizeof(sent));
		latctl_record_at(c, k, i, sent);
		if (c->work && latctl_check(chunk, c->size, i) != 0)
			return fail(c, "payload differs");
		latctl_ack(c, k, i);
		iox_sub_release_chunk(sub, chunk);
		i++;
	}
	iox_sub_deinit(sub);
	iox_runtime_shutdown();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: peer_iceoryx pub|sub CTL_FD EVENT [K]\n");
		return 2;
	}
	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	struct latctl *c = map_ctl(argv[2]);
	if (!c)
		return 1;
	if (strcmp(argv[1], "pub") == 0)
		return run_pub(c, argv[3]);
	if (strcmp(argv[1], "sub") == 0 && argc >= 5)
		return run_sub(c, argv[3], (uint32_t)atoi(argv[4]));
	return 2;
}
