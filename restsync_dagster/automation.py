"""Schedules and sensors built from each API's config.

- A schedule per API (cron + timezone from the config) runs all its assets: incremental resources
  fetch only what changed, the others reload and merge.
- A change sensor per API asks the API cheaply whether anything changed since what it saw last
  (one record, newest first, per incremental resource; for a delta query, the delta since the
  sensor's own link) and requests a run of exactly the changed resources and their descendants,
  or says why it skipped.
- Children follow parents through declarative automation (see `assets.py`): a child whose parent
  was materialized by a run that did not include it is requested by Dagster's automation sensor.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Optional

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dlt.common import jsonpath

from restsync_dagster.auth import RenewingOAuth2, build_auth
from restsync_dagster.config import ApiConfig, Resource
from restsync_dagster.cursor_values import later, parse_cursor
from restsync_dagster.delta import count_changes
from restsync_dagster.destination import make_pipeline
from restsync_dagster.incremental_state import cursor_of
from restsync_dagster.http import ApiSession
from restsync_dagster.runner import FULL_REFRESH_TAG
from restsync_dagster.settings import ResolvedClient, resolve_client, resolve_params
from restsync_dagster.source import delta_round

API_TAG = "restsync/api"


def api_job(api: ApiConfig) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        name=f"{api.name}_job",
        selection=AssetSelection.groups(api.name),
        tags={API_TAG: api.name},
        description=f"All assets of the {api.name} API.",
    )


def api_schedule(api: ApiConfig, job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=f"{api.name}_schedule",
        job=job,
        cron_schedule=api.schedule.cron,
        execution_timezone=api.schedule.timezone,
        default_status=DefaultScheduleStatus.RUNNING if api.schedule.enabled else DefaultScheduleStatus.STOPPED,
        description=f"Refresh {api.name}: incremental resources fetch only changes, the others reload and merge.",
    )


def full_refresh_schedules(api: ApiConfig) -> list[ScheduleDefinition]:
    """One schedule per distinct `full_refresh_cron` of the API, running those resources with the
    full-refresh tag: tables dropped and reloaded, so records deleted upstream disappear."""
    by_cron: dict[str, list[str]] = {}
    for resource in api.resources:
        if resource.full_refresh_cron:
            by_cron.setdefault(resource.full_refresh_cron, []).append(resource.name)
    schedules = []
    for number, (cron, names) in enumerate(sorted(by_cron.items()), start=1):
        suffix = "" if len(by_cron) == 1 else f"_{number}"
        job = define_asset_job(
            name=f"{api.name}_full_refresh{suffix}_job",
            selection=AssetSelection.assets(*[AssetKey([api.name, name]) for name in names]),
            tags={API_TAG: api.name, FULL_REFRESH_TAG: "true"},
            description=f"Full refresh of {api.name}: {', '.join(names)}.",
        )
        schedules.append(
            ScheduleDefinition(
                name=f"{api.name}_full_refresh{suffix}",
                job=job,
                cron_schedule=cron,
                execution_timezone=api.schedule.timezone,
                default_status=DefaultScheduleStatus.RUNNING if api.schedule.enabled else DefaultScheduleStatus.STOPPED,
                description=f"Drop and reload {', '.join(names)} of {api.name} to reconcile records deleted upstream.",
            )
        )
    return schedules


@dataclass(frozen=True)
class NewestRecord:
    """What a probe read: the cursor of the first record, and of the newest of all records returned."""

    first: Any
    newest: Any
    sorted_newest_first: bool  # False: a later record than the first came back (the sort is ignored)


def newest_cursor(api: ApiConfig, resource: Resource, session: ApiSession, base_url: str) -> Optional[NewestRecord]:
    """The cursor values the API answers the probe for its newest record with (None: no record)."""
    assert resource.incremental is not None
    params, headers = resolve_params(api, resource)
    response = session.get(
        f"{base_url}/{resource.endpoint.path.lstrip('/')}",
        params={**params, **resource.incremental.probe_params},
        headers=headers,
    )
    payload = response.json() if response.content else None
    records = jsonpath.find_values(resource.endpoint.data_selector, payload) if resource.endpoint.data_selector else payload
    if records and isinstance(records[0], list):
        records = records[0]
    if not records or not isinstance(records, list):
        return None
    fmt = resource.incremental.format
    raws = [values[0] if values else None for values in (jsonpath.find_values(resource.incremental.cursor_path, r) for r in records)]
    first = raws[0]
    top, top_raw = parse_cursor(first, fmt), first
    for raw in raws[1:]:  # a probe whose page size is ignored too returns many: its first must be the newest
        if later(parse_cursor(raw, fmt), top):
            top, top_raw = parse_cursor(raw, fmt), raw
    return NewestRecord(first=first, newest=top_raw, sorted_newest_first=top_raw is first)


def loaded_cursor(api: ApiConfig, resource: Resource) -> Optional[Any]:
    """The cursor the last committed run reached, from the pipeline's local state (no destination
    query: a run may hold the DuckDB file); None when unknown."""
    assert resource.incremental is not None
    try:
        state = make_pipeline(api.name).state
    except Exception:  # noqa: BLE001 - no local pipeline yet
        return None
    return cursor_of(state, api.name, resource.name, resource.incremental.cursor_path)


def _later(candidate: Any, seen: Any, fmt: str = "auto") -> bool:
    """Whether a cursor value is after another, as instants or numbers (never text against number)."""
    return later(parse_cursor(candidate, fmt), parse_cursor(seen, fmt)) if candidate is not None else False


def with_descendants(api: ApiConfig, names: set[str]) -> set[str]:
    result = set(names)
    frontier = set(names)
    while frontier:
        frontier = {child.name for parent in frontier for child in api.children_of(parent)} - result
        result |= frontier
    return result


def evaluate_changes(api: ApiConfig, cursor: dict[str, Optional[str]]) -> tuple[set[str], dict[str, Optional[str]], list[str]]:
    """(changed resources, new cursor, notes) from one probe per top-level resource that tracks changes."""
    client = resolve_client(api)
    auth = build_auth(api.name, client, api.error_handling)
    changed: set[str] = set()
    notes: list[str] = []
    new_cursor = dict(cursor)
    try:
        for resource in api.resources:
            if not resource.tracks_changes or resource.parent is not None:
                continue
            with ApiSession(api.name, resource.name, client.base_url, auth, api.error_handling_for(resource), api.client.allowed_hosts) as session:
                probe = _probe_delta if resource.delta is not None else _probe_cursor
                is_changed, new_cursor[resource.name], note = probe(api, resource, client, session, cursor.get(resource.name))
            if is_changed:
                changed.add(resource.name)
            notes.append(f"{resource.name}: {note}")
    finally:
        if isinstance(auth, RenewingOAuth2):
            auth.close()  # every sensor tick builds its own: leave no connection behind
    return changed, new_cursor, notes


Probe = tuple[bool, Optional[str], str]  # (changed, the sensor's new cursor for the resource, a note)


def _probe_cursor(api: ApiConfig, resource: Resource, client: ResolvedClient, session: ApiSession, seen: Optional[str]) -> Probe:
    """Changed when the API's newest record is newer than the newest one seen or loaded before.

    A probe whose sort the API ignores (its "newest" is older than what was seen or loaded, or a
    later record than its first came back) cannot tell: the resource is run at the sensor's
    interval instead, and the note says so."""
    assert resource.incremental is not None
    fmt, path = resource.incremental.format, resource.incremental.cursor_path
    probe = newest_cursor(api, resource, session, client.base_url)
    newest = probe.newest if probe is not None else None
    loaded = loaded_cursor(api, resource)
    known = seen if not _later(loaded, seen, fmt) else loaded
    if probe is not None and (not probe.sorted_newest_first or _later(known, probe.first, fmt)):
        keep = newest if _later(newest, known, fmt) else known
        return True, keep, (
            f"its probe ignores the sort ({', '.join(f'{k}={v}' for k, v in resource.incremental.probe_params.items())}): "
            f"the 'newest' {path} {probe.first} is older than {known if _later(known, probe.first, fmt) else newest}; "
            f"run at the sensor's interval ({api.sensor.minimum_interval_seconds}s) instead"
        )
    if _later(newest, known, fmt):
        return True, newest, f"newest {path} {newest} > {known or 'never seen'}"
    return False, known, f"nothing newer than {known}"


def _probe_delta(api: ApiConfig, resource: Resource, client: ResolvedClient, session: ApiSession, seen: Optional[str]) -> Probe:
    """Changed when the delta since the sensor's own link (first time: from now) has entries.

    A cursor value that is no link (the resource tracked a cursor before) counts as never checked;
    an expired link starts watching from now and counts as changed (the gap is unknown)."""
    seen = seen if seen and seen.startswith(("http://", "https://")) else None
    round_ = delta_round(api, resource, client, session)
    changes = count_changes(round_, seen)
    if round_.next_link is None:  # an answer the config ignores (e.g. 403) cut the round short
        return False, seen, "its delta answered a status error_handling.ignore_statuses skips; nothing to compare"
    link = round_.next_link
    if seen is None:
        return True, link, "never checked; its delta is watched from now"
    if round_.restarted:
        return True, link, "its delta link expired; watched again from now"
    if changes:
        return True, link, f"{changes} change(s) in its delta since the last check"
    return False, link, "no change in its delta since the last check"


def change_sensor(api: ApiConfig, job: UnresolvedAssetJobDefinition) -> Optional[SensorDefinition]:
    """Poll the API's newest records; request a run of only what changed."""
    if not any(r.tracks_changes and r.parent is None for r in api.resources):
        return None

    def evaluate(context: SensorEvaluationContext) -> Any:
        cursor = json.loads(context.cursor) if context.cursor else {}
        changed, new_cursor, notes = evaluate_changes(api, cursor)
        if not changed:
            return SensorResult(skip_reason=SkipReason(f"no changes upstream: {'; '.join(notes)}"), cursor=json.dumps(new_cursor))
        selection = sorted(with_descendants(api, changed))
        blind = any("ignores the sort" in note for note in notes)
        return SensorResult(
            run_requests=[
                RunRequest(
                    # a blind probe (its sort ignored) keeps its cursor: the tick time keeps its runs apart
                    run_key=f"{api.name}:{json.dumps(new_cursor, sort_keys=True)}" + (f":{int(time.time())}" if blind else ""),
                    asset_selection=[AssetKey([api.name, name]) for name in selection],
                    tags={API_TAG: api.name, "restsync/reason": "; ".join(n for n in notes if n.split(":", 1)[0] in changed)[:200]},
                )
            ],
            cursor=json.dumps(new_cursor),
        )

    return SensorDefinition(
        name=f"{api.name}_changes",
        evaluation_fn=evaluate,
        minimum_interval_seconds=api.sensor.minimum_interval_seconds,
        job=job,
        default_status=DefaultSensorStatus.RUNNING if api.sensor.enabled else DefaultSensorStatus.STOPPED,
        description=f"Asks {api.name} for its newest records and requests a run of only the changed resources.",
    )


def children_follow_parents_sensor(apis: list[ApiConfig]) -> Optional[AutomationConditionSensorDefinition]:
    """Evaluates the children's `eager` condition: a parent materialized by a run that did not include
    its children (a parent-only selection, a sensor run) gets them requested. Running by default, unlike
    Dagster's implicit automation sensor, so `dagster dev` keeps children fresh without a click."""
    children = [AssetKey([api.name, r.name]) for api in apis for r in api.resources if r.parent is not None]
    if not children:
        return None
    return AutomationConditionSensorDefinition(
        "children_follow_parents",
        target=AssetSelection.assets(*children),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Requests a child asset when its parent was materialized without it.",
    )
