"""`DefaultPaginator` -> `endpoint.paginator`: CursorPagination (a next URL or token read from the
body in any of the usual Jinja shapes, or the Link header), PageIncrement, OffsetIncrement, or
NoPagination; the page size sent only where the manifest sends it.

The page token goes where `page_token_option` says (a query parameter, or the request path: a URL
followed). Without one, a request parameter that uses `{{ next_page_token }}` carries it; a token
the manifest never sends reads one page, with a line. `inject_on_first_request: false` (Airbyte's
default) leaves the first request without the token, which restsync's page and offset paginators
always send: a line. A strategy or expression restsync has no equivalent for is a line.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import access_chain, jinja_blocks

Paginator = Optional[dict[str, Any]]
SINGLE_PAGE = {"type": "single_page"}


def map_paginator(
    context: ImportContext, stream: str, paginator: Optional[dict[str, Any]], own_params: dict[str, Any], token_params: list[str]
) -> tuple[Paginator, dict[str, Any]]:
    """(`endpoint.paginator`, the query parameters it adds) of a stream's paginator. `own_params` are
    the stream's own request parameters (they win over the paginator's, and a literal page size there
    is the offset paginator's limit); `token_params` the ones whose value is `{{ next_page_token }}`."""
    if not paginator or paginator.get("type") == "NoPagination":
        return dict(SINGLE_PAGE), {}
    if paginator.get("type") not in ("DefaultPaginator", None):
        context.note(stream, f"paginator type '{paginator.get('type')}'; the resource reads one page", paginator)
        return dict(SINGLE_PAGE), {}
    strategy = paginator.get("pagination_strategy") or {}
    kind = strategy.get("type")
    token_param, via_path = _token_option(context, stream, paginator.get("page_token_option"), token_params)
    size_param = _request_parameter(context, stream, "page_size_option", paginator.get("page_size_option"))
    page_size = strategy.get("page_size")
    params: dict[str, Any] = {}
    if page_size and size_param and kind != "OffsetIncrement":
        _add_param(context, stream, params, own_params, size_param, page_size)
    if kind == "CursorPagination":
        return _cursor(context, stream, strategy, token_param, via_path), params
    first = bool(strategy.get("inject_on_first_request", False))
    if kind in ("PageIncrement", "OffsetIncrement") and not token_param:
        context.note(stream, f"{kind}: the page token is never sent (no page_token_option, no next_page_token "
                             "in the request); the resource reads one page")
        return dict(SINGLE_PAGE), params
    if kind == "PageIncrement":
        start = int(strategy.get("start_from_page", 0))
        if not first:
            context.approx(stream, f"PageIncrement: restsync sends {token_param}={start} on the first request too "
                                   "(the manifest's first request has none: inject_on_first_request false)")
        return {"type": "page_number", "page_param": token_param, "base_page": start}, params
    if kind == "OffsetIncrement":
        limit = _int(page_size)
        limit_param = size_param
        if not limit_param:
            # the stream's own parameter that sends the page size (Airbyte then sends no other)
            limit_param = next((k for k, v in own_params.items() if limit is not None and _int(v) == limit), None)
        if limit_param and limit_param in own_params:
            own = _int(own_params.pop(limit_param))
            if own is not None and limit is not None and own != limit:
                context.approx(stream, f"OffsetIncrement page_size {limit} and the request parameter {limit_param}={own}: restsync pages by {own}")
            limit = own if own is not None else limit
        if not limit_param:
            limit_param = "limit"
            context.approx(stream, "OffsetIncrement without page_size_option: restsync's offset paginator also sends the page size as 'limit' "
                                   "(set endpoint.paginator.limit_param to a parameter the API accepts or ignores)")
        if limit is None:
            limit = 100
            context.approx(stream, f"OffsetIncrement page_size '{page_size}' is no number; restsync pages by 100")
        if not first:
            context.approx(stream, f"OffsetIncrement: restsync sends {token_param}=0 on the first request too "
                                   "(the manifest's first request has none: inject_on_first_request false)")
        return {"type": "offset", "limit": limit, "offset_param": token_param, "limit_param": limit_param}, params
    context.note(stream, f"pagination strategy '{kind}'; the resource reads one page", strategy)
    return dict(SINGLE_PAGE), params


def _token_option(context: ImportContext, stream: str, option: Any, token_params: list[str]) -> tuple[Optional[str], bool]:
    """(query parameter the page token goes in, or None; True when it is the request path)."""
    if isinstance(option, dict) and option.get("type") == "RequestPath":
        return None, True
    if option:
        return _request_parameter(context, stream, "page_token_option", option), False
    if len(token_params) == 1:
        return token_params[0], False
    if len(token_params) > 1:
        context.note(stream, f"next_page_token used in several request parameters {token_params}; sent in '{token_params[0]}' only")
        return token_params[0], False
    return None, False


def _request_parameter(context: ImportContext, stream: str, where: str, option: Any) -> Optional[str]:
    if not option:
        return None
    inject = option.get("inject_into")
    name = option.get("field_name") or option.get("field_path")
    if inject == "request_parameter" and isinstance(name, str):
        return name
    context.note(stream, f"paginator.{where} injects into {inject} (restsync sends pages as query parameters)", option)
    return None


def _add_param(context: ImportContext, stream: str, params: dict[str, Any], own: dict[str, Any], name: str, value: Any) -> None:
    if name in own and str(own[name]) != str(value):
        context.approx(stream, f"paginator page_size {value} and the request parameter {name}={own[name]}: the request parameter is sent")
        return
    if name not in own:
        params[name] = value


def _cursor(context: ImportContext, stream: str, strategy: dict[str, Any], token_param: Optional[str], via_path: bool) -> Paginator:
    value = str(strategy.get("cursor_value", ""))
    stop = strategy.get("stop_condition")
    header = access_chain(value, "headers")
    if header and [k.lower() for k in header.keys] in (["link", "next", "url"], ["link", "next"]) and not header.rest:
        _stop_condition(context, stream, stop, None, None)
        return {"type": "header_link"}
    chain = access_chain(value, "response")
    if chain is None:
        context.note(stream, f"paginator cursor_value '{value}' (restsync reads a next page from the body or the Link header); "
                             "the resource reads one page", strategy)
        return dict(SINGLE_PAGE)
    path = _json_path(chain.keys)
    result: dict[str, Any]
    if chain.rest and not re.match(r"^(\|\s*default\(.*\)|or\s+.*)$", chain.rest):
        # `| regex_search('token=(.*)')` and the like: the token comes out of the URL at the path
        context.approx(stream, f"paginator cursor_value '{value}': restsync follows the URL at {path} "
                               f"instead of sending what `{chain.rest}` takes from it")
        result = {"type": "json_link", "next_url_path": path}
    elif token_param:
        result = {"type": "cursor", "cursor_path": path, "cursor_param": token_param}
    else:
        if not via_path:
            context.approx(stream, f"paginator without page_token_option: the next page is the URL at {path}")
        result = {"type": "json_link", "next_url_path": path}
    has_more = _stop_condition(context, stream, stop, chain.keys, path)
    if has_more:
        result["has_more_path"] = has_more
    return result


def _stop_condition(context: ImportContext, stream: str, stop: Any, keys: Optional[tuple[str, ...]], path: Optional[str]) -> Optional[str]:
    """A has_more_path for `{{ not response.more }}`; None when restsync's own end (no cursor) matches."""
    if not stop:
        return None
    text = str(stop).strip()
    inner = text[2:-2].strip() if text.startswith("{{") and text.endswith("}}") else text
    negated = re.match(r"^not\s+(.*)$", inner)
    if negated:
        chain = access_chain(negated.group(1), "response")
        if chain and not chain.rest:
            if keys is not None and chain.keys == keys:
                return None  # stop when the cursor is missing: what restsync does anyway
            return _json_path(chain.keys)
    absent = re.match(r"""^['"]([^'"]+)['"]\s+not\s+in\s+(.*)$""", inner)
    if absent and keys is not None:
        chain = access_chain(absent.group(2), "response")
        if chain and not chain.rest and keys[: len(chain.keys) + 1] == chain.keys + (absent.group(1),):
            return None  # `'next' not in response['_links']`: the cursor's own path is missing
    is_none = re.match(r"^(.*?)\s+is\s+none$", inner, re.I)
    if is_none and keys is not None:
        chain = access_chain(is_none.group(1), "response")
        if chain and chain.keys == keys:
            return None
    if keys is None and "link" in inner.lower() and "next" in inner.lower():
        return None  # the Link header has no next: what header_link does anyway
    context.approx(stream, f"paginator stop_condition '{stop}': restsync stops when the page has no next cursor"
                           + (f" at {path}" if path else ""))
    return None


def _json_path(keys: tuple[str, ...]) -> str:
    if any(not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) for k in keys):
        return "".join(f"['{k}']" for k in keys)  # JSONPath quoting for keys like '@odata.nextLink'
    return ".".join(keys)


def _int(value: Any) -> Optional[int]:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def uses_next_page_token(value: Any) -> bool:
    return isinstance(value, str) and any("next_page_token" in block for block in jinja_blocks(value))
