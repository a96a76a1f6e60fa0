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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

PARENT = re.compile(r"\{resources\.([A-Za-z0-9_]+)\.")

from restsync_dagster.config.airbyte.client import map_client
from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.defaults import as_key, factor_defaults
from restsync_dagster.config.airbyte.error_handler import map_error_handler
from restsync_dagster.config.airbyte.manifest import (
    plain,
    propagate_parameters,
    resolve_references,
    spec_defaults,
    spec_required,
    spec_secrets,
    track,
    unread,
)
from restsync_dagster.config.airbyte.partition_router import LeftOut
from restsync_dagster.config.airbyte.source import map_source
from restsync_dagster.config.airbyte.report import Imported
from restsync_dagster.config.airbyte.stream import map_stream
from restsync_dagster.config.errors import RestsyncError


def import_manifest(manifest: Any, name: str) -> Imported:
    """Convert a parsed manifest; raise RestsyncError when it is not a declarative manifest at all
    (or no stream could be converted). A stream that cannot be converted is listed and left out."""
    if not isinstance(manifest, dict) or "streams" not in manifest:
        raise RestsyncError("not an Airbyte declarative manifest (no top-level 'streams')")
    resolved = resolve_references(manifest)
    streams = resolved.get("streams") or []
    if not streams:
        raise RestsyncError("the manifest has no 'streams'")
    if not isinstance(streams, list):
        raise RestsyncError("'streams' is not a list")
    context = ImportContext(
        name=name,
        stream_names=[str(s.get("name")) for s in streams if isinstance(s, dict)],
        spec_defaults=spec_defaults(resolved),
        spec_secrets=spec_secrets(resolved),
        spec_required=spec_required(resolved),
    )
    kept = []
    for index, stream in enumerate(streams):
        if not isinstance(stream, dict):
            context.note(None, f"stream #{index + 1} left out: a stream is a mapping, not {type(stream).__name__}")
            continue
        kept.append(track(propagate_parameters(stream)))
    imported = _convert(context, kept, track({k: v for k, v in resolved.items()}))
    return imported


def _convert(context: ImportContext, streams: list[dict[str, Any]], top: dict[str, Any]) -> Imported:
    """The config of the streams: the client, error handling at API level when every stream shares
    it (per resource otherwise), one resource per stream (or per list value), the settings every
    resource shares factored into resource_defaults, then a line for every key nothing read."""
    requesters: list[dict[str, Any]] = []
    left_out: dict[str, str] = {}
    for index, stream in enumerate(streams):
        requester = {}
        if not dict.get(stream, "name"):
            left_out[_label(stream, index)] = "no name"
        with _naming(context, stream, index, left_out):
            retriever = stream.get("retriever") or {}
            requester = retriever.get("requester") or {}
            if not isinstance(requester, dict):
                raise LeftOut("retriever.requester is not a mapping")
        requesters.append(requester if isinstance(requester, dict) else {})
    client = map_client(context, [r for i, (s, r) in enumerate(zip(streams, requesters)) if _label(s, i) not in left_out])
    handlers: list[Any] = []
    for index, (stream, requester) in enumerate(zip(streams, requesters)):
        handling = None
        with _naming(context, stream, index, left_out):
            handling = map_error_handler(context, _label(stream, index), requester.get("error_handler"))
        handlers.append(handling)
    live = [h for i, (s, h) in enumerate(zip(streams, handlers)) if _label(s, i) not in left_out]
    api_handling = live[0] if live and live[0] and all(as_key(h) == as_key(live[0]) for h in live) else None
    resources: list[dict[str, Any]] = []
    mapped: dict[str, list[str]] = {}
    for index, (stream, requester, handling) in enumerate(zip(streams, requesters, handlers)):
        label = _label(stream, index)
        if label in left_out:
            continue
        with _naming(context, stream, index, left_out):
            produced = map_stream(context, stream, requester)
            for resource in produced:
                if handling and handling != api_handling:
                    resource["error_handling"] = handling
            resources += produced
            mapped[label] = [r["name"] for r in produced]
    resources = _drop_orphans(context, resources, mapped, left_out)
    if not resources:
        raise RestsyncError("no stream could be converted: " + "; ".join(f"{k}: {v}" for k, v in left_out.items()))
    config: dict[str, Any] = {"name": context.name, "description": f"Imported from an Airbyte manifest ({len(mapped)} streams)."}
    config["client"] = client
    if api_handling:
        config["error_handling"] = api_handling
    map_source(context, top, config)
    defaults, resources = factor_defaults(resources)
    if defaults:
        config["resource_defaults"] = defaults
    config["resources"] = resources
    loaders = sum(1 for s in streams if dict.get(s, "schema_loader"))
    if loaders:
        context.approx(None, f"schema_loader ({loaders} streams): not mapped; dlt infers each table's schema from the records")
    for index, stream in enumerate(streams):
        label = _label(stream, index)
        if label in left_out:
            continue
        for path in unread(stream, ""):
            context.note(label, f"{path}: not read by the importer (no restsync mapping)")
    for path in unread(top, ""):
        if not path.startswith("streams"):
            context.note(None, f"{path}: not read by the importer (no restsync mapping)")
    for label, why in left_out.items():
        context.note(label, f"left out: {why}")
    config = plain(config)
    return Imported(config=config, lines=list(context.lines), left_out=left_out, streams=mapped)


def _label(stream: dict[str, Any], index: int) -> str:
    name = dict.get(stream, "name")
    return str(name) if name else f"#{index + 1}"


def _drop_orphans(context: ImportContext, resources: list[dict[str, Any]], mapped: dict[str, list[str]], left_out: dict[str, str]) -> list[dict[str, Any]]:
    """Children whose parent was left out (or became several resources) are left out too."""
    while True:
        names = {r["name"] for r in resources}
        orphan = next((r for r in resources if (m := PARENT.search(r["endpoint"]["path"])) and m.group(1) not in names), None)
        if orphan is None:
            return resources
        parent = PARENT.search(orphan["endpoint"]["path"]).group(1)  # type: ignore[union-attr]
        stream = next(s for s, rs in mapped.items() if orphan["name"] in rs)
        why = "was left out" if parent in left_out else "is imported as several resources (one per list value)"
        left_out[stream] = f"its parent stream '{parent}' {why}"
        resources = [r for r in resources if r["name"] not in mapped.pop(stream)]


@contextmanager
def _naming(context: ImportContext, stream: dict[str, Any], index: int, left_out: dict[str, str]) -> Iterator[None]:
    """A stream that cannot be converted is left out, listed with the reason (its position when it has no name)."""
    label = _label(stream, index)
    try:
        yield
    except LeftOut as exc:
        left_out.setdefault(label, str(exc))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        left_out.setdefault(label, f"cannot convert it ({type(exc).__name__}: {exc})")


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
    """An API name from the manifest's file name (`source_zoho_desk_manifest.yaml`, `source-zoho-desk.yaml` -> `zoho_desk`)."""
    stem = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower())
    return api_name(re.sub(r"^source_", "", stem.replace("manifest", "")))


def api_name(text: str) -> str:
    """`text` as a valid API name: lower case, `_` for any run of other characters (`zoho-desk` -> `zoho_desk`)."""
    stem = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    return stem if re.match(r"^[a-z]", stem or "") else f"api_{stem or 'imported'}"
