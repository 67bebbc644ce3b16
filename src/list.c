/* shmkit_list. (Lands next.) */
#include "backend/backend.h"
#include "internal.h"

int shmkit_list(int (*fn)(const struct shmkit_stat *st, void *arg), void *arg)
{
	(void)fn, (void)arg;
	return -ENOSYS;
}
