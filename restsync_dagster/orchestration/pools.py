"""The concurrency pool of each API: one writer at a time per dlt pipeline and DuckDB file.

The shipped instance config gives every pool a default limit of 1 (`instance/dagster.yaml`).
Dagster allocates a pool's slots the first time a step asks for it; on SQLite storage two
processes doing that at once can both allocate the default slot, and then both run (seen in
test_pools: two `restsync run` of one API wrote the same pipeline folder at once). So a process
that is about to run, or to start `dagster dev`, allocates the slots first, under a file lock.

History windows (orchestration/history.py) each write their own dlt pipeline. On DuckDB they still
share the API's file, so they run in the API's pool, queued with its live runs; elsewhere (Postgres)
they run in `restsync/<api>/history`, whose slots are the `backfill.parallelism` of the API's
resources (the largest), so that many windows load at once, each its own run.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Iterable, Mapping, Optional

from dagster import DagsterInstance

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.load.destination import destination_kind


def pool_of(api_name: str) -> str:
    return f"restsync/{api_name}"


def history_pool_of(api_name: str) -> str:
    return f"restsync/{api_name}/history"


def window_pool(api_name: str) -> str:
    """The pool of an API's history windows: its own pool on DuckDB (one writer per file), else the history pool."""
    return pool_of(api_name) if destination_kind() == "duckdb" else history_pool_of(api_name)


def history_slots(apis: Iterable[ApiConfig]) -> dict[str, int]:
    """The history pool of each API with a backfilled resource, and its slots (its largest parallelism)."""
    slots: dict[str, int] = {}
    for api in apis:
        wanted = [r.backfill.parallelism for r in api.resources if r.backfill is not None]
        if wanted:
            slots[history_pool_of(api.name)] = max(wanted)
    return slots


def ensure_pool_slots(instance: DagsterInstance, api_names: Iterable[str], history: Optional[Mapping[str, int]] = None) -> None:
    """Allocate the default slots of each API's pool once, one process at a time; and the slots of
    the history pools in `history` (history_slots: pool -> backfill.parallelism), also once."""
    if instance.is_ephemeral:
        return
    if history:
        _set_history_slots(instance, history)
    if instance.global_op_concurrency_default_limit is None:
        return
    storage = instance.event_log_storage
    lock_path = Path(instance.root_directory) / ".restsync-pools.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = storage.get_concurrency_keys()  # a pool set by hand (even to 0: paused) is left alone
        for pool in {pool_of(name) for name in api_names} - known:
            storage.initialize_concurrency_limit_to_default(pool)


def _set_history_slots(instance: DagsterInstance, history: Mapping[str, int]) -> None:
    storage = instance.event_log_storage
    lock_path = Path(instance.root_directory) / ".restsync-pools.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = storage.get_concurrency_keys()  # a limit set by hand is left alone
        for pool, slots in history.items():
            if pool not in known:
                storage.set_concurrency_slots(pool, slots)
