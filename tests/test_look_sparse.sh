#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Looking at a sparse segment on a full tmpfs. Reading a hole of a tmpfs file
# through a mapping allocates a page in the file: on a full /dev/shm that
# fault is SIGBUS, and even with room a look charged the file pages it never
# had. A Python SharedMemory, `truncate`, or any ftruncate-and-write program
# leaves such segments, so one of them in a full /dev/shm made `shmkit ls`
# and `gc` die with SIGBUS. Every looking command must now answer (exit 0 or
# 1, no signal) and leave each file's allocated blocks as they were; a
# segment with more holes than a look covers (4096) is refused with a reason.
# Root only: it mounts a small tmpfs on /dev/shm in a mount and IPC namespace
# of its own, so nothing outside the test sees it, nor is seen by its gc.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

if [ -z "${LOOK_SPARSE_INNER:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
		echo "test_look_sparse: needs root and unshare (skipped)"
		exit 77
	fi
	unshare -m -i true 2>/dev/null ||
		{ echo "test_look_sparse: unshare -m -i fails here (/ is no mount point?) (skipped)"; exit 77; }
	# an IPC namespace too: its `gc` (no --prefix) saw the machine's SysV
	# segments, and removed any whose creator had died: another test's,
	# between that death and its own gc, or a user's
	LOOK_SPARSE_INNER=1 unshare -m -i bash "${BASH_SOURCE[0]}"
	rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 77 ] || exit "$rc"
	echo "test_look_sparse: the test in its mount namespace exited $rc"
	exit 1
fi

mount -t tmpfs -o size=2m,mode=1777 tmpfs /dev/shm || { echo "cannot mount a tmpfs (skipped)"; exit 77; }
mkdir -p "$TMP/small" && mount -t tmpfs -o size=1m tmpfs "$TMP/small" ||
	{ echo "cannot mount a tmpfs (skipped)"; exit 77; }
cleanup() { umount "$TMP/small" "$TMP/big" 2>/dev/null; }

blocks() { stat -c %b "$1"; }

# Objects made while there is room, then holes punched into them (what a
# hostile or careless writer can do); and segments shmkit did not make.
Q=posix:/lsq M=posix:/lsm T=posix:/lst R=posix:/lsr
"$SHMKIT" queue create $Q --capacity 64 --max-msg 512 && "$SHMKIT" send $Q one two ||
	fail "make $Q"
"$SHMKIT" map $M create 256K && "$SHMKIT" map $M put k v || fail "make $M"
"$SHMKIT" topic create $T --slots 16 --slot-size 1024 && "$SHMKIT" pub $T a || fail "make $T"
"$SHMKIT" create $R 64K && "$SHMKIT" write $R "raw bytes" || fail "make $R"
for f in lsq lsm lst lsr; do
	size=$(stat -c %s "/dev/shm/$f")
	fallocate --punch-hole --offset 16384 --length $((size - 16384)) "/dev/shm/$f" ||
		fail "punch /dev/shm/$f"
done
truncate -s 64K /dev/shm/foreign                                 # all hole
printf 'PYTHONDATA' | dd of=/dev/shm/foreign2 bs=1 seek=8192 conv=notrunc 2>/dev/null
truncate -s 1M /dev/shm/foreign2                                 # data inside holes
truncate -s 64K "$TMP/small/f"                                   # file: on a tmpfs
"$SHMKIT" create "file:$TMP/small/obj" 64K && "$SHMKIT" write "file:$TMP/small/obj" hello ||
	fail "make file:$TMP/small/obj"
fallocate --punch-hole --offset 8192 --length 57344 "$TMP/small/obj" || fail "punch obj"

FILES=(/dev/shm/lsq /dev/shm/lsm /dev/shm/lst /dev/shm/lsr /dev/shm/foreign /dev/shm/foreign2
	"$TMP/small/f" "$TMP/small/obj")
declare -A before
for f in "${FILES[@]}"; do before[$f]=$(blocks "$f"); done

# Runs a looking command; no signal, exit 0 or 1, no file's blocks changed.
look() {
	"$SHMKIT" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$? f
	[ "$rc" -le 1 ] || fail "'shmkit $*' exited $rc (a signal?): $(head -c 300 "$TMP/err")"
	for f in "${FILES[@]}"; do
		if [ "$(blocks "$f")" != "${before[$f]}" ]; then
			fail "'shmkit $*' allocated pages in $f: ${before[$f]} -> $(blocks "$f") blocks"
			before[$f]=$(blocks "$f")
		fi
	done
	return $rc
}

looks() {
	look ls; look ls --json; look ls --bytes
	look gc --dry-run; look gc --dry-run --foreign
	look top --once; look top --once --json
	local u
	for u in $Q $M $T $R posix:/foreign posix:/foreign2 "file:$TMP/small/f" \
		"file:$TMP/small/obj"; do
		look stat "$u"; look stat --json "$u"; look read --hex "$u"
	done
	look queue stat $Q; look topic stat $T; look map $M get k; look map $M ls
	look map $M count; look heap $M stats
}

# With room: looking charges nothing.
looks
# Full: the same looks answer instead of dying with SIGBUS.
dd if=/dev/zero of=/dev/shm/fill bs=4k 2>/dev/null
dd if=/dev/zero of="$TMP/small/fill" bs=4k 2>/dev/null
looks
look read posix:/foreign2 --offset 8192 --length 10 && out_is PYTHONDATA
look read "file:$TMP/small/obj" && out_is hello
look ls && out_has posix:/foreign2
# gc (not a dry run) looks too: the foreign files stay, nothing is charged.
look gc
for f in /dev/shm/foreign /dev/shm/foreign2; do [ -f "$f" ] || fail "gc removed $f"; done

# Using, not looking, on the full tmpfs: a clear error where a page is
# missing, never SIGBUS, and nothing already there lost.
use() {
	"$SHMKIT" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	[ "$rc" -le 1 ] || fail "'shmkit $*' exited $rc (a signal?): $(head -c 300 "$TMP/err")"
	return $rc
}
use write posix:/foreign2 hi --offset 100000 && fail "write into a hole of a full tmpfs succeeded"
err_has "no room on its filesystem"
use write posix:/foreign2 hi --offset 8202 || fail "write into an allocated page: $(cat "$TMP/err")"
use read posix:/foreign2 --offset 8192 --length 12 && out_is PYTHONDATAhi
use send $Q three && fail "send into a punched queue on a full tmpfs succeeded"
err_has "pages of the object are missing"
use map $M put k2 v2 && fail "put into a punched map on a full tmpfs succeeded"
err_has "pages of the object are missing"
use map $M get k && out_is v
use map posix:/foreign2 put a b && fail "put into a foreign sparse file succeeded"
use topic stat $T
# With room again the punched objects are reserved whole and work.
rm -f /dev/shm/fill
size=$(stat -c %s /dev/shm/lsq)
use send $Q three || fail "send with room: $(cat "$TMP/err")"
[ $(($(blocks /dev/shm/lsq) * 512)) -ge "$size" ] || fail "lsq not reserved whole: $(blocks /dev/shm/lsq) blocks"
use recv $Q --count 3 && out_is "$(printf 'one\ntwo\nthree')"
[ "$(stat -c %b /dev/shm/foreign2)" = "${before[/dev/shm/foreign2]}" ] ||
	fail "a refused put allocated pages in foreign2"
before[/dev/shm/lsq]=$(blocks /dev/shm/lsq)

# More holes than a look covers: a reason, never a fault or an allocation;
# read, which reads a file with pread (no hole allocated), reads it (h36c:
# it said "more than 4096 holes ... read it with pread(2)").
mkdir -p "$TMP/big" && mount -t tmpfs -o size=32m tmpfs "$TMP/big" || fail "mount $TMP/big"
H="$TMP/big/holey"
python3 - "$H" <<'EOF' || fail "make $H"
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(5000):
        f.seek(i * 8192 + 4096)
        f.write(b"x")
    f.truncate(5000 * 8192 + 4096)
EOF
FILES+=("$H")
before[$H]=$(blocks "$H")
look read "file:$H" --offset 4096 --length 1 || fail "read of a segment with 5000 holes: $(cat "$TMP/err")"
out_is x
look read "file:$H" --hex --offset 12286 --length 4 || fail "read --hex of 5000 holes: $(cat "$TMP/err")"
out_has "00002ffe  00 00 78 00"
look read "file:$H" --offset $((5000 * 8192 + 4097)) && fail "read past the end of 5000 holes succeeded"
look stat "file:$H"
umount "$TMP/big"

finish test_look_sparse
