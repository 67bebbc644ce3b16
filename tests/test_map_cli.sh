#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shmkit map / shmkit heap from the shell: create, put (argument and stdin),
# get (text and --raw), del, ls (text and --json), count, check, flush; the
# data persists across invocations (separate processes) over posix: and file:;
# heap check/stats on heaps and maps; error and usage exits.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
P="posix:/shmkit-test-$$-mapcli"
F="file:$TMP/store.map"
H="posix:/shmkit-test-$$-heapcli"
CLEANUP=("$P" "$H" "posix:/shmkit-test-$$-mapbin" "posix:/shmkit-test-$$-actfirst")

for U in "$P" "$F"; do
	expect 0 "$SHMKIT" map "$U" create 1M
	expect 1 "$SHMKIT" map "$U" create 1M            # exclusive
	err_has "^shmkit: map create $U: File exists \(already a map\); left as it was"  # the command, as topic create
	expect 0 "$SHMKIT" map "$U" put colour blue
	expect 0 "$SHMKIT" map "$U" put colour green     # replace
	printf 'line one\nline two' | "$SHMKIT" map "$U" put poem - || fail "put from stdin"
	expect 0 "$SHMKIT" map "$U" get colour
	out_is "green"
	expect 0 "$SHMKIT" map "$U" get poem --raw
	[ "$(cat "$TMP/out")" = "$(printf 'line one\nline two')" ] || fail "raw get"
	expect 0 "$SHMKIT" map "$U" count
	out_is 2
	expect 0 "$SHMKIT" map "$U" ls
	out_has "$(printf 'colour\tgreen')"
	expect 0 "$SHMKIT" map "$U" ls --json
	python3 -m json.tool "$TMP/out" >/dev/null || fail "ls --json is not JSON"
	out_has '"key": "colour"'
	expect 0 "$SHMKIT" map "$U" del colour
	expect 1 "$SHMKIT" map "$U" get colour
	err_has "^shmkit: map get $U: no key 'colour'$"
	expect 1 "$SHMKIT" map "$U" del colour
	# poem again, alone: with colour in its bucket (1 in 4096 seeds) it went
	# to a chain entry, a third heap block, and the counts below would differ
	expect 0 "$SHMKIT" map "$U" del poem
	printf 'line one\nline two' | "$SHMKIT" map "$U" put poem - || fail "put from stdin again"
	expect 0 "$SHMKIT" map "$U" check
	out_is ok
	expect 0 "$SHMKIT" map "$U" flush
	expect 0 "$SHMKIT" heap "$U" check
	expect 0 "$SHMKIT" heap "$U" stats --json
	python3 -m json.tool "$TMP/out" >/dev/null || fail "heap stats --json is not JSON"
	out_has '"n_used": 2'   # map header + buckets: small pairs live in buckets
	expect 0 "$SHMKIT" stat "$U"
	out_has "keys:               1"
	expect 0 "$SHMKIT" stat "$U" --json
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["keys"] == 1 and d["heap"]["n_used"] == 2' "$TMP/out" ||
		fail "stat --json lacks keys/heap: $(head -c 300 "$TMP/out")"
	expect 2 "$SHMKIT" map "$U" frobnicate
	expect 2 "$SHMKIT" map "$U" get
done
expect 0 "$SHMKIT" map "$F" get poem --raw     # still there: a persistent store

expect 0 "$SHMKIT" heap "$H" create 256K
expect 1 "$SHMKIT" heap "$H" create 256K
err_has "^shmkit: heap create $H: File exists \(already a heap\); left as it was"
expect 0 "$SHMKIT" heap "$H" check
out_is ok
expect 0 "$SHMKIT" heap "$H" stats
out_has "largest"
expect 1 "$SHMKIT" map "$H" get x                # a heap is not a map
expect 1 "$SHMKIT" heap "posix:/shmkit-test-$$-none" check
# a heap or map command's error names the whole command ("heap stats", as
# "queue stat"): a bare "stats URI:" read as some other command's
expect 1 "$SHMKIT" heap "posix:/shmkit-test-$$-none" stats
err_has "^shmkit: heap stats posix:/shmkit-test-$$-none: no such heap \(make one: shmkit heap posix:/shmkit-test-$$-none create SIZE\)$"
"$SHMKIT" heap "$P" stats --json >/dev/full 2>"$TMP/err"
[ $? = 1 ] || fail "heap stats --json >/dev/full did not exit 1"
err_has "^shmkit: heap stats $P: write error on standard output: No space left on device$"
expect 2 "$SHMKIT" heap "$H"
# a missing or extra operand says which, with that action's usage (it said
# "unknown action or wrong arguments: put"), before anything is opened: the
# same on a URI that names nothing
for U in "$P" "posix:/shmkit-test-$$-none"; do
	expect 2 "$SHMKIT" map "$U" put a
	[ "$(cat "$TMP/err")" = "shmkit: map put: missing VALUE
usage: shmkit map URI put KEY VALUE|- [--timeout S]" ] || fail "map put KEY: $(cat "$TMP/err")"
	expect 2 "$SHMKIT" map put "$U"
	err_has "^shmkit: map put: missing KEY and VALUE$"
	expect 2 "$SHMKIT" map "$U" get a b
	err_has "^shmkit: map get: unexpected operand 'b' \(get takes KEY\)$"
	err_has "^usage: shmkit map URI get KEY \[--raw\]$"
	expect 2 "$SHMKIT" map "$U" create
	err_has "^shmkit: map create: missing SIZE$"
	expect 2 "$SHMKIT" heap "$U" stats x
	err_has "^shmkit: heap stats: unexpected operand 'x' \(stats takes none\)$"
	err_has "^usage: shmkit heap URI stats \[--json\]$"
	expect 2 "$SHMKIT" map "$U" frobnicate
	err_has "^shmkit: map: unknown action 'frobnicate' \(actions: create, put, get, del, ls, count, check, flush\)$"
done
# the action first, as `queue create URI` and `topic create URI` take it
A="posix:/shmkit-test-$$-actfirst"
expect 0 "$SHMKIT" map create "$A" 64K
expect 0 "$SHMKIT" map put "$A" k v
expect 0 "$SHMKIT" map get "$A" k
out_is v
expect 0 "$SHMKIT" heap stats "$A"
out_has "largest"
expect 0 "$SHMKIT" rm "$A"

# ---- every byte out of `map ls` (issue 10, defect 6) ----
B="posix:/shmkit-test-$$-mapbin"
expect 0 "$SHMKIT" map "$B" create 64K
printf 'bin\0ary' | expect 0 "$SHMKIT" map "$B" put blob -
printf 'a\tb\nc\\d\r\001\377' | expect 0 "$SHMKIT" map "$B" put $'k\teY' -
expect 0 "$SHMKIT" map "$B" put text 'héllo "q"'
expect 0 "$SHMKIT" map "$B" put empty ''
# JSON: base64 carries every byte; "value" is exact text where the bytes are UTF-8
expect 0 "$SHMKIT" map "$B" ls --json
python3 - "$TMP/out" <<'PY' || fail "map ls --json does not round-trip binary values"
import base64, json, sys
want = {b"blob": b"bin\0ary", b"k\teY": b"a\tb\nc\\d\r\x01\xff",
        "text".encode(): 'héllo "q"'.encode(), b"empty": b""}
got = {}
for e in json.load(open(sys.argv[1])):
    k, v = base64.b64decode(e["key_base64"]), base64.b64decode(e["value_base64"])
    assert e["value_bytes"] == len(v), e
    for name, raw in (("key", k), ("value", v)):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        assert e[name] == text, (name, e)
    got[k] = v
assert got == want, (got, want)
PY
# text: one line per key, split at the one real tab; escapes undo to the bytes
expect 0 "$SHMKIT" map "$B" ls
[ "$(wc -l <"$TMP/out")" = 4 ] || fail "map ls: not 4 lines: $(cat -A "$TMP/out")"
python3 - "$TMP/out" <<'PY' || fail "map ls text lines do not split and unescape"
import sys, re
unesc = lambda s: re.sub(rb"\\(x[0-9a-f]{2}|.)", lambda m: {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"0": b"\0", b"\\": b"\\"}.get(m.group(1), bytes([int(m.group(1)[1:], 16)]) if m.group(1)[:1] == b"x" else None), s)
got = {}
for line in open(sys.argv[1], "rb").read().split(b"\n")[:-1]:
    k, v = line.split(b"\t")
    got[unesc(k)] = unesc(v)
want = {b"blob": b"bin\0ary", b"k\teY": b"a\tb\nc\\d\r\x01\xff", "text".encode(): 'héllo "q"'.encode(), b"empty": b""}
assert got == want, (got, want)
PY
"$SHMKIT" rm "$B"

# ---- a listing that fails half-way prints nothing (round 27) ----
# The stripe of the map's last bucket left odd, as a writer killed
# mid-change leaves it: ls walks the buckets before it, then gives up after
# 1 s with -EBUSY. It printed those pairs (or "[]") before the error, a
# document a script would take for the whole map.
S="file:$TMP/stuck.map"
expect 0 "$SHMKIT" map "$S" create 1M
for i in $(seq 1 40); do "$SHMKIT" map "$S" put "key$i" "v$i" || fail "put key$i"; done
python3 - "$TMP/stuck.map" <<'PY' || fail "could not leave the last stripe odd"
import mmap, struct, sys
with open(sys.argv[1], "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
    at = m.find(struct.pack("<Q", 0x3170616D74746B73))   # the map header
    assert at > 0
    nb = struct.unpack_from("<Q", m, at + 16)[0]
    stripe = at + 128 + 8 * ((nb - 1) % 1024)
    struct.pack_into("<Q", m, stripe, struct.unpack_from("<Q", m, stripe)[0] | 1)
PY
for form in "" --json; do
	expect 1 "$SHMKIT" map "$S" ls $form
	err_has "busy|changing"
	[ ! -s "$TMP/out" ] || fail "map ls $form printed a partial listing before failing: $(head -c 200 "$TMP/out")"
done
expect 0 "$SHMKIT" map "$S" check      # under the lock: settles the stripe
out_is repaired
expect 0 "$SHMKIT" map "$S" ls --json
python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 40' "$TMP/out" ||
	fail "map ls --json after check: not the 40 pairs"

# put - of a value longer than the whole map is refused once that is clear,
# not read to its end: put - < /dev/zero took memory until none was left
ML="posix:/shmkit-test-$$-maplong"; CLEANUP+=("$ML")
expect 0 "$SHMKIT" map "$ML" create 64K
head -c 300M /dev/zero | timeout 20 "$SHMKIT" map "$ML" put big - 2>"$TMP/err"; rc=$?
[ "$rc" = 1 ] || fail "put - of 300M: exit $rc (want 1 at once)"
err_has "^shmkit: map put $ML: the value on standard input is longer than the whole map \(65536 bytes\); nothing changed$"
expect 0 "$SHMKIT" map "$ML" count
out_is 0

finish test_map_cli
