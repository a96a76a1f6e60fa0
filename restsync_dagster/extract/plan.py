"""One run's resolved plan of an API: every setting and secret filled in once, when the run starts.

`resolve_plan(api)` is the only place that resolves a config's settings (`config/settings.py`:
`resolve_client`, `resolve_params`). It returns an immutable `ApiPlan`: the resolved client (base
URL, auth with its secrets, headers), what the sessions are bounded by, and one `ResourcePlan` per
resource, parents before children, with its resolved query and headers, paginator factory,
response hooks and compiled data selector. A run, a sensor tick or a probe resolves one plan and
hands its pieces down; nothing below orchestration reads `${secrets.x}` again.

A setting the client needs (base URL, auth, client headers) fails the whole plan, raised from here.
A setting only one resource's query or headers need fails that resource alone: its plan keeps the
error (`ResourcePlan.problem`), raised by `ResourcePlan.resolved()` where the resource is about to
be requested, so a run fails only that resource (and its children).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

from dlt.sources.rest_api.config_setup import create_response_hooks
from requests.auth import AuthBase

from restsync_dagster.config.errors import SettingError
from restsync_dagster.config.model import ApiConfig, ErrorHandling, Resource
from restsync_dagster.config.settings import ResolvedClient, resolve_client, resolve_params
from restsync_dagster.extract.children import compiled_data_selector
from restsync_dagster.http.auth import build_auth
from restsync_dagster.http.listing_guard import AdaptationNotes
from restsync_dagster.http.paginator_factory import build_paginator
from restsync_dagster.http.ratelimit import RequestBudget, budget_for

_EMPTY: Mapping[str, Any] = MappingProxyType({})
BudgetSource = Callable[[str, Optional[float]], Optional[RequestBudget]]  # (api name, rate) -> budget


@dataclass(frozen=True)
class ResourcePlan:
    """One resource as this run requests it. `model` is the YAML resource, for its static hints
    (path, keys, cursor, delta, write disposition); the rest is resolved."""

    name: str
    parent: Optional[str]
    model: Resource
    params: Mapping[str, Any]  # endpoint.params, settings filled in (read-only)
    headers: Mapping[str, str]  # endpoint.headers, settings filled in (read-only); the client's are apart
    error_handling: ErrorHandling  # the resource's own, else the API's
    label: str  # "<file>: API '<api>', resource '<name>'", for paginator messages
    data_selector: Optional[Any]  # compiled once (dlt parses a string selector for every page)
    hooks: Optional[Mapping[str, Any]]  # dlt response hooks that ignore error_handling.ignore_statuses
    problem: Optional[SettingError] = field(default=None, compare=False)  # a setting its query or headers miss
    # the paginator adaptations of its listings in this run, each warned once (a child lists per parent)
    notes: AdaptationNotes = field(default_factory=AdaptationNotes, compare=False, repr=False)

    def resolved(self) -> "ResourcePlan":
        """This plan, or the error of the setting its query or headers miss (MissingSettingError...)."""
        if self.problem is not None:
            raise self.problem
        return self

    def make_paginator(self) -> Any:
        """A fresh paginator for one request sequence (dlt mutates paginators while paging)."""
        return build_paginator(self.model.endpoint.paginator, label=self.label, max_pages=self.error_handling.max_pages, notes=self.notes)


@dataclass(frozen=True)
class ApiPlan:
    """One API as this run requests it: the resolved client and every resource, parents first."""

    name: str
    source_file: Optional[str]
    client: ResolvedClient  # base URL, auth (secrets filled in), client headers
    error_handling: ErrorHandling  # the API's (token requests are bounded by it)
    budget: Optional[RequestBudget]  # the API's rate budget (None: no rate limit)
    allowed_hosts: tuple[str, ...]
    read_ahead_pages: int
    child_concurrency: int
    resources: tuple[ResourcePlan, ...]  # parents before children
    parents: Mapping[str, Optional[str]]  # resource -> its parent (None: top level)
    _by_name: Mapping[str, ResourcePlan] = field(init=False, repr=False, compare=False)
    # this run's, written into listing checkpoints: a checkpoint of another run is one to resume from
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({plan.name: plan for plan in self.resources}))

    def resource(self, name: str) -> ResourcePlan:
        return self._by_name[name]

    def ancestors(self, name: str) -> list[str]:
        """The resource's parent, grandparent... up to its top-level resource."""
        chain, parent = [], self.parents[name]
        while parent is not None:
            chain.append(parent)
            parent = self.parents[parent]
        return chain

    def build_auth(self) -> Optional[AuthBase]:
        """A new authenticator of the resolved client (None without auth). Each build holds its own
        token and token-endpoint connection: whoever builds one closes it when done."""
        return build_auth(self.name, self.client, self.error_handling)


def resolve_plan(api: ApiConfig, budgets: BudgetSource = budget_for) -> ApiPlan:
    """The API's settings resolved once; raises MissingSettingError (and the other SettingErrors)
    for what the client needs, and keeps a resource's own in its plan (`ResourcePlan.problem`).

    `budgets` gives the API's request budget: this process's by default; runs pass the one all the
    API's runs share (load/request_budget.py `shared_budget`), which this layer cannot reach."""
    client = resolve_client(api)
    resources = tuple(_resource_plan(api, resource) for resource in topological(api))
    return ApiPlan(
        name=api.name,
        source_file=api.source_file,
        client=client,
        error_handling=api.error_handling,
        budget=budgets(api.name, api.client.rate_limit),
        allowed_hosts=tuple(api.client.allowed_hosts),
        read_ahead_pages=api.client.read_ahead_pages,
        child_concurrency=api.child_concurrency,
        resources=resources,
        parents=MappingProxyType({plan.name: plan.parent for plan in resources}),
    )


def _resource_plan(api: ApiConfig, resource: Resource) -> ResourcePlan:
    handling = api.error_handling_for(resource)
    params: Mapping[str, Any] = _EMPTY
    headers: Mapping[str, str] = _EMPTY
    problem: Optional[SettingError] = None
    try:
        resolved_params, resolved_headers = resolve_params(api, resource)
        params, headers = MappingProxyType(resolved_params), MappingProxyType(resolved_headers)
    except SettingError as exc:
        problem = exc
    ignore = handling.ignore_statuses
    return ResourcePlan(
        name=resource.name,
        parent=resource.parent,
        model=resource,
        params=params,
        headers=headers,
        error_handling=handling,
        label=f"{api.source_file}: API '{api.name}', resource '{resource.name}'" if api.source_file else f"API '{api.name}', resource '{resource.name}'",
        data_selector=compiled_data_selector(resource),
        hooks=create_response_hooks([{"status_code": s, "action": "ignore"} for s in ignore]) if ignore else None,
        problem=problem,
    )


def topological(api: ApiConfig) -> list[Resource]:
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
