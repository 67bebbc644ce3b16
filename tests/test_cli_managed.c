/* SPDX-License-Identifier: MIT */
/* `shmkit stat` and `shmkit ls` on a shmkit-managed segment: the header's
 * kind, layout version and creator show up, and "creator alive" turns false
 * once the creator is killed. Drives the real CLI binary. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static const char *uri;

/* The creator: makes a raw object and waits to be killed. */
static int creator(void *arg)
{
	struct shmkit_raw *r;

	(void)arg;
	if (shmkit_raw_create(&r, uri, 4096, 0600) < 0)
		return 1;
	strcpy(shmkit_raw_data(r), "managed");
	for (;;)
		pause();
}

static void stat_json(char *out, size_t cap)
{
	CHECK_RET(test_sh_capture(out, cap, "'%s' stat --json '%s'", SHMKIT_TOOL_PATH, uri), 0);
}

int main(void)
{
	char out[16384];
	struct shmkit_stat st;
	pid_t pid;

	uri = test_uri("posix", "cli-managed");
	pid = test_fork(creator, NULL);
	/* wait until the object is ready (stat succeeds and shows the header) */
	for (int i = 0; i < 500; i++) {
		if (shmkit_stat(uri, &st) == 0 && st.managed && st.header_status == 0)
			break;
		usleep(10000);
	}
	CHECK(st.managed);

	stat_json(out, sizeof(out));
	CHECK(strstr(out, "\"managed\": true") != NULL);
	CHECK(strstr(out, "\"kind\": \"raw\"") != NULL);
	CHECK(strstr(out, "\"layout_version\": ") != NULL);
	CHECK(strstr(out, "\"creator_alive\": true") != NULL);
	CHECK(strstr(out, "\"header_status\": \"ok\"") != NULL);
	CHECK_RET(test_sh("'%s' stat --json '%s' | python3 -m json.tool >/dev/null", SHMKIT_TOOL_PATH,
			  uri), 0);
	CHECK_RET(test_sh_capture(out, sizeof(out), "'%s' stat '%s'", SHMKIT_TOOL_PATH, uri), 0);
	CHECK(strstr(out, "kind:               raw") != NULL);
	CHECK(strstr(out, "alive") != NULL);

	kill(pid, SIGKILL);
	CHECK(test_wait(pid) == 128 + SIGKILL);
	stat_json(out, sizeof(out));
	CHECK(strstr(out, "\"creator_alive\": false") != NULL);
	if (!strstr(out, "\"creator_alive\": false"))
		fprintf(stderr, "%s\n", out);

	/* ls lists it with its kind. ls of this URI, not of the machine: a
	 * segment another test truncates meanwhile stops a whole-machine ls by
	 * SIGBUS (a documented limit of looks), and it listed nothing */
	CHECK_RET(test_sh_capture(out, sizeof(out), "'%s' ls '%s' | grep -F -- '%s '", SHMKIT_TOOL_PATH,
				  uri, uri),
		  0);
	CHECK(strstr(out, " raw ") != NULL);
	CHECK_RET(test_sh("'%s' ls --json '%s' | grep -qF '\"uri\": \"%s\"'", SHMKIT_TOOL_PATH, uri,
			  uri),
		  0);
	return test_done();
}
