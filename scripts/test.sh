#!/usr/bin/env bash
# The whole test suite: install the project with its test extras, the system packages the tests
# drive for real (a PostgreSQL server, Debian's Chromium: scripts/install_*.sh), then pytest.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
for installer in scripts/install_*.sh; do
  [ -f "$installer" ] && bash "$installer"
done
exec .venv/bin/python -m pytest "$@"
