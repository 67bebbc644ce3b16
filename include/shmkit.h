/* SPDX-License-Identifier: MIT */
/* shmkit — shared-memory IPC for Linux. Umbrella header. */
#ifndef SHMKIT_H
#define SHMKIT_H

#include <shmkit/common.h>
#include <shmkit/seg.h>
#include <shmkit/sync.h>
#include <shmkit/managed.h>
#include <shmkit/queue.h>
#include <shmkit/pubsub.h>
#include <shmkit/heap.h>
#include <shmkit/map.h>

#endif
