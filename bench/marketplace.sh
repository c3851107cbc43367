#!/usr/bin/env bash
# Marketplace bench: for each size (default 10000 and 1000000 listings and bookings), seed a fresh
# data dir (benches/seed_marketplace.rs), start the release server with the per-user and per-IP
# limits off (one client IP, one customer), and measure:
#   GET /api/v1/listings, GET /api/v1/listings?category=plumber&city=pune (public search),
#   GET /api/v1/bookings (a customer's own list), POST /api/v1/bookings (creation, a new listing each)
# at concurrency 16 and 64. Output is tee'd to bench/results/marketplace.txt.
# Usage: bench/marketplace.sh [SIZE ...]   e.g. bench/marketplace.sh 10000
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
bin="$target_dir/release/buildxpert"
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 1000000)

(cd "$repo_dir" && cargo build --release --quiet && cargo build --release --quiet --bench seed_marketplace)
cargo build --release --quiet --manifest-path "$bench_dir/Cargo.toml"
bench="$bench_dir/target/release/buildxpert-bench"
tomorrow="$(TZ=Asia/Kolkata date -d tomorrow +%F)"
login='{"phone":"+916000000001","password":"bench-pass-123","role":"customer"}'
booking="{\"listingId\":\"bl_{seq}\",\"subServiceIds\":[\"sub_plumber_tap-installation\"],\"date\":\"$tomorrow\",\"time\":\"10:00\",\"address\":\"12 Park Street\"}"

mkdir -p "$bench_dir/results"
out="$bench_dir/results/marketplace.txt"
echo "# marketplace bench date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git -C "$repo_dir" describe --always --dirty 2>/dev/null || echo none)" | tee "$out"
for n in "${sizes[@]}"; do
    data="$(mktemp -d)"
    (cd "$repo_dir" && cargo bench --quiet --bench seed_marketplace -- --data-dir "$data" --listings "$n" --bookings "$n" --customers 1000 --bookable 200000) | tee -a "$out"
    log="$(mktemp)"
    BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR=0 BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE=0 \
        BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE=0 BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP=0 \
        BUILDXPERT_LOG__LEVEL=warn \
        "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" >"$log" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 200); do grep -q "listening on" "$log" && break; sleep 0.05; done
    url="$(head -n1 "$log" | sed 's/^buildxpert listening on //')"
    {
        echo "## $n listings and $n bookings"
        "$bench" --url "$url" --pid "$pid" --route /api/v1/listings --route "/api/v1/listings?category=plumber&city=pune" \
            --concurrency 16,64 --duration 10 --warmup 1
        "$bench" --url "$url" --pid "$pid" --route /api/v1/bookings --setup-post /api/v1/auth/login --setup-body "$login" \
            --token-field accessToken --concurrency 16,64 --duration 10 --warmup 1
        "$bench" --url "$url" --pid "$pid" --method POST --route /api/v1/bookings --body "$booking" \
            --setup-post /api/v1/auth/login --setup-body "$login" --token-field accessToken \
            --concurrency 16,64 --duration 5 --warmup 0
    } 2>&1 | tee -a "$out"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data" "$log"
done
