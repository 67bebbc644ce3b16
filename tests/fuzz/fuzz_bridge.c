/* SPDX-License-Identifier: MIT */
/* Harness: what libshmkit-bridge reads from the network and from its record
 * file (docs/BRIDGE.md). The first byte picks:
 *  0  a record file: parsed from the bytes, then loaded through a real file
 *     (br_record_load): accepted only when exactly 64 bytes with magic,
 *     version 1 and a good checksum, and then loaded the same;
 *  1  messages as a peer sends them to a receiver: each a frame count
 *     (1-4) and frames (u16 length, bytes), through br_in_parse: an accepted
 *     DATA/BATCH's records are walked with br_batch_next and must stay in the
 *     frame, tile it exactly, and match the count and longest length;
 *  2  messages a sender batches (u8 count, then u16 length + bytes each):
 *     br_batch_put, then br_in_parse and br_batch_next give them back.
 * Every buffer is allocated at its exact size, so ASan sees any read past a
 * frame. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bridge_internal.h"

static const uint8_t *take(const uint8_t **d, size_t *n, size_t want)
{
	const uint8_t *p = *d;

	if (*n < want)
		return NULL;
	*d += want;
	*n -= want;
	return p;
}

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

static int record_loads(const uint8_t *d, size_t n, uint64_t seq, uint64_t pos, const uint8_t *qid)
{
	static char path[64];
	struct shmkit_bridge *b = calloc(1, sizeof *b);

	if (!path[0])
		snprintf(path, sizeof path, "/tmp/shmkit-fuzz-bridge-%d.rec", (int)getpid());
	FILE *f = fopen(path, "wb");
	if (!b || !f || fwrite(d, 1, n, f) != n || fclose(f) != 0)
		abort();
	b->state_path = path;
	if (qid)
		memcpy(b->in_queue_id, qid, 16);
	int r = br_record_load(b);
	if (r == 0 && qid && (!b->have_record || b->base_seq != seq || b->base_pos != pos))
		fuzz_fail("record: parsed, but loaded as another (have %d)", b->have_record);
	unlink(path);
	free(b);
	return r;
}

static void record(const uint8_t *d, size_t n)
{
	uint8_t *r = dup_exact(d, n);
	unsigned char stream[16], qid[16];
	uint64_t seq, pos;
	const char *why;
	int e = br_record_parse(r, n, stream, qid, &seq, &pos, &why);

	if ((e == 0) != (why == NULL) || (e != 0 && e != -EBADMSG))
		fuzz_fail("record: returned %d, reason %s", e, why ? why : "(none)");
	if (e == 0 && (n != 64 || memcmp(r, "SKBR\1\0\0\0", 8) != 0))
		fuzz_fail("record: accepted %zu bytes without magic and version", n);
	int l = record_loads(r, n, seq, pos, e == 0 ? qid : NULL);
	if ((l == 0) != (e == 0))
		fuzz_fail("record: parse says %d, load says %d", e, l);
	free(r);
}

/* An accepted DATA/BATCH: its records must tile the body. */
static void walk(const struct br_in_msg *m, const uint8_t *body, size_t n)
{
	size_t off = 0, longest = 0;

	for (size_t i = 0; i < m->records; i++) {
		size_t len;
		const unsigned char *p = br_batch_next(body, m->t == BR_BATCH, n, &off, &len);
		if (off > n || p < body || p + len > body + n)
			fuzz_fail("record %zu of %zu: [%zu, +%zu) leaves a %zu-byte frame", i,
				  m->records, (size_t)(p - body), len, n);
		fuzz_touch(p, len);
		longest = len > longest ? len : longest;
	}
	if (off != n || longest != m->longest)
		fuzz_fail("records end at %zu of %zu bytes, longest %zu (said %zu)", off, n, longest,
			  m->longest);
}

static void messages(const uint8_t *d, size_t n)
{
	const uint8_t *k;

	while ((k = take(&d, &n, 1)) != NULL) {
		size_t frames = 1 + (*k & 3), len[4] = { 0 };
		uint8_t *f[4] = { NULL };
		const uint8_t *h, *p;
		for (size_t i = 0; i < frames && (h = take(&d, &n, 2)) != NULL; i++) {
			len[i] = (size_t)(h[0] | h[1] << 8);
			if (!(p = take(&d, &n, len[i])))
				len[i] = 0, p = d;
			f[i] = dup_exact(p, len[i]);
		}
		struct br_in_msg m;
		const char *why = f[0] ? br_in_parse(f[0], len[0], f[1], len[1], f[1] != NULL, &m)
				       : "none";
		if (!why && (m.t == BR_DATA || m.t == BR_BATCH))
			walk(&m, f[1], len[1]);
		if (!why && (m.t == BR_DATA || m.t == BR_BATCH) != (m.records > 0))
			fuzz_fail("type %c accepted with %zu records", m.t, m.records);
		for (size_t i = 0; i < 4; i++)
			free(f[i]);
	}
}

static void batch_round_trip(const uint8_t *d, size_t n)
{
	struct iovec iov[64];
	const uint8_t *c = take(&d, &n, 1), *h;
	size_t k = 0, bytes = 0;

	for (size_t want = c ? *c % 64 + 1 : 0; k < want && (h = take(&d, &n, 2)) != NULL; k++) {
		size_t len = (size_t)(h[0] | h[1] << 8) % 512;
		const uint8_t *p = take(&d, &n, len);
		iov[k] = (struct iovec){ (void *)(p ? p : d), p ? len : 0 };
		bytes += 4 + iov[k].iov_len;
	}
	if (!k)
		return;
	uint8_t *body = malloc(bytes);
	unsigned char hdr[BR_HDR];
	struct br_in_msg m;
	if (!body)
		abort();
	br_batch_put(body, iov, k);
	br_hdr_put(hdr, BR_BATCH, 7);
	const char *why = br_in_parse(hdr, sizeof hdr, body, bytes, true, &m);
	if (why || m.records != k || m.seq != 7)
		fuzz_fail("a BATCH of %zu built by br_batch_put: %s, %zu records", k,
			  why ? why : "accepted", why ? 0 : m.records);
	size_t off = 0;
	for (size_t i = 0; i < k; i++) {
		size_t len;
		const unsigned char *p = br_batch_next(body, true, bytes, &off, &len);
		if (len != iov[i].iov_len || memcmp(p, iov[i].iov_base, len) != 0)
			fuzz_fail("BATCH record %zu does not read back", i);
	}
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		record(data + 1, size - 1);
		break;
	case 1:
		messages(data + 1, size - 1);
		break;
	default:
		batch_round_trip(data + 1, size - 1);
	}
	return 0;
}
