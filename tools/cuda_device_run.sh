#!/bin/bash
# Device run of the CUDA engine, from the repository root on the device machine
# after tools/cuda_dev_setup.sh made .dev-cuda/ here (carry [".dev-cuda"]):
# the libraries from the carried .debs, a build, test_cuda, tools/device_e2e.sh
# and `localm bench --backend cuda`. With no settings it does the issue's run
# (test_cuda, device_e2e, the five benchmark rows, -p 512 -n 128 -r 3).
#
# Same-machine A/Bs (the only comparisons that hold on shared GPUs): each tree is
# the working copy plus an overlay folder under .dev-cuda (files copied over the
# tree), built incrementally in one build folder, its binaries kept apart:
#   TREES="base:ov_base new:-"    NAME:OVERLAY (- for none); binaries in /tmp/v_NAME/bin
#   TARGETS="localm test_cuda"    what to build
#   TESTN="new"  E2E=1            test_cuda (and device_e2e) on these trees
#   RUNS="a:base;b:new:LOCALM_CUDA_X=0"   LABEL:TREE[:ENV=V,ENV=V] bench runs
#   MODELS="llama3-8b:Q4_K_M ..."  PS="-p 512 -n 128 -r 3"  ROUNDS=2
# e.g. an overlay of the committed file against the working copy's:
#   mkdir -p .dev-cuda/ov_base/src/backend/cuda
#   git show HEAD:src/backend/cuda/k_ops.cu > .dev-cuda/ov_base/src/backend/cuda/k_ops.cu
set -u
R=$PWD
H=$R/.dev-cuda
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
[ -d "$H/debs" ] || { echo "no .dev-cuda/debs: run tools/cuda_dev_setup.sh here first" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
D=/tmp/deps
L=$D/usr/lib/x86_64-linux-gnu
if [ ! -d $L ]; then
  mkdir -p $D
  for f in "$H"/debs/*.deb; do dpkg -x "$f" $D; done
  sed -i "s|/usr|$D/usr|g; /^Requires.private/d" $L/pkgconfig/*.pc
fi
export LD_LIBRARY_PATH=$L:${LD_LIBRARY_PATH:-}
export LIBRARY_PATH=$L CPATH=$D/usr/include
export PKG_CONFIG_PATH=$L/pkgconfig:/usr/share/pkgconfig
EXTRA=("-DPKG_CONFIG_EXECUTABLE=$D/usr/bin/pkgconf" "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$L"
  "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$L" -DLOCALM_CUDA_ARCHS=90a-real
  "-DLOCALM_WEB_BUNDLE=$H/app.js")
if [ -z "${TREES:-}${RUNS:-}${TESTN:-}" ]; then
  TREES="main:-" TESTN=main E2E=1 RUNS="main:main" PS="-p 512 -n 128 -r 3"
  MODELS="tinyllama-1.1b:Q4_0 tinyllama-1.1b:Q4_K_M tinyllama-1.1b:Q8_0 tinyllama-1.1b:F16 llama3-8b:Q4_K_M"
fi
TREES=${TREES:-main:-}
TARGETS=${TARGETS:-localm test_cuda}
P=/tmp/s_pristine S=/tmp/s_work B=/tmp/b_work
rm -rf $P $S
mkdir -p $P
tar -C "$R" --exclude=./.dev-cuda --exclude=./build --exclude=./.git -cf - . | tar -C $P -xf -
cp -a $P $S
prev=""
for t in $TREES; do
  n=${t%%:*} ov=${t#*:}
  for f in $prev; do
    if [ -f "$P/$f" ]; then cp "$P/$f" "$S/$f"; else rm -f "$S/$f"; fi
  done
  prev=""
  if [ "$ov" != "-" ]; then
    cp -r "$H/$ov/." $S/
    prev=$(cd "$H/$ov" && find . -type f | sed 's|^\./||')
  fi
  t0=$(date +%s)
  if [ ! -f $B/build.ninja ]; then
    cmake -S $S -B $B -G Ninja -DLOCALM_CUDA=on -DCMAKE_BUILD_TYPE=Release "${EXTRA[@]}" \
      >"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
  fi
  # shellcheck disable=SC2086 # TARGETS is a list
  cmake --build $B -j"$(nproc)" --target $TARGETS >"$OUT/build_$n.log" 2>&1 ||
    { grep -E -A3 "error|Error" "$OUT/build_$n.log" | head -40; exit 1; }
  mkdir -p "/tmp/v_$n/bin"
  for x in $TARGETS; do cp "$B/bin/$x" "/tmp/v_$n/bin/"; done
  echo "built $n in $(($(date +%s) - t0)) s"
done
export LOCALM_TESTDATA=$H/testdata
for n in ${TESTN:-}; do
  echo "== test_cuda $n"
  timeout 400 "/tmp/v_$n/bin/test_cuda" 2>&1 | tee "$OUT/test_$n.log" | grep -vE "^\[ +(OK|RUN) +\]"
  if [ "${E2E:-0}" = 1 ]; then
    echo "== device_e2e $n"
    B="/tmp/v_$n" bash tools/device_e2e.sh
  fi
done
[ -z "${RUNS:-}" ] && exit 0
IFS=';' read -ra RA <<<"$RUNS"
for m in ${MODELS:-llama3-8b:Q4_K_M}; do
  for r in $(seq "${ROUNDS:-1}"); do
    for run in "${RA[@]}"; do
      lab=${run%%:*} rest=${run#*:}
      tr=${rest%%:*} envs=${rest#*:}
      [ "$envs" = "$rest" ] && envs=""
      echo "== $m $lab (round $r)"
      # shellcheck disable=SC2086
      env ${envs//,/ } timeout 300 /tmp/v_$tr/bin/localm bench --backend cuda --random ${m%%:*} \
        --type ${m#*:} ${PS:--p 512 -n 128 -r 3} 2>&1 | grep -E "^(prefill|decode|gpu)"
    done
  done
done
