"""A real PostgreSQL server for the tests: `initdb` in a temp dir, `pg_ctl` on a free port, gone at the end.

The server binaries come from Debian's `postgresql` package (`scripts/install_postgres.sh`, run by
`scripts/test.sh`). initdb refuses to run as root, so as root the server runs as the `postgres` OS
user (which the package creates) in a temp dir that user owns. It listens on 127.0.0.1 only, with
password auth (scram) over TCP like a real server (dlt requires a password in Postgres credentials).
Without the binaries the tests fail in CI (where they are installed) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import psycopg2
import pytest

from restsync_dagster_tests.support.paths import PROJECT_ROOT

SUPERUSER = "postgres"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",  # several parallel runs, each with a multiprocess executor and dagster storage
    # a throwaway test server: durability buys nothing here and costs seconds
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def find_bindir() -> Optional[Path]:
    """Where initdb and pg_ctl live: PATH first, else Debian's newest /usr/lib/postgresql/<v>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: _version(p.parent.parent.name))
    return versions[-1].parent if versions else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server; `dsn()` for a database on it, `create_database()` for a fresh one."""

    bindir: Path
    root: Path
    port: int = 0
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    password: str = field(default_factory=lambda: f"restsync-{uuid.uuid4().hex[:16]}")
    _watchdog: Optional[subprocess.Popen[bytes]] = field(default=None, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "PostgresServer":
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        _give_to_server_user(pwfile)
        self._run(
            "initdb", "-D", str(self.datadir), "-U", self.user, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
            "--auth-local=trust", "--encoding=UTF8", "--no-locale", "--no-instructions",
        )
        pwfile.unlink()
        for attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            options = " ".join([f"-p {self.port}", f"-k {self.root}"] + [f"-c {k}={v}" for k, v in SERVER_SETTINGS.items()])
            result = self._run(
                "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60", "-o", options, "start", check=False
            )
            if result.returncode == 0:
                self._watchdog = self._start_watchdog()
                return self
        raise RuntimeError(f"pg_ctl could not start PostgreSQL (log: {self.logfile}):\n{self._log_tail()}")

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        if self.datadir.exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _start_watchdog(self) -> subprocess.Popen[bytes]:
        """Stop the server if this process dies without its teardown (killed session, timeout):
        pg_ctl detaches the server, which would otherwise outlive the tests."""
        stop = shlex.join(self._command("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop"))
        script = f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {shlex.quote(str(self.root))}"
        return subprocess.Popen(
            ["sh", "-c", script], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def create_database(self, name: Optional[str] = None) -> str:
        """A new empty database; its DSN."""
        import psycopg2

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        connection = psycopg2.connect(self.dsn())
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.dsn(name)

    # --- helpers -----------------------------------------------------------------------------------
    def _command(self, tool: str, *args: str) -> list[str]:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _unprivileged_user(), "--", *command]
        return command

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self._command(tool, *args), cwd=self.root, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
        return result

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


def _unprivileged_user() -> str:
    """initdb refuses root: the `postgres` user Debian's package creates, else `nobody`."""
    for name in (SUPERUSER, "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, but neither a 'postgres' nor a 'nobody' user exists to run initdb as")


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        owner = pwd.getpwnam(_unprivileged_user())
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _base_dir() -> Optional[str]:
    """The temp dir, unless the server's user could not reach into it (a root-only TMPDIR): then /tmp."""
    base = tempfile.gettempdir()
    if os.geteuid() == 0 and not os.stat(base).st_mode & 0o001:
        return "/tmp"
    return None


def start_server() -> PostgresServer:
    """Start a server in a fresh temp dir (owned by the server's user when we are root)."""
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="restsync-pg-", dir=_base_dir()))
    _give_to_server_user(root)
    server = PostgresServer(bindir=bindir, root=root)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session. Missing binaries fail in CI and skip elsewhere."""
    try:
        server = start_server()
    except FileNotFoundError as exc:
        message = f"{exc}: run `bash scripts/install_postgres.sh` (Debian package `postgresql`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server, for one test."""
    return postgres_server.create_database()


PRODUCTION = PROJECT_ROOT / "restsync_dagster" / "instance" / "production.yaml"  # the shipped Postgres instance


def production_home(home: Path, server: PostgresServer, database_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DAGSTER_HOME holding production.yaml as is, its DAGSTER_PG_* settings pointing at the test server."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PRODUCTION, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_USERNAME", server.user)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", server.password)
    monkeypatch.setenv("DAGSTER_PG_HOST", server.host)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(server.port))
    monkeypatch.setenv("DAGSTER_PG_DB", database_dsn.rsplit("/", 1)[-1])
    return home


def pg_query(dsn: str, sql: str, *args: object) -> list[tuple]:
    """The rows of one query, on a connection of its own (closed, whatever happens)."""
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        connection.close()
