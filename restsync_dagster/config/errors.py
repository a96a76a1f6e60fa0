"""Errors that tell the user where to look: config file, resource, field, and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


class RestsyncError(Exception):
    """Base of every error restsync raises on purpose."""


class ConfigError(RestsyncError):
    """A config file is broken; names the file, the resource and the field."""

    def __init__(
        self,
        source_file: Optional[Path | str],
        message: str,
        resource: Optional[str] = None,
        field: Optional[str] = None,
    ) -> None:
        self.source_file = str(source_file) if source_file else "<config>"
        self.resource = resource
        self.field = field
        self.message = message
        where = [self.source_file]
        if resource:
            where.append(f"resource '{resource}'")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{': '.join(where)}: {message}")


class ConfigErrors(RestsyncError):
    """Every problem found in one or more config files, reported at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {error}" for error in errors)
        super().__init__(f"{len(errors)} config error(s):\n{lines}")


class SettingError(RestsyncError):
    """A secret or config value the API needs at run time is missing or unusable."""


class _NamedSettingError(SettingError):
    """A setting the user sets under a name: `SOURCES__<API>__<NAME>`, or in a .dlt toml file."""

    def __init__(self, api: str, name: str, secret: bool, message: str) -> None:
        self.api = api
        self.name = name
        super().__init__(message)

    @staticmethod
    def where_set(api: str, name: str, secret: bool) -> tuple[str, str, str]:
        """(environment variable, 'secret' or 'setting', the toml file it may live in)."""
        return f"SOURCES__{api.upper()}__{name.upper()}", "secret" if secret else "setting", ".dlt/secrets.toml" if secret else ".dlt/config.toml"


class MissingSettingError(_NamedSettingError):
    """A secret or config value the API needs at run time is not set anywhere dlt looks."""

    def __init__(self, api: str, name: str, field: str, source_file: Optional[str], secret: bool) -> None:
        self.env_var, kind, toml = self.where_set(api, name, secret)
        super().__init__(
            api, name, secret,
            f"{source_file or api}: field '{field}' needs the {kind} '{name}' of API '{api}', "
            f"which is not set. Set the environment variable {self.env_var}, or add "
            f"'{name} = \"...\"' under [sources.{api}] in {toml}.",
        )


class InvalidSettingError(_NamedSettingError):
    """A secret or config value holds a character no HTTP request can carry; never shows the value."""

    def __init__(self, api: str, name: str, field: str, source_file: Optional[str], secret: bool, problem: str) -> None:
        self.env_var, kind, toml = self.where_set(api, name, secret)
        super().__init__(
            api, name, secret,
            f"{source_file or api}: field '{field}': the {kind} '{name}' of API '{api}' ({self.env_var}) "
            f"{problem}; remove it where the value is set ({self.env_var}, or '{name}' under [sources.{api}] in {toml}).",
        )


class InvalidLiteralSecretError(SettingError):
    """A secret written literally into the YAML holds a control character; never shows the value."""

    def __init__(self, api: str, field: str, source_file: Optional[str], problem: str) -> None:
        self.api = api
        super().__init__(
            f"{source_file or api}: field '{field}' of API '{api}' {problem}; remove it, or better, write "
            f"'${{secrets.<name>}}' there and set SOURCES__{api.upper()}__<NAME>."
        )
