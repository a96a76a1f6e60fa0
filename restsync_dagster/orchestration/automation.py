"""Schedules and sensors built from each API's config.

- A schedule per API (cron + timezone from the config) runs all its assets: incremental resources
  fetch only what changed, the others reload and merge.
- A change sensor per API asks the API cheaply whether anything changed since what it saw last
  (a few records, newest first and filtered on the cursor, per incremental resource; for a delta
  query, the delta since the sensor's own link) and requests a run of exactly the changed
  resources and their descendants, or says why it skipped. A probe that cannot tell (the API
  ignores both its sort and its filter, or no record has the cursor field) runs its resource every
  tick, and says which config field to fix.
- Children follow parents through declarative automation (see `assets.py`): a child whose parent
  was materialized by a run that did not include it is requested by Dagster's automation sensor.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Optional

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
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dlt.common import jsonpath
from dlt.sources.helpers.rest_client.detector import find_response_page_data

from restsync_dagster.config.cursor_values import (
    CursorFormatError,
    CursorValue,
    format_cursor,
    later,
    parse_cursor,
)
from restsync_dagster.config.change_tracking import IncrementalConfig
from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.extract.cursor_tracker import CursorFields, suggest_cursor_fields
from restsync_dagster.extract.delta import count_changes
from restsync_dagster.extract.incremental_state import cursor_of
from restsync_dagster.extract.plan import ApiPlan, ResourcePlan, resolve_plan
from restsync_dagster.extract.source import delta_round
from restsync_dagster.http.auth import RenewingOAuth2
from restsync_dagster.http.session import ApiSession
from restsync_dagster.load.destination import committed_state
from restsync_dagster.load.request_budget import shared_budget
from restsync_dagster.orchestration.runner import FULL_REFRESH_TAG

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


# page-size parameters a probe may name; a page of 1 is widened so the order can be checked
PAGE_SIZE_PARAMS = ("limit", "per_page", "page_size", "pageSize", "size", "$top", "top", "maxResults")
PROBE_RECORDS = 5


@dataclass(frozen=True)
class ProbeAnswer:
    """What a probe read: each record's raw cursor value (None: the record has none), in the order
    the API sent them, the filter and page size sent, and a record to suggest cursor fields from."""

    raws: list[Any]
    sent: Any  # the filter value sent (None: none)
    asked: Optional[int]  # the page size asked (None: the probe names none)
    sample: Optional[Mapping[str, Any]]


def probe_query(resource: Resource, known: Optional[CursorValue]) -> dict[str, Any]:
    """The probe's query: `incremental.probe_params`, a page size of 1 there widened to
    PROBE_RECORDS (a single record cannot show whether the sort held), and once a cursor is known
    the filter `incremental.param` set to it (in `incremental.format`; no lag: only what is newer
    than what was seen matters)."""
    inc = resource.incremental
    assert inc is not None
    query: dict[str, Any] = dict(inc.probe_params)
    for name in PAGE_SIZE_PARAMS:
        if str(query.get(name)) == "1":
            query[name] = PROBE_RECORDS
    if known is not None:
        try:
            query[inc.param] = format_cursor(known, inc.format)
        except CursorFormatError:
            pass  # a cursor the filter cannot take: probe without it (the order is checked still)
    return query


def probe_records(planned: ResourcePlan, session: ApiSession, base_url: str, known: Optional[CursorValue]) -> ProbeAnswer:
    """The probe's answer: the cursor of every record it returned (none: an empty list); raises the
    setting the resource's query or headers miss."""
    planned = planned.resolved()
    resource = planned.model
    inc = resource.incremental
    assert inc is not None
    query = probe_query(resource, known)
    response = session.get(f"{base_url}/{resource.endpoint.path.lstrip('/')}", params={**planned.params, **query}, headers=dict(planned.headers))
    payload = response.json() if response.content else None
    records = _records_of(payload, resource.endpoint.data_selector)
    records = [r for r in records if isinstance(r, Mapping)]
    fields = CursorFields(inc)
    raws = [fields.raw(r) for r in records]
    sample = next((r for r, raw in zip(records, raws) if raw is None), records[0] if records else None)
    sizes = [int(query[name]) for name in PAGE_SIZE_PARAMS if str(query.get(name, "")).isdigit()]
    return ProbeAnswer(raws=raws, sent=query.get(inc.param), asked=min(sizes) if sizes else None, sample=sample)


def _records_of(payload: Any, data_selector: Optional[str]) -> list[Any]:
    """The records of a probe's answer, found as the listing finds them (`pages.ListingClient`):
    at the data selector, or without one where dlt detects the page data (`find_response_page_data`:
    a bare list, the list in an envelope such as `{"data": [...]}`, a single object as one record)."""
    if payload is None:
        return []
    if data_selector:
        values = jsonpath.find_values(data_selector, payload)
        data = values[0] if len(values) == 1 else values
    else:
        _, data = find_response_page_data(payload)
    if isinstance(data, list):
        return data
    return [data] if isinstance(data, Mapping) else []


def loaded_cursor(api: ApiConfig, resource: Resource) -> Optional[Any]:
    """The cursor the last committed run reached, from the pipeline's local state (no destination
    query: a run may hold the DuckDB file); None when unknown."""
    assert resource.incremental is not None
    state = committed_state(api.name)  # never dlt.pipeline(): it would recreate a first run's folder
    if state is None:
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


class Changes(NamedTuple):
    changed: set[str]  # resources to run
    cursor: dict[str, Any]  # the sensor's new cursor, per resource
    notes: list[str]  # "<resource>: why", one per probed resource
    blind: set[str]  # resources run because their probe cannot tell (run every tick)


def evaluate_changes(api: ApiConfig, cursor: dict[str, Any]) -> Changes:
    """What changed, from one probe per top-level resource that tracks changes."""
    plan = resolve_plan(api, shared_budget)  # the tick's settings, resolved once (plan.py)
    auth = plan.build_auth()
    base_url = plan.client.base_url
    result = Changes(set(), dict(cursor), [], set())
    try:
        for resource in api.resources:
            if not resource.tracks_changes or resource.parent is not None:
                continue
            planned = plan.resource(resource.name)
            with ApiSession(api.name, resource.name, base_url, auth, planned.error_handling, plan.allowed_hosts) as session:
                if resource.delta is not None:
                    is_changed, result.cursor[resource.name], note = _probe_delta(plan, planned, session, cursor.get(resource.name))
                    blind = False
                else:
                    is_changed, result.cursor[resource.name], note, blind = _probe_cursor(api, planned, base_url, session, cursor.get(resource.name))
            if is_changed:
                result.changed.add(resource.name)
            if blind:
                result.blind.add(resource.name)
            result.notes.append(f"{resource.name}: {note}")
    finally:
        if isinstance(auth, RenewingOAuth2):
            auth.close()  # every sensor tick builds its own: leave no connection behind
    return result


Probe = tuple[bool, Optional[str], str]  # (changed, the sensor's new cursor for the resource, a note)
CursorProbe = tuple[bool, Any, str, bool]  # ... and whether the probe could not tell (run every tick)


def _probe_cursor(api: ApiConfig, planned: ResourcePlan, base_url: str, session: ApiSession, seen: Any) -> CursorProbe:
    """Changed when a record the probe returned is newer than the newest one seen or loaded before.

    The probe is filtered on that cursor and every record it returns is read. "Nothing newer" is
    believed only when the answer is complete (fewer records than asked, as an honoured filter
    makes it) or the sort visibly held (see `_doubt`). Otherwise (the API ignores both), or when no
    record carries the cursor field, the sensor cannot tell: the resource is run every tick and
    the note says which config field to fix. The sensor's cursor only moves to a value it read."""
    resource = planned.model
    inc = resource.incremental
    assert inc is not None
    fmt, path, interval = inc.format, " | ".join(inc.cursor_paths), api.sensor.minimum_interval_seconds
    blind = f"cannot tell, run at the sensor's interval ({interval}s)"
    loaded = loaded_cursor(api, resource)
    known_raw = loaded if _later(loaded, seen, fmt) else seen
    known = parse_cursor(known_raw, fmt)
    if known is None:
        known_raw = None  # a value that is no cursor counts as never seen
    answer = probe_records(planned, session, base_url, known)
    read = [(raw, value) for raw, value in ((raw, parse_cursor(raw, fmt)) for raw in answer.raws) if value is not None]
    if not answer.raws:
        sent = f" ({inc.param}={answer.sent})" if answer.sent is not None else ""
        return False, known_raw, f"no record newer than {known_raw}{sent}" if known_raw is not None else "no record yet", False
    if not read:
        return True, known_raw, f"{blind}: {_missing_cursor(inc, answer)}", True
    newest_raw, newest = read[0]
    for raw, value in read[1:]:
        if later(value, newest):
            newest_raw, newest = raw, value
    if known is not None and not any(value.comparable(known) for _, value in read):
        return True, newest_raw, f"its {path} values changed form ({newest_raw!r}, {known_raw!r} before); watched from the newest read", False
    doubt = _doubt(resource, answer, read, known, known_raw)
    if later(newest, known):
        return True, newest_raw, f"newest {path} {newest_raw} > {known_raw or 'never seen'}" + (f"; {doubt}" if doubt else ""), doubt is not None
    if doubt is not None:
        return True, known_raw, f"{blind}: {doubt}", True
    sent = f" ({inc.param}={answer.sent} honoured)" if answer.sent is not None and _filter_held(answer, read, fmt) else ""
    return False, known_raw, f"nothing newer than {known_raw}{sent}", False


def _filter_held(answer: ProbeAnswer, read: list[tuple[Any, CursorValue]], fmt: str) -> bool:
    """Whether the probe's filter was sent and nothing it returned is older than the value sent."""
    sent = parse_cursor(answer.sent, fmt) if answer.sent is not None else None
    return sent is not None and not any(later(sent, value) for _, value in read)


def _doubt(resource: Resource, answer: ProbeAnswer, read: list[tuple[Any, CursorValue]], known: Optional[CursorValue], known_raw: Any) -> Optional[str]:
    """Why the probe's answer cannot show that nothing is newer than `known` (None: it can).

    It can when the answer is complete (fewer records than the page size asked: everything the
    API would list was read; an honoured filter makes it so), or when the sort held: records newest
    first, the first not older than what was seen or loaded, and a full page not all one value
    (equal values prove no order). A single record, a page size not known, is taken as sorted."""
    inc = resource.incremental
    assert inc is not None
    disorder = next(((a, b) for (a, va), (b, vb) in zip(read, read[1:]) if later(vb, va)), None)
    (first_raw, first), (_, last) = read[0], read[-1]
    complete = answer.asked is not None and len(answer.raws) < answer.asked
    sort_held = disorder is None and not later(known, first) and (len(read) < 2 or later(first, last))
    if complete or sort_held:
        return None
    sort = ", ".join(f"{k}={v}" for k, v in inc.probe_params.items())
    why = (
        f"the 'newest' {' | '.join(inc.cursor_paths)} {first_raw} is older than {known_raw}" if later(known, first)
        else f"{disorder[0]} came before {disorder[1]}" if disorder is not None
        else f"a full page of {len(read)} records all at {first_raw}"
    )
    if answer.sent is None:
        also = f"no cursor yet to filter on (incremental.param {inc.param})"
    elif _filter_held(answer, read, inc.format):
        also = f"a full page at or after {inc.param}={answer.sent} may hide a newer record"
    else:
        oldest = min(((raw, value) for raw, value in read if value.comparable(known or value)), key=lambda pair: pair[1].key)[0]
        also = f"so does its filter (field 'incremental.param': {inc.param}={answer.sent}): {oldest} came back"
    return f"its probe ignores the sort (field 'incremental.probe_params': {sort}): {why}; {also}"


def _missing_cursor(inc: IncrementalConfig, answer: ProbeAnswer) -> str:
    """Why no record the probe returned has a cursor, and the fields that look like one."""
    unparsable = next((raw for raw in answer.raws if raw is not None), None)
    if unparsable is not None:
        return f"field 'incremental.cursor_path': values of {inc.cursor_names} are no time and no number (e.g. {unparsable!r})"
    suggestions = suggest_cursor_fields(answer.sample or {}, inc.cursor_paths[0])
    hint = (
        "fields that look like one: " + ", ".join(f"'{name}'" for name in suggestions)
        if suggestions
        else f"no field looks like a time (fields: {', '.join(sorted(map(str, answer.sample or {}))[:15])})"
    )
    return f"field 'incremental.cursor_path': none of the {len(answer.raws)} records its probe returned has {inc.cursor_names}; {hint}"


def _probe_delta(plan: ApiPlan, planned: ResourcePlan, session: ApiSession, seen: Optional[str]) -> Probe:
    """Changed when the delta since the sensor's own link (first time: from now) has entries.

    A cursor value that is no link (the resource tracked a cursor before) counts as never checked;
    an expired link starts watching from now and counts as changed (the gap is unknown)."""
    seen = seen if seen and seen.startswith(("http://", "https://")) else None
    round_ = delta_round(plan, planned, session)
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
        changed, new_cursor, notes, blind = evaluate_changes(api, cursor)
        if not changed:
            return SensorResult(skip_reason=SkipReason(f"no changes upstream: {'; '.join(notes)}"), cursor=json.dumps(new_cursor))
        selection = sorted(with_descendants(api, changed))
        reason = "; ".join(n for n in notes if n.split(":", 1)[0] in changed)
        context.log.info(f"requesting {', '.join(selection)}: {reason}")  # the tag below is cut short
        return SensorResult(
            run_requests=[
                RunRequest(
                    # a probe that cannot tell keeps its cursor: the tick's time keeps its runs apart
                    run_key=f"{api.name}:{json.dumps(new_cursor, sort_keys=True)}" + (f":{time.time_ns()}" if blind else ""),
                    asset_selection=[AssetKey([api.name, name]) for name in selection],
                    tags={API_TAG: api.name, "restsync/reason": reason[:500]},
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
