#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A segment truncated by another process while a command maps it: touching
# the lost pages raises SIGBUS (shmkit_seg(3), "Shrunk segments"). ls and stat,
# which only look, died of it without a word (exit 135, "Bus error" from the
# shell), as if shmkit had crashed. They must answer, or fail with one line
# that says what happened (exit 1), never die of a signal.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
ID=$$
NAME="shmkit-test-$ID-shrunk"
Q="posix:/$NAME"
CLEANUP+=("$Q")
cleanup() { [ -n "${CUTTER:-}" ] && kill -9 "$CUTTER" 2>/dev/null; wait 2>/dev/null; }

expect 0 "$SHMKIT" queue create "$Q" --capacity 4 --max-msg 16
cp "/dev/shm/$NAME" "$TMP/image"
# cut the queue to nothing and put it back, as fast as it goes
python3 - "/dev/shm/$NAME" "$TMP/image" "$TMP/ready" <<'EOF' &
import os, sys
path, image, ready = sys.argv[1:]
img = open(image, 'rb').read()
first = True
while True:
    fd = os.open(path, os.O_RDWR)
    os.ftruncate(fd, 0)
    os.pwrite(fd, img, 0)
    os.close(fd)
    if first:
        open(ready, 'w').close()
        first = False
EOF
CUTTER=$!
for _ in $(seq 300); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
[ -e "$TMP/ready" ] || fail "the truncating process never started"

bus=0
for i in $(seq 400); do
	case $((i % 2)) in
	0) cmd=(ls "$Q") ;;
	1) cmd=(stat "$Q") ;;
	esac
	"$SHMKIT" "${cmd[@]}" >/dev/null 2>"$TMP/err"
	rc=$?
	if [ "$rc" -gt 2 ]; then
		fail "${cmd[*]}: died with status $rc: $(head -c 300 "$TMP/err")"
		break
	fi
	if grep -q "stopped by SIGBUS" "$TMP/err"; then
		[ "$rc" = 1 ] || fail "${cmd[*]}: SIGBUS said, exit $rc"
		err_has "^shmkit: ${cmd[0]}: stopped by SIGBUS: a segment lost pages while this command used it \(another process truncated it"
		bus=$((bus + 1))
		[ "$bus" -ge 5 ] && break
	fi
done
echo "$bus looks stopped by SIGBUS in $i"
cleanup; CUTTER=

finish test_cli_shrunk
