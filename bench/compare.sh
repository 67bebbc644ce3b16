#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Old build against new build, in alternating runs on the same machine.
#
# usage: bench/compare.sh OLD_REV [SUITE] [ROUNDS]
#   OLD_REV  a git revision of this repository (the "old" build)
#   SUITE    a shmkit-bench suite, or "all" (default: queue)
#   ROUNDS   runs of each build (default: 5)
# Builds shmkit-bench from OLD_REV (a detached git worktree in a temporary
# directory) and from the current tree as it is on disk (uncommitted edits
# included), both RelWithDebInfo, then runs `shmkit-bench SUITE --json` ROUNDS
# times each, alternating old/new and swapping the order every round (ABBA),
# so a drift in machine speed falls on both. shmkit-bench pins its two
# processes itself (CPUS, default 0,1). Prints, for every row of both builds,
# the median over the rounds of each build, the spread, new/old, how many
# paired rounds new won, and a verdict against a tolerance (TOL, default 5 %):
# "same" when |new/old - 1| <= TOL, else "better" or "WORSE" (lower is better
# for latencies, higher for throughput, goal rows by their goal's direction).
# Rows that time no shmkit code (floors, kernel IPC, Boost, iceoryx) are
# marked "(control)": how far they move between the builds (the closing
# "noise gauge") is how much of a shmkit row's change is noise.
#
# Environment:
#   CPUS=A,B         CPUs for the two processes (shmkit-bench --cpus)
#   TOL=0.05         tolerance of the verdict
#   BENCH_ARGS=...   more shmkit-bench arguments (e.g. --quick; --size 8 runs
#                    the pubsub suite's 8-byte rows alone: both builds must
#                    know the option)
#   COMPARE_DIR=DIR  keep builds and runs in DIR (reused next time: the old
#                    build is rebuilt only if missing); default: a temporary
#                    directory removed at the end
#   NEW_REV=REV      build the "new" side from this revision too, instead of
#                    the current tree (to isolate one change: OLD_REV=its
#                    parent, NEW_REV=it)
#   OLD_BENCH=PATH, NEW_BENCH=PATH  use these shmkit-bench binaries instead of
#                    building (OLD_REV is then only a label)
# The rows compare whole builds: a row whose bench code changed between the
# revisions compares that change too (see the rows' notes).
set -euo pipefail

old_rev=${1:?usage: bench/compare.sh OLD_REV [SUITE] [ROUNDS]}
suite=${2:-queue}
rounds=${3:-5}
cpus=${CPUS:-0,1}
tol=${TOL:-0.05}
root=$(cd "$(dirname "$0")/.." && pwd)
here=$(cd "$(dirname "$0")" && pwd)

case $rounds in '' | *[!0-9]* | 0) echo "compare.sh: ROUNDS must be a positive number" >&2; exit 2 ;; esac

if [ -n "${COMPARE_DIR:-}" ]; then
	work=$COMPARE_DIR
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/shmkit-compare.XXXXXX")
fi
cleanup() {
	if [ -z "${COMPARE_DIR:-}" ]; then
		for t in "$work"/rev-*; do
			[ -d "$t" ] && git -C "$root" worktree remove --force "$t" >/dev/null 2>&1
		done
		rm -rf "$work"
	fi
	return 0
}
trap cleanup EXIT

# Configures and builds shmkit-bench from source dir $1 into build dir $2.
build_bench() {
	cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMKIT_BUILD_BENCH=ON >/dev/null
	cmake --build "$2" --target shmkit-bench -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
}

# Builds shmkit-bench of revision $1 in a detached worktree under $work
# (reused if built already); prints the binary's path.
rev_bench() {
	local sha tree
	sha=$(git -C "$root" rev-parse --verify "$1^{commit}") ||
		{ echo "compare.sh: $1 is not a revision of $root" >&2; exit 2; }
	tree=$work/rev-$sha
	if [ ! -x "$tree/build/bench/shmkit-bench" ]; then
		echo "compare.sh: building $(git -C "$root" log -1 --format='%h %s' "$sha" | cut -c1-60)" >&2
		[ -d "$tree" ] || git -C "$root" worktree add --detach "$tree" "$sha" >/dev/null
		build_bench "$tree" "$tree/build"
	fi
	echo "$tree/build/bench/shmkit-bench"
}

if [ -n "${OLD_BENCH:-}" ] && [ -n "${NEW_BENCH:-}" ]; then
	old_bin=$OLD_BENCH
	new_bin=$NEW_BENCH
	old_label="$old_rev ($old_bin)"
	new_label=$new_bin
else
	old_bin=$(rev_bench "$old_rev")
	old_label=$(git -C "$root" log -1 --format='%h %s' "$old_rev" | cut -c1-72)
	if [ -n "${NEW_REV:-}" ]; then
		new_bin=$(rev_bench "$NEW_REV")
		new_label=$(git -C "$root" log -1 --format='%h %s' "$NEW_REV" | cut -c1-72)
	else
		echo "compare.sh: building the current tree ($root)" >&2
		build_bench "$root" "$work/new-build"
		new_bin=$work/new-build/bench/shmkit-bench
		new_label="the current tree$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted edits)'), $(git -C "$root" log -1 --format='%h %s' | cut -c1-60)"
	fi
fi

# One run of one build into $work/runs/<which>-<round>.json.
mkdir -p "$work/runs"
rm -f "$work"/runs/*.json
run_one() {
	local which=$1 r=$2 bin
	[ "$which" = old ] && bin=$old_bin || bin=$new_bin
	echo "compare.sh: round $r/$rounds: $which" >&2
	# shellcheck disable=SC2086  # BENCH_ARGS is a list of words
	"$bin" "$suite" --json --cpus "$cpus" ${BENCH_ARGS:-} >"$work/runs/$which-$r.json" ||
		echo "compare.sh: $which run $r failed (rows it printed are kept)" >&2
}
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then
		run_one old "$r"
		run_one new "$r"
	else
		run_one new "$r"
		run_one old "$r"
	fi
done

echo "old: $old_label"
echo "new: $new_label"
echo "suite $suite, $rounds alternating rounds each, cpus $cpus, tolerance $tol"
python3 "$here/compare.py" "$work/runs" "$rounds" "$tol"
