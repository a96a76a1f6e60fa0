"""Building the paginator of one request sequence from a resource's `endpoint.paginator` config.

The only place that knows which `paginator_config` model becomes which `guarded_paginators` class,
and how its options (end flags, totals, `stop_on_status`, `max_pages`) are set on the instance.
"""

from __future__ import annotations

from typing import Optional, Union

from dlt.common import jsonpath
from dlt.sources.helpers.rest_client import paginators as dlt_paginators

from restsync_dagster.config.paginator_config import (
    CursorPaginator,
    HeaderLinkPaginator,
    JsonLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PaginatorConfig,
    SinglePagePaginator,
)
from restsync_dagster.http.guarded_paginators import (
    GuardedCursor,
    GuardedHeaderLink,
    GuardedJsonLink,
    GuardedOffset,
    GuardedPageNumber,
    GuardedSinglePage,
)
from restsync_dagster.http.listing_guard import AdaptationNotes, ListingGuard

ListConfig = Union[JsonLinkPaginator, HeaderLinkPaginator, CursorPaginator, PageNumberPaginator, OffsetPaginator]


def build_paginator(
    config: Optional[PaginatorConfig], label: str, max_pages: int, notes: Optional[AdaptationNotes] = None
) -> Optional[dlt_paginators.BasePaginator]:
    """A fresh paginator instance for one request sequence (dlt mutates paginators while paging);
    `notes`: the resource's adaptations in this run, so each is warned once per resource, not per listing."""
    if config is None or isinstance(config, SinglePagePaginator):
        return GuardedSinglePage()
    paginator = _dlt_paginator(config)
    paginator.label = label
    paginator.notes = notes
    paginator.max_pages = max_pages
    paginator.detect_end_flags = config.detect_end_flags
    paginator.stop_on_status = tuple(config.stop_on_status)
    if config.has_more_path:
        paginator.more_flag_path = jsonpath.compile_path(config.has_more_path)
    total_records = config.total_records_path if isinstance(config, PageNumberPaginator) else (
        None if isinstance(config, OffsetPaginator) else config.total_path
    )
    if total_records:
        paginator.total_records_path = jsonpath.compile_path(total_records)
        paginator.total_records_field = (
            "paginator.total_records_path" if isinstance(config, PageNumberPaginator) else "paginator.total_path"
        )
    return paginator


def _dlt_paginator(config: ListConfig) -> ListingGuard:
    if isinstance(config, JsonLinkPaginator):
        return GuardedJsonLink(next_url_path=config.next_url_path)
    if isinstance(config, HeaderLinkPaginator):
        return GuardedHeaderLink(links_next_key=config.links_next_key)
    if isinstance(config, CursorPaginator):
        return GuardedCursor(cursor_path=config.cursor_path, cursor_param=config.cursor_param)
    if isinstance(config, PageNumberPaginator):
        return GuardedPageNumber(
            base_page=config.base_page,
            page_param=config.page_param,
            total_path=config.total_path,
            stop_after_empty_page=True,
        )
    if isinstance(config, OffsetPaginator):
        paginator = GuardedOffset(
            limit=config.limit,
            offset=config.base_offset,
            offset_param=config.offset_param,
            limit_param=config.limit_param,
            total_path=config.total_path,
            stop_after_empty_page=True,
        )
        paginator.base_index = config.base_offset  # a total counts from the first offset (1 for Zoho's `from`)
        paginator.offset_param_set = "offset_param" in config.model_fields_set  # a default may be retried
        return paginator
    raise TypeError(f"unknown paginator config {config!r}")  # pragma: no cover - the model admits no other
