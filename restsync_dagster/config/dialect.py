"""Seed idioms -> canonical config (pure functions on the parsed YAML dict, no I/O).

The seeds were converted from another tool's manifests and carry its idioms, which dlt does not
understand as written (see DESIGN.md, "Seed idioms"). `normalize` rewrites each to what it means,
so a user can paste a seed's config dict and get the same assets as the shipped config.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from restsync_dagster.config.errors import ConfigError

_DLT_LOOKUP = re.compile(r"""^\s*dlt\.(secrets|config)\[\s*["']([^"']+)["']\s*\]\s*$""")
_PARENT_IDIOMS = [
    re.compile(r"\{\{\s*stream_partition\[\s*['\"](?P<hint>[A-Za-z0-9_]+)['\"]\s*\]\s*\}\}"),
    re.compile(r"\{stream_slice\.(?P<field>[A-Za-z0-9_]+)\}"),
    re.compile(r"\{parent_(?P<field>[A-Za-z0-9_]+)\}"),
]
_ODATA_NEXT = re.compile(r"""response\.get\(\s*['"](@odata\.nextLink)['"]""")
_HEADER_LINK_PATHS = {"headers.link.next.url", "headers.link.next", "header.link.next.url"}
_SEED_AUTH_TYPES = {"oauth2", "basic"}


def normalize(raw: dict[str, Any], source_file: Any = None, errors: Optional[list[ConfigError]] = None) -> dict[str, Any]:
    """Rewrite every seed idiom in a config dict in place and return it; problems go to `errors`."""
    errors = errors if errors is not None else []
    raw = _lookups_to_placeholders(raw)
    client = raw.get("client")
    if isinstance(client, dict) and isinstance(client.get("auth"), dict):
        client["auth"] = normalize_auth(client["auth"])
    defaults = raw.get("resource_defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("endpoint"), dict):
        _normalize_endpoint(defaults["endpoint"], defaults)
    resources = raw.get("resources")
    if isinstance(resources, list):
        for resource in resources:
            if isinstance(resource, dict) and isinstance(resource.get("endpoint"), dict):
                _normalize_endpoint(resource["endpoint"], resource)
        for resource in resources:
            if isinstance(resource, dict) and isinstance(resource.get("endpoint"), dict):
                _name_parent(resource, resources, source_file, errors)
    return raw


def _lookups_to_placeholders(value: Any) -> Any:
    """`dlt.secrets["x"]` / `dlt.config["x"]` (pasted from Python) -> `${secrets.x}` / `${config.x}`."""
    if isinstance(value, dict):
        return {k: _lookups_to_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lookups_to_placeholders(v) for v in value]
    if isinstance(value, str):
        match = _DLT_LOOKUP.match(value)
        if match:
            return "${%s.%s}" % (match.group(1), match.group(2))
    return value


def normalize_auth(auth: dict[str, Any]) -> dict[str, Any]:
    """`oauth2` -> client-credentials or refresh-token grant; `basic` -> `http_basic`."""
    kind = auth.get("type")
    if kind not in _SEED_AUTH_TYPES:
        return auth
    auth = dict(auth)
    if kind == "basic":
        auth["type"] = "http_basic"
        auth.setdefault("password", "")
        return auth
    grant = auth.pop("grant_type", None)
    if "refresh_token" in auth or grant == "refresh_token":
        auth["type"] = "oauth2_refresh_token"
    else:
        auth["type"] = "oauth2_client_credentials"
    return auth


def _normalize_endpoint(endpoint: dict[str, Any], owner: dict[str, Any]) -> None:
    """Paginator idioms, page sizes, and per-endpoint error handling (moved to the resource)."""
    paginator = endpoint.get("paginator")
    if isinstance(paginator, dict):
        endpoint["paginator"], page_size = normalize_paginator(paginator)
        if page_size is not None:
            params = endpoint.setdefault("params", {})
            if isinstance(params, dict):
                params.setdefault("limit", page_size)
    handler = endpoint.pop("error_handler", None)
    if isinstance(handler, dict):
        owner.setdefault("error_handling", _error_handler_to_canonical(handler))
    actions = endpoint.pop("response_actions", None)
    if isinstance(actions, list):
        ignored = [a.get("status_code") for a in actions if isinstance(a, dict) and a.get("action") == "ignore"]
        handling = owner.setdefault("error_handling", {})
        handling["ignore_statuses"] = sorted(set(handling.get("ignore_statuses", [])) | set(ignored))


def normalize_paginator(paginator: dict[str, Any]) -> tuple[dict[str, Any], Optional[int]]:
    """Return the canonical paginator and the page size the seed put on it (`limit`), if any."""
    kind = paginator.get("type")
    cursor_path = str(paginator.get("cursor_path", ""))
    cursor_value = str(paginator.get("cursor_value", ""))
    limit = paginator.get("limit")
    if kind == "cursor":
        if cursor_path in _HEADER_LINK_PATHS:
            return {"type": "header_link"}, limit
        if cursor_path.startswith("_links.") or cursor_path.endswith(".href"):
            return {"type": "json_link", "next_url_path": cursor_path}, limit
        odata = _ODATA_NEXT.search(cursor_value) or ("@odata.nextLink" in cursor_path and True)
        if odata:
            return {"type": "json_link", "next_url_path": "['@odata.nextLink']"}, limit
        param = paginator.get("cursor_param", "cursor")
        return {"type": "cursor", "cursor_path": cursor_path or param, "cursor_param": param, **_listing_end(paginator, "total_path")}, limit
    if kind == "page_number":
        canonical = {
            "type": "page_number",
            "page_param": paginator.get("page_param", "page"),
            "base_page": paginator.get("start_from_page", paginator.get("base_page", 1)),
        }
        if paginator.get("total_path"):
            canonical["total_path"] = paginator["total_path"]
        return {**canonical, **_listing_end(paginator, "total_records_path")}, limit
    if kind == "offset":
        canonical = {k: v for k, v in paginator.items() if k in {"type", "limit", "offset_param", "limit_param", "total_path", "base_offset"}}
        canonical.update(_listing_end(paginator))
        canonical.setdefault("total_path", None)
        return canonical, None
    return paginator, None


def _listing_end(paginator: dict[str, Any], *extra: str) -> dict[str, Any]:
    """The end-of-listing options a paginator carries (config.py `_ListPaginator`), kept as written."""
    keys = ("has_more_path", "detect_end_flags", "stop_on_status", *extra)
    return {key: paginator[key] for key in keys if key in paginator}


def _error_handler_to_canonical(handler: dict[str, Any]) -> dict[str, Any]:
    canonical: dict[str, Any] = {}
    if "retry_on_status_codes" in handler:
        canonical["retry_statuses"] = handler["retry_on_status_codes"]
    for key in ("max_retries", "backoff_factor"):
        if key in handler:
            canonical[key] = handler[key]
    if "ignore_status_codes" in handler:
        canonical["ignore_statuses"] = handler["ignore_status_codes"]
    return canonical


def _name_parent(resource: dict[str, Any], resources: list[Any], source_file: Any, errors: list[ConfigError]) -> None:
    """Replace a parent reference that names no parent with `{resources.<parent>.<field>}`."""
    endpoint = resource["endpoint"]
    path = endpoint.get("path")
    if not isinstance(path, str):
        return
    for idiom in _PARENT_IDIOMS:
        match = idiom.search(path)
        if not match:
            continue
        groups = match.groupdict()
        field = groups.get("field") or "id"
        prefix = path[: match.start()].rstrip("/")
        parent = infer_parent(prefix, groups.get("hint"), resource.get("name"), resources)
        if parent is None:
            errors.append(
                ConfigError(
                    source_file,
                    f"cannot tell which resource '{match.group(0)}' refers to; write the parent explicitly, "
                    f"e.g. '{prefix}/{{resources.<parent>.{field}}}{path[match.end():]}'",
                    resource=resource.get("name"),
                    field="endpoint.path",
                )
            )
            return
        endpoint["path"] = f"{path[: match.start()]}{{resources.{parent}.{field}}}{path[match.end():]}"
        return


def infer_parent(prefix: str, hint: Optional[str], child: Optional[str], resources: list[Any]) -> Optional[str]:
    """The parent is the resource whose list the child path extends, when exactly one fits.

    First a resource whose path is the prefix itself (`/v1/tickets` for `/v1/tickets/{..}/x`);
    else one whose path ends in the same collection segment (`/v1/discussions/forums/{..}/topics`
    for `/v1/discussions/topics/{..}/comments`); a `stream_partition['team_id']` hint breaks ties.
    """
    candidates = [
        r for r in resources
        if isinstance(r, dict) and r.get("name") != child and isinstance(r.get("endpoint"), dict)
    ]

    def path_of(r: dict[str, Any]) -> str:
        return str(r["endpoint"].get("path", "")).rstrip("/")

    exact = [r["name"] for r in candidates if path_of(r) == prefix]
    if len(exact) == 1:
        return exact[0]
    collection = prefix.rsplit("/", 1)[-1]
    same_collection = [r["name"] for r in candidates if path_of(r).rsplit("/", 1)[-1] == collection]
    if len(same_collection) == 1:
        return same_collection[0]
    if hint:
        stem = hint[: -len("_id")] if hint.endswith("_id") else hint
        named = [r["name"] for r in candidates if r["name"] in {stem, f"{stem}s", f"{stem}es"}]
        if len(named) == 1:
            return named[0]
    return None
