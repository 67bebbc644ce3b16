/* SPDX-License-Identifier: MIT */
/* shmkit_bridge_open's arguments, as shmkit(3) has them for every open:
 * a refused call leaves the out-parameter NULL (a bad dir left the caller's
 * variable as it was, so one cleanup path closed garbage), and options
 * whose reserved[] is not NULL are refused with -EINVAL (they were ignored,
 * and the bridge opened: a newer program's option would silently do
 * nothing; shmkit_bridge(3) says reserved is NULL). Skips (77) without the
 * bridge (ZeroMQ). */
#include "test.h"

#include <unistd.h>

#ifdef SHMKIT_TEST_HAVE_BRIDGE
#include <shmkit/bridge.h>

int main(void)
{
	const char *uri = test_uri("posix", "brargs");
	char ep[256];
	struct shmkit_queue *q = NULL;
	struct shmkit_queue_opts qo = { .capacity = 4, .max_msg = 16 };
	struct shmkit_bridge *b = (void *)0x5;

	snprintf(ep, sizeof(ep), "ipc:///tmp/shmkit-test-%d-brargs.sock", (int)getpid());
	CHECK_OK(shmkit_queue_create(&q, uri, &qo));
	CHECK_OK(shmkit_queue_close(q));

	CHECK_RET(shmkit_bridge_open(&b, 7, uri, ep, NULL), -EINVAL);
	CHECK(b == NULL);
	b = (void *)0x5;
	CHECK_RET(shmkit_bridge_open(&b, SHMKIT_BRIDGE_OUT, NULL, ep, NULL), -EINVAL);
	CHECK(b == NULL);
	CHECK_OK(shmkit_bridge_close(b));

	struct shmkit_bridge_opts o = { 0 };
	o.reserved[1] = &o;
	b = (void *)0x5;
	CHECK_RET(shmkit_bridge_open(&b, SHMKIT_BRIDGE_OUT, uri, ep, &o), -EINVAL);
	CHECK(b == NULL);
	CHECK_OK(shmkit_bridge_close(b)); /* refused, so nothing to close */

	o.reserved[1] = NULL;
	CHECK_OK(shmkit_bridge_open(&b, SHMKIT_BRIDGE_OUT, uri, ep, &o));
	CHECK(b != NULL);
	CHECK_OK(shmkit_bridge_close(b));
	CHECK_OK(shmkit_remove(uri));
	return test_done();
}
#else
int main(void)
{
	test_skip("shmkit built without the bridge (ZeroMQ)");
}
#endif
