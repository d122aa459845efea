#!/bin/bash
# Same-machine A/B of one source file: the only comparison that holds on the shared
# GPUs (one build measured 1,297 and 1,363 t/s on two H100s of the same kind).
#   tools/ab_source.sh BUILD_DIR FILE OLD_COPY -- BENCH_ARGS...
#   e.g. git show HEAD~1:src/backend/cuda/k_ops.cu > /tmp/old.cu
#        tools/ab_source.sh /tmp/b src/backend/cuda/k_ops.cu /tmp/old.cu -- \
#            --backend cuda --random llama3-8b --type Q4_K_M -p 512 -n 128 -r 3
# Builds and benches the working tree ("new"), copies OLD_COPY over FILE, rebuilds
# (incrementally) and benches ("old"), restores FILE, rebuilds and benches again
# ("new2": the spread between new and new2 is the noise). BUILD_DIR must be configured.
set -eu
B=${1:?build dir}
F=${2:?source file}
OLD=${3:?old copy of the file}
shift 3
[ "${1:-}" = "--" ] && shift
[ -f "$F" ] && [ -f "$OLD" ] || { echo "ab_source: $F or $OLD is missing" >&2; exit 2; }
keep=$(mktemp)
cp "$F" "$keep"
restore() { cp "$keep" "$F"; rm -f "$keep"; }
trap restore EXIT
bench() {
    local tag=$1
    shift
    cmake --build "$B" --target localm >/dev/null
    echo "== $tag"
    "$B/bin/localm" bench "$@" 2>&1 | grep -E "^(prefill|decode)"
}
bench new "$@"
cp "$OLD" "$F"
bench old "$@"
cp "$keep" "$F"
bench new2 "$@"
