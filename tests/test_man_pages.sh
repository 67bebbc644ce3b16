#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `man shmkit_queue_send` (every public function) finds its page: the link
# pages man/mklinks.sh makes (and `make install` installs) cover every
# SHMKIT_API function in include/, each points at an existing group page, and
# man(1) follows them.
set -uo pipefail
SRC=${SHMKIT_SOURCE_DIR:-.}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

mkdir -p "$TMP/man/man1" "$TMP/man/man3"
bash "$SRC/man/mklinks.sh" "$SRC" "$TMP/man/man3" --check || fail "a public function has no page"
cp "$SRC"/man/man1/*.1 "$TMP/man/man1/"
cp "$SRC"/man/man3/*.3 "$TMP/man/man3/"
n=0
for f in $(sed -n 's/^SHMKIT_API[^(]*[ *]\(shmkit_[a-z0-9_]*\)(.*/\1/p' \
	"$SRC"/include/shmkit.h "$SRC"/include/shmkit/*.h | sort -u); do
	n=$((n + 1))
	[ -e "$TMP/man/man3/$f.3" ] || { fail "no page for $f"; continue; }
	target=$(sed -n 's/^\.so //p' "$TMP/man/man3/$f.3")
	[ -z "$target" ] || [ -e "$TMP/man/$target" ] || fail "$f.3 points at missing $target"
done
[ "$n" -gt 50 ] || fail "found only $n public functions: the header scan is broken"
if command -v man >/dev/null; then
	for f in shmkit_queue_send shmkit_sub_recv shmkit_map_put shmkit_strerror; do
		MANWIDTH=80 man -M "$TMP/man" 3 "$f" 2>/dev/null | grep "^NAME" >/dev/null ||
			fail "man -M ... 3 $f shows no page"
		MANWIDTH=80 man -M "$TMP/man" 3 "$f" 2>/dev/null | tr -d '\n _‐-' | grep "${f//_/}" >/dev/null ||
			fail "man 3 $f: the page does not name $f"
	done
else
	echo "man(1) not installed: link targets checked, man itself not run"
fi
echo "test_man_pages: $n functions, $FAILS failure(s)"
[ "$FAILS" = 0 ]
