#!/usr/bin/env bash
# Plot latency (median and p99) against message size from shmkit-bench --json.
# usage: bench/plot.sh BENCH.json OUTDIR   -> OUTDIR/latency.svg, OUTDIR/latency.png
# One line per (suite, name) that reports sizes; log-log axes. Needs gnuplot
# and python3 (`make bench-plot` installs gnuplot through .ci/deps.sh --bench).
set -euo pipefail
json=${1:?usage: plot.sh BENCH.json OUTDIR}
out=${2:?usage: plot.sh BENCH.json OUTDIR}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is not installed" >&2; exit 1; }
mkdir -p "$out"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

# One data file per series: "size median p99", sorted by size.
python3 - "$json" "$data" <<'PY'
import json, os, re, sys
doc = json.load(open(sys.argv[1]))
series = {}
for r in doc.get("rows", []):
    if r.get("size") and r.get("median_ns"):
        series.setdefault(f'{r["suite"]}: {r["name"]}', []).append(
            (r["size"], r["median_ns"], r.get("p99_ns") or r["median_ns"]))
with open(os.path.join(sys.argv[2], "index"), "w") as idx:
    for i, (title, pts) in enumerate(sorted(series.items())):
        path = os.path.join(sys.argv[2], f"s{i}.dat")
        with open(path, "w") as f:
            for p in sorted(pts):
                f.write("%d %g %g\n" % p)
        clean = re.sub(r'["_]', " ", title)
        idx.write(path + "\t" + clean + "\n")
m = doc.get("machine", {})
open(os.path.join(sys.argv[2], "title"), "w").write(
    f'shmkit-bench: {m.get("cpu", "?")}, {m.get("kernel", "?")}'.replace('"', "'"))
PY

if [ ! -s "$data/index" ]; then
	echo "plot.sh: no rows with a size in $json: nothing to plot" >&2
	exit 0
fi
plots=""
while IFS=$'\t' read -r path title; do
	plots+="${plots:+, }'$path' using 1:2 with linespoints title \"$title\""
done <"$data/index"

for term in "svg size 1000,640 dynamic" "pngcairo size 1000,640"; do
	ext=${term%% *}; ext=${ext#png}; [ "$ext" = cairo ] && ext=png
	gnuplot <<GP
set terminal $term
set output "$out/latency.$ext"
set title "$(cat "$data/title") — median latency vs size"
set logscale xy
set xlabel "message size (bytes)"
set ylabel "latency (ns)"
set key outside right top
set grid
plot $plots
GP
done
echo "plot.sh: wrote $out/latency.svg and $out/latency.png"
