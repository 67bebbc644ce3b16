/* Internal API of managed segments: the header every shmkit object starts
 * with (src/layout.h, docs/LAYOUT.md), its init protocol and attach table,
 * and process identities that survive pid reuse. Used by queue, pubsub,
 * heap and map; implemented in src/managed.c and src/ident.c. */
#ifndef SHMKIT_MANAGED_INTERNAL_H
#define SHMKIT_MANAGED_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <shmkit/managed.h>
#include <shmkit/seg.h>

#include "layout.h"

/* A process's handle on one managed object. */
struct shmkit__obj {
	struct shmkit_seg *seg;
	void *base;          /* segment base: the header is here */
	void *body;          /* base + SHMKIT__HEADER_SIZE */
	size_t body_size;    /* bytes of object body (validated against the segment) */
	int attach_slot;     /* our entry in the attach table, -1 if none */
};

/* Fills the object body; called by the creator before READY is published.
 * Returns 0 or a negative errno (the create then fails and removes the segment). */
typedef int (*shmkit__obj_init_fn)(void *body, size_t body_size, void *arg);

/* Creates a managed object of `kind` with a `body_size`-byte body at `uri`
 * (exclusive). If the URI names an existing object of this kind whose creator
 * died before publishing READY, the call takes it over and re-initializes it.
 * Registers the caller in the attach table. */
int shmkit__obj_create(struct shmkit__obj *o, const char *uri, uint32_t kind, size_t body_size,
		       unsigned mode, shmkit__obj_init_fn init, void *arg);

/* Opens an existing object of `kind`. Validates magic, fingerprint, version,
 * kind and sizes before anything else: -EBADMSG foreign/corrupt, -EPROTO other
 * layout version. Waits (bounded, about 1 s) while the creator is still
 * initializing; -EOWNERDEAD if the creator died before READY. Registers the
 * caller in the attach table (a full table is not an error: attach_slot -1). */
int shmkit__obj_open(struct shmkit__obj *o, const char *uri, uint32_t kind, int flags);

/* Leaves the attach table and unmaps. Never removes the segment. */
int shmkit__obj_close(struct shmkit__obj *o);

/* This process's identity (cached; refreshed after fork). */
const struct shmkit__ident *shmkit__ident_self(void);

/* 1 if the identified process is alive, 0 if provably dead (no such pid, or the
 * pid now belongs to a process with another start time, or another boot),
 * negative errno if it cannot be told. Reads /proc: slow path only. */
int shmkit__ident_alive(const struct shmkit__ident *id);

#endif
