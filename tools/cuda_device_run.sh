#!/bin/bash
# Device run of the CUDA engine: deps from carried .debs when missing, build, test_cuda,
# kernel microbenchmarks and `localm bench --backend cuda`. Expects the tree in
# ./src-tree, reference data in ./testdata and Debian .debs in ./debs beside it.
set -u
cd "$(dirname "$0")"
H=$PWD
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
D=/tmp/deps
need=0
command -v pkg-config >/dev/null || need=1
for m in libpcre2-8 libutf8proc libcjson libmicrohttpd libcurl libcrypto cmocka libedit; do
  pkg-config --exists $m 2>/dev/null || need=1
done
EXTRA=()
if [ $need = 1 ]; then
  echo "deps: using carried debs"
  mkdir -p $D; for f in debs/*.deb; do dpkg -x $f $D; done
  L=$D/usr/lib/x86_64-linux-gnu
  sed -i "s|/usr|$D/usr|g; /^Requires.private/d" $L/pkgconfig/*.pc
  export LD_LIBRARY_PATH=$L:${LD_LIBRARY_PATH:-}
  export LIBRARY_PATH=$L CPATH=$D/usr/include
  export PKG_CONFIG_PATH=$L/pkgconfig:/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/share/pkgconfig:/usr/lib/pkgconfig
  command -v pkg-config >/dev/null || EXTRA+=(-DPKG_CONFIG_EXECUTABLE=$D/usr/bin/pkgconf)
  EXTRA+=("-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$L" "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$L")
fi
B=/tmp/b
cmake -S src-tree -B $B -G Ninja -DLOCALM_CUDA=on -DCMAKE_BUILD_TYPE=Release "${EXTRA[@]}" > $OUT/cmake.log 2>&1 || { tail -30 $OUT/cmake.log; exit 1; }
cmake --build $B -j16 > $OUT/build.log 2>&1 || { grep -E "error|Error" $OUT/build.log | head -30; exit 1; }
echo "build ok"
export LOCALM_TESTDATA=$H/testdata
timeout 120 $B/bin/bench_cuda_kernels 2>&1 | tee $OUT/kernels.log
timeout 300 $B/bin/test_cuda 2>&1 | tee $OUT/test_cuda.log | grep -vE "^\[ +(OK|RUN) +\]"
for spec in "tinyllama-1.1b Q4_0" "tinyllama-1.1b Q4_K_M" "tinyllama-1.1b Q8_0" "tinyllama-1.1b F16" "llama3-8b Q4_K_M"; do
  set -- $spec
  echo "== bench $1 $2"
  timeout 150 $B/bin/localm bench --backend cuda --random $1 --type $2 -p 512 -n 128 -r 3 2>&1 | tee -a $OUT/bench.log
done
echo "== tinyllama Q4_0 without CUDA graph"
LOCALM_CUDA_GRAPH=0 timeout 100 $B/bin/localm bench --backend cuda --random tinyllama-1.1b --type Q4_0 -p 512 -n 128 -r 3 2>&1 | grep decode
