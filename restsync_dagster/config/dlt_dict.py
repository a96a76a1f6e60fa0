"""dlt `rest_api_source` config dicts, pasted as they are written for dlt -> canonical restsync config.

dlt accepts shorthands restsync's model spells out; this rewrites them (pure, on the parsed dict):

- a resource given as a string (`"contributors"`) -> `endpoint.path` = its name; an endpoint given
  as a string -> `{path: ...}`;
- `client.paginator` (a dict or a name like `"header_link"`) -> the default paginator of every
  resource; a paginator given by name anywhere -> `{type: name}`;
- `{"type": "resolve", "resource": R, "field": F}` params that fill `{name}` in the path -> the
  path `{resources.R.F}`; `include_from_parent` of that same field (restsync adds `_R_F` itself);
- `endpoint.incremental` (`start_param`, or a param whose value is `{incremental.start_value}`;
  `cursor_path`, `initial_value`, `lag`) -> the resource's `incremental`;
- oauth2_client_credentials' `access_token_url` / `access_token_request_data.scope` -> `token_url` / `scope`;
- `method: GET` dropped (the default).

Anything else is left as written, so validation names what restsync does not support.
"""

from __future__ import annotations

import copy
import re
from typing import Any

_START_VALUE = re.compile(r"^\{\s*incremental\.start_value\s*\}$")
_PAGINATOR_NAMES = {"json_link", "header_link", "cursor", "page_number", "offset", "single_page"}


def from_dlt(raw: Any) -> Any:
    """Rewrite dlt shorthands in a config dict; anything not a dict is returned unchanged."""
    if not isinstance(raw, dict):
        return raw
    raw = copy.deepcopy(raw)
    client = raw.get("client")
    if isinstance(client, dict):
        if "paginator" in client:
            defaults = raw.setdefault("resource_defaults", {})
            if isinstance(defaults, dict):
                endpoint = defaults.setdefault("endpoint", {})
                if isinstance(endpoint, dict):
                    endpoint.setdefault("paginator", client.pop("paginator"))
        if isinstance(client.get("auth"), dict):
            client["auth"] = _auth(client["auth"])
    defaults = raw.get("resource_defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("endpoint"), dict):
        _endpoint_shorthands(defaults["endpoint"])
    resources = raw.get("resources")
    if isinstance(resources, list):
        raw["resources"] = [_resource(r) for r in resources]
    return raw


def _resource(resource: Any) -> Any:
    if isinstance(resource, str):
        return {"name": resource, "endpoint": {"path": resource}}
    if not isinstance(resource, dict):
        return resource
    # a mapping without an endpoint (or a path) stays an error: more often a mistake than dlt's default
    endpoint = resource.get("endpoint")
    if isinstance(endpoint, str):
        resource["endpoint"] = endpoint = {"path": endpoint}
    if not isinstance(endpoint, dict):
        return resource
    _endpoint_shorthands(endpoint)
    resolved = _resolve_params(endpoint)
    include = resource.get("include_from_parent")
    if isinstance(include, list) and resolved and set(include) <= resolved:
        resource.pop("include_from_parent")
    incremental = endpoint.pop("incremental", None)
    if isinstance(incremental, dict) and "incremental" not in resource:
        resource["incremental"] = _incremental(incremental, endpoint)
    elif incremental is not None:
        endpoint["incremental"] = incremental  # left for validation to name
    return resource


def _endpoint_shorthands(endpoint: dict[str, Any]) -> None:
    paginator = endpoint.get("paginator")
    if isinstance(paginator, str) and paginator in _PAGINATOR_NAMES:
        endpoint["paginator"] = {"type": paginator}
    if str(endpoint.get("method", "")).upper() == "GET":
        endpoint.pop("method")


def _resolve_params(endpoint: dict[str, Any]) -> set[str]:
    """`{name}` in the path filled from a parent -> `{resources.R.F}`; return the parent fields used."""
    params = endpoint.get("params")
    path = endpoint.get("path")
    if not isinstance(params, dict) or not isinstance(path, str):
        return set()
    fields = set()
    for name, value in list(params.items()):
        if isinstance(value, dict) and value.get("type") == "resolve" and "{%s}" % name in path:
            path = path.replace("{%s}" % name, "{resources.%s.%s}" % (value.get("resource"), value.get("field")))
            fields.add(str(value.get("field")))
            del params[name]
    endpoint["path"] = path
    if not params:
        endpoint.pop("params")
    return fields


def _incremental(incremental: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in incremental.items() if k not in ("start_param", "lag")}
    param = incremental.get("start_param")
    params = endpoint.get("params")
    if isinstance(params, dict):
        for name, value in list(params.items()):
            if isinstance(value, str) and _START_VALUE.match(value):
                param = param or name
                del params[name]
        if not params:
            endpoint.pop("params")
    if param:
        result["param"] = param
    if "lag" in incremental:
        result["lag_seconds"] = incremental["lag"]
    return result


def _auth(auth: dict[str, Any]) -> dict[str, Any]:
    if auth.get("type") != "oauth2_client_credentials":
        return auth
    auth = dict(auth)
    if "access_token_url" in auth:
        auth.setdefault("token_url", auth.pop("access_token_url"))
    data = auth.pop("access_token_request_data", None)
    if isinstance(data, dict):
        if "scope" in data:
            auth.setdefault("scope", data.pop("scope"))
        if data:
            auth["access_token_request_data"] = data  # left for validation to name
    auth.pop("default_token_expiration", None)
    return auth
