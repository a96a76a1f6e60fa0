"""The `restsync` command as installed (the venv's entry point, in a subprocess): output and exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from restsync_dagster_tests.conftest import CONFIGS, PROJECT_ROOT
from restsync_dagster_tests.support.helpers import table_rows
from restsync_dagster_tests.support.paths import MANIFESTS

RESTSYNC = str(Path(sys.executable).parent / "restsync")


def restsync(*args: str, env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RESTSYNC, *args], env=env or dict(os.environ), cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", ["", "validate", "list", "run", "backfill", "probe", "new", "import-airbyte", "simulate", "demo"])
def test_help_on_every_command(command: str) -> None:
    result = restsync(*([command] if command else []), "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: restsync" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert restsync().returncode == 2  # no command
    assert restsync("frobnicate").returncode == 2
    unknown = restsync("run", "no_such_api")
    assert unknown.returncode == 2 and "no API named 'no_such_api'" in unknown.stderr
    resource = restsync("run", "ticket_desk", "--select", "nope")
    assert resource.returncode == 2 and "has no resource ['nope']" in resource.stderr


def test_validate_shipped_configs() -> None:
    result = restsync("validate")
    assert result.returncode == 0, result.stderr
    assert sorted(line.split()[1].rstrip(":") for line in result.stdout.splitlines() if line.startswith("ok")) == sorted(
        str(path) for path in CONFIGS.glob("*.yaml")
    )


def test_validate_reports_every_error_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        """
client: {base_url: "not a url"}
resources:
  - name: items
    endpoint: {path: /items, paginator: {type: infinite_scroll}}
  - name: notes
    endpoint: {}
  - name: comments
    endpoint: {path: "/posts/{resources.posts.id}/comments"}
""",
        encoding="utf-8",
    )
    good = tmp_path / "fine.yaml"
    good.write_text("client: {base_url: https://api.example.com}\nresources: [{name: items, endpoint: {path: /items}}]\n")
    result = restsync("validate", str(bad), str(good))
    assert result.returncode == 2
    assert f"ok     {good}" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 4, result.stderr
    assert any("field 'client.base_url'" in e and str(bad) in e for e in errors)
    assert any("resource 'items'" in e and "field 'endpoint.paginator.type'" in e and "infinite_scroll" in e for e in errors)
    assert any("resource 'notes'" in e and "field 'endpoint.path'" in e and "is required" in e for e in errors)
    assert any("resource 'comments'" in e and "'posts'" in e and "field 'endpoint.path'" in e for e in errors)


def test_list_shows_resources_parents_incremental_and_automation() -> None:
    result = restsync("list")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for api in ("shared_inbox", "service_desk", "directory", "messaging", "ticket_desk"):
        assert f"{api}  (" in out
        assert f"schedule {api}_schedule:" in out
    assert "sensor   ticket_desk_changes" in out
    conversations = next(l for l in out.splitlines() if "/v1/tickets/{resources.tickets.id}/conversations" in l)
    assert "parent=tickets" in conversations
    tickets = next(l for l in out.splitlines() if l.strip().startswith("- tickets") and "/tickets" in l and "modifiedAfter" in l)
    assert "incremental=modifiedTime via ?modifiedAfter=" in tickets


def test_run_loads_rows_then_incremental_then_full_refresh(sim_env: Any, workdir: Path) -> None:
    first = restsync("run", "ticket_desk", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert "loaded ticket_desk/tickets" in first.stdout and "rows=1200" in first.stdout
    assert "\r" not in first.stdout  # no progress redraws when stdout is not a terminal
    assert "resources 3/3" in first.stdout  # the one summary line
    assert len(table_rows("ticket_desk", "tickets")) == len(sim_env.records("ticket_desk", "tickets"))
    assert len(table_rows("ticket_desk", "agents")) == 60

    sim_env.clear_request_log()
    incremental = restsync("run", "ticket_desk", "--select", "tickets", cwd=workdir)
    assert incremental.returncode == 0, incremental.stderr
    sent = [e["query"] for e in sim_env.request_log if e["resource"] == "tickets"]
    assert sent and all(q.get("modifiedAfter", "2024") > "2025" for q in sent)  # only changes since the cursor

    sim_env.clear_request_log()
    full = restsync("run", "ticket_desk", "--select", "tickets", "--full-refresh", cwd=workdir)
    assert full.returncode == 0, full.stderr
    assert "rows=1200" in full.stdout
    sent = [e["query"] for e in sim_env.request_log if e["resource"] == "tickets"]
    assert all(q.get("modifiedAfter", "2024-01-01") <= "2024-01-01T00:00:00Z" for q in sent)  # from the start
    assert len(sent) >= 1200 // 50
    assert len(table_rows("ticket_desk", "tickets")) == 1200


def test_run_shows_progress_on_a_terminal(sim_env: Any, workdir: Path) -> None:
    """With a pseudo-terminal as stdout, the progress line redraws in place."""
    primary, secondary = os.openpty()
    try:
        process = subprocess.Popen(
            [RESTSYNC, "run", "ticket_desk"], stdout=secondary, stderr=subprocess.PIPE, cwd=workdir, env=dict(os.environ)
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO once the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=300) == 0, process.stderr.read() if process.stderr else ""
    finally:
        os.close(primary)
    screen = b"".join(chunks).decode()
    assert "\r\x1b[2Kticket_desk  resources" in screen
    assert "resources 3/3" in screen and "records 1,300" in screen and "pages" in screen and "records/s" in screen


def test_run_that_fails_exits_1(sim_env: Any, workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOURCES__TICKET_DESK__REFRESH_TOKEN"}
    result = restsync("run", "ticket_desk", env=env, cwd=workdir)
    assert result.returncode == 1
    assert "SOURCES__TICKET_DESK__REFRESH_TOKEN" in result.stderr


def test_new_writes_a_skeleton_that_validates(tmp_path: Path) -> None:
    created = restsync("new", "acme_crm", "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    path = tmp_path / "acme_crm.yaml"
    text = path.read_text()
    assert "SOURCES__ACME_CRM__BASE_URL" in text and "# Pick one auth" in text
    validated = restsync("validate", str(path))
    assert validated.returncode == 0, validated.stderr
    assert "acme_crm, 1 resources" in validated.stdout

    again = restsync("new", "acme_crm", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert path.read_text() == text
    assert restsync("new", "Bad-Name", "--dir", str(tmp_path)).returncode == 2


def test_new_defaults_to_the_configs_folder(tmp_path: Path) -> None:
    env = {**os.environ, "RESTSYNC_CONFIGS_DIR": str(tmp_path)}
    assert restsync("new", "billing", env=env).returncode == 0
    assert (tmp_path / "billing.yaml").exists()
    listed = restsync("list", env=env)
    assert listed.returncode == 0 and "billing  (" in listed.stdout and "- items" in listed.stdout


def test_import_airbyte_writes_a_valid_config(tmp_path: Path) -> None:
    output = tmp_path / "ticket_desk.yaml"
    result = restsync("import-airbyte", str(MANIFESTS / "ticket_desk.yaml"), "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert "every component was mapped" in result.stderr
    assert output.read_text().startswith("# Imported from the Airbyte manifest ticket_desk.yaml")
    assert restsync("validate", str(output)).returncode == 0
    refused = restsync("import-airbyte", str(MANIFESTS / "ticket_desk.yaml"), "-o", str(output))
    assert refused.returncode == 2 and "already exists" in refused.stderr


def test_import_airbyte_reports_what_it_cannot_map(tmp_path: Path) -> None:
    manifest = tmp_path / "odd.yaml"
    manifest.write_text(
        """
type: DeclarativeSource
streams:
  - type: DeclarativeStream
    name: reports
    primary_key: id
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: https://api.example.com
        path: /reports
        http_method: POST
        request_body_json: {window: last_7_days}
        authenticator: {type: SessionTokenAuthenticator}
      record_selector:
        type: RecordSelector
        extractor: {type: DpathExtractor, field_path: [rows]}
        record_filter: {condition: "{{ record.active }}"}
"""
    )
    result = restsync("import-airbyte", str(manifest))
    assert result.returncode == 0, result.stderr
    unmapped = [line for line in result.stderr.splitlines() if line.startswith("unmapped")]
    assert any("SessionTokenAuthenticator" in line for line in unmapped)
    assert any("stream 'reports': http_method POST" in line for line in unmapped)
    assert any("request_body_json" in line for line in unmapped)
    assert any("record_filter" in line for line in unmapped)
    assert "name: odd" in result.stdout and "data_selector: rows" in result.stdout


def test_import_airbyte_rejects_what_is_not_a_manifest(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("hello: world\n")
    result = restsync("import-airbyte", str(other))
    assert result.returncode == 2 and "not an Airbyte declarative manifest" in result.stderr
    assert restsync("import-airbyte", str(tmp_path / "missing.yaml")).returncode == 2


def test_project_root_has_the_entry_point() -> None:
    assert Path(RESTSYNC).exists(), f"install the project first: {PROJECT_ROOT}/scripts/setup.sh"


def test_run_exits_1_when_a_check_fails(sim_env: Any, workdir: Path) -> None:
    """Appending a resource twice duplicates its keys: the primary-key check fails the command."""
    import yaml

    raw = yaml.safe_load((CONFIGS / "ticket_desk.yaml").read_text())
    agents = next(r for r in raw["resources"] if r["name"] == "agents")
    agents["write_disposition"] = "append"
    folder = workdir / "configs"
    folder.mkdir()
    (folder / "ticket_desk.yaml").write_text(yaml.safe_dump(raw))
    command = ("run", "ticket_desk", "--select", "agents", "--configs", str(folder))
    assert restsync(*command, cwd=workdir).returncode == 0
    second = restsync(*command, cwd=workdir)
    assert second.returncode == 1
    assert "check  ticket_desk/agents primary_key_unique: failed (ERROR)" in second.stderr
    assert len(table_rows("ticket_desk", "agents")) == 120


def test_a_failed_resource_is_one_short_paragraph_in_the_terminal_and_in_dagster(sim_env: Any, workdir: Path) -> None:
    """File, resource, request and what to do; no stack trace unless --verbose; Dagster stores the same paragraph."""
    from dagster import DagsterEventType, DagsterInstance

    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "restsync_dagster" / "instance" / "dagster.yaml", home / "dagster.yaml")  # as `restsync demo` does
    env = {**os.environ, "SOURCES__MESSAGING__ACCESS_TOKEN": "wrong-token", "DAGSTER_HOME": str(home)}
    result = restsync("run", "messaging", "--select", "users", env=env, cwd=workdir)
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) < 15, result.stderr
    err = result.stderr
    assert f"{CONFIGS / 'messaging.yaml'}" in err and "resource 'users'" in err, err
    assert "GET /messaging/v1/users answered 401" in err and "check SOURCES__MESSAGING__ACCESS_TOKEN" in err, err
    assert "Traceback" not in err and "Stack Trace" not in err and "site-packages" not in err, err

    with DagsterInstance.from_config(str(home)) as instance:
        (run_id,) = instance.get_run_ids()
        failures = [
            entry.dagster_event for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE) if entry.dagster_event
        ]
    (failure,) = failures
    data = failure.event_specific_data
    assert data.user_failure_data.description in err  # the UI shows what the terminal shows
    assert data.error.cause is None and data.error.context is None  # no chain of dlt/requests errors

    verbose = restsync("run", "messaging", "--select", "users", "--verbose", env=env, cwd=workdir)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr and "ApiRequestError" in verbose.stderr


@pytest.mark.parametrize("kind", ["missing", "file", "relative"])
def test_a_dagster_home_that_is_no_folder_is_one_line(tmp_path: Path, kind: str) -> None:
    target = {"missing": str(tmp_path / "nowhere"), "file": str(tmp_path / "home.txt"), "relative": "dagster_home"}[kind]
    (tmp_path / "home.txt").write_text("")
    result = restsync("run", "ticket_desk", env={**os.environ, "DAGSTER_HOME": target}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"DAGSTER_HOME={target}" in result.stderr and "unset DAGSTER_HOME" in result.stderr
    assert {"missing": "does not exist", "file": "is a file", "relative": "relative path"}[kind] in result.stderr


def test_an_in_process_call_leaves_sigpipe_as_it_found_it() -> None:
    """`main` sets SIGPIPE to the default for `restsync list | head`; a test calling it in-process
    that kept the default died later, writing to a closed socket (the whole suite, exit 141)."""
    import signal

    from restsync_dagster.cli.commands import main

    before = signal.getsignal(signal.SIGPIPE)
    assert main(["validate"]) == 0
    assert signal.getsignal(signal.SIGPIPE) == before
    assert before != signal.SIG_DFL, "pytest runs with Python's SIGPIPE handling: this test proves nothing"

