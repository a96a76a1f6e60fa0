"""Shared fixtures: one simulator for the session, an isolated DuckDB folder and dlt home per test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from restsync_dagster_tests.support.paths import CONFIGS, PROJECT_ROOT, SEEDS  # noqa: F401 - the tests import them from here
from restsync_dagster_tests.support.postgres_server import postgres_dsn, postgres_server  # noqa: F401 - fixtures

if TYPE_CHECKING:
    from restsync_dagster.simulator import Simulator

API_NAMES = ("shared_inbox", "service_desk", "directory", "messaging", "ticket_desk")


@pytest.fixture(scope="session")
def simulator() -> Iterator["Simulator"]:
    from restsync_dagster.simulator import Simulator

    sim = Simulator(port=0, login_port=0)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private DuckDB folder and dlt data dir, and a cwd without a .dlt folder."""
    monkeypatch.setenv("RESTSYNC_DUCKDB_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sim_env(simulator: "Simulator", workdir: Path, monkeypatch: pytest.MonkeyPatch) -> "Simulator":
    """Point every shipped config at the simulator the dlt way: SOURCES__<API>__... variables."""
    for key, value in simulator.env().items():
        monkeypatch.setenv(key, value)
    simulator.clear_faults()
    simulator.clear_request_log()
    return simulator
