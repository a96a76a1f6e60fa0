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
from dlt.sources.rest_api.config_setup import create_response_hooks
from requests.auth import AuthBase

from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.config.settings import (
    ResolvedClient,
    resolve_client,
    resolve_params,
)
from restsync_dagster.extract.children import child_resource, compiled_data_selector
from restsync_dagster.extract.delta import DeltaRound, delta_resource
from restsync_dagster.extract.listing import listing_resource
from restsync_dagster.extract.record_hygiene import RecordHygiene
from restsync_dagster.http.auth import RenewingOAuth2, build_auth
from restsync_dagster.http.pages import ListingClient, ListingRequests
from restsync_dagster.http.paginator_factory import build_paginator
from restsync_dagster.http.ratelimit import budget_for
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
    resources = [dlt.resource([], **resource_hints(resource)) for resource in _topological(api)]
    return _as_source(api, resources)


def build_source(
    api: ApiConfig,
    selected: Iterable[str],
    stored_parents: Optional[Mapping[str, StoredRows]] = None,
    client: Optional[ResolvedClient] = None,
    replay: Optional[ResponseReplay] = None,
) -> BuiltSource:
    """A real source for the selected resources, plus the ancestors they need.

    `stored_parents` maps a parent that is not selected to a reader of its records in the
    destination; a needed parent missing from it is crawled live (without loading it). `replay`
    answers the requests an earlier attempt of this phase already made (replay.py).
    """
    selected = set(selected)
    stored_parents = stored_parents or {}
    client = client or resolve_client(api)
    auth = build_auth(api.name, client, api.error_handling)
    needed = _with_ancestors(api, selected, stop_at=set(stored_parents) - selected)
    sessions: list[ApiSession] = []
    rounds: list[DeltaRound] = []
    built: dict[str, DltResource] = {}
    for resource in _topological(api):
        if resource.name not in needed:
            continue
        if resource.name in stored_parents and resource.name not in selected:
            built[resource.name] = dlt.resource(stored_parents[resource.name], **resource_hints(resource))()
            continue
        session = _session(api, resource, client, auth, replay)
        sessions.append(session)
        if resource.parent is None and resource.delta is not None and resource.name in selected:
            rounds.append(delta_round(api, resource, client, session))
            built[resource.name] = delta_resource(rounds[-1], resource_hints(resource))
        elif resource.parent is None:
            # a delta resource crawled only to feed its children reads its whole list, as its rows
            # are not loaded: a delta round would give the children only the changed parents
            built[resource.name] = _top_level_resource(api, resource, client, session, incremental=resource.name in selected)
        else:
            built[resource.name] = child_resource(
                api, resource, built[resource.parent], _requests(api, resource, client, session), resource_hints(resource)
            )
    for name, built_resource in built.items():  # every resource fed by the API (record_hygiene.py)
        if name in selected or name not in stored_parents:
            built_resource.add_map(RecordHygiene(api, api.resource(name), check_primary_key=name in selected))
    source = _as_source(api, list(built.values())).with_resources(*sorted(selected))
    return BuiltSource(source=source, sessions=sessions, auth=auth, delta_rounds=rounds)


def compile_endpoint(
    api: ApiConfig, resource: Resource, params: Mapping[str, Any], headers: Mapping[str, str], incremental: bool = True
) -> dict[str, Any]:
    """One resource as a dlt rest_api endpoint resource dict.

    `incremental=False` compiles a resource that is crawled only to feed its children in this run:
    it must not read or move its own cursor, since its rows are not loaded.
    """
    endpoint: dict[str, Any] = {
        "path": resource.endpoint.path,
        "params": dict(params),
        "paginator": _paginator(api, resource),
    }
    if headers:
        endpoint["headers"] = dict(headers)
    data_selector = compiled_data_selector(resource)
    if data_selector is not None:
        endpoint["data_selector"] = data_selector
    if incremental and resource.incremental is not None:
        endpoint["incremental"] = {
            "start_param": resource.incremental.param,
            "cursor_path": resource.incremental.cursor_path,
            "initial_value": resource.incremental.initial_value,
        }
        if resource.incremental.lag_seconds:
            endpoint["incremental"]["lag"] = resource.incremental.lag_seconds
    ignore = api.error_handling_for(resource).ignore_statuses
    if ignore:
        endpoint["response_actions"] = [{"status_code": status, "action": "ignore"} for status in ignore]
    return {**resource_hints(resource), "endpoint": endpoint}


def compile_rest_api_config(api: ApiConfig, client: Optional[ResolvedClient] = None) -> dict[str, Any]:
    """The whole API as a plain dlt RESTAPIConfig (for running it through dlt alone)."""
    client = client or resolve_client(api)
    resources = []
    for resource in api.resources:
        params, headers = resolve_params(api, resource)
        resources.append(compile_endpoint(api, resource, params, headers))
    session = _session(api, api.resources[0], client, build_auth(api.name, client, api.error_handling))
    return {"client": {"base_url": client.base_url, "session": session, "headers": dict(client.headers)}, "resources": resources}


def _top_level_resource(
    api: ApiConfig, resource: Resource, client: ResolvedClient, session: ApiSession, incremental: bool
) -> DltResource:
    """The resource's listing; `incremental=False`: crawled only to feed its children, its cursor untouched."""
    return listing_resource(api, resource, _requests(api, resource, client, session), resource_hints(resource), track_cursor=incremental)


def _requests(api: ApiConfig, resource: Resource, client: ResolvedClient, session: ApiSession) -> ListingRequests:
    """How the resource's listings are requested in this run, its params and headers resolved once."""
    params, headers = resolve_params(api, resource)
    return ListingRequests(
        client=ListingClient(base_url=client.base_url, headers={**client.headers, **headers}, session=session, source_file=api.source_file),
        params=params,
        hooks=_hooks(api, resource),
        make_paginator=lambda: _paginator(api, resource),
        data_selector=compiled_data_selector(resource),
    )


def delta_round(api: ApiConfig, resource: Resource, client: ResolvedClient, session: ApiSession) -> DeltaRound:
    """A delta round of the resource over `session`, paged and hooked as its config says."""
    params, headers = resolve_params(api, resource)
    return DeltaRound(
        api, resource, session, client.base_url, {**client.headers, **headers}, params,
        make_paginator=lambda: _paginator(api, resource), hooks=_hooks(api, resource),
    )


def _session(api: ApiConfig, resource: Resource, client: ResolvedClient, auth: Any, replay: Optional[ResponseReplay] = None) -> ApiSession:
    return ApiSession(
        api_name=api.name,
        resource_name=resource.name,
        base_url=client.base_url,
        auth=auth,
        handling=api.error_handling_for(resource),
        allowed_hosts=api.client.allowed_hosts,
        pool_size=api.child_concurrency + api.client.read_ahead_pages + 4,
        budget=budget_for(api.name, api.client.rate_limit),
        read_ahead_pages=api.client.read_ahead_pages,
        replay=replay,
    )


def _paginator(api: ApiConfig, resource: Resource) -> Any:
    return build_paginator(
        resource.endpoint.paginator,
        label=f"{api.source_file}: API '{api.name}', resource '{resource.name}'" if api.source_file else f"API '{api.name}', resource '{resource.name}'",
        max_pages=api.error_handling_for(resource).max_pages,
    )


def _hooks(api: ApiConfig, resource: Resource) -> Optional[dict[str, Any]]:
    ignore = api.error_handling_for(resource).ignore_statuses
    return create_response_hooks([{"status_code": s, "action": "ignore"} for s in ignore]) if ignore else None


def _with_ancestors(api: ApiConfig, names: set[str], stop_at: set[str]) -> set[str]:
    """The selected resources plus every parent needed to feed them, up to stored parents."""
    needed = set(names)
    for name in names:
        parent = api.resource(name).parent
        while parent is not None:
            needed.add(parent)
            if parent in stop_at:
                break
            parent = api.resource(parent).parent
    return needed


def _topological(api: ApiConfig) -> list[Resource]:
    """Parents before children (config validation guarantees the graph is acyclic)."""
    ordered: list[Resource] = []
    placed: set[str] = set()
    pending = list(api.resources)
    while pending:
        for resource in list(pending):
            if resource.parent is None or resource.parent in placed:
                ordered.append(resource)
                placed.add(resource.name)
                pending.remove(resource)
    return ordered


def _as_source(api: ApiConfig, resources: list[DltResource]) -> DltSource:
    return DltSource.from_data(dlt.Schema(api.name), section=api.name, data=resources)
