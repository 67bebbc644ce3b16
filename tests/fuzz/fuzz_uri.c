/* SPDX-License-Identifier: MIT */
/* Harness: URI parsing. Any string parses or fails with a clear error and
 * nothing else happens (no file is touched: only the parser runs). A URI that
 * parses formats to a canonical URI that parses to the same segment and
 * formats to itself. */
#include "fuzz.h"

#include <string.h>

#include "backend/backend.h"
#include "internal.h"

static int same_target(const struct shmkit__uri *a, const struct shmkit__uri *b)
{
	return a->backend == b->backend && a->is_fd == b->is_fd && a->fd == b->fd &&
	       a->map_private == b->map_private && a->sysv_how == b->sysv_how &&
	       a->key == b->key && a->proj == b->proj && a->shmid == b->shmid &&
	       strcmp(a->name, b->name) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct shmkit__uri u1, u2;
	char in[SHMKIT_URI_MAX + 64], f1[SHMKIT_URI_MAX], f2[SHMKIT_URI_MAX];

	if (size >= sizeof(in))
		size = sizeof(in) - 1;
	memcpy(in, data, size);
	in[size] = '\0';
	shmkit__detail_clear();
	int r = shmkit__uri_parse(in, &u1);
	if (r > 0 || (r < 0 && shmkit_last_error_detail()[0] == '\0'))
		fuzz_fail("uri_parse(\"%.80s\") returned %d with no explanation", in, r);
	if (r < 0)
		return 0;
	shmkit__uri_format(&u1, f1, sizeof(f1));
	if (shmkit__uri_parse(f1, &u2) != 0)
		fuzz_fail("\"%.80s\" parses but its canonical form \"%.80s\" does not: %s", in, f1,
			  shmkit_last_error_detail());
	if (!same_target(&u1, &u2))
		fuzz_fail("\"%.80s\" and its canonical form \"%.80s\" name different segments", in, f1);
	shmkit__uri_format(&u2, f2, sizeof(f2));
	if (strcmp(f1, f2) != 0)
		fuzz_fail("canonical form is not stable: \"%.80s\" -> \"%.80s\"", f1, f2);
	return 0;
}
