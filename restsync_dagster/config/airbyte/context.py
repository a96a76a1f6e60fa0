"""What every construct mapper of one import shares: the API name, the manifest's streams and spec,
and the list of what could not be mapped.

Mappers take the context as their first argument and call `note` for anything they leave out, naming
the stream and the manifest field, so the report (`report.Imported.unmapped`) lists it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from restsync_dagster.config.airbyte.manifest import CONFIG_REF, has_jinja


@dataclass
class ImportContext:
    """One manifest being imported: `name` of the API, `stream_names`, the spec's defaults and secret
    keys (`spec_defaults`, `spec_secrets`), and `unmapped`, one line per construct left out."""

    name: str
    stream_names: list[str]
    spec_defaults: dict[str, Any]
    spec_secrets: frozenset[str]
    unmapped: list[str] = field(default_factory=list)

    def note(self, stream: Optional[str], what: str) -> None:
        """Report `what` was left out, under its stream (None: the whole manifest)."""
        self.unmapped.append(f"stream '{stream}': {what}" if stream else what)

    def literal_url(self, base: Optional[str]) -> str:
        """A URL the config can hold: a `{{ config['x'] }}` template becomes the spec's default, else a
        placeholder URL to override by environment (noted)."""
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
