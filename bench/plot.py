#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Gnuplot scripts for bench/plot.sh from one shmkit-bench --json document.

usage: plot.py BENCH.json WORKDIR  -> WORKDIR/<figure>.gp and its .dat files

One figure per question (see plot.sh). Series are picked by row name: rows
named "shmkit ..."/"topic ..." are shmkit's own (thick, strong colours), the
rest are peers (thin, muted); floors become shaded limits; each figure lists
the goal ratios of its suite from the same run."""
import json
import os
import sys

doc = json.load(open(sys.argv[1]))
work = sys.argv[2]
rows = doc.get("rows", [])
machine = doc.get("machine", {})
subtitle = "%s, %s, glibc %s%s" % (
    machine.get("cpu", "?"), machine.get("kernel", "?") if "inux" in machine.get("kernel", "")
    else "Linux " + machine.get("kernel", "?"), machine.get("glibc", "?"),
    " (quick run)" if doc.get("quick") else "")

BOLD = ["#0b5fa5", "#d7301f", "#1a9850", "#6a3d9a", "#e08214", "#00838f"]
THIN = ["#7f7f7f", "#a6761d", "#8c6bb1", "#41ab5d", "#c51b7d", "#4d4d4d", "#bf812d"]
FLOOR_FILL = "#d9d9d9"


def esc(s):
    return s.replace("\\", "\\\\").replace('"', "'").replace("_", "\\\\_")


def human(size):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= div and size % div == 0:
            return "%d %s" % (size // div, unit)
    return "%d B" % size


def series(suite, pred, value):
    """{name: [(size, value)]} for rows of suite with a size that pass pred."""
    out = {}
    for r in rows:
        if r["suite"] == suite and r.get("size") and pred(r["name"]) and value(r):
            out.setdefault(r["name"], {})[r["size"]] = value(r)  # a rerun row replaces
    return {k: sorted(v.items()) for k, v in out.items()}


def row(suite, name):
    found = [r for r in rows if r["suite"] == suite and r["name"] == name]
    return found[-1] if found else None


def goals(suites, pred=lambda r: True):
    """Lines "what: 0.87x base (goal <= 2) met" for the goal rows of suites."""
    seen = {}
    for r in rows:
        if r["suite"] in suites and r.get("goal") and r.get("ratio") is not None and pred(r):
            name = (r["name"][6:] if r["name"].startswith("goal: ") else r["name"])[:40]
            if r.get("size"):
                name += " @ " + human(r["size"])
            seen[(name, r.get("ratio_to"))] = (name, r)
    lines = []
    for name, r in seen.values():
        verdict = "met" if r.get("goal_met") else "NOT met"
        base = (r.get("ratio_to") or "")[:24]
        lines.append("%s: %.2fx %s (goal %s %g) %s" % (
            name, r["ratio"], base, "<=" if r.get("goal_max") else ">=", r["goal"], verdict))
    return lines


def write_dat(fig, i, pts):
    path = os.path.join(work, "%s-%d.dat" % (fig, i))
    with open(path, "w") as f:
        for x, y in pts:
            f.write("%g %g\n" % (x, y))
    return path


def header(fig, title, xlabel, ylabel, logy=True):
    return [
        'set title "{/:Bold %s}\\n{/*0.8 %s}"' % (esc(title), esc(subtitle)),
        "set logscale x 2" if xlabel else "",
        "set logscale y" if logy else "",
        'set xlabel "%s"' % xlabel if xlabel else "",
        'set ylabel "%s"' % ylabel,
        "set grid xtics ytics lc rgb '#e6e6e6'",
        "set border lc rgb '#808080'",
        "set rmargin at screen 0.56",
        "set key at screen 0.995, screen 0.90 right top Left reverse samplen 2.5 spacing 1.05 "
        "font ',9' box lc rgb '#cccccc'",
        "set format y '10^{%L}'" if logy else "",
    ]


def xtics(groups):
    sizes = sorted({x for g in groups for pts in g.values() for x, _ in pts})
    return "set xtics (%s)" % ", ".join('"%s" %d' % (human(s), s) for s in sizes)


def yrange(groups, floor=None):
    ys = [y for g in groups for pts in g.values() for _, y in pts]
    if floor:
        ys.append(floor)
    return "set yrange [%g:%g]" % (min(ys) / 3, max(ys) * 3) if ys else ""


def goal_labels(lines, legend_entries):
    """The goal lines under the legend, spaced to fit above the bottom edge."""
    top = 0.90 - 0.024 * (legend_entries + 1) - 0.04
    step = min(0.026, (top - 0.02) / (len(lines) + 1)) if lines else 0.026
    out = ['set label 900 "{/:Bold goal ratios, this run}" at screen 0.585, screen %.3f left '
           'font ",10"' % top]
    for i, line in enumerate(lines):
        colour = "#b00020" if line.endswith("NOT met") else "#1a7f37"
        out.append('set label %d "%s" at screen 0.585, screen %.3f left font ",%d" tc rgb "%s"' % (
            901 + i, esc(line), top - step * (i + 1), 8 if step > 0.02 else 7, colour))
    if not lines:
        out.append('set label 901 "(no goal rows in this run)" at screen 0.585, screen %.3f left '
                   'font ",9"' % (top - 0.026))
    return out


def line_plots(fig, groups, floor_band=None, upper=None):
    """groups: list of (series dict, bold?) -> plot clauses; a floor value
    (horizontal limit, shaded below) or an upper curve (shaded above)."""
    clauses, i = [], 0
    if floor_band:
        value, label = floor_band
        clauses.append("%g with filledcurves y1=1e-3 fc rgb '%s' fs solid 0.6 noborder "
                       "title \"%s (floor: nothing is faster)\"" % (value, FLOOR_FILL, esc(label)))
    if upper:
        pts, label = upper
        path = write_dat(fig, 99, pts)
        clauses.append("'%s' using 1:2:(1e9) with filledcurves fc rgb '%s' fs solid 0.6 "
                       "noborder title \"%s (limit: nothing is faster)\"" % (path, FLOOR_FILL,
                                                                            esc(label)))
    nb = nt = 0
    for group, bold in groups:
        for name, pts in sorted(group.items()):
            if not pts:
                continue
            path = write_dat(fig, i, pts)
            i += 1
            if bold:
                style = "lw 3.2 pt 7 ps 0.9 lc rgb '%s'" % BOLD[nb % len(BOLD)]
                nb += 1
            else:
                style = "lw 1.2 dt %d pt 6 ps 0.6 lc rgb '%s'" % (2 + nt % 3, THIN[nt % len(THIN)])
                nt += 1
            clauses.append("'%s' using 1:2 with linespoints %s title \"%s\"" % (path, style,
                                                                              esc(name)))
    return clauses


def emit(fig, lines, clauses):
    if not clauses:
        return
    with open(os.path.join(work, fig + ".gp"), "w") as f:
        f.write("\n".join(l for l in lines if l) + "\n")
        f.write("plot " + ", \\\n     ".join(clauses) + "\n")


def median(r):
    return r.get("median_ns") or None


def fig_queue_latency():
    lat = lambda n: n.endswith("latency")
    mine = series("queue", lambda n: lat(n) and n.startswith("shmkit"), median)
    peers = series("queue", lambda n: lat(n) and not n.startswith("shmkit"), median)
    memcpy = series("floor", lambda n: n == "memcpy", median)
    cl = row("floor", "cache-line ping-pong one-way")
    fx = row("floor", "futex ping-pong one-way")
    extra = {}
    if fx and mine:
        sizes = sorted({s for pts in mine.values() for s, _ in pts})
        extra["futex ping-pong (blocking floor)"] = [(s, fx["median_ns"]) for s in sizes]
    if memcpy.get("memcpy"):
        extra["memcpy of the message (copy floor)"] = memcpy["memcpy"]
    lines = header("queue-latency", "Queue: one-way latency vs message size",
                   "message size", "one-way latency (ns, median)")
    lines += goal_labels(goals({"queue", "wake"}, lambda r: "throughput" not in r["name"] and
                               "tput" not in r["name"]), len(mine) + len(peers) + len(extra) + 1)
    band = (cl["median_ns"], "cache-line ping-pong") if cl else None
    lines += [xtics([mine, peers]), yrange([mine, peers, extra], cl and cl["median_ns"])]
    emit("queue-latency", lines, line_plots("queue-latency", [(mine, True), (peers, False),
                                                               (extra, False)], band))


def fig_topic():
    val = lambda n: not n.startswith("goal") and "floor" not in n
    mine = series("pubsub", lambda n: val(n) and n.startswith("topic"), median)
    peers = series("pubsub", lambda n: val(n) and not n.startswith("topic"), median)
    cl = row("pubsub", "cache-line floor one-way") or row("floor", "cache-line ping-pong one-way")
    lines = header("topic-fanout", "Topic fan-out: one-way latency vs size, 1 and 4 subscribers",
                   "message size", "one-way latency (ns, median)")
    lines += goal_labels(goals({"pubsub"}), len(mine) + len(peers) + 1)
    band = (cl["median_ns"], "cache-line ping-pong") if cl else None
    lines += [xtics([mine, peers]), yrange([mine, peers], cl and cl["median_ns"])]
    emit("topic-fanout", lines, line_plots("topic-fanout", [(mine, True), (peers, False)], band))


def fig_throughput():
    tput = lambda n: n.endswith("throughput") and "floor" not in n
    mbps = lambda r: r.get("mb_per_s") or None
    mine = series("queue", lambda n: tput(n) and n.startswith("shmkit"), mbps)
    peers = series("queue", lambda n: tput(n) and not n.startswith("shmkit"), mbps)
    memcpy = series("floor", lambda n: n == "memcpy", mbps).get("memcpy")
    lines = header("throughput", "Queue: throughput vs message size (one producer, one consumer)",
                   "message size", "MB/s (higher is better)")
    lines += goal_labels(goals({"queue", "wake"}, lambda r: "throughput" in r["name"] or
                               "tput" in r["name"]), len(mine) + len(peers) + 1)
    upper = (memcpy, "memcpy bandwidth") if memcpy else None
    lines += [xtics([mine, peers]), yrange([mine, peers, {"m": memcpy or []}])]
    emit("throughput", lines, line_plots("throughput", [(mine, True), (peers, False)], None, upper))


def fig_heap_map():
    def ns(name):
        r = row("heapmap", name)
        return r["median_ns"] if r and r.get("median_ns") else None

    def boost(name, ours):
        r = row("heapmap", name)
        return ours / r["ratio"] if r and r.get("ratio") and ours else None

    a64, m64 = ns("heap alloc+free 64 B"), ns("malloc+free 64 B")
    groups = [
        ("alloc+free 64 B", a64, None, m64, boost("vs Boost: alloc+free 64 B", a64), None),
        ("alloc+free 16..1024 B", ns("heap alloc+free mixed 16..1024 B"), None,
         ns("malloc+free mixed 16..1024 B"), None, None),
        ("alloc+free 16..4096 B", ns("heap alloc+free mixed 16..4096 B"), None,
         ns("malloc+free mixed 16..4096 B"), None, None),
    ]
    g1k, g1m = ns("map get, 1024 keys"), ns("map get, 1048576 keys")
    groups.append(("map get, 1 K keys", g1k, None, None,
                   boost("vs Boost: get, 1K keys (boost locked)", g1k),
                   boost("vs Boost: get, 1K keys (boost bare)", g1k)))
    groups.append(("map get, 1 M keys", g1m, ns("map get, 1048576 keys, huge pages"),
                   ns("floor: dependent random load"),
                   boost("vs Boost: get, 1M keys (boost locked)", g1m),
                   boost("vs Boost: get, 1M keys (boost bare)", g1m)))
    p1m = ns("map put (replace), 1048576 keys")
    groups.append(("map put, 1 M keys", p1m, ns("map put (replace), 1048576 keys, huge pages"),
                   None, boost("vs Boost: put, 1M keys (boost locked)", p1m), None))
    groups = [g for g in groups if g[1]]
    if not groups:
        return
    path = os.path.join(work, "heap-map.dat")
    with open(path, "w") as f:
        for g in groups:
            f.write('"%s" %s\n' % (g[0], " ".join("%g" % v if v else "-" for v in g[1:])))
    lines = [
        'set title "{/:Bold Heap and map: ns per operation (lower is better)}\\n{/*0.8 %s}"'
        % esc(subtitle),
        "set style data histograms", "set style histogram clustered gap 1.4",
        "set style fill solid 0.9 border -1", "set boxwidth 0.95", "set datafile missing '-'",
        "set logscale y", "set yrange [1:*]", 'set ylabel "ns per operation (median)"',
        "set grid ytics lc rgb '#e6e6e6'", "set xtics rotate by -20 font ',10'",
        "set rmargin at screen 0.56",
        "set key at screen 0.985, screen 0.90 right top Left reverse font ',10' box lc rgb '#cccccc'",
    ]
    lines += goal_labels(goals({"heapmap"}), 5)
    cols = [("shmkit", BOLD[0]), ("shmkit, 2 MiB pages", BOLD[5]),
            ("glibc malloc / one random load (floor)", "#bdbdbd"),
            ("Boost.Interprocess (locked)", THIN[1]), ("Boost (no lock)", THIN[2])]
    clauses = []
    for i, (title, colour) in enumerate(cols):
        clauses.append("'%s' using %d:xtic(1) title \"%s\" lc rgb '%s'" % (path, i + 2, esc(title),
                                                                          colour))
    emit("heap-map", lines, clauses)


fig_queue_latency()
fig_topic()
fig_throughput()
fig_heap_map()
