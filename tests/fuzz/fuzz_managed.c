/* SPDX-License-Identifier: MIT */
/* Harness: the managed header of any kind, through the calls that only look
 * (shmkit_stat, shmkit_managed_attachers), what gc judges of an object (who
 * in its header lives, shmkit__header_liveness, by identity and holder lock
 * flags; what it holds, shmkit__obj_holds, on any body) and
 * shmkit_raw_open. Looking never fails on a corrupt header (it reports it);
 * a raw object's data lies inside the segment. */
#include "fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "managed.h"

/* gc's questions, on the image as a page-aligned mapping would show it. */
static void judge_contents(const uint8_t *data, size_t size, int fd)
{
	char why[200];
	struct shmkit__liveness lv;
	void *copy = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
	if (!copy)
		return;
	memcpy(copy, data, size);
	int r = FUZZ_T(shmkit__header_liveness(copy, size, fd, &lv));
	if (r != 0 && r != -EBADMSG && r != -EPROTO)
		fuzz_fail("shmkit__header_liveness returned %d", r);
	if (r == 0 && (lv.n_alive < 0 || lv.n_dead < 0 || lv.n_unknown < 0 ||
		       lv.n_alive + lv.n_dead + lv.n_unknown > (int)SHMKIT__ATTACH_SLOTS))
		fuzz_fail("shmkit__header_liveness counted %d alive, %d dead, %d unknown",
			  lv.n_alive, lv.n_dead, lv.n_unknown);
	r = FUZZ_T(shmkit__obj_holds(copy, size, fd, why, sizeof(why)));
	if (r != 0 && r != 1 && r != -EBADMSG)
		fuzz_fail("shmkit__obj_holds returned %d", r);
	if (r != 0 && !memchr(why, 0, sizeof(why)))
		fuzz_fail("shmkit__obj_holds left its reason unterminated");
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uri[32];
	struct shmkit_stat st;
	struct shmkit_attacher att[8];
	struct shmkit_raw *r = NULL;

	int fd = fuzz_image(data, size, uri, sizeof(uri));
	if (fd < 0)
		return 0;
	if (fuzz_image_waits(data, size, uri)) {
		close(fd);
		return 0;
	}
	/* One stat per input: each walks /proc for mappers, the slow part. */
	if (FUZZ_T(shmkit_stat(uri, &st)) < 0)
		fuzz_fail("shmkit_stat failed on a descriptor we hold: %s", shmkit_last_error_detail());
	if (st.managed && st.header_status == 0 && st.kind == SHMKIT_KIND_NONE)
		fuzz_fail("shmkit_stat: a valid header of kind none");
	FUZZ_T(shmkit_managed_attachers(uri, att, 8));
	if (size >= SHMKIT__HEADER_SIZE)
		judge_contents(data, size, fd);
	if (FUZZ_T(shmkit_raw_open(&r, uri)) == 0) {
		/* the raw data follows the header inside the image */
		const uint8_t *p = shmkit_raw_data(r);
		size_t n = shmkit_raw_size(r);
		if (n > size)
			fuzz_fail("raw data of %zu bytes in a %zu-byte segment", n, size);
		fuzz_touch(p, n);
		FUZZ_T(shmkit_raw_close(r));
	}
	close(fd);
	return 0;
}
