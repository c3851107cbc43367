#!/usr/bin/env bash
# Call signalling bench: signal → other party's long-poll latency (p50/p99) while 1,000 other
# users hold idle `GET /api/v1/events` long-polls (benches/calls_signal.rs: seeds a fresh data
# dir, starts the release binary, rings and answers a call through the API, then times S signals).
# Output is tee'd to bench/results/calls.txt. Extra arguments go to the bench
# (e.g. `bench/calls.sh --waiters 2000 --samples 1000`).
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
mkdir -p "$bench_dir/results"
{
    echo "# calls bench date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git -C "$repo_dir" describe --always --dirty 2>/dev/null || echo none) nproc=$(nproc)"
    (cd "$repo_dir" && cargo bench --quiet --bench calls_signal -- --waiters 1000 --samples 500 "$@")
} 2>&1 | tee "$bench_dir/results/calls.txt"
