/* A counter shared with a forked child over anon: memory.
 *
 * anon: is MAP_SHARED|MAP_ANONYMOUS: no name, nothing to clean up, and shared
 * with every child forked after it (not with unrelated processes). Parent and
 * child each add 1,000,000; the parent then prints 2000000.
 *
 * Plain atomics are enough for one counter. For more than one word, use a
 * struct shmkit_mutex from <shmkit/sync.h>: it survives a holder that dies. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmkit.h>

#define ROUNDS 1000000

struct shared {
	_Atomic uint64_t count;
};

static void count(struct shared *s)
{
	for (int i = 0; i < ROUNDS; i++)
		atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

int main(void)
{
	struct shmkit_seg *seg;
	struct shared *s;
	pid_t child;
	int status, ret;

	/* Map it BEFORE fork: the child inherits the very same pages. */
	ret = shmkit_seg_open(&seg, "anon:", sizeof(struct shared), SHMKIT_CREATE, 0600);
	if (ret < 0) {
		fprintf(stderr, "fork_counter: anon: %s\n", shmkit_strerror(ret));
		return 1;
	}
	s = shmkit_seg_addr(seg);

	child = fork();
	if (child < 0) {
		perror("fork_counter: fork");
		return 1;
	}
	if (child == 0) {
		count(s);
		_exit(0);
	}
	count(s);

	/* waitpid orders the child's writes before our read (it is a full barrier). */
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "fork_counter: child failed\n");
		return 1;
	}
	printf("%llu\n", (unsigned long long)atomic_load(&s->count));
	shmkit_seg_close(seg); /* anon: memory goes away with its last mapping */
	return 0;
}
