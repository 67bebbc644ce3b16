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

/* Removes uri if it is such a file (the one judged); 1 if it did. */
int shmkit__remove_abandoned(const char *uri);

#endif
