"""`DefaultPaginator` -> `endpoint.paginator`: CursorPagination (HAL / OData / Link header / body
cursor), PageIncrement, OffsetIncrement, or NoPagination; a page size sent as a parameter.

Returns the paginator and the query parameters it needs; any other strategy reads one page, noted.
"""

from __future__ import annotations

from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import HEADER_LINK, response_path


def map_paginator(context: ImportContext, stream: str, paginator: Optional[dict[str, Any]]) -> tuple[Optional[dict[str, Any]], dict[str, Any]]:
    """(`endpoint.paginator`, the query parameters it needs) of a stream's paginator."""
    if not paginator or paginator.get("type") == "NoPagination":
        return {"type": "single_page"}, {}
    strategy = paginator.get("pagination_strategy") or {}
    kind = strategy.get("type")
    token = paginator.get("page_token_option") or {}
    size_option = paginator.get("page_size_option") or {}
    page_size = strategy.get("page_size")
    params: dict[str, Any] = {}
    if page_size and size_option.get("field_name") and kind != "OffsetIncrement":
        params[size_option["field_name"]] = page_size
    if kind == "CursorPagination":
        value = str(strategy.get("cursor_value", ""))
        if HEADER_LINK.match(value.strip()):
            return {"type": "header_link"}, params
        path = response_path(value)
        if path is None:
            context.note(stream, f"paginator cursor_value '{value}'; using header_link")
            return {"type": "header_link"}, params
        if token.get("type") == "RequestPath" or not token:
            return {"type": "json_link", "next_url_path": path}, params
        if token.get("inject_into") == "request_parameter":
            return {"type": "cursor", "cursor_path": path, "cursor_param": token["field_name"]}, params
        context.note(stream, f"paginator page_token_option {token}")
        return {"type": "json_link", "next_url_path": path}, params
    if kind == "PageIncrement":
        result = {"type": "page_number", "page_param": token.get("field_name", "page"), "base_page": int(strategy.get("start_from_page", 0))}
        return result, params
    if kind == "OffsetIncrement":
        result = {
            "type": "offset",
            "limit": int(page_size or 100),
            "offset_param": token.get("field_name", "offset"),
            "limit_param": size_option.get("field_name", "limit"),
        }
        return result, params
    context.note(stream, f"pagination strategy '{kind}'; the resource reads one page")
    return {"type": "single_page"}, params
