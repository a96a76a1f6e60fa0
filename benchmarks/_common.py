"""What the benchmark scripts share: an isolated workspace, the simulator, a timed materialization."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Optional, Sequence

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from restsync_dagster.config.model import ApiConfig

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


@contextmanager
def workspace(sim_env: dict[str, str]) -> Iterator[Path]:
    """A temp folder for DuckDB files and dlt state, with the simulator's settings in the env."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="restsync-bench-") as folder:
        os.environ.update(sim_env)
        use_folders(Path(folder))
        try:
            yield Path(folder)
        finally:
            os.environ.clear()
            os.environ.update(saved)


WORKSPACE_FOLDERS = ("data", "dlt")  # DuckDB files, dlt state: what `use_folders` points at


def use_folders(folder: Path) -> None:
    """DuckDB files in `<folder>/data`, dlt's pipelines and state in `<folder>/dlt`."""
    os.environ["RESTSYNC_DUCKDB_DIR"] = str(folder / "data")
    os.environ["DLT_DATA_DIR"] = str(folder / "dlt")


def shipped_api(api_name: str, child_concurrency: Optional[int] = None, rate_limit: Optional[float] = None) -> "ApiConfig":
    """A shipped config, optionally with another child concurrency or client rate limit."""
    from restsync_dagster.config.loading import load_api_config

    api = load_api_config(ROOT / "configs" / f"{api_name}.yaml")
    updates: dict[str, object] = {}
    if child_concurrency is not None:
        updates["child_concurrency"] = child_concurrency
    if rate_limit is not None:
        updates["client"] = api.client.model_copy(update={"rate_limit": rate_limit})
    return api.model_copy(update=updates) if updates else api


def materialize_timed(
    api_name: str, resources: Optional[Iterable[str]] = None, tags: Optional[dict[str, str]] = None, api: Optional["ApiConfig"] = None
) -> float:
    """Wall seconds of one in-process `dagster.materialize` of an API's assets (or the named ones)."""
    import logging

    from dagster import AssetKey, materialize
    from dagster_dlt import DagsterDltResource

    from restsync_dagster.orchestration.assets import build_api_assets

    logging.getLogger("dagster").setLevel(logging.WARNING)
    api = api or shipped_api(api_name)
    selection = [AssetKey([api_name, r]) for r in resources] if resources else None
    # the assets (built at code-location load) and the instance (a long-lived service) are not part
    # of a run: only the run is timed
    assets, instance = build_api_assets(api), _instance()
    started = time.perf_counter()
    result = materialize(
        [assets], resources={"dlt": DagsterDltResource()}, selection=selection, instance=instance, tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    elapsed = time.perf_counter() - started
    assert result.success
    return elapsed


@lru_cache(maxsize=None)
def _instance() -> "DagsterInstance":
    """One ephemeral instance per benchmark process, as a deployment has one long-lived instance.

    A new one per run also left SQLite connections to be finalized by whichever thread the garbage
    collector ran in (a read-ahead or load worker), which printed SQLAlchemy tracebacks.
    """
    from dagster import DagsterInstance

    return DagsterInstance.ephemeral()


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]], name: str) -> str:
    """Print a markdown table with the machine and date, and write it to benchmarks/results/<name>.md."""
    lines = [
        f"### {title}",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    return text


def plain_dlt_timed(api_name: str, resources: Sequence[str], dlt_defaults: bool = False) -> float:
    """Wall seconds of a plain dlt `rest_api_source` pipeline with restsync's compiled config.

    It loads into restsync's DuckDB destination with restsync's dlt settings (parquet files,
    tuning.py's config keys), or with `dlt_defaults` as dlt does out of the box (INSERT VALUES
    files; only meaningful in a process where restsync has not applied its settings). Either way
    dlt handles connections itself (one per client) and Python's GC is left as it is: restsync's
    run-scoped connection and `frozen_heap` are part of what restsync is measured for.
    """
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from restsync_dagster.extract.plan import resolve_plan
    from restsync_dagster.extract.source import compile_rest_api_config
    from restsync_dagster.load.destination import destination_for, duckdb_path

    if not dlt_defaults:
        from restsync_dagster.load.tuning import apply_dlt_defaults

        apply_dlt_defaults()  # restsync's dlt config keys: the same files, memory limits and workers
    api = shipped_api(api_name)
    config = compile_rest_api_config(resolve_plan(api))
    config["resources"] = [r for r in config["resources"] if r["name"] in set(resources)]
    name = f"plain_{api_name}"
    started = time.perf_counter()
    if dlt_defaults:
        path = duckdb_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        destination = dlt.destinations.duckdb(credentials=str(path))
    else:
        destination = destination_for(name)
    pipeline = dlt.pipeline(pipeline_name=name, destination=destination, dataset_name=api_name)
    pipeline.run(rest_api_source(config, name=api_name))  # type: ignore[arg-type]
    return time.perf_counter() - started


def duckdb_count(api_name: str, table: str, plain: bool = False) -> int:
    """Rows in a table of the API's DuckDB file (`plain`: the plain dlt pipeline's file)."""
    import duckdb

    from restsync_dagster.load.destination import duckdb_path

    with duckdb.connect(str(duckdb_path(f"plain_{api_name}" if plain else api_name)), read_only=True) as con:
        found = con.execute(f'SELECT count(*) FROM "{api_name}"."{table}"').fetchone()
    return int(found[0]) if found else 0


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


LAST_ENV_KEY = "SOURCES__TICKET_DESK__TOKEN_URL"  # the CLI prints its env sorted; this one comes last


class SimulatorProcess:
    """The simulator in a process of its own (`python -m restsync_dagster.simulator`), on free ports.

    In the benchmark's own process it would compete for the GIL with the pipeline it serves; a
    peer tool running as a subprocess would then get an unfair head start.
    """

    def __init__(self, counts: Optional[dict[str, int]] = None, latency_ms: float = 0, rate_limit: float = 0, extra: Sequence[str] = ()) -> None:
        args = [sys.executable, "-m", "restsync_dagster.simulator", "--port", "0", "--login-port", "0"]
        args += [f"--count={key}={value}" for key, value in (counts or {}).items()]
        args += ["--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit), *extra]
        self.args = args
        self._env: dict[str, str] = {}
        self.process: Optional[subprocess.Popen[str]] = None

    def __enter__(self) -> "SimulatorProcess":
        self.process = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:  # "listening on ...", then sorted `export KEY=VALUE` lines
            if line.startswith("export "):
                key, _, value = line[len("export "):].strip().partition("=")
                self._env[key] = value
                if key == LAST_ENV_KEY:
                    break
        if LAST_ENV_KEY not in self._env:
            raise RuntimeError(f"the simulator did not start: {' '.join(self.args)}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def env(self) -> dict[str, str]:
        return dict(self._env)

    def base_url(self, api: str) -> str:
        return self._env[f"SOURCES__{api.upper()}__BASE_URL"]

    @property
    def port(self) -> int:
        from urllib.parse import urlsplit

        return int(urlsplit(self.base_url("service_desk")).port or 0)

    def _control(self, method: str, path: str, form: Optional[dict[str, object]] = None) -> object:
        import json
        import urllib.parse
        import urllib.request

        data = urllib.parse.urlencode(form).encode() if form else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=data)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    @property
    def request_log(self) -> list[dict[str, object]]:
        return list(self._control("GET", "/_sim/requests"))  # type: ignore[arg-type]

    def clear_request_log(self) -> None:
        self._control("DELETE", "/_sim/requests")

    def mutate(self, api: str, resource: str, updates: int = 0, inserts: int = 0) -> object:
        """Change records upstream, like `Simulator.mutate`."""
        return self._control("POST", "/_sim/mutate", {"api": api, "resource": resource, "updates": updates, "inserts": inserts})

    def sample_record_bytes(self, api: str, path: str) -> float:
        """Average JSON size of the records on one page of a list (to report record sizes)."""
        import requests

        key = self._env.get(f"SOURCES__{api.upper()}__API_KEY", "")
        response = requests.get(f"{self.base_url(api)}{path}?per_page=100", auth=(key, "X"), timeout=60)
        body = response.json()
        records = body.get("data", body) if isinstance(body, dict) else body
        return len(response.content) / max(len(records), 1)
