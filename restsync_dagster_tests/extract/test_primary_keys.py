"""Every shipped primary key is unique per record the simulator serves: a merge on a key that is not
unique silently keeps one row per key value and drops the others."""

from __future__ import annotations

from collections import Counter

import pytest

from restsync_dagster.extract.children import parent_key_column
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.conftest import API_NAMES
from restsync_dagster_tests.support.helpers import shipped


def served_keys(sim: Simulator, api_name: str, resource_name: str, key: tuple[str, ...]) -> list[tuple]:
    api = shipped(api_name)
    resource = api.resource(resource_name)
    if resource.parent is None:
        return [tuple(record.get(column) for column in key) for record in sim.records(api_name, resource_name)]
    parent_column = parent_key_column(resource)
    return [
        tuple(parent if column == parent_column else child.get(column) for column in key)
        for parent, children in sim.children_by_parent(api_name, resource_name).items()
        for child in children
    ]


@pytest.mark.parametrize("api_name", API_NAMES)
def test_every_shipped_primary_key_is_unique_in_the_served_data(simulator: Simulator, api_name: str) -> None:
    api = shipped(api_name)
    for resource in api.resources:
        keys = served_keys(simulator, api_name, resource.name, resource.primary_key_columns)
        assert keys, f"{api_name}.{resource.name} serves nothing"
        assert all(None not in key for key in keys), f"{api_name}.{resource.name}: records without {resource.primary_key_columns}"
        repeated = [key for key, count in Counter(keys).items() if count > 1]
        assert not repeated, f"{api_name}.{resource.name}: primary key {resource.primary_key_columns} repeats: {repeated[:5]}"


def test_the_seeds_documented_owner_key_would_have_merged_accounts_away(simulator: Simulator) -> None:
    """The messaging seed's schema section names `ownerId` as the accounts' key; one owner has many."""
    owners = served_keys(simulator, "messaging", "accounts", ("ownerId",))
    assert len(set(owners)) < len(owners), "ownerId is unique after all: the shipped key `accountId` would be a needless change"
    assert shipped("messaging").resource("accounts").primary_key_columns == ("accountId",)
