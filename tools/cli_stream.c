/* SPDX-License-Identifier: MIT */
/* Standard input streamed into an object, stopped cleanly by a signal
 * (cli_stream.h). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmkit.h>

#include "cli.h"
#include "cli_stream.h"

const int cli_stop_sigs[CLI_N_STOP_SIGS] = { SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
					     SIGALRM, SIGUSR1, SIGUSR2 };
static const char *const stop_names[CLI_N_STOP_SIGS] = { "SIGINT",  "SIGTERM", "SIGHUP", "SIGQUIT",
							 "SIGALRM", "SIGUSR1", "SIGUSR2" };
static struct sigaction held_old[CLI_N_STOP_SIGS]; /* their actions before the command */
static sigset_t open_mask;                /* the mask it sleeps with */
static volatile sig_atomic_t interrupted; /* the signal that came, or 0 */

static void on_interrupt(int sig)
{
	interrupted = sig;
}

void cli_hold_interrupts(void)
{
	struct sigaction sa = { .sa_handler = on_interrupt };
	sigset_t held;

	interrupted = 0;
	sigemptyset(&held);
	for (int i = 0; i < CLI_N_STOP_SIGS; i++) {
		sigaction(cli_stop_sigs[i], NULL, &held_old[i]);
		if (held_old[i].sa_handler != SIG_IGN)
			sigaddset(&held, cli_stop_sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &held, &open_mask);
	for (int i = 0; i < CLI_N_STOP_SIGS; i++)
		if (sigismember(&held, cli_stop_sigs[i]))
			sigaction(cli_stop_sigs[i], &sa, NULL);
}

static const char *stop_name(int sig)
{
	for (int i = 0; i < CLI_N_STOP_SIGS; i++)
		if (cli_stop_sigs[i] == sig)
			return stop_names[i];
	return "a signal";
}

void cli_end_interrupted(const char *what, const char *uri, uint64_t count, const char *done)
{
	sigprocmask(SIG_SETMASK, &open_mask, NULL);
	for (int i = 0; i < CLI_N_STOP_SIGS; i++)
		sigaction(cli_stop_sigs[i], &held_old[i], NULL);
	int sig = interrupted;
	if (!sig)
		return;
	cli_fail_msg(what, uri, "interrupted by %s: %" PRIu64 " %s %s, and no more",
		     stop_name(sig), count,
		     cli_plural(count, "message", "messages"), done);
	raise(sig);
}

int cli_sleep_on(int fd, int64_t left)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };

	ppoll(&p, 1, left < 0 ? NULL : &ts, &open_mask); /* a negative fd is left out */
	return interrupted ? -EINTR : 0;
}

/* The object's own wait (a futex) in slices, not its pollable descriptor,
 * whose wake-ups do not cross network namespaces (a bridge in another one
 * drains the queue; shmkit_queue(3)). */
#define ROOM_SLICE_NS 50000000

int64_t cli_room_slice(int64_t deadline)
{
	int64_t left = cli_left(deadline);
	return left < 0 || left > ROOM_SLICE_NS ? ROOM_SLICE_NS : left;
}

int cli_room_wait_over(int64_t deadline)
{
	sigset_t pending;

	if (interrupted)
		return -EINTR;
	if (sigpending(&pending) == 0)
		for (int i = 0; i < CLI_N_STOP_SIGS; i++)
			if (sigismember(&pending, cli_stop_sigs[i]))
				return -EINTR;
	return cli_left(deadline) == 0 ? -ETIMEDOUT : 0;
}

int cli_splitter_init(struct cli_splitter *sp, int sep)
{
	*sp = (struct cli_splitter){ .cap = 65536, .sep = sep };
	sp->buf = malloc(sp->cap);
	return sp->buf ? 0 : -ENOMEM;
}

void cli_splitter_free(struct cli_splitter *sp)
{
	free(sp->buf);
	sp->buf = NULL;
}

size_t cli_split_batch(struct cli_splitter *sp, struct iovec *m, size_t max)
{
	size_t n = 0;
	while (n < max && sp->start < sp->end) {
		char *from = sp->buf + sp->start;
		/* only what came since the last look: searching a long message
		 * from its start at every read took minutes for 300M */
		char *cut = memchr(from + sp->scanned, sp->sep, sp->end - sp->start - sp->scanned);
		if (!cut && !sp->eof) {
			sp->scanned = sp->end - sp->start;
			break;
		}
		size_t len = cut ? (size_t)(cut - from) : sp->end - sp->start;
		m[n++] = (struct iovec){ from, len };
		sp->start += len + (cut ? 1 : 0);
		sp->scanned = 0;
	}
	return n;
}

int cli_split_fill(struct cli_splitter *sp)
{
	if (sp->start > 0) {
		memmove(sp->buf, sp->buf + sp->start, sp->end - sp->start);
		sp->end -= sp->start;
		sp->start = 0;
	}
	if (sp->end == sp->cap) { /* a message longer than the buffer: grow it */
		char *grown = realloc(sp->buf, sp->cap * 2);
		if (!grown)
			return -ENOMEM;
		sp->buf = grown;
		sp->cap *= 2;
	}
	if (cli_sleep_on(STDIN_FILENO, SHMKIT_FOREVER) < 0)
		return -EINTR; /* nothing read, nothing lost */
	ssize_t got;
	do
		got = read(STDIN_FILENO, sp->buf + sp->end, sp->cap - sp->end);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if (got == 0)
		sp->eof = 1;
	sp->end += (size_t)got;
	return 0;
}
