"""The collector skips the pre-existing heap during a load, and gets it back after, even after a failure."""

from __future__ import annotations

import gc
import threading

import pytest

from restsync_dagster.load.tuning import frozen_heap
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.helpers import run_assets, shipped


def test_the_heap_is_set_aside_during_a_load_and_handed_back_after() -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 10_000  # the imported modules' objects, at least
    assert gc.get_freeze_count() == 0


def test_a_failed_load_hands_the_heap_back_too() -> None:
    with pytest.raises(RuntimeError):
        with frozen_heap():
            raise RuntimeError("the load failed")
    assert gc.get_freeze_count() == 0


def test_overlapping_loads_keep_it_frozen_until_the_last_one_ends() -> None:
    first_in, second_done = threading.Event(), threading.Event()
    frozen_while_second_ran: list[int] = []

    def first() -> None:
        with frozen_heap():
            first_in.set()
            second_done.wait(10)
            frozen_while_second_ran.append(gc.get_freeze_count())

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with frozen_heap():
        pass
    second_done.set()
    thread.join(10)
    assert frozen_while_second_ran[0] > 10_000  # the second load's end did not thaw the first's
    assert gc.get_freeze_count() == 0


def test_a_freeze_of_the_host_process_is_left_alone() -> None:
    gc.freeze()
    try:
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 10_000  # still frozen: not ours to thaw
    finally:
        gc.unfreeze()


def test_a_run_loads_with_the_heap_frozen(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    freezes: list[int] = []
    real_freeze = gc.freeze

    def counted_freeze() -> None:
        freezes.append(1)
        real_freeze()

    monkeypatch.setattr(gc, "freeze", counted_freeze)
    assert run_assets(shipped("ticket_desk"), ["organizations"]).success
    assert freezes == [1]
    assert gc.get_freeze_count() == 0


def test_extraction_does_not_nap_10_ms_at_its_end(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's extract loop naps `extract.futures_poll_interval` before it notices the last source is
    done; restsync sets 1 ms (dlt's default 10 ms is a fixed cost of every small incremental run)."""
    import dlt.extract.concurrency

    naps: list[float] = []
    real_sleep = dlt.extract.concurrency.sleep

    def recorded_sleep(seconds: float) -> None:
        naps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(dlt.extract.concurrency, "sleep", recorded_sleep)
    assert run_assets(shipped("service_desk"), ["tickets"]).success
    assert naps, "the extract loop no longer naps at its end: this test checks nothing"
    assert max(naps) == 0.001
