#!/usr/bin/env bash
# A PostgreSQL server for the tests (restsync_dagster_tests/postgres_server.py runs `initdb` + `pg_ctl`
# in a temp dir on a free port). Debian keeps the server binaries in /usr/lib/postgresql/<v>/bin,
# off PATH; the fixture looks there. Idempotent: installs nothing when the binaries are present.
set -euo pipefail

have_server() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_server; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_postgres.sh: initdb not found and not root; install Debian's 'postgresql' package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# the package's postinst creates the `postgres` OS user the fixture runs the server as (initdb refuses root)
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have_server || { echo "install_postgres.sh: postgresql installed but initdb not found" >&2; exit 1; }
