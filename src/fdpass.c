/* Descriptor passing (SCM_RIGHTS) and mapping a descriptor we hold (fd:N). (Lands next.) */
#include "backend/backend.h"
#include "internal.h"

int shmkit__seg_from_fd(struct shmkit_seg **out, int fd, size_t size, int flags, int strict)
{
	(void)out, (void)fd, (void)size, (void)flags, (void)strict;
	return -ENOSYS;
}

int shmkit_seg_send(int unix_sock, const struct shmkit_seg *seg)
{
	(void)unix_sock, (void)seg;
	return -ENOSYS;
}

int shmkit_seg_recv(int unix_sock, struct shmkit_seg **out, int flags)
{
	(void)unix_sock, (void)out, (void)flags;
	return -ENOSYS;
}
