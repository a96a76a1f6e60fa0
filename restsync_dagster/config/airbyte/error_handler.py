"""`DefaultErrorHandler` / `CompositeErrorHandler` -> `error_handling`: RETRY / RATE_LIMITED / IGNORE /
FAIL filters over Airbyte's default mapping (429 and 5xx retried), max_retries (Airbyte's default 5),
exponential backoff (default factor 5). `RESET_PAGINATION` filters are kept for `incremental`
(restart_on). Filters on a body text or predicate, and other backoff strategies, are lines.
"""

from __future__ import annotations

from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext

AIRBYTE_RETRIED = frozenset({429, 500, 502, 503, 504})  # the CDK's default error mapping retries these


def map_error_handler(context: ImportContext, stream: str, handler: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The `error_handling` of a stream's error handler, or None when it has none."""
    if not handler:
        return None
    kind = handler.get("type")
    if kind == "CompositeErrorHandler":
        handlers = handler.get("error_handlers") or []
    elif kind in ("DefaultErrorHandler", None):
        handlers = [handler]
    else:
        context.note(stream, f"error_handler type '{kind}' (restsync's default error handling applies)", handler)
        return None
    result: dict[str, Any] = {"max_retries": 5, "backoff_factor": 5.0}
    retry: set[int] = set()
    ignore: set[int] = set()
    fail: set[int] = set()
    for one in handlers:
        if one.get("type") not in ("DefaultErrorHandler", None):
            context.note(stream, f"error_handler type '{one.get('type')}'", one)
            continue
        if "max_retries" in one:
            result["max_retries"] = int(one["max_retries"])
        for strategy in one.get("backoff_strategies") or []:
            _backoff(context, stream, strategy, result)
        for response_filter in one.get("response_filters") or []:
            codes = {int(c) for c in response_filter.get("http_codes") or []}
            action = response_filter.get("action")
            message = response_filter.get("error_message_contains")
            if response_filter.get("predicate") or response_filter.get("error_message"):
                context.note(stream, f"error_handler filter {dict(response_filter)} (restsync matches statuses only)", response_filter)
                continue
            if action == "RESET_PAGINATION":
                context.resets.setdefault(stream, []).append((sorted(codes), str(message or "")))
                continue
            if not codes:
                context.note(stream, f"error_handler filter {dict(response_filter)} names no http_codes", response_filter)
                continue
            if message:
                context.approx(stream, f"error_handler filter {action} {sorted(codes)} on '{message}' applies to every answer with that status")
            if action in ("RETRY", "RATE_LIMITED"):
                retry |= codes
            elif action == "IGNORE":
                ignore |= codes
            elif action == "FAIL":
                fail |= codes
            else:
                context.note(stream, f"error_handler filter action '{action}' {sorted(codes)}", response_filter)
            response_filter.get("failure_type")  # how Airbyte classifies a failure: no restsync meaning
    result["retry_statuses"] = sorted((AIRBYTE_RETRIED - fail - ignore) | retry)
    if ignore:
        result["ignore_statuses"] = sorted(ignore)
    return result


def _backoff(context: ImportContext, stream: str, strategy: dict[str, Any], result: dict[str, Any]) -> None:
    kind = strategy.get("type")
    if kind == "ExponentialBackoffStrategy":
        factor = strategy.get("factor", 5)
        try:
            result["backoff_factor"] = float(factor)
        except (TypeError, ValueError):
            context.note(stream, f"error_handler backoff factor '{factor}' (a template); factor 5 kept")
    elif kind == "WaitTimeFromHeader" and str(strategy.get("header", "Retry-After")).lower() == "retry-after":
        strategy.get("regex")
        return  # Retry-After is honoured anyway
    elif kind == "ConstantBackoffStrategy":
        context.approx(stream, f"error_handler constant backoff {strategy.get('backoff_time_in_seconds')}s: restsync backs off exponentially", strategy)
    else:
        context.approx(stream, f"error_handler backoff strategy '{kind}' {dict(strategy)}: restsync backs off exponentially and honours Retry-After", strategy)
