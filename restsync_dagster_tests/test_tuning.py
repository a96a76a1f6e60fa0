"""The collector skips the pre-existing heap during a load, and gets it back after, even after a failure."""

from __future__ import annotations

import gc

import pytest

from restsync_dagster.tuning import frozen_heap


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
