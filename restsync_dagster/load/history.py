"""Loading history in windows: pipelines of their own that merge into the API's dataset, side by side.

Interface (used by the backfill assets and `restsync backfill`):

    from restsync_dagster.load.history import window_pipeline, load_lock

    with window_pipeline("service_desk", "2023-01") as pipeline:   # restsync_service_desk__2023_01
        pipeline.extract(source)                                   # in parallel with other windows
        pipeline.normalize()
        with load_lock("service_desk"):                            # one load per dataset at a time
            pipeline.load()
    # on success: the window's staging dataset is dropped and its working folder removed

`window_pipeline(api_name, suffix)` yields a dlt pipeline named `restsync_<api>__<suffix>` (the suffix
sanitized to [a-z0-9_], shortened with a hash past 40 characters) on the API's destination and
dataset `<api>`: the same tables as the live pipeline `restsync_<api>`, whose state row in
`_dlt_pipeline_state` it never writes (dlt keys state by pipeline name). Each window has its OWN
staging dataset (dlt's `staging_dataset_name_layout`, `<api>_staging_<suffix>`; one underscore, as
dlt's normalization would leave it): merges stage their rows there before the DELETE/INSERT, and concurrent pipelines
sharing one staging dataset truncate and read each other's staging tables (dlt-hub/dlt#4297;
restsync_dagster_tests/load/test_history.py shows the losses). Loads are atomic as the live
pipeline's (ATOMIC_LOADS). The working folder is held alone by a lock file (a window run twice at
once waits) and starts empty (a window killed earlier is extracted again; merging makes the repeat
harmless); after a successful body the staging dataset is dropped and the folder removed. On DuckDB
the whole window holds the API's `pipeline_lock` (one writer per DuckDB file): windows queue behind
live runs and each other.

`load_lock(api_name)`: on Postgres a session-level advisory lock (`pg_advisory_lock`, key derived
from the dataset name) on a connection of its own, held around `pipeline.load()` only. Two
delete-insert merges of the same primary key under READ COMMITTED do not see each other's insert
and can leave two rows; taking turns to load keeps extraction and normalization parallel. A no-op on
DuckDB (the file lock already serializes) and on other destinations.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import dlt
from dlt.common.configuration import inject_section
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.destination import Destination
from dlt.common.pipeline import get_dlt_pipelines_dir

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.load.destination import (
    ATOMIC_LOADS,
    DESTINATION_ENV,
    destination_kind,
    duckdb_path,
    pipeline_lock,
    pipeline_name,
    postgres_dsn,
)

MAX_SUFFIX = 40  # `<api>_staging_<suffix>` stays within Postgres' 63-character identifiers for API names up to 14


def window_suffix(suffix: str) -> str:
    """The suffix as dlt and Postgres identifiers take it: lower case [a-z0-9_], no leading digit issue, bounded."""
    clean = re.sub(r"[^a-z0-9]+", "_", suffix.lower()).strip("_")
    if not clean:
        raise RestsyncError(f"window suffix {suffix!r} has no letter or digit")
    if len(clean) > MAX_SUFFIX:
        digest = hashlib.sha1(suffix.encode("utf-8")).hexdigest()[:8]
        clean = f"{clean[: MAX_SUFFIX - 9]}_{digest}"
    return clean


def window_pipeline_name(api_name: str, suffix: str) -> str:
    return f"{pipeline_name(api_name)}__{window_suffix(suffix)}"


def staging_layout(suffix: str) -> str:
    """dlt's staging_dataset_name_layout for one window: `%s` is the dataset (`<api>`)."""
    return f"%s_staging_{window_suffix(suffix)}"  # one underscore: dlt would normalize "__" away, warning each time


def window_destination(api_name: str, suffix: str, credentials: Any = None) -> Destination:
    """The API's destination (as destination_for builds it) with the window's own staging dataset."""
    kind = destination_kind()
    layout = staging_layout(suffix)
    if kind == "duckdb":
        path = duckdb_path(api_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(
            credentials=credentials or str(path),
            preferred_loader_file_format="parquet",
            supports_transactions=ATOMIC_LOADS,
            staging_dataset_name_layout=layout,
        )
    if kind == "postgres":
        return dlt.destinations.postgres(credentials=credentials, supports_transactions=ATOMIC_LOADS, staging_dataset_name_layout=layout)
    try:
        return Destination.from_reference(kind, credentials=credentials, staging_dataset_name_layout=layout)
    except Exception as exc:  # dlt raises several types for an unknown reference
        raise RestsyncError(f"{DESTINATION_ENV}={kind!r} is not a dlt destination ({type(exc).__name__})") from None


@contextmanager
def _folder_lock(name: str) -> Iterator[None]:
    folder = Path(get_dlt_pipelines_dir())
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f".{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, even if the process dies
        yield


@contextmanager
def window_pipeline(api_name: str, suffix: str) -> Iterator[dlt.Pipeline]:
    """A pipeline for one window of an API's history; see the module docstring."""
    name = window_pipeline_name(api_name, suffix)
    duckdb = destination_kind() == "duckdb"
    with (pipeline_lock(api_name) if duckdb else _nothing()), _folder_lock(name):
        working = Path(get_dlt_pipelines_dir()) / name
        shutil.rmtree(working, ignore_errors=True)  # a window killed before: extracted again, whole
        if duckdb:
            # as run_pipeline: credentials resolved once, one connection shared by the run's clients
            with inject_section(ConfigSectionContext(pipeline_name=name)):
                credentials = window_destination(api_name, suffix).configuration(None, accept_partial=True).credentials
            destination = window_destination(api_name, suffix, credentials)
        else:
            destination = window_destination(api_name, suffix)
        pipeline = dlt.pipeline(pipeline_name=name, destination=destination, dataset_name=api_name)
        if duckdb:
            with pipeline.sql_client():
                yield pipeline
                drop_staging(pipeline)
        else:
            yield pipeline
            drop_staging(pipeline)
        shutil.rmtree(pipeline.working_dir, ignore_errors=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def drop_staging(pipeline: dlt.Pipeline) -> None:
    """Drop the pipeline's staging dataset, if it made one (a merge or replace through staging)."""
    if not pipeline.default_schema_name:
        return  # nothing was ever extracted: no schema, no staging
    with pipeline.sql_client() as client, client.with_staging_dataset():
        if client.has_dataset():
            client.drop_dataset()


def advisory_key(dataset_name: str) -> int:
    """A signed 64-bit key for pg_advisory_lock, the same in every process for one dataset."""
    digest = hashlib.sha256(f"restsync load {dataset_name}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def load_lock(api_name: str, dataset_name: Optional[str] = None) -> Iterator[None]:
    """Hold the dataset's load turn on Postgres (session advisory lock); a no-op elsewhere."""
    if destination_kind() != "postgres":
        yield
        return
    import psycopg2  # dlt[postgres]'s driver

    connection = psycopg2.connect(postgres_dsn(api_name))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (advisory_key(dataset_name or api_name),))
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(dataset_name or api_name),))
    finally:
        connection.close()  # ends the session, which releases the lock even if the unlock failed
