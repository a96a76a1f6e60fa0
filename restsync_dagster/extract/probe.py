"""`restsync probe`: what a config assumes about an API, checked against the API in a few requests.

The first time a config meets a real vendor, its assumptions (where the records are, the key, the
cursor field and its format, a filter and a sort the API honours, a paginator that advances, the
parent field a child's path reads) are guesses. Airbyte's connector builder shows a test read for
that; dlt has nothing like it. A probe reads at most `max_requests` answers per resource (children:
one parent), loads nothing, writes no state, and says per assumption whether it held and, when not,
which field of which file to change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence

from dlt.common import jsonpath

from restsync_dagster.config.cursor_values import (
    CursorValue,
    format_cursor,
    parse_cursor,
)
from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.config.redaction import REDACTOR, protect
from restsync_dagster.config.settings import secrets_of
from restsync_dagster.extract.children import parent_key_column, path_segment
from restsync_dagster.extract.cursor_tracker import CursorFields, suggest_cursor_fields
from restsync_dagster.extract.plan import ApiPlan, ResourcePlan, resolve_plan
from restsync_dagster.http.auth import RenewingOAuth2
from restsync_dagster.http.listing_guard import PaginationLoopError
from restsync_dagster.http.pages import ListingClient
from restsync_dagster.http.paginator_factory import build_paginator
from restsync_dagster.http.session import ApiSession

DEFAULT_MAX_REQUESTS = 3


@dataclass
class Finding:
    """One assumption of the config, as the API answered it."""

    check: str
    passed: bool
    detail: str
    fix: str = ""  # the config change to make, naming file, resource and field (empty when it passed)


@dataclass
class ResourceProbe:
    resource: str
    requests: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(finding.passed for finding in self.findings)

    def add(self, check: str, passed: bool, detail: str, fix: str = "") -> None:
        self.findings.append(Finding(check, passed, REDACTOR.redact(detail), "" if passed else REDACTOR.redact(fix)))


class _Budget(Exception):
    """The resource's request budget is spent: the remaining checks are not run."""


@dataclass
class _Context:
    api: ApiConfig
    plan: ApiPlan  # the settings, resolved once for the whole probe
    auth: Any
    max_requests: int

    def where(self, resource: Resource, field_name: str) -> str:
        return f"{self.api.source_file or self.api.name}: resource '{resource.name}': field '{field_name}'"


def probe_api(api: ApiConfig, resources: Sequence[str] = (), max_requests: int = DEFAULT_MAX_REQUESTS) -> list[ResourceProbe]:
    """Probe the named resources (default: every one); children are probed for one parent record."""
    plan = resolve_plan(api)
    protect(secrets_of(plan.client))
    auth = plan.build_auth()
    context = _Context(api, plan, auth, max_requests)
    wanted = set(resources) or {resource.name for resource in api.resources}
    unknown = wanted - {resource.name for resource in api.resources}
    if unknown:
        raise RestsyncError(f"API '{api.name}' has no resource {', '.join(sorted(unknown))} (restsync list shows them)")
    try:
        reports: dict[str, ResourceProbe] = {}
        first_records: dict[str, list[dict[str, Any]]] = {}
        for resource in _parents_first(api):
            needs_records = any(child.name in wanted for child in api.children_of(resource.name))
            if resource.name not in wanted and not needs_records:
                continue
            parent_records = first_records.get(resource.parent or "", []) if resource.parent else None
            report, records = _probe_resource(context, resource, parent_records)
            first_records[resource.name] = records
            if resource.name in wanted:
                reports[resource.name] = report
        return [reports[name] for name in sorted(reports, key=lambda n: [r.name for r in api.resources].index(n))]
    finally:
        if isinstance(auth, RenewingOAuth2):
            auth.close()


def _parents_first(api: ApiConfig) -> list[Resource]:
    depth = {}
    for resource in api.resources:
        level, parent = 0, resource.parent
        while parent is not None:
            level, parent = level + 1, api.resource(parent).parent
        depth[resource.name] = level
    return sorted(api.resources, key=lambda r: depth[r.name])


def _probe_resource(
    context: _Context, resource: Resource, parent_records: Optional[list[dict[str, Any]]]
) -> tuple[ResourceProbe, list[dict[str, Any]]]:
    report = ResourceProbe(resource.name)
    api = context.api
    path = resource.endpoint.path
    if resource.parent is not None:
        path_or_none = _child_path(context, resource, parent_records or [], report)
        if path_or_none is None:
            return report, []
        path = path_or_none
    planned = context.plan.resource(resource.name).resolved()
    session = ApiSession(
        api.name, resource.name, context.plan.client.base_url, context.auth, planned.error_handling,
        context.plan.allowed_hosts, read_ahead_pages=0,
    )
    records: list[dict[str, Any]] = []
    try:
        with session:
            listing = _Listing(context, planned, session, path)
            records = _first_page(listing, report)
            if records is None:
                return report, []
            _key_findings(context, resource, records, report)
            cursor_values = _cursor_findings(context, resource, records, report)
            try:
                if resource.incremental is not None and resource.parent is None and cursor_values:
                    filter_honoured = _filter_finding(listing, cursor_values, report)
                    _sort_finding(listing, cursor_values, report, filter_honoured)
                _paging_finding(listing, records, report)
            except _Budget:
                report.add("budget", True, f"{context.max_requests} request(s) spent (--max-requests); the paginator was not checked")
    finally:
        report.requests = session.stats.requests
    return report, records


def _child_path(context: _Context, resource: Resource, parents: list[dict[str, Any]], report: ResourceProbe) -> Optional[str]:
    assert resource.endpoint.parent_ref is not None
    parent_name, parent_field = resource.endpoint.parent_ref
    if not parents:
        report.add("parent", False, f"no '{parent_name}' record to read '{parent_field}' from", f"fix '{parent_name}' first")
        return None
    values = jsonpath.find_values(jsonpath.compile_path(parent_field), parents[0])
    if not values or values[0] is None or path_segment(values[0]) is None:
        report.add(
            "parent field",
            False,
            f"a '{parent_name}' record has no '{parent_field}' (its fields: {', '.join(sorted(map(str, parents[0]))[:15])})",
            f"{context.where(resource, 'endpoint.path')}: read another field of '{parent_name}' in {{resources.{parent_name}.<field>}}",
        )
        return None
    report.add("parent field", True, f"'{parent_name}' records carry '{parent_field}' (probed with {values[0]!r})")
    placeholder = "{resources.%s.%s}" % (parent_name, parent_field)
    return resource.endpoint.path.replace(placeholder, str(path_segment(values[0])))


class _Listing:
    """Pages of one listing, each request counted against the resource's budget."""

    def __init__(self, context: _Context, planned: ResourcePlan, session: ApiSession, path: str) -> None:
        self.context, self.resource, self.session, self.path, self.params = context, planned.model, session, path, dict(planned.params)
        self.max_pages = planned.error_handling.max_pages
        client = context.plan.client
        self.client = ListingClient(
            base_url=client.base_url, headers={**client.headers, **planned.headers}, session=session, source_file=context.api.source_file
        )
        self.selector = planned.data_selector
        self.pages: Optional[Iterator[Any]] = None
        self.paginator: Any = None

    def spend(self) -> None:
        if self.session.stats.requests >= self.context.max_requests:
            raise _Budget()

    def page(self, extra: Optional[Mapping[str, Any]] = None) -> list[dict[str, Any]]:
        """The first page of the listing with `extra` params (a new request sequence)."""
        self.spend()
        paginator = build_paginator(
            self.resource.endpoint.paginator, label=f"API '{self.context.api.name}', resource '{self.resource.name}'",
            max_pages=self.max_pages,
        )
        pages = self.client.paginate(self.path, params={**self.params, **(extra or {})}, paginator=paginator, data_selector=self.selector)
        if extra is None:
            self.pages, self.paginator = pages, paginator
        return [record for record in next(pages, []) if isinstance(record, dict)]

    def next_page(self) -> Optional[list[dict[str, Any]]]:
        """The second page of the plain listing, or None when the paginator says it ended."""
        assert self.pages is not None
        if not getattr(self.paginator, "has_next_page", False):
            return None
        self.spend()
        page = next(self.pages, None)
        return None if page is None else [record for record in page if isinstance(record, dict)]


def _first_page(listing: _Listing, report: ResourceProbe) -> Optional[list[dict[str, Any]]]:
    context, resource = listing.context, listing.resource
    try:
        records = listing.page()
    except RestsyncError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        check = "auth" if status in (401, 403) else "first page"
        report.add(check, False, str(exc).splitlines()[0], _fix_for_status(context, resource, status))
        return None
    report.add("auth", True, "the API accepted the credentials")
    selector = resource.endpoint.data_selector or "(detected)"
    report.add(
        "records",
        bool(records),
        f"{len(records)} record(s) at data_selector {selector} on the first page",
        f"{context.where(resource, 'endpoint.data_selector')}: the first page held no records; check the selector, "
        "endpoint.params (a listing that shows only active records unless asked) or that the account has data",
    )
    return records


def _fix_for_status(context: _Context, resource: Resource, status: Optional[int]) -> str:
    if status in (401, 403):
        variables = ", ".join(context.plan.client.credential_variables) or f"SOURCES__{context.api.name.upper()}__..."
        return f"{context.api.source_file or context.api.name}: field 'client.auth': check {variables}"
    if status == 404:
        return f"{context.where(resource, 'endpoint.path')}: the path does not exist on this API (or client.base_url misses a prefix)"
    if status == 400:
        return f"{context.where(resource, 'endpoint.params')}: the API refused the request; remove parameters it does not know"
    return f"{context.where(resource, 'endpoint')}: see the message above"


def _key_findings(context: _Context, resource: Resource, records: list[dict[str, Any]], report: ResourceProbe) -> None:
    if not records:
        return
    added = parent_key_column(resource) if resource.parent else None  # the engine adds it to each child row
    if added is not None:
        records = [{**record, added: "parent"} for record in records]
    columns = resource.primary_key_columns
    if not columns:
        report.add("primary key", True, f"none: {resource.write_disposition} replaces the table whole")
        return
    missing = [c for c in columns if any(record.get(c) is None for record in records)]
    label = ", ".join(columns)
    if missing:
        report.add(
            "primary key",
            False,
            f"records lack '{missing[0]}' (fields: {', '.join(sorted(map(str, records[0]))[:15])})",
            f"{context.where(resource, 'primary_key')}: name the field that identifies a record",
        )
        return
    keys = [tuple(str(record.get(c)) for c in columns) for record in records]
    unique = len(set(keys)) == len(keys)
    report.add(
        "primary key",
        unique,
        f"'{label}' present in all {len(records)} record(s)" + ("" if unique else f", but only {len(set(keys))} distinct"),
        f"{context.where(resource, 'primary_key')}: '{label}' repeats within one page; a merge on it would drop rows",
    )


def _cursor_findings(context: _Context, resource: Resource, records: list[dict[str, Any]], report: ResourceProbe) -> list[CursorValue]:
    incremental = resource.incremental
    if incremental is None or not records:
        return []
    fields = CursorFields(incremental)
    values = [parse_cursor(raw, incremental.format) for raw in map(fields.raw, records) if raw is not None]
    parsed = [value for value in values if value is not None]
    if not parsed:
        suggestions = suggest_cursor_fields(records[0], incremental.cursor_paths[0])
        looks = f"; fields that look like one: {', '.join(repr(s) for s in suggestions)}" if suggestions else ""
        report.add(
            "cursor field",
            False,
            f"records have no {incremental.cursor_names} with a time or number{looks}",
            f"{context.where(resource, 'incremental.cursor_path')}: " + (f"use '{suggestions[0]}'" if suggestions else "name the field that changes with every update"),
        )
        return []
    forms = sorted({value.form for value in parsed})
    report.add("cursor field", True, f"{incremental.cursor_names} present ({len(parsed)}/{len(records)}), format {'/'.join(forms)}")
    return parsed


def _filter_finding(listing: _Listing, values: list[CursorValue], report: ResourceProbe) -> bool:
    """Ask for records changed since the middle of the first page: none older may come back."""
    incremental = listing.resource.incremental
    assert incremental is not None
    ordered = sorted((v for v in values if v.comparable(values[0])), key=lambda v: v.key)
    middle = ordered[len(ordered) // 2]
    sent = format_cursor(middle, incremental.format)
    records = listing.page({incremental.param: sent})
    fields = CursorFields(incremental)
    older = [
        value for value in (parse_cursor(raw, incremental.format) for raw in map(fields.raw, records) if raw is not None)
        if value is not None and value.comparable(middle) and value.key < middle.key
    ]
    where = listing.context.where(listing.resource, "incremental.param")
    report.add(
        "filter",
        not older,
        f"?{incremental.param}={sent} returned {len(records)} record(s)" + (f", {len(older)} older than it" if older else ", none older"),
        f"{where}: the API ignores '{incremental.param}' (runs would read everything each time); use the filter its docs name",
    )
    return not older


def _sort_finding(listing: _Listing, values: list[CursorValue], report: ResourceProbe, filter_honoured: bool) -> None:
    """The change sensor's probe returns the newest record first, or the filter answers for it: the
    sensor asks for what changed since its cursor, and a sort is needed only where the filter fails."""
    incremental = listing.resource.incremental
    assert incremental is not None
    if not incremental.probe_params:
        report.add("probe sort", True, "no incremental.probe_params: the change sensor does not probe this resource by sort")
        return
    records = listing.page(dict(incremental.probe_params))
    newest_seen = max((v for v in values if v.comparable(values[0])), key=lambda v: v.key)
    first_raw = CursorFields(incremental).raw(records[0]) if records else None
    found = [] if first_raw is None else [first_raw]
    first = parse_cursor(first_raw, incremental.format) if found else None
    honoured = first is not None and first.comparable(newest_seen) and first.key >= newest_seen.key
    if not honoured and filter_honoured:
        report.add(
            "probe sort",
            True,
            f"the probe's first record is not the newest ({incremental.cursor_names} {found[0] if found else 'none'}), "
            f"but ?{incremental.param}= is honoured: the change sensor asks for what changed since its cursor",
        )
        return
    report.add(
        "probe sort",
        honoured,
        f"the probe's first record has {incremental.cursor_names} {found[0] if found else 'none'}"
        + ("" if honoured else f", older than {format_cursor(newest_seen, 'auto')} seen on the first page"),
        f"{listing.context.where(listing.resource, 'incremental.probe_params')}: the API ignores this sort; "
        "name its newest-first sort, or remove probe_params (the sensor then requests a run each interval)",
    )


def _paging_finding(listing: _Listing, first: list[dict[str, Any]], report: ResourceProbe) -> None:
    paginator = listing.resource.endpoint.paginator
    kind = paginator.type if paginator else "single_page"
    fix = f"{listing.context.where(listing.resource, 'endpoint.paginator')}: page 2 repeats page 1; the API does not read the page parameter"
    try:
        page = listing.next_page()
    except PaginationLoopError as exc:  # the paginator's own guard saw page 2 repeat page 1
        report.add("paginator", False, f"{kind}: {str(exc).splitlines()[0]}", fix)
        return
    if page is None:
        report.add("paginator", True, f"{kind}: the listing ended after its first page")
        return
    columns = listing.resource.primary_key_columns
    keys = lambda rows: {tuple(str(r.get(c)) for c in columns) for r in rows}  # noqa: E731
    if not page:
        report.add("paginator", True, f"{kind}: page 2 is empty, the listing ends there")
        return
    repeated = keys(page) <= keys(first)
    report.add(
        "paginator",
        not repeated,
        f"{kind}: page 2 has {len(page)} record(s)" + (", all already on page 1" if repeated else ", new ones"),
        fix,
    )


def as_json(reports: list[ResourceProbe]) -> list[dict[str, Any]]:
    return [{"resource": r.resource, "passed": r.passed, "requests": r.requests, "findings": [asdict(f) for f in r.findings]} for r in reports]


def as_text(api: ApiConfig, reports: list[ResourceProbe]) -> Iterator[str]:
    for report in reports:
        yield f"{'ok  ' if report.passed else 'FAIL'}  {api.name}.{report.resource}  ({report.requests} request(s))"
        for finding in report.findings:
            yield f"      {'ok  ' if finding.passed else 'FAIL'}  {finding.check}: {finding.detail}"
            if finding.fix:
                yield f"            fix: {finding.fix}"

