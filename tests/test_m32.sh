#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A 32-bit (i386) and a 64-bit process share one layout: queue and topic
# messages both ways, a map written and read by both (the hash, the heap and
# the robust mutex are the same bytes on both ABIs), and each side's check of
# what the other wrote. Needs the i386 CLI that `make check-all` builds
# (SHMKIT_M32=path/to/i386/shmkit); skipped (77) without it.
set -uo pipefail
S64=${SHMKIT:?run from ctest}
S32=${SHMKIT_M32:-}
[ -n "$S32" ] && [ -x "$S32" ] || { echo "skip: no i386 shmkit (make check-all builds one: SHMKIT_M32)"; exit 77; }
file -L "$S32" 2>/dev/null | grep -q "32-bit" || ! command -v file >/dev/null ||
	{ echo "FAIL: $S32 is not an i386 program"; exit 1; }
TAG="shmkit-test-$$-m32"
FAILS=0
URIS=()
cleanup() { for u in "${URIS[@]}"; do "$S64" rm "$u" >/dev/null 2>&1; done; }
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# run WANT_OUTPUT CMD...: CMD must succeed and print exactly WANT_OUTPUT
run() {
	local want=$1 out; shift
	out=$(timeout -s KILL 30 "$@" 2>&1) || { fail "$*: exit $? ($out)"; return; }
	[ "$out" = "$want" ] || fail "$*: printed '$out', want '$want'"
}

# ---- queue: each side creates one, the other sends and receives ----
for pair in "$S64 $S32" "$S32 $S64"; do
	set -- $pair
	a=$1 b=$2
	Q="posix:/$TAG-q-$(basename "$(dirname "$a")")"
	URIS+=("$Q")
	run "" "$a" queue create "$Q" --capacity 8 --max-msg 64 --multi
	run "" "$b" send "$Q" one two three
	run "$(printf 'one\ntwo')" "$a" recv "$Q" --count 2
	run "" "$a" send "$Q" four
	run "$(printf 'three\nfour')" "$b" recv "$Q" --count 2 --timeout 5
done

# ---- topic: a subscriber of the other ABI sees every message ----
for pair in "$S64 $S32" "$S32 $S64"; do
	set -- $pair
	a=$1 b=$2
	T="posix:/$TAG-t-$(basename "$(dirname "$a")")"
	URIS+=("$T")
	run "" "$a" topic create "$T" --slots 8 --slot-size 64 --reliable
	out=$(mktemp)
	timeout -s KILL 30 "$b" sub "$T" --count 3 --timeout 20 >"$out" 2>&1 &
	sub=$!
	for _ in $(seq 100); do # until the subscriber has joined
		"$S64" stat "$T" 2>/dev/null | grep -q "alive" && break
		sleep 0.05
	done
	run "" "$a" pub "$T" alpha beta gamma
	wait $sub || fail "sub of the other ABI: exit $?"
	[ "$(cat "$out")" = "$(printf 'alpha\nbeta\ngamma')" ] || fail "topic across ABIs: got '$(cat "$out")'"
	rm -f "$out"
done

# ---- map: both write, both read, both check; the lock is taken by both ----
M="posix:/$TAG-map"
URIS+=("$M")
run "" "$S64" map "$M" create 256K
for i in $(seq 1 40); do
	if [ $((i % 2)) = 0 ]; then w=$S64; else w=$S32; fi
	run "" "$w" map "$M" put "key-$i" "value-$i-from-$(basename "$(dirname "$w")")"
done
for i in 5 6 17 40; do
	if [ $((i % 2)) = 0 ]; then want="value-$i-from-$(basename "$(dirname "$S64")")"
	else want="value-$i-from-$(basename "$(dirname "$S32")")"; fi
	run "$want" "$S32" map "$M" get "key-$i"
	run "$want" "$S64" map "$M" get "key-$i"
done
run "" "$S32" map "$M" del key-6
run "39" "$S64" map "$M" count
run "39" "$S32" map "$M" count
"$S32" map "$M" check >/dev/null 2>&1 || fail "i386 map check of a shared map"
"$S64" map "$M" check >/dev/null 2>&1 || fail "x86-64 map check of a shared map"

echo "test_m32: $FAILS failure(s)"
[ "$FAILS" = 0 ]
