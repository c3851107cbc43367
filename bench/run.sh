#!/usr/bin/env bash
# Standard BuildXpert benchmark: builds the product and the bench in release,
# then runs /healthz and /api/v1/meta at concurrency 16 and 64, 10 s each.
# Output is tee'd to bench/results/latest.txt. Extra arguments are passed to
# the bench after the standard ones (--concurrency/--duration/... override,
# --route adds a route, --url targets a running server instead).
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo_dir/$target_dir" ;; esac

echo "== building buildxpert (release)" >&2
(cd "$repo_dir" && cargo build --release)
echo "== building buildxpert-bench (release)" >&2
cargo build --release --manifest-path "$bench_dir/Cargo.toml"

mkdir -p "$bench_dir/results"
{
    echo "# date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git -C "$repo_dir" describe --always --dirty 2>/dev/null || echo none)"
    cargo run --quiet --release --manifest-path "$bench_dir/Cargo.toml" -- \
        --bin "$target_dir/release/buildxpert" \
        --route /healthz --route /api/v1/meta \
        --concurrency 16,64 --duration 10 --warmup 1 \
        "$@"
} 2>&1 | tee "$bench_dir/results/latest.txt"
