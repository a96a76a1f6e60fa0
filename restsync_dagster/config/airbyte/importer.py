"""`restsync import-airbyte`: an Airbyte low-code (declarative) manifest -> a restsync config dict.

Reads the manifest the CDK way (`manifest`), then maps construct by construct, each in its module:
`client` (url_base, `auth`), per stream `error_handler` and `stream` (requester, record selector,
`paginator`, `partition_router`, `incremental`), and factors shared settings into resource_defaults
(`defaults`). What has no restsync equivalent is listed in the report (`report.Imported.unmapped`),
so nothing is dropped silently. `{{ config['x'] }}` becomes `${secrets.x}` in auth and `${config.x}`
elsewhere (resolved from SOURCES__<API>__X at run time).
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from restsync_dagster.config.airbyte.client import map_client
from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.defaults import as_key, factor_defaults
from restsync_dagster.config.airbyte.error_handler import map_error_handler
from restsync_dagster.config.airbyte.manifest import (
    propagate_parameters,
    resolve_references,
    spec_defaults,
    spec_secrets,
)
from restsync_dagster.config.airbyte.report import Imported
from restsync_dagster.config.airbyte.stream import map_stream
from restsync_dagster.config.errors import RestsyncError


def import_manifest(manifest: Any, name: str) -> Imported:
    """Convert a parsed manifest; raise RestsyncError when it is not a declarative manifest at all."""
    if not isinstance(manifest, dict) or "streams" not in manifest:
        raise RestsyncError("not an Airbyte declarative manifest (no top-level 'streams')")
    resolved = resolve_references(manifest)
    defaults, secrets = spec_defaults(resolved), spec_secrets(resolved)
    streams = resolved.get("streams") or []
    if not streams:
        raise RestsyncError("the manifest has no 'streams'")
    for index, stream in enumerate(streams):
        if not isinstance(stream, dict):
            raise RestsyncError(f"stream #{index + 1}: a stream is a mapping, not {type(stream).__name__}")
    streams = [propagate_parameters(s) for s in streams]
    context = ImportContext(
        name=name,
        stream_names=[str(s.get("name")) for s in streams],
        spec_defaults=defaults,
        spec_secrets=secrets,
    )
    return _convert(context, streams)


def _convert(context: ImportContext, streams: list[dict[str, Any]]) -> Imported:
    """The config of the streams: the client, the error handling most streams share at API level, one
    resource per stream, and the settings every resource shares factored into resource_defaults."""
    requesters, handlers = [], []
    for index, stream in enumerate(streams):
        with _naming(stream, index):
            requesters.append(stream.get("retriever", {}).get("requester", {}))
    client = map_client(context, requesters)
    for index, (stream, requester) in enumerate(zip(streams, requesters)):
        with _naming(stream, index):
            handlers.append(map_error_handler(context, stream["name"], requester.get("error_handler")))
    common = Counter(as_key(h) for h in handlers if h).most_common(1)
    api_handling = yaml.safe_load(common[0][0]) if common else None
    resources = []
    for index, (stream, requester, handling) in enumerate(zip(streams, requesters, handlers)):
        with _naming(stream, index):
            resource = map_stream(context, stream, requester)
        if handling and handling != api_handling:
            resource["error_handling"] = handling
        resources.append(resource)
    config: dict[str, Any] = {"name": context.name, "description": f"Imported from an Airbyte manifest ({len(resources)} streams)."}
    config["client"] = client
    if api_handling:
        config["error_handling"] = api_handling
    defaults, resources = factor_defaults(resources)
    if defaults:
        config["resource_defaults"] = defaults
    config["resources"] = resources
    return Imported(config=config, unmapped=context.unmapped)


@contextmanager
def _naming(stream: dict[str, Any], index: int) -> Iterator[None]:
    """A malformed part of one stream fails naming the stream (or its position)."""
    try:
        yield
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        which = f"stream '{stream['name']}'" if stream.get("name") else f"stream #{index + 1} (no name)"
        raise RestsyncError(f"{which}: cannot convert it ({type(exc).__name__}: {exc})") from None


def import_file(path: Path | str, name: Optional[str] = None) -> Imported:
    """Convert a manifest file; every failure is one RestsyncError naming the file."""
    path = Path(path)
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RestsyncError(f"{path}: cannot read the manifest: {exc}") from None
    try:
        return import_manifest(manifest, name or _name_from(path))
    except RestsyncError as exc:
        raise RestsyncError(f"{path}: {exc}") from None
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise RestsyncError(f"{path}: cannot import the manifest ({type(exc).__name__}: {exc})") from None


def _name_from(path: Path) -> str:
    """An API name from the manifest's file name (`source_zoho_desk_manifest.yaml` -> `zoho_desk`)."""
    stem = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower().replace("manifest", "").replace("source_", "")).strip("_")
    return stem if re.match(r"^[a-z]", stem or "") else f"api_{stem or 'imported'}"
