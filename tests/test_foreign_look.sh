#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Looking at segments shmkit did not make, as the kernel's tools do: names any
# local user can choose, and segments of another user the caller may not read.
# What ls and ipcs show, stat and gc must show too, and neither may claim what
# it could not see. Every segment has a run-unique name and is removed on exit.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
TAG="shmkit-test-$$-foreign"
TMP=$(mktemp -d)
FAILS=0
SYSV_IDS=()
cleanup() {
	rm -f "/dev/shm/$TAG-"*
	for id in "${SYSV_IDS[@]}"; do ipcrm -m "$id" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# ---- gc prints names another program chose with control bytes escaped ----
# (as ls does): a name holding a newline must not forge a verdict line, an
# escape sequence must not drive root's terminal.
printf 'x' >"/dev/shm/$TAG-nl"$'\n'"removed      forged" || fail "cannot make a name with a newline"
printf 'x' >"/dev/shm/$TAG-esc"$'\e'"[2J"
"$SHMKIT" gc --dry-run --prefix "posix:/$TAG-" >"$TMP/gc" 2>&1 || fail "gc --dry-run exit $?"
grep -q '^removed' "$TMP/gc" && fail "a segment name forged a gc line: $(cat -A "$TMP/gc")"
LC_ALL=C grep -q $'\e' "$TMP/gc" && fail "gc printed an escape byte: $(cat -A "$TMP/gc")"
grep -Fq "posix:/$TAG-esc\\x1b[2J" "$TMP/gc" || fail "gc does not show the escaped name: $(cat -A "$TMP/gc")"
[ "$(grep -c "^kept .*$TAG" "$TMP/gc")" = 2 ] || fail "gc should keep both: $(cat -A "$TMP/gc")"

# ---- copies of a real queue with a perturbed header or body ----
# (another program's bytes that look like shmkit's): every verdict and error
# reads as a sentence and names what it found.
"$SHMKIT" queue create "posix:/$TAG-orig" --capacity 4 --max-msg 32 --owned || fail "queue create"
python3 - "/dev/shm/$TAG-orig" <<'PY' || fail "cannot copy the queue"
import os, struct, sys
src = open(sys.argv[1], "rb").read()
body = bytes(b ^ 0x5a for b in src[4096:])            # no valid queue config
open(sys.argv[1] + "-rnd", "wb").write(src[:4096] + body)
kind = bytearray(src)
kind[16:20] = struct.pack("<I", 99)                   # a kind no build knows
open(sys.argv[1] + "-kind", "wb").write(bytes(kind))
PY
"$SHMKIT" gc --dry-run --prefix "posix:/$TAG-orig-rnd" >"$TMP/gc" 2>&1
grep -q "^kept .*but it cannot be read (corrupt?): it may hold data" "$TMP/gc" ||
	fail "gc on a queue whose body is unreadable: $(cat "$TMP/gc")"
"$SHMKIT" recv "posix:/$TAG-orig-kind" --timeout 0 >/dev/null 2>"$TMP/err" && fail "recv of kind 99"
grep -q "is of unknown kind 99, not a queue" "$TMP/err" || fail "recv of kind 99: $(cat "$TMP/err")"
"$SHMKIT" queue stat "posix:/$TAG-orig-kind" >/dev/null 2>"$TMP/err" && fail "queue stat of kind 99"
grep -q "^shmkit: queue stat posix:/$TAG-orig-kind: .*unknown kind 99" "$TMP/err" ||
	fail "queue stat names itself and what it found: $(cat "$TMP/err")"

# ---- another user's segments, mode 0600 ----
if [ "$(id -u)" != 0 ] || ! command -v runuser >/dev/null || ! id nobody >/dev/null 2>&1 ||
	! id daemon >/dev/null 2>&1 || ! runuser -u daemon -- test -x "$SHMKIT"; then
	echo "SKIP (other-user part): needs root, runuser, users nobody and daemon, and $SHMKIT readable by them"
	exit $((FAILS ? 1 : 0))
fi
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }

# A queue nobody made: as daemon, the header cannot be read. stat must say
# so, never "managed: no" (it is a queue; root's stat says so).
as nobody "$SHMKIT" queue create "posix:/$TAG-q" --capacity 4 --max-msg 32 ||
	fail "queue create as nobody"
"$SHMKIT" stat "posix:/$TAG-q" | grep -q '^kind: *queue' || fail "root's stat: not a queue"
as daemon "$SHMKIT" stat "posix:/$TAG-q" >"$TMP/out" 2>"$TMP/err" ||
	fail "stat as daemon exit $?: $(cat "$TMP/err")"
grep -q '^managed: *no$' "$TMP/out" && fail "stat as daemon claims it is not managed: $(cat "$TMP/out")"
grep -Eq '^managed: *not read .*ermission denied' "$TMP/out" ||
	fail "stat as daemon does not say why it could not look: $(grep managed "$TMP/out")"
as daemon "$SHMKIT" stat "posix:/$TAG-q" --json | python3 -c '
import json, sys
st = json.load(sys.stdin)
assert st["managed"] is None, st["managed"]
assert "ermission denied" in st["header_status"], st["header_status"]
' || fail "stat --json as daemon: managed must be null with the reason"
as daemon "$SHMKIT" ls "posix:/$TAG-q" --json | python3 -c '
import json, sys
(st,) = json.load(sys.stdin)["segments"]
assert st["managed"] is None, st["managed"]
' || fail "ls --json as daemon: managed must be null"

# The Python binding's stat says the same (DESIGN §9: fields as --json); not
# in a sanitized build (its library needs the runtime preloaded: tests/python)
# nor an i386 one (a 64-bit python3 cannot load it).
if [ -n "${SHMKIT_BINARY_DIR:-}" ] && [ -n "${SHMKIT_SOURCE_DIR:-}" ] &&
	! grep -q -e '^SHMKIT_SANITIZE:BOOL=ON' -e '^CMAKE_C_FLAGS:STRING=.*-m32' \
		"$SHMKIT_BINARY_DIR/CMakeCache.txt" 2>/dev/null; then
	as daemon env SHMKIT_LIBRARY="$SHMKIT_BINARY_DIR/libshmkit.so" \
		PYTHONPATH="$SHMKIT_SOURCE_DIR/python" python3 -c '
import sys, shmkit
st = shmkit.stat(sys.argv[1])
assert st["managed"] is None and "ermission denied" in st["header_status"], st
' "posix:/$TAG-q" || fail "python stat as daemon: managed must be None with the reason"
fi

# A SysV segment nobody made, 0600: ipcs and shmkit ls show it to anyone
# (/proc/sysvipc/shm); stat must too, not fail on IPC_STAT's read check.
key=$(printf '0x5d%02x%04x' $(($$ % 256)) $((RANDOM)))
as nobody "$SHMKIT" create "sysv:$key" 4096 || fail "sysv create as nobody"
id=$(awk -v k="$((key))" '$1 == k || $1 == k - 4294967296 { print $2 }' /proc/sysvipc/shm)
[ -n "$id" ] && SYSV_IDS+=("$id")
before=$(grep -E "^ *-?[0-9]+ +$id " /proc/sysvipc/shm)
as daemon "$SHMKIT" ls "sysv:$key" | grep -q "sysv:$key" || fail "ls as daemon does not list it"
as daemon "$SHMKIT" stat "sysv:$key" >"$TMP/out" 2>"$TMP/err" ||
	fail "stat as daemon exit $?: $(cat "$TMP/err")"
grep -q '^owner: *nobody' "$TMP/out" || fail "stat as daemon: owner: $(cat "$TMP/out")"
grep -q "^sysv id: *$id\$" "$TMP/out" || fail "stat as daemon: id: $(cat "$TMP/out")"
as daemon "$SHMKIT" stat "sysv:id=$id" --json | python3 -c '
import json, sys
st = json.load(sys.stdin)
assert st["size"] == 4096 and st["uid"] != 0 and st["mode"] == "0600", st
' || fail "stat --json as daemon by id"
after=$(grep -E "^ *-?[0-9]+ +$id " /proc/sysvipc/shm)
[ "$before" = "$after" ] || fail "stat changed the segment's kernel record: $before -> $after"
as daemon "$SHMKIT" rm "sysv:$key" 2>/dev/null && fail "daemon removed nobody's segment"
grep -Eq "^ *-?[0-9]+ +$id " /proc/sysvipc/shm || fail "nobody's segment is gone"

exit $((FAILS ? 1 : 0))
