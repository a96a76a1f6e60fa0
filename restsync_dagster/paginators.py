"""dlt paginators from the canonical config, each guarded against endless pagination.

A hostile or buggy API can send a next link that repeats forever, or empty pages that still point
to a next page. dlt would follow them without end; these subclasses stop after a bounded number of
requests with an error that names the resource. The offset paginator advances by the records it
actually received, so a server that caps the page size below the asked limit loses no record.
"""

from __future__ import annotations

from typing import Any, Optional

from dlt.sources.helpers.rest_client import paginators as dlt_paginators
from requests import Request, Response

from restsync_dagster.config import (
    CursorPaginator,
    HeaderLinkPaginator,
    JsonLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PaginatorConfig,
    SinglePagePaginator,
)
from restsync_dagster.errors import RestsyncError

MAX_EMPTY_PAGES_WITH_NEXT = 3


class PaginationLoopError(RestsyncError):
    """Pagination does not terminate: a repeated next reference, endless empty pages, or too many pages."""


class _Guarded:
    """Mixin counting pages and remembering next references of one request sequence."""

    label: str = "resource"
    max_pages: int = 100_000

    def init_request(self, request: Request) -> None:
        self._pages = 0
        self._empty_in_row = 0
        self._seen: set[Any] = set()
        super().init_request(request)  # type: ignore[misc]

    def update_state(self, response: Response, data: Optional[list[Any]] = None) -> None:
        super().update_state(response, data)  # type: ignore[misc]
        if not getattr(self, "has_next_page", False):
            return
        self._pages += 1
        self._empty_in_row = 0 if data else self._empty_in_row + 1
        reference = self._reference()
        if reference is not None:
            if reference in self._seen:
                raise PaginationLoopError(f"{self.label}: the API sent the same next page twice ({type(self).__name__}); stopping")
            self._seen.add(reference)
        if self._empty_in_row > MAX_EMPTY_PAGES_WITH_NEXT:
            raise PaginationLoopError(
                f"{self.label}: {self._empty_in_row} empty pages in a row still announce a next page; stopping"
            )
        if self._pages >= self.max_pages:
            raise PaginationLoopError(
                f"{self.label}: more than error_handling.max_pages ({self.max_pages}) pages; raise it if the API is that large"
            )

    def _reference(self) -> Any:
        return getattr(self, "_next_reference", None)


class GuardedJsonLink(_Guarded, dlt_paginators.JSONLinkPaginator):
    pass


class GuardedHeaderLink(_Guarded, dlt_paginators.HeaderLinkPaginator):
    pass


class GuardedCursor(_Guarded, dlt_paginators.JSONResponseCursorPaginator):
    pass


class GuardedPageNumber(_Guarded, dlt_paginators.PageNumberPaginator):
    def _reference(self) -> Any:
        return None


class GuardedOffset(_Guarded, dlt_paginators.OffsetPaginator):
    """Advance by the number of records received (at most the limit), stop on an empty page.

    A server that caps the page below the limit is followed record by record; one that serves a
    record twice (limit + 1 rows) does not make the client skip the next page's first record.
    """

    def update_state(self, response: Response, data: Optional[list[Any]] = None) -> None:
        self.value_step = min(len(data), self.limit) if data else self.limit
        super().update_state(response, data)

    def _reference(self) -> Any:
        return None


class GuardedSinglePage(dlt_paginators.SinglePagePaginator):
    pass


def build_paginator(config: Optional[PaginatorConfig], label: str, max_pages: int) -> Optional[dlt_paginators.BasePaginator]:
    """A fresh paginator instance for one request sequence (dlt mutates paginators while paging)."""
    paginator: dlt_paginators.BasePaginator
    if config is None or isinstance(config, SinglePagePaginator):
        return GuardedSinglePage()
    if isinstance(config, JsonLinkPaginator):
        paginator = GuardedJsonLink(next_url_path=config.next_url_path)
    elif isinstance(config, HeaderLinkPaginator):
        paginator = GuardedHeaderLink(links_next_key=config.links_next_key)
    elif isinstance(config, CursorPaginator):
        paginator = GuardedCursor(cursor_path=config.cursor_path, cursor_param=config.cursor_param)
    elif isinstance(config, PageNumberPaginator):
        paginator = GuardedPageNumber(
            base_page=config.base_page,
            page_param=config.page_param,
            total_path=config.total_path,
            stop_after_empty_page=True,
        )
    elif isinstance(config, OffsetPaginator):
        paginator = GuardedOffset(
            limit=config.limit,
            offset_param=config.offset_param,
            limit_param=config.limit_param,
            total_path=config.total_path,
            stop_after_empty_page=True,
        )
    else:  # pragma: no cover - the config model admits no other type
        raise TypeError(f"unknown paginator config {config!r}")
    paginator.label = label  # type: ignore[attr-defined]
    paginator.max_pages = max_pages  # type: ignore[attr-defined]
    return paginator
