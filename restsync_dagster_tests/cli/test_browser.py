"""The UI as an operator sees it: `dagster dev` against the simulator, driven in headless Chromium.

Debian's /usr/bin/chromium (scripts/install_chromium.sh) through Playwright for Python; Playwright
never downloads a browser. The test opens the service_desk group's asset graph, checks the
tickets -> conversations edge is drawn between the two nodes, clicks Materialize, waits for the run
to succeed (GraphQL), checks the rows in DuckDB and the materialization metadata on the asset page,
and takes the screenshots the README shows (written to docs/asset_graph.png and docs/asset_page.png
when RESTSYNC_UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the checkout clean).

A second test serves shared_inbox instead: `restsync backfill` on the same DAGSTER_HOME loads two
monthly windows of conversations_history and fails a third (the simulator's `window_fail`), then the
asset's Partitions tab must show them so (counts, the status bar's spans and tooltips, the status
filters, the failed run, the window's metadata): docs/history_partitions.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
import yaml

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.orchestration.history import partitions_of
from restsync_dagster_tests.conftest import CONFIGS, PROJECT_ROOT
from restsync_dagster_tests.support.postgres_server import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCATION = "restsync_dagster.definitions"
DOCS = PROJECT_ROOT / "docs"
INSTANCE_TEMPLATE = PROJECT_ROOT / "restsync_dagster" / "instance" / "dagster.yaml"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing: run scripts/install_chromium.sh")


def _quiet_copy(source: Path, target: Path) -> None:
    """The shipped config with its schedules and change sensor off: no run but the test's own."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["schedule"] = {**(raw.get("schedule") or {}), "enabled": False}
    raw["sensor"] = {**(raw.get("sensor") or {}), "enabled": False}
    target.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


class DagsterDev:
    """`dagster dev` (webserver + daemon) in its own process group, on a free port."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "dagster_dev.log"
        self.env = env
        dagster = str(Path(sys.executable).parent / "dagster")
        self.process = subprocess.Popen(
            [dagster, "dev", "-m", "restsync_dagster.definitions", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=root,
            env=env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def graphql(self, query: str) -> Any:
        request = urllib.request.Request(
            f"{self.base}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]

    def wait_until_loaded(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"dagster dev exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                data = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                    "locationOrLoadError { __typename } } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries
                    return
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"dagster dev did not load in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        """Ctrl-C to the whole process group (webserver, daemon, code servers, run workers); kill if it lingers."""
        for sig, wait in ((signal.SIGINT, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                os.killpg(self.process.pid, 0)  # children still there?
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture
def dagster_dev(simulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[DagsterDev, Path]]:
    """`dagster dev` serving one shipped API (service_desk; another through indirect parametrization)."""
    api = getattr(request, "param", "service_desk")
    configs = tmp_path / "configs"
    configs.mkdir()
    _quiet_copy(CONFIGS / f"{api}.yaml", configs / f"{api}.yaml")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    data = tmp_path / "data"
    env = {
        **os.environ,
        **simulator.env(),
        "DAGSTER_HOME": str(home),
        "RESTSYNC_CONFIGS_DIR": str(configs),
        "RESTSYNC_DUCKDB_DIR": str(data),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }
    simulator.clear_faults()
    server = DagsterDev(tmp_path, env)
    try:
        server.wait_until_loaded()
        server.graphql("mutation { setNuxSeen }")  # no first-visit newsletter dialog over the graph
        yield server, data
    finally:
        server.stop()
        simulator.clear_faults()


def _wait_for_run(server: DagsterDev, asset: list[str], timeout: float = 150) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = server.graphql("{ runsOrError { ... on Runs { results { runId status assetSelection { path } } } } }")
        for run in runs["runsOrError"]["results"]:
            if asset in [key["path"] for key in run["assetSelection"] or []]:
                if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                    return run
        time.sleep(1)
    raise AssertionError(f"no finished run of {asset} within {timeout}s")


def _edge_between(page: Any, parent: str, child: str) -> bool:
    """An edge path whose ends touch the parent node's right side and the child node's left side."""
    source = page.locator(f'[data-tooltip="{parent}"]').first.bounding_box()
    target = page.locator(f'[data-tooltip="{child}"]').first.bounding_box()
    for edge in page.locator("svg path[marker-end]").all():
        box = edge.bounding_box()
        if box and source and target and source["x"] < box["x"] and box["x"] + box["width"] <= target["x"] + 10:
            return True
    return False


def test_materialize_from_the_asset_graph(dagster_dev: tuple[DagsterDev, Path], simulator: Any) -> None:
    from playwright.sync_api import sync_playwright

    server, data = dagster_dev
    # the README's screenshots: refreshed in docs/ with RESTSYNC_UPDATE_SCREENSHOTS=1, else taken into tmp
    shots = DOCS if os.environ.get("RESTSYNC_UPDATE_SCREENSHOTS") == "1" else data.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.set_default_timeout(60_000)
            # a fresh instance greets its first visitor with a newsletter dialog; should it show anyway, skip it
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda: skip.click())
            # the group's graph narrowed to tickets and what depends on it (the UI's selection syntax, in its URL)
            selection = urllib.parse.quote('key:"service_desk/tickets"+', safe="")
            page.goto(f"{server.base}/locations/{LOCATION}/asset-groups/service_desk/lineage~{selection}/")
            page.locator('[data-tooltip="tickets"]').first.wait_for()
            page.locator('[data-tooltip="conversations"]').first.wait_for()
            page.locator("svg path[marker-end]").first.wait_for(state="attached")
            assert page.locator("svg path[marker-end]").count() == 1
            assert _edge_between(page, "tickets", "conversations")

            page.get_by_role("button", name="Materialize all").click()
            launched = page.get_by_text(re.compile(r"Launched run"))
            launched.wait_for()
            run = _wait_for_run(server, ["service_desk", "tickets"])
            assert run["status"] == "SUCCESS", run
            assert sorted(k["path"][1] for k in run["assetSelection"]) == ["conversations", "tickets"]

            # the graph now shows both materialized; the README's screenshot
            page.get_by_text("Materialized").first.wait_for()
            # checks ran with the assets: tickets rows + primary key + incremental + freshness, conversations (a child) without rows
            page.get_by_text("4 / 4 Passed").first.wait_for()
            page.get_by_text("2 / 2 Passed").first.wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / "asset_graph.png"))

            # the asset page: description from the config, metadata of the materialization, checks
            page.goto(f"{server.base}/assets/service_desk/conversations")
            page.get_by_text("rows_loaded").first.wait_for()
            page.get_by_text("/v1/tickets/{resources.tickets.id}/conversations").first.wait_for()
            # shared_inbox and messaging have `conversations` too: the page links none of their assets
            # (with bare dagster/table_name values the UI showed them as "Linked asset")
            others = 'a[href*="/assets/shared_inbox/"], a[href*="/assets/messaging/"], a[href*="/assets/ticket_desk/"]'
            assert page.locator(others).count() == 0
            assert page.get_by_text("restsync_service_desk.service_desk.conversations").count() >= 1
            page.set_viewport_size({"width": 1400, "height": 2300})  # down to the materialization's metadata
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "asset_page.png"))
            assert (shots / "asset_graph.png").stat().st_size > 10_000 and (shots / "asset_page.png").stat().st_size > 10_000
            page.goto(f"{server.base}/assets/service_desk/conversations?view=lineage&lineageScope=upstream")
            page.locator('[data-tooltip="tickets"]').first.wait_for()
        finally:
            browser.close()

    with duckdb.connect(str(data / "restsync_service_desk.duckdb"), read_only=True) as con:
        tickets = con.execute("SELECT count(*) FROM service_desk.tickets").fetchone()[0]  # type: ignore[index]
        conversations = con.execute("SELECT count(*) FROM service_desk.conversations").fetchone()[0]  # type: ignore[index]
    assert tickets == len(simulator.records("service_desk", "tickets"))
    expected_children = sum(len(v) for v in simulator.children_by_parent("service_desk", "conversations").values())
    assert conversations == expected_children


HISTORY_ASSET = "/assets/shared_inbox/conversations_history?view=partitions"
LOADED, FAILED = ("2024-02-01", "2024-03-01"), "2024-04-01"  # monthly windows of shared_inbox conversations


def _partition_rows(page: Any, expected: dict[str, str], timeout: float = 10) -> None:
    """The partition list beside the status bar (key -> the colour of its status dot) becomes `expected`."""
    deadline, found = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        rows = page.locator('[class*="AssetEventList_assetListRow"]')
        found = {}
        for index in range(rows.count()):
            row = rows.nth(index)
            key = row.locator("span").first.inner_text().strip()
            found[key] = row.locator('div[style*="border-radius: 100%"]').first.evaluate("e => e.style.background")
        if found == expected:
            return
        page.wait_for_timeout(250)
    assert found == expected


def _show(page: Any, **wanted: bool) -> None:
    """Set the status filters above the partition list (Failed, Materialized, Missing) by their labels."""
    for label, on in wanted.items():
        box = page.get_by_role("checkbox", name=re.compile(rf"^{label.capitalize()} \(\d+\)$"))
        if box.is_checked() != on:
            page.get_by_text(re.compile(rf"^{label.capitalize()} \(\d+\)$")).click()
    page.wait_for_timeout(300)


@pytest.mark.parametrize("dagster_dev", ["shared_inbox"], indirect=True)
def test_history_partitions_after_a_backfill(dagster_dev: tuple[DagsterDev, Path], simulator: Any) -> None:
    from playwright.sync_api import sync_playwright

    server, data = dagster_dev
    shots = DOCS if os.environ.get("RESTSYNC_UPDATE_SCREENSHOTS") == "1" else data.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    api = parse_api_config(yaml.safe_load((CONFIGS / "shared_inbox.yaml").read_text()), str(CONFIGS / "shared_inbox.yaml"), default_name="shared_inbox")
    partitions = partitions_of(api.resource("conversations").backfill)  # type: ignore[arg-type]
    total = len(partitions.get_partition_keys())  # from 2024-01 up to the month running now
    assert total >= 30

    # three windows from a terminal, on the instance the UI reads; the April one answers 400 on every page
    simulator.inject_fault("shared_inbox", "window_fail", "conversations", count=-1, since="2024-04-10T00:00:00Z", status=400)
    restsync = str(Path(sys.executable).parent / "restsync")
    backfill = subprocess.run(
        [restsync, "backfill", "shared_inbox", "conversations", "--start", "2024-02-01", "--end", "2024-05-01"],
        env=server.env, cwd=data.parent, capture_output=True, text=True, timeout=240, check=False,
    )
    assert backfill.returncode == 1, backfill.stdout + backfill.stderr[-3000:]
    assert "3 window(s), 0 already materialized (skipped), 3 to run" in backfill.stdout
    assert all(f"window {key} loaded conversations=" in backfill.stdout for key in LOADED), backfill.stdout
    assert f"window {FAILED} failed" in backfill.stderr and "answered 400" in backfill.stderr
    simulator.clear_faults()
    march = simulator.records_between("shared_inbox", "conversations", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda: skip.click())
            page.goto(f"{server.base}{HISTORY_ASSET}")
            # the counts: every window of the block, 2 materialized, 1 failed, the rest missing
            page.get_by_text(f"{total} Partitions Selected", exact=True).wait_for()
            for label in ("Failed (1)", "Materialized (2)", "Materializing (0)", f"Missing ({total - 3})"):
                page.get_by_text(label, exact=True).wait_for()
            # the status bar: one green span over February-March, one red over April, nothing else coloured
            spans = page.locator('[class*="PartitionStatusBar_colorSpan"]')
            assert [spans.nth(i).evaluate("e => e.style.background") for i in range(spans.count())] == [
                "var(--color-accent-green)", "var(--color-accent-red)"]
            spans.nth(0).hover()
            page.get_by_text(f"Partitions {LOADED[0]} through {LOADED[1]} are materialized").first.wait_for()
            spans.nth(1).hover()
            page.get_by_text(f"Partition {FAILED} is failed").first.wait_for()
            page.mouse.move(0, 0)

            # the status filters narrow the list: the failed window alone, then the two loaded
            _show(page, missing=False, materialized=False, failed=True)
            page.get_by_text("1 Partitions Selected", exact=True).wait_for()
            _partition_rows(page, {FAILED: "var(--color-accent-red)"})
            page.get_by_text(FAILED, exact=True).first.click()
            page.get_by_text("failed, and did not materialize this asset").wait_for()
            _show(page, materialized=True, failed=False)
            page.get_by_text("2 Partitions Selected", exact=True).wait_for()
            _partition_rows(page, {key: "var(--color-accent-green)" for key in LOADED})

            # the README's picture: the windows that ran, March selected with its materialization's metadata
            _show(page, failed=True)
            page.get_by_text("3 Partitions Selected", exact=True).wait_for()
            page.get_by_text(LOADED[1], exact=True).first.click()
            page.get_by_text("window_start").wait_for()
            page.get_by_text("2024-03-01T00:00:00Z", exact=True).wait_for()
            page.get_by_text("2024-04-01T00:00:00Z", exact=True).wait_for()
            rows_loaded = page.locator("tr", has_text="rows_loaded").first.inner_text()
            assert rows_loaded.split() == ["rows_loaded", str(len(march))]
            page.mouse.move(0, 0)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "history_partitions.png"))
            assert (shots / "history_partitions.png").stat().st_size > 10_000
        finally:
            browser.close()

    with duckdb.connect(str(data / "restsync_shared_inbox.duckdb"), read_only=True) as con:
        loaded = sorted(row[0] for row in con.execute("SELECT id FROM shared_inbox.conversations").fetchall())
    window = simulator.records_between("shared_inbox", "conversations", "2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z")
    assert loaded == sorted(record["id"] for record in window)  # February and March, not April
