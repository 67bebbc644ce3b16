/* SPDX-License-Identifier: MIT */
/* shmkit doctor: what on this machine would make shared memory fail.
 *
 * Five checks, each a line of facts and a one-line verdict:
 *   /dev/shm       tmpfs size, free space, mount options (POSIX segments live there)
 *   SysV limits    kernel.shmmax/shmall/shmmni and what is in use now
 *   cgroup memory  the memory limit tmpfs and SysV pages are charged against
 *   RemoveIPC      whether systemd-logind deletes this user's segments at logout
 *   huge pages     reserved hugetlb pages, hugetlbfs mounts, THP for tmpfs (?huge)
 * Exit 0 when nothing fails (warnings included), 1 when a check fails. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cli.h"

enum verdict { V_OK, V_INFO, V_WARN, V_FAIL };
static const char *const verdict_names[] = { "ok", "info", "warn", "fail" };

struct check {
	const char *name;
	enum verdict verdict;
	char facts[512];
	char advice[512];
};

static void facts(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void facts(struct check *c, const char *fmt, ...)
{
	va_list ap;
	size_t len = strlen(c->facts);

	va_start(ap, fmt);
	vsnprintf(c->facts + len, sizeof(c->facts) - len, fmt, ap);
	va_end(ap);
}

static void judge(struct check *c, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void judge(struct check *c, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	c->verdict = v;
	va_start(ap, fmt);
	vsnprintf(c->advice, sizeof(c->advice), fmt, ap);
	va_end(ap);
}

/* First line of a small file, trimmed; 0 or -errno. */
static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)cap, f))
		ret = -EIO;
	fclose(f);
	if (ret == 0)
		buf[strcspn(buf, "\n")] = 0;
	return ret;
}

static int read_u64(const char *path, uint64_t *v)
{
	char buf[64];
	int ret = read_line(path, buf, sizeof(buf));

	if (ret < 0)
		return ret;
	return cli_parse_u64(buf, v);
}

static const char *hsize(uint64_t v, char *buf)
{
	if (v >= (UINT64_MAX >> 2))
		return "unlimited";
	return cli_human_size(v, buf, 16);
}

/* ---- /dev/shm ---- */

/* Filesystem type and options of the mount at `dir` (the last one wins). */
static int mount_of(const char *dir, char *type, size_t tcap, char *opts, size_t ocap)
{
	char line[4096], dev[256], mnt[1024], t[64], o[1024];
	FILE *f = fopen("/proc/self/mounts", "re");
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %1023s %63s %1023s", dev, mnt, t, o) == 4 &&
		    strcmp(mnt, dir) == 0) {
			snprintf(type, tcap, "%s", t);
			snprintf(opts, ocap, "%s", o);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

static void check_dev_shm(struct check *c)
{
	char type[64], opts[1024], a[16], b[16];
	struct statvfs sv;
	uint64_t size, avail, used;

	c->name = "/dev/shm";
	if (statvfs("/dev/shm", &sv) != 0) {
		facts(c, "cannot stat /dev/shm (%s)", shmkit_strerror(-errno));
		judge(c, V_FAIL, "posix: segments cannot be created here: mount a tmpfs on /dev/shm");
		return;
	}
	size = (uint64_t)sv.f_blocks * sv.f_frsize;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	used = size - (uint64_t)sv.f_bfree * sv.f_frsize;
	int mr = mount_of("/dev/shm", type, sizeof(type), opts, sizeof(opts));
	struct statfs sf;
	if (mr != 0 && statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
		/* no mount table to read (no /proc), or /dev/shm a directory of
		 * a tmpfs mounted above it: the filesystem says what it is */
		snprintf(type, sizeof(type), "tmpfs");
		snprintf(opts, sizeof(opts), "%s%s", (sv.f_flag & ST_RDONLY) ? "ro, " : "",
			 access("/proc/self/mounts", R_OK) != 0
				 ? "(mount options unknown: cannot read /proc/self/mounts)"
				 : "(a directory of the tmpfs mounted above it)");
	} else if (mr != 0) {
		snprintf(type, sizeof(type), "not a mount point");
		opts[0] = 0;
	}
	facts(c, "%s, size %s, free %s (%" PRIu64 "%% used)", type, cli_human_size(size, a, 16),
	      cli_human_size(avail, b, 16), size ? used * 100 / size : 0);
	if (opts[0])
		facts(c, ", options %s", opts);
	if (strcmp(type, "tmpfs") != 0)
		judge(c, V_WARN, "/dev/shm is not a tmpfs: posix: segments are written to disk");
	else if (strncmp(opts, "ro", 2) == 0 && (opts[2] == ',' || opts[2] == 0))
		judge(c, V_FAIL, "/dev/shm is read-only: posix: segments cannot be created");
	else if (access("/dev/shm", W_OK) != 0)
		judge(c, V_FAIL, "/dev/shm is not writable by this user");
	else if (sv.f_files > 0 && sv.f_favail == 0)
		judge(c, V_FAIL, "no free inode: all %llu in use (nr_inodes): every new posix: "
			  "segment fails with ENOSPC, however much space is free",
			  (unsigned long long)sv.f_files);
	else if (sv.f_files > 0 && sv.f_favail < 64)
		judge(c, V_WARN, "only %llu free inodes of %llu (nr_inodes): that many more posix: "
			  "segments, then ENOSPC", (unsigned long long)sv.f_favail,
			  (unsigned long long)sv.f_files);
	else if (avail < (64u << 20))
		judge(c, V_WARN, "only %s free: larger posix: segments and queues fail with ENOSPC "
			  "(containers default to 64M; raise with --shm-size)", b);
	else
		judge(c, V_OK, "posix: and memfd: segments up to %s fit", b);
}

/* ---- huge pages (?huge) ---- */

/* The first hugetlbfs mount point, or "" when none is mounted. */
static void hugetlbfs_mount(char *dir, size_t cap)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[2048], mnt[1024], type[64];

	dir[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %1023s %63s", mnt, type) == 2 && strcmp(type, "hugetlbfs") == 0) {
			snprintf(dir, cap, "%s", mnt);
			break;
		}
	if (f)
		fclose(f);
}

static uint64_t meminfo_u64(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long v = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			v = strtoull(line + strlen(key) + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static void check_huge(struct check *c)
{
	char thp[256] = "", type[64], opts[1024], dir[1024];
	uint64_t total = meminfo_u64("HugePages_Total"), free_ = meminfo_u64("HugePages_Free");
	uint64_t kb = meminfo_u64("Hugepagesize");
	const char *huge = NULL;

	c->name = "huge pages";
	if (read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", thp, sizeof(thp)) < 0)
		snprintf(thp, sizeof(thp), "(no THP in this kernel)");
	if (mount_of("/dev/shm", type, sizeof(type), opts, sizeof(opts)) == 0)
		huge = strstr(opts, "huge=");
	hugetlbfs_mount(dir, sizeof(dir));
	facts(c, "vm.nr_hugepages %" PRIu64 " (%" PRIu64 " free, %" PRIu64 " kB each); hugetlbfs %s; "
		 "shmem_enabled %s; /dev/shm %.*s",
	      total, free_, kb, dir[0] ? dir : "not mounted", thp,
	      huge ? (int)strcspn(huge, ",") : 10, huge ? huge : "huge=never");
	int thp_shm = huge && strncmp(huge, "huge=never", 10) != 0;
	thp_shm |= strstr(thp, "[force]") != NULL;
	if (strstr(thp, "[deny]"))
		thp_shm = 0;
	if (free_ == 0 && !thp_shm)
		judge(c, V_INFO, "?huge / SHMKIT_HUGE fails here: reserve pages (sysctl vm.nr_hugepages=N) "
			  "for sysv:, anon:, memfd: and hugetlbfs files, or mount /dev/shm with "
			  "huge=advise for posix:");
	else
		judge(c, V_OK, "?huge works for %s%s%s", free_ ? "sysv:, anon:, memfd: (up to " : "",
		      free_ ? "the free pages)" : "", thp_shm ? (free_ ? " and posix:" : "posix:") : "");
}

/* ---- SysV limits ---- */

/* Segments and bytes in use now, from /proc/sysvipc/shm (this IPC namespace). */
static int sysv_usage(uint64_t *count, uint64_t *bytes)
{
	char line[512];
	FILE *f = fopen("/proc/sysvipc/shm", "re");

	*count = *bytes = 0;
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		long long key, id;
		unsigned perms;
		unsigned long long size;

		if (sscanf(line, "%lld %lld %o %llu", &key, &id, &perms, &size) == 4) {
			(*count)++;
			*bytes += size;
		}
	}
	fclose(f);
	return 0;
}

static void check_sysv(struct check *c)
{
	uint64_t shmmax, shmall, shmmni, count, bytes, all_bytes;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	char a[16], b[16], d[16];

	c->name = "SysV limits";
	if (read_u64("/proc/sys/kernel/shmmax", &shmmax) || read_u64("/proc/sys/kernel/shmall", &shmall) ||
	    read_u64("/proc/sys/kernel/shmmni", &shmmni)) {
		facts(c, "cannot read /proc/sys/kernel/shm*");
		judge(c, V_INFO, "limits unknown (no /proc?)");
		return;
	}
	all_bytes = shmall > UINT64_MAX / page ? UINT64_MAX : shmall * page;
	sysv_usage(&count, &bytes);
	facts(c, "shmmax %s, shmall %s (%" PRIu64 " %s), shmmni %" PRIu64 "; in use: %" PRIu64 " %s, %s",
	      hsize(shmmax, a), hsize(all_bytes, b), shmall, cli_plural(shmall, "page", "pages"), shmmni,
	      count, cli_plural(count, "segment", "segments"), cli_human_size(bytes, d, 16));
	if (count * 10 >= shmmni * 9)
		judge(c, V_WARN, "%" PRIu64 " of %" PRIu64 " segment ids used: new sysv: segments "
			  "will fail with ENOSPC (shmkit gc, or raise kernel.shmmni)", count, shmmni);
	else if (bytes / 10 * 10 >= all_bytes / 10 * 9)
		judge(c, V_WARN, "SysV memory nearly at shmall: raise kernel.shmall");
	else if (shmmax < (32u << 20))
		judge(c, V_WARN, "shmmax is only %s: larger sysv: segments fail with EINVAL "
			  "(raise kernel.shmmax)", a);
	else
		judge(c, V_OK, "sysv: segments up to %s each (%" PRIu64 " more %s free)",
		      hsize(shmmax, a), shmmni - count, cli_plural(shmmni - count, "id", "ids"));
}

/* ---- cgroup memory ---- */

/* The tightest memory.max from our cgroup v2 up to the root. */
static int cgroup2_limit(const char *rel, uint64_t *limit, char *at, size_t atcap,
			 uint64_t *current)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], val[64];
	int found = 0;

	*limit = UINT64_MAX;
	*current = 0;
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", strcmp(rel, "/") ? rel : "");
	snprintf(path, sizeof(path), "%s/memory.current", dir);
	if (read_u64(path, current) == 0)
		found = 1;
	for (;;) {
		uint64_t v;

		snprintf(path, sizeof(path), "%s/memory.max", dir);
		if (read_line(path, val, sizeof(val)) == 0) {
			found = 1;
			if (cli_parse_u64(val, &v) == 0 && v < *limit) {
				*limit = v;
				snprintf(at, atcap, "%s", dir);
			}
		}
		if (strcmp(dir, "/sys/fs/cgroup") == 0)
			break;
		*strrchr(dir, '/') = 0;
	}
	return found ? 0 : -ENOENT;
}

/* Is tok one of the comma-separated words of list? */
static int has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, tok, n) == 0 && (p[n] == ',' || p[n] == 0))
			return 1;
	return 0;
}

static void check_cgroup(struct check *c)
{
	char line[1024], v1[PATH_MAX] = "", v2[PATH_MAX] = "", at[PATH_MAX + 64] = "", path[PATH_MAX + 64];
	char a[16], b[16];
	uint64_t limit = UINT64_MAX, current = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int version = 0;

	c->name = "cgroup memory";
	while (f && fgets(line, sizeof(line), f)) {
		/* "ID:CONTROLLERS:PATH"; cgroup v2 is "0::PATH" */
		char *p = strchr(line, ':'), *q = p ? strchr(p + 1, ':') : NULL;
		const char *ctrl;

		line[strcspn(line, "\n")] = 0;
		if (!q)
			continue;
		*p = *q = 0;
		ctrl = p + 1;
		if (strcmp(line, "0") == 0 && *ctrl == 0)
			snprintf(v2, sizeof(v2), "%s", q + 1);
		else if (has_token(ctrl, "memory"))
			snprintf(v1, sizeof(v1), "%s", q + 1);
	}
	if (f)
		fclose(f);
	if (v2[0] && cgroup2_limit(v2, &limit, at, sizeof(at), &current) == 0) {
		version = 2;
	} else if (v1[0]) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", v1);
		if (read_u64(path, &limit) != 0) /* in a container the path is often "/" */
			read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes", &limit);
		snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", v1);
		if (read_u64(path, &current) != 0)
			read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes", &current);
		snprintf(at, sizeof(at), "/sys/fs/cgroup/memory%s", v1);
		version = 1;
	}
	if (!version) {
		facts(c, "no memory cgroup found");
		judge(c, V_OK, "no cgroup memory limit applies");
		return;
	}
	if (limit >= (UINT64_MAX >> 2)) {
		facts(c, "cgroup v%d %s: no limit, %s in use", version, version == 2 ? v2 : v1,
		      cli_human_size(current, a, 16));
		judge(c, V_OK, "no cgroup memory limit applies");
		return;
	}
	facts(c, "cgroup v%d %s: limit %s (set at %s), %s in use", version, version == 2 ? v2 : v1,
	      cli_human_size(limit, a, 16), at, cli_human_size(current, b, 16));
	if (current / 10 * 10 >= limit / 10 * 9)
		judge(c, V_WARN, "nearly at the limit: shared memory pages count against it, so "
			  "touching a segment may invoke the OOM killer");
	else
		judge(c, V_INFO, "shared memory pages are charged to the cgroup that first touches "
			  "them and count against %s", a);
}

/* ---- the limits behind a failed create ---- */

void cli_limits_facts(const char *uri, char *buf, size_t cap)
{
	struct check c[2];
	size_t n = 0;

	memset(c, 0, sizeof(c));
	if (strncmp(uri, "sysv:", 5) == 0)
		check_sysv(&c[0]);
	else if (strncmp(uri, "file:", 5) != 0)
		check_dev_shm(&c[0]);
	check_cgroup(&c[1]);
	buf[0] = 0;
	for (int i = 0; i < 2; i++)
		if (c[i].name && n < cap)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s: %s", n ? "; " : "", c[i].name,
					      c[i].facts);
}

/* ---- systemd-logind RemoveIPC ---- */

struct removeipc {
	int value;          /* 1 yes, 0 no */
	char source[PATH_MAX];
};

static int parse_bool(const char *v)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcmp(v, "1"))
		return 1;
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcmp(v, "0"))
		return 0;
	return -1;
}

/* Read RemoveIPC= from the [Login] section of one file; later files win. */
static void parse_logind(const char *path, struct removeipc *r)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	int in_login = 0;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *eq, *end;
		int b;

		s += strspn(s, " \t");
		s[strcspn(s, "\r\n")] = 0;
		if (*s == '#' || *s == ';' || *s == 0)
			continue;
		if (*s == '[') {
			in_login = strncmp(s, "[Login]", 7) == 0;
			continue;
		}
		eq = strchr(s, '=');
		if (!in_login || !eq)
			continue;
		for (end = eq; end > s && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		if ((size_t)(end - s) != strlen("RemoveIPC") || strncmp(s, "RemoveIPC", 9) != 0)
			continue;
		eq++;
		eq += strspn(eq, " \t");
		end = eq + strlen(eq);
		while (end > eq && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		b = parse_bool(eq);
		if (b >= 0) {
			r->value = b;
			snprintf(r->source, sizeof(r->source), "%s", path);
		}
	}
	fclose(f);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(strrchr(*(char *const *)a, '/'), strrchr(*(char *const *)b, '/'));
}

/* systemd's order: the main file, then every *.conf drop-in sorted by file
 * name, where a name in an earlier directory hides the same name later.
 * SHMKIT_DOCTOR_ROOT, if set, is prefixed to every path (for the tests). */
static void removeipc_setting(struct removeipc *r)
{
	static const char *const dirs[] = { "/etc/systemd/logind.conf.d", "/run/systemd/logind.conf.d",
					    "/usr/local/lib/systemd/logind.conf.d",
					    "/usr/lib/systemd/logind.conf.d" };
	const char *root = getenv("SHMKIT_DOCTOR_ROOT") ? getenv("SHMKIT_DOCTOR_ROOT") : "";
	char *files[256], path[PATH_MAX];
	size_t n = 0;

	r->value = 1;
	snprintf(r->source, sizeof(r->source), "systemd default");
	snprintf(path, sizeof(path), "%s/etc/systemd/logind.conf", root);
	if (access(path, F_OK) != 0)
		snprintf(path, sizeof(path), "%s/usr/lib/systemd/logind.conf", root);
	parse_logind(path, r);
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		DIR *dir;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s%s", root, dirs[d]);
		dir = opendir(path);
		while (dir && (e = readdir(dir)) && n < sizeof(files) / sizeof(files[0])) {
			size_t len = strlen(e->d_name), i;
			char file[PATH_MAX + 256];

			if (len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
				continue;
			for (i = 0; i < n; i++)
				if (strcmp(strrchr(files[i], '/') + 1, e->d_name) == 0)
					break;
			snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
			if (i == n && (files[n] = strdup(file)))
				n++;
		}
		if (dir)
			closedir(dir);
	}
	qsort(files, n, sizeof(files[0]), by_name);
	for (size_t i = 0; i < n; i++) {
		parse_logind(files[i], r);
		free(files[i]);
	}
}

/* Highest uid systemd treats as a system user (Debian's build: 999). */
#define SYSTEM_UID_MAX 999

static void check_removeipc(struct check *c)
{
	struct removeipc r;
	uid_t uid = getuid();
	char user[64];
	struct stat st;
	int logind = stat("/run/systemd/system", &st) == 0;

	c->name = "RemoveIPC";
	removeipc_setting(&r);
	cli_user_name(uid, user, sizeof(user));
	facts(c, "RemoveIPC=%s (%s); user %s (uid %u) is a %s user; systemd %s", r.value ? "yes" : "no",
	      r.source, user, (unsigned)uid, uid <= SYSTEM_UID_MAX ? "system" : "regular",
	      logind ? "is running" : "is not running");
	if (!r.value)
		judge(c, V_OK, "logind never removes IPC objects");
	else if (uid <= SYSTEM_UID_MAX)
		judge(c, V_OK, "system users are exempt: logind leaves this user's segments alone");
	else if (!logind)
		judge(c, V_INFO, "systemd-logind is not running here; where it runs, it removes this "
			  "user's segments when its last session ends");
	else
		judge(c, V_WARN, "systemd-logind removes this user's posix: and sysv: segments when its "
			  "last login session ends: run services as a system user, or set "
			  "RemoveIPC=no in /etc/systemd/logind.conf");
}

/* ---- output ---- */

static void print_text(const struct check *cs, size_t n)
{
	printf("shmkit doctor: what could make shared memory fail on this machine\n");
	for (size_t i = 0; i < n; i++)
		printf("%-14s %s\n%-14s -> %s: %s\n", cs[i].name, cs[i].facts, "",
		       verdict_names[cs[i].verdict], cs[i].advice);
}

static int print_json(const struct check *cs, size_t n)
{
	struct cli_json j;

	cli_json_init(&j, stdout);
	cli_json_object(&j, NULL);
	cli_json_array(&j, "checks");
	for (size_t i = 0; i < n; i++) {
		cli_json_object(&j, NULL);
		cli_json_str(&j, "name", cs[i].name);
		cli_json_str(&j, "verdict", verdict_names[cs[i].verdict]);
		cli_json_str(&j, "facts", cs[i].facts);
		cli_json_str(&j, "advice", cs[i].advice);
		cli_json_end(&j);
	}
	cli_json_end(&j);
	cli_json_end(&j);
	return cli_json_finish(&j);
}

CLI_COMMAND(cmd_doctor)
{
	void (*const checks[])(struct check *) = { check_dev_shm, check_sysv, check_cgroup,
						   check_removeipc, check_huge };
	struct check cs[sizeof(checks) / sizeof(checks[0])];
	size_t n = sizeof(checks) / sizeof(checks[0]);
	int json = 0, failed = 0;
	const struct cli_opt opts[] = { { "json", 0, CLI_FLAG, &json, NULL }, { 0 } };
	int nops = cli_parse(argv[0], argc, argv, opts);

	if (nops < 0)
		return CLI_USAGE;
	if (nops != 0)
		return cli_usage_error(argv[0], "unexpected argument '%s'", argv[1]);
	memset(cs, 0, sizeof(cs));
	for (size_t i = 0; i < n; i++) {
		checks[i](&cs[i]);
		failed |= cs[i].verdict == V_FAIL;
	}
	if (json) {
		int w = print_json(cs, n);
		if (w < 0)
			return cli_fail_write("doctor", "", w);
	} else {
		print_text(cs, n);
	}
	return failed ? CLI_FAIL : CLI_OK;
}
