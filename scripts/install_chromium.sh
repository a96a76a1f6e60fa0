#!/usr/bin/env bash
# Debian's Chromium for the browser test (restsync_dagster_tests/cli/test_browser.py drives it with
# Playwright for Python through executable_path; Playwright never downloads a browser here).
# Idempotent and non-interactive: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation
