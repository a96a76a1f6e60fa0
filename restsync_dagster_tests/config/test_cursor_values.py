"""Cursor values in every usual form: parsed into instants or numbers, compared, sent back in the API's form."""

from __future__ import annotations

import pytest

from restsync_dagster.config.cursor_values import (
    format_cursor,
    later,
    newest,
    parse_cursor,
)
from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.extract.cursor_tracker import suggest_cursor_fields

JAN_1 = 1704067200  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize(
    "raw, form",
    [
        ("2024-01-01T00:00:00Z", "iso"),
        ("2024-01-01T02:00:00+02:00", "iso"),
        ("2024-01-01T01:00:00+0100", "iso"),
        ("2024-01-01T00:00:00.000000000Z", "iso"),
        ("2024-01-01T00:00:00", "iso"),  # no zone: UTC
        ("2024-01-01 00:00:00", "iso"),
        ("Mon, 01 Jan 2024 00:00:00 GMT", "iso"),
        ("2024-01-01", "date"),
        (JAN_1, "epoch_s"),
        (str(JAN_1), "epoch_s"),
        (JAN_1 * 1000, "epoch_ms"),
        (str(JAN_1 * 1000), "epoch_ms"),
        (float(JAN_1), "epoch_s"),
    ],
)
def test_every_form_of_one_instant_is_the_same_instant(raw: object, form: str) -> None:
    value = parse_cursor(raw)
    assert value is not None and value.kind == "instant" and value.form == form
    assert value.key == JAN_1 * 1_000_000


def test_instants_compare_as_instants_not_as_text() -> None:
    # text order says the first is later; as instants it is 08:00Z against 09:00Z
    east, utc = parse_cursor("2024-06-01T13:00:00+05:00"), parse_cursor("2024-06-01T09:00:00Z")
    assert later(utc, east) and not later(east, utc)
    # an epoch-ms record against an ISO start: no TypeError, an instant comparison
    assert later(parse_cursor(1717232400000), parse_cursor("2024-01-01T00:00:00Z"))
    assert newest(parse_cursor("2024-01-01"), parse_cursor(1717232400)) == parse_cursor(1717232400)


def test_versions_are_numbers_never_compared_with_instants() -> None:
    assert parse_cursor(17).kind == "number" and parse_cursor("17").kind == "number"  # type: ignore[union-attr]
    assert later(parse_cursor(17), parse_cursor(9))
    assert not later(parse_cursor(17), parse_cursor("2024-01-01")) and not later(parse_cursor("2024-01-01"), parse_cursor(17))
    # a configured format reads a number whatever its size
    assert parse_cursor(JAN_1, "int").kind == "number"  # type: ignore[union-attr]
    assert parse_cursor(5, "epoch_ms").key == 5000  # type: ignore[union-attr]
    assert parse_cursor(None) is None and parse_cursor(True) is None and parse_cursor("soon") is None


@pytest.mark.parametrize(
    "fmt, sent",
    [
        ("auto", "2024-06-01T08:59:00Z"),
        ("iso", "2024-06-01T08:59:00Z"),
        ("epoch_s", 1717232340),
        ("epoch_ms", 1717232340750),  # milliseconds kept
        ("date", "2024-06-01"),
    ],
)
def test_the_filter_value_is_sent_in_the_apis_form_with_the_lag(fmt: str, sent: object) -> None:
    cursor = parse_cursor("2024-06-01T11:00:00.750+02:00")
    assert cursor is not None
    assert format_cursor(cursor.minus_seconds(60), fmt) == sent


def test_auto_sends_the_form_the_records_came_in_and_lag_leaves_versions_alone() -> None:
    assert format_cursor(parse_cursor(1717232400000).minus_seconds(60), "auto") == 1717232340000  # type: ignore[union-attr]
    assert format_cursor(parse_cursor("1717232400").minus_seconds(60), "auto") == 1717232340  # type: ignore[union-attr]
    assert format_cursor(parse_cursor("2024-06-03").minus_seconds(60), "auto") == "2024-06-02"  # type: ignore[union-attr]
    assert format_cursor(parse_cursor(17).minus_seconds(60), "auto") == 17  # type: ignore[union-attr]


def test_initial_value_takes_every_form_and_refuses_what_is_no_cursor() -> None:
    def api(initial: object, fmt: str = "auto") -> dict:
        incremental = {"cursor_path": "updated", "param": "since", "initial_value": initial, "format": fmt}
        return {"client": {"base_url": "http://127.0.0.1:1"}, "resources": [{"name": "items", "endpoint": {"path": "/items"}, "incremental": incremental}]}

    import datetime

    for initial in (1704067200000, 0, "2024-01-01T00:00:00+01:00", datetime.date(2024, 1, 1)):
        parsed = parse_api_config(api(initial, "epoch_ms"), source_file="configs/vendor.yaml", default_name="vendor")
        assert parse_cursor(parsed.resources[0].incremental.initial_value) is not None  # type: ignore[union-attr]
    with pytest.raises(ConfigErrors) as refused:
        parse_api_config(api("soon"), source_file="configs/vendor.yaml", default_name="vendor")
    assert "initial_value" in str(refused.value) and "configs/vendor.yaml" in str(refused.value) and "'soon'" in str(refused.value)
    with pytest.raises(ConfigErrors) as unknown:
        parse_api_config(api(0, "millis"), source_file="configs/vendor.yaml", default_name="vendor")
    assert "format" in str(unknown.value)


def test_suggested_cursor_fields_look_like_one_closest_first() -> None:
    record = {"id": 123456789, "subject": "2024 plans", "createdAt": "2024-01-01T00:00:00Z", "updatedAt": 1717232400000, "meta": {"ts": "x"}}
    assert suggest_cursor_fields(record, "updated_at") == ["updatedAt", "createdAt"]
    assert suggest_cursor_fields({"id": 1, "stamp_value": "2024-05-01T10:00:00Z", "name": "a"}, "updated_at") == ["stamp_value"]
