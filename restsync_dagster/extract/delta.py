"""Graph-style delta queries: each run reads only what changed since the last, deletions included.

A round pages through the delta path (every record, the first time); its last page carries a delta
link. The next round starts from that link and returns only the records changed since, plus one
`{"id": ..., "@removed": {...}}` entry per record deleted since. The link is kept in the
resource's dlt state, so it is committed with the load and restored from the destination like a
cursor: a run whose load fails does not move it. A removed entry becomes a row with
`DELETED_COLUMN` true, which dlt's merge (`hard_delete` hint) deletes from the table.

Each changed record is merged whole: an API that sends only the changed properties of an updated
record would blank the others (Graph does with `Prefer: return=minimal`, which is never sent).

An expired link (Graph answers 410 Gone after some days without a round) starts a new full round:
it brings back every current record, but not the deletions of the gap; a full refresh does.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Mapping, Optional

import dlt
from dlt.common import jsonpath
from dlt.common.schema.typing import TColumnSchema
from dlt.extract import DltResource
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Response

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import Resource
from restsync_dagster.config.redaction import REDACTOR
from restsync_dagster.extract.children import compiled_data_selector
from restsync_dagster.extract.plan import ApiPlan
from restsync_dagster.extract.resource_state import resource_state_of
from restsync_dagster.http.pages import ListingClient
from restsync_dagster.http.session import ApiRequestError, ApiSession

DELTA_LINK_KEY = "delta_link"
DELETED_COLUMN = "_restsync_deleted"
SEQUENCE_COLUMN = "_restsync_delta_seq"
DELTA_COLUMNS: dict[str, TColumnSchema] = {
    DELETED_COLUMN: {"data_type": "bool", "hard_delete": True},
    SEQUENCE_COLUMN: {"data_type": "bigint", "dedup_sort": "desc"},
}
EXPIRED_STATUS = 410

log = logging.getLogger(__name__)


class MissingDeltaLinkError(RestsyncError):
    """The last page of a delta round has no link to the next round where the config says."""


class DeltaLinkSecretError(RestsyncError):
    """A delta link carries a configured secret: it would be kept in the state and the UI."""


def stored_delta_link(pipeline_state: Mapping[str, Any], source_name: str, resource_name: str) -> Optional[str]:
    """The link the resource's next delta round starts from (None: it never finished one)."""
    value = resource_state_of(pipeline_state, source_name, resource_name).get(DELTA_LINK_KEY)
    return str(value) if value else None


class DeltaRound:
    """One round of a delta query: its pages of records, then `next_link` for the next round."""

    def __init__(
        self,
        plan: ApiPlan,
        resource: Resource,
        session: ApiSession,
        base_url: str,
        headers: Mapping[str, str],
        params: Mapping[str, Any],
        make_paginator: Callable[[], BasePaginator],
        hooks: Optional[dict[str, Any]] = None,
    ) -> None:
        assert resource.delta is not None
        self.plan, self.resource, self.delta = plan, resource, resource.delta
        self.where = f"{plan.source_file or plan.name}: resource '{resource.name}'"  # errors name file and resource
        self.session = session
        self.params = dict(params)  # the query of a round that starts from the delta path
        self.client = ListingClient(base_url=base_url, headers=dict(headers), session=session, source_file=plan.source_file)
        self.make_paginator = make_paginator
        self.hooks = hooks or {}
        self.data_selector = compiled_data_selector(resource)
        self.link_path = jsonpath.compile_path(self.delta.delta_link_path)
        self.next_link: Optional[str] = None
        self.restarted = False  # the link had expired: this round started over
        self.entries = 0  # entries read this round, in order (the merge keeps the last of an id)
        self.removed = 0  # removed entries read this round, for the asset's rows_deleted

    def pages(self, link: Optional[str], fresh_params: Optional[Mapping[str, Any]] = None) -> Iterator[list[dict[str, Any]]]:
        """The pages from `link`, or from a new round (the delta path with `fresh_params`, default
        the resource's params) when there is none or it expired; then `next_link` is set. A round
        cut short by a status the config ignores (error_handling.ignore_statuses) leaves it None."""
        fresh = self.params if fresh_params is None else fresh_params
        self.next_link, self.restarted = None, False
        ignored_before = self.session.stats.ignored
        try:
            yield from self._follow(link, fresh)
        except ApiRequestError as exc:
            if link is None or exc.response is None or exc.response.status_code != EXPIRED_STATUS:
                raise
            log.warning("%s.%s: the delta link has expired (410); starting a new round", self.plan.name, self.resource.name)
            self.restarted = True
            yield from self._follow(None, fresh)
        if self.next_link is None and self.session.stats.ignored > ignored_before:
            log.warning("%s.%s: an ignored answer cut the delta round short; the next run starts from the same link", self.plan.name, self.resource.name)
        elif self.next_link is None:
            raise MissingDeltaLinkError(
                f"{self.where}: the last page of the delta round has no link at field 'delta.delta_link_path' "
                f"({self.delta.delta_link_path}); check that path"
            )

    def rows(self, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A page as table rows: each numbered in the round's order (`SEQUENCE_COLUMN`), a removed
        entry reduced to its key and `DELETED_COLUMN`."""
        rows = []
        for record in page:
            self.entries += 1
            if self.delta.removed_field in record:
                self.removed += 1
                record = {self.delta.removed_key: self._removed_key(record), DELETED_COLUMN: True}
            rows.append({**record, SEQUENCE_COLUMN: self.entries})
        return rows

    def _removed_key(self, record: dict[str, Any]) -> Any:
        key = record.get(self.delta.removed_key)
        if key is None:
            raise RestsyncError(
                f"{self.where}: a removed entry has no field '{self.delta.removed_key}' (field 'delta.removed_key'); "
                f"its fields: {sorted(record)[:10]}"
            )
        return key

    def _follow(self, link: Optional[str], params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        hooks = {**self.hooks, "response": [*self.hooks.get("response", []), self._remember_link]}
        start, query = (link, {}) if link else (self.delta.path, dict(params))
        yield from self.client.paginate(start, params=query, paginator=self.make_paginator(), data_selector=self.data_selector, hooks=hooks)

    def _remember_link(self, response: Response, *args: Any, **kwargs: Any) -> Response:
        if response.ok:
            found = jsonpath.find_values(self.link_path, response.json())
            if found and found[0]:
                link = str(found[0])
                if REDACTOR.redact(link) != link:
                    raise DeltaLinkSecretError(
                        f"{self.where}: the API's delta link carries one of the configured secrets (e.g. an API key "
                        "sent as a query parameter); restsync keeps delta links in the pipeline state and the sensor cursor, so it refuses this one"
                    )
                self.next_link = link
        return response


def count_changes(round_: DeltaRound, link: Optional[str]) -> int:
    """Entries (changed and removed records) in the round from `link`, which sets the round's
    `next_link`; with no link, or one that expired, a round that starts from now
    (`delta.latest_params`) and reads none. The change sensor keeps its own link: a probe never
    moves the one the runs use."""
    return sum(len(page) for page in round_.pages(link, fresh_params=round_.delta.latest_params))


def delta_resource(round_: DeltaRound, hints: Mapping[str, Any]) -> DltResource:
    """A dlt resource that reads one delta round and keeps its next link in the resource state.

    An id may come twice in a round (updated, then removed; or removed, then restored): the rows
    are numbered in the round's order and the merge keeps the last (`dedup_sort`)."""

    def rows() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        for page in round_.pages(state.get(DELTA_LINK_KEY)):
            yield round_.rows(page)
        if round_.next_link:  # only once the whole round was read
            state[DELTA_LINK_KEY] = round_.next_link

    return dlt.resource(rows, **hints, columns=DELTA_COLUMNS)()
