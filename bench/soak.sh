#!/usr/bin/env bash
# Soak: MINUTES (default 30) of mixed load against the release server with 1,000 long-polls held
# the whole time, and a line per minute: req/s, errors and the worst p99 of the mix's parts, the
# server's RSS and threads at the end of the minute. Ends with a verdict: FLAT when there was no
# error, the last minute's RSS is within 20 % (+8 MiB) of the first minute's, the thread count
# moved by at most 4, and no minute's worst p99 exceeds 3 x the median minute's; NOT FLAT otherwise
# (the exit status is then 1).
#
# The mix per minute (rates are per process, so the load is the same each minute): search
# (GET /listings?q=) and listing detail closed loop on 2 connections each; a customer's bookings
# and notifications on 1 each; 20 bookings/s created, 10 provider accepts/s, 5 signed sandbox
# webhooks/s and 2 logins/s. The long-polls are `GET /events?after={cursor}&wait=30` by a customer
# who gets few events, each re-armed as it answers with the cursor it was given, as a real client
# does (the per-user waiter cap is raised for the run); their row counts the answers with events.
#
# Usage: bench/soak.sh [MINUTES] [--longpolls N] [--size N]   e.g. bench/soak.sh 2
# Environment: CARGO_TARGET_DIR, BENCH_NO_BUILD=1, BENCH_PROFILE=dev (as bench/suite.sh).
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
profile="${BENCH_PROFILE:-release}"
minutes=30 longpolls=1000 n=10000 out="$bench_dir/results/soak.txt"
while [ $# -gt 0 ]; do
    case "$1" in
        --longpolls) longpolls="$2"; shift 2 ;;
        --size) n="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *[!0-9]*|'') echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
        *) minutes="$1"; shift ;;
    esac
done
[ "$minutes" -gt 0 ] || { echo "soak.sh: MINUTES must be positive" >&2; exit 2; }

if [ "$profile" = dev ]; then bin_dir="$target_dir/debug"; else bin_dir="$target_dir/$profile"; fi
bin="$bin_dir/buildxpert"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
    (cd "$repo_dir" && cargo build --profile "$profile" --quiet --bin buildxpert \
        && cargo build --profile "$profile" --quiet --bench seed_marketplace)
    cargo build --release --quiet --manifest-path "$bench_dir/Cargo.toml"
fi
bench="$bench_dir/target/release/buildxpert-bench"
seeder="$(ls -t "$bin_dir"/deps/seed_marketplace-* 2>/dev/null | grep -v '\.d$' | head -n1 || true)"
[ -x "$bin" ] && [ -x "$bench" ] && [ -n "$seeder" ] || { echo "soak.sh: build the server, seeder and bench first" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bx-soak.XXXXXX")"
pid="" lp=""
cleanup() {
    [ -n "$lp" ] && kill "$lp" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data" "$(dirname "$out")"

secret="bench-sandbox-secret-0123456789abcdef"
# Resources for the paced writers over the whole soak (plus 10 % slack).
creates=$((minutes * 60 * 22)) accepts=$((minutes * 60 * 11)) webhooks=$((minutes * 60 * 6))
[ "$n" -lt "$webhooks" ] && n="$webhooks"
"$seeder" --data-dir "$work/data" --listings "$n" --bookings "$n" --customers 1000 --bookable "$creates" \
    --transitions "$accepts" --notifications 40 --pending-payments "$webhooks" >"$work/seed.txt"

BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR=0 BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE=0 \
    BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE=0 BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP=0 \
    BUILDXPERT_EVENTS__MAX_WAITERS_PER_USER=100000 BUILDXPERT_EVENTS__MAX_WAITERS=100000 \
    BUILDXPERT_PAYMENTS__SANDBOX__SECRET="$secret" BUILDXPERT_LOG__LEVEL=warn \
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.log" 2>"$work/server.err" &
pid=$!
for _ in $(seq 1 400); do grep -q "listening on" "$work/server.log" 2>/dev/null && break; sleep 0.05; done
url="$(head -n1 "$work/server.log" | sed 's/^buildxpert listening on //')"
[ -n "$url" ] || { echo "soak.sh: the server did not start:" >&2; tail -n 20 "$work/server.err" >&2; exit 1; }

status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
login_body() { echo "{\"phone\":\"$1\",\"password\":\"bench-pass-123\",\"role\":\"$2\"}"; }
as() { echo --setup-post /api/v1/auth/login --setup-body "$(login_body "$1" "$2")" --token-field accessToken; }
tomorrow="$(TZ=Asia/Kolkata date -d tomorrow +%F)"
booking="{\"listingId\":\"bl_{seq}\",\"subServiceIds\":[\"sub_plumber_tap-installation\"],\"date\":\"$tomorrow\",\"time\":\"10:00\",\"address\":\"12 Park Street\"}"
webhook='{"id":"bench_evt_{seq}","type":"payment.succeeded","paymentId":"pay_bench_{seq}","amount":9900,"currency":"INR"}'

# The long-polls, held for the whole soak (each re-armed when it answers).
"$bench" --url "$url" --route "/api/v1/events?after={cursor}&wait=30" --concurrency "$longpolls" \
    --duration $((minutes * 60 + 5)) --warmup 0 --timeout 60 \
    --setup-post /api/v1/auth/login --setup-body "$(login_body +916000000002 customer)" --token-field accessToken \
    >"$work/longpolls.txt" 2>&1 &
lp=$!
sleep 3
echo "# soak date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git -C "$repo_dir" describe --always --dirty 2>/dev/null || echo none) profile=$profile minutes=$minutes longpolls=$longpolls nproc=$(nproc)" | tee "$out"
echo "# $(head -n1 "$work/seed.txt")" | tee -a "$out"
echo "# start: rss=$(( $(status VmRSS) / 1024 ))MiB threads=$(status Threads)" | tee -a "$out"

for m in $(seq 1 "$minutes"); do
    i=0 pids=()
    part() {
        "$bench" --url "$url" --duration 60 --warmup 0 "$@" >"$work/part.$i.txt" 2>&1 &
        pids+=($!)
        i=$((i + 1))
    }
    # {seq} ranges per minute so the paced writers never reuse a resource.
    part --route "/api/v1/listings?q=plumber" --concurrency 2
    part --route /api/v1/listings/lst_00000002 --concurrency 2
    # shellcheck disable=SC2046
    part --route /api/v1/bookings --concurrency 1 $(as +916000000001 customer)
    # shellcheck disable=SC2046
    part --route /api/v1/notifications --concurrency 1 $(as +916000000000 customer)
    part --method POST --route /api/v1/bookings --body "$booking" --concurrency 2 --rate 20 \
        --seq-start $(((m - 1) * 60 * 22)) --setup-post /api/v1/auth/login \
        --setup-body "$(login_body +916000000001 customer)" --token-field accessToken
    part --method POST --route "/api/v1/bookings/bt_{seq}/accept" --body '{}' --concurrency 1 --rate 10 \
        --seq-start $(((m - 1) * 60 * 11)) --setup-post /api/v1/auth/login \
        --setup-body "$(login_body +917000000000 provider)" --token-field accessToken
    part --method POST --route /api/v1/webhooks/sandbox --body "$webhook" --sandbox-secret "$secret" \
        --concurrency 1 --rate 5 --seq-start $(((m - 1) * 60 * 6))
    part --method POST --route /api/v1/auth/login --body "$(login_body +916000000003 customer)" --concurrency 1 --rate 2
    for p in "${pids[@]}"; do wait "$p" || { echo "soak.sh: a load part failed:" >&2; cat "$work"/part.*.txt >&2; exit 1; }; done
    rss=$(( $(status VmRSS) / 1024 )) threads=$(status Threads)
    cat "$work"/part.*.txt | awk -v m="$m" -v rss="$rss" -v thr="$threads" '
        /^route=/ {
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                if (kv[1] == "req/s") rps += kv[2]
                if (kv[1] == "errors") err += kv[2]
                if (kv[1] == "p99" && kv[2] + 0 > p99) p99 = kv[2] + 0
            }
        }
        END { printf "minute=%d req/s=%d errors=%d p99_worst=%.2fms rss=%dMiB threads=%d\n", m, rps, err, p99, rss, thr }' \
        | tee -a "$out" "$work/minutes"
    grep -hE '^ +statuses:' "$work"/part.*.txt | sed "s/^ */#   minute $m: /" | tee -a "$out" || true
    rm -f "$work"/part.*.txt
done

wait "$lp" || true
lp=""
lp_row="$(grep '^route=' "$work/longpolls.txt" || echo "no long-poll row")"
echo "# long-polls: $lp_row" | tee -a "$out"
grep -E '^ +statuses:' "$work/longpolls.txt" | sed 's/^ */#   long-polls: /' | tee -a "$out" || true

awk -v lp="$lp_row" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] + 0 } ; n = NR }
    END {
        for (i = 1; i <= n; i++) { errs += v[i, "errors"]; p[i] = v[i, "p99_worst"] }
        # median minute p99
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (p[j] < p[i]) { t = p[i]; p[i] = p[j]; p[j] = t }
        med = p[int((n + 1) / 2)]
        worst = p[n]
        if (match(lp, /errors=[0-9]+/)) errs += substr(lp, RSTART + 7, RLENGTH - 7)
        r1 = v[1, "rss"]; rn = v[n, "rss"]; t1 = v[1, "threads"]; tn = v[n, "threads"]
        flat = (errs == 0 && rn <= r1 * 1.2 + 8 && (tn - t1 <= 4 && t1 - tn <= 4) && worst <= 3 * med)
        printf "verdict: %s (errors=%d rss %d->%dMiB threads %d->%d p99 median=%.2fms worst=%.2fms)\n", \
            flat ? "FLAT" : "NOT FLAT", errs, r1, rn, t1, tn, med, worst
        exit flat ? 0 : 1
    }' "$work/minutes" | tee -a "$out"
exit "${PIPESTATUS[0]}"
