#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/go, built by the Go toolchain against this build's libshmkit and run against
# queues the shmkit tool (C) made: three requests from C, three answers from Go, in order.
# Skipped (77) without go: `make bench-deps` installs golang-go; make test does not need it.
set -uo pipefail
SRC=${SHMKIT_SOURCE_DIR:?run from ctest}
BUILD=${SHMKIT_BINARY_DIR:?run from ctest}
SHMKIT=${SHMKIT:?run from ctest}
command -v go >/dev/null || { echo "skip: go is not installed (make bench-deps installs golang-go)"; exit 77; }
if grep -q '^SHMKIT_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
	echo "skip: a sanitized libshmkit would need the sanitizer runtime linked into the Go program"
	exit 77
fi
W=$BUILD/go-example
mkdir -p "$W"
# Everything Go writes stays in the build tree, and nothing is fetched.
export GOCACHE=$W/cache GOPATH=$W/gopath GOPROXY=off GOFLAGS= GO111MODULE=on HOME=$W
export CGO_ENABLED=1 CGO_CFLAGS="-I$SRC/include" CGO_LDFLAGS="-L$BUILD -Wl,-rpath,$BUILD"
(cd "$SRC/examples/go" && go build -o "$W/shmkit-go-example" .) || { echo "FAIL: go build"; exit 1; }

REQ=posix:/shmkit-test-$$-go-req
REP=posix:/shmkit-test-$$-go-rep
GOPID=
cleanup() {
	[ -n "$GOPID" ] && kill "$GOPID" 2>/dev/null
	"$SHMKIT" rm "$REQ" "$REP" 2>/dev/null
}
trap cleanup EXIT
"$SHMKIT" queue create "$REQ" --capacity 16 --max-msg 256 || exit 1
"$SHMKIT" queue create "$REP" --capacity 16 --max-msg 256 || exit 1
"$W/shmkit-go-example" "$REQ" "$REP" 3 &
GOPID=$!
"$SHMKIT" send "$REQ" one two three || exit 1
out=$("$SHMKIT" recv "$REP" --count 3 --timeout 30) || { echo "FAIL: no answers from Go"; exit 1; }
wait "$GOPID" || { echo "FAIL: the Go program failed"; exit 1; }
GOPID=
want=$'go: one\ngo: two\ngo: three'
[ "$out" = "$want" ] || { echo "FAIL: got: $out"; exit 1; }
echo "ok: Go answered C over shmkit queues"
