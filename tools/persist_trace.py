#!/usr/bin/env python3
"""Summary of the persistent decode step's timeline (src/backend/cuda/persist.c:
LOCALM_CUDA_PERSIST_TRACE=file, LOCALM_CUDA_PERSIST_TRACE_STEP=n, default 100):
for each phase of a layer, averaged over the middle layers, when its first task
had its inputs after the phase became ready, when its last task was done, and
the mean wait, input load, products and epilogue of its tasks; then the
attention task's own stamps; then, for the middle layer, when its phases'
tasks had their inputs, finished their products and were done (min, median,
90th percentile, max), from the moment QKV's input was ready: a layer's
critical path (NOTES-cuda.md pass 25). The format is the retired
prototype's (tools/decode_persist_test.cu at 14e75b6, NOTES-cuda.md pass 22).
Usage: persist_trace.py TRACE"""
import collections
import statistics
import sys
K = ['QKV','ATT','WO','GU','DOWN','OUT']
tasks = []; prod = []; att = []  # att: an attention task's 8 stamps (layers 2 on)
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == 'P': prod.append((int(f[1]), int(f[2]), int(f[3]))); continue
    v = list(map(int, f))
    tasks.append(tuple(v[:8]))
    if v[1] == 1 and v[2] >= 2: att.append(v[4:12])
L = max(t[2] for t in tasks) + 1
by = collections.defaultdict(list)
for t in tasks: by[(t[2], t[1])].append(t)
end = max(t[7] for t in tasks)
print("step %.1f us, layers %d; producer stall mean %.1f us (min %.1f max %.1f), producer end mean %.1f" % (
    end/1e3, L, sum(p[1] for p in prod)/len(prod)/1e3, min(p[1] for p in prod)/1e3, max(p[1] for p in prod)/1e3, sum(p[2] for p in prod)/len(prod)/1e3))
def ready(l, k):
    if k == 0:
        return max(t[7] for t in by[(l-1, 4)]) if l > 0 else 0
    if k == 5: return max(t[7] for t in by[(L-1, 4)])
    return max(t[7] for t in by[(l, k-1)])
acc = collections.defaultdict(lambda: [0.0]*7); n = 0
mids = range(2, L-2)
for l in mids:
    n += 1
    for k in range(5):
        ts = by[(l,k)]; r = ready(l,k)
        a = acc[k]
        a[0] += (min(t[5] for t in ts) - r)           # first inputs-in after ready
        a[1] += (max(t[7] for t in ts) - r)           # span ready -> last done
        a[2] += sum(t[5]-t[4] for t in ts)/len(ts)    # wait + input load
        a[3] += sum(t[6]-t[5] for t in ts)/len(ts)    # products
        a[4] += max(t[6]-t[5] for t in ts)
        a[5] += sum(t[7]-t[6] for t in ts)/len(ts)    # epilogue
        a[6] += sum(max(0, t[5]-max(t[4], r)) for t in ts)/len(ts)  # input load after ready
print("per layer (mean over layers 2..L-3), us: phase, tasks, ready->first in, ready->last done, mean wait+in, mean in-after-ready, mean products (max), mean epilogue")
tot = 0
for k in range(5):
    a = [v/n/1e3 for v in acc[k]]; tot += a[1]
    print("%5s %4d  first %5.2f  span %6.2f  wait+in %6.2f  in %5.2f  prod %6.2f (%6.2f)  epi %5.2f" % (K[k], len(by[(2,k)]), a[0], a[1], a[2], a[6], a[3], a[4], a[5]))
print("sum of spans %.1f us a layer; step/layers %.1f" % (tot, end/1e3/L))

print("attention task (from its inputs in):")
for name, a, b in [("K/V, q, scores, P V", 1, 4), ("warps combined, partial out", 4, 5),
                   ("merge + quantise (last chunk)", 6, 7),
                   ("whole task", 1, 3)]:
    xs = [r[b] - r[a] for r in att if r[a] and r[b]]
    if xs:
        print("  %-30s mean %.2f max %.2f us (%d)" % (name, statistics.mean(xs) / 1e3,
                                                   max(xs) / 1e3, len(xs)))

l = L // 2
r0 = ready(l, 0)
print("layer %d, us from QKV's input ready: min / median / p90 / max" % l)
for k in range(5):
    ts = by[(l, k)]
    def q(i):
        xs = sorted(t[i] for t in ts)
        return "%6.2f %6.2f %6.2f %6.2f" % tuple((xs[j] - r0) / 1e3 for j in (
            0, len(xs) // 2, int(len(xs) * 0.9), -1))
    print("%5s %4d  inputs in %s | products %s | done %s" % (K[k], len(ts), q(5), q(6), q(7)))
