/* SPDX-License-Identifier: MIT */
/* Who holds a segment (holders.c). Never installed. */
#ifndef SHMKIT_HOLDERS_H
#define SHMKIT_HOLDERS_H

#include <stddef.h>

#include "proc.h"

/* Whether any other process maps the object or holds a descriptor to it:
 * 1 nobody does (the proof in `why`), 0 somebody does (who, in `why`), -1
 * cannot tell (why; also when the file was removed, or its name names
 * another file, before the kernel could be asked). `path` (POSIX, file)
 * enables the lease probe;
 * kernel_counted (SysV: nattch was 0) makes uninspectable processes moot.
 * This process's own use counts as a holder. */
int shmkit__holders_verdict(const struct shmkit__obj_ref *ref, const char *path, int kernel_counted,
			    char *why, size_t cap);
/* The same for the file open as pfd (O_PATH): the one looked at, whatever
 * its name names by now; the lease probe reopens it. */
int shmkit__holders_verdict_fd(const struct shmkit__obj_ref *ref, int pfd, char *why, size_t cap);

#endif
