#!/usr/bin/env bash
# Before/after marketplace bench on identical data: builds the release binary of an older checkout
# (BEFORE_DIR, e.g. `git worktree add /tmp/before f710d48`) and of this one, seeds one data dir with
# the older checkout's seeder (its schema is the one both binaries can open), then for ROUNDS rounds
# starts each binary in turn on a fresh copy of that seed and measures the marketplace scenarios
# (GET /listings, a filtered search, a customer's GET /bookings, POST /bookings) at c16 and c64.
# Rounds alternate so both binaries see the same machine; read the medians, not single rounds.
# Usage: bench/compare.sh BEFORE_DIR [ROUNDS] [SIZE]     (defaults: 3 rounds, 10000 rows)
set -euo pipefail

before_dir="$(cd "${1:?usage: bench/compare.sh BEFORE_DIR [ROUNDS] [SIZE]}" && pwd)"
rounds="${2:-3}"
size="${3:-10000}"
bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"

(cd "$before_dir" && CARGO_TARGET_DIR="$before_dir/target" cargo build --release --quiet \
    && CARGO_TARGET_DIR="$before_dir/target" cargo build --release --quiet --bench seed_marketplace)
(cd "$repo_dir" && cargo build --release --quiet)
cargo build --release --quiet --manifest-path "$bench_dir/Cargo.toml"
bench="$bench_dir/target/release/buildxpert-bench"
old_bin="$before_dir/target/release/buildxpert"
new_bin="${CARGO_TARGET_DIR:-$repo_dir/target}/release/buildxpert"
case "$new_bin" in /*) ;; *) new_bin="$repo_dir/$new_bin" ;; esac

tomorrow="$(TZ=Asia/Kolkata date -d tomorrow +%F)"
login='{"phone":"+916000000001","password":"bench-pass-123","role":"customer"}'
booking="{\"listingId\":\"bl_{seq}\",\"subServiceIds\":[\"sub_plumber_tap-installation\"],\"date\":\"$tomorrow\",\"time\":\"10:00\",\"address\":\"12 Park Street\"}"
seed="$(mktemp -d)"
work="$(mktemp -d)" # no buildxpert.toml here: each binary runs on its own defaults
trap 'rm -rf "$seed" "$work"' EXIT
(cd "$before_dir" && CARGO_TARGET_DIR="$before_dir/target" cargo bench --quiet --bench seed_marketplace -- \
    --data-dir "$seed" --listings "$size" --bookings "$size" --customers 1000 --bookable 200000) | head -n1

run() { # binary label
    local data log pid url extra=()
    data="$(mktemp -d)"
    cp -a "$seed/." "$data/"
    log="$(mktemp)"
    # One client address: switch the per-address connection cap off where the binary has it.
    if "$1" config check 2>/dev/null | grep -q max_connections_per_ip; then
        extra=(BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP=0)
    fi
    env -C "$work" BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR=0 BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE=0 \
        BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE=0 BUILDXPERT_LOG__LEVEL=warn "${extra[@]}" \
        "$1" serve --listen 127.0.0.1:0 --data-dir "$data" >"$log" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 200); do grep -q "listening on" "$log" && break; sleep 0.05; done
    url="$(head -n1 "$log" | sed 's/^buildxpert listening on //')"
    echo "== $2"
    "$bench" --url "$url" --pid "$pid" --route /api/v1/listings --route "/api/v1/listings?category=plumber&city=pune" \
        --concurrency 16,64 --duration 6 --warmup 1 2>&1 | grep '^route'
    "$bench" --url "$url" --pid "$pid" --route /api/v1/bookings --setup-post /api/v1/auth/login --setup-body "$login" \
        --token-field accessToken --concurrency 16,64 --duration 6 --warmup 1 2>&1 | grep '^route'
    "$bench" --url "$url" --pid "$pid" --method POST --route /api/v1/bookings --body "$booking" --setup-post /api/v1/auth/login \
        --setup-body "$login" --token-field accessToken --concurrency 16,64 --duration 4 --warmup 0 2>&1 | grep '^route'
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$data" "$log"
}
echo "# compare date=$(date -u +%Y-%m-%dT%H:%M:%SZ) before=$(git -C "$before_dir" describe --always --dirty) after=$(git -C "$repo_dir" describe --always --dirty)"
for i in $(seq 1 "$rounds"); do
    run "$old_bin" "before round $i"
    run "$new_bin" "after round $i"
done
