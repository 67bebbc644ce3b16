#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A /dev/shm out of inodes (a tmpfs mounted with a small nr_inodes) but with
# bytes free: a create fails, naming the inodes ("no free inode ...
# nr_inodes"), not only "No space left on device" beside "free 4M (0%
# used)"; doctor says it too. In a private mount namespace (root); skips
# (77) otherwise.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (a private mount namespace)"; exit 77; }
unshare -m --propagation private true 2>/dev/null || { echo "SKIP: no private mount namespace"; exit 77; }
inside() {
	unshare -m --propagation private bash -c '
		mount -t tmpfs -o size=4M,nr_inodes=2 tmpfs /dev/shm || exit 77
		touch /dev/shm/shmkit-test-filler || exit 77
		exec "$@"' inside "$@"
}
U="posix:/shmkit-test-$$-inodes"
expect 1 inside "$SHMKIT" create "$U" 4K
err_has "no free inode"
expect 1 inside "$SHMKIT" queue create "$U" --capacity 4 --max-msg 16
err_has "no free inode"
expect 1 inside "$SHMKIT" doctor # a check that fails: exit 1
grep -q "no free inode" "$TMP/out" || fail "doctor: $(grep -A1 '^/dev/shm' "$TMP/out")"
finish test_cli_shm_inodes
