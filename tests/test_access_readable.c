/* SPDX-License-Identifier: MIT */
/* Another user's object that grants this process reading but not writing
 * (0644): a read-write open refused -EACCES says whose it is and what
 * works, for SysV as for POSIX. The SysV refusal comes from shmat (IPC_STAT
 * needs reading only), which said "shmat of sysv id N: Permission denied"
 * alone. And the way to write it is named besides the read-only open: a
 * queue, topic or heap open takes no SHMKIT_RDONLY, so "only a read-only
 * open works" pointed their users at nothing. Root only (another user). */
#include "test.h"

#include <grp.h>
#include <unistd.h>

static const char *uris[2];

/* 0 if the detail of a refused open of uri names the owner and both ways. */
static int detail_ok(const char *call, int r, const char *uri, const char *grant)
{
	const char *d = shmkit_last_error_detail();
	if (r == -EACCES && strstr(d, "owner uid 0") && strstr(d, "uid 65534") &&
	    strstr(d, "SHMKIT_RDONLY") && strstr(d, grant))
		return 0;
	fprintf(stderr, "%s %s: %d: %s\n", call, uri, r, d);
	return 1;
}

static int as_nobody(void *arg)
{
	(void)arg;
	int bad = 0;
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 100;
	for (int i = 0; i < 2; i++) {
		const char *grant = i == 0 ? "chmod" : "shmctl IPC_SET";
		struct shmkit_queue *q;
		struct shmkit_seg *s;
		bad += detail_ok("queue_open", shmkit_queue_open(&q, uris[i]), uris[i], grant);
		bad += detail_ok("seg_open", shmkit_seg_open(&s, uris[i], 0, 0, 0), uris[i], grant);
		/* what the detail offers works */
		int r = shmkit_seg_open(&s, uris[i], 0, SHMKIT_RDONLY, 0);
		if (r == 0)
			shmkit_seg_close(s);
		bad += r != 0;
	}
	return bad;
}

int main(void)
{
	struct shmkit_queue_opts qo = {.capacity = 4, .max_msg = 16, .mode = 0644};

	if (!test_is_root())
		test_skip("needs root (another user's queue)");
	uris[0] = strdup(test_uri("posix", "readable"));
	uris[1] = strdup(test_uri("sysv", "readable"));
	for (int i = 0; i < 2; i++) {
		struct shmkit_queue *q;
		CHECK_OK(shmkit_queue_create(&q, uris[i], &qo));
		CHECK_OK(shmkit_queue_close(q));
	}
	CHECK_RET(test_wait(test_fork(as_nobody, NULL)), 0);
	for (int i = 0; i < 2; i++)
		CHECK_OK(shmkit_remove(uris[i]));
	return test_done();
}
