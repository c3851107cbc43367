#!/usr/bin/env bash
# Runs every test: the appliance's unit and integration tests, and the bench harness's own tests.
# (Bench targets are load generators, not tests: clippy builds them; bench/*.sh runs them.)
set -euo pipefail
cd "$(dirname "$0")"
# The browser tests (tests/browser/*.mjs) need Chromium and playwright-core, and some tests and the
# fuzzer need Python packages (tests/requirements.txt): installed here when missing.
tests/browser/setup.sh
if ! python3 -c "import standardwebhooks, stripe, razorpay, paytmchecksum, Crypto, schemathesis" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
cargo test --lib --bins --tests "$@"
cargo test --manifest-path bench/Cargo.toml
# Property-based API fuzzing from the OpenAPI document, every role, a short budget here
# (FUZZ_SECONDS per role; the long run is documented in fuzz/README.md).
python3 fuzz/api_fuzz.py --binary target/debug/buildxpert --seconds "${FUZZ_SECONDS:-15}"
