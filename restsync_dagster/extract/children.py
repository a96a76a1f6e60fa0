"""Child resources: one paginated request sequence per parent record, fetched concurrently.

dlt's own rest_api children fill parent values into the path unencoded (`../admin` reaches
`/admin`) and fetch parents one after another. Here the value is URL-encoded as one path segment,
a bounded thread pool (`child_concurrency` per API) fetches the parents of a page at once, and
each child row carries its parent's key as `_<parent>_<field>` (dlt's include_from_parent naming).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional
from urllib.parse import quote

import dlt
from dlt.common import jsonpath
from dlt.extract import DltResource
from dlt.sources.rest_api.config_setup import make_parent_key_name

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import Resource
from restsync_dagster.extract.resource_state import resource_state_of
from restsync_dagster.http.pages import ListingRequests

if TYPE_CHECKING:  # plan.py imports this module (compiled_data_selector)
    from restsync_dagster.extract.plan import ApiPlan

PARENT_MARK_KEY = "_dlt_load_id"
_MARK_STATE_KEY = "parents_loaded_through"


def parent_mark(pipeline_state: Mapping[str, Any], source_name: str, resource_name: str) -> Optional[str]:
    """The newest parent load id whose children this resource has fetched (None: never ran)."""
    value = resource_state_of(pipeline_state, source_name, resource_name).get(_MARK_STATE_KEY)
    return str(value) if value else None


def _advance_mark(batch: list[dict[str, Any]]) -> None:
    """Record, in the child's dlt resource state, the parent loads it has now covered.

    The state is committed with the child's own load, so a failed run does not move it.
    """
    marks = [str(record[PARENT_MARK_KEY]) for record in batch if record.get(PARENT_MARK_KEY)]
    if not marks:
        return
    state = dlt.current.resource_state()
    state[_MARK_STATE_KEY] = max([*marks, state.get(_MARK_STATE_KEY) or ""])


class MissingParentFieldError(RestsyncError):
    """A parent record lacks the field the child's path is filled from."""


class UnsafeParentValueError(RestsyncError):
    """A parent value would change the child path's shape (empty, `.` or `..`): HTTP clients and
    servers normalize dot segments away, so `/items/../children` reaches `/children`."""


def path_segment(value: Any) -> Optional[str]:
    """The value as one URL path segment, or None when no encoding keeps it one.

    Percent-encoding does not help a dot segment: `%2E%2E` is unreserved, requests decodes it back
    to `..`, and servers resolve it. An empty segment turns `/items/{id}/x` into `/items//x`.
    """
    text = str(value)
    if text in ("", ".", ".."):
        return None
    return quote(text, safe="")


def parent_key_column(resource: Resource) -> str:
    parent, field = resource.endpoint.parent_ref or ("", "")
    return make_parent_key_name(parent, field.replace(".", "_"))


def compiled_data_selector(resource: Resource) -> Optional[Any]:
    """The resource's data selector as a compiled JSONPath, or None.

    Compiled once per run: dlt parses a string selector again for every page (~0.3 ms each).
    """
    return jsonpath.compile_path(resource.endpoint.data_selector) if resource.endpoint.data_selector else None


def child_resource(
    plan: ApiPlan, resource: Resource, parent: DltResource, requests: ListingRequests, hints: Mapping[str, Any]
) -> DltResource:
    """A dlt transformer that fetches this child for every parent record it receives."""
    assert resource.endpoint.parent_ref is not None
    parent_name, parent_field = resource.endpoint.parent_ref
    placeholder = "{resources.%s.%s}" % (parent_name, parent_field)
    field_path = jsonpath.compile_path(parent_field)
    key_column = parent_key_column(resource)

    def fetch_one(parent_record: dict[str, Any]) -> list[dict[str, Any]]:
        values = jsonpath.find_values(field_path, parent_record)
        if not values or values[0] is None:
            raise MissingParentFieldError(
                f"{plan.source_file or plan.name}: resource '{resource.name}': field 'endpoint.path' reads "
                f"'{parent_field}' from each '{parent_name}' record, but a record has no such field "
                f"(its fields: {sorted(parent_record)[:20]})"
            )
        value = values[0]
        segment = path_segment(value)
        if segment is None:
            raise UnsafeParentValueError(
                f"{plan.source_file or plan.name}: resource '{resource.name}': field 'endpoint.path': a '{parent_name}' "
                f"record has '{parent_field}' = {str(value)[:40]!r}, which would change the shape of the path "
                f"({resource.endpoint.path}); no request was sent for it. Check that the API's '{parent_field}' "
                "identifies the parent, or read another field"
            )
        path = resource.endpoint.path.replace(placeholder, segment)
        rows: list[dict[str, Any]] = []
        for page in requests.pages(path):
            for record in page:
                record[key_column] = value
            rows.extend(page)
        return rows

    def fetch_children(parents: Any) -> Iterator[list[dict[str, Any]]]:
        batch = parents if isinstance(parents, list) else [parents]
        if not batch:  # a parent page with no records (the empty page that ends page-number paging)
            return
        if plan.child_concurrency == 1 or len(batch) == 1:
            for record in batch:
                rows = fetch_one(record)
                if rows:
                    yield rows
        else:
            workers = min(plan.child_concurrency, len(batch))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{plan.name}.{resource.name}") as pool:
                for rows in pool.map(fetch_one, batch):
                    if rows:
                        yield rows
        _advance_mark(batch)

    return dlt.transformer(fetch_children, data_from=parent, **hints)
