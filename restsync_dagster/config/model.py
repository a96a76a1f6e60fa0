"""Typed model of one API's YAML config, and loading it with errors that name file, resource, field.

The YAML follows dlt's `rest_api_source` dict (client, resource_defaults, resources with endpoint)
plus a few restsync keys (error_handling, incremental, schedule, sensor). Seed idioms are
normalized first by `dialect.normalize`, so a pasted seed config loads as the shipped one does.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from restsync_dagster.config.dialect import normalize
from restsync_dagster.config.dlt_dict import from_dlt
from restsync_dagster.config.errors import ConfigError, ConfigErrors

PARENT_REF = re.compile(r"\{resources\.([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)\}")
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# what Dagster accepts as asset owners and tags (it rejects the code location otherwise)
TAG_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,63}/)?[A-Za-z0-9_.-]{1,63}$")
TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- auth ---------------------------------------------------------------------------------------


class BearerAuth(_Strict):
    type: Literal["bearer"]
    token: str


class HttpBasicAuth(_Strict):
    type: Literal["http_basic"]
    username: str
    password: str = ""


class ApiKeyAuth(_Strict):
    type: Literal["api_key"]
    api_key: str
    name: str = "Authorization"
    location: Literal["header", "query"] = "header"


class OAuth2ClientCredentialsAuth(_Strict):
    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: str
    scope: Optional[str] = None


class OAuth2RefreshTokenAuth(_Strict):
    type: Literal["oauth2_refresh_token"]
    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str


AuthConfig = Annotated[
    Union[BearerAuth, HttpBasicAuth, ApiKeyAuth, OAuth2ClientCredentialsAuth, OAuth2RefreshTokenAuth],
    Field(discriminator="type"),
]


# --- paginators ----------------------------------------------------------------------------------


class _ListPaginator(_Strict):
    """How a listing may say it ended, besides its paginator's own signal (see paginators.py).

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


class SinglePagePaginator(_Strict):
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


# --- error handling, incremental, endpoint, resource ------------------------------------------


class ErrorHandling(_Strict):
    """How the HTTP layer treats failures. Retries use exponential backoff and honour Retry-After."""

    retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    max_retries: int = Field(default=3, ge=0, le=20)
    backoff_factor: float = Field(default=2.0, ge=0)
    max_retry_wait: float = Field(default=300.0, gt=0, description="longest Retry-After honoured, seconds")
    ignore_statuses: tuple[int, ...] = ()
    timeout: float = Field(default=60.0, gt=0)
    max_pages: int = Field(default=100_000, gt=0, description="per request sequence; guards next-link loops")
    # `timeout` bounds each socket read; a server trickling bytes passes it forever. `deadline`
    # bounds one request from sending to its body fully read (redirects included); retried like a timeout
    deadline: float = Field(default=300.0, gt=0, description="seconds from sending a request to its body fully read")
    # the largest body accepted, as received and as decoded (gzip bombs, endless chunked bodies)
    max_body_mb: float = Field(default=64.0, gt=0, description="largest response body, MB, received or decoded")


class IncrementalConfig(_Strict):
    """Fetch only records changed since the last loaded cursor value.

    `param` is the query parameter the API filters on (`?updated_since=<cursor>`); `lag_seconds`
    re-reads a window before the cursor for late updates (merge on the key absorbs the overlap);
    `probe_params` ask the API for its newest record, which the change sensor compares to the cursor.
    """

    cursor_path: str
    param: str
    # any usual cursor form: ISO 8601, a date, epoch seconds or milliseconds, a version number
    initial_value: Union[int, float, str]
    # the form the filter value is sent in; `auto`: the records' form (before any, initial_value's)
    format: Literal["auto", "iso", "epoch_s", "epoch_ms", "date", "int"] = "auto"
    lag_seconds: float = Field(default=0, ge=0)
    probe_params: dict[str, Union[str, int]] = Field(default_factory=dict)

    @field_validator("initial_value", mode="before")
    @classmethod
    def _initial_value_parses(cls, value: Any, info: Any) -> Any:
        """YAML reads an unquoted `2024-01-01` as a date: keep it as text; refuse what is no cursor."""
        from datetime import date, datetime

        from restsync_dagster.config.cursor_values import parse_cursor

        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            value = value.isoformat()
        if parse_cursor(value) is None:
            raise ValueError(
                f"{value!r} is no cursor value: use an ISO 8601 time ('2024-01-01T00:00:00Z'), a date "
                "('2024-01-01'), epoch seconds or milliseconds (1704067200000) or a version number (0)"
            )
        return value


class DeltaConfig(_Strict):
    """Graph-style delta query: a round pages through `path` and its last page links to the next
    round, which returns only what changed since, deletions included.

    The link is kept in the resource's dlt state (with the data, like a cursor). A record carrying
    `removed_field` was deleted upstream and is deleted from the table by the merge.
    """

    path: str
    delta_link_path: str = "['@odata.deltaLink']"
    removed_field: str = "@removed"
    # the one field a removed entry carries besides `removed_field` (Graph: id); the resource's
    # primary key must be this field, or the merge could not tell which row to delete
    removed_key: str = "id"
    # query of a round that starts from now and returns nothing (Graph: $deltatoken=latest); the
    # change sensor starts watching with it instead of reading every record
    latest_params: dict[str, Union[str, int]] = Field(default_factory=lambda: {"$deltatoken": "latest"})


def _valid_cron(value: Optional[str]) -> Optional[str]:
    from dagster._utils.schedules import is_valid_cron_string

    if value is not None and not is_valid_cron_string(value):
        raise ValueError(f"{value!r} is not a cron expression (five fields, e.g. '0 3 * * 0')")
    return value


class Schedule(_Strict):
    cron: str = "0 * * * *"
    timezone: str = "UTC"
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return str(_valid_cron(value))


class Sensor(_Strict):
    enabled: bool = True
    minimum_interval_seconds: int = Field(default=60, ge=5)


class Client(_Strict):
    base_url: str
    auth: Optional[AuthConfig] = None
    headers: dict[str, str] = Field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    # requests per second the API allows; every request of the API (all resources and child
    # threads) is paced to it client-side, see ratelimit.py. None: no client-side limit.
    rate_limit: Optional[float] = Field(default=None, gt=0)
    # numbered pages of a listing requested ahead while dlt processes the current one (see
    # readahead.py); 0 turns it off
    read_ahead_pages: int = Field(default=4, ge=0, le=32)

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError("must be an absolute http(s) URL, e.g. https://api.example.com/v1")
        return value.rstrip("/")


class Endpoint(_Strict):
    path: str
    params: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    data_selector: Optional[str] = None
    paginator: Optional[PaginatorConfig] = None

    @property
    def parent_ref(self) -> Optional[tuple[str, str]]:
        """(parent resource, parent field) when the path is filled from a parent record."""
        match = PARENT_REF.search(self.path)
        return (match.group(1), match.group(2)) if match else None


SchemaContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]


class Resource(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: Optional[str] = None
    endpoint: Endpoint
    primary_key: Union[str, tuple[str, ...]] = "id"
    write_disposition: Literal["merge", "append", "replace"] = "merge"
    error_handling: Optional[ErrorHandling] = None
    incremental: Optional[IncrementalConfig] = None
    delta: Optional[DeltaConfig] = None
    # cron of a periodic full refresh (tables dropped and reloaded, cursors reset): merges never
    # remove records deleted upstream, a full refresh does. None: only on request.
    full_refresh_cron: Optional[str] = None
    owners: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    # dlt schema contract: `freeze` makes a new column or a changed type fail the resource;
    # default (None) evolves the schema as dlt does (new columns added, type changes as variants)
    schema_contract: Optional[Union[SchemaContractMode, dict[Literal["tables", "columns", "data_type"], SchemaContractMode]]] = None

    @field_validator("full_refresh_cron")
    @classmethod
    def _full_refresh_cron_is_cron(cls, value: Optional[str]) -> Optional[str]:
        return _valid_cron(value)

    @field_validator("owners")
    @classmethod
    def _owners_dagster_accepts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Dagster refuses any other owner, and with it the whole code location: say so here."""
        # dagster's own rule (private, no public equivalent)
        from dagster._core.definitions.utils import is_valid_owner

        for owner in value:
            if not is_valid_owner(owner):
                raise ValueError(f"owner '{owner}' must be an email address or 'team:<name>'")
        return value

    @field_validator("tags")
    @classmethod
    def _tags_dagster_accepts(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not TAG_KEY.match(key):
                raise ValueError(f"tag key '{key}': letters, digits, '_', '-', '.', optionally 'prefix/'; at most 63 each")
            if not TAG_VALUE.match(str(tag)):
                raise ValueError(f"tag '{key}' value '{tag}': letters, digits, '_', '-', '.'; at most 63 characters")
        return value

    @field_validator("schema_contract")
    @classmethod
    def _contract_for_columns(cls, value: Any) -> Any:
        """A single mode applies to columns and data types: with dlt's shorthand `freeze` also
        freezing tables, the resource's table could never be created on its first run."""
        if isinstance(value, str):
            return {"tables": "evolve", "columns": value, "data_type": value}
        return value

    @model_validator(mode="after")
    def _one_parent(self) -> "Resource":
        refs = {m.group(1) for m in PARENT_REF.finditer(self.endpoint.path)}
        if len(refs) > 1:
            raise ValueError(f"endpoint.path names more than one parent resource: {sorted(refs)}")
        if self.name in refs:
            raise ValueError("endpoint.path names the resource itself as its parent")
        return self

    @model_validator(mode="after")
    def _merge_has_a_key(self) -> "Resource":
        """dlt merges without a key by appending: every run would add the records again."""
        if self.write_disposition == "merge" and not self.primary_key_columns:
            raise ValueError(
                "merge needs a primary_key; a singleton (one object without an id) is replaced whole: "
                "write_disposition: replace, primary_key: []"
            )
        return self

    @model_validator(mode="after")
    def _delta_alone(self) -> "Resource":
        """A delta query replaces the updated-since cursor, needs no parent, and merges on the key
        (its deletions are merge deletes)."""
        if self.delta is None:
            return self
        if self.incremental is not None:
            raise ValueError("delta and incremental exclude each other: a delta link already fetches only changes")
        if self.parent is not None:
            raise ValueError(f"delta is for top-level resources; this one reads its parent {self.parent}")
        if self.write_disposition != "merge":
            raise ValueError(f"delta needs write_disposition merge (deletions are merged), not {self.write_disposition}")
        if self.primary_key_columns != (self.delta.removed_key,):
            raise ValueError(
                f"delta needs primary_key '{self.delta.removed_key}' (delta.removed_key: the field removed entries carry), "
                f"not {', '.join(self.primary_key_columns)}"
            )
        return self

    @property
    def tracks_changes(self) -> bool:
        """Fetches only what changed since its last run: by cursor or by delta link."""
        return self.incremental is not None or self.delta is not None

    @property
    def parent(self) -> Optional[str]:
        ref = self.endpoint.parent_ref
        return ref[0] if ref else None

    @property
    def primary_key_columns(self) -> tuple[str, ...]:
        return (self.primary_key,) if isinstance(self.primary_key, str) else tuple(self.primary_key)


class ApiConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: Optional[str] = None
    client: Client
    error_handling: ErrorHandling = Field(default_factory=ErrorHandling)
    resources: tuple[Resource, ...]
    child_concurrency: int = Field(default=8, ge=1, le=64)
    schedule: Schedule = Field(default_factory=Schedule)
    sensor: Sensor = Field(default_factory=Sensor)
    source_file: Optional[str] = None

    def resource(self, name: str) -> Resource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)

    def error_handling_for(self, resource: Resource) -> ErrorHandling:
        return resource.error_handling or self.error_handling

    def children_of(self, parent: str) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent]


# --- loading -------------------------------------------------------------------------------------

_RESOURCE_KEYS = set(Resource.model_fields)
_API_KEYS = set(ApiConfig.model_fields) - {"source_file"} | {"resource_defaults"}


def load_api_config(path: Path | str) -> ApiConfig:
    """Read, normalize and validate one YAML file; raise ConfigErrors listing every problem."""
    from restsync_dagster.config import (
        yaml_budget,  # size and alias bounds: a small file must not expand to GBs
    )

    path = Path(path)
    try:
        text = yaml_budget.read_config_text(path)
        # libyaml's loader when present: ~15x faster, it matters with hundreds of configs at load
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigErrors([ConfigError(path, f"is not valid YAML{where}: {getattr(exc, 'problem', exc)}")]) from None
    except yaml_budget.ConfigTooLarge as exc:
        raise ConfigErrors([ConfigError(path, str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise ConfigErrors([ConfigError(path, f"is not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigErrors([ConfigError(path, f"cannot be read: {exc.strerror}")]) from None
    expanded = yaml_budget.over_budget(raw)  # before any walk that would expand its aliases
    if expanded:
        raise ConfigErrors([ConfigError(path, expanded)])
    return parse_api_config(raw, source_file=path, default_name=path.stem)


def parse_api_config(raw: Any, source_file: Optional[Path | str] = None, default_name: Optional[str] = None) -> ApiConfig:
    """Validate a config dict (YAML already parsed); seed idioms are normalized first."""
    if not isinstance(raw, dict):
        raise ConfigErrors([ConfigError(source_file, "must be a mapping with 'client' and 'resources'")])
    errors: list[ConfigError] = []
    raw = normalize(from_dlt(raw), source_file=source_file, errors=errors)  # dlt shorthands, then seed idioms
    raw.setdefault("name", default_name)
    for key in sorted(set(raw) - _API_KEYS):
        errors.append(ConfigError(source_file, f"unknown key (known: {', '.join(sorted(_API_KEYS))})", field=key))

    defaults = raw.get("resource_defaults") or {}
    resources = _validate_resources(raw.get("resources"), defaults, source_file, errors)
    api_fields = {k: v for k, v in raw.items() if k in _API_KEYS and k not in ("resources", "resource_defaults")}
    try:
        api = ApiConfig.model_validate({**api_fields, "resources": [], "source_file": str(source_file) if source_file else None})
    except ValidationError as exc:
        errors.extend(_config_errors(exc, source_file, resource=None))
        api = None
    errors.extend(_graph_errors(resources, source_file))
    if errors:
        raise ConfigErrors(errors)
    assert api is not None
    return api.model_copy(update={"resources": tuple(resources)})


def _validate_resources(
    raw_resources: Any, defaults: dict[str, Any], source_file: Any, errors: list[ConfigError]
) -> list[Resource]:
    if not isinstance(raw_resources, list) or not raw_resources:
        errors.append(ConfigError(source_file, "must list at least one resource", field="resources"))
        return []
    resources: list[Resource] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_resources):
        name = raw.get("name") if isinstance(raw, dict) else None
        label = name or f"#{index + 1}"
        if not isinstance(raw, dict):
            errors.append(ConfigError(source_file, "must be a mapping with 'name' and 'endpoint'", resource=label))
            continue
        if name in seen:
            errors.append(ConfigError(source_file, "duplicate resource name", resource=label, field="name"))
            continue
        seen.add(name)
        try:
            resources.append(Resource.model_validate(merge_defaults(defaults, raw)))
        except ValidationError as exc:
            errors.extend(_config_errors(exc, source_file, resource=label))
    return resources


def merge_defaults(defaults: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """dlt's resource_defaults semantics: deep merge, except a resource's paginator replaces the default's."""
    merged = copy.deepcopy(defaults)
    for key, value in resource.items():
        if key == "endpoint" and isinstance(value, dict) and isinstance(merged.get("endpoint"), dict):
            endpoint = merged["endpoint"]
            for ekey, evalue in value.items():
                if isinstance(evalue, dict) and isinstance(endpoint.get(ekey), dict) and ekey != "paginator":
                    endpoint[ekey] = {**endpoint[ekey], **evalue}
                else:
                    endpoint[ekey] = evalue
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _graph_errors(resources: list[Resource], source_file: Any) -> list[ConfigError]:
    """A child's parent must exist, parents must not form a cycle, and no resource's table may be
    another's, or one of its nested tables (`tickets__tags` beside `tickets`)."""
    names = {r.name: r for r in resources}
    errors = _table_name_errors(resources, source_file)
    for resource in resources:
        parent = resource.parent
        if parent is not None and parent not in names:
            errors.append(
                ConfigError(
                    source_file,
                    f"names parent resource '{parent}', which is not defined (defined: {', '.join(sorted(names))})",
                    resource=resource.name,
                    field="endpoint.path",
                )
            )
    for resource in resources:
        seen = [resource.name]
        current = resource.parent
        while current in names:
            if current in seen:
                errors.append(
                    ConfigError(
                        source_file,
                        f"parent chain forms a cycle: {' -> '.join(seen + [current])}",
                        resource=resource.name,
                        field="endpoint.path",
                    )
                )
                break
            seen.append(current)
            current = names[current].parent
    return errors


def _table_name_errors(resources: list[Resource], source_file: Any) -> list[ConfigError]:
    """Resources whose tables collide under dlt's naming: a resource's list fields become tables
    `<resource>__<field>`, and `tickets_` is the table `ticketsx`; two resources writing one table
    would mix their rows and merge one's away with the other's."""
    from dlt.common.normalizers.naming.snake_case import (
        NamingConvention,  # dlt's default naming
    )

    naming = NamingConvention()
    tables = {r.name: naming.normalize_tables_path(r.name) for r in resources}
    errors = []
    for resource in resources:
        table = tables[resource.name]
        for other in resources:
            if other is resource:
                continue
            other_table = tables[other.name]
            if table == other_table and resources.index(other) < resources.index(resource):
                clash = f"its table '{table}' is also the table of resource '{other.name}'"
            elif table.startswith(other_table + naming.PATH_SEPARATOR):
                field = table[len(other_table) + len(naming.PATH_SEPARATOR) :]
                clash = f"its table '{table}' is where dlt puts the nested list '{field}' of resource '{other.name}'"
            else:
                continue
            example = f" (e.g. '{resource.name.replace('__', '_')}')" if "__" in resource.name else ""
            errors.append(ConfigError(source_file, f"{clash}; rename this resource{example}", resource=resource.name, field="name"))
            break
    return errors


def _config_errors(exc: ValidationError, source_file: Any, resource: Optional[str]) -> list[ConfigError]:
    errors = []
    for error in exc.errors(include_url=False):
        loc = _user_loc(error["loc"])
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


def _user_loc(loc: tuple[Any, ...]) -> list[str]:
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


CONFIGS_ENV = "RESTSYNC_CONFIGS_DIR"


def configs_dir() -> Path:
    """The folder of API configs: $RESTSYNC_CONFIGS_DIR, else `configs/` beside the package or in the cwd."""
    if os.environ.get(CONFIGS_ENV):
        return Path(os.environ[CONFIGS_ENV])
    beside_package = Path(__file__).resolve().parents[2] / "configs"
    return beside_package if beside_package.is_dir() else Path.cwd() / "configs"


def load_config_dir(configs_dir: Path | str) -> tuple[list[ApiConfig], list[ConfigError]]:
    """Load every `*.yaml` in a folder; a broken file is reported and the others still load."""
    apis: list[ApiConfig] = []
    errors: list[ConfigError] = []
    names: dict[str, str] = {}
    for path in sorted(Path(configs_dir).glob("*.y*ml")):
        try:
            api = load_api_config(path)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            continue
        if api.name in names:
            errors.append(ConfigError(path, f"API name '{api.name}' is already used by {names[api.name]}", field="name"))
            continue
        names[api.name] = str(path)
        apis.append(api)
    return apis, errors
