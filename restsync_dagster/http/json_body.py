"""Decode a response body as JSON the way real servers send it, not the way the RFC says.

Seen in the wild: an empty body for "no more data" (204, 205, even 200), a UTF-8 BOM, a charset
the body is not in (`ISO-8859-1` over UTF-8 bytes), JSON served as `text/html` or `text/plain`
or without a Content-Type, UTF-16 without a declaration. requests' `response.json()` fails on a
BOM under a declared charset and trusts the declared charset over the bytes. Here the bytes
decide: valid UTF-8 is UTF-8 (RFC 8259), else the declared charset, else what the BOM or the
zero-byte pattern says. A login or maintenance page (HTML) is told apart from broken JSON.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, Optional

from requests.utils import get_encoding_from_headers, guess_json_utf

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta", b"<title")


class NotJsonError(ValueError):
    """The body is not JSON; `kind` says what it looks like: 'html' or 'invalid'."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def is_empty(content: bytes) -> bool:
    """No body, or only whitespace (and a BOM): a 204 or an empty 200."""
    return not content.lstrip(codecs.BOM_UTF8 + b" \t\r\n")


def decode_json(content: bytes, content_type: Optional[str]) -> Any:
    """The parsed body; None for an empty one; NotJsonError when it is no JSON."""
    if is_empty(content):
        return None
    for encoding in _candidate_encodings(content, content_type):
        try:
            text = content.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        try:
            return json.loads(text.lstrip("\ufeff"))
        except ValueError:
            continue
    raise NotJsonError("html" if looks_like_html(content, content_type) else "invalid")


def looks_like_html(content: bytes, content_type: Optional[str]) -> bool:
    """An HTML page: declared as such, or starting like one."""
    if content_type and "html" in content_type.lower():
        return True
    head = content.lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:64].lower()
    return head.startswith(_HTML_STARTS)


def _candidate_encodings(content: bytes, content_type: Optional[str]) -> list[str]:
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return [encoding]
    declared = get_encoding_from_headers({"content-type": content_type}) if content_type else None
    guessed = guess_json_utf(content)
    order = [guessed] if guessed and guessed != "utf-8" else []  # UTF-16/32: zero bytes are valid UTF-8
    order.append("utf-8")
    if declared and declared.lower() != "iso-8859-1":  # requests' default for text/*, not a declaration
        order.append(declared)
    order.append("latin-1")  # never fails: broken JSON is then reported as such
    return list(dict.fromkeys(order))
