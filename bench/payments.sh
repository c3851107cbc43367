#!/usr/bin/env bash
# Payments webhook bench: seeds N listings with a pending sandbox listing-fee payment each
# (benches/seed_marketplace.rs --pending-payments), starts the server with a known sandbox secret,
# and posts signed `payment.succeeded` notifications to /api/v1/webhooks/sandbox, one new event id
# and payment per request (`{seq}`), each signed at send time (`--sandbox-secret`). Every request is
# the full path: signature check, event-id record, amount match and, in one BEGIN IMMEDIATE
# transaction, the payment, the listing's renewal, the provider's notification and events.
# Requests past N find no pending payment (recorded as unknown_payment): keep N above what the
# run sends. Output is tee'd to bench/results/payments.txt.
# Usage: bench/payments.sh [N] [DURATION]   e.g. bench/payments.sh 20000 5
# BENCH_PROFILE=dev measures the debug build (a quick smoke run; the figures are not the release ones).
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
n="${1:-20000}"
duration="${2:-5}"
profile="${BENCH_PROFILE:-release}"
if [ "$profile" = dev ]; then bin="$target_dir/debug/buildxpert"; else bin="$target_dir/$profile/buildxpert"; fi
secret="bench-sandbox-secret-0123456789abcdef"

(cd "$repo_dir" && cargo build --profile "$profile" --quiet && cargo build --profile "$profile" --quiet --bench seed_marketplace)
cargo build --release --quiet --manifest-path "$bench_dir/Cargo.toml"
bench="$bench_dir/target/release/buildxpert-bench"
body='{"id":"bench_evt_{seq}","type":"payment.succeeded","paymentId":"pay_bench_{seq}","amount":9900,"currency":"INR"}'

mkdir -p "$bench_dir/results"
out="$bench_dir/results/payments.txt"
data="$(mktemp -d)"
log="$(mktemp)"
echo "# payments webhook bench date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git -C "$repo_dir" describe --always --dirty 2>/dev/null || echo none) bin=$bin" | tee "$out"
(cd "$repo_dir" && cargo bench --profile "$profile" --quiet --bench seed_marketplace -- --data-dir "$data" --listings "$n" --bookings 0 \
    --customers 10 --bookable 0 --pending-payments "$n") | tee -a "$out"
BUILDXPERT_PAYMENTS__SANDBOX__SECRET="$secret" BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP=0 BUILDXPERT_LOG__LEVEL=warn \
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" >"$log" 2>/dev/null &
pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$log" && break; sleep 0.05; done
url="$(head -n1 "$log" | sed 's/^buildxpert listening on //')"
"$bench" --url "$url" --pid "$pid" --method POST --route /api/v1/webhooks/sandbox --body "$body" \
    --sandbox-secret "$secret" --concurrency 16 --duration "$duration" --warmup 0 2>&1 | tee -a "$out"
sqlite3 "$data/buildxpert.db" \
    "SELECT 'settled=' || COUNT(*) FROM payments WHERE status = 'succeeded'; SELECT 'events=' || COUNT(*) FROM payment_events;" \
    2>/dev/null | tee -a "$out" || true
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$data" "$log"
