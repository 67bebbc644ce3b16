/* SPDX-License-Identifier: MIT */
/* Segment URIs (DESIGN §3): parsing, validation, canonical text.
 *
 *   posix:/name  /name  name       sysv:0x1234  sysv:/path?proj=0x66
 *   sysv:private  sysv:id=N         file:/abs/path  file:/abs/path?private
 *   memfd:name  anon:  fd:N
 *
 * After a '?', '&'-separated options: huge (huge pages), populate (fault
 * every page in at map time: SHMKIT_POPULATE), addr=0x... (attach there),
 * rnd (sysv: SHM_RND), private (file:), proj=N (sysv:/path).
 *
 * Everything a caller could get wrong is refused here, before any system
 * call, with -EINVAL (or -ENAMETOOLONG) and a detail naming the problem. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>

#include <unistd.h>

#include "backend/backend.h"
#include "internal.h"

static int has_control_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Parses a whole unsigned number (base 0: 0x.., 0.., decimal) <= max. */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (errno || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* posix: one leading '/', no other '/', not "." or "..", no control chars. */
static int parse_posix(const char *name, struct shmkit__uri *u)
{
	const char *base = name[0] == '/' ? name + 1 : name;

	if (*base == '\0')
		return shmkit__fail(-EINVAL, "posix name is empty");
	if (strchr(base, '/'))
		return shmkit__fail(-EINVAL, "posix name \"%s\" has a '/' after the leading one", name);
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return shmkit__fail(-EINVAL, "posix name \"%s\" is not allowed", base);
	if (has_control_char(base))
		return shmkit__fail(-EINVAL, "posix name has a control character");
	if (strlen(base) > NAME_MAX)
		return shmkit__fail(-ENAMETOOLONG, "posix name is longer than NAME_MAX (%d)", NAME_MAX);
	u->backend = SHMKIT_POSIX;
	snprintf(u->name, sizeof(u->name), "/%s", base);
	return 0;
}

/* An absolute path without control characters that fits PATH_MAX. */
static int parse_path(const char *what, const char *path, struct shmkit__uri *u)
{
	if (path[0] != '/')
		return shmkit__fail(-EINVAL, "%s path \"%s\" is not absolute", what, path);
	if (has_control_char(path))
		return shmkit__fail(-EINVAL, "%s path has a control character", what);
	if (strlen(path) >= sizeof(u->name))
		return shmkit__fail(-ENAMETOOLONG, "%s path is longer than PATH_MAX", what);
	const char *p = path;
	while ((p = strchr(p, '/')) != NULL) {
		p++;
		size_t comp = strcspn(p, "/");
		if (comp > NAME_MAX)
			return shmkit__fail(-ENAMETOOLONG, "%s path has a component longer than NAME_MAX",
					    what);
	}
	strcpy(u->name, path);
	return 0;
}

static int parse_file(const char *rest, struct shmkit__uri *u)
{
	u->backend = SHMKIT_FILE;
	return parse_path("file", rest, u);
}

static int parse_sysv_ftok(const char *rest, struct shmkit__uri *u)
{
	u->sysv_how = SHMKIT__SYSV_FTOK;
	u->proj = 1; /* ftok uses the low 8 bits; 0 would be a trap */
	return parse_path("sysv ftok", rest, u);
}

static int parse_proj(const char *v, struct shmkit__uri *u)
{
	unsigned long proj;

	if (parse_ulong(v, 255, &proj) < 0 || proj == 0)
		return shmkit__fail(-EINVAL, "sysv: proj \"%.32s\" is not a number 1..255", v);
	u->proj = (int)proj;
	return 0;
}

static int parse_sysv(const char *rest, struct shmkit__uri *u)
{
	unsigned long v;

	u->backend = SHMKIT_SYSV;
	if (strcmp(rest, "private") == 0) {
		u->sysv_how = SHMKIT__SYSV_PRIVATE;
		u->key = IPC_PRIVATE;
		return 0;
	}
	if (strncmp(rest, "id=", 3) == 0) {
		if (parse_ulong(rest + 3, INT_MAX, &v) < 0)
			return shmkit__fail(-EINVAL, "sysv: id \"%s\" is not a number", rest + 3);
		u->sysv_how = SHMKIT__SYSV_ID;
		u->shmid = (int)v;
		return 0;
	}
	if (rest[0] == '/')
		return parse_sysv_ftok(rest, u);
	if (parse_ulong(rest, 0xffffffffUL, &v) < 0)
		return shmkit__fail(-EINVAL, "sysv: key \"%s\" is not a 32-bit number", rest);
	if (v == 0)
		return shmkit__fail(-EINVAL, "sysv: key 0 is IPC_PRIVATE; say sysv:private");
	u->sysv_how = SHMKIT__SYSV_KEY;
	u->key = (key_t)(unsigned)v;
	return 0;
}

static int parse_memfd(const char *name, struct shmkit__uri *u)
{
	/* memfd_create allows 249 bytes of name (the kernel prefixes "memfd:"). */
	if (*name == '\0')
		return shmkit__fail(-EINVAL, "memfd name is empty");
	if (strchr(name, '/') || has_control_char(name))
		return shmkit__fail(-EINVAL, "memfd name has a '/' or a control character");
	if (strlen(name) > 249)
		return shmkit__fail(-ENAMETOOLONG, "memfd name is longer than 249 bytes");
	u->backend = SHMKIT_MEMFD;
	strcpy(u->name, name);
	return 0;
}

static int parse_fd(const char *rest, struct shmkit__uri *u)
{
	unsigned long v;

	if (parse_ulong(rest, INT_MAX, &v) < 0)
		return shmkit__fail(-EINVAL, "fd: \"%s\" is not a descriptor number", rest);
	u->is_fd = 1;
	u->fd = (int)v;
	u->backend = SHMKIT_MEMFD; /* refined when the descriptor is looked at */
	return 0;
}

static int parse_scheme(const char *uri, struct shmkit__uri *u)
{
	if (uri[0] == '/')
		return parse_posix(uri, u);
	if (strncmp(uri, "posix:", 6) == 0)
		return parse_posix(uri + 6, u);
	if (strncmp(uri, "sysv:", 5) == 0)
		return parse_sysv(uri + 5, u);
	if (strncmp(uri, "file:", 5) == 0)
		return parse_file(uri + 5, u);
	if (strncmp(uri, "memfd:", 6) == 0)
		return parse_memfd(uri + 6, u);
	if (strcmp(uri, "anon:") == 0) {
		u->backend = SHMKIT_ANON;
		return 0;
	}
	if (strncmp(uri, "anon:", 5) == 0)
		return shmkit__fail(-EINVAL, "anon: takes no name");
	if (strncmp(uri, "fd:", 3) == 0)
		return parse_fd(uri + 3, u);
	/* A bare name is posix; anything that looks like "scheme:" is unknown. */
	if (strchr(uri, ':'))
		return shmkit__fail(-EINVAL, "unknown URI scheme in \"%.64s\"", uri);
	return parse_posix(uri, u);
}

/* ?addr=0x...: a page-aligned (any with &rnd), non-zero address. */
static int parse_addr(const char *v, struct shmkit__uri *u)
{
	unsigned long a;

	if (parse_ulong(v, ULONG_MAX, &a) < 0 || a == 0)
		return shmkit__fail(-EINVAL, "addr \"%.32s\" is not a non-zero address", v);
	u->addr = (uintptr_t)a;
	return 0;
}

/* One option of the '&'-separated list after '?'. */
static int parse_option(const char *o, struct shmkit__uri *u)
{
	if (strcmp(o, "huge") == 0)
		u->huge = 1;
	else if (strcmp(o, "populate") == 0)
		u->populate = 1;
	else if (strcmp(o, "rnd") == 0)
		u->addr_rnd = 1;
	else if (strncmp(o, "addr=", 5) == 0)
		return parse_addr(o + 5, u);
	else if (strcmp(o, "private") == 0)
		u->map_private = 1;
	else if (strncmp(o, "proj=", 5) == 0)
		return parse_proj(o + 5, u);
	else
		return shmkit__fail(-EINVAL, "unknown URI option \"%.32s\" (huge, populate, "
					     "addr=, rnd, private, proj=)", o);
	return 0;
}

/* Options a scheme does not take are refused, not ignored. */
static int check_options(const struct shmkit__uri *u, int had_proj)
{
	if (u->map_private && u->backend != SHMKIT_FILE)
		return shmkit__fail(-EINVAL, "?private is a file: option");
	if (had_proj && (u->backend != SHMKIT_SYSV || u->sysv_how != SHMKIT__SYSV_FTOK))
		return shmkit__fail(-EINVAL, "?proj= is a sysv:/path option");
	if (u->addr_rnd && (u->backend != SHMKIT_SYSV || !u->addr))
		return shmkit__fail(-EINVAL, "&rnd rounds a sysv: ?addr= down (SHM_RND); "
					     "it needs both");
	if (u->addr && !u->addr_rnd && u->addr % (uintptr_t)sysconf(_SC_PAGESIZE))
		return shmkit__fail(-EINVAL, "addr 0x%lx is not page-aligned", (unsigned long)u->addr);
	if (u->is_fd && (u->huge || u->addr))
		return shmkit__fail(-EINVAL, "fd: takes no option but populate (the descriptor decides its pages)");
	return 0;
}

static int parse_options(char *opts, struct shmkit__uri *u)
{
	int had_proj = 0, had_addr = 0;

	if (*opts == '\0')
		return shmkit__fail(-EINVAL, "empty option list after '?'");
	/* Split by hand: strtok_r would pass over the empty options of "?&",
	 * "?a&" or "?a&&b", which are refused as "?" is. */
	for (char *o = opts, *next; o; o = next) {
		next = strchr(o, '&');
		if (next)
			*next++ = '\0';
		if (*o == '\0')
			return shmkit__fail(-EINVAL, "empty option in the list after '?'");
		/* a value given twice would ignore one of them: none is ever ignored */
		int is_proj = strncmp(o, "proj=", 5) == 0, is_addr = strncmp(o, "addr=", 5) == 0;
		if ((is_proj && had_proj) || (is_addr && had_addr))
			return shmkit__fail(-EINVAL, "URI option \"%.5s\" given twice", o);
		had_proj |= is_proj;
		had_addr |= is_addr;
		int rc = parse_option(o, u);
		if (rc < 0)
			return rc;
	}
	return check_options(u, had_proj);
}

int shmkit__uri_parse(const char *uri, struct shmkit__uri *u)
{
	char base[SHMKIT_URI_MAX];

	memset(u, 0, sizeof(*u));
	u->key = -1;
	u->shmid = -1;
	u->fd = -1;
	if (!uri || uri[0] == '\0')
		return shmkit__fail(-EINVAL, "empty URI");
	if (strlen(uri) >= SHMKIT_URI_MAX)
		return shmkit__fail(-ENAMETOOLONG, "URI longer than %d bytes", SHMKIT_URI_MAX - 1);
	/* Everything after the first '?' is options, in every scheme. */
	strcpy(base, uri);
	char *q = strchr(base, '?');
	if (q)
		*q++ = '\0';
	int rc = parse_scheme(base, u);
	if (rc < 0 || !q)
		return rc;
	return parse_options(q, u);
}

void shmkit__uri_format(const struct shmkit__uri *u, char *buf, size_t cap)
{
	if (u->is_fd) {
		snprintf(buf, cap, "fd:%d", u->fd);
		return;
	}
	switch (u->backend) {
	case SHMKIT_POSIX:
		snprintf(buf, cap, "posix:%s", u->name);
		break;
	case SHMKIT_SYSV:
		if (u->sysv_how == SHMKIT__SYSV_ID)
			snprintf(buf, cap, "sysv:id=%d", u->shmid);
		else if (u->sysv_how == SHMKIT__SYSV_PRIVATE)
			snprintf(buf, cap, "sysv:private");
		else if (u->sysv_how == SHMKIT__SYSV_FTOK)
			snprintf(buf, cap, "sysv:%s?proj=0x%x", u->name, (unsigned)u->proj);
		else
			snprintf(buf, cap, "sysv:0x%08x", (unsigned)u->key);
		break;
	case SHMKIT_FILE:
		snprintf(buf, cap, "file:%s%s", u->name, u->map_private ? "?private" : "");
		break;
	case SHMKIT_MEMFD:
		snprintf(buf, cap, "memfd:%s", u->name);
		break;
	case SHMKIT_ANON:
		snprintf(buf, cap, "anon:");
		break;
	case SHMKIT_BACKEND_NONE: /* never parsed so */
		if (cap)
			buf[0] = '\0';
		break;
	}
}

/* Does p start a scheme's name ("sysv", "po", "file:")? */
static bool starts_scheme(const char *p)
{
	static const char *const schemes[] = {"posix:", "sysv:", "file:", "memfd:", "anon:", NULL};
	const char *colon = strchr(p, ':');
	size_t n = colon ? (size_t)(colon - p) + 1 : strlen(p);
	for (const char *const *k = schemes; *k; k++)
		if (n <= strlen(*k) && strncmp(*k, p, n) == 0)
			return true;
	return false;
}

const char *shmkit__uri_prefix_spelling(const char *p, char *buf, size_t cap)
{
	const char *name = NULL;
	if (!p)
		return NULL;
	if (p[0] == '/')
		name = p + 1;
	else if (strncmp(p, "posix:", 6) == 0 && p[6] && p[6] != '/')
		name = p + 6;
	else if (!strchr(p, ':') && !starts_scheme(p))
		name = p;
	if (!name || (size_t)snprintf(buf, cap, "posix:/%s", name) >= cap)
		return p;
	return buf;
}
