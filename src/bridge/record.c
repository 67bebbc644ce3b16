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

int br_record_load(struct shmkit_bridge *b)
{
	unsigned char r[REC_SIZE];
	int fd = open(b->state_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	b->have_record = false;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	ssize_t n = read(fd, r, sizeof r);
	close(fd);
	if (n != REC_SIZE || memcmp(r, REC_MAGIC, 4) != 0 || r[4] != REC_VERSION || r[5] || r[6] || r[7] ||
	    br_get64(r + 56) != digest(r, 56))
		return -EBADMSG; /* never guess: a wrong record could duplicate or lose */
	memcpy(b->in_stream, r + 8, 16);
	if (memcmp(r + 24, b->in_queue_id, 16) != 0)
		return 0; /* the record is about an older queue under this name */
	b->base_seq = br_get64(r + 40);
	b->base_pos = br_get64(r + 48);
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
	if (snprintf(tmp, sizeof tmp, "%s.tmp", b->state_path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	e = write_all(fd, r, sizeof r);
	if (!e && fsync(fd) < 0)
		e = -errno;
	close(fd);
	if (!e && rename(tmp, b->state_path) < 0)
		e = -errno;
	if (e)
		unlink(tmp);
	else
		b->have_record = true;
	return e;
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, 0700);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

char *br_record_default_path(const char *uri)
{
	const char *base = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char dir[2048], *out;
	size_t n = 0;

	if (base && base[0] == '/')
		snprintf(dir, sizeof dir, "%s/shmkit/bridge/", base);
	else if (home && home[0] == '/')
		snprintf(dir, sizeof dir, "%s/.local/state/shmkit/bridge/", home);
	else
		return NULL;
	size_t dl = strlen(dir);
	if (!(out = malloc(dl + 3 * strlen(uri) + 8)))
		return NULL;
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
	if (mkdirs(out) < 0) {
		free(out);
		return NULL;
	}
	return out;
}
