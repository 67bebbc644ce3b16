/* SPDX-License-Identifier: MIT */
/* Where process_vm_readv(2) is refused (a seccomp filter, as systemd's
 * SystemCallFilter=@system-service or a container's default profile may
 * install), a System V object the caller itself has attached is still read,
 * from its own mapping (never by attaching to look): a subscriber gets the
 * topic's slot size, `shmkit sub` and `shmkit pub --wait-subs` work. And a
 * SysV object left unread says why, truly: refused here, not "nobody has it
 * attached" while `attached:` lists a process. The filter is a raw BPF
 * program (prctl PR_SET_SECCOMP): no libseccomp needed. */
#include "test.h"

#include <sys/shm.h>
#include <unistd.h>

#include "proc.h"
#include "seccomp_deny.h"

/* process_vm_readv fails with EPERM from here on (this process and what it
 * execs): 0, or -1 when no filter can be installed here. */
static int deny_process_vm_readv(void)
{
#ifdef SYS_process_vm_readv
	const long nr[] = { SYS_process_vm_readv };
	return test_seccomp_deny(nr, 1, EPERM);
#else
	return -1;
#endif
}

/* Runs under the filter, exec'd (a forked child would share the parent's
 * attachment): the topic is attached by the parent (a subscriber),
 * `unattached` by nobody. */
static int refused_child(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *topic = argv[0], *unattached = argv[1];
	if (deny_process_vm_readv() < 0)
		return 77;
	CHECK(shmkit__sysv_read_refused() == -EPERM);

	/* not attached here, and nobody we could read anyway: unread, and why */
	struct shmkit_stat st;
	CHECK_OK(shmkit_stat(topic, &st));
	CHECK(!st.managed && st.header_status == -ENODATA && st.attach_count == 1);
	char out[8192];
	CHECK_RET(test_sh_capture(out, sizeof(out), "'%s' stat '%s'", SHMKIT_TOOL_PATH, topic), 0);
	if (!strstr(out, "refused here (process_vm_readv: Operation not permitted)") ||
	    strstr(out, "nobody has it attached"))
		fprintf(stderr, "stat said:\n%s\n", out);
	CHECK(strstr(out, "refused here (process_vm_readv: Operation not permitted)") != NULL);
	CHECK(strstr(out, "nobody has it attached") == NULL);
	CHECK_OK(shmkit_stat(unattached, &st));
	CHECK(st.header_status == -ENODATA && st.attach_count == 0);
	CHECK_RET(test_sh_capture(out, sizeof(out), "'%s' stat '%s'", SHMKIT_TOOL_PATH, unattached),
		  0);
	CHECK(strstr(out, "not read (nobody has it attached") != NULL);

	/* attached here: read from our own mapping */
	struct shmkit_sub *s;
	CHECK_OK(shmkit_sub_open(&s, topic));
	struct shmkit_topic_info info;
	CHECK_OK(shmkit_topic_stat(topic, &info, NULL, 0));
	CHECK(info.slot_size == 64);
	CHECK_OK(shmkit_stat(topic, &st));
	CHECK(st.managed && st.header_status == 0 && st.kind == SHMKIT_KIND_TOPIC);
	unsigned char b[16];
	CHECK_RET(shmkit_peek(topic, 0, b, sizeof(b)), (ssize_t)sizeof(b));
	shmkit_sub_close(s);

	/* the CLI, which subscribes and then asks the slot size; and a
	 * publisher that waits for the parent's subscriber */
	CHECK_RET(test_sh("'%s' sub '%s' --timeout 0.1", SHMKIT_TOOL_PATH, topic), 0);
	CHECK_RET(test_sh("'%s' pub '%s' --wait-subs 1 --timeout 5 hello", SHMKIT_TOOL_PATH, topic),
		  0);
	return 0; /* a failed CHECK in a child exits 1 at once */
}

int main(int argc, char **argv)
{
	static const struct test_role roles[] = { { "refused", refused_child }, { NULL, NULL } };
	test_child_dispatch(argc, argv, roles);
	const char *topic = test_uri("sysv", "topic"), *unattached = test_uri("sysv", "plain");
	struct shmkit_topic_opts o = { .slot_size = 64, .slots = 8 };
	CHECK_OK(shmkit_topic_create(topic, &o));
	struct shmkit_sub *s;
	CHECK_OK(shmkit_sub_open(&s, topic));
	struct shmkit_topic_opts o2 = { .slot_size = 64, .slots = 8 };
	CHECK_OK(shmkit_topic_create(unattached, &o2));

	const char *args[] = { topic, unattached, NULL };
	pid_t c = test_spawn_self("refused", args);
	int rc = test_wait(c);
	if (rc == 77) {
		shmkit_sub_close(s);
		test_cleanup_run();
		test_skip("no seccomp filter can be installed here");
	}
	CHECK_RET(rc, 0);
	/* the child's pub reached our subscriber */
	char msg[64];
	ssize_t n = shmkit_sub_recv(s, msg, sizeof(msg), 0);
	CHECK(n == 5 && memcmp(msg, "hello", 5) == 0);
	shmkit_sub_close(s);
	return test_done();
}
