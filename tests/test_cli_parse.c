/* SPDX-License-Identifier: MIT */
/* The CLI's one option parser and its value parsers (tools/cli_opt.h), and
 * the JSON writer's escaping (tools/cli.h), tested through their headers
 * (linked from the shmkit_cli library). */
#include <stdarg.h>
#include <unistd.h>

#include "cli.h"
#include "test.h"

/* Runs cli_parse on a NULL-terminated list of words with stderr captured;
 * returns its result, the operands joined by '|' in ops, stderr in err. */
static int parse_words(const struct cli_opt *opts, char *ops, size_t opcap, char *err,
		       size_t errcap, ...)
{
	/* static: cli_parse points string options into argv's words, and the
	 * caller reads them after this frame is gone */
	static char words[32][64];
	char *argv[32];
	int argc = 0, n, saved = dup(2);
	va_list ap;
	FILE *f = tmpfile();

	va_start(ap, errcap);
	for (const char *w; (w = va_arg(ap, const char *)) != NULL && argc < 32; argc++) {
		snprintf(words[argc], sizeof(words[argc]), "%s", w);
		argv[argc] = words[argc];
	}
	va_end(ap);
	fflush(stderr);
	dup2(fileno(f), 2);
	n = cli_parse("ls", argc, argv, opts);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	err[fread(err, 1, errcap - 1, f)] = 0;
	fclose(f);
	ops[0] = 0;
	for (int i = 1; i <= n; i++)
		snprintf(ops + strlen(ops), opcap - strlen(ops), "%s%s", i > 1 ? "|" : "", argv[i]);
	return n;
}

static void parser(void)
{
	int json = 0, raw = 0, has_count = 0;
	uint64_t count = 0, size = 0;
	int64_t timeout = 0;
	unsigned mode = 0;
	const char *cols = NULL;
	char ops[256], err[1024];
	struct cli_opt opts[] = {
		{ "json", 'J', CLI_FLAG, &json, NULL },
		{ "raw", 'r', CLI_FLAG, &raw, NULL },
		{ "count", 0, CLI_U64, &count, &has_count },
		{ "max-msg", 0, CLI_SIZE, &size, NULL },
		{ "mode", 0, CLI_MODE, &mode, NULL },
		{ "timeout", 't', CLI_DURATION, &timeout, NULL },
		{ "output", 'o', CLI_STRING, &cols, NULL },
		{ 0 },
	};
#define RESET() (json = raw = has_count = 0, count = size = 0, timeout = 0, mode = 0, cols = NULL)
#define P(...) parse_words(opts, ops, sizeof(ops), err, sizeof(err), "ls", __VA_ARGS__, NULL)

	/* options and operands mixed; operands keep their order */
	RESET();
	CHECK(P("a", "--json", "b", "--count", "3", "c") == 3);
	CHECK(strcmp(ops, "a|b|c") == 0 && json == 1 && count == 3 && has_count == 1);
	/* --name=value, short with separate and attached value, grouped flags */
	RESET();
	CHECK(P("--count=7", "-t", "250ms", "-ouri,size", "-Jr", "x") == 1);
	CHECK(count == 7 && timeout == 250000000 && json && raw && strcmp(cols, "uri,size") == 0);
	/* a value is the next word whatever it looks like: --timeout -1 */
	RESET();
	CHECK(P("--timeout", "-1", "u") == 1 && timeout == SHMKIT_FOREVER);
	/* "-" and negative numbers are operands; "--" ends options */
	RESET();
	CHECK(P("u", "-", "-5", "--", "--json", "-x") == 5);
	CHECK(strcmp(ops, "u|-|-5|--json|-x") == 0 && json == 0);
	/* unique abbreviation; exact name wins over a longer one sharing it */
	RESET();
	CHECK(P("--js", "--max", "64K") == 0 && json && size == 65536);
	/* ambiguous abbreviation (--m: --max-msg, --mode) */
	RESET();
	CHECK(P("--m", "1") == -1 && strstr(err, "ambiguous option --m"));
	/* the old strstr check let "--on" pass for a command allowing "json":
	 * an unknown option is named, with the options the command takes */
	RESET();
	CHECK(P("--on") == -1 && strstr(err, "bad option --on") && strstr(err, "--json"));
	CHECK(P("-q") == -1 && strstr(err, "bad option -q"));
	/* missing value, value to a flag, bad value, given twice */
	RESET();
	CHECK(P("--count") == -1 && strstr(err, "--count needs a value"));
	CHECK(P("--json=1") == -1 && strstr(err, "--json takes no value"));
	CHECK(P("--count", "x") == -1 && strstr(err, "bad value for --count: 'x'"));
	CHECK(P("--mode", "4755") == -1 && strstr(err, "bad value for --mode"));
	RESET();
	CHECK(P("--json", "-J") == -1 && strstr(err, "--json given twice"));
	/* nothing at all */
	RESET();
	CHECK(P("--") == 0);
	/* a table with no options */
	struct cli_opt none[] = { { 0 } };
	CHECK(parse_words(none, ops, sizeof(ops), err, sizeof(err), "rm", "--json", NULL) == -1);
	CHECK(strstr(err, "bad option --json") && strstr(err, "no options"));
	CHECK(parse_words(none, ops, sizeof(ops), err, sizeof(err), "rm", "a", "b", NULL) == 2);
#undef P
#undef RESET
}

static void sizes(void)
{
	uint64_t v = 0;

	CHECK_OK(cli_parse_size("4096", &v)); CHECK(v == 4096);
	CHECK_OK(cli_parse_size("0x1000", &v)); CHECK(v == 4096);
	CHECK_OK(cli_parse_size("64K", &v)); CHECK(v == 65536);
	CHECK_OK(cli_parse_size("64k", &v)); CHECK(v == 65536);
	CHECK_OK(cli_parse_size("64KiB", &v)); CHECK(v == 65536);
	CHECK_OK(cli_parse_size("1M", &v)); CHECK(v == 1 << 20);
	CHECK_OK(cli_parse_size("1G", &v)); CHECK(v == 1 << 30);
	CHECK_OK(cli_parse_size("2T", &v)); CHECK(v == 2ull << 40);
	CHECK_OK(cli_parse_size("0", &v)); CHECK(v == 0);
	/* a leading zero is decimal, not octal */
	CHECK_OK(cli_parse_size("010", &v)); CHECK(v == 10);
	CHECK_OK(cli_parse_size("08K", &v)); CHECK(v == 8192);
	CHECK_OK(cli_parse_size("0X10", &v)); CHECK(v == 16);
	CHECK_OK(cli_parse_u64("010", &v)); CHECK(v == 10);
	CHECK_OK(cli_parse_u64("09", &v)); CHECK(v == 9);
	CHECK_OK(cli_parse_u64("0x10", &v)); CHECK(v == 16);
	CHECK_RET(cli_parse_size("0x", &v), -EINVAL);
	CHECK_RET(cli_parse_size("", &v), -EINVAL);
	CHECK_RET(cli_parse_size("-1", &v), -EINVAL);
	CHECK_RET(cli_parse_size("1X", &v), -EINVAL);
	CHECK_RET(cli_parse_size("1KX", &v), -EINVAL);
	CHECK_RET(cli_parse_size(" 1", &v), -EINVAL);
	CHECK_RET(cli_parse_size("99999999999999999999", &v), -ERANGE);
	CHECK_RET(cli_parse_size("16777216T", &v), -ERANGE);
}

static void durations(void)
{
	int64_t ns = 0;

	CHECK_OK(cli_parse_duration("2", &ns)); CHECK(ns == 2000000000);
	CHECK_OK(cli_parse_duration("0.5", &ns)); CHECK(ns == 500000000);
	CHECK_OK(cli_parse_duration("250ms", &ns)); CHECK(ns == 250000000);
	CHECK_OK(cli_parse_duration("10us", &ns)); CHECK(ns == 10000);
	CHECK_OK(cli_parse_duration("7ns", &ns)); CHECK(ns == 7);
	CHECK_OK(cli_parse_duration("1m", &ns)); CHECK(ns == 60000000000);
	CHECK_OK(cli_parse_duration("0", &ns)); CHECK(ns == 0);
	CHECK_OK(cli_parse_duration("forever", &ns)); CHECK(ns == SHMKIT_FOREVER);
	CHECK_OK(cli_parse_duration("-1", &ns)); CHECK(ns == SHMKIT_FOREVER);
	CHECK_OK(cli_parse_duration("0.1", &ns)); CHECK(ns >= 100000000);
	CHECK_RET(cli_parse_duration("", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("-2", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("1x", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("nan", &ns), -EINVAL);
	/* decimal only: strtod took exponents and hex */
	CHECK_RET(cli_parse_duration("1e30", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("1e3", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("1E3s", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("0x10", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("0x1p4", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("1,5", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration(" 1", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration(".", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("1 s", &ns), -EINVAL);
	CHECK_RET(cli_parse_duration("99999999999", &ns), -ERANGE);
	CHECK_OK(cli_parse_duration(".5", &ns)); CHECK(ns == 500000000);
	CHECK_OK(cli_parse_duration("1.5h", &ns)); CHECK(ns == 5400000000000);
	CHECK_OK(cli_parse_duration("2min", &ns)); CHECK(ns == 120000000000);
	CHECK_OK(cli_parse_duration("010", &ns)); CHECK(ns == 10000000000); /* not octal */
}

/* A period (top --interval) is a duration without "forever", and its hint
 * offers only what it takes: it offered "forever", which top then refused. */
static void periods(void)
{
	int64_t every = 0;
	char ops[64], err[1024];
	struct cli_opt opts[] = { { "interval", 0, CLI_PERIOD, &every, NULL }, { 0 } };
#define P(...) parse_words(opts, ops, sizeof(ops), err, sizeof(err), "top", __VA_ARGS__, NULL)

	CHECK(P("--interval", "250ms") == 0 && every == 250000000);
	CHECK(P("--interval", "2") == 0 && every == 2000000000);
	CHECK(P("--interval", "forever") == -1 && strstr(err, "bad value for --interval"));
	CHECK(P("--interval", "-1") == -1 && P("--interval", "inf") == -1);
	CHECK(P("--interval", "abc") == -1 && strstr(err, "seconds like 2"));
	CHECK(strstr(err, "forever") == NULL);
	CHECK(P("--interval") == -1 && strstr(err, "needs a value") && !strstr(err, "forever"));
#undef P
}

static void modes(void)
{
	unsigned m = 0;

	CHECK_OK(cli_parse_mode("600", &m)); CHECK(m == 0600);
	CHECK_OK(cli_parse_mode("0644", &m)); CHECK(m == 0644);
	CHECK_RET(cli_parse_mode("8", &m), -EINVAL);
	CHECK_RET(cli_parse_mode("17777", &m), -EINVAL);
	CHECK_OK(cli_parse_mode("777", &m)); CHECK(m == 0777);
	CHECK_RET(cli_parse_mode("7777", &m), -EINVAL); /* permission bits only */
	CHECK_RET(cli_parse_mode("1600", &m), -EINVAL);
	CHECK_RET(cli_parse_mode("rw", &m), -EINVAL);
	/* 0 is the library's "default" (0600): --mode 0 made an owner-writable
	 * segment, the opposite of what it asked */
	CHECK_RET(cli_parse_mode("0", &m), -EINVAL);
	CHECK_RET(cli_parse_mode("000", &m), -EINVAL);
	CHECK_OK(cli_parse_mode("400", &m)); CHECK(m == 0400);
}

static void json(void)
{
	char buf[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	struct cli_json j;

	CHECK(f != NULL);
	cli_json_init(&j, f);
	cli_json_object(&j, NULL);
	cli_json_str(&j, "s", "a\"b\\c\n\x01\xc3\xa9\xff");
	cli_json_int(&j, "i", -3);
	cli_json_array(&j, "a");
	cli_json_end(&j);
	cli_json_array(&j, "b");
	cli_json_bool(&j, NULL, 1);
	cli_json_null(&j, NULL);
	cli_json_end(&j);
	cli_json_end(&j);
	CHECK_OK(cli_json_finish(&j));
	fclose(f);
	CHECK(strcmp(buf, "{\n  \"s\": \"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\udcff\",\n  \"i\": -3,\n"
			  "  \"a\": [],\n  \"b\": [\n    true,\n    null\n  ]\n}\n") == 0);
	if (strstr(buf, "\"s\"") == NULL)
		fprintf(stderr, "%s", buf);
}

/* base64 (RFC 4648 test vectors) and exact text of arbitrary bytes */
static void json_bytes(void)
{
	static const struct {
		const char *in, *b64;
	} v[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		  { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
	char buf[256], want[64];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		FILE *f = fmemopen(buf, sizeof(buf), "w");
		struct cli_json j;
		cli_json_init(&j, f);
		cli_json_base64(&j, NULL, v[i].in, strlen(v[i].in));
		fclose(f);
		snprintf(want, sizeof(want), "\"%s\"", v[i].b64);
		CHECK(strcmp(buf, want) == 0);
	}
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	struct cli_json j;
	cli_json_init(&j, f);
	cli_json_array(&j, NULL);
	cli_json_text(&j, NULL, "a\0b\xc3\xa9", 5);  /* NUL kept, UTF-8 kept */
	cli_json_text(&j, NULL, "a\xff", 2);         /* not UTF-8: null */
	cli_json_text(&j, NULL, "\xc3", 1);          /* a sequence cut at the end: null */
	cli_json_end(&j);
	fclose(f);
	CHECK(strcmp(buf, "[\n  \"a\\u0000b\xc3\xa9\",\n  null,\n  null\n]") == 0);
}

int main(void)
{
	json_bytes();
	parser();
	sizes();
	durations();
	periods();
	modes();
	json();
	return test_done();
}
