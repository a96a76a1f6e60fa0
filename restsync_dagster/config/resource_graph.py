"""Checks across a config's resources, which no single resource's model can make.

A child's parent must exist, parents must not form a cycle, and no two resources may write one
table under dlt's naming. Run by `loading` once every resource validated on its own.
"""

from __future__ import annotations

from typing import Any

from restsync_dagster.config.errors import ConfigError
from restsync_dagster.config.model import Resource


def graph_errors(resources: list[Resource], source_file: Any) -> list[ConfigError]:
    """A child's parent must exist, parents must not form a cycle, and no resource's table may be
    another's, or one of its nested tables (`tickets__tags` beside `tickets`)."""
    names = {r.name: r for r in resources}
    errors = table_name_errors(resources, source_file)
    for resource in resources:  # the history assets are keyed [<api>, <resource>_history]
        if resource.name.endswith("_history") and resource.name[: -len("_history")] in names and names[resource.name[: -len("_history")]].backfill:
            errors.append(
                ConfigError(
                    source_file,
                    f"'{resource.name}' is the name of the history asset of the backfilled resource "
                    f"'{resource.name[: -len('_history')]}'; rename this resource",
                    resource=resource.name,
                    field="name",
                )
            )
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


def table_name_errors(resources: list[Resource], source_file: Any) -> list[ConfigError]:
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
