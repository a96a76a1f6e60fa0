"""What one run did to each table, for the asset's materialization metadata.

dlt's load info says how many rows a resource loaded, not how a merge split them. Counting the
table before and after the load tells new keys (inserted) from keys already there (updated), and
the pipeline state after the load says how far each incremental cursor has moved. Dagster plots
numeric metadata over time, so every figure here is a number or a short text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import dlt
from dagster import MetadataValue

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.extract.delta import stored_delta_link
from restsync_dagster.extract.incremental_state import cursor_of, observed_of


def count_rows(pipeline: dlt.Pipeline, tables: Iterable[str]) -> dict[str, int]:
    """Row count of each table that exists in the pipeline's dataset (missing tables are left out)."""
    counts: dict[str, int] = {}
    try:
        with pipeline.sql_client() as client:
            for table in tables:
                try:
                    rows = client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(table)}")
                except Exception:  # noqa: BLE001 - the table does not exist yet
                    continue
                if rows:
                    counts[table] = int(rows[0][0])
    except Exception:  # noqa: BLE001 - no dataset yet (first run): nothing to count
        return {}
    return counts


def cursor_reached(pipeline_state: Mapping[str, Any], api: ApiConfig, resource_name: str) -> Optional[str]:
    """The incremental cursor value (or, for a delta query, the next round's link) the resource's
    state holds after the load (None: it fetches everything each run)."""
    resource = api.resource(resource_name)
    if resource.delta is not None:
        return stored_delta_link(pipeline_state, api.name, resource_name)
    incremental = resource.incremental
    if incremental is None:
        return None
    value = cursor_of(pipeline_state, api.name, resource_name, incremental.cursor_path)
    return None if value is None else str(value)


def incremental_effective(pipeline_state: Mapping[str, Any], api: ApiConfig, resource_name: str) -> Optional[bool]:
    """Whether the API honoured the resource's filter in its last run (None: not known, e.g. no
    record had the cursor field, or the resource is not incremental)."""
    if api.resource(resource_name).incremental is None:
        return None
    honoured = observed_of(pipeline_state, api.name, resource_name).get("filter_honoured")
    return honoured if isinstance(honoured, bool) else None


@dataclass(frozen=True)
class TableOutcome:
    """Rows a run inserted, updated and deleted in one table, from counts before and after, rows
    loaded, and the removed entries a delta query read (each loaded as a row the merge deletes)."""

    rows_loaded: int
    rows_before: Optional[int]
    rows_after: Optional[int]
    rows_deleted: Optional[int] = None  # None: the resource does not track deletions

    @property
    def rows_inserted(self) -> int:
        if self.rows_after is None:
            return 0
        return max(self.rows_after - (self.rows_before or 0) + (self.rows_deleted or 0), 0)

    @property
    def rows_updated(self) -> int:
        return max(self.rows_loaded - (self.rows_deleted or 0) - self.rows_inserted, 0)

    def metadata(self) -> dict[str, MetadataValue]:
        values: dict[str, MetadataValue] = {
            "rows_inserted": MetadataValue.int(self.rows_inserted),
            "rows_updated": MetadataValue.int(self.rows_updated),
        }
        if self.rows_deleted is not None:
            values["rows_deleted"] = MetadataValue.int(self.rows_deleted)
        if self.rows_after is not None:
            values["dagster/row_count"] = MetadataValue.int(self.rows_after)  # shown by the UI as the table's size
        return values
