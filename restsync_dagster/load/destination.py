"""Where the data lands: a DuckDB file per API by default, Postgres (or any dlt destination) by configuration.

One DuckDB file per API (`<RESTSYNC_DUCKDB_DIR>/restsync_<api>.duckdb`, dataset `<api>`) because DuckDB
lets one process write a file at a time: with one file per API, runs of different APIs (parallel
ops of "Materialize all", overlapping schedules) never fight over a lock, and runs of the same API
are kept from overlapping by the API's concurrency pool.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import dlt
from dlt.common.configuration import inject_section
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.destination import Destination
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.versioned_state import json_decode_state
from dlt.pipeline.state_sync import migrate_state_to_current

from restsync_dagster.config.errors import RestsyncError

DESTINATION_ENV = "RESTSYNC_DESTINATION"
DUCKDB_DIR_ENV = "RESTSYNC_DUCKDB_DIR"
DEFAULT_DUCKDB_DIR = "data"


# dlt runs a load's SQL jobs (a merge's DELETE then INSERT, a replace's from staging) in one
# transaction only when the destination says it `supports_transactions`; DuckDB's and Postgres'
# capabilities leave it unset, so dlt ran them in autocommit unless they held DDL (a merge with
# nested tables creates a temp table): a run killed between the DELETE and the INSERT left the
# table without the rows it was replacing, all of them for a resource reloaded whole. Both
# databases run the statements in one transaction (DDL included): a reader sees before or after.
ATOMIC_LOADS = True


def destination_kind() -> str:
    return os.environ.get(DESTINATION_ENV, "duckdb").strip().lower() or "duckdb"


def duckdb_path(api_name: str) -> Path:
    # not `<api>.duckdb`: DuckDB would then see a catalog and a schema of the same name and refuse
    return Path(os.environ.get(DUCKDB_DIR_ENV, DEFAULT_DUCKDB_DIR)).resolve() / f"restsync_{api_name}.duckdb"


def destination_for(api_name: str) -> Destination:
    """The destination of one API; Postgres credentials resolve the dlt way
    (DESTINATION__POSTGRES__CREDENTIALS or [destination.postgres] in .dlt/secrets.toml)."""
    kind = destination_kind()
    if kind == "duckdb":
        path = duckdb_path(api_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return _duckdb(str(path))
    if kind == "postgres":
        return dlt.destinations.postgres(supports_transactions=ATOMIC_LOADS)
    try:
        return Destination.from_reference(kind)
    except Exception as exc:  # dlt raises several types for an unknown reference
        raise RestsyncError(f"{DESTINATION_ENV}={kind!r} is not a dlt destination ({type(exc).__name__})") from None


def postgres_dsn(api_name: str) -> str:
    """The API's Postgres connection string, resolved as dlt resolves it for the API's pipeline.

    It holds the password: it goes to `psycopg2.connect` only, never into a message.
    """
    with inject_section(ConfigSectionContext(pipeline_name=pipeline_name(api_name))):
        credentials = dlt.destinations.postgres().configuration(None, accept_partial=True).credentials
    return str(credentials.to_native_representation())


def _duckdb(credentials: Any) -> Destination:
    # parquet, not dlt's default INSERT VALUES: DuckDB parses huge INSERT statements slowly
    # (measured: 20k tickets loaded in 5-9 s as INSERT VALUES, 0.5-0.9 s as parquet)
    return dlt.destinations.duckdb(credentials=credentials, preferred_loader_file_format="parquet", supports_transactions=ATOMIC_LOADS)


def pipeline_name(api_name: str) -> str:
    return f"restsync_{api_name}"


def make_pipeline(api_name: str, destination: Optional[Destination] = None) -> dlt.Pipeline:
    """A pipeline per API, for a run; its incremental state lives in the destination with the data."""
    return dlt.pipeline(
        pipeline_name=pipeline_name(api_name),
        destination=destination or destination_for(api_name),
        dataset_name=api_name,
    )


@contextmanager
def run_pipeline(api_name: str) -> Iterator[dlt.Pipeline]:
    """The pipeline of one run; on DuckDB all its clients share one connection, closed when it ends.

    Left to itself, dlt opens the DuckDB file again for each client of a run (state sync, package
    start and end, each load job, our row counts: 8 opens and closes) and resolves the credentials
    from every config provider each of the ~40 times it asks for the destination's configuration.
    Measured on an incremental run of 16 pages: 0.11 s of opens, 0.12 s of resolution, in 0.6 s.
    So the credentials are resolved once, in the pipeline's config section as dlt would (global and
    per-pipeline settings both apply), and given to the destination already resolved: every client
    of the run then borrows from their one connection pool, which dlt's DuckDB pool is built for.
    A SQL client held open for the run keeps that connection from being closed and reopened
    between clients. Only runs hold it: one run per API at a time (its pool), never a code location.
    """
    with pipeline_lock(api_name):
        if destination_kind() != "duckdb":
            yield make_pipeline(api_name)
            return
        with inject_section(ConfigSectionContext(pipeline_name=pipeline_name(api_name))):
            credentials = destination_for(api_name).configuration(None, accept_partial=True).credentials
        pipeline = make_pipeline(api_name, _duckdb(credentials))
        try:
            with pipeline.sql_client():
                yield pipeline
        except Exception as exc:
            hint = duckdb_memory_hint(api_name, exc)
            if hint is None:
                raise
            raise DuckDbMemoryError(hint) from exc


@contextmanager
def pipeline_lock(api_name: str) -> Iterator[None]:
    """Hold the API's pipeline folder alone, across processes and threads, for as long as it is used.

    The pool `restsync/<api>` should already make runs take turns, but Dagster allots a pool's slot
    through its run storage, and on SQLite two `restsync run` processes under load have both won the
    one slot: dlt then recreated the shared pipeline folder in both (FileExistsError, test_pools,
    about 1 clean-clone run in 20). A lock file beside the folder makes the second wait instead.
    """
    folder = Path(get_dlt_pipelines_dir())
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f".{pipeline_name(api_name)}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, even if the process dies
        yield


def committed_state(api_name: str) -> Optional[dict[str, Any]]:
    """The pipeline state the last run left in the shared folder, read without creating anything.

    `dlt.pipeline()` (and `dlt.attach`, which falls back to it) wipes and recreates a folder that has
    no state file yet, which would destroy the folder of a first run in progress; so the state file
    is read and migrated the way dlt reads it. None when there is no state yet or it cannot be read.
    """
    state_file = Path(get_dlt_pipelines_dir()) / pipeline_name(api_name) / dlt.Pipeline.STATE_FILE
    try:
        return dict(migrate_state_to_current(pipeline_name(api_name), json_decode_state(state_file.read_text(encoding="utf-8"))))
    except Exception:  # noqa: BLE001 - no state yet, or one being replaced: unknown
        return None


class DuckDbMemoryError(RestsyncError):
    """DuckDB needed more memory than its limit (tuning.py sets 128MB unless configured)."""


MEMORY_SETTING = "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"


def duckdb_memory_hint(api_name: str, exc: BaseException) -> Optional[str]:
    """What to raise, and how, when DuckDB's memory limit stopped a load; None for other errors.

    DuckDB's own message says `SET memory_limit`, which a user of restsync cannot type anywhere;
    a wide table needs the most (measured: 200 rows of 5,000 text columns fail at 128MB and 512MB,
    load at 1GB)."""
    chain: list[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    out_of_memory = next((c for c in chain if type(c).__name__ == "OutOfMemoryException" or "Out of Memory Error" in str(c)[:200]), None)
    if out_of_memory is None:
        return None
    job = next((str(getattr(c, "job_id")) for c in chain if getattr(c, "job_id", None)), "")
    table = f" table '{job.split('.')[0]}'" if job else ""
    used = re.search(r"\(([^)]*) used\)", str(out_of_memory))
    return (
        f"API '{api_name}': DuckDB ran out of its memory limit{f' ({used.group(1)} used)' if used else ''} loading{table}. "
        f"restsync sets memory_limit 128MB (tuning.py); raise it: {MEMORY_SETTING}='{{\"memory_limit\": \"1GB\"}}' "
        f"(all APIs; {pipeline_name(api_name).upper()}__{MEMORY_SETTING} for this one; or in .dlt/config.toml). "
        "5,000 columns need 1GB"
    )


_definition_dir: Optional[Path] = None
_definition_lock = threading.Lock()


def definition_pipeline(api_name: str) -> dlt.Pipeline:
    """The pipeline an API's asset definitions describe (name, destination, dataset); never run.

    `dlt.pipeline()` wipes and recreates a pipeline's working folder when it holds no state file,
    and every run worker and step process loads the definitions of all APIs. With the shared
    folder, two processes creating the same pipeline at once fail with FileExistsError (five runs
    started together did, test_load.py), and so can a run whose dagster-dlt `drop()` recreates its
    folder at that moment. So definitions get a private folder of their process; only runs (one
    per API at a time, by the pool `restsync/<api>`) use the shared one.
    """
    with _definition_lock:  # threads of one process (in-process runs) share the private folder
        return dlt.pipeline(
            pipeline_name=pipeline_name(api_name),
            pipelines_dir=str(_private_pipelines_dir()),
            destination=destination_for(api_name),
            dataset_name=api_name,
        )


DEFINITIONS_PREFIX = "restsync-definitions-"


def _private_pipelines_dir() -> Path:
    """`<tmp>/restsync-definitions-<pid>-*`, removed at exit; also those of processes gone.

    Code servers and run workers are often stopped by a signal, which skips `atexit`; each new
    folder sweeps away the ones whose process no longer runs, so they do not pile up in /tmp.
    """
    global _definition_dir
    if _definition_dir is None:
        _remove_orphaned_definition_dirs()
        _definition_dir = Path(tempfile.mkdtemp(prefix=f"{DEFINITIONS_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, _definition_dir, True)
    return _definition_dir


def _remove_orphaned_definition_dirs() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{DEFINITIONS_PREFIX}*"):
        pid = folder.name[len(DEFINITIONS_PREFIX) :].split("-", 1)[0]
        if pid.isdecimal() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
