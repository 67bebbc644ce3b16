#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every shell example of README.md and of the man pages, run as written
# (tests/readme_examples.py says how), with the shmkit just built first in
# PATH. They use fixed names (posix:/jobs, sysv:0x44, /tmp/kv.map), so each
# block runs in private mount, IPC and pid namespaces with its own /dev/shm
# and /tmp: nothing they make can touch, or be touched by, anything else.
# Then README.md once more, every example in order in one such world, as a
# new user runs them: no example may trip over what an earlier one left.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
SRC=${SHMKIT_SOURCE_DIR:-.}
SHMKIT=$(realpath "$SHMKIT")
command -v unshare >/dev/null || { echo "SKIP: unshare not installed"; exit 77; }
if ! unshare --mount --ipc --pid --fork --mount-proc true 2>/dev/null; then
	echo "SKIP: cannot make private namespaces here (needs root or user namespaces)"
	exit 77
fi
[ "$(basename "$SHMKIT")" = shmkit ] || { echo "SHMKIT must name a file called shmkit"; exit 1; }
BIN=$(dirname "$SHMKIT")
# The README's Python block loads the library the way a user's tree has it
# (./build/libshmkit.so after `make build`); the test runs the build it was
# given, whichever tree that is (build-valgrind, build-clang, ... with no
# ./build, it failed "cannot load libshmkit"). A sanitized library cannot be
# loaded into python3 without its runtime preloaded: there the block still
# looks in ./build.
if [ -z "${SHMKIT_LIBRARY:-}" ] && [ -f "$BIN/libshmkit.so" ] &&
	! readelf -d "$BIN/libshmkit.so" 2>/dev/null | grep -E 'NEEDED.*lib(a|t|ub)san' >/dev/null; then
	export SHMKIT_LIBRARY="$BIN/libshmkit.so"
fi
cd "$SRC" || exit 1
PATH="$BIN:$PATH" exec python3 tests/readme_examples.py README.md man/man1/*.1 man/man3/*.3
