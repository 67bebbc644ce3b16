/* shmkit_strerror and the version string. */
#include <errno.h>
#include <string.h>

#include "internal.h"

const char *shmkit_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EBADMSG:
		return "not a valid shmkit object of this kind, or its header or an index in it is corrupt";
	case EPROTO:
		return "shmkit layout version not readable by this build";
	case EOWNERDEAD:
		return "previous owner died; lock held, state must be repaired and marked consistent";
	case EPIPE:
		return "the other side is gone for good";
	default:
		/* strerror() is thread-safe in glibc for known values; strerrordesc_np never NULL. */
		return strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error";
	}
}

const char *shmkit_version(void)
{
	return SHMKIT_VERSION_STRING;
}
