#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make install` (and `make build`) keep a configured build tree's own build
# type: only a new tree is configured as RelWithDebInfo. Before, every
# `make install` re-configured the tree as RelWithDebInfo, which rebuilt
# everything a Debug tree held. Checked with `make -n` (nothing is run).
set -uo pipefail
SRC=${SHMKIT_SOURCE_DIR:-.}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
command -v make >/dev/null || { echo "SKIP: no make"; exit 77; }

mkdir -p "$TMP/configured" "$TMP/new"
echo "CMAKE_BUILD_TYPE:STRING=Debug" >"$TMP/configured/CMakeCache.txt"
out=$(make -n -C "$SRC" install BUILD="$TMP/configured" PREFIX="$TMP/p" 2>&1)
grep -q "cmake --install $TMP/configured" <<<"$out" || fail "make -n install does not install: $out"
grep -q "CMAKE_BUILD_TYPE" <<<"$out" && fail "make install re-configures a Debug tree: $(grep CMAKE_BUILD_TYPE <<<"$out")"
out=$(make -n -C "$SRC" build BUILD="$TMP/new" 2>&1)
grep -q "CMAKE_BUILD_TYPE=RelWithDebInfo" <<<"$out" || fail "a new tree is not RelWithDebInfo: $out"
echo "test_make_install: $FAILS failure(s)"
[ "$FAILS" = 0 ]
