"""What every construct mapper of one import shares: the API name, the manifest's streams and spec,
and the report lines.

Every construct ends in exactly one of: mapped faithfully (no line), mapped approximately
(`approx`, a line saying how) or not mapped (`note`, a line). Mappers read the manifest through
`manifest.Tracked` mappings, so what no mapper read is listed too (`importer` walks the streams
after mapping, `manifest.unread`). `placeholders` turns `{{ config... }}` into `${config.x}`,
`${config.x?}` (optional: not in the spec's `required`, or a Jinja default) or `${secrets.x}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from restsync_dagster.config.airbyte.manifest import CONFIG_REF, access_chain, has_jinja, mark_read, substitute_blocks

APPROXIMATE = "approximate"
NOT_MAPPED = "not mapped"
_EMPTY_DEFAULT = re.compile(r"""^(\|\s*default\(\s*(''|""|None|none|\{\}|\[\])?\s*\)|or\s+(''|""|None|none|\{\}|\[\]))$""")
_ANY_DEFAULT = re.compile(r"""^(\|\s*default\(\s*(.+?)\s*\)|or\s+(.+))$""")


@dataclass(frozen=True)
class Line:
    """One report line: the stream (None: the whole manifest), approximate or not mapped, the text."""

    stream: Optional[str]
    kind: str
    what: str

    def __str__(self) -> str:
        where = f"stream '{self.stream}': " if self.stream else ""
        return f"{where}{self.what}" if self.kind == NOT_MAPPED else f"{where}approximate: {self.what}"


@dataclass
class ImportContext:
    """One manifest being imported: `name` of the API, `stream_names`, the spec's defaults, secret and
    required keys, and `lines`, one per construct mapped approximately or left out."""

    name: str
    stream_names: list[str]
    spec_defaults: dict[str, Any]
    spec_secrets: frozenset[str]
    spec_required: Optional[frozenset[str]] = None  # None: the manifest has no spec (every setting required)
    lines: list[Line] = field(default_factory=list)
    resets: dict[str, list[tuple[list[int], str]]] = field(default_factory=dict)  # RESET_PAGINATION filters per stream

    @property
    def unmapped(self) -> list[str]:
        return [str(line) for line in self.lines]

    def note(self, stream: Optional[str], what: str, node: Any = None) -> None:
        """Report `what` was not mapped, under its stream (None: the whole manifest); `node`, the
        manifest part it stands for, counts as read."""
        self._add(Line(stream, NOT_MAPPED, what), node)

    def approx(self, stream: Optional[str], what: str, node: Any = None) -> None:
        """Report `what` was mapped approximately, and how."""
        self._add(Line(stream, APPROXIMATE, what), node)

    def _add(self, line: Line, node: Any) -> None:
        if line not in self.lines:
            self.lines.append(line)
        if node is not None:
            mark_read(node)

    def optional_key(self, key: str) -> bool:
        return self.spec_required is not None and key not in self.spec_required

    def placeholders(self, stream: Optional[str], where: str, value: Any, secret: bool = False) -> Any:
        """`{{ config['x'] }}` blocks as `${secrets.x}` (auth, or a key the spec marks `airbyte_secret`),
        `${config.x?}` (optional) or `${config.x}`; other Jinja is left for the caller to flag."""
        if not isinstance(value, str):
            return value

        def replace(expression: str) -> Optional[str]:
            chain = access_chain(expression, "config")
            if chain is None or (chain.rest and not _ANY_DEFAULT.match(chain.rest)):
                return None
            name = chain.keys[-1]
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                return None
            is_secret = secret or name in self.spec_secrets or chain.keys[0] in self.spec_secrets
            optional = not secret and (chain.defaulted or self.optional_key(chain.keys[0]))
            if len(chain.keys) > 1:
                self.approx(stream, f"{where}: config{''.join(f'[{k!r}]' for k in chain.keys)} is read from the flat setting '{name}'")
            if chain.rest and not _EMPTY_DEFAULT.match(chain.rest):
                default = _ANY_DEFAULT.match(chain.rest)
                shown = (default.group(2) or default.group(3)) if default else chain.rest
                self.approx(stream, f"{where}: when '{name}' is unset Airbyte sends the default {shown}; restsync leaves it out")
            return "${%s.%s%s}" % ("secrets" if is_secret else "config", name, "?" if optional else "")

        return substitute_blocks(value, replace)

    def literal_url(self, base: Optional[str], field: str = "url_base", setting: str = "BASE_URL") -> str:
        """A URL the config can hold: a `{{ config['x'] }}` template becomes the spec's default, else a
        placeholder URL to override by environment (noted). `field` names the manifest key in the notes and
        `setting` the override (`BASE_URL` for url_base, `TOKEN_URL` for an OAuth token endpoint)."""
        env = f"SOURCES__{self.name.upper()}__{setting}"
        if not base:
            self.note(None, f"no {field}; set it in the config (or {env})")
            return "https://api.example.com"
        if has_jinja(base):
            match = CONFIG_REF.fullmatch(base.strip())
            default = self.spec_defaults.get((match.group(1) or match.group(2))) if match else None
            if default:
                self.approx(None, f"{field} '{base}' is the spec's default {default}; {env} overrides it")
                return str(default).rstrip("/")
            self.note(None, f"{field} '{base}' is a template; set {env}")
            return "https://api.example.com"
        return str(base).rstrip("/")
