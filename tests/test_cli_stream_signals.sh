#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Signals that end send and recv at the worst moment (helper h35d). Each case
# failed before its fix.
#  - recv: a SIGTERM (or SIGINT, SIGHUP...) that lands after write(2)
#    returned and before the batch was consumed left the whole batch in the
#    queue, printed already: the next recv printed all of it again. A shim
#    preloaded into recv sends the signal right after its first write.
#  - send: SIGHUP (a closed terminal) killed it without the line saying how
#    many messages the queue got, as SIGINT and SIGTERM do.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
TAG="shmkit-test-$$-stream"
Q="posix:/$TAG-q"; CLEANUP+=("$Q")

CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "no C compiler for the shim: skipped"; exit 77; }
cat >"$TMP/kaw.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
static int calls;
/* the Nth writev to stdout that wrote something sends us signal KAW_SIG */
ssize_t writev(int fd, const struct iovec *iov, int n)
{
	ssize_t (*real)(int, const struct iovec *, int) =
		(ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	ssize_t r = real(fd, iov, n);
	if (fd == 1 && r > 0 && ++calls == 1)
		kill(getpid(), atoi(getenv("KAW_SIG")));
	return r;
}
EOF
"$CC" -shared -fPIC -o "$TMP/kaw.so" "$TMP/kaw.c" -ldl || { echo "shim did not build: skipped"; exit 77; }
PRELOAD="$TMP/kaw.so"
# a sanitized shmkit wants its runtime first in the preload list
asan=$(ldd "$SHMKIT" 2>/dev/null | awk '/libasan/ {print $3}')
[ -n "$asan" ] && PRELOAD="$asan:$PRELOAD"

for sig in TERM INT HUP; do
	"$SHMKIT" rm "$Q" >/dev/null 2>&1
	expect 0 "$SHMKIT" queue create "$Q" --capacity 64 --max-msg 16
	seq 1 40 | "$SHMKIT" send "$Q" - || fail "send 40"
	num=$(kill -l "$sig")
	LD_PRELOAD="$PRELOAD" KAW_SIG=$num "$SHMKIT" recv "$Q" --count 0 --timeout 2 \
		>"$TMP/first" 2>"$TMP/err" </dev/null
	rc=$?
	[ "$rc" = $((128 + num)) ] || fail "recv, SIG$sig after its write: exit $rc, not $((128 + num))"
	"$SHMKIT" recv "$Q" --count 0 --timeout 0.2 >"$TMP/second"
	first=$(wc -l <"$TMP/first"); second=$(wc -l <"$TMP/second")
	[ "$(cat "$TMP/first" "$TMP/second")" = "$(seq 1 40)" ] ||
		fail "recv, SIG$sig after its write: printed $first, then the next recv $second (40 sent)"
done

# send waiting for room, SIGHUP: the count line, then death by the signal
"$SHMKIT" rm "$Q" >/dev/null 2>&1
expect 0 "$SHMKIT" queue create "$Q" --capacity 4 --max-msg 16
set -m # a background job of a script ignores nothing, as one from a terminal
seq 1 10 | "$SHMKIT" send "$Q" - 2>"$TMP/err" &
pid=$!
set +m
for _ in $(seq 100); do
	[ "$("$SHMKIT" queue stat "$Q" --json | tr -d ' \n' | grep -o '"depth":[0-9]*')" = '"depth":4' ] && break
	sleep 0.05
done
sleep 0.1
kill -HUP "$pid"
wait "$pid"
rc=$?
[ "$rc" = 129 ] || fail "send, SIGHUP: exit $rc, not 129"
grep -q "interrupted by SIGHUP: 4 messages sent, and no more" "$TMP/err" ||
	fail "send, SIGHUP: stderr '$(cat "$TMP/err")'"

finish test_cli_stream_signals
