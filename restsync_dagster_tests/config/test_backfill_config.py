"""The backfill block: what it takes, and every refusal naming file, resource and field."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from restsync_dagster.config.backfill_config import next_window, window_ceil, window_floor
from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import parse_api_config

UTC = timezone.utc
INCREMENTAL = {"cursor_path": "updated_at", "param": "updated_since", "initial_value": "2024-01-01T00:00:00Z"}


def api(*resources: dict[str, Any]) -> Any:
    return parse_api_config({"name": "acme", "client": {"base_url": "https://api.example.com"}, "resources": list(resources)}, "acme.yaml")


def tickets(**backfill: Any) -> dict[str, Any]:
    block = {"start": "2022-01-01", "window": "monthly", "end_param": "updated_before", **backfill}
    return {"name": "tickets", "endpoint": {"path": "/tickets"}, "incremental": INCREMENTAL, "backfill": block}


def errors_of(*resources: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        api(*resources)
    return [str(error) for error in caught.value.errors]


def test_a_block_as_written() -> None:
    block = api(tickets(parallelism=4, params={"sortBy": "updated_at"})).resource("tickets").backfill
    assert (block.start, block.end, block.window, block.end_param, block.parallelism) == ("2022-01-01", None, "monthly", "updated_before", 4)
    templated = api(tickets(end_param=None, path="/tickets/search", params={"range": "{start},{end}"})).resource("tickets").backfill
    assert templated.path == "/tickets/search"


def test_yaml_dates_read_as_text() -> None:
    from datetime import date

    block = api(tickets(start=date(2022, 1, 1), end=date(2023, 1, 1))).resource("tickets").backfill
    assert (block.start, block.end) == ("2022-01-01", "2023-01-01")


@pytest.mark.parametrize(
    "resource, field, words",
    [
        ({**tickets(), "incremental": None}, "backfill", "backfill needs incremental"),
        (tickets(window="hourly"), "backfill.window", "'daily', 'weekly' or 'monthly'"),
        (tickets(start="2023-01-01", end="2022-01-01"), "backfill", "is not before end"),
        (tickets(start="soon"), "backfill.start", "is no time"),
        (tickets(end_param=None), "backfill", "a window needs both bounds"),
        (tickets(end_param=None, params={"q": "{start}"}), "backfill", "a window needs both bounds"),
        (tickets(params={"q": "{from}"}), "backfill.params", "only {start} and {end}"),
        (tickets(path="tickets/search"), "backfill.path", "start it with '/'"),
        (tickets(parallelism=0), "backfill.parallelism", "greater than or equal to 1"),
        (tickets(unknown=1), "backfill.unknown", "unknown key"),
        ({**tickets(), "write_disposition": "append"}, "backfill", "needs write_disposition merge"),
        ({**tickets(), "primary_key": []}, "backfill", "backfill needs a primary_key"),
        ({**tickets(), "write_disposition": "replace", "primary_key": []}, "backfill", "needs write_disposition merge"),
    ],
)
def test_refusals_name_file_resource_and_field(resource: dict[str, Any], field: str, words: str) -> None:
    found = errors_of(resource)
    assert any("acme.yaml" in e and "resource 'tickets'" in e and f"field '{field}'" in e and words in e for e in found), found


def test_a_child_has_no_block_of_its_own_and_history_names_are_taken() -> None:
    child = {"name": "notes", "endpoint": {"path": "/tickets/{resources.tickets.id}/notes"}, "incremental": INCREMENTAL,
             "backfill": {"start": "2022-01-01", "window": "daily", "end_param": "before"}}
    found = errors_of(tickets(), child)
    assert any("resource 'notes'" in e and "field 'backfill'" in e and "top-level" in e for e in found), found
    found = errors_of(tickets(), {"name": "tickets_history", "endpoint": {"path": "/x"}})
    assert any("resource 'tickets_history'" in e and "field 'name'" in e and "history asset" in e for e in found), found


def test_window_arithmetic() -> None:
    moment = datetime(2024, 2, 29, 13, 5, tzinfo=UTC)  # a Thursday
    assert window_floor(moment, "daily") == datetime(2024, 2, 29, tzinfo=UTC)
    assert window_floor(moment, "weekly") == datetime(2024, 2, 26, tzinfo=UTC)
    assert window_floor(moment, "monthly") == datetime(2024, 2, 1, tzinfo=UTC)
    assert next_window(datetime(2024, 12, 1, tzinfo=UTC), "monthly") == datetime(2025, 1, 1, tzinfo=UTC)
    assert window_ceil(datetime(2024, 3, 1, tzinfo=UTC), "monthly") == datetime(2024, 3, 1, tzinfo=UTC)
    assert window_ceil(moment, "monthly") == datetime(2024, 3, 1, tzinfo=UTC)
