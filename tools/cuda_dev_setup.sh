#!/bin/bash
# Prepares .dev-cuda/ (git-ignored) on this machine for CUDA runs on the device
# machine, which has nvcc, CMake and ninja but no package registry and no npm:
#   .dev-cuda/debs      Debian packages of the libraries the build links
#   .dev-cuda/testdata  the shared reference models and refs (not tokenizers)
#   .dev-cuda/app.js    the chat page's bundle, built here
# Then each device call passes carry [".dev-cuda"] and runs tools/cuda_device_run.sh.
# About 40 MB: with the tracked tree it stays under the device's 64 MiB limit.
set -euo pipefail
cd "$(dirname "$0")/.."
D=.dev-cuda
TD=${LOCALM_TESTDATA:-../shared/testdata}
mkdir -p $D/debs
(cd $D/debs && apt-get download -q \
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc-dev \
  libutf8proc2 libcjson-dev libcjson1 libmicrohttpd-dev libmicrohttpd12 libcurl4-openssl-dev \
  libcurl4 libssl-dev libssl3 libcmocka-dev libcmocka0 libedit-dev libedit2 libbsd0 libmd0 \
  zlib1g-dev zlib1g pkgconf libpkgconf3 pkgconf-bin libnghttp2-14 libidn2-0 libpsl5 librtmp1 \
  libssh2-1 libzstd1 libbrotli1 libldap-2.5-0 libgssapi-krb5-2 libkrb5-3 libk5crypto3 \
  libkrb5support0 libkeyutils1 libcom-err2 libsasl2-2 libsasl2-modules-db libgnutls30 \
  libnettle8 libhogweed6 libgmp10 libunistring2 libtasn1-6 libp11-kit0 libffi8 libtinfo6 \
  libncurses-dev libncurses6 libncursesw6 libdb5.3 libgcrypt20 libgpg-error0 libgnutls-dane0 \
  2>&1 | { grep -vE "^(Get|W: Download is performed)" || true; })
rm -rf $D/testdata
mkdir -p $D/testdata
cp -r "$TD/models" "$TD/refs" $D/testdata/
make build >/dev/null
cp build/web/app.js $D/app.js
du -sh $D
