#!/bin/bash
# Per-kernel GPU time of one `localm bench` run, summed by kernel name and grid,
# largest first: the breakdown the CUDA notes (bench/NOTES-cuda.md) are built on.
#   tools/cuda_kernel_times.sh BUILD_DIR BENCH_ARGS...
#   e.g. tools/cuda_kernel_times.sh /tmp/b --random llama3-8b --type Q4_K_M -p 512 -n 1 -r 1
# Uses Nsight Compute without its cache flush and clock lock (the defaults
# inflate short kernels several times over); kernels run serialized, so the
# sum is an upper bound of the step time, not an overlap-aware timeline.
set -eu
B=${1:?build dir}
shift
csv=$(mktemp)
trap 'rm -f "$csv"' EXIT
ncu --cache-control none --clock-control none --metrics gpu__time_duration.sum --csv \
    --print-units base "$B/bin/localm" bench --backend cuda "$@" >"$csv" 2>/dev/null
python3 - "$csv" <<'PY'
import collections, csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
h = rows[0]
ki, vi = h.index("Kernel Name"), h.index("Metric Value")
gi = h.index("Grid Size") if "Grid Size" in h else None
agg = collections.defaultdict(lambda: [0, 0.0])
for r in rows[1:]:
    try:
        v = float(r[vi].replace(",", ""))
    except ValueError:
        continue
    k = r[ki][:90] + (" " + r[gi] if gi is not None else "")
    agg[k][0] += 1
    agg[k][1] += v
tot = sum(a[1] for a in agg.values())
print("total %.0f us over %d kernels" % (tot / 1e3, sum(a[0] for a in agg.values())))
for k, (n, v) in sorted(agg.items(), key=lambda x: -x[1][1])[:30]:
    print("%8.0f us %5d x  %s" % (v / 1e3, n, k))
PY
