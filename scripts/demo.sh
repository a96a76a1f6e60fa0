#!/usr/bin/env bash
# The demo: install, then start the simulator of the five APIs and `dagster dev` on DuckDB.
# Open http://127.0.0.1:3000 and "Materialize all"; tables land in data/restsync_<api>.duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/restsync demo "$@"
