"""Which table an asset is, named so that no two APIs' assets look alike in the Dagster UI.

dagster-dlt names a table at definition time by its bare name: `service_desk/tickets` and
`ticket_desk/tickets` then share `dagster/table_name` "tickets", and the UI links each to the
other as "Linked asset". Qualified as `<database>.<dataset>.<table>` (the DuckDB file's stem or the
Postgres database), with a `dagster/uri` that carries no credentials, every asset names one table.
"""

from __future__ import annotations

import os
from typing import Optional
from urllib.parse import urlsplit

from dagster import MetadataValue

from restsync_dagster.load.destination import destination_kind, duckdb_path

POSTGRES_CREDENTIALS_ENV = "DESTINATION__POSTGRES__CREDENTIALS"


def table_identity(api_name: str, table: str) -> dict[str, MetadataValue]:
    """`dagster/table_name` and `dagster/uri` of one API's table, without any secret."""
    dataset = api_name  # every API loads into the dataset named like it (destination.make_pipeline)
    kind = destination_kind()
    if kind == "duckdb":
        path = duckdb_path(api_name)
        return {
            "dagster/table_name": MetadataValue.text(f"{path.stem}.{dataset}.{table}"),
            "dagster/uri": MetadataValue.text(f"duckdb:///{path}"),
        }
    server = _server_of(os.environ.get(POSTGRES_CREDENTIALS_ENV)) if kind == "postgres" else None
    database = server[1] if server else kind
    identity = {"dagster/table_name": MetadataValue.text(f"{database}.{dataset}.{table}")}
    if server:
        identity["dagster/uri"] = MetadataValue.text(f"postgresql://{server[0]}/{server[1]}")
    return identity


def _server_of(dsn: Optional[str]) -> Optional[tuple[str, str]]:
    """(host[:port], database) of a connection string; user and password are left behind."""
    if not dsn or "://" not in dsn:
        return None
    parts = urlsplit(dsn)
    database = parts.path.lstrip("/")
    if not parts.hostname or not database:
        return None
    return (f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname), database
