/* SPDX-License-Identifier: MIT */
/* shmkit CLI — shared helpers: reporting, parsing, names, JSON. See cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* utf8_len of the sequence at s, which must end before end (NUL-padded copy:
 * utf8_len may look up to 4 bytes ahead). */
static size_t utf8_len_at(const unsigned char *s, const unsigned char *end)
{
	unsigned char tail[4] = { 0 };
	size_t left = (size_t)(end - s), n;

	memcpy(tail, s, left < 4 ? left : 4);
	n = utf8_len(tail);
	return n <= left ? n : 0;
}

/* ---- display width (cli.h) ---- */

/* Whether a terminal gives code point c two columns: the East Asian wide
 * and fullwidth blocks (CJK, Hangul, fullwidth forms, most emoji). */
static int is_wide(uint32_t c)
{
	return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf && c != 0x303f) ||
	       (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
	       (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
	       (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
	       (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd);
}

/* The bytes of the character at p (never past its NUL), and in *cols the
 * columns it takes. */
static size_t char_width(const unsigned char *p, int *cols)
{
	size_t len = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2, k;
	uint32_t c = len == 1 ? *p : *p & (0x7f >> len);

	for (k = 1; k < len && (p[k] & 0xc0) == 0x80; k++)
		c = c << 6 | (p[k] & 0x3f);
	*cols = is_wide(c) ? 2 : 1;
	return k;
}

int cli_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n = 0, w;

	while (*p) {
		p += char_width(p, &w);
		n += w;
	}
	return n;
}

size_t cli_fit(const char *s, int cols)
{
	const unsigned char *p = (const unsigned char *)s;
	int n = 0, w;

	while (*p) {
		size_t len = char_width(p, &w);
		if (n + w > cols)
			break;
		n += w;
		p += len;
	}
	return (size_t)(p - (const unsigned char *)s);
}

/* ---- names: escaping out, decoding in (cli.h) ---- */

/* The characters that reorder the text around them (U+061C, U+200E,
 * U+200F, U+202A..U+202E, U+2066..U+2069): printed, one of them in a name
 * makes a line read otherwise than its bytes ("Trojan Source"), a name
 * pose as another or as another column. */
static bool is_bidi_control(const unsigned char *s, size_t n)
{
	if (n == 2)
		return s[0] == 0xd8 && s[1] == 0x9c;
	if (n != 3 || s[0] != 0xe2)
		return false;
	return (s[1] == 0x80 && (s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xaa && s[2] <= 0xae))) ||
	       (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9);
}

/* How many bytes at s print as they are (a whole UTF-8 character), or 0 if
 * the byte at s is written \xHH: control bytes (C0, DEL, and the C1
 * controls U+0080..U+009F) and the bidirectional controls above, so that
 * a hostile name cannot break a line, drive the terminal or reorder it; bytes that are not part of valid UTF-8, so that two
 * names never print alike (a Latin-1 0xE9 and a UTF-8 "é"); the backslash
 * itself, so that the escape stays reversible (a name holding a real
 * "\x20" prints \x5cx20); and, in a name, the blank, so that a table's
 * columns stay split at blanks. */
static size_t plain_len(const unsigned char *s, const unsigned char *end, int name)
{
	unsigned char c = *s;
	size_t n;

	if (c < 0x20 || c == 0x7f || c == '\\' || (name && c == ' '))
		return 0;
	if (c < 0x80)
		return 1;
	n = utf8_len_at(s, end);
	if (n == 2 && c == 0xc2 && s[1] < 0xa0)
		return 0; /* U+0080..U+009F: \xc2 here, \xHH for the lone byte after */
	if (is_bidi_control(s, n))
		return 0; /* as above: each of its bytes \xHH */
	return n;
}

/* s escaped (plain_len) into buf, whole characters and escapes only,
 * truncated to cap (4 * strlen(s) + 1 always fits). */
static const char *escape_into(const char *s, char *buf, size_t cap, int name)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t n = 0;

	if (cap == 0)
		return buf;
	while (p < end) {
		size_t k = plain_len(p, end, name);
		if (k == 0) {
			if (n + 5 > cap)
				break;
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", *p++);
			continue;
		}
		if (n + k + 1 > cap)
			break;
		memcpy(buf + n, p, k);
		n += k;
		p += k;
	}
	buf[n] = '\0';
	return buf;
}

/* Writes s escaped on stderr: a hostile URI (or a detail that quotes one)
 * must not break the one-line error or drive the terminal. */
static void put_escaped(const char *s, int name)
{
	size_t cap = 4 * strlen(s) + 1;
	char *buf = malloc(cap);

	if (buf)
		fputs(escape_into(s, buf, cap, name), stderr);
	free(buf);
}

const char *cli_printable(const char *s, char *buf, size_t cap)
{
	return escape_into(s, buf, cap, 0);
}

const char *cli_name(const char *s, char *buf, size_t cap)
{
	return escape_into(s, buf, cap, 1);
}

const char *cli_shell_name(const char *s, char *buf, size_t cap)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_:/.,@%+=-";
	size_t len = 4 * strlen(s) + 1, n = 0;
	char *name = malloc(len);
	int quote = 0;

	if (!name || cap < 3) {
		free(name);
		return cli_name(s, buf, cap);
	}
	cli_name(s, name, len);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		quote |= *p < 0x80 && !strchr(safe, *p);
	if (quote)
		buf[n++] = '\'';
	for (const char *p = name; *p && n + 6 < cap; p++) {
		if (*p == '\'') { /* no quote inside the quotes: \x27, which the CLI reads as one */
			memcpy(buf + n, "\\x27", 4);
			n += 4;
		} else {
			buf[n++] = *p;
		}
	}
	if (quote)
		buf[n++] = '\'';
	buf[n] = '\0';
	free(name);
	return buf;
}

/* The byte of "\xHH" at s, or -1 if s does not start with one. */
static int escaped_byte(const char *s)
{
	if (s[0] != '\\' || s[1] != 'x' || !isxdigit((unsigned char)s[2]) ||
	    !isxdigit((unsigned char)s[3]))
		return -1;
	char hex[3] = { s[2], s[3], 0 };
	return (int)strtol(hex, NULL, 16);
}

int cli_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r; r++)
		if (escaped_byte(r) == 0)
			return -EINVAL; /* checked first: s is left as it was */
	for (const char *r = s; *r;) {
		int b = escaped_byte(r);
		if (b > 0) {
			*w++ = (char)b;
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return 0;
}

int cli_take_uris(const char *cmd, char **v, int n)
{
	for (int i = 0; i < n; i++) {
		if (v[i] && cli_unescape(v[i]) < 0)
			return cli_usage_error(cmd, "\\x00 in a URI would be a NUL byte, which no "
					       "name holds");
	}
	return CLI_OK;
}

int cli_uri_options(const char *cmd, const char *uri, unsigned takes)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {
		{ "huge", CLI_URI_HUGE },   { "populate", CLI_URI_POPULATE }, { "addr", CLI_URI_ADDR },
		{ "rnd", CLI_URI_ADDR },    { "private", CLI_URI_PRIVATE },   { "proj", CLI_URI_PROJ },
	};
	const char *q = strchr(uri, '?');

	for (const char *o = q; o && *o; o = strchr(o, '&')) {
		size_t len = strcspn(++o, "=&");
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (strlen(known[i].name) != len || strncmp(o, known[i].name, len) != 0 ||
			    (takes & known[i].bit))
				continue;
			/* an option this command would not use: refused, never
			 * ignored (rm 'sysv:0x44?huge' removed a segment of base
			 * pages); unknown ones are the library's to refuse */
			char name[4 * SHMKIT_URI_MAX + 1];
			return cli_usage_error(
			    cmd, "?%s in %s does not apply here: %s", known[i].name,
			    cli_name(uri, name, sizeof(name)),
			    takes == CLI_URI_PROJ
				? "the URI only names the segment here (it takes ?proj= of an ftok "
				  "path)"
				: "a look reads the segment as it is (it takes ?proj= and ?private)");
		}
	}
	return CLI_OK;
}

/* ---- reporting ---- */

/* Does st's URI start with prefix? A SysV segment's key counts however it
 * is spelt (ls shows sysv:0x0006f588; sysv:0x6f588 and sysv:0x6F588 are
 * the same key), and sysv:id=N names it too. */
int cli_stat_has_prefix(const struct shmkit_stat *st, const char *prefix)
{
	size_t n = strlen(prefix);
	char alt[64];
	/* sysv:id=N names one id, as in gc: not every id N's digits start
	 * (a private segment's URI is its sysv:id=N) */
	if (strncmp(prefix, "sysv:id=", 8) == 0 && prefix[8] &&
	    strspn(prefix + 8, "0123456789") == n - 8) {
		snprintf(alt, sizeof(alt), "sysv:id=%d", st->sysv_id);
		return st->backend == SHMKIT_SYSV && strcmp(alt, prefix) == 0;
	}
	if (strncmp(st->uri, prefix, n) == 0)
		return 1;
	if (st->backend != SHMKIT_SYSV)
		return 0;
	snprintf(alt, sizeof(alt), "sysv:id=%d", st->sysv_id);
	if (strncmp(alt, prefix, n) == 0)
		return 1;
	if (st->sysv_key <= 0)
		return 0;
	snprintf(alt, sizeof(alt), "sysv:0x%08" PRIx64, (uint64_t)st->sysv_key);
	if (strncasecmp(alt, prefix, n) == 0)
		return 1;
	snprintf(alt, sizeof(alt), "sysv:0x%" PRIx64, (uint64_t)st->sysv_key);
	return strncasecmp(alt, prefix, n) == 0;
}

/* A SysV segment's own URI (the library's: "sysv:0x%08x" by key, "sysv:id=N"
 * when private) into buf. */
static int sysv_uri_from(const struct shmkit_stat *st, char *buf, size_t cap)
{
	size_t n = strlen(st->uri);

	if (st->backend != SHMKIT_SYSV || n >= cap)
		return -EINVAL;
	memcpy(buf, st->uri, n + 1);
	return 0;
}

/* shmkit_list callback: the private SysV segment this process made. */
static int find_own_private(const struct shmkit_stat *st, void *arg)
{
	char *buf = arg;

	if (st->backend == SHMKIT_SYSV && st->sysv_key <= 0 && st->creator_pid == getpid()) {
		sysv_uri_from(st, buf, 64);
		return 1; /* stop */
	}
	return 0;
}

int cli_check_lasting(const char *what, const char *uri)
{
	if (strncmp(uri, "memfd:", 6) != 0 && strncmp(uri, "anon:", 5) != 0)
		return CLI_OK;
	return cli_fail_msg(what, uri, "memfd: and anon: segments live only as long as the "
				       "process that made them; create them from a program");
}

int cli_say_made(const char *uri, const struct shmkit_seg *seg)
{
	char made[64] = "";
	struct shmkit_stat *st;

	if (strncmp(uri, "sysv:/", 6) != 0 && strncmp(uri, "sysv:private", 12) != 0)
		return CLI_OK;
	if (!(st = calloc(1, sizeof(*st))))
		return CLI_OK;
	if (seg) {
		if (shmkit_seg_stat(seg, st) == 0)
			sysv_uri_from(st, made, sizeof(made));
	} else if (strncmp(uri, "sysv:/", 6) == 0) { /* ftok: the key is the path's */
		if (shmkit_stat(uri, st) == 0)
			sysv_uri_from(st, made, sizeof(made));
	} else { /* no handle: the one segment of key 0 this process created */
		shmkit_list(find_own_private, made);
	}
	free(st);
	if (!made[0]) {
		char safe[4 * SHMKIT_URI_MAX];
		fprintf(stderr, "shmkit: create %s: made, but its id could not be read back "
				"(shmkit ls sysv: shows it)\n", cli_name(uri, safe, sizeof(safe)));
		return CLI_OK;
	}
	printf("%s\n", made);
	int err = -cli_stdout_flush();
	if (err == 0)
		return CLI_OK;
	if (strncmp(uri, "sysv:private", 12) != 0) /* an ftok path names it still */
		return cli_fail_msg("create", uri, "made as %s, and kept (the path names it), but "
				    "that name could not be written: write error on standard "
				    "output: %s", made, strerror(err));
	/* nobody could ever name it: a persistent segment gc never removes */
	int r = shmkit_remove(made);
	return cli_fail_msg("create", uri, "the name of the segment made, %s, could not be written, "
			    "so it was %s: write error on standard output: %s", made,
			    r < 0 ? "NOT removed (remove it by that name)" : "removed", strerror(err));
}

/* "sysv:" then only decimal digits spells one key in decimal, as in a URI
 * (as a string it starts no URI ls prints): 1 with *key, else 0. */
static int decimal_sysv_key(const char *v, unsigned long long *key)
{
	const char *d = v + 5;

	if (strncmp(v, "sysv:", 5) != 0 || !*d || strspn(d, "0123456789") != strlen(d))
		return 0;
	errno = 0;
	*key = strtoull(d, NULL, 10);
	if (errno)
		*key = ULLONG_MAX;
	return 1;
}

/* Whether a listed System V URI can start with "sysv:" + rest: a key
 * (sysv:0x then hex digits, or in decimal), an id (sysv:id= then digits),
 * an ftok path, or a beginning of one of those. sysv:private is none: a
 * private segment is listed as sysv:id=N, and ls sysv:private said nothing. */
static int sysv_prefix_possible(const char *rest)
{
	size_t n = strlen(rest);

	if (rest[0] == '/' || strspn(rest, "0123456789") == n)
		return 1;
	if (strncasecmp(rest, "0x", n < 2 ? n : 2) == 0)
		return n <= 2 || strspn(rest + 2, "0123456789abcdefABCDEF") == n - 2;
	if (strncmp(rest, "id=", n < 3 ? n : 3) == 0)
		return n <= 3 || strspn(rest + 3, "0123456789") == n - 3;
	return 0;
}

int cli_check_prefixes(const char *cmd, char *const *v, int n)
{
	static const char *const schemes[] = { "posix", "sysv", "file", "memfd", "anon", NULL };

	for (int i = 0; i < n; i++) {
		unsigned long long key;
		if (decimal_sysv_key(v[i], &key) && (key == 0 || key > 0xffffffffull)) {
			char safe[256];
			return cli_usage_error(cmd, "prefix '%s': a decimal key names one key, and %s "
					       "(sysv: or sysv:0x matches every key, sysv:id=N one id)",
					       cli_name(v[i], safe, sizeof(safe)),
					       key == 0 ? "0 is IPC_PRIVATE, which names none"
							: "this one is out of range");
		}
		const char *colon = strchr(v[i], ':'), *slash = strchr(v[i], '/');
		const char *name = v[i][0] == '/' ? v[i] + 1
				   : strncmp(v[i], "posix:/", 7) == 0 ? v[i] + 7 : NULL;
		if (name && strchr(name, '/')) {
			char safe[256];
			return cli_usage_error(cmd, "prefix '%s' would match nothing: a POSIX name has no "
					       "'/' after the leading one (/dev/shm/NAME is posix:/NAME)",
					       cli_name(v[i], safe, sizeof(safe)));
		}
		/* an ftok path takes ?proj= (its key); a SysV key or id no option:
		 * sysv:0x44?huge matched nothing (ls listed none, gc kept all) */
		if (strncmp(v[i], "sysv:/", 6) == 0 &&
		    cli_uri_options(cmd, v[i], CLI_URI_PROJ) != CLI_OK)
			return CLI_USAGE;
		if (strncmp(v[i], "sysv:", 5) == 0 && v[i][5] != '/' && strchr(v[i], '?')) {
			char safe[256];
			return cli_usage_error(cmd, "prefix '%s' would match nothing: a System V key or "
					       "id takes no URI option",
					       cli_name(v[i], safe, sizeof(safe)));
		}
		if (strncmp(v[i], "sysv:", 5) == 0 && !strchr(v[i], '?') &&
		    !sysv_prefix_possible(v[i] + 5)) {
			char safe[256];
			return cli_usage_error(cmd, "prefix '%s' would match nothing: System V "
					       "segments are listed as sysv:0xKEY or sysv:id=N (a "
					       "private one as sysv:id=N)",
					       cli_name(v[i], safe, sizeof(safe)));
		}
		if (!colon || (slash && slash < colon))
			continue; /* no scheme: a part of one, or a /name */
		size_t len = (size_t)(colon - v[i]);
		const char *const *k = schemes;
		while (*k && !(strlen(*k) == len && strncmp(*k, v[i], len) == 0))
			k++;
		if (!*k) {
			char safe[256];
			return cli_usage_error(cmd, "unknown URI scheme in prefix '%s' (posix:, sysv:, "
					       "file:, memfd:, anon:); it would match nothing",
					       cli_name(v[i], safe, sizeof(safe)));
		}
	}
	return CLI_OK;
}

int cli_uri_prefixes(char **v, int n)
{
	for (int i = 0; i < n; i++) {
		char *c;
		/* an ftok path names one key: the segment's own URI (sysv:0x%08x,
		 * all eight digits: that key alone), when it exists */
		if (strncmp(v[i], "sysv:/", 6) == 0) {
			struct shmkit_stat *st = calloc(1, sizeof(*st));
			int r = st ? shmkit_stat(v[i], st) : -ENOMEM;
			if (r == 0 && st->backend == SHMKIT_SYSV && st->sysv_key > 0 &&
			    (c = strdup(st->uri)) != NULL)
				v[i] = c;
			free(st);
			if (r == -ENOMEM)
				return r;
			continue;
		}
		/* a decimal key names that key alone: its URI, all eight digits */
		unsigned long long key;
		if (decimal_sysv_key(v[i], &key)) {
			if (asprintf(&c, "sysv:0x%08llx", key) < 0)
				return -ENOMEM;
			v[i] = c;
			continue;
		}
		/* a POSIX name without its '/' (posix:app-, app-), as create and rm
		 * take it; a bare word that starts a scheme ("sysv", "po") keeps
		 * matching that scheme, as ls sysv did before */
		char spelt[SHMKIT_URI_MAX];
		const char *p = shmkit__uri_prefix_spelling(v[i], spelt, sizeof(spelt));
		if (p == v[i])
			continue;
		if ((c = strdup(p)) == NULL)
			return -ENOMEM;
		v[i] = c;
	}
	return 0;
}

static void print_prefix(const char *what, const char *uri)
{
	fprintf(stderr, "shmkit: %s", what);
	if (uri && *uri) {
		fputc(' ', stderr);
		put_escaped(uri, 1);
	}
	fputs(": ", stderr);
}

/* Is uri "fd:N", N a descriptor open read-only? (An open for writing
 * through it says only "Permission denied".) */
static int fd_read_only(const char *uri)
{
	char *end;
	long fd;

	if (!uri || strncmp(uri, "fd:", 3) != 0 || !isdigit((unsigned char)uri[3]))
		return 0;
	fd = strtol(uri + 3, &end, 10);
	if (*end || fd > INT_MAX)
		return 0;
	int fl = fcntl((int)fd, F_GETFL);
	return fl >= 0 && (fl & O_ACCMODE) == O_RDONLY;
}

int cli_fail(const char *what, const char *uri, int err)
{
	const char *detail = shmkit_last_error_detail();
	char safe_detail[1024];

	if (err == -EINVAL && uri && strncmp(uri, "memfd:", 6) == 0 && detail &&
	    strstr(detail, "a name opens nothing"))
		return cli_fail_msg(what, uri, "no command opens a memfd by its name, which only "
				    "makes a new one; the looks (stat, read, queue stat, topic stat, "
				    "heap stats, map get, ls and count) find it as ls lists it; here "
				    "pass its descriptor as fd:N (from the shell: fd:7 "
				    "7<>/proc/PID/fd/N, PID one that shmkit stat lists as attached)");
	/* the ftok path's own error: its detail names the path, and repeats
	 * the reason, so the rule below would drop it */
	if (detail && strncmp(detail, "ftok ", 5) == 0)
		return cli_fail_msg(what, uri, "%s (a sysv:/PATH key is made from an existing "
				    "file)", cli_printable(detail, safe_detail, sizeof(safe_detail)));
	if (err == -EACCES && fd_read_only(uri))
		return cli_fail_msg(what, uri, "%s: the descriptor is open read-only, and this "
				    "command writes (from the shell, open it read-write: 7<>FILE)",
				    shmkit_strerror(err));
	print_prefix(what, uri);
	/* -EOWNERDEAD of an open is a half-built object, not a lock to repair
	 * (the reason's words, which are a mutex's): say that, and what to do */
	if (err == -EOWNERDEAD && detail && strstr(detail, "before the object was ready")) {
		put_escaped(detail, 0);
		fputs(": it was never finished, so nothing can use it; shmkit rm removes it (and "
		      "shmkit gc, unless it was to persist)\n",
		      stderr);
		return CLI_FAIL;
	}
	/* the library's detail, unless it only repeats the reason */
	if (detail && *detail && !strstr(detail, shmkit_strerror(err))) {
		fprintf(stderr, "%s (", shmkit_strerror(err));
		put_escaped(detail, 0);
		fputs(")\n", stderr);
	} else
		fprintf(stderr, "%s\n", shmkit_strerror(err));
	return CLI_FAIL;
}

/* Does the library's -EBADMSG detail say that what is there never was a
 * shmkit object (no header, too small for one, a descriptor no open takes),
 * rather than one whose header or contents look damaged? */
static int never_shmkit(const char *detail)
{
	static const char *const foreign[] = {
		", not a ", "no shmkit header", "smaller than a shmkit header",
		"not a regular or memory file", "not sealed against shrinking",
		"empty, and nobody holds it", NULL,
	};
	for (const char *const *f = foreign; *f; f++)
		if (strstr(detail, *f))
			return 1;
	return 0;
}

int cli_fail_missing(const char *what, const char *uri, const char *kind)
{
	char safe[4 * SHMKIT_URI_MAX + 3], make[sizeof(safe) + 64];

	cli_shell_name(uri, safe, sizeof(safe));
	if (strcmp(kind, "queue") == 0)
		snprintf(make, sizeof(make), "queue create %s --capacity N --max-msg BYTES", safe);
	else if (strcmp(kind, "topic") == 0)
		snprintf(make, sizeof(make), "topic create %s", safe);
	else /* map, heap */
		snprintf(make, sizeof(make), "%s %s create SIZE", kind, safe);
	return cli_fail_msg(what, uri, "no such %s (make one: shmkit %s)", kind, make);
}

int cli_fail_kind(const char *what, const char *uri, int err, const char *kind)
{
	const char *detail = shmkit_last_error_detail();
	char d[512];

	if (err == -ENOENT && !(detail && strncmp(detail, "ftok ", 5) == 0))
		return cli_fail_missing(what, uri, kind);
	if (err != -EBADMSG)
		return cli_fail(what, uri, err);
	if (!detail || !*detail)
		return cli_fail_msg(what, uri, "not a shmkit %s (or a corrupt one)", kind);
	cli_printable(detail, d, sizeof(d));
	if (strncmp(detail, "is a", 4) == 0 && strstr(detail, ", not a ")) /* says both */
		return cli_fail_msg(what, uri, "%s", d);
	if (strstr(detail, "no creator recorded (")) /* all zero: maybe a creator not started */
		return cli_fail_msg(what, uri, "not a shmkit %s (yet?): %s", kind, d);
	if (strncmp(uri, "memfd:", 6) == 0 && strstr(detail, "not sealed against shrinking"))
		return cli_fail_msg(what, uri, "not a shmkit %s: another program's memfd (not "
				    "sealed against shrinking, as every memfd shmkit makes is)", kind);
	if (never_shmkit(detail))
		return cli_fail_msg(what, uri, "not a shmkit %s: %s", kind, d);
	return cli_fail_msg(what, uri, "not a shmkit %s, or a corrupt one (%s)", kind, d);
}

int cli_fail_stdin(const char *what, const char *uri, int err)
{
	return cli_fail_msg(what, uri, "reading standard input: %s", strerror(-err));
}

int cli_stdin_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

int cli_stdout_flush(void)
{
	/* A write that failed inside an earlier printf left its errno; the
	 * stream dropped what it could not write, so fflush may find nothing
	 * to write and set none (output ending on a buffer boundary) */
	int seen = ferror(stdout) ? errno : 0;

	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (errno > 0)
		return -errno;
	return seen > 0 ? -seen : -EIO;
}

int cli_write_out(struct iovec *iov, size_t n, size_t *done)
{
	*done = 0;
	while (n > 0) {
		ssize_t w = writev(STDOUT_FILENO, iov, n > IOV_MAX ? IOV_MAX : (int)n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* not ours to change (the file description is shared):
				 * wait for room instead, as a blocking write would */
				struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };
				if (poll(&p, 1, -1) < 0 && errno != EINTR)
					return -errno;
				continue;
			}
			return -errno;
		}
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--, (*done)++)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int cli_fail_write(const char *what, const char *uri, int err)
{
	/* not cli_fail: the library's detail is about something else */
	return cli_fail_msg(what, uri, "write error on standard output: %s", strerror(-err));
}

const char *cli_why(int err)
{
	const char *detail = shmkit_last_error_detail();
	return detail && *detail ? detail : shmkit_strerror(err);
}

int cli_fail_msg(const char *what, const char *uri, const char *fmt, ...)
{
	va_list ap;

	print_prefix(what, uri);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

/* What a create found under the name, from the library's -EEXIST detail
 * ("URI already exists (WHY): open it, or remove it to create it anew"):
 * WHY (another kind, no shmkit header, why a half-built object was not
 * taken over) into buf, or "" when it found a complete object of the kind
 * or said nothing more. */
static void exists_why(const char *detail, char *buf, size_t cap)
{
	static const char lead[] = " already exists (";
	const char *p = detail ? strstr(detail, lead) : NULL, *q;
	int depth = 1;

	buf[0] = '\0';
	if (!p)
		return;
	p += strlen(lead);
	for (q = p; *q && depth > 0; q++)
		depth += (*q == '(') - (*q == ')');
	if (depth == 0)
		snprintf(buf, cap, "%.*s", (int)(q - 1 - p), p);
}

int cli_fail_create(const char *what, const char *uri, int err)
{
	char safe[4 * SHMKIT_URI_MAX + 3], limits[1024];
	struct shmkit_stat *st;

	if (err == -ENOSPC || err == -ENOMEM || err == -EFBIG) {
		/* say which limit: a bare "filesystem full" on an empty /dev/shm misleads */
		const char *detail = shmkit_last_error_detail();
		char d[512];
		snprintf(d, sizeof(d), "%s", detail && *detail ? detail : shmkit_strerror(err));
		cli_limits_facts(uri, limits, sizeof(limits));
		return cli_fail_msg(what, uri, "%s (%s); limits here: %s", shmkit_strerror(err),
				    cli_printable(d, safe, sizeof(safe)), limits);
	}
	const char *detail = shmkit_last_error_detail();
	/* -EEXIST that is not the name's: ?addr= finds the address mapped */
	if (err != -EEXIST || (detail && *detail && !strstr(detail, "already exists")))
		return cli_fail(what, uri, err);
	char why[512], found[600];
	exists_why(detail, why, sizeof(why));
	/* name what is there by its real name (an ftok path's key, say) */
	st = calloc(1, sizeof(*st));
	int r = st ? shmkit_stat(uri, st) : -ENOMEM;
	if (r == 0) {
		if (!why[0] && st->managed && st->header_status == 0)
			snprintf(why, sizeof(why), "already a %s", cli_kind_name(st->kind));
		snprintf(found, sizeof(found), why[0] ? " (%s)" : "%s",
			 cli_printable(why, limits, sizeof(limits)));
		cli_shell_name(st->uri, safe, sizeof(safe));
		cli_fail_msg(what, uri, "%s%s; left as it was (see it: shmkit stat %s; "
			     "remove it: shmkit rm %s)", shmkit_strerror(err), found, safe, safe);
	} else { /* a directory, a device: no segment, and rm would refuse it */
		cli_fail_msg(what, uri, "%s; left as it was, and it is no segment (%s)",
			     shmkit_strerror(err), cli_why(r));
	}
	free(st);
	return CLI_FAIL;
}

int cli_not_an_action(const char *cmd, int n, char **words, const char *actions)
{
	char a[256], b[256];

	if (n >= 2 && words[1][0] != '-')
		return cli_usage_error(cmd, "neither '%s' nor '%s' is an action (actions: %s)",
				       cli_name(words[0], a, sizeof a), cli_name(words[1], b, sizeof b),
				       actions);
	return cli_usage_error(cmd, "'%s' is no action (actions: %s)",
			       cli_name(words[0], a, sizeof a), actions);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	const char *usage = cli_command_usage(cmd);
	va_list ap;

	fprintf(stderr, "shmkit: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (usage)
		fprintf(stderr, "usage: shmkit %s\n", usage);
	return CLI_USAGE;
}

const char *cli_action_usage(const char *cmd, const char *action, char *buf, size_t cap)
{
	const char *usage = cli_command_usage(cmd), *lead_end;
	size_t alen = strlen(action);

	if (!usage)
		return NULL;
	/* what leads every alternative: the first one's words before its
	 * action, the first word in lower case after the name ("map URI ") */
	lead_end = usage + strcspn(usage, " ");
	while (*lead_end == ' ' && !islower((unsigned char)lead_end[1]))
		lead_end += 1 + strcspn(lead_end + 1, " ");
	if (*lead_end++ != ' ')
		return NULL;
	for (const char *a = lead_end; a; a = strstr(a, " | ") ? strstr(a, " | ") + 3 : NULL) {
		if (strncmp(a, action, alen) != 0 || (a[alen] != ' ' && a[alen] != '\0'))
			continue;
		const char *end = strstr(a, " | ");
		int n = end ? (int)(end - a) : (int)strlen(a);
		snprintf(buf, cap, "%.*s%.*s", (int)(lead_end - usage), usage, n, a);
		return buf;
	}
	return NULL;
}

int cli_action_usage_error(const char *cmd, const char *action, const char *fmt, ...)
{
	char line[512];
	const char *usage = cli_action_usage(cmd, action, line, sizeof(line));
	va_list ap;

	fprintf(stderr, "shmkit: %s %s: ", cmd, action);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!usage)
		usage = cli_command_usage(cmd);
	if (usage)
		fprintf(stderr, "usage: shmkit %s\n", usage);
	return CLI_USAGE;
}

/* ---- counts and sizes ---- */

uint64_t cli_read_limit(uint64_t limit)
{
	return limit > 65536 ? limit : 65536;
}

const char *cli_plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

const char *cli_human_size(uint64_t bytes, char *buf, size_t cap)
{
	static const char units[] = "BKMGTPE";
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%" PRIu64, bytes);
	else if (v < 10 && v != (double)(uint64_t)v)
		snprintf(buf, cap, "%.1f%c", v, units[u]);
	else
		snprintf(buf, cap, "%.0f%c", v, units[u]);
	return buf;
}

/* ---- time ---- */

int64_t cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cli_deadline(int64_t timeout_ns)
{
	return timeout_ns < 0 ? -1 : cli_now_ns() + timeout_ns;
}

int64_t cli_left(int64_t deadline)
{
	if (deadline < 0)
		return SHMKIT_FOREVER;
	int64_t now = cli_now_ns();
	return now >= deadline ? 0 : deadline - now;
}

int cli_await_creator(int (*look)(const char *uri), const char *uri, int64_t timeout_ns,
		      int64_t deadline)
{
	if (deadline < 0)
		return 0;
	while (look(uri) == -EAGAIN) {
		int64_t left = cli_left(deadline);
		if (left == 0)
			return timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT; /* the look's detail stays */
		struct timespec pause = { 0, left < 2000000 ? left : 2000000 };
		nanosleep(&pause, NULL);
	}
	return 0;
}

int cli_fail_waited(const char *what, const char *uri, int err)
{
	const char *detail = shmkit_last_error_detail();
	char d[512], safe[4 * sizeof(d) + 3];

	snprintf(d, sizeof(d), "%s",
		 detail && *detail ? detail : "its creator is still initializing it");
	return cli_fail_msg(what, uri, "%s: %s",
			    err == -EAGAIN ? "not ready (--timeout 0 does not wait)"
					   : "timed out waiting for it to be ready",
			    cli_printable(d, safe, sizeof(safe)));
}

/* ---- names ---- */

const char *cli_backend_name(enum shmkit_backend b)
{
	switch (b) {
	case SHMKIT_POSIX: return "posix";
	case SHMKIT_SYSV: return "sysv";
	case SHMKIT_FILE: return "file";
	case SHMKIT_MEMFD: return "memfd";
	case SHMKIT_ANON: return "anon";
	case SHMKIT_BACKEND_NONE: break;
	}
	return "unknown";
}

const char *cli_lifetime_name(enum shmkit_lifetime l)
{
	switch (l) {
	case SHMKIT_LIFE_PROCESS: return "process";
	case SHMKIT_LIFE_KERNEL: return "kernel";
	case SHMKIT_LIFE_FILESYSTEM: return "filesystem";
	}
	return "unknown";
}

const char *cli_kind_name(uint32_t kind)
{
	return kind == SHMKIT_KIND_NONE ? "none" : shmkit_kind_name(kind);
}

const char *cli_user_name(uid_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, cap, "%s", res->pw_name);
	else
		snprintf(buf, cap, "%u", (unsigned)uid);
	return buf;
}

/* ---- JSON ---- */

/* The JSON string of the len bytes at s. Each byte that is not part of
 * valid UTF-8 becomes the lone surrogate \udcXX when escape (what Python's
 * surrogateescape makes of it: lossless, and unlike any valid UTF-8, which
 * has no surrogates); else the call writes nothing and returns -1. */
static int write_string_n(FILE *out, const unsigned char *s, size_t len, int escape)
{
	const unsigned char *end = s + len;

	for (const unsigned char *p = s; !escape && p < end;) {
		size_t n = utf8_len_at(p, end);
		if (n == 0)
			return -1;
		p += n;
	}
	fputc('"', out);
	while (s < end) {
		size_t n;

		switch (*s) {
		case '"': fputs("\\\"", out); s++; continue;
		case '\\': fputs("\\\\", out); s++; continue;
		case '\n': fputs("\\n", out); s++; continue;
		case '\r': fputs("\\r", out); s++; continue;
		case '\t': fputs("\\t", out); s++; continue;
		default: break;
		}
		n = utf8_len_at(s, end);
		if (n == 0) { /* not UTF-8: the byte as its surrogate */
			fprintf(out, "\\udc%02x", *s++);
			continue;
		}
		if (*s < 0x20 || *s == 0x7f) { /* control characters */
			fprintf(out, "\\u%04x", *s++);
			continue;
		}
		fwrite(s, 1, n, out);
		s += n;
	}
	fputc('"', out);
	return 0;
}

void cli_json_write_string(FILE *out, const char *str)
{
	write_string_n(out, (const unsigned char *)str, strlen(str), 1);
}

void cli_json_init(struct cli_json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

/* Comma, newline and indentation before an item, then its key if any. */
static void item(struct cli_json *j, const char *key)
{
	if (j->depth > 0) {
		if (j->has_items[j->depth])
			fputc(',', j->out);
		fputc('\n', j->out);
		fprintf(j->out, "%*s", 2 * j->depth, "");
		j->has_items[j->depth] = 1;
	}
	if (key) {
		cli_json_write_string(j->out, key);
		fputs(": ", j->out);
	}
}

static void open_container(struct cli_json *j, const char *key, char c)
{
	item(j, key);
	fputc(c, j->out);
	if (j->depth + 1 < CLI_JSON_DEPTH)
		j->depth++;
	j->has_items[j->depth] = 0;
	j->closer[j->depth] = c == '{' ? '}' : ']';
}

void cli_json_object(struct cli_json *j, const char *key)
{
	open_container(j, key, '{');
}

void cli_json_array(struct cli_json *j, const char *key)
{
	open_container(j, key, '[');
}

void cli_json_end(struct cli_json *j)
{
	int had = j->has_items[j->depth];
	char closer = j->closer[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (had) {
		fputc('\n', j->out);
		fprintf(j->out, "%*s", 2 * j->depth, "");
	}
	fputc(closer, j->out);
}

void cli_json_str(struct cli_json *j, const char *key, const char *val)
{
	item(j, key);
	if (val)
		cli_json_write_string(j->out, val);
	else
		fputs("null", j->out);
}

void cli_json_int(struct cli_json *j, const char *key, int64_t val)
{
	item(j, key);
	fprintf(j->out, "%" PRId64, val);
}

void cli_json_uint(struct cli_json *j, const char *key, uint64_t val)
{
	item(j, key);
	fprintf(j->out, "%" PRIu64, val);
}

void cli_json_bool(struct cli_json *j, const char *key, int val)
{
	item(j, key);
	fputs(val ? "true" : "false", j->out);
}

void cli_json_null(struct cli_json *j, const char *key)
{
	item(j, key);
	fputs("null", j->out);
}

void cli_json_text(struct cli_json *j, const char *key, const void *p, size_t len)
{
	item(j, key);
	if (write_string_n(j->out, p, len, 0) < 0)
		fputs("null", j->out);
}

void cli_json_base64(struct cli_json *j, const char *key, const void *p, size_t len)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = p;

	item(j, key);
	fputc('"', j->out);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (n > 2)
			v |= s[i + 2];
		for (size_t k = 0; k < 4; k++)
			fputc(k <= n ? digits[(v >> (18 - 6 * k)) & 63] : '=', j->out);
	}
	fputc('"', j->out);
}

int cli_json_finish(struct cli_json *j)
{
	fputc('\n', j->out);
	int seen = ferror(j->out) ? errno : 0; /* as cli_stdout_flush() */
	errno = 0;
	if (fflush(j->out) != 0 || ferror(j->out))
		return errno > 0 ? -errno : seen > 0 ? -seen : -EIO;
	return 0;
}

int cli_owner_mode(const char *cmd, const struct cli_owner *w, unsigned *mode)
{
	if (w->persist && w->owned)
		return cli_usage_error(cmd, "--persist and --owned exclude each other");
	if (!w->owned)
		*mode |= SHMKIT_PERSIST;
	/* The library makes every create persistent when SHMKIT_PERSIST is set
	 * in the environment, whatever the mode says: an explicit --owned lost
	 * to it silently. The command asked in words; it wins (this process's
	 * environment only, and only for the create about to run). */
	else
		unsetenv("SHMKIT_PERSIST"); /* fails only for a malformed name */
	return 0;
}
