"""Each seed idiom normalizes to what it means; a pasted seed config equals the shipped one."""

from __future__ import annotations

import pytest

from restsync_dagster.config.dialect import (
    normalize,
    normalize_auth,
    normalize_paginator,
)
from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import load_api_config, parse_api_config
from restsync_dagster_tests.conftest import API_NAMES, CONFIGS, SEEDS


@pytest.mark.parametrize(
    ("seed", "canonical", "page_size"),
    [
        ({"type": "cursor", "limit": 50, "cursor_path": "_links.next.href", "stop_condition": "_links.next is none"},
         {"type": "json_link", "next_url_path": "_links.next.href"}, 50),
        ({"type": "cursor", "limit": 100, "cursor_param": "cursor", "cursor_path": "headers.link.next.url"},
         {"type": "header_link"}, 100),
        ({"type": "cursor", "cursor_value": "{{ response.get('@odata.nextLink', {}) }}"},
         {"type": "json_link", "next_url_path": "['@odata.nextLink']"}, None),
        ({"type": "cursor", "cursor_param": "next"}, {"type": "cursor", "cursor_path": "next", "cursor_param": "next"}, None),
        ({"type": "page_number", "limit": 100, "page_param": "page", "start_from_page": 1},
         {"type": "page_number", "page_param": "page", "base_page": 1}, 100),
        ({"type": "offset", "limit": 50}, {"type": "offset", "limit": 50, "total_path": None}, None),
    ],
    ids=["hal", "link-header", "odata", "body-cursor", "page-number", "offset"],
)
def test_paginator_idioms(seed: dict, canonical: dict, page_size: int | None) -> None:
    assert normalize_paginator(seed) == (canonical, page_size)


def test_auth_idioms() -> None:
    assert normalize_auth({"type": "basic", "username": "k"}) == {"type": "http_basic", "username": "k", "password": ""}
    assert normalize_auth({"type": "oauth2", "client_id": "a", "client_secret": "b", "token_url": "t"})["type"] == "oauth2_client_credentials"
    assert normalize_auth({"type": "oauth2", "refresh_token": "r", "token_url": "t"})["type"] == "oauth2_refresh_token"
    scoped = normalize_auth({"type": "oauth2", "grant_type": "client_credentials", "scope": "s/.default"})
    assert scoped == {"type": "oauth2_client_credentials", "scope": "s/.default"}


@pytest.mark.parametrize(
    ("child_path", "expected"),
    [
        ("/v2/conversations/{{ stream_partition['conversation_id'] }}/threads", "/v2/conversations/{resources.conversations.id}/threads"),
        ("/v1/discussions/topics/{stream_slice.id}/comments", "/v1/discussions/topics/{resources.topics.id}/comments"),
        ("/v2/conversations/{parent_id}/messages", "/v2/conversations/{resources.conversations.id}/messages"),
    ],
)
def test_parent_idioms_name_the_parent(child_path: str, expected: str) -> None:
    raw = {
        "resources": [
            {"name": "conversations", "endpoint": {"path": "/v2/conversations"}},
            {"name": "topics", "endpoint": {"path": "/v1/discussions/forums/{stream_slice.id}/topics"}},
            {"name": "forums", "endpoint": {"path": "/v1/discussions/forums"}},
            {"name": "child", "endpoint": {"path": child_path}},
        ]
    }
    assert normalize(raw)["resources"][3]["endpoint"]["path"] == expected


def test_an_ambiguous_parent_is_an_error_naming_the_resource() -> None:
    raw = {
        "client": {"base_url": "https://x"},
        "resources": [
            {"name": "a", "endpoint": {"path": "/one/items"}},
            {"name": "b", "endpoint": {"path": "/two/items"}},
            {"name": "c", "endpoint": {"path": "/three/items/{parent_id}/sub"}},
        ],
    }
    with pytest.raises(ConfigErrors) as caught:
        parse_api_config(raw, source_file="pasted.yaml")
    error = caught.value.errors[0]
    assert (error.resource, error.field) == ("c", "endpoint.path") and "resources.<parent>.id" in str(error)


def test_dlt_lookups_and_error_handler() -> None:
    raw = normalize({
        "client": {"auth": {"type": "bearer", "token": 'dlt.secrets["access_token"]'}},
        "resources": [{"name": "r", "endpoint": {"path": "/r", "params": {"email": "dlt.config['email']"},
                        "error_handler": {"retry_on_status_codes": [429, 503], "max_retries": 5, "backoff_factor": 1}}}],
    })
    assert raw["client"]["auth"]["token"] == "${secrets.access_token}"
    assert raw["resources"][0]["endpoint"]["params"]["email"] == "${config.email}"
    assert raw["resources"][0]["error_handling"] == {"retry_statuses": [429, 503], "max_retries": 5, "backoff_factor": 1}


# where a shipped config follows the vendor's docs instead of its seed (docs/vendors.md): Freshdesk
# answers bare arrays (no `data` selector, settings selected whole), Help Scout is paged by `page`
# up to page.totalPages rather than by `_links.next`
# where a shipped config follows the real vendor rather than its seed (docs/vendors.md): per API, the
# fields every resource departs on, or per resource ("api", "resource")
VENDOR_DEPARTURES: dict[object, set[str]] = {
    "service_desk": {"data_selector"},  # Freshdesk answers bare arrays
    "shared_inbox": {"paginator"},  # Help Scout paged by page number up to page.totalPages
    "messaging": {"paginator"},  # Drift's cursor at pagination.next; accounts' next page at data.next, a path
    ("ticket_desk", "organizations"): {"paginator"},  # Zoho's /organizations is not paged
}


@pytest.mark.parametrize("api_name", API_NAMES)
def test_each_seed_normalizes_to_the_shipped_config(api_name: str) -> None:
    seed = load_api_config(SEEDS / f"{api_name}.yaml")
    ship = load_api_config(CONFIGS / f"{api_name}.yaml")
    assert seed.client.auth is not None and ship.client.auth is not None
    assert seed.client.auth.type == ship.client.auth.type
    assert sorted(r.name for r in seed.resources) == sorted(r.name for r in ship.resources)
    for resource in ship.resources:
        pasted = seed.resource(resource.name)
        assert pasted.endpoint.path == resource.endpoint.path
        assert pasted.parent == resource.parent
        departs = VENDOR_DEPARTURES.get(api_name, set()) | VENDOR_DEPARTURES.get((api_name, resource.name), set())
        if "data_selector" not in departs:
            assert pasted.endpoint.data_selector == resource.endpoint.data_selector
        if "paginator" in departs:
            continue
        shipped_type = resource.endpoint.paginator.type if resource.endpoint.paginator else "single_page"
        pasted_type = pasted.endpoint.paginator.type if pasted.endpoint.paginator else "single_page"
        assert pasted_type == shipped_type, resource.name
        assert pasted.endpoint.paginator in (resource.endpoint.paginator, None)
