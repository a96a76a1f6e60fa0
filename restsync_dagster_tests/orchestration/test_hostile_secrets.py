"""Secrets with `/`, `+` and `=` (which travel URL-encoded and base64-encoded), a secret inside
`client.base_url` and a query parameter, and a token with a trailing newline: `restsync run` at
DEBUG (one run with --verbose), then every byte it left is grepped for every spelling of them.

Grepped: stdout and stderr of each run, every file under DAGSTER_HOME (the sqlite run and event log
storage, compute logs), the dlt data folder (pipeline state, `trace.pickle`) and the DuckDB files.
The spellings are built here, independently of redaction.py.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, quote_plus

import pytest

from restsync_dagster.simulator import Simulator

RESTSYNC = str(Path(sys.executable).parent / "restsync")
MARK = "Hostile"
SECRETS = {
    "service_desk": {"api_key": f"{MARK}/sd+key=9f3a=="},
    "shared_inbox": {"client_id": f"{MARK}/si+client=41", "client_secret": f"{MARK}+si/secret==c4"},
}
TENANT = f"{MARK}/tenant+path=7e"  # in client.base_url
QUERY_KEY = f"{MARK}+query/key=2d=="  # in a query parameter
NEWLINE_TOKEN = f"{MARK}/msg+tok=5b\n"  # pasted with its line end


def spellings(secret: str) -> set[str]:
    """Every way the secret could be written down: plain, stripped, URL-encoded (both quotings, both
    cases of escapes), base64 (standard, URL-safe, with and without padding), JSON and repr escapes."""
    found: set[str] = set()
    for value in {secret, secret.strip()}:
        quoted = {quote(value), quote(value, safe=""), quote_plus(value)}
        found |= quoted | {re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), text) for text in quoted}
        found |= {value, json.dumps(value)[1:-1], repr(value)[1:-1]}
        found |= base64_spellings(value)
    return found


def base64_spellings(text: str) -> set[str]:
    raw = text.encode()
    standard, urlsafe = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    return {standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")}


def all_needles() -> set[str]:
    plain = [v for creds in SECRETS.values() for v in creds.values()] + [TENANT, QUERY_KEY, NEWLINE_TOKEN]
    needles = {form for value in plain for form in spellings(value)}
    needles |= base64_spellings(f"{SECRETS['service_desk']['api_key']}:X")  # basic auth header
    needles |= base64_spellings(f"{SECRETS['shared_inbox']['client_id']}:{SECRETS['shared_inbox']['client_secret']}")
    return needles


VAULT_CONFIG = """
client:
  base_url: "http://127.0.0.1:{port}/service_desk/${{secrets.tenant}}"
  auth: {{type: http_basic, username: "${{secrets.api_key}}", password: X}}
error_handling: {{max_retries: 0}}
resources:
  - name: agents
    primary_key: id
    endpoint: {{path: /v1/agents, params: {{key: "${{secrets.query_key}}"}}}}
"""


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[Simulator, dict[str, str]]]:
    with Simulator(port=0, login_port=0, credentials=SECRETS) as sim:
        home = tmp_path / "dagster_home"
        home.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")},
            **sim.env(),
            "DAGSTER_HOME": str(home),
            "DLT_DATA_DIR": str(tmp_path / "dlt"),
            "RESTSYNC_DUCKDB_DIR": str(tmp_path / "data"),
            "RUNTIME__LOG_LEVEL": "DEBUG",
            "SOURCES__VAULT__TENANT": TENANT,
            "SOURCES__VAULT__QUERY_KEY": QUERY_KEY,
            "SOURCES__VAULT__API_KEY": SECRETS["service_desk"]["api_key"],
            "SOURCES__MESSAGING__ACCESS_TOKEN": NEWLINE_TOKEN,
        }
        yield sim, env


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RESTSYNC, "run", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_no_spelling_of_a_hostile_secret_is_written_anywhere(hostile: tuple[Simulator, dict[str, str]], tmp_path: Path) -> None:
    sim, env = hostile
    configs = tmp_path / "configs"
    configs.mkdir()
    vault = configs / "vault.yaml"
    vault.write_text(VAULT_CONFIG.format(port=sim.port))
    sim.inject_fault("service_desk", "status", "agents", count=1, status=503)  # a retry, logged

    runs = {
        "shared_inbox": run(env, tmp_path, "shared_inbox", "--select", "users", "--verbose"),
        "service_desk": run(env, tmp_path, "service_desk", "--select", "agents", "roles"),
        "vault": run(env, tmp_path, "vault", "--configs", str(configs), "--verbose"),
        "messaging": run(env, tmp_path, "messaging", "--select", "users"),
    }
    assert runs["shared_inbox"].returncode == 0, runs["shared_inbox"].stderr[-3000:]
    assert runs["service_desk"].returncode == 0, runs["service_desk"].stderr[-3000:]
    assert runs["vault"].returncode == 1 and runs["messaging"].returncode == 1
    # the failures say what is wrong, where, and what to do, and never show the value
    assert f"{vault}" in runs["vault"].stderr and "agents" in runs["vault"].stderr and "404" in runs["vault"].stderr
    newline = runs["messaging"].stderr
    assert "SOURCES__MESSAGING__ACCESS_TOKEN" in newline and "newline" in newline and "messaging.yaml" in newline, newline
    assert "client.auth.token" in newline

    haystacks: dict[str, str] = {}
    for name, result in runs.items():
        haystacks[f"{name} stdout"], haystacks[f"{name} stderr"] = result.stdout, result.stderr
    for folder in (tmp_path / "dagster_home", tmp_path / "dlt", tmp_path / "data"):
        for path in folder.rglob("*"):
            if path.is_file():
                haystacks[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    names = [Path(where).name for where in haystacks]
    assert "trace.pickle" in names and any(n.endswith(".db") for n in names) and any(n.endswith(".err") for n in names), names
    assert any(n.endswith(".duckdb") for n in names)
    # the failed run's trace is kept (masked), still a trace dlt reads, with the failing request in it
    vault_trace = tmp_path / "dlt" / "pipelines" / "restsync_vault" / "trace.pickle"
    assert "/v1/agents" in pickle.loads(vault_trace.read_bytes()).steps[-1].step_exception
    everything = "\n".join(haystacks.values())
    assert "with params=" in everything, "dlt did not log its requests at DEBUG: the grep would prove little"
    assert "Stack Trace" in runs["vault"].stderr or "Traceback" in runs["vault"].stderr, "--verbose shows the traceback"

    needles = all_needles()
    leaks = sorted({(where, needle) for where, text in haystacks.items() for needle in needles if needle in text})
    assert leaks == [], leaks[:20]


def test_every_spelling_of_a_secret_is_redacted_in_log_lines() -> None:
    """The record factory redacts URL-encoded, base64, JSON- and repr-escaped spellings too."""
    import logging

    from restsync_dagster.config.redaction import protect, redact

    secret = f"{MARK}/unit+case=0c=="
    protect([secret])
    for form in spellings(secret):
        assert redact(f"GET /x?k={form}&y=1") == "GET /x?k=***&y=1", form
        record = logging.getLogger("urllib3.connectionpool").makeRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, "url %s", (form,), None)
        assert form not in record.getMessage()
