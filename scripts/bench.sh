#!/usr/bin/env bash
# make bench: speed and memory goals as tables, measured side by side in one run.
# Each program prints markdown rows; nothing here asserts a time (machines are noisy).
# What it prints is also written to docs/benchmarks.md (only when every program succeeded):
# the machine, the date and every figure come from this run, none is typed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
for p in outlookfs-bench outlookfs-bench-spool outlookfs-bench-fs outlookfs-bench-soak; do
  if [ -d "cmd/$p" ]; then go build -o "bin/$p" "./cmd/$p"; fi
done
# Microsoft's uploader lives in its own module: the product's go.mod never lists it. Its test
# (the emulator serves msgraph-sdk-go-core's LargeFileUploadTask) must pass before it is a baseline.
(cd cmd/outlookfs-bench-sdk && go test -count=1 ./... >&2 && go build -o ../../bin/outlookfs-bench-sdk .)

out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
tmpdir=${TMPDIR:-/tmp}

# The disk the benchmarks write to (their files go under $TMPDIR).
disk() {
  local src fstype dev model rota size
  read -r src fstype < <(df --output=source,fstype "$tmpdir" | tail -1)
  dev=$(lsblk -no PKNAME "$src" 2>/dev/null | head -1)
  [ -n "$dev" ] || dev=$(basename "$src")
  model=$(lsblk -dno MODEL "/dev/$dev" 2>/dev/null | xargs || true)
  rota=$(lsblk -dno ROTA "/dev/$dev" 2>/dev/null | xargs || true)
  size=$(lsblk -dno SIZE "/dev/$dev" 2>/dev/null | xargs || true)
  printf '%s (%s) on /dev/%s%s%s%s' "$tmpdir" "$fstype" "$dev" \
    "${size:+, $size}" "${model:+, $model}" \
    "$([ "$rota" = 0 ] && echo ', the kernel says not rotational' || { [ "$rota" = 1 ] && echo ', the kernel says rotational'; } || true)"
}

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh); do not edit. Every figure is measured in the same run"
  echo "as its baseline; the ratio compares the two; the goal is the issue's."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| commit | $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs/benchmarks.md' || echo ' (with uncommitted changes)') |"
  echo "| cores | $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) |"
  echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
  echo "| disk | $(disk) |"
  echo "| kernel | $(uname -sr) |"
  echo "| Go | $(go env GOVERSION) |"
  echo
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
  echo

  echo "## The whole synchronous cp against Microsoft's uploader"
  echo
  bin/outlookfs-bench-sdk -bin bin/outlookfs
  echo

  echo "## Soak: peak memory of the mount process"
  echo
  bin/outlookfs-bench-soak -bin bin/outlookfs
  echo
  echo "\`make bench\` took $(( $(date +%s) - start )) s."
} | tee "$out"
# pipefail: a failed program fails the pipeline above, and the committed file stays as it was.
cp "$out" docs/benchmarks.md
echo "(written to docs/benchmarks.md)" >&2
