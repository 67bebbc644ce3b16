#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Segments other programs made, as Python's multiprocessing makes them (h36c):
# shmkit's tools must see them as they are and damage none. Each case failed
# before its fix. Every file has a run-unique name and is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-foreign"
SEM=/dev/shm/sem.$TAG-sem HOLEY=/dev/shm/$TAG-holey
cleanup() { rm -f "$SEM" "$HOLEY"; }

# ---- write over a POSIX named semaphore is refused without --force ----
# sem_open("/x") is /dev/shm/sem.x (a C program's named semaphore, or one
# Python's _multiprocessing.SemLock keeps by name): shmkit creates nothing
# there and gc leaves them alone, but
# write put its bytes over the counter: a lock at 1 became 31354 ("zz"), and
# every program using it then let that many holders in at once.
printf '\001\000\000\000\000\000\000\000\200\000\000\000\000\000\000\000' >"$SEM"
head -c 16 /dev/zero >>"$SEM" # the 32 bytes of glibc's sem_t, value 1
before=$(od -An -tx1 "$SEM")
for u in "posix:/sem.$TAG-sem" "/sem.$TAG-sem" "file:$SEM"; do
	expect 1 "$SHMKIT" write "$u" zz
	err_has "is a POSIX named semaphore"
	[ "$(od -An -tx1 "$SEM")" = "$before" ] || fail "write $u changed the semaphore"
done
# what it says --force does, it does
expect 0 "$SHMKIT" write "posix:/sem.$TAG-sem" zz --force
expect 0 "$SHMKIT" read "posix:/sem.$TAG-sem"
out_is zz
# a name with "sem." later in it is an ordinary segment
expect 0 "$SHMKIT" create "posix:/$TAG-sem.x" 4096
CLEANUP+=("posix:/$TAG-sem.x")
expect 0 "$SHMKIT" write "posix:/$TAG-sem.x" hello

# ---- read of a sparse segment with more holes than a look covers ----
# (a Python SharedMemory written every other page): read reads files with
# pread, which allocates no hole, yet refused it ("more than 4096 holes ...
# read it with pread(2)"). It reads it now, and charges the file nothing.
if command -v python3 >/dev/null; then
	python3 - "$HOLEY" <<'EOF' || fail "make $HOLEY"
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
os.ftruncate(fd, 8400 * 4096)
for i in range(1, 8400, 2):
    os.pwrite(fd, b"x", i * 4096)
os.pwrite(fd, b"PYDATA", 4096 + 1)
os.close(fd)
EOF
	blocks=$(stat -c %b "$HOLEY")
	expect 0 "$SHMKIT" read "posix:/$TAG-holey" --offset 4096 --length 7
	out_is xPYDATA
	expect 0 "$SHMKIT" read "posix:/$TAG-holey" --hex --offset 4094 --length 4
	out_has "00000ffe  00 00 78 50"
	expect 1 "$SHMKIT" read "posix:/$TAG-holey" --offset $((8400 * 4096 + 1))
	err_has "past the end"
	[ "$(stat -c %b "$HOLEY")" = "$blocks" ] ||
		fail "read allocated pages: $blocks -> $(stat -c %b "$HOLEY") blocks"
	# the looks that map still refuse it with the reason, and change nothing
	expect 0 "$SHMKIT" gc --dry-run --prefix "posix:/$TAG-holey"
	[ -f "$HOLEY" ] || fail "gc removed $HOLEY"
else
	echo "python3 not installed: the sparse read is not tried"
fi

finish test_cli_foreign
