"""`DefaultErrorHandler` / `CompositeErrorHandler` -> `error_handling`: RETRY / IGNORE filters,
max_retries, exponential backoff. Other strategies and filters are noted (Retry-After is honoured anyway).
"""

from __future__ import annotations

from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext


def map_error_handler(context: ImportContext, stream: str, handler: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The `error_handling` of a stream's error handler, or None when it has none (or nothing mapped)."""
    if not handler:
        return None
    handlers = handler.get("error_handlers", []) if handler.get("type") == "CompositeErrorHandler" else [handler]
    result: dict[str, Any] = {}
    retry: set[int] = set()
    ignore: set[int] = set()
    for one in handlers:
        if "max_retries" in one:
            result["max_retries"] = int(one["max_retries"])
        for strategy in one.get("backoff_strategies") or []:
            if strategy.get("type") == "ExponentialBackoffStrategy":
                result["backoff_factor"] = float(strategy.get("factor", 5))
            elif strategy.get("type") != "WaitTimeFromHeader":  # Retry-After is honoured anyway
                context.note(stream, f"error_handler backoff strategy '{strategy.get('type')}'")
        for response_filter in one.get("response_filters") or []:
            codes = {int(c) for c in response_filter.get("http_codes") or []}
            action = response_filter.get("action")
            if action in ("RETRY", "RATE_LIMITED"):
                retry |= codes
            elif action == "IGNORE":
                ignore |= codes
            elif action != "FAIL" or response_filter.get("error_message_contains") or response_filter.get("predicate"):
                context.note(stream, f"error_handler filter {response_filter}")
    if retry:
        result["retry_statuses"] = sorted(retry | {429})
    if ignore:
        result["ignore_statuses"] = sorted(ignore)
    return result or None
