"""Secrets and settings, resolved the dlt way when a run starts (never at code-location load).

A config value `${secrets.api_key}` is looked up as `sources.<api>.api_key` through dlt's
providers: the environment variable `SOURCES__<API>__API_KEY`, then `.dlt/secrets.toml`;
`${config.email}` likewise through `.dlt/config.toml`. `base_url` and an OAuth2 `token_url` can be
overridden the same way (`SOURCES__<API>__BASE_URL`, `SOURCES__<API>__TOKEN_URL`) without editing YAML.

A placeholder ending in `?` (`${config.org_id?}`) is optional: unset, a header or query parameter
whose whole value it is is left out of the requests (Zoho Desk's `orgId`, needed only by accounts with
several organizations), and inside a longer text it stands for nothing. Without `?` an unset setting
fails, naming the file and field.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import dlt

from restsync_dagster.config.errors import (
    InvalidLiteralSecretError,
    InvalidSettingError,
    MissingSettingError,
)
from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.config.redaction import basic_auth_forms, protect

PLACEHOLDER = re.compile(r"\$\{(secrets|config)\.([A-Za-z0-9_]+)(\?)?\}")
SECRET_AUTH_FIELDS = ("token", "password", "api_key", "client_secret", "refresh_token", "client_id", "username")


@dataclass(frozen=True)
class ResolvedClient:
    base_url: str
    auth: Optional[dict[str, Any]]
    headers: dict[str, str]
    # where the user sets the auth's secrets (names, never values), for "check X" in errors
    credential_variables: tuple[str, ...] = ()


class _Omitted:
    """What an optional placeholder that is a whole value resolves to when unset: leave it out."""

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Any = _Omitted()


def lookup(api: ApiConfig, name: str, secret: bool, field: str, optional: bool = False) -> Optional[str]:
    """The setting's value; unset: None when `optional`, else MissingSettingError."""
    accessor = dlt.secrets if secret else dlt.config
    value = accessor.get(f"sources.{api.name}.{name}")
    if value is None and not secret:
        value = dlt.secrets.get(f"sources.{api.name}.{name}")
    if value is None or value == "":
        if optional:
            return None
        raise MissingSettingError(api.name, name, field, api.source_file, secret)
    if secret:  # wherever it goes (auth, a header, a query param), it is redacted from every log line
        protect([str(value)])
    problem = control_character_problem(str(value))
    if problem is not None:  # requests would fail on it later, quoting the value in its exception
        raise InvalidSettingError(api.name, name, field, api.source_file, secret, problem)
    return str(value)


_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}


def control_character_problem(value: str) -> Optional[str]:
    """What is wrong with a value no header, URL or form can carry as typed (None: nothing).

    Says where (start, end, inside) and which character, never the value itself.
    """
    for index, char in enumerate(value):
        if unicodedata.category(char) == "Cc":
            where = "ends with" if index == len(value) - 1 else "starts with" if index == 0 else "contains"
            name = _CONTROL_NAMES.get(char, f"the character U+{ord(char):04X}")
            return f"{where} {name} (a control character)"
    return None


def resolve_text(api: ApiConfig, value: Any, field: str) -> Any:
    """Fill every `${secrets.x}` / `${config.x}` in a string; other values pass through. An unset
    optional one (`${config.x?}`) is OMITTED when it is the whole value, nothing inside a text."""
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole is not None and whole.group(3):
        found = lookup(api, whole.group(2), whole.group(1) == "secrets", field, optional=True)
        return OMITTED if found is None else found
    return PLACEHOLDER.sub(lambda m: lookup(api, m.group(2), m.group(1) == "secrets", field, optional=bool(m.group(3))) or "", value)


def _text(value: Any) -> Any:
    """A value that cannot be left out (the base URL, an auth field): an unset optional one is empty."""
    return "" if value is OMITTED else value


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """Headers or params without those an unset optional setting leaves out."""
    return {key: value for key, value in values.items() if value is not OMITTED}


def _override(api: ApiConfig, name: str) -> Optional[str]:
    value = dlt.config.get(f"sources.{api.name}.{name}")
    if not value:
        return None
    problem = control_character_problem(str(value))
    if problem is not None:
        raise InvalidSettingError(api.name, name, f"client.{name}", api.source_file, False, problem)
    return str(value)


def _check_literal_secrets(api: ApiConfig) -> None:
    """A secret written into the auth block as text is checked like one from secrets.toml."""
    if api.client.auth is None:
        return
    for key, value in api.client.auth.model_dump().items():
        if key in SECRET_AUTH_FIELDS and isinstance(value, str):
            problem = control_character_problem(PLACEHOLDER.sub("", value))
            if problem is not None:
                raise InvalidLiteralSecretError(api.name, f"client.auth.{key}", api.source_file, problem)


def resolve_client(api: ApiConfig) -> ResolvedClient:
    """Base URL, auth and headers with every secret filled in; raises MissingSettingError."""
    base_url = (_override(api, "base_url") or _text(resolve_text(api, api.client.base_url, "client.base_url"))).rstrip("/")
    auth = None
    _check_literal_secrets(api)
    if api.client.auth is not None:
        auth = {
            key: _text(resolve_text(api, value, f"client.auth.{key}"))
            for key, value in api.client.auth.model_dump().items()
        }
        if "token_url" in auth:
            auth["token_url"] = _override(api, "token_url") or auth["token_url"]
    headers = _present({k: resolve_text(api, v, f"client.headers.{k}") for k, v in api.client.headers.items()})
    return ResolvedClient(base_url=base_url, auth=auth, headers=headers, credential_variables=credential_variables(api))


def credential_variables(api: ApiConfig) -> tuple[str, ...]:
    """The environment variables the auth's secrets come from, for messages like "fix X" (names, never values)."""
    if api.client.auth is None:
        return ()
    return tuple(
        f"SOURCES__{api.name.upper()}__{m.group(2).upper()}"
        for key, value in api.client.auth.model_dump().items()
        if key in SECRET_AUTH_FIELDS and isinstance(value, str)
        for m in PLACEHOLDER.finditer(value)
        if m.group(1) == "secrets"
    )


def resolve_params(api: ApiConfig, resource: Resource) -> tuple[dict[str, Any], dict[str, str]]:
    """A resource's query params and headers with settings filled in; raises MissingSettingError."""
    params = _present({k: resolve_text(api, v, f"endpoint.params.{k}") for k, v in resource.endpoint.params.items()})
    headers = _present({k: resolve_text(api, v, f"endpoint.headers.{k}") for k, v in resource.endpoint.headers.items()})
    return params, headers


def secrets_of(client: ResolvedClient) -> list[str]:
    """The resolved secret values of a client's auth (redaction derives every spelling of each).

    `lookup` already protects each `${secrets.x}` it fills in; this adds what it never sees: a
    secret written as plain text in the auth block, and basic auth's base64 `user:password` pair.
    """
    if client.auth is None:
        return []
    values = [str(v) for k, v in client.auth.items() if k in SECRET_AUTH_FIELDS and v]
    if client.auth.get("type") == "http_basic":
        values += sorted(basic_auth_forms(str(client.auth.get("username", "")), str(client.auth.get("password", ""))))
    return values


def warn_plaintext_secrets(api: ApiConfig) -> list[str]:
    """Warn for auth fields written literally into the YAML: they belong in secrets.toml or the env."""
    fields = []
    if api.client.auth is None:
        return fields
    for key, value in api.client.auth.model_dump().items():
        if key in SECRET_AUTH_FIELDS and isinstance(value, str) and value and not PLACEHOLDER.search(value):
            if key == "password" and api.client.auth.type == "http_basic" and len(value) <= 1:
                continue  # the conventional dummy password of api-key-as-user basic auth
            fields.append(f"client.auth.{key}")
    for field in fields:
        warnings.warn(
            f"{api.source_file or api.name}: field '{field}' holds a plain-text secret; write "
            f"'${{secrets.<name>}}' and set it in .dlt/secrets.toml under [sources.{api.name}] or as "
            f"SOURCES__{api.name.upper()}__<NAME>",
            stacklevel=2,
        )
    return fields
