"""Graph-style delta queries: each run reads only what changed since the last, deletions included.

A round pages through the delta path (every record, the first time); its last page carries a delta
link. The next round starts from that link and returns only the records changed since, plus one
`{"id": ..., "@removed": {...}}` entry per record deleted since. The link is kept in the
resource's dlt state, so it is committed with the load and restored from the destination like a
cursor: a run whose load fails does not move it. A removed entry becomes a row with
`DELETED_COLUMN` true, which dlt's merge (`hard_delete` hint) deletes from the table.

An expired link (Graph answers 410 Gone after some days without a round) starts a new full round:
it brings back every current record, but not the deletions of the gap; a full refresh does.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Mapping, Optional

import dlt
from dlt.common import jsonpath
from dlt.extract import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from requests import Response

from restsync_dagster.children import compiled_data_selector
from restsync_dagster.config import ApiConfig, DeltaConfig, Resource
from restsync_dagster.errors import RestsyncError
from restsync_dagster.http import ApiRequestError, ApiSession

DELTA_LINK_KEY = "delta_link"
DELETED_COLUMN = "_restsync_deleted"
EXPIRED_STATUS = 410

log = logging.getLogger(__name__)


class MissingDeltaLinkError(RestsyncError):
    """The last page of a delta round has no link to the next round where the config says."""


def stored_delta_link(pipeline_state: Mapping[str, Any], source_name: str, resource_name: str) -> Optional[str]:
    """The link the resource's next delta round starts from (None: it never finished one)."""
    resource_state = pipeline_state.get("sources", {}).get(source_name, {}).get("resources", {}).get(resource_name, {})
    value = resource_state.get(DELTA_LINK_KEY)
    return str(value) if value else None


class DeltaRound:
    """One round of a delta query: its pages of records, then `next_link` for the next round."""

    def __init__(
        self,
        api: ApiConfig,
        resource: Resource,
        session: ApiSession,
        base_url: str,
        headers: Mapping[str, str],
        make_paginator: Any,
        hooks: Optional[dict[str, Any]] = None,
    ) -> None:
        assert resource.delta is not None
        self.api, self.resource, self.delta = api, resource, resource.delta
        self.session = session
        self.client = RESTClient(base_url=base_url, headers=dict(headers), session=session)
        self.make_paginator = make_paginator
        self.hooks = hooks or {}
        self.data_selector = compiled_data_selector(resource)
        self.link_path = jsonpath.compile_path(self.delta.delta_link_path)
        self.next_link: Optional[str] = None
        self.removed = 0  # removed entries read this round, for the asset's rows_deleted

    def pages(self, link: Optional[str], params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The pages from `link` (or a new round from the delta path with `params`), then
        `next_link` is set. An expired link starts a new round; a round cut short by a status the
        config ignores (error_handling.ignore_statuses) leaves `next_link` None."""
        self.next_link = None
        ignored_before = self.session.stats.ignored
        try:
            yield from self._follow(link, params)
        except ApiRequestError as exc:
            if link is None or exc.response is None or exc.response.status_code != EXPIRED_STATUS:
                raise
            log.warning("%s.%s: the delta link has expired (410); reading every record again", self.api.name, self.resource.name)
            yield from self._follow(None, params)
        if self.next_link is None and self.session.stats.ignored > ignored_before:
            log.warning("%s.%s: an ignored answer cut the delta round short; the next run starts from the same link", self.api.name, self.resource.name)
        elif self.next_link is None:
            raise MissingDeltaLinkError(
                f"{self.api.source_file or self.api.name}: resource '{self.resource.name}': the last page of the delta "
                f"round has no link at field 'delta.delta_link_path' ({self.delta.delta_link_path}); check that path"
            )

    def _follow(self, link: Optional[str], params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        hooks = {**self.hooks, "response": [*self.hooks.get("response", []), self._remember_link]}
        start, query = (link, {}) if link else (self.delta.path, dict(params))
        yield from self.client.paginate(start, params=query, paginator=self.make_paginator(), data_selector=self.data_selector, hooks=hooks)

    def _remember_link(self, response: Response, *args: Any, **kwargs: Any) -> Response:
        if response.ok:
            found = jsonpath.find_values(self.link_path, response.json())
            if found and found[0]:
                self.next_link = str(found[0])
        return response


def count_changes(round_: DeltaRound, link: Optional[str]) -> int:
    """Entries (changed and removed records) in the round from `link`, which sets the round's
    `next_link`; with no link, a round that starts from now (`delta.latest_params`) and reads none.
    The change sensor keeps its own link: a probe never moves the one the runs use."""
    params = {} if link else dict(round_.delta.latest_params)
    return sum(len(page) for page in round_.pages(link, params))


def as_row(record: dict[str, Any], delta: DeltaConfig, primary_key: tuple[str, ...]) -> dict[str, Any]:
    """A removed entry becomes its key and `DELETED_COLUMN` (the merge deletes it); others stay."""
    if delta.removed_field in record:
        return {**{key: record.get(key) for key in primary_key}, DELETED_COLUMN: True}
    return record


def delta_resource(round_: DeltaRound, params: Mapping[str, Any], hints: Mapping[str, Any]) -> DltResource:
    """A dlt resource that reads one delta round and keeps its next link in the resource state."""
    resource, delta = round_.resource, round_.delta
    assert delta is not None

    def rows() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        for page in round_.pages(state.get(DELTA_LINK_KEY), params):
            rows = [as_row(record, delta, resource.primary_key_columns) for record in page]
            round_.removed += sum(1 for row in rows if row.get(DELETED_COLUMN))
            yield rows
        if round_.next_link:  # only once the whole round was read
            state[DELTA_LINK_KEY] = round_.next_link

    columns = {DELETED_COLUMN: {"data_type": "bool", "hard_delete": True}}
    return dlt.resource(rows, **hints, columns=columns)()
