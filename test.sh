#!/usr/bin/env bash
# Runs every test: the appliance's unit and integration tests, and the bench harness's own tests.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --all-targets "$@"
cargo test --manifest-path bench/Cargo.toml
