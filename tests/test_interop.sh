#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit against programs no one here wrote: util-linux's ipcmk/ipcs/ipcrm for
# System V, and Python's multiprocessing.shared_memory (POSIX shm_open) plus
# raw shmget/shmat through ctypes. Each side writes, the other reads; each
# side removes, the other sees it gone. Every segment is removed on exit.
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
FAILS=0
NAME="shmkit-test-$$-interop"
SYSV_IDS=()
cleanup() {
	for id in "${SYSV_IDS[@]}"; do ipcrm -m "$id" >/dev/null 2>&1; done
	"$SHMKIT" rm "posix:/$NAME" "posix:/$NAME-py" >/dev/null 2>&1
	"$SHMKIT" rm "sysv:$KEY" >/dev/null 2>&1
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
need() { command -v "$1" >/dev/null || { echo "SKIP: $1 not installed"; exit 77; }; }
need python3
need ipcmk
need ipcs
KEY=$(printf '0x5c%02x%04x' $(($$ % 256)) $((RANDOM)))

# ---- POSIX: Python creates and writes, shmkit reads, stats and removes ----
python3 - "$NAME-py" <<'PY' || fail "python create"
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=8192)
shm.buf[:11] = b"from python"
# Leave it for shmkit: keep Python's tracker from unlinking it at exit.
resource_tracker.unregister(shm._name, "shared_memory")
shm.close()
PY
got=$("$SHMKIT" read "posix:/$NAME-py" --length 11)
[ "$got" = "from python" ] || fail "shmkit read of python's segment: '$got'"
"$SHMKIT" stat "posix:/$NAME-py" --json | python3 -c '
import json, sys
st = json.load(sys.stdin)
assert st["size"] >= 8192, st
assert st["backend"] == "posix", st
' || fail "stat of python's segment"
"$SHMKIT" rm "posix:/$NAME-py" || fail "shmkit rm of python's segment"
[ ! -e "/dev/shm/$NAME-py" ] || fail "python's segment still in /dev/shm after shmkit rm"

# ---- POSIX: shmkit creates and writes, Python reads ----
"$SHMKIT" create "posix:/$NAME" 4096 || fail "shmkit create posix"
"$SHMKIT" write "posix:/$NAME" "from shmkit" || fail "shmkit write posix"
mode=$(stat -c %a "/dev/shm/$NAME")
[ "$mode" = 600 ] || fail "default mode is $mode, not 600"
python3 - "$NAME" <<'PY' || fail "python read of shmkit's segment"
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(shm._name, "shared_memory")
assert bytes(shm.buf[:11]) == b"from shmkit", bytes(shm.buf[:16])
shm.close()
PY

# ---- System V: ipcmk creates, shmkit stats, writes, ipcs agrees ----
id=$(ipcmk -M 12288 -p 0640 | awk '{print $NF}')
[ -n "$id" ] && SYSV_IDS+=("$id") || fail "ipcmk -M"
"$SHMKIT" stat "sysv:id=$id" --json >/tmp/$NAME.json || fail "shmkit stat sysv:id=$id"
python3 - "$id" /tmp/$NAME.json <<'PY' || fail "stat of ipcmk's segment"
import json, sys
st = json.load(open(sys.argv[2]))
assert st["size"] == 12288, st
assert st["mode"] in (0o640, "0640", "640"), st["mode"]
assert st["sysv_id"] == int(sys.argv[1]), st
PY
rm -f /tmp/$NAME.json
"$SHMKIT" write "sysv:id=$id" "via shmkit" || fail "shmkit write sysv:id"
python3 - "$id" <<'PY' || fail "ctypes shmat read"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
addr = libc.shmat(int(sys.argv[1]), None, 0o10000)  # SHM_RDONLY
assert addr not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
assert ctypes.string_at(addr, 10) == b"via shmkit"
libc.shmdt(ctypes.c_void_p(addr))
PY
"$SHMKIT" rm "sysv:id=$id" || fail "shmkit rm sysv:id"
ipcs -m | awk -v id="$id" '$2 == id {found=1} END {exit !found}' &&
	fail "ipcs still lists id $id after shmkit rm"

# ---- System V: shmkit creates at a key, ipcs sees key, size and mode ----
"$SHMKIT" create "sysv:$KEY" 20000 --mode 0640 || fail "shmkit create sysv:$KEY"
line=$(ipcs -m | awk -v k="$KEY" 'tolower($1) == tolower(k)')
[ -n "$line" ] || fail "ipcs -m does not list $KEY"
set -- $line
[ "${5:-}" = 20000 ] || fail "ipcs size ${5:-?} != 20000"
[ "${4:-}" = 640 ] || fail "ipcs perms ${4:-?} != 640"
"$SHMKIT" rm "sysv:$KEY" || fail "shmkit rm sysv:$KEY"
ipcs -m | awk -v k="$KEY" 'tolower($1) == tolower(k) {found=1} END {exit !found}' &&
	fail "ipcs still lists $KEY"

if [ "$FAILS" = 0 ]; then echo "1 passed, 0 failed"; exit 0; fi
echo "0 passed, $FAILS failed"; exit 1
