"""Canonical config -> dlt source.

Top-level resources are paginated listings with our own cursor (see `listing.py`: dlt's
`incremental` cannot compare epoch-ms records with an ISO start, and fails on a missing field), delta
resources are delta rounds (`delta.py`). Child resources are dlt transformers (see `children.py`) fed either by their
parent resource in the same run, or by the parent's records already in the destination when the
parent is not selected, so materializing a child alone never re-crawls or re-cursors its parent.

`compile_rest_api_config` also emits the whole API as one plain dlt `RESTAPIConfig` (children as
`{resources.<parent>.<field>}`), which the benchmarks run through plain `rest_api_source`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

import dlt
from dlt.extract import DltResource, DltSource
from requests.auth import AuthBase

from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.extract.children import child_resource
from restsync_dagster.extract.delta import DeltaRound, delta_resource
from restsync_dagster.extract.listing import listing_resource
from restsync_dagster.extract.plan import ApiPlan, ResourcePlan, topological
from restsync_dagster.extract.record_hygiene import RecordHygiene
from restsync_dagster.extract.restart import RestartingRequests
from restsync_dagster.http.auth import RenewingOAuth2
from restsync_dagster.http.pages import ListingClient, ListingRequests
from restsync_dagster.http.replay import ResponseReplay
from restsync_dagster.http.session import ApiSession, RequestStats

StoredRows = Callable[[], Iterable[list[dict[str, Any]]]]


@dataclass
class BuiltSource:
    """A fresh dlt source for one run, with the per-resource HTTP statistics it will fill."""

    source: DltSource
    sessions: list[ApiSession] = field(default_factory=list)
    auth: Optional[AuthBase] = None
    delta_rounds: list[DeltaRound] = field(default_factory=list)

    @property
    def removed(self) -> dict[str, int]:
        """Entries of records deleted upstream that each delta resource read in this run."""
        return {round_.resource.name: round_.removed for round_ in self.delta_rounds}

    @property
    def stats(self) -> dict[str, RequestStats]:
        """The HTTP counts of each resource that makes requests in this run."""
        return {session.resource_name: session.stats for session in self.sessions}

    def close(self) -> None:
        """Stop the sessions' read-ahead threads and connections, and the token endpoint's, once the run is over."""
        for session in self.sessions:
            session.close()
        if isinstance(self.auth, RenewingOAuth2):
            self.auth.close()


def resource_hints(resource: Resource) -> dict[str, Any]:
    """The dlt resource hints every build of this resource shares."""
    hints: dict[str, Any] = {
        "name": resource.name,
        "table_name": resource.name,
        "primary_key": list(resource.primary_key_columns),
        "write_disposition": resource.write_disposition,
    }
    if resource.schema_contract is not None:
        hints["schema_contract"] = resource.schema_contract
    return hints


def shape_source(api: ApiConfig) -> DltSource:
    """A source with every resource's name, hints and parent edges, and no I/O or secrets.

    dagster-dlt derives asset specs from a source at code-location load; secrets are resolved only
    when a run starts, so the specs come from this shape and each run builds a real source.
    """
    # resources over empty lists, not functions: dlt inspects a function's signature for every
    # resource (~0.5 ms, a transformer ~1.4 ms), which adds up with 1,500 assets; parent edges
    # come from the config (the translator's deps), not from dlt transformers
    resources = [dlt.resource([], **resource_hints(resource)) for resource in topological(api)]
    return _as_source(api.name, resources)


def build_source(
    plan: ApiPlan,
    selected: Iterable[str],
    stored_parents: Optional[Mapping[str, StoredRows]] = None,
    replay: Optional[ResponseReplay] = None,
) -> BuiltSource:
    """A real source for the selected resources, plus the ancestors they need, from the run's plan
    (plan.py: settings resolved once when the run started).

    `stored_parents` maps a parent that is not selected to a reader of its records in the
    destination; a needed parent missing from it is crawled live (without loading it). `replay`
    answers the requests an earlier attempt of this phase already made (replay.py).
    """
    selected = set(selected)
    stored_parents = stored_parents or {}
    auth = plan.build_auth()
    needed = _with_ancestors(plan, selected, stop_at=set(stored_parents) - selected)
    sessions: list[ApiSession] = []
    rounds: list[DeltaRound] = []
    built: dict[str, DltResource] = {}
    for resource in plan.resources:
        if resource.name not in needed:
            continue
        hints = resource_hints(resource.model)
        if resource.name in stored_parents and resource.name not in selected:
            built[resource.name] = dlt.resource(stored_parents[resource.name], **hints)()
            continue
        session = _session(plan, resource, auth, replay)
        sessions.append(session)
        if resource.parent is None and resource.model.delta is not None and resource.name in selected:
            rounds.append(delta_round(plan, resource, session))
            built[resource.name] = delta_resource(rounds[-1], hints)
        elif resource.parent is None:
            # a delta resource crawled only to feed its children reads its whole list, as its rows
            # are not loaded: a delta round would give the children only the changed parents
            built[resource.name] = _top_level_resource(plan, resource, session, incremental=resource.name in selected)
        else:
            built[resource.name] = child_resource(plan, resource.model, built[resource.parent], _requests(plan, resource, session), hints)
    for name, built_resource in built.items():  # every resource fed by the API (record_hygiene.py)
        if name in selected or name not in stored_parents:
            built_resource.add_map(RecordHygiene(plan, plan.resource(name).model, check_primary_key=name in selected))
    source = _as_source(plan.name, list(built.values())).with_resources(*sorted(selected))
    return BuiltSource(source=source, sessions=sessions, auth=auth, delta_rounds=rounds)


def compile_endpoint(plan: ResourcePlan, incremental: bool = True) -> dict[str, Any]:
    """One resource as a dlt rest_api endpoint resource dict (raises the setting its query or headers miss).

    `incremental=False` compiles a resource that is crawled only to feed its children in this run:
    it must not read or move its own cursor, since its rows are not loaded.
    """
    plan = plan.resolved()
    resource = plan.model
    endpoint: dict[str, Any] = {
        "path": resource.endpoint.path,
        "params": dict(plan.params),
        "paginator": plan.make_paginator(),
    }
    if plan.headers:
        endpoint["headers"] = dict(plan.headers)
    if plan.data_selector is not None:
        endpoint["data_selector"] = plan.data_selector
    if incremental and resource.incremental is not None:
        endpoint["incremental"] = {
            "start_param": resource.incremental.param,
            "cursor_path": resource.incremental.cursor_paths[0],  # dlt's incremental takes one field
            "initial_value": resource.incremental.initial_value,
        }
        if resource.incremental.lag_seconds:
            endpoint["incremental"]["lag"] = resource.incremental.lag_seconds
    ignore = plan.error_handling.ignore_statuses
    if ignore:
        endpoint["response_actions"] = [{"status_code": status, "action": "ignore"} for status in ignore]
    return {**resource_hints(resource), "endpoint": endpoint}


def compile_rest_api_config(plan: ApiPlan) -> dict[str, Any]:
    """The whole API as a plain dlt RESTAPIConfig (for running it through dlt alone), parents first."""
    resources = [compile_endpoint(resource) for resource in plan.resources]
    session = _session(plan, plan.resources[0], plan.build_auth())
    return {"client": {"base_url": plan.client.base_url, "session": session, "headers": dict(plan.client.headers)}, "resources": resources}


def _top_level_resource(plan: ApiPlan, resource: ResourcePlan, session: ApiSession, incremental: bool) -> DltResource:
    """The resource's listing; `incremental=False`: crawled only to feed its children, its cursor untouched."""
    return listing_resource(plan, resource.model, _requests(plan, resource, session), resource_hints(resource.model), track_cursor=incremental)


def _requests(plan: ApiPlan, resource: ResourcePlan, session: ApiSession) -> ListingRequests:
    """How the resource's listings are requested over `session`, from its plan (raises the setting it misses)."""
    resource = resource.resolved()
    parts: dict[str, Any] = dict(
        client=ListingClient(
            base_url=plan.client.base_url, headers={**plan.client.headers, **resource.headers}, session=session, source_file=plan.source_file
        ),
        params=resource.params,
        hooks=resource.hooks,
        make_paginator=resource.make_paginator,
        data_selector=resource.data_selector,
    )
    incremental = resource.model.incremental
    if incremental is not None and incremental.restart_on is not None:  # Freshdesk's 300-page cap (restart.py)
        label = f"{plan.source_file or plan.name}: resource '{resource.model.name}'"
        return RestartingRequests(**parts, label=label, incremental=incremental)
    return ListingRequests(**parts)


def delta_round(plan: ApiPlan, resource: ResourcePlan, session: ApiSession) -> DeltaRound:
    """A delta round of the resource over `session`, paged and hooked as its plan says (raises the setting it misses)."""
    resource = resource.resolved()
    return DeltaRound(
        plan, resource.model, session, plan.client.base_url, {**plan.client.headers, **resource.headers}, resource.params,
        make_paginator=resource.make_paginator, hooks=resource.hooks,
    )


def _session(plan: ApiPlan, resource: ResourcePlan, auth: Any, replay: Optional[ResponseReplay] = None) -> ApiSession:
    return ApiSession(
        api_name=plan.name,
        resource_name=resource.name,
        base_url=plan.client.base_url,
        auth=auth,
        handling=resource.error_handling,
        allowed_hosts=plan.allowed_hosts,
        pool_size=plan.child_concurrency + plan.read_ahead_pages + 4,
        budget=plan.budget,
        read_ahead_pages=plan.read_ahead_pages,
        replay=replay,
    )


def _with_ancestors(plan: ApiPlan, names: set[str], stop_at: set[str]) -> set[str]:
    """The selected resources plus every parent needed to feed them, up to stored parents."""
    needed = set(names)
    for name in names:
        for parent in plan.ancestors(name):
            needed.add(parent)
            if parent in stop_at:
                break
    return needed


def _as_source(api_name: str, resources: list[DltResource]) -> DltSource:
    return DltSource.from_data(dlt.Schema(api_name), section=api_name, data=resources)
