"""Hostile records from a real HTTP server: dlt's own column names, integers past 64 bits, deep
nesting, NaN, missing primary keys. Each fails its own resource with file, resource and field, or
loads in a documented safe form; a normal resource of the same API loads either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from restsync_dagster.config.loading import load_api_config
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.extract.record_hygiene import MAX_DEPTH
from restsync_dagster_tests.support.faults_helpers import failure_text
from restsync_dagster_tests.support.helpers import run_assets, table_exists, table_rows
from restsync_dagster_tests.support.local_server import JsonServer

USERS = [{"id": i, "name": f"user {i}"} for i in range(1, 6)]


class RecordServer(JsonServer):
    """Serves `pages[path]` as one JSON list per path."""

    def __init__(self) -> None:
        self.pages: dict[str, list[dict[str, Any]]] = {"/users": USERS}
        super().__init__(lambda path: self.pages.get(path.split("?")[0], []))


@pytest.fixture
def server(workdir: Path) -> Iterator[RecordServer]:
    srv = RecordServer()
    try:
        yield srv
    finally:
        srv.stop()


def hostile_api(server: RecordServer, folder: Path) -> ApiConfig:
    path = folder / "hostile.yaml"
    path.write_text(
        f"""
client: {{base_url: "{server.url}"}}
resource_defaults: {{primary_key: id, write_disposition: merge, endpoint: {{paginator: {{type: single_page}}}}}}
resources:
  - name: tickets
    endpoint: {{path: /tickets}}
  - name: users
    endpoint: {{path: /users}}
"""
    )
    return load_api_config(path)


def count(table: str) -> int:
    return len(table_rows("hostile", table)) if table_exists("hostile", table) else 0


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"x": value}
    return value


def test_dlt_columns_in_records_are_renamed_and_no_merge_deletes_another_record(server: RecordServer, workdir: Path) -> None:
    # both records claim dlt's row key "X": dlt would give them one row key, and its merge would
    # delete one's nested tags with the other's
    server.pages["/tickets"] = [
        {"id": 1, "_dlt_id": "X", "_dlt_load_id": "9", "tags": [{"t": "a", "_dlt_parent_id": "P"}, {"t": "b"}]},
        {"id": 2, "_dlt_id": "X", "_DLT_ROOT_ID": "R", "tags": [{"t": "c", "_dlt_list_idx": 7}]},
    ]
    api = hostile_api(server, workdir)
    assert run_assets(api).success
    first = (count("tickets"), count("tickets__tags"))
    assert run_assets(api).success  # the merge of the same records
    assert (count("tickets"), count("tickets__tags")) == first == (2, 3)
    rows = table_rows("hostile", "tickets", "id, _api_dlt_id, _api_dlt_load_id, _api_dlt_root_id, _dlt_id")
    assert sorted(row[:4] for row in rows) == [(1, "X", "9", None), (2, "X", None, "R")]
    assert len({row[4] for row in rows}) == 2  # dlt's own row keys, one per record
    tags = table_rows("hostile", "tickets__tags", "t, _api_dlt_parent_id, _api_dlt_list_idx")
    assert sorted(tags) == [("a", "P", None), ("b", None, None), ("c", None, 7)]
    assert count("users") == len(USERS)


def test_huge_integers_and_deep_nesting_load_as_text(server: RecordServer, workdir: Path) -> None:
    deep = nested(300)  # dlt fails the whole extract past ~254 levels
    server.pages["/tickets"] = [
        {"id": 1, "big": 2**70, "small": -(2**64), "ok": 2**63 - 1, "deep": deep},
        {"id": 2, "big": 5, "small": 6, "ok": 7, "deep": nested(2)},
    ]
    api = hostile_api(server, workdir)
    assert run_assets(api).success
    assert count("tickets") == 2 and count("users") == len(USERS)
    rows = dict((row[0], row[1:]) for row in table_rows("hostile", "tickets", "id, big, small, ok"))
    assert rows[1] == (str(2**70), str(-(2**64)), 2**63 - 1)  # exact digits, as text
    # the levels below MAX_DEPTH are columns; what lies deeper is one JSON string
    column = "deep" + "__x" * (MAX_DEPTH - 1)
    stored = table_rows("hostile", "tickets", f'id, "{column}"')
    kept = json.loads(dict(stored)[1])
    depth = 0
    while isinstance(kept, dict) and "x" in kept:
        kept, depth = kept["x"], depth + 1
    assert kept == {"leaf": 1} and depth == 300 - (MAX_DEPTH - 1)


def test_a_record_without_its_primary_key_fails_its_resource_alone(server: RecordServer, workdir: Path) -> None:
    api = hostile_api(server, workdir)
    server.pages["/tickets"] = [{"id": 1, "subject": "a"}]
    assert run_assets(api).success
    before = count("tickets")
    server.pages["/tickets"] = [{"id": 1, "subject": "changed"}, {"subject": "no key", "status": "open"}, {"id": 3}]
    server.pages["/users"] = USERS + [{"id": 6, "name": "new"}]
    result = run_assets(api, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"{api.source_file}: resource 'tickets': field 'primary_key': a record has no 'id' (its fields: ['status', 'subject'])" in text
    assert count("tickets") == before == 1 and table_rows("hostile", "tickets", "subject") == [("a",)]  # nothing of it loaded
    assert count("users") == len(USERS) + 1  # the other resource was

    server.pages["/tickets"] = [{"id": None, "subject": "null key"}]
    text = failure_text(run_assets(api, ["tickets"], raise_on_error=False))
    assert "resource 'tickets': field 'primary_key': a record has null 'id'" in text


def test_a_table_too_wide_for_duckdbs_memory_limit_names_the_setting(server: RecordServer, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAD__RAISE_ON_MAX_RETRIES", "1")  # dlt retries the job 5 times by default: ~25 s
    server.pages["/tickets"] = [{"id": i, **{f"field_{c}": f"value {i} {c}" for c in range(5000)}} for i in range(50)]
    result = run_assets(hostile_api(server, workdir), raise_on_error=False)
    text = failure_text(result)
    assert "API 'hostile': DuckDB ran out of its memory limit (122.0 MiB/122.0 MiB used) loading table 'tickets'" in text, text[-3000:]
    assert """DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG='{"memory_limit": "1GB"}'""" in text
    assert "RESTSYNC_HOSTILE__DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG for this one" in text
    assert count("tickets") == 0 and count("users") == len(USERS)


DIE_IN_THE_TABLES_SQL = """
import importlib, os, re, sys
module, name = sys.argv[2].rsplit(".", 1)
SqlClient = getattr(importlib.import_module(module), name)
from restsync_dagster.config.loading import load_api_config
from restsync_dagster_tests.support.helpers import run_assets

real = SqlClient.execute_sql

def dying(self, sql, *args, **kwargs):
    # a job's statements one by one, as the database runs a multi-statement string (DuckDB) or as dlt
    # sends them one at a time (Postgres); dies (kill -9) right after the one that deletes (or, on
    # Postgres, truncates) the rows being replaced from the table itself
    if args or kwargs or not isinstance(sql, str):
        return real(self, sql, *args, **kwargs)
    result = None
    for statement in [s for s in sql.split(";\\n") if s.strip()]:
        result = real(self, statement)
        if re.match(r'\\s*(DELETE FROM|TRUNCATE TABLE) "hostile"\\."tickets"(\\s|;|$)', statement):
            os._exit(137)
    return result

SqlClient.execute_sql = dying
run_assets(load_api_config(sys.argv[1]), ["tickets"], raise_on_error=False)
sys.exit(3)  # never got there
"""


SQL_CLIENTS = {
    "duckdb": "dlt.destinations.impl.duckdb.sql_client.DuckDbSqlClient",
    "postgres": "dlt.destinations.impl.postgres.sql_client.Psycopg2SqlClient",
}


@pytest.fixture(params=["duckdb", "postgres"])
def destination(request: pytest.FixtureRequest, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgres":
        monkeypatch.setenv("RESTSYNC_DESTINATION", "postgres")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", request.getfixturevalue("postgres_dsn"))
    return str(request.param)


def rows_of(destination: str, table: str, columns: str) -> list[tuple[Any, ...]]:
    """The table's rows as a reader of the destination sees them now."""
    if destination == "duckdb":
        return sorted(table_rows("hostile", table, columns)) if table_exists("hostile", table) else []
    import os

    import psycopg2

    with psycopg2.connect(os.environ["DESTINATION__POSTGRES__CREDENTIALS"]) as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'hostile' AND table_name = %s", (table,))
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(f'SELECT {columns} FROM "hostile"."{table}"')
        return sorted(cursor.fetchall())


@pytest.mark.parametrize(("disposition", "tags"), [("merge", False), ("merge", True), ("replace", False)])
def test_a_load_killed_while_it_writes_the_table_leaves_it_as_it_was(
    server: RecordServer, workdir: Path, destination: str, disposition: str, tags: bool
) -> None:
    import os
    import subprocess
    import sys

    from restsync_dagster_tests.conftest import PROJECT_ROOT

    def records(ids: range, version: str) -> list[dict[str, Any]]:
        return [{"id": i, "v": version, **({"tags": [{"t": i}]} if tags else {})} for i in ids]

    api = hostile_api(server, workdir)
    config = Path(str(api.source_file))
    config.write_text(config.read_text().replace("write_disposition: merge", f"write_disposition: {disposition}"))
    server.pages["/tickets"] = records(range(10), "before")
    assert run_assets(load_api_config(config), ["tickets"]).success
    server.pages["/tickets"] = records(range(0, 12), "after")  # every record changed, as in a reload
    child = subprocess.run(
        [sys.executable, "-c", DIE_IN_THE_TABLES_SQL, str(config), SQL_CLIENTS[destination]],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == 137, child.stderr[-3000:]
    # what a reader sees after the kill: the table as the last finished load left it
    assert rows_of(destination, "tickets", "id, v") == [(i, "before") for i in range(10)]
    assert len(rows_of(destination, "tickets__tags", "t")) == (10 if tags else 0)
    assert run_assets(load_api_config(config), ["tickets"]).success
    assert rows_of(destination, "tickets", "id, v") == [(i, "after") for i in range(12)]
