#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Signals that end send and recv at the worst moment (helper h35d). Each case
# failed before its fix.
#  - recv: a SIGTERM (or SIGINT, SIGHUP...) that lands after write(2)
#    returned and before the batch was consumed left the whole batch in the
#    queue, printed already: the next recv printed all of it again. A shim
#    preloaded into recv sends the signal right after its first write.
#  - send: SIGHUP (a closed terminal) or SIGQUIT killed it without the line saying how
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
# the shim must be of shmkit's ELF class (an i386 build's tool ignores a 64-bit preload)
SHIM_ARCH=
[ "$(od -An -tx1 -j4 -N1 "$SHMKIT" | tr -d ' ')" = 01 ] && SHIM_ARCH=-m32
"$CC" $SHIM_ARCH -shared -fPIC -o "$TMP/kaw.so" "$TMP/kaw.c" -ldl ||
	{ echo "shim did not build: skipped"; exit 77; }
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

# send waiting for room, a stop signal: the count line, then death by the
# signal (SIGHUP and SIGQUIT killed it without the line; no core file)
ulimit -c 0
for sig in HUP QUIT USR1; do
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
	kill -"$sig" "$pid"
	wait "$pid"
	rc=$?
	want=$((128 + $(kill -l "$sig")))
	[ "$rc" = "$want" ] || fail "send, SIG$sig: exit $rc, not $want"
	grep -q "interrupted by SIG$sig: 4 messages sent, and no more" "$TMP/err" ||
		fail "send, SIG$sig: stderr '$(cat "$TMP/err")'"
done

# pub waiting for room on a reliable topic whose subscriber is stopped,
# SIGINT: the count line, then death by the signal. It died without a word
# of the lines it had read and not published.
T="posix:/$TAG-t"; CLEANUP+=("$T")
expect 0 "$SHMKIT" topic create "$T" --slots 4 --slot-size 64 --reliable
"$SHMKIT" sub "$T" --count 0 --timeout 10 >"$TMP/subout" 2>&1 &
sub=$!
for _ in $(seq 100); do
	"$SHMKIT" topic stat "$T" --json 2>/dev/null | tr -d ' \n' | grep -q '"subscribers":\[{' && break
	sleep 0.05
done
kill -STOP "$sub" # joined, and reads nothing more: pub fills the 4 slots and waits
set -m
seq 1 20 | "$SHMKIT" pub "$T" --wait-subs 1 - 2>"$TMP/err" &
pid=$!
set +m
for _ in $(seq 100); do
	"$SHMKIT" topic stat "$T" --json 2>/dev/null | tr -d ' \n' | grep -q '"published":4' && break
	sleep 0.05
done
sleep 0.1
kill -INT "$pid"
wait "$pid"
rc=$?
published=$("$SHMKIT" topic stat "$T" --json | tr -d ' \n' | grep -o '"published":[0-9]*' | cut -d: -f2)
[ "$rc" = 130 ] || fail "pub, SIGINT: exit $rc, not 130"
grep -q "interrupted by SIGINT: $published messages\? published, and no more" "$TMP/err" ||
	fail "pub, SIGINT: stderr '$(cat "$TMP/err")' ($published published)"
kill -KILL "$sub" 2>/dev/null
wait "$sub" 2>/dev/null
"$SHMKIT" rm "$T" >/dev/null 2>&1

# Standard output a pipe left O_NONBLOCK by another process sharing it, its
# reader late: recv and sub wait for room as on a blocking one. recv failed
# with EAGAIN (nothing lost: it gave the message back); sub failed and lost
# the message it had taken from the topic.
if command -v python3 >/dev/null; then
	"$SHMKIT" rm "$Q" >/dev/null 2>&1
	expect 0 "$SHMKIT" queue create "$Q" --capacity 64 --max-msg 20000
	expect 0 "$SHMKIT" topic create "$T" --slots 64 --slot-size 1024 --reliable
	python3 - "$SHMKIT" "$Q" "$T" >"$TMP/nb" 2>&1 <<'EOF'
import fcntl, os, subprocess, sys, threading, time
shmkit, q, t = sys.argv[1:]
def run_into_nonblocking_pipe(cmd, feed):
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    p = subprocess.Popen(cmd, stdout=w)
    os.close(w)
    time.sleep(0.3)
    th = threading.Thread(target=feed)
    th.start()
    time.sleep(1)  # the reader comes late: the pipe fills first
    data = b""
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        data += b
    th.join()
    return p.wait(), data
big = b"".join(b"%02d" % i + b"y" * 9998 + b"\n" for i in range(20))
subprocess.run([shmkit, "send", q, "-"], input=big, check=True)
rc, data = run_into_nonblocking_pipe([shmkit, "recv", q, "--count", "20", "--timeout", "20"], lambda: None)
print("recv", rc, data == big)
lines = b"".join(b"%04d" % i + b"x" * 500 + b"\n" for i in range(500))
feed = lambda: subprocess.run([shmkit, "pub", t, "--timeout", "20", "-"], input=lines, check=True)
rc, data = run_into_nonblocking_pipe([shmkit, "sub", t, "--count", "500", "--timeout", "20"], feed)
print("sub", rc, data == lines)
EOF
	[ "$(cat "$TMP/nb")" = "$(printf 'recv 0 True\nsub 0 True')" ] ||
		fail "into a non-blocking pipe: $(cat "$TMP/nb")"
fi

finish test_cli_stream_signals
