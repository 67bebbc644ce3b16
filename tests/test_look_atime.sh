#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Looking leaves a segment's access time alone too. Mapping or reading a
# tmpfs (or disk) file bumps its atime under relatime when the atime is not
# newer than the mtime, so every look at a POSIX or file: segment (ls, stat,
# read, top, gc, queue stat, ...) used to set it to now: a cleaner that ages
# files by atime (systemd-tmpfiles, find -atime) then keeps what only shmkit
# looked at, and stat(1) shows the look. Looks now open with O_NOATIME where
# the kernel allows it (the file's owner, or CAP_FOWNER), a plain open
# elsewhere (checked as a second user when run as root). Found by comparing
# stat(1) before and after each look at a segment Python's SharedMemory made.
# Every name is this test's own; everything is removed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-atime"
OLD=1700000000

path_of() {
	case "$1" in
	posix:/*) echo "/dev/shm/${1#posix:/}" ;;
	file:*) echo "${1#file:}" ;;
	esac
}

mkdir -p "$TMP/files"
chmod 755 "$TMP" "$TMP/files"
for p in "posix:/$TAG" "file:$TMP/files/$TAG"; do
	CLEANUP+=("$p-foreign" "$p-q")
	# another program's segment: sized by ftruncate, a few bytes written
	f=$(path_of "$p-foreign")
	printf 'hello' >"$f" && truncate -s 10000 "$f" && chmod 644 "$f" || fail "make $p-foreign"
	"$SHMKIT" queue create "$p-q" --capacity 8 --max-msg 64 --mode 0644 &&
		"$SHMKIT" send "$p-q" one || fail "make $p-q"
done
[ "$FAILS" = 0 ] || exit 1

# check_atime URI CMD...: CMD leaves URI's access time as it was. Tried
# three times: another program looking at every segment at that moment (a
# shmkit ls of an older build, on a shared machine) may bump it once.
check_atime() {
	local u=$1 f try
	shift
	f=$(path_of "$u")
	for try in 1 2 3; do
		touch -d "@$OLD" "$f"
		"$SHMKIT" "$@" >"$TMP/out" 2>"$TMP/err"
		[ $? -le 1 ] || fail "'shmkit $*' crashed: $(head -c 300 "$TMP/err")"
		[ "$(stat -c %X "$f")" = "$OLD" ] && return
	done
	fail "'shmkit $*' changed the access time of $u to $(stat -c %x "$f")"
}

for p in "posix:/$TAG" "file:$TMP/files/$TAG"; do
	for k in foreign q; do
		u="$p-$k"
		check_atime "$u" ls "$u"
		check_atime "$u" ls --json "$u"
		check_atime "$u" stat "$u"
		check_atime "$u" stat "$u" --json
		check_atime "$u" read "$u" --length 16
		check_atime "$u" read "$u" --hex --length 16
		check_atime "$u" queue stat "$u"
		check_atime "$u" heap "$u" stats
		check_atime "$u" top --once --interval 0.1 "$u"
	done
	check_atime "$p-foreign" gc --dry-run --prefix "$p-foreign"
	check_atime "$p-foreign" gc --prefix "$p-foreign"
	check_atime "$p-q" gc --dry-run --prefix "$p-q"
done

# Another user may not use O_NOATIME on our files: its looks still work.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	for p in "posix:/$TAG" "file:$TMP/files/$TAG"; do
		runuser -u nobody -- "$SHMKIT" read "$p-foreign" --length 5 >"$TMP/out" 2>"$TMP/err" ||
			fail "read $p-foreign as nobody: $(cat "$TMP/err")"
		out_is "hello"
		runuser -u nobody -- "$SHMKIT" queue stat "$p-q" >"$TMP/out" 2>"$TMP/err" ||
			fail "queue stat $p-q as nobody: $(cat "$TMP/err")"
		out_has "depth"
		runuser -u nobody -- "$SHMKIT" gc --dry-run --prefix "$p-q" >"$TMP/out" 2>"$TMP/err" ||
			fail "gc --dry-run $p-q as nobody: $(cat "$TMP/err")"
		grep -q "cannot look" "$TMP/out" && fail "gc as nobody could not look at $p-q: $(cat "$TMP/out")"
	done
fi

finish test_look_atime
