#!/usr/bin/env bash
# Accounts benchmark: logins per second (Argon2id-bound) with the server's RSS, and an
# authenticated GET /api/v1/me next to GET /healthz from the same run, at concurrency 16 and 64.
# Creates an admin with the CLI in a fresh data dir, starts the release server with the
# per-IP login, per-user API and per-address connection limits off (one client IP would hit them
# at once), drives it, and tees the output to bench/results/accounts.txt. Extra arguments go to
# every bench call.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
bin="$target_dir/release/buildxpert"

(cd "$repo_dir" && cargo build --release --quiet)
cargo build --release --quiet --manifest-path "$bench_dir/Cargo.toml"
bench="$bench_dir/target/release/buildxpert-bench"

data="$(mktemp -d)"
out_file=""
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "$out_file" ] && rm -f "$out_file"
    rm -rf "$data"
}
trap cleanup EXIT

phone="9876599999"
pass="bench-pass-123"
"$bin" admin create --data-dir "$data" --phone "$phone" --password "$pass" --name "Bench Admin" >/dev/null

out_file="$(mktemp)"
BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE=0 BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE=0 \
    BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP=0 BUILDXPERT_LOG__LEVEL=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" >"$out_file" 2>/dev/null &
server_pid=$!
for _ in $(seq 1 200); do
    grep -q "listening on" "$out_file" 2>/dev/null && break
    sleep 0.05
done
url="$(head -n1 "$out_file" | sed 's/^buildxpert listening on //')"
login="{\"phone\":\"$phone\",\"password\":\"$pass\",\"role\":\"admin\"}"

mkdir -p "$bench_dir/results"
{
    echo "# accounts bench date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git -C "$repo_dir" describe --always --dirty 2>/dev/null || echo none)"
    echo "## logins (POST /api/v1/auth/login: Argon2id verify + session insert + audit row)"
    "$bench" --url "$url" --pid "$server_pid" --method POST --route /api/v1/auth/login --body "$login" \
        --concurrency 16,64 --duration 10 --warmup 1 "$@"
    echo "## authenticated GET /api/v1/me next to GET /healthz (same server, same token)"
    "$bench" --url "$url" --pid "$server_pid" --route /api/v1/me --route /healthz \
        --setup-post /api/v1/auth/login --setup-body "$login" --token-field accessToken \
        --concurrency 16,64 --duration 10 --warmup 1 "$@"
} 2>&1 | tee "$bench_dir/results/accounts.txt"
