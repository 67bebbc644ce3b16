/* SPDX-License-Identifier: MIT */
/* Which pages back a segment and where it is mapped: "?huge" / SHMKIT_HUGE
 * and "?addr=" for every backend (DESIGN §9 "Segment options").
 *
 * Huge pages come two ways, and the caller is told which or why neither:
 *  - hugetlb: pages reserved by the administrator (vm.nr_hugepages), used by
 *    SysV SHM_HUGETLB, MAP_HUGETLB (anon:), MFD_HUGETLB (memfd:) and files on
 *    a hugetlbfs mount (file:). Lengths are whole huge pages.
 *  - transparent huge pages on tmpfs (posix:, file: on tmpfs), where the
 *    mount's huge= option or shmem_enabled allows them; the mapping is
 *    madvise(MADV_HUGEPAGE)d.
 * Where neither applies the open fails (-EOPNOTSUPP, or -ENOMEM when no
 * reserved page is free), with a detail naming the setting to change. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../internal.h"
#include "backend.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SHMEM_ENABLED "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* A number after `key` in /proc/meminfo (kB for sizes); -1 if absent. */
static long long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long long v = -1;
	size_t klen = strlen(key);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

size_t shmkit__huge_page_size(void)
{
	long long kb = meminfo("Hugepagesize");
	return kb > 0 ? (size_t)kb * 1024 : (size_t)2 << 20;
}

size_t shmkit__round_huge(size_t len)
{
	size_t h = shmkit__huge_page_size();
	return (len + h - 1) / h * h;
}

int shmkit__huge_error(int err, size_t len, const char *what)
{
	long long total = meminfo("HugePages_Total"), free_ = meminfo("HugePages_Free");
	size_t h = shmkit__huge_page_size();

	if (err == -EPERM)
		return shmkit__fail(-EPERM, "%s: huge pages need CAP_IPC_LOCK or membership of "
					    "vm.hugetlb_shm_group", what);
	if (err != -ENOMEM && err != -ENOSPC)
		return err;
	return shmkit__fail(-ENOMEM, "%s: %zu huge pages of %zu kB needed, %lld free "
				     "(vm.nr_hugepages = %lld; reserve more: sysctl vm.nr_hugepages=N)",
			    what, (len + h - 1) / h, h / 1024, free_ < 0 ? 0 : free_,
			    total < 0 ? 0 : total);
}

/* The bracketed word of shmem_enabled ("never", "advise", ...), or "" when
 * this kernel has no transparent huge pages. */
static void shmem_enabled(char *word, size_t cap)
{
	char buf[256] = "";
	FILE *f = fopen(SHMEM_ENABLED, "re");

	word[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		char *a = strchr(buf, '['), *b = a ? strchr(a, ']') : NULL;
		if (a && b && (size_t)(b - a) < cap) {
			memcpy(word, a + 1, (size_t)(b - a - 1));
			word[b - a - 1] = '\0';
		}
	}
	fclose(f);
}

/* The mount point and the huge= option ("never" when absent) of the tmpfs
 * mount holding device dev, from /proc/self/mountinfo (the last one wins:
 * it is the one on top). */
static void tmpfs_mount(dev_t dev, char *point, size_t pcap, char *huge, size_t hcap)
{
	char path[48];
	snprintf(path, sizeof(path), "%s/mountinfo", shmkit__proc_self_dir());
	FILE *f = fopen(path, "re");
	char line[4096];

	snprintf(point, pcap, "?");
	snprintf(huge, hcap, "never");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char mp[1024];
		if (sscanf(line, "%*s %*s %u:%u %*s %1023s", &maj, &min, mp) != 3 ||
		    makedev(maj, min) != dev)
			continue;
		const char *sep = strstr(line, " - "), *h = sep ? strstr(sep, "huge=") : NULL;
		snprintf(point, pcap, "%s", mp);
		snprintf(huge, hcap, "never");
		if (h)
			snprintf(huge, hcap, "%.*s", (int)strcspn(h + 5, ", \n"), h + 5);
	}
	fclose(f);
}

/* 1 if transparent huge pages may back files of the tmpfs holding dev; 0
 * and the reason in why (for a detail) if not. */
static int thp_allowed(dev_t dev, char *why, size_t cap)
{
	char global[32], point[1024], huge[32];

	shmem_enabled(global, sizeof(global));
	if (global[0] == '\0') {
		snprintf(why, cap, "this kernel has no transparent huge pages (no " SHMEM_ENABLED ")");
		return 0;
	}
	if (strcmp(global, "deny") == 0) {
		snprintf(why, cap, "transparent huge pages for shmem are off (shmem_enabled is [deny])");
		return 0;
	}
	if (strcmp(global, "force") == 0)
		return 1;
	tmpfs_mount(dev, point, sizeof(point), huge, sizeof(huge));
	if (strcmp(huge, "always") == 0 || strcmp(huge, "within_size") == 0 ||
	    strcmp(huge, "advise") == 0)
		return 1;
	snprintf(why, cap, "transparent huge pages for shmem are off: the tmpfs at %s is mounted "
			   "huge=%s and shmem_enabled is [%s] (remount with -o huge=advise, or use "
			   "memfd:, sysv:, anon: or a hugetlbfs file with ?huge)",
		 point, huge, global);
	return 0;
}

int shmkit__fd_pages(int fd, int want_huge, const char *what)
{
	struct statfs sf;
	struct stat sb;

	if (fstatfs(fd, &sf) < 0 || fstat(fd, &sb) < 0)
		return shmkit__fail(shmkit__neg_errno(), "%s: fstatfs: %s", what, strerror(errno));
	/* A hugetlbfs file has only huge pages, asked for or not. */
	if ((unsigned long)sf.f_type == (unsigned long)HUGETLBFS_MAGIC)
		return SHMKIT_PAGES_HUGETLB;
	if (!want_huge)
		return SHMKIT_PAGES_BASE;
	if ((unsigned long)sf.f_type != (unsigned long)TMPFS_MAGIC)
		return shmkit__fail(-EOPNOTSUPP, "%s is on a filesystem without huge pages; put it "
						 "on a hugetlbfs mount or a tmpfs mounted "
						 "huge=advise",
				    what);
	char why[1400];
	if (!thp_allowed(sb.st_dev, why, sizeof(why)))
		return shmkit__fail(-EOPNOTSUPP, "%s: %s", what, why);
	return SHMKIT_PAGES_THP;
}

/* -EEXIST when [addr, addr+len) overlaps a mapping of this process, else
 * `otherwise` (shmat says EINVAL for both). */
static int taken_or(uintptr_t addr, size_t len, int otherwise)
{
	void *p = mmap((void *)addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       -1, 0);
	if (p == MAP_FAILED)
		return errno == EEXIST ? -EEXIST : otherwise;
	munmap(p, len);
	return p == (void *)addr ? otherwise : -EEXIST;
}

int shmkit__addr_error(uintptr_t addr, size_t len, int err)
{
	if (err == -EINVAL)
		err = taken_or(addr, len, -EINVAL);
	if (err == -EEXIST)
		return shmkit__fail(-EEXIST, "address 0x%lx: something is already mapped in the "
					     "%zu bytes from there",
				    (unsigned long)addr, len);
	return shmkit__fail(err, "cannot attach at 0x%lx (%zu bytes): %s", (unsigned long)addr, len,
			    strerror(-err));
}

const char *shmkit__commit_note(char *buf, size_t cap)
{
	char mode[16] = "";
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "re");
	buf[0] = '\0';
	if (!f)
		return buf;
	if (!fgets(mode, sizeof(mode), f))
		mode[0] = '\0';
	fclose(f);
	if (mode[0] != '2')
		return buf;
	long long limit = meminfo("CommitLimit"), used = meminfo("Committed_AS");
	if (limit >= 0 && used >= 0)
		snprintf(buf, cap, "; vm.overcommit_memory = 2: the commit limit is %lld kB, "
			 "%lld kB of it committed (CommitLimit, Committed_AS in /proc/meminfo)",
			 limit, used);
	else
		snprintf(buf, cap, "; vm.overcommit_memory = 2: the commit limit is reached");
	return buf;
}

int shmkit__map_enomem(const char *uri, uint64_t len)
{
	/* mmap's ENOMEM is also "no hole of that size in the address space",
	 * and "Cannot allocate memory" alone sent a user looking for memory
	 * that a 1 PiB sparse file never needed: ask for the range alone
	 * (none to ask for past a ssize_t: an i386 process). */
	void *p = len > SSIZE_MAX ? MAP_FAILED
				  : mmap(NULL, (size_t)len, PROT_NONE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p != MAP_FAILED) {
		char note[192];
		munmap(p, (size_t)len);
		return shmkit__fail(-ENOMEM, "%s: mapping its %" PRIu64 " bytes: out of memory, or "
					     "of mappings (vm.max_map_count)%s",
				    uri, len, shmkit__commit_note(note, sizeof(note)));
	}
	return shmkit__fail(-ENOMEM, "%s is %" PRIu64 " bytes: too large to map, more than this "
				     "process's address space has free (or RLIMIT_AS allows)",
			    uri, len);
}

int shmkit__map(struct shmkit_seg *seg, int fd, size_t len, int prot, int mflags)
{
	void *want = (void *)seg->want_addr;

	if (seg->pages == SHMKIT_PAGES_HUGETLB) {
		if (seg->want_addr % shmkit__huge_page_size())
			return shmkit__fail(-EINVAL, "addr 0x%lx is not aligned to a huge page",
					    (unsigned long)seg->want_addr);
		len = shmkit__round_huge(len);
		if (fd < 0)
			mflags |= MAP_HUGETLB;
	}
	if (want)
		mflags |= MAP_FIXED_NOREPLACE;
	void *p = mmap(want, len, prot, mflags, fd, 0);
	if (p == MAP_FAILED) {
		int err = shmkit__neg_errno();
		if (want && err == -EEXIST)
			return shmkit__addr_error(seg->want_addr, len, err);
		if (seg->pages == SHMKIT_PAGES_HUGETLB)
			return shmkit__huge_error(err, len, "mmap");
		if (err == -ENOMEM)
			return shmkit__map_enomem(seg->uri, len);
		return shmkit__fail(err, "mmap of %zu bytes: %s", len, strerror(-err));
	}
	if (want && p != want) { /* a kernel before 4.17 took the address as a hint */
		munmap(p, len);
		return shmkit__addr_error(seg->want_addr, len, -EEXIST);
	}
	if (seg->pages == SHMKIT_PAGES_THP && madvise(p, len, MADV_HUGEPAGE) < 0) {
		int err = shmkit__neg_errno();
		munmap(p, len);
		return shmkit__fail(err == -EINVAL ? -EOPNOTSUPP : err,
				    "madvise(MADV_HUGEPAGE): %s", strerror(-err));
	}
	seg->addr = p;
	seg->map_len = len;
	return 0;
}

int shmkit__thp_reserve(struct shmkit_seg *seg)
{
	/* Faulting through the advised mapping allocates huge pages where
	 * fallocate would take base pages (huge=advise); a full tmpfs is an
	 * error here (EFAULT from the populate), never SIGBUS later. */
	if (madvise(seg->addr, seg->map_len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno == EFAULT || errno == ENOMEM)
		return shmkit__fail(-ENOSPC, "no space to reserve %zu bytes of huge pages (tmpfs "
					     "full)",
				    seg->map_len);
	return shmkit__fail(shmkit__neg_errno(), "reserving huge pages: %s", strerror(errno));
}

/* KernelPageSize of this process's mapping that starts at addr, 0 unknown. */
static uint64_t self_page_size(const void *addr)
{
	char path[48];
	snprintf(path, sizeof(path), "%s/smaps", shmkit__proc_self_dir());
	FILE *f = fopen(path, "re");
	char line[512];
	int in = 0;
	uint64_t kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start;
		if (strchr(line, '-') && sscanf(line, "%lx-", &start) == 1 && strchr(line, ' ') &&
		    strchr(line, '-') < strchr(line, ' '))
			in = start == (unsigned long)addr;
		else if (in && sscanf(line, "KernelPageSize: %lu kB", &start) == 1) {
			kb = start;
			break;
		}
	}
	fclose(f);
	return kb * 1024;
}

int shmkit__mapped_pages(const void *addr)
{
	uint64_t ps = self_page_size(addr);
	if (ps == 0)
		return 0;
	return ps > (uint64_t)sysconf(_SC_PAGESIZE) ? SHMKIT_PAGES_HUGETLB : SHMKIT_PAGES_BASE;
}

void shmkit__stat_pages(const struct shmkit_seg *seg, struct shmkit_stat *st)
{
	int pages = seg->pages ? seg->pages : shmkit__mapped_pages(seg->addr);

	st->pages = pages;
	st->page_size = pages == SHMKIT_PAGES_BASE ? (uint64_t)sysconf(_SC_PAGESIZE)
			: pages ? shmkit__huge_page_size() : 0;
}

void shmkit__stat_fs_pages(int fd, const char *path, struct shmkit_stat *st)
{
	struct statfs sf;

	if ((fd >= 0 ? fstatfs(fd, &sf) : statfs(path, &sf)) < 0)
		return;
	if ((unsigned long)sf.f_type == (unsigned long)HUGETLBFS_MAGIC) {
		st->pages = SHMKIT_PAGES_HUGETLB;
		st->page_size = (uint64_t)sf.f_bsize;
	} else if ((unsigned long)sf.f_type == (unsigned long)TMPFS_MAGIC) {
		/* tmpfs reports the PMD size as st_blksize when it gives every file
		 * huge pages; a huge=advise mount gives them only to files faulted
		 * through an advised mapping, which a look by name cannot tell. */
		char why[1400];
		uint64_t base = (uint64_t)sysconf(_SC_PAGESIZE);
		if (st->page_size > base)
			st->pages = SHMKIT_PAGES_THP;
		else if (thp_allowed((dev_t)st->dev, why, sizeof(why)))
			st->pages = st->page_size = 0; /* unknown */
		else
			st->pages = SHMKIT_PAGES_BASE;
	} else {
		st->pages = SHMKIT_PAGES_BASE;
		st->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	}
}
