#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A segment too large to map into this process (a 1 PiB sparse POSIX file,
# which `truncate -s 1P` makes on any tmpfs; a 1 PiB System V segment made
# with SHM_NORESERVE): every command that maps it said only "Cannot allocate
# memory", the library's detail ("mmap of N bytes: Cannot allocate memory")
# dropped as a repeat, and gc "cannot look inside (Cannot allocate memory)".
# Each must say that the object is too large to map, and name it; stat and
# ls, which map only the header page, still describe it, and read, which
# reads a file with pread, reads it.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

P=posix:/shmkit-test-$$-big
truncate -s 1P "/dev/shm/shmkit-test-$$-big" 2>/dev/null ||
	{ echo "test_cli_too_large: /dev/shm takes no 1 PiB sparse file (skipped)"; exit 77; }
CLEANUP+=("$P")

too_large() { err_has "$1 is 1125899906842624 bytes: too large to map"; }

expect 0 "$SHMKIT" stat "$P"
out_has "1125899906842624 (1P)"
expect 0 "$SHMKIT" ls "$P"
out_has "$P"
for cmd in "write $P hello" "queue stat $P" "topic stat $P" "heap $P stats" \
	"map $P get k" "send $P m" "recv $P --timeout 0" "sub $P --timeout 0"; do
	# shellcheck disable=SC2086 # words on purpose
	expect 1 "$SHMKIT" $cmd
	too_large "$P"
done
# read reads a file with pread, which needs no mapping of it (h36c); a
# 32-bit tool (ELF class 1) cannot count its bytes in a size_t and says so
if [ "$(od -An -tx1 -j4 -N1 "$SHMKIT" | tr -d ' ')" = 01 ]; then
	expect 1 "$SHMKIT" read "$P" --hex --offset $((1125899906842624 - 16))
	too_large "$P"
else
	expect 0 "$SHMKIT" read "$P" --hex --offset $((1125899906842624 - 16))
	out_has "3fffffffffff0  00 00 00 00"
fi
expect 0 "$SHMKIT" gc --dry-run --prefix "$P"
out_has "too large to map"

# SysV: only another program makes one this large (shmget with
# SHM_NORESERVE); shmat says ENOMEM as mmap does.
if command -v python3 >/dev/null; then
	key=$(python3 - <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
key = 0x5c000000 | (os.getpid() & 0xffffff)
ok = libc.shmget(key, 1 << 50, 0o1000 | 0o2000 | 0o600 | 0o10000) >= 0   # IPC_CREAT|IPC_EXCL|SHM_NORESERVE
print("0x%08x" % key if ok else "")
PY
)
	if [ -n "$key" ]; then
		CLEANUP+=("sysv:$key")
		expect 0 "$SHMKIT" stat "sysv:$key"
		expect 1 "$SHMKIT" read "sysv:$key" --attach --length 4
		too_large "sysv:$key"
	else
		echo "no 1 PiB System V segment here (shmmax?): that part not run"
	fi
fi
finish test_cli_too_large
