/* SPDX-License-Identifier: MIT */
/* Harness: the CLI through its headers (tools/cli_opt.h, tools/cli.h).
 * The first input byte picks what the rest feeds:
 *   0: cli_parse with an argv cut from the input at NUL bytes, against an
 *      option table of every type: it returns -1 (a usage error, reported)
 *      or n operands, each one of the original arguments, in order;
 *   1: the value parsers (size, u64, duration, mode) on one string: a value
 *      they accept is in range;
 *   2: the JSON writer on arbitrary bytes (text, string, base64): the
 *      document always parses;
 *   3: a command on the rest as a segment image (fd:N): the second byte
 *      picks one of cmd_templates (stat --json, read, map/heap/topic/queue
 *      looks and changes, send/recv/pub/sub, all with --timeout 0), the
 *      next two the image's length; what follows is the command's standard
 *      input and its KEY. Exit 0 or 1 (2 for a template's own usage), and
 *      a --json output that exits 0 is one valid JSON document.
 * Nothing here touches a named segment: only memfds made for the input. */
#include "fuzz.h"

#include <ctype.h>
#include <stdio_ext.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

/* ---- a strict JSON checker (RFC 8259), enough to say "parses" ---- */

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *jstring(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			p++;
			if (*p && strchr("\"\\/bfnrt", *p)) {
				p++;
				continue;
			}
			if (*p != 'u')
				return NULL;
			for (int i = 1; i <= 4; i++)
				if (!isxdigit((unsigned char)p[i]))
					return NULL;
			p += 5;
			continue;
		}
		int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (n == 0 || (n == 2 && c < 0xc2))
			return NULL;
		for (int i = 1; i < n; i++)
			if (((unsigned char)p[i] & 0xc0) != 0x80)
				return NULL;
		p += n;
	}
	return p + 1;
}

static const char *jnumber(const char *p)
{
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return NULL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return NULL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return p;
}

static const char *jvalue(const char *p, int depth)
{
	p = ws(p);
	if (depth > 64)
		return NULL;
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (!(p = jstring(ws(p))))
					return NULL;
				p = ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if (!(p = jvalue(p, depth + 1)))
				return NULL;
			p = ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return jstring(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	return jnumber(p);
}

static void check_json(const char *doc, size_t len, const char *what)
{
	const char *end = strlen(doc) == len ? jvalue(doc, 0) : NULL;
	if (!end || *ws(end) != '\0')
		fuzz_fail("%s: output is not one JSON document: %.300s", what, doc);
}

/* ---- 0: the option parser ---- */

static void parse_argv(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[64];
	int argc = 0;
	int flag = 0;
	const char *str = NULL;
	uint64_t u = 0, sz = 0;
	int64_t dur = 0, every = 0;
	unsigned mode = 0;
	int given = 0;
	const struct cli_opt opts[] = {
		{ "json", 'j', CLI_FLAG, &flag, NULL },      { "name", 'n', CLI_STRING, &str, &given },
		{ "count", 'c', CLI_U64, &u, NULL },         { "size", 's', CLI_SIZE, &sz, NULL },
		{ "timeout", 't', CLI_DURATION, &dur, NULL }, { "mode", 'm', CLI_MODE, &mode, NULL },
		{ "timestamps", 0, CLI_FLAG, &flag, NULL },  { "interval", 'i', CLI_PERIOD, &every, NULL },
		{ 0 },
	};
	if (!buf)
		return;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "recv";
	for (char *p = buf; argc < 63 && p < buf + size; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	char *orig[64];
	memcpy(orig, argv, sizeof(argv));
	int n = FUZZ_T(cli_parse("recv", argc, argv, opts));
	if (n < -1 || n > argc - 1)
		fuzz_fail("cli_parse returned %d for %d arguments", n, argc - 1);
	/* operands: original arguments, in their order */
	for (int i = 1, j = 1; i <= n; i++) {
		while (j < argc && orig[j] != argv[i])
			j++;
		if (j == argc)
			fuzz_fail("operand %d is not one of the arguments, or out of order", i);
		j++;
	}
	if (n >= 0 && mode > 0777)
		fuzz_fail("--mode accepted %o", mode);
	if (n >= 0 && every < 0)
		fuzz_fail("--interval accepted forever");
	free(buf);
}

/* ---- 1: value parsers ---- */

static void parse_values(const uint8_t *data, size_t size)
{
	char s[256];
	uint64_t u;
	int64_t ns;
	unsigned mode;
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = '\0';
	int r = cli_parse_size(s, &u);
	if (r != 0 && r != -EINVAL && r != -ERANGE)
		fuzz_fail("cli_parse_size(\"%s\") = %d", s, r);
	r = cli_parse_u64(s, &u);
	if (r != 0 && r != -EINVAL && r != -ERANGE)
		fuzz_fail("cli_parse_u64(\"%s\") = %d", s, r);
	r = cli_parse_duration(s, &ns);
	if (r == 0 && ns < 0 && ns != SHMKIT_FOREVER)
		fuzz_fail("cli_parse_duration(\"%s\") gave %lld", s, (long long)ns);
	r = cli_parse_mode(s, &mode);
	if (r == 0 && mode > 0777)
		fuzz_fail("cli_parse_mode(\"%s\") gave %o", s, mode);
}

/* ---- 2: the JSON writer ---- */

static void json_bytes(const uint8_t *data, size_t size)
{
	char *doc = NULL, key[16];
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);
	struct cli_json j;
	size_t k = size < 8 ? size : 8;
	if (!f)
		return;
	memcpy(key, data, k); /* keys come from callers, but must be escaped too */
	key[k] = '\0';
	cli_json_init(&j, f);
	cli_json_object(&j, NULL);
	cli_json_text(&j, "text", data, size);
	cli_json_base64(&j, "b64", data, size);
	cli_json_str(&j, key, key);
	cli_json_array(&j, "a");
	cli_json_int(&j, NULL, (int64_t)size - 5);
	cli_json_uint(&j, NULL, (uint64_t)-1);
	cli_json_null(&j, NULL);
	cli_json_end(&j);
	cli_json_end(&j);
	cli_json_finish(&j);
	fclose(f);
	check_json(doc, len, "json writer");
	free(doc);
}

/* ---- 3: a command on an image ---- */

/* "@" is the image's URI, "%" the KEY taken from the input. Only fd:N is
 * named: nothing here can reach a named segment or a file. */
static const char *const cmd_templates[][9] = {
	{ "stat", "--json", "@" },
	{ "stat", "@" },
	{ "read", "@" },
	{ "read", "@", "--hex", "--offset", "%" },
	{ "map", "@", "get", "%" },
	{ "map", "@", "get", "%", "--raw" },
	{ "map", "@", "ls", "--json" },
	{ "map", "@", "ls" },
	{ "map", "@", "count" },
	{ "map", "@", "check", "--timeout", "0" },
	{ "map", "@", "put", "%", "-", "--timeout", "0" },
	{ "map", "@", "del", "%", "--timeout", "0" },
	{ "heap", "@", "stats", "--json" },
	{ "heap", "@", "stats" },
	{ "heap", "@", "check", "--timeout", "0" },
	{ "topic", "stat", "@", "--json" },
	{ "topic", "stat", "@" },
	{ "queue", "stat", "@", "--json" },
	{ "queue", "stat", "@" },
	{ "recv", "@", "--count", "0", "--timeout", "0" },
	{ "recv", "@", "--count", "2", "--timeout", "0", "--null" },
	{ "recv", "@", "--timeout", "0", "--raw" },
	{ "send", "@", "-", "--timeout", "0" },
	{ "send", "@", "-", "--timeout", "0", "--raw" },
	{ "send", "@", "%", "--timeout", "0" },
	{ "sub", "@", "--count", "1", "--timeout", "0" },
	{ "pub", "@", "-", "--timeout", "0" },
	{ "pub", "@", "%", "--timeout", "0" },
};
#define N_TEMPLATES (sizeof(cmd_templates) / sizeof(cmd_templates[0]))

/* The commands shmkit(1) says only look (LOOKING CHANGES NOTHING): they
 * must leave every byte of the image as it was. */
static int looks_only(const char *const *t)
{
	static const char *const looks[] = { "get", "ls", "count", "stats", NULL };
	if (!strcmp(t[0], "stat") || !strcmp(t[0], "read") || !strcmp(t[1], "stat"))
		return 1;
	for (int i = 0; looks[i]; i++)
		if (!strcmp(t[2] ? t[2] : "", looks[i]))
			return 1;
	return 0;
}

/* The descriptor as the command's standard input, read from its start, with
 * stdio's buffer and flags forgotten (the harness runs many commands). */
static int stdin_from(int fd)
{
	int saved = dup(0);
	__fpurge(stdin);
	clearerr(stdin);
	lseek(fd, 0, SEEK_SET);
	dup2(fd, 0);
	return saved;
}

static void stdin_back(int saved)
{
	__fpurge(stdin);
	clearerr(stdin);
	dup2(saved, 0);
	close(saved);
}

static void run_command(const uint8_t *data, size_t size)
{
	char uri[32], key[64];
	if (size < 3)
		return;
	const char *const *t = cmd_templates[data[0] % N_TEMPLATES];
	size_t img = (size_t)data[1] | (size_t)data[2] << 8;
	data += 3;
	size -= 3;
	img = img < size ? img : size;
	/* the KEY: the first bytes after the image, up to a NUL */
	size_t k = 0;
	while (k < size - img && k < sizeof(key) - 1 && data[img + k])
		k++;
	memcpy(key, data + img, k);
	key[k] = '\0';
	int fd = fuzz_image(data, img, uri, sizeof(uri));
	if (fd < 0)
		return;
	if (fuzz_image_waits(data, img, uri) || fuzz_heap_holder_unknowable(data, img) ||
	    fuzz_heap_boot_busy(data, img)) {
		close(fd);
		return;
	}
	int in = memfd_create("shmkit-fuzz-in", MFD_CLOEXEC);
	int out = memfd_create("shmkit-fuzz-out", MFD_CLOEXEC);
	if (in < 0 || out < 0 || write(in, data + img, size - img) != (ssize_t)(size - img))
		fuzz_fail("memfd for the command's stdin/stdout");
	char *argv[10];
	int argc = 0, json = 0, keyed = 0;
	argv[argc++] = "shmkit";
	for (int i = 0; i < 9 && t[i]; i++) {
		argv[argc++] = !strcmp(t[i], "@") ? uri : !strcmp(t[i], "%") ? key : (char *)t[i];
		json |= !strcmp(t[i], "--json");
		keyed |= !strcmp(t[i], "%"); /* any KEY: "-x", "" may be usage errors */
	}
	argv[argc] = NULL;
	int saved_in = stdin_from(in);
	int saved = dup(1);
	fflush(stdout);
	dup2(out, 1);
	int rc = FUZZ_T(cli_run(argc, argv));
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	stdin_back(saved_in);
	off_t len = lseek(out, 0, SEEK_END);
	char *doc = malloc((size_t)len + 1);
	if (doc && pread(out, doc, (size_t)len, 0) == len) {
		doc[len] = '\0';
		if (rc != 0 && rc != 1 && !(rc == 2 && keyed))
			fuzz_fail("shmkit %s %s exited %d", t[0], t[1], rc);
		if (rc == 0 && json)
			check_json(doc, (size_t)len, "shmkit --json");
	}
	free(doc);
	if (looks_only(t)) {
		unsigned char *now = malloc(img ? img : 1);
		if (now && pread(fd, now, img, 0) == (ssize_t)img && memcmp(now, data, img) != 0)
			fuzz_fail("shmkit %s %s %s only looks, but changed the image", t[0], t[1],
				  t[2] ? t[2] : "");
		free(now);
	}
	close(in);
	close(out);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] & 3) {
	case 0:
		parse_argv(data + 1, size - 1);
		break;
	case 1:
		parse_values(data + 1, size - 1);
		break;
	case 2:
		json_bytes(data + 1, size - 1);
		break;
	default:
		run_command(data + 1, size - 1);
	}
	return 0;
}
