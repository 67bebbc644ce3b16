#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Segments other programs made, as Python's multiprocessing makes them (h36c):
# shmkit's tools must see them as they are and damage none. Each case failed
# before its fix. Every file has a run-unique name and is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-foreign"
HOLEY=/dev/shm/$TAG-holey
cleanup() { rm -f "$HOLEY"; }

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
