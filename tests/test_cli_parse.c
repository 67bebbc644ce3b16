/* The CLI's shared helpers (tools/cli.c): size, duration and mode parsing,
 * and the JSON writer's escaping. Compiled in directly: they are not exported. */
#include "../tools/cli.c"

#include "test.h"

const char *cli_command_usage(const char *cmd)
{
	(void)cmd;
	return NULL;
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
	CHECK_RET(cli_parse_duration("1e30", &ns), -ERANGE);
}

static void modes(void)
{
	unsigned m = 0;

	CHECK_OK(cli_parse_mode("600", &m)); CHECK(m == 0600);
	CHECK_OK(cli_parse_mode("0644", &m)); CHECK(m == 0644);
	CHECK_RET(cli_parse_mode("8", &m), -EINVAL);
	CHECK_RET(cli_parse_mode("17777", &m), -EINVAL);
	CHECK_RET(cli_parse_mode("rw", &m), -EINVAL);
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
	CHECK(strcmp(buf, "{\n  \"s\": \"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\u00ff\",\n  \"i\": -3,\n"
			  "  \"a\": [],\n  \"b\": [\n    true,\n    null\n  ]\n}\n") == 0);
	if (strstr(buf, "\"s\"") == NULL)
		fprintf(stderr, "%s", buf);
}

int main(void)
{
	sizes();
	durations();
	modes();
	json();
	return test_done();
}
