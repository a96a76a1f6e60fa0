"""`client`: the base URL all streams share and the authenticator (mapped by `auth`).

Streams with different url_base values or authenticators are imported with the first one, noted.
"""

from __future__ import annotations

from typing import Any

from restsync_dagster.config.airbyte.auth import map_auth
from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import mark_read, split_url


def map_client(context: ImportContext, requesters: list[dict[str, Any]]) -> dict[str, Any]:
    """`client`: base_url from the streams' url_base (the first when they differ) and the first authenticator."""
    bases = [r.get("url_base") or split_url(r.get("url"))[0] for r in requesters]
    base = next((b for b in bases if b), None)
    if len({b for b in bases if b}) > 1:
        context.note(None, f"streams use different url_base values {sorted({b for b in bases if b})}; using {base}")
    base_url = context.literal_url(base)
    client: dict[str, Any] = {"base_url": base_url}
    auths = [r.get("authenticator") for r in requesters if r.get("authenticator")]
    if auths:
        if any(a != auths[0] for a in auths):
            context.note(None, "streams use different authenticators; using the first stream's")
        for other in auths[1:]:
            mark_read(other)  # the same authenticator again, or a different one (the line above)
        auth = map_auth(context, auths[0])
        if auth:
            client["auth"] = auth
    return client
