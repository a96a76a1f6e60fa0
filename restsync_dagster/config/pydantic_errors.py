"""pydantic's ValidationError as ConfigErrors that name the field as the user wrote it.

pydantic's locations carry the union member it tried (`client.auth.api_key.api_key`, `tuple[str, ...]`)
and its messages speak of Python types; these read like the YAML. Used by `loading` for the API and
each resource.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from pydantic import ValidationError

from restsync_dagster.config.errors import ConfigError


def config_errors(exc: ValidationError, source_file: Any, resource: Optional[str]) -> list[ConfigError]:
    """One ConfigError per field pydantic refused (the members of a union failing on one field: one)."""
    errors = []
    for error in exc.errors(include_url=False):
        loc = user_loc(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "union_tag_invalid":
            ctx = error.get("ctx", {})
            message = f"unknown type '{ctx.get('tag')}' (expected one of: {ctx.get('expected_tags')})"
            loc.append("type")
        elif error["type"] == "missing":
            message = "is required"
        field = ".".join(loc) or None
        same = next((e for e in errors if e.field == field and e.resource == resource), None)
        if same is not None:  # each member of a union failed on the same field: one message
            errors[errors.index(same)] = ConfigError(source_file, f"{same.message}, or {message[0].lower()}{message[1:]}", resource=resource, field=field)
            continue
        errors.append(ConfigError(source_file, message, resource=resource, field=field))
    return errors


_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|(literal|tuple|dict|list|union)\[.*\])$")
_DISCRIMINATED = {"auth", "paginator"}  # unions whose member pydantic names by its `type` tag


def user_loc(loc: tuple[Any, ...]) -> list[str]:
    """The field path a user wrote, without the union member pydantic adds to `loc`.

    A member shows as its tag right after `auth`/`paginator` (`client.auth.api_key.api_key`: the
    `api_key` auth type, then its `api_key` field), or as a type name (`tuple[str, ...]`, and a
    trailing `int` or `str`); by position, so a field or a param named like a tag is kept.
    """
    parts: list[str] = []
    for index, part in enumerate(loc):
        text = str(part)
        is_tag = index > 0 and str(loc[index - 1]) in _DISCRIMINATED and isinstance(part, str)
        is_type = isinstance(part, str) and bool(_UNION_MEMBER.match(text)) and ("[" in text or index == len(loc) - 1)
        if not (is_tag or is_type):
            parts.append(text)
    return parts
