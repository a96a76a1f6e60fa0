"""The client-side request budget: a concurrent child crawl of a rate-limited API draws no 429."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.http.ratelimit import MachineSlots, RequestBudget, budget_for
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.budget_senders import send_from_processes
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


def _variant(child_concurrency: int, rate_limit: Optional[float]) -> ApiConfig:
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


# --- one budget for every process of an API ---------------------------------------------------

def test_processes_sharing_the_machine_book_stay_under_the_limit_together(limited: Simulator, tmp_path: Path) -> None:
    """Four processes (the windows of a backfill, each its own run) share one budget: no 429; with a
    budget each, the same four overrun the limit four times over and are answered 429."""
    shared = send_from_processes(limited, RATE, str(tmp_path / "dlt"))
    alone = send_from_processes(limited, RATE, "process")

    assert len(shared) == len(alone) == 48
    assert 429 not in shared
    assert alone.count(429) >= 10
    assert (tmp_path / "dlt" / ".restsync-service_desk.budget").stat().st_size == 8


def test_machine_book_distrusts_a_slot_implausibly_far_ahead(tmp_path: Path) -> None:
    """A book written by a clock that jumped back (or by anything else) must not stall the API's runs."""
    path = tmp_path / "book"
    path.write_bytes(struct.pack("<d", time.time() + 86400.0))  # a day ahead
    assert MachineSlots(path).reserve(0.1) < 1.0
    path.write_bytes(b"\xff" * 8)  # NaN
    assert MachineSlots(path).reserve(0.1) < 1.0
    path.write_bytes(b"junk")  # short
    assert MachineSlots(path).reserve(0.1) < 1.0


def test_machine_book_spaces_slots_across_books_of_one_file(tmp_path: Path) -> None:
    """Two books of one file (as two processes hold) hand out slots 1/rate apart, not each from now."""
    clock = lambda: 1000.0
    first, second = MachineSlots(tmp_path / "book", clock), MachineSlots(tmp_path / "book", clock)
    waits = [book.reserve(0.25) for book in (first, second, first, second)]
    assert waits == [0.0, 0.25, 0.5, 0.75]
