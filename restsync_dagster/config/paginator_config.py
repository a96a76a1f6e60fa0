"""The `endpoint.paginator` models: how a listing pages and how it may say it ended.

Only what the user writes and pydantic checks; `http.paginator_factory` builds the dlt paginator
from them, `http.listing_guard` reads every vendor's end of a listing. Kept apart from `model` so a
new paginator type is one class here and one member of `PaginatorConfig`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field

from restsync_dagster.config.strict_model import StrictModel

class _ListPaginator(StrictModel):
    """How a listing may say it ended, besides its paginator's own signal (see http/listing_guard.py).

    Every list paginator also ends on an empty body (204/205, zero bytes) and a null data key.
    """

    # a "more" flag in the body: false ends the listing (`has_more`, `meta.has_more`, `info.more_records`)
    has_more_path: Optional[str] = None
    # without has_more_path: a boolean false `has_more`/`more_records`/`hasMore`... (or true
    # `isLast`/`end_of_stream`...) at the top of the body or under meta/info/pagination/paging ends it
    detect_end_flags: bool = True
    # statuses that mean "past the last page" (e.g. [404]): end the listing after its first page
    stop_on_status: tuple[Annotated[int, Field(ge=400, le=599)], ...] = ()


class JsonLinkPaginator(_ListPaginator):
    """Follow an absolute next URL found in the body (HAL `_links.next.href`, OData nextLink)."""

    type: Literal["json_link"]
    next_url_path: str
    total_path: Optional[str] = None  # total records of the listing: ends once that many arrived


class HeaderLinkPaginator(_ListPaginator):
    """Follow the RFC 8288 `Link: <...>; rel="next"` header."""

    type: Literal["header_link"]
    links_next_key: str = "next"
    total_path: Optional[str] = None  # total records of the listing: ends once that many arrived


class CursorPaginator(_ListPaginator):
    """Read a cursor from the body and send it back as a query parameter (a full URL is followed)."""

    type: Literal["cursor"]
    cursor_path: str
    cursor_param: str
    total_path: Optional[str] = None  # total records of the listing: ends once that many arrived


class PageNumberPaginator(_ListPaginator):
    type: Literal["page_number"]
    page_param: str = "page"
    base_page: int = 1
    total_path: Optional[str] = None  # total number of pages (dlt's meaning)
    total_records_path: Optional[str] = None  # total records: ends once that many arrived


class OffsetPaginator(_ListPaginator):
    type: Literal["offset"]
    limit: int = Field(gt=0)
    offset_param: str = "offset"
    limit_param: str = "limit"
    base_offset: int = Field(default=0, ge=0, description="offset of the first record: 0, or 1 (Zoho Desk `from`)")
    total_path: Optional[str] = None  # total records (dlt's meaning)


class SinglePagePaginator(StrictModel):
    type: Literal["single_page"]


PaginatorConfig = Annotated[
    Union[
        JsonLinkPaginator,
        HeaderLinkPaginator,
        CursorPaginator,
        PageNumberPaginator,
        OffsetPaginator,
        SinglePagePaginator,
    ],
    Field(discriminator="type"),
]
