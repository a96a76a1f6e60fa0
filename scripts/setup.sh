#!/usr/bin/env bash
# Create .venv (once) and install the project into it; extras as arguments, e.g. `scripts/setup.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
extras="${1:-}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
