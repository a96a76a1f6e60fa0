"""The client-side request budget: a concurrent child crawl of a rate-limited API draws no 429."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.http.ratelimit import RequestBudget, budget_for
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows

RATE = 10.0  # requests per second the simulator allows (its bucket holds RATE requests)
TICKETS = 40


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator of its own that answers 429 + Retry-After beyond RATE requests per second."""
    monkeypatch.chdir(tmp_path)
    with Simulator(port=0, login_port=0, rate_limit_per_second=RATE, counts={"service_desk.tickets": TICKETS}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        yield sim


def _variant(child_concurrency: int, rate_limit: float | None) -> ApiConfig:
    api = shipped("service_desk")
    return api.model_copy(
        update={"child_concurrency": child_concurrency, "client": api.client.model_copy(update={"rate_limit": rate_limit})}
    )


def _crawl(sim: Simulator, folder: Path, monkeypatch: pytest.MonkeyPatch, api: ApiConfig) -> tuple[list[tuple], list[int]]:
    """Tickets and their conversations into a fresh DuckDB folder; the rows and the statuses served."""
    monkeypatch.setenv("RESTSYNC_DUCKDB_DIR", str(folder / "data"))
    monkeypatch.setenv("DLT_DATA_DIR", str(folder / "dlt"))
    time.sleep(1.1)  # let the simulator's bucket refill after the previous crawl
    sim.clear_request_log()
    result = run_assets(api, ["tickets", "conversations"], raise_on_error=False)
    statuses = [entry["status"] for entry in sim.request_log]
    rows = sorted(table_rows("service_desk", "conversations", "id, _tickets_id, body")) if result.success else []
    return rows, statuses


def test_concurrent_children_within_budget_draw_no_429_and_match_sequential(
    limited: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequential, sequential_statuses = _crawl(limited, tmp_path / "seq", monkeypatch, _variant(1, RATE))
    concurrent, concurrent_statuses = _crawl(limited, tmp_path / "par", monkeypatch, _variant(8, RATE))

    assert 429 not in sequential_statuses and 429 not in concurrent_statuses
    assert len(concurrent_statuses) >= TICKETS + 1  # every ticket's conversations were requested
    assert concurrent and concurrent == sequential
    children = {row[1] for row in concurrent}
    assert len(children) > TICKETS // 2  # rows come from many parents, not a few


def test_without_budget_the_same_concurrent_crawl_is_answered_429(
    limited: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contrast that shows the budget is what keeps the crawl clean."""
    _, statuses = _crawl(limited, tmp_path / "storm", monkeypatch, _variant(8, None))
    assert 429 in statuses


def test_budget_spaces_requests_from_many_threads() -> None:
    """20 threads asking at the same instant get slots 1/rate apart (a frozen clock, no sleeping)."""
    budget = RequestBudget(rate=50.0, clock=lambda: 100.0, sleep=lambda seconds: None)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = budget.acquire()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.02, 6) for i in range(20)]


def test_one_budget_per_api() -> None:
    assert budget_for("bench_api", None) is None
    first = budget_for("bench_api", 5.0)
    assert first is budget_for("bench_api", 5.0)
    assert budget_for("other_api", 5.0) is not first
    assert budget_for("bench_api", 7.0) is not first
