"""The asset graph as the UI shows it: 49 keys in five groups, 12 parent -> child edges, kinds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from dagster import AssetKey

from restsync_dagster.definitions import load_definitions
from restsync_dagster_tests.conftest import CONFIGS

EDGES = {
    ("shared_inbox", "conversations", "conversation_threads"),
    ("shared_inbox", "inboxes", "inbox_custom_fields"),
    ("shared_inbox", "inboxes", "inbox_folders"),
    ("shared_inbox", "teams", "team_members"),
    ("service_desk", "canned_response_folders", "canned_responses"),
    ("service_desk", "tickets", "conversations"),
    ("service_desk", "discussion_topics", "discussion_comments"),
    ("service_desk", "discussion_categories", "discussion_forums"),
    ("service_desk", "discussion_forums", "discussion_topics"),
    ("service_desk", "solution_folders", "solution_articles"),
    ("service_desk", "solution_categories", "solution_folders"),
    ("messaging", "conversations", "messages"),
}


def test_graph_has_49_assets_in_five_groups_and_12_edges() -> None:
    graph = load_definitions(CONFIGS).resolve_asset_graph()
    everything = set(graph.get_all_asset_keys())
    keys = {key for key in everything if not graph.get(key).group_name.endswith("_history")}  # the live assets
    assert len(keys) == 49
    history = everything - keys  # the backfilled resources' (test_backfill.py)
    assert {graph.get(key).group_name for key in history} == {"shared_inbox_history", "ticket_desk_history"} and len(history) == 4
    groups = Counter(graph.get(key).group_name for key in keys)
    assert groups == {"shared_inbox": 11, "service_desk": 28, "directory": 2, "messaging": 5, "ticket_desk": 3}
    assert all(key.path[0] == graph.get(key).group_name for key in keys)
    edges = {(k.path[0], p.path[1], k.path[1]) for k in keys for p in graph.get(k).parent_keys}
    assert edges == EDGES


def test_specs_carry_kinds_description_and_code_reference() -> None:
    graph = load_definitions(CONFIGS).resolve_asset_graph()
    node = graph.get(AssetKey(["service_desk", "conversations"]))
    assert node.kinds == {"dlt", "duckdb"}
    assert "/v1/tickets/{resources.tickets.id}/conversations" in (node.description or "")
    assert "tickets" in (node.description or "")
    references = node.metadata["dagster/code_references"].code_references
    assert references[0].file_path.endswith("service_desk.yaml") and references[0].line_number > 1


def test_no_two_assets_name_the_same_table() -> None:
    """The UI links assets whose `dagster/table_name` match: six bare names were shared by 14 assets."""
    graph = load_definitions(CONFIGS).resolve_asset_graph()
    names = {key: graph.get(key).metadata["dagster/table_name"].value for key in graph.get_all_asset_keys()}
    live = {key: name for key, name in names.items() if not key.path[-1].endswith("_history")}
    assert len(set(live.values())) == len(live) == 49
    # a history asset fills its live asset's table, and says so (the UI links the two)
    history = {key: name for key, name in names.items() if key not in live}
    assert history and all(name == live[AssetKey([key.path[0], key.path[-1].removesuffix("_history")])] for key, name in history.items())
    assert names[AssetKey(["service_desk", "tickets"])] == "restsync_service_desk.service_desk.tickets"
    assert names[AssetKey(["ticket_desk", "tickets"])] == "restsync_ticket_desk.ticket_desk.tickets"
    uri = graph.get(AssetKey(["ticket_desk", "tickets"])).metadata["dagster/uri"].value
    assert uri.startswith("duckdb:///") and uri.endswith("restsync_ticket_desk.duckdb")


def test_a_postgres_table_is_named_by_its_database_and_its_uri_has_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from restsync_dagster.load.table_identity import table_identity

    monkeypatch.setenv("RESTSYNC_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:s3cret-pw@db.internal:5433/warehouse")
    identity = {k: v.value for k, v in table_identity("ticket_desk", "tickets").items()}
    assert identity == {"dagster/table_name": "warehouse.ticket_desk.tickets", "dagster/uri": "postgresql://db.internal:5433/warehouse"}


def test_each_api_is_one_multi_asset_that_can_subset() -> None:
    defs = load_definitions(CONFIGS)
    assets = [a for a in defs.assets or [] if a.partitions_def is None]  # the partitioned ones: history (test_backfill.py)
    assert len(assets) == 5
    assert all(a.can_subset for a in assets)
    assert len(list(defs.assets or [])) == 5 + 3  # shared_inbox conversations and customers, ticket_desk tickets


def test_owners_tags_and_checks_from_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Owners and tags written in the YAML (also through resource_defaults) reach the asset specs."""
    from restsync_dagster.config.loading import load_api_config
    from restsync_dagster.definitions import build_definitions

    path = tmp_path / "crm.yaml"
    path.write_text(
        """
client: {base_url: https://api.example.com}
resource_defaults: {owners: ["team:revenue"], tags: {domain: sales}}
resources:
  - name: accounts
    endpoint: {path: /accounts}
    owners: ["ana@example.com", "team:revenue"]
    tags: {domain: sales, tier: gold}
  - name: notes
    endpoint: {path: "/accounts/{resources.accounts.id}/notes"}
"""
    )
    graph = build_definitions([load_api_config(path)]).resolve_asset_graph()
    accounts = graph.get(AssetKey(["crm", "accounts"]))
    notes = graph.get(AssetKey(["crm", "notes"]))
    assert accounts.owners == ["ana@example.com", "team:revenue"]
    assert notes.owners == ["team:revenue"]
    assert {k: v for k, v in accounts.tags.items() if not k.startswith("dagster/kind/")} == {
        "restsync/api": "crm", "domain": "sales", "tier": "gold",
    }
    assert notes.tags["domain"] == "sales"
    # each asset carries its checks: rows (top level only), primary key unique, freshness
    checks = {(k.asset_key.path[-1], k.name) for k in graph.asset_check_keys}
    assert {("accounts", "rows"), ("accounts", "primary_key_unique"), ("notes", "primary_key_unique")} <= checks
    assert ("notes", "rows") not in checks
    assert {name for asset, name in checks if asset == "accounts" and "fresh" in name}


def test_materialization_carries_column_schema_and_counts(sim_env) -> None:  # type: ignore[no-untyped-def]
    """dagster-dlt's column schema and the run's numbers, as the asset page shows them."""
    from restsync_dagster_tests.support.helpers import run_assets, shipped

    result = run_assets(shipped("ticket_desk"), ["agents"])
    metadata = result.asset_materializations_for_node("ticket_desk_dlt")[0].metadata
    columns = {c.name: c.type for c in metadata["dagster/column_schema"].schema.columns}
    assert "id" in columns and "email" in columns
    assert metadata["rows_loaded"].value == 60
    assert metadata["dagster/table_name"].value == "restsync_ticket_desk.ticket_desk.agents"  # as the spec says
    assert metadata["requests"].value >= 2


def test_definition_folders_of_processes_gone_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code servers stopped by a signal skip atexit; their private pipeline folders must not pile up."""
    import os
    import tempfile

    from restsync_dagster.load import destination

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = tmp_path / f"{destination.DEFINITIONS_PREFIX}{2**22 + 12345}-x"  # above the default pid_max
    alive = tmp_path / f"{destination.DEFINITIONS_PREFIX}{os.getpid()}-y"
    gone.mkdir()
    alive.mkdir()
    destination._remove_orphaned_definition_dirs()
    assert not gone.exists() and alive.exists()
