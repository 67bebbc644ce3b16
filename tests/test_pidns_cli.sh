#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Liveness across pid namespaces from the shell (issue 13): a producer run
# with `unshare -pf --mount-proc` (pid 1 of its own namespace, its own /proc)
# against host-namespace senders, a consumer and gc, and gc itself run in a
# private namespace. It is never judged dead while it lives; after kill -9
# its producer role is taken over. Root only (unshare). Every gc is limited
# to this test's own queue.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
Q="posix:/shmkit-test-$$-pidns-cli"
TMP=$(mktemp -d)
FAILS=0
holder=
cleanup() {
	[ -z "$holder" ] || kill -9 "$holder" 2>/dev/null
	"$SHMKIT" rm "$Q" "$Q-ns" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

if [ "$(id -u)" != 0 ] || ! unshare -pf --mount-proc true 2>/dev/null; then
	echo "skipped: needs root and unshare -pf --mount-proc"
	exit 77
fi

"$SHMKIT" queue create "$Q" --capacity 16 --max-msg 64 --owned || fail "queue create"
# The producer in its own pid namespace: sends one line, keeps the queue
# (and its producer role) while its stdin stays open.
mkfifo "$TMP/in"
unshare -pf --mount-proc "$SHMKIT" send "$Q" - <"$TMP/in" &
holder=$!
exec 3>"$TMP/in"
echo "from the namespace" >&3
for _ in $(seq 1 100); do
	"$SHMKIT" queue stat "$Q" 2>/dev/null | grep -q "depth: *1" && break
	sleep 0.05
done

# A host sender is refused: the producer lives (its kernel lock says so).
"$SHMKIT" send "$Q" "from the host" 2>"$TMP/err"
[ $? = 1 ] || fail "a second producer beside the one in the other namespace was let in"
grep -q "already its producer" "$TMP/err" || fail "error line: $(cat "$TMP/err")"
# The host consumer gets its message.
[ "$("$SHMKIT" recv "$Q" --timeout 5)" = "from the namespace" ] || fail "recv"
# gc, from the host and from another private namespace: never removed (kept on
# the producer's lock, or skipped: from in there the host creator is unknown).
"$SHMKIT" gc --dry-run --prefix "$Q" >"$TMP/gc" || fail "gc"
grep -q "^kept .*alive" "$TMP/gc" || fail "host gc: $(cat "$TMP/gc")"
unshare -pf --mount-proc "$SHMKIT" gc --prefix "$Q" >"$TMP/gc2" || fail "gc in a namespace"
grep -qE "^(kept|skipped) " "$TMP/gc2" || fail "namespaced gc: $(cat "$TMP/gc2")"
"$SHMKIT" stat "$Q" >/dev/null || fail "gc removed a queue in use"

# stat of a queue made in a namespace since gone says why its creator's life
# is unknown (it said "1, unknown", as if the host's init had made it)
unshare -pf --mount-proc "$SHMKIT" queue create "$Q-ns" --capacity 2 --max-msg 8 --owned ||
	fail "queue create in a namespace"
"$SHMKIT" stat "$Q-ns" >"$TMP/st" || fail "stat"
"$SHMKIT" rm "$Q-ns" >/dev/null || fail "rm $Q-ns"
grep -q "^creator: *1, unknown (a pid of another pid namespace)" "$TMP/st" ||
	fail "stat creator line: $(grep '^creator:' "$TMP/st")"

# kill -9 the producer: its role is taken over, gc may collect it once empty.
# The producer is unshare's child (pid 1 in there): killing unshare alone
# would leave it alive until its stdin closes, still the producer for a
# moment. Kill it; unshare reaps it and exits, so after the wait it is gone.
producer=$(pgrep -P "$holder")
[ -n "$producer" ] || fail "no process under unshare $holder"
kill -9 ${producer:-$holder}
wait "$holder" 2>/dev/null
holder=
exec 3>&-
"$SHMKIT" send "$Q" "from the host" || fail "the dead producer's role was not taken over"
[ "$("$SHMKIT" recv "$Q" --timeout 5)" = "from the host" ] || fail "recv after take-over"
"$SHMKIT" gc --prefix "$Q" >"$TMP/gc" || fail "gc after"
grep -q "^removed " "$TMP/gc" || fail "gc after the producer died: $(cat "$TMP/gc")"

[ "$FAILS" = 0 ] && echo "test_pidns_cli: ok" || echo "test_pidns_cli: $FAILS failures"
exit $((FAILS != 0))
