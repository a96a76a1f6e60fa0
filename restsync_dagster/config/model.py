"""Typed model of one API's YAML config: the API, its client, its resources and their endpoints.

The YAML follows dlt's `rest_api_source` dict (client, resource_defaults, resources with endpoint)
plus a few restsync keys (error_handling, incremental, schedule, sensor). The sub-models live
beside it: auth (`auth_config`), paginators (`paginator_config`), incremental and delta
(`change_tracking`). Reading a file into this model, with errors naming file, resource and field,
is `loading`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from restsync_dagster.config.auth_config import AuthConfig
from restsync_dagster.config.backfill_config import BackfillConfig
from restsync_dagster.config.change_tracking import DeltaConfig, IncrementalConfig
from restsync_dagster.config.paginator_config import PaginatorConfig
from restsync_dagster.config.strict_model import StrictModel

PARENT_REF = re.compile(r"\{resources\.([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)\}")
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# what Dagster accepts as asset owners and tags (it rejects the code location otherwise)
TAG_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,63}/)?[A-Za-z0-9_.-]{1,63}$")
TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")


class ErrorHandling(StrictModel):
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
    # a long top-level listing commits the rows it read and where it stands (the next page, the newest
    # cursor value) every that many pages or records, so a killed run resumes there (extract/checkpoint.py)
    checkpoint_pages: int = Field(default=1000, ge=0, description="pages of a listing between two checkpoints; 0: never")
    checkpoint_records: int = Field(default=0, ge=0, description="records of a listing between two checkpoints; 0: never")
    checkpoint_max_age_hours: float = Field(default=24.0, gt=0, description="an older checkpoint is ignored: the listing starts over")


def _valid_cron(value: Optional[str]) -> Optional[str]:
    from dagster._utils.schedules import is_valid_cron_string

    if value is not None and not is_valid_cron_string(value):
        raise ValueError(f"{value!r} is not a cron expression (five fields, e.g. '0 3 * * 0')")
    return value


class Schedule(StrictModel):
    cron: str = "0 * * * *"
    timezone: str = "UTC"
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return str(_valid_cron(value))


class Sensor(StrictModel):
    enabled: bool = True
    minimum_interval_seconds: int = Field(default=60, ge=5)


class Client(StrictModel):
    base_url: str
    auth: Optional[AuthConfig] = None
    headers: dict[str, str] = Field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    # requests per second the API allows; every request of the API (all resources, child threads
    # and runs: load/request_budget.py) is paced to it client-side. None: no client-side limit.
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


class Endpoint(StrictModel):
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


class Resource(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    description: Optional[str] = None
    endpoint: Endpoint
    primary_key: Union[str, tuple[str, ...]] = "id"
    write_disposition: Literal["merge", "append", "replace"] = "merge"
    error_handling: Optional[ErrorHandling] = None
    incremental: Optional[IncrementalConfig] = None
    delta: Optional[DeltaConfig] = None
    # the resource's history in windows, each a Dagster partition (backfill_config.py)
    backfill: Optional[BackfillConfig] = None
    # cron of a periodic full refresh (tables dropped and reloaded, cursors reset): merges never
    # remove records deleted upstream, a full refresh does. None: only on request.
    full_refresh_cron: Optional[str] = None
    owners: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    # dlt schema contract: `freeze` makes a new column or a changed type fail the resource;
    # default (None) evolves the schema as dlt does (new columns added, type changes as variants)
    schema_contract: Optional[Union[SchemaContractMode, dict[Literal["tables", "columns", "data_type"], SchemaContractMode]]] = None

    @field_validator("backfill")
    @classmethod
    def _backfill_of_a_cursor(cls, value: Optional[BackfillConfig], info: Any) -> Optional[BackfillConfig]:
        """A window bounds the cursor's filter and merges on the key: it needs both, at the top level."""
        if value is None:
            return value
        data = info.data
        if "incremental" in data and data["incremental"] is None:  # absent: its own error is reported
            raise ValueError("backfill needs incremental (its param and format bound each window)")
        if data.get("write_disposition", "merge") != "merge":
            raise ValueError(f"backfill needs write_disposition merge (windows overlap the live runs), not {data.get('write_disposition')}")
        if "primary_key" in data and not data["primary_key"]:
            raise ValueError("backfill needs a primary_key: windows and live runs merge the same records on it")
        endpoint = data.get("endpoint")
        if endpoint is not None and endpoint.parent_ref is not None:
            raise ValueError(f"backfill is for top-level resources; this one reads its parent {endpoint.parent_ref[0]} (its children load with the parent's windows)")
        return value

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


class ApiConfig(StrictModel):
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
