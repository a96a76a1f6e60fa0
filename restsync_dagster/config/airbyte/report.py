"""What an import produced: the restsync config dict and the report of what could not be mapped.

Every construct mapper notes what it leaves out (`context.ImportContext.note`); the report keeps
those lines so nothing is dropped silently, and writes them at the top of the config file it renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class Imported:
    """The restsync config dict and what could not be mapped (one line each, naming stream and field)."""

    config: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)

    def to_yaml(self, source: str = "") -> str:
        """The config as YAML, headed by a comment listing what was not mapped."""
        header = [f"# Imported from the Airbyte manifest {source} by `restsync import-airbyte`.".replace("  ", " ")]
        if self.unmapped:
            header.append("# Not mapped (review by hand):")
            header += [f"#   - {line}" for line in self.unmapped]
        body = yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True, width=120)
        return "\n".join(header) + "\n" + body
