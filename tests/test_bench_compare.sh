#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/compare.sh's alternation and verdicts, with two stand-in benches that
# print fixed JSON (no build, no timing): a latency 10 % slower is WORSE, a
# throughput 2 % lower is the same, a faster latency is better, a goal row
# follows its goal's direction, rows printed twice are told apart by their
# place, a row of one build only says so, rows timing no shmkit code make
# the noise gauge; old and new alternate ABBA; a bad ROUNDS is refused.
set -uo pipefail
SRC=${SHMKIT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
TMP=$(mktemp -d)
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
trap 'rm -rf "$TMP"' EXIT
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

# fake_bench NAME LAT TPUT GOAL EXTRA: a shmkit-bench stand-in; each run
# appends NAME to the order log.
fake_bench() {
	cat >"$TMP/$1" <<EOF
#!/usr/bin/env bash
echo $1 >>"$TMP/order"
[ "\$1" = demo ] && [ "\$2" = --json ] && [ "\$3" = --cpus ] && [ "\$4" = 0,1 ] || exit 9
cat <<'JSON'
{"rows": [
 {"suite": "demo", "name": "lat", "size": 8, "median_ns": $2, "msgs_per_s": 1, "note": "a"},
 {"suite": "demo", "name": "tput", "size": 64, "msgs_per_s": $3, "note": ""},
 {"suite": "demo", "name": "twice", "size": 0, "median_ns": 100, "note": "first"},
 {"suite": "demo", "name": "twice", "size": 0, "median_ns": $5, "note": "second"},
 {"suite": "demo", "name": "goal: lat / floor", "size": 0, "ratio": $4, "goal": 1.5, "goal_max": true},
 {"suite": "demo", "name": "label only", "size": 0},
 {"suite": "demo", "name": "minimal ring latency", "size": 8, "median_ns": $7, "note": "floor"}
 $6
]}
JSON
EOF
	chmod +x "$TMP/$1"
}
fake_bench old 100 1000000 1.0 100 '' 200
fake_bench new 110 980000 0.8 50 ', {"suite": "demo", "name": "added", "size": 0, "median_ns": 5}' 230

out=$(OLD_BENCH="$TMP/old" NEW_BENCH="$TMP/new" bash "$SRC/bench/compare.sh" label demo 4 2>"$TMP/err")
rc=$?
echo "$out"
[ $rc = 0 ] || fail "compare.sh exited $rc: $(cat "$TMP/err")"
row() { echo "$out" | grep -E "^demo +$1 " | sed -n "${2:-1}p"; }
row lat | grep -q "1.100x.*0/4 .*WORSE" || fail "10 % slower latency not WORSE: $(row lat)"
row tput | grep -q "0.980x.*0/4 .*same" || fail "2 % lower throughput not the same: $(row tput)"
row twice 1 | grep -q "1.000x.*same" || fail "first of a repeated row: $(row twice 1)"
row twice 2 | grep -q "0.500x.*4/4 .*better" || fail "second of a repeated row: $(row twice 2)"
row "goal: lat / floor" | grep -q "0.800x.*better" || fail "goal row (<= goal): $(row 'goal: lat / floor')"
row added | grep -q "only in the new build" || fail "row of the new build only: $(row added)"
echo "$out" | grep -q "label only" && fail "a row without a number was listed"
echo "$out" | grep -q "^1 shmkit row(s) WORSE" || fail "the closing line does not count 1 WORSE row"
row "minimal ring latency" | grep -q "(control)" || fail "a floor row is not a control: $(row 'minimal ring latency')"
echo "$out" | grep -q "^noise gauge: 1 rows .* 15.0% (median)" ||
	fail "the noise gauge does not report the control row's 15 %"
[ "$(tr '\n' ' ' <"$TMP/order")" = "old new new old old new new old " ] ||
	fail "runs not alternated ABBA: $(tr '\n' ' ' <"$TMP/order")"

OLD_BENCH="$TMP/old" NEW_BENCH="$TMP/new" bash "$SRC/bench/compare.sh" label demo 0 >/dev/null 2>&1 &&
	fail "ROUNDS 0 accepted"
bash "$SRC/bench/compare.sh" no-such-revision-here demo 1 >/dev/null 2>"$TMP/err" &&
	fail "an unknown revision accepted"
grep -q "is not a revision" "$TMP/err" || fail "unknown revision: $(cat "$TMP/err")"

[ $FAILS = 0 ] || exit 1
echo "ok"
