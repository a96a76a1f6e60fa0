#!/usr/bin/env bash
# The whole test suite: install the project with its test extras, a PostgreSQL server for the
# Postgres tests (Debian package), then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if [ -f scripts/install_postgres.sh ]; then
  bash scripts/install_postgres.sh
fi
exec .venv/bin/python -m pytest "$@"
