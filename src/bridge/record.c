/* SPDX-License-Identifier: MIT */
/* The receiving bridge's persistent record: which sender stream it carries
 * and which local queue position holds that stream's sequence number
 * base_seq. Because the bridge is the queue's only producer, the queue's own
 * count of committed messages then says how far the stream got, exactly, at
 * every kill point: the record is written only when a stream starts or jumps,
 * never per message. Written whole (temporary file, fsync, rename), so a
 * reader sees the old record or the new one. docs/BRIDGE.md, "Record". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge_internal.h"

#define REC_SIZE 64
#define REC_MAGIC "SKBR"
#define REC_VERSION 1

static uint64_t digest(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

int br_record_parse(const unsigned char *r, size_t n, unsigned char stream[16],
		    unsigned char queue_id[16], uint64_t *base_seq, uint64_t *base_pos,
		    const char **why)
{
	*why = NULL;
	if (n != REC_SIZE)
		*why = "not 64 bytes long (truncated, or not a shmkit bridge record)";
	else if (memcmp(r, REC_MAGIC, 4) != 0)
		*why = "no SKBR magic (not a shmkit bridge record)";
	else if (br_get32(r + 4) != REC_VERSION)
		*why = "a record version this bridge does not know";
	else if (br_get64(r + 56) != digest(r, 56))
		*why = "its checksum fails (corrupt)";
	if (*why)
		return -EBADMSG;
	memcpy(stream, r + 8, 16);
	memcpy(queue_id, r + 24, 16);
	*base_seq = br_get64(r + 40);
	*base_pos = br_get64(r + 48);
	return 0;
}

/* The record file's bytes (at most cap; *n how many), or a negative errno
 * and a reason. Never waits: a FIFO planted under the name would block an
 * open for reading until a writer came, so the file is opened non-blocking
 * and must be a regular file; a symbolic link is refused (O_NOFOLLOW). */
static int read_record(const char *path, unsigned char *r, size_t cap, size_t *n, const char **why)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	*why = NULL;
	if (fd < 0) {
		int e = errno;
		*why = e == ELOOP ? "a symbolic link (refused: the record must be a regular file)"
				  : strerror(e);
		return -e;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		*why = "not a regular file (a FIFO, a directory, a device or a socket)";
		return -EINVAL;
	}
	ssize_t got = sb.st_size > (off_t)cap ? (ssize_t)cap + 1 : read(fd, r, cap);
	close(fd);
	if (got < 0) {
		*why = strerror(errno);
		return -EIO;
	}
	*n = (size_t)got;
	return 0;
}

int br_record_load(struct shmkit_bridge *b)
{
	unsigned char r[REC_SIZE];
	unsigned char qid[16];
	const char *why;
	size_t n = 0;
	int e = read_record(b->state_path, r, sizeof r, &n, &why);

	b->have_record = false;
	if (e == -ENOENT)
		return 0;
	if (!e)
		e = br_record_parse(r, n, b->in_stream, qid, &b->base_seq, &b->base_pos, &why);
	if (e < 0) {
		/* never guess: a wrong record could duplicate or lose. Nothing was
		 * committed; the sender keeps every message until this is fixed */
		br_log(b, "record %s: %s; not started (nothing committed: the sender keeps its "
			  "messages). Removing the record restarts the stream's numbering: messages "
			  "this queue already has may come again",
		       b->state_path, why);
		return e;
	}
	if (memcmp(qid, b->in_queue_id, 16) != 0) {
		/* an older queue under this name, or --state shared with another
		 * queue's bridge: ignored as documented, but said, since in the
		 * second case what that queue committed unacknowledged comes again */
		br_log(b, "record %s: about another queue (an earlier one of this name, or "
			  "another bridge's --state): ignored, the stream starts afresh",
		       b->state_path);
		return 0;
	}
	b->have_record = true;
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	ssize_t w = write(fd, p, n);
	return w == (ssize_t)n ? 0 : (w < 0 ? -errno : -EIO);
}

int br_record_store(struct shmkit_bridge *b)
{
	unsigned char r[REC_SIZE] = { 0 };
	char tmp[4096];
	int fd, e;

	memcpy(r, REC_MAGIC, 4);
	r[4] = REC_VERSION; /* u32 little-endian */
	memcpy(r + 8, b->in_stream, 16);
	memcpy(r + 24, b->in_queue_id, 16);
	br_put64(r + 40, b->base_seq);
	br_put64(r + 48, b->base_pos);
	br_put64(r + 56, digest(r, 56));
	/* a fresh name (O_EXCL): nothing planted beside the record, a FIFO or a
	 * link, can block this open or redirect the write */
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", b->state_path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		e = -errno;
		br_log(b, "record %s: cannot write it: %s", b->state_path, strerror(-e));
		return e;
	}
	e = write_all(fd, r, sizeof r);
	if (!e && fsync(fd) < 0)
		e = -errno;
	close(fd);
	if (!e && rename(tmp, b->state_path) < 0)
		e = -errno;
	if (e) {
		unlink(tmp);
		br_log(b, "record %s: cannot write it: %s", b->state_path, strerror(-e));
	} else
		b->have_record = true;
	return e;
}

/* Makes every directory of path (up to its last '/'); 0, or a negative
 * errno with *failed the directory that could not be made. */
static int mkdirs(char *path, char *failed, size_t cap)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, 0700), e = errno;
		if (r < 0 && e != EEXIST)
			snprintf(failed, cap, "%s", path);
		*p = '/';
		if (r < 0 && e != EEXIST)
			return -e;
	}
	return 0;
}

int br_record_default_path(struct shmkit_bridge *b, const char *uri, char **path)
{
	const char *base = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char dir[2048], failed[2048], *out;
	size_t n = 0;

	*path = NULL;
	if (base && base[0] == '/')
		snprintf(dir, sizeof dir, "%s/shmkit/bridge/", base);
	else if (home && home[0] == '/')
		snprintf(dir, sizeof dir, "%s/.local/state/shmkit/bridge/", home);
	else {
		br_log(b, "record: no --state FILE, and neither XDG_STATE_HOME nor HOME is an "
			  "absolute path to put one under");
		return -ENOENT;
	}
	size_t dl = strlen(dir);
	if (!(out = malloc(dl + 3 * strlen(uri) + 8)))
		return -ENOMEM;
	memcpy(out, dir, dl);
	n = dl;
	for (const unsigned char *c = (const unsigned char *)uri; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.')
			out[n++] = (char)*c;
		else
			n += (size_t)sprintf(out + n, "%%%02X", *c);
	}
	strcpy(out + n, ".rec");
	int r = mkdirs(out, failed, sizeof failed);
	if (r < 0) {
		br_log(b, "record %s: cannot make %s: %s (give --state FILE)", out, failed,
		       strerror(-r));
		free(out);
		return r;
	}
	*path = out;
	return 0;
}
