"""`restsync import-airbyte`: an Airbyte low-code (declarative) manifest -> a restsync config dict.

Maps what has a restsync equivalent and lists everything else in `Imported.unmapped`, so nothing
is dropped silently:

- streams (`DeclarativeStream`, also through `$ref` / "#/..." references and `$parameters`);
- `HttpRequester`: url_base + path, request_parameters, request_headers, authenticator, error_handler;
- authenticators: OAuthAuthenticator (refresh-token or client-credentials grant), BasicHttpAuthenticator,
  BearerAuthenticator, ApiKeyAuthenticator; `{{ config['x'] }}` becomes `${secrets.x}` in auth
  and `${config.x}` elsewhere (resolved from SOURCES__<API>__X at run time);
- `DefaultPaginator` with CursorPagination (HAL / OData / Link header / body cursor), PageIncrement,
  OffsetIncrement, or NoPagination; `DpathExtractor.field_path` -> data_selector;
- `SubstreamPartitionRouter` -> a child path `{resources.<parent>.<parent_key>}`, and an `AddFields`
  of the partition value -> the `_<parent>_<key>` column restsync adds (used in primary keys);
- `DatetimeBasedCursor` -> incremental (cursor field, start_time_option parameter, start, lookback);
- `DefaultErrorHandler` / `CompositeErrorHandler`: RETRY / IGNORE filters, max_retries, exponential backoff.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from restsync_dagster.config.airbyte_manifest import (
    CONFIG_REF,
    HEADER_LINK,
    PARTITION_REF,
    has_jinja,
    iso_duration_seconds,
    placeholders,
    propagate_parameters,
    resolve_references,
    response_path,
    spec_defaults,
    spec_secrets,
    split_url,
)
from restsync_dagster.config.errors import RestsyncError

DEFAULT_START = "2024-01-01T00:00:00Z"


@dataclass
class Imported:
    """The restsync config dict and what could not be mapped (one line each, naming stream and field)."""

    config: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)

    def to_yaml(self, source: str = "") -> str:
        header = [f"# Imported from the Airbyte manifest {source} by `restsync import-airbyte`.".replace("  ", " ")]
        if self.unmapped:
            header.append("# Not mapped (review by hand):")
            header += [f"#   - {line}" for line in self.unmapped]
        body = yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True, width=120)
        return "\n".join(header) + "\n" + body


# --- the importer ------------------------------------------------------------------------------


class _Importer:
    def __init__(self, manifest: dict[str, Any], name: str) -> None:
        self.name = name
        self.unmapped: list[str] = []
        resolved = resolve_references(manifest)
        self.spec_defaults = spec_defaults(resolved)
        self.spec_secrets = spec_secrets(resolved)
        streams = resolved.get("streams") or []
        if not streams:
            raise RestsyncError("the manifest has no 'streams'")
        for index, stream in enumerate(streams):
            if not isinstance(stream, dict):
                raise RestsyncError(f"stream #{index + 1}: a stream is a mapping, not {type(stream).__name__}")
        self.streams = [propagate_parameters(s) for s in streams]
        self.names = [str(s.get("name")) for s in self.streams]

    def note(self, stream: Optional[str], what: str) -> None:
        self.unmapped.append(f"stream '{stream}': {what}" if stream else what)

    def run(self) -> Imported:
        requesters, handlers = [], []
        for index, stream in enumerate(self.streams):
            with _naming(stream, index):
                requesters.append(stream.get("retriever", {}).get("requester", {}))
        client = self.client(requesters)
        for index, (stream, requester) in enumerate(zip(self.streams, requesters)):
            with _naming(stream, index):
                handlers.append(self.error_handling(stream["name"], requester.get("error_handler")))
        common = Counter(_dump(h) for h in handlers if h).most_common(1)
        api_handling = yaml.safe_load(common[0][0]) if common else None
        resources = []
        for index, (stream, requester, handling) in enumerate(zip(self.streams, requesters, handlers)):
            with _naming(stream, index):
                resource = self.resource(stream, requester)
            if handling and handling != api_handling:
                resource["error_handling"] = handling
            resources.append(resource)
        config: dict[str, Any] = {"name": self.name, "description": f"Imported from an Airbyte manifest ({len(resources)} streams)."}
        config["client"] = client
        if api_handling:
            config["error_handling"] = api_handling
        defaults, resources = factor_defaults(resources)
        if defaults:
            config["resource_defaults"] = defaults
        config["resources"] = resources
        return Imported(config=config, unmapped=self.unmapped)

    # --- client and auth ---
    def client(self, requesters: list[dict[str, Any]]) -> dict[str, Any]:
        bases = [r.get("url_base") or split_url(r.get("url"))[0] for r in requesters]
        base = next((b for b in bases if b), None)
        if len({b for b in bases if b}) > 1:
            self.note(None, f"streams use different url_base values {sorted({b for b in bases if b})}; using {base}")
        base_url = self.literal_url(base)
        client: dict[str, Any] = {"base_url": base_url}
        auths = [r.get("authenticator") for r in requesters if r.get("authenticator")]
        if auths:
            if any(a != auths[0] for a in auths):
                self.note(None, "streams use different authenticators; using the first stream's")
            auth = self.auth(auths[0])
            if auth:
                client["auth"] = auth
        return client

    def literal_url(self, base: Optional[str]) -> str:
        if not base:
            self.note(None, "no url_base; set client.base_url (or SOURCES__<API>__BASE_URL)")
            return "https://api.example.com"
        if has_jinja(base):
            match = CONFIG_REF.fullmatch(base.strip())
            default = self.spec_defaults.get((match.group(1) or match.group(2))) if match else None
            if default:
                return str(default).rstrip("/")
            self.note(None, f"url_base '{base}' is a template; set SOURCES__{self.name.upper()}__BASE_URL")
            return "https://api.example.com"
        return str(base).rstrip("/")

    def auth(self, authenticator: dict[str, Any]) -> Optional[dict[str, Any]]:
        kind = authenticator.get("type")
        def secret(key: str) -> Any:
            return self.secret_value(key, authenticator.get(key))

        if kind == "OAuthAuthenticator":
            grant = authenticator.get("grant_type", "refresh_token")
            scopes = authenticator.get("scopes") or []
            body = authenticator.get("refresh_request_body") or {}
            auth: dict[str, Any] = {
                "type": "oauth2_client_credentials" if grant == "client_credentials" else "oauth2_refresh_token",
                "token_url": self.literal_url(authenticator.get("token_refresh_endpoint")),
                "client_id": secret("client_id"),
                "client_secret": secret("client_secret"),
            }
            if auth["type"] == "oauth2_refresh_token":
                auth["refresh_token"] = secret("refresh_token")
            scope = " ".join(scopes) if scopes else body.get("scope")
            if scope and auth["type"] == "oauth2_client_credentials":
                auth["scope"] = placeholders(scope, secret=False)
            elif scope:
                self.note(None, "authenticator.scopes (the refresh-token grant sends none)")
            for key in ("refresh_token_updater", "token_expiry_date", "access_token_name", "expires_in_name"):
                if key in authenticator:
                    self.note(None, f"authenticator.{key}")
            return auth
        if kind == "BasicHttpAuthenticator":
            return {"type": "http_basic", "username": secret("username"), "password": secret("password") or ""}
        if kind == "BearerAuthenticator":
            return {"type": "bearer", "token": secret("api_token")}
        if kind == "ApiKeyAuthenticator":
            option = authenticator.get("inject_into") or {}
            location = "query" if option.get("inject_into") == "request_parameter" else "header"
            name = option.get("field_name") or authenticator.get("header") or "Authorization"
            return {"type": "api_key", "api_key": secret("api_token"), "name": name, "location": location}
        self.note(None, f"authenticator type '{kind}' has no restsync equivalent; add client.auth by hand")
        return None

    def secret_value(self, key: str, value: Any) -> Any:
        """A credential as a `${secrets.x}` placeholder; a literal one is never copied into the config."""
        value = placeholders(value, secret=True)
        if not isinstance(value, str) or not value or "${secrets." in value or (key == "password" and len(value) <= 1):
            return value
        name = "api_key" if key == "api_token" else key
        self.note(None, f"authenticator.{key} is written literally in the manifest; replaced by ${{secrets.{name}}} "
                        f"(set SOURCES__{self.name.upper()}__{name.upper()})")
        return "${secrets.%s}" % name

    # --- error handling ---
    def error_handling(self, stream: str, handler: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if not handler:
            return None
        handlers = handler.get("error_handlers", []) if handler.get("type") == "CompositeErrorHandler" else [handler]
        result: dict[str, Any] = {}
        retry: set[int] = set()
        ignore: set[int] = set()
        for one in handlers:
            if "max_retries" in one:
                result["max_retries"] = int(one["max_retries"])
            for strategy in one.get("backoff_strategies") or []:
                if strategy.get("type") == "ExponentialBackoffStrategy":
                    result["backoff_factor"] = float(strategy.get("factor", 5))
                elif strategy.get("type") != "WaitTimeFromHeader":  # Retry-After is honoured anyway
                    self.note(stream, f"error_handler backoff strategy '{strategy.get('type')}'")
            for response_filter in one.get("response_filters") or []:
                codes = {int(c) for c in response_filter.get("http_codes") or []}
                action = response_filter.get("action")
                if action in ("RETRY", "RATE_LIMITED"):
                    retry |= codes
                elif action == "IGNORE":
                    ignore |= codes
                elif action != "FAIL" or response_filter.get("error_message_contains") or response_filter.get("predicate"):
                    self.note(stream, f"error_handler filter {response_filter}")
        if retry:
            result["retry_statuses"] = sorted(retry | {429})
        if ignore:
            result["ignore_statuses"] = sorted(ignore)
        return result or None

    # --- streams ---
    def resource(self, stream: dict[str, Any], requester: dict[str, Any]) -> dict[str, Any]:
        name = str(stream.get("name"))
        retriever = stream.get("retriever", {})
        path = requester.get("path") or split_url(requester.get("url"))[1] or "/"
        endpoint: dict[str, Any] = {"path": "/" + str(path).lstrip("/")}
        if requester.get("http_method", "GET").upper() != "GET":
            self.note(name, f"http_method {requester['http_method']} (restsync reads with GET)")
        for key in ("request_body_json", "request_body_data"):
            if requester.get(key):
                self.note(name, f"requester.{key}")
        params = self.values(name, "request_parameters", requester.get("request_parameters"))
        headers = self.values(name, "request_headers", requester.get("request_headers"))
        selector = retriever.get("record_selector", {})
        extractor = selector.get("extractor", {})
        field_path = extractor.get("field_path") or []
        if field_path:
            endpoint["data_selector"] = ".".join(str(p) for p in field_path)
        if selector.get("record_filter"):
            self.note(name, "record_selector.record_filter")
        paginator, page_params = self.paginator(name, retriever.get("paginator"))
        params.update(page_params)
        if params:
            endpoint["params"] = params
        if headers:
            endpoint["headers"] = headers
        if paginator:
            endpoint["paginator"] = paginator
        columns = self.parent(name, retriever.get("partition_router"), endpoint, stream.get("transformations") or [])
        resource: dict[str, Any] = {"name": name, "endpoint": endpoint}
        primary_key = stream.get("primary_key")
        if isinstance(primary_key, list):
            flat = [columns.get(str(k[0] if isinstance(k, list) else k), str(k[0] if isinstance(k, list) else k)) for k in primary_key]
            resource["primary_key"] = flat[0] if len(flat) == 1 else flat
        elif primary_key:
            resource["primary_key"] = columns.get(str(primary_key), str(primary_key))
        else:
            self.note(name, "no primary_key: the resource is appended instead of merged")
            resource["write_disposition"] = "append"
        incremental = self.incremental(name, stream.get("incremental_sync"))
        if incremental:
            resource["incremental"] = incremental
        for key in ("state_migrations", "file_uploader"):  # schema_loader: dlt infers the schema itself
            if key in stream:
                self.note(name, key)
        return resource

    def values(self, stream: str, where: str, values: Any) -> dict[str, Any]:
        if not values:
            return {}
        if not isinstance(values, dict):
            self.note(stream, f"requester.{where} is not a mapping")
            return {}
        result = {}
        for key, value in values.items():
            value = placeholders(value, secret=False, secret_keys=self.spec_secrets)
            if has_jinja(value):
                self.note(stream, f"requester.{where}.{key}: '{value}' (a template restsync cannot evaluate)")
                continue
            result[str(key)] = value
        return result

    def paginator(self, stream: str, paginator: Optional[dict[str, Any]]) -> tuple[Optional[dict[str, Any]], dict[str, Any]]:
        if not paginator or paginator.get("type") == "NoPagination":
            return {"type": "single_page"}, {}
        strategy = paginator.get("pagination_strategy") or {}
        kind = strategy.get("type")
        token = paginator.get("page_token_option") or {}
        size_option = paginator.get("page_size_option") or {}
        page_size = strategy.get("page_size")
        params: dict[str, Any] = {}
        if page_size and size_option.get("field_name") and kind != "OffsetIncrement":
            params[size_option["field_name"]] = page_size
        if kind == "CursorPagination":
            value = str(strategy.get("cursor_value", ""))
            if HEADER_LINK.match(value.strip()):
                return {"type": "header_link"}, params
            path = response_path(value)
            if path is None:
                self.note(stream, f"paginator cursor_value '{value}'; using header_link")
                return {"type": "header_link"}, params
            if token.get("type") == "RequestPath" or not token:
                return {"type": "json_link", "next_url_path": path}, params
            if token.get("inject_into") == "request_parameter":
                return {"type": "cursor", "cursor_path": path, "cursor_param": token["field_name"]}, params
            self.note(stream, f"paginator page_token_option {token}")
            return {"type": "json_link", "next_url_path": path}, params
        if kind == "PageIncrement":
            result = {"type": "page_number", "page_param": token.get("field_name", "page"), "base_page": int(strategy.get("start_from_page", 0))}
            return result, params
        if kind == "OffsetIncrement":
            result = {
                "type": "offset",
                "limit": int(page_size or 100),
                "offset_param": token.get("field_name", "offset"),
                "limit_param": size_option.get("field_name", "limit"),
            }
            return result, params
        self.note(stream, f"pagination strategy '{kind}'; the resource reads one page")
        return {"type": "single_page"}, params

    def parent(self, stream: str, router: Optional[dict[str, Any]], endpoint: dict[str, Any], transformations: list[Any]) -> dict[str, str]:
        """Fill the child's path from its parent; return {AddFields column: restsync's parent column}."""
        columns: dict[str, str] = {}
        if not router:
            return columns
        if router.get("type") != "SubstreamPartitionRouter":
            self.note(stream, f"partition_router type '{router.get('type')}'")
            return columns
        configs = router.get("parent_stream_configs") or []
        if len(configs) != 1:
            self.note(stream, f"{len(configs)} parent streams (restsync takes one; using the first)")
        if not configs:
            return columns
        parent_config = configs[0]
        parent = str((parent_config.get("stream") or {}).get("name"))
        key = str(parent_config.get("parent_key", "id"))
        partition_field = str(parent_config.get("partition_field", "parent_id"))
        if parent not in self.names:
            self.note(stream, f"parent stream '{parent}' is not among the manifest's streams")
        if parent_config.get("request_option"):
            self.note(stream, "parent value sent as a request option (restsync puts it in the path)")
        if parent_config.get("incremental_dependency"):
            self.note(stream, "incremental_dependency (restsync children read new parent keys from the destination anyway)")

        def fill(match: re.Match[str]) -> str:
            return "{resources.%s.%s}" % (parent, key) if (match.group(1) or match.group(2)) == partition_field else match.group(0)

        endpoint["path"] = PARTITION_REF.sub(fill, endpoint["path"])
        if "{resources." not in endpoint["path"]:
            self.note(stream, f"path '{endpoint['path']}' does not use the partition field '{partition_field}'")
        column = f"_{parent}_{key}"
        for transformation in transformations:
            if transformation.get("type") != "AddFields":
                self.note(stream, f"transformation '{transformation.get('type')}'")
                continue
            for added in transformation.get("fields") or []:
                match = PARTITION_REF.fullmatch(str(added.get("value", "")).strip())
                target = (added.get("path") or [None])[-1]
                if match and (match.group(1) or match.group(2)) == partition_field and target:
                    columns[str(target)] = column  # restsync adds the parent key to every child row itself
                else:
                    self.note(stream, f"AddFields {added.get('path')}")
        return columns

    def incremental(self, stream: str, cursor: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if not cursor:
            return None
        if cursor.get("type") != "DatetimeBasedCursor":
            self.note(stream, f"incremental_sync type '{cursor.get('type')}'")
            return None
        option = cursor.get("start_time_option") or {}
        if option.get("inject_into") != "request_parameter" or not option.get("field_name"):
            self.note(stream, "incremental_sync without a start_time_option request parameter: the resource is read in full")
            return None
        start = cursor.get("start_datetime")
        start = start.get("datetime") if isinstance(start, dict) else start
        initial = self.start_value(stream, start)
        result: dict[str, Any] = {"cursor_path": str(cursor.get("cursor_field")), "param": str(option["field_name"]), "initial_value": initial}
        lookback = cursor.get("lookback_window")
        if lookback:
            seconds = iso_duration_seconds(lookback)
            if seconds is None:
                self.note(stream, f"incremental_sync.lookback_window '{lookback}'")
            else:
                result["lag_seconds"] = int(seconds) if seconds == int(seconds) else seconds
        for key in ("end_time_option", "step", "cursor_granularity", "is_data_feed", "is_client_side_incremental"):
            if cursor.get(key):
                self.note(stream, f"incremental_sync.{key}")
        return result

    def start_value(self, stream: str, start: Any) -> str:
        if start and not has_jinja(start):
            return str(start)
        match = CONFIG_REF.fullmatch(str(start or "").strip())
        default = self.spec_defaults.get(match.group(1) or match.group(2)) if match else None
        if default:
            return str(default)
        self.note(stream, f"incremental_sync.start_datetime '{start}'; starting at {DEFAULT_START}")
        return DEFAULT_START


def factor_defaults(resources: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move what every resource shares (primary key, data paging, common params) into resource_defaults."""
    defaults: dict[str, Any] = {}
    if len(resources) < 2:
        return defaults, resources
    resources = copy.deepcopy(resources)
    first = resources[0]
    keys = Counter(_dump(r.get("primary_key")) for r in resources if "primary_key" in r).most_common(1)
    if keys and keys[0][1] > 1:
        defaults["primary_key"] = yaml.safe_load(keys[0][0])
    # the most common paginator; resources with another keep theirs (a resource's paginator replaces the default's)
    paginators = Counter(_dump(r["endpoint"].get("paginator")) for r in resources)
    common = yaml.safe_load(paginators.most_common(1)[0][0])
    endpoint: dict[str, Any] = {}
    if common:
        endpoint["paginator"] = common
    shared_params = {
        k: v
        for k, v in (first["endpoint"].get("params") or {}).items()
        if all((r["endpoint"].get("params") or {}).get(k, object()) == v for r in resources)
    }
    if shared_params:
        endpoint["params"] = shared_params
    # a param most resources share goes to the defaults; a resource that differs overrides it
    for key, value in (first["endpoint"].get("params") or {}).items():
        if key not in shared_params and all(key in (r["endpoint"].get("params") or {}) for r in resources):
            counts = Counter(_dump(r["endpoint"]["params"][key]) for r in resources)
            endpoint.setdefault("params", {})[key] = yaml.safe_load(counts.most_common(1)[0][0])
    if endpoint:
        defaults["endpoint"] = endpoint
    for resource in resources:
        if "primary_key" in defaults and resource.get("primary_key") == defaults["primary_key"]:
            resource.pop("primary_key")
        own = resource["endpoint"]
        if own.get("paginator") == common:
            own.pop("paginator", None)
        params = {k: v for k, v in (own.get("params") or {}).items() if endpoint.get("params", {}).get(k, object()) != v}
        own.pop("params", None)
        if params:
            own["params"] = params
    return defaults, resources


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False)


@contextmanager
def _naming(stream: dict[str, Any], index: int) -> Iterator[None]:
    """A malformed part of one stream fails naming the stream (or its position)."""
    try:
        yield
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        which = f"stream '{stream['name']}'" if stream.get("name") else f"stream #{index + 1} (no name)"
        raise RestsyncError(f"{which}: cannot convert it ({type(exc).__name__}: {exc})") from None


def import_manifest(manifest: Any, name: str) -> Imported:
    """Convert a parsed manifest; raise RestsyncError when it is not a declarative manifest at all."""
    if not isinstance(manifest, dict) or "streams" not in manifest:
        raise RestsyncError("not an Airbyte declarative manifest (no top-level 'streams')")
    return _Importer(manifest, name).run()


def import_file(path: Path | str, name: Optional[str] = None) -> Imported:
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
    stem = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower().replace("manifest", "").replace("source_", "")).strip("_")
    return stem if re.match(r"^[a-z]", stem or "") else f"api_{stem or 'imported'}"
