#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The heap and map examples do what their comments promise: kv_store keeps
# data across processes in a file; shared_list builds one list from several
# processes, each mapping the heap at its own address.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
EX=${SHMKIT_EXAMPLES_DIR:-build/examples}
TMP=$(mktemp -d)
FAILS=0
LIST="posix:/shmkit-test-$$-list"
cleanup() {
	"$SHMKIT" rm "$LIST" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

export SHMKIT_KV="file:$TMP/kv.map"
"$EX/kv_store" set colour green || fail "kv_store set"
"$EX/kv_store" set shape round || fail "kv_store set"
[ "$("$EX/kv_store" get colour)" = green ] || fail "kv_store get"
[ "$("$EX/kv_store" list | sort | tr '\n' ' ')" = "colour=green shape=round " ] || fail "kv_store list"
"$EX/kv_store" del colour || fail "kv_store del"
"$EX/kv_store" get colour 2>/dev/null && fail "kv_store get after del"
"$SHMKIT" map "$SHMKIT_KV" check >/dev/null || fail "map check"

for w in one two three; do "$EX/shared_list" "$LIST" push "$w" & done
wait
[ "$("$EX/shared_list" "$LIST" print | tr ' ' '\n' | sort | tr '\n' ' ')" = "one three two " ] ||
	fail "shared_list print: $("$EX/shared_list" "$LIST" print)"
"$EX/shared_list" "$LIST" pop >/dev/null || fail "shared_list pop"
[ "$("$EX/shared_list" "$LIST" print | wc -w)" = 2 ] || fail "shared_list after pop"
"$SHMKIT" heap "$LIST" check >/dev/null || fail "heap check"

[ "$FAILS" = 0 ] && echo "test_heapmap_examples: ok" || echo "test_heapmap_examples: $FAILS failures"
[ "$FAILS" = 0 ]
