/* SPDX-License-Identifier: MIT */
/* Harness: a topic opened from a mutated segment image, as subscriber and
 * as publisher (taking over the image's publisher if it is dead), then a
 * bounded round of operations that never wait (timeout 0), and
 * shmkit_topic_stat. Every call returns; pointers stay in the segment;
 * copies never exceed the caller's buffer. */
#include "fuzz.h"

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"

/* 1 if the image's publisher state says CLAIMING: shmkit_pub_open then
 * waits out the library's bounded 1 s for a claimer that may have died
 * before taking over (test_pubsub covers that wait). A second per input
 * stalled libFuzzer at ~60 inputs/s on the seeds in that state. */
static int pub_claim_waits(const uint8_t *data, size_t size)
{
	size_t off = SHMKIT__HEADER_SIZE + offsetof(struct shmkit__topic_shared, pub_state);
	uint64_t st;

	if (size < off + sizeof(st))
		return 0;
	memcpy(&st, data + off, sizeof(st));
	return (st & 0xff) == SHMKIT__PUB_CLAIMING;
}

/* Receives and peeks with timeout 0: whatever the ring holds for us. */
static void sub_look(struct shmkit_sub *s, size_t slot_size)
{
	size_t caps[] = { 1, slot_size, slot_size };
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		char *buf = malloc(caps[i] ? caps[i] : 1);
		if (!buf)
			break;
		ssize_t n = FUZZ_T(shmkit_sub_recv(s, buf, caps[i], 0));
		if (n > (ssize_t)caps[i])
			fuzz_fail("sub_recv returned %zd for a %zu-byte buffer", n, caps[i]);
		free(buf);
	}
	const void *msg = NULL;
	ssize_t n = FUZZ_T(shmkit_sub_peek(s, &msg, 0));
	if (n >= 0) {
		/* The ring is in the segment; no seg accessor for subs: touch it. */
		fuzz_touch(msg, (size_t)n);
		FUZZ_T(shmkit_sub_release(s));
	}
}

/* More messages than a small ring holds (the seeds have 4 slots), sent
 * while subscribed: a lossy ring laps the subscriber (it skips and counts
 * what it lost), a reliable one fills (the publisher finds no room and,
 * with timeout 0, says so). Bounded: at most 16 sends per round. */
static void pub_fill(struct shmkit_pub *p, const char *msg, size_t len, size_t slots)
{
	size_t n = slots < 16 ? slots + 1 : 16;
	for (size_t i = 0; i < n; i++)
		if (FUZZ_T(shmkit_pub_send(p, msg, len, 0)) != 0)
			break;
}

static void pub_round(const char *uri, size_t slot_size, size_t slots)
{
	struct shmkit_pub *p = NULL;
	static const char msg[] = "fuzzed topic";
	if (FUZZ_T(shmkit_pub_open(&p, uri)) != 0)
		return;
	FUZZ_T(shmkit_pub_send(p, msg, sizeof(msg) <= slot_size ? sizeof(msg) : slot_size, 0));
	void *buf = NULL;
	size_t len = slot_size < 48 ? slot_size : 48;
	if (FUZZ_T(shmkit_pub_loan(p, len, &buf, 0)) == 0) {
		memset(buf, 0xa5, len);
		FUZZ_T(shmkit_pub_publish(p, buf, len));
	}
	FUZZ_T(shmkit_pub_send(p, msg, slot_size + 1, 0)); /* too long: refused */
	pub_fill(p, msg, sizeof(msg) <= slot_size ? sizeof(msg) : slot_size, slots);
	(void)shmkit_pub_published(p);
	FUZZ_T(shmkit_pub_close(p));
}

/* A subscriber joins, looks, makes its descriptor (an entry in the image's
 * listener table) and looks again: with a descriptor a receive that finds
 * nothing arms it and watches the image's active publisher (act_ident). With
 * `publish`, the publisher round runs while it is subscribed, so it then
 * reads the messages published into the image's ring. */
static void sub_round(const char *uri, size_t slot_size, size_t slots, int publish)
{
	struct shmkit_sub *s = NULL;
	if (FUZZ_T(shmkit_sub_open(&s, uri)) != 0) {
		if (publish)
			pub_round(uri, slot_size, slots);
		return;
	}
	sub_look(s, slot_size);
	int fd = FUZZ_T(shmkit_sub_fd(s));
	if (fd >= 0 && FUZZ_T(shmkit_sub_fd(s)) != fd)
		fuzz_fail("sub_fd changed between two calls");
	sub_look(s, slot_size);
	if (publish) {
		pub_round(uri, slot_size, slots);
		sub_look(s, slot_size);
	}
	(void)shmkit_sub_dropped(s);
	(void)shmkit_sub_position(s);
	FUZZ_T(shmkit_sub_close(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uri[32];
	struct shmkit_topic_info info;
	struct shmkit_topic_sub_info subs[4];

	int fd = fuzz_image(data, size, uri, sizeof(uri));
	if (fd < 0)
		return 0;
	if (fuzz_image_waits(data, size, uri)) {
		close(fd);
		return 0;
	}
	size_t slot_size = 64, slots = 4;
	if (FUZZ_T(shmkit_topic_stat(uri, &info, subs, 4)) == 0 && info.slot_size < (1u << 20)) {
		slot_size = info.slot_size;
		slots = info.slots;
	}
	sub_round(uri, slot_size, slots, !pub_claim_waits(data, size));
	sub_round(uri, slot_size, slots, 0);
	FUZZ_T(shmkit_topic_stat(uri, &info, subs, 4));
	close(fd);
	return 0;
}
