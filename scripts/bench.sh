#!/usr/bin/env bash
# make bench: speed and memory goals as tables, measured side by side in one run.
# Each program prints markdown rows; nothing here asserts a time (machines are noisy).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
for p in outlookfs-bench outlookfs-bench-spool outlookfs-bench-fs; do
  if [ -d "cmd/$p" ]; then go build -o "bin/$p" "./cmd/$p"; fi
done

echo "## Graph client: 150 MiB upload over the simulated 20 MB/s, 30 ms link"
echo
bin/outlookfs-bench -header
echo

if [ -x bin/outlookfs-bench-spool ]; then
  echo "## Spool"
  echo
  bin/outlookfs-bench-spool
  echo
fi

echo "## Filesystem"
echo
bin/outlookfs-bench-fs
