"""What an import produced: the restsync config dict, a line for every construct mapped
approximately or not mapped, and the summary (streams mapped, approximated, left out; the settings
the user must provide).

Every construct mapper reports through `context.ImportContext` (`approx`, `note`), and what no
mapper read is listed too, so nothing is dropped silently. The same line under several streams (a
paginator shared through `definitions`, say) is reported once, naming them (`Group`). `to_yaml`
writes the grouped lines and the summary at the top of the config file it renders; the CLI prints
`groups` and `summary_lines`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from restsync_dagster.config.airbyte.context import APPROXIMATE, Line

PLACEHOLDER = re.compile(r"\$\{(secrets|config)\.([A-Za-z0-9_]+)(\?)?\}")


@dataclass(frozen=True)
class Group:
    """One report line as printed: a line's kind and text, and every stream it was reported under
    (`()` for the whole manifest)."""

    kind: str
    what: str
    streams: tuple[str, ...]

    def __str__(self) -> str:
        if len(self.streams) == 1:
            return str(Line(self.streams[0], self.kind, self.what))
        text = str(Line(None, self.kind, self.what))
        return f"{text} (streams {', '.join(self.streams)})" if self.streams else text


def group_lines(lines: list[Line]) -> list[Group]:
    """Identical lines of several streams as one, at the place of the first; a line of the whole
    manifest stays on its own."""
    order: list[tuple[str, str, bool]] = []
    streams: dict[tuple[str, str, bool], list[str]] = {}
    for line in lines:
        key = (line.kind, line.what, line.stream is None)
        if key not in streams:
            order.append(key)
            streams[key] = []
        if line.stream is not None and line.stream not in streams[key]:
            streams[key].append(line.stream)
    return [Group(kind, what, tuple(streams[(kind, what, whole)])) for kind, what, whole in order]


@dataclass
class Imported:
    """The config dict, its report `lines`, the streams `left_out` (stream -> why) and, per stream
    imported, the resources it became (`streams`)."""

    config: dict[str, Any]
    lines: list[Line] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    streams: dict[str, list[str]] = field(default_factory=dict)

    @property
    def groups(self) -> list[Group]:
        """The lines as reported: identical lines of several streams once (`group_lines`)."""
        return group_lines(self.lines)

    @property
    def unmapped(self) -> list[str]:
        """Every reported line: approximations and what was not mapped (grouped across streams)."""
        return [str(group) for group in self.groups]

    @property
    def mapped(self) -> list[str]:
        """Streams imported with no line of their own: mapped faithfully."""
        lined = {line.stream for line in self.lines}
        return [s for s in self.streams if s not in lined]

    @property
    def approximated(self) -> list[str]:
        """Streams imported with at least one line (mapped approximately, or with a part not mapped)."""
        lined = {line.stream for line in self.lines}
        return [s for s in self.streams if s in lined]

    def settings(self) -> dict[str, list[str]]:
        """Settings the config reads: {'required': [...], 'optional': [...]} as SOURCES__<API>__<X>."""
        found: dict[str, bool] = {}
        for _, name, optional in PLACEHOLDER.findall(yaml.safe_dump(self.config)):
            found[name] = found.get(name, True) and bool(optional)
        prefix = f"SOURCES__{str(self.config.get('name', '')).upper()}__"
        return {
            "required": [prefix + n.upper() for n, o in found.items() if not o],
            "optional": [prefix + n.upper() for n, o in found.items() if o],
        }

    def summary_lines(self) -> list[str]:
        settings = self.settings()
        groups = self.groups
        approximate = sum(1 for group in groups if group.kind == APPROXIMATE)
        return [
            f"streams mapped: {len(self.mapped)}" + (f" ({', '.join(self.mapped)})" if self.mapped else ""),
            f"streams approximated: {len(self.approximated)}" + (f" ({', '.join(self.approximated)})" if self.approximated else ""),
            f"streams left out: {len(self.left_out)}" + (f" ({', '.join(self.left_out)})" if self.left_out else ""),
            f"lines: {approximate} approximate, {len(groups) - approximate} not mapped",
            "settings to provide: " + (", ".join(settings["required"]) or "none"),
            "optional settings: " + (", ".join(settings["optional"]) or "none"),
        ]

    def to_yaml(self, source: str = "") -> str:
        """The config as YAML, headed by a comment listing the lines and the summary."""
        header = [f"# Imported from the Airbyte manifest {source} by `restsync import-airbyte`.".replace("  ", " ")]
        if self.lines:
            header.append("# Approximated or not mapped (review by hand):")
            header += [f"#   - {line}" for line in self.unmapped]
        header.append("# Summary:")
        header += [f"#   {line}" for line in self.summary_lines()]
        body = yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True, width=120)
        return "\n".join(header) + "\n" + body
