"""What the simulator serves against what a table holds, as primary-key tuples."""

from __future__ import annotations

import os

from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming

from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.extract.children import parent_key_column
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.helpers import table_exists, table_rows


_NAMING = SnakeCaseNaming()
KEYLESS_ROW = ("(a row of a table without primary key)",)


def _top_key(resource: Resource) -> str:
    """A top-level table's key column as the records name it: its one primary key column (Drift
    accounts have no `id`, only `accountId`), else `id`."""
    columns = resource.primary_key_columns
    return columns[0] if len(columns) == 1 else "id"


def key_columns(resource: Resource) -> str:
    """The table columns `expected_keys` compares, as a SELECT list (dlt's snake_case names); a
    keyless top-level table is compared by its number of rows (`key_rows`)."""
    if resource.parent is None and not resource.primary_key_columns:
        return "1"
    if resource.parent is None:
        return _NAMING.normalize_identifier(_top_key(resource))
    parent_column = parent_key_column(resource)
    return f"{parent_column}, id" if parent_column in resource.primary_key_columns else "id"


def expected_keys(sim: Simulator, api: ApiConfig, resource: Resource) -> list[tuple[str, ...]]:
    """What the simulator serves for a resource, as the primary-key tuples the table must hold."""
    if resource.parent is None:
        records = sim.records(api.name, resource.name)
        if resource.name == "contacts" and api.name == "messaging":
            email = os.environ["SOURCES__MESSAGING__EMAIL"].lower()
            records = [r for r in records if str(r.get("email", "")).lower() == email]
        if not resource.primary_key_columns:  # keyless (Freshdesk's settings: one object, no id): a row each
            return [KEYLESS_ROW] * len(records)
        key = _top_key(resource)
        return sorted((str(r[key]),) for r in records)
    pairs = sim.children_by_parent(api.name, resource.name)
    if parent_key_column(resource) in resource.primary_key_columns:
        return sorted((str(parent), str(child["id"])) for parent, children in pairs.items() for child in children)
    return sorted((str(child["id"]),) for children in pairs.values() for child in children)


def key_rows(resource: Resource, rows: list[tuple[object, ...]]) -> list[tuple[str, ...]]:
    """Rows selected with `key_columns`, as `expected_keys` gives them (any destination)."""
    if resource.parent is None and not resource.primary_key_columns:
        return [KEYLESS_ROW] * len(rows)
    return sorted(tuple(str(v) for v in row) for row in rows)


def loaded_keys(api: ApiConfig, resource: Resource) -> list[tuple[str, ...]]:
    if not table_exists(api.name, resource.name):
        return []
    return key_rows(resource, table_rows(api.name, resource.name, key_columns(resource)))


def assert_matches_simulator(sim: Simulator, api: ApiConfig) -> dict[str, int]:
    counts = {}
    for resource in api.resources:
        expected = expected_keys(sim, api, resource)
        loaded = loaded_keys(api, resource)
        assert expected, f"{api.name}.{resource.name}: the simulator serves nothing; the test would prove nothing"
        assert loaded == expected, f"{api.name}.{resource.name}: {len(loaded)} rows loaded, {len(expected)} served"
        counts[resource.name] = len(loaded)
    return counts
