"""dlt and DuckDB settings restsync runs with, unless the user has set them.

Measured with `benchmarks/memory.py` (service_desk tickets of ~1 KB into DuckDB): with dlt's
defaults the loading process peaked at 570 MB for 100k records and 1.5 GB for 1M (DuckDB may take
80% of RAM; one huge load file per table). With these, ~420 MB whatever the size:

- DuckDB gets a memory limit (it spills to disk beyond it), one thread and no insertion-order
  bookkeeping;
- dlt rotates its intermediate files every 50k rows, so normalize and load handle bounded chunks,
  two load jobs at a time;
- dlt's intermediate files are not gzipped: they are local and short-lived, and compressing them
  cost ~15% of the extract step (benchmarks/overhead.py).

dlt's extract loop naps 1 ms, not its default 10, when no resource has an item ready. With
restsync's resources (plain generators, no futures) that happens only after the last item, where
it naps before it notices it is done: twice per run, 20 ms of every run however small. Measured
at 20-40 ms of a 0.4 s incremental run (benchmarks/incremental.py).

Each value is a dlt config key, so dlt's env vars (e.g. `LOAD__WORKERS=8`,
`DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG='{"memory_limit": "1GB"}'`) or
`.dlt/config.toml` override it; only keys the user has not set are filled in.

`frozen_heap` is the one setting of Python's own: the collector's full passes skip the objects
that predate a load.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import dlt

DLT_DEFAULTS: dict[str, Any] = {
    "destination.duckdb.credentials.global_config": {"memory_limit": "128MB", "threads": 1, "preserve_insertion_order": False},
    "data_writer.file_max_items": 50_000,
    "data_writer.disable_compression": True,
    "load.workers": 2,
    "extract.futures_poll_interval": 0.001,
    # a replace loads into the staging dataset, then empties and refills the table in one
    # transaction: dlt's default (truncate-and-insert) empties the table when the load starts, so
    # a reader (or a run killed half-way) saw it empty until the new rows were in
    "destination.replace_strategy": "insert-from-staging",
}


def apply_dlt_defaults() -> None:
    """Fill in every default the user has not configured (cheap: called for every pipeline)."""
    for key, value in DLT_DEFAULTS.items():
        if dlt.config.get(key) is None:
            dlt.config[key] = value


_freeze_lock = threading.Lock()
_freezes = 0  # loads of this process inside frozen_heap now


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects that existed before a load out of the garbage collector's full passes.

    A run's process holds ~300k long-lived objects (Dagster, dlt, pydantic, the code location)
    before it loads anything; each full collection walks them all, ~0.2 s a time. Measured on
    a full load of 100k tickets: 5 full collections, 0.9 s of 12.7 s; an incremental run of 0.5 s
    sometimes took one (0.2 s more). `gc.freeze` sets those objects aside for the load (the
    collector still frees everything the load creates); `gc.unfreeze` hands them back after it,
    so a process that runs many loads (tests, in-process `materialize`) keeps nothing for good.
    Loads that overlap in threads of one process freeze once and unfreeze when the last one ends;
    a freeze the host process made itself is left alone.
    """
    global _freezes
    with _freeze_lock:
        ours = _freezes > 0 or gc.get_freeze_count() == 0
        if ours:
            if _freezes == 0:
                gc.freeze()
            _freezes += 1
    try:
        yield
    finally:
        if ours:
            with _freeze_lock:
                _freezes -= 1
                if _freezes == 0:
                    gc.unfreeze()
