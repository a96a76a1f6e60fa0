"""Small helpers the end-to-end tests share: materialize an API, read rows back from DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import duckdb
from dagster import AssetKey, materialize
from dagster._core.execution.execution_result import ExecutionResult
from dagster_dlt import DagsterDltResource

from restsync_dagster.config.loading import load_api_config
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.load.destination import duckdb_path
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster_tests.conftest import CONFIGS


def shipped(api_name: str) -> ApiConfig:
    return load_api_config(CONFIGS / f"{api_name}.yaml")


def run_assets(api: ApiConfig, resources: Optional[Iterable[str]] = None, raise_on_error: bool = True) -> ExecutionResult:
    """Materialize all of an API's assets, or only the named resources, in process."""
    assets = build_api_assets(api)
    selection = [AssetKey([api.name, name]) for name in resources] if resources is not None else None
    return materialize([assets], resources={"dlt": DagsterDltResource()}, selection=selection, raise_on_error=raise_on_error)


def table_rows(api_name: str, table: str, columns: str = "*") -> list[tuple]:
    path: Path = duckdb_path(api_name)
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f'SELECT {columns} FROM "{api_name}"."{table}"').fetchall()


def table_exists(api_name: str, table: str) -> bool:
    path: Path = duckdb_path(api_name)
    if not path.exists():
        return False
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [api_name, table]
        ).fetchone()
    return bool(found and found[0])
