#!/usr/bin/env bash
# Runs every test: the appliance's unit and integration tests, and the bench harness's own tests.
# (Bench targets are load generators, not tests: clippy builds them; bench/*.sh runs them.)
set -euo pipefail
cd "$(dirname "$0")"
# The browser tests (tests/browser/*.mjs) need Chromium and playwright-core: installed once here.
tests/browser/setup.sh
cargo test --lib --bins --tests "$@"
cargo test --manifest-path bench/Cargo.toml
