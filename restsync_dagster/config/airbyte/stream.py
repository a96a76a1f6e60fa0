"""A `DeclarativeStream` -> restsync resources (one, or one per ListPartitionRouter value): its
`HttpRequester` (path, request_parameters, request_headers), record selector (`DpathExtractor.field_path`
-> data_selector), primary key, and the constructs mapped in their own modules (paginator, partition
router, transformations, incremental sync).

A new stream-level construct gets its own module with a `map_<construct>(context, stream, ...)`
function, called from `map_stream`. What a stream holds and nothing reads is listed by the importer.
"""

from __future__ import annotations

from typing import Any

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.incremental import map_incremental
from restsync_dagster.config.airbyte.manifest import has_jinja, mark_read, split_url
from restsync_dagster.config.airbyte.paginator import map_paginator, uses_next_page_token
from restsync_dagster.config.airbyte.partition_router import LeftOut, apply_variant, map_partition_router
from restsync_dagster.config.airbyte.transformations import map_transformations


def map_stream(context: ImportContext, stream: dict[str, Any], requester: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of one stream: endpoint, data selector, paginator, parent, primary key, incremental."""
    name = str(stream.get("name"))
    if stream.get("type") not in ("DeclarativeStream", None):
        raise LeftOut(f"stream type '{stream.get('type')}'")
    retriever = stream.get("retriever") or {}
    if retriever.get("type") not in ("SimpleRetriever", None):
        raise LeftOut(f"retriever type '{retriever.get('type')}' (restsync reads listings with GET requests)")
    if requester.get("type") not in ("HttpRequester", None):
        raise LeftOut(f"requester type '{requester.get('type')}'")
    url = requester.get("url")
    path = requester.get("path") or split_url(url)[1] or "/"
    endpoint: dict[str, Any] = {"path": "/" + str(path).lstrip("/")}
    if requester.get("http_method", "GET").upper() != "GET":
        context.note(name, f"http_method {requester['http_method']} (restsync reads with GET)")
    for key in ("request_body_json", "request_body_data", "request_body"):
        if requester.get(key):
            context.note(name, f"requester.{key}", requester.get(key))
    for key in ("use_cache",):  # a cache of the CDK's own: no meaning for restsync
        requester.get(key)
    _decoder(context, name, requester.get("decoder"))
    _decoder(context, name, retriever.get("decoder"))
    raw_params = requester.get("request_parameters") or {}
    token_params = [str(k) for k, v in raw_params.items() if uses_next_page_token(v)] if isinstance(raw_params, dict) else []
    params = request_values(context, name, "request_parameters", raw_params, skip=token_params)
    headers = request_values(context, name, "request_headers", requester.get("request_headers"))
    selector = retriever.get("record_selector") or {}
    extractor = selector.get("extractor") or {}
    if extractor.get("type") not in ("DpathExtractor", None):
        context.note(name, f"extractor type '{extractor.get('type')}' (restsync selects records by a path)", extractor)
    field_path = extractor.get("field_path") or []
    if any("*" in str(p) or has_jinja(p) for p in field_path):
        context.approx(name, f"record_selector field_path {list(field_path)}: restsync takes the path as written")
    if field_path:
        endpoint["data_selector"] = ".".join(str(p) for p in field_path)
    if selector.get("record_filter"):
        context.note(name, f"record_selector.record_filter '{selector['record_filter'].get('condition')}' (restsync loads every record)", selector["record_filter"])
    if selector.get("schema_normalization") not in (None, "None", "Default"):
        context.note(name, f"record_selector.schema_normalization '{selector.get('schema_normalization')}'")
    elif selector.get("schema_normalization") == "Default":
        context.approx(name, "record_selector.schema_normalization Default: dlt types the columns from the records")
    paginator, page_params = map_paginator(context, name, retriever.get("paginator"), params, token_params)
    params.update(page_params)
    if params:
        endpoint["params"] = params
    if headers:
        endpoint["headers"] = headers
    if paginator:
        endpoint["paginator"] = paginator
    routing = map_partition_router(context, name, retriever.get("partition_router"), endpoint)
    columns = map_transformations(context, name, stream.get("transformations"), routing.parent)
    resource: dict[str, Any] = {"name": name, "endpoint": endpoint}
    primary_key = stream.get("primary_key")
    if isinstance(primary_key, list) and primary_key:
        flat = [columns.get(str(k[0] if isinstance(k, list) else k), str(k[0] if isinstance(k, list) else k)) for k in primary_key]
        resource["primary_key"] = flat[0] if len(flat) == 1 else flat
    elif primary_key:
        resource["primary_key"] = columns.get(str(primary_key), str(primary_key))
    else:
        context.approx(name, "no primary_key: the resource is appended instead of merged")
        resource["write_disposition"] = "append"
    incremental = map_incremental(context, name, stream.get("incremental_sync"), retriever.get("pagination_reset"))
    if incremental:
        resource["incremental"] = incremental
    if retriever.get("ignore_stream_slicer_parameters_in_pagination"):
        context.approx(name, "ignore_stream_slicer_parameters_in_pagination: restsync follows the next URL as given")
    for key in ("state_migrations", "file_uploader"):
        if stream.get(key):
            context.note(name, key, stream.get(key))
    stream.get("description")  # documentation (an API reference link): nothing to map
    if "schema_loader" in stream:
        mark_read(stream.get("schema_loader"))  # one manifest-level line: dlt infers the schemas
    variants = routing.variants()
    return [apply_variant(resource, variant) for variant in variants] if variants else [resource]


def _decoder(context: ImportContext, stream: str, decoder: Any) -> None:
    if decoder and decoder.get("type") not in ("JsonDecoder",):
        context.note(stream, f"decoder '{decoder.get('type')}' (restsync reads JSON bodies)", decoder)


def request_values(context: ImportContext, stream: str, where: str, values: Any, skip: Any = ()) -> dict[str, Any]:
    """A requester's parameters or headers with `{{ config }}` templates as placeholders; other templates noted."""
    if not values:
        return {}
    if not isinstance(values, dict):
        context.note(stream, f"requester.{where} '{values}' is not a mapping")
        return {}
    result = {}
    for key, value in values.items():
        if key in skip:
            continue
        value = context.placeholders(stream, f"requester.{where}.{key}", value)
        if isinstance(value, (dict, list)) or value is None:
            context.note(stream, f"requester.{where}.{key}: {value!r} (restsync sends text or numbers)")
            continue
        if has_jinja(value):
            context.note(stream, f"requester.{where}.{key}: '{value}' (a template restsync cannot evaluate)")
            continue
        result[str(key)] = value
    return result
