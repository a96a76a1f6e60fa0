"""Manifest-level constructs besides the streams: `api_budget` -> `client.rate_limit` and
`concurrency_level` -> `child_concurrency`; any other top-level key restsync has no use for is a line.

A budget of one policy that matches every request maps faithfully (calls per interval as requests
per second); several policies or policies limited to some requests take the strictest, with a line.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import iso_duration_seconds, mark_read

# keys of a DeclarativeSource that hold nothing to map (read elsewhere: spec defaults, definitions by $ref)
INERT = ("version", "type", "check", "definitions", "spec", "metadata", "schemas", "description", "streams")


def map_source(context: ImportContext, manifest: dict[str, Any], config: dict[str, Any]) -> None:
    """Set client.rate_limit and child_concurrency from the manifest; a line for other top-level keys."""
    for key in INERT:
        if key != "streams":
            mark_read(manifest.get(key))
        manifest.get(key)
    budget = manifest.get("api_budget")
    if budget:
        rate = _rate(context, budget)
        if rate:
            config["client"]["rate_limit"] = rate
    level = manifest.get("concurrency_level")
    if level:
        concurrency = _concurrency(context, level)
        if concurrency:
            config["child_concurrency"] = concurrency
    if manifest.get("dynamic_streams"):
        context.note(None, "dynamic_streams (streams generated at run time) are not imported", manifest.get("dynamic_streams"))


def _rate(context: ImportContext, budget: dict[str, Any]) -> Optional[float]:
    if budget.get("type") not in ("HTTPAPIBudget", "APIBudget", None):
        context.note(None, f"api_budget type '{budget.get('type')}'", budget)
        return None
    rates: list[float] = []
    limited = False
    for policy in budget.get("policies") or []:
        kind = policy.get("type")
        if policy.get("matchers"):
            limited = True
        if kind == "UnlimitedCallRatePolicy":
            continue
        if kind == "MovingWindowCallRatePolicy":
            for rate in policy.get("rates") or []:
                seconds = iso_duration_seconds(str(rate.get("interval", "")))
                if seconds and rate.get("limit"):
                    rates.append(float(rate["limit"]) / seconds)
                else:
                    context.note(None, f"api_budget rate {dict(rate)}", rate)
        elif kind == "FixedWindowCallRatePolicy":
            seconds = iso_duration_seconds(str(policy.get("period", "")))
            if seconds and policy.get("call_limit"):
                rates.append(float(policy["call_limit"]) / seconds)
            else:
                context.note(None, f"api_budget policy {kind} period '{policy.get('period')}'", policy)
        else:
            context.note(None, f"api_budget policy '{kind}'", policy)
    for key in ("ratelimit_reset_header", "ratelimit_remaining_header"):
        budget.get(key)  # restsync paces itself and honours Retry-After
    codes = budget.get("status_codes_for_ratelimit_hit")
    if codes and sorted(int(c) for c in codes) != [429]:
        context.approx(None, f"api_budget.status_codes_for_ratelimit_hit {list(codes)}: restsync treats 429 as the rate limit answer")
    if not rates:
        return None
    rate = round(min(rates), 4)
    if limited or len(rates) > 1:
        context.approx(None, f"api_budget: {len(rates)} rate(s), some for matching requests only; client.rate_limit {rate}/s "
                             "(the strictest) paces every request of the API")
    return rate


def _concurrency(context: ImportContext, level: Any) -> Optional[int]:
    value: Any = level.get("default_concurrency") if isinstance(level, dict) else level
    maximum = level.get("max_concurrency") if isinstance(level, dict) else None
    if isinstance(value, str):
        match = re.search(r"(?:,\s*|default\(\s*)(\d+)\s*\)", value) or re.fullmatch(r"\s*(\d+)\s*", value)
        if not match:
            context.note(None, f"concurrency_level '{value}'", level)
            return None
        value = int(match.group(1))
    try:
        number = int(value)
    except (TypeError, ValueError):
        context.note(None, f"concurrency_level '{value}'", level)
        return None
    if maximum:
        try:
            number = min(number, int(maximum))
        except (TypeError, ValueError):
            pass
    number = max(1, min(64, number))
    context.approx(None, f"concurrency_level {number}: child_concurrency (restsync's parallel child requests; the listings of one API run one after another)")
    return number
