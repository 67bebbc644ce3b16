/* SPDX-License-Identifier: MIT */
/* A name whose creator died before it sized the file (abandoned.c). Never
 * installed. */
#ifndef SHMKIT_ABANDONED_H
#define SHMKIT_ABANDONED_H

#include <stddef.h>
#include <sys/stat.h>

/* 1 if uri (posix: or file:) is an empty regular file that no process maps
 * or holds open; its path and stat are left in path and *seen. Slow (it
 * walks /proc): for a name found unusable. */
int shmkit__abandoned_creation(const char *uri, char *path, size_t cap, struct stat *seen);

/* Removes uri if it is such a file: the one open as `waited` (O_PATH: the
 * empty file the caller's open waited on) if >= 0, else the one under the
 * name now, held open from the judge to the unlink. 1 if it did; -EAGAIN
 * if the name moved meanwhile (removed, sized, another file: another
 * take-over's work) and the caller should open again; 0 if it is not
 * abandoned (a live holder, not ours alone) and stays. */
int shmkit__remove_abandoned(const char *uri, int waited);

#endif
