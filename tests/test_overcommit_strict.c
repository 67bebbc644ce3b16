/* SPDX-License-Identifier: MIT */
/* Under strict overcommit (vm.overcommit_memory = 2) a segment the kernel
 * charges whole at create (sysv:, anon:) and that does not fit the commit
 * limit is -ENOMEM with a detail naming the setting and the limit (was:
 * "shmget: Cannot allocate memory", and for anon: only "out of memory, or
 * of mappings (vm.max_map_count)"). Nothing is allocated: the charge fails.
 *
 * The setting is machine-wide (every process on the machine feels it; an
 * ASan program cannot even start under it), so this test only runs when
 * SHMKIT_TEST_MACHINE_WIDE=1 says the machine is ours, as root; it holds
 * the setting for the few milliseconds of three creates and puts it back
 * (also on SIGINT/SIGTERM). Skips (77) otherwise. */
#include "test.h"

#include <signal.h>
#include <stdlib.h>

static char old_mode[16];

static void put_mode(const char *v)
{
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "w");
	if (f) {
		fputs(v, f);
		fclose(f);
	}
}

static void restore(void)
{
	if (old_mode[0])
		put_mode(old_mode);
}

static void on_signal(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static long long meminfo_kb(const char *field)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtoll(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return v;
}

int main(void)
{
	const char *ok = getenv("SHMKIT_TEST_MACHINE_WIDE");
	if (!ok || strcmp(ok, "1") != 0)
		test_skip("changes vm.overcommit_memory for the whole machine: set "
			  "SHMKIT_TEST_MACHINE_WIDE=1 to run it");
	if (!test_is_root() || sizeof(size_t) < 8)
		test_skip("needs root and a 64-bit build");
	if (test_under_valgrind())
		test_skip("not under valgrind");
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	if (!f || !fgets(old_mode, sizeof(old_mode), f))
		test_skip("cannot read vm.overcommit_memory");
	fclose(f);
	long long total = meminfo_kb("MemTotal") + meminfo_kb("SwapTotal");
	if (total <= 0)
		test_skip("cannot read /proc/meminfo");
	/* more than RAM + swap: past CommitLimit at any overcommit_ratio <= 100 */
	size_t big = (size_t)(total + (1 << 20)) * 1024;
	const char *sysv = test_uri("sysv", "strict");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	atexit(restore);

	struct shmkit_seg *a, *b;
	char detail[2][512];
	put_mode("2");
	int ra = shmkit_seg_open(&a, sysv, big, SHMKIT_CREATE | SHMKIT_EXCL, 0600);
	snprintf(detail[0], sizeof(detail[0]), "%s", shmkit_last_error_detail());
	int rb = shmkit_seg_open(&b, "anon:", big, SHMKIT_CREATE, 0600);
	snprintf(detail[1], sizeof(detail[1]), "%s", shmkit_last_error_detail());
	restore();

	if (ra == 0)
		CHECK_OK(shmkit_seg_close(a));
	if (rb == 0)
		CHECK_OK(shmkit_seg_close(b));
	printf("sysv: %d (%s)\nanon: %d (%s)\n", ra, detail[0], rb, detail[1]);
	CHECK_RET(ra, -ENOMEM);
	CHECK(strstr(detail[0], "vm.overcommit_memory = 2") != NULL);
	CHECK_RET(rb, -ENOMEM);
	CHECK(strstr(detail[1], "vm.overcommit_memory = 2") != NULL);
	struct shmkit_stat st;
	CHECK_RET(shmkit_stat(sysv, &st), -ENOENT);
	return test_done();
}
