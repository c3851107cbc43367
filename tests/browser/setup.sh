#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium (when /usr/bin/chromium is missing) and
# playwright-core from npm (package-lock.json). Idempotent and quick once installed.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian chromium"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
  echo "== installing playwright-core (npm ci)"
  npm ci --no-audit --no-fund --silent
fi
