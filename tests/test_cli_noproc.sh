#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CLI where /proc is not mounted (a chroot, a mount namespace that
# unmounted it: the directory is there, empty). Needs root (a private mount
# namespace); skips (77) otherwise.
#  - ls and top exit 1 naming /proc, instead of exit 0 with every SysV
#    segment left out and every POSIX one "attached 0" (this one is held);
#  - stat still answers, "attached: ?" rather than 0;
#  - gc removes nothing (it cannot prove anyone dead), and says why: /proc
#    is not mounted, or (later, with /proc) the object was made without it;
#  - doctor still sees that /dev/shm is a tmpfs (it said "not a mount
#    point ... not a tmpfs: posix: segments are written to disk").
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (a private mount namespace)"; exit 77; }
unshare -m --propagation private true 2>/dev/null || { echo "SKIP: no private mount namespace"; exit 77; }
U="posix:/shmkit-test-$$-noproc"
CLEANUP+=("$U")
"$SHMKIT" queue create "$U" --capacity 4 --max-msg 16 --owned || fail "queue create"
# a holder of the queue for the whole test: a process that maps it
"$SHMKIT" recv "$U" --timeout 30 >/dev/null 2>&1 &
HOLDER=$!
cleanup() { kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; }
sleep 0.5

# The sanitizers read their options from /proc/self/environ, and LeakSanitizer
# needs /proc to stop the world: an ASan build's tool dies at exit without it
# (test_list_noproc covers the library there). Not "grep -q": under pipefail
# ldd, which writes line by line, dies of SIGPIPE when grep -q stops reading
# at libasan (line 2), the pipeline fails, and the test ran (CI, stop 49)
if ldd "$SHMKIT" 2>/dev/null | grep libasan >/dev/null; then
	echo "SKIP: an ASan build's tool cannot run without /proc (LeakSanitizer)"
	exit 77
fi
noproc() { unshare -m --propagation private bash -c 'umount -l /proc && exec "$@"' noproc "$@"; }

expect 1 noproc "$SHMKIT" ls
err_has "/proc is not mounted"
expect 1 noproc "$SHMKIT" top --once
err_has "/proc is not mounted"
expect 0 noproc "$SHMKIT" stat "$U"
grep -Eq '^attached: +\?$' "$TMP/out" || fail "stat without /proc: $(grep '^attached' "$TMP/out")"
expect 0 noproc "$SHMKIT" gc --prefix "$U"
"$SHMKIT" stat "$U" >/dev/null 2>&1 || fail "gc without /proc removed $U"
out_has "/proc is not mounted here"
# made where /proc was not mounted, its creator gone: gc, even with /proc
# back, cannot tell a reused pid from it, and says so (was: "No data
# available")
U2="posix:/shmkit-test-$$-noproc-made"
CLEANUP+=("$U2")
expect 0 noproc "$SHMKIT" queue create "$U2" --capacity 4 --max-msg 16 --owned
expect 0 "$SHMKIT" gc --prefix "$U2"
out_has "recorded where /proc was not mounted"
"$SHMKIT" stat "$U2" >/dev/null 2>&1 || fail "gc removed $U2"
if [ "$(stat -f -c %T /dev/shm)" = tmpfs ]; then
	noproc "$SHMKIT" doctor >"$TMP/out" 2>"$TMP/err" # exit 1 if any check fails here
	grep -q '^/dev/shm  *tmpfs' "$TMP/out" || fail "doctor without /proc: $(grep '/dev/shm' "$TMP/out")"
	grep -q 'not a tmpfs' "$TMP/out" && fail "doctor without /proc calls /dev/shm no tmpfs"
fi
finish test_cli_noproc
