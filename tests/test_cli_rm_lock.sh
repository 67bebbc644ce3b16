#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit rm and the name lock (src/backend/unlink.c): a remover waits up to
# 10 s for another remover's lock, a write lock on byte 0x7ffffff0, then
# fails. A read lock on that byte is no remover's: anyone who may read the
# file can take it (another user, on a segment of mode 0644), and it made rm
# wait 10 s and fail with "another shmkit remover holds its name lock" (found
# by a helper following shmkit(1) as a second user, round 26). A read lock
# taken by another user (when run as root) or by this user must not hold rm
# up, on posix: and file: alike.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
P=posix:/shmkit-test-$$-rmlock
F=file:$TMP/rmlock
CLEANUP=("$P" "$F")
LOCKER=
cleanup() { [ -z "$LOCKER" ] || kill -9 "$LOCKER" "$(locker_python)" 2>/dev/null; }

# As another user when root (nobody may read a 0644 file), else as this one.
as_reader=()
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	as_reader=(runuser -u nobody --)
	chmod 755 "$TMP"
fi

# readlock PATH: a process that holds an OFD read lock on the name-lock byte
# of PATH, opened read-only; its pid in LOCKER once the lock is held (that of
# runuser, as root: python's own is in the "locked" line, for the kill: a
# SIGKILL to runuser left python holding the file for its 60 s).
readlock() {
	rm -f "$TMP/locked"
	"${as_reader[@]}" python3 -c '
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
F_OFD_SETLK = 37
fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hh4xqqi4x", fcntl.F_RDLCK, 0, 0x7ffffff0, 1, 0))
print("locked", os.getpid(), flush=True)
time.sleep(60)' "$1" >"$TMP/locked" 2>&1 &
	LOCKER=$!
	local i
	for i in $(seq 500); do
		grep -q locked "$TMP/locked" 2>/dev/null && return 0
		kill -0 "$LOCKER" 2>/dev/null || break
		sleep 0.02
	done
	fail "the reader never locked $1: $(cat "$TMP/locked")"
}

locker_python() { sed -n 's/^locked \([0-9][0-9]*\)$/\1/p' "$TMP/locked" 2>/dev/null; }

for u in "$P" "$F"; do
	case "$u" in
	posix:/*) path=/dev/shm/${u#posix:/} ;;
	file:*) path=${u#file:} ;;
	esac
	expect 0 "$SHMKIT" create "$u" 4K --mode 0644
	readlock "$path"
	start=$(date +%s%N)
	expect 0 timeout 30 "$SHMKIT" rm "$u"
	ms=$((($(date +%s%N) - start) / 1000000))
	[ ! -e "$path" ] || fail "rm $u left the file"
	[ "$ms" -lt 5000 ] || fail "rm $u waited $ms ms for a reader's lock"
	kill -9 "$LOCKER" "$(locker_python)" 2>/dev/null
	wait "$LOCKER" 2>/dev/null
	LOCKER=
done

finish test_cli_rm_lock
