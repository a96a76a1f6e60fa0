"""The asset graph as the UI shows it: 49 keys in five groups, 12 parent -> child edges, kinds."""

from __future__ import annotations

from collections import Counter

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
    keys = set(graph.get_all_asset_keys())
    assert len(keys) == 49
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


def test_each_api_is_one_multi_asset_that_can_subset() -> None:
    defs = load_definitions(CONFIGS)
    assets = list(defs.assets or [])
    assert len(assets) == 5
    assert all(a.can_subset for a in assets)
