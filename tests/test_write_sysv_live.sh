#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `write` to a foreign System V segment nobody has attached, whose last user
# is alive: writing attaches it, which made the command its last user, and
# `gc --foreign` then removed a segment that live program still used. write
# refuses there (exit 1, nothing written) unless --attach, like read; it still
# writes where its attach fools nobody (last user gone). Root only: it runs in
# a private IPC namespace, so that the gc it runs sees only its own segment.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
if [ -z "${WRITE_SYSV_INNER:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v python3 >/dev/null ||
		! unshare -i true 2>/dev/null; then
		echo "test_write_sysv_live: needs root, unshare -i and python3 (skipped)"
		exit 77
	fi
	WRITE_SYSV_INNER=1 unshare -i bash "${BASH_SOURCE[0]}"
	exit $?
fi

KEY=$(printf '0x%x' $((0x5a000000 + ($$ & 0xffffff))))
S="sysv:$KEY" # shmkit-test-$$: a key of this test's pid, in its own IPC namespace
CLEANUP+=("$S")
user=
cleanup() { [ -z "$user" ] || kill "$user" 2>/dev/null; }

# A foreign program makes the segment; another attaches, detaches, lives on.
python3 -c '
import ctypes as c, sys
l = c.CDLL(None); l.shmat.restype = c.c_void_p
i = l.shmget(int(sys.argv[1], 16), 4096, 0o1600)
l.shmdt(c.c_void_p(l.shmat(i, None, 0)))' "$KEY" || fail "make $S"
python3 -c '
import ctypes as c, sys, time
l = c.CDLL(None); l.shmat.restype = c.c_void_p
i = l.shmget(int(sys.argv[1], 16), 0, 0)
l.shmdt(c.c_void_p(l.shmat(i, None, 0)))
print("ready", flush=True)
time.sleep(60)' "$KEY" >"$TMP/user" &
user=$!
for _ in $(seq 1 200); do [ -s "$TMP/user" ] && break; sleep 0.05; done

expect 1 "$SHMKIT" write "$S" hello
err_has "last user \(pid $user\) may be alive"
err_has "--attach"
expect 1 "$SHMKIT" write "$S" - <<<"from stdin"
"$SHMKIT" gc --foreign --prefix "$S" >/dev/null 2>&1
grep -q "^ *$((KEY)) " /proc/sysvipc/shm || fail "gc --foreign removed $S while its last user lives"
expect 0 "$SHMKIT" read "$S" --attach --hex --length 5
out_has " 00 00 00 00 00 " # nothing was written

# --attach writes anyway
expect 0 "$SHMKIT" write "$S" hello --attach
[ "$("$SHMKIT" read "$S" --attach 2>/dev/null)" = hello ] || fail "write --attach did not write"

# the last user gone: write attaches (it fools no proof) and writes
kill "$user"; wait "$user" 2>/dev/null; user=
expect 0 "$SHMKIT" write "$S" again
[ "$("$SHMKIT" read "$S" 2>/dev/null)" = again ] || fail "write after the last user died"

finish test_write_sysv_live
