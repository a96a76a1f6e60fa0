"""Read-ahead (readahead.py): numbered pages fetched ahead, the same rows, the paginator in charge."""

from __future__ import annotations

from collections import Counter

import requests

from restsync_dagster.http.readahead import (
    MAX_LISTINGS,
    ReadAhead,
    advanced,
    numeric_step,
)
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import (
    assert_exact,
    log_for,
    materialization_metadata,
    numbered_pages,
    with_client,
)
from restsync_dagster_tests.support.helpers import run_assets, shipped


def test_numeric_step_is_the_one_integer_parameter_that_grew() -> None:
    assert numeric_step((("page", "2"), ("per_page", "100")), (("page", "3"), ("per_page", "100"))) == (0, 1)
    assert numeric_step((("limit", "50"), ("offset", "0")), (("limit", "50"), ("offset", "50"))) == (1, 50)
    # opaque cursors, two parameters changing, a page going back, a parameter appearing: no guess
    assert numeric_step((("cursor", "abc"),), (("cursor", "abd"),)) is None
    assert numeric_step((("a", "1"), ("b", "1")), (("a", "2"), ("b", "2"))) is None
    assert numeric_step((("page", "3"),), (("page", "2"),)) is None
    assert numeric_step((("page", "2"),), (("page", "3"), ("x", "1"))) is None
    assert numeric_step((("page", "\u00b2"),), (("page", "3"),)) is None  # a digit int() cannot read
    assert advanced((("page", "07"), ("n", "5")), (0, 1), 2) == (("page", "09"), ("n", "5"))  # padding kept


class EchoServer:
    """A `send` that answers each URL with itself as the body and records what was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, prepared: requests.PreparedRequest) -> requests.Response:
        self.sent.append(str(prepared.url))
        response = requests.Response()
        response.status_code = 200
        response.url = str(prepared.url)
        response._content = str(prepared.url).encode()
        return response


def page(number: int) -> requests.PreparedRequest:
    return requests.Request("GET", "http://api.test/v1/items", params={"page": number, "per_page": 10}).prepare()


def test_a_guess_answers_only_the_exact_url_the_paginator_asks_for() -> None:
    server, read_ahead = EchoServer(), ReadAhead(max_window=4, thread_name="test")
    try:
        answers = {number: read_ahead.fetch(page(number), server) for number in (1, 2, 3, 4)}
        jumped = read_ahead.fetch(page(7), server)  # the paginator leaves the pattern
    finally:
        read_ahead.close()
    for number, response in {**answers, 7: jumped}.items():
        assert response.content == str(page(number).url).encode()
    assert getattr(answers[4], "read_ahead", False)  # guessed once pages 1, 2 and 3 showed the step twice
    assert not any(getattr(answers[number], "read_ahead", False) for number in (1, 2, 3))
    assert not getattr(jumped, "read_ahead", False)  # not guessed: fetched when asked
    assert server.sent.count(str(page(7).url)) == 1


def test_get_with_a_body_is_never_fetched_ahead() -> None:
    server, read_ahead = EchoServer(), ReadAhead(max_window=4, thread_name="test")
    try:
        answers = [
            read_ahead.fetch(requests.Request("GET", "http://api.test/v1/search", params={"page": n}, json={"q": "x"}).prepare(), server)
            for n in (1, 2, 3, 4, 5)
        ]
    finally:
        read_ahead.close()
    assert not any(getattr(answer, "read_ahead", False) for answer in answers)
    assert len(server.sent) == 5


def test_one_listing_per_parent_is_not_kept_for_the_whole_run() -> None:
    server, read_ahead = EchoServer(), ReadAhead(max_window=4, thread_name="test")
    try:
        for parent in range(MAX_LISTINGS * 3):
            read_ahead.fetch(requests.Request("GET", f"http://api.test/v1/tickets/{parent}/conversations").prepare(), server)
        kept = len(read_ahead._listings)
    finally:
        read_ahead.close()
    assert kept == MAX_LISTINGS


def ticket_pages_requested(sim: Simulator) -> Counter:
    return Counter(int(e["query"].get("page", 1)) for e in log_for(sim, "service_desk", "tickets"))


def test_numbered_pages_are_read_ahead_and_load_the_same_rows(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert api.client.read_ahead_pages == 4
    metadata = materialization_metadata(run_assets(api, ["tickets"]), "tickets")

    assert_exact(sim_env, "service_desk", "tickets")
    pages = numbered_pages(len(sim_env.records("service_desk", "tickets")))
    assert metadata["pages"] == pages
    assert metadata["pages_read_ahead"] >= pages - 3  # every page after the three that show the step
    requested = ticket_pages_requested(sim_env)
    assert max(requested.values()) == 1  # a guessed page is used, never fetched twice
    assert set(range(1, pages + 1)) <= set(requested)
    assert metadata["requests"] - metadata["pages"] == len(requested) - pages <= api.client.read_ahead_pages


def test_read_ahead_off_requests_exactly_the_pages(sim_env: Simulator) -> None:
    api = with_client(shipped("service_desk"), read_ahead_pages=0)
    metadata = materialization_metadata(run_assets(api, ["tickets"]), "tickets")
    pages = numbered_pages(len(sim_env.records("service_desk", "tickets")))
    assert metadata["requests"] == metadata["pages"] == pages
    assert metadata["pages_read_ahead"] == 0
    assert ticket_pages_requested(sim_env) == Counter(range(1, pages + 1))


def test_a_server_page_cap_breaks_no_offset_listing(sim_env: Simulator) -> None:
    """The server serves 7 records whatever the limit asks: the paginator steps the offset by the
    records received, the guesses follow the URLs it really asked for, and every record is loaded."""
    sim_env.inject_fault("ticket_desk", "page_cap", "tickets", cap=7)
    api = shipped("ticket_desk")
    metadata = materialization_metadata(run_assets(api, ["tickets"]), "tickets")
    assert_exact(sim_env, "ticket_desk", "tickets")
    assert metadata["pages_read_ahead"] > 0  # offsets 0, 7, 14...: the step is the records received
