"""The concurrency pool of each API: one writer at a time per dlt pipeline and DuckDB file.

The shipped instance config gives every pool a default limit of 1 (`instance/dagster.yaml`).
Dagster allocates a pool's slots the first time a step asks for it; on SQLite storage two
processes doing that at once can both allocate the default slot, and then both run (seen in
test_pools: two `restsync run` of one API wrote the same pipeline folder at once). So a process
that is about to run, or to start `dagster dev`, allocates the slots first, under a file lock.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Iterable

from dagster import DagsterInstance


def pool_of(api_name: str) -> str:
    return f"restsync/{api_name}"


def ensure_pool_slots(instance: DagsterInstance, api_names: Iterable[str]) -> None:
    """Allocate the default slots of each API's pool once, one process at a time."""
    if instance.global_op_concurrency_default_limit is None or instance.is_ephemeral:
        return
    storage = instance.event_log_storage
    lock_path = Path(instance.root_directory) / ".restsync-pools.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = storage.get_concurrency_keys()  # a pool set by hand (even to 0: paused) is left alone
        for pool in {pool_of(name) for name in api_names} - known:
            storage.initialize_concurrency_limit_to_default(pool)
