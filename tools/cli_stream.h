/* SPDX-License-Identifier: MIT */
/* Commands that stream standard input into an object (send, pub): input
 * split into messages as it comes, and the stop signals held back while
 * they run, so that one ends the command only where it waits (for
 * input, or in a slice of a wait for room), never half-way through a
 * message or a batch: the count it then gives is what the object got. */
#ifndef SHMKIT_CLI_STREAM_H
#define SHMKIT_CLI_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The signals whose default action ends the process and that a user or a
 * tool sends to stop a command (^C, ^\, kill, timeout(1), a closed
 * terminal, alarm, the user signals). SIGKILL and SIGSTOP cannot be held. */
#define CLI_N_STOP_SIGS 7
extern const int cli_stop_sigs[CLI_N_STOP_SIGS];

/* Holds the stop signals back from here on; one ignored on entry (a
 * script's background job) stays ignored. */
void cli_hold_interrupts(void);
/* Once the object is closed: lets in what was held back and, when a signal
 * came, says how far the command got ("shmkit: WHAT URI: interrupted by
 * SIGINT: N messages DONE, and no more") and dies of it (a shell sees 128 +
 * its number). Returns when none came. */
void cli_end_interrupted(const char *what, const char *uri, uint64_t count, const char *done);
/* Sleeps with those signals let in until fd (-1: none) is readable or left
 * ns (SHMKIT_FOREVER: no limit) have passed: 0, or -EINTR once one came. */
int cli_sleep_on(int fd, int64_t left);
/* How long one blocking send or publish waits before the command looks for
 * a held-back signal (the object's own wait, in slices); 0 once the
 * deadline has passed: one try. */
int64_t cli_room_slice(int64_t deadline);
/* A send that found no room in its slice: -EINTR once a held signal came,
 * -ETIMEDOUT once the deadline has passed, else 0 (wait another slice). */
int cli_room_wait_over(int64_t deadline);

/* Standard input split at a separator, read with read(2) into one buffer:
 * every complete message already read goes out at once, and the reader
 * blocks only when none is left, so a slow writer's lines are not held back
 * waiting for a batch to fill. */
struct cli_splitter {
	char *buf;
	size_t cap, start, end; /* unread bytes: buf[start..end) */
	size_t scanned;		/* of those, how many hold no separator (searched already) */
	int sep, eof;
};
/* 0, or -ENOMEM; cli_splitter_free() frees it. */
int cli_splitter_init(struct cli_splitter *sp, int sep);
void cli_splitter_free(struct cli_splitter *sp);
/* Up to max messages from the buffer (pointers into it, valid until the
 * next call); at end of input an unterminated last piece is one too. */
size_t cli_split_batch(struct cli_splitter *sp, struct iovec *m, size_t max);
/* Reads more input, keeping the unread part (waiting for it with the
 * signals let in); 0, or a negative errno (-EINTR: nothing read). */
int cli_split_fill(struct cli_splitter *sp);

#endif
