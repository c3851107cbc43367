#!/usr/bin/env bash
# The bench suite: ONE command, ONE table. Seeds a fresh data dir (benches/seed_marketplace.rs),
# starts the release server once (per-user and per-IP limits off: one client IP, few users), and
# measures, at concurrency 16 and 64, in the same run:
#   ceilings   GET /healthz, GET /api/v1/me and GET /api/v1/listings/{id} (primary-key reads)
#   routes     GET /bookings, GET /listings, GET /listings?category=&city=, GET /notifications,
#              POST /bookings (a new bookable listing each)
#   mix        all at once, one bench process per part, connections split as below: search (q=),
#              listing detail, customer's bookings, notifications, login, booking create, provider
#              accept (booking transition), signed sandbox webhooks; plus long-polls held
#              (GET /events?wait=, by a customer who gets no events: the per-user waiter cap is
#              raised for the run) the whole time
# and prints one table: req/s, its ratio to /healthz at the same concurrency, p50/p99 and errors,
# then the server's peak RSS and threads over the whole run (sampled from /proc/PID/status).
#
# Usage: bench/suite.sh [--size 10k|1m|N] [--seconds N] [--longpolls N] [--out FILE]
#   --size      bookings and listings seeded (default 10k; 1m = 1,000,000)
#   --seconds   measured seconds per run (default 5; 1 s of warmup before each)
#   --longpolls long-polls held during the mix (default 200)
# Environment: CARGO_TARGET_DIR (where target/release/buildxpert is), BENCH_NO_BUILD=1 (use the
# binaries as they are), BENCH_PROFILE=dev (the debug build: a smoke run, not figures).
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
profile="${BENCH_PROFILE:-release}"
size=10k seconds=5 longpolls=200 out="$bench_dir/results/suite.txt"
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --longpolls) longpolls="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "suite.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$size" in
    10k) n=10000 ;;
    1m|1M) n=1000000 ;;
    *[!0-9]*|'') echo "suite.sh: --size wants 10k, 1m or a number" >&2; exit 2 ;;
    *) n="$size" ;;
esac
case "$seconds" in *[!0-9]*|''|0) echo "suite.sh: --seconds wants a positive number" >&2; exit 2 ;; esac

if [ "$profile" = dev ]; then bin_dir="$target_dir/debug"; else bin_dir="$target_dir/$profile"; fi
bin="$bin_dir/buildxpert"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
    (cd "$repo_dir" && cargo build --profile "$profile" --quiet --bin buildxpert \
        && cargo build --profile "$profile" --quiet --bench seed_marketplace)
    cargo build --release --quiet --manifest-path "$bench_dir/Cargo.toml"
fi
bench="$bench_dir/target/release/buildxpert-bench"
seeder="$(ls -t "$bin_dir"/deps/seed_marketplace-* 2>/dev/null | grep -v '\.d$' | head -n1 || true)"
[ -x "$bin" ] || { echo "suite.sh: no server binary at $bin" >&2; exit 1; }
[ -x "$bench" ] || { echo "suite.sh: no bench client at $bench" >&2; exit 1; }
[ -n "$seeder" ] || { echo "suite.sh: no seeder in $bin_dir/deps" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bx-suite.XXXXXX")"
data="$work/data"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$data" "$(dirname "$out")"

secret="bench-sandbox-secret-0123456789abcdef"
# Enough distinct resources for every create/transition/webhook the runs can send.
budget=$((seconds * 12000 + 20000))
webhooks=$((n < budget ? n : budget))
"$seeder" --data-dir "$data" --listings "$n" --bookings "$n" --customers 1000 --bookable "$budget" \
    --transitions "$budget" --notifications 40 --pending-payments "$webhooks" >"$work/seed.txt"

BUILDXPERT_LIMITS__BOOKINGS_PER_USER_PER_HOUR=0 BUILDXPERT_LIMITS__API_PER_USER_PER_MINUTE=0 \
    BUILDXPERT_LIMITS__LOGIN_PER_IP_PER_MINUTE=0 BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP=0 \
    BUILDXPERT_EVENTS__MAX_WAITERS_PER_USER=100000 BUILDXPERT_EVENTS__MAX_WAITERS=100000 \
    BUILDXPERT_PAYMENTS__SANDBOX__SECRET="$secret" BUILDXPERT_LOG__LEVEL=warn \
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" >"$work/server.log" 2>"$work/server.err" &
pid=$!
for _ in $(seq 1 400); do grep -q "listening on" "$work/server.log" 2>/dev/null && break; sleep 0.05; done
url="$(head -n1 "$work/server.log" | sed 's/^buildxpert listening on //')"
[ -n "$url" ] || { echo "suite.sh: the server did not start:" >&2; tail -n 20 "$work/server.err" >&2; exit 1; }

# Peak RSS and threads over the whole run.
(
    rss=0 thr=0
    while [ -r "/proc/$pid/status" ]; do
        r="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
        t="$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
        [ "${r:-0}" -gt "$rss" ] && rss="$r"
        [ "${t:-0}" -gt "$thr" ] && thr="$t"
        echo "$rss $thr" >"$work/peak"
        sleep 0.2
    done
) &
sampler=$!
idle_rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
idle_threads="$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")"

tomorrow="$(TZ=Asia/Kolkata date -d tomorrow +%F)"
customer='{"phone":"+916000000000","password":"bench-pass-123","role":"customer"}'
customer2='{"phone":"+916000000001","password":"bench-pass-123","role":"customer"}'
idle='{"phone":"+916000000002","password":"bench-pass-123","role":"customer"}'
provider='{"phone":"+917000000000","password":"bench-pass-123","role":"provider"}'
booking="{\"listingId\":\"bl_{seq}\",\"subServiceIds\":[\"sub_plumber_tap-installation\"],\"date\":\"$tomorrow\",\"time\":\"10:00\",\"address\":\"12 Park Street\"}"
webhook='{"id":"bench_evt_{seq}","type":"payment.succeeded","paymentId":"pay_bench_{seq}","amount":9900,"currency":"INR"}'
as_customer=(--setup-post /api/v1/auth/login --setup-body "$customer" --token-field accessToken)
as_customer2=(--setup-post /api/v1/auth/login --setup-body "$customer2" --token-field accessToken)
as_idle=(--setup-post /api/v1/auth/login --setup-body "$idle" --token-field accessToken)
as_provider=(--setup-post /api/v1/auth/login --setup-body "$provider" --token-field accessToken)
common=(--url "$url" --pid "$pid" --duration "$seconds" --warmup 1)

# tag LABEL: prefixes each line of stdin with "LABEL<TAB>" (leading blanks dropped).
tag() { awk -v l="$1" '{ sub(/^ +/, ""); print l "\t" $0 }'; }
# run LABEL ARGS...: one bench invocation; its rows go to $work/rows as "LABEL<TAB>row".
run() {
    local label="$1"; shift
    "$bench" "${common[@]}" "$@" >"$work/one.txt" 2>&1 || { cat "$work/one.txt" >&2; return 1; }
    grep '^route=' "$work/one.txt" | tag "$label" >>"$work/rows"
    grep -E '^ +statuses:' "$work/one.txt" | tag "$label" >>"$work/errors" || true
}
: >"$work/rows"
: >"$work/errors"
run "GET /healthz (ceiling)" --route /healthz --concurrency 16,64
run "GET /me (PK read)" --route /api/v1/me "${as_customer[@]}" --concurrency 16,64
run "GET /listings/{id} (PK read)" --route /api/v1/listings/lst_00000001 --concurrency 16,64
run "GET /bookings" --route /api/v1/bookings "${as_customer2[@]}" --concurrency 16,64
run "GET /listings" --route /api/v1/listings --concurrency 16,64
run "GET /listings?category=&city=" --route "/api/v1/listings?category=plumber&city=pune" --concurrency 16,64
run "GET /notifications" --route /api/v1/notifications "${as_customer[@]}" --concurrency 16,64
run "POST /bookings" --method POST --route /api/v1/bookings --body "$booking" "${as_customer2[@]}" --concurrency 16,64

# The mix: parts in parallel; connections per part for a total of 16 (x4 for 64). `{seq}` ranges
# are disjoint from the POST /bookings run's (which used fewer than $((budget / 2))).
mix() {
    local k="$1" total=$((16 * $1)) start=$(( $1 == 1 ? budget / 2 : budget * 3 / 4 ))
    local pids=() i=0
    part() {
        local label="$1" c="$2"; shift 2
        "$bench" "${common[@]}" --warmup 0 --concurrency "$c" "$@" >"$work/mix.$i.txt" 2>&1 &
        pids+=($!)
        echo "$label" >"$work/mix.$i.label"
        i=$((i + 1))
    }
    part "mix c$total: long-polls held (GET /events?wait=$seconds)" "$longpolls" \
        --route "/api/v1/events?after={cursor}&wait=$seconds" --timeout $((seconds + 30)) "${as_idle[@]}"
    part "mix c$total: search GET /listings?q=" $((3 * k)) --route "/api/v1/listings?q=plumber"
    part "mix c$total: GET /listings/{id}" $((3 * k)) --route /api/v1/listings/lst_00000002
    part "mix c$total: GET /bookings" $((2 * k)) --route /api/v1/bookings "${as_customer2[@]}"
    part "mix c$total: GET /notifications" $((2 * k)) --route /api/v1/notifications "${as_customer[@]}"
    part "mix c$total: POST /auth/login" $((1 * k)) --method POST --route /api/v1/auth/login --body "$customer"
    part "mix c$total: POST /bookings" $((2 * k)) --method POST --route /api/v1/bookings --body "$booking" \
        --seq-start "$start" "${as_customer2[@]}"
    part "mix c$total: POST /bookings/{id}/accept" $((1 * k)) --method POST --route "/api/v1/bookings/bt_{seq}/accept" \
        --body '{}' --seq-start $(( $1 == 1 ? 0 : budget / 2 )) "${as_provider[@]}"
    part "mix c$total: POST /webhooks/sandbox" $((2 * k)) --method POST --route /api/v1/webhooks/sandbox \
        --body "$webhook" --sandbox-secret "$secret" --seq-start $(( $1 == 1 ? 0 : webhooks / 2 ))
    local rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    for f in "$work"/mix.*.label; do
        local j="${f%.label}"
        label="$(cat "$f")"
        grep '^route=' "$j.txt" | tag "$label" >>"$work/rows" || { echo "mix part failed: $label" >&2; cat "$j.txt" >&2; rc=1; }
        grep -E '^ +statuses:' "$j.txt" | tag "$label" >>"$work/errors" || true
        rm -f "$f" "$j.txt"
    done
    return $rc
}
mix 1
mix 4

kill "$pid"; wait "$pid" 2>/dev/null || true
pid=""
wait "$sampler" 2>/dev/null || true
read -r peak_rss peak_threads <"$work/peak"

{
    echo "# bench suite date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git -C "$repo_dir" describe --always --dirty 2>/dev/null || echo none) profile=$profile nproc=$(nproc)"
    echo "# $(tail -n +1 "$work/seed.txt" | head -n1)"
    echo "# size=$n seconds=$seconds longpolls=$longpolls; ratio = req/s / (GET /healthz req/s at the same c)"
    awk -F'\t' '
        function field(row, name,   a, i, n) {
            n = split(row, a, /[ ]+/)
            for (i = 1; i <= n; i++) if (index(a[i], name "=") == 1) return substr(a[i], length(name) + 2)
            return "?"
        }
        {
            label[NR] = $1; row[NR] = $2
            c = field($2, "c"); if ($1 ~ /^mix c/) c = "mix"
            if ($1 ~ /healthz/) ceil[field($2, "c")] = field($2, "req/s")
        }
        END {
            printf "%-52s %5s %9s %7s %9s %9s %7s\n", "route", "c", "req/s", "ratio", "p50", "p99", "errors"
            for (i = 1; i <= NR; i++) {
                c = field(row[i], "c"); rps = field(row[i], "req/s")
                base = ceil[c]
                if (label[i] ~ /^mix c/) base = ceil[substr(label[i], 6, index(label[i], ":") - 6) + 0]
                ratio = (base > 0 && label[i] !~ /long-polls/) ? sprintf("%.1f%%", 100 * rps / base) : "-"
                printf "%-52s %5s %9s %7s %9s %9s %7s\n", label[i], c, rps, ratio, field(row[i], "p50"), field(row[i], "p99"), field(row[i], "errors")
            }
        }' "$work/rows"
    awk -F'\t' '/^mix c/ { split($2, a, /[ ]+/); for (i in a) if (a[i] ~ /^req\/s=/) { sub(/^mix c/, "", $1); sub(/:.*/, "", $1); s[$1] += substr(a[i], 7) } }
        END { for (c in s) printf "# mix c%s total (long-polls included): %d req/s\n", c, s[c] }' "$work/rows" | sort
    echo "# server: idle rss=$((idle_rss / 1024))MiB threads=$idle_threads; peak over the run rss=$((peak_rss / 1024))MiB threads=$peak_threads"
    if [ -s "$work/errors" ]; then
        echo "# errors by status:"
        sed 's/^/#   /' "$work/errors"
    fi
} | tee "$out"
