/* Segments: URI dispatch to the backends. (Skeleton: backends land next.) */
#include <shmkit/seg.h>

#include "internal.h"

int shmkit_remove(const char *uri)
{
	(void)uri;
	return -ENOSYS;
}
