"""The request budget in the destination database: runs on several machines share one limit."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from restsync_dagster.load.request_budget import TABLE, PostgresSlots, shared_budget
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.budget_senders import send_from_processes
from restsync_dagster_tests.support.postgres_server import pg_query

RATE = 10.0


@pytest.fixture
def limited() -> Iterator[Simulator]:
    with Simulator(port=0, login_port=0, rate_limit_per_second=RATE) as sim:
        yield sim


def test_processes_loading_into_one_postgres_share_its_budget(limited: Simulator, postgres_dsn: str, tmp_path: Path) -> None:
    """Four processes with dlt folders of their own (four machines, as far as files go) and one
    destination database pace their requests together: no 429, one row for the API in the book."""
    env = {"RESTSYNC_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": postgres_dsn}
    statuses = send_from_processes(limited, RATE, "destination", env=env, env_each=lambda index: {"DLT_DATA_DIR": str(tmp_path / f"own{index}")})
    assert len(statuses) == 48
    assert 429 not in statuses
    assert pg_query(postgres_dsn, f"SELECT api FROM {TABLE}") == [("service_desk",)]


def test_postgres_book_hands_out_slots_in_turn_across_connections(postgres_dsn: str) -> None:
    """Two books (two runs' connections) on one row: each slot at least 1/rate after the one before."""
    first, second = PostgresSlots(postgres_dsn, "pg_book"), PostgresSlots(postgres_dsn, "pg_book")
    try:
        waits = [book.reserve(0.5) for book in (first, second, first, second)]
    finally:
        first.close()
        second.close()
    assert waits[0] == pytest.approx(0.0, abs=0.05)
    for before, after in zip(waits, waits[1:]):
        assert after - before == pytest.approx(0.5, abs=0.05)


def test_an_unreachable_database_paces_the_process_alone_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """A budget is never why a load fails, and its warning names neither the host's password nor the DSN."""
    secret = "budget-pw-7f3a"
    book = PostgresSlots(f"postgresql://loader:{secret}@127.0.0.1:1/warehouse", "service_desk")
    with caplog.at_level("WARNING", logger="restsync"):
        waits = [book.reserve(0.2), book.reserve(0.2)]
    assert waits[0] == pytest.approx(0.0, abs=0.05) and waits[1] == pytest.approx(0.2, abs=0.05)
    assert "unreachable" in caplog.text and secret not in caplog.text and "127.0.0.1:1" not in caplog.text


def test_without_a_rate_limit_there_is_no_budget(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTSYNC_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_dsn)
    assert shared_budget("service_desk", None) is None
    assert isinstance(shared_budget("service_desk", 5.0).book, PostgresSlots)  # type: ignore[union-attr]
