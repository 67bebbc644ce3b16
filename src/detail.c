/* The per-thread detail string behind shmkit_last_error_detail(): a message
 * naming both sides of a mismatch, which an errno alone cannot carry. */
#include <stdarg.h>
#include <stdio.h>

#include <shmkit/common.h>

#include "internal.h"
#include "managed.h"

static _Thread_local char detail[256];

void shmkit__set_detail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
}

const char *shmkit_last_error_detail(void)
{
	return detail;
}
