#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs each harness under AFL++ for a while: `make fuzz-afl` (FUZZ_S seconds
# each, one at a time, at nice 19). The harnesses are the libFuzzer ones:
# afl-clang-fast links LLVMFuzzerTestOneInput to AFL++'s driver (persistent
# mode) when it sees -fsanitize=fuzzer. With a CMPLOG build of the same
# harnesses (AFL_CMPLOG_BUILD) afl-fuzz also solves comparisons (-c).
# The first run starts from the committed corpus; later ones resume
# BUILD/afl/NAME. Findings: BUILD/afl/NAME/default/{crashes,hangs}.
# Ends with one line per harness; exit 1 if any found something.
set -uo pipefail
build=$1 secs=$2
shift 2
cmplog=${AFL_CMPLOG_BUILD:-}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/afl" "$build/logs"

# afl-fuzz's checks meant for a dedicated box: this one is shared (no CPU
# binding, no governor change, no UI), and crashes are seen without cores.
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_AUTORESUME=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1

stat_of() { awk -v k="$2" '$1 == k {print $3}' "$1" 2>/dev/null; }
found_in() { find "$1" -type f ! -name README.txt 2>/dev/null | wc -l; }

bad=0
for h in "$@"; do
	out="$build/afl/$h"
	cl=()
	[ -n "$cmplog" ] && [ -x "$cmplog/tests/fuzz/fuzz_$h" ] && cl=(-c "$cmplog/tests/fuzz/fuzz_$h")
	# -t 10 s per input as libFuzzer's -timeout=10; the harness itself
	# aborts on any one call over 1.2 s (fuzz.h), which AFL++ sees as a crash.
	nice -n 19 afl-fuzz -i "$src/corpus/$h" -o "$out" -V "$secs" -t 10000 -m none "${cl[@]}" \
		-- "$build/tests/fuzz/fuzz_$h" >"$build/logs/afl-$h.log" 2>&1
	rc=$?
	s="$out/default/fuzzer_stats"
	crashes=$(found_in "$out/default/crashes") hangs=$(found_in "$out/default/hangs")
	line="fuzz-afl $h: $(stat_of "$s" execs_done) executions in ${secs} s, edges $(stat_of "$s" edges_found)/$(stat_of "$s" total_edges), corpus $(stat_of "$s" corpus_count)"
	if [ "$rc" = 0 ] && [ "$crashes" = 0 ] && [ "$hangs" = 0 ]; then
		echo "$line, nothing found"
	else
		bad=1
		echo "$line, FOUND something (exit $rc, $crashes crash(es), $hangs hang(s) in $out/default; log $build/logs/afl-$h.log)"
	fi
done
exit $bad
