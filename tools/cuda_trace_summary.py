#!/usr/bin/env python3
"""Where a replayed CUDA graph's time goes, from tools/cuda_trace.c's timeline.

Takes the graph replayed most often (the one-token decode step), drops its first
replays, and for each kernel of the step prints, as medians over the replays:
its duration, how far it started before (negative) or after the previous
kernel's end, and its share of the step: its end minus the previous kernel's
end, the time the step spends on it in stream order. Then the same shares
summed by kernel name.

  python3 tools/cuda_trace_summary.py TRACE [--skip N] [--layer L]
"""
import argparse
import collections
import statistics
import subprocess


def short(names):
    """Demangled names cut to the function and its template arguments."""
    try:
        p = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
        dem = p.stdout.split("\n")
    except OSError:
        dem = names
    out = {}
    for n, d in zip(names, dem):
        d = d.replace("(anonymous namespace)::", "").replace("lmc::", "")
        d = d.split("(")[0].removeprefix("void ")
        out[n] = d[:70]
    return out


def burst(recs, lo, n):
    """The last run of kernels outside graphs with no gap over 500 us and at
    least 100 kernels: its span, then kernels lo..lo+n as start, end,
    duration (us from the window's first start), grid, block, stream."""
    rs = sorted((r for r in recs if not r[2]), key=lambda r: r[0])
    runs, cur, end = [], [], 0
    for r in rs:
        if cur and r[0] - end > 500000:
            runs.append(cur)
            cur = []
        cur.append(r)
        end = max(end, r[1])
    runs.append(cur)
    runs = [x for x in runs if len(x) >= 100]
    if not runs:
        print("no burst of 100 kernels outside graphs")
        return
    b = runs[-1]
    names = short(sorted({r[6] for r in b}))
    span = max(r[1] for r in b) - b[0][0]
    print(f"last burst: {len(b)} kernels, {span / 1e3:.1f} us")
    w = b[lo:lo + n]
    t0 = w[0][0]
    for r in w:
        print(f"{(r[0] - t0) / 1e3:9.1f} {(r[1] - t0) / 1e3:9.1f} {(r[1] - r[0]) / 1e3:8.1f} "
              f"{r[4]:>6} {r[5]:>5} s{r[7]:<3} {names[r[6]]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--skip", type=int, default=3, help="first replays dropped")
    ap.add_argument("--layer", type=int, default=-1, help="print this node range's layer")
    ap.add_argument("--burst", type=int, nargs=2, metavar=("FROM", "N"),
                    help="instead: kernels FROM..FROM+N of the last burst outside graphs "
                         "(a prompt), with their streams")
    a = ap.parse_args()
    recs = []
    with open(a.trace) as f:
        for line in f:
            p = line.split(None, 7)
            if len(p) < 8:
                continue
            recs.append((int(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4]), int(p[5]),
                         p[7].strip(), int(p[6])))
    if a.burst:
        burst(recs, *a.burst)
        return
    by_graph = collections.defaultdict(list)
    for r in recs:
        if r[2]:
            by_graph[r[2]].append(r)
    if not by_graph:
        print("no graph kernels in the trace")
        return
    nodes = {g: len({r[3] for r in rs}) for g, rs in by_graph.items()}
    g = max(by_graph, key=lambda k: len(by_graph[k]) // nodes[k])
    K = nodes[g]
    rs = sorted(by_graph[g], key=lambda r: r[0])
    order = sorted({r[3] for r in rs})
    reps = []
    cur = {}
    for r in rs:  # a replay is complete once every node has run
        if r[3] in cur:
            reps.append(cur)
            cur = {}
        cur[r[3]] = r
        if len(cur) == K:
            reps.append(cur)
            cur = {}
    reps = [x for x in reps if len(x) == K][a.skip:]
    if not reps:
        print("no complete replays")
        return
    names = short(sorted({r[6] for r in rs}))
    span = [max(x[n][1] for n in order) - min(x[n][0] for n in order) for x in reps]
    starts = sorted(min(x[n][0] for n in order) for x in reps)
    period = [b - a_ for a_, b in zip(starts, starts[1:])]
    print(f"graph {g}: {K} kernels, {len(reps)} replays used; step span median "
          f"{statistics.median(span) / 1e3:.1f} us, replay period median "
          f"{statistics.median(period) / 1e3 if period else 0:.1f} us")
    rows = []
    for i, n in enumerate(order):
        dur = statistics.median(x[n][1] - x[n][0] for x in reps)
        if i == 0:
            gap, share = 0.0, dur
        else:
            p = order[i - 1]
            gap = statistics.median(x[n][0] - x[p][1] for x in reps)
            share = statistics.median(x[n][1] - x[p][1] for x in reps)
        r = reps[0][n]
        rows.append((names[r[6]], r[4], r[5], dur, gap, share))
    tot = {}
    for nm, grid, blk, dur, gap, share in rows:
        key = f"{nm} <<<{grid},{blk}>>>"
        t = tot.setdefault(key, [0, 0.0, 0.0])
        t[0] += 1
        t[1] += share
        t[2] += dur
    print(f"\n{'kernel':<86} {'n':>4} {'share us':>9} {'/call':>7} {'dur/call':>8} {'%':>5}")
    total = sum(t[1] for t in tot.values())
    for k, (c, s, d) in sorted(tot.items(), key=lambda kv: -kv[1][1]):
        print(f"{k:<86} {c:>4} {s / 1e3:>9.1f} {s / c / 1e3:>7.2f} {d / c / 1e3:>8.2f} "
              f"{100 * s / total:>5.1f}")
    print(f"{'sum of shares':<86} {'':>4} {total / 1e3:>9.1f}")
    if a.layer >= 0:
        per = next((p for p in range(2, 40) if len(rows) > 1 + 2 * p and
                    all(rows[1 + i][0] == rows[1 + p + i][0] for i in range(p))), 1)
        lo = 1 + a.layer * per
        print(f"\nlayer {a.layer} (kernels {lo}..{lo + per - 1}): name, grid, block, "
              "dur, start - previous end, share (us)")
        for nm, grid, blk, dur, gap, share in rows[lo:lo + per]:
            print(f"  {nm:<70} {grid:>6} {blk:>5} {dur / 1e3:>7.2f} {gap / 1e3:>7.2f} "
                  f"{share / 1e3:>7.2f}")


if __name__ == "__main__":
    main()
