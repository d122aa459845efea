#!/usr/bin/env bash
# Installs the Debian packages LocalM builds and tests with, only those missing.
# Called by the Makefile before every build; does nothing when all are present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libcjson-dev libcmocka-dev libutf8proc-dev libpcre2-dev
      libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libedit-dev zlib1g-dev
      curl chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The chat page is bundled with npm at build time.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
